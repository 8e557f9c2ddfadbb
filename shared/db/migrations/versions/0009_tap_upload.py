"""TAP upload: temporary tables for the read-only role

Uploaded tables (TAP_UPLOAD) become temporary tables that the reader role creates in the
query's own transaction, so it needs the TEMPORARY privilege on the database. Postgres gives
it to PUBLIC by default, but a hardened database may have revoked that: the grant is explicit.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Grant TEMPORARY on this database to isla_reader."""
    op.execute(
        "DO $$ BEGIN EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO isla_reader', "
        "current_database()); END $$"
    )


def downgrade() -> None:
    """Take the grant back (PUBLIC's default privilege, if any, stays)."""
    op.execute(
        "DO $$ BEGIN EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM isla_reader', "
        "current_database()); END $$"
    )
