"""Shared fixtures: a real embedded stack (Postgres + pgSphere, SeaweedFS S3) for the session.

The stack is started once per test session in a temporary folder with the same code the
launcher uses, so tests exercise the real runtime. ``archive`` is a migrated database holding
the demo archive, served by the real gateway under uvicorn on a free loopback port.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import pyvo
import uvicorn
from sqlalchemy import create_engine, text

from deploy.ports import free_port
from deploy.postgres import EmbeddedPostgres
from deploy.seaweed import SeaweedS3
from shared import settings as cfg
from shared.db import migrate
from shared.settings import StorageSettings

ACCESS_KEY = "isla-test"
SECRET_KEY = "isla-test-secret"

# Services and workers refuse the published development secret outside development mode:
# every process a test starts from this environment carries the test server's keys instead.
os.environ.setdefault("ISLA_S3_ACCESS_KEY", ACCESS_KEY)
os.environ.setdefault("ISLA_S3_SECRET_KEY", SECRET_KEY)


@dataclass
class StackInfo:
    """The session's servers and a migrated, empty database for tests that fill their own."""

    pg: EmbeddedPostgres
    s3_endpoint: str
    home: Path
    database_url: str
    storage_settings: StorageSettings

    def new_database(self, name: str, migrated: bool = True) -> str:
        """Create (or recreate) database ``name`` in the session cluster; return its URL."""
        with psycopg.connect(self.pg.admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        url = self.pg.database_url(name)
        if migrated:
            migrate.upgrade(url)
        return url

    def storage(self, raw_bucket: str, products_bucket: str) -> StorageSettings:
        """Settings for this S3 server with the given buckets (tests keep theirs apart)."""
        return StorageSettings(
            s3_endpoint=self.s3_endpoint,
            s3_access_key=ACCESS_KEY,
            s3_secret_key=SECRET_KEY,
            s3_raw_bucket=raw_bucket,
            s3_products_bucket=products_bucket,
        )


@pytest.fixture(scope="session")
def stack() -> Iterator[StackInfo]:
    """Start a private Postgres and SeaweedFS for the whole session."""
    # Not pytest's tmp_path: its root is private to the user, and when tests run as root the
    # cluster runs as the unprivileged postgres account, which must reach the folder.
    home = Path(tempfile.mkdtemp(prefix="isla-test-"))
    home.chmod(0o755)
    pg = EmbeddedPostgres(home)
    pg.start(timeout=60)
    weed = SeaweedS3(home / "s3", ACCESS_KEY, SECRET_KEY)
    try:
        endpoint = weed.start(timeout=90)
        probe = StackInfo(pg, endpoint, home, "", StorageSettings())
        url = probe.new_database("isla_empty")
        yield StackInfo(pg, endpoint, home, url, probe.storage("gen-raw", "gen-products"))
    finally:
        weed.stop()
        pg.stop()
        shutil.rmtree(home, ignore_errors=True)


@dataclass
class Archive:
    """The demo archive in its own database, served over real HTTP."""

    database_url: str
    storage_settings: StorageSettings
    base_url: str

    def rows(self, sql: str, **binds: Any) -> list[Any]:
        """Rows of ``sql`` run directly on the demo database (to check what a service says)."""
        engine = create_engine(self.database_url)
        try:
            with engine.connect() as conn:
                return list(conn.execute(text(sql), binds).all())
        finally:
            engine.dispose()

    def scalar(self, sql: str, **binds: Any) -> int:
        """The single integer ``sql`` returns (counts)."""
        return int(self.rows(sql, **binds)[0][0])


def _serve(app: str, port: int) -> tuple[uvicorn.Server, threading.Thread]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    # Importing every service takes seconds, many more on a loaded machine.
    deadline = time.monotonic() + 120
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.05)
    return server, thread


@pytest.fixture(scope="session")
def archive(stack: StackInfo) -> Iterator[Archive]:
    """The demo archive generated once, with the gateway serving it on a free port."""
    from deploy.demo import load_demo
    from shared.db.engine import make_sync_engine
    from shared.storage import ObjectStore

    url = stack.new_database("isla_demo")
    storage = stack.storage("isla-raw", "isla-products")
    store = ObjectStore.from_settings(storage)
    store.ensure_buckets(storage.s3_jobs_bucket)
    engine = make_sync_engine(cfg.DatabaseSettings(database_url=url))
    load_demo(engine, store, scale="demo")
    from services.ingest.products import ingest_reference_products

    ingest_reference_products(engine, store)
    from services.ingest.timeseries import load_timeseries

    load_timeseries(engine, store)
    engine.dispose()
    port = free_port()
    env = {
        "ISLA_DATABASE_URL": url,
        "ISLA_S3_ENDPOINT": stack.s3_endpoint,
        "ISLA_S3_ACCESS_KEY": ACCESS_KEY,
        "ISLA_S3_SECRET_KEY": SECRET_KEY,
        "ISLA_S3_RAW_BUCKET": "isla-raw",
        "ISLA_S3_PRODUCTS_BUCKET": "isla-products",
        "ISLA_BASE_URL": f"http://127.0.0.1:{port}",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    cfg.clear_caches()
    server, thread = _serve("deploy.gateway:app", port)
    # TAP async jobs (and ingestion jobs) run in a queue worker, as under `isla up`.
    worker = subprocess.Popen(
        [sys.executable, "-m", "deploy.cli", "worker", "--log-level", "warning"],
        env=dict(os.environ),
    )
    try:
        yield Archive(url, storage, f"http://127.0.0.1:{port}")
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        server.should_exit = True
        thread.join(timeout=10)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        cfg.clear_caches()


@pytest.fixture
def client(archive: Archive) -> Iterator[httpx.Client]:
    """An HTTP client on the served archive."""
    with httpx.Client(base_url=archive.base_url, timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
def tap_url(archive: Archive) -> str:
    """The demo archive's TAP service."""
    return f"{archive.base_url}/tap"


@pytest.fixture(scope="module")
def tap(tap_url: str) -> pyvo.dal.TAPService:
    """pyvo's client of the demo archive's TAP service."""
    return pyvo.dal.TAPService(tap_url)


@pytest.fixture(scope="module")
def http(tap_url: str) -> Iterator[httpx.Client]:
    """A plain HTTP client rooted at the TAP service."""
    with httpx.Client(base_url=tap_url, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def isla(archive: Archive) -> Iterator[Any]:
    """astroquery's ESA INTEGRAL client with its conf URLs on this archive (and only that
    changed), for the tests that use it as astronomers do."""
    from astroquery.esa.integral import IntegralClass, conf

    base = archive.base_url
    with (
        conf.set_temp("ISLA_TAP_SERVER", f"{base}/tap"),
        conf.set_temp("ISLA_DATA_SERVER", f"{base}/data?"),
        conf.set_temp("ISLA_SERVLET", f"{base}/tap/sync/?PHASE=RUN"),
        conf.set_temp(
            "ISLA_TARGET_RESOLVER",
            f"{base}/servlet/target-resolver?TARGET_NAME={{}}&RESOLVER_TYPE={{}}&FORMAT=json",
        ),
    ):
        yield IntegralClass()
