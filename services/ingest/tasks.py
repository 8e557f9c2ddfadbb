"""Queue tasks of the ingest service: large catalogue loads and merges, run by ``isla worker``.

The uploaded file waits in the object store (products bucket, under :data:`STAGING_PREFIX`)
until its job has ended; a worker killed in the middle of a load leaves no rows (the load is
one transaction) and the staged file, so the retried job (see :mod:`shared.jobs.queue`) loads it
again from the start.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

from services.ingest import jobs
from shared.jobs.queue import app, conninfo
from shared.settings import database_settings, storage_settings
from shared.storage import ObjectStore

log = logging.getLogger("isla.ingest.tasks")

QUEUE = jobs.QUEUE
STAGING_PREFIX = "_ingest-staging/"
"""Key prefix of uploads waiting for their job (never a product key: those start 'products/')."""


def staging_key(job_id: int) -> str:
    """Object key of job ``job_id``'s uploaded file."""
    return f"{STAGING_PREFIX}{job_id}/upload"


@app.task(name="isla.ingest.catalogue", queue=QUEUE)
def ingest_catalogue(job_id: int) -> dict[str, Any]:
    """Load the catalogue staged for ``job_id``."""
    info = conninfo(database_settings())
    settings = storage_settings()
    store = ObjectStore.from_settings(settings)
    bucket = settings.s3_products_bucket
    with tempfile.TemporaryDirectory(prefix="isla-ingest-") as tmp:
        path = Path(tmp) / "upload"
        with path.open("wb") as out:
            for block in store.iter_object(bucket, staging_key(job_id)):
                out.write(block)
        final = jobs.run_catalogue_job(info, job_id, path)
    store.delete(bucket, staging_key(job_id))
    return {"status": final["status"]}


@app.task(name="isla.ingest.merge", queue=QUEUE)
def ingest_merge(job_id: int) -> dict[str, Any]:
    """Merge the current catalogues into the source list, for ``job_id``."""
    final = jobs.run_merge_job(conninfo(database_settings()), job_id)
    return {"status": final["status"]}


@app.task(name="isla.ingest.raw_index", queue=QUEUE)
def raw_index(job_id: int) -> dict[str, Any]:
    """Index the raw bucket for ``job_id`` (resumes the run an earlier attempt left)."""
    from services.ingest.raw_index import jobs as raw_jobs

    final = raw_jobs.run(conninfo(database_settings()), job_id, raw_jobs.index_work)
    return {"status": final["status"]}


@app.task(name="isla.ingest.raw_verify", queue=QUEUE)
def raw_verify(job_id: int) -> dict[str, Any]:
    """Verify raw files for ``job_id``."""
    from services.ingest.raw_index import jobs as raw_jobs

    final = raw_jobs.run(conninfo(database_settings()), job_id, raw_jobs.verify_work)
    return {"status": final["status"]}


@app.task(name="isla.ingest.scw_index", queue=QUEUE)
def scw_index(job_id: int) -> dict[str, Any]:
    """Load the ScW index staged for ``job_id``."""
    from services.ingest.raw_index import jobs as raw_jobs

    final = raw_jobs.run(conninfo(database_settings()), job_id, raw_jobs.scw_index_work)
    return {"status": final["status"]}


@app.task(name="isla.ingest.revolution_table", queue=QUEUE)
def revolution_table(job_id: int) -> dict[str, Any]:
    """Load the revolution table staged for ``job_id``."""
    from services.ingest.raw_index import jobs as raw_jobs

    final = raw_jobs.run(conninfo(database_settings()), job_id, raw_jobs.revolution_table_work)
    return {"status": final["status"]}
