"""Ingestion jobs: one row of ``isla_ops.ingest_jobs`` per ingestion, run now or by the queue.

The same runner executes a job inside the request (small uploads) or in an ``isla worker``
(large ones, :mod:`services.ingest.tasks`): it marks the job running, reports progress on a
connection of its own (so that progress is visible while the ingestion's own transaction is
still open), and ends it ``done``, ``refused`` (with the list of problems) or ``failed``,
writing the final report and an audit record.

Every read and write of a job row goes through :data:`STORE`, the archive's job store
(:mod:`shared.jobs.store`): creation and queueing in the request's transaction, status
changes by compare-and-set from :data:`TRANSITIONS`, failures classified by
:func:`shared.jobs.store.classify` (a usage fault ends ``refused``, others ``failed``).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import time
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Engine, Table, create_engine, func
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.pool import NullPool

from services.ingest import audit
from services.ingest.auth import Principal
from services.ingest.catalogues import CatalogueDelivery, CatalogueRefusedError, load_catalogue
from shared.db.ingest import IngestJob
from shared.jobs.store import JobKind, JobStore, classify, transitions
from shared.vo.errors import UsageFault, VOError

log = logging.getLogger("isla.ingest.jobs")

PROGRESS_EVERY = 0.5
"""Seconds between two progress writes of one job."""

QUEUE = "ingest"
"""procrastinate queue of ingestion jobs."""

TRANSITIONS = transitions(
    {
        "queued": {"running", "failed"},
        # running → running: a worker retries a job whose earlier worker died.
        "running": {"running", "done", "refused", "failed"},
        # A failed ingestion wrote nothing: running it again starts from the beginning.
        "failed": {"running"},
    }
)
"""The status changes an ingestion job may make (``done`` and ``refused`` are final)."""

JOBS: Table = IngestJob.__table__  # type: ignore[assignment]
STORE = JobStore(
    JobKind(
        table=JOBS,
        key="job_id",
        phase="status",
        transitions=TRANSITIONS,
        waiting=frozenset({"queued", "running"}),
        queue=QUEUE,
        lock_prefix="ingest-",
    )
)
"""The job store of ingestion jobs: the only writer of ``isla_ops.ingest_jobs``."""

ROW = ("job_id", "kind", "team", "token_id", "target", "status", "progress", "message")
ROW_COLUMNS = (*ROW, "params", "report")
"""Columns of a job as :func:`load_job` returns it."""


def principal_of(params: dict[str, Any]) -> Principal:
    """The principal a job acts for, as stored in its parameters."""
    who = params["principal"]
    return Principal(token_id=int(who["token_id"]), team=str(who["team"]), role=str(who["role"]))


async def create(
    conn: AsyncConnection, principal: Principal, kind: str, target: str, params: dict[str, Any]
) -> int:
    """Insert a ``queued`` job acting for ``principal``; return its id."""
    job_id: int = await STORE.create(
        conn,
        kind=kind,
        team=principal.team,
        token_id=principal.token_id,
        target=target,
        status="queued",
        params=_json({**params, "principal": dataclasses.asdict(principal)}),
    )
    return job_id


def _json(value: dict[str, Any]) -> dict[str, Any]:
    """``value`` as plain JSON (dates and paths as text), what the JSONB columns hold."""
    plain: dict[str, Any] = json.loads(json.dumps(value, default=str))
    return plain


async def enqueue(conn: AsyncConnection, job_id: int, task: Any) -> int:
    """Queue ``job_id`` for ``task`` in the caller's transaction (both happen, or neither)."""
    return await STORE.enqueue(conn, job_id, task, job_id=job_id)


@functools.cache
def _engine(conninfo: str) -> Engine:
    """A synchronous engine on ``conninfo`` for the job runner (no pool: a job opens a few
    connections over minutes, and a worker must not keep them between jobs)."""
    return create_engine(
        "postgresql+psycopg://", creator=lambda: psycopg.connect(conninfo), poolclass=NullPool
    )


def load_job(conninfo: str, job_id: int) -> dict[str, Any] | None:
    """The job row as a dict, or None."""
    with _engine(conninfo).connect() as conn:
        row = conn.execute(STORE.get_statement(job_id, ROW_COLUMNS)).mappings().first()
    return dict(row) if row is not None else None


class ProgressWriter:
    """Writes a job's progress on its own autocommit connection, at most every half second."""

    def __init__(self, conninfo: str, job_id: int) -> None:
        """Open the progress connection of ``job_id``."""
        self.conn = _engine(conninfo).connect().execution_options(isolation_level="AUTOCOMMIT")
        self.job_id = job_id
        self.last = 0.0

    def __call__(self, fraction: float, message: str) -> None:
        """Record ``fraction`` (0-1) and a short message."""
        now = time.monotonic()
        if now - self.last < PROGRESS_EVERY and fraction < 1.0:
            return
        self.last = now
        progress = round(min(1.0, max(0.0, fraction)), 4)
        self.conn.execute(
            STORE.change_statement(self.job_id, ("running",), progress=progress, message=message)
        )

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()


def start(conninfo: str, job_id: int) -> bool:
    """Mark the job running (again, when a worker retries it); False when it cannot run."""
    with _engine(conninfo).begin() as conn:
        moved = conn.execute(
            STORE.move_statement(
                job_id,
                "running",
                progress=0,
                message="started",
                started_at=func.timezone("UTC", func.now()),
                finished_at=None,
            )
        )
    return bool(moved.rowcount)


def outcome(error: VOError) -> str:
    """The final status of a job that ended with ``error``: refused for its own input (a
    UsageFault: nothing to retry), failed otherwise."""
    return "refused" if isinstance(error, UsageFault) else "failed"


def finish(
    conninfo: str,
    job: dict[str, Any],
    status: str,
    report: dict[str, Any],
    checksum: str | None = None,
) -> None:
    """End the job with ``status`` and ``report``, and audit the outcome (one transaction).

    A job an operator queued from the command line acts for no token (its principal is None).
    """
    principal = principal_of(job["params"]) if job["params"].get("principal") else None
    detail = {"job_id": job["job_id"], **{k: v for k, v in report.items() if k != "columns"}}
    progress = 1 if status == "done" else JOBS.c.progress
    with _engine(conninfo).begin() as conn:
        conn.execute(
            STORE.move_statement(
                job["job_id"],
                status,
                only=("running",),
                progress=progress,
                message=report.get("message", status),
                report=_json(report),
                finished_at=func.timezone("UTC", func.now()),
            )
        )
        audit.record_sync(
            conn,
            principal,
            f"{job['kind']}.run",
            job["target"],
            checksum,
            status,
            detail,
        )


def run_catalogue_job(conninfo: str, job_id: int, path: Path) -> dict[str, Any]:
    """Run catalogue job ``job_id`` on the file at ``path``; returns the final job row."""
    job = load_job(conninfo, job_id)
    if job is None:
        raise LookupError(f"no ingestion job {job_id}")
    if job["status"] in ("done", "refused"):
        return job  # an earlier attempt finished it
    params = job["params"]
    principal = principal_of(params)
    delivery = CatalogueDelivery(**params["delivery"])
    start(conninfo, job_id)
    progress = ProgressWriter(conninfo, job_id)
    try:
        report = load_catalogue(conninfo, path, delivery, principal.may_act_for, progress)
    except CatalogueRefusedError as exc:
        finish(
            conninfo,
            job,
            "refused",
            {
                "message": "refused: nothing was written",
                "problems": exc.problems,
                "http_status": exc.status,
            },
            delivery.sha256,
        )
    except Exception as exc:
        error = classify(exc, f"catalogue job {job_id}")
        finish(
            conninfo,
            job,
            outcome(error),
            {"message": f"failed: {type(exc).__name__}; nothing was written", "code": error.code},
            delivery.sha256,
        )
    else:
        report["message"] = (
            "this version was already loaded" if report.get("already_loaded") else "loaded"
        )
        finish(conninfo, job, "done", report, delivery.sha256)
    finally:
        progress.close()
    final = load_job(conninfo, job_id)
    assert final is not None
    return final


def run_merge_job(conninfo: str, job_id: int) -> dict[str, Any]:
    """Run merge job ``job_id``; returns the final job row."""
    from services.ingest.merge import MergeOptions, merge_catalogues

    job = load_job(conninfo, job_id)
    if job is None:
        raise LookupError(f"no ingestion job {job_id}")
    if job["status"] in ("done", "refused"):
        return job
    start(conninfo, job_id)
    progress = ProgressWriter(conninfo, job_id)
    try:
        options = MergeOptions(**job["params"].get("options", {}))
        report = merge_catalogues(conninfo, options, team=job["team"], progress=progress)
    except Exception as exc:
        error = classify(exc, f"merge job {job_id}", usage=(ValueError,))
        if isinstance(error, UsageFault):
            report = {"message": "refused", "problems": [error.message]}
        else:
            report = {"message": f"failed: {type(exc).__name__}", "code": error.code}
        finish(conninfo, job, outcome(error), report)
    else:
        report["message"] = "merged"
        finish(conninfo, job, "done", report)
    finally:
        progress.close()
    final = load_job(conninfo, job_id)
    assert final is not None
    return final
