"""Ingest: teams, tokens, audit, jobs, merges; catalogue versions and provenance

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

from shared.db.tap_schema_rows import change_tap_schema

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_ENTRY_NAME = "Source name as given in the catalogue."
ENTRY_NAME = (
    "Entry key as given in the catalogue: the source name, or the team's identifier for "
    "catalogue kinds keyed by identifier."
)


UPGRADE_ROWS: dict[str, list[tuple[Any, ...]]] = {
    "columns": [
        (
            "isla.catalogue_entries",
            "version",
            "char",
            "*",
            None,
            None,
            None,
            None,
            "meta.version",
            ("Version of the entry's catalogue (earlier versions stay queryable)."),
            0,
            1,
            0,
            10,
        ),
        (
            "isla.catalogues",
            "sha256",
            "char",
            "*",
            None,
            None,
            None,
            None,
            "meta.checksum",
            "SHA-256 checksum of the delivered file.",
            0,
            0,
            0,
            10,
        ),
        (
            "isla.source_aliases",
            "catalogue_id",
            "int",
            None,
            None,
            None,
            None,
            None,
            "meta.id;meta.dataset",
            "Catalogue version the name comes from.",
            0,
            0,
            0,
            3,
        ),
        (
            "isla.source_fluxes",
            "entry_id",
            "long",
            None,
            None,
            None,
            None,
            None,
            "meta.id",
            "Catalogue entry the value comes from.",
            0,
            0,
            0,
            6,
        ),
        (
            "isla.sources",
            "entry_id",
            "long",
            None,
            None,
            None,
            None,
            None,
            "meta.id",
            "Catalogue entry the position and class come from.",
            0,
            0,
            0,
            13,
        ),
        (
            "isla.sources",
            "provenance",
            "char",
            "*",
            None,
            None,
            None,
            None,
            "meta.note",
            ("Where each merged value comes from: catalogue versions and entries per field."),
            0,
            0,
            0,
            14,
        ),
    ],
}

UPGRADE_GONE: dict[str, list[tuple[Any, ...]]] = {}

DOWNGRADE_ROWS: dict[str, list[tuple[Any, ...]]] = {}

DOWNGRADE_GONE: dict[str, list[tuple[Any, ...]]] = {
    "columns": [
        ("isla.catalogue_entries", "version"),
        ("isla.catalogues", "sha256"),
        ("isla.source_aliases", "catalogue_id"),
        ("isla.source_fluxes", "entry_id"),
        ("isla.sources", "entry_id"),
        ("isla.sources", "provenance"),
    ],
}


def upgrade() -> None:
    """Create the ingest tables (isla_ops) and the provenance columns of the source list."""
    op.create_table(
        "ingest_teams",
        sa.Column("name", sa.Text(), nullable=False, comment="Team name."),
        sa.Column("description", sa.Text(), nullable=True, comment="Who the team is."),
        sa.Column(
            "created_at",
            sa.DateTime(),
            server_default=sa.text("timezone('UTC', now())"),
            nullable=False,
            comment="When the team was registered (UTC).",
        ),
        sa.CheckConstraint(
            "name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'", name=op.f("ck_ingest_teams_name_form")
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_ingest_teams")),
        schema="isla_ops",
        comment="Teams that deliver catalogues and products.",
    )
    op.create_table(
        "merge_runs",
        sa.Column(
            "merge_id",
            sa.Integer(),
            autoincrement=True,
            nullable=False,
            comment="Merge identifier.",
        ),
        sa.Column("team", sa.Text(), nullable=True, comment="Team that ran the merge."),
        sa.Column(
            "created_at",
            sa.DateTime(),
            server_default=sa.text("timezone('UTC', now())"),
            nullable=False,
            comment="When (UTC).",
        ),
        sa.Column(
            "catalogues",
            postgresql.JSONB(astext_type=Text()),
            server_default="[]",
            nullable=False,
            comment="Catalogue versions merged.",
        ),
        sa.Column(
            "report",
            postgresql.JSONB(astext_type=Text()),
            server_default="{}",
            nullable=False,
            comment="Counts and parameters.",
        ),
        sa.PrimaryKeyConstraint("merge_id", name=op.f("pk_merge_runs")),
        schema="isla_ops",
        comment="Merges of team catalogues into isla.sources.",
    )
    op.create_table(
        "ingest_tokens",
        sa.Column(
            "token_id",
            sa.Integer(),
            autoincrement=True,
            nullable=False,
            comment="Token identifier.",
        ),
        sa.Column("team", sa.Text(), nullable=False, comment="Team the token acts for."),
        sa.Column("role", sa.String(length=16), nullable=False, comment="Role of the token."),
        sa.Column(
            "prefix",
            sa.String(length=16),
            nullable=False,
            comment="Public prefix of the token (display).",
        ),
        sa.Column(
            "token_hash", sa.String(length=64), nullable=False, comment="SHA-256 of the token, hex."
        ),
        sa.Column("label", sa.Text(), nullable=True, comment="What the token is for."),
        sa.Column(
            "created_at",
            sa.DateTime(),
            server_default=sa.text("timezone('UTC', now())"),
            nullable=False,
            comment="When the token was created (UTC).",
        ),
        sa.Column(
            "revoked_at",
            sa.DateTime(),
            nullable=True,
            comment="When the token was revoked (UTC); null while valid.",
        ),
        sa.Column(
            "last_used_at",
            sa.DateTime(),
            nullable=True,
            comment="Last successful authentication (UTC).",
        ),
        sa.CheckConstraint(
            "role IN ('operator', 'isdc', 'ibis', 'jemx', 'omc', 'spi')",
            name=op.f("ck_ingest_tokens_role"),
        ),
        sa.CheckConstraint("length(token_hash) = 64", name=op.f("ck_ingest_tokens_hash_length")),
        sa.ForeignKeyConstraint(
            ["team"],
            ["isla_ops.ingest_teams.name"],
            name=op.f("fk_ingest_tokens_team_ingest_teams"),
        ),
        sa.PrimaryKeyConstraint("token_id", name=op.f("pk_ingest_tokens")),
        sa.UniqueConstraint("prefix", name=op.f("uq_ingest_tokens_prefix")),
        schema="isla_ops",
        comment="Ingest API tokens (SHA-256 hashes only).",
    )
    op.create_table(
        "merge_conflicts",
        sa.Column(
            "conflict_id",
            sa.BigInteger(),
            autoincrement=True,
            nullable=False,
            comment="Conflict identifier.",
        ),
        sa.Column("merge_id", sa.Integer(), nullable=False, comment="Merge that found it."),
        sa.Column("kind", sa.String(length=32), nullable=False, comment="Kind of conflict."),
        sa.Column(
            "source_id",
            sa.String(length=16),
            nullable=True,
            comment="Archive source concerned, if one was made.",
        ),
        sa.Column(
            "detail",
            postgresql.JSONB(astext_type=Text()),
            nullable=False,
            comment="The entries involved (catalogue, version, entry, values).",
        ),
        sa.CheckConstraint(
            "kind IN ('names_at_one_position', 'name_at_two_positions', 'class_disagreement')",
            name=op.f("ck_merge_conflicts_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["merge_id"],
            ["isla_ops.merge_runs.merge_id"],
            name=op.f("fk_merge_conflicts_merge_id_merge_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("conflict_id", name=op.f("pk_merge_conflicts")),
        schema="isla_ops",
        comment="Conflicts found by catalogue merges (not resolved automatically).",
    )
    op.create_index(
        "ix_merge_conflicts_merge_id",
        "merge_conflicts",
        ["merge_id"],
        unique=False,
        schema="isla_ops",
    )
    op.create_table(
        "ingest_audit",
        sa.Column(
            "audit_id",
            sa.BigInteger(),
            autoincrement=True,
            nullable=False,
            comment="Audit record identifier.",
        ),
        sa.Column(
            "at",
            sa.DateTime(),
            server_default=sa.text("timezone('UTC', now())"),
            nullable=False,
            comment="When (UTC).",
        ),
        sa.Column("token_id", sa.Integer(), nullable=True, comment="Token used, if any."),
        sa.Column("team", sa.Text(), nullable=True, comment="Team of the token."),
        sa.Column("role", sa.String(length=16), nullable=True, comment="Role of the token."),
        sa.Column("action", sa.Text(), nullable=False, comment="What was attempted."),
        sa.Column("target", sa.Text(), nullable=True, comment="Object acted on."),
        sa.Column(
            "checksum", sa.String(length=64), nullable=True, comment="SHA-256 of the upload."
        ),
        sa.Column(
            "outcome",
            sa.String(length=16),
            nullable=False,
            comment="accepted, refused, failed, done, ...",
        ),
        sa.Column(
            "detail",
            postgresql.JSONB(astext_type=Text()),
            server_default="{}",
            nullable=False,
            comment="Further facts (problems, counts).",
        ),
        sa.ForeignKeyConstraint(
            ["token_id"],
            ["isla_ops.ingest_tokens.token_id"],
            name=op.f("fk_ingest_audit_token_id_ingest_tokens"),
        ),
        sa.PrimaryKeyConstraint("audit_id", name=op.f("pk_ingest_audit")),
        schema="isla_ops",
        comment="Audit trail of every ingest action, successful or refused.",
    )
    op.create_index("ix_ingest_audit_at", "ingest_audit", ["at"], unique=False, schema="isla_ops")
    op.create_index(
        "ix_ingest_audit_team", "ingest_audit", ["team"], unique=False, schema="isla_ops"
    )
    op.create_table(
        "ingest_jobs",
        sa.Column(
            "job_id",
            sa.BigInteger(),
            autoincrement=True,
            nullable=False,
            comment="Ingestion job identifier.",
        ),
        sa.Column("kind", sa.String(length=32), nullable=False, comment="catalogue or merge."),
        sa.Column("team", sa.Text(), nullable=False, comment="Team that submitted it."),
        sa.Column("token_id", sa.Integer(), nullable=True, comment="Token that submitted it."),
        sa.Column("target", sa.Text(), nullable=True, comment="What is ingested (name/version)."),
        sa.Column("status", sa.String(length=16), nullable=False, comment="Job state."),
        sa.Column(
            "progress",
            sa.Double(),
            server_default="0",
            nullable=False,
            comment="Fraction done, 0 to 1.",
        ),
        sa.Column("message", sa.Text(), nullable=True, comment="Current step, for humans."),
        sa.Column(
            "params",
            postgresql.JSONB(astext_type=Text()),
            server_default="{}",
            nullable=False,
            comment="Parameters of the ingestion.",
        ),
        sa.Column(
            "report", postgresql.JSONB(astext_type=Text()), nullable=True, comment="Final report."
        ),
        sa.Column(
            "queue_job_id",
            sa.BigInteger(),
            nullable=True,
            comment="Job-queue (procrastinate) job id when run asynchronously.",
        ),
        sa.Column(
            "created_at",
            sa.DateTime(),
            server_default=sa.text("timezone('UTC', now())"),
            nullable=False,
            comment="Submission time (UTC).",
        ),
        sa.Column("started_at", sa.DateTime(), nullable=True, comment="Start (UTC)."),
        sa.Column("finished_at", sa.DateTime(), nullable=True, comment="End (UTC)."),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'done', 'failed', 'refused')",
            name=op.f("ck_ingest_jobs_status"),
        ),
        sa.ForeignKeyConstraint(
            ["token_id"],
            ["isla_ops.ingest_tokens.token_id"],
            name=op.f("fk_ingest_jobs_token_id_ingest_tokens"),
        ),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_ingest_jobs")),
        schema="isla_ops",
        comment="Ingestion jobs with progress and final report.",
    )
    op.create_index("ix_ingest_jobs_team", "ingest_jobs", ["team"], unique=False, schema="isla_ops")
    op.add_column(
        "catalogue_entries",
        sa.Column(
            "version",
            sa.String(length=32),
            nullable=True,
            comment="Version of the entry's catalogue (earlier versions stay queryable).",
        ),
        schema="isla",
    )
    op.add_column(
        "catalogues",
        sa.Column(
            "sha256",
            sa.String(length=64),
            nullable=True,
            comment="SHA-256 checksum of the delivered file.",
        ),
        schema="isla",
    )
    op.add_column(
        "source_aliases",
        sa.Column(
            "catalogue_id",
            sa.Integer(),
            nullable=True,
            comment="Catalogue version the name comes from.",
        ),
        schema="isla",
    )
    op.create_foreign_key(
        op.f("fk_source_aliases_catalogue_id_catalogues"),
        "source_aliases",
        "catalogues",
        ["catalogue_id"],
        ["catalogue_id"],
        source_schema="isla",
        referent_schema="isla",
        ondelete="SET NULL",
    )
    op.add_column(
        "source_fluxes",
        sa.Column(
            "entry_id",
            sa.BigInteger(),
            nullable=True,
            comment="Catalogue entry the value comes from.",
        ),
        schema="isla",
    )
    op.add_column(
        "sources",
        sa.Column(
            "entry_id",
            sa.BigInteger(),
            nullable=True,
            comment="Catalogue entry the position and class come from.",
        ),
        schema="isla",
    )
    op.add_column(
        "sources",
        sa.Column(
            "provenance",
            postgresql.JSONB(astext_type=Text()),
            nullable=True,
            comment="Where each merged value comes from: catalogue versions and entries per field.",
        ),
        schema="isla",
    )

    op.alter_column(
        "catalogue_entries",
        "entry_name",
        existing_type=sa.Text(),
        existing_nullable=False,
        comment=ENTRY_NAME,
        existing_comment=OLD_ENTRY_NAME,
        schema="isla",
    )
    # Entries delivered before versions were recorded (the demo catalogue) take theirs now.
    op.execute(
        "UPDATE isla.catalogue_entries e SET version = c.version "
        "FROM isla.catalogues c WHERE c.catalogue_id = e.catalogue_id AND e.version IS NULL"
    )
    change_tap_schema(op.get_bind(), UPGRADE_ROWS, UPGRADE_GONE)


def downgrade() -> None:
    """Drop what :func:`upgrade` created."""
    op.alter_column(
        "catalogue_entries",
        "entry_name",
        existing_type=sa.Text(),
        existing_nullable=False,
        comment=OLD_ENTRY_NAME,
        existing_comment=ENTRY_NAME,
        schema="isla",
    )

    op.drop_column("sources", "provenance", schema="isla")
    op.drop_column("sources", "entry_id", schema="isla")
    op.drop_column("source_fluxes", "entry_id", schema="isla")
    op.drop_constraint(
        op.f("fk_source_aliases_catalogue_id_catalogues"),
        "source_aliases",
        schema="isla",
        type_="foreignkey",
    )
    op.drop_column("source_aliases", "catalogue_id", schema="isla")
    op.drop_column("catalogues", "sha256", schema="isla")
    op.drop_column("catalogue_entries", "version", schema="isla")
    op.drop_index("ix_ingest_jobs_team", table_name="ingest_jobs", schema="isla_ops")
    op.drop_table("ingest_jobs", schema="isla_ops")
    op.drop_index("ix_ingest_audit_team", table_name="ingest_audit", schema="isla_ops")
    op.drop_index("ix_ingest_audit_at", table_name="ingest_audit", schema="isla_ops")
    op.drop_table("ingest_audit", schema="isla_ops")
    op.drop_index("ix_merge_conflicts_merge_id", table_name="merge_conflicts", schema="isla_ops")
    op.drop_table("merge_conflicts", schema="isla_ops")
    op.drop_table("ingest_tokens", schema="isla_ops")
    op.drop_table("merge_runs", schema="isla_ops")
    op.drop_table("ingest_teams", schema="isla_ops")
    change_tap_schema(op.get_bind(), DOWNGRADE_ROWS, DOWNGRADE_GONE)
