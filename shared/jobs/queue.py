"""The job queue: a procrastinate :data:`app` on the archive's Postgres, and its worker.

Work that outlives a request (TAP async queries, ingestion) is deferred here as procrastinate
jobs, stored in Postgres (schema ``isla_ops``, created by migration 0004), and executed by
``isla worker`` processes. Services define their tasks with ``@app.task(...)`` importing
:data:`app` from this module; this module names none of them: the worker's entry point
(``deploy/cli.py``) imports the services' task modules, which registers their tasks, before
calling :func:`main`.

Connection details are read from :mod:`shared.settings` when the app is opened, not when this
module is imported, so that the launcher and the tests can point it at a database chosen at
run time.

Database restarts: :func:`run_worker` reconnects with back-off when the database goes away,
so a Postgres restart needs no restart of the workers.

Restart survival: a job whose worker died while running it stays ``doing`` in the queue.
Every worker sends heartbeats; each worker, at start and then periodically, hands the jobs
of workers silent for longer than ``ISLA_WORKER_STALLED_AFTER`` back to the queue
(:func:`retry_stalled_jobs`). Tasks must therefore be safe to run again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Any

import psycopg
from procrastinate import App, PsycopgConnector, exceptions
from procrastinate.connector import BaseConnector
from procrastinate.tasks import Task
from procrastinate.worker import Worker
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.db.ops import OPS_SCHEMA
from shared.settings import DatabaseSettings, WorkerSettings, database_settings

log = logging.getLogger("isla.jobs")

SEARCH_PATH = f"{OPS_SCHEMA}, public"
"""procrastinate's SQL names no schema: its objects live in ``isla_ops``, found by this path."""


def conninfo(settings: DatabaseSettings) -> str:
    """The libpq URL of the database (the SQLAlchemy URL without its driver name)."""
    url = settings.database_url
    if not url:
        raise RuntimeError(
            "ISLA_DATABASE_URL is not set: start the archive with `isla up` or point "
            "ISLA_DATABASE_URL at its database"
        )
    scheme, rest = url.split("://", 1)
    return f"{scheme.split('+', 1)[0]}://{rest}"


def pool_args(settings: DatabaseSettings | None = None) -> dict[str, Any]:
    """Arguments of the queue's psycopg connection pool, from the current settings."""
    settings = settings or database_settings()
    return {
        "conninfo": conninfo(settings),
        "kwargs": {
            "options": f"-c search_path={SEARCH_PATH.replace(' ', '')}",
            "connect_timeout": max(1, round(settings.database_connect_timeout)),
        },
        "min_size": 1,
        "max_size": max(2, settings.database_pool_size),
    }


class SettingsConnector(PsycopgConnector):
    """procrastinate's psycopg connector, configured from the settings when it is opened."""

    def __init__(self) -> None:
        """An unopened connector; the pool is created by ``app.open_async()``."""
        super().__init__()

    async def open_async(self, pool: Any = None) -> None:
        """Open the pool with the connection details of the current settings."""
        if pool is None:
            # procrastinate keeps the pool's arguments in this attribute; filling it here,
            # rather than at import, lets a process choose its database before opening.
            self._pool_args = pool_args()
        await super().open_async(pool)

    def get_sync_connector(self) -> BaseConnector:
        """The synchronous connector (deferring from sync code), from the current settings."""
        if self._async_pool is None and self._sync_connector is None:
            self._pool_args = pool_args()
        return super().get_sync_connector()


async def defer_in_transaction(
    conn: AsyncConnection, task: Task[Any, Any, Any] | str, *, lock: str, queue: str, **kwargs: Any
) -> int:
    """Queue ``task`` (a task, or a task's name) on ``conn``'s transaction (it is queued if
    and only if that commits).

    Jobs (UWS, ingestions) record their queue entry in the same transaction as their own
    state change, so a job is never waiting without a queue entry, nor queued twice. By
    name, the caller needs not import the module defining the task (the worker does).
    """
    raw = await conn.get_raw_connection()
    pconn: psycopg.AsyncConnection[Any] = raw.driver_connection  # type: ignore[assignment]
    # procrastinate's functions are found through the search path (they live in isla_ops).
    # Transaction-local, and harmless to the rest of it: every ISLA table is schema-qualified.
    await conn.execute(
        text(
            "SELECT set_config('search_path', "
            ":path || ', ' || current_setting('search_path'), true)"
        ),
        {"path": OPS_SCHEMA},
    )
    if isinstance(task, str):
        deferrer = app.configure_task(task, lock=lock, queue=queue, connection=pconn)
    else:
        deferrer = task.configure(lock=lock, queue=queue, connection=pconn)
    queue_id: int = await deferrer.defer_async(**kwargs)
    return queue_id


app = App(connector=SettingsConnector())
"""The archive's procrastinate app (open it with ``async with app.open_async():``)."""


async def retry_stalled_jobs(settings: WorkerSettings, own_id: int | None = None) -> int:
    """Requeue the running jobs of workers that stopped sending heartbeats; return how many.

    Works on an opened :data:`app`. ``own_id``: the calling worker, never counted as dead
    (its heartbeat can be late when a task held the event loop, but it still runs its jobs).
    """
    manager = app.job_manager
    stalled = await manager.get_stalled_jobs(seconds_since_heartbeat=settings.stalled_after)
    count = 0
    for job in stalled:
        if own_id is not None and job.worker_id == own_id:
            continue
        try:
            await manager.retry_job(job)
        except exceptions.ConnectorException:
            # Another worker retried it first (the job is no longer "doing").
            log.info("job %s was already retried", job.id)
            continue
        log.warning("job %s (%s) lost its worker: retried", job.id, job.task_name)
        count += 1
    # Their rows would otherwise stay: a dead worker never unregisters.
    await manager.prune_stalled_workers(settings.stalled_after)
    return count


class DatabaseLostError(RuntimeError):
    """The worker's watcher could not reach the database: the round must start afresh."""


async def _watch_stalled(settings: WorkerSettings, worker: Worker) -> None:
    """Retry the jobs of dead workers every heartbeat; return when the database is lost.

    This is also the worker's watchdog: procrastinate's worker can outlive a database restart
    without ever fetching a job again (its listener and heartbeat fail, its loop waits), so
    a failed look here ends the round (:func:`_run_round`) and a fresh one reconnects.
    """
    while True:
        try:
            async with asyncio.timeout(max(5.0, settings.stalled_after)):
                if worker.worker_id is not None:  # registered: its own jobs are known
                    await retry_stalled_jobs(settings, worker.worker_id)
                else:
                    await app.job_manager.prune_stalled_workers(settings.stalled_after)
        except Exception as exc:
            log.warning("the job worker cannot reach the database: %s", exc)
            return
        await asyncio.sleep(settings.heartbeat)


RECONNECT_FIRST, RECONNECT_LONGEST = 1.0, 30.0
"""Seconds before the worker reconnects after losing the database: the first pause, and the
longest one (each next pause doubles)."""


async def run_worker(settings: WorkerSettings | None = None, name: str | None = None) -> None:
    """Run one worker until SIGINT/SIGTERM, reconnecting whenever the database goes away.

    After a database restart procrastinate's worker either ends or stays alive without
    fetching jobs again (its listener and heartbeat failed). Here each round opens the queue
    afresh and runs a worker beside a watchdog (:func:`_watch_stalled`); a round that ends
    without a stop request (the worker ended, or the watchdog lost the database) is followed
    by a new one after a pause that doubles up to :data:`RECONNECT_LONGEST` (and starts over
    once a round ran a while).
    """
    settings = settings or WorkerSettings()
    stopping = asyncio.Event()
    current: list[Worker] = []

    def request_stop() -> None:
        stopping.set()
        for worker in current:
            worker.stop()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, request_stop)
    pause = RECONNECT_FIRST
    try:
        while not stopping.is_set():
            started = loop.time()
            try:
                await _run_round(settings, name, current, stopping)
            except Exception as exc:  # the database went away (or never came)
                log.warning("the job worker lost the database (%s): reconnecting", exc)
            if stopping.is_set():
                break
            if loop.time() - started > RECONNECT_LONGEST:
                pause = RECONNECT_FIRST
            log.warning("job worker round ended; next in %.0f s", pause)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), pause)
            pause = min(pause * 2, RECONNECT_LONGEST)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def _run_round(
    settings: WorkerSettings, name: str | None, current: list[Worker], stopping: asyncio.Event
) -> None:
    """Open the queue and run one procrastinate worker until it ends."""
    async with app.open_async():
        # procrastinate's Worker rather than app.run_worker_async: the watcher needs its id.
        worker = Worker(
            app=app,
            name=name or "isla-worker",
            concurrency=settings.concurrency,
            update_heartbeat_interval=settings.heartbeat,
            stalled_worker_timeout=settings.stalled_after,
            fetch_job_polling_interval=settings.poll_interval,
            abort_job_polling_interval=settings.poll_interval,
            # Finished jobs are of no use: the UWS table keeps what users see.
            delete_jobs="always",
            # Our own handlers (run_worker) tell a stop request from a lost database.
            install_signal_handlers=False,
            # Jobs still running then are cancelled, and retried later if their task has
            # a retry strategy: a stop never waits for long queries.
            shutdown_graceful_timeout=settings.shutdown_grace,
        )
        current[:] = [worker]
        if stopping.is_set():  # asked to stop while the queue was opening
            return
        running = asyncio.create_task(worker.run(), name="procrastinate worker")
        watcher = asyncio.create_task(_watch_stalled(settings, worker), name="watchdog")
        try:
            await asyncio.wait({running, watcher}, return_when=asyncio.FIRST_COMPLETED)
            if running.done():
                running.result()  # its error, if it failed
                return
            # The watchdog saw the database go: stop this worker (its jobs are retried
            # later), and cancel it if it cannot even stop.
            worker.stop()
            with contextlib.suppress(Exception):  # it is cancelled below if still running
                await asyncio.wait_for(asyncio.shield(running), settings.shutdown_grace + 5)
            raise DatabaseLostError("the database went away")
        finally:
            current.clear()
            for task in (watcher, running):
                if not task.done():
                    task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task


def main(name: str | None = None) -> int:
    """Entry point of ``isla worker``: run until SIGINT/SIGTERM; 0 after a clean stop."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_worker(name=name))
    return 0
