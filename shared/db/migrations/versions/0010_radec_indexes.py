"""Positional indexes on ra/dec for ADQL cones written on the columns

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25

ADQL users write cones as ``CONTAINS(POINT('ICRS', ra, dec), CIRCLE(...))``. The TAP
translator rewrites the point to the indexed ``pos`` column in simple queries on the archive's
tables, but not through the ``ila`` views astroquery queries (``ila.v_cat_source``,
``ila.cons_pub_obs``) or in queries with derived tables; there the point stays
``spoint(RADIANS(ra), RADIANS(dec))``, and Postgres uses an index only for the expression it
was built on. So the tables behind those views also get a GiST index on exactly that
expression. ``catalogue_entries`` does not: it is bulk-loaded, and its cones are always
rewritten.

Expression indexes are not compared by Alembic's autogenerate, so they live here only.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("sources", "observations", "science_windows")


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
