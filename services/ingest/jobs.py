"""Ingestion jobs: one row of ``isla_ops.ingest_jobs`` per ingestion, run now or by the queue.

The same runner executes a job inside the request (small uploads) or in an ``isla worker``
(large ones, :mod:`services.ingest.tasks`): it marks the job running, reports progress on a
connection of its own (so that progress is visible while the ingestion's own transaction is
still open), and ends it ``done``, ``refused`` (with the list of problems) or ``failed``,
writing the final report and an audit record.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import psycopg

from services.ingest.auth import Principal
from services.ingest.catalogues import CatalogueDelivery, CatalogueRefusedError, load_catalogue

log = logging.getLogger("isla.ingest.jobs")

PROGRESS_EVERY = 0.5
"""Seconds between two progress writes of one job."""


def principal_of(params: dict[str, Any]) -> Principal:
    """The principal a job acts for, as stored in its parameters."""
    who = params["principal"]
    return Principal(token_id=int(who["token_id"]), team=str(who["team"]), role=str(who["role"]))


def load_job(conninfo: str, job_id: int) -> dict[str, Any] | None:
    """The job row as a dict, or None."""
    with psycopg.connect(conninfo) as conn:
        cur = conn.execute(
            "SELECT job_id, kind, team, token_id, target, status, progress, message, params, "
            "report FROM isla_ops.ingest_jobs WHERE job_id = %s",
            (job_id,),
        )
        row = cur.fetchone()
        if row is None:
            return None
        names = [d.name for d in cur.description or ()]
        return dict(zip(names, row, strict=True))


class ProgressWriter:
    """Writes a job's progress on its own autocommit connection, at most every half second."""

    def __init__(self, conninfo: str, job_id: int) -> None:
        """Open the progress connection of ``job_id``."""
        self.conn = psycopg.connect(conninfo, autocommit=True)
        self.job_id = job_id
        self.last = 0.0

    def __call__(self, fraction: float, message: str) -> None:
        """Record ``fraction`` (0-1) and a short message."""
        now = time.monotonic()
        if now - self.last < PROGRESS_EVERY and fraction < 1.0:
            return
        self.last = now
        self.conn.execute(
            "UPDATE isla_ops.ingest_jobs SET progress = %s, message = %s WHERE job_id = %s",
            (round(min(1.0, max(0.0, fraction)), 4), message, self.job_id),
        )

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()


def start(conninfo: str, job_id: int) -> None:
    """Mark the job running (again, when a worker retries it)."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(
            "UPDATE isla_ops.ingest_jobs SET status = 'running', progress = 0, "
            "message = 'started', started_at = timezone('UTC', now()), finished_at = NULL "
            "WHERE job_id = %s",
            (job_id,),
        )


def finish(
    conninfo: str,
    job: dict[str, Any],
    status: str,
    report: dict[str, Any],
    checksum: str | None = None,
) -> None:
    """End the job with ``status`` and ``report``, and audit the outcome (one transaction)."""
    principal = principal_of(job["params"])
    detail = {"job_id": job["job_id"], **{k: v for k, v in report.items() if k != "columns"}}
    with psycopg.connect(conninfo) as conn:
        conn.execute(
            "UPDATE isla_ops.ingest_jobs SET status = %s, progress = CASE WHEN %s = 'done' "
            "THEN 1 ELSE progress END, message = %s, report = %s, "
            "finished_at = timezone('UTC', now()) WHERE job_id = %s",
            (
                status,
                status,
                report.get("message", status),
                json.dumps(report, default=str),
                job["job_id"],
            ),
        )
        conn.execute(
            "INSERT INTO isla_ops.ingest_audit (token_id, team, role, action, target, checksum, "
            "outcome, detail) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (
                principal.token_id,
                principal.team,
                principal.role,
                f"{job['kind']}.run",
                job["target"],
                checksum,
                status,
                json.dumps(detail, default=str),
            ),
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
        log.exception("catalogue job %s failed", job_id)
        finish(
            conninfo,
            job,
            "failed",
            {"message": f"failed: {type(exc).__name__}; nothing was written"},
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
    except ValueError as exc:
        finish(conninfo, job, "refused", {"message": "refused", "problems": [str(exc)]})
    except Exception as exc:
        log.exception("merge job %s failed", job_id)
        finish(conninfo, job, "failed", {"message": f"failed: {type(exc).__name__}"})
    else:
        report["message"] = "merged"
        finish(conninfo, job, "done", report)
    finally:
        progress.close()
    final = load_job(conninfo, job_id)
    assert final is not None
    return final
