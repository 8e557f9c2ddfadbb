"""Positional indexes on ra/dec for ADQL cones written on the columns

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25

ADQL users write cones as ``CONTAINS(POINT('ICRS', ra, dec), CIRCLE(...))``, which the
translator turns into ``spoint(RADIANS(ra), RADIANS(dec)) @ scircle(...)``. The ``pos``
columns have GiST indexes, but Postgres only uses an index for the expression it was built on,
so each table with ``ra``/``dec`` also gets a GiST index on exactly that expression: cones on
the columns then cost an index scan instead of a full scan.

Expression indexes are not compared by Alembic's autogenerate, so they live here only.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("sources", "catalogue_entries", "observations", "science_windows")


def upgrade() -> None:
    """Create the ra/dec expression indexes."""
    for table in TABLES:
        op.execute(
            f"CREATE INDEX IF NOT EXISTS ix_{table}_radec ON isla.{table} "
            "USING gist (spoint(radians(ra), radians(dec)))"
        )


def downgrade() -> None:
    """Drop them."""
    for table in TABLES:
        op.execute(f"DROP INDEX IF EXISTS isla.ix_{table}_radec")
