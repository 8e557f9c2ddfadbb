"""Raw-index, verification and ScW-index work as ingestion jobs (``isla_ops.ingest_jobs``).

Indexing the raw bucket and verifying it take minutes to days: they never run inside a
request. A route or the command line queues a job (:func:`submit`, creation and queueing in
one transaction); an ``isla worker`` runs it (:mod:`services.ingest.tasks`), writing its
progress on the job row as it goes and its report (with every per-object problem) at the end.
Running a job again is safe: the indexer resumes its run, a verification continues with the
files checked longest ago, a ScW index is upserted.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncConnection

from services.ingest import jobs
from services.ingest.auth import Principal
from services.ingest.raw_index.indexer import index_raw
from services.ingest.raw_index.scw_index import (
    ScwIndexDelivery,
    load_revolution_table,
    load_scw_index,
)
from services.ingest.raw_index.verify import verify_raw
from shared.jobs.store import classify
from shared.settings import storage_settings
from shared.storage import ObjectStore

TASKS = {
    "raw-index": "isla.ingest.raw_index",
    "raw-verify": "isla.ingest.raw_verify",
    "scw-index": "isla.ingest.scw_index",
    "revolution-table": "isla.ingest.revolution_table",
}
"""Queue task of each job kind (deferred by name: this module does not import the tasks)."""

STAGING_PREFIX = "_ingest-staging/raw-tables/"
"""Where a delivered ScW index or revolution table waits for its job (products bucket)."""

Work = Callable[[Engine, ObjectStore, dict[str, Any], jobs.ProgressWriter], dict[str, Any]]


def staging_key(job_id: int) -> str:
    """Object key of the table staged for ``job_id``."""
    return f"{STAGING_PREFIX}{job_id}/upload"


async def submit(
    conn: AsyncConnection,
    kind: str,
    target: str,
    params: dict[str, Any],
    principal: Principal | None,
) -> int:
    """Create a queued job of ``kind`` and its queue entry in the caller's transaction."""
    job_id: int = await jobs.STORE.create(
        conn,
        kind=kind,
        team=principal.team if principal else "operator",
        token_id=principal.token_id if principal else None,
        target=target,
        status="queued",
        params=jobs._json(
            {**params, "principal": dataclasses.asdict(principal) if principal else None}
        ),
    )
    await jobs.STORE.enqueue(conn, job_id, TASKS[kind], job_id=job_id)
    return job_id


def _store() -> ObjectStore:
    return ObjectStore.from_settings(storage_settings(), max_connections=64)


def run(conninfo: str, job_id: int, work: Work) -> dict[str, Any]:
    """Run job ``job_id`` with ``work``; returns the final job row."""
    job = jobs.load_job(conninfo, job_id)
    if job is None:
        raise LookupError(f"no ingestion job {job_id}")
    if job["status"] in ("done", "refused"):
        return job  # an earlier attempt finished it
    jobs.start(conninfo, job_id)
    progress = jobs.ProgressWriter(conninfo, job_id)
    try:
        params = {**job["params"], "job_id": job_id}
        report = work(jobs._engine(conninfo), _store(), params, progress)
    except Exception as exc:
        error = classify(exc, f"{job['kind']} job {job_id}", usage=(ValueError,))
        jobs.finish(
            conninfo,
            job,
            jobs.outcome(error),
            {"message": f"{jobs.outcome(error)}: {error.message}", "code": error.code},
        )
    else:
        jobs.finish(conninfo, job, "done", report)
    finally:
        progress.close()
    final = jobs.load_job(conninfo, job_id)
    assert final is not None
    return final


def index_work(
    engine: Engine, store: ObjectStore, params: dict[str, Any], progress: jobs.ProgressWriter
) -> dict[str, Any]:
    """The raw-index job: index the bucket (or one revolution)."""
    report = index_raw(
        engine,
        store,
        params.get("revolution"),
        progress,
        workers=int(params.get("workers", 8)),
        hash_files=bool(params.get("hash", True)),
        ic_only=bool(params.get("ic_only", False)),
    ).as_dict()
    report["message"] = (
        f"indexed {report['scws']} science windows, {report['ic_files']} "
        f"instrument-characteristics files; {len(report['problems'])} problems"
    )
    return report


def verify_work(
    engine: Engine, store: ObjectStore, params: dict[str, Any], progress: jobs.ProgressWriter
) -> dict[str, Any]:
    """The verification job: a sample or all files."""
    report = verify_raw(
        engine, store, params.get("sample"), progress, workers=int(params.get("workers", 8))
    ).as_dict()
    bad = len(report["corrupt"]) + len(report["missing"])
    report["message"] = f"checked {report['checked']} files; {bad} corrupt or missing"
    return report


def _staged(store: ObjectStore, job_id: int, directory: str) -> Path:
    path = Path(directory) / "upload"
    with path.open("wb") as out:
        for block in store.iter_object(storage_settings().s3_products_bucket, staging_key(job_id)):
            out.write(block)
    return path


def scw_index_work(
    engine: Engine, store: ObjectStore, params: dict[str, Any], progress: jobs.ProgressWriter
) -> dict[str, Any]:
    """The ScW-index job: load the staged table and apply it to the indexed ScWs."""
    job_id = int(params["job_id"])
    delivery = ScwIndexDelivery(**params["delivery"])
    with tempfile.TemporaryDirectory(prefix="isla-scw-index-") as tmp:
        path = _staged(store, job_id, tmp)
        progress(0.1, "staged ScW index read")
        report = load_scw_index(engine, path, delivery).as_dict()
    store.delete(storage_settings().s3_products_bucket, staging_key(job_id))
    report["message"] = f"{report['rows']} ScWs in the index, {report['applied']} applied"
    return report


def revolution_table_work(
    engine: Engine, store: ObjectStore, params: dict[str, Any], progress: jobs.ProgressWriter
) -> dict[str, Any]:
    """The revolution-table job: load the staged table into ``isla.revolutions``."""
    job_id = int(params["job_id"])
    with tempfile.TemporaryDirectory(prefix="isla-revolutions-") as tmp:
        path = _staged(store, job_id, tmp)
        progress(0.1, "staged revolution table read")
        report = load_revolution_table(engine, path, params.get("file_name")).as_dict()
    store.delete(storage_settings().s3_products_bucket, staging_key(job_id))
    report["message"] = f"{report['rows']} revolutions loaded"
    return report
