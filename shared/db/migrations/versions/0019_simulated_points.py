"""Simulated light-curve points labelled: a ``simulated`` flag on the points tables

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03

Light-curve points arrive through ingestion, from delivered light curves and from the
per-ScW source-results tables of the pipelines (delivery kind ``lc_results``). The points of
the demo archive are simulated, those of INTEGRAL's files are not; ingestion sets the new
flag from the delivered file's ``SIMDATA`` keyword:

- ``isla.lightcurve_points.simulated`` and ``isla.omc_points.simulated`` (boolean, false
  unless set).

Both tables are published in TAP_SCHEMA as they are (no view stands between them and ADQL;
no ``ila.*`` view exposes points), so the new columns are published as booleans, like
``isla.products.simulated`` (migration 0011). The TAP_SCHEMA rows are written out here,
frozen with the revision.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("lightcurve_points", "omc_points")

_DESCRIPTION = (
    "True when the point is simulated (the demo archive), false when delivered by INTEGRAL."
)

# (table, column, datatype, ucd, description) of the TAP_SCHEMA rows this revision adds.
_TAP_COLUMNS = [
    (f"isla.{t}", "simulated", "boolean", "meta.code.qual", _DESCRIPTION) for t in TABLES
]


def upgrade() -> None:
    """Add the flags and publish them."""
    for table in TABLES:
        op.add_column(
            table,
            sa.Column(
                "simulated",
                sa.Boolean(),
                server_default=sa.text("false"),
                nullable=False,
                comment=_DESCRIPTION,
            ),
            schema="isla",
        )
    for table, column, datatype, ucd, description in _TAP_COLUMNS:
        op.execute(
            sa.text(
                "INSERT INTO tap_schema.columns (table_name, column_name, datatype, utype, "
                "unit, ucd, description, indexed, principal, std, column_index) "
                "SELECT :t, :c, :dt, NULL, NULL, :ucd, :d, 0, 0, 0, "
                "coalesce(max(column_index), -1) + 1 FROM tap_schema.columns "
                "WHERE table_name = :t "
                "AND EXISTS (SELECT 1 FROM tap_schema.tables WHERE table_name = :t)"
            ).bindparams(t=table, c=column, dt=datatype, ucd=ucd, d=description)
        )


def downgrade() -> None:
    """Revert: the TAP_SCHEMA rows and the columns removed."""
    for table, column, _dt, _ucd, _d in _TAP_COLUMNS:
        op.execute(
            sa.text(
                "DELETE FROM tap_schema.columns WHERE table_name = :t AND column_name = :c"
            ).bindparams(t=table, c=column)
        )
    for table in TABLES:
        op.drop_column(table, "simulated", schema="isla")
