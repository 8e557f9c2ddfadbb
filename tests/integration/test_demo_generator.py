"""The demo archive generator against a real Postgres + pgSphere and a real SeaweedFS.

Needs the ``stack`` fixture (provided by the suite's conftest): an object with
``database_url`` (a migrated, empty archive database) and ``storage_settings`` (the S3 store).
The generator runs once per module at demo scale; the tests then inspect what it wrote.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import time
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from astropy.io import fits
from sqlalchemy import Engine, create_engine, make_url, text

from deploy.demo import load_demo
from shared import simulation
from shared.db.migrate import upgrade
from shared.demo import (
    FIXED_CONTENT,
    ArchiveNotEmpty,
    GenerationReport,
    bright_sources,
    generate,
    normalise_alias,
)
from shared.demo.fitsfiles import ScwMeta, build_scw_file
from shared.demo.inputs import fetch_points, sources_with_points
from shared.demo.products import DEMO_TEAM, FIXED_EPOCHS, TIME_RESOLVED
from shared.integral.ids import ScwId
from shared.storage import ObjectStore

pytestmark = pytest.mark.integration

SEED = 20021017


def fresh_database(stack: Any, name: str) -> str:
    """URL of a new migrated database: the stack's ``new_database`` when it has one (so
    other tests keep the shared empty database), else the stack's own empty database."""
    maker = getattr(stack, "new_database", None)
    return str(maker(name)) if maker is not None else str(stack.database_url)


@pytest.fixture(scope="module")
def engine(stack: Any) -> Iterator[Engine]:
    """An engine on an empty, migrated archive database."""
    eng = create_engine(fresh_database(stack, "isla_demo_generator"))
    yield eng
    eng.dispose()


@pytest.fixture(scope="module")
def store(stack: Any) -> ObjectStore:
    """The stack's object store."""
    return ObjectStore.from_settings(stack.storage_settings)


@pytest.fixture(scope="module")
def report(engine: Engine, store: ObjectStore) -> GenerationReport:
    """Generate the demo archive once for the whole module."""
    began = time.monotonic()
    result = load_demo(engine, store, "demo", SEED)
    print(f"\n{result.summary()} (wall {time.monotonic() - began:.1f} s)")
    return result


def rows(engine: Engine, sql: str, **params: Any) -> list[dict[str, Any]]:
    """Query result as a list of dicts."""
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(text(sql), params).mappings()]


def scalar(engine: Engine, sql: str, **params: Any) -> Any:
    """First column of the first row."""
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


SCW_META_SQL = """
    SELECT s.*, o.target_name, o.pi_name
    FROM isla.science_windows s LEFT JOIN isla.observations o USING (obsid)
"""


def test_report_counts(report: GenerationReport, engine: Engine) -> None:
    """The report matches the database, and the demo scale has its intended size."""
    print(f"\ndemo scale: {report}")
    assert report.revolutions == scalar(engine, "SELECT count(*) FROM isla.revolutions")
    assert report.observations == scalar(engine, "SELECT count(*) FROM isla.observations")
    assert report.science_windows == scalar(engine, "SELECT count(*) FROM isla.science_windows")
    assert report.sources == scalar(engine, "SELECT count(*) FROM isla.sources")
    n_files = scalar(
        engine,
        "SELECT (SELECT count(*) FROM isla.scw_files) + (SELECT count(*) FROM isla.aux_files)",
    )
    assert report.files == n_files
    assert 60 <= report.revolutions <= 130
    assert 1200 <= report.science_windows <= 3000
    assert report.sources >= 1000 + len(bright_sources()) - 10
    assert report.files >= 4 * report.science_windows
    assert report.bytes > 0


def test_fixed_scw_with_swg_in_store(
    report: GenerationReport, engine: Engine, store: ObjectStore
) -> None:
    """ScW 008100430010 exists in revolution 81 and its swg.fits header names it."""
    (scw,) = rows(engine, SCW_META_SQL + " WHERE scw_id = :id", id=FIXED_CONTENT.scw)
    assert scw["revolution"] == 81
    assert scw["scw_type"] == "pointing"
    assert scw["fov_isgri"] is not None and scw["isgri_exposure"] > 0
    files = {
        f["name"]: f
        for f in rows(
            engine, "SELECT * FROM isla.scw_files WHERE scw_id = :id", id=FIXED_CONTENT.scw
        )
    }
    assert {"swg.fits", "isgri_events.fits.gz", "spi_oper.fits.gz", "omc_shots.fits.gz"} <= set(
        files
    )
    assert files["swg.fits"]["object_key"] == "scw/0081/008100430010.001/swg.fits"
    data = store.read_bytes(store.raw_bucket, files["swg.fits"]["object_key"])
    with fits.open(io.BytesIO(data)) as hdus:
        hdus.verify("exception")
        header = hdus[0].header
        assert header["SWID"] == FIXED_CONTENT.scw
        assert header["TELESCOP"] == "INTEGRAL"
        assert header["SW_TYPE"] == "POINTING"
        assert header["REVOL"] == 81
        assert header["OBS_ID"] == scw["obsid"]
        assert header["OBJECT"] == scw["target_name"]
        assert header["TIMESYS"] == "TT"
        assert header["MJDREF"] == 51544.0
        assert header["TSTART"] == scw["start_ijd"]
        assert header["RA_SCX"] == pytest.approx(scw["ra"])
        members = [name.strip() for name in hdus["GNRL-SCWG-GRP"].data["MEMBER_LOCATION"]]
    assert set(members) == set(files) - {"swg.fits"}


def test_instrument_files_are_valid_fits(
    report: GenerationReport, engine: Engine, store: ObjectStore
) -> None:
    """Every instrument file kind of the fixed ScW is a gzipped FITS file with event rows."""
    files = rows(
        engine,
        "SELECT name, object_key FROM isla.scw_files WHERE scw_id = :id AND name LIKE '%.gz'",
        id=FIXED_CONTENT.scw,
    )
    (scw,) = rows(
        engine, "SELECT * FROM isla.science_windows WHERE scw_id = :id", id=FIXED_CONTENT.scw
    )
    for f in files:
        raw = gzip.decompress(store.read_bytes(store.raw_bucket, f["object_key"]))
        with fits.open(io.BytesIO(raw)) as hdus:
            hdus.verify("exception")
            events = hdus[1]
            assert events.header["CREATOR"] == simulation.PIPELINE
            assert events.header["SWID"] == FIXED_CONTENT.scw
            assert events.header["INSTRUME"]
            assert len(events.data) >= 16
            times = events.data["TIME"]
            assert scw["start_ijd"] <= times.min() <= times.max() <= scw["end_ijd"]


def test_fixed_observations(report: GenerationReport, engine: Engine) -> None:
    """Observation 06340000001 (SMC X-1, rev 745) and 88601650001 (Crab, rev 727) exist."""
    (smc,) = rows(
        engine, "SELECT * FROM isla.observations WHERE obsid = :o", o=FIXED_CONTENT.smc_x1_obsid
    )
    assert smc["target_name"] == "SMC X-1"
    assert smc["rev_start"] == 745 and smc["proposal_id"] == "0634000"
    (crab,) = rows(
        engine, "SELECT * FROM isla.observations WHERE obsid = :o", o=FIXED_CONTENT.crab_obsid
    )
    assert crab["target_name"] == "Crab" and crab["rev_start"] == 727
    for obsid, rev in ((smc["obsid"], 745), (crab["obsid"], 727)):
        revs = rows(
            engine,
            "SELECT DISTINCT revolution FROM isla.science_windows WHERE obsid = :o",
            o=obsid,
        )
        assert [r["revolution"] for r in revs] == [rev]
        n_pointings = scalar(
            engine,
            "SELECT count(*) FROM isla.science_windows WHERE obsid = :o AND scw_type = 'pointing'",
            o=obsid,
        )
        assert n_pointings >= 1


def test_crab_source_and_aliases(report: GenerationReport, engine: Engine) -> None:
    """The Crab is J053432.0+220052 and is found by its aliases; every bright source by name."""
    (crab,) = rows(
        engine, "SELECT * FROM isla.sources WHERE source_id = :s", s=FIXED_CONTENT.crab_source_id
    )
    assert crab["name"] == "Crab"
    assert crab["det_isgri"] and crab["det_jemx"] and crab["det_spi"]
    for alias in ("Crab", "crab nebula", "4U 0531+21", "PSR B0531+21", "J053432.0+220052"):
        found = rows(
            engine,
            "SELECT DISTINCT source_id FROM isla.source_aliases WHERE alias_norm = :n",
            n=normalise_alias(alias),
        )
        assert [f["source_id"] for f in found] == [FIXED_CONTENT.crab_source_id], alias
    for source in bright_sources():
        found = scalar(
            engine,
            "SELECT count(DISTINCT source_id) FROM isla.source_aliases WHERE alias_norm = :n",
            n=normalise_alias(source.name),
        )
        assert found == 1, source.name
    fluxes = rows(
        engine,
        "SELECT b.instrument, b.name, f.flux FROM isla.source_fluxes f "
        "JOIN isla.energy_bands b USING (band_id) WHERE f.source_id = :s",
        s=FIXED_CONTENT.crab_source_id,
    )
    assert {(f["instrument"], f["name"]) for f in fluxes} >= {("ISGRI", "28_40"), ("JEM-X", "3_10")}
    # The source catalogue; the demo's GRB catalogues are the others.
    (catalogue,) = rows(engine, "SELECT * FROM isla.catalogues WHERE kind = 'reference'")
    assert catalogue["is_current"]
    assert catalogue["n_rows"] == report.sources
    faint = scalar(engine, "SELECT count(*) FROM isla.sources WHERE name LIKE 'IGR J%'")
    assert faint >= 990


def test_revolutions_every_year(report: GenerationReport, engine: Engine) -> None:
    """Every year of the mission has revolutions and a Crab observation."""
    years = {
        int(r["y"])
        for r in rows(
            engine, "SELECT DISTINCT extract(year FROM start_time) AS y FROM isla.revolutions"
        )
    }
    assert set(range(2003, 2025)) <= years
    crab_years = {
        int(r["y"])
        for r in rows(
            engine,
            "SELECT DISTINCT extract(year FROM start_time) AS y FROM isla.observations "
            "WHERE target_name = 'Crab'",
        )
    }
    assert set(range(2003, 2025)) <= crab_years
    assert {81, 727, 745} <= {
        r["revolution"] for r in rows(engine, "SELECT revolution FROM isla.revolutions")
    }


def test_science_windows_are_consistent(report: GenerationReport, engine: Engine) -> None:
    """Pointings carry footprints that contain their axis; slews have none; ids match types."""
    bad_ids = scalar(
        engine,
        "SELECT count(*) FROM isla.science_windows WHERE "
        "(scw_type = 'pointing') <> (substr(scw_id, 12, 1) = '0')",
    )
    assert bad_ids == 0
    outside = scalar(
        engine,
        "SELECT count(*) FROM isla.science_windows WHERE scw_type = 'pointing' AND NOT "
        "(fov_isgri @> pos AND fov_jemx @> pos AND fov_spi @> pos)",
    )
    assert outside == 0
    slews_with_fov = scalar(
        engine,
        "SELECT count(*) FROM isla.science_windows WHERE scw_type = 'slew' AND "
        "(fov_isgri IS NOT NULL OR isgri_exposure IS NOT NULL)",
    )
    assert slews_with_fov == 0
    # A 29 x 29 deg square covers about 0.25 sr; a much different area means a broken polygon.
    low, high = rows(
        engine,
        "SELECT min(area(fov_isgri)) AS low, max(area(fov_isgri)) AS high "
        "FROM isla.science_windows WHERE scw_type = 'pointing'",
    )[0].values()
    assert 0.2 < low <= high < 0.3
    unordered = scalar(
        engine,
        "SELECT count(*) FROM isla.science_windows WHERE NOT (start_ijd < end_ijd) "
        "OR isgri_exposure > isgri_good_time OR isgri_good_time > (end_ijd - start_ijd) * 86400",
    )
    assert unordered == 0


def test_cone_search_finds_crab_scws(report: GenerationReport, engine: Engine) -> None:
    """pgSphere queries around the Crab find its science windows, rev 727 included."""
    in_fov = rows(
        engine,
        "SELECT scw_id, revolution FROM isla.science_windows "
        "WHERE fov_isgri @> spoint(radians(83.6331), radians(22.0145))",
    )
    assert 727 in {r["revolution"] for r in in_fov}
    near = rows(
        engine,
        "SELECT scw_id, obsid FROM isla.science_windows WHERE scw_type = 'pointing' AND "
        "pos <-> spoint '(83.6331d, 22.0145d)' < radians(5.0)",
    )
    assert FIXED_CONTENT.crab_obsid in {r["obsid"] for r in near}
    assert {r["scw_id"] for r in near} <= {r["scw_id"] for r in in_fov}


def test_files_match_store(report: GenerationReport, engine: Engine, store: ObjectStore) -> None:
    """Recorded sizes and checksums are those of the stored objects."""
    counts = scalar(
        engine,
        "SELECT count(*) FROM isla.science_windows s LEFT JOIN ("
        "  SELECT scw_id, version, count(*) AS n, sum(size) AS bytes FROM isla.scw_files"
        "  GROUP BY scw_id, version) f USING (scw_id, version) "
        "WHERE s.raw_files <> coalesce(f.n, 0) OR s.raw_size <> coalesce(f.bytes, 0)",
    )
    assert counts == 0
    sample = rows(
        engine,
        "SELECT object_key, size, sha256 FROM isla.scw_files "
        "WHERE scw_id = :id OR hashtext(object_key) % 97 = 0",
        id=FIXED_CONTENT.scw,
    )
    sample += rows(engine, "SELECT object_key, size, sha256 FROM isla.aux_files LIMIT 10")
    assert len(sample) > 20
    for f in sample:
        stat = store.stat(store.raw_bucket, f["object_key"])
        assert (stat.size, stat.sha256) == (f["size"], f["sha256"]), f["object_key"]
    for f in sample[:10]:
        data = store.read_bytes(store.raw_bucket, f["object_key"])
        assert hashlib.sha256(data).hexdigest() == f["sha256"]
    aux = rows(engine, "SELECT * FROM isla.aux_files WHERE revolution = 81 ORDER BY name")
    assert [a["object_key"] for a in aux] == [
        "aux/adp/0081.001/attitude_historic.fits",
        "aux/adp/0081.001/orbit_historic.fits",
    ]


def test_files_rebuild_identically(report: GenerationReport, engine: Engine) -> None:
    """Any raw file can be rebuilt byte for byte from its database row and the seed."""
    metas = rows(
        engine,
        SCW_META_SQL + " WHERE s.scw_id = :id OR hashtext(s.scw_id) % 50 = 0",
        id=FIXED_CONTENT.scw,
    )
    assert len(metas) > 10
    checked = 0
    for row in metas:
        meta = ScwMeta.from_row(row)
        files = rows(
            engine,
            "SELECT name, sha256 FROM isla.scw_files WHERE scw_id = :id",
            id=row["scw_id"],
        )
        for f in files:
            data = build_scw_file(meta, f["name"], SEED)
            assert hashlib.sha256(data).hexdigest() == f["sha256"], (row["scw_id"], f["name"])
            checked += 1
    assert checked > 40


def test_same_seed_same_archive(report: GenerationReport, engine: Engine, stack: Any) -> None:
    """A second run with the same seed into another database yields the same rows."""
    created: str | None = None
    if getattr(stack, "new_database", None) is not None:
        other_url = fresh_database(stack, "isla_demo_generator_again")
    else:
        url = make_url(stack.database_url)
        created = f"{url.database}_again_{uuid.uuid4().hex[:6]}"
        with create_engine(
            url.set(database="postgres"), isolation_level="AUTOCOMMIT"
        ).connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{created}"'))
        other_url = url.set(database=created).render_as_string(hide_password=False)
        upgrade(other_url)
    other = create_engine(other_url)
    try:
        again = generate(other, None, "demo", SEED)
        assert (again.revolutions, again.observations, again.science_windows, again.sources) == (
            report.revolutions,
            report.observations,
            report.science_windows,
            report.sources,
        )
        columns = "scw_id, version, revolution, obsid, scw_type, start_time, end_time, " + (
            "start_ijd, end_ijd, ra, dec, posangle, fov_isgri::text, isgri_exposure, "
            "jemx2_exposure, omc_good_time"
        )
        query = f"SELECT {columns} FROM isla.science_windows ORDER BY scw_id"
        assert rows(other, query) == rows(engine, query)
        for query in (
            "SELECT * FROM isla.observations ORDER BY obsid",
            "SELECT source_id, name, ra, dec, source_class, det_jemx FROM isla.sources "
            "ORDER BY source_id",
            "SELECT source_id, alias FROM isla.source_aliases ORDER BY source_id, alias",
        ):
            assert rows(other, query) == rows(engine, query)
        assert scalar(other, "SELECT count(*) FROM isla.scw_files") == 0
    finally:
        other.dispose()
        if created is not None:
            url = make_url(stack.database_url)
            admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{created}" WITH (FORCE)'))
            admin.dispose()


def test_fits_builder_is_deterministic() -> None:
    """The builder gives identical bytes for identical input (no clock, gzip mtime 0)."""
    from datetime import datetime

    meta = ScwMeta(
        scw=ScwId.make(1234, 5, 1),
        obsid="12345670001",
        start_utc=datetime(2014, 1, 2, 3, 4, 5, 678000),
        end_utc=datetime(2014, 1, 2, 3, 49, 5),
        start_ijd=5115.128,
        end_ijd=5115.159,
        ra=359.9,
        dec=-89.5,
        posangle=271.0,
        target="Test 'quoted' target",
        pi_name=None,
    )
    for name in ("swg.fits", "isgri_events.fits.gz", "omc_shots.fits.gz"):
        first = build_scw_file(meta, name, 7)
        assert first == build_scw_file(meta, name, 7)
        assert first != build_scw_file(meta, name, 8) or name == "swg.fits"
    with fits.open(io.BytesIO(build_scw_file(meta, "swg.fits", 7))) as hdus:
        hdus.verify("exception")
        assert hdus[0].header["OBJECT"] == "Test 'quoted' target"
    with pytest.raises(KeyError):
        build_scw_file(meta, "no_such_file.fits", 7)


def test_second_run_is_refused(
    report: GenerationReport, engine: Engine, store: ObjectStore
) -> None:
    """Generating into a database that already holds an archive raises and changes nothing."""
    catalogues = scalar(engine, "SELECT count(*) FROM isla.catalogues")
    products = scalar(engine, "SELECT count(*) FROM isla.products")
    with pytest.raises(ArchiveNotEmpty, match="already holds"):
        generate(engine, store, "demo", SEED)
    assert scalar(engine, "SELECT count(*) FROM isla.revolutions") == report.revolutions
    assert scalar(engine, "SELECT count(*) FROM isla.catalogues") == catalogues
    assert scalar(engine, "SELECT count(*) FROM isla.products") == products


def _hdus(data: bytes) -> fits.HDUList:
    return fits.open(io.BytesIO(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data))


def test_raw_files_are_labelled_simulated(
    report: GenerationReport, engine: Engine, store: ObjectStore
) -> None:
    """Every raw file is flagged simulated, and says so in every HDU of its headers."""
    assert scalar(engine, "SELECT count(*) FROM isla.scw_files WHERE NOT simulated") == 0
    assert scalar(engine, "SELECT count(*) FROM isla.aux_files WHERE NOT simulated") == 0
    files = rows(
        engine, "SELECT object_key FROM isla.scw_files WHERE scw_id = :id", id=FIXED_CONTENT.scw
    )
    files += rows(engine, "SELECT object_key FROM isla.aux_files WHERE revolution = 81")
    assert len(files) >= 5
    for f in files:
        with _hdus(store.read_bytes(store.raw_bucket, f["object_key"])) as hdus:
            assert all(hdu.header["SIMDATA"] is True for hdu in hdus), f["object_key"]
            assert hdus[0].header["CREATOR"] == simulation.PIPELINE
            assert "SIMULATED DATA" in str(hdus[0].header["COMMENT"])


def test_every_product_is_simulated_and_delivered_through_ingestion(
    report: GenerationReport, engine: Engine, store: ObjectStore
) -> None:
    """Each product row came from an ingestion of the demo team, is flagged simulated, and
    its file says SIMDATA = T in every HDU; nothing is left in the delivery journal."""
    products = rows(engine, "SELECT * FROM isla.products ORDER BY product_id")
    per_source = {
        "spectrum",
        "arf",
        "rmf",
        "long_timeseries",
        "short_timeseries",
        "mosaic",
        "omc_image",
        "omc_lightcurve",
    }
    # The per-source products, then what later stages of the demo deliver: all-sky maps and
    # the sensitivity tables of the upper limits, gamma-ray bursts, contributed collections.
    burst_kinds = {"grb_lightcurve", "grb_spectrum"}
    later = {"allsky_map", "sensitivity", "contributed_table", "contributed_map"} | burst_kinds
    # A burst's SPI spectrum brings its own responses (scope ``grb``).
    sourced = [p for p in products if p["kind"] in per_source and "/grb/" not in p["product_id"]]
    assert len(sourced) == report.products > 300
    maps = [
        p for p in products if p["kind"] == "allsky_map" and "upper_limit" not in p["product_id"]
    ]
    assert len(maps) == report.maps > 0
    kinds = {p["kind"] for p in products}
    assert per_source | {"lc_results", "allsky_map", "sensitivity"} <= kinds
    assert kinds <= per_source | later | {"lc_results"}
    for p in products:
        assert p["simulated"] is True, p["product_id"]
        assert p["meta"]["team"] == DEMO_TEAM and p["meta"]["ingestion"], p["product_id"]
        if not p["file_name"].endswith((".fits", ".fits.gz")):
            continue  # a contributed table (ECSV), labelled in its own text
        with _hdus(store.read_bytes(p["bucket"], p["object_key"])) as hdus:
            assert all(hdu.header.get("SIMDATA") is True for hdu in hdus), p["product_id"]
            if not p["kind"].startswith("contributed_"):
                assert hdus[0].header["CREATOR"] == simulation.PIPELINE
    assert scalar(engine, "SELECT count(*) FROM isla_ops.product_staging") == 0


def test_points_are_simulated_and_delivered_as_results_tables(
    report: GenerationReport, engine: Engine, store: ObjectStore
) -> None:
    """Every light-curve and OMC point came in through a delivery of the demo team: a
    per-ScW source-results table per instrument and batch of revolutions, stored as a
    product; the points are flagged simulated, and a table's rows are its points."""
    tables = rows(engine, "SELECT * FROM isla.products WHERE kind = 'lc_results'")
    assert {t["instrument"] for t in tables} == {"ISGRI", "JEM-X", "OMC"}
    for t in tables:
        assert t["simulated"] is True and t["meta"]["team"] == DEMO_TEAM, t["product_id"]
    rates = sum(t["meta"]["n_points"] for t in tables if t["instrument"] != "OMC")
    omc = sum(t["meta"]["n_points"] for t in tables if t["instrument"] == "OMC")
    assert (
        rates
        == report.lightcurve_points
        == scalar(engine, "SELECT count(*) FROM isla.lightcurve_points")
    )
    assert omc == report.omc_points == scalar(engine, "SELECT count(*) FROM isla.omc_points")
    for table in ("lightcurve_points", "omc_points"):
        assert scalar(engine, f"SELECT count(*) FROM isla.{table} WHERE NOT simulated") == 0
    # Each point lies in the revolutions of a results table of its instrument.
    covered = (
        "SELECT count(*) FROM isla.{table} p WHERE NOT EXISTS (SELECT 1 FROM isla.products r "
        "WHERE r.kind = 'lc_results' AND r.instrument = {instrument} "
        "AND p.revolution BETWEEN (r.meta->>'revfirst')::int AND (r.meta->>'revlast')::int)"
    )
    assert scalar(engine, covered.format(table="lightcurve_points", instrument="p.instrument")) == 0
    assert scalar(engine, covered.format(table="omc_points", instrument="'OMC'")) == 0
    # A stored table's rows, number for number, are the points loaded from it.
    isgri = min((t for t in tables if t["instrument"] == "ISGRI"), key=lambda t: t["product_id"])
    with _hdus(store.read_bytes(isgri["bucket"], isgri["object_key"])) as hdus:
        assert all(hdu.header["SIMDATA"] is True for hdu in hdus)
        data = hdus["SRC-RESULTS"].data
        delivered = sorted(
            (str(s), str(w), float(e), float(r))
            for s, w, e, r in zip(
                data["SOURCE_ID"], data["SCW_ID"], data["E_MIN"], data["RATE"], strict=True
            )
        )
    loaded = rows(
        engine,
        "SELECT p.source_id, p.scw_id, e.e_min, p.rate FROM isla.lightcurve_points p "
        "JOIN isla.energy_bands e USING (band_id) WHERE p.instrument = 'ISGRI' "
        "AND p.revolution BETWEEN :a AND :b",
        a=isgri["meta"]["revfirst"],
        b=isgri["meta"]["revlast"],
    )
    assert delivered == sorted(
        (r["source_id"], r["scw_id"], float(np.float32(r["e_min"])), r["rate"]) for r in loaded
    )
    assert len(delivered) == isgri["meta"]["n_points"]


def test_product_set_follows_the_contract(report: GenerationReport, engine: Engine) -> None:
    """Spectra with responses at every scope, every interval of the time-resolved sources,
    time series in every band, several epochs per bright source, mosaics of every epoch."""
    spectra = rows(engine, "SELECT * FROM isla.products WHERE kind = 'spectrum'")
    ids = {r["product_id"] for r in rows(engine, "SELECT product_id FROM isla.products")}
    for s in spectra:
        assert {s["meta"]["arf"], s["meta"]["rmf"]} <= ids, s["product_id"]
        assert s["meta"]["scope"] in ("mission", "epoch", "time_resolved")
        assert (s["epoch"] is not None) == (s["meta"]["scope"] == "epoch")
    names = {r["name"]: r["source_id"] for r in rows(engine, "SELECT * FROM isla.sources")}
    for name in TIME_RESOLVED:
        series = sorted(
            (s for s in spectra if s["source_id"] == names[name]),
            key=lambda s: s["meta"].get("interval", 0),
        )
        intervals = [s for s in series if s["meta"]["scope"] == "time_resolved"]
        # Every interval is stored; how many there are follows the source's S/N in the demo.
        assert len(intervals) >= (5 if name == "Crab" else 1), name
        assert [s["meta"]["interval"] for s in intervals] == list(range(1, len(intervals) + 1))
        for s in intervals:
            assert s["meta"]["nscw"] >= 1 and s["meta"]["exposure"] > 0
            assert s["meta"]["snr"] > 0 and s["t_min"] < s["t_max"]
    crab = names["Crab"]
    bands = rows(
        engine,
        "SELECT DISTINCT b.instrument, b.name FROM isla.products p "
        "JOIN isla.energy_bands b USING (band_id) "
        "WHERE p.kind = 'long_timeseries' AND p.source_id = :s",
        s=crab,
    )
    assert {(b["instrument"], b["name"]) for b in bands} >= {
        ("ISGRI", "28_40"),
        ("ISGRI", "20_35"),
        ("ISGRI", "35_60"),
        ("ISGRI", "60_200"),
        ("JEM-X", "3_20"),
        ("JEM-X", "3_10"),
        ("JEM-X", "10_20"),
    }
    epochs = {s["epoch"] for s in spectra if s["source_id"] == crab and s["epoch"]}
    assert FIXED_EPOCHS[0] in epochs
    per_source: dict[str, set[str]] = {}
    for s in spectra:
        if s["epoch"]:
            per_source.setdefault(s["source_id"], set()).add(s["epoch"])
    # Source pages of many bright sources list several epochs.
    assert sum(1 for e in per_source.values() if len(e) >= 2) >= 5
    with_products = {
        r["epoch"]
        for r in rows(
            engine,
            "SELECT DISTINCT epoch FROM isla.products "
            "WHERE kind = 'spectrum' AND epoch IS NOT NULL",
        )
    }
    mosaics = rows(
        engine, "SELECT epoch, instrument, band_id FROM isla.products WHERE kind = 'mosaic'"
    )
    assert {m["epoch"] for m in mosaics} == with_products
    per_epoch = {e: sum(1 for m in mosaics if m["epoch"] == e) for e in with_products}
    assert min(per_epoch.values()) >= 4  # every ISGRI band at least
    short = rows(engine, "SELECT * FROM isla.products WHERE kind = 'short_timeseries'")
    assert short and all(60 <= s["meta"]["bin_s"] <= 1000 for s in short)


def _index_names(engine: Engine) -> set[tuple[str, str]]:
    return {
        (r["tablename"], r["indexname"])
        for r in rows(
            engine, "SELECT tablename, indexname FROM pg_indexes WHERE schemaname = 'isla'"
        )
    } | {
        (str(r["tbl"]), r["conname"])
        for r in rows(
            engine,
            "SELECT conrelid::regclass::text AS tbl, conname FROM pg_constraint "
            "WHERE connamespace = 'isla'::regnamespace AND contype = 'f'",
        )
    }


def test_without_raw_bytes_the_files_are_registered_missing(
    report: GenerationReport, engine: Engine, store: ObjectStore, stack: Any
) -> None:
    """The bench and full scales' path: no raw file is built or uploaded; each is registered
    in the raw index by name as missing (no size, no checksum), the same files the bytes run
    has. The bulk load leaves every index and foreign key in place, and the faint sources
    written column by column agree with the row-by-row rules (ids from positions, the
    provenance values equal to the fluxes)."""
    created: str | None = None
    if getattr(stack, "new_database", None) is not None:
        other_url = fresh_database(stack, "isla_demo_generator_no_bytes")
    else:
        url = make_url(stack.database_url)
        created = f"{url.database}_nobytes_{uuid.uuid4().hex[:6]}"
        with create_engine(
            url.set(database="postgres"), isolation_level="AUTOCOMMIT"
        ).connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{created}"'))
        other_url = url.set(database=created).render_as_string(hide_password=False)
        upgrade(other_url)
    other = create_engine(other_url)
    try:
        again = generate(other, store, "demo", SEED, raw_bytes=False)
        assert again.bytes == 0
        query = "SELECT scw_id, version, name, object_key FROM isla.scw_files ORDER BY 1, 2, 3"
        assert rows(other, query) == rows(engine, query)
        states = rows(
            other,
            "SELECT state, count(*) AS n, max(size) AS size, count(sha256) AS sums "
            "FROM isla.scw_files GROUP BY state",
        )
        assert states == [
            {"state": "missing", "n": again.files - 2 * again.revolutions, "size": 0, "sums": 0}
        ]
        assert scalar(other, "SELECT count(*) FROM isla.aux_files WHERE state = 'missing'") == (
            2 * again.revolutions
        )
        # The raw manifest serves only verified and unverified files: none here.
        assert (
            scalar(
                other,
                "SELECT count(*) FROM isla.scw_files WHERE state IN ('verified', 'unverified')",
            )
            == 0
        )
        assert _index_names(other) == _index_names(engine)

        from shared.integral.ids import source_id_from_position

        faint = rows(
            other,
            "SELECT s.source_id, s.ra, s.dec, e.values FROM isla.sources s "
            "JOIN isla.catalogue_entries e USING (source_id) WHERE s.name LIKE 'IGR %'",
        )
        assert len(faint) >= 990
        for row in faint:
            assert row["source_id"] == source_id_from_position(row["ra"], row["dec"])
        fluxes = rows(
            other,
            "SELECT f.source_id, e.instrument, e.name, f.flux FROM isla.source_fluxes f "
            "JOIN isla.energy_bands e USING (band_id) JOIN isla.sources s USING (source_id) "
            "WHERE s.name LIKE 'IGR %'",
        )
        by_source: dict[str, dict[str, float]] = {}
        for f in fluxes:
            prefix = "isgri" if f["instrument"] == "ISGRI" else "jemx"
            by_source.setdefault(f["source_id"], {})[f"flux_{prefix}:{f['name']}"] = f["flux"]
        for row in faint:
            values = row["values"]
            published = {k: v for k, v in values.items() if k.startswith("flux_")}
            assert published == pytest.approx(by_source[row["source_id"]])
            assert values["det_jemx"] == ("flux_jemx:3_10" in published)
    finally:
        other.dispose()
        if created is not None:
            url = make_url(stack.database_url)
            admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{created}" WITH (FORCE)'))
            admin.dispose()


def test_points_read_by_binary_copy_are_the_stored_ones(
    report: GenerationReport, engine: Engine
) -> None:
    """A source's points as the product maker reads them (one binary COPY into numpy) are
    the stored rows, band by band in ScW order, NULL upper limits as NaN; the sources with
    points are found by a loose index scan."""
    crab = FIXED_CONTENT.crab_source_id
    with engine.connect() as conn:
        points = fetch_points(conn, crab)
        with_points = sources_with_points(conn)
    stored = rows(
        engine,
        "SELECT band_id, scw_id, time_ijd, exposure, rate, rate_err, significance, rate_ul, "
        "upper_limit FROM isla.lightcurve_points WHERE source_id = :s ORDER BY band_id, scw_id",
        s=crab,
    )
    assert sorted(points) == sorted({r["band_id"] for r in stored})
    assert sum(len(p) for p in points.values()) == len(stored)
    for band_id, got in points.items():
        mine = [r for r in stored if r["band_id"] == band_id]
        assert got.scws.tolist() == [r["scw_id"] for r in mine]
        assert np.array_equal(got.time, [r["time_ijd"] for r in mine])
        assert np.array_equal(got.rate, [r["rate"] for r in mine])
        assert np.array_equal(got.upper_limit, [r["upper_limit"] for r in mine])
        ul = [np.nan if r["rate_ul"] is None else r["rate_ul"] for r in mine]
        assert np.array_equal(got.rate_ul, ul, equal_nan=True)
    expected = rows(
        engine,
        "SELECT source_id FROM isla.lightcurve_points UNION SELECT source_id "
        "FROM isla.omc_points ORDER BY 1",
    )
    assert with_points == [r["source_id"] for r in expected]
