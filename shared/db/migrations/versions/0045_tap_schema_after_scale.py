"""TAP_SCHEMA in one order again after the instrument-characteristics files and the slim
catalogue were added side by side.

Revision ID: 0045
Revises: 0044
Create Date: 2026-12-03

Revisions 0041 (``isla.ic_files``) and 0043 (``isla.catalogue_entry_values``) were written side
by side, each numbering the published tables (``table_index``) without the other; 0042 indexed
the source aliases by trigram without saying so in ``TAP_SCHEMA.columns``. This revision writes
the rows as the metadata gives them once all are in: frozen here as literal data, like every
revision's.
"""

from collections.abc import Sequence
from typing import Any

from alembic import op

from shared.db.tap_schema_rows import apply_changes

revision: str = "0045"
down_revision: str | None = "0044"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TAP_SCHEMA_CHANGES: dict[str, dict[str, Any]] = {
    "tables": {
        "removed": [
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
                "Light-curve points of ISGRI and JEM-X: one per source, science "
                "window and band, for every pointing with the source in the field of "
                "view.",
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
                "OMC V-band light-curve points of sources with an optical "
                "counterpart, one per science window with the source in the OMC field "
                "of view.",
                13,
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
        "added": [
            (
                "TAP_SCHEMA",
                "TAP_SCHEMA.columns",
                "table",
                None,
                "Columns of the published tables.",
                35,
            ),
            (
                "TAP_SCHEMA",
                "TAP_SCHEMA.key_columns",
                "table",
                None,
                "Columns of the foreign keys.",
                37,
            ),
            (
                "TAP_SCHEMA",
                "TAP_SCHEMA.keys",
                "table",
                None,
                "Foreign keys between published tables.",
                36,
            ),
            (
                "TAP_SCHEMA",
                "TAP_SCHEMA.schemas",
                "table",
                None,
                "Schemas published by this service.",
                33,
            ),
            (
                "TAP_SCHEMA",
                "TAP_SCHEMA.tables",
                "table",
                None,
                "Tables published by this service.",
                34,
            ),
            (
                "ila",
                "ila.band",
                "view",
                None,
                "The ISLA default energy band of each instrument (one per instrument).",
                28,
            ),
            (
                "ila",
                "ila.cons_pub_obs",
                "view",
                None,
                "Public consolidated observations, with the columns ISLA clients query.",
                29,
            ),
            (
                "ila",
                "ila.epoch",
                "view",
                None,
                "Epochs (RRRR_OOOOOOOOOOO: revolution and observation) in which a "
                "source was in the field of view of an instrument, from products and "
                "from the observations' pointings.",
                31,
            ),
            (
                "ila",
                "ila.instrument",
                "view",
                None,
                "Instruments as ESA's ISLA names them, with their numeric identifiers.",
                27,
            ),
            (
                "ila",
                "ila.v_cat_source",
                "view",
                None,
                "The source catalogue as ISLA clients query it (name search and cone search).",
                30,
            ),
            (
                "isla",
                "isla.ic_files",
                "table",
                None,
                "Files of ISDC's instrument-characteristics tree (ic/) and its index "
                "(idx/ic/), with sizes and checksums.",
                10,
            ),
            (
                "isla",
                "isla.instruments",
                "table",
                None,
                "INTEGRAL instruments and detector layers in the archive.",
                11,
            ),
            (
                "isla",
                "isla.lightcurve_points",
                "table",
                None,
                "Light-curve points of ISGRI and JEM-X: one per source, science window "
                "and band, for every pointing with the source in the field of view.",
                12,
            ),
            (
                "isla",
                "isla.observations",
                "table",
                None,
                "Observations: sequences of science windows of one proposal and target.",
                13,
            ),
            (
                "isla",
                "isla.omc_points",
                "table",
                None,
                "OMC V-band light-curve points of sources with an optical counterpart, "
                "one per science window with the source in the OMC field of view.",
                14,
            ),
            (
                "isla",
                "isla.product_kinds",
                "table",
                None,
                "Kinds of science products published in ivoa.obscore, with their "
                "ObsCore classification. Products of other kinds (responses, previews) "
                "are reached through the DataLink document of their product.",
                15,
            ),
            (
                "isla",
                "isla.products",
                "table",
                None,
                "Science products held in the object store.",
                16,
            ),
            (
                "isla",
                "isla.publication_links",
                "table",
                None,
                "Which observations each paper of isla.publications used (from there: "
                "their science windows, sources and products).",
                17,
            ),
            (
                "isla",
                "isla.publications",
                "table",
                None,
                "Papers of the INTEGRAL literature survey that use INTEGRAL "
                "observations, delivered as bibcode-observation pairs "
                "(isla.publication_links).",
                18,
            ),
            (
                "isla",
                "isla.revolutions",
                "table",
                None,
                "INTEGRAL revolutions (orbits of about three days).",
                19,
            ),
            (
                "isla",
                "isla.science_windows",
                "table",
                None,
                "Science windows: the pointings and slews that make up all raw data.",
                20,
            ),
            (
                "isla",
                "isla.scw_files",
                "table",
                None,
                "Raw data files of each science window, with sizes and checksums.",
                21,
            ),
            (
                "isla",
                "isla.source_aliases",
                "table",
                None,
                "Alternative names of sources (used by the target resolver).",
                22,
            ),
            (
                "isla",
                "isla.source_fluxes",
                "table",
                None,
                "Fluxes of sources per instrument band, with provenance.",
                23,
            ),
            (
                "isla",
                "isla.sources",
                "table",
                None,
                "The archive's merged source list: every known INTEGRAL source.",
                24,
            ),
            (
                "isla",
                "isla.timeseries_files",
                "table",
                None,
                "Delivered SPI-ACS and IREM time-series files, one per dataset and revolution.",
                25,
            ),
            (
                "isla",
                "isla.timeseries_segments",
                "table",
                None,
                "Segments of the time-series serving copy (gap-free runs of samples "
                "with implicit time, with their multi-resolution pyramid) in the object "
                "store.",
                26,
            ),
            (
                "ivoa",
                "ivoa.obscore",
                "view",
                "ivo://ivoa.net/std/ObsCore#table-1.1",
                "ObsCore 1.1: one row per INTEGRAL pointing science window (raw data, "
                "IBIS/ISGRI field of view) and one per science product (light curves, "
                "spectra, mosaics).",
                32,
            ),
        ],
    },
    "columns": {
        "removed": [
            (
                "isla.source_aliases",
                "alias",
                "unicodeChar",
                "*",
                None,
                None,
                None,
                None,
                "meta.id",
                "Alternative name.",
                0,
                1,
                0,
                1,
            )
        ],
        "added": [
            (
                "isla.source_aliases",
                "alias",
                "unicodeChar",
                "*",
                None,
                None,
                None,
                None,
                "meta.id",
                "Alternative name.",
                1,
                1,
                0,
                1,
            )
        ],
    },
}


def _apply(removed: str, added: str) -> None:
    apply_changes(op.get_bind(), TAP_SCHEMA_CHANGES, removed, added)


def upgrade() -> None:
    """Write the rows as the metadata of this revision gives them."""
    _apply("removed", "added")


def downgrade() -> None:
    """Back to the rows the revisions before this one wrote."""
    _apply("added", "removed")
