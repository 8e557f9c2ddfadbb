"""HEALPix all-sky maps as the archive stores them: reading a delivered map file, and the map ids.

An all-sky map product (kind ``allsky_map``) is one FITS file holding a HEALPix binary table
(``PIXTYPE = 'HEALPIX'``, ``ORDERING`` NESTED or RING, ``NSIDE``, ``COORDSYS = 'C'``, implicit
or explicit indexing), one map per numeric column: the demo's ISGRI band mosaic, for instance,
carries ``INTENSITY``, ``VARIANCE`` and ``SIGNIFICANCE``. Each column is a *map* with an id of
its own (:func:`map_id`), the one id used everywhere: ``/hips/<map-id>``,
``/products/maps/<map-id>``.
"""

from __future__ import annotations

import gzip
import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from astropy.io import fits
from astropy_healpix.core import nested_to_ring

UNSEEN = -1.6375e30
"""HEALPix's conventional value of an unobserved pixel (read as NaN)."""

CELESTIAL = frozenset({"C", "Q", "CEL", "CELESTIAL", "EQUATORIAL", "ICRS", "FK5"})
"""``COORDSYS`` values of maps in ICRS (equatorial) coordinates, the only ones served."""

ERROR_PAIRS = {"INTENSITY": "VARIANCE", "FLUX": "VARIANCE"}
"""A value column and the column of its variance (the map's error is its square root)."""

_SLUG = re.compile(r"[^a-z0-9]+")
_INSTRUMENT_SLUGS = {"JEM-X": "jemx", "PICsIT": "picsit"}


class MapError(ValueError):
    """A file that is not a readable HEALPix map (the message says why)."""


@dataclass(frozen=True)
class MapColumn:
    """One map of a file: its column name, unit and id."""

    column: str
    unit: str | None
    map_id: str
    error_column: str | None = None
    """The column whose square root is this map's 1-sigma error (its variance), if any."""


@dataclass
class HealpixMap:
    """A HEALPix map file read into NESTED arrays (NaN where the sky is not covered)."""

    nside: int
    columns: dict[str, npt.NDArray[np.float32]]
    units: dict[str, str | None] = field(default_factory=dict)
    header: dict[str, Any] = field(default_factory=dict)

    @property
    def order(self) -> int:
        """The HEALPix order (log2 of NSIDE)."""
        return int(math.log2(self.nside))


def order_of(nside: int) -> int:
    """The HEALPix order of a power-of-two NSIDE."""
    return int(math.log2(nside))


def _slug(text: str) -> str:
    return _SLUG.sub("_", text.lower()).strip("_")


def map_id(product_id: str, column: str) -> str:
    """The id of one map (column) of an ``allsky_map`` product, safe as one URL segment.

    ``allsky_map/ISGRI/mission/20_35/mosaic`` + ``INTENSITY`` → ``isgri_20_35_intensity``;
    ``allsky_map/ISGRI/mission/all/exposure`` + ``EXPOSURE`` → ``isgri_exposure``. The parts
    after the scope are kept except ``all`` (no band), ``mosaic`` (the default variant) and a
    variant that only repeats the column's name.
    """
    parts = product_id.split("/")
    instrument = parts[1] if len(parts) > 1 else "map"
    words = [_INSTRUMENT_SLUGS.get(instrument, instrument)]
    col = _slug(column)
    for part in parts[3:]:
        slug = _slug(part)
        if slug and slug not in ("all", "mosaic", col):
            words.append(slug)
    words.append(col)
    return _slug("_".join(words))


def map_columns(product_id: str, columns: Sequence[tuple[str, str | None]]) -> list[MapColumn]:
    """The maps of a product from its (column, unit) list, each with its error column."""
    names = {name.upper() for name, _ in columns}
    out = []
    for name, unit in columns:
        partner = ERROR_PAIRS.get(name.upper())
        error = next((n for n, _ in columns if partner and n.upper() == partner), None)
        if error is None and f"{name.upper()}_ERR" in names:
            error = next(n for n, _ in columns if n.upper() == f"{name.upper()}_ERR")
        out.append(MapColumn(name, unit, map_id(product_id, name), error))
    return out


def _open(data: bytes) -> fits.HDUList:
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return fits.open(io.BytesIO(data), memmap=False)


def healpix_hdu(hdul: fits.HDUList) -> fits.BinTableHDU:
    """The HEALPix table of a file (the first binary table with ``PIXTYPE = 'HEALPIX'``)."""
    for hdu in hdul:
        if (
            isinstance(hdu, fits.BinTableHDU)
            and str(hdu.header.get("PIXTYPE", "")).strip().upper() == "HEALPIX"
        ):
            return hdu
    raise MapError("no binary table with PIXTYPE = 'HEALPIX'")


def header_problems(header: fits.Header) -> list[str]:
    """What makes a HEALPix table's header unusable (empty: usable)."""
    problems = []
    try:
        nside = int(header.get("NSIDE", 0))
    except (TypeError, ValueError):
        nside = 0
    if nside < 1 or nside & (nside - 1) or nside > 2**13:
        problems.append("NSIDE must be a power of 2 up to 8192")
    ordering = str(header.get("ORDERING", "")).strip().upper()
    if ordering not in ("NESTED", "RING"):
        problems.append(f"ORDERING must be NESTED or RING, not {ordering or 'missing'!r}")
    coordsys = str(header.get("COORDSYS", "C")).strip().upper()
    if coordsys not in CELESTIAL:
        problems.append(f"COORDSYS {coordsys!r}: only celestial (ICRS, 'C') maps are accepted")
    scheme = str(header.get("INDXSCHM", "IMPLICIT")).strip().upper()
    if scheme not in ("IMPLICIT", "EXPLICIT"):
        problems.append(f"INDXSCHM must be IMPLICIT or EXPLICIT, not {scheme!r}")
    return problems


def value_columns(hdu: fits.BinTableHDU) -> list[tuple[str, str | None]]:
    """The (name, unit) of every numeric map column (the explicit ``PIXEL`` index left out)."""
    out = []
    for col in hdu.columns:
        if col.name.upper() == "PIXEL":
            continue
        if np.dtype(col.dtype.base if hasattr(col.dtype, "base") else col.dtype).kind not in "fiu":
            continue
        out.append((col.name, (col.unit or None)))
    return out


def read_map(data: bytes) -> HealpixMap:
    """Read a HEALPix map file (plain or gzip) into NESTED float32 arrays, NaN for
    unobserved pixels (NaN, ``UNSEEN`` or absent from an explicit index)."""
    with _open(data) as hdul:
        hdu = healpix_hdu(hdul)
        problems = header_problems(hdu.header)
        if problems:
            raise MapError("; ".join(problems))
        nside = int(hdu.header["NSIDE"])
        npix = 12 * nside * nside
        ring = str(hdu.header["ORDERING"]).strip().upper() == "RING"
        explicit = str(hdu.header.get("INDXSCHM", "IMPLICIT")).strip().upper() == "EXPLICIT"
        pixels = None
        if explicit:
            names = {c.upper(): c for c in hdu.columns.names}
            if "PIXEL" not in names:
                raise MapError("an explicitly indexed map needs a PIXEL column")
            pixels = np.asarray(hdu.data[names["PIXEL"]], dtype=np.int64).reshape(-1)
            if pixels.size and (pixels.min() < 0 or pixels.max() >= npix):
                raise MapError("PIXEL values outside the map")
        columns: dict[str, npt.NDArray[np.float32]] = {}
        units: dict[str, str | None] = {}
        for name, unit in value_columns(hdu):
            values = np.asarray(hdu.data[name], dtype=np.float32).reshape(-1)
            if pixels is not None:
                if values.size != pixels.size:
                    raise MapError(f"{name}: {values.size} values for {pixels.size} pixels")
                full = np.full(npix, np.nan, dtype=np.float32)
                full[pixels] = values
                values = full
            elif values.size != npix:
                raise MapError(f"{name}: {values.size} pixels for NSIDE {nside}")
            values = np.where(values <= UNSEEN * 0.9, np.float32(np.nan), values)
            if ring:
                # The NESTED array takes, at each nested index, the value at its ring index.
                values = values[nested_to_ring(np.arange(npix), nside)]
            columns[name] = np.ascontiguousarray(values, dtype=np.float32)
            units[name] = unit
        if not columns:
            raise MapError("no numeric map column")
        header = {k: hdu.header[k] for k in hdu.header if k and k not in ("COMMENT", "HISTORY")}
        primary = {k: hdul[0].header[k] for k in hdul[0].header if k and k not in ("COMMENT",)}
    return HealpixMap(nside, columns, units, {**primary, **header})


def healpix_table(
    nside: int,
    columns: Sequence[tuple[str, npt.NDArray[np.floating[Any]], str | None]],
    header: dict[str, Any] | None = None,
) -> fits.BinTableHDU:
    """A NESTED, ICRS, implicitly indexed HEALPix table of float32 columns (NaN: unobserved)."""
    table = fits.BinTableHDU.from_columns(
        [
            fits.Column(name, "E", unit=unit, array=np.asarray(values, dtype=np.float32))
            for name, values, unit in columns
        ],
        name="HEALPIX",
    )
    h = table.header
    h["PIXTYPE"] = ("HEALPIX", "HEALPix pixelisation")
    h["ORDERING"] = ("NESTED", "pixel ordering scheme")
    h["COORDSYS"] = ("C", "celestial (ICRS) coordinates")
    h["NSIDE"] = (nside, "resolution parameter")
    h["ORDER"] = (order_of(nside), "HEALPix order (log2 NSIDE)")
    h["FIRSTPIX"] = (0, "first pixel")
    h["LASTPIX"] = (12 * nside * nside - 1, "last pixel")
    h["INDXSCHM"] = ("IMPLICIT", "indexing: implicit")
    h["OBJECT"] = ("FULLSKY", "the whole sky")
    for key, value in (header or {}).items():
        h[key] = value
    return table
