"""HiPS 1.0 of a HEALPix map, built in Python (numpy, astropy, Pillow, mocpy), and read back.

A map's HiPS is built once, when the map is delivered (:mod:`shared.maps.publish`), and kept as
one uncompressed tar in the object store (a few thousand small tiles as one object: one write
to build, one read to cache); the products service serves its members by path.

The tree (IVOA HiPS 1.0):

- tiles of :data:`TILE_WIDTH` pixels, FITS (``BITPIX = -32``, NaN blank) and PNG (8-bit grey
  with alpha: transparent where the map has no value, grey levels linear between the two
  values of ``hips_pixel_cut``), at every order from :data:`MIN_ORDER` to ``hips_order``;
  ``hips_order`` is the map's order minus 6 (a 64-pixel tile holds 2⁶ x 2⁶ map pixels), maps
  coarser than order 9 are repeated to order 9 first, so that ``Norder3`` always exists.
  Tiles without any value are not written (clients take a missing tile as blank; ``Moc.fits``
  tells them where tiles are);
- ``Norder3/Allsky.fits`` and ``Norder3/Allsky.png``: every order-3 tile at
  :data:`ALLSKY_WIDTH` pixels, 27 to a row (29 rows);
- ``Moc.fits``: the MOC of the pixels with a value (finite and not 0), at the map's order;
- ``properties``: the keywords of HiPS 1.0 and those ESASky's parser requires.

Pixel arrangement inside a tile: the tile's pixels are the NESTED sub-pixels of its HEALPix
cell; the sub-index interleaves a column number (even bits) and a row number (odd bits), the
resulting grid is turned a quarter turn (the CDS convention, as the ``hips`` package writes it)
and FITS rows run bottom-up, PNG rows top-down (HiPS 1.0 §4.2.2).
"""

from __future__ import annotations

import io
import math
import mmap
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from astropy.io import fits
from PIL import Image, PngImagePlugin

TILE_WIDTH = 64
"""Pixels along a tile's side (2⁶): small tiles suit maps of a few arcminutes' pixels."""
TILE_SHIFT = 6
MIN_ORDER = 3
"""The lowest tile order written (``hips_order_min``): clients draw lower ones from Allsky."""
ALLSKY_WIDTH = min(TILE_WIDTH, 64)
"""Pixels along each tile's side in ``Norder3/Allsky``: the tile width, at most 64. Clients
cut the Allsky image at this size (Aladin Lite computes it from ``hips_tile_width`` alone);
an Allsky of smaller pieces makes them read past its end (Aladin Lite 3 stops with a
WebAssembly ``unreachable``)."""
ALLSKY_PER_ROW = 27
"""Tiles per row of an Allsky image (the HiPS convention)."""
HIPS_VERSION = "1.4"
LAYOUT = "2"
"""Version of the tree this module writes, part of the stored tar's name: a tree written by an
older builder (version 1: Allsky at 32 pixels a tile) is rebuilt rather than served."""
KEV_METRES = 1.2398419843320026e-9
"""Wavelength (m) of a 1 keV photon: λ = hc / E."""
FITS_BLOCK = 2880


@dataclass(frozen=True)
class HipsSpec:
    """What a map's ``properties`` say beside its data."""

    map_id: str
    title: str
    description: str
    instrument: str
    unit: str | None
    e_min_kev: float | None
    e_max_kev: float | None
    t_min_mjd: float | None
    t_max_mjd: float | None
    product_id: str
    source_sha256: str
    release: datetime
    simulated: bool
    creator_did: str
    collection: str = "INTEGRAL ISLA all-sky maps"
    creator: str = "ISLA, the INTEGRAL Science Legacy Archive"
    initial_ra: float = 266.4
    initial_dec: float = -28.9
    initial_fov: float = 60.0


@dataclass(frozen=True)
class BuiltHips:
    """A HiPS as one tar, with what the build found."""

    tar: bytes
    hips_order: int
    tiles: int
    pixel_cut: tuple[float, float]
    data_range: tuple[float, float]
    sky_fraction: float
    properties: str


# --- tile geometry -------------------------------------------------------------------------------


def _spread(values: npt.NDArray[np.int64], bits: int) -> npt.NDArray[np.int64]:
    """Each value's bits moved to the even bit positions (bit b to bit 2b)."""
    out = np.zeros_like(values)
    for b in range(bits):
        out |= ((values >> b) & 1) << (2 * b)
    return out


@cache
def tile_layout(width: int) -> npt.NDArray[np.int64]:
    """NESTED sub-index of every pixel of a tile in FITS orientation: ``layout[row, col]``
    (row 0 at the bottom) is the index of that pixel among the tile cell's width² children."""
    bits = int(math.log2(width))
    line = _spread(np.arange(width, dtype=np.int64), bits)
    grid = 2 * line[:, np.newaxis] + line[np.newaxis, :]
    layout = np.ascontiguousarray(np.rot90(grid))
    layout.setflags(write=False)
    return layout


@cache
def tile_position(width: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The inverse of :func:`tile_layout`: (row, col) in FITS orientation of each sub-index."""
    layout = tile_layout(width)
    rows = np.empty(width * width, dtype=np.int64)
    cols = np.empty(width * width, dtype=np.int64)
    r, c = np.indices((width, width))
    rows[layout.ravel()] = r.ravel()
    cols[layout.ravel()] = c.ravel()
    rows.setflags(write=False)
    cols.setflags(write=False)
    return rows, cols


def tile_path(order: int, ipix: int, ext: str) -> str:
    """A tile's path in the tree (``Norder3/Dir0/Npix42.fits``)."""
    return f"Norder{order}/Dir{(ipix // 10000) * 10000}/Npix{ipix}.{ext}"


def degrade(values: npt.NDArray[np.float32], levels: int) -> npt.NDArray[np.float32]:
    """The NESTED map ``levels`` orders coarser: the mean of each cell's finite children
    (NaN where none is finite)."""
    if levels <= 0:
        return values
    group = 4**levels
    blocks = values.reshape(-1, group)
    finite = np.isfinite(blocks)
    count = finite.sum(axis=1)
    total = np.where(finite, blocks, 0).sum(axis=1, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
    return np.where(count > 0, mean, np.nan).astype(np.float32)


def tiles_of(values: npt.NDArray[np.float32], width: int) -> npt.NDArray[np.float32]:
    """Every tile of a NESTED map whose cells are ``width``² pixels: (n_tiles, width, width),
    FITS orientation."""
    return values.reshape(-1, width * width)[:, tile_layout(width).ravel()].reshape(
        -1, width, width
    )


# --- encoders ------------------------------------------------------------------------------------


def _fits_header(width: int, height: int, unit: str | None, simulated: bool) -> bytes:
    header = fits.Header()
    header["SIMPLE"] = True
    header["BITPIX"] = -32
    header["NAXIS"] = 2
    header["NAXIS1"] = width
    header["NAXIS2"] = height
    if unit:
        header["BUNIT"] = unit
    if simulated:
        header["SIMDATA"] = (True, "simulated data, not an INTEGRAL measurement")
    text = header.tostring()
    return text.encode("ascii")


def fits_image(header: bytes, data: npt.NDArray[np.float32]) -> bytes:
    """A one-HDU FITS file of a float32 image (``header`` from a template)."""
    raw = np.ascontiguousarray(data, dtype=">f4").tobytes()
    pad = (-len(raw)) % FITS_BLOCK
    return header + raw + b"\0" * pad


def grey(values: npt.NDArray[np.float32], cut: tuple[float, float]) -> npt.NDArray[np.uint8]:
    """Grey levels and alpha (last axis) of values, linear between the cut values."""
    lo, hi = cut
    span = hi - lo if hi > lo else 1.0
    finite = np.isfinite(values)
    scaled = np.clip((np.where(finite, values, lo) - lo) / span, 0.0, 1.0) * 255.0
    level = np.rint(scaled).astype(np.uint8)
    alpha = np.where(finite, 255, 0).astype(np.uint8)
    return np.stack([level, alpha], axis=-1)


def png_image(la: npt.NDArray[np.uint8], simulated: bool) -> bytes:
    """A PNG (grey + alpha) of an image in top-down orientation."""
    info = PngImagePlugin.PngInfo()
    if simulated:
        info.add_text("SIMDATA", "T: simulated data, not an INTEGRAL measurement")
    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(la), mode="LA").save(
        out, format="PNG", compress_level=1, pnginfo=info
    )
    return out.getvalue()


def moc_fits(values: npt.NDArray[np.float32], order: int) -> tuple[bytes, float]:
    """``Moc.fits`` of the pixels with a value, and the fraction of the sky they cover."""
    from mocpy import MOC

    covered = np.flatnonzero(np.isfinite(values) & (values != 0)).astype(np.uint64)
    fraction = covered.size / values.size
    if covered.size == 0:
        moc = MOC.new_empty(order)
    else:
        moc = MOC.from_healpix_cells(covered, np.full(covered.size, order, np.uint8), order)
    out = io.BytesIO()
    hdul = moc.serialize(format="fits")
    hdul.writeto(out)
    return out.getvalue(), fraction


def _finite_range(values: npt.NDArray[np.float32]) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0, 1.0
    return float(finite.min()), float(finite.max())


def pixel_cut(values: npt.NDArray[np.float32]) -> tuple[float, float]:
    """The display cut: the 0.5 and 99.5 percentiles of the observed pixels."""
    finite = values[np.isfinite(values) & (values != 0)]
    if finite.size == 0:
        return 0.0, 1.0
    if finite.size > 1_000_000:
        # Every n-th pixel: percentiles of a regular subsample are as good for a display cut.
        finite = finite[:: finite.size // 500_000]
    lo, hi = np.percentile(finite, [0.5, 99.5])
    if hi <= lo:
        hi = lo + 1.0
    return float(lo), float(hi)


def _number(value: float) -> str:
    return f"{value:.6g}"


def _mjd_date(value: float | None) -> str | None:
    return None if value is None else _number(value)


def properties_text(spec: HipsSpec, built: dict[str, Any]) -> str:
    """The ``properties`` file (keyword = value lines; HiPS 1.0 §4.4 and ESASky's keys)."""
    regime = "X-ray" if spec.instrument == "JEM-X" else "Gamma-ray"
    lines: list[tuple[str, str | None]] = [
        ("creator_did", spec.creator_did),
        ("obs_title", spec.title),
        ("obs_description", spec.description),
        ("obs_collection", spec.collection),
        ("obs_regime", regime),
        ("obs_copyright", "ESA / INTEGRAL Science Legacy Archive"),
        ("obs_ack", "Based on observations with INTEGRAL, an ESA project"),
        ("prov_progenitor", spec.product_id),
        ("hips_creator", spec.creator),
        ("hips_builder", "ISLA HiPS builder (numpy, astropy, Pillow, mocpy)"),
        ("hips_version", HIPS_VERSION),
        ("hips_release_date", spec.release.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")),
        ("hips_status", "public master clonableOnce"),
        ("hips_frame", "equatorial"),
        ("hips_order", str(built["hips_order"])),
        ("hips_order_min", str(MIN_ORDER)),
        ("hips_tile_width", str(TILE_WIDTH)),
        ("hips_tile_format", "png fits"),
        ("hips_pixel_bitpix", "-32"),
        ("hips_pixel_cut", f"{_number(built['cut'][0])} {_number(built['cut'][1])}"),
        ("hips_data_range", f"{_number(built['range'][0])} {_number(built['range'][1])}"),
        ("hips_pixel_scale", _number(58.6 / 2 ** (built["hips_order"] + TILE_SHIFT))),
        ("hips_initial_ra", _number(spec.initial_ra)),
        ("hips_initial_dec", _number(spec.initial_dec)),
        ("hips_initial_fov", _number(spec.initial_fov)),
        ("dataproduct_type", "image"),
        ("moc_sky_fraction", f"{built['fraction']:.5f}"),
        ("t_min", _mjd_date(spec.t_min_mjd)),
        ("t_max", _mjd_date(spec.t_max_mjd)),
        ("bunit", spec.unit),
        ("isla_map_id", spec.map_id),
        ("isla_product_id", spec.product_id),
        ("isla_source_sha256", spec.source_sha256),
        ("isla_simulated", "true" if spec.simulated else "false"),
    ]
    if spec.e_min_kev and spec.e_max_kev:
        # Wavelengths: the highest energy is the shortest wavelength.
        lines.insert(5, ("em_min", f"{KEV_METRES / spec.e_max_kev:.6e}"))
        lines.insert(6, ("em_max", f"{KEV_METRES / spec.e_min_kev:.6e}"))
    width = max(len(k) for k, _ in lines)
    body = "".join(f"{k.ljust(width)} = {v}\n" for k, v in lines if v is not None)
    return "# HiPS properties (IVOA HiPS 1.0)\n" + body


# --- the builder ---------------------------------------------------------------------------------


def _add(tar: tarfile.TarFile, name: str, data: bytes, mtime: float) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(mtime)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def build(values: npt.NDArray[np.float32], order: int, spec: HipsSpec) -> BuiltHips:
    """The HiPS of a NESTED map of ``order`` (one column), as one tar."""
    if order < 9:
        # Coarse maps are repeated to order 9, so that order 3 has 64-pixel tiles.
        values = np.repeat(values, 4 ** (9 - order))
    pixel_order = max(order, 9)
    hips_order = pixel_order - TILE_SHIFT
    cut = pixel_cut(values)
    data_range = _finite_range(values)
    moc, fraction = moc_fits(values if order >= 9 else values[:: 4 ** (9 - order)], order)
    mtime = spec.release.timestamp()
    header = _fits_header(TILE_WIDTH, TILE_WIDTH, spec.unit, spec.simulated)
    buffer = io.BytesIO()
    count = 0
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        built = {"hips_order": hips_order, "cut": cut, "range": data_range, "fraction": fraction}
        properties = properties_text(spec, built)
        _add(tar, "properties", properties.encode(), mtime)
        _add(tar, "Moc.fits", moc, mtime)
        allsky = degrade(values, pixel_order - MIN_ORDER - int(math.log2(ALLSKY_WIDTH)))
        _add_allsky(tar, allsky, cut, spec, mtime)
        for tile_order in range(MIN_ORDER, hips_order + 1):
            level = degrade(values, hips_order - tile_order)
            tiles = tiles_of(level, TILE_WIDTH)
            kept = np.flatnonzero(np.isfinite(tiles).reshape(len(tiles), -1).any(axis=1))
            # Whole arrays at once: the big-endian FITS data and the PNG grey levels (top-down).
            big_endian = np.ascontiguousarray(tiles[kept], dtype=">f4")
            levels = grey(tiles[kept][:, ::-1, :], cut)
            for j, ipix in enumerate(kept):
                _add(
                    tar,
                    tile_path(tile_order, int(ipix), "fits"),
                    fits_image(header, big_endian[j]),
                    mtime,
                )
                png = png_image(levels[j], spec.simulated)
                _add(tar, tile_path(tile_order, int(ipix), "png"), png, mtime)
                count += 1
    return BuiltHips(buffer.getvalue(), hips_order, count, cut, data_range, fraction, properties)


def allsky_image(values: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """The Allsky mosaic (top-down rows) of a NESTED map at order 3 + log2(ALLSKY_WIDTH):
    its order-3 tiles of :data:`ALLSKY_WIDTH` pixels."""
    tiles = tiles_of(values, ALLSKY_WIDTH)[:, ::-1, :]  # each tile top-down
    rows = math.ceil(len(tiles) / ALLSKY_PER_ROW)
    padded = np.full((rows * ALLSKY_PER_ROW, ALLSKY_WIDTH, ALLSKY_WIDTH), np.nan, dtype=np.float32)
    padded[: len(tiles)] = tiles
    return (
        padded.reshape(rows, ALLSKY_PER_ROW, ALLSKY_WIDTH, ALLSKY_WIDTH)
        .transpose(0, 2, 1, 3)
        .reshape(rows * ALLSKY_WIDTH, ALLSKY_PER_ROW * ALLSKY_WIDTH)
    )


def _add_allsky(
    tar: tarfile.TarFile,
    values: npt.NDArray[np.float32],
    cut: tuple[float, float],
    spec: HipsSpec,
    mtime: float,
) -> None:
    image = allsky_image(values)
    header = _fits_header(image.shape[1], image.shape[0], spec.unit, spec.simulated)
    _add(tar, f"Norder{MIN_ORDER}/Allsky.fits", fits_image(header, image[::-1]), mtime)
    _add(tar, f"Norder{MIN_ORDER}/Allsky.png", png_image(grey(image, cut), spec.simulated), mtime)


# --- reading a built HiPS ------------------------------------------------------------------------


class HipsPack:
    """A built HiPS tar on local disk, memory-mapped: members by path, without copying."""

    def __init__(self, path: Path) -> None:
        """Index the tar's members (offset and size of each)."""
        self.path = path
        self._members: dict[str, tuple[int, int]] = {}
        with tarfile.open(path, mode="r:") as tar:
            for member in tar:
                if member.isfile():
                    self._members[member.name] = (member.offset_data, member.size)
        with path.open("rb") as handle:
            self._map = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)

    def __contains__(self, name: str) -> bool:
        """Whether the tree has this path."""
        return name in self._members

    def names(self) -> Iterator[str]:
        """Every path of the tree."""
        return iter(self._members)

    def get(self, name: str) -> bytes | None:
        """A member's bytes, or None."""
        where = self._members.get(name)
        if where is None:
            return None
        offset, size = where
        return self._map[offset : offset + size]

    def pixel(self, order: int, ipix: int) -> float | None:
        """The value of one pixel at tile order + 6 from the deepest FITS tiles (None when
        its tile was not written: no value there)."""
        tile = ipix >> (2 * TILE_SHIFT)
        where = self._members.get(tile_path(order, tile, "fits"))
        if where is None:
            return None
        offset, _size = where
        rows, cols = tile_position(TILE_WIDTH)
        sub = ipix & (TILE_WIDTH * TILE_WIDTH - 1)
        at = (
            offset + _header_length(self._map, offset) + 4 * int(rows[sub] * TILE_WIDTH + cols[sub])
        )
        return float(np.frombuffer(self._map[at : at + 4], dtype=">f4")[0])

    def properties(self) -> dict[str, str]:
        """The ``properties`` keywords."""
        return parse_properties((self.get("properties") or b"").decode())

    def close(self) -> None:
        """Release the mapping."""
        self._map.close()


def _header_length(data: mmap.mmap, offset: int) -> int:
    """Bytes of a FITS header starting at ``offset`` (blocks up to the END card)."""
    block = 0
    while True:
        chunk = data[offset + block : offset + block + FITS_BLOCK]
        for card in range(0, FITS_BLOCK, 80):
            if chunk[card : card + 8] == b"END     ":
                return block + FITS_BLOCK
        block += FITS_BLOCK
        if len(chunk) < FITS_BLOCK:
            raise ValueError("FITS header without END")


def parse_properties(text: str) -> dict[str, str]:
    """``properties`` keywords (HiPS 1.0 §4.4: ``key = value`` lines, ``#`` comments)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def release_of(value: str | datetime | None) -> datetime:
    """A release date from a product's DATE (fixed for reproducible builds)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if value:
        try:
            parsed = datetime.fromisoformat(str(value))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        except ValueError:
            pass
    return datetime(2025, 3, 1, tzinfo=UTC)
