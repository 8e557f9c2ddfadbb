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
See :mod:`shared.vo.obscore` for the column metadata, which :func:`refresh` publishes.

Like everything outside the ``isla`` schema, this is kept in step by hand (env.py ignores it).
"""

from collections.abc import Sequence

from alembic import op

from shared.vo import tap_schema
from shared.vo.obscore import (
    AUTHORITY,
    HC_KEV_M,
    ISGRI_E_MAX_KEV,
    ISGRI_E_MIN_KEV,
    ISGRI_FOV_DEG,
    ISGRI_RES_POWER,
    ISGRI_RESOLUTION_ARCSEC,
    ISGRI_TIME_RESOLUTION_S,
    PRODUCT_COLLECTION,
    PRODUCT_TYPES,
    PRODUCTS_URL_SETTING,
    RAW_COLLECTION,
    URL_SETTING,
    wavelength_m,
)

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

READER = "isla_reader"

IJD_TO_MJD = 51544.0
"""MJD = IJD + 51544 (both TT)."""


def _kinds() -> str:
    whens = " ".join(f"WHEN '{kind}' THEN '{dp}'" for kind, dp in PRODUCT_TYPES.items())
    return f"CASE p.kind {whens} END"


# Every branch casts to the same types, so that TAP_SCHEMA (read from the catalog) shows the
# ObsCore types: identifiers varchar (VOTable char), counts bigint, quantities double.
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
SELECT ({_kinds()})::varchar,
       CASE WHEN p.kind IN ('mosaic', 'image') THEN 3 ELSE 2 END,
       '{PRODUCT_COLLECTION}'::varchar,
       coalesce(p.epoch, p.product_id)::varchar,
       ('ivo://{AUTHORITY}/isla?product/' || p.product_id)::varchar,
       (coalesce(current_setting('{PRODUCTS_URL_SETTING}', true), '') || '/products/'
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
       {HC_KEV_M!r} / b.e_max,
       {HC_KEV_M!r} / b.e_min,
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
WHERE p.kind IN ({", ".join(f"'{kind}'" for kind in PRODUCT_TYPES)})
"""  # noqa: S608 - built from this module's constants, no input


def upgrade() -> None:
    """Apply this revision."""
    op.execute("CREATE SCHEMA IF NOT EXISTS ivoa")
    op.execute(OBSCORE_VIEW)
    op.execute(f"GRANT USAGE ON SCHEMA ivoa TO {READER}")
    op.execute(f"GRANT SELECT ON ivoa.obscore TO {READER}")
    tap_schema.refresh(op.get_bind())


def downgrade() -> None:
    """Revert this revision: drop the view and take it out of TAP_SCHEMA."""
    op.execute("DROP SCHEMA ivoa CASCADE")
    tap_schema.refresh(op.get_bind())
