"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import shared.db.pgsphere

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Reference data written with the schema, because every deployment needs the same instruments
# and bands (they are INTEGRAL facts, not demo data). Energies in keV, fields of view in degrees.
INSTRUMENTS: list[dict[str, object]] = [
    {
        "name": "ISGRI",
        "telescope": "IBIS",
        "e_min": 15.0,
        "e_max": 1000.0,
        "fov_deg": 29.0,
        "description": "IBIS low-energy CdTe detector layer (hard X-ray imaging).",
    },
    {
        "name": "PICsIT",
        "telescope": "IBIS",
        "e_min": 175.0,
        "e_max": 10000.0,
        "fov_deg": 29.0,
        "description": "IBIS high-energy CsI detector layer (soft gamma-ray imaging).",
    },
    {
        "name": "JEM-X",
        "telescope": "JEM-X",
        "e_min": 3.0,
        "e_max": 35.0,
        "fov_deg": 13.2,
        "description": "JEM-X1 and JEM-X2 combined, as used for ISLA products.",
    },
    {
        "name": "JEM-X1",
        "telescope": "JEM-X",
        "e_min": 3.0,
        "e_max": 35.0,
        "fov_deg": 13.2,
        "description": "Joint European X-ray Monitor, unit 1 (X-ray imaging).",
    },
    {
        "name": "JEM-X2",
        "telescope": "JEM-X",
        "e_min": 3.0,
        "e_max": 35.0,
        "fov_deg": 13.2,
        "description": "Joint European X-ray Monitor, unit 2 (X-ray imaging).",
    },
    {
        "name": "SPI",
        "telescope": "SPI",
        "e_min": 20.0,
        "e_max": 8000.0,
        "fov_deg": 16.0,
        "description": "Spectrometer on INTEGRAL: germanium detectors (gamma-ray spectroscopy).",
    },
    {
        "name": "OMC",
        "telescope": "OMC",
        "e_min": None,
        "e_max": None,
        "fov_deg": 5.0,
        "description": "Optical Monitoring Camera (Johnson V band).",
    },
    {
        "name": "IREM",
        "telescope": "IREM",
        "e_min": None,
        "e_max": None,
        "fov_deg": None,
        "description": "INTEGRAL Radiation Environment Monitor (particle counts).",
    },
    {
        "name": "SPI-ACS",
        "telescope": "SPI",
        "e_min": 75.0,
        "e_max": 100000.0,
        "fov_deg": None,
        "description": "SPI anti-coincidence shield: all-sky gamma-ray rates at 50 ms.",
    },
]

BANDS: list[dict[str, object]] = [
    {"instrument": "ISGRI", "name": "28_40", "e_min": 28.0, "e_max": 40.0, "isla_default": True},
    {"instrument": "ISGRI", "name": "20_35", "e_min": 20.0, "e_max": 35.0, "isla_default": False},
    {"instrument": "ISGRI", "name": "35_60", "e_min": 35.0, "e_max": 60.0, "isla_default": False},
    {"instrument": "ISGRI", "name": "60_200", "e_min": 60.0, "e_max": 200.0, "isla_default": False},
    {"instrument": "JEM-X", "name": "3_20", "e_min": 3.0, "e_max": 20.0, "isla_default": True},
    {"instrument": "JEM-X", "name": "3_10", "e_min": 3.0, "e_max": 10.0, "isla_default": False},
    {"instrument": "JEM-X", "name": "10_20", "e_min": 10.0, "e_max": 20.0, "isla_default": False},
    {
        "instrument": "PICsIT",
        "name": "252_336",
        "e_min": 252.0,
        "e_max": 336.0,
        "isla_default": True,
    },
    {"instrument": "SPI", "name": "20_40", "e_min": 20.0, "e_max": 40.0, "isla_default": True},
    {"instrument": "SPI", "name": "40_100", "e_min": 40.0, "e_max": 100.0, "isla_default": False},
    {
        "instrument": "SPI-ACS",
        "name": "75_100000",
        "e_min": 75.0,
        "e_max": 100000.0,
        "isla_default": True,
    },
]


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "catalogues",
        sa.Column(
            "catalogue_id",
            sa.Integer(),
            autoincrement=True,
            nullable=False,
            comment="Catalogue version identifier.",
        ),
        sa.Column(
            "name",
            sa.Text(),
            nullable=False,
            comment="Catalogue name (e.g. INTEGRAL Reference Catalogue).",
        ),
        sa.Column("version", sa.String(length=32), nullable=False, comment="Catalogue version."),
        sa.Column("team", sa.Text(), nullable=False, comment="Team that delivered the catalogue."),
        sa.Column(
            "kind",
            sa.String(length=32),
            nullable=False,
            comment="Catalogue interface kind (reference, ibis, jemx, omc, ...).",
        ),
        sa.Column("reference", sa.Text(), nullable=True, comment="Bibliographic reference."),
        sa.Column("description", sa.Text(), nullable=True, comment="What the catalogue contains."),
        sa.Column(
            "is_current",
            sa.Boolean(),
            nullable=False,
            comment="True for the version currently merged into the source list.",
        ),
        sa.Column("n_rows", sa.Integer(), nullable=False, comment="Number of entries."),
        sa.Column(
            "loaded_at",
            sa.DateTime(),
            server_default=sa.text("timezone('UTC', now())"),
            nullable=False,
            comment="When this version was loaded (UTC).",
        ),
        sa.PrimaryKeyConstraint("catalogue_id", name=op.f("pk_catalogues")),
        sa.UniqueConstraint("name", "version", name=op.f("uq_catalogues_name_version")),
        schema="isla",
        comment="Source catalogues and their versions, with provenance.",
    )
    op.create_table(
        "instruments",
        sa.Column(
            "name",
            sa.String(length=16),
            nullable=False,
            comment="Short instrument name (ISGRI, PICsIT, JEM-X1, ...).",
        ),
        sa.Column(
            "telescope",
            sa.String(length=16),
            nullable=False,
            comment="Telescope or package the instrument belongs to (IBIS, JEM-X, SPI, ...).",
        ),
        sa.Column(
            "description", sa.Text(), nullable=False, comment="What the instrument measures."
        ),
        sa.Column(
            "e_min",
            sa.Double(),
            nullable=True,
            comment="Lower end of the instrument's energy range.",
        ),
        sa.Column(
            "e_max",
            sa.Double(),
            nullable=True,
            comment="Upper end of the instrument's energy range.",
        ),
        sa.Column(
            "fov_deg",
            sa.Double(),
            nullable=True,
            comment="Full width of the (partially coded) field of view.",
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_instruments")),
        schema="isla",
        comment="INTEGRAL instruments and detector layers in the archive.",
    )
    op.create_table(
        "observations",
        sa.Column(
            "obsid",
            sa.String(length=11),
            nullable=False,
            comment="Observation identifier (11 digits).",
        ),
        sa.Column(
            "proposal_id", sa.String(length=16), nullable=False, comment="Proposal identifier."
        ),
        sa.Column(
            "pi_name", sa.Text(), nullable=True, comment="Principal investigator of the proposal."
        ),
        sa.Column(
            "target_name",
            sa.Text(),
            nullable=False,
            comment="Target of the observation as proposed.",
        ),
        sa.Column(
            "start_time", sa.DateTime(), nullable=False, comment="Start of the observation (UTC)."
        ),
        sa.Column(
            "end_time", sa.DateTime(), nullable=False, comment="End of the observation (UTC)."
        ),
        sa.Column(
            "rev_start",
            sa.Integer(),
            nullable=False,
            comment="First revolution of the observation.",
        ),
        sa.Column(
            "rev_end", sa.Integer(), nullable=False, comment="Last revolution of the observation."
        ),
        sa.Column(
            "ra", sa.Double(), nullable=False, comment="Right ascension of the target (ICRS)."
        ),
        sa.Column("dec", sa.Double(), nullable=False, comment="Declination of the target (ICRS)."),
        sa.Column(
            "pos",
            shared.db.pgsphere.SPoint(),
            nullable=False,
            comment="Target position (pgSphere spoint).",
        ),
        sa.Column(
            "pattern",
            sa.String(length=16),
            nullable=False,
            comment="Dither pattern: staring, hex (7 points) or 5x5 (25 points).",
        ),
        sa.Column(
            "exposure",
            sa.Double(),
            nullable=False,
            comment="Total pointing time of the observation.",
        ),
        sa.CheckConstraint("obsid ~ '^[0-9]{11}$'", name=op.f("ck_observations_obsid_form")),
        sa.CheckConstraint("rev_start <= rev_end", name=op.f("ck_observations_rev_span")),
        sa.PrimaryKeyConstraint("obsid", name=op.f("pk_observations")),
        schema="isla",
        comment="Observations: sequences of science windows of one proposal and target.",
    )
    op.create_index(
        "ix_observations_pos",
        "observations",
        ["pos"],
        unique=False,
        schema="isla",
        postgresql_using="gist",
    )
    op.create_index(
        "ix_observations_start_time", "observations", ["start_time"], unique=False, schema="isla"
    )
    op.create_table(
        "revolutions",
        sa.Column(
            "revolution",
            sa.Integer(),
            autoincrement=False,
            nullable=False,
            comment="Revolution number.",
        ),
        sa.Column(
            "start_time", sa.DateTime(), nullable=False, comment="Start of the revolution (UTC)."
        ),
        sa.Column(
            "end_time", sa.DateTime(), nullable=False, comment="End of the revolution (UTC)."
        ),
        sa.Column(
            "start_ijd",
            sa.Double(),
            nullable=False,
            comment="Start of the revolution as INTEGRAL Julian Date (TT).",
        ),
        sa.Column(
            "end_ijd",
            sa.Double(),
            nullable=False,
            comment="End of the revolution as INTEGRAL Julian Date (TT).",
        ),
        sa.CheckConstraint("start_time < end_time", name=op.f("ck_revolutions_ordered")),
        sa.PrimaryKeyConstraint("revolution", name=op.f("pk_revolutions")),
        schema="isla",
        comment="INTEGRAL revolutions (orbits of about three days).",
    )
    op.create_table(
        "aux_files",
        sa.Column(
            "revolution", sa.Integer(), nullable=False, comment="Revolution the file belongs to."
        ),
        sa.Column("name", sa.Text(), nullable=False, comment="File name."),
        sa.Column(
            "object_key",
            sa.Text(),
            nullable=False,
            comment="Key of the file in the raw-data bucket.",
        ),
        sa.Column("size", sa.BigInteger(), nullable=False, comment="File size."),
        sa.Column(
            "sha256", sa.String(length=64), nullable=False, comment="SHA-256 checksum of the file."
        ),
        sa.ForeignKeyConstraint(
            ["revolution"],
            ["isla.revolutions.revolution"],
            name=op.f("fk_aux_files_revolution_revolutions"),
        ),
        sa.PrimaryKeyConstraint("revolution", "name", name=op.f("pk_aux_files")),
        schema="isla",
        comment="Auxiliary per-revolution files (orbit, attitude).",
    )
    op.create_table(
        "catalogue_entries",
        sa.Column(
            "entry_id",
            sa.BigInteger(),
            autoincrement=True,
            nullable=False,
            comment="Entry identifier.",
        ),
        sa.Column(
            "catalogue_id", sa.Integer(), nullable=False, comment="Catalogue version of the entry."
        ),
        sa.Column(
            "entry_name",
            sa.Text(),
            nullable=False,
            comment="Source name as given in the catalogue.",
        ),
        sa.Column(
            "source_id",
            sa.String(length=16),
            nullable=True,
            comment="Archive source identifier the entry was merged into.",
        ),
        sa.Column("ra", sa.Double(), nullable=False, comment="Right ascension (ICRS)."),
        sa.Column("dec", sa.Double(), nullable=False, comment="Declination (ICRS)."),
        sa.Column(
            "pos",
            shared.db.pgsphere.SPoint(),
            nullable=False,
            comment="Position (pgSphere spoint).",
        ),
        sa.Column(
            "pos_err", sa.Double(), nullable=True, comment="Position error radius (90% confidence)."
        ),
        sa.Column("source_class", sa.Text(), nullable=True, comment="Source class as given."),
        sa.Column(
            "values",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=False,
            comment="Remaining columns of the delivered row (fluxes, flags), as JSON.",
        ),
        sa.ForeignKeyConstraint(
            ["catalogue_id"],
            ["isla.catalogues.catalogue_id"],
            name=op.f("fk_catalogue_entries_catalogue_id_catalogues"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("entry_id", name=op.f("pk_catalogue_entries")),
        sa.UniqueConstraint(
            "catalogue_id", "entry_name", name=op.f("uq_catalogue_entries_catalogue_id_entry_name")
        ),
        schema="isla",
        comment="Entries of every catalogue version, as delivered by the teams.",
    )
    op.create_index(
        "ix_catalogue_entries_pos",
        "catalogue_entries",
        ["pos"],
        unique=False,
        schema="isla",
        postgresql_using="gist",
    )
    op.create_table(
        "energy_bands",
        sa.Column(
            "band_id",
            sa.SmallInteger(),
            autoincrement=True,
            nullable=False,
            comment="Band identifier.",
        ),
        sa.Column(
            "instrument",
            sa.String(length=16),
            nullable=False,
            comment="Instrument the band belongs to.",
        ),
        sa.Column(
            "name",
            sa.String(length=16),
            nullable=False,
            comment="Band name as used in ISLA requests (e.g. 28_40).",
        ),
        sa.Column("e_min", sa.Double(), nullable=False, comment="Lower band edge."),
        sa.Column("e_max", sa.Double(), nullable=False, comment="Upper band edge."),
        sa.Column(
            "isla_default",
            sa.Boolean(),
            nullable=False,
            comment="True for the band ISLA uses by default for this instrument.",
        ),
        sa.CheckConstraint("e_min < e_max", name=op.f("ck_energy_bands_increasing")),
        sa.ForeignKeyConstraint(
            ["instrument"],
            ["isla.instruments.name"],
            name=op.f("fk_energy_bands_instrument_instruments"),
        ),
        sa.PrimaryKeyConstraint("band_id", name=op.f("pk_energy_bands")),
        sa.UniqueConstraint("instrument", "name", name=op.f("uq_energy_bands_instrument_name")),
        schema="isla",
        comment="Energy bands of products and catalogue fluxes, per instrument.",
    )
    op.create_table(
        "science_windows",
        sa.Column(
            "scw_id",
            sa.String(length=12),
            nullable=False,
            comment="Science window identifier RRRRPPPPSSSF.",
        ),
        sa.Column(
            "version",
            sa.String(length=3),
            nullable=False,
            comment="Science window version (e.g. 001).",
        ),
        sa.Column(
            "revolution", sa.Integer(), nullable=False, comment="Revolution of the science window."
        ),
        sa.Column(
            "obsid",
            sa.String(length=11),
            nullable=True,
            comment="Observation the science window belongs to.",
        ),
        sa.Column("scw_type", sa.String(length=8), nullable=False, comment="pointing or slew."),
        sa.Column(
            "start_time",
            sa.DateTime(),
            nullable=False,
            comment="Start of the science window (UTC).",
        ),
        sa.Column(
            "end_time", sa.DateTime(), nullable=False, comment="End of the science window (UTC)."
        ),
        sa.Column(
            "start_ijd", sa.Double(), nullable=False, comment="Start as INTEGRAL Julian Date (TT)."
        ),
        sa.Column(
            "end_ijd", sa.Double(), nullable=False, comment="End as INTEGRAL Julian Date (TT)."
        ),
        sa.Column(
            "ra",
            sa.Double(),
            nullable=False,
            comment="Right ascension of the pointing (X) axis (ICRS).",
        ),
        sa.Column(
            "dec",
            sa.Double(),
            nullable=False,
            comment="Declination of the pointing (X) axis (ICRS).",
        ),
        sa.Column(
            "pos",
            shared.db.pgsphere.SPoint(),
            nullable=False,
            comment="Pointing axis (pgSphere spoint).",
        ),
        sa.Column(
            "posangle",
            sa.Double(),
            nullable=False,
            comment="Position angle of the spacecraft Z axis, east of north.",
        ),
        sa.Column(
            "fov_isgri",
            shared.db.pgsphere.SPoly(),
            nullable=True,
            comment="ISGRI partially coded field of view (29 x 29 deg) as a polygon.",
        ),
        sa.Column(
            "fov_jemx",
            shared.db.pgsphere.SPoly(),
            nullable=True,
            comment="JEM-X field of view (13.2 deg diameter) as a polygon.",
        ),
        sa.Column(
            "fov_spi",
            shared.db.pgsphere.SPoly(),
            nullable=True,
            comment="SPI fully coded field of view (16 deg hexagon) as a polygon.",
        ),
        sa.Column(
            "isgri_good_time",
            sa.Double(),
            nullable=True,
            comment="ISGRI good time (sum of good time intervals).",
        ),
        sa.Column(
            "isgri_exposure",
            sa.Double(),
            nullable=True,
            comment="ISGRI dead-time corrected exposure.",
        ),
        sa.Column("picsit_good_time", sa.Double(), nullable=True, comment="PICsIT good time."),
        sa.Column("picsit_exposure", sa.Double(), nullable=True, comment="PICsIT exposure."),
        sa.Column("jemx1_good_time", sa.Double(), nullable=True, comment="JEM-X1 good time."),
        sa.Column("jemx1_exposure", sa.Double(), nullable=True, comment="JEM-X1 exposure."),
        sa.Column("jemx2_good_time", sa.Double(), nullable=True, comment="JEM-X2 good time."),
        sa.Column("jemx2_exposure", sa.Double(), nullable=True, comment="JEM-X2 exposure."),
        sa.Column("spi_good_time", sa.Double(), nullable=True, comment="SPI good time."),
        sa.Column("spi_exposure", sa.Double(), nullable=True, comment="SPI exposure."),
        sa.Column("omc_good_time", sa.Double(), nullable=True, comment="OMC good time."),
        sa.Column("omc_exposure", sa.Double(), nullable=True, comment="OMC exposure."),
        sa.Column(
            "raw_files",
            sa.Integer(),
            nullable=False,
            comment="Number of raw data files of the science window.",
        ),
        sa.Column(
            "raw_size", sa.BigInteger(), nullable=False, comment="Total size of the raw data files."
        ),
        sa.CheckConstraint("scw_id ~ '^[0-9]{12}$'", name=op.f("ck_science_windows_scw_id_form")),
        sa.CheckConstraint(
            "scw_type in ('pointing', 'slew')", name=op.f("ck_science_windows_scw_type")
        ),
        sa.CheckConstraint("version ~ '^[0-9]{3}$'", name=op.f("ck_science_windows_version_form")),
        sa.CheckConstraint("start_time < end_time", name=op.f("ck_science_windows_ordered")),
        sa.ForeignKeyConstraint(
            ["obsid"],
            ["isla.observations.obsid"],
            name=op.f("fk_science_windows_obsid_observations"),
        ),
        sa.ForeignKeyConstraint(
            ["revolution"],
            ["isla.revolutions.revolution"],
            name=op.f("fk_science_windows_revolution_revolutions"),
        ),
        sa.PrimaryKeyConstraint("scw_id", "version", name=op.f("pk_science_windows")),
        schema="isla",
        comment="Science windows: the pointings and slews that make up all raw data.",
    )
    op.create_index(
        "ix_science_windows_fov_isgri",
        "science_windows",
        ["fov_isgri"],
        unique=False,
        schema="isla",
        postgresql_using="gist",
    )
    op.create_index(
        "ix_science_windows_obsid", "science_windows", ["obsid"], unique=False, schema="isla"
    )
    op.create_index(
        "ix_science_windows_pos",
        "science_windows",
        ["pos"],
        unique=False,
        schema="isla",
        postgresql_using="gist",
    )
    op.create_index(
        "ix_science_windows_revolution",
        "science_windows",
        ["revolution"],
        unique=False,
        schema="isla",
    )
    op.create_index(
        "ix_science_windows_start_ijd",
        "science_windows",
        ["start_ijd"],
        unique=False,
        schema="isla",
    )
    op.create_table(
        "sources",
        sa.Column(
            "source_id",
            sa.String(length=16),
            nullable=False,
            comment="ISLA source identifier JHHMMSS.s+DDMMSS.",
        ),
        sa.Column("name", sa.Text(), nullable=False, comment="Preferred source name."),
        sa.Column("ra", sa.Double(), nullable=False, comment="Right ascension (ICRS)."),
        sa.Column("dec", sa.Double(), nullable=False, comment="Declination (ICRS)."),
        sa.Column(
            "pos",
            shared.db.pgsphere.SPoint(),
            nullable=False,
            comment="Position (pgSphere spoint).",
        ),
        sa.Column(
            "pos_err", sa.Double(), nullable=True, comment="Position error radius (90% confidence)."
        ),
        sa.Column(
            "source_class",
            sa.Text(),
            nullable=False,
            comment="Source class (e.g. LMXB, HMXB, AGN); 'unclassified' when unknown.",
        ),
        sa.Column("det_isgri", sa.Boolean(), nullable=False, comment="Detected by ISGRI."),
        sa.Column("det_picsit", sa.Boolean(), nullable=False, comment="Detected by PICsIT."),
        sa.Column("det_jemx", sa.Boolean(), nullable=False, comment="Detected by JEM-X."),
        sa.Column("det_spi", sa.Boolean(), nullable=False, comment="Detected by SPI."),
        sa.Column("det_omc", sa.Boolean(), nullable=False, comment="Detected by OMC."),
        sa.Column(
            "catalogue_id",
            sa.Integer(),
            nullable=True,
            comment="Catalogue version the position and class come from.",
        ),
        sa.CheckConstraint(
            "source_id ~ '^J[0-9]{6}\\.[0-9][+-][0-9]{6}$'", name=op.f("ck_sources_source_id_form")
        ),
        sa.ForeignKeyConstraint(
            ["catalogue_id"],
            ["isla.catalogues.catalogue_id"],
            name=op.f("fk_sources_catalogue_id_catalogues"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("source_id", name=op.f("pk_sources")),
        schema="isla",
        comment="The archive's merged source list: every known INTEGRAL source.",
    )
    op.create_index("ix_sources_name", "sources", ["name"], unique=False, schema="isla")
    op.create_index(
        "ix_sources_pos", "sources", ["pos"], unique=False, schema="isla", postgresql_using="gist"
    )
    op.create_table(
        "products",
        sa.Column("product_id", sa.Text(), nullable=False, comment="Product identifier."),
        sa.Column(
            "kind",
            sa.String(length=32),
            nullable=False,
            comment="Product kind (light_curve, spectrum, arf, rmf, mosaic, image, ...).",
        ),
        sa.Column(
            "instrument", sa.String(length=16), nullable=False, comment="Instrument of the product."
        ),
        sa.Column(
            "band_id",
            sa.SmallInteger(),
            nullable=True,
            comment="Energy band of the product, if any.",
        ),
        sa.Column(
            "source_id",
            sa.String(length=16),
            nullable=True,
            comment="Source of the product, if any.",
        ),
        sa.Column(
            "epoch",
            sa.String(length=16),
            nullable=True,
            comment="ISLA epoch RRRR_OOOOOOOOOOO the product belongs to.",
        ),
        sa.Column("revolution", sa.Integer(), nullable=True, comment="Revolution of the product."),
        sa.Column(
            "obsid", sa.String(length=11), nullable=True, comment="Observation of the product."
        ),
        sa.Column("t_min", sa.Double(), nullable=True, comment="Start of the data (MJD, TT)."),
        sa.Column("t_max", sa.Double(), nullable=True, comment="End of the data (MJD, TT)."),
        sa.Column("bucket", sa.Text(), nullable=False, comment="Object-store bucket."),
        sa.Column("object_key", sa.Text(), nullable=False, comment="Object-store key."),
        sa.Column("file_name", sa.Text(), nullable=False, comment="File name offered on download."),
        sa.Column("size", sa.BigInteger(), nullable=False, comment="File size."),
        sa.Column("sha256", sa.String(length=64), nullable=False, comment="SHA-256 checksum."),
        sa.Column("content_type", sa.Text(), nullable=False, comment="MIME type."),
        sa.Column(
            "created_at",
            sa.DateTime(),
            server_default=sa.text("timezone('UTC', now())"),
            nullable=False,
            comment="When the product entered the archive (UTC).",
        ),
        sa.Column(
            "meta",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=False,
            comment="Further product metadata.",
        ),
        sa.ForeignKeyConstraint(
            ["band_id"],
            ["isla.energy_bands.band_id"],
            name=op.f("fk_products_band_id_energy_bands"),
        ),
        sa.ForeignKeyConstraint(
            ["instrument"],
            ["isla.instruments.name"],
            name=op.f("fk_products_instrument_instruments"),
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["isla.sources.source_id"],
            name=op.f("fk_products_source_id_sources"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("product_id", name=op.f("pk_products")),
        schema="isla",
        comment="Science products held in the object store.",
    )
    op.create_index("ix_products_epoch", "products", ["epoch"], unique=False, schema="isla")
    op.create_index("ix_products_kind", "products", ["kind"], unique=False, schema="isla")
    op.create_index("ix_products_source_id", "products", ["source_id"], unique=False, schema="isla")
    op.create_table(
        "scw_files",
        sa.Column(
            "scw_id", sa.String(length=12), nullable=False, comment="Science window identifier."
        ),
        sa.Column(
            "version", sa.String(length=3), nullable=False, comment="Science window version."
        ),
        sa.Column(
            "name",
            sa.Text(),
            nullable=False,
            comment="File name inside the science window folder (e.g. swg.fits).",
        ),
        sa.Column(
            "object_key",
            sa.Text(),
            nullable=False,
            comment="Key of the file in the raw-data bucket.",
        ),
        sa.Column("size", sa.BigInteger(), nullable=False, comment="File size."),
        sa.Column(
            "sha256", sa.String(length=64), nullable=False, comment="SHA-256 checksum of the file."
        ),
        sa.Column("content_type", sa.Text(), nullable=False, comment="MIME type of the file."),
        sa.CheckConstraint("size >= 0", name=op.f("ck_scw_files_size")),
        sa.ForeignKeyConstraint(
            ["scw_id", "version"],
            ["isla.science_windows.scw_id", "isla.science_windows.version"],
            name=op.f("fk_scw_files_scw_id_science_windows"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("scw_id", "version", "name", name=op.f("pk_scw_files")),
        schema="isla",
        comment="Raw data files of each science window, with sizes and checksums.",
    )
    op.create_table(
        "source_aliases",
        sa.Column("source_id", sa.String(length=16), nullable=False, comment="Source identifier."),
        sa.Column("alias", sa.Text(), nullable=False, comment="Alternative name."),
        sa.Column(
            "alias_norm",
            sa.Text(),
            nullable=False,
            comment="Name normalised for matching (lower case, no spaces, '_' or '-').",
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["isla.sources.source_id"],
            name=op.f("fk_source_aliases_source_id_sources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("source_id", "alias", name=op.f("pk_source_aliases")),
        schema="isla",
        comment="Alternative names of sources (used by the target resolver).",
    )
    op.create_index(
        "ix_source_aliases_norm", "source_aliases", ["alias_norm"], unique=False, schema="isla"
    )
    op.create_table(
        "source_fluxes",
        sa.Column("source_id", sa.String(length=16), nullable=False, comment="Source identifier."),
        sa.Column("band_id", sa.SmallInteger(), nullable=False, comment="Energy band of the flux."),
        sa.Column(
            "catalogue_id",
            sa.Integer(),
            nullable=False,
            comment="Catalogue version the value comes from.",
        ),
        sa.Column("flux", sa.Double(), nullable=True, comment="Flux in the band."),
        sa.Column("flux_err", sa.Double(), nullable=True, comment="1-sigma flux error."),
        sa.Column("detected", sa.Boolean(), nullable=False, comment="Detected in this band."),
        sa.ForeignKeyConstraint(
            ["band_id"],
            ["isla.energy_bands.band_id"],
            name=op.f("fk_source_fluxes_band_id_energy_bands"),
        ),
        sa.ForeignKeyConstraint(
            ["catalogue_id"],
            ["isla.catalogues.catalogue_id"],
            name=op.f("fk_source_fluxes_catalogue_id_catalogues"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["isla.sources.source_id"],
            name=op.f("fk_source_fluxes_source_id_sources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "source_id", "band_id", "catalogue_id", name=op.f("pk_source_fluxes")
        ),
        schema="isla",
        comment="Fluxes of sources per instrument band, with provenance.",
    )

    instruments = sa.table(
        "instruments",
        sa.column("name"),
        sa.column("telescope"),
        sa.column("description"),
        sa.column("e_min"),
        sa.column("e_max"),
        sa.column("fov_deg"),
        schema="isla",
    )
    op.bulk_insert(instruments, INSTRUMENTS)
    bands = sa.table(
        "energy_bands",
        sa.column("instrument"),
        sa.column("name"),
        sa.column("e_min"),
        sa.column("e_max"),
        sa.column("isla_default"),
        schema="isla",
    )
    op.bulk_insert(bands, BANDS)


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("source_fluxes", schema="isla")
    op.drop_index("ix_source_aliases_norm", table_name="source_aliases", schema="isla")
    op.drop_table("source_aliases", schema="isla")
    op.drop_table("scw_files", schema="isla")
    op.drop_index("ix_products_source_id", table_name="products", schema="isla")
    op.drop_index("ix_products_kind", table_name="products", schema="isla")
    op.drop_index("ix_products_epoch", table_name="products", schema="isla")
    op.drop_table("products", schema="isla")
    op.drop_index("ix_sources_pos", table_name="sources", schema="isla", postgresql_using="gist")
    op.drop_index("ix_sources_name", table_name="sources", schema="isla")
    op.drop_table("sources", schema="isla")
    op.drop_index("ix_science_windows_start_ijd", table_name="science_windows", schema="isla")
    op.drop_index("ix_science_windows_revolution", table_name="science_windows", schema="isla")
    op.drop_index(
        "ix_science_windows_pos",
        table_name="science_windows",
        schema="isla",
        postgresql_using="gist",
    )
    op.drop_index("ix_science_windows_obsid", table_name="science_windows", schema="isla")
    op.drop_index(
        "ix_science_windows_fov_isgri",
        table_name="science_windows",
        schema="isla",
        postgresql_using="gist",
    )
    op.drop_table("science_windows", schema="isla")
    op.drop_table("energy_bands", schema="isla")
    op.drop_index(
        "ix_catalogue_entries_pos",
        table_name="catalogue_entries",
        schema="isla",
        postgresql_using="gist",
    )
    op.drop_table("catalogue_entries", schema="isla")
    op.drop_table("aux_files", schema="isla")
    op.drop_table("revolutions", schema="isla")
    op.drop_index("ix_observations_start_time", table_name="observations", schema="isla")
    op.drop_index(
        "ix_observations_pos", table_name="observations", schema="isla", postgresql_using="gist"
    )
    op.drop_table("observations", schema="isla")
    op.drop_table("instruments", schema="isla")
    op.drop_table("catalogues", schema="isla")
