"""ISDC's instrument-characteristics tree: isla.ic_files

Revision ID: 0041
Revises: 0040
Create Date: 2026-12-03

The raw bucket may hold ISDC's instrument-characteristics tree (``ic/<instrument>/...``) and
its index files (``idx/ic/...``) as copied in by any S3 client; the raw indexer registers each
file with its size, ETag and checksum state, as it does the ScW and auxiliary files, and the
raw service lists and packs them. The table is published in TAP: its TAP_SCHEMA rows (and the
display order of the tables after it) are frozen here as literal data.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from shared.db.tap_schema_rows import apply_changes

revision: str = "0041"
down_revision: str | None = "0040"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DESCRIPTION = (
    "Files of ISDC's instrument-characteristics tree (ic/) and its index (idx/ic/), with "
    "sizes and checksums."
)
STATE = (
    "verified (checksum known), unverified (not yet hashed: served with its size only), "
    "corrupt or missing (found so by a verification: not served)."
)
SOURCE = (
    "Where the checksum comes from: streamed (hashed by the indexer), s3 (the object "
    "store's own SHA-256 checksum) or isla (computed by ISLA while writing the object)."
)

# TAP_SCHEMA rows this revision changes, as literal data (the table indexes after isla.ic_files
# move up by one).
TAP_SCHEMA_CHANGES: dict[str, dict[str, Any]] = {
    "tables": {
        "removed": [
            (
                "TAP_SCHEMA",
                "TAP_SCHEMA.columns",
                "table",
                None,
                "Columns of the published tables.",
                33,
            ),
            (
                "TAP_SCHEMA",
                "TAP_SCHEMA.key_columns",
                "table",
                None,
                "Columns of the foreign keys.",
                35,
            ),
            (
                "TAP_SCHEMA",
                "TAP_SCHEMA.keys",
                "table",
                None,
                "Foreign keys between published tables.",
                34,
            ),
            (
                "TAP_SCHEMA",
                "TAP_SCHEMA.schemas",
                "table",
                None,
                "Schemas published by this service.",
                31,
            ),
            (
                "TAP_SCHEMA",
                "TAP_SCHEMA.tables",
                "table",
                None,
                "Tables published by this service.",
                32,
            ),
            (
                "ila",
                "ila.band",
                "view",
                None,
                "The ISLA default energy band of each instrument (one per instrument).",
                26,
            ),
            (
                "ila",
                "ila.cons_pub_obs",
                "view",
                None,
                "Public consolidated observations, with the columns ISLA clients query.",
                27,
            ),
            (
                "ila",
                "ila.epoch",
                "view",
                None,
                "Epochs (RRRR_OOOOOOOOOOO: revolution and observation) in which a "
                "source was in the field of view of an instrument, from products and "
                "from the observations' pointings.",
                29,
            ),
            (
                "ila",
                "ila.instrument",
                "view",
                None,
                "Instruments as ESA's ISLA names them, with their numeric identifiers.",
                25,
            ),
            (
                "ila",
                "ila.v_cat_source",
                "view",
                None,
                "The source catalogue as ISLA clients query it (name search and cone search).",
                28,
            ),
            (
                "isla",
                "isla.instruments",
                "table",
                None,
                "INTEGRAL instruments and detector layers in the archive.",
                9,
            ),
            (
                "isla",
                "isla.lightcurve_points",
                "table",
                None,
                "Light-curve points of ISGRI and JEM-X: one per source, science "
                "window and band, for every pointing with the source in the field of "
                "view.",
                10,
            ),
            (
                "isla",
                "isla.observations",
                "table",
                None,
                "Observations: sequences of science windows of one proposal and target.",
                11,
            ),
            (
                "isla",
                "isla.omc_points",
                "table",
                None,
                "OMC V-band light-curve points of sources with an optical "
                "counterpart, one per science window with the source in the OMC "
                "field of view.",
                12,
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
                13,
            ),
            (
                "isla",
                "isla.products",
                "table",
                None,
                "Science products held in the object store.",
                14,
            ),
            (
                "isla",
                "isla.publication_links",
                "table",
                None,
                "Which observations each paper of isla.publications used (from "
                "there: their science windows, sources and products).",
                15,
            ),
            (
                "isla",
                "isla.publications",
                "table",
                None,
                "Papers of the INTEGRAL literature survey that use INTEGRAL "
                "observations, delivered as bibcode-observation pairs "
                "(isla.publication_links).",
                16,
            ),
            (
                "isla",
                "isla.revolutions",
                "table",
                None,
                "INTEGRAL revolutions (orbits of about three days).",
                17,
            ),
            (
                "isla",
                "isla.science_windows",
                "table",
                None,
                "Science windows: the pointings and slews that make up all raw data.",
                18,
            ),
            (
                "isla",
                "isla.scw_files",
                "table",
                None,
                "Raw data files of each science window, with sizes and checksums.",
                19,
            ),
            (
                "isla",
                "isla.source_aliases",
                "table",
                None,
                "Alternative names of sources (used by the target resolver).",
                20,
            ),
            (
                "isla",
                "isla.source_fluxes",
                "table",
                None,
                "Fluxes of sources per instrument band, with provenance.",
                21,
            ),
            (
                "isla",
                "isla.sources",
                "table",
                None,
                "The archive's merged source list: every known INTEGRAL source.",
                22,
            ),
            (
                "isla",
                "isla.timeseries_files",
                "table",
                None,
                "Delivered SPI-ACS and IREM time-series files, one per dataset and revolution.",
                23,
            ),
            (
                "isla",
                "isla.timeseries_segments",
                "table",
                None,
                "Segments of the time-series serving copy (gap-free runs of samples "
                "with implicit time, with their multi-resolution pyramid) in the "
                "object store.",
                24,
            ),
            (
                "ivoa",
                "ivoa.obscore",
                "view",
                "ivo://ivoa.net/std/ObsCore#table-1.1",
                "ObsCore 1.1: one row per INTEGRAL pointing science window (raw "
                "data, IBIS/ISGRI field of view) and one per science product (light "
                "curves, spectra, mosaics).",
                30,
            ),
        ],
        "added": [
            (
                "TAP_SCHEMA",
                "TAP_SCHEMA.columns",
                "table",
                None,
                "Columns of the published tables.",
                34,
            ),
            (
                "TAP_SCHEMA",
                "TAP_SCHEMA.key_columns",
                "table",
                None,
                "Columns of the foreign keys.",
                36,
            ),
            (
                "TAP_SCHEMA",
                "TAP_SCHEMA.keys",
                "table",
                None,
                "Foreign keys between published tables.",
                35,
            ),
            (
                "TAP_SCHEMA",
                "TAP_SCHEMA.schemas",
                "table",
                None,
                "Schemas published by this service.",
                32,
            ),
            (
                "TAP_SCHEMA",
                "TAP_SCHEMA.tables",
                "table",
                None,
                "Tables published by this service.",
                33,
            ),
            (
                "ila",
                "ila.band",
                "view",
                None,
                "The ISLA default energy band of each instrument (one per instrument).",
                27,
            ),
            (
                "ila",
                "ila.cons_pub_obs",
                "view",
                None,
                "Public consolidated observations, with the columns ISLA clients query.",
                28,
            ),
            (
                "ila",
                "ila.epoch",
                "view",
                None,
                "Epochs (RRRR_OOOOOOOOOOO: revolution and observation) in which a "
                "source was in the field of view of an instrument, from products and "
                "from the observations' pointings.",
                30,
            ),
            (
                "ila",
                "ila.instrument",
                "view",
                None,
                "Instruments as ESA's ISLA names them, with their numeric identifiers.",
                26,
            ),
            (
                "ila",
                "ila.v_cat_source",
                "view",
                None,
                "The source catalogue as ISLA clients query it (name search and cone search).",
                29,
            ),
            (
                "isla",
                "isla.ic_files",
                "table",
                None,
                "Files of ISDC's instrument-characteristics tree (ic/) and its index "
                "(idx/ic/), with sizes and checksums.",
                9,
            ),
            (
                "isla",
                "isla.instruments",
                "table",
                None,
                "INTEGRAL instruments and detector layers in the archive.",
                10,
            ),
            (
                "isla",
                "isla.lightcurve_points",
                "table",
                None,
                "Light-curve points of ISGRI and JEM-X: one per source, science window "
                "and band, for every pointing with the source in the field of view.",
                11,
            ),
            (
                "isla",
                "isla.observations",
                "table",
                None,
                "Observations: sequences of science windows of one proposal and target.",
                12,
            ),
            (
                "isla",
                "isla.omc_points",
                "table",
                None,
                "OMC V-band light-curve points of sources with an optical counterpart, "
                "one per science window with the source in the OMC field of view.",
                13,
            ),
            (
                "isla",
                "isla.product_kinds",
                "table",
                None,
                "Kinds of science products published in ivoa.obscore, with their "
                "ObsCore classification. Products of other kinds (responses, previews) "
                "are reached through the DataLink document of their product.",
                14,
            ),
            (
                "isla",
                "isla.products",
                "table",
                None,
                "Science products held in the object store.",
                15,
            ),
            (
                "isla",
                "isla.publication_links",
                "table",
                None,
                "Which observations each paper of isla.publications used (from there: "
                "their science windows, sources and products).",
                16,
            ),
            (
                "isla",
                "isla.publications",
                "table",
                None,
                "Papers of the INTEGRAL literature survey that use INTEGRAL "
                "observations, delivered as bibcode-observation pairs "
                "(isla.publication_links).",
                17,
            ),
            (
                "isla",
                "isla.revolutions",
                "table",
                None,
                "INTEGRAL revolutions (orbits of about three days).",
                18,
            ),
            (
                "isla",
                "isla.science_windows",
                "table",
                None,
                "Science windows: the pointings and slews that make up all raw data.",
                19,
            ),
            (
                "isla",
                "isla.scw_files",
                "table",
                None,
                "Raw data files of each science window, with sizes and checksums.",
                20,
            ),
            (
                "isla",
                "isla.source_aliases",
                "table",
                None,
                "Alternative names of sources (used by the target resolver).",
                21,
            ),
            (
                "isla",
                "isla.source_fluxes",
                "table",
                None,
                "Fluxes of sources per instrument band, with provenance.",
                22,
            ),
            (
                "isla",
                "isla.sources",
                "table",
                None,
                "The archive's merged source list: every known INTEGRAL source.",
                23,
            ),
            (
                "isla",
                "isla.timeseries_files",
                "table",
                None,
                "Delivered SPI-ACS and IREM time-series files, one per dataset and revolution.",
                24,
            ),
            (
                "isla",
                "isla.timeseries_segments",
                "table",
                None,
                "Segments of the time-series serving copy (gap-free runs of samples "
                "with implicit time, with their multi-resolution pyramid) in the "
                "object store.",
                25,
            ),
            (
                "ivoa",
                "ivoa.obscore",
                "view",
                "ivo://ivoa.net/std/ObsCore#table-1.1",
                "ObsCore 1.1: one row per INTEGRAL pointing science window (raw data, "
                "IBIS/ISGRI field of view) and one per science product (light curves, "
                "spectra, mosaics).",
                31,
            ),
        ],
    },
    "columns": {
        "removed": [],
        "added": [
            (
                "isla.ic_files",
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
                1,
                0,
                3,
            ),
            (
                "isla.ic_files",
                "checksum_source",
                "unicodeChar",
                "*",
                None,
                None,
                None,
                None,
                "meta.ref",
                "Where the checksum comes from: streamed (hashed by the indexer), s3 "
                "(the object store's own SHA-256 checksum) or isla (computed by ISLA "
                "while writing the object).",
                0,
                0,
                0,
                6,
            ),
            (
                "isla.ic_files",
                "etag",
                "unicodeChar",
                "*",
                None,
                None,
                None,
                None,
                "meta.id",
                "The object's ETag when it was indexed (a changed object is hashed again).",
                0,
                0,
                0,
                8,
            ),
            (
                "isla.ic_files",
                "instrument",
                "unicodeChar",
                "*",
                None,
                None,
                None,
                None,
                "meta.id;instr",
                "The instrument folder the file is in (ibis, jemx, spi, omc, ...; "
                "NULL at the top).",
                0,
                1,
                0,
                2,
            ),
            (
                "isla.ic_files",
                "last_modified",
                "char",
                "*",
                None,
                "timestamp",
                None,
                None,
                "time.processing",
                "When the object was written to the store (UTC); the file's time in tarballs.",
                0,
                0,
                0,
                9,
            ),
            (
                "isla.ic_files",
                "path",
                "unicodeChar",
                "*",
                None,
                None,
                None,
                None,
                "meta.id;meta.file",
                "Path of the file in ISDC's layout (ic/<instrument>/... or "
                "idx/ic/...), which is also its key in the raw-data bucket.",
                1,
                1,
                0,
                0,
            ),
            (
                "isla.ic_files",
                "sha256",
                "char",
                "*",
                None,
                None,
                None,
                None,
                "meta.checksum",
                "SHA-256 checksum of the file (NULL while the file is unverified).",
                0,
                0,
                0,
                4,
            ),
            (
                "isla.ic_files",
                "state",
                "char",
                "*",
                None,
                None,
                None,
                None,
                "meta.code.status",
                "verified (checksum known), unverified (not yet hashed: served with "
                "its size only), corrupt or missing (found so by a verification: not "
                "served).",
                0,
                0,
                0,
                5,
            ),
            (
                "isla.ic_files",
                "tree",
                "char",
                "*",
                None,
                None,
                None,
                None,
                "meta.code",
                "ic (instrument characteristics) or idx (their index files, idx/ic/).",
                0,
                0,
                0,
                1,
            ),
            (
                "isla.ic_files",
                "verified_at",
                "char",
                "*",
                None,
                "timestamp",
                None,
                None,
                "time.processing",
                "When the checksum was last computed or checked (UTC).",
                0,
                0,
                0,
                7,
            ),
        ],
    },
}


def _apply(removed: str, added: str) -> None:
    apply_changes(op.get_bind(), TAP_SCHEMA_CHANGES, removed, added)


def upgrade() -> None:
    """Create isla.ic_files and publish it."""
    op.create_table(
        "ic_files",
        sa.Column(
            "path",
            sa.Text(),
            nullable=False,
            comment="Path of the file in ISDC's layout (ic/<instrument>/... or idx/ic/...), "
            "which is also its key in the raw-data bucket.",
        ),
        sa.Column(
            "tree",
            sa.String(3),
            nullable=False,
            comment="ic (instrument characteristics) or idx (their index files, idx/ic/).",
        ),
        sa.Column(
            "instrument",
            sa.Text(),
            comment="The instrument folder the file is in (ibis, jemx, spi, omc, ...; NULL "
            "at the top).",
        ),
        sa.Column("size", sa.BigInteger(), nullable=False, comment="File size."),
        sa.Column(
            "sha256",
            sa.String(64),
            comment="SHA-256 checksum of the file (NULL while the file is unverified).",
        ),
        sa.Column(
            "state",
            sa.String(10),
            nullable=False,
            server_default=sa.text("'verified'"),
            comment=STATE,
        ),
        sa.Column("checksum_source", sa.Text(), comment=SOURCE),
        sa.Column(
            "verified_at",
            sa.DateTime(),
            comment="When the checksum was last computed or checked (UTC).",
        ),
        sa.Column(
            "etag",
            sa.Text(),
            comment="The object's ETag when it was indexed (a changed object is hashed again).",
        ),
        sa.Column(
            "last_modified",
            sa.DateTime(),
            comment="When the object was written to the store (UTC); the file's time in tarballs.",
        ),
        sa.CheckConstraint(
            "state IN ('verified', 'unverified', 'corrupt', 'missing')",
            name=op.f("ck_ic_files_state"),
        ),
        sa.CheckConstraint(
            "state <> 'verified' OR sha256 IS NOT NULL", name=op.f("ck_ic_files_verified_sha256")
        ),
        sa.CheckConstraint("tree IN ('ic', 'idx')", name=op.f("ck_ic_files_tree")),
        sa.CheckConstraint("size >= 0", name=op.f("ck_ic_files_size")),
        sa.PrimaryKeyConstraint("path", name=op.f("pk_ic_files")),
        schema="isla",
        comment=DESCRIPTION,
    )
    _apply("removed", "added")


def downgrade() -> None:
    """Unpublish and drop isla.ic_files."""
    _apply("added", "removed")
    op.drop_table("ic_files", schema="isla")
