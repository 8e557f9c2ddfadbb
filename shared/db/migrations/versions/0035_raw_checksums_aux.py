"""Raw files copied in by any S3 client: checksum states, auxiliary folders, revolution sources

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-03

- ``isla.scw_files`` and ``isla.aux_files``: a file may be registered before its SHA-256 is
  known (``sha256`` NULL, ``state`` 'unverified'), and a verification may find it 'corrupt' or
  'missing'; ``checksum_source``, ``verified_at`` and the object's ``etag`` when indexed say
  where the checksum came from and when. ``aux_files`` gains the ``version`` of its folder.
- ``isla.revolutions.bounds_source``: orbit_file, revolution_table or model.
- ``isla_ops.scw_index_entries``: the delivered ScW index (good times and exposures per
  instrument), applied to the science windows when they are indexed.

The TAP_SCHEMA rows of the new columns are frozen here as literal data.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from shared.db.tap_schema_rows import change_tap_schema

revision: str = "0035"
down_revision: str | None = "0034"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATES = "state IN ('verified', 'unverified', 'corrupt', 'missing')"
SHA_BEFORE = "SHA-256 checksum of the file."
SHA_AFTER = "SHA-256 checksum of the file (NULL while the file is unverified)."
STATE = (
    "verified (checksum known), unverified (not yet hashed: served with its size only), "
    "corrupt or missing (found so by a verification: not served)."
)
SOURCE = (
    "Where the checksum comes from: streamed (hashed by the indexer), s3 (the object "
    "store's own SHA-256 checksum) or isla (computed by ISLA while writing the object)."
)
VERIFIED_AT = "When the checksum was last computed or checked (UTC)."
ETAG = "The object's ETag when it was indexed (a changed object is hashed again)."
AUX_VERSION = "Version of the revolution's auxiliary folder (aux/adp/RRRR.VVV)."
AUX_TABLE_BEFORE = "Auxiliary per-revolution files (orbit, attitude)."
AUX_TABLE_AFTER = "Auxiliary per-revolution files (orbit, attitude, time correlation)."
BOUNDS = (
    "Where the start and end come from: orbit_file (the revolution's auxiliary orbit file), "
    "revolution_table (a delivered revolution table) or model (the archive's calibrated "
    "revolution table, until the mission's own data arrive)."
)

# TAP_SCHEMA rows this revision writes (insert or update) and removes, as literal data.
TAP_ROWS: dict[str, list[tuple[Any, ...]]] = {
    "tables": [
        (
            "isla",
            "isla.aux_files",
            "table",
            None,
            "Auxiliary per-revolution files (orbit, attitude, time correlation).",
            0,
        )
    ],
    "columns": [
        (
            "isla.aux_files",
            "checksum_source",
            "unicodeChar",
            "*",
            None,
            None,
            None,
            None,
            "meta.ref",
            "Where the checksum comes from: streamed (hashed by the indexer), s3 (the object "
            "store's own SHA-256 checksum) or isla (computed by ISLA while writing the "
            "object).",
            0,
            0,
            0,
            8,
        ),
        (
            "isla.aux_files",
            "etag",
            "unicodeChar",
            "*",
            None,
            None,
            None,
            None,
            "meta.id",
            "The object's ETag when it was indexed (a changed object is hashed again).",
            0,
            0,
            0,
            10,
        ),
        (
            "isla.aux_files",
            "sha256",
            "char",
            "*",
            None,
            None,
            None,
            None,
            "meta.checksum",
            "SHA-256 checksum of the file (NULL while the file is unverified).",
            0,
            0,
            0,
            4,
        ),
        (
            "isla.aux_files",
            "state",
            "char",
            "*",
            None,
            None,
            None,
            None,
            "meta.code.status",
            "verified (checksum known), unverified (not yet hashed: served with its size "
            "only), corrupt or missing (found so by a verification: not served).",
            0,
            0,
            0,
            7,
        ),
        (
            "isla.aux_files",
            "verified_at",
            "char",
            "*",
            None,
            "timestamp",
            None,
            None,
            "time.processing",
            "When the checksum was last computed or checked (UTC).",
            0,
            0,
            0,
            9,
        ),
        (
            "isla.aux_files",
            "version",
            "char",
            "*",
            None,
            None,
            None,
            None,
            "meta.version",
            "Version of the revolution's auxiliary folder (aux/adp/RRRR.VVV).",
            0,
            0,
            0,
            6,
        ),
        (
            "isla.revolutions",
            "bounds_source",
            "unicodeChar",
            "*",
            None,
            None,
            None,
            None,
            "meta.ref",
            "Where the start and end come from: orbit_file (the revolution's auxiliary orbit "
            "file), revolution_table (a delivered revolution table) or model (the archive's "
            "calibrated revolution table, until the mission's own data arrive).",
            0,
            0,
            0,
            5,
        ),
        (
            "isla.scw_files",
            "checksum_source",
            "unicodeChar",
            "*",
            None,
            None,
            None,
            None,
            "meta.ref",
            "Where the checksum comes from: streamed (hashed by the indexer), s3 (the object "
            "store's own SHA-256 checksum) or isla (computed by ISLA while writing the "
            "object).",
            0,
            0,
            0,
            9,
        ),
        (
            "isla.scw_files",
            "etag",
            "unicodeChar",
            "*",
            None,
            None,
            None,
            None,
            "meta.id",
            "The object's ETag when it was indexed (a changed object is hashed again).",
            0,
            0,
            0,
            11,
        ),
        (
            "isla.scw_files",
            "sha256",
            "char",
            "*",
            None,
            None,
            None,
            None,
            "meta.checksum",
            "SHA-256 checksum of the file (NULL while the file is unverified).",
            0,
            0,
            0,
            5,
        ),
        (
            "isla.scw_files",
            "state",
            "char",
            "*",
            None,
            None,
            None,
            None,
            "meta.code.status",
            "verified (checksum known), unverified (not yet hashed: served with its size "
            "only), corrupt or missing (found so by a verification: not served).",
            0,
            0,
            0,
            8,
        ),
        (
            "isla.scw_files",
            "verified_at",
            "char",
            "*",
            None,
            "timestamp",
            None,
            None,
            "time.processing",
            "When the checksum was last computed or checked (UTC).",
            0,
            0,
            0,
            10,
        ),
    ],
}
TAP_GONE: dict[str, list[tuple[Any, ...]]] = {}
TAP_ROWS_BEFORE: dict[str, list[tuple[Any, ...]]] = {
    "tables": [
        (
            "isla",
            "isla.aux_files",
            "table",
            None,
            "Auxiliary per-revolution files (orbit, attitude).",
            0,
        )
    ],
    "columns": [
        (
            "isla.aux_files",
            "sha256",
            "char",
            "*",
            None,
            None,
            None,
            None,
            "meta.checksum",
            "SHA-256 checksum of the file.",
            0,
            0,
            0,
            4,
        ),
        (
            "isla.scw_files",
            "sha256",
            "char",
            "*",
            None,
            None,
            None,
            None,
            "meta.checksum",
            "SHA-256 checksum of the file.",
            0,
            0,
            0,
            5,
        ),
    ],
}
TAP_GONE_BEFORE: dict[str, list[tuple[Any, ...]]] = {
    "columns": [
        ("isla.aux_files", "checksum_source"),
        ("isla.aux_files", "etag"),
        ("isla.aux_files", "state"),
        ("isla.aux_files", "verified_at"),
        ("isla.aux_files", "version"),
        ("isla.revolutions", "bounds_source"),
        ("isla.scw_files", "checksum_source"),
        ("isla.scw_files", "etag"),
        ("isla.scw_files", "state"),
        ("isla.scw_files", "verified_at"),
    ]
}


def _file_columns(table: str) -> None:
    op.alter_column(
        table,
        "sha256",
        existing_type=sa.String(64),
        nullable=True,
        comment=SHA_AFTER,
        existing_comment=SHA_BEFORE,
        schema="isla",
    )
    op.add_column(
        table,
        sa.Column(
            "state",
            sa.String(10),
            nullable=False,
            server_default=sa.text("'verified'"),
            comment=STATE,
        ),
        schema="isla",
    )
    op.add_column(table, sa.Column("checksum_source", sa.Text(), comment=SOURCE), schema="isla")
    op.add_column(
        table, sa.Column("verified_at", sa.DateTime(), comment=VERIFIED_AT), schema="isla"
    )
    op.add_column(table, sa.Column("etag", sa.Text(), comment=ETAG), schema="isla")
    op.create_check_constraint(op.f(f"ck_{table}_state"), table, STATES, schema="isla")
    op.create_check_constraint(
        op.f(f"ck_{table}_verified_sha256"),
        table,
        "state <> 'verified' OR sha256 IS NOT NULL",
        schema="isla",
    )


def upgrade() -> None:
    """Add the columns and the ScW index table; write their TAP_SCHEMA rows."""
    op.add_column(
        "revolutions",
        sa.Column(
            "bounds_source",
            sa.Text(),
            nullable=False,
            server_default=sa.text("'model'"),
            comment=BOUNDS,
        ),
        schema="isla",
    )
    op.create_check_constraint(
        op.f("ck_revolutions_bounds_source"),
        "revolutions",
        "bounds_source IN ('orbit_file', 'revolution_table', 'model')",
        schema="isla",
    )
    # Files registered so far came with ISLA's own checksum (the only kind the indexer took).
    _file_columns("scw_files")
    op.execute("UPDATE isla.scw_files SET checksum_source = 'isla'")
    op.add_column(
        "aux_files",
        sa.Column(
            "version",
            sa.String(3),
            nullable=False,
            server_default=sa.text("'001'"),
            comment=AUX_VERSION,
        ),
        schema="isla",
    )
    _file_columns("aux_files")
    op.execute("UPDATE isla.aux_files SET checksum_source = 'isla'")
    op.create_table_comment(
        "aux_files", AUX_TABLE_AFTER, existing_comment=AUX_TABLE_BEFORE, schema="isla"
    )
    op.create_table(
        "scw_index_entries",
        sa.Column("scw_id", sa.String(12), nullable=False, comment="ScW id."),
        sa.Column("version", sa.String(3), nullable=False, comment="ScW version."),
        sa.Column(
            "delivery",
            sa.Text(),
            nullable=False,
            comment="The delivery (interface, name and version) it came from.",
        ),
        sa.Column("scw_type", sa.String(8), comment="pointing or slew."),
        sa.Column("ra", sa.Double(), comment="Pointing axis RA (deg)."),
        sa.Column("dec", sa.Double(), comment="Pointing axis Dec (deg)."),
        sa.Column(
            "times",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=False,
            server_default="{}",
            comment="Good time and exposure per instrument (s): {'isgri_exposure': ..., ...}.",
        ),
        sa.Column(
            "modes",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=False,
            server_default="{}",
            comment="Instrument modes and other columns.",
        ),
        sa.Column(
            "delivered_at",
            sa.DateTime(),
            server_default=sa.text("timezone('UTC', now())"),
            nullable=False,
            comment="When delivered (UTC).",
        ),
        sa.CheckConstraint("scw_id ~ '^[0-9]{12}$'", name=op.f("ck_scw_index_entries_scw_id_form")),
        sa.PrimaryKeyConstraint("scw_id", "version", name=op.f("pk_scw_index_entries")),
        schema="isla_ops",
        comment="Science windows of the delivered ScW index (good times and exposures).",
    )
    change_tap_schema(op.get_bind(), TAP_ROWS, TAP_GONE)


def downgrade() -> None:
    """Drop what :func:`upgrade` added (unverified files lose their rows)."""
    change_tap_schema(op.get_bind(), TAP_ROWS_BEFORE, TAP_GONE_BEFORE)
    op.drop_table("scw_index_entries", schema="isla_ops")
    op.create_table_comment(
        "aux_files", AUX_TABLE_BEFORE, existing_comment=AUX_TABLE_AFTER, schema="isla"
    )
    for table in ("scw_files", "aux_files"):
        op.execute(f"DELETE FROM isla.{table} WHERE sha256 IS NULL")  # noqa: S608 - fixed names
        for name in ("state", "verified_sha256"):
            op.drop_constraint(op.f(f"ck_{table}_{name}"), table, schema="isla")
        for column in ("etag", "verified_at", "checksum_source", "state"):
            op.drop_column(table, column, schema="isla")
        op.alter_column(
            table,
            "sha256",
            existing_type=sa.String(64),
            nullable=False,
            comment=SHA_BEFORE,
            existing_comment=SHA_AFTER,
            schema="isla",
        )
    op.drop_column("aux_files", "version", schema="isla")
    op.drop_constraint(op.f("ck_revolutions_bounds_source"), "revolutions", schema="isla")
    op.drop_column("revolutions", "bounds_source", schema="isla")
