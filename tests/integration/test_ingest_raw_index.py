"""The raw-data indexer on the real stack: a killed run resumed, deleted ScWs re-registered.

The demo archive's raw bucket (written by the ``archive`` fixture) is only read; the index is
written into a database of this module, and compared with the demo database.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine, text

from services.ingest.raw_index import index_raw
from shared import settings as cfg
from shared.db.engine import make_sync_engine
from shared.storage import ObjectStore
from tests.conftest import ACCESS_KEY, SECRET_KEY, Archive, StackInfo

pytestmark = pytest.mark.integration

SCW_COLUMNS = (
    "scw_id, version, revolution, obsid, scw_type, start_time, end_time, start_ijd, end_ijd, "
    "ra, dec, posangle, fov_isgri::text AS fov_isgri, fov_jemx::text AS fov_jemx, "
    "fov_spi::text AS fov_spi, raw_files, raw_size"
)


@dataclass
class Index:
    """The module's database (indexed from the demo raw bucket) and the demo database."""

    url: str
    engine: Engine
    demo: Engine
    store: ObjectStore
    env: dict[str, str]


@pytest.fixture(scope="module")
def index(stack: StackInfo, archive: Archive) -> Iterator[Index]:
    url = stack.new_database("isla_raw_index")
    engine = make_sync_engine(cfg.DatabaseSettings(database_url=url))
    demo = make_sync_engine(cfg.DatabaseSettings(database_url=archive.database_url))
    store = ObjectStore.from_settings(archive.storage_settings)
    env = {
        **os.environ,
        "ISLA_DATABASE_URL": url,
        "ISLA_S3_ENDPOINT": stack.s3_endpoint,
        "ISLA_S3_ACCESS_KEY": ACCESS_KEY,
        "ISLA_S3_SECRET_KEY": SECRET_KEY,
        "ISLA_S3_RAW_BUCKET": archive.storage_settings.s3_raw_bucket,
        "ISLA_S3_PRODUCTS_BUCKET": archive.storage_settings.s3_products_bucket,
    }
    try:
        yield Index(url, engine, demo, store, env)
    finally:
        engine.dispose()
        demo.dispose()


def _rows(engine: Engine, where: str = "TRUE") -> list[dict[str, object]]:
    with engine.connect() as conn:
        return [
            dict(r)
            for r in conn.execute(
                text(
                    f"SELECT {SCW_COLUMNS} FROM isla.science_windows "
                    f"WHERE {where} ORDER BY scw_id, version"
                )
            ).mappings()
        ]


def _same(indexed: list[dict[str, object]], truth: list[dict[str, object]]) -> bool:
    """Rows equal, UTC times within 2 µs (they are rebuilt from the IJD in the group file,
    whose double precision is ~40 ns; the generator rounded from its own time scale)."""
    if len(indexed) != len(truth):
        return False
    for a, b in zip(indexed, truth, strict=True):
        for key, value in a.items():
            other = b[key]
            if isinstance(value, dt.datetime) and isinstance(other, dt.datetime):
                if abs((value - other).total_seconds()) > 2e-6:
                    return False
            elif value != other:
                return False
    return True


def _files(engine: Engine, where: str = "TRUE") -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                text(
                    "SELECT scw_id, version, name, object_key, size, sha256, content_type "
                    f"FROM isla.scw_files WHERE {where} ORDER BY 1, 2, 3"
                )
            )
        ]


def _scalar(engine: Engine, sql: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(sql)).scalar() or 0)


def test_killed_run_is_resumed_without_duplicates(index: Index) -> None:
    cmd = [sys.executable, "-m", "deploy.cli", "ingest", "raw-index"]
    proc = subprocess.Popen(cmd, env=index.env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    killed = False
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline:
        done = (
            _scalar(
                index.engine,
                "SELECT coalesce(max(revolutions_done), 0) FROM isla_ops.raw_index_runs "
                "WHERE status = 'running'",
            )
            if _table_ready(index.engine)
            else 0
        )
        if done >= 3:
            proc.send_signal(signal.SIGKILL)
            killed = True
            break
        time.sleep(0.05)
    proc.wait(timeout=60)
    assert killed, "the indexer finished before it could be killed"
    with index.engine.connect() as conn:
        run = conn.execute(text("SELECT * FROM isla_ops.raw_index_runs")).mappings().one()
    assert run["status"] == "running" and 3 <= run["revolutions_done"] < run["revolutions_total"]
    partial = _scalar(index.engine, "SELECT count(*) FROM isla.science_windows")
    assert 0 < partial < _scalar(index.demo, "SELECT count(*) FROM isla.science_windows")

    again = subprocess.run(cmd, env=index.env, capture_output=True, timeout=600)
    assert again.returncode == 0, again.stderr.decode()[-2000:]
    report = json.loads(again.stdout)
    assert report["resumed"] and report["run_id"] == run["run_id"]
    assert report["revolutions_skipped"] >= run["revolutions_done"]
    assert _same(_rows(index.engine), _rows(index.demo))
    assert _files(index.engine) == _files(index.demo)
    demo_obs = {r[0] for r in _obs(index.demo)}
    assert {r[0] for r in _obs(index.engine)} == demo_obs
    dupes = _scalar(
        index.engine,
        "SELECT count(*) FROM (SELECT scw_id FROM isla.science_windows "
        "GROUP BY scw_id, version HAVING count(*) > 1) d",
    )
    assert dupes == 0


def _table_ready(engine: Engine) -> bool:
    return bool(_scalar(engine, "SELECT count(*) FROM isla_ops.raw_index_runs"))


def _obs(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text("SELECT obsid FROM isla.observations"))]


def test_deleted_scws_of_a_revolution_are_registered_again(index: Index) -> None:
    where = "revolution = 745"
    truth, truth_files = _rows(index.demo, where), _files(index.demo, "scw_id LIKE '0745%'")
    assert truth, "the demo archive holds revolution 745"
    with index.engine.begin() as conn:
        if not _scalar(index.engine, "SELECT count(*) FROM isla.science_windows"):
            pytest.skip("needs the index of the previous test")
        conn.execute(
            text(
                "DELETE FROM isla.science_windows WHERE scw_id IN (SELECT scw_id FROM "
                "isla.science_windows WHERE revolution = 745 ORDER BY scw_id LIMIT 5)"
            )
        )
    assert len(_rows(index.engine, where)) == len(truth) - 5
    report = index_raw(index.engine, index.store, 745)
    assert report.scws == len(truth) and not report.problems
    assert _same(_rows(index.engine, where), truth)
    assert _files(index.engine, "scw_id LIKE '0745%'") == truth_files
    # Running it again changes nothing.
    index_raw(index.engine, index.store, 745)
    assert _same(_rows(index.engine, where), truth)


def test_raw_index_route_needs_an_allowed_role(archive: Archive) -> None:
    import httpx

    anonymous = httpx.post(f"{archive.base_url}/ingest/raw-index", timeout=30)
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"].startswith("application/problem+json")
