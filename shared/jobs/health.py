"""Is a job worker alive? The queue's side of readiness (``/ready``, ``/tap/availability``).

Workers record a heartbeat every ``ISLA_WORKER_HEARTBEAT`` seconds in procrastinate's
``isla_ops.procrastinate_workers`` table. Jobs waiting in the queue while no worker has sent a
heartbeat within ``ISLA_WORKER_STALLED_AFTER`` seconds will never run: the archive is then not
ready, whatever its database and object store say. An idle archive without a worker stays
ready (nothing waits), so that services run without one where no jobs are used.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db.ops import OPS_SCHEMA
from shared.settings import WorkerSettings

CHECK_TIMEOUT = 3.0
"""Seconds the check may take before the queue counts as unreachable."""

_STATE = text(
    f"""
    SELECT
      (SELECT count(*) FROM {OPS_SCHEMA}.procrastinate_workers
        WHERE last_heartbeat > now() - make_interval(secs => :fresh)) AS live,
      (SELECT count(*) FROM {OPS_SCHEMA}.procrastinate_jobs j
        WHERE j.status = 'todo' AND (j.scheduled_at IS NULL OR j.scheduled_at <= now()))
        AS waiting,
      (SELECT extract(epoch FROM now() - min(e.at))
         FROM {OPS_SCHEMA}.procrastinate_jobs j
         JOIN {OPS_SCHEMA}.procrastinate_events e ON e.job_id = j.id AND e.type = 'deferred'
        WHERE j.status = 'todo' AND (j.scheduled_at IS NULL OR j.scheduled_at <= now()))
        AS oldest
    """  # noqa: S608 - the schema name is a constant
)


async def queue_state(
    engine: AsyncEngine, settings: WorkerSettings | None = None
) -> dict[str, Any]:
    """Live workers, waiting jobs and the age (seconds) of the oldest waiting job."""
    settings = settings or WorkerSettings()
    async with engine.connect() as conn:
        row = (await conn.execute(_STATE, {"fresh": settings.stalled_after})).one()
    return {
        "live_workers": int(row.live),
        "waiting_jobs": int(row.waiting),
        "oldest_waiting_seconds": round(float(row.oldest), 1) if row.oldest is not None else 0.0,
    }


async def check_worker(engine: AsyncEngine | None) -> dict[str, Any]:
    """The readiness check of the job worker: red when jobs wait and no worker is alive.

    Jobs may wait a moment for a live worker (it is busy); they must not wait longer than
    ``stalled_after`` without one. An unreachable database is the database check's to report.
    """
    if engine is None:
        return {"ok": True, "detail": "no database configured"}
    settings = WorkerSettings()
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            state = await queue_state(engine, settings)
    except Exception:
        return {"ok": True, "detail": "queue not checked: the database does not answer"}
    stuck = (
        state["live_workers"] == 0
        and state["waiting_jobs"] > 0
        and state["oldest_waiting_seconds"] > settings.stalled_after
    )
    result: dict[str, Any] = {"ok": not stuck, **state}
    if stuck:
        result["error"] = "jobs are waiting and no job worker is alive"
    return result


__all__ = ["check_worker", "queue_state"]
