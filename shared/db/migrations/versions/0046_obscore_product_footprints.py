"""ObsCore's product footprints stored and indexed, not computed per row of a query

Revision ID: 0046
Revises: 0045
Create Date: 2026-12-04

The products branch of ``ivoa.obscore`` computed each product's ``s_region`` (a 24-vertex
circle around its source or field, or the polygon in its metadata) and its position in the
view, for every product row a query touched: a 5° ``INTERSECTS`` cone evaluated the region of
every product in the archive (0.6 ms each, 0.5 s at demo scale, growing with the products) and a
``POINT`` cone could use no index. ``isla_ops.product_footprints`` holds, per product, the same
position and region, computed by the same SQL as before (taken from revision 0024's view), with
GiST indexes on the region and on the position, so that the view's predicates on ``s_region``
and on ``POINT(s_ra, s_dec)`` reach them.

Statement triggers with transition tables keep it current for every writer: products inserted,
updated or deleted, sources moved, observations inserted or moved (an image of an observation's
field takes its position), kinds whose ``field_image`` changed. (No foreign key: the table
belongs to the operational schema's models, which do not reference the archive's.) The view
keeps its columns and types (``CREATE OR REPLACE``), the new table lives in ``isla_ops``; of
the published metadata only ``isla.products.obsid`` changes, now indexed.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from shared.db.pgsphere import SPoly
from shared.db.revisions import revision_module
from shared.db.tap_schema_rows import apply_changes

revision: str = "0046"
down_revision: str | None = "0045"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


PREVIOUS_VIEW = str(revision_module("0024_product_kinds.py").OBSCORE_VIEW)

_REGION_START = "       CASE\n           WHEN jsonb_typeof(p.meta->'footprint') = 'array' THEN"
_REGION_END = "\n       END,\n"
RA = (
    "coalesce(s.ra, CASE WHEN jsonb_typeof(p.meta->'ra') = 'number' "
    "THEN (p.meta->>'ra')::float8 END, o.ra)"
)
DEC = (
    "coalesce(s.dec, CASE WHEN jsonb_typeof(p.meta->'dec') = 'number' "
    "THEN (p.meta->>'dec')::float8 END, o.dec)"
)
_OBSERVATION = (
    "coalesce(p.obsid, CASE WHEN p.epoch ~ '^[0-9]{4}_[0-9]{11}$'\n"
    "                                            THEN substr(p.epoch, 6) END)"
)


def _derive(view: str) -> tuple[str, str]:
    """This revision's view, and the products branch's region expression of the previous one."""
    start = view.index(_REGION_START)
    end = view.index(_REGION_END, start) + len(_REGION_END)
    region = view[start:end].rstrip().removesuffix(",")
    view = view[:start] + "       fp.s_region,\n" + view[end:]
    for old, new in (
        (RA + ",", "fp.ra,"),
        (DEC + ",", "fp.dec,"),
        (
            "FROM isla.products p\n",
            "FROM isla.products p\n"
            "LEFT JOIN isla_ops.product_footprints fp ON fp.product_id = p.product_id\n",
        ),
    ):
        assert view.count(old) == 1, f"revision 0024's view changed near {old[:40]!r}"
        view = view.replace(old, new)
    assert OBSERVATION_JOIN in view
    return view, region


OBSERVATION_JOIN = f"LEFT JOIN isla.observations o\n       ON o.obsid = {_OBSERVATION}"

OBSCORE_VIEW, REGION = _derive(PREVIOUS_VIEW)
"""The whole view of this revision, and the footprint expression (over ``p``, ``k``, ``s``,
``o`` as in the view) that the maintained table stores."""

# The products of the ``changed`` observations, by their obsid or by their epoch (the
# observation's obsid in one of its revolutions), each through a B-tree; a few more than needed
# do no harm, each is recomputed exactly.
_OF_OBSERVATIONS = """SELECT p.product_id FROM isla.products p JOIN changed c ON c.obsid = p.obsid
            UNION
            SELECT p.product_id FROM changed c
            CROSS JOIN LATERAL generate_series(c.rev_start, c.rev_end) AS r(rev)
            JOIN isla.products p ON p.epoch = lpad(r.rev::text, 4, '0') || '_' || c.obsid"""

_OBSID = ("isla.products", "obsid", "char", "*", None, None, None, None, "meta.id;obs")
TAP_SCHEMA_CHANGES: dict[str, dict[str, Any]] = {
    "columns": {
        # isla.products.obsid is indexed now.
        "removed": [(*_OBSID, "Observation of the product.", 0, 0, 0, 7)],
        "added": [(*_OBSID, "Observation of the product.", 1, 0, 0, 7)],
    }
}

FUNCTIONS = [
    f"""
CREATE FUNCTION isla_ops.refresh_product_footprints(ids text[]) RETURNS void
LANGUAGE sql AS $$
    DELETE FROM isla_ops.product_footprints WHERE product_id = ANY (ids);
    INSERT INTO isla_ops.product_footprints (product_id, ra, dec, s_region)
    SELECT p.product_id, {RA}, {DEC},
{REGION}
    FROM isla.products p
    JOIN isla.product_kinds k ON k.kind = p.kind
    LEFT JOIN isla.sources s ON s.source_id = p.source_id
    {OBSERVATION_JOIN}
    WHERE p.product_id = ANY (ids);
$$""",  # noqa: S608 - built from this module's constants
    f"""
CREATE FUNCTION isla_ops.product_footprints_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Each branch reads only the transition tables its own triggers declare.
    IF TG_TABLE_NAME = 'products' AND TG_OP = 'TRUNCATE' THEN
        DELETE FROM isla_ops.product_footprints;
    ELSIF TG_TABLE_NAME = 'products' AND TG_OP = 'INSERT' THEN
        PERFORM isla_ops.refresh_product_footprints(ARRAY(SELECT product_id FROM new_rows));
    ELSIF TG_TABLE_NAME = 'products' AND TG_OP = 'UPDATE' THEN
        -- The old ids too: a product renamed leaves no footprint under its old id.
        PERFORM isla_ops.refresh_product_footprints(ARRAY(
            SELECT product_id FROM new_rows UNION SELECT product_id FROM old_rows));
    ELSIF TG_TABLE_NAME = 'products' THEN
        PERFORM isla_ops.refresh_product_footprints(ARRAY(SELECT product_id FROM old_rows));
    ELSIF TG_TABLE_NAME = 'sources' THEN
        PERFORM isla_ops.refresh_product_footprints(ARRAY(
            SELECT p.product_id FROM isla.products p
            JOIN new_rows n ON n.source_id = p.source_id
            JOIN old_rows o ON o.source_id = n.source_id
            WHERE (o.ra, o.dec) IS DISTINCT FROM (n.ra, n.dec)));
    ELSIF TG_TABLE_NAME = 'observations' AND TG_OP = 'INSERT' THEN
        PERFORM isla_ops.refresh_product_footprints(ARRAY(
            WITH changed AS (SELECT obsid, rev_start, rev_end FROM new_rows)
            {_OF_OBSERVATIONS}));
    ELSIF TG_TABLE_NAME = 'observations' THEN
        PERFORM isla_ops.refresh_product_footprints(ARRAY(
            WITH changed AS (
                SELECT n.obsid, n.rev_start, n.rev_end
                FROM new_rows n JOIN old_rows o ON o.obsid = n.obsid
                WHERE (o.ra, o.dec) IS DISTINCT FROM (n.ra, n.dec))
            {_OF_OBSERVATIONS}));
    ELSIF TG_TABLE_NAME = 'product_kinds' THEN
        PERFORM isla_ops.refresh_product_footprints(ARRAY(
            SELECT p.product_id FROM isla.products p
            JOIN new_rows n ON n.kind = p.kind
            JOIN old_rows o ON o.kind = n.kind
            WHERE o.field_image IS DISTINCT FROM n.field_image));
    END IF;
    RETURN NULL;
END;
$$""",  # noqa: S608 - built from this module's constants
]

_CALL = "FOR EACH STATEMENT EXECUTE FUNCTION isla_ops.product_footprints_changed()"
TRIGGERS = [
    f"CREATE TRIGGER footprints_insert AFTER INSERT ON isla.products "
    f"REFERENCING NEW TABLE AS new_rows {_CALL}",
    f"CREATE TRIGGER footprints_update AFTER UPDATE ON isla.products "
    f"REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows {_CALL}",
    f"CREATE TRIGGER footprints_delete AFTER DELETE ON isla.products "
    f"REFERENCING OLD TABLE AS old_rows {_CALL}",
    f"CREATE TRIGGER footprints_truncate AFTER TRUNCATE ON isla.products {_CALL}",
    f"CREATE TRIGGER footprints_move AFTER UPDATE ON isla.sources "
    f"REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows {_CALL}",
    f"CREATE TRIGGER footprints_insert AFTER INSERT ON isla.observations "
    f"REFERENCING NEW TABLE AS new_rows {_CALL}",
    f"CREATE TRIGGER footprints_move AFTER UPDATE ON isla.observations "
    f"REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows {_CALL}",
    f"CREATE TRIGGER footprints_kind AFTER UPDATE ON isla.product_kinds "
    f"REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows {_CALL}",
]
TRIGGER_TABLES = {
    "footprints_insert": ("products", "observations"),
    "footprints_update": ("products",),
    "footprints_delete": ("products",),
    "footprints_truncate": ("products",),
    "footprints_move": ("sources", "observations"),
    "footprints_kind": ("product_kinds",),
}


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "product_footprints",
        sa.Column("product_id", sa.Text(), nullable=False, comment="The product."),
        sa.Column("ra", sa.Double(), nullable=True, comment="ObsCore s_ra."),
        sa.Column("dec", sa.Double(), nullable=True, comment="ObsCore s_dec."),
        sa.Column("s_region", SPoly(), nullable=True, comment="ObsCore s_region."),
        sa.PrimaryKeyConstraint("product_id", name=op.f("pk_product_footprints")),
        schema="isla_ops",
        comment="Per product, the position and footprint ivoa.obscore publishes "
        "(s_ra, s_dec, s_region), kept by triggers.",
    )
    op.execute(
        "CREATE INDEX ix_product_footprints_s_region ON isla_ops.product_footprints "
        "USING gist (s_region)"
    )
    # The expression ObsCore's POINT(s_ra, s_dec) translates to, pushed into this branch.
    op.execute(
        "CREATE INDEX ix_product_footprints_radec ON isla_ops.product_footprints "
        "USING gist (spoint(radians(ra), radians(dec)))"
    )
    # The products of an observation, found when the observation arrives after them.
    op.create_index("ix_products_obsid", "products", ["obsid"], schema="isla")
    apply_changes(op.get_bind(), TAP_SCHEMA_CHANGES, "removed", "added")
    for statement in FUNCTIONS:
        op.execute(statement)
    op.execute(
        "SELECT isla_ops.refresh_product_footprints(ARRAY(SELECT product_id FROM isla.products))"
    )
    for statement in TRIGGERS:
        op.execute(statement)
    op.execute(OBSCORE_VIEW)


def downgrade() -> None:
    """Revert this revision: the view of 0024, no stored footprints."""
    op.execute(PREVIOUS_VIEW)
    for trigger, tables in TRIGGER_TABLES.items():
        for table in tables:
            op.execute(f"DROP TRIGGER {trigger} ON isla.{table}")
    op.execute("DROP FUNCTION isla_ops.product_footprints_changed()")
    op.execute("DROP FUNCTION isla_ops.refresh_product_footprints(text[])")
    op.drop_index("ix_products_obsid", "products", schema="isla")
    apply_changes(op.get_bind(), TAP_SCHEMA_CHANGES, "added", "removed")
    op.execute("DROP TABLE isla_ops.product_footprints")
