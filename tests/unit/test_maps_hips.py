"""HEALPix maps and their HiPS, without a server: reading map files (NESTED, RING, explicit,
UNSEEN), map ids, the tile geometry, the built tree read back, and QC of map deliveries."""

from __future__ import annotations

import io
import tarfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy_healpix import HEALPix
from astropy_healpix.core import nested_to_ring
from PIL import Image

from services.ingest import qc
from shared.maps import healpix, hips
from shared.maps.esasky import esasky_url

LIMIT = 64 * 1024 * 1024


def _file(
    nside: int,
    columns: dict[str, np.ndarray],
    ordering: str = "NESTED",
    coordsys: str = "C",
    **extra: object,
) -> bytes:
    table = fits.BinTableHDU.from_columns(
        [fits.Column(name, "E", array=values) for name, values in columns.items()]
    )
    keys = {
        "PIXTYPE": "HEALPIX",
        "ORDERING": ordering,
        "COORDSYS": coordsys,
        "NSIDE": nside,
        "INDXSCHM": "IMPLICIT",
        "TELESCOP": "INTEGRAL",
        "INSTRUME": "SPI",
        "CREATOR": "test 1.0",
        "TIMESYS": "TT",
        "TIMEUNIT": "d",
        "MJDREF": 51544.0,
        "TSTART": 1000.0,
        "TSTOP": 9000.0,
        **extra,
    }
    for key, value in keys.items():
        table.header[key] = value
    out = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(out)
    return out.getvalue()


def _spec(map_id: str = "spi_x") -> hips.HipsSpec:
    return hips.HipsSpec(
        map_id=map_id,
        title="t",
        description="d",
        instrument="SPI",
        unit="s",
        e_min_kev=20.0,
        e_max_kev=8000.0,
        t_min_mjd=52600.0,
        t_max_mjd=60700.0,
        product_id="allsky_map/SPI/mission/all/exposure",
        source_sha256="0" * 64,
        release=datetime(2025, 3, 1, tzinfo=UTC),
        simulated=True,
        creator_did="ivo://isla.integral/P/INTEGRAL/ISLA/spi_x",
    )


def test_map_ids_are_one_url_segment() -> None:
    assert healpix.map_id("allsky_map/ISGRI/mission/20_35/mosaic", "INTENSITY") == (
        "isgri_20_35_intensity"
    )
    assert healpix.map_id("allsky_map/ISGRI/mission/all/exposure", "EXPOSURE") == "isgri_exposure"
    assert healpix.map_id("allsky_map/JEM-X/mission/3_10/mosaic", "SIGNIFICANCE") == (
        "jemx_3_10_significance"
    )
    assert healpix.map_id("allsky_map/SPI/mission/508_514/line", "INTENSITY") == (
        "spi_508_514_line_intensity"
    )
    maps = healpix.map_columns(
        "allsky_map/ISGRI/mission/20_35/mosaic",
        [("INTENSITY", "mCrab"), ("VARIANCE", "mCrab2"), ("SIGNIFICANCE", None)],
    )
    assert [m.error_column for m in maps] == ["VARIANCE", None, None]


def test_ring_explicit_and_unseen_maps_read_as_nested() -> None:
    nside = 4
    npix = 12 * nside**2
    nested = np.arange(npix, dtype=np.float32)
    ring = np.empty(npix, dtype=np.float32)
    ring[nested_to_ring(np.arange(npix), nside)] = nested
    read = healpix.read_map(_file(nside, {"V": ring}, ordering="RING"))
    np.testing.assert_array_equal(read.columns["V"], nested)
    unseen = nested.copy()
    unseen[5] = healpix.UNSEEN
    assert np.isnan(healpix.read_map(_file(nside, {"V": unseen})).columns["V"][5])
    with pytest.raises(healpix.MapError, match="COORDSYS"):
        healpix.read_map(_file(nside, {"V": nested}, coordsys="G"))


def test_tile_layout_is_a_sky_grid() -> None:
    # Side by side in a tile means side by side on the sky: each pixel's right and upper
    # neighbours are HEALPix neighbours (about one pixel apart), at any tile.
    order, width = 9, hips.TILE_WIDTH
    hp = HEALPix(2**order, order="nested")
    tile = 500
    index = tile * width * width + hips.tile_layout(width)
    lon_q, lat_q = hp.healpix_to_lonlat(index.ravel())
    lon, lat = lon_q.to_value(u.rad), lat_q.to_value(u.rad)
    vec = np.stack(
        [np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=-1
    ).reshape(width, width, 3)
    step = hp.pixel_resolution.to_value(u.rad)
    right = np.arccos(np.clip((vec[:, 1:] * vec[:, :-1]).sum(-1), -1, 1))
    up = np.arccos(np.clip((vec[1:] * vec[:-1]).sum(-1), -1, 1))
    assert right.max() < 1.6 * step and up.max() < 1.6 * step
    rows, cols = hips.tile_position(width)
    layout = hips.tile_layout(width)
    assert all(layout[rows[k], cols[k]] == k for k in (0, 1, 77, width * width - 1))


def test_built_hips_reads_back(tmp_path: Path) -> None:
    nside = 64
    rng = np.random.default_rng(3)
    values = rng.normal(size=12 * nside**2).astype(np.float32)
    values[:1000] = np.nan  # unobserved
    built = hips.build(values, 6, _spec())
    assert built.hips_order == 3
    path = tmp_path / "h.tar"
    path.write_bytes(built.tar)
    with tarfile.open(path) as tar:
        names = set(tar.getnames())
    assert {"properties", "Moc.fits", "Norder3/Allsky.fits", "Norder3/Allsky.png"} <= names
    pack = hips.HipsPack(path)
    props = pack.properties()
    assert props["hips_order"] == "3" and props["hips_tile_format"] == "png fits"
    assert float(props["em_min"]) == pytest.approx(hips.KEV_METRES / 8000.0)
    fine = np.repeat(values, 64)  # order 6 repeated to order 9
    for ipix in (0, 999 * 64, 12345 * 64 + 7, 12 * 512**2 - 1):
        got = pack.pixel(3, ipix)
        if np.isnan(fine[ipix]):
            assert got is None or np.isnan(got)
        else:
            assert got == fine[ipix]
    tile = fits.getdata(io.BytesIO(pack.get("Norder3/Dir0/Npix700.fits") or b""))
    png = np.asarray(Image.open(io.BytesIO(pack.get("Norder3/Dir0/Npix700.png") or b"")))
    assert tile.shape == (64, 64) and png.shape == (64, 64, 2)
    assert np.array_equal(png[::-1, :, 1] == 255, np.isfinite(tile))
    header = fits.getheader(io.BytesIO(pack.get("Norder3/Dir0/Npix700.fits") or b""))
    assert header["SIMDATA"] is True
    # Allsky: 27 pieces a row of min(tile width, 64) pixels, the size HiPS clients cut it into
    # (Aladin Lite reads past the end of a smaller one); here each piece is its order-3 tile.
    piece = hips.ALLSKY_WIDTH
    assert piece == min(int(props["hips_tile_width"]), 64)
    allsky = fits.getdata(io.BytesIO(pack.get("Norder3/Allsky.fits") or b""))
    assert allsky.shape == (29 * piece, 27 * piece)
    row, col = divmod(700, 27)
    top_down = allsky[::-1]
    cut = top_down[row * piece : (row + 1) * piece, col * piece : (col + 1) * piece][::-1]
    np.testing.assert_array_equal(cut, tile)
    allsky_png = Image.open(io.BytesIO(pack.get("Norder3/Allsky.png") or b""))
    assert allsky_png.size == (27 * piece, 29 * piece)
    pack.close()


def test_qc_of_healpix_maps() -> None:
    nside = 4
    values = np.linspace(0.0, 1.0, 12 * nside**2)
    good = qc.check_delivery([("m.fits", _file(nside, {"INTENSITY": values}))], LIMIT)
    assert good.ok, good.problems
    facts = good.files[0]
    assert facts.kind == "allsky_map"
    assert facts.healpix is not None and facts.healpix["nside"] == nside
    assert facts.healpix["columns"] == [["INTENSITY", None]]
    galactic = qc.check_delivery([("m.fits", _file(nside, {"V": values}, coordsys="G"))], LIMIT)
    assert [p.code for p in galactic.problems] == ["healpix"]
    unordered = qc.check_delivery(
        [("m.fits", _file(nside, {"V": values}, ordering="SPIRAL"))], LIMIT
    )
    assert [p.code for p in unordered.problems] == ["healpix"]
    line = qc.check_delivery(
        [("m.fits", _file(nside, {"INTENSITY": values}, MAPTYPE="line"))], LIMIT
    )
    assert line.files[0].variant == "line"


def test_esasky_links() -> None:
    url = esasky_url(83.6332, 22.0145)
    assert url.startswith("https://sky.esa.int/esasky/?target=83.63320+%2B22.01450")
    assert "fov=2" in url and "cooframe=J2000" in url
