"""Simulated data labelled: a ``simulated`` flag on products and raw files, in ObsCore too

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03

The demo archive is simulated; the files INTEGRAL's teams deliver are not. Every simulated
FITS file says so in its headers (``SIMDATA = T``), and the database now knows it per file:

- ``isla.products.simulated``, ``isla.scw_files.simulated``, ``isla.aux_files.simulated``
  (boolean, false unless set: ingest sets it from the file's ``SIMDATA``, the raw index from
  the group file's, the demo generator for the raw files it writes);
- ``ivoa.obscore`` tells them apart: ``obs_collection`` gains the suffix ``(simulated demo)``
  for simulated rows (science windows by their group file ``swg.fits``, products by their
  own flag), and a last, non-standard column ``isla_simulated`` (1 simulated, 0 delivered;
  ADQL has no boolean type) allows a filter.

The view SQL and the TAP_SCHEMA rows are written out here in full, frozen with the revision.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("products", "scw_files", "aux_files")

_DESCRIPTION = {
    "products": "True when the product is simulated (the demo archive), false when "
    "delivered by INTEGRAL.",
    "scw_files": "True when the file is simulated (the demo archive), false when "
    "delivered by INTEGRAL.",
    "aux_files": "True when the file is simulated (the demo archive), false when "
    "delivered by INTEGRAL.",
}

OBSCORE_VIEW = """
CREATE OR REPLACE VIEW ivoa.obscore AS
SELECT 'event'::varchar AS dataproduct_type,
       1 AS calib_level,
       (CASE WHEN coalesce(g.simulated, false) THEN 'INTEGRAL/ISLA raw (simulated demo)'
             ELSE 'INTEGRAL/ISLA raw' END)::varchar AS obs_collection,
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
       'IBIS/ISGRI'::varchar AS instrument_name,
       coalesce(g.simulated, false)::int::smallint AS isla_simulated
FROM isla.science_windows w
LEFT JOIN isla.observations o ON o.obsid = w.obsid
LEFT JOIN isla.scw_files g
       ON g.scw_id = w.scw_id AND g.version = w.version AND g.name = 'swg.fits'
WHERE w.scw_type = 'pointing'
UNION ALL
SELECT (CASE p.kind WHEN 'long_timeseries' THEN 'timeseries' WHEN 'short_timeseries' THEN 'timeseries' WHEN 'omc_lightcurve' THEN 'timeseries' WHEN 'spectrum' THEN 'spectrum' WHEN 'mosaic' THEN 'image' WHEN 'omc_image' THEN 'image' WHEN 'allsky_map' THEN 'image' ELSE NULL END)::varchar,
       3,
       (CASE WHEN p.simulated THEN 'INTEGRAL/ISLA products (simulated demo)'
             ELSE 'INTEGRAL/ISLA products' END)::varchar,
       coalesce(p.epoch, p.product_id)::varchar,
       ('ivo://isla.integral/isla?product/' || p.product_id)::varchar,
       (coalesce(current_setting('isla.products_url', true), '') || '/datalink?ID='
           || replace(replace(replace(replace(('ivo://isla.integral/isla?product/' || p.product_id), '%', '%25'), '+', '%2B'), '&', '%26'), '#', '%23'))::varchar,
       'application/x-votable+xml;content=datalink'::varchar,
       ceil(p.size / 1024.0)::bigint,
       coalesce(s.name, o.target_name)::varchar,
       coalesce(s.ra, CASE WHEN jsonb_typeof(p.meta->'ra') = 'number' THEN (p.meta->>'ra')::float8 END, o.ra),
       coalesce(s.dec, CASE WHEN jsonb_typeof(p.meta->'dec') = 'number' THEN (p.meta->>'dec')::float8 END, o.dec),
       CASE WHEN p.kind IN ('mosaic', 'omc_image', 'allsky_map') THEN 2 * CASE (CASE WHEN p.instrument IN ('JEM-X1', 'JEM-X2') THEN 'JEM-X' ELSE p.instrument END) WHEN 'ISGRI' THEN 14.5 WHEN 'PICsIT' THEN 14.5 WHEN 'JEM-X' THEN 6.6 WHEN 'SPI' THEN 8.0 WHEN 'OMC' THEN 2.5 ELSE NULL END END::double precision,
       CASE
           WHEN jsonb_typeof(p.meta->'footprint') = 'array' THEN
               (SELECT spoly(spoint(radians((v->>0)::float8), radians((v->>1)::float8))
                             ORDER BY n)
                FROM jsonb_array_elements(p.meta->'footprint') WITH ORDINALITY AS f(v, n))
           WHEN s.source_id IS NOT NULL THEN
               ivoa.circle_region(s.ra, s.dec, coalesce(CASE p.instrument WHEN 'ISGRI' THEN 720.0 WHEN 'PICsIT' THEN 720.0 WHEN 'JEM-X' THEN 180.0 WHEN 'JEM-X1' THEN 180.0 WHEN 'JEM-X2' THEN 180.0 WHEN 'SPI' THEN 9000.0 WHEN 'OMC' THEN 25.0 ELSE NULL END, 720.0) / 3600.0)
           WHEN p.kind IN ('mosaic', 'omc_image', 'allsky_map') AND jsonb_typeof(p.meta->'ra') = 'number'
                AND jsonb_typeof(p.meta->'dec') = 'number' THEN
               ivoa.circle_region(CASE WHEN jsonb_typeof(p.meta->'ra') = 'number' THEN (p.meta->>'ra')::float8 END, CASE WHEN jsonb_typeof(p.meta->'dec') = 'number' THEN (p.meta->>'dec')::float8 END,
                                  CASE (CASE WHEN p.instrument IN ('JEM-X1', 'JEM-X2') THEN 'JEM-X' ELSE p.instrument END) WHEN 'ISGRI' THEN 14.5 WHEN 'PICsIT' THEN 14.5 WHEN 'JEM-X' THEN 6.6 WHEN 'SPI' THEN 8.0 WHEN 'OMC' THEN 2.5 ELSE NULL END)
           WHEN p.kind IN ('mosaic', 'omc_image', 'allsky_map') AND o.obsid IS NOT NULL THEN
               ivoa.circle_region(o.ra, o.dec, CASE (CASE WHEN p.instrument IN ('JEM-X1', 'JEM-X2') THEN 'JEM-X' ELSE p.instrument END) WHEN 'ISGRI' THEN 14.5 WHEN 'PICsIT' THEN 14.5 WHEN 'JEM-X' THEN 6.6 WHEN 'SPI' THEN 8.0 WHEN 'OMC' THEN 2.5 ELSE NULL END)
       END,
       (CASE p.instrument WHEN 'ISGRI' THEN 720.0 WHEN 'PICsIT' THEN 720.0 WHEN 'JEM-X' THEN 180.0 WHEN 'JEM-X1' THEN 180.0 WHEN 'JEM-X2' THEN 180.0 WHEN 'SPI' THEN 9000.0 WHEN 'OMC' THEN 25.0 ELSE NULL END)::double precision,
       NULL::bigint,
       NULL::bigint,
       coalesce(p.t_min, (extract(epoch FROM o.start_time) / 86400.0 + 40587.0 + 0.0008007407407407408)),
       coalesce(p.t_max, (extract(epoch FROM o.end_time) / 86400.0 + 40587.0 + 0.0008007407407407408)),
       CASE WHEN jsonb_typeof(p.meta->'exposure') = 'number' THEN (p.meta->>'exposure')::float8 END,
       NULL::double precision,
       NULL::bigint,
       CASE WHEN p.instrument = 'OMC' THEN 5e-07
            ELSE 1.239841984e-09 / coalesce(b.e_max, i.e_max) END,
       CASE WHEN p.instrument = 'OMC' THEN 6e-07
            ELSE 1.239841984e-09 / coalesce(b.e_min, i.e_min) END,
       NULL::double precision,
       NULL::bigint,
       CASE WHEN p.kind = 'spectrum' THEN 'phot.count;em.energy'
            ELSE 'phot.count' END::varchar,
       NULL::varchar,
       NULL::bigint,
       'INTEGRAL'::varchar,
       p.instrument::varchar,
       p.simulated::int::smallint
FROM isla.products p
LEFT JOIN isla.sources s ON s.source_id = p.source_id
LEFT JOIN isla.energy_bands b ON b.band_id = p.band_id
LEFT JOIN isla.instruments i ON i.name = CASE WHEN p.instrument IN ('JEM-X1', 'JEM-X2') THEN 'JEM-X' ELSE p.instrument END
LEFT JOIN isla.observations o
       ON o.obsid = coalesce(p.obsid, CASE WHEN p.epoch ~ '^[0-9]{4}_[0-9]{11}$'
                                            THEN substr(p.epoch, 6) END)
WHERE p.kind IN ('long_timeseries', 'short_timeseries', 'omc_lightcurve', 'spectrum', 'mosaic', 'omc_image', 'allsky_map')
"""  # noqa: E501 - the view as Postgres receives it

# (table, column, datatype, ucd, description) of the TAP_SCHEMA rows this revision adds.
_TAP_COLUMNS = [
    *((f"isla.{t}", "simulated", "boolean", "meta.code.qual", _DESCRIPTION[t]) for t in TABLES),
    (
        "ivoa.obscore",
        "isla_simulated",
        "short",
        "meta.code.qual",
        "1 when the science window or product is simulated (the demo archive), 0 when "
        "delivered by INTEGRAL (not an ObsCore column).",
    ),
]

_OBS_COLLECTION = (
    "Name of the data collection: INTEGRAL/ISLA raw or INTEGRAL/ISLA products, followed by "
    "' (simulated demo)' for simulated data."
)


def upgrade() -> None:
    """Add the flags, recreate the ObsCore view, publish the new columns."""
    for table in TABLES:
        op.add_column(
            table,
            sa.Column(
                "simulated",
                sa.Boolean(),
                server_default=sa.text("false"),
                nullable=False,
                comment=_DESCRIPTION[table],
            ),
            schema="isla",
        )
    op.execute(OBSCORE_VIEW)
    for table, column, datatype, ucd, description in _TAP_COLUMNS:
        op.execute(
            sa.text(
                "INSERT INTO tap_schema.columns (table_name, column_name, datatype, utype, "
                "unit, ucd, description, indexed, principal, std, column_index) "
                "SELECT :t, :c, :dt, NULL, NULL, :ucd, :d, 0, 0, 0, "
                "coalesce(max(column_index), -1) + 1 FROM tap_schema.columns "
                "WHERE table_name = :t "
                "AND EXISTS (SELECT 1 FROM tap_schema.tables WHERE table_name = :t)"
            ).bindparams(t=table, c=column, dt=datatype, ucd=ucd, d=description)
        )
    op.execute(
        sa.text(
            "UPDATE tap_schema.columns SET description = :d "
            "WHERE table_name = 'ivoa.obscore' AND column_name = 'obs_collection'"
        ).bindparams(d=_OBS_COLLECTION)
    )


def _view_of_0008() -> str:
    """Migration 0008's view SQL, for the downgrade (revision modules are not a package)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).with_name("0008_isla_compat.py")
    spec = importlib.util.spec_from_file_location("isla_migration_0008", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.OBSCORE_VIEW)


def downgrade() -> None:
    """Revert: the view of migration 0008, the TAP_SCHEMA rows and the columns removed."""
    for table, column, _dt, _ucd, _d in _TAP_COLUMNS:
        op.execute(
            sa.text(
                "DELETE FROM tap_schema.columns WHERE table_name = :t AND column_name = :c"
            ).bindparams(t=table, c=column)
        )
    op.execute(
        sa.text(
            "UPDATE tap_schema.columns SET description = :d "
            "WHERE table_name = 'ivoa.obscore' AND column_name = 'obs_collection'"
        ).bindparams(d="Name of the data collection.")
    )
    op.execute("DROP VIEW ivoa.obscore")
    op.execute(_view_of_0008())
    op.execute("GRANT SELECT ON ivoa.obscore TO isla_reader")
    for table in TABLES:
        op.drop_column(table, "simulated", schema="isla")
