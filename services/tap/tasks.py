"""Queue tasks of the TAP service: run async jobs, requeue lost ones, destroy expired ones.

``run_job`` executes one UWS job in an ``isla worker`` process with the TAP pipeline of the
sync endpoint (:mod:`services.tap.pipeline`: ADQL checks and translation, the read-only
reader role, a statement timeout, the encoding by Postgres where it can) and writes the
result document, byte for byte what /sync would send, to the jobs bucket.
The job row decides what happens: the task does nothing for a job that is no longer QUEUED
or EXECUTING (aborted, deleted, or finished by an earlier attempt), so running it twice is
harmless, which is what restart survival needs (see :mod:`shared.jobs.queue`). Every change
of the job row goes through :mod:`services.tap.jobstate` (the job store).

While the query runs, the task watches the row every :data:`WATCH_INTERVAL` seconds: it
records the Postgres backend pid of the query (for ABORT) and stops the query itself when
the job was aborted or deleted, in case the service's ``pg_cancel_backend`` came too early.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from dataclasses import dataclass
from typing import Any

from procrastinate import RetryStrategy
from sqlalchemy.ext.asyncio import AsyncEngine

from services.tap import jobstate, pipeline
from services.tap.adql import warm_up
from services.tap.metadata import MetadataCache
from services.tap.upload import Upload
from shared.db.engine import make_async_engine
from shared.jobs.queue import app
from shared.jobs.store import classify
from shared.settings import (
    TapSettings,
    database_settings,
    limit_settings,
    peer_settings,
    storage_settings,
    tap_settings,
)
from shared.storage import ObjectStore
from shared.vo.errors import TransientFault, UsageFault, VOError
from shared.vo.params import IvoaParams
from shared.vo.results import FORMATS

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
        await jobstate.start(conn, job_id)
    limit = time_limit(job.execution_duration, tap_settings())
    try:
        async with asyncio.timeout(limit):
            result = await _watched(job, res, limit)
    except TimeoutError:
        error: VOError = UsageFault(f"the job ran longer than its executionDuration of {limit} s")
        return await _fail(res.engine, job_id, error)
    except Exception as exc:
        return await _fail(res.engine, job_id, classify(exc, f"TAP job {job_id}"))
    if result is None:  # aborted or deleted while running
        return None
    async with res.engine.begin() as conn:
        done = await jobstate.complete(
            conn,
            job_id,
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


async def _fail(engine: AsyncEngine, job_id: str, error: VOError) -> str | None:
    async with engine.begin() as conn:
        done = await jobstate.fail(conn, job_id, error)
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
            async with res.engine.begin() as conn:
                phase, pid = await jobstate.watch(conn, job.job_id, record_pid=pid is None)
            if phase != "EXECUTING":
                log.info("TAP job %s was %s while running: stopping it", job.job_id, phase)
                work.cancel()
                await asyncio.gather(work, return_exceptions=True)
                return None
    finally:
        if not work.done():
            work.cancel()
            await asyncio.gather(work, return_exceptions=True)


async def _produce(job: Any, res: WorkerResources, limit: int) -> JobResult:
    """Run the job's query through the TAP pipeline; write the document to the jobs bucket."""
    limits, peers, settings = limit_settings(), peer_settings(), tap_settings()
    params = IvoaParams()
    params.update(job.parameters)
    request = pipeline.validate(params, limits)
    uploads = []
    for item in job.uploads or []:
        data = await asyncio.to_thread(res.store.read_bytes, res.bucket, str(item["key"]))
        uploads.append(Upload(str(item["name"]), data))
    try:
        meta = await res.metadata.get(res.engine)
    except Exception:
        raise TransientFault("the table metadata cannot be read") from None
    session = {
        **pipeline.view_settings(peers),
        "application_name": jobstate.application_name(job.job_id),
    }
    started = await pipeline.start(
        res.engine,
        request,
        meta,
        settings,
        time_limit=limit,
        session=session,
        uploads=uploads,
        datalink_url=f"{peers.peer('products')}/datalink",
        max_upload_rows=limits.upload_max_rows,
    )
    writer = started.writer
    kind = FORMATS[request.format.lower().replace(" ", "")][0]
    key = jobstate.result_key(job.job_id, EXTENSIONS.get(kind, "dat"))
    with tempfile.TemporaryFile() as spool:
        # Unlike a sync response, nothing was sent yet: an error ends the job in ERROR.
        async for chunk in pipeline.document(started, inline_errors=False):
            spool.write(chunk)
        size = spool.tell()
        spool.seek(0)
        await asyncio.to_thread(
            res.store.put_stream, res.bucket, key, spool, size, writer.media_type
        )
    return JobResult(key, size, writer.media_type, started.rows, started.run.overflow)


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
        return len(await jobstate.requeue_lost(conn))


@app.periodic(cron="*/5 * * * *")
@app.task(name="tap.destroy_expired", queue=jobstate.QUEUE, queueing_lock="tap.destroy_expired")
async def destroy_expired(timestamp: int) -> int:
    """Delete the jobs (rows and objects) whose destruction time has passed."""
    res = resources()
    return await jobstate.destroy_expired(res.engine, res.store, res.bucket)
