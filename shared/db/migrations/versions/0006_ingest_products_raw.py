"""Ingest: products and the raw index

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NOW = sa.text("timezone('UTC', now())")


def upgrade() -> None:
    """The product-ingestion journal and the raw-index progress tables (isla_ops)."""
    op.create_table(
        "product_staging",
        sa.Column(
            "staging_id",
            sa.BigInteger(),
            autoincrement=True,
            nullable=False,
            comment="Journal entry identifier.",
        ),
        sa.Column(
            "ingestion",
            sa.String(length=36),
            nullable=False,
            comment="Delivery the file belongs to (UUID).",
        ),
        sa.Column("product_id", sa.Text(), nullable=False, comment="Target product."),
        sa.Column("staging_key", sa.Text(), nullable=False, comment="Staging object key."),
        sa.Column("final_key", sa.Text(), nullable=False, comment="Final object key."),
        sa.Column("sha256", sa.String(length=64), nullable=False, comment="SHA-256 of the file."),
        sa.Column(
            "row",
            postgresql.JSONB(astext_type=Text()),
            nullable=False,
            comment="The isla.products row to write.",
        ),
        sa.Column(
            "load_points",
            sa.Boolean(),
            server_default="false",
            nullable=False,
            comment="Whether light-curve points are loaded.",
        ),
        sa.Column(
            "state",
            sa.String(length=16),
            nullable=False,
            comment="staging (not committed yet) or done.",
        ),
        sa.Column(
            "created_at",
            sa.DateTime(),
            server_default=_NOW,
            nullable=False,
            comment="When the delivery began (UTC).",
        ),
        sa.CheckConstraint("state IN ('staging', 'done')", name=op.f("ck_product_staging_state")),
        sa.PrimaryKeyConstraint("staging_id", name=op.f("pk_product_staging")),
        schema="isla_ops",
        comment="Journal of product files being ingested (staging key, target, row).",
    )
    op.create_index(
        "ix_product_staging_ingestion",
        "product_staging",
        ["ingestion"],
        unique=False,
        schema="isla_ops",
    )
    op.create_table(
        "raw_index_runs",
        sa.Column(
            "run_id", sa.Integer(), autoincrement=True, nullable=False, comment="Run identifier."
        ),
        sa.Column(
            "scope",
            sa.Text(),
            nullable=False,
            comment="What is indexed: 'all' or one revolution (RRRR).",
        ),
        sa.Column("status", sa.String(length=16), nullable=False, comment="Run state."),
        sa.Column(
            "revolutions_total",
            sa.Integer(),
            server_default="0",
            nullable=False,
            comment="Revolutions found in the store.",
        ),
        sa.Column(
            "revolutions_done",
            sa.Integer(),
            server_default="0",
            nullable=False,
            comment="Revolutions committed so far.",
        ),
        sa.Column(
            "scws",
            sa.Integer(),
            server_default="0",
            nullable=False,
            comment="Science windows registered.",
        ),
        sa.Column(
            "files",
            sa.Integer(),
            server_default="0",
            nullable=False,
            comment="Raw files registered.",
        ),
        sa.Column(
            "started_at", sa.DateTime(), server_default=_NOW, nullable=False, comment="Start (UTC)."
        ),
        sa.Column("finished_at", sa.DateTime(), nullable=True, comment="End (UTC)."),
        sa.CheckConstraint(
            "status IN ('running', 'done', 'failed')", name=op.f("ck_raw_index_runs_status")
        ),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_raw_index_runs")),
        schema="isla_ops",
        comment="Runs of the raw-data indexer, with their progress.",
    )
    op.create_table(
        "raw_index_progress",
        sa.Column("run_id", sa.Integer(), nullable=False, comment="Run."),
        sa.Column("revolution", sa.Integer(), nullable=False, comment="Revolution."),
        sa.Column("scws", sa.Integer(), nullable=False, comment="Science windows."),
        sa.Column("files", sa.Integer(), nullable=False, comment="Raw files."),
        sa.Column(
            "done_at",
            sa.DateTime(),
            server_default=_NOW,
            nullable=False,
            comment="When committed (UTC).",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["isla_ops.raw_index_runs.run_id"],
            name=op.f("fk_raw_index_progress_run_id_raw_index_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", "revolution", name=op.f("pk_raw_index_progress")),
        schema="isla_ops",
        comment="Revolutions committed by each raw-index run.",
    )


def downgrade() -> None:
    """Drop the tables of :func:`upgrade`."""
    op.drop_table("raw_index_progress", schema="isla_ops")
    op.drop_table("raw_index_runs", schema="isla_ops")
    op.drop_index("ix_product_staging_ingestion", table_name="product_staging", schema="isla_ops")
    op.drop_table("product_staging", schema="isla_ops")
