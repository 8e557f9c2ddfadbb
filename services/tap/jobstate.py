"""The state of TAP async jobs: rows of ``isla_ops.uws_jobs`` and objects in the jobs bucket.

Shared by the HTTP side (:mod:`services.tap.uws`) and the worker (:mod:`services.tap.tasks`).
Every phase change is a conditional UPDATE (``WHERE phase IN (...)``), so that the service and
the worker never overwrite each other: an ABORT that lands while the worker finishes wins, and
the worker then discards its result.

Objects of job ``<id>`` live under ``jobs/<id>/`` in ``StorageSettings.s3_jobs_bucket``: the
result (``result.<ext>``) and inline uploads (``upload/<name>.vot``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import secrets
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Table, delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.db.uws import ANONYMOUS, UwsJob
from shared.jobs import defer_in_transaction
from shared.storage import ObjectStore

log = logging.getLogger("isla.tap.uws")

JOBS: Table = UwsJob.__table__  # type: ignore[assignment]
ACTIVE = ("PENDING", "QUEUED", "EXECUTING", "HELD", "SUSPENDED")
"""Phases from which a job can still be aborted."""

RUN_TASK = "tap.run_job"
"""Name of the procrastinate task that runs a job (services.tap.tasks)."""

QUEUE = "tap"
"""procrastinate queue of TAP jobs."""


def new_job_id() -> str:
    """An unguessable job identifier (128 random bits, hex: safe in URLs and object keys)."""
    return secrets.token_hex(16)


def job_prefix(job_id: str) -> str:
    """Object-key prefix of everything a job stored."""
    return f"jobs/{job_id}/"


def result_key(job_id: str, extension: str) -> str:
    """Object key of a job's result."""
    return f"{job_prefix(job_id)}result.{extension}"


def upload_key(job_id: str, name: str) -> str:
    """Object key of an inline upload of a job."""
    return f"{job_prefix(job_id)}upload/{name}.vot"


def application_name(job_id: str) -> str:
    """The Postgres application_name of the transaction running a job's query.

    It identifies the backend to cancel on ABORT (with ``backend_pid``): a pid alone could
    have been reused by another session since it was recorded.
    """
    return f"isla-uws-{job_id}"


def now() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


async def get(conn: AsyncConnection, job_id: str) -> UwsJob | None:
    """The job row (detached ORM object) or None."""
    row = (await conn.execute(select(JOBS).where(JOBS.c.job_id == job_id))).mappings().first()
    return _job(row) if row is not None else None


def _job(row: Any) -> UwsJob:
    job = UwsJob()
    for key, value in row.items():
        setattr(job, key, value)
    return job


async def create(
    conn: AsyncConnection,
    *,
    parameters: Mapping[str, str],
    run_id: str | None,
    execution_duration: int,
    destruction: dt.datetime,
    uploads: Sequence[Mapping[str, Any]] = (),
    job_id: str | None = None,
) -> str:
    """Insert a PENDING job; return its id."""
    job_id = job_id or new_job_id()
    await conn.execute(
        JOBS.insert().values(
            job_id=job_id,
            run_id=run_id,
            owner=ANONYMOUS,
            phase="PENDING",
            parameters=dict(parameters),
            uploads=list(uploads),
            execution_duration=execution_duration,
            destruction=destruction,
        )
    )
    return job_id


async def list_jobs(
    conn: AsyncConnection,
    *,
    phases: Iterable[str] = (),
    after: dt.datetime | None = None,
    last: int | None = None,
    limit: int,
) -> list[UwsJob]:
    """Jobs newest first (UWS 1.1 §2.2.2.1): ARCHIVED ones only when asked for by PHASE."""
    query = select(JOBS).where(JOBS.c.destruction > now())
    wanted = list(phases)
    if wanted:
        query = query.where(JOBS.c.phase.in_(wanted))
    else:
        query = query.where(JOBS.c.phase != "ARCHIVED")
    if after is not None:
        # Documents show times to the millisecond: compare at that precision, so that a
        # job's own creationTime as AFTER excludes it.
        query = query.where(func.date_trunc("milliseconds", JOBS.c.creation_time) > after)
    count = min(last, limit) if last is not None else limit
    query = query.order_by(JOBS.c.creation_time.desc(), JOBS.c.job_id).limit(count)
    return [_job(row) for row in (await conn.execute(query)).mappings()]


async def set_fields(
    conn: AsyncConnection, job_id: str, phases: Iterable[str], **values: Any
) -> bool:
    """Update a job when it is in one of ``phases``; True when it was."""
    result = await conn.execute(
        update(JOBS).where(JOBS.c.job_id == job_id, JOBS.c.phase.in_(list(phases))).values(**values)
    )
    return bool(result.rowcount)


async def queue_run(conn: AsyncConnection, job_id: str) -> bool:
    """PENDING → QUEUED and a queue job for the worker, in the caller's transaction.

    False when the job was not PENDING (RUN on a running or finished job changes nothing).
    """
    if not await set_fields(conn, job_id, ("PENDING",), phase="QUEUED"):
        return False
    await defer(conn, job_id)
    return True


async def defer(conn: AsyncConnection, job_id: str) -> int:
    """Add the procrastinate job that runs ``job_id``, on this connection and transaction.

    Deferring in the same transaction as the phase change means a job is never QUEUED
    without a queue entry, nor queued twice: both happen, or neither.
    """
    from services.tap.tasks import run_job  # the task module imports this one

    queue_id = await defer_in_transaction(conn, run_job, lock=job_id, queue=QUEUE, job_id=job_id)
    await set_fields(conn, job_id, ACTIVE, queue_job_id=queue_id)
    return queue_id


async def cancel_backend(conn: AsyncConnection, job: UwsJob) -> bool:
    """Cancel the query of an EXECUTING job in Postgres (``pg_cancel_backend``)."""
    cancelled = await conn.execute(
        text(
            "SELECT pg_cancel_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = :app AND pid = coalesce(:pid, pid)"
        ),
        {"app": application_name(job.job_id), "pid": job.backend_pid},
    )
    return any(bool(v) for v in cancelled.scalars())


async def abort(conn: AsyncConnection, job_id: str) -> bool:
    """Move an active job to ABORTED and stop its query; False when it had already ended."""
    job = await get(conn, job_id)
    if job is None:
        return False
    if not await set_fields(conn, job_id, ACTIVE, phase="ABORTED", end_time=now()):
        return False
    if job.phase == "EXECUTING":
        await cancel_backend(conn, job)
    return True


def delete_objects(store: ObjectStore, bucket: str, job_id: str) -> int:
    """Delete everything a job stored (result, uploads); return how many objects."""
    return store.delete_prefix(bucket, job_prefix(job_id))


async def destroy(engine: AsyncEngine, store: ObjectStore, bucket: str, job_id: str) -> bool:
    """Delete a job: stop its query, delete its row and its objects. False when unknown."""
    async with engine.begin() as conn:
        job = await get(conn, job_id)
        if job is None:
            return False
        if job.phase == "EXECUTING":
            await cancel_backend(conn, job)
        await conn.execute(delete(JOBS).where(JOBS.c.job_id == job_id))
    # After the commit: a worker that finishes now finds no row and deletes its own result.
    await asyncio.to_thread(delete_objects, store, bucket, job_id)
    return True


async def destroy_expired(engine: AsyncEngine, store: ObjectStore, bucket: str) -> int:
    """Destroy every job whose destruction time has passed; return how many."""
    async with engine.connect() as conn:
        expired = (
            await conn.execute(select(JOBS.c.job_id).where(JOBS.c.destruction <= now()))
        ).scalars()
        ids = list(expired)
    count = 0
    for job_id in ids:
        try:
            count += await destroy(engine, store, bucket, job_id)
        except Exception:  # one broken job must not stop the sweep
            log.exception("destroying expired job %s failed", job_id)
    return count
