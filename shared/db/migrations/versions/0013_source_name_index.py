"""Functional index on normalised source names, for the one source resolver

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03

The source resolver (``shared.sources``) finds a source by its id, its preferred name or an
alias, names compared normalised (lower case, without spaces, ``_`` or ``-``). Aliases carry
their normalised form in an indexed column; preferred names get an index on the expression,
so that "Crab" is an index probe, not a scan of the catalogue. The expression is frozen here
as written: it must match the resolver's query text exactly.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME_NORM = "lower(replace(replace(replace(name, ' ', ''), '_', ''), '-', ''))"


def upgrade() -> None:
    """Create the index on the normalised name."""
    op.execute(f"CREATE INDEX IF NOT EXISTS ix_sources_name_norm ON isla.sources ({NAME_NORM})")


def downgrade() -> None:
    """Drop it."""
    op.execute("DROP INDEX IF EXISTS isla.ix_sources_name_norm")
