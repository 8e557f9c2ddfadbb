"""TAP_SCHEMA in one order again after the families added side by side.

Revision ID: 0040
Revises: 0035
Create Date: 2026-12-03

The revisions that added the gamma-ray bursts, contributed collections, maps, upper limits,
publications and DOIs, and the raw index of the mission's layout were written side by side,
each numbering the published tables (``table_index``) and describing the archive as it stood
without the others. This revision writes the rows as the metadata gives them once all are in:
frozen here as literal data, like every revision's.
"""

from collections.abc import Sequence
from typing import Any

from alembic import op

from shared.db.tap_schema_rows import apply_changes

revision: str = "0040"
down_revision: str | None = "0035"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TAP_SCHEMA_CHANGES: dict[str, dict[str, Any]] = {
    "tables": {
        "added": [
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
                "Epochs (RRRR_OOOOOOOOOOO: revolution and observation) in which a source "
                "was in the field of view of an instrument, from products and from the "
                "observations' pointings.",
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
                "isla.dois",
                "table",
                None,
                "DOIs of the archive's collections (raw data per instrument, product types, "
                "catalogues), revolution bundles and products, with their DataCite resource "
                "type.",
                5,
            ),
            (
                "isla",
                "isla.energy_bands",
                "table",
                None,
                "Energy bands of products and catalogue fluxes, per instrument.",
                6,
            ),
            (
                "isla",
                "isla.grb_spectral_fits",
                "table",
                None,
                "Time-resolved spectral fits of gamma-ray bursts seen by SPI (the SPI GRB "
                "catalogue, Biltzinger et al. 2023, A&A 675, A175): per burst, time bin and "
                "model (empirical: Band function, cutoff power law; physical: synchrotron), "
                "the peak energy and photon indices.",
                7,
            ),
            (
                "isla",
                "isla.grbs",
                "table",
                None,
                "Gamma-ray bursts: the IBAS catalogue (INTEGRAL Burst Alert System triggers "
                "and localisations) with trigger time, position, error radius, peak flux, "
                "fluence, T90, significance and alert type; one row per burst of the "
                "current catalogue versions.",
                8,
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
                "Light-curve points of ISGRI and JEM-X: one per source, science window and "
                "band, for every pointing with the source in the field of view.",
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
                "OMC V-band light-curve points of sources with an optical counterpart, one "
                "per science window with the source in the OMC field of view.",
                12,
            ),
            (
                "isla",
                "isla.product_kinds",
                "table",
                None,
                "Kinds of science products published in ivoa.obscore, with their ObsCore "
                "classification. Products of other kinds (responses, previews) are reached "
                "through the DataLink document of their product.",
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
                "Which observations each paper of isla.publications used (from there: their "
                "science windows, sources and products).",
                15,
            ),
            (
                "isla",
                "isla.publications",
                "table",
                None,
                "Papers of the INTEGRAL literature survey that use INTEGRAL observations, "
                "delivered as bibcode-observation pairs (isla.publication_links).",
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
                "Segments of the time-series serving copy (gap-free runs of samples with "
                "implicit time, with their multi-resolution pyramid) in the object store.",
                24,
            ),
            (
                "ivoa",
                "ivoa.obscore",
                "view",
                "ivo://ivoa.net/std/ObsCore#table-1.1",
                "ObsCore 1.1: one row per INTEGRAL pointing science window (raw data, "
                "IBIS/ISGRI field of view) and one per science product (light curves, "
                "spectra, mosaics).",
                30,
            ),
        ],
        "removed": [
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
                "Epochs (RRRR_OOOOOOOOOOO: revolution and observation) in which a source "
                "was in the field of view of an instrument, from products and from the "
                "observations' pointings.",
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
                "isla.dois",
                "table",
                None,
                "DOIs of the archive's collections (raw data per instrument, product "
                "types, catalogues), revolution bundles and products, with their DataCite "
                "resource type.",
                3,
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
                "isla.grb_spectral_fits",
                "table",
                None,
                "Time-resolved spectral fits of gamma-ray bursts seen by SPI (the SPI GRB "
                "catalogue, Biltzinger et al. 2023, A&A 675, A175): per burst, time bin "
                "and model (empirical: Band function, cutoff power law; physical: "
                "synchrotron), the peak energy and photon indices.",
                4,
            ),
            (
                "isla",
                "isla.grbs",
                "table",
                None,
                "Gamma-ray bursts: the IBAS catalogue (INTEGRAL Burst Alert System "
                "triggers and localisations) with trigger time, position, error radius, "
                "peak flux, fluence, T90, significance and alert type; one row per burst "
                "of the current catalogue versions.",
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
                "Kinds of science products published in ivoa.obscore, with their ObsCore "
                "classification. Products of other kinds (responses, previews) are "
                "reached through the DataLink document of their product.",
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
                "Papers of the INTEGRAL literature survey that use INTEGRAL observations, "
                "delivered as bibcode-observation pairs (isla.publication_links).",
                12,
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
                "Segments of the time-series serving copy (gap-free runs of samples with "
                "implicit time, with their multi-resolution pyramid) in the object store.",
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
    }
}


def _apply(removed: str, added: str) -> None:
    apply_changes(op.get_bind(), TAP_SCHEMA_CHANGES, removed, added)


def upgrade() -> None:
    """Write the rows as the metadata of this revision gives them."""
    _apply("removed", "added")


def downgrade() -> None:
    """Back to the rows the revisions before this one wrote."""
    _apply("added", "removed")
