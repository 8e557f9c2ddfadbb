"""The big catalogue published slim: no JSON in ``SELECT *``, ASCII text as VOTable char.

Revision ID: 0043
Revises: 0042
Create Date: 2026-12-04

A bulk read of ``isla.catalogue_entries`` spent most of its time on two columns: the delivered
values as JSON (more than half of the bytes, and their conversion to text in the database) and
the free-text ``entry_name`` and ``source_class``, typed ``text`` and therefore sent as UTF-16
``unicodeChar``, which the database cannot encode (Python did, one value at a time). Now:

- ``entry_name`` and ``source_class`` are ``varchar`` (binary-compatible with ``text``: no
  rewrite) and checked to be ASCII, so that they are published as VOTable ``char``: VOTable
  1.3/1.4 define ``char`` as ASCII in the binary serialisations, and astropy (pyvo) decodes it
  so; the ingestion refuses other characters in these two columns with the rows that hold them;
- the JSON stays in the table, where every loader writes it, but is published apart, as the
  view ``isla.catalogue_entry_values`` (``entry_id``, ``catalogue_id``, ``values``);
  ``isla.catalogue_entries`` in TAP is read through the view ``isla_pub.catalogue_entries``
  of its published columns (the translator swaps the name: ``shared.vo.tap_schema.
  PUBLISHED_RELATIONS``), so ``SELECT *`` returns what TAP_SCHEMA lists.

The trigger that keeps ``pos`` equal to the point of ``ra``/``dec`` (0012) now fires only when
the writer's ``pos`` differs from it: the catalogue ingestion writes the right one, and the
trigger's per-row call was a quarter of a million-row load.

TAP_SCHEMA: ``isla.catalogue_entries`` loses ``values``; ``entry_name`` and ``source_class``
become ``char``; ``isla.catalogue_entry_values`` is new (and the tables after it in the order
move up by one).
"""

from collections.abc import Sequence
from typing import Any

from alembic import op

from shared.db.tap_schema_rows import apply_changes

revision: str = "0043"
down_revision: str | None = "0042"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

READER = "isla_reader"
PUBLISHED_COLUMNS = (
    "entry_id, catalogue_id, entry_name, source_id, ra, dec, pos, pos_err, source_class, version"
)

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
                "isla.catalogues",
                "table",
                None,
                "Source catalogues and their versions, with provenance.",
                2,
            ),
            (
                "isla",
                "isla.contributed_collections",
                "table",
                None,
                "Published versions of contributed collections: community products "
                "that are not ISLA pipeline output (pulsar timing, burst catalogues, "
                "line maps, polarisation), with their documentation and the software "
                "that made them.",
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
                "isla.dois",
                "table",
                None,
                "DOIs of the archive's collections (raw data per instrument, product "
                "types, catalogues), revolution bundles and products, with their "
                "DataCite resource type.",
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
                "Time-resolved spectral fits of gamma-ray bursts seen by SPI (the SPI "
                "GRB catalogue, Biltzinger et al. 2023, A&A 675, A175): per burst, "
                "time bin and model (empirical: Band function, cutoff power law; "
                "physical: synchrotron), the peak energy and photon indices.",
                7,
            ),
            (
                "isla",
                "isla.grbs",
                "table",
                None,
                "Gamma-ray bursts: the IBAS catalogue (INTEGRAL Burst Alert System "
                "triggers and localisations) with trigger time, position, error "
                "radius, peak flux, fluence, T90, significance and alert type; one "
                "row per burst of the current catalogue versions.",
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
                "counterpart, one per science window with the source in the OMC field "
                "of view.",
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
                "Which observations each paper of isla.publications used (from there: "
                "their science windows, sources and products).",
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
                "ObsCore 1.1: one row per INTEGRAL pointing science window (raw data, "
                "IBIS/ISGRI field of view) and one per science product (light curves, "
                "spectra, mosaics).",
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
                "isla.catalogue_entry_values",
                "view",
                None,
                "The delivered values of each catalogue entry that have no column of "
                "their own in isla.catalogue_entries (fluxes, flags, identifiers), as "
                "JSON; join on entry_id.",
                2,
            ),
            (
                "isla",
                "isla.catalogues",
                "table",
                None,
                "Source catalogues and their versions, with provenance.",
                3,
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
                4,
            ),
            (
                "isla",
                "isla.contributed_files",
                "table",
                None,
                "Files of the published contributed collections: products, "
                "documentation and software archives, with sizes and checksums.",
                5,
            ),
            (
                "isla",
                "isla.dois",
                "table",
                None,
                "DOIs of the archive's collections (raw data per instrument, product "
                "types, catalogues), revolution bundles and products, with their "
                "DataCite resource type.",
                6,
            ),
            (
                "isla",
                "isla.energy_bands",
                "table",
                None,
                "Energy bands of products and catalogue fluxes, per instrument.",
                7,
            ),
            (
                "isla",
                "isla.grb_spectral_fits",
                "table",
                None,
                "Time-resolved spectral fits of gamma-ray bursts seen by SPI (the SPI "
                "GRB catalogue, Biltzinger et al. 2023, A&A 675, A175): per burst, time "
                "bin and model (empirical: Band function, cutoff power law; physical: "
                "synchrotron), the peak energy and photon indices.",
                8,
            ),
            (
                "isla",
                "isla.grbs",
                "table",
                None,
                "Gamma-ray bursts: the IBAS catalogue (INTEGRAL Burst Alert System "
                "triggers and localisations) with trigger time, position, error radius, "
                "peak flux, fluence, T90, significance and alert type; one row per "
                "burst of the current catalogue versions.",
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
                "with implicit time, with their multi-resolution pyramid) in the object "
                "store.",
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
        "removed": [
            (
                "isla.catalogue_entries",
                '"values"',
                "char",
                "*",
                None,
                None,
                None,
                None,
                "meta.note",
                "Remaining columns of the delivered row (fluxes, flags), as JSON.",
                0,
                0,
                0,
                9,
            ),
            (
                "isla.catalogue_entries",
                "entry_name",
                "unicodeChar",
                "*",
                None,
                None,
                None,
                None,
                "meta.id;src",
                "Entry key as given in the catalogue: the source name, or the team's "
                "identifier for catalogue kinds keyed by identifier.",
                0,
                1,
                0,
                2,
            ),
            (
                "isla.catalogue_entries",
                "source_class",
                "unicodeChar",
                "*",
                None,
                None,
                None,
                None,
                "src.class",
                "Source class as given.",
                0,
                0,
                0,
                8,
            ),
            (
                "isla.catalogue_entries",
                "version",
                "char",
                "*",
                None,
                None,
                None,
                None,
                "meta.version",
                "Version of the entry's catalogue (earlier versions stay queryable).",
                0,
                1,
                0,
                10,
            ),
        ],
        "added": [
            (
                "isla.catalogue_entries",
                "entry_name",
                "char",
                "*",
                None,
                None,
                None,
                None,
                "meta.id;src",
                "Entry key as given in the catalogue: the source name, or the team's "
                "identifier for catalogue kinds keyed by identifier.",
                0,
                1,
                0,
                2,
            ),
            (
                "isla.catalogue_entries",
                "source_class",
                "char",
                "*",
                None,
                None,
                None,
                None,
                "src.class",
                "Source class as given.",
                0,
                0,
                0,
                8,
            ),
            (
                "isla.catalogue_entries",
                "version",
                "char",
                "*",
                None,
                None,
                None,
                None,
                "meta.version",
                "Version of the entry's catalogue (earlier versions stay queryable).",
                0,
                1,
                0,
                9,
            ),
            (
                "isla.catalogue_entry_values",
                '"values"',
                "char",
                "*",
                None,
                None,
                None,
                None,
                "meta.note",
                "Remaining columns of the delivered row (fluxes, flags), as JSON.",
                0,
                1,
                0,
                2,
            ),
            (
                "isla.catalogue_entry_values",
                "catalogue_id",
                "int",
                None,
                None,
                None,
                None,
                None,
                "meta.id",
                "Catalogue version of the entry.",
                0,
                1,
                0,
                1,
            ),
            (
                "isla.catalogue_entry_values",
                "entry_id",
                "long",
                None,
                None,
                None,
                None,
                None,
                "meta.id",
                "Entry identifier (isla.catalogue_entries.entry_id).",
                0,
                0,
                0,
                0,
            ),
        ],
    },
}


def upgrade() -> None:
    """ASCII text as varchar, the slim view for TAP, the values view, the TAP_SCHEMA rows."""
    op.execute(
        "ALTER TABLE isla.catalogue_entries ALTER COLUMN entry_name TYPE varchar, "
        "ALTER COLUMN source_class TYPE varchar"
    )
    op.execute(
        "ALTER TABLE isla.catalogue_entries ADD CONSTRAINT ck_catalogue_entries_name_ascii "
        "CHECK (octet_length(entry_name) = char_length(entry_name)), "
        "ADD CONSTRAINT ck_catalogue_entries_class_ascii "
        "CHECK (octet_length(source_class) = char_length(source_class))"
    )
    # Bulk loads give the right pos themselves: the trigger function (plpgsql, a call per
    # row, a quarter of a million-row insert) then only runs for writers that do not.
    op.execute("DROP TRIGGER catalogue_entries_pos_from_radec ON isla.catalogue_entries")
    op.execute(
        "CREATE TRIGGER catalogue_entries_pos_from_radec BEFORE INSERT OR UPDATE OF ra, dec, pos "
        "ON isla.catalogue_entries FOR EACH ROW "
        "WHEN (NEW.pos IS DISTINCT FROM spoint(radians(NEW.ra), radians(NEW.dec))) "
        "EXECUTE FUNCTION isla.pos_from_radec()"
    )
    op.execute("CREATE SCHEMA IF NOT EXISTS isla_pub")
    op.execute(
        "COMMENT ON SCHEMA isla_pub IS 'Views of published tables that hold more columns "
        "than they publish; TAP queries read these (not published under this name).'"
    )
    op.execute(
        f"CREATE VIEW isla_pub.catalogue_entries AS SELECT {PUBLISHED_COLUMNS} "  # noqa: S608 - fixed names
        "FROM isla.catalogue_entries"
    )
    op.execute(
        "CREATE VIEW isla.catalogue_entry_values AS "
        "SELECT entry_id, catalogue_id, values FROM isla.catalogue_entries"
    )
    op.execute(f"GRANT USAGE ON SCHEMA isla_pub TO {READER}")
    op.execute(f"GRANT SELECT ON isla_pub.catalogue_entries TO {READER}")
    op.execute(f"GRANT SELECT ON isla.catalogue_entry_values TO {READER}")
    apply_changes(op.get_bind(), TAP_SCHEMA_CHANGES, "removed", "added")


def downgrade() -> None:
    """Back to text columns and the JSON in the published table."""
    apply_changes(op.get_bind(), TAP_SCHEMA_CHANGES, "added", "removed")
    op.execute("DROP VIEW isla.catalogue_entry_values")
    op.execute("DROP VIEW isla_pub.catalogue_entries")
    op.execute("DROP SCHEMA isla_pub")
    op.execute("DROP TRIGGER catalogue_entries_pos_from_radec ON isla.catalogue_entries")
    op.execute(
        "CREATE TRIGGER catalogue_entries_pos_from_radec BEFORE INSERT OR UPDATE OF ra, dec, pos "
        "ON isla.catalogue_entries FOR EACH ROW EXECUTE FUNCTION isla.pos_from_radec()"
    )
    op.execute(
        "ALTER TABLE isla.catalogue_entries DROP CONSTRAINT ck_catalogue_entries_name_ascii, "
        "DROP CONSTRAINT ck_catalogue_entries_class_ascii"
    )
    op.execute(
        "ALTER TABLE isla.catalogue_entries ALTER COLUMN entry_name TYPE text, "
        "ALTER COLUMN source_class TYPE text"
    )
