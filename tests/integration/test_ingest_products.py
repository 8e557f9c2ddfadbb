"""Product ingestion on the real stack: the real ISLA files, QC refusals, idempotence, kills.

The write paths run against a database and buckets of their own; the HTTP tests talk to a
real ingest service process (uvicorn) pointed at them. Every refusal is checked to have written
nothing: products rows, journal rows, product objects and staging objects are counted before
and after.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import textwrap
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from astropy.io import fits
from sqlalchemy import Engine, text

from deploy.ports import free_port
from services.ingest import products, qc
from services.ingest.auth import create_token
from services.ingest.products import points as points_module
from services.ingest.raw_index import _ensure_revolution
from shared import settings as cfg
from shared.db.engine import make_sync_engine
from shared.demo.delivery import DeliveryOptions
from shared.demo.generator import _JEMX_SHAPE, _footprint, _frame
from shared.demo.sensitivity import sensitivity_table
from shared.integral.ids import normalise_source_name
from shared.integral.revolutions import revolution_at
from shared.integral.time import ijd_to_utc
from shared.storage import ObjectStore
from tests.conftest import ACCESS_KEY, SECRET_KEY, Archive, StackInfo

pytestmark = pytest.mark.integration

UPLOAD_LIMIT = 4 * 1024 * 1024
SOURCES = {
    "J011705.1-732636": ("SMC X-1", 19.2714, -73.4433),
    "J174537.0-290107": ("1A 1742-289", 266.4040, -29.0186),
}
REFERENCE_IDS = {
    "spectrum/ISGRI/0745_06340000001/J011705.1-732636",
    "arf/ISGRI/0745_06340000001/J011705.1-732636",
    "rmf/ISGRI/0745_06340000001/J011705.1-732636",
    "long_timeseries/JEM-X/mission/J174537.0-290107/JEM-X1",
    "long_timeseries/JEM-X/mission/J174537.0-290107/JEM-X2",
    "mosaic/ISGRI/0727_88601650001/28_40/original",
    "mosaic/ISGRI/0727_88601650001/28_40/smooth",
}
LC_TIMES = np.array([5000.10, 5000.20, 5000.30, 5000.40, 5000.50])
"""IJD of the synthetic light curves. Pointings of the test database contain all but the last;
the first three look at 1A 1742-289, the fourth does not (JEM-X and ISGRI look elsewhere)."""
AWAY = (266.0, 10.0)
"""Pointing of the ScW holding the fourth time: 39 degrees from 1A 1742-289."""


@dataclass
class Env:
    """The test's own database, buckets and a running ingest service."""

    url: str
    engine: Engine
    store: ObjectStore
    storage: cfg.StorageSettings
    base_url: str
    tokens: dict[str, str]


def _reference_members() -> dict[str, bytes]:
    folder = products.reference_data_dir()
    out: dict[str, bytes] = {}
    for name in products.REFERENCE_ARCHIVES:
        blob = (folder / name).read_bytes()
        if zipfile.is_zipfile(io.BytesIO(blob)):
            with zipfile.ZipFile(io.BytesIO(blob)) as archive:
                out.update({i.filename: archive.read(i) for i in archive.infolist()})
        else:
            with tarfile.open(fileobj=io.BytesIO(blob)) as archive:
                for member in archive.getmembers():
                    handle = archive.extractfile(member)
                    assert handle is not None
                    out[member.name] = handle.read()
    return out


def _pointing(
    conn: Any,
    t: float,
    number: int,
    axis: tuple[float, float] = (0.0, 0.0),
    fov_jemx: str | None = None,
) -> tuple[str, int]:
    """Pointing ``number`` of the revolution holding IJD ``t`` (the revolution made too),
    20 minutes about ``t``; returns (ScW id, revolution)."""
    rev = revolution_at(ijd_to_utc(t))
    _ensure_revolution(conn, rev)
    scw = f"{rev:04d}{number:04d}0010"
    conn.execute(
        text(
            "INSERT INTO isla.science_windows (scw_id, version, revolution, scw_type, "
            "start_time, end_time, start_ijd, end_ijd, ra, dec, pos, posangle, "
            "fov_jemx, raw_files, raw_size) VALUES (:id, '001', :rev, 'pointing', "
            ":st, :et, :si, :ei, :ra, :dec, spoint(radians(:ra), radians(:dec)), 0.0, "
            "CAST(:fov AS spoly), 0, 0)"
        ),
        {
            "id": scw,
            "rev": rev,
            "st": ijd_to_utc(t - 0.01).replace(tzinfo=None),
            "et": ijd_to_utc(t + 0.01).replace(tzinfo=None),
            "si": t - 0.01,
            "ei": t + 0.01,
            "ra": axis[0],
            "dec": axis[1],
            "fov": fov_jemx,
        },
    )
    return scw, rev


def _seed(engine: Engine) -> None:
    """The sources of the real files and three pointings holding the synthetic LC times."""
    with engine.begin() as conn:
        for source_id, (name, ra, dec) in SOURCES.items():
            conn.execute(
                text(
                    "INSERT INTO isla.sources (source_id, name, ra, dec, pos, source_class, "
                    "det_isgri, det_picsit, det_jemx, det_spi, det_omc) VALUES (:s, :n, :ra, "
                    ":dec, spoint(radians(:ra), radians(:dec)), 'HMXB', true, false, true, "
                    "false, false)"
                ),
                {"s": source_id, "n": name, "ra": ra, "dec": dec},
            )
            conn.execute(
                text(
                    "INSERT INTO isla.source_aliases (source_id, alias, alias_norm) "
                    "VALUES (:s, :n, :norm)"
                ),
                {"s": source_id, "n": name, "norm": normalise_source_name(name)},
            )
        for i, t in enumerate(LC_TIMES[:4]):
            ra, dec = (266.0, -29.0) if i < 3 else AWAY
            # The fourth also has its JEM-X footprint: neither the footprint nor (for ISGRI,
            # which has none here) the field's radius about the axis reaches the source.
            fov = _footprint(_frame(ra, dec, 0.0), _JEMX_SHAPE) if i == 3 else None
            _pointing(conn, float(t), i, (ra, dec), fov)


def _serve(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "services.ingest.app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env={**os.environ, **env},
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180  # a loaded machine imports slowly
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the ingest service exited")
        try:
            if httpx.get(f"{base}/ingest/ready", timeout=2).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the ingest service did not become ready")


@pytest.fixture(scope="module")
def env(stack: StackInfo) -> Iterator[Env]:
    url = stack.new_database("isla_ingest_products")
    storage = stack.storage("ingtest-raw", "ingtest-products")
    store = ObjectStore.from_settings(storage)
    store.ensure_buckets()
    engine = make_sync_engine(cfg.DatabaseSettings(database_url=url))
    _seed(engine)
    tokens = {}
    with engine.begin() as conn:
        for team, role in (
            ("isdc", "isdc"),
            ("jemx", "jemx"),
            ("ibis", "ibis"),
            ("ops", "operator"),
        ):
            tokens[team] = create_token(conn, team, role).token
    proc, base = _serve(
        {
            "ISLA_DATABASE_URL": url,
            "ISLA_S3_ENDPOINT": stack.s3_endpoint,
            "ISLA_S3_ACCESS_KEY": ACCESS_KEY,
            "ISLA_S3_SECRET_KEY": SECRET_KEY,
            "ISLA_S3_RAW_BUCKET": "ingtest-raw",
            "ISLA_S3_PRODUCTS_BUCKET": "ingtest-products",
            "ISLA_UPLOAD_MAX_BYTES": str(UPLOAD_LIMIT),
        }
    )
    try:
        yield Env(url, engine, store, storage, base, tokens)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        engine.dispose()


def _counts(e: Env) -> dict[str, int]:
    out = products.counts(e.engine, e.store)
    with e.engine.connect() as conn:
        out["points"] = int(
            conn.execute(text("SELECT count(*) FROM isla.lightcurve_points")).scalar() or 0
        )
        out["audit"] = int(
            conn.execute(text("SELECT count(*) FROM isla_ops.ingest_audit")).scalar() or 0
        )
    return out


def _lightcurve(
    name: str = "SRC_JEMX1_lc.fits",
    *,
    drop: tuple[str, ...] = (),
    rate: np.ndarray | None = None,
    times: np.ndarray | None = None,
    source: str = "1A 1742-289",
    instrume: str = "JMX1",
    seed: int = 1,
) -> bytes:
    """A small OGIP light curve with every keyword QC asks for, checksummed by astropy."""
    rng = np.random.default_rng(seed)
    t = LC_TIMES if times is None else times
    r = rng.uniform(5, 10, len(t)) if rate is None else rate
    cols = [
        fits.Column("TIME", "D", array=t, unit="d"),
        fits.Column("RATE", "E", array=r, unit="count/s"),
        fits.Column("ERROR", "E", array=np.full(len(t), 0.5), unit="count/s"),
    ]
    table = fits.BinTableHDU.from_columns(cols, name="RATE")
    cards = {
        "TELESCOP": "INTEGRAL",
        "INSTRUME": instrume,
        "CREATOR": "isla-test 1.0",
        "TIMESYS": "TT",
        "TIMEUNIT": "d",
        "MJDREF": 51544.0,
        "TSTART": float(t[0]),
        "TSTOP": float(t[-1]),
        "NAME": source,
        "RA_OBJ": 266.404,
        "DEC_OBJ": -29.0186,
        "E_MIN": 3.0,
        "E_MAX": 20.0,
        "HDUCLAS1": "LIGHTCURVE",
        "ISLAVER": "test",
        "DATE": "2026-11-25",
        "NSCW": len(t),
        "DOI": "none",
    }
    for key, value in cards.items():
        if key not in drop:
            table.header[key] = value
    buffer = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(buffer, checksum=True)
    return buffer.getvalue()


def _arf(decreasing: bool = False) -> bytes:
    lo = np.linspace(20, 100, 50)
    if decreasing:
        lo = lo[::-1]
    table = fits.BinTableHDU.from_columns(
        [
            fits.Column("ENERG_LO", "E", array=lo),
            fits.Column("ENERG_HI", "E", array=lo + 1.0),
            fits.Column("SPECRESP", "E", array=np.ones(50)),
        ],
        name="SPECRESP",
    )
    for key, value in {
        "HDUCLAS1": "RESPONSE",
        "HDUCLAS2": "SPECRESP",
        "TELESCOP": "INTEGRAL",
        "INSTRUME": "IBIS",
        "DETNAM": "ISGRI",
        "CREATOR": "isla-test 1.0",
    }.items():
        table.header[key] = value
    buffer = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(buffer, checksum=True)
    return buffer.getvalue()


def _post(
    e: Env, files: list[tuple[str, bytes]], token: str | None = "isdc", **params: Any
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {e.tokens.get(token, token)}"} if token else {}
    return httpx.post(
        f"{e.base_url}/ingest/products",
        files=[("file", (name, data, "application/fits")) for name, data in files],
        data={k: str(v) for k, v in params.items()},
        headers=headers,
        timeout=60,
    )


# --- The real ISLA files ---------------------------------------------------------------------


def test_real_isla_files_are_products_of_the_demo_archive(archive: Archive) -> None:
    members = _reference_members()
    engine = make_sync_engine(cfg.DatabaseSettings(database_url=archive.database_url))
    store = ObjectStore.from_settings(archive.storage_settings)
    with engine.connect() as conn:
        rows = {
            r.product_id: r
            for r in conn.execute(
                text("SELECT * FROM isla.products WHERE product_id = ANY(:ids)"),
                {"ids": sorted(REFERENCE_IDS)},
            )
        }
    engine.dispose()
    assert set(rows) == REFERENCE_IDS
    spectrum = rows["spectrum/ISGRI/0745_06340000001/J011705.1-732636"]
    assert spectrum.meta["arf"] == "arf/ISGRI/0745_06340000001/J011705.1-732636"
    assert spectrum.meta["rmf"] == "rmf/ISGRI/0745_06340000001/J011705.1-732636"
    assert (spectrum.epoch, spectrum.source_id) == ("0745_06340000001", "J011705.1-732636")
    series = rows["long_timeseries/JEM-X/mission/J174537.0-290107/JEM-X1"]
    assert series.source_id == "J174537.0-290107" and series.instrument == "JEM-X"
    for pid, row in rows.items():
        original = members[row.file_name]
        data = store.read_bytes(row.bucket, row.object_key)
        assert data == original, pid
        assert (
            row.sha256
            == hashlib.sha256(original).hexdigest()
            == store.stat(row.bucket, row.object_key).sha256
        )
        assert row.size == len(original)
        # Real files: never labelled simulated, in the database or in any header.
        assert row.simulated is False, pid
        assert row.meta["team"] == products.REFERENCE_TEAM
        raw = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
        with fits.open(io.BytesIO(raw)) as hdus:
            assert all("SIMDATA" not in hdu.header for hdu in hdus), pid


def test_simulated_label_reaches_the_product_row(env: Env) -> None:
    """A file with SIMDATA = T becomes a product flagged simulated; without it, not."""
    labelled = fits.open(io.BytesIO(_lightcurve(seed=11)))
    for hdu in labelled:
        hdu.header["SIMDATA"] = (True, "simulated data, not an INTEGRAL measurement")
    out = io.BytesIO()
    labelled.writeto(out, checksum=True)
    result = products.ingest_delivery(
        env.engine,
        env.store,
        [("sim_1000_01200010011_lc.fits", out.getvalue())],
        # Stored without loading its points (they would replace other tests' points).
        products.DeliveryParams(points=False),
        products.Caller(team="jemx"),
        64 * 1024 * 1024,
    )
    (pid,) = [p["product_id"] for p in result.products]
    with env.engine.connect() as conn:
        row = conn.execute(
            text("SELECT simulated, meta FROM isla.products WHERE product_id = :p"), {"p": pid}
        ).one()
    assert row.simulated is True and result.points == 0
    assert row.meta["team"] == "jemx" and row.meta["ingestion"] == result.ingestion


def test_real_jemx_points_lie_in_scws_that_see_the_source(archive: Archive) -> None:
    """Every 1A 1742-289 JEM-X point of the demo archive lies in a ScW whose JEM-X footprint
    holds the source; the real ones are attached exactly to the pointings whose footprint
    holds the source and whose time span holds the point."""
    members = _reference_members()
    times = np.concatenate(
        [
            qc.inspect_file(name, data, UPLOAD_LIMIT)[0].time_ijd
            for name, data in members.items()
            if name.startswith("1A_1742-289_JEMX")
        ]
    )
    source = "J174537.0-290107"
    points = archive.rows(
        "SELECT p.scw_id, p.time_ijd, coalesce(w.fov_jemx @> s.pos, false) AS inside "
        "FROM isla.lightcurve_points p JOIN isla.science_windows w USING (scw_id) "
        "JOIN isla.sources s USING (source_id) "
        "WHERE p.source_id = :s AND p.instrument = 'JEM-X'",
        s=source,
    )
    assert points
    assert all(p.inside for p in points), [p.scw_id for p in points if not p.inside]
    # The generated points sit at their ScW's mid-time; the real ones at the file's times.
    real = [p for p in points if np.min(np.abs(times - p.time_ijd)) < 1e-6]
    seeing = archive.rows(
        "SELECT DISTINCT w.scw_id FROM unnest(CAST(:t AS float8[])) AS t(ijd) "
        "JOIN isla.science_windows w ON t.ijd BETWEEN w.start_ijd AND w.end_ijd "
        "JOIN isla.sources s ON s.source_id = :s "
        "WHERE w.scw_type = 'pointing' AND w.fov_jemx @> s.pos",
        t=[float(t) for t in times],
        s=source,
    )
    assert {p.scw_id for p in real} == {r.scw_id for r in seeing}
    # The real points are INTEGRAL's (not simulated); the generated ones say they are.
    flags = {
        (r.scw_id, r.band_id): r.simulated
        for r in archive.rows(
            "SELECT scw_id, band_id, simulated FROM isla.lightcurve_points "
            "WHERE source_id = :s AND instrument = 'JEM-X'",
            s=source,
        )
    }
    real_keys = {
        (r.scw_id, r.band_id)
        for r in archive.rows(
            "SELECT p.scw_id, p.band_id FROM isla.lightcurve_points p "
            "WHERE p.source_id = :s AND p.instrument = 'JEM-X' "
            "AND p.time_ijd = ANY(CAST(:t AS float8[]))",
            s=source,
            t=[float(t) for t in times],
        )
    }
    assert {k: v for k, v in flags.items() if k in real_keys} == dict.fromkeys(real_keys, False)
    assert all(v for k, v in flags.items() if k not in real_keys)


def test_reference_ingestion_is_idempotent(env: Env) -> None:
    first = products.ingest_reference_products(env.engine, env.store)
    assert {p["product_id"] for p in first.products} == REFERENCE_IDS
    assert first.skipped == ["ISGRI_0727_88601650001_28_40_mosaic_sources.reg"]
    before = _counts(env)
    again = products.ingest_reference_products(env.engine, env.store)
    assert {p["status"] for p in again.products} == {"unchanged"}
    assert _counts(env) == before
    assert before["journal"] == 0 and before["staging"] == 0


# --- The HTTP API ----------------------------------------------------------------------------


def test_delivery_then_resending_is_a_noop(env: Env) -> None:
    data = _lightcurve("1A_1742-289_JEMX1_0001_lc.fits", seed=7)
    before = _counts(env)
    first = _post(
        env,
        [("1A_1742-289_JEMX1_0001_lc.fits", data)],
        kind="short_timeseries",
        epoch="1000_01200010001",
    )
    assert first.status_code == 201, first.text
    body = first.json()
    (product,) = body["products"]
    assert product["status"] == "created"
    assert product["sha256"] == hashlib.sha256(data).hexdigest()
    # Three of the five times fall in pointings on the source; the fourth falls in a pointing
    # elsewhere on the sky and is not attached to it.
    assert body["points"] == 3
    stored = env.store.stat(env.store.products_bucket, product["object_key"])
    assert stored.sha256 == product["sha256"]
    after = _counts(env)
    assert after["rows"] == before["rows"] + 1 and after["objects"] == before["objects"] + 1
    assert after["points"] == before["points"] + 3
    assert after["staging"] == 0 and after["journal"] == 0
    # A delivered (not simulated) light curve's points are not simulated.
    with env.engine.connect() as conn:
        flags = conn.execute(
            text(
                "SELECT DISTINCT simulated FROM isla.lightcurve_points "
                "WHERE source_id = 'J174537.0-290107' AND instrument = 'JEM-X'"
            )
        ).scalars()
        assert list(flags) == [False]
    again = _post(
        env,
        [("1A_1742-289_JEMX1_0001_lc.fits", data)],
        kind="short_timeseries",
        epoch="1000_01200010001",
    )
    assert again.status_code == 200
    assert again.json()["products"][0]["status"] == "unchanged"
    final = _counts(env)
    assert {k: v for k, v in final.items() if k != "audit"} == {
        k: v for k, v in after.items() if k != "audit"
    }
    assert final["audit"] == after["audit"] + 1  # every ingestion is audited


def test_raw_body_delivery(env: Env) -> None:
    data = _lightcurve(seed=11)
    response = httpx.post(
        f"{env.base_url}/ingest/products",
        params={"file_name": "1A_1742-289_JEMX1_0002_lc.fits", "epoch": "1000_01200010002"},
        content=data,
        headers={
            "Authorization": f"Bearer {env.tokens['isdc']}",
            "Content-Type": "application/fits",
        },
        timeout=60,
    )
    assert response.status_code == 201, response.text
    pid = response.json()["products"][0]["product_id"]
    assert pid == "short_timeseries/JEM-X/1000_01200010002/J174537.0-290107/JEM-X1"
    row = httpx.get(
        f"{env.base_url}/ingest/products/{pid}",
        headers={"Authorization": f"Bearer {env.tokens['isdc']}"},
    ).json()
    assert row["meta"]["team"] == "isdc" and row["band_id"] is not None
    other = httpx.get(
        f"{env.base_url}/ingest/products/{pid}",
        headers={"Authorization": f"Bearer {env.tokens['ibis']}"},
    )
    assert other.status_code == 403


def _broken_checksum() -> bytes:
    data = bytearray(_lightcurve(seed=3))
    data[-2880 + 10] ^= 0x01  # one bit of the table data
    return bytes(data)


CASES: list[tuple[str, Any, int, str]] = [
    ("missing keyword", lambda: [("lc_a.fits", _lightcurve(drop=("TELESCOP",)))], 422, "keyword"),
    ("missing time system", lambda: [("lc_b.fits", _lightcurve(drop=("MJDREF",)))], 422, "keyword"),
    (
        "NaN rates",
        lambda: [("lc_c.fits", _lightcurve(rate=np.array([1.0, np.nan, 2.0, 3.0, 4.0])))],
        422,
        "non_finite",
    ),
    (
        "unordered times",
        lambda: [("lc_d.fits", _lightcurve(times=LC_TIMES[[0, 2, 1, 3, 4]]))],
        422,
        "time_order",
    ),
    (
        "decreasing energy bins",
        lambda: [("arf_e.fits", _arf(decreasing=True))],
        422,
        "energy_order",
    ),
    ("broken checksum", lambda: [("lc_f.fits", _broken_checksum())], 422, "checksum"),
    ("path-like name", lambda: [("../lc_g.fits", _lightcurve())], 422, "file_name"),
    ("not FITS", lambda: [("lc_h.fits", b"SIMPLE  = nonsense" * 200)], 422, "not_fits"),
    ("oversized", lambda: [("lc_i.fits", b"\0" * (UPLOAD_LIMIT + 10))], 413, "size"),
    ("oversized, by its length", lambda: [("lc_j.fits", b"\0" * (2 * UPLOAD_LIMIT))], 413, "size"),
    (
        "spectrum without its RMF",
        lambda: [(n, d) for n, d in _reference_members().items() if n.endswith("_spe.fits")],
        422,
        "response",
    ),
]


@pytest.mark.parametrize(("case", "files", "status", "code"), CASES, ids=[c[0] for c in CASES])
def test_refused_deliveries_write_nothing(
    env: Env, case: str, files: Any, status: int, code: str
) -> None:
    before = _counts(env)
    response = _post(env, files(), epoch="1000_01200010003")
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert code in {p["code"] for p in body["problems"]}, body
    after = _counts(env)
    assert after["audit"] == before["audit"] + 1
    assert {k: v for k, v in after.items() if k != "audit"} == {
        k: v for k, v in before.items() if k != "audit"
    }


def _scw_ids(e: Env) -> list[str]:
    with e.engine.connect() as conn:
        return list(
            conn.execute(
                text("SELECT scw_id FROM isla.science_windows ORDER BY start_ijd")
            ).scalars()
        )


def _results(
    scws: list[str],
    times: np.ndarray,
    rate: np.ndarray,
    *,
    source: str = "J174537.0-290107",
    simulated: bool = False,
    band: tuple[float, float] = (28.0, 40.0),
) -> bytes:
    """An ISGRI per-ScW source-results table (``lc_results``) with the keywords QC asks for."""
    n = len(scws)
    table = fits.BinTableHDU.from_columns(
        [
            fits.Column("SOURCE_ID", "16A", array=[source] * n),
            fits.Column("SCW_ID", "12A", array=scws),
            fits.Column("E_MIN", "E", unit="keV", array=np.full(n, band[0])),
            fits.Column("E_MAX", "E", unit="keV", array=np.full(n, band[1])),
            fits.Column("TIME", "D", unit="d", array=times),
            fits.Column("TIMEDEL", "D", unit="s", array=np.full(n, 1728.0)),
            fits.Column("EXPOSURE", "D", unit="s", array=np.full(n, 1500.0)),
            fits.Column("RATE", "E", unit="count/s", array=rate),
            fits.Column("RATE_ERR", "E", unit="count/s", array=np.full(n, 0.5)),
            fits.Column("OFFAXIS", "D", unit="deg", array=np.full(n, 0.7)),
        ],
        name="SRC-RESULTS",
    )
    for key, value in {
        "TELESCOP": "INTEGRAL",
        "INSTRUME": "IBIS",
        "DETNAM": "ISGRI",
        "CREATOR": "isla-test 1.0",
        "TIMESYS": "TT",
        "TIMEUNIT": "d",
        "MJDREF": 51544.0,
        "ISLAVER": "test",
        "DATE": "2026-12-03",
        "NSCW": n,
        "DOI": "none",
    }.items():
        table.header[key] = value
    hdul = fits.HDUList([fits.PrimaryHDU(), table])
    if simulated:
        for hdu in hdul:
            hdu.header["SIMDATA"] = (True, "simulated data, not an INTEGRAL measurement")
    buffer = io.BytesIO()
    hdul.writeto(buffer, checksum=True)
    return buffer.getvalue()


def test_results_table_loads_points_and_is_a_product(env: Env) -> None:
    """A per-ScW source-results table is stored and registered as a product of its own, and
    its rows become the points of their source, band and ScW, flagged as the file is; a
    replacement replaces them."""
    scws = _scw_ids(env)[:3]
    times = LC_TIMES[:3]
    before = _counts(env)
    response = _post(env, [("ISGRI_results.fits", _results(scws, times, np.array([5, 6, 7.0])))])
    assert response.status_code == 201, response.text
    body = response.json()
    (product,) = body["products"]
    assert product["kind"] == "lc_results" and body["points"] == 3
    first, last = scws[0][:4], scws[2][:4]
    assert product["product_id"] == f"lc_results/ISGRI/revolutions/{first}-{last}"
    after = _counts(env)
    assert after["rows"] == before["rows"] + 1 and after["points"] == before["points"] + 3
    points = "SELECT scw_id, rate, simulated, p.instrument, duration, exposure, revolution " + (
        "FROM isla.lightcurve_points p JOIN isla.energy_bands e USING (band_id) "
        "WHERE p.source_id = 'J174537.0-290107' AND e.instrument = 'ISGRI' "
        "AND e.name = '28_40' ORDER BY scw_id"
    )
    with env.engine.connect() as conn:
        rows = conn.execute(text(points)).all()
        meta = conn.execute(
            text("SELECT meta, simulated FROM isla.products WHERE product_id = :p"),
            {"p": product["product_id"]},
        ).one()
    assert [(r.scw_id, r.rate, r.simulated) for r in rows] == [
        (scws[0], 5.0, False),
        (scws[1], 6.0, False),
        (scws[2], 7.0, False),
    ]
    assert {(r.instrument, r.duration, r.exposure) for r in rows} == {("ISGRI", 1728.0, 1500.0)}
    assert [r.revolution for r in rows] == [int(s[:4]) for s in scws]
    assert meta.simulated is False and meta.meta["team"] == "isdc"
    assert (meta.meta["n_points"], meta.meta["bands"]) == (3, ["28_40"])
    # Simulated rows for two of the ScWs, sent again under the same product: replaced.
    again = _post(
        env,
        [("ISGRI_results.fits", _results(scws[:2], times[:2], np.array([1, 2.0]), simulated=True))],
        replace="true",
    )
    assert again.status_code == 201, again.text
    with env.engine.connect() as conn:
        rows = conn.execute(text(points)).all()
    assert [(r.scw_id, r.rate, r.simulated) for r in rows] == [
        (scws[0], 1.0, True),
        (scws[1], 2.0, True),
        (scws[2], 7.0, False),
    ]


def test_results_table_with_bad_rows_is_refused(env: Env) -> None:
    """Rows naming an unknown ScW or source, a non-finite rate or a time outside the ScW are
    listed one by one, and the whole table is refused: nothing is written."""
    scws = _scw_ids(env)[:3]
    data = _results(
        [scws[0], "999900010010", scws[1], scws[2]],
        np.array([LC_TIMES[0], LC_TIMES[0], LC_TIMES[1], LC_TIMES[0]]),
        np.array([5.0, 6.0, np.nan, 7.0]),
    )
    before = _counts(env)
    response = _post(env, [("ISGRI_bad_results.fits", data)])
    assert response.status_code == 422, response.text
    problems = [(p["code"], p["message"]) for p in response.json()["problems"]]
    assert ("non_finite", "row 3: RATE NaN or infinite") in problems
    assert ("scw", "row 2: unknown science window '999900010010'") in problems
    assert any(code == "scw_time" and m.startswith("row 4:") for code, m in problems), problems
    unknown = _results(scws[:1], LC_TIMES[:1], np.array([5.0]), source="J000000.0+000000")
    response = _post(env, [("ISGRI_unknown_results.fits", unknown)])
    assert response.status_code == 422, response.text
    assert ("source", "row 1: unknown source 'J000000.0+000000'") in [
        (p["code"], p["message"]) for p in response.json()["problems"]
    ]
    after = _counts(env)
    assert {k: v for k, v in after.items() if k != "audit"} == {
        k: v for k, v in before.items() if k != "audit"
    }


def test_qc_lists_every_problem(env: Env) -> None:
    bad = _lightcurve(drop=("TELESCOP", "TIMESYS"), rate=np.array([np.nan] * 5))
    response = _post(env, [("lc_multi.fits", bad), ("../x.fits", bad)])
    assert response.status_code == 422
    codes = [(p["file"], p["code"]) for p in response.json()["problems"]]
    assert ("lc_multi.fits", "non_finite") in codes
    assert ("../x.fits", "file_name") in codes
    assert sum(1 for f, c in codes if f == "lc_multi.fits" and c == "keyword") == 2


def test_authentication_and_roles(env: Env) -> None:
    data = [("lc_auth.fits", _lightcurve(seed=5))]
    before = _counts(env)
    assert _post(env, data, token=None, epoch="1000_01200010004").status_code == 401
    wrong = _post(env, data, token="isla_00000000_" + "A" * 43, epoch="1000_01200010004")
    assert wrong.status_code == 401 and "Bearer" in wrong.headers["www-authenticate"]
    role = _post(env, data, token="ibis", epoch="1000_01200010004")  # a JEM-X light curve
    assert role.status_code == 403
    assert role.json()["problems"][0]["code"] == "role"
    after = _counts(env)
    assert {k: v for k, v in after.items() if k != "audit"} == {
        k: v for k, v in before.items() if k != "audit"
    }
    assert _post(env, data, token="jemx", epoch="1000_01200010004").status_code == 201


def test_replacement_needs_owner_and_replace(env: Env) -> None:
    name = "1A_1742-289_JEMX1_0005_lc.fits"
    assert (
        _post(
            env, [(name, _lightcurve(seed=20))], token="jemx", epoch="1000_01200010005"
        ).status_code
        == 201
    )
    newer = [(name, _lightcurve(seed=21))]
    before = _counts(env)
    other = _post(env, newer, token="isdc", epoch="1000_01200010005")
    assert other.status_code == 403 and other.json()["problems"][0]["code"] == "owner"
    owner = _post(env, newer, token="jemx", epoch="1000_01200010005")
    assert owner.status_code == 409
    after = _counts(env)
    assert after["rows"] == before["rows"] and after["objects"] == before["objects"]
    replaced = _post(env, newer, token="jemx", epoch="1000_01200010005", replace="true")
    assert replaced.status_code == 201
    product = replaced.json()["products"][0]
    assert product["status"] == "replaced"
    assert (
        env.store.stat(env.store.products_bucket, product["object_key"]).sha256
        == hashlib.sha256(newer[0][1]).hexdigest()
    )
    operator = _post(
        env, [(name, _lightcurve(seed=22))], token="ops", epoch="1000_01200010005", replace="true"
    )
    assert operator.status_code == 201


# --- Interrupted deliveries ------------------------------------------------------------------

_KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from services.ingest import products
    from shared import settings as cfg
    from shared.db.engine import make_sync_engine
    from shared.storage import ObjectStore

    url, endpoint, where, name, path = sys.argv[1:6]
    storage = cfg.StorageSettings(
        s3_endpoint=endpoint, s3_access_key={ak!r}, s3_secret_key={sk!r},
        s3_raw_bucket="ingtest-raw", s3_products_bucket="ingtest-products",
    )
    store = ObjectStore.from_settings(storage)
    engine = make_sync_engine(cfg.DatabaseSettings(database_url=url))

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    put, copy = store.put_bytes, store.client.copy_object

    def put_then_maybe_die(*args, **kwargs):
        if where == "before_staging":
            die()
        result = put(*args, **kwargs)
        if where == "after_staging":
            die()
        return result

    def copy_then_die(*args, **kwargs):
        result = copy(*args, **kwargs)
        if where == "after_copy":
            die()
        return result

    store.put_bytes = put_then_maybe_die
    store.client.copy_object = copy_then_die
    with open(path, "rb") as handle:
        data = handle.read()
    products.ingest_delivery(
        engine, store, [(name, data)], products.DeliveryParams(epoch="1000_01200010009"),
        products.Caller(team="isdc", is_operator=True), 1 << 26,
    )
    """
)


@pytest.mark.parametrize(
    ("where", "rolled_forward"),
    [("before_staging", False), ("after_staging", True), ("after_copy", True)],
)
def test_killed_delivery_is_recovered(
    env: Env, tmp_path: Path, where: str, rolled_forward: bool
) -> None:
    name = f"1A_1742-289_JEMX1_kill_{where}.fits"
    data = _lightcurve(name, seed=len(where))
    path = tmp_path / name
    path.write_bytes(data)
    script = _KILLER.format(ak=ACCESS_KEY, sk=SECRET_KEY)
    before = _counts(env)
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            env.url,
            env.storage.s3_endpoint or "",
            where,
            name,
            str(path),
        ],
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    crashed = _counts(env)
    assert crashed["rows"] == before["rows"]  # nothing committed
    assert crashed["journal"] == before["journal"] + 1
    report = products.recover_pending(env.engine, env.store)
    after = _counts(env)
    assert after["journal"] == 0 and after["staging"] == 0
    key = f"products/short_timeseries/JEM-X/1000_01200010009/J174537.0-290107/JEM-X1/{name}"
    if rolled_forward:
        assert report.completed and not report.removed
        assert after["rows"] == before["rows"] + 1
        assert after["objects"] == before["objects"] + 1
        assert (
            env.store.stat(env.store.products_bucket, key).sha256
            == hashlib.sha256(data).hexdigest()
        )
        # Leave the product set as it was for the next case.
        with env.engine.begin() as conn:
            conn.execute(text("DELETE FROM isla.products WHERE object_key = :k"), {"k": key})
        env.store.delete(env.store.products_bucket, key)
    else:
        assert report.removed and not report.completed
        assert after["rows"] == before["rows"] and after["objects"] == before["objects"]
        assert not env.store.exists(env.store.products_bucket, key)


def test_command_line_delivery(env: Env, tmp_path: Path) -> None:
    path = tmp_path / "1A_1742-289_JEMX1_0006_lc.fits"
    path.write_bytes(_lightcurve(seed=30))
    cli_env = {
        **os.environ,
        "ISLA_INGEST_URL": env.base_url,
        "ISLA_INGEST_TOKEN": env.tokens["jemx"],
    }
    cmd = [sys.executable, "-m", "deploy.cli", "ingest", "products", str(path)]
    done = subprocess.run(
        [*cmd, "--epoch", "1000_01200010006"], env=cli_env, capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    (product,) = json.loads(done.stdout)["products"]
    assert product["status"] == "created"
    refused = subprocess.run(
        [*cmd, "--epoch", "not-an-epoch"], env=cli_env, capture_output=True, timeout=120
    )
    assert refused.returncode == 1
    assert b"epoch" in refused.stderr


def test_replacement_under_another_name_leaves_no_orphan(env: Env) -> None:
    first = _post(env, [("lc_v1.fits", _lightcurve(seed=40))], epoch="1000_01200010007")
    assert first.status_code == 201
    old_key = first.json()["products"][0]["object_key"]
    before = _counts(env)
    v2 = _lightcurve(seed=41)  # kept: astropy stamps the checksum cards with the time
    second = _post(env, [("lc_v2.fits", v2)], epoch="1000_01200010007", replace="true")
    assert second.status_code == 201, second.text
    new_key = second.json()["products"][0]["object_key"]
    assert new_key != old_key
    assert not env.store.exists(env.store.products_bucket, old_key)
    assert env.store.exists(env.store.products_bucket, new_key)
    after = _counts(env)
    assert (after["rows"], after["objects"]) == (before["rows"], before["objects"])
    # A lost object is restored by sending the same bytes again.
    env.store.delete(env.store.products_bucket, new_key)
    again = _post(env, [("lc_v2.fits", v2)], epoch="1000_01200010007")
    assert again.status_code == 201, again.text
    assert again.json()["products"][0]["status"] == "restored"
    assert env.store.exists(env.store.products_bucket, new_key)
    # The sweep removes product objects no row references, and nothing else.
    env.store.put_bytes(env.store.products_bucket, "products/stray/x.fits", b"stray")
    report = products.recover_pending(env.engine, env.store, sweep=True)
    assert report.stray_objects == 1
    assert _counts(env)["objects"] == after["objects"]


# --- Light-curve points: checked once per file, loaded whole ---------------------------------


def _points_of(e: Env, source: str) -> list[tuple[str, float, bool]]:
    with e.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT scw_id, rate, simulated FROM isla.lightcurve_points "
                "WHERE source_id = :s ORDER BY band_id, scw_id"
            ),
            {"s": source},
        ).all()
    return [(r.scw_id, r.rate, r.simulated) for r in rows]


def test_results_delivery_with_one_unknown_source_writes_nothing(env: Env) -> None:
    """A delivery of two results tables, one of them naming a source the archive does not
    know, is refused whole with the row named: neither table's points, product, object nor
    journal entry is written."""
    scws = _scw_ids(env)[:3]
    good = _results(scws, LC_TIMES[:3], np.array([3.0, 4.0, 5.0]), band=(20.0, 35.0))
    bad = _results(scws[:1], LC_TIMES[:1], np.array([5.0]), source="J000000.1+000001")
    before = _counts(env)
    response = _post(env, [("ISGRI_good.fits", good), ("ISGRI_bad.fits", bad)], replace="true")
    assert response.status_code == 422, response.text
    assert ("ISGRI_bad.fits", "source", "row 1: unknown source 'J000000.1+000001'") in [
        (p["file"], p["code"], p["message"]) for p in response.json()["problems"]
    ]
    after = _counts(env)
    assert {k: v for k, v in after.items() if k != "audit"} == {
        k: v for k, v in before.items() if k != "audit"
    }


def test_results_redelivery_is_idempotent(env: Env) -> None:
    """The same results table sent twice loads its points once: the second delivery is a
    no-op and the points keep their values; sending it a third time with replace changes
    nothing either."""
    scws = _scw_ids(env)[:3]
    data = _results(scws, LC_TIMES[:3], np.array([8.0, 9.0, 10.0]), band=(60.0, 200.0))
    first = _post(env, [("ISGRI_idem.fits", data)], replace="true")
    assert first.status_code == 201, first.text
    points = _points_of(env, "J174537.0-290107")
    counts = _counts(env)
    for params in ({}, {"replace": "true"}):
        again = _post(env, [("ISGRI_idem.fits", data)], **params)
        assert again.status_code == 200, again.text  # nothing created
        assert [p["status"] for p in again.json()["products"]] == ["unchanged"]
        assert again.json()["points"] == 0
        assert _points_of(env, "J174537.0-290107") == points
        assert {k: v for k, v in _counts(env).items() if k != "audit"} == {
            k: v for k, v in counts.items() if k != "audit"
        }


def test_source_gone_before_the_commit_refuses_the_file(env: Env) -> None:
    """The points' source check runs once per file at commit time and locks the sources: a
    source removed after quality control refuses the file (409) and nothing is loaded."""
    scws = _scw_ids(env)[:1]
    data = _results(scws, LC_TIMES[:1], np.array([5.0]), source="J011705.1-732636")
    report = qc.check_delivery([("ISGRI_gone.fits", data)], UPLOAD_LIMIT, "lc_results", {})
    assert report.ok, report.problems
    (facts,) = report.files
    with env.engine.connect() as conn:
        transaction = conn.begin()
        conn.execute(text("DELETE FROM isla.sources WHERE source_id = 'J011705.1-732636'"))
        with pytest.raises(products.IngestRefused) as refused:
            products.load_results(conn, facts, {"instrument": "ISGRI", "simulated": False})
        assert refused.value.status == 409
        assert "J011705.1-732636" in refused.value.problems[0].message
        transaction.rollback()
    assert _points_of(env, "J011705.1-732636") == []


def test_points_follow_their_source(env: Env) -> None:
    """Without a per-row foreign key the relation still holds: deleting a source deletes its
    points, and renaming a source that has points is refused."""
    scws = _scw_ids(env)[:2]
    data = _results(scws, LC_TIMES[:2], np.array([1.5, 2.5]), band=(35.0, 60.0))
    assert _post(env, [("ISGRI_follow.fits", data)], replace="true").status_code == 201
    assert len(_points_of(env, "J174537.0-290107")) >= 2
    with env.engine.connect() as conn:
        transaction = conn.begin()
        nested = conn.begin_nested()
        with pytest.raises(Exception, match="still has light-curve points"):
            conn.execute(
                text(
                    "UPDATE isla.sources SET source_id = 'J174537.0-290108' "
                    "WHERE source_id = 'J174537.0-290107'"
                )
            )
        nested.rollback()
        conn.execute(text("DELETE FROM isla.source_aliases WHERE source_id = 'J174537.0-290107'"))
        conn.execute(text("DELETE FROM isla.sources WHERE source_id = 'J174537.0-290107'"))
        left = conn.execute(
            text("SELECT count(*) FROM isla.lightcurve_points WHERE source_id = 'J174537.0-290107'")
        ).scalar()
        assert left == 0
        transaction.rollback()
    assert len(_points_of(env, "J174537.0-290107")) >= 2


def test_readers_see_old_or_new_points_never_half(env: Env) -> None:
    """While a results table is replaced again and again, a reader only ever sees the points
    of one version or of the other, never a mix nor a table half deleted."""
    scws = _scw_ids(env)[:3]
    versions = {
        (1.0, 2.0, 3.0): _results(scws, LC_TIMES[:3], np.array([1.0, 2.0, 3.0]), band=(28.0, 40.0)),
        (4.0, 5.0, 6.0): _results(scws, LC_TIMES[:3], np.array([4.0, 5.0, 6.0]), band=(28.0, 40.0)),
    }
    assert _post(env, [("ISGRI_rw.fits", versions[1.0, 2.0, 3.0])], replace="true").is_success
    seen: set[tuple[float, ...]] = set()
    stop = threading.Event()

    def read() -> None:
        with env.engine.connect() as conn:
            while not stop.is_set():
                rates = conn.execute(
                    text(
                        "SELECT rate FROM isla.lightcurve_points p JOIN isla.energy_bands e "
                        "USING (band_id) WHERE p.source_id = 'J174537.0-290107' "
                        "AND e.instrument = 'ISGRI' AND e.name = '28_40' AND scw_id = ANY(:w) "
                        "ORDER BY scw_id"
                    ),
                    {"w": scws},
                ).scalars()
                seen.add(tuple(rates))
                conn.rollback()

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(6):
            data = list(versions.values())[(i + 1) % 2]
            response = _post(env, [("ISGRI_rw.fits", data)], replace="true")
            assert response.status_code == 201, response.text
    finally:
        stop.set()
        reader.join(timeout=30)
    assert seen and seen <= set(versions), seen


def test_binary_copy_keeps_every_layout(env: Env) -> None:
    """Rows of different layouts in one binary COPY (text of other lengths, NULL upper
    limits) come back exactly as sent."""
    columns: dict[str, Any] = {
        "source_id": np.array(["J1", "J123456.7+123456", "J12"]),
        "band_id": np.array([1, 2, 3], dtype=np.int16),
        "scw_id": np.array(["000100010010", "000100020010", "000100030010"]),
        "instrument": np.array(["ISGRI", "JEM-X", "ISGRI"]),
        "revolution": np.array([1, 1, 1], dtype=np.int32),
        "time_ijd": np.array([1.5, 2.5, 3.5]),
        "duration": np.array([10.0, 20.0, 30.0]),
        "exposure": np.array([5.0, 6.0, 7.0]),
        "rate": np.array([0.5, 10.0, -1.0]),
        "rate_err": np.array([1.0, 1.0, 2.0]),
        "offaxis": np.array([0.1, 0.2, 0.3]),
        "significance": np.array([0.5, 10.0, -0.5]),
        "upper_limit": np.array([True, False, True]),
        "rate_ul": np.array([3.5, np.nan, 6.0]),
        "simulated": np.array([False, True, False]),
    }
    with env.engine.connect() as conn:
        transaction = conn.begin()
        # A table of the points' layout, gone with the rollback.
        conn.execute(text("CREATE TABLE isla.copy_check (LIKE isla.lightcurve_points)"))
        points_module.copy_rows(conn, "copy_check", columns)
        rows = conn.execute(text("SELECT * FROM isla.copy_check ORDER BY band_id")).mappings().all()
        transaction.rollback()
    for i, row in enumerate(rows):
        for name, values in columns.items():
            expected = values[i].item() if hasattr(values[i], "item") else values[i]
            if isinstance(expected, float) and np.isnan(expected):
                assert row[name] is None
            else:
                assert row[name] == expected, (name, row[name], expected)


def test_sensitivity_of_later_revolutions_is_appended_as_a_merge_would(env: Env) -> None:
    """Tables of later revolutions are appended to the stored pixel arrays (without reading
    them back); the merge of all the rows at once, which a re-delivery takes, stores the same
    arrays, per ScW and per revolution."""
    with env.engine.begin() as conn:
        windows = [_pointing(conn, 6000.2 + 10 * (i // 2) + 0.1 * i, 90 + i) for i in range(4)]
    deliver = products.pipeline_delivery(env.engine, env.store, "isdc", "ISDC")
    options = DeliveryOptions(kind="sensitivity")

    def table(rows: list[int]) -> bytes:
        # Pixel 7 in every ScW, pixel 8 in the first and the last.
        picked = [(w, 7) for w in rows] + [(w, 8) for w in rows if w in (0, 3)]
        index = np.array([w for w, _ in picked])
        return sensitivity_table(
            "ISGRI",
            "20_35",
            5,
            {
                "hpx": np.array([p for _, p in picked], dtype=np.int64),
                "scw_id": np.array([windows[w][0] for w in index]),
                "revolution": np.array([windows[w][1] for w in index]),
                "t_start": 6000.19 + 10 * (index // 2) + 0.1 * index,
                "t_stop": 6000.21 + 10 * (index // 2) + 0.1 * index,
                "exposure": 1000.0 + index,
                "rate_sigma": 0.5 + 0.1 * index,
            },
            60.0,
        )

    def stored() -> list[tuple[Any, ...]]:
        with env.engine.connect() as conn:
            return [
                tuple(r)
                for r in conn.execute(
                    text(
                        "SELECT s.binning, s.hpx, s.bin_id, s.t_start, s.t_stop, s.exposure, "
                        "s.rate_sigma, s.nscw FROM isla_ops.sensitivity s JOIN "
                        "isla.energy_bands e USING (band_id) WHERE e.instrument = 'ISGRI' "
                        "AND e.name = '20_35' ORDER BY 1, 2"
                    )
                )
            ]

    deliver([("sens_a.fits", table([0, 1]))], options)
    deliver([("sens_b.fits", table([2, 3]))], options)
    appended = stored()
    by_key = {(r[0], r[1]): r for r in appended}
    assert by_key[("scw", 7)][2] == [int(w) for w, _ in windows]
    assert by_key[("scw", 8)][2] == [int(windows[0][0]), int(windows[3][0])]
    assert by_key[("revolution", 7)][2] == sorted({rev for _, rev in windows})
    assert by_key[("revolution", 7)][7] == [2, 2]
    assert len(by_key[("revolution", 7)][2]) == 2  # the ScWs span two revolutions
    # All four ScWs again in one table: it overlaps what is stored, so it is merged.
    deliver([("sens_all.fits", table([0, 1, 2, 3]))], options)
    assert stored() == appended
