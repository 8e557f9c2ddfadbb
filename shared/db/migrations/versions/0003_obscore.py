"""ObsCore 1.1: the ivoa.obscore view of science windows and products

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25

``ivoa.obscore`` is a view (nothing to keep in step): one row per pointing science window
(raw data, ``dataproduct_type`` 'event', the IBIS/ISGRI field of view ``fov_isgri`` as
``s_region``) and one per science product in ``isla.products`` (light curves, spectra,
mosaics). ``access_url`` is built at query time from the transaction-local setting
``isla.raw_url`` (``isla.products_url`` for products) that the TAP runner sets from the
service's settings; run outside the TAP service, the URLs are relative (``/raw/scw/...``).
The view text and the TAP_SCHEMA rows are frozen here as this revision wrote them, from the
constants and column metadata of :mod:`shared.vo.obscore` at the time.

Like everything outside the ``isla`` schema, this is kept in step by hand (env.py ignores it).
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

READER = "isla_reader"


# Every branch casts to the same types, so that TAP_SCHEMA (read from the catalog) shows the
# ObsCore types: identifiers varchar (VOTable char), counts bigint, quantities double.
OBSCORE_VIEW = """
CREATE VIEW ivoa.obscore AS
SELECT 'event'::varchar AS dataproduct_type,
       1 AS calib_level,
       'INTEGRAL/ISLA raw'::varchar AS obs_collection,
       w.scw_id::varchar AS obs_id,
       ('ivo://isla.integral/isla?scw/' || w.scw_id || '.' || w.version)::varchar
           AS obs_publisher_did,
       (coalesce(current_setting('isla.raw_url', true), '') || '/raw/scw/' || w.scw_id
           || '.tar')::varchar AS access_url,
       'application/x-tar'::varchar AS access_format,
       ceil(w.raw_size / 1024.0)::bigint AS access_estsize,
       o.target_name::varchar AS target_name,
       w.ra AS s_ra,
       w.dec AS s_dec,
       29.0::double precision AS s_fov,
       w.fov_isgri AS s_region,
       720.0::double precision AS s_resolution,
       NULL::bigint AS s_xel1,
       NULL::bigint AS s_xel2,
       w.start_ijd + 51544.0 AS t_min,
       w.end_ijd + 51544.0 AS t_max,
       w.isgri_exposure AS t_exptime,
       6.1e-05::double precision AS t_resolution,
       NULL::bigint AS t_xel,
       1.239841984e-12::double precision AS em_min,
       8.265613226666667e-11::double precision AS em_max,
       12.5::double precision AS em_res_power,
       NULL::bigint AS em_xel,
       'phot.count'::varchar AS o_ucd,
       NULL::varchar AS pol_states,
       NULL::bigint AS pol_xel,
       'INTEGRAL'::varchar AS facility_name,
       'IBIS/ISGRI'::varchar AS instrument_name
FROM isla.science_windows w
LEFT JOIN isla.observations o ON o.obsid = w.obsid
WHERE w.scw_type = 'pointing'
UNION ALL
SELECT (CASE p.kind WHEN 'long_timeseries' THEN 'timeseries' WHEN 'short_timeseries' THEN
    'timeseries' WHEN 'omc_lightcurve' THEN 'timeseries' WHEN 'spectrum' THEN 'spectrum' WHEN
    'mosaic' THEN 'image' WHEN 'omc_image' THEN 'image' WHEN 'allsky_map' THEN 'image'
    END)::varchar,
       CASE WHEN p.kind IN ('mosaic', 'image') THEN 3 ELSE 2 END,
       'INTEGRAL/ISLA products'::varchar,
       coalesce(p.epoch, p.product_id)::varchar,
       ('ivo://isla.integral/isla?product/' || p.product_id)::varchar,
       (coalesce(current_setting('isla.products_url', true), '') || '/products/'
           || p.product_id || '/file')::varchar,
       p.content_type::varchar,
       ceil(p.size / 1024.0)::bigint,
       s.name::varchar,
       s.ra,
       s.dec,
       NULL::double precision,
       NULL::spoly,
       NULL::double precision,
       NULL::bigint,
       NULL::bigint,
       p.t_min,
       p.t_max,
       NULL::double precision,
       NULL::double precision,
       NULL::bigint,
       1.239841984e-09 / b.e_max,
       1.239841984e-09 / b.e_min,
       NULL::double precision,
       NULL::bigint,
       'phot.count'::varchar,
       NULL::varchar,
       NULL::bigint,
       'INTEGRAL'::varchar,
       p.instrument::varchar
FROM isla.products p
LEFT JOIN isla.sources s ON s.source_id = p.source_id
LEFT JOIN isla.energy_bands b ON b.band_id = p.band_id
WHERE p.kind IN ('long_timeseries', 'short_timeseries', 'omc_lightcurve', 'spectrum', 'mosaic',
    'omc_image', 'allsky_map')
"""


# TAP_SCHEMA rows are frozen in the revisions that write them, as they wrote them: a migration
# keeps its meaning whatever today's metadata (shared.vo.tap_schema) says.
_TAP_SCHEMA_COLUMNS: dict[str, tuple[str, ...]] = {
    "schemas": ("schema_name", "utype", "description", "schema_index"),
    "tables": ("schema_name", "table_name", "table_type", "utype", "description", "table_index"),
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
    "keys": ("key_id", "from_table", "target_table", "utype", "description"),
    "key_columns": ("key_id", "from_column", "target_column"),
}
_TAP_SCHEMA_KEY: dict[str, tuple[str, ...]] = {
    "schemas": ("schema_name",),
    "tables": ("table_name",),
    "columns": ("table_name", "column_name"),
    "keys": ("key_id",),
    "key_columns": ("key_id", "from_column", "target_column"),
}
"""The columns that identify a row of each TAP_SCHEMA table (its primary key, if any)."""


def _change_tap_schema(
    rows: dict[str, list[tuple[Any, ...]]], gone: dict[str, list[tuple[Any, ...]]]
) -> None:
    """Delete the ``gone`` rows (given by key), then insert or update ``rows``."""
    conn = op.get_bind()
    for table in ("key_columns", "keys", "columns", "tables", "schemas"):
        where = " AND ".join(f"{n} = :k{i}" for i, n in enumerate(_TAP_SCHEMA_KEY[table]))
        for key in gone.get(table, ()):
            conn.execute(
                sa.text(f"DELETE FROM tap_schema.{table} WHERE {where}"),  # noqa: S608 - fixed names
                {f"k{i}": v for i, v in enumerate(key)},
            )
    for table in ("schemas", "tables", "columns", "keys", "key_columns"):
        names = _TAP_SCHEMA_COLUMNS[table]
        key = _TAP_SCHEMA_KEY[table]
        values = ", ".join(f":v{i}" for i in range(len(names)))
        sql = f"INSERT INTO tap_schema.{table} ({', '.join(names)}) VALUES ({values})"  # noqa: S608 - fixed names
        if len(key) < len(names):  # key_columns has no key: its rows are never updated
            update = ", ".join(f"{n} = excluded.{n}" for n in names if n not in key)
            sql += f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET {update}"
        if rows.get(table):
            conn.execute(
                sa.text(sql), [{f"v{i}": v for i, v in enumerate(row)} for row in rows[table]]
            )


UPGRADE_ROWS: dict[str, list[tuple[Any, ...]]] = {
    "schemas": [
        (
            "ivoa",
            None,
            ("IVOA standard data models: the ObsCore 1.1 table of observations (ivoa.obscore)."),
            2,
        ),
        (
            "TAP_SCHEMA",
            None,
            ("Metadata of the tables and columns this service publishes (TAP 1.1)."),
            3,
        ),
    ],
    "tables": [
        (
            "ivoa",
            "ivoa.obscore",
            "view",
            "ivo://ivoa.net/std/ObsCore#table-1.1",
            (
                "ObsCore 1.1: one row per INTEGRAL pointing science window "
                "(raw data, IBIS/ISGRI field of view) and one per science "
                "product (light curves, spectra, mosaics)."
            ),
            18,
        ),
        (
            "TAP_SCHEMA",
            "TAP_SCHEMA.schemas",
            "table",
            None,
            "Schemas published by this service.",
            19,
        ),
        ("TAP_SCHEMA", "TAP_SCHEMA.tables", "table", None, "Tables published by this service.", 20),
        ("TAP_SCHEMA", "TAP_SCHEMA.columns", "table", None, "Columns of the published tables.", 21),
        (
            "TAP_SCHEMA",
            "TAP_SCHEMA.keys",
            "table",
            None,
            "Foreign keys between published tables.",
            22,
        ),
        ("TAP_SCHEMA", "TAP_SCHEMA.key_columns", "table", None, "Columns of the foreign keys.", 23),
    ],
    "columns": [
        (
            "ivoa.obscore",
            "dataproduct_type",
            "char",
            "*",
            None,
            None,
            "obscore:ObsDataset.dataProductType",
            None,
            "meta.code.class",
            ("Data product type: event (raw science windows), timeseries, spectrum or image."),
            0,
            1,
            1,
            0,
        ),
        (
            "ivoa.obscore",
            "calib_level",
            "int",
            None,
            None,
            None,
            "obscore:ObsDataset.calibLevel",
            None,
            "meta.code;obs.calib",
            (
                "Calibration level: 1 raw science windows, 3 science products"
                " (light curves, spectra, mosaics, maps)."
            ),
            0,
            1,
            1,
            1,
        ),
        (
            "ivoa.obscore",
            "obs_collection",
            "char",
            "*",
            None,
            None,
            "obscore:DataID.Collection",
            None,
            "meta.id",
            "Name of the data collection.",
            0,
            1,
            1,
            2,
        ),
        (
            "ivoa.obscore",
            "obs_id",
            "char",
            "*",
            None,
            None,
            "obscore:DataID.observationID",
            None,
            "meta.id",
            ("Observation identifier: the science window id, or the product's epoch."),
            0,
            1,
            1,
            3,
        ),
        (
            "ivoa.obscore",
            "obs_publisher_did",
            "char",
            "*",
            None,
            None,
            "obscore:Curation.PublisherDID",
            None,
            "meta.ref.ivoid",
            "Publisher's dataset identifier (IVOA URI).",
            0,
            1,
            1,
            4,
        ),
        (
            "ivoa.obscore",
            "access_url",
            "char",
            "*",
            None,
            None,
            "obscore:Access.Reference",
            None,
            "meta.ref.url",
            ("URL of the data: the science window's tarball, or the product's DataLink document."),
            0,
            1,
            1,
            5,
        ),
        (
            "ivoa.obscore",
            "access_format",
            "char",
            "*",
            None,
            None,
            "obscore:Access.Format",
            None,
            "meta.code.mime",
            "MIME type of the data at access_url.",
            0,
            1,
            1,
            6,
        ),
        (
            "ivoa.obscore",
            "access_estsize",
            "long",
            None,
            None,
            None,
            "obscore:Access.Size",
            "kbyte",
            "phys.size;meta.file",
            "Estimated size of the data at access_url.",
            0,
            1,
            1,
            7,
        ),
        (
            "ivoa.obscore",
            "target_name",
            "char",
            "*",
            None,
            None,
            "obscore:Target.Name",
            None,
            "meta.id;src",
            "Target of the observation, or source of the product.",
            0,
            1,
            1,
            8,
        ),
        (
            "ivoa.obscore",
            "s_ra",
            "double",
            None,
            None,
            None,
            ("obscore:Char.SpatialAxis.Coverage.Location.Coord.Position2D.Value2.C1"),
            "deg",
            "pos.eq.ra",
            ("Right ascension of the pointing axis or of the source (ICRS)."),
            0,
            1,
            1,
            9,
        ),
        (
            "ivoa.obscore",
            "s_dec",
            "double",
            None,
            None,
            None,
            ("obscore:Char.SpatialAxis.Coverage.Location.Coord.Position2D.Value2.C2"),
            "deg",
            "pos.eq.dec",
            "Declination of the pointing axis or of the source (ICRS).",
            0,
            1,
            1,
            10,
        ),
        (
            "ivoa.obscore",
            "s_fov",
            "double",
            None,
            None,
            None,
            "obscore:Char.SpatialAxis.Coverage.Bounds.Extent.diameter",
            "deg",
            "phys.angSize;instr.fov",
            "Diameter of the field of view (ISGRI partially coded field).",
            0,
            1,
            1,
            11,
        ),
        (
            "ivoa.obscore",
            "s_region",
            "char",
            "*",
            None,
            "adql:REGION",
            "obscore:Char.SpatialAxis.Coverage.Support.Area",
            None,
            "pos.outline;obs.field",
            (
                "Footprint as an STC-S polygon: the ISGRI partially coded "
                "field (science windows), the image footprint, or a "
                "resolution-sized circle around the source of a product."
            ),
            0,
            1,
            1,
            12,
        ),
        (
            "ivoa.obscore",
            "s_resolution",
            "double",
            None,
            None,
            None,
            "obscore:Char.SpatialAxis.Resolution.Refval.value",
            "arcsec",
            "pos.angResolution",
            "Angular resolution of the instrument (ISGRI: 12 arcmin).",
            0,
            1,
            1,
            13,
        ),
        (
            "ivoa.obscore",
            "s_xel1",
            "long",
            None,
            None,
            None,
            "obscore:Char.SpatialAxis.numBins1",
            None,
            "meta.number",
            ("Number of elements along the first spatial axis (null for event lists)."),
            0,
            0,
            1,
            14,
        ),
        (
            "ivoa.obscore",
            "s_xel2",
            "long",
            None,
            None,
            None,
            "obscore:Char.SpatialAxis.numBins2",
            None,
            "meta.number",
            ("Number of elements along the second spatial axis (null for event lists)."),
            0,
            0,
            1,
            15,
        ),
        (
            "ivoa.obscore",
            "t_min",
            "double",
            None,
            None,
            None,
            "obscore:Char.TimeAxis.Coverage.Bounds.Limits.StartTime",
            "d",
            "time.start;obs.exposure",
            "Start time (MJD, TT).",
            0,
            1,
            1,
            16,
        ),
        (
            "ivoa.obscore",
            "t_max",
            "double",
            None,
            None,
            None,
            "obscore:Char.TimeAxis.Coverage.Bounds.Limits.StopTime",
            "d",
            "time.end;obs.exposure",
            "Stop time (MJD, TT).",
            0,
            1,
            1,
            17,
        ),
        (
            "ivoa.obscore",
            "t_exptime",
            "double",
            None,
            None,
            None,
            "obscore:Char.TimeAxis.Coverage.Support.Extent",
            "s",
            "time.duration;obs.exposure",
            ("Exposure time (ISGRI dead-time corrected exposure for science windows)."),
            0,
            1,
            1,
            18,
        ),
        (
            "ivoa.obscore",
            "t_resolution",
            "double",
            None,
            None,
            None,
            "obscore:Char.TimeAxis.Resolution.Refval.value",
            "s",
            "time.resolution",
            "Time resolution (ISGRI events: 61 microseconds).",
            0,
            1,
            1,
            19,
        ),
        (
            "ivoa.obscore",
            "t_xel",
            "long",
            None,
            None,
            None,
            "obscore:Char.TimeAxis.numBins",
            None,
            "meta.number",
            ("Number of elements along the time axis (null for event lists)."),
            0,
            0,
            1,
            20,
        ),
        (
            "ivoa.obscore",
            "em_min",
            "double",
            None,
            None,
            None,
            "obscore:Char.SpectralAxis.Coverage.Bounds.Limits.LoLimit",
            "m",
            "em.wl;stat.min",
            ("Shortest wavelength (science windows: ISGRI's 1 MeV; products: their band)."),
            0,
            1,
            1,
            21,
        ),
        (
            "ivoa.obscore",
            "em_max",
            "double",
            None,
            None,
            None,
            "obscore:Char.SpectralAxis.Coverage.Bounds.Limits.HiLimit",
            "m",
            "em.wl;stat.max",
            ("Longest wavelength (science windows: ISGRI's 15 keV; products: their band)."),
            0,
            1,
            1,
            22,
        ),
        (
            "ivoa.obscore",
            "em_res_power",
            "double",
            None,
            None,
            None,
            "obscore:Char.SpectralAxis.Resolution.ResolPower.refVal",
            None,
            "spect.resolution",
            "Spectral resolving power E/dE (ISGRI at 100 keV).",
            0,
            1,
            1,
            23,
        ),
        (
            "ivoa.obscore",
            "em_xel",
            "long",
            None,
            None,
            None,
            "obscore:Char.SpectralAxis.numBins",
            None,
            "meta.number",
            ("Number of elements along the spectral axis (null for event lists)."),
            0,
            0,
            1,
            24,
        ),
        (
            "ivoa.obscore",
            "o_ucd",
            "char",
            "*",
            None,
            None,
            "obscore:Char.ObservableAxis.ucd",
            None,
            "meta.ucd",
            "UCD of the observable (photon counts).",
            0,
            1,
            1,
            25,
        ),
        (
            "ivoa.obscore",
            "pol_states",
            "char",
            "*",
            None,
            None,
            "obscore:Char.PolarizationAxis.stateList",
            None,
            "meta.code;phys.polarization",
            "Polarisation states (none).",
            0,
            0,
            1,
            26,
        ),
        (
            "ivoa.obscore",
            "pol_xel",
            "long",
            None,
            None,
            None,
            "obscore:Char.PolarizationAxis.numBins",
            None,
            "meta.number",
            "Number of polarisation states (none).",
            0,
            0,
            1,
            27,
        ),
        (
            "ivoa.obscore",
            "facility_name",
            "char",
            "*",
            None,
            None,
            "obscore:Provenance.ObsConfig.facility.name",
            None,
            "meta.id;instr.tel",
            "Observatory (INTEGRAL).",
            0,
            1,
            1,
            28,
        ),
        (
            "ivoa.obscore",
            "instrument_name",
            "char",
            "*",
            None,
            None,
            "obscore:Provenance.ObsConfig.instrument.name",
            None,
            "meta.id;instr",
            "Instrument (IBIS/ISGRI for science windows).",
            0,
            1,
            1,
            29,
        ),
    ],
}

UPGRADE_GONE: dict[str, list[tuple[Any, ...]]] = {}

DOWNGRADE_ROWS: dict[str, list[tuple[Any, ...]]] = {
    "schemas": [
        (
            "TAP_SCHEMA",
            None,
            ("Metadata of the tables and columns this service publishes (TAP 1.1)."),
            2,
        ),
    ],
    "tables": [
        (
            "TAP_SCHEMA",
            "TAP_SCHEMA.schemas",
            "table",
            None,
            "Schemas published by this service.",
            18,
        ),
        ("TAP_SCHEMA", "TAP_SCHEMA.tables", "table", None, "Tables published by this service.", 19),
        ("TAP_SCHEMA", "TAP_SCHEMA.columns", "table", None, "Columns of the published tables.", 20),
        (
            "TAP_SCHEMA",
            "TAP_SCHEMA.keys",
            "table",
            None,
            "Foreign keys between published tables.",
            21,
        ),
        ("TAP_SCHEMA", "TAP_SCHEMA.key_columns", "table", None, "Columns of the foreign keys.", 22),
    ],
}

DOWNGRADE_GONE: dict[str, list[tuple[Any, ...]]] = {
    "schemas": [
        ("ivoa",),
    ],
    "tables": [
        ("ivoa.obscore",),
    ],
    "columns": [
        ("ivoa.obscore", "dataproduct_type"),
        ("ivoa.obscore", "calib_level"),
        ("ivoa.obscore", "obs_collection"),
        ("ivoa.obscore", "obs_id"),
        ("ivoa.obscore", "obs_publisher_did"),
        ("ivoa.obscore", "access_url"),
        ("ivoa.obscore", "access_format"),
        ("ivoa.obscore", "access_estsize"),
        ("ivoa.obscore", "target_name"),
        ("ivoa.obscore", "s_ra"),
        ("ivoa.obscore", "s_dec"),
        ("ivoa.obscore", "s_fov"),
        ("ivoa.obscore", "s_region"),
        ("ivoa.obscore", "s_resolution"),
        ("ivoa.obscore", "s_xel1"),
        ("ivoa.obscore", "s_xel2"),
        ("ivoa.obscore", "t_min"),
        ("ivoa.obscore", "t_max"),
        ("ivoa.obscore", "t_exptime"),
        ("ivoa.obscore", "t_resolution"),
        ("ivoa.obscore", "t_xel"),
        ("ivoa.obscore", "em_min"),
        ("ivoa.obscore", "em_max"),
        ("ivoa.obscore", "em_res_power"),
        ("ivoa.obscore", "em_xel"),
        ("ivoa.obscore", "o_ucd"),
        ("ivoa.obscore", "pol_states"),
        ("ivoa.obscore", "pol_xel"),
        ("ivoa.obscore", "facility_name"),
        ("ivoa.obscore", "instrument_name"),
    ],
}


def upgrade() -> None:
    """Apply this revision."""
    op.execute("CREATE SCHEMA IF NOT EXISTS ivoa")
    op.execute(OBSCORE_VIEW)
    op.execute(f"GRANT USAGE ON SCHEMA ivoa TO {READER}")
    op.execute(f"GRANT SELECT ON ivoa.obscore TO {READER}")
    _change_tap_schema(UPGRADE_ROWS, UPGRADE_GONE)


def downgrade() -> None:
    """Revert this revision: drop the view and take it out of TAP_SCHEMA."""
    op.execute("DROP SCHEMA ivoa CASCADE")
    _change_tap_schema(DOWNGRADE_ROWS, DOWNGRADE_GONE)
