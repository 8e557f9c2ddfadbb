"""Ingest tables: teams, hashed tokens, the audit trail, ingestion jobs and merges (``isla_ops``).

Tokens are never stored: only their SHA-256 (the tokens carry 256 random bits, so a plain
hash is enough; no password-style stretching is needed) and a short public prefix that
identifies the token in listings and logs and is used to find the row before the hash is
compared in constant time.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from shared.db.ops import OpsBase

__all__ = [
    "CONTRIBUTED_STATES",
    "ROLES",
    "ContributedDelivery",
    "ContributedDeliveryFile",
    "ContributedStaging",
    "IngestAudit",
    "IngestJob",
    "IngestTeam",
    "IngestToken",
    "MergeConflict",
    "MergeRun",
    "OpsBase",
    "ScwIndexEntry",
]

ROLES = ("operator", "isdc", "ibis", "jemx", "omc", "spi")
"""Roles a token may carry: ``operator`` may do everything, the others act for their team."""

_ROLE_LIST = ", ".join(f"'{r}'" for r in ROLES)
_NOW = func.timezone("UTC", func.now())


class IngestTeam(OpsBase):
    """A team that delivers data to the archive (and owns what it delivered)."""

    __tablename__ = "ingest_teams"
    __table_args__ = (
        CheckConstraint("name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'", name="name_form"),
        {"comment": "Teams that deliver catalogues and products."},
    )

    name: Mapped[str] = mapped_column(Text, primary_key=True, comment="Team name.")
    description: Mapped[str | None] = mapped_column(Text, comment="Who the team is.")
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime, server_default=_NOW, comment="When the team was registered (UTC)."
    )


class IngestToken(OpsBase):
    """A bearer token of a team with one role; only its hash is kept."""

    __tablename__ = "ingest_tokens"
    __table_args__ = (
        CheckConstraint(f"role IN ({_ROLE_LIST})", name="role"),
        CheckConstraint("length(token_hash) = 64", name="hash_length"),
        {"comment": "Ingest API tokens (SHA-256 hashes only)."},
    )

    token_id: Mapped[int] = mapped_column(
        Integer, primary_key=True, autoincrement=True, comment="Token identifier."
    )
    team: Mapped[str] = mapped_column(
        Text,
        ForeignKey("ingest_teams.name"),
        nullable=False,
        comment="Team the token acts for.",
    )
    role: Mapped[str] = mapped_column(String(16), nullable=False, comment="Role of the token.")
    prefix: Mapped[str] = mapped_column(
        String(16), nullable=False, unique=True, comment="Public prefix of the token (display)."
    )
    token_hash: Mapped[str] = mapped_column(
        String(64), nullable=False, comment="SHA-256 of the token, hex."
    )
    label: Mapped[str | None] = mapped_column(Text, comment="What the token is for.")
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime, server_default=_NOW, comment="When the token was created (UTC)."
    )
    revoked_at: Mapped[dt.datetime | None] = mapped_column(
        DateTime, comment="When the token was revoked (UTC); null while valid."
    )
    last_used_at: Mapped[dt.datetime | None] = mapped_column(
        DateTime, comment="Last successful authentication (UTC)."
    )


class IngestAudit(OpsBase):
    """One write attempt on the ingest API: who, what, when, on what, with which outcome."""

    __tablename__ = "ingest_audit"
    __table_args__ = (
        Index("ix_ingest_audit_at", "at"),
        Index("ix_ingest_audit_team", "team"),
        {"comment": "Audit trail of every ingest action, successful or refused."},
    )

    audit_id: Mapped[int] = mapped_column(
        BigInteger, primary_key=True, autoincrement=True, comment="Audit record identifier."
    )
    at: Mapped[dt.datetime] = mapped_column(
        DateTime, server_default=_NOW, nullable=False, comment="When (UTC)."
    )
    token_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("ingest_tokens.token_id"), comment="Token used, if any."
    )
    team: Mapped[str | None] = mapped_column(Text, comment="Team of the token.")
    role: Mapped[str | None] = mapped_column(String(16), comment="Role of the token.")
    action: Mapped[str] = mapped_column(Text, nullable=False, comment="What was attempted.")
    target: Mapped[str | None] = mapped_column(Text, comment="Object acted on.")
    checksum: Mapped[str | None] = mapped_column(String(64), comment="SHA-256 of the upload.")
    outcome: Mapped[str] = mapped_column(
        String(16), nullable=False, comment="accepted, refused, failed, done, ..."
    )
    detail: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, server_default="{}", comment="Further facts (problems, counts)."
    )


class IngestJob(OpsBase):
    """One ingestion (catalogue load or merge), run now or by the job queue."""

    __tablename__ = "ingest_jobs"
    __table_args__ = (
        CheckConstraint(
            "status IN ('queued', 'running', 'done', 'failed', 'refused')", name="status"
        ),
        Index("ix_ingest_jobs_team", "team"),
        {"comment": "Ingestion jobs with progress and final report."},
    )

    job_id: Mapped[int] = mapped_column(
        BigInteger, primary_key=True, autoincrement=True, comment="Ingestion job identifier."
    )
    kind: Mapped[str] = mapped_column(String(32), nullable=False, comment="catalogue or merge.")
    team: Mapped[str] = mapped_column(Text, nullable=False, comment="Team that submitted it.")
    token_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("ingest_tokens.token_id"), comment="Token that submitted it."
    )
    target: Mapped[str | None] = mapped_column(Text, comment="What is ingested (name/version).")
    status: Mapped[str] = mapped_column(String(16), nullable=False, comment="Job state.")
    progress: Mapped[float] = mapped_column(
        Double, nullable=False, server_default="0", comment="Fraction done, 0 to 1."
    )
    message: Mapped[str | None] = mapped_column(Text, comment="Current step, for humans.")
    params: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, server_default="{}", comment="Parameters of the ingestion."
    )
    report: Mapped[dict[str, Any] | None] = mapped_column(JSONB, comment="Final report.")
    queue_job_id: Mapped[int | None] = mapped_column(
        BigInteger, comment="Job-queue (procrastinate) job id when run asynchronously."
    )
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime, server_default=_NOW, nullable=False, comment="Submission time (UTC)."
    )
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime, comment="Start (UTC).")
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime, comment="End (UTC).")


class MergeRun(OpsBase):
    """One merge of the current team catalogues into the archive's source list."""

    __tablename__ = "merge_runs"
    __table_args__ = ({"comment": "Merges of team catalogues into isla.sources."},)

    merge_id: Mapped[int] = mapped_column(
        Integer, primary_key=True, autoincrement=True, comment="Merge identifier."
    )
    team: Mapped[str | None] = mapped_column(Text, comment="Team that ran the merge.")
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime, server_default=_NOW, nullable=False, comment="When (UTC)."
    )
    catalogues: Mapped[list[Any]] = mapped_column(
        JSONB, nullable=False, server_default="[]", comment="Catalogue versions merged."
    )
    report: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, server_default="{}", comment="Counts and parameters."
    )


class MergeConflict(OpsBase):
    """A disagreement between catalogues that a merge found and left for a human to decide."""

    __tablename__ = "merge_conflicts"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('names_at_one_position', 'name_at_two_positions', 'class_disagreement')",
            name="kind",
        ),
        Index("ix_merge_conflicts_merge_id", "merge_id"),
        {"comment": "Conflicts found by catalogue merges (not resolved automatically)."},
    )

    conflict_id: Mapped[int] = mapped_column(
        BigInteger, primary_key=True, autoincrement=True, comment="Conflict identifier."
    )
    merge_id: Mapped[int] = mapped_column(
        Integer,
        ForeignKey("merge_runs.merge_id", ondelete="CASCADE"),
        nullable=False,
        comment="Merge that found it.",
    )
    kind: Mapped[str] = mapped_column(String(32), nullable=False, comment="Kind of conflict.")
    source_id: Mapped[str | None] = mapped_column(
        String(16), comment="Archive source concerned, if one was made."
    )
    detail: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, comment="The entries involved (catalogue, version, entry, values)."
    )


# --- Product ingestion journal and raw-index progress (migration 0006) ---------------------------


class ProductStaging(OpsBase):
    """One file of a product delivery on its way into the archive (the ingestion journal).

    A row is written *before* the file is put under its staging key, and removed only after the
    products row is committed and the staging object deleted. Whatever a crash leaves (a staged
    object, a copied object whose row did not commit) is therefore listed here, and
    :func:`services.ingest.products.recover_pending` rolls it forward or removes it.
    """

    __tablename__ = "product_staging"
    __table_args__ = (
        CheckConstraint("state IN ('staging', 'done')", name="state"),
        Index("ix_product_staging_ingestion", "ingestion"),
        {"comment": "Journal of product files being ingested (staging key, target, row)."},
    )

    staging_id: Mapped[int] = mapped_column(
        BigInteger, primary_key=True, autoincrement=True, comment="Journal entry identifier."
    )
    ingestion: Mapped[str] = mapped_column(
        String(36), nullable=False, comment="Delivery the file belongs to (UUID)."
    )
    product_id: Mapped[str] = mapped_column(Text, nullable=False, comment="Target product.")
    staging_key: Mapped[str] = mapped_column(Text, nullable=False, comment="Staging object key.")
    final_key: Mapped[str] = mapped_column(Text, nullable=False, comment="Final object key.")
    sha256: Mapped[str] = mapped_column(String(64), nullable=False, comment="SHA-256 of the file.")
    row: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, comment="The isla.products row to write."
    )
    load_points: Mapped[bool] = mapped_column(
        nullable=False, server_default="false", comment="Whether light-curve points are loaded."
    )
    state: Mapped[str] = mapped_column(
        String(16), nullable=False, comment="staging (not committed yet) or done."
    )
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime, server_default=_NOW, nullable=False, comment="When the delivery began (UTC)."
    )


class RawIndexRun(OpsBase):
    """One run of the raw-data indexer over the object store."""

    __tablename__ = "raw_index_runs"
    __table_args__ = (
        CheckConstraint("status IN ('running', 'done', 'failed')", name="status"),
        {"comment": "Runs of the raw-data indexer, with their progress."},
    )

    run_id: Mapped[int] = mapped_column(
        Integer, primary_key=True, autoincrement=True, comment="Run identifier."
    )
    scope: Mapped[str] = mapped_column(
        Text, nullable=False, comment="What is indexed: 'all' or one revolution (RRRR)."
    )
    status: Mapped[str] = mapped_column(String(16), nullable=False, comment="Run state.")
    revolutions_total: Mapped[int] = mapped_column(
        Integer, nullable=False, server_default="0", comment="Revolutions found in the store."
    )
    revolutions_done: Mapped[int] = mapped_column(
        Integer, nullable=False, server_default="0", comment="Revolutions committed so far."
    )
    scws: Mapped[int] = mapped_column(
        Integer, nullable=False, server_default="0", comment="Science windows registered."
    )
    files: Mapped[int] = mapped_column(
        Integer, nullable=False, server_default="0", comment="Raw files registered."
    )
    started_at: Mapped[dt.datetime] = mapped_column(
        DateTime, server_default=_NOW, nullable=False, comment="Start (UTC)."
    )
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime, comment="End (UTC).")


class RawIndexProgress(OpsBase):
    """A revolution whose science windows a run has committed (the unit of progress)."""

    __tablename__ = "raw_index_progress"
    __table_args__ = ({"comment": "Revolutions committed by each raw-index run."},)

    run_id: Mapped[int] = mapped_column(
        Integer,
        ForeignKey("raw_index_runs.run_id", ondelete="CASCADE"),
        primary_key=True,
        comment="Run.",
    )
    revolution: Mapped[int] = mapped_column(Integer, primary_key=True, comment="Revolution.")
    scws: Mapped[int] = mapped_column(Integer, nullable=False, comment="Science windows.")
    files: Mapped[int] = mapped_column(Integer, nullable=False, comment="Raw files.")
    done_at: Mapped[dt.datetime] = mapped_column(
        DateTime, server_default=_NOW, nullable=False, comment="When committed (UTC)."
    )


CONTRIBUTED_STATES = ("submitted", "accepted", "published", "rejected")
"""Review states of a contributed delivery (services.ingest.contributed.service: the edges)."""

_STATE_LIST = ", ".join(f"'{s}'" for s in CONTRIBUTED_STATES)


class ContributedDelivery(OpsBase):
    """One delivered version of a contributed collection, in review or decided."""

    __tablename__ = "contributed_deliveries"
    __table_args__ = (
        UniqueConstraint("collection", "version"),
        CheckConstraint(f"state IN ({_STATE_LIST})", name="state_known"),
        Index("ix_contributed_deliveries_team", "team"),
        {"comment": "Deliveries of contributed collections and their review state."},
    )

    delivery_id: Mapped[str] = mapped_column(
        String(36), primary_key=True, comment="Delivery identifier (UUID)."
    )
    collection: Mapped[str] = mapped_column(String(64), nullable=False, comment="Collection.")
    version: Mapped[int] = mapped_column(Integer, nullable=False, comment="Archive version.")
    team: Mapped[str] = mapped_column(
        Text, ForeignKey("ingest_teams.name"), nullable=False, comment="Owning team."
    )
    token_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("ingest_tokens.token_id"), comment="Token that delivered it."
    )
    state: Mapped[str] = mapped_column(String(16), nullable=False, comment="Review state.")
    metadata_: Mapped[dict[str, Any]] = mapped_column(
        "metadata",
        JSONB,
        nullable=False,
        comment="Title, authors, description, licences, instrument, versions.",
    )
    report: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, server_default="{}", comment="QC warnings and facts."
    )
    history: Mapped[list[Any]] = mapped_column(
        JSONB, nullable=False, server_default="[]", comment="State changes: who, when, note."
    )
    simulated: Mapped[bool] = mapped_column(
        Boolean, nullable=False, server_default="false", comment="Simulated (demo) files."
    )
    submitted_at: Mapped[dt.datetime] = mapped_column(
        DateTime, server_default=_NOW, nullable=False, comment="Delivery time (UTC)."
    )
    changed_at: Mapped[dt.datetime] = mapped_column(
        DateTime, server_default=_NOW, nullable=False, comment="Last state change (UTC)."
    )


class ContributedDeliveryFile(OpsBase):
    """One file of a contributed delivery, stored under its delivery's key prefix."""

    __tablename__ = "contributed_delivery_files"
    __table_args__ = ({"comment": "Files of contributed deliveries (all states)."},)

    delivery: Mapped[str] = mapped_column(
        String(36),
        ForeignKey("contributed_deliveries.delivery_id", ondelete="CASCADE"),
        primary_key=True,
        comment="Delivery.",
    )
    file_name: Mapped[str] = mapped_column(Text, primary_key=True, comment="File name.")
    role: Mapped[str] = mapped_column(
        String(16), nullable=False, comment="product, documentation or software."
    )
    format: Mapped[str] = mapped_column(String(16), nullable=False, comment="File format.")
    content_type: Mapped[str] = mapped_column(Text, nullable=False, comment="Media type.")
    size: Mapped[int] = mapped_column(BigInteger, nullable=False, comment="Bytes.")
    sha256: Mapped[str] = mapped_column(String(64), nullable=False, comment="SHA-256, hex.")
    bucket: Mapped[str] = mapped_column(Text, nullable=False, comment="Object-store bucket.")
    object_key: Mapped[str] = mapped_column(Text, nullable=False, comment="Object-store key.")
    facts: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, server_default="{}", comment="What QC found (HDUs, columns)."
    )
    simulated: Mapped[bool] = mapped_column(
        Boolean, nullable=False, server_default="false", comment="Simulated (SIMDATA = T)."
    )


class ContributedStaging(OpsBase):
    """Journal of a contributed delivery in flight: objects put before its rows commit."""

    __tablename__ = "contributed_staging"
    __table_args__ = (
        {"comment": "Objects of contributed deliveries not yet committed (crash recovery)."},
    )

    ingestion: Mapped[str] = mapped_column(
        String(36), primary_key=True, comment="Delivery identifier (UUID)."
    )
    bucket: Mapped[str] = mapped_column(Text, nullable=False, comment="Object-store bucket.")
    object_key: Mapped[str] = mapped_column(Text, primary_key=True, comment="Object put.")
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime, server_default=_NOW, nullable=False, comment="When journaled (UTC)."
    )


SCW_INDEX_INSTRUMENTS = ("isgri", "picsit", "jemx1", "jemx2", "spi", "omc")
"""Instruments whose good time and exposure a delivered ScW index gives (science_windows'
``<instrument>_good_time`` and ``<instrument>_exposure`` columns)."""


class ScwIndexEntry(OpsBase):
    """One science window of a delivered ScW index (ISDC's or HEASARC's ScW table).

    Kept apart from ``isla.science_windows`` so that an index delivered before the raw data is
    indexed (or for ScWs not mirrored yet) is applied when they are: the raw indexer reads the
    good times and exposures of a ScW from here.
    """

    __tablename__ = "scw_index_entries"
    __table_args__ = (
        CheckConstraint("scw_id ~ '^[0-9]{12}$'", name="scw_id_form"),
        {"comment": "Science windows of the delivered ScW index (good times and exposures)."},
    )

    scw_id: Mapped[str] = mapped_column(String(12), primary_key=True, comment="ScW id.")
    version: Mapped[str] = mapped_column(String(3), primary_key=True, comment="ScW version.")
    delivery: Mapped[str] = mapped_column(
        Text, nullable=False, comment="The delivery (interface, name and version) it came from."
    )
    scw_type: Mapped[str | None] = mapped_column(String(8), comment="pointing or slew.")
    ra: Mapped[float | None] = mapped_column(Double, comment="Pointing axis RA (deg).")
    dec: Mapped[float | None] = mapped_column(Double, comment="Pointing axis Dec (deg).")
    times: Mapped[dict[str, Any]] = mapped_column(
        JSONB,
        nullable=False,
        server_default="{}",
        comment="Good time and exposure per instrument (s): {'isgri_exposure': ..., ...}.",
    )
    modes: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, server_default="{}", comment="Instrument modes and other columns."
    )
    delivered_at: Mapped[dt.datetime] = mapped_column(
        DateTime, server_default=_NOW, nullable=False, comment="When delivered (UTC)."
    )
