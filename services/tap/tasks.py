"""Queue tasks of the TAP service: run async jobs, requeue lost ones, destroy expired ones.

``run_job`` executes one UWS job in an ``isla worker`` process with the pipeline of the sync
endpoint (ADQL checks and translation, the read-only reader role, a statement timeout) and
writes the result, in the requested format and with the same writers, to the jobs bucket.
The job row decides what happens: the task does nothing for a job that is no longer QUEUED
or EXECUTING (aborted, deleted, or finished by an earlier attempt), so running it twice is
harmless, which is what restart survival needs (see :mod:`shared.jobs`).

While the query runs, the task watches the row every :data:`WATCH_INTERVAL` seconds: it
records the Postgres backend pid of the query (for ABORT) and stops the query itself when
the job was aborted or deleted, in case the service's ``pg_cancel_backend`` came too early.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from dataclasses import dataclass
from typing import IO, Any

from procrastinate import RetryStrategy
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.tap import jobstate
from services.tap.adql import AdqlError, compile_adql, warm_up
from services.tap.errors import TapError
from services.tap.metadata import MetadataCache
from services.tap.runner import QueryFailedError, QueryRun
from services.tap.sync import result_fields, validate, view_settings
from services.tap.upload import Upload, read_upload, upload_catalog
from shared.db.engine import make_async_engine
from shared.jobs import app
from shared.settings import (
    TapSettings,
    database_settings,
    limit_settings,
    peer_settings,
    storage_settings,
    tap_settings,
)
from shared.storage import ObjectStore
from shared.vo.params import IvoaParams
from shared.vo.results import FORMATS, tail_chunks, writer_for

log = logging.getLogger("isla.tap.tasks")

WATCH_INTERVAL = 0.5
"""Seconds between two looks at a running job's row (abort, backend pid)."""

EXTENSIONS = {"votable": "vot", "csv": "csv", "tsv": "tsv", "json": "json", "fits": "fits"}
"""File extension of a result by output kind."""


@dataclass
class WorkerResources:
    """Long-lived clients of a worker process (created on the first job)."""

    engine: AsyncEngine
    store: ObjectStore
    bucket: str
    metadata: MetadataCache


_resources: WorkerResources | None = None


def resources() -> WorkerResources:
    """The worker's database engine, object store and metadata cache."""
    global _resources  # one set of clients per worker process
    if _resources is None:
        storage = storage_settings()
        _resources = WorkerResources(
            engine=make_async_engine(database_settings()),
            store=ObjectStore.from_settings(storage),
            bucket=storage.s3_jobs_bucket,
            metadata=MetadataCache(tap_settings().metadata_ttl),
        )
    return _resources


_warm = asyncio.Lock()
_warmed = False


async def _warm_up() -> None:
    """Warm the ADQL parser's prediction cache once, off the event loop.

    A cold cache costs ~0.3 s of CPU on the first query; on the event loop that would also
    hold back the worker's heartbeats.
    """
    global _warmed  # once per worker process
    async with _warm:
        if not _warmed:
            await asyncio.to_thread(warm_up)
            _warmed = True


@dataclass(frozen=True)
class JobResult:
    """What a finished query left in the jobs bucket."""

    key: str
    size: int
    content_type: str
    rows: int
    overflow: bool


def time_limit(execution_duration: int, settings: TapSettings) -> int:
    """Seconds a job may run: its executionDuration (0: unlimited) capped by the service."""
    hard = settings.async_max_execution_duration
    return hard if execution_duration <= 0 else min(execution_duration, hard)


# Retried when the worker stops in the middle (procrastinate retries a job cut short by a
# shutdown only if its task has a retry strategy) or when the database went away between
# two steps; query errors never get here: they end the job in ERROR.
@app.task(
    name=jobstate.RUN_TASK,
    queue=jobstate.QUEUE,
    retry=RetryStrategy(max_attempts=5, wait=2),
)
async def run_job(job_id: str) -> None:
    """Run UWS job ``job_id`` if it is still waiting for it."""
    await _warm_up()
    await execute(job_id, resources())


async def execute(job_id: str, res: WorkerResources) -> str | None:
    """Run one job to a final phase; return that phase (None when there was nothing to do)."""
    async with res.engine.begin() as conn:
        job = await jobstate.get(conn, job_id)
        if job is None or job.phase not in ("QUEUED", "EXECUTING"):
            return None
        if job.destruction <= jobstate.now():
            return None
        # EXECUTING here means an earlier attempt died with its worker: start over.
        await jobstate.set_fields(
            conn,
            job_id,
            ("QUEUED", "EXECUTING"),
            phase="EXECUTING",
            start_time=jobstate.now(),
            backend_pid=None,
        )
    limit = time_limit(job.execution_duration, tap_settings())
    try:
        async with asyncio.timeout(limit):
            result = await _watched(job, res, limit)
    except TapError as exc:
        fatal = exc.status < 500
        return await _fail(res.engine, job_id, exc.message, "fatal" if fatal else "transient")
    except TimeoutError:
        message = f"the job ran longer than its executionDuration of {limit} s"
        return await _fail(res.engine, job_id, message, "fatal")
    except Exception:
        log.exception("TAP job %s failed", job_id)
        message = "the job failed in the service; the error has been logged"
        return await _fail(res.engine, job_id, message, "transient")
    if result is None:  # aborted or deleted while running
        return None
    async with res.engine.begin() as conn:
        done = await jobstate.set_fields(
            conn,
            job_id,
            ("EXECUTING",),
            phase="COMPLETED",
            end_time=jobstate.now(),
            backend_pid=None,
            result_key=result.key,
            result_size=result.size,
            result_content_type=result.content_type,
            result_rows=result.rows,
            result_overflow=result.overflow,
        )
    if not done:  # aborted or deleted in the last moment: nobody will fetch the result
        await asyncio.to_thread(res.store.delete, res.bucket, result.key)
        return None
    return "COMPLETED"


async def _fail(engine: AsyncEngine, job_id: str, message: str, kind: str) -> str | None:
    async with engine.begin() as conn:
        done = await jobstate.set_fields(
            conn,
            job_id,
            ("EXECUTING",),
            phase="ERROR",
            end_time=jobstate.now(),
            backend_pid=None,
            error_message=message,
            error_type=kind,
        )
    return "ERROR" if done else None


async def _watched(job: Any, res: WorkerResources, limit: int) -> JobResult | None:
    """Run the query while watching the job row; None when the job was aborted meanwhile."""
    work = asyncio.create_task(_produce(job, res, limit))
    pid: int | None = None
    try:
        while True:
            done, _ = await asyncio.wait({work}, timeout=WATCH_INTERVAL)
            if done:
                return work.result()
            phase, pid = await _look(res.engine, job.job_id, pid)
            if phase != "EXECUTING":
                log.info("TAP job %s was %s while running: stopping it", job.job_id, phase)
                work.cancel()
                await asyncio.gather(work, return_exceptions=True)
                return None
    finally:
        if not work.done():
            work.cancel()
            await asyncio.gather(work, return_exceptions=True)


async def _look(engine: AsyncEngine, job_id: str, pid: int | None) -> tuple[str | None, int | None]:
    """The job's phase (None: deleted) and the query's backend pid, recorded once known."""
    async with engine.begin() as conn:
        if pid is None:
            row = (
                await conn.execute(
                    text(
                        "UPDATE isla_ops.uws_jobs SET backend_pid = ("
                        "SELECT pid FROM pg_stat_activity WHERE application_name = :app "
                        "LIMIT 1) WHERE job_id = :id RETURNING phase, backend_pid"
                    ),
                    {"app": jobstate.application_name(job_id), "id": job_id},
                )
            ).first()
        else:
            row = (
                await conn.execute(
                    text("SELECT phase, backend_pid FROM isla_ops.uws_jobs WHERE job_id = :id"),
                    {"id": job_id},
                )
            ).first()
    if row is None:
        return None, None
    return str(row[0]), row[1]


async def _produce(job: Any, res: WorkerResources, limit: int) -> JobResult:
    """Compile and run the query; write the result into the jobs bucket."""
    limits, peers, settings = limit_settings(), peer_settings(), tap_settings()
    params = IvoaParams()
    params.update(job.parameters)
    request = validate(params, limits)
    uploads = []
    for item in job.uploads or []:
        data = await asyncio.to_thread(res.store.read_bytes, res.bucket, str(item["key"]))
        uploads.append(Upload(str(item["name"]), data))
    tables = [await asyncio.to_thread(read_upload, u, limits.upload_max_rows) for u in uploads]
    upload_columns = upload_catalog(tables)
    try:
        meta = await res.metadata.get(res.engine)
    except Exception:
        raise TapError("the table metadata cannot be read", 503) from None
    try:
        parsed, sql = compile_adql(request.query, meta.catalog() | upload_columns)
    except AdqlError as exc:
        raise TapError(str(exc)) from None
    session = {**view_settings(peers), "application_name": jobstate.application_name(job.job_id)}
    try:
        run = await QueryRun.start(
            res.engine,
            sql,
            maxrec=request.maxrec,
            role=settings.reader_role,
            time_limit=limit,
            batch=settings.fetch_rows,
            session=session,
            uploads=tables,
        )
    except QueryFailedError as exc:
        raise TapError(exc.message, exc.status) from None
    fields = result_fields(parsed, run.names, run.type_names, meta, upload_columns)
    writer = writer_for(request.format, fields, datalink_url=f"{peers.peer('products')}/datalink")
    kind = FORMATS[request.format.lower().replace(" ", "")][0]
    key = jobstate.result_key(job.job_id, EXTENSIONS.get(kind, "dat"))
    with tempfile.TemporaryFile() as spool:
        rows = await _write(run, writer, spool)
        size = spool.tell()
        spool.seek(0)
        await asyncio.to_thread(
            res.store.put_stream, res.bucket, key, spool, size, writer.media_type
        )
    return JobResult(key, size, writer.media_type, rows, run.overflow)


async def _write(run: QueryRun, writer: Any, spool: IO[bytes]) -> int:
    """Write the whole result document into ``spool``; return the row count."""
    spool.write(writer.head())
    rows = 0
    try:
        async for batch in run.batches():
            rows += len(batch)
            spool.write(writer.rows(batch))
    except QueryFailedError as exc:
        # Unlike a sync response, nothing was sent yet: the job ends in ERROR instead.
        raise TapError(exc.message, exc.status) from None
    for chunk in tail_chunks(writer, run.overflow, None):
        spool.write(chunk)
    return rows


@app.periodic(cron="* * * * *")
@app.task(name="tap.requeue_lost", queue=jobstate.QUEUE, queueing_lock="tap.requeue_lost")
async def requeue_lost(timestamp: int) -> int:
    """Queue again the QUEUED/EXECUTING jobs whose queue entry is gone; return how many.

    A worker stopped in the middle of a job (after its shutdown grace) leaves the queue entry
    ended and the job EXECUTING; this finds such jobs every minute.
    """
    return await requeue(resources().engine)


async def requeue(engine: AsyncEngine) -> int:
    """The work of :func:`requeue_lost`, on ``engine``."""
    async with engine.begin() as conn:
        lost = (
            await conn.execute(
                text(
                    "SELECT u.job_id FROM isla_ops.uws_jobs u "
                    "WHERE u.phase IN ('QUEUED', 'EXECUTING') AND NOT EXISTS ("
                    "  SELECT 1 FROM isla_ops.procrastinate_jobs p "
                    "  WHERE p.id = u.queue_job_id AND p.status IN ('todo', 'doing')) "
                    "FOR UPDATE OF u SKIP LOCKED"
                )
            )
        ).scalars()
        count = 0
        for job_id in list(lost):
            log.warning("TAP job %s lost its queue entry: queueing it again", job_id)
            await jobstate.set_fields(
                conn, job_id, ("QUEUED", "EXECUTING"), phase="QUEUED", start_time=None
            )
            await jobstate.defer(conn, job_id)
            count += 1
    return count


@app.periodic(cron="*/5 * * * *")
@app.task(name="tap.destroy_expired", queue=jobstate.QUEUE, queueing_lock="tap.destroy_expired")
async def destroy_expired(timestamp: int) -> int:
    """Delete the jobs (rows and objects) whose destruction time has passed."""
    res = resources()
    return await jobstate.destroy_expired(res.engine, res.store, res.bucket)
