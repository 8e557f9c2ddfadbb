"""SPI-ACS and IREM time series: indexes of delivered files and serving segments

Revision ID: 0018
Revises: 0010
Create Date: 2026-12-03

The samples stay in the object store: the delivered per-revolution FITS files and the serving
copy (gap-split segments with their multi-resolution pyramid). Postgres keeps only two
indexes: ``isla.timeseries_files`` (one row per dataset and revolution) and
``isla.timeseries_segments`` (one row per segment, with its byte layout and the summary of its
pyramid root). Both carry ``simulated``.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from shared.vo import tap_schema

revision: str = "0018"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FILES = "Delivered SPI-ACS and IREM time-series files, one per dataset and revolution."
_SEGMENTS = (
    "Segments of the time-series serving copy (gap-free runs of samples with implicit "
    "time, with their multi-resolution pyramid) in the object store."
)


def _c(name: str, type_: Any, comment: str, **kw: Any) -> sa.Column[Any]:
    return sa.Column(name, type_, nullable=kw.pop("nullable", False), comment=comment, **kw)


def upgrade() -> None:
    """Create the two index tables and publish them."""
    op.create_table(
        "timeseries_files",
        _c("file_id", sa.Text(), "File identifier (dataset and revolution)."),
        _c("dataset", sa.String(32), "Time-series dataset (spiacs_50ms, irem)."),
        _c("revolution", sa.Integer(), "Revolution the file covers."),
        _c("instrument", sa.String(16), "Instrument (SPI-ACS, IREM)."),
        _c("t_start", sa.Double(), "First sample (IJD, TT)."),
        _c("t_stop", sa.Double(), "Last sample (IJD, TT)."),
        _c("n_samples", sa.BigInteger(), "Rows of the file."),
        _c("timedel", sa.Double(), "Time step of the file (TIMEDEL)."),
        _c("bucket", sa.Text(), "Object-store bucket."),
        _c("object_key", sa.Text(), "Object-store key."),
        _c("file_name", sa.Text(), "File name offered on download."),
        _c("size", sa.BigInteger(), "File size."),
        _c("sha256", sa.String(64), "SHA-256 checksum."),
        _c(
            "simulated",
            sa.Boolean(),
            "True for simulated (demo) data, false for INTEGRAL measurements.",
            server_default=sa.text("false"),
        ),
        _c("team", sa.Text(), "Team that delivered the file.", nullable=True),
        _c(
            "created_at",
            sa.DateTime(),
            "When the file entered the archive (UTC).",
            server_default=sa.text("timezone('UTC', now())"),
        ),
        _c("meta", postgresql.JSONB(), "Further file metadata (delivered keywords)."),
        sa.PrimaryKeyConstraint("file_id", name=op.f("pk_timeseries_files")),
        sa.UniqueConstraint(
            "dataset", "revolution", name=op.f("uq_timeseries_files_dataset_revolution")
        ),
        schema="isla",
        comment=_FILES,
    )
    op.create_table(
        "timeseries_segments",
        _c("segment_id", sa.BigInteger(), "Segment identifier.", autoincrement=True),
        _c("dataset", sa.String(32), "Dataset (spiacs_50ms, spiacs_2s, spiacs_10s, irem)."),
        _c("file_id", sa.Text(), "Delivered file the segment was built from."),
        _c("revolution", sa.Integer(), "Revolution."),
        _c("t0", sa.Double(), "Time of sample 0 (TT seconds since IJD 0)."),
        _c("dt", sa.Double(), "Time step."),
        _c("n_samples", sa.BigInteger(), "Samples in the segment."),
        _c("t_start", sa.Double(), "First sample (IJD, TT)."),
        _c("t_stop", sa.Double(), "Last sample (IJD, TT)."),
        _c("bucket", sa.Text(), "Object-store bucket."),
        _c("object_key", sa.Text(), "Object-store key of the segment."),
        _c("layout", postgresql.JSONB(), "Arrays and pyramid levels of the segment object."),
        _c(
            "summary",
            postgresql.JSONB(),
            "Per plotted field: min, max, sum and count over the segment.",
        ),
        _c(
            "simulated",
            sa.Boolean(),
            "True for simulated (demo) data.",
            server_default=sa.text("false"),
        ),
        sa.ForeignKeyConstraint(
            ["file_id"],
            ["isla.timeseries_files.file_id"],
            name=op.f("fk_timeseries_segments_file_id_timeseries_files"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("segment_id", name=op.f("pk_timeseries_segments")),
        schema="isla",
        comment=_SEGMENTS,
    )
    op.create_index(
        "ix_timeseries_segments_dataset_t_start",
        "timeseries_segments",
        ["dataset", "t_start"],
        schema="isla",
    )
    op.create_index(
        "ix_timeseries_segments_file_id", "timeseries_segments", ["file_id"], schema="isla"
    )
    tap_schema.refresh(op.get_bind())


def downgrade() -> None:
    """Drop the time-series indexes."""
    op.drop_table("timeseries_segments", schema="isla")
    op.drop_table("timeseries_files", schema="isla")
    tap_schema.refresh(op.get_bind())
