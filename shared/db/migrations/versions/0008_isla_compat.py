"""ISLA compatibility views and DataLink

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25

Two views outside the ``isla`` schema, kept in step by hand like those of 0002 and 0003:

- ``ila.epoch`` (astroquery's ``get_epochs`` and its epoch checks): an epoch
  ``RRRR_OOOOOOOOOOO`` (revolution of the science windows, observation) is listed for a source
  and an instrument when a product of that epoch exists, or when at least one pointing science
  window of the observation in that revolution had the source inside the instrument's field of
  view with exposure on it. Epoch products without a source (mosaics) are listed with a null
  source_id, so that epoch checks without a target find them.
- ``ivoa.obscore``: the product branch becomes ObsCore 1.1 for every product kind of the
  contract (light curves ``timeseries``, spectra ``spectrum``, mosaics and maps ``image``),
  calib_level 3, the band's wavelengths, a resolution-sized circle around the source (or the
  image footprint) as ``s_region``, and ``access_url`` the product's DataLink document
  (``access_format`` ``application/x-votable+xml;content=datalink``). The science window
  branch is unchanged.
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

READER = "isla_reader"

# A circle of radius r (degrees) around (ra, dec) as a 24-vertex pgSphere polygon, vertices
# placed by spherical offsets so that it stays right near the poles.
CIRCLE_FUNCTION = """
CREATE FUNCTION ivoa.circle_region(lon double precision, lat double precision,
                                   radius_deg double precision) RETURNS spoly
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT spoly(spoint(
               radians(lon) + atan2(sin(radians(a)) * sin(radians(radius_deg)) * cos(radians(lat)),
                                   cos(radians(radius_deg)) - sin(radians(lat)) * sin(d2)),
               d2)
           ORDER BY a)
    FROM (SELECT a, asin(sin(radians(lat)) * cos(radians(radius_deg))
                         + cos(radians(lat)) * sin(radians(radius_deg)) * cos(radians(a))) AS d2
          FROM generate_series(0, 345, 15) AS a) AS v
$$"""

# Product instruments and the ila instrument they belong to (JEM-X products may be per unit).
_UNIT_OF = "CASE WHEN p.instrument IN ('JEM-X1', 'JEM-X2') THEN 'JEM-X' ELSE p.instrument END"

# (ila instrument_oid, isla.instruments name, field-of-view column, exposure condition). The
# oid is a literal in each branch so that a query's instrument condition prunes the branches
# it excludes before any join runs; the other instruments' fields lie inside ISGRI's, whose
# GiST-indexed polygon preselects the sources (their own polygon is then checked by a function
# call, which the planner does not try to fold into the index scan, where it is slow).
_COVERAGE = (
    (1, "ISGRI", None, "w.isgri_exposure > 0"),
    (3, "PICsIT", None, "w.picsit_exposure > 0"),
    (
        2,
        "JEM-X",
        "fov_jemx",
        "(coalesce(w.jemx1_exposure, 0) > 0 OR coalesce(w.jemx2_exposure, 0) > 0)",
    ),
    (4, "SPI", "fov_spi", "w.spi_exposure > 0"),
)


def _coverage_branch(oid: int, name: str, fov: str | None, exposure: str) -> str:
    inside = f" AND spoly_contains_point(w.{fov}, s.pos)" if fov else ""
    return f"""
SELECT lpad(w.revolution::text, 4, '0') || '_' || w.obsid, s.source_id::text,
       {oid}, (SELECT b.band_oid FROM ila.band b WHERE b.instrument_oid = {oid})
FROM isla.science_windows w
JOIN isla.sources s ON s.pos <@ w.fov_isgri{inside}
WHERE w.scw_type = 'pointing' AND w.obsid IS NOT NULL AND {exposure}
  AND EXISTS (SELECT 1 FROM isla.instruments i WHERE i.name = '{name}')"""  # noqa: S608 - built from this module's constants


EPOCH_VIEW = f"""
CREATE VIEW ila.epoch AS
SELECT p.epoch::text AS epoch, p.source_id::text AS source_id, ins.instrument_oid, b.band_oid
FROM isla.products p
JOIN ila.instrument ins ON ins.archive_name = {_UNIT_OF}
JOIN ila.band b ON b.instrument_oid = ins.instrument_oid
WHERE p.epoch IS NOT NULL AND p.kind <> 'preview'
UNION
{"UNION".join(_coverage_branch(*c) for c in _COVERAGE)}
"""  # noqa: S608 - built from this module's constants, no input

OLD_EPOCH_VIEW = """
CREATE VIEW ila.epoch AS
SELECT p.epoch::text AS epoch, p.source_id::text AS source_id, ins.instrument_oid,
       b.band_oid
FROM isla.products p
JOIN ila.instrument ins ON ins.archive_name = p.instrument
JOIN ila.band b ON b.instrument_oid = ins.instrument_oid
WHERE p.epoch IS NOT NULL AND p.source_id IS NOT NULL
UNION
SELECT lpad(o.rev_start::text, 4, '0') || '_' || o.obsid, s.source_id::text,
       ins.instrument_oid, b.band_oid
FROM isla.observations o
JOIN isla.sources s ON s.pos <@ scircle(o.pos, radians(15.0))
JOIN ila.instrument ins ON ins.archive_name = 'ISGRI'
JOIN ila.band b ON b.instrument_oid = ins.instrument_oid
UNION
SELECT lpad(o.rev_start::text, 4, '0') || '_' || o.obsid, s.source_id::text,
       ins.instrument_oid, b.band_oid
FROM isla.observations o
JOIN isla.sources s ON s.pos <@ scircle(o.pos, radians(5.0))
JOIN ila.instrument ins ON ins.archive_name = 'JEM-X'
JOIN ila.band b ON b.instrument_oid = ins.instrument_oid"""
"""The view of migration 0002, restored by the downgrade."""


# The product branch's kinds, resolutions, fields of view, wavelengths and identifiers were
# written from the constants of shared.vo.obscore at the time; frozen here as they were.
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
    'mosaic' THEN 'image' WHEN 'omc_image' THEN 'image' WHEN 'allsky_map' THEN 'image' ELSE NULL
    END)::varchar,
       3,
       'INTEGRAL/ISLA products'::varchar,
       coalesce(p.epoch, p.product_id)::varchar,
       ('ivo://isla.integral/isla?product/' || p.product_id)::varchar,
       (coalesce(current_setting('isla.products_url', true), '') || '/datalink?ID='
           || replace(replace(replace(replace(('ivo://isla.integral/isla?product/' ||
               p.product_id), '%', '%25'), '+', '%2B'), '&', '%26'), '#', '%23'))::varchar,
       'application/x-votable+xml;content=datalink'::varchar,
       ceil(p.size / 1024.0)::bigint,
       coalesce(s.name, o.target_name)::varchar,
       coalesce(s.ra, CASE WHEN jsonb_typeof(p.meta->'ra') = 'number' THEN
           (p.meta->>'ra')::float8 END, o.ra),
       coalesce(s.dec, CASE WHEN jsonb_typeof(p.meta->'dec') = 'number' THEN
           (p.meta->>'dec')::float8 END, o.dec),
       CASE WHEN p.kind IN ('mosaic', 'omc_image', 'allsky_map') THEN 2 * CASE (CASE WHEN
           p.instrument IN ('JEM-X1', 'JEM-X2') THEN 'JEM-X' ELSE p.instrument END) WHEN 'ISGRI'
           THEN 14.5 WHEN 'PICsIT' THEN 14.5 WHEN 'JEM-X' THEN 6.6 WHEN 'SPI' THEN 8.0 WHEN
           'OMC' THEN 2.5 ELSE NULL END END::double precision,
       CASE
           WHEN jsonb_typeof(p.meta->'footprint') = 'array' THEN
               (SELECT spoly(spoint(radians((v->>0)::float8), radians((v->>1)::float8))
                             ORDER BY n)
                FROM jsonb_array_elements(p.meta->'footprint') WITH ORDINALITY AS f(v, n))
           WHEN s.source_id IS NOT NULL THEN
               ivoa.circle_region(s.ra, s.dec, coalesce(CASE p.instrument WHEN 'ISGRI' THEN
                   720.0 WHEN 'PICsIT' THEN 720.0 WHEN 'JEM-X' THEN 180.0 WHEN 'JEM-X1' THEN
                   180.0 WHEN 'JEM-X2' THEN 180.0 WHEN 'SPI' THEN 9000.0 WHEN 'OMC' THEN 25.0
                   ELSE NULL END, 720.0) / 3600.0)
           WHEN p.kind IN ('mosaic', 'omc_image', 'allsky_map') AND jsonb_typeof(p.meta->'ra') =
               'number'
                AND jsonb_typeof(p.meta->'dec') = 'number' THEN
               ivoa.circle_region(CASE WHEN jsonb_typeof(p.meta->'ra') = 'number' THEN
                   (p.meta->>'ra')::float8 END, CASE WHEN jsonb_typeof(p.meta->'dec') = 'number'
                   THEN (p.meta->>'dec')::float8 END,
                                  CASE (CASE WHEN p.instrument IN ('JEM-X1', 'JEM-X2') THEN
                                      'JEM-X' ELSE p.instrument END) WHEN 'ISGRI' THEN 14.5 WHEN
                                      'PICsIT' THEN 14.5 WHEN 'JEM-X' THEN 6.6 WHEN 'SPI' THEN
                                      8.0 WHEN 'OMC' THEN 2.5 ELSE NULL END)
           WHEN p.kind IN ('mosaic', 'omc_image', 'allsky_map') AND o.obsid IS NOT NULL THEN
               ivoa.circle_region(o.ra, o.dec, CASE (CASE WHEN p.instrument IN ('JEM-X1',
                   'JEM-X2') THEN 'JEM-X' ELSE p.instrument END) WHEN 'ISGRI' THEN 14.5 WHEN
                   'PICsIT' THEN 14.5 WHEN 'JEM-X' THEN 6.6 WHEN 'SPI' THEN 8.0 WHEN 'OMC' THEN
                   2.5 ELSE NULL END)
       END,
       (CASE p.instrument WHEN 'ISGRI' THEN 720.0 WHEN 'PICsIT' THEN 720.0 WHEN 'JEM-X' THEN
           180.0 WHEN 'JEM-X1' THEN 180.0 WHEN 'JEM-X2' THEN 180.0 WHEN 'SPI' THEN 9000.0 WHEN
           'OMC' THEN 25.0 ELSE NULL END)::double precision,
       NULL::bigint,
       NULL::bigint,
       coalesce(p.t_min, (extract(epoch FROM o.start_time) / 86400.0 + 40587.0 +
           0.0008007407407407408)),
       coalesce(p.t_max, (extract(epoch FROM o.end_time) / 86400.0 + 40587.0 +
           0.0008007407407407408)),
       CASE WHEN jsonb_typeof(p.meta->'exposure') = 'number' THEN (p.meta->>'exposure')::float8
           END,
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
       p.instrument::varchar
FROM isla.products p
LEFT JOIN isla.sources s ON s.source_id = p.source_id
LEFT JOIN isla.energy_bands b ON b.band_id = p.band_id
LEFT JOIN isla.instruments i ON i.name = CASE WHEN p.instrument IN ('JEM-X1', 'JEM-X2') THEN
    'JEM-X' ELSE p.instrument END
LEFT JOIN isla.observations o
       ON o.obsid = coalesce(p.obsid, CASE WHEN p.epoch ~ '^[0-9]{4}_[0-9]{11}$'
                                            THEN substr(p.epoch, 6) END)
WHERE p.kind IN ('long_timeseries', 'short_timeseries', 'omc_lightcurve', 'spectrum', 'mosaic',
    'omc_image', 'allsky_map')
"""


def _view_of_0003() -> str:
    """Migration 0003's view SQL, for the downgrade (revision modules are not a package)."""
    path = Path(__file__).with_name("0003_obscore.py")
    spec = importlib.util.spec_from_file_location("isla_migration_0003", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.OBSCORE_VIEW)


def upgrade() -> None:
    """Apply this revision."""
    op.execute("DROP VIEW ila.epoch")
    op.execute(EPOCH_VIEW)
    op.execute(f"GRANT SELECT ON ila.epoch TO {READER}")
    op.execute("DROP VIEW ivoa.obscore")
    op.execute(CIRCLE_FUNCTION)
    op.execute(OBSCORE_VIEW)
    op.execute(f"GRANT SELECT ON ivoa.obscore TO {READER}")
    op.execute(f"GRANT EXECUTE ON FUNCTION ivoa.circle_region TO {READER}")
    # TAP_SCHEMA is unchanged: the views keep their columns and types.


def downgrade() -> None:
    """Revert this revision: the views of migrations 0002 and 0003."""
    op.execute("DROP VIEW ivoa.obscore")
    op.execute("DROP FUNCTION ivoa.circle_region")
    op.execute(_view_of_0003())
    op.execute(f"GRANT SELECT ON ivoa.obscore TO {READER}")
    op.execute("DROP VIEW ila.epoch")
    op.execute(OLD_EPOCH_VIEW)
    op.execute(f"GRANT SELECT ON ila.epoch TO {READER}")
