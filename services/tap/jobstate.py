"""The state of TAP async jobs: rows of ``isla_ops.uws_jobs`` and objects in the jobs bucket.

Shared by the HTTP side (:mod:`services.tap.uws`) and the worker (:mod:`services.tap.tasks`),
both through :data:`STORE`, the archive's job store (:mod:`shared.jobs.store`) for the UWS
table: every phase change is a compare-and-set allowed by
:data:`shared.db.uws.TRANSITIONS`, so that the service and the worker never overwrite each
other: an ABORT that lands while the worker finishes wins, and the worker then discards its
result. This module names the worker's task by name only (it never imports the task module).

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

from sqlalchemy import Table, column, func, select, table, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.db.uws import ANONYMOUS, TRANSITIONS, UwsJob
from shared.jobs.store import JobKind, JobStore
from shared.storage import ObjectStore
from shared.vo.errors import VOError

log = logging.getLogger("isla.tap.uws")

JOBS: Table = UwsJob.__table__  # type: ignore[assignment]
ACTIVITY = table("pg_stat_activity", column("pid"), column("application_name"))
"""Postgres' sessions, as far as ABORT needs them (which backend runs a job's query)."""
ACTIVE = ("PENDING", "QUEUED", "EXECUTING", "HELD", "SUSPENDED")
"""Phases from which a job can still be aborted."""

RUN_TASK = "tap.run_job"
"""Name of the procrastinate task that runs a job (services.tap.tasks)."""

QUEUE = "tap"
"""procrastinate queue of TAP jobs."""

STORE = JobStore(
    JobKind(
        table=JOBS,
        key="job_id",
        phase="phase",
        transitions=TRANSITIONS,
        waiting=frozenset({"QUEUED", "EXECUTING"}),
        queue=QUEUE,
    )
)
"""The job store of UWS jobs: the only writer of ``isla_ops.uws_jobs``."""


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
    row = await STORE.get(conn, job_id)
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
    owner: str = ANONYMOUS,
) -> str:
    """Insert a PENDING job of ``owner`` (a user name, or anonymous); return its id."""
    created: str = await STORE.create(
        conn,
        job_id=job_id or new_job_id(),
        run_id=run_id,
        owner=owner,
        phase="PENDING",
        parameters=dict(parameters),
        uploads=list(uploads),
        execution_duration=execution_duration,
        destruction=destruction,
    )
    return created


async def list_jobs(
    conn: AsyncConnection,
    *,
    owner: str,
    phases: Iterable[str] = (),
    after: dt.datetime | None = None,
    last: int | None = None,
    limit: int,
) -> list[UwsJob]:
    """Jobs of ``owner`` newest first (UWS 1.1 §2.2.2.1): ARCHIVED ones only when asked for."""
    query = select(JOBS).where(JOBS.c.owner == owner, JOBS.c.destruction > now())
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


async def queue_run(conn: AsyncConnection, job_id: str) -> bool:
    """PENDING → QUEUED and a queue job for the worker, in the caller's transaction.

    False when the job was not PENDING (RUN on a running or finished job changes nothing).
    """
    if not await STORE.move(conn, job_id, "QUEUED", only=("PENDING",)):
        return False
    await STORE.enqueue(conn, job_id, RUN_TASK, job_id=job_id)
    return True


async def refuse(conn: AsyncConnection, job_id: str, error: VOError) -> bool:
    """PENDING → ERROR at once: the job's parameters can never run (as /sync would say)."""
    moment = now()
    return await STORE.move(
        conn,
        job_id,
        "ERROR",
        only=("PENDING",),
        start_time=moment,
        end_time=moment,
        **error_fields(error),
    )


def error_fields(error: VOError) -> dict[str, str]:
    """The row's error columns for ``error``: the message with its code, the UWS type."""
    return {"error_message": error.text, "error_type": error.uws_type.value}


async def start(conn: AsyncConnection, job_id: str) -> bool:
    """QUEUED (or EXECUTING, left by a worker that died) → EXECUTING; False when neither."""
    return await STORE.move(
        conn,
        job_id,
        "EXECUTING",
        only=("QUEUED", "EXECUTING"),
        start_time=now(),
        backend_pid=None,
    )


async def complete(conn: AsyncConnection, job_id: str, **result: Any) -> bool:
    """EXECUTING → COMPLETED with the result's columns; False when aborted or deleted."""
    return await STORE.move(
        conn,
        job_id,
        "COMPLETED",
        only=("EXECUTING",),
        end_time=now(),
        backend_pid=None,
        **result,
    )


async def fail(conn: AsyncConnection, job_id: str, error: VOError) -> bool:
    """EXECUTING → ERROR with ``error``; False when aborted or deleted meanwhile."""
    return await STORE.move(
        conn,
        job_id,
        "ERROR",
        only=("EXECUTING",),
        end_time=now(),
        backend_pid=None,
        **error_fields(error),
    )


async def change(conn: AsyncConnection, job_id: str, phases: Iterable[str], **values: Any) -> bool:
    """Change a job's other fields while it is in one of ``phases``; True when it was."""
    return await STORE.change(conn, job_id, phases, **values)


async def watch(
    conn: AsyncConnection, job_id: str, record_pid: bool
) -> tuple[str | None, int | None]:
    """The job's phase (None: deleted) and its query's backend pid.

    ``record_pid``: first look up the backend running the job's query (by its
    application_name) and record its pid on the row, for ABORT.
    """
    if record_pid:
        backend = (
            select(ACTIVITY.c.pid)
            .where(ACTIVITY.c.application_name == application_name(job_id))
            .limit(1)
            .scalar_subquery()
        )
        query = (
            update(JOBS)
            .where(JOBS.c.job_id == job_id)
            .values(backend_pid=backend)
            .returning(JOBS.c.phase, JOBS.c.backend_pid)
        )
        row = (await conn.execute(query)).first()
    else:
        look = select(JOBS.c.phase, JOBS.c.backend_pid).where(JOBS.c.job_id == job_id)
        row = (await conn.execute(look)).first()
    if row is None:
        return None, None
    return str(row[0]), row[1]


async def requeue_lost(conn: AsyncConnection) -> list[str]:
    """Queue again the QUEUED/EXECUTING jobs whose queue entry is gone; return their ids."""
    lost = await STORE.lost(conn)
    for job_id in lost:
        log.warning("TAP job %s lost its queue entry: queueing it again", job_id)
        await STORE.move(conn, job_id, "QUEUED", only=("QUEUED", "EXECUTING"), start_time=None)
        await STORE.enqueue(conn, job_id, RUN_TASK, job_id=job_id)
    return [str(j) for j in lost]


async def cancel_backend(conn: AsyncConnection, job: UwsJob) -> bool:
    """Cancel the query of an EXECUTING job in Postgres (``pg_cancel_backend``)."""
    query = select(func.pg_cancel_backend(ACTIVITY.c.pid)).where(
        ACTIVITY.c.application_name == application_name(job.job_id)
    )
    if job.backend_pid is not None:
        query = query.where(ACTIVITY.c.pid == job.backend_pid)
    cancelled = await conn.execute(query)
    return any(bool(v) for v in cancelled.scalars())


async def abort(conn: AsyncConnection, job_id: str) -> bool:
    """Move an active job to ABORTED and stop its query; False when it had already ended."""
    job = await get(conn, job_id)
    if job is None:
        return False
    if not await STORE.move(conn, job_id, "ABORTED", only=ACTIVE, end_time=now()):
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
        await STORE.delete(conn, job_id)
    # After the commit: a worker that finishes now finds no row and deletes its own result.
    await asyncio.to_thread(delete_objects, store, bucket, job_id)
    return True


async def destroy_expired(engine: AsyncEngine, store: ObjectStore, bucket: str) -> int:
    """Destroy every job whose destruction time has passed; return how many."""
    async with engine.connect() as conn:
        ids = await STORE.expired(conn, "destruction", now())
    count = 0
    for job_id in ids:
        try:
            count += await destroy(engine, store, bucket, job_id)
        except Exception:  # one broken job must not stop the sweep
            log.exception("destroying expired job %s failed", job_id)
    return count
