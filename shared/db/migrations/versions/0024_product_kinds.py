"""Product kinds as data: ObsCore publishes every kind listed in ``isla.product_kinds``.

Revision ID: 0024
Revises: 0022
Create Date: 2026-12-03

Until now the products branch of ``ivoa.obscore`` named its seven kinds in the view text, so
each new family of products (maps, GRB products, contributed collections) would have had to
rewrite the whole view. ``isla.product_kinds`` holds, per published kind, its ObsCore
``dataproduct_type``, ``calib_level`` and ``o_ucd``, and whether it is an image of an
instrument's field (its ``s_fov`` and default ``s_region`` then come from that field). The view
joins it: a migration that adds a kind inserts one row. The seven kinds published so far keep
exactly the values the view gave them. The view text is derived from migration 0023's frozen
text by fixed replacements, and the TAP_SCHEMA rows are frozen here.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from shared.db.tap_schema_rows import apply_changes

revision: str = "0024"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DESCRIPTION = (
    "Kinds of science products published in ivoa.obscore, with their ObsCore classification. "
    "Products of other kinds (responses, previews) are reached through the DataLink document of "
    "their product."
)

KINDS: list[tuple[str, str, int, str, bool, str]] = [
    ("long_timeseries", "timeseries", 3, "phot.count", False, "Light curve of a source."),
    (
        "short_timeseries",
        "timeseries",
        3,
        "phot.count",
        False,
        "Sub-science-window light curve of a source.",
    ),
    ("omc_lightcurve", "timeseries", 3, "phot.count", False, "OMC V-band light curve."),
    (
        "spectrum",
        "spectrum",
        3,
        "phot.count;em.energy",
        False,
        "Count spectrum of a source (OGIP PHA), with its responses.",
    ),
    ("mosaic", "image", 3, "phot.count", True, "Mosaic image of an observation or epoch."),
    ("omc_image", "image", 3, "phot.count", True, "OMC image of a field."),
    ("allsky_map", "image", 3, "phot.count", True, "All-sky map."),
]
"""The kinds the view named before this revision, with the values it gave them."""


def _view_of(revision_file: str) -> str:
    """The frozen view SQL of an earlier migration (revision modules are not a package)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).with_name(revision_file)
    spec = importlib.util.spec_from_file_location(f"isla_migration_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.OBSCORE_VIEW)


_FIELD_KINDS = "p.kind IN ('mosaic', 'omc_image', 'allsky_map')"
_REPLACEMENTS: list[tuple[str, str, int]] = [
    (
        "SELECT (CASE p.kind WHEN 'long_timeseries' THEN 'timeseries' WHEN 'short_timeseries' "
        "THEN 'timeseries' WHEN 'omc_lightcurve' THEN 'timeseries' WHEN 'spectrum' THEN "
        "'spectrum' WHEN 'mosaic' THEN 'image' WHEN 'omc_image' THEN 'image' WHEN 'allsky_map' "
        "THEN 'image' ELSE NULL END)::varchar,\n       3,",
        "SELECT k.dataproduct_type::varchar,\n       k.calib_level::integer,",
        1,
    ),
    (_FIELD_KINDS, "k.field_image", 3),
    (
        "CASE WHEN p.kind = 'spectrum' THEN 'phot.count;em.energy'\n"
        "            ELSE 'phot.count' END::varchar",
        "k.o_ucd::varchar",
        1,
    ),
    (
        "FROM isla.products p\n",
        "FROM isla.products p\nJOIN isla.product_kinds k ON k.kind = p.kind\n",
        1,
    ),
    (
        "WHERE p.kind IN ('long_timeseries', 'short_timeseries', 'omc_lightcurve', 'spectrum', "
        "'mosaic', 'omc_image', 'allsky_map')\n",
        "",
        1,
    ),
]


def _derive(view: str) -> str:
    for old, new, times in _REPLACEMENTS:
        assert view.count(old) == times, f"migration 0023's view changed near {old[:40]!r}"
        view = view.replace(old, new)
    return view


OBSCORE_VIEW = _derive(_view_of("0023_obscore_timeseries.py"))
"""The whole view of this revision."""

TAP_SCHEMA_CHANGES: dict[str, dict[str, Any]] = {
    "columns": {
        "added": [
            (
                "isla.product_kinds",
                "calib_level",
                "short",
                None,
                None,
                None,
                None,
                None,
                "meta.code;obs.calib",
                "ObsCore calib_level of the kind (3 science products, 4 analysis products).",
                0,
                1,
                0,
                2,
            ),
            (
                "isla.product_kinds",
                "dataproduct_type",
                "char",
                "*",
                None,
                None,
                None,
                None,
                "meta.code.class",
                "ObsCore dataproduct_type of the kind (timeseries, spectrum, image, cube, ...).",
                0,
                1,
                0,
                1,
            ),
            (
                "isla.product_kinds",
                "description",
                "unicodeChar",
                "*",
                None,
                None,
                None,
                None,
                "meta.note",
                "What a product of this kind is.",
                0,
                0,
                0,
                5,
            ),
            (
                "isla.product_kinds",
                "field_image",
                "boolean",
                None,
                None,
                None,
                None,
                None,
                "meta.code",
                "True for images of an instrument's field: their s_fov and default "
                "s_region come from the instrument's field of view.",
                0,
                0,
                0,
                4,
            ),
            (
                "isla.product_kinds",
                "kind",
                "char",
                "*",
                None,
                None,
                None,
                None,
                "meta.code.class;meta.main",
                "Product kind (isla.products.kind).",
                1,
                1,
                0,
                0,
            ),
            (
                "isla.product_kinds",
                "o_ucd",
                "char",
                "*",
                None,
                None,
                None,
                None,
                "meta.ucd",
                "UCD of the product's observable (ObsCore o_ucd).",
                0,
                0,
                0,
                3,
            ),
        ],
        "removed": [],
    },
    "tables": {
        "added": [
            (
                "TAP_SCHEMA",
                "TAP_SCHEMA.columns",
                "table",
                None,
                "Columns of the published tables.",
                26,
            ),
            (
                "TAP_SCHEMA",
                "TAP_SCHEMA.key_columns",
                "table",
                None,
                "Columns of the foreign keys.",
                28,
            ),
            (
                "TAP_SCHEMA",
                "TAP_SCHEMA.keys",
                "table",
                None,
                "Foreign keys between published tables.",
                27,
            ),
            (
                "TAP_SCHEMA",
                "TAP_SCHEMA.schemas",
                "table",
                None,
                "Schemas published by this service.",
                24,
            ),
            (
                "TAP_SCHEMA",
                "TAP_SCHEMA.tables",
                "table",
                None,
                "Tables published by this service.",
                25,
            ),
            (
                "ila",
                "ila.band",
                "view",
                None,
                "The ISLA default energy band of each instrument (one per instrument).",
                19,
            ),
            (
                "ila",
                "ila.cons_pub_obs",
                "view",
                None,
                "Public consolidated observations, with the columns ISLA clients query.",
                20,
            ),
            (
                "ila",
                "ila.epoch",
                "view",
                None,
                "Epochs (RRRR_OOOOOOOOOOO: revolution and observation) in which a source "
                "was in the field of view of an instrument, from products and from the "
                "observations' pointings.",
                22,
            ),
            (
                "ila",
                "ila.instrument",
                "view",
                None,
                "Instruments as ESA's ISLA names them, with their numeric identifiers.",
                18,
            ),
            (
                "ila",
                "ila.v_cat_source",
                "view",
                None,
                "The source catalogue as ISLA clients query it (name search and cone search).",
                21,
            ),
            (
                "isla",
                "isla.product_kinds",
                "table",
                None,
                "Kinds of science products published in ivoa.obscore, with their ObsCore "
                "classification. Products of other kinds (responses, previews) are reached "
                "through the DataLink document of their product.",
                8,
            ),
            (
                "isla",
                "isla.products",
                "table",
                None,
                "Science products held in the object store.",
                9,
            ),
            (
                "isla",
                "isla.revolutions",
                "table",
                None,
                "INTEGRAL revolutions (orbits of about three days).",
                10,
            ),
            (
                "isla",
                "isla.science_windows",
                "table",
                None,
                "Science windows: the pointings and slews that make up all raw data.",
                11,
            ),
            (
                "isla",
                "isla.scw_files",
                "table",
                None,
                "Raw data files of each science window, with sizes and checksums.",
                12,
            ),
            (
                "isla",
                "isla.source_aliases",
                "table",
                None,
                "Alternative names of sources (used by the target resolver).",
                13,
            ),
            (
                "isla",
                "isla.source_fluxes",
                "table",
                None,
                "Fluxes of sources per instrument band, with provenance.",
                14,
            ),
            (
                "isla",
                "isla.sources",
                "table",
                None,
                "The archive's merged source list: every known INTEGRAL source.",
                15,
            ),
            (
                "isla",
                "isla.timeseries_files",
                "table",
                None,
                "Delivered SPI-ACS and IREM time-series files, one per dataset and revolution.",
                16,
            ),
            (
                "isla",
                "isla.timeseries_segments",
                "table",
                None,
                "Segments of the time-series serving copy (gap-free runs of samples with "
                "implicit time, with their multi-resolution pyramid) in the object store.",
                17,
            ),
            (
                "ivoa",
                "ivoa.obscore",
                "view",
                "ivo://ivoa.net/std/ObsCore#table-1.1",
                "ObsCore 1.1: one row per INTEGRAL pointing science window (raw data, "
                "IBIS/ISGRI field of view) and one per science product (light curves, "
                "spectra, mosaics).",
                23,
            ),
        ],
        "removed": [
            (
                "TAP_SCHEMA",
                "TAP_SCHEMA.columns",
                "table",
                None,
                "Columns of the published tables.",
                25,
            ),
            (
                "TAP_SCHEMA",
                "TAP_SCHEMA.key_columns",
                "table",
                None,
                "Columns of the foreign keys.",
                27,
            ),
            (
                "TAP_SCHEMA",
                "TAP_SCHEMA.keys",
                "table",
                None,
                "Foreign keys between published tables.",
                26,
            ),
            (
                "TAP_SCHEMA",
                "TAP_SCHEMA.schemas",
                "table",
                None,
                "Schemas published by this service.",
                23,
            ),
            (
                "TAP_SCHEMA",
                "TAP_SCHEMA.tables",
                "table",
                None,
                "Tables published by this service.",
                24,
            ),
            (
                "ila",
                "ila.band",
                "view",
                None,
                "The ISLA default energy band of each instrument (one per instrument).",
                18,
            ),
            (
                "ila",
                "ila.cons_pub_obs",
                "view",
                None,
                "Public consolidated observations, with the columns ISLA clients query.",
                19,
            ),
            (
                "ila",
                "ila.epoch",
                "view",
                None,
                "Epochs (RRRR_OOOOOOOOOOO: revolution and observation) in which a source "
                "was in the field of view of an instrument, from products and from the "
                "observations' pointings.",
                21,
            ),
            (
                "ila",
                "ila.instrument",
                "view",
                None,
                "Instruments as ESA's ISLA names them, with their numeric identifiers.",
                17,
            ),
            (
                "ila",
                "ila.v_cat_source",
                "view",
                None,
                "The source catalogue as ISLA clients query it (name search and cone search).",
                20,
            ),
            (
                "isla",
                "isla.products",
                "table",
                None,
                "Science products held in the object store.",
                8,
            ),
            (
                "isla",
                "isla.revolutions",
                "table",
                None,
                "INTEGRAL revolutions (orbits of about three days).",
                9,
            ),
            (
                "isla",
                "isla.science_windows",
                "table",
                None,
                "Science windows: the pointings and slews that make up all raw data.",
                10,
            ),
            (
                "isla",
                "isla.scw_files",
                "table",
                None,
                "Raw data files of each science window, with sizes and checksums.",
                11,
            ),
            (
                "isla",
                "isla.source_aliases",
                "table",
                None,
                "Alternative names of sources (used by the target resolver).",
                12,
            ),
            (
                "isla",
                "isla.source_fluxes",
                "table",
                None,
                "Fluxes of sources per instrument band, with provenance.",
                13,
            ),
            (
                "isla",
                "isla.sources",
                "table",
                None,
                "The archive's merged source list: every known INTEGRAL source.",
                14,
            ),
            (
                "isla",
                "isla.timeseries_files",
                "table",
                None,
                "Delivered SPI-ACS and IREM time-series files, one per dataset and revolution.",
                15,
            ),
            (
                "isla",
                "isla.timeseries_segments",
                "table",
                None,
                "Segments of the time-series serving copy (gap-free runs of samples with "
                "implicit time, with their multi-resolution pyramid) in the object store.",
                16,
            ),
            (
                "ivoa",
                "ivoa.obscore",
                "view",
                "ivo://ivoa.net/std/ObsCore#table-1.1",
                "ObsCore 1.1: one row per INTEGRAL pointing science window (raw data, "
                "IBIS/ISGRI field of view) and one per science product (light curves, "
                "spectra, mosaics).",
                22,
            ),
        ],
    },
}


def _apply(removed: str, added: str) -> None:
    apply_changes(op.get_bind(), TAP_SCHEMA_CHANGES, removed, added)


def upgrade() -> None:
    """Create and fill the kinds table, join it in the view, publish it."""
    op.create_table(
        "product_kinds",
        sa.Column(
            "kind", sa.String(32), nullable=False, comment="Product kind (isla.products.kind)."
        ),
        sa.Column(
            "dataproduct_type",
            sa.String(16),
            nullable=False,
            comment=(
                "ObsCore dataproduct_type of the kind (timeseries, spectrum, image, cube, ...)."
            ),
        ),
        sa.Column(
            "calib_level",
            sa.SmallInteger(),
            nullable=False,
            comment="ObsCore calib_level of the kind (3 science products, 4 analysis products).",
        ),
        sa.Column(
            "o_ucd",
            sa.String(64),
            nullable=False,
            comment="UCD of the product's observable (ObsCore o_ucd).",
        ),
        sa.Column(
            "field_image",
            sa.Boolean(),
            nullable=False,
            comment="True for images of an instrument's field: their s_fov and default s_region "
            "come from the instrument's field of view.",
        ),
        sa.Column(
            "description", sa.Text(), nullable=False, comment="What a product of this kind is."
        ),
        sa.PrimaryKeyConstraint("kind", name=op.f("pk_product_kinds")),
        schema="isla",
        comment=DESCRIPTION,
    )
    op.bulk_insert(
        sa.table(
            "product_kinds",
            sa.column("kind"),
            sa.column("dataproduct_type"),
            sa.column("calib_level"),
            sa.column("o_ucd"),
            sa.column("field_image"),
            sa.column("description"),
            schema="isla",
        ),
        [
            dict(
                zip(
                    (
                        "kind",
                        "dataproduct_type",
                        "calib_level",
                        "o_ucd",
                        "field_image",
                        "description",
                    ),
                    k,
                    strict=True,
                )
            )
            for k in KINDS
        ],
    )
    op.execute(OBSCORE_VIEW)
    _apply("removed", "added")


def downgrade() -> None:
    """Back to migration 0023's view; the table and its TAP_SCHEMA rows removed."""
    _apply("added", "removed")
    op.execute("DROP VIEW ivoa.obscore")
    op.execute(_view_of("0023_obscore_timeseries.py"))
    op.execute("GRANT SELECT ON ivoa.obscore TO isla_reader")
    op.drop_table("product_kinds", schema="isla")
