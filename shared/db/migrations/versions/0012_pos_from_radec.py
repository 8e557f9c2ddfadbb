"""Positions kept by the schema: ``pos`` always equals ``spoint(radians(ra), radians(dec))``

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03

The TAP translator rewrites ``CONTAINS(POINT('ICRS', ra, dec), ...)`` to the GiST-indexed
``pos`` column of ``sources``, ``catalogue_entries``, ``science_windows`` and
``observations`` (``services.tap.adql.POSITION_TABLES``): the answer is right only if ``pos``
is the point of ``ra``/``dec``. Until now each loader kept that rule; from here the schema
does, with a BEFORE INSERT OR UPDATE trigger on each table that computes ``pos`` from ``ra``
and ``dec`` (whatever the writer gave), so loaders name only ``ra`` and ``dec``.

A trigger rather than a generated column, although ``spoint`` and ``radians`` are both
immutable (pgSphere 1.2): Postgres 15 cannot turn an existing column into a generated one, and
dropping and re-adding ``pos`` would move it to the end of each table (changing ``SELECT *``
and the column order TAP_SCHEMA publishes) and need every view reading it dropped and
recreated. Rows written earlier are brought in line first.

Triggers are not compared by Alembic's autogenerate, so they live here only (the models say
so on each ``pos`` column).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("sources", "catalogue_entries", "science_windows", "observations")

FUNCTION = """
CREATE FUNCTION isla.pos_from_radec() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.pos := spoint(radians(NEW.ra), radians(NEW.dec));
    RETURN NEW;
END
$$"""


def upgrade() -> None:
    """Align the stored positions, then keep them aligned with one trigger per table."""
    op.execute(FUNCTION)
    op.execute(
        "COMMENT ON FUNCTION isla.pos_from_radec() IS "
        "'Sets pos to spoint(radians(ra), radians(dec)) on every insert and update.'"
    )
    for table in TABLES:
        op.execute(
            f"UPDATE isla.{table} SET pos = spoint(radians(ra), radians(dec)) "  # noqa: S608 - fixed names
            "WHERE pos IS DISTINCT FROM spoint(radians(ra), radians(dec))"
        )
        op.execute(
            f"CREATE TRIGGER {table}_pos_from_radec BEFORE INSERT OR UPDATE OF ra, dec, pos "
            f"ON isla.{table} FOR EACH ROW EXECUTE FUNCTION isla.pos_from_radec()"
        )


def downgrade() -> None:
    """Drop the triggers and the function (the positions stay as they are)."""
    for table in TABLES:
        op.execute(f"DROP TRIGGER {table}_pos_from_radec ON isla.{table}")
    op.execute("DROP FUNCTION isla.pos_from_radec()")
