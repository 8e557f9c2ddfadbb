"""Light-curve points bulk-loaded: the source checked once per delivery, a BRIN on scw_id

Revision ID: 0044
Revises: 0043
Create Date: 2026-12-03

``isla.lightcurve_points`` holds tens of millions of rows loaded with binary ``COPY``, and two
of its per-row costs went:

- the foreign key to ``isla.sources`` (a trigger and a primary-key probe per point) is
  replaced by a check once per delivered file: ingestion takes a ``FOR KEY SHARE`` lock on
  the file's sources (what the foreign-key trigger takes per row), so a source cannot vanish
  before the delivery commits; a statement-level trigger on ``isla.sources`` keeps the
  ``ON DELETE CASCADE`` (per statement, with the deleted rows as a transition table) and a
  row trigger, fired only by an ``UPDATE`` that sets ``source_id``, refuses a change of a
  ``source_id`` that points still refer to;
- the B-tree on ``scw_id`` becomes a BRIN index (points arrive in time order, a delivery of
  revolutions at a time): the look-ups by ScW stay indexed, at a fraction of the upkeep.

TAP_SCHEMA does not change: the key ``fk_lightcurve_points_source_id_sources`` is still
published (the relation holds, enforced as above) and ``scw_id`` is still indexed.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0044"
down_revision: str | None = "0043"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TRIGGERS = """
CREATE FUNCTION isla.lightcurve_points_follow_sources_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM isla.lightcurve_points p USING gone g WHERE p.source_id = g.source_id;
    RETURN NULL;
END $$;

CREATE FUNCTION isla.lightcurve_points_follow_sources_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM isla.lightcurve_points p WHERE p.source_id = OLD.source_id) THEN
        RAISE EXCEPTION 'source % still has light-curve points', OLD.source_id
              USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER lightcurve_points_follow_delete AFTER DELETE ON isla.sources
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT
    EXECUTE FUNCTION isla.lightcurve_points_follow_sources_delete();

CREATE TRIGGER lightcurve_points_follow_update BEFORE UPDATE OF source_id ON isla.sources
    FOR EACH ROW WHEN (OLD.source_id IS DISTINCT FROM NEW.source_id)
    EXECUTE FUNCTION isla.lightcurve_points_follow_sources_update();
"""


def upgrade() -> None:
    """Drop the per-row foreign key and the scw_id B-tree; add the triggers and the BRIN."""
    op.drop_constraint(
        "fk_lightcurve_points_source_id_sources",
        "lightcurve_points",
        schema="isla",
        type_="foreignkey",
    )
    for statement in _TRIGGERS.split("\n\n"):
        op.execute(statement)
    op.drop_index("ix_lightcurve_points_scw_id", table_name="lightcurve_points", schema="isla")
    op.create_index(
        "ix_lightcurve_points_scw_id",
        "lightcurve_points",
        ["scw_id"],
        schema="isla",
        postgresql_using="brin",
    )


def downgrade() -> None:
    """The foreign key and the B-tree again (points of unknown sources are removed first)."""
    op.drop_index("ix_lightcurve_points_scw_id", table_name="lightcurve_points", schema="isla")
    op.create_index("ix_lightcurve_points_scw_id", "lightcurve_points", ["scw_id"], schema="isla")
    op.execute("DROP TRIGGER lightcurve_points_follow_update ON isla.sources")
    op.execute("DROP TRIGGER lightcurve_points_follow_delete ON isla.sources")
    op.execute("DROP FUNCTION isla.lightcurve_points_follow_sources_update()")
    op.execute("DROP FUNCTION isla.lightcurve_points_follow_sources_delete()")
    op.execute(
        "DELETE FROM isla.lightcurve_points p WHERE NOT EXISTS "
        "(SELECT 1 FROM isla.sources s WHERE s.source_id = p.source_id)"
    )
    op.create_foreign_key(
        "fk_lightcurve_points_source_id_sources",
        "lightcurve_points",
        "sources",
        ["source_id"],
        ["source_id"],
        source_schema="isla",
        referent_schema="isla",
        ondelete="CASCADE",
    )
