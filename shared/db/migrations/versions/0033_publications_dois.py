"""Publications (the INTEGRAL literature survey) and DOIs

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-03

``isla.publications`` (one row per paper: bibcode, DOI, title, authors, year, the observation
ids a delivery named that the archive does not hold), ``isla.publication_links`` (paper ↔
observation) and ``isla.dois`` (the DOIs of the archive's collections, revolution bundles and
products, with their DataCite resource type and registration state). All three are published
through TAP; the TAP_SCHEMA rows are frozen here as literal data.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from shared.db.tap_schema_rows import apply_changes

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PUBLICATIONS = (
    "Papers of the INTEGRAL literature survey that use INTEGRAL observations, delivered as "
    "bibcode-observation pairs (isla.publication_links)."
)
_LINKS = (
    "Which observations each paper of isla.publications used (from there: their science "
    "windows, sources and products)."
)
_DOIS = (
    "DOIs of the archive's collections (raw data per instrument, product types, catalogues), "
    "revolution bundles and products, with their DataCite resource type."
)
_NOW = sa.text("timezone('UTC', now())")


def _c(name: str, type_: Any, comment: str, **kw: Any) -> sa.Column[Any]:
    return sa.Column(name, type_, nullable=kw.pop("nullable", False), comment=comment, **kw)


# TAP_SCHEMA rows this revision changes, frozen as literal data (table -> column names,
# rows it removes, rows it adds): the migration never reads today's metadata.
TAP_SCHEMA_CHANGES: dict[str, dict[str, Any]] = {
    "schemas": {
        "columns": ("schema_name", "utype", "description", "schema_index"),
        "removed": [],
        "added": [],
    },
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
                29,
            ),
            (
                "TAP_SCHEMA",
                "TAP_SCHEMA.key_columns",
                "table",
                None,
                "Columns of the foreign keys.",
                31,
            ),
            (
                "TAP_SCHEMA",
                "TAP_SCHEMA.keys",
                "table",
                None,
                "Foreign keys between published tables.",
                30,
            ),
            (
                "TAP_SCHEMA",
                "TAP_SCHEMA.schemas",
                "table",
                None,
                "Schemas published by this service.",
                27,
            ),
            (
                "TAP_SCHEMA",
                "TAP_SCHEMA.tables",
                "table",
                None,
                "Tables published by this service.",
                28,
            ),
            (
                "ila",
                "ila.band",
                "view",
                None,
                "The ISLA default energy band of each instrument (one per instrument).",
                22,
            ),
            (
                "ila",
                "ila.cons_pub_obs",
                "view",
                None,
                "Public consolidated observations, with the columns ISLA clients query.",
                23,
            ),
            (
                "ila",
                "ila.epoch",
                "view",
                None,
                "Epochs (RRRR_OOOOOOOOOOO: revolution and observation) in which a "
                "source was in the field of view of an instrument, from products and "
                "from the observations' pointings.",
                25,
            ),
            (
                "ila",
                "ila.instrument",
                "view",
                None,
                "Instruments as ESA's ISLA names them, with their numeric identifiers.",
                21,
            ),
            (
                "ila",
                "ila.v_cat_source",
                "view",
                None,
                "The source catalogue as ISLA clients query it (name search and cone search).",
                24,
            ),
            (
                "isla",
                "isla.dois",
                "table",
                None,
                "DOIs of the archive's collections (raw data per instrument, product "
                "types, catalogues), revolution bundles and products, with their "
                "DataCite resource type.",
                3,
            ),
            (
                "isla",
                "isla.energy_bands",
                "table",
                None,
                "Energy bands of products and catalogue fluxes, per instrument.",
                4,
            ),
            (
                "isla",
                "isla.instruments",
                "table",
                None,
                "INTEGRAL instruments and detector layers in the archive.",
                5,
            ),
            (
                "isla",
                "isla.lightcurve_points",
                "table",
                None,
                "Light-curve points of ISGRI and JEM-X: one per source, science window "
                "and band, for every pointing with the source in the field of view.",
                6,
            ),
            (
                "isla",
                "isla.observations",
                "table",
                None,
                "Observations: sequences of science windows of one proposal and target.",
                7,
            ),
            (
                "isla",
                "isla.omc_points",
                "table",
                None,
                "OMC V-band light-curve points of sources with an optical counterpart, "
                "one per science window with the source in the OMC field of view.",
                8,
            ),
            (
                "isla",
                "isla.product_kinds",
                "table",
                None,
                "Kinds of science products published in ivoa.obscore, with their "
                "ObsCore classification. Products of other kinds (responses, previews) "
                "are reached through the DataLink document of their product.",
                9,
            ),
            (
                "isla",
                "isla.products",
                "table",
                None,
                "Science products held in the object store.",
                10,
            ),
            (
                "isla",
                "isla.publication_links",
                "table",
                None,
                "Which observations each paper of isla.publications used (from there: "
                "their science windows, sources and products).",
                11,
            ),
            (
                "isla",
                "isla.publications",
                "table",
                None,
                "Papers of the INTEGRAL literature survey that use INTEGRAL "
                "observations, delivered as bibcode-observation pairs "
                "(isla.publication_links).",
                12,
            ),
            (
                "isla",
                "isla.revolutions",
                "table",
                None,
                "INTEGRAL revolutions (orbits of about three days).",
                13,
            ),
            (
                "isla",
                "isla.science_windows",
                "table",
                None,
                "Science windows: the pointings and slews that make up all raw data.",
                14,
            ),
            (
                "isla",
                "isla.scw_files",
                "table",
                None,
                "Raw data files of each science window, with sizes and checksums.",
                15,
            ),
            (
                "isla",
                "isla.source_aliases",
                "table",
                None,
                "Alternative names of sources (used by the target resolver).",
                16,
            ),
            (
                "isla",
                "isla.source_fluxes",
                "table",
                None,
                "Fluxes of sources per instrument band, with provenance.",
                17,
            ),
            (
                "isla",
                "isla.sources",
                "table",
                None,
                "The archive's merged source list: every known INTEGRAL source.",
                18,
            ),
            (
                "isla",
                "isla.timeseries_files",
                "table",
                None,
                "Delivered SPI-ACS and IREM time-series files, one per dataset and revolution.",
                19,
            ),
            (
                "isla",
                "isla.timeseries_segments",
                "table",
                None,
                "Segments of the time-series serving copy (gap-free runs of samples "
                "with implicit time, with their multi-resolution pyramid) in the object "
                "store.",
                20,
            ),
            (
                "ivoa",
                "ivoa.obscore",
                "view",
                "ivo://ivoa.net/std/ObsCore#table-1.1",
                "ObsCore 1.1: one row per INTEGRAL pointing science window (raw data, "
                "IBIS/ISGRI field of view) and one per science product (light curves, "
                "spectra, mosaics).",
                26,
            ),
        ],
    },
    "columns": {
        "columns": (
            "table_name",
            "column_name",
            "datatype",
            "arraysize",
            '"size"',
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
                "isla.dois",
                "created_at",
                "char",
                "*",
                None,
                "timestamp",
                None,
                None,
                "time.creation",
                "When the DOI was assigned (UTC).",
                0,
                0,
                0,
                11,
            ),
            (
                "isla.dois",
                "doi",
                "unicodeChar",
                "*",
                None,
                None,
                None,
                None,
                "meta.ref.doi",
                "The DOI (prefix/suffix).",
                1,
                1,
                0,
                1,
            ),
            (
                "isla.dois",
                "kind",
                "char",
                "*",
                None,
                None,
                None,
                None,
                "meta.code",
                "What is identified: archive, raw_collection, product_collection, "
                "catalogues, catalogue, revolution, product (further kinds may be "
                "added).",
                1,
                1,
                0,
                2,
            ),
            (
                "isla.dois",
                "minted_at",
                "char",
                "*",
                None,
                "timestamp",
                None,
                None,
                "time.processing",
                "When the record was last sent to DataCite or dry-run (UTC).",
                0,
                0,
                0,
                12,
            ),
            (
                "isla.dois",
                "parent",
                "unicodeChar",
                "*",
                None,
                None,
                None,
                None,
                "meta.id",
                "Suffix of the collection this DOI is part of (IsPartOf).",
                1,
                0,
                0,
                4,
            ),
            (
                "isla.dois",
                "publication_year",
                "short",
                None,
                None,
                None,
                None,
                None,
                "time.epoch",
                "DataCite publicationYear.",
                0,
                0,
                0,
                8,
            ),
            (
                "isla.dois",
                "resource_type",
                "unicodeChar",
                "*",
                None,
                None,
                None,
                None,
                "meta.code",
                "DataCite resourceType (free text).",
                0,
                0,
                0,
                7,
            ),
            (
                "isla.dois",
                "resource_type_general",
                "char",
                "*",
                None,
                None,
                None,
                None,
                "meta.code",
                "DataCite resourceTypeGeneral (Collection, Dataset, ...).",
                0,
                0,
                0,
                6,
            ),
            (
                "isla.dois",
                "simulated",
                "boolean",
                None,
                None,
                None,
                None,
                None,
                "meta.code.qual",
                "True when the identified data are simulated (the demo archive): such "
                "DOIs use a test prefix and are never registered.",
                0,
                0,
                0,
                9,
            ),
            (
                "isla.dois",
                "state",
                "char",
                "*",
                None,
                None,
                None,
                None,
                "meta.code.status",
                "Registration state: local (never sent), dry-run (written, not sent), "
                "draft, registered or findable at DataCite.",
                0,
                0,
                0,
                10,
            ),
            (
                "isla.dois",
                "suffix",
                "unicodeChar",
                "*",
                None,
                None,
                None,
                None,
                "meta.id;meta.main",
                "DOI suffix (lower case; the landing page is /doi/<suffix>).",
                1,
                1,
                0,
                0,
            ),
            (
                "isla.dois",
                "target",
                "unicodeChar",
                "*",
                None,
                None,
                None,
                None,
                "meta.id",
                "The identified object in the archive's terms (instrument, product "
                "kind, catalogue name@version, revolution, product id).",
                0,
                0,
                0,
                3,
            ),
            (
                "isla.dois",
                "title",
                "unicodeChar",
                "*",
                None,
                None,
                None,
                None,
                "meta.title",
                "Title of the DataCite record.",
                0,
                0,
                0,
                5,
            ),
            (
                "isla.publication_links",
                "bibcode",
                "char",
                "*",
                None,
                None,
                None,
                None,
                "meta.bib.bibcode",
                "Paper (isla.publications).",
                1,
                1,
                0,
                0,
            ),
            (
                "isla.publication_links",
                "obsid",
                "char",
                "*",
                None,
                None,
                None,
                None,
                "meta.id;obs",
                "Observation the paper used (isla.observations).",
                1,
                1,
                0,
                1,
            ),
            (
                "isla.publication_links",
                "simulated",
                "boolean",
                None,
                None,
                None,
                None,
                None,
                "meta.code.qual",
                "True when the link comes from a simulated paper.",
                0,
                0,
                0,
                2,
            ),
            (
                "isla.publications",
                "authors",
                "unicodeChar",
                "*",
                None,
                None,
                None,
                None,
                "meta.bib.author",
                "Authors, in order, separated by '; '.",
                0,
                1,
                0,
                3,
            ),
            (
                "isla.publications",
                "bibcode",
                "char",
                "*",
                None,
                None,
                None,
                None,
                "meta.bib.bibcode;meta.main",
                "ADS bibliographic code (19 characters).",
                1,
                1,
                0,
                0,
            ),
            (
                "isla.publications",
                "created_at",
                "char",
                "*",
                None,
                "timestamp",
                None,
                None,
                "time.creation",
                "When the record entered or last changed in the archive (UTC).",
                0,
                0,
                0,
                9,
            ),
            (
                "isla.publications",
                "delivery_sha256",
                "char",
                "*",
                None,
                None,
                None,
                None,
                "meta.checksum",
                "SHA-256 of the delivery that brought the record.",
                0,
                0,
                0,
                7,
            ),
            (
                "isla.publications",
                "doi",
                "unicodeChar",
                "*",
                None,
                None,
                None,
                None,
                "meta.bib",
                "DOI of the paper (NULL when unknown).",
                0,
                0,
                0,
                1,
            ),
            (
                "isla.publications",
                "pub_year",
                "short",
                None,
                None,
                None,
                None,
                None,
                "time.epoch;meta.bib",
                "Publication year.",
                1,
                1,
                0,
                4,
            ),
            (
                "isla.publications",
                "simulated",
                "boolean",
                None,
                None,
                None,
                None,
                None,
                "meta.code.qual",
                "True for simulated papers (the demo archive: fake bibcodes, titles "
                "starting '[simulated]'), false for real ones.",
                0,
                1,
                0,
                8,
            ),
            (
                "isla.publications",
                "team",
                "unicodeChar",
                "*",
                None,
                None,
                None,
                None,
                "meta.curation",
                "Team that delivered the record.",
                0,
                0,
                0,
                6,
            ),
            (
                "isla.publications",
                "title",
                "unicodeChar",
                "*",
                None,
                None,
                None,
                None,
                "meta.title",
                "Title of the paper.",
                0,
                1,
                0,
                2,
            ),
            (
                "isla.publications",
                "unresolved_obsids",
                "unicodeChar",
                "*",
                None,
                None,
                None,
                None,
                "meta.id;obs",
                "Observation ids the delivery named that the archive does not hold "
                "(space separated; reported at delivery, kept here).",
                0,
                0,
                0,
                5,
            ),
        ],
    },
    "keys": {
        "columns": ("key_id", "from_table", "target_table", "utype", "description"),
        "removed": [],
        "added": [
            (
                "fk_publication_links_bibcode_publications",
                "isla.publication_links",
                "isla.publications",
                None,
                "publication_links refers to publications.",
            ),
            (
                "fk_publication_links_obsid_observations",
                "isla.publication_links",
                "isla.observations",
                None,
                "publication_links refers to observations.",
            ),
        ],
    },
    "key_columns": {
        "columns": ("key_id", "from_column", "target_column"),
        "removed": [],
        "added": [
            ("fk_publication_links_bibcode_publications", "bibcode", "bibcode"),
            ("fk_publication_links_obsid_observations", "obsid", "obsid"),
        ],
    },
}


def _apply(removed: str, added: str) -> None:
    apply_changes(op.get_bind(), TAP_SCHEMA_CHANGES, removed, added)


def create_tables() -> None:
    """The three tables (without their TAP_SCHEMA rows)."""
    op.create_table(
        "publications",
        _c("bibcode", sa.String(19), "ADS bibliographic code (19 characters)."),
        _c("doi", sa.Text(), "DOI of the paper (NULL when unknown).", nullable=True),
        _c("title", sa.Text(), "Title of the paper."),
        _c("authors", sa.Text(), "Authors, in order, separated by '; '."),
        _c("pub_year", sa.SmallInteger(), "Publication year."),
        _c(
            "unresolved_obsids",
            sa.Text(),
            "Observation ids the delivery named that the archive does not hold (space "
            "separated; reported at delivery, kept here).",
            nullable=True,
        ),
        _c("team", sa.Text(), "Team that delivered the record."),
        _c("delivery_sha256", sa.String(64), "SHA-256 of the delivery that brought the record."),
        _c(
            "simulated",
            sa.Boolean(),
            "True for simulated papers (the demo archive: fake bibcodes, titles starting "
            "'[simulated]'), false for real ones.",
            server_default=sa.text("false"),
        ),
        _c(
            "created_at",
            sa.DateTime(),
            "When the record entered or last changed in the archive (UTC).",
            server_default=_NOW,
        ),
        sa.CheckConstraint(
            "pub_year BETWEEN 1900 AND 2200", name=op.f("ck_publications_pub_year_range")
        ),
        sa.PrimaryKeyConstraint("bibcode", name=op.f("pk_publications")),
        schema="isla",
        comment=_PUBLICATIONS,
    )
    op.create_index("ix_publications_pub_year", "publications", ["pub_year"], schema="isla")
    op.create_table(
        "publication_links",
        _c("bibcode", sa.String(19), "Paper (isla.publications)."),
        _c("obsid", sa.String(11), "Observation the paper used (isla.observations)."),
        _c(
            "simulated",
            sa.Boolean(),
            "True when the link comes from a simulated paper.",
            server_default=sa.text("false"),
        ),
        sa.ForeignKeyConstraint(
            ["bibcode"],
            ["isla.publications.bibcode"],
            name=op.f("fk_publication_links_bibcode_publications"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["obsid"],
            ["isla.observations.obsid"],
            name=op.f("fk_publication_links_obsid_observations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("bibcode", "obsid", name=op.f("pk_publication_links")),
        schema="isla",
        comment=_LINKS,
    )
    op.create_index("ix_publication_links_obsid", "publication_links", ["obsid"], schema="isla")
    op.create_table(
        "dois",
        _c("suffix", sa.Text(), "DOI suffix (lower case; the landing page is /doi/<suffix>)."),
        _c("doi", sa.Text(), "The DOI (prefix/suffix)."),
        _c(
            "kind",
            sa.String(32),
            "What is identified: archive, raw_collection, product_collection, catalogues, "
            "catalogue, revolution, product (further kinds may be added).",
        ),
        _c(
            "target",
            sa.Text(),
            "The identified object in the archive's terms (instrument, product kind, catalogue "
            "name@version, revolution, product id).",
        ),
        _c(
            "parent",
            sa.Text(),
            "Suffix of the collection this DOI is part of (IsPartOf).",
            nullable=True,
        ),
        _c("title", sa.Text(), "Title of the DataCite record."),
        _c(
            "resource_type_general",
            sa.String(32),
            "DataCite resourceTypeGeneral (Collection, Dataset, ...).",
        ),
        _c("resource_type", sa.Text(), "DataCite resourceType (free text)."),
        _c("publication_year", sa.SmallInteger(), "DataCite publicationYear."),
        _c(
            "simulated",
            sa.Boolean(),
            "True when the identified data are simulated (the demo archive): such DOIs use a "
            "test prefix and are never registered.",
            server_default=sa.text("false"),
        ),
        _c(
            "state",
            sa.String(16),
            "Registration state: local (never sent), dry-run (written, not sent), draft, "
            "registered or findable at DataCite.",
            server_default=sa.text("'local'"),
        ),
        _c("created_at", sa.DateTime(), "When the DOI was assigned (UTC).", server_default=_NOW),
        _c(
            "minted_at",
            sa.DateTime(),
            "When the record was last sent to DataCite or dry-run (UTC).",
            nullable=True,
        ),
        sa.CheckConstraint("suffix = lower(suffix)", name=op.f("ck_dois_suffix_lower")),
        sa.PrimaryKeyConstraint("suffix", name=op.f("pk_dois")),
        sa.UniqueConstraint("doi", name=op.f("uq_dois_doi")),
        schema="isla",
        comment=_DOIS,
    )
    op.create_index("ix_dois_parent", "dois", ["parent"], schema="isla")
    op.create_index("ix_dois_kind_target", "dois", ["kind", "target"], schema="isla")


def upgrade() -> None:
    """Create the tables and publish them."""
    create_tables()
    _apply("removed", "added")


def downgrade() -> None:
    """Drop the tables and their TAP_SCHEMA rows."""
    _apply("added", "removed")
    op.drop_index("ix_dois_kind_target", table_name="dois", schema="isla")
    op.drop_index("ix_dois_parent", table_name="dois", schema="isla")
    op.drop_table("dois", schema="isla")
    op.drop_index("ix_publication_links_obsid", table_name="publication_links", schema="isla")
    op.drop_table("publication_links", schema="isla")
    op.drop_index("ix_publications_pub_year", table_name="publications", schema="isla")
    op.drop_table("publications", schema="isla")
