"""Epochs of a target: a source inside a field's inscribed circle needs no polygon test

Revision ID: 0047
Revises: 0046
Create Date: 2026-12-04

``ila.epoch`` (and the epoch coverage kept for it, migration 0042) finds a source's candidate
pointings within each field's circumscribed circle, then tests the field's polygon. At the full
mission the Crab has ~5,000 JEM-X candidates, and the 16-vertex polygon test of each took
~140 ms of the epochs query. Every field is a convex polygon drawn in the tangent plane of the
pointing (``shared.demo.generator``: ISGRI's square of half width 14.5°, JEM-X's 16-gon and
SPI's hexagon of radii 6.6° and 8°; the raw-index ingestion builds them the same way), whose
edges are great circles; its inscribed circle there is a cap of angular radius
``atan(tan(R) cos(pi/n))`` around the axis (14.5°, 6.475°, 6.939°). A source within a little
less than that of the axis is inside the field, so the polygon is tested only for the others
(a ring near the edge): the same rows, the JEM-X epochs of the Crab 141 -> 14 ms in SQL.
"""

from collections.abc import Sequence

from alembic import op

from shared.db.revisions import revision_module

revision: str = "0047"
down_revision: str | None = "0046"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INSCRIBED = {"fov_isgri": 14.49, "fov_jemx": 6.47, "fov_spi": 6.93}
"""Degrees, a little inside each field's inscribed circle (14.5°, 6.475°, 6.939°)."""


_PREVIOUS = revision_module("0042_query_latency.py")
PREVIOUS_VIEW = str(_PREVIOUS.EPOCH_VIEW)
PREVIOUS_VERIFY = str(_PREVIOUS.FUNCTIONS[0]).replace(
    "CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1
)
assert "verify_epoch_sources" in PREVIOUS_VERIFY


def _inscribed(sql: str) -> str:
    for fov, radius in INSCRIBED.items():
        old = f"AND spoly_contains_point(w.{fov}, s.pos)"
        new = (
            f"AND (s.pos <@ scircle(w.pos, radians({radius})) "
            f"OR spoly_contains_point(w.{fov}, s.pos))"
        )
        assert old in sql, f"revision 0042 changed near {old!r}"
        sql = sql.replace(old, new)
    return sql


EPOCH_VIEW = _inscribed(PREVIOUS_VIEW)
VERIFY = _inscribed(PREVIOUS_VERIFY)


def upgrade() -> None:
    """Apply this revision (same columns, same rows)."""
    op.execute(EPOCH_VIEW)
    op.execute(VERIFY)


def downgrade() -> None:
    """Revert this revision: the polygon test for every candidate."""
    op.execute(PREVIOUS_VIEW)
    op.execute(PREVIOUS_VERIFY)
