"""UWS job tables of the TAP async service (schema ``isla_ops``).

One row per UWS 1.1 job. The row is the job's whole state: the TAP service writes it when a
client creates or changes a job, the queue worker when it runs the query, both through the
job store (:mod:`shared.jobs.store`) and the phase transitions of :data:`TRANSITIONS`. The
procrastinate queue only says *that* a job must run; what to run, and whether it still
should, is read here, so a job survives restarts of either side.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Index,
    Integer,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from shared.db.ops import OpsBase

PHASES = (
    "PENDING",
    "QUEUED",
    "EXECUTING",
    "COMPLETED",
    "ERROR",
    "ABORTED",
    "UNKNOWN",
    "HELD",
    "SUSPENDED",
    "ARCHIVED",
)
"""The UWS 1.1 execution phases."""

TRANSITIONS: dict[str, frozenset[str]] = {
    # RUN queues; parameters the query can never run with end the job at once (ERROR).
    "PENDING": frozenset({"QUEUED", "ERROR", "ABORTED"}),
    "QUEUED": frozenset({"EXECUTING", "ABORTED", "QUEUED"}),
    # EXECUTING → EXECUTING: a worker restarts a job whose earlier worker died; → QUEUED:
    # the sweep of lost jobs queues it again.
    "EXECUTING": frozenset({"COMPLETED", "ERROR", "ABORTED", "EXECUTING", "QUEUED"}),
    "HELD": frozenset({"QUEUED", "ABORTED"}),
    "SUSPENDED": frozenset({"EXECUTING", "ABORTED"}),
    "COMPLETED": frozenset({"ARCHIVED"}),
    "ERROR": frozenset({"ARCHIVED"}),
    "ABORTED": frozenset({"ARCHIVED"}),
}
"""The phase changes a UWS job may make (UWS 1.1 §2.1.3): phase → phases it may move to."""

FINAL_PHASES = frozenset({"COMPLETED", "ERROR", "ABORTED", "ARCHIVED"})
"""Phases a job never leaves (except by destruction, or COMPLETED/ERROR/ABORTED to ARCHIVED)."""

ANONYMOUS = "anonymous"
"""Owner of jobs created without logging in (reachable by their URL only, never listed)."""


class UwsJob(OpsBase):
    """A TAP async job (UWS 1.1): parameters, phase, times and the result object."""

    __tablename__ = "uws_jobs"
    __table_args__ = (
        CheckConstraint(
            "phase in (" + ", ".join(f"'{p}'" for p in PHASES) + ")", name="phase_known"
        ),
        CheckConstraint("execution_duration >= 0", name="duration_positive"),
        Index("ix_uws_jobs_owner_creation_time", "owner", "creation_time"),
        Index("ix_uws_jobs_destruction", "destruction"),
        {"comment": "TAP async (UWS 1.1) jobs; private: never published through TAP."},
    )

    job_id: Mapped[str] = mapped_column(
        String(64), primary_key=True, comment="unguessable identifier (URL-safe random)"
    )
    run_id: Mapped[str | None] = mapped_column(Text, comment="client-supplied RUNID")
    owner: Mapped[str] = mapped_column(
        Text, server_default=ANONYMOUS, comment="who created the job ('anonymous' for now)"
    )
    phase: Mapped[str] = mapped_column(String(16), comment="UWS execution phase")
    parameters: Mapped[dict[str, Any]] = mapped_column(
        JSONB, server_default="{}", comment="TAP parameters by upper-case name (LANG, QUERY, ...)"
    )
    uploads: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONB,
        server_default="[]",
        comment="inline UPLOAD tables stored in the jobs bucket: name, key, size",
    )
    creation_time: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), comment="when the job was created"
    )
    start_time: Mapped[dt.datetime | None] = mapped_column(
        DateTime(timezone=True), comment="when the query started"
    )
    end_time: Mapped[dt.datetime | None] = mapped_column(
        DateTime(timezone=True), comment="when the job reached a final phase"
    )
    quote: Mapped[dt.datetime | None] = mapped_column(
        DateTime(timezone=True), comment="predicted completion time (unknown: null)"
    )
    execution_duration: Mapped[int] = mapped_column(
        Integer, comment="seconds the query may run (0: the service's limit)"
    )
    destruction: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), comment="when the job and its results are deleted"
    )
    error_message: Mapped[str | None] = mapped_column(Text, comment="error summary")
    error_type: Mapped[str | None] = mapped_column(
        String(16), comment="'fatal' or 'transient' (UWS errorSummary type)"
    )
    result_key: Mapped[str | None] = mapped_column(
        Text, comment="object key of the result in the jobs bucket"
    )
    result_size: Mapped[int | None] = mapped_column(BigInteger, comment="result size in bytes")
    result_content_type: Mapped[str | None] = mapped_column(Text, comment="result MIME type")
    result_rows: Mapped[int | None] = mapped_column(BigInteger, comment="rows in the result")
    result_overflow: Mapped[bool | None] = mapped_column(
        Boolean, comment="true when MAXREC truncated the result"
    )
    backend_pid: Mapped[int | None] = mapped_column(
        Integer, comment="Postgres backend pid of the running query (for ABORT)"
    )
    queue_job_id: Mapped[int | None] = mapped_column(
        BigInteger, comment="id of the procrastinate job that runs it"
    )


__all__ = ["ANONYMOUS", "FINAL_PHASES", "PHASES", "TRANSITIONS", "OpsBase", "UwsJob"]
