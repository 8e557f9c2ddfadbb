"""Catalogue ingestion end to end: formats, validation, versions, merging, a killed worker."""

from __future__ import annotations

import io
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import psycopg
import pytest
from astropy.table import Table

from services.ingest.merge import sql_normalised
from shared.integral import normalise_source_name
from tests.conftest import StackInfo
from tests.integration.ingest_support import IngestServer, serve_ingest

pytestmark = pytest.mark.integration

MAX_BYTES = 300_000

ISGRI_ROWS: list[dict[str, Any]] = [
    {"name": "Src One", "ra": 10.0, "dec": 20.0, "pos_err": 1.0, "class": "LMXB"},
    {"name": "Src Two", "ra": 30.0, "dec": -10.0, "pos_err": 0.5, "class": "AGN"},
    {"name": "Src Three", "ra": 50.0, "dec": 45.0, "pos_err": 1.0, "class": ""},
    {"name": "Src Four", "ra": 100.0, "dec": 0.0, "pos_err": 1.0, "class": "HMXB"},
    {"name": "Src Five", "ra": 200.0, "dec": -60.0, "pos_err": 2.0, "class": "CV"},
    {"name": "Crab", "ra": 83.6335, "dec": 22.0146, "pos_err": 0.3, "class": "PWN"},
]


def isgri_table(rows: list[dict[str, Any]] = ISGRI_ROWS) -> Table:
    table = Table(
        rows=[[r[k] for k in ("name", "ra", "dec", "pos_err", "class")] for r in rows],
        names=("name", "ra", "dec", "pos_err", "class"),
    )
    table["flux_20_35"] = np.arange(len(rows), dtype=float) + 10.0
    table["flux_20_35_err"] = 0.5
    table["flux_35_60"] = np.arange(len(rows), dtype=float) + 5.0
    table["flux_35_60_err"] = 0.7
    table["ra"].unit = "deg"
    table["dec"].unit = "deg"
    table["pos_err"].unit = "arcmin"
    return table


def to_csv(table: Table) -> bytes:
    out = io.StringIO()
    table.write(out, format="ascii.csv")
    return out.getvalue().encode()


def to_fits(table: Table) -> bytes:
    out = io.BytesIO()
    table.write(out, format="fits")
    return out.getvalue()


def to_votable(table: Table) -> bytes:
    out = io.BytesIO()
    table.write(out, format="votable")
    return out.getvalue()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def server(stack: StackInfo) -> Iterator[IngestServer]:
    with serve_ingest(stack, "isla_ingest_cat", ISLA_INGEST_MAX_BYTES=str(MAX_BYTES)) as srv:
        yield srv


@pytest.fixture(scope="module")
def http(server: IngestServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=120) as client:
        yield client


@pytest.fixture(scope="module")
def ibis(server: IngestServer) -> str:
    return server.token("ibis-team", "ibis")


def upload(
    http: httpx.Client,
    token: str,
    content: bytes,
    *,
    name: str,
    version: str = "1",
    kind: str = "isgri_results/1",
    filename: str = "catalogue",
    **extra: str,
) -> httpx.Response:
    return http.post(
        "/ingest/catalogues",
        headers=bearer(token),
        data={"kind": kind, "name": name, "version": version, **extra},
        files={"file": (filename, content)},
    )


# --- Formats ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "fits", "votable"])
def test_each_format_loads_with_values_and_provenance(
    server: IngestServer, http: httpx.Client, ibis: str, fmt: str
) -> None:
    table = isgri_table()
    if fmt == "fits":
        # Position errors in arcsec: declared convertible, so converted to arcmin on load.
        table["pos_err"] = table["pos_err"] * 60.0
        table["pos_err"].unit = "arcsec"
    content = {"csv": to_csv, "fits": to_fits, "votable": to_votable}[fmt](table)
    response = upload(http, ibis, content, name=f"ISGRI {fmt}", filename=f"cat.{fmt}")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "done"
    report = body["report"]
    assert report["rows"] == len(ISGRI_ROWS) and report["format"] == fmt
    if fmt == "fits":
        assert report["converted_units"] == {"pos_err": pytest.approx(1 / 60)}
    rows = server.query(
        "SELECT e.entry_name, e.ra, e.dec, e.pos_err, e.source_class, e.values, e.version, "
        "degrees(long(e.pos)), degrees(lat(e.pos)) FROM isla.catalogue_entries e "
        "JOIN isla.catalogues c USING (catalogue_id) WHERE c.name = %s ORDER BY e.entry_id",
        f"ISGRI {fmt}",
    )
    assert [r[0] for r in rows] == [r["name"] for r in ISGRI_ROWS]
    first = rows[0]
    assert first[1:5] == (10.0, 20.0, pytest.approx(1.0), "LMXB")
    assert first[5] == {
        "flux_20_35": 10.0,
        "flux_20_35_err": 0.5,
        "flux_35_60": 5.0,
        "flux_35_60_err": 0.7,
    }
    assert first[6] == "1"
    assert first[7] == pytest.approx(10.0) and first[8] == pytest.approx(20.0)
    assert rows[2][4] is None  # empty class stays unknown
    catalogue = server.query(
        "SELECT team, kind, n_rows, is_current, sha256 FROM isla.catalogues WHERE name = %s",
        f"ISGRI {fmt}",
    )
    assert catalogue[0][:4] == ("ibis-team", "isgri_results/1", len(ISGRI_ROWS), True)
    assert len(str(catalogue[0][4])) == 64


def test_csv_header_units_and_aliases_are_understood(
    server: IngestServer, http: httpx.Client, ibis: str
) -> None:
    content = (
        b"# a comment line\n"
        b"SOURCE_NAME,RAJ2000 [deg],DEJ2000 [deg],ERR_RAD [arcsec],F20_35 [Crab],"
        b"F35_60 [mCrab],extra\n"
        b"Alias Src,1.5,-2.5,30,0.01,4,ignored\n"
    )
    response = upload(http, ibis, content, name="Aliased")
    assert response.status_code == 201, response.text
    report = response.json()["report"]
    assert report["columns"]["ra"] == "RAJ2000" and report["ignored_columns"] == ["extra"]
    row = server.query(
        "SELECT ra, dec, pos_err, values FROM isla.catalogue_entries e "
        "JOIN isla.catalogues c USING (catalogue_id) WHERE c.name = 'Aliased'"
    )[0]
    assert row[:3] == (1.5, -2.5, pytest.approx(0.5))
    assert row[3] == {"flux_20_35": pytest.approx(10.0), "flux_35_60": 4.0}


# --- Refusals --------------------------------------------------------------------------------

BAD_CASES: dict[str, tuple[dict[str, Any], int, str]] = {
    "nan position": (
        {"content": b"name,ra,dec,pos_err,flux_20_35,flux_35_60\nA,1,2,1,1,1\nB,nan,3,1,1,1\n"},
        400,
        "'ra': row 2 are empty or NaN",
    ),
    "missing required column": (
        {"content": b"name,ra,pos_err,flux_20_35,flux_35_60\nA,1,1,1,1\n"},
        400,
        "required column 'dec' is missing",
    ),
    "duplicate ids": (
        {"content": b"name,ra,dec,pos_err,flux_20_35,flux_35_60\nA,1,2,1,1,1\nA,3,4,1,1,1\n"},
        400,
        "duplicate name values (1): 'A' in rows 1 and 2",
    ),
    "malformed fits": (
        {"content": b"SIMPLE  =                    T" + b"\x00garbage" * 50},
        400,
        "not a readable FITS table",
    ),
    "ragged csv": (
        {"content": b"name,ra,dec,pos_err,flux_20_35,flux_35_60\nA,1,2,1,1\n"},
        400,
        "data row 1: 5 fields where the header has 6",
    ),
    "not a number": (
        {"content": b"name,ra,dec,pos_err,flux_20_35,flux_35_60\nA,1,2,x1,1,1\n"},
        400,
        "'pos_err': row 1 hold no number",
    ),
    "out of range": (
        {"content": b"name,ra,dec,pos_err,flux_20_35,flux_35_60\nA,1,95,1,1,1\n"},
        400,
        "'dec': row 1 are outside [-90, 90] deg",
    ),
    "ra in arcmin": (
        {"content": b"name,ra [arcmin],dec,pos_err,flux_20_35,flux_35_60\nA,60,2,1,1,1\n"},
        400,
        "unit 'arcmin' is not accepted",
    ),
    "path-like name": (
        {
            "content": b"name,ra,dec,pos_err,flux_20_35,flux_35_60\nA,1,2,1,1,1\n",
            "name": "../../etc/passwd",
        },
        400,
        "no path separators",
    ),
    "path-like version": (
        {
            "content": b"name,ra,dec,pos_err,flux_20_35,flux_35_60\nA,1,2,1,1,1\n",
            "version": "1/../2",
        },
        400,
        "version '1/../2' is not accepted",
    ),
    "path-like file name": (
        {
            "content": b"name,ra,dec,pos_err,flux_20_35,flux_35_60\nA,1,2,1,1,1\n",
            "filename": "../cat.csv",
        },
        400,
        "looks like a path",
    ),
    "unknown kind": (
        {"content": b"name,ra,dec\nA,1,2\n", "kind": "nope/1"},
        400,
        "unknown catalogue kind 'nope/1'",
    ),
    "empty table": (
        {"content": b"name,ra,dec,pos_err,flux_20_35,flux_35_60\n"},
        400,
        "the table holds no rows",
    ),
    "oversized upload": (
        {"content": b"name,ra,dec,pos_err,flux_20_35,flux_35_60\n" + b"A,1,2,1,1,1\n" * 40_000},
        413,
        f"exceeds the limit of {MAX_BYTES} bytes",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_input_is_refused_with_precise_problems_and_nothing_written(
    server: IngestServer, http: httpx.Client, ibis: str, case: str
) -> None:
    params, status, expected = BAD_CASES[case]
    params = dict(params)
    content = params.pop("content")
    params.setdefault("name", f"Bad {case}")
    before = server.counts()
    response = upload(http, ibis, content, **params)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert any(expected in p for p in body["problems"]), body["problems"]
    assert server.counts() == before
    if status == 413:
        # Refused while the body arrived, after the token was checked: audited by path.
        outcome = server.query(
            "SELECT outcome FROM isla_ops.ingest_audit WHERE target = '/ingest/catalogues' "
            "ORDER BY audit_id DESC LIMIT 1"
        )
        assert outcome and outcome[0][0] == "refused"
        return
    outcome = server.query(
        "SELECT outcome FROM isla_ops.ingest_audit WHERE target = %s ORDER BY audit_id DESC "
        "LIMIT 1",
        f"{params['name']}@{params.get('version', '1')}",
    )
    assert outcome and outcome[0][0] == "refused"


def test_several_problems_are_listed_together(
    server: IngestServer, http: httpx.Client, ibis: str
) -> None:
    content = b"name,ra,dec,pos_err,flux_20_35,flux_35_60\nA,,2,1,1,1\nA,1,-91,1,1,1\n"
    response = upload(http, ibis, content, name="Many problems")
    assert response.status_code == 400
    problems = response.json()["problems"]
    assert len(problems) == 3
    assert any("'ra'" in p for p in problems) and any("'dec'" in p for p in problems)
    assert any("duplicate" in p for p in problems)


# --- Versions --------------------------------------------------------------------------------


def test_new_version_is_switched_atomically_and_old_versions_stay_queryable(
    server: IngestServer, http: httpx.Client, ibis: str
) -> None:
    v1 = to_csv(isgri_table(ISGRI_ROWS[:2]))
    v2 = to_csv(isgri_table(ISGRI_ROWS[:3]))
    assert upload(http, ibis, v1, name="Versioned", version="1.0").status_code == 201
    assert upload(http, ibis, v2, name="Versioned", version="2.0").status_code == 201
    state = server.query(
        "SELECT version, is_current, n_rows FROM isla.catalogues WHERE name = 'Versioned' "
        "ORDER BY catalogue_id"
    )
    assert state == [("1.0", False, 2), ("2.0", True, 3)]
    # Both versions stay in catalogue_entries, told apart by their version, for TAP readers.
    with psycopg.connect(server.conninfo) as conn:
        conn.execute("SET ROLE isla_reader")
        old = conn.execute(
            "SELECT count(*) FROM isla.catalogue_entries e JOIN isla.catalogues c "
            "USING (catalogue_id) WHERE c.name = 'Versioned' AND e.version = '1.0'"
        ).fetchone()
    assert old == (2,)
    published = server.query(
        "SELECT count(*) FROM tap_schema.columns "
        "WHERE table_name = 'isla.catalogue_entries' AND column_name = 'version'"
    )
    assert published == [(1,)]
    # Re-delivering the same content is harmless; other content under an old version is not.
    before = server.counts()
    again = upload(http, ibis, v2, name="Versioned", version="2.0")
    assert again.status_code == 201 and again.json()["report"]["already_loaded"] is True
    clash = upload(http, ibis, v1, name="Versioned", version="2.0")
    assert clash.status_code == 409
    assert server.counts() == before
    back = http.post(
        "/ingest/catalogues/Versioned/current", headers=bearer(ibis), data={"version": "1.0"}
    )
    assert back.status_code == 200, back.text
    state = server.query(
        "SELECT version, is_current FROM isla.catalogues WHERE name = 'Versioned' "
        "ORDER BY catalogue_id"
    )
    assert state == [("1.0", True), ("2.0", False)]
    listed = http.get("/ingest/catalogues", headers=bearer(ibis)).json()["catalogues"]
    assert {(c["name"], c["version"]) for c in listed} >= {
        ("Versioned", "1.0"),
        ("Versioned", "2.0"),
    }


# --- Merging ---------------------------------------------------------------------------------


def test_merging_two_overlapping_team_catalogues(stack: StackInfo) -> None:
    with (
        serve_ingest(stack, "isla_ingest_merge") as srv,
        httpx.Client(base_url=srv.base_url, timeout=120) as http,
    ):
        # A source the way the demo generator writes it (directly, with aliases and flags).
        srv.query(
            "WITH c AS (INSERT INTO isla.catalogues (name, version, team, kind, is_current, "
            "n_rows) VALUES ('demo', '1.0', 'ISDC', 'reference', true, 1) RETURNING catalogue_id) "
            "INSERT INTO isla.sources (source_id, name, ra, dec, pos, pos_err, source_class, "
            "det_isgri, det_picsit, det_jemx, det_spi, det_omc, catalogue_id) "
            "SELECT 'J053432.0+220052', 'Crab', 83.6332, 22.0145, spoint(radians(83.6332), "
            "radians(22.0145)), 0.3, 'PWN', true, true, false, true, false, catalogue_id FROM c "
            "RETURNING source_id"
        )
        srv.query(
            "INSERT INTO isla.source_aliases (source_id, alias, alias_norm) VALUES "
            "('J053432.0+220052', 'Crab', 'crab'), ('J053432.0+220052', 'Crab Nebula', "
            "'crabnebula') RETURNING source_id"
        )
        ibis = srv.token("ibis-team", "ibis")
        jemx = srv.token("jemx-team", "jemx")
        isdc = srv.token("isdc", "isdc")
        a = upload(http, ibis, to_fits(isgri_table()), name="ISGRI results", filename="a.fits")
        assert a.status_code == 201, a.text
        jemx_rows = (
            # Src One, 0.5 arcmin away (within the errors): the same source
            "Src One,10.0,20.00833,1.0,LMXB,40,20\n"
            # Src Two's position under another name: two names for one position
            "Other name,30.0,-9.995,0.5,AGN,8,4\n"
            # Src Three's name one degree away: one name at two positions
            "Src Three,50.0,46.0,1.0,,3,1\n"
            # Src Four at its position but with another class
            "Src Four,100.0,0.0,1.0,AGN,7,3\n"
            # new to the archive
            "J only,300.0,30.0,1.5,,2,1\n"
        )
        csv = "name,ra,dec,pos_err,class,flux_3_10,flux_10_20\n" + jemx_rows
        b = upload(http, jemx, csv.encode(), name="JEM-X results", kind="jemx_results/1")
        assert b.status_code == 201, b.text
        assert http.post("/ingest/merge", headers=bearer(ibis)).status_code == 403
        merged = http.post("/ingest/merge", headers=bearer(isdc), data={"mode": "sync"})
        assert merged.status_code == 201, merged.text
        report = merged.json()["report"]
        # 1 pre-existing + 5 new from ISGRI + 2 new from JEM-X (Src Three far away, J only)
        assert report["sources"] == 8
        sources = {
            r[0]: r[1:]
            for r in srv.query(
                "SELECT name, det_isgri, det_jemx, det_picsit, det_spi, source_class "
                "FROM isla.sources"
            )
        }
        assert sources["Src One"] == (True, True, False, False, "LMXB")
        assert sources["Src Two"][:2] == (True, True)
        assert sources["Src Four"] == (True, True, False, False, "HMXB")
        assert sources["J only"] == (False, True, False, False, "unclassified")
        assert sources["Crab"] == (True, False, True, True, "PWN")  # kept, only gained
        names = srv.query("SELECT name FROM isla.sources WHERE name = 'Src Three'")
        assert len(names) == 2
        kinds = {r[0] for r in srv.query("SELECT kind FROM isla_ops.merge_conflicts")}
        assert kinds == {"names_at_one_position", "name_at_two_positions", "class_disagreement"}
        assert report["conflicts_by_kind"]["class_disagreement"] == 1
        # Fluxes in two bands per instrument, each with its catalogue and entry.
        fluxes = srv.query(
            "SELECT b.instrument, b.name, f.flux, c.name, e.entry_name FROM isla.source_fluxes f "
            "JOIN isla.sources s USING (source_id) JOIN isla.energy_bands b USING (band_id) "
            "JOIN isla.catalogues c ON c.catalogue_id = f.catalogue_id "
            "JOIN isla.catalogue_entries e ON e.entry_id = f.entry_id "
            "WHERE s.name = 'Src One' ORDER BY b.instrument, b.name"
        )
        assert fluxes == [
            ("ISGRI", "20_35", 10.0, "ISGRI results", "Src One"),
            ("ISGRI", "35_60", 5.0, "ISGRI results", "Src One"),
            ("JEM-X", "10_20", 20.0, "JEM-X results", "Src One"),
            ("JEM-X", "3_10", 40.0, "JEM-X results", "Src One"),
        ]
        # The other name became an alias of Src Two (so it resolves), the conflict says so.
        aliases = srv.query(
            "SELECT s.name FROM isla.source_aliases a JOIN isla.sources s USING (source_id) "
            "WHERE a.alias_norm = %s",
            normalise_source_name("Other name"),
        )
        assert aliases == [("Src Two",)]
        provenance: Any = srv.query("SELECT provenance FROM isla.sources WHERE name = 'Src One'")[
            0
        ][0]
        assert provenance["det_jemx"]["catalogue"] == "JEM-X results"
        assert provenance["position"]["entry"] == "Src One"
        unassigned = srv.query(
            "SELECT count(*) FROM isla.catalogue_entries e JOIN isla.catalogues c "
            "USING (catalogue_id) WHERE c.kind LIKE '%%/%%' AND e.source_id IS NULL"
        )
        assert unassigned == [(0,)]
        shown = http.get(f"/ingest/merges/{report['merge_id']}", headers=bearer(ibis)).json()
        assert len(shown["conflicts"]) == sum(report["conflicts_by_kind"].values())
        # Running it again changes nothing.
        before = srv.counts()
        again = http.post("/ingest/merge", headers=bearer(isdc), data={"mode": "sync"})
        assert again.status_code == 201
        assert srv.counts() == before


def test_sql_name_normalisation_matches_the_python_one(server: IngestServer) -> None:
    names = ["Crab Nebula", "4U 1700-37", "GX_339-4", "IGR J17091-3624", "Ünïcode Src"]
    got = [server.query(f"SELECT {sql_normalised('%s::text')}", name)[0][0] for name in names]
    assert got == [normalise_source_name(n) for n in names]


# --- Jobs, the command line and a killed worker -------------------------------------------------


def _worker(srv: IngestServer) -> subprocess.Popen[bytes]:
    env = srv.subprocess_env()
    env.update(
        {
            "ISLA_WORKER_STALLED_AFTER": "2",
            "ISLA_WORKER_HEARTBEAT": "0.5",
            "ISLA_WORKER_POLL_INTERVAL": "0.5",
        }
    )
    return subprocess.Popen(
        [sys.executable, "-m", "deploy.cli", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _job(http: httpx.Client, url: str, token: str) -> dict[str, Any]:
    response = http.get(url, headers=bearer(token))
    assert response.status_code == 200, response.text
    job: dict[str, Any] = response.json()
    return job


def _big_csv(rows: int) -> bytes:
    rng = np.random.default_rng(7)
    ra = rng.uniform(0, 360, rows)
    dec = np.degrees(np.arcsin(rng.uniform(-1, 1, rows)))
    flux = rng.uniform(0.1, 100, rows)
    lines = ["source_id,name,ra,dec,flux_20_40,flux_40_100,class"]
    lines.extend(
        f"{10_000_000 + i},SYN {i},{ra[i]:.6f},{dec[i]:.6f},{flux[i]:.4g},,AGN" for i in range(rows)
    )
    return ("\n".join(lines) + "\n").encode()


def test_killed_worker_leaves_nothing_and_the_retry_completes_once(stack: StackInfo) -> None:
    rows = 300_000
    content = _big_csv(rows)
    with (
        serve_ingest(stack, "isla_ingest_kill", ISLA_INGEST_SYNC_MAX_BYTES="0") as srv,
        httpx.Client(base_url=srv.base_url, timeout=120) as http,
    ):
        spi = srv.token("spi-team", "spi")
        response = upload(
            http, spi, content, name="SPI big", kind="spi_results/1", filename="big.csv"
        )
        assert response.status_code == 202, response.text
        url = response.json()["url"]
        assert response.headers["location"] == url
        assert _job(http, url, spi)["status"] == "queued"
        first = _worker(srv)
        try:
            deadline = time.monotonic() + 120
            while True:
                job = _job(http, url, spi)
                assert job["status"] in ("queued", "running"), job
                if job["status"] == "running" and job["progress"] > 0:
                    break
                assert time.monotonic() < deadline, "the worker never started the load"
                time.sleep(0.05)
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=30)
        finally:
            if first.poll() is None:
                first.kill()
        # Mid-load kill: no version row and no entries, whatever had been streamed.
        assert srv.query("SELECT count(*) FROM isla.catalogues WHERE name = 'SPI big'") == [(0,)]
        assert srv.counts()["isla.catalogue_entries"] == 0
        second = _worker(srv)
        try:
            deadline = time.monotonic() + 240
            while (job := _job(http, url, spi))["status"] != "done":
                assert job["status"] in ("queued", "running"), job
                assert time.monotonic() < deadline, "the retried job did not finish"
                time.sleep(0.5)
            assert job["report"]["rows"] == rows and job["progress"] == 1.0
            loaded = srv.query(
                "SELECT count(*), count(DISTINCT entry_name) FROM isla.catalogue_entries"
            )
            assert loaded == [(rows, rows)]
            assert srv.query("SELECT count(*) FROM isla.catalogues") == [(1,)]
            # The command line uploads, follows the queued job with a progress bar, and ends.
            small = srv.subprocess_env()
            small["ISLA_INGEST_TOKEN"] = spi
            small["ISLA_INGEST_URL"] = srv.base_url
            path = stack.home / "spi_v2.csv"
            path.write_bytes(_big_csv(2_000))
            cli = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "deploy.cli",
                    "ingest",
                    "catalogue",
                    str(path),
                    "--kind",
                    "spi_results/1",
                    "--name",
                    "SPI big",
                    "--version",
                    "2",
                    "--mode",
                    "async",
                ],
                env=small,
                capture_output=True,
                text=True,
                timeout=240,
                check=False,
            )
            assert cli.returncode == 0, cli.stderr
            assert "100.0%" in cli.stderr and '"status": "done"' in cli.stdout
        finally:
            second.send_signal(signal.SIGTERM)
            try:
                second.wait(timeout=30)
            except subprocess.TimeoutExpired:
                second.kill()
        current = srv.query("SELECT version FROM isla.catalogues WHERE is_current")
        assert current == [("2",)]
