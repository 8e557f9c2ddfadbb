"""The ingest service's settings, fixed when the service starts (held on ``app.state``)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass

from fastapi import FastAPI, Request

from shared.jobs import conninfo
from shared.service import ServiceUnavailable
from shared.settings import IngestSettings, database_settings, storage_settings


@dataclass(frozen=True)
class IngestRuntime:
    """What the ingest endpoints need besides the shared service context."""

    conninfo: str
    max_bytes: int
    sync_max_bytes: int
    sync_max_merge: int
    spool_dir: str
    staging_bucket: str


def configure(app: FastAPI) -> None:
    """Start-up hook: read the settings once (a missing database surfaces through /ready)."""
    settings = IngestSettings()
    try:
        info = conninfo(database_settings())
    except RuntimeError:
        info = ""
    app.state.ingest = IngestRuntime(
        conninfo=info,
        max_bytes=settings.max_bytes,
        sync_max_bytes=settings.sync_max_bytes,
        sync_max_merge=settings.sync_max_merge,
        spool_dir=str(settings.spool_dir or tempfile.gettempdir()),
        staging_bucket=storage_settings().s3_products_bucket,
    )


def runtime(request: Request) -> IngestRuntime:
    """The service's ingest settings (503 when the database is not configured)."""
    state: IngestRuntime = request.app.state.ingest
    if not state.conninfo:
        raise ServiceUnavailable("the database is not configured")
    return state
