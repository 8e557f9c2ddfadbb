"""Contributed collections: community products with their documentation and software.

Revision ID: 0034
Revises: 0032
Create Date: 2026-12-03

Deliveries of contributed collections and their review live in ``isla_ops`` (never published):
``contributed_deliveries`` (one row per delivered version, its state ``submitted``,
``accepted``, ``published`` or ``rejected`` and its history), ``contributed_delivery_files``
and the journal ``contributed_staging`` of deliveries in flight. Published versions are copied
to ``isla.contributed_collections`` and ``isla.contributed_files`` (published in TAP), and
their product files become ``isla.products`` rows of two new kinds, registered in
``isla.product_kinds`` so that ObsCore publishes them: ``contributed_table`` (measurements)
and ``contributed_map`` (images), both analysis products (calib_level 4). The TAP_SCHEMA rows
are frozen here.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from shared.db.tap_schema_rows import TAP_SCHEMA_COLUMNS, TAP_SCHEMA_KEY, change_tap_schema

revision: str = "0034"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLLECTIONS = (
    "Published versions of contributed collections: community products that are not ISLA "
    "pipeline output (pulsar timing, burst catalogues, line maps, polarisation), with their "
    "documentation and the software that made them."
)
FILES = (
    "Files of the published contributed collections: products, documentation and software "
    "archives, with sizes and checksums."
)
SIMULATED = "True when the {} is simulated (the demo archive), false when delivered by INTEGRAL."

KINDS: list[tuple[str, str, int, str, bool, str]] = [
    (
        "contributed_table",
        "measurements",
        4,
        "meta.table",
        False,
        "Table of a contributed collection (timing ephemerides, burst catalogues, "
        "polarisation results).",
    ),
    (
        "contributed_map",
        "image",
        4,
        "phot.flux",
        False,
        "Image or HEALPix map of a contributed collection (e.g. line maps).",
    ),
]
"""Product kinds of contributed collections, as ``isla.product_kinds`` rows."""

# TAP_SCHEMA rows this revision changes, frozen as literal data (table -> column names,
# rows it removes, rows it adds): the migration never reads today's metadata.
TAP_SCHEMA_CHANGES: dict[str, dict[str, Any]] = {
    "tables": {
        "columns": (
            "schema_name",
            "table_name",
            "table_type",
            "utype",
            "description",
            "table_index",
        ),
        "removed": [
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
                "Epochs (RRRR_OOOOOOOOOOO: revolution and observation) in which a "
                "source was in the field of view of an instrument, from products and "
                "from the observations' pointings.",
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
                "isla.energy_bands",
                "table",
                None,
                "Energy bands of products and catalogue fluxes, per instrument.",
                3,
            ),
            (
                "isla",
                "isla.instruments",
                "table",
                None,
                "INTEGRAL instruments and detector layers in the archive.",
                4,
            ),
            (
                "isla",
                "isla.lightcurve_points",
                "table",
                None,
                "Light-curve points of ISGRI and JEM-X: one per source, science "
                "window and band, for every pointing with the source in the field of "
                "view.",
                5,
            ),
            (
                "isla",
                "isla.observations",
                "table",
                None,
                "Observations: sequences of science windows of one proposal and target.",
                6,
            ),
            (
                "isla",
                "isla.omc_points",
                "table",
                None,
                "OMC V-band light-curve points of sources with an optical "
                "counterpart, one per science window with the source in the OMC field "
                "of view.",
                7,
            ),
            (
                "isla",
                "isla.product_kinds",
                "table",
                None,
                "Kinds of science products published in ivoa.obscore, with their "
                "ObsCore classification. Products of other kinds (responses, "
                "previews) are reached through the DataLink document of their "
                "product.",
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
                "Segments of the time-series serving copy (gap-free runs of samples "
                "with implicit time, with their multi-resolution pyramid) in the "
                "object store.",
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
        "added": [
            (
                "TAP_SCHEMA",
                "TAP_SCHEMA.columns",
                "table",
                None,
                "Columns of the published tables.",
                28,
            ),
            (
                "TAP_SCHEMA",
                "TAP_SCHEMA.key_columns",
                "table",
                None,
                "Columns of the foreign keys.",
                30,
            ),
            (
                "TAP_SCHEMA",
                "TAP_SCHEMA.keys",
                "table",
                None,
                "Foreign keys between published tables.",
                29,
            ),
            (
                "TAP_SCHEMA",
                "TAP_SCHEMA.schemas",
                "table",
                None,
                "Schemas published by this service.",
                26,
            ),
            (
                "TAP_SCHEMA",
                "TAP_SCHEMA.tables",
                "table",
                None,
                "Tables published by this service.",
                27,
            ),
            (
                "ila",
                "ila.band",
                "view",
                None,
                "The ISLA default energy band of each instrument (one per instrument).",
                21,
            ),
            (
                "ila",
                "ila.cons_pub_obs",
                "view",
                None,
                "Public consolidated observations, with the columns ISLA clients query.",
                22,
            ),
            (
                "ila",
                "ila.epoch",
                "view",
                None,
                "Epochs (RRRR_OOOOOOOOOOO: revolution and observation) in which a "
                "source was in the field of view of an instrument, from products and "
                "from the observations' pointings.",
                24,
            ),
            (
                "ila",
                "ila.instrument",
                "view",
                None,
                "Instruments as ESA's ISLA names them, with their numeric identifiers.",
                20,
            ),
            (
                "ila",
                "ila.v_cat_source",
                "view",
                None,
                "The source catalogue as ISLA clients query it (name search and cone search).",
                23,
            ),
            (
                "isla",
                "isla.contributed_collections",
                "table",
                None,
                "Published versions of contributed collections: community products that "
                "are not ISLA pipeline output (pulsar timing, burst catalogues, line "
                "maps, polarisation), with their documentation and the software that "
                "made them.",
                3,
            ),
            (
                "isla",
                "isla.contributed_files",
                "table",
                None,
                "Files of the published contributed collections: products, "
                "documentation and software archives, with sizes and checksums.",
                4,
            ),
            (
                "isla",
                "isla.energy_bands",
                "table",
                None,
                "Energy bands of products and catalogue fluxes, per instrument.",
                5,
            ),
            (
                "isla",
                "isla.instruments",
                "table",
                None,
                "INTEGRAL instruments and detector layers in the archive.",
                6,
            ),
            (
                "isla",
                "isla.lightcurve_points",
                "table",
                None,
                "Light-curve points of ISGRI and JEM-X: one per source, science window "
                "and band, for every pointing with the source in the field of view.",
                7,
            ),
            (
                "isla",
                "isla.observations",
                "table",
                None,
                "Observations: sequences of science windows of one proposal and target.",
                8,
            ),
            (
                "isla",
                "isla.omc_points",
                "table",
                None,
                "OMC V-band light-curve points of sources with an optical counterpart, "
                "one per science window with the source in the OMC field of view.",
                9,
            ),
            (
                "isla",
                "isla.product_kinds",
                "table",
                None,
                "Kinds of science products published in ivoa.obscore, with their "
                "ObsCore classification. Products of other kinds (responses, previews) "
                "are reached through the DataLink document of their product.",
                10,
            ),
            (
                "isla",
                "isla.products",
                "table",
                None,
                "Science products held in the object store.",
                11,
            ),
            (
                "isla",
                "isla.revolutions",
                "table",
                None,
                "INTEGRAL revolutions (orbits of about three days).",
                12,
            ),
            (
                "isla",
                "isla.science_windows",
                "table",
                None,
                "Science windows: the pointings and slews that make up all raw data.",
                13,
            ),
            (
                "isla",
                "isla.scw_files",
                "table",
                None,
                "Raw data files of each science window, with sizes and checksums.",
                14,
            ),
            (
                "isla",
                "isla.source_aliases",
                "table",
                None,
                "Alternative names of sources (used by the target resolver).",
                15,
            ),
            (
                "isla",
                "isla.source_fluxes",
                "table",
                None,
                "Fluxes of sources per instrument band, with provenance.",
                16,
            ),
            (
                "isla",
                "isla.sources",
                "table",
                None,
                "The archive's merged source list: every known INTEGRAL source.",
                17,
            ),
            (
                "isla",
                "isla.timeseries_files",
                "table",
                None,
                "Delivered SPI-ACS and IREM time-series files, one per dataset and revolution.",
                18,
            ),
            (
                "isla",
                "isla.timeseries_segments",
                "table",
                None,
                "Segments of the time-series serving copy (gap-free runs of samples "
                "with implicit time, with their multi-resolution pyramid) in the object "
                "store.",
                19,
            ),
            (
                "ivoa",
                "ivoa.obscore",
                "view",
                "ivo://ivoa.net/std/ObsCore#table-1.1",
                "ObsCore 1.1: one row per INTEGRAL pointing science window (raw data, "
                "IBIS/ISGRI field of view) and one per science product (light curves, "
                "spectra, mosaics).",
                25,
            ),
        ],
    },
    "columns": {
        "columns": (
            "table_name",
            "column_name",
            "datatype",
            "arraysize",
            "size",
            "xtype",
            "utype",
            "unit",
            "ucd",
            "description",
            "indexed",
            "principal",
            "std",
            "column_index",
        ),
        "removed": [],
        "added": [
            (
                "isla.contributed_collections",
                '"size"',
                "long",
                None,
                None,
                None,
                None,
                "byte",
                "phys.size;meta.file",
                "Bytes of every file of this version.",
                0,
                0,
                0,
                14,
            ),
            (
                "isla.contributed_collections",
                "authors",
                "unicodeChar",
                "*",
                None,
                None,
                None,
                None,
                "meta.bib.author",
                "Authors, separated by semicolons.",
                0,
                0,
                0,
                4,
            ),
            (
                "isla.contributed_collections",
                "collection",
                "char",
                "*",
                None,
                None,
                None,
                None,
                "meta.id;meta.main",
                "Collection name.",
                1,
                1,
                0,
                0,
            ),
            (
                "isla.contributed_collections",
                "description",
                "unicodeChar",
                "*",
                None,
                None,
                None,
                None,
                "meta.note",
                "What the collection holds.",
                0,
                0,
                0,
                5,
            ),
            (
                "isla.contributed_collections",
                "documentation",
                "unicodeChar",
                "*",
                None,
                None,
                None,
                None,
                "meta.ref;meta.file",
                "File name of the documentation (README).",
                0,
                0,
                0,
                9,
            ),
            (
                "isla.contributed_collections",
                "instrument",
                "char",
                "*",
                None,
                None,
                None,
                None,
                "meta.id;instr",
                "Instrument whose data the products come from.",
                0,
                1,
                0,
                7,
            ),
            (
                "isla.contributed_collections",
                "latest",
                "boolean",
                None,
                None,
                None,
                None,
                None,
                "meta.code",
                "True for the newest published version of the collection.",
                0,
                1,
                0,
                17,
            ),
            (
                "isla.contributed_collections",
                "licence",
                "char",
                "*",
                None,
                None,
                None,
                None,
                "meta.note",
                "Licence of the product files (SPDX identifier).",
                0,
                0,
                0,
                6,
            ),
            (
                "isla.contributed_collections",
                "n_files",
                "int",
                None,
                None,
                None,
                None,
                None,
                "meta.number",
                "Product files in this version.",
                0,
                0,
                0,
                13,
            ),
            (
                "isla.contributed_collections",
                "published_at",
                "char",
                "*",
                None,
                "timestamp",
                None,
                None,
                "time.release",
                "When an operator published it (UTC).",
                0,
                1,
                0,
                16,
            ),
            (
                "isla.contributed_collections",
                "simulated",
                "boolean",
                None,
                None,
                None,
                None,
                None,
                "meta.code.qual",
                "True when the collection is simulated (the demo archive), false when "
                "delivered by INTEGRAL.",
                0,
                0,
                0,
                18,
            ),
            (
                "isla.contributed_collections",
                "software",
                "unicodeChar",
                "*",
                None,
                None,
                None,
                None,
                "meta.ref;meta.file",
                "File name of the software archive, if delivered.",
                0,
                0,
                0,
                10,
            ),
            (
                "isla.contributed_collections",
                "software_licence",
                "char",
                "*",
                None,
                None,
                None,
                None,
                "meta.note",
                "Licence of the software (SPDX identifier).",
                0,
                0,
                0,
                11,
            ),
            (
                "isla.contributed_collections",
                "software_version",
                "unicodeChar",
                "*",
                None,
                None,
                None,
                None,
                "meta.version",
                "Version of the software.",
                0,
                0,
                0,
                12,
            ),
            (
                "isla.contributed_collections",
                "submitted_at",
                "char",
                "*",
                None,
                "timestamp",
                None,
                None,
                "time.creation",
                "When the version was delivered (UTC).",
                0,
                0,
                0,
                15,
            ),
            (
                "isla.contributed_collections",
                "team",
                "unicodeChar",
                "*",
                None,
                None,
                None,
                None,
                "meta.curation",
                "Team that delivered it.",
                0,
                1,
                0,
                3,
            ),
            (
                "isla.contributed_collections",
                "title",
                "unicodeChar",
                "*",
                None,
                None,
                None,
                None,
                "meta.title",
                "Title of the collection.",
                0,
                1,
                0,
                2,
            ),
            (
                "isla.contributed_collections",
                "version",
                "int",
                None,
                None,
                None,
                None,
                None,
                "meta.version",
                "Archive version of the collection (1, 2, ...).",
                0,
                1,
                0,
                1,
            ),
            (
                "isla.contributed_collections",
                "version_label",
                "unicodeChar",
                "*",
                None,
                None,
                None,
                None,
                "meta.version",
                "The team's own version label, if any.",
                0,
                0,
                0,
                8,
            ),
            (
                "isla.contributed_files",
                '"size"',
                "long",
                None,
                None,
                None,
                None,
                "byte",
                "phys.size;meta.file",
                "File size.",
                0,
                0,
                0,
                6,
            ),
            (
                "isla.contributed_files",
                "bucket",
                "unicodeChar",
                "*",
                None,
                None,
                None,
                None,
                "meta.ref",
                "Object-store bucket.",
                0,
                0,
                0,
                8,
            ),
            (
                "isla.contributed_files",
                "collection",
                "char",
                "*",
                None,
                None,
                None,
                None,
                "meta.id",
                "Collection name.",
                1,
                1,
                0,
                0,
            ),
            (
                "isla.contributed_files",
                "content_type",
                "unicodeChar",
                "*",
                None,
                None,
                None,
                None,
                "meta.code.mime",
                "Media type of the file.",
                0,
                0,
                0,
                5,
            ),
            (
                "isla.contributed_files",
                "file_name",
                "unicodeChar",
                "*",
                None,
                None,
                None,
                None,
                "meta.id;meta.file",
                "File name.",
                0,
                1,
                0,
                2,
            ),
            (
                "isla.contributed_files",
                "format",
                "char",
                "*",
                None,
                None,
                None,
                None,
                "meta.code.mime",
                "File format (fits, csv, ecsv, votable, markdown, text, pdf, tar, zip).",
                0,
                0,
                0,
                4,
            ),
            (
                "isla.contributed_files",
                "object_key",
                "unicodeChar",
                "*",
                None,
                None,
                None,
                None,
                "meta.ref.url",
                "Object-store key.",
                0,
                0,
                0,
                9,
            ),
            (
                "isla.contributed_files",
                "product_id",
                "unicodeChar",
                "*",
                None,
                None,
                None,
                None,
                "meta.id",
                "The product's identifier in isla.products (product files).",
                0,
                0,
                0,
                10,
            ),
            (
                "isla.contributed_files",
                "role",
                "char",
                "*",
                None,
                None,
                None,
                None,
                "meta.code.class",
                "product, documentation or software.",
                0,
                1,
                0,
                3,
            ),
            (
                "isla.contributed_files",
                "sha256",
                "char",
                "*",
                None,
                None,
                None,
                None,
                "meta.checksum",
                "SHA-256 checksum.",
                0,
                0,
                0,
                7,
            ),
            (
                "isla.contributed_files",
                "simulated",
                "boolean",
                None,
                None,
                None,
                None,
                None,
                "meta.code.qual",
                "True when the file is simulated (the demo archive), false when "
                "delivered by INTEGRAL.",
                0,
                0,
                0,
                11,
            ),
            (
                "isla.contributed_files",
                "version",
                "int",
                None,
                None,
                None,
                None,
                None,
                "meta.version",
                "Archive version of the collection.",
                0,
                1,
                0,
                1,
            ),
        ],
    },
    "keys": {
        "columns": ("key_id", "from_table", "target_table", "utype", "description"),
        "removed": [],
        "added": [
            (
                "fk_contributed_collections_instrument_instruments",
                "isla.contributed_collections",
                "isla.instruments",
                None,
                "contributed_collections refers to instruments.",
            ),
            (
                "fk_contributed_files_collection_version_contributed_collections",
                "isla.contributed_files",
                "isla.contributed_collections",
                None,
                "contributed_files refers to contributed_collections.",
            ),
        ],
    },
    "key_columns": {
        "columns": ("key_id", "from_column", "target_column"),
        "removed": [],
        "added": [
            ("fk_contributed_collections_instrument_instruments", "instrument", "name"),
            (
                "fk_contributed_files_collection_version_contributed_collections",
                "collection",
                "collection",
            ),
            (
                "fk_contributed_files_collection_version_contributed_collections",
                "version",
                "version",
            ),
        ],
    },
}


def _as_written(side: str) -> dict[str, list[tuple[Any, ...]]]:
    """The ``side`` rows of :data:`TAP_SCHEMA_CHANGES` in the writer's column order."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    for table, change in TAP_SCHEMA_CHANGES.items():
        names = [n.strip('"') for n in change["columns"]]
        order = [names.index(n.strip('"')) for n in TAP_SCHEMA_COLUMNS[table]]
        out[table] = [tuple(row[k] for k in order) for row in change[side]]
    return out


def _apply(removed: str, added: str) -> None:
    """Turn the ``removed`` rows into the ``added`` ones: rows whose key stays are updated in
    place (deleting a table's row would cascade to its columns), the others deleted."""
    rows = _as_written(added)
    gone: dict[str, list[tuple[Any, ...]]] = {}
    for table, old in _as_written(removed).items():
        names = [n.strip('"') for n in TAP_SCHEMA_COLUMNS[table]]
        key = [names.index(n) for n in TAP_SCHEMA_KEY[table]]
        kept = {tuple(r[k] for k in key) for r in rows.get(table, [])}
        gone[table] = [k for k in (tuple(r[k] for k in key) for r in old) if k not in kept]
    change_tap_schema(op.get_bind(), rows, gone)


_KINDS_TABLE = sa.table(
    "product_kinds",
    sa.column("kind"),
    sa.column("dataproduct_type"),
    sa.column("calib_level"),
    sa.column("o_ucd"),
    sa.column("field_image"),
    sa.column("description"),
    schema="isla",
)


def upgrade() -> None:
    """Create the review tables and the published tables, register the kinds, publish."""
    op.create_table(
        "contributed_collections",
        sa.Column("collection", sa.String(length=64), nullable=False, comment="Collection name."),
        sa.Column(
            "version",
            sa.Integer(),
            nullable=False,
            comment="Archive version of the collection (1, 2, ...).",
        ),
        sa.Column("title", sa.Text(), nullable=False, comment="Title of the collection."),
        sa.Column("team", sa.Text(), nullable=False, comment="Team that delivered it."),
        sa.Column(
            "authors", sa.Text(), nullable=False, comment="Authors, separated by semicolons."
        ),
        sa.Column("description", sa.Text(), nullable=False, comment="What the collection holds."),
        sa.Column(
            "licence",
            sa.String(length=64),
            nullable=False,
            comment="Licence of the product files (SPDX identifier).",
        ),
        sa.Column(
            "instrument",
            sa.String(length=16),
            nullable=False,
            comment="Instrument whose data the products come from.",
        ),
        sa.Column(
            "version_label",
            sa.Text(),
            nullable=True,
            comment="The team's own version label, if any.",
        ),
        sa.Column(
            "documentation",
            sa.Text(),
            nullable=False,
            comment="File name of the documentation (README).",
        ),
        sa.Column(
            "software",
            sa.Text(),
            nullable=True,
            comment="File name of the software archive, if delivered.",
        ),
        sa.Column(
            "software_licence",
            sa.String(length=64),
            nullable=True,
            comment="Licence of the software (SPDX identifier).",
        ),
        sa.Column("software_version", sa.Text(), nullable=True, comment="Version of the software."),
        sa.Column(
            "n_files", sa.Integer(), nullable=False, comment="Product files in this version."
        ),
        sa.Column(
            "size", sa.BigInteger(), nullable=False, comment="Bytes of every file of this version."
        ),
        sa.Column(
            "submitted_at",
            sa.DateTime(),
            nullable=False,
            comment="When the version was delivered (UTC).",
        ),
        sa.Column(
            "published_at",
            sa.DateTime(),
            nullable=False,
            comment="When an operator published it (UTC).",
        ),
        sa.Column(
            "latest",
            sa.Boolean(),
            nullable=False,
            comment="True for the newest published version of the collection.",
        ),
        sa.Column(
            "simulated",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=False,
            comment=SIMULATED.format("collection"),
        ),
        sa.CheckConstraint(
            "collection ~ '^[a-z0-9][a-z0-9-]{1,62}$'",
            name=op.f("ck_contributed_collections_name_form"),
        ),
        sa.ForeignKeyConstraint(
            ["instrument"],
            ["isla.instruments.name"],
            name=op.f("fk_contributed_collections_instrument_instruments"),
        ),
        sa.PrimaryKeyConstraint("collection", "version", name=op.f("pk_contributed_collections")),
        schema="isla",
        comment=COLLECTIONS,
    )
    op.create_table(
        "contributed_files",
        sa.Column("collection", sa.String(length=64), nullable=False, comment="Collection name."),
        sa.Column(
            "version", sa.Integer(), nullable=False, comment="Archive version of the collection."
        ),
        sa.Column("file_name", sa.Text(), nullable=False, comment="File name."),
        sa.Column(
            "role",
            sa.String(length=16),
            nullable=False,
            comment="product, documentation or software.",
        ),
        sa.Column(
            "format",
            sa.String(length=16),
            nullable=False,
            comment="File format (fits, csv, ecsv, votable, markdown, text, pdf, tar, zip).",
        ),
        sa.Column("content_type", sa.Text(), nullable=False, comment="Media type of the file."),
        sa.Column("size", sa.BigInteger(), nullable=False, comment="File size."),
        sa.Column("sha256", sa.String(length=64), nullable=False, comment="SHA-256 checksum."),
        sa.Column("bucket", sa.Text(), nullable=False, comment="Object-store bucket."),
        sa.Column("object_key", sa.Text(), nullable=False, comment="Object-store key."),
        sa.Column(
            "product_id",
            sa.Text(),
            nullable=True,
            comment="The product's identifier in isla.products (product files).",
        ),
        sa.Column(
            "simulated",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=False,
            comment=SIMULATED.format("file"),
        ),
        sa.CheckConstraint(
            "role IN ('product', 'documentation', 'software')",
            name=op.f("ck_contributed_files_role_known"),
        ),
        sa.ForeignKeyConstraint(
            ["collection", "version"],
            ["isla.contributed_collections.collection", "isla.contributed_collections.version"],
            name=op.f("fk_contributed_files_collection_contributed_collections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "collection", "version", "file_name", name=op.f("pk_contributed_files")
        ),
        schema="isla",
        comment=FILES,
    )
    op.create_table(
        "contributed_staging",
        sa.Column(
            "ingestion", sa.String(length=36), nullable=False, comment="Delivery identifier (UUID)."
        ),
        sa.Column("bucket", sa.Text(), nullable=False, comment="Object-store bucket."),
        sa.Column("object_key", sa.Text(), nullable=False, comment="Object put."),
        sa.Column(
            "created_at",
            sa.DateTime(),
            server_default=sa.text("timezone('UTC', now())"),
            nullable=False,
            comment="When journaled (UTC).",
        ),
        sa.PrimaryKeyConstraint("ingestion", "object_key", name=op.f("pk_contributed_staging")),
        schema="isla_ops",
        comment="Objects of contributed deliveries not yet committed (crash recovery).",
    )
    op.create_table(
        "contributed_deliveries",
        sa.Column(
            "delivery_id",
            sa.String(length=36),
            nullable=False,
            comment="Delivery identifier (UUID).",
        ),
        sa.Column("collection", sa.String(length=64), nullable=False, comment="Collection."),
        sa.Column("version", sa.Integer(), nullable=False, comment="Archive version."),
        sa.Column("team", sa.Text(), nullable=False, comment="Owning team."),
        sa.Column("token_id", sa.Integer(), nullable=True, comment="Token that delivered it."),
        sa.Column("state", sa.String(length=16), nullable=False, comment="Review state."),
        sa.Column(
            "metadata",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=False,
            comment="Title, authors, description, licences, instrument, versions.",
        ),
        sa.Column(
            "report",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="{}",
            nullable=False,
            comment="QC warnings and facts.",
        ),
        sa.Column(
            "history",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="[]",
            nullable=False,
            comment="State changes: who, when, note.",
        ),
        sa.Column(
            "simulated",
            sa.Boolean(),
            server_default="false",
            nullable=False,
            comment="Simulated (demo) files.",
        ),
        sa.Column(
            "submitted_at",
            sa.DateTime(),
            server_default=sa.text("timezone('UTC', now())"),
            nullable=False,
            comment="Delivery time (UTC).",
        ),
        sa.Column(
            "changed_at",
            sa.DateTime(),
            server_default=sa.text("timezone('UTC', now())"),
            nullable=False,
            comment="Last state change (UTC).",
        ),
        sa.CheckConstraint(
            "state IN ('submitted', 'accepted', 'published', 'rejected')",
            name=op.f("ck_contributed_deliveries_state_known"),
        ),
        sa.ForeignKeyConstraint(
            ["team"],
            ["isla_ops.ingest_teams.name"],
            name=op.f("fk_contributed_deliveries_team_ingest_teams"),
        ),
        sa.ForeignKeyConstraint(
            ["token_id"],
            ["isla_ops.ingest_tokens.token_id"],
            name=op.f("fk_contributed_deliveries_token_id_ingest_tokens"),
        ),
        sa.PrimaryKeyConstraint("delivery_id", name=op.f("pk_contributed_deliveries")),
        sa.UniqueConstraint(
            "collection", "version", name=op.f("uq_contributed_deliveries_collection_version")
        ),
        schema="isla_ops",
        comment="Deliveries of contributed collections and their review state.",
    )
    op.create_index(
        "ix_contributed_deliveries_team",
        "contributed_deliveries",
        ["team"],
        unique=False,
        schema="isla_ops",
    )
    op.create_table(
        "contributed_delivery_files",
        sa.Column("delivery", sa.String(length=36), nullable=False, comment="Delivery."),
        sa.Column("file_name", sa.Text(), nullable=False, comment="File name."),
        sa.Column(
            "role",
            sa.String(length=16),
            nullable=False,
            comment="product, documentation or software.",
        ),
        sa.Column("format", sa.String(length=16), nullable=False, comment="File format."),
        sa.Column("content_type", sa.Text(), nullable=False, comment="Media type."),
        sa.Column("size", sa.BigInteger(), nullable=False, comment="Bytes."),
        sa.Column("sha256", sa.String(length=64), nullable=False, comment="SHA-256, hex."),
        sa.Column("bucket", sa.Text(), nullable=False, comment="Object-store bucket."),
        sa.Column("object_key", sa.Text(), nullable=False, comment="Object-store key."),
        sa.Column(
            "facts",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="{}",
            nullable=False,
            comment="What QC found (HDUs, columns).",
        ),
        sa.Column(
            "simulated",
            sa.Boolean(),
            server_default="false",
            nullable=False,
            comment="Simulated (SIMDATA = T).",
        ),
        sa.ForeignKeyConstraint(
            ["delivery"],
            ["isla_ops.contributed_deliveries.delivery_id"],
            name=op.f("fk_contributed_delivery_files_delivery_contributed_deliveries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "delivery", "file_name", name=op.f("pk_contributed_delivery_files")
        ),
        schema="isla_ops",
        comment="Files of contributed deliveries (all states).",
    )
    op.bulk_insert(
        _KINDS_TABLE,
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
    _apply("removed", "added")


def downgrade() -> None:
    """Drop the tables, the kinds (and their products) and the TAP_SCHEMA rows."""
    _apply("added", "removed")
    op.execute("DELETE FROM isla.products WHERE kind IN ('contributed_table', 'contributed_map')")
    op.execute(
        "DELETE FROM isla.product_kinds WHERE kind IN ('contributed_table', 'contributed_map')"
    )
    op.drop_table("contributed_delivery_files", schema="isla_ops")
    op.drop_index(
        "ix_contributed_deliveries_team", table_name="contributed_deliveries", schema="isla_ops"
    )
    op.drop_table("contributed_deliveries", schema="isla_ops")
    op.drop_table("contributed_staging", schema="isla_ops")
    op.drop_table("contributed_files", schema="isla")
    op.drop_table("contributed_collections", schema="isla")
