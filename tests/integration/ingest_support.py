"""Helpers of the ingest tests: an ingest service on a database of its own, tokens, counts.

The ingest tests change data, so each module serves a fresh ingest app (the real one, built
by :func:`services.ingest.app.create_app`) under uvicorn against its own database and
buckets, never the shared demo archive.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
import uvicorn
from sqlalchemy import create_engine

from deploy.ports import free_port
from services.ingest.app import create_app
from services.ingest.auth import create_token
from shared import settings as cfg
from shared.jobs import conninfo
from shared.settings import DatabaseSettings
from shared.storage import ObjectStore
from tests.conftest import ACCESS_KEY, SECRET_KEY, StackInfo

COUNTED = (
    "isla.catalogues",
    "isla.catalogue_entries",
    "isla.sources",
    "isla.source_aliases",
    "isla.source_fluxes",
)


@dataclass
class IngestServer:
    """An ingest service on its own database."""

    base_url: str
    database_url: str
    conninfo: str
    env: dict[str, str]

    def token(self, team: str, role: str) -> str:
        """A new token of ``team`` with ``role``."""
        engine = create_engine(self.database_url)
        try:
            with engine.begin() as conn:
                return create_token(conn, team, role).token
        finally:
            engine.dispose()

    def counts(self) -> dict[str, int]:
        """Row counts of the archive tables ingestion writes."""
        with psycopg.connect(self.conninfo) as conn:
            return {
                t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0])  # type: ignore[index]
                for t in COUNTED
            }

    def query(self, sql: str, *params: object) -> list[tuple[object, ...]]:
        """Rows of one SQL query on the server's database."""
        with psycopg.connect(self.conninfo) as conn:
            return list(conn.execute(sql, params).fetchall())

    def subprocess_env(self) -> dict[str, str]:
        """Environment for a worker or command-line process on this server's database."""
        env = dict(os.environ)
        env.update(self.env)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        return env


@contextmanager
def serve_ingest(stack: StackInfo, name: str, **extra_env: str) -> Iterator[IngestServer]:
    """Serve a fresh ingest app on database ``name`` (created and migrated) until exit."""
    url = stack.new_database(name)
    storage = stack.storage(f"{name}-raw".replace("_", "-"), f"{name}-prod".replace("_", "-"))
    ObjectStore.from_settings(storage).ensure_buckets()
    port = free_port()
    env = {
        "ISLA_DATABASE_URL": url,
        "ISLA_S3_ENDPOINT": stack.s3_endpoint,
        "ISLA_S3_ACCESS_KEY": ACCESS_KEY,
        "ISLA_S3_SECRET_KEY": SECRET_KEY,
        "ISLA_S3_RAW_BUCKET": storage.s3_raw_bucket,
        "ISLA_S3_PRODUCTS_BUCKET": storage.s3_products_bucket,
        "ISLA_BASE_URL": f"http://127.0.0.1:{port}",
        **extra_env,
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    cfg.clear_caches()
    server = uvicorn.Server(
        uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    try:
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("ingest test server did not start")
            time.sleep(0.05)
    finally:
        # The app has read its settings at start-up; the rest of the session keeps its own.
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        cfg.clear_caches()
    try:
        yield IngestServer(
            f"http://127.0.0.1:{port}", url, conninfo(DatabaseSettings(database_url=url)), env
        )
    finally:
        server.should_exit = True
        thread.join(timeout=10)
