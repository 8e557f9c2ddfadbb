"""ObsCore 1.1 (ivoa.obscore) on the served demo archive, through pyvo like a VO client."""

from __future__ import annotations

import httpx
import pytest
import pyvo
from sqlalchemy import create_engine, text

from shared.vo.obscore import (
    AUTHORITY,
    DATALINK_FORMAT,
    OBSCORE_COLUMNS,
    PRODUCT_COLLECTION,
    RAW_COLLECTION,
    SIMULATED_SUFFIX,
    TIMESERIES_COLLECTION,
)
from tests.conftest import Archive

pytestmark = pytest.mark.integration

RAW_SIMULATED = RAW_COLLECTION + SIMULATED_SUFFIX
"""The demo archive's science windows are simulated: their collection says so."""
PRODUCT_COLLECTIONS = f"('{PRODUCT_COLLECTION}', '{PRODUCT_COLLECTION}{SIMULATED_SUFFIX}')"

CRAB = (83.63, 22.01)
CRAB_IN_FIELD = f"CONTAINS(POINT('ICRS', {CRAB[0]}, {CRAB[1]}), s_region) = 1"


def test_one_row_per_pointing_science_window(tap: pyvo.dal.TAPService, archive: Archive) -> None:
    expected = archive.scalar(
        "SELECT count(*) FROM isla.science_windows WHERE scw_type = 'pointing'"
    )
    got = tap.run_sync(
        f"SELECT COUNT(*) AS n FROM ivoa.obscore WHERE obs_collection = '{RAW_SIMULATED}'"
    ).to_table()
    assert expected > 0
    assert int(got["n"][0]) == expected


def test_crab_science_windows_by_footprint(tap: pyvo.dal.TAPService, archive: Archive) -> None:
    expected = archive.scalar(
        "SELECT count(*) FROM isla.science_windows WHERE scw_type = 'pointing' AND "
        f"fov_isgri @> spoint(radians({CRAB[0]}), radians({CRAB[1]}))",
    )
    rows = tap.run_sync(
        "SELECT obs_id, obs_publisher_did, dataproduct_type, calib_level, access_url, "
        "access_format, s_region, t_min, t_max, em_min, em_max, instrument_name "
        f"FROM ivoa.obscore WHERE {CRAB_IN_FIELD} AND obs_collection = '{RAW_SIMULATED}'",
        maxrec=100_000,
    ).to_table()
    assert expected > 0
    assert len(rows) == expected
    first = rows[0]
    assert first["dataproduct_type"] == "event"
    assert first["calib_level"] == 1
    assert first["instrument_name"] == "IBIS/ISGRI"
    assert first["access_format"] == "application/x-tar"
    assert first["obs_publisher_did"] == f"ivo://{AUTHORITY}/isla?scw/{first['obs_id']}.001"
    assert first["access_url"] == f"{archive.base_url}/raw/scw/{first['obs_id']}.tar"
    # STC-S, as ObsCore 1.1 types s_region: at least three (ra, dec) vertices in degrees.
    region = str(first["s_region"]).split()
    assert region[:2] == ["Polygon", "ICRS"]
    assert len(region) >= 8
    assert all(0 <= float(v) < 360 for v in region[2::2])
    assert 52500 < first["t_min"] < first["t_max"] < 60800  # MJD within the mission
    # 1 MeV and 15 keV in metres.
    assert first["em_min"] == pytest.approx(1.2398e-12, rel=1e-3)
    assert first["em_max"] == pytest.approx(8.2656e-11, rel=1e-3)


def test_access_url_downloads_the_tarball(tap: pyvo.dal.TAPService) -> None:
    rows = tap.run_sync(
        "SELECT TOP 1 access_url, access_estsize FROM ivoa.obscore "
        f"WHERE {CRAB_IN_FIELD} AND obs_collection = '{RAW_SIMULATED}'"
    ).to_table()
    url = str(rows["access_url"][0])
    with httpx.stream("GET", url, timeout=60) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/x-tar")
        size = sum(len(chunk) for chunk in response.iter_bytes())
    # access_estsize is an estimate in kbyte: the tar headers add a little.
    assert size > 0
    assert abs(size / 1024 - int(rows["access_estsize"][0])) < 0.1 * size / 1024 + 64


def test_tap_schema_describes_obscore(tap: pyvo.dal.TAPService) -> None:
    rows = tap.run_sync(
        "SELECT column_name, utype, ucd, unit, datatype, xtype, std FROM TAP_SCHEMA.columns "
        "WHERE table_name = 'ivoa.obscore' ORDER BY column_index"
    ).to_table()
    got = {str(r["column_name"]): r for r in rows}
    # The 30 ObsCore columns in the standard's order, then the archive's own.
    assert list(got) == [*OBSCORE_COLUMNS, "isla_simulated"]
    assert got["isla_simulated"]["datatype"] == "short" and got["isla_simulated"]["std"] == 0
    for name, doc in OBSCORE_COLUMNS.items():
        assert got[name]["utype"] == doc.utype, name
        assert got[name]["ucd"] == doc.ucd, name
        assert (str(got[name]["unit"]) or None) == doc.unit, name
        assert got[name]["std"] == 1
    assert got["s_ra"]["ucd"] == "pos.eq.ra"
    assert got["access_estsize"]["unit"] == "kbyte"
    assert got["em_min"]["unit"] == "m"
    assert got["s_region"]["xtype"] == "adql:REGION"
    assert got["s_region"]["datatype"] == "char"
    assert not got["s_region"]["unit"]
    assert got["access_estsize"]["datatype"] == "long"
    assert got["calib_level"]["datatype"] == "int"
    tables = tap.run_sync(
        "SELECT table_type, utype FROM TAP_SCHEMA.tables WHERE table_name = 'ivoa.obscore'"
    ).to_table()
    assert tables["table_type"][0] == "view"
    assert tables["utype"][0] == "ivo://ivoa.net/std/ObsCore#table-1.1"


def test_capabilities_declare_obscore(archive: Archive) -> None:
    body = httpx.get(f"{archive.base_url}/tap/capabilities", timeout=30).text
    assert 'ivo-id="ivo://ivoa.net/std/ObsCore#core-1.1"' in body


def test_reader_role_can_read_obscore(archive: Archive) -> None:
    engine = create_engine(archive.database_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("SET LOCAL ROLE isla_reader"))
            assert conn.execute(text("SELECT count(*) FROM ivoa.obscore")).scalar_one() > 0
    finally:
        engine.dispose()


def test_every_product_is_in_obscore(tap: pyvo.dal.TAPService, archive: Archive) -> None:
    expected = archive.scalar(
        "SELECT count(*) FROM isla.products JOIN isla.product_kinds USING (kind)"
    )
    got = tap.run_sync(
        f"SELECT COUNT(*) AS n FROM ivoa.obscore WHERE obs_collection IN {PRODUCT_COLLECTIONS}"
    ).to_table()
    assert expected > 0
    assert int(got["n"][0]) == expected
    types = tap.run_sync(
        "SELECT DISTINCT dataproduct_type, calib_level, access_format FROM ivoa.obscore "
        f"WHERE obs_collection IN {PRODUCT_COLLECTIONS}"
    ).to_table()
    published = {
        (r.dataproduct_type, r.calib_level)
        for r in archive.rows("SELECT dataproduct_type, calib_level FROM isla.product_kinds")
    }
    got_types = {
        (str(t), int(c))
        for t, c in zip(types["dataproduct_type"], types["calib_level"], strict=True)
    }
    assert ("spectrum", 3) in got_types and got_types <= published
    assert {str(f) for f in types["access_format"]} == {DATALINK_FORMAT}


def test_a_kind_is_published_by_its_row_in_product_kinds(archive: Archive) -> None:
    """A new family of products needs one row in isla.product_kinds, not a new view."""
    engine = create_engine(archive.database_url)
    pid = "polarisation/ISGRI/mission/J053432.0+220052"
    try:
        with engine.connect() as conn:
            tx = conn.begin()
            conn.execute(
                text(
                    "INSERT INTO isla.products (product_id, kind, instrument, source_id, bucket, "
                    "object_key, file_name, size, sha256, content_type, meta) "
                    "SELECT :pid, 'polarisation', 'ISGRI', source_id, 'b', 'k', 'f', 1, "
                    "repeat('0', 64), 'application/fits', '{}' FROM isla.sources "
                    "WHERE name = 'Crab'"
                ),
                {"pid": pid},
            )
            did = f"ivo://{AUTHORITY}/isla?product/{pid}"
            query = text("SELECT dataproduct_type FROM ivoa.obscore WHERE obs_publisher_did = :d")
            assert conn.execute(query, {"d": did}).all() == []
            conn.execute(
                text(
                    "INSERT INTO isla.product_kinds VALUES "
                    "('polarisation', 'measurements', 4, 'phys.polarization', false, 'test')"
                )
            )
            assert conn.execute(query, {"d": did}).scalar_one() == "measurements"
            tx.rollback()
    finally:
        engine.dispose()


def test_a_spectrum_row_describes_the_product(tap: pyvo.dal.TAPService, archive: Archive) -> None:
    pid = "spectrum/ISGRI/0745_06340000001/J011705.1-732636"
    did = f"ivo://{AUTHORITY}/isla?product/{pid}"
    row = tap.run_sync(
        "SELECT dataproduct_type, obs_id, access_url, target_name, s_ra, s_dec, s_region, "
        f"t_min, t_max, em_min, em_max FROM ivoa.obscore WHERE obs_publisher_did = '{did}'"
    ).to_table()[0]
    assert row["dataproduct_type"] == "spectrum" and row["obs_id"] == "0745_06340000001"
    assert row["target_name"] == "SMC X-1"
    # 28-40 keV in metres, from the band of the product.
    assert row["em_min"] == pytest.approx(1.239841984e-9 / 40.0)
    assert row["em_max"] == pytest.approx(1.239841984e-9 / 28.0)
    assert 54700 < row["t_min"] < row["t_max"] < 54800  # revolution 745, late 2008
    links = httpx.get(str(row["access_url"]), timeout=30)
    assert links.status_code == 200 and did in links.text
    # The region is a circle around the source; the source lies inside it.
    inside = tap.run_sync(
        f"SELECT COUNT(*) AS n FROM ivoa.obscore WHERE obs_publisher_did = '{did}' AND "
        f"CONTAINS(POINT('ICRS', {row['s_ra']}, {row['s_dec']}), s_region) = 1"
    ).to_table()
    assert int(inside["n"][0]) == 1
    assert str(row["s_region"]).startswith("Polygon ICRS")


def test_product_ids_with_a_plus_survive_the_access_url(tap: pyvo.dal.TAPService) -> None:
    rows = tap.run_sync(
        "SELECT TOP 1 obs_publisher_did, access_url FROM ivoa.obscore "
        "WHERE obs_publisher_did LIKE '%+%'"
    ).to_table()
    assert len(rows) == 1, "the demo holds products of northern sources"
    links = httpx.get(str(rows["access_url"][0]), timeout=30)
    assert links.status_code == 200
    assert "NotFoundFault" not in links.text and str(rows["obs_publisher_did"][0]) in links.text


def test_obscore_tells_simulated_from_delivered(tap: pyvo.dal.TAPService, archive: Archive) -> None:
    """The demo's rows say they are simulated (collection and isla_simulated); the real ISLA
    files delivered through ingestion do not."""
    rows = tap.run_sync(
        "SELECT obs_collection, isla_simulated, COUNT(*) AS n FROM ivoa.obscore "
        "GROUP BY obs_collection, isla_simulated"
    ).to_table()
    got = {(str(r["obs_collection"]), int(r["isla_simulated"])): int(r["n"]) for r in rows}
    published = "isla.products JOIN isla.product_kinds USING (kind)"
    simulated = archive.scalar(f"SELECT count(*) FROM {published} WHERE simulated")
    delivered = archive.scalar(f"SELECT count(*) FROM {published} WHERE NOT simulated")
    assert simulated > 0 and delivered > 0
    assert got[(PRODUCT_COLLECTION + SIMULATED_SUFFIX, 1)] == simulated
    assert got[(PRODUCT_COLLECTION, 0)] == delivered
    assert got[(RAW_SIMULATED, 1)] > 0
    series = archive.rows("SELECT simulated, count(*) AS n FROM isla.timeseries_files GROUP BY 1")
    for row in series:
        suffix = SIMULATED_SUFFIX if row.simulated else ""
        assert got[(TIMESERIES_COLLECTION + suffix, int(row.simulated))] == row.n
    assert set(got) == {
        (PRODUCT_COLLECTION + SIMULATED_SUFFIX, 1),
        (PRODUCT_COLLECTION, 0),
        (RAW_SIMULATED, 1),
        *(
            (TIMESERIES_COLLECTION + (SIMULATED_SUFFIX if r.simulated else ""), int(r.simulated))
            for r in series
        ),
    }
    real = tap.run_sync(
        "SELECT obs_collection, isla_simulated FROM ivoa.obscore WHERE obs_publisher_did = "
        f"'ivo://{AUTHORITY}/isla?product/spectrum/ISGRI/0745_06340000001/J011705.1-732636'"
    ).to_table()
    assert str(real["obs_collection"][0]) == PRODUCT_COLLECTION
    assert int(real["isla_simulated"][0]) == 0


def test_tap_publishes_the_simulated_flags(tap: pyvo.dal.TAPService) -> None:
    """Products, raw files and time-series files carry ``simulated`` in TAP."""
    rows = tap.run_sync(
        "SELECT table_name, datatype FROM TAP_SCHEMA.columns WHERE column_name = 'simulated'"
    ).to_table()
    published = {str(r["table_name"]): str(r["datatype"]) for r in rows}
    for table in (
        "isla.products",
        "isla.scw_files",
        "isla.aux_files",
        "isla.lightcurve_points",
        "isla.omc_points",
        "isla.timeseries_files",
        "isla.timeseries_segments",
    ):
        assert published.get(table) == "boolean", table
    flags = tap.run_sync("SELECT simulated FROM isla.products", maxrec=100_000).to_table()
    # The demo's products and the real ISLA ones.
    assert {bool(v) for v in flags["simulated"]} == {True, False}
