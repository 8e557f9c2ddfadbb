"""All-sky maps end to end: the demo's HEALPix maps, their HiPS as Aladin reads them, the value
endpoint, ObsCore and DataLink, and the URLs of docs/ESASKY.md.

The reference reader here is independent of the service: astropy.io.fits on the stored map
file, a tile layout written out again from the HiPS convention, Pillow and mocpy.
"""

from __future__ import annotations

import io
import math
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlparse

import httpx
import numpy as np
import numpy.typing as npt
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.io.votable import parse_single_table
from astropy_healpix import lonlat_to_healpix
from lxml import etree
from PIL import Image

from shared.vo.registry import RI, XSI
from tests.conftest import Archive
from tests.integration.test_tap_registry import schema  # noqa: F401 - the VOResource schemas

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CRAB = (83.6332, 22.0145)
GALACTIC_CENTRE = (266.4168, -29.0078)
EXPECTED = {
    "isgri_exposure",
    "isgri_20_35_intensity",
    "isgri_20_35_variance",
    "isgri_20_35_significance",
    "isgri_35_60_intensity",
    "isgri_60_200_intensity",
    "isgri_20_35_sensitivity",
    "picsit_exposure",
    "jemx_exposure",
    "jemx_3_10_sensitivity",
    "jemx_3_10_intensity",
    "jemx_10_20_significance",
    "spi_exposure",
}
ESASKY_KEYS = (
    "creator_did",
    "obs_title",
    "obs_regime",
    "obs_collection",
    "hips_creator",
    "hips_release_date",
    "hips_frame",
    "hips_order",
    "hips_tile_format",
    "hips_tile_width",
    "hips_pixel_cut",
    "dataproduct_type",
    "em_min",
    "em_max",
    "hips_initial_ra",
    "hips_initial_dec",
    "hips_initial_fov",
    "hips_status",
)


# --- reference reader -----------------------------------------------------------------------------


def _properties(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            out[key.strip()] = value.strip()
    return out


def _interleave(x: int, y: int) -> int:
    """NESTED sub-index of (x, y): x's bits at even positions, y's at odd ones."""
    out = 0
    for bit in range(16):
        out |= ((x >> bit) & 1) << (2 * bit) | ((y >> bit) & 1) << (2 * bit + 1)
    return out


def _tile_index(width: int) -> npt.NDArray[np.int64]:
    """Sub-index of FITS tile pixel [row, col] (row 0 at the bottom), the CDS convention:
    the interleaved grid a quarter turn round, so row i holds x = width - 1 - i, col j y = j."""
    return np.array(
        [[_interleave(width - 1 - i, j) for j in range(width)] for i in range(width)],
        dtype=np.int64,
    )


def _map_file(client: httpx.Client, info: dict[str, Any]) -> fits.BinTableHDU:
    data = client.get(info["fits_url"]).content
    hdul = fits.open(io.BytesIO(data))
    return next(h for h in hdul if h.header.get("PIXTYPE") == "HEALPIX")


def _nested(ra: float, dec: float, order: int) -> int:
    return int(lonlat_to_healpix(ra * u.deg, dec * u.deg, 2**order, order="nested"))


@pytest.fixture(scope="module")
def maps(archive: Archive) -> dict[str, dict[str, Any]]:
    with httpx.Client(base_url=archive.base_url, timeout=60) as c:
        listing = c.get("/products/maps")
    assert listing.status_code == 200
    return {m["map_id"]: m for m in listing.json()["maps"]}


@pytest.fixture(scope="module")
def heavy_client(archive: Archive) -> Any:
    with httpx.Client(base_url=archive.base_url, timeout=60) as c:
        yield c


# --- the maps -------------------------------------------------------------------------------------


def test_the_demo_maps_are_listed(maps: dict[str, dict[str, Any]]) -> None:
    assert set(maps) >= EXPECTED
    isgri = maps["isgri_20_35_intensity"]
    assert isgri["healpix"] == {"nside": 512, "order": 9, "ordering": "NESTED", "frame": "ICRS"}
    assert isgri["unit"] == "mCrab" and isgri["error_from"] == "isgri_20_35_variance"
    assert maps["jemx_exposure"]["healpix"]["nside"] == 256
    assert maps["spi_exposure"]["healpix"]["nside"] == 64
    assert all(m["simulated"] for m in maps.values())


def test_each_hips_has_a_valid_registry_record(
    client: httpx.Client,
    maps: dict[str, dict[str, Any]],
    schema: etree.XMLSchema,  # noqa: F811 - the fixture imported above
) -> None:
    for map_id, waveband in (("isgri_exposure", "Gamma-ray"), ("jemx_exposure", "X-ray")):
        response = client.get(f"/hips/{map_id}/resource.xml")
        assert response.status_code == 200
        record = etree.fromstring(response.content)
        schema.assertValid(record)
        assert record.tag == f"{{{RI}}}Resource"
        assert record.get(f"{{{XSI}}}type") == "vs:CatalogService"
        assert record.findtext("identifier") == f"ivo://isla.integral/hips/{map_id}"
        capability = record.find("capability")
        assert capability is not None
        assert capability.get("standardID") == "ivo://ivoa.net/std/hips#hips-1.0"
        assert capability.findtext("interface/accessURL") == maps[map_id]["hips_url"]
        assert record.findtext("coverage/waveband") == waveband
        assert record.findtext("content/description", "").startswith("Simulated demo data")
    assert client.get("/hips/no_such_map/resource.xml").status_code == 404


def test_map_files_are_healpix_and_simulated(
    heavy_client: httpx.Client, maps: dict[str, dict[str, Any]]
) -> None:
    table = _map_file(heavy_client, maps["isgri_exposure"])
    h = table.header
    assert (h["PIXTYPE"], h["ORDERING"], h["COORDSYS"], h["NSIDE"]) == (
        "HEALPIX",
        "NESTED",
        "C",
        512,
    )
    assert h["SIMDATA"] is True
    exposure = np.asarray(table.data["EXPOSURE"], dtype=np.float64)
    assert exposure.size == 12 * 512**2
    # The Crab and the Galactic Centre were observed: exposure there, none at the far sky.
    assert exposure[_nested(*CRAB, 9)] > 1e4
    assert exposure[_nested(*GALACTIC_CENTRE, 9)] > 1e4
    assert (exposure == 0).any()


def test_unknown_map_is_404_problem(client: httpx.Client) -> None:
    for path in ("/products/maps/nope", "/products/maps/nope/value?ra=1&dec=2"):
        r = client.get(path)
        assert r.status_code == 404, path
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "isgri_exposure" in r.json()["detail"]


# --- HiPS as Aladin reads it ----------------------------------------------------------------------


def test_hipslist_names_every_map(archive: Archive, maps: dict[str, dict[str, Any]]) -> None:
    with httpx.Client(base_url=archive.base_url, timeout=60) as c:
        r = c.get("/hips/hipslist")
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "*"
    records = [_properties(block) for block in r.text.split("\n\n") if "creator_did" in block]
    urls = {rec["hips_service_url"] for rec in records}
    assert urls == {f"{archive.base_url}/hips/{m}" for m in maps}
    for rec in records:
        for key in ESASKY_KEYS:
            assert rec.get(key), (rec.get("creator_did"), key)
        assert "png" in rec["hips_tile_format"].split()
        assert "fits" in rec["hips_tile_format"].split()
        assert rec["hips_frame"] == "equatorial"
        assert float(rec["em_min"]) < float(rec["em_max"])


@pytest.mark.parametrize(
    "map_id",
    ["isgri_20_35_intensity", "isgri_exposure", "jemx_3_10_intensity", "spi_exposure"],
)
def test_aladin_reads_the_hips(
    heavy_client: httpx.Client, maps: dict[str, dict[str, Any]], map_id: str
) -> None:
    c = heavy_client
    info = maps[map_id]
    props = _properties(c.get(f"/hips/{map_id}/properties").text)
    assert props["hips_service_url"].endswith(f"/hips/{map_id}")
    assert props["isla_simulated"] == "true"
    order = int(props["hips_order"])
    width = int(props["hips_tile_width"])
    assert (order, width) == (3, 64)
    table = _map_file(c, info)
    column = next(col for col in table.columns.names if col.lower() == map_id.split("_")[-1])
    sky = np.asarray(table.data[column], dtype=np.float64)
    nside = table.header["NSIDE"]
    # The map at the tiles' pixel order (9): coarser maps repeat their pixels.
    fine = np.repeat(sky, (512 // nside) ** 2) if nside < 512 else sky

    # Allsky: 27 order-3 tiles per row, each at the tile width (64 pixels, the most HiPS
    # clients cut an Allsky into): the order-9 pixels themselves.
    allsky = fits.getdata(io.BytesIO(c.get(f"/hips/{map_id}/Norder3/Allsky.fits").content))
    assert allsky.shape == (29 * 64, 27 * 64)
    tile = _nested(*CRAB, 3)
    top_down = allsky[::-1]
    row, col = divmod(tile, 27)
    piece = top_down[row * 64 : (row + 1) * 64, col * 64 : (col + 1) * 64][::-1]
    expected = fine[tile * 4096 + _tile_index(64)]
    np.testing.assert_allclose(piece, expected, rtol=1e-5, atol=1e-6, equal_nan=True)
    png = Image.open(io.BytesIO(c.get(f"/hips/{map_id}/Norder3/Allsky.png").content))
    assert png.size == (27 * 64, 29 * 64)

    # A deep tile, FITS and PNG, where the Crab is: the map's pixels, to the bit.
    r = c.get(f"/hips/{map_id}/Norder3/Dir0/Npix{tile}.fits")
    assert r.status_code == 200 and r.headers["content-type"] == "application/fits"
    assert r.headers["access-control-allow-origin"] == "*"
    assert "max-age" in r.headers["cache-control"]
    data = fits.getdata(io.BytesIO(r.content))
    assert data.shape == (64, 64)
    expected = fine[tile * 4096 + _tile_index(64)].astype(np.float32)
    np.testing.assert_array_equal(data, expected)
    image = np.asarray(
        Image.open(io.BytesIO(c.get(f"/hips/{map_id}/Norder3/Dir0/Npix{tile}.png").content))
    )
    assert image.shape == (64, 64, 2)  # grey + alpha
    grey, alpha = image[::-1, :, 0], image[::-1, :, 1]  # PNG rows top-down
    assert np.array_equal(alpha == 255, np.isfinite(data))
    lo, hi = (float(x) for x in props["hips_pixel_cut"].split())
    level = np.clip((data - lo) / (hi - lo), 0, 1) * 255
    finite = np.isfinite(data)
    assert np.all(np.abs(grey[finite] - level[finite]) <= 1.01)


def test_moc_covers_the_data(heavy_client: httpx.Client) -> None:
    from mocpy import MOC

    r = heavy_client.get("/hips/isgri_exposure/Moc.fits")
    assert r.status_code == 200
    moc = MOC.from_fits(io.BytesIO(r.content)) if hasattr(MOC, "from_fits") else None
    if moc is None:  # pragma: no cover - older mocpy
        moc = MOC.load(io.BytesIO(r.content), format="fits")
    assert moc.contains_lonlat(CRAB[0] * u.deg, CRAB[1] * u.deg)[0]
    assert 0 < moc.sky_fraction < 1


def test_etags_and_paths_outside_the_tree(client: httpx.Client) -> None:
    first = client.get("/hips/isgri_exposure/Norder3/Allsky.png")
    assert first.status_code == 200 and first.headers["etag"]
    again = client.get(
        "/hips/isgri_exposure/Norder3/Allsky.png", headers={"If-None-Match": first.headers["etag"]}
    )
    assert again.status_code == 304
    for path in (
        "/hips/isgri_exposure/%2e%2e/%2e%2e/etc/passwd",
        "/hips/isgri_exposure/Norder3/Dir0/Npix1.txt",
        "/hips/isgri_exposure/Norder3/Dir0/Npix999999.fits",
        "/hips/isgri_exposure/tiles.tar",
        "/hips/no_such_map/properties",
    ):
        r = client.get(path)
        assert r.status_code == 404, path
        assert not r.content.startswith(b"SIMPLE"), path


# --- values ---------------------------------------------------------------------------------------


def test_value_agrees_with_the_map(
    heavy_client: httpx.Client, maps: dict[str, dict[str, Any]]
) -> None:
    c = heavy_client
    info = maps["isgri_20_35_intensity"]
    table = _map_file(c, info)
    pixel = _nested(*CRAB, 9)
    r = c.get("/products/maps/isgri_20_35_intensity/value", params={"ra": CRAB[0], "dec": CRAB[1]})
    assert r.status_code == 200
    body = r.json()
    assert body["healpix_pixel"] == pixel and body["healpix_order"] == 9
    assert body["unit"] == "mCrab" and body["simulated"] is True
    assert body["value"] == pytest.approx(float(table.data["INTENSITY"][pixel]), rel=1e-6)
    assert body["error"] == pytest.approx(math.sqrt(float(table.data["VARIANCE"][pixel])), rel=1e-6)
    assert body["value"] > 5 * body["error"]  # the Crab stands out

    spi = c.get("/products/maps/spi_exposure/value", params={"ra": CRAB[0], "dec": CRAB[1]})
    assert spi.json()["healpix_order"] == 6
    assert spi.json()["healpix_pixel"] == _nested(*CRAB, 6)
    spi_table = _map_file(c, maps["spi_exposure"])
    assert spi.json()["value"] == pytest.approx(
        float(spi_table.data["EXPOSURE"][_nested(*CRAB, 6)])
    )

    positions = [list(CRAB), list(GALACTIC_CENTRE), [0.0, 89.9]]
    many = c.post("/products/maps/isgri_20_35_intensity/value", json={"positions": positions})
    assert many.status_code == 200
    rows = many.json()["values"]
    assert [r["healpix_pixel"] for r in rows] == [_nested(ra, dec, 9) for ra, dec in positions]
    assert rows[0]["value"] == body["value"]
    for row in rows:
        expected = float(table.data["INTENSITY"][row["healpix_pixel"]])
        if math.isnan(expected):
            assert row["value"] is None and row["covered"] is False
        else:
            assert row["value"] == pytest.approx(expected, rel=1e-6)

    vot = c.get(
        "/products/maps/isgri_20_35_intensity/value",
        params={"ra": CRAB[0], "dec": CRAB[1], "format": "votable"},
    )
    assert vot.status_code == 200
    t = parse_single_table(io.BytesIO(vot.content)).to_table()
    assert float(t["value"][0]) == pytest.approx(body["value"], rel=1e-6)
    assert str(t["value"].unit) == "mCrab"


@pytest.mark.parametrize(
    "params",
    [
        {"ra": "abc", "dec": "1"},
        {"ra": "400", "dec": "1"},
        {"ra": "10", "dec": "-91"},
        {"ra": "nan", "dec": "0"},
        {"dec": "0"},
        {"ra": "1", "dec": "1", "format": "csv"},
    ],
)
def test_bad_positions_are_400(client: httpx.Client, params: dict[str, str]) -> None:
    r = client.get("/products/maps/isgri_exposure/value", params=params)
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("application/problem+json")
    vo = client.get("/products/maps/isgri_exposure/value", params={**params, "format": "votable"})
    if params.get("format") == "csv":
        return
    assert vo.status_code == 400
    assert b'name="QUERY_STATUS" value="ERROR"' in vo.content


def test_bad_post_bodies_are_400(client: httpx.Client) -> None:
    url = "/products/maps/isgri_exposure/value"
    for body in (b"not json", b"[]", b'{"positions": [[1]]}', b'{"positions": [[1, 95]]}'):
        r = client.post(url, content=body, headers={"content-type": "application/json"})
        assert r.status_code == 400, body
    too_many = {"positions": [[1.0, 1.0]] * 10_001}
    assert client.post(url, json=too_many).status_code == 400


# --- ObsCore and DataLink -------------------------------------------------------------------------


def test_maps_in_obscore_and_datalink(
    client: httpx.Client, maps: dict[str, dict[str, Any]]
) -> None:
    r = client.get(
        "/tap/sync",
        params={
            "LANG": "ADQL",
            "FORMAT": "votable",
            "QUERY": "SELECT obs_publisher_did, dataproduct_type, access_url, access_format "
            "FROM ivoa.obscore WHERE obs_publisher_did LIKE '%allsky_map%'",
        },
    )
    assert r.status_code == 200
    table = parse_single_table(io.BytesIO(r.content)).to_table()
    products = {m["product_id"] for m in maps.values()}
    dids = {str(d) for d in table["obs_publisher_did"]}
    assert {f"ivo://isla.integral/isla?product/{p}" for p in products} <= dids
    assert set(table["dataproduct_type"]) == {"image"}
    row = next(
        i
        for i, d in enumerate(table["obs_publisher_did"])
        if str(d).endswith("/ISGRI/mission/20_35/mosaic")
    )
    links = client.get(str(table["access_url"][row]).replace("http://127.0.0.1:8000", ""))
    assert links.status_code == 200
    dl = parse_single_table(io.BytesIO(links.content)).to_table()
    urls = {str(u): str(s) for u, s in zip(dl["access_url"], dl["semantics"], strict=True)}
    this = [u for u, s in urls.items() if s == "#this"]
    assert this and this[0].endswith("/products/files/allsky_map/ISGRI/mission/20_35/mosaic")
    for map_id in ("isgri_20_35_intensity", "isgri_20_35_variance", "isgri_20_35_significance"):
        hips = [u for u in urls if u.endswith(f"/hips/{map_id}")]
        assert hips, map_id
        assert any(u.endswith(f"/hips/{map_id}/Moc.fits") for u in urls)
        props = client.get(urlparse(hips[0]).path)
        assert props.status_code == 200 and "hips_frame" in props.text


# --- docs/ESASKY.md -------------------------------------------------------------------------------

DOC_BASE = "http://127.0.0.1:8000"


def test_esasky_doc_urls_work(client: httpx.Client, maps: dict[str, dict[str, Any]]) -> None:
    doc = (ROOT / "docs" / "ESASKY.md").read_text()
    # URLs as written (a pattern such as .../hips/<map-id> is not a URL to fetch).
    urls = {
        m.group(0)
        for m in re.finditer(re.escape(DOC_BASE) + r"[^\s)`'\"<>]*", doc)
        if doc[m.end() : m.end() + 1] != "<"
    }
    assert len(urls) >= 8
    for url in sorted(urls):
        path = url[len(DOC_BASE) :] or "/"
        r = client.get(path)
        assert r.status_code == 200, url
    deep = [
        m.group(0)
        for m in re.finditer(r"https://sky\.esa\.int/esasky/\?[^\s)`'\"<>]+", doc)
        if doc[m.end() : m.end() + 1] != "<"
    ]
    assert deep, "no Open-in-ESASky link"
    for link in deep:
        query = parse_qs(urlparse(link).query)
        assert "target" in query or "hips" in query, link
        for hips in query.get("hips_url", []):
            served = unquote(hips)
            assert served.startswith(DOC_BASE + "/hips/"), link
            assert client.get(served[len(DOC_BASE) :] + "/properties").status_code == 200
    assert all(quote(m) in doc for m in ("isgri_20_35_intensity", "isgri_exposure"))


# --- a community map through ingestion --------------------------------------------------------


def test_a_spi_line_map_is_delivered_through_ingestion(stack: Any, tmp_path: Path) -> None:
    """The ingest interface of SPI's line maps: a RING-ordered 511 keV map with INTENSITY and
    VARIANCE becomes product allsky_map/SPI/mission/508_514/line and maps with their HiPS."""
    from astropy_healpix.core import nested_to_ring

    from services.ingest.products import Caller, DeliveryParams, ingest_delivery
    from shared.db.engine import make_sync_engine
    from shared.maps import hips
    from shared.maps.publish import hips_key, properties_key
    from shared.settings import DatabaseSettings
    from shared.storage import ObjectStore

    url = stack.new_database("isla_maps_line")
    store = ObjectStore.from_settings(stack.storage("line-raw", "line-products"))
    store.ensure_buckets()
    engine = make_sync_engine(DatabaseSettings(database_url=url))
    nside = 32
    npix = 12 * nside**2
    nested = np.linspace(0.0, 1.0, npix, dtype=np.float32)
    ring = np.empty(npix, dtype=np.float32)
    ring[nested_to_ring(np.arange(npix), nside)] = nested
    table = fits.BinTableHDU.from_columns(
        [
            fits.Column("INTENSITY", "E", unit="ph/cm2/s/sr", array=ring),
            fits.Column("VARIANCE", "E", array=np.full(npix, 0.01, dtype=np.float32)),
        ]
    )
    keys = {
        "PIXTYPE": "HEALPIX",
        "ORDERING": "RING",
        "COORDSYS": "C",
        "NSIDE": nside,
        "INDXSCHM": "IMPLICIT",
        "TELESCOP": "INTEGRAL",
        "INSTRUME": "SPI",
        "CREATOR": "spi-line-maps 2.1",
        "E_MIN": 508.0,
        "E_MAX": 514.0,
        "MAPTYPE": "line",
        "TIMESYS": "TT",
        "TIMEUNIT": "d",
        "MJDREF": 51544.0,
        "TSTART": 1000.0,
        "TSTOP": 9000.0,
    }
    for key, value in keys.items():
        table.header[key] = value
    buffer = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(buffer)
    try:
        result = ingest_delivery(
            engine,
            store,
            [("spi_511_line.fits", buffer.getvalue())],
            DeliveryParams(kind="allsky_map"),
            Caller(team="spi-team"),
            64 * 2**20,
        )
        product = result.products[0]
        assert product["product_id"] == "allsky_map/SPI/mission/508_514/line"
        assert product["status"] == "created"
        map_id = "spi_508_514_line_intensity"
        path = tmp_path / "line.tar"
        path.write_bytes(
            store.read_bytes(store.products_bucket, hips_key(map_id, product["sha256"]))
        )
        assert store.exists(store.products_bucket, properties_key(map_id, product["sha256"]))
        pack = hips.HipsPack(path)
        assert pack.properties()["em_min"]
        pixel = 1234
        fine = pixel * 4 ** (9 - 5)  # order 5 repeated to order 9
        assert pack.pixel(3, fine) == nested[pixel]  # RING read back as NESTED
        pack.close()
    finally:
        engine.dispose()
