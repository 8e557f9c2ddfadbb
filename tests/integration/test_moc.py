"""Coverage MOCs (``/moc/<name>``) on the served demo archive: mocpy reads every MOC in every
serialisation, ObsCore's footprints lie inside them, and they follow the archive's changes."""

from __future__ import annotations

import io
from pathlib import Path

import astropy.units as u
import httpx
import numpy as np
import pytest
from astropy.io import fits
from astropy.time import Time
from mocpy import MOC, STMOC, TimeMOC
from sqlalchemy import column, create_engine, text

from services.products.moc.service import NAMES, SPACE_DEPTH
from shared.db.pgsphere import SPoly
from tests.conftest import Archive

pytestmark = pytest.mark.integration

INSTRUMENT_FOOTPRINTS = {"isgri": "fov_isgri", "jemx": "fov_jemx", "spi": "fov_spi"}
BUILD_TIMEOUT = 900.0
"""Seconds a first request may take: it builds the MOC (slow on a loaded machine)."""


@pytest.fixture(scope="module", autouse=True)
def built(archive: Archive) -> None:
    """Every MOC built once (the first request of each builds it), before the tests time
    their requests with the usual client."""
    with httpx.Client(base_url=archive.base_url, timeout=BUILD_TIMEOUT) as c:
        for name in NAMES:
            for kind in ("smoc", "stmoc"):
                c.get(f"/moc/{name}", params={"type": kind}).raise_for_status()


def _smoc(client: httpx.Client, name: str, fmt: str, tmp_path: Path) -> MOC:
    r = client.get(f"/moc/{name}", params={"format": fmt})
    assert r.status_code == 200, r.text
    if fmt == "fits":
        path = tmp_path / f"{name}.fits"
        path.write_bytes(r.content)
        return MOC.load(str(path), format="fits")
    return MOC.from_string(r.text, format=fmt)


def _polygons(archive: Archive, sql: str) -> list[np.ndarray]:
    engine = create_engine(archive.database_url)
    try:
        with engine.connect() as conn:
            query = text(sql).columns(column("region", SPoly()))
            return [np.asarray(r.region) for r in conn.execute(query)]
    finally:
        engine.dispose()


def _polygon_mocs(polygons: list[np.ndarray]) -> list[MOC]:
    """Each footprint as a MOC at the S-MOCs' depth (one mocpy call per vertex count)."""
    by_size: dict[int, list[np.ndarray]] = {}
    for p in polygons:
        by_size.setdefault(len(p), []).append(p)
    return [
        moc
        for group in by_size.values()
        for moc in MOC.from_polygons(
            [a for p in group for a in (p[:, 0], p[:, 1])], max_depth=SPACE_DEPTH
        )
    ]


@pytest.mark.parametrize("name", NAMES)
def test_mocpy_reads_every_serialisation(client: httpx.Client, name: str, tmp_path: Path) -> None:
    fits_moc = _smoc(client, name, "fits", tmp_path)
    assert not fits_moc.empty()
    assert _smoc(client, name, "json", tmp_path) == fits_moc
    assert _smoc(client, name, "ascii", tmp_path) == fits_moc
    r = client.get(f"/moc/{name}")
    assert r.headers["content-type"].startswith("application/fits")
    header = fits.open(io.BytesIO(r.content))[1].header
    assert header["MOCVERS"] == "2.0" and header["MOCDIM"] == "SPACE"
    st = client.get(f"/moc/{name}", params={"type": "stmoc"})
    assert st.status_code == 200
    path = tmp_path / f"{name}_st.fits"
    path.write_bytes(st.content)
    stmoc = STMOC.load(str(path), format="fits")
    assert not stmoc.empty()
    text_form = client.get(f"/moc/{name}", params={"type": "stmoc", "format": "ascii"}).text
    assert STMOC.from_string(text_form, format="ascii") == stmoc


@pytest.mark.parametrize("name", ["isgri", "jemx", "spi"])
def test_science_window_footprints_inside_the_instrument_moc(
    client: httpx.Client, archive: Archive, name: str, tmp_path: Path
) -> None:
    moc = _smoc(client, name, "fits", tmp_path)
    archive_moc = _smoc(client, "archive", "fits", tmp_path)
    column_name = INSTRUMENT_FOOTPRINTS[name]
    polygons = _polygons(
        archive,
        f"SELECT {column_name} AS region FROM isla.science_windows "
        f"WHERE scw_type = 'pointing' AND {column_name} IS NOT NULL",
    )
    assert polygons
    for footprint in _polygon_mocs(polygons):
        assert footprint.difference(moc).empty()
        assert footprint.difference(archive_moc).empty()


def test_obscore_footprints_inside_the_archive_moc(
    client: httpx.Client, archive: Archive, tmp_path: Path
) -> None:
    moc = _smoc(client, "archive", "fits", tmp_path)
    polygons = _polygons(
        archive,
        "SELECT s_region AS region FROM ivoa.obscore o WHERE s_region IS NOT NULL AND NOT "
        "EXISTS (SELECT 1 FROM isla.products p WHERE p.kind = 'allsky_map' AND "
        "o.obs_publisher_did = 'ivo://isla.integral/isla?product/' || p.product_id)",
    )
    assert len(polygons) > 100
    lon = np.concatenate([p[:, 0] for p in polygons]) * u.deg
    lat = np.concatenate([p[:, 1] for p in polygons]) * u.deg
    assert np.all(moc.contains_lonlat(lon, lat))
    footprints = _polygon_mocs(polygons)
    assert all(f.difference(moc).empty() for f in footprints)


def test_stmoc_holds_each_pointing_in_its_time(
    client: httpx.Client, archive: Archive, tmp_path: Path
) -> None:
    path = tmp_path / "isgri_st.fits"
    path.write_bytes(client.get("/moc/isgri", params={"type": "stmoc"}).content)
    stmoc = STMOC.load(str(path), format="fits")
    scw = archive.rows(
        "SELECT start_ijd, end_ijd, ra, dec FROM isla.science_windows "
        "WHERE scw_type = 'pointing' AND isgri_exposure > 0 ORDER BY scw_id LIMIT 1"
    )[0]
    middle = Time((scw.start_ijd + scw.end_ijd) / 2 + 51544.0, format="mjd", scale="tt")
    during = TimeMOC.from_times(middle, order=35)
    space = stmoc.query_by_time(during)
    assert space.contains_lonlat(scw.ra * u.deg, scw.dec * u.deg)[0]


def test_bad_names_and_parameters(client: httpx.Client) -> None:
    missing = client.get("/moc/picsit")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert "isgri" in missing.json()["detail"]
    for params in ({"format": "png"}, {"type": "tmoc"}):
        r = client.get("/moc/archive", params=params)
        assert r.status_code == 400
        assert r.json()["code"] == "UsageFault"


def test_etag_and_rebuild_after_a_change(client: httpx.Client, archive: Archive) -> None:
    first = client.get("/moc/spi")
    again = client.get("/moc/spi", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    before = archive.scalar(
        "SELECT generation FROM isla_ops.coverage_state WHERE scope = 'science_windows'"
    )
    engine = create_engine(archive.database_url)
    try:
        with engine.begin() as conn:
            # Two statements, one transaction: one new state of the archive.
            conn.execute(text("UPDATE isla.science_windows SET raw_files = raw_files"))
            conn.execute(text("UPDATE isla.science_windows SET raw_size = raw_size"))
    finally:
        engine.dispose()
    after = archive.scalar(
        "SELECT generation FROM isla_ops.coverage_state WHERE scope = 'science_windows'"
    )
    assert after == before + 1
    rebuilt = client.get(
        "/moc/spi", headers={"If-None-Match": first.headers["etag"]}, timeout=BUILD_TIMEOUT
    )
    # The same footprints give the same MOC: rebuilt for the new state, still current.
    assert rebuilt.status_code == 304
