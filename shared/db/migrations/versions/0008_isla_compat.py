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

from shared.vo import tap_schema
from shared.vo.obscore import (
    ANGULAR_RESOLUTION_ARCSEC,
    AUTHORITY,
    DATALINK_FORMAT,
    DATALINK_PATH,
    FIELD_RADIUS_DEG,
    HC_KEV_M,
    ISGRI_E_MAX_KEV,
    ISGRI_E_MIN_KEV,
    ISGRI_FOV_DEG,
    ISGRI_RES_POWER,
    ISGRI_RESOLUTION_ARCSEC,
    ISGRI_TIME_RESOLUTION_S,
    OMC_WAVELENGTH_M,
    PRODUCT_CALIB_LEVEL,
    PRODUCT_COLLECTION,
    PRODUCT_TYPES,
    PRODUCTS_URL_SETTING,
    RAW_COLLECTION,
    URL_SETTING,
    wavelength_m,
)

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

READER = "isla_reader"
IJD_TO_MJD = 51544.0
UNIX_TO_MJD = 40587.0
TT_MINUS_UTC_DAYS = 69.184 / 86400.0
"""TT - UTC (32.184 s + 37 leap seconds since 2017; INTEGRAL's whole mission within 5 s)."""

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


def _case(column: str, values: dict[str, str], default: str = "NULL") -> str:
    whens = " ".join(f"WHEN '{key}' THEN {value}" for key, value in values.items())
    return f"CASE {column} {whens} ELSE {default} END"


_KINDS = _case("p.kind", {k: f"'{v}'" for k, v in PRODUCT_TYPES.items()})
_RESOLUTION = _case("p.instrument", {k: repr(v) for k, v in ANGULAR_RESOLUTION_ARCSEC.items()})
_FIELD = _case(f"({_UNIT_OF})", {k: repr(v) for k, v in FIELD_RADIUS_DEG.items()})
_IMAGES = ", ".join(f"'{k}'" for k, v in PRODUCT_TYPES.items() if v == "image")
# '+' in a source id would read as a space in a query string; '%' must be escaped first.
_DID = f"('ivo://{AUTHORITY}/isla?product/' || p.product_id)"
_DID_IN_URL = (
    f"replace(replace(replace(replace({_DID}, '%', '%25'), '+', '%2B'), '&', '%26'), '#', '%23')"
)
_OBS_MJD = f"(extract(epoch FROM {{t}}) / 86400.0 + {UNIX_TO_MJD} + {TT_MINUS_UTC_DAYS})"
_NUMBER = "CASE WHEN jsonb_typeof(p.meta->'{key}') = 'number' THEN (p.meta->>'{key}')::float8 END"

OBSCORE_VIEW = f"""
CREATE VIEW ivoa.obscore AS
SELECT 'event'::varchar AS dataproduct_type,
       1 AS calib_level,
       '{RAW_COLLECTION}'::varchar AS obs_collection,
       w.scw_id::varchar AS obs_id,
       ('ivo://{AUTHORITY}/isla?scw/' || w.scw_id || '.' || w.version)::varchar
           AS obs_publisher_did,
       (coalesce(current_setting('{URL_SETTING}', true), '') || '/raw/scw/' || w.scw_id
           || '.tar')::varchar AS access_url,
       'application/x-tar'::varchar AS access_format,
       ceil(w.raw_size / 1024.0)::bigint AS access_estsize,
       o.target_name::varchar AS target_name,
       w.ra AS s_ra,
       w.dec AS s_dec,
       {ISGRI_FOV_DEG}::double precision AS s_fov,
       w.fov_isgri AS s_region,
       {ISGRI_RESOLUTION_ARCSEC}::double precision AS s_resolution,
       NULL::bigint AS s_xel1,
       NULL::bigint AS s_xel2,
       w.start_ijd + {IJD_TO_MJD} AS t_min,
       w.end_ijd + {IJD_TO_MJD} AS t_max,
       w.isgri_exposure AS t_exptime,
       {ISGRI_TIME_RESOLUTION_S}::double precision AS t_resolution,
       NULL::bigint AS t_xel,
       {wavelength_m(ISGRI_E_MAX_KEV)!r}::double precision AS em_min,
       {wavelength_m(ISGRI_E_MIN_KEV)!r}::double precision AS em_max,
       {ISGRI_RES_POWER}::double precision AS em_res_power,
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
SELECT ({_KINDS})::varchar,
       {PRODUCT_CALIB_LEVEL},
       '{PRODUCT_COLLECTION}'::varchar,
       coalesce(p.epoch, p.product_id)::varchar,
       {_DID}::varchar,
       (coalesce(current_setting('{PRODUCTS_URL_SETTING}', true), '') || '{DATALINK_PATH}?ID='
           || {_DID_IN_URL})::varchar,
       '{DATALINK_FORMAT}'::varchar,
       ceil(p.size / 1024.0)::bigint,
       coalesce(s.name, o.target_name)::varchar,
       coalesce(s.ra, {_NUMBER.format(key="ra")}, o.ra),
       coalesce(s.dec, {_NUMBER.format(key="dec")}, o.dec),
       CASE WHEN p.kind IN ({_IMAGES}) THEN 2 * {_FIELD} END::double precision,
       CASE
           WHEN jsonb_typeof(p.meta->'footprint') = 'array' THEN
               (SELECT spoly(spoint(radians((v->>0)::float8), radians((v->>1)::float8))
                             ORDER BY n)
                FROM jsonb_array_elements(p.meta->'footprint') WITH ORDINALITY AS f(v, n))
           WHEN s.source_id IS NOT NULL THEN
               ivoa.circle_region(s.ra, s.dec, coalesce({_RESOLUTION}, 720.0) / 3600.0)
           WHEN p.kind IN ({_IMAGES}) AND jsonb_typeof(p.meta->'ra') = 'number'
                AND jsonb_typeof(p.meta->'dec') = 'number' THEN
               ivoa.circle_region({_NUMBER.format(key="ra")}, {_NUMBER.format(key="dec")},
                                  {_FIELD})
           WHEN p.kind IN ({_IMAGES}) AND o.obsid IS NOT NULL THEN
               ivoa.circle_region(o.ra, o.dec, {_FIELD})
       END,
       ({_RESOLUTION})::double precision,
       NULL::bigint,
       NULL::bigint,
       coalesce(p.t_min, {_OBS_MJD.format(t="o.start_time")}),
       coalesce(p.t_max, {_OBS_MJD.format(t="o.end_time")}),
       {_NUMBER.format(key="exposure")},
       NULL::double precision,
       NULL::bigint,
       CASE WHEN p.instrument = 'OMC' THEN {OMC_WAVELENGTH_M[0]!r}
            ELSE {HC_KEV_M!r} / coalesce(b.e_max, i.e_max) END,
       CASE WHEN p.instrument = 'OMC' THEN {OMC_WAVELENGTH_M[1]!r}
            ELSE {HC_KEV_M!r} / coalesce(b.e_min, i.e_min) END,
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
LEFT JOIN isla.instruments i ON i.name = {_UNIT_OF}
LEFT JOIN isla.observations o
       ON o.obsid = coalesce(p.obsid, CASE WHEN p.epoch ~ '^[0-9]{{4}}_[0-9]{{11}}$'
                                            THEN substr(p.epoch, 6) END)
WHERE p.kind IN ({", ".join(f"'{kind}'" for kind in PRODUCT_TYPES)})
"""  # noqa: S608 - built from this module's constants, no input


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
    tap_schema.refresh(op.get_bind())


def downgrade() -> None:
    """Revert this revision: the views of migrations 0002 and 0003."""
    op.execute("DROP VIEW ivoa.obscore")
    op.execute("DROP FUNCTION ivoa.circle_region")
    op.execute(_view_of_0003())
    op.execute(f"GRANT SELECT ON ivoa.obscore TO {READER}")
    op.execute("DROP VIEW ila.epoch")
    op.execute(OLD_EPOCH_VIEW)
    op.execute(f"GRANT SELECT ON ila.epoch TO {READER}")
    tap_schema.refresh(op.get_bind())
