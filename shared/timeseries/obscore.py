"""The time series as ObsCore rows (``dataproduct_type = 'timeseries'``): a ``UNION ALL`` branch.

``ivoa.obscore`` is one view, redefined by the migration that owns it; this module gives the
branch that view takes to publish every delivered SPI-ACS and IREM file (one row per dataset and
revolution), in the view's column order. ``access_url`` is the file itself (FITS, with Range
and SHA-256); SPI-ACS and IREM are all-sky monitors, so the spatial columns are NULL.
"""

from __future__ import annotations

from shared.vo.obscore import AUTHORITY, HC_KEV_M, PRODUCTS_URL_SETTING

__all__ = ["OBSCORE_BRANCH", "TIMESERIES_COLLECTION"]

TIMESERIES_COLLECTION = "INTEGRAL/ISLA time series"
"""``obs_collection`` of the time-series rows."""

_SPIACS_KEV = (80.0, 10_000.0)
"""SPI-ACS energy range (BGO shield, above ~80 keV)."""

OBSCORE_BRANCH = f"""
SELECT 'timeseries'::varchar AS dataproduct_type,
       1 AS calib_level,
       '{TIMESERIES_COLLECTION}'::varchar AS obs_collection,
       f.file_id::varchar AS obs_id,
       ('ivo://{AUTHORITY}/isla?timeseries/' || f.file_id)::varchar AS obs_publisher_did,
       (coalesce(current_setting('{PRODUCTS_URL_SETTING}', true), '')
           || '/products/timeseries/' || f.dataset || '/files/' || f.revolution)::varchar
           AS access_url,
       'application/fits'::varchar AS access_format,
       ceil(f.size / 1024.0)::bigint AS access_estsize,
       NULL::varchar AS target_name,
       NULL::double precision AS s_ra,
       NULL::double precision AS s_dec,
       NULL::double precision AS s_fov,
       NULL::spoly AS s_region,
       NULL::double precision AS s_resolution,
       NULL::bigint AS s_xel1,
       NULL::bigint AS s_xel2,
       f.t_start + 51544.0 AS t_min,
       f.t_stop + 51544.0 AS t_max,
       (f.t_stop - f.t_start) * 86400.0 + f.timedel AS t_exptime,
       f.timedel AS t_resolution,
       f.n_samples AS t_xel,
       CASE WHEN f.instrument = 'SPI-ACS' THEN {HC_KEV_M / _SPIACS_KEV[1]!r} END
           ::double precision AS em_min,
       CASE WHEN f.instrument = 'SPI-ACS' THEN {HC_KEV_M / _SPIACS_KEV[0]!r} END
           ::double precision AS em_max,
       NULL::double precision AS em_res_power,
       NULL::bigint AS em_xel,
       'phot.count;arith.rate'::varchar AS o_ucd,
       NULL::varchar AS pol_states,
       NULL::bigint AS pol_xel,
       'INTEGRAL'::varchar AS facility_name,
       f.instrument::varchar AS instrument_name
FROM isla.timeseries_files f
"""  # noqa: S608 - built from constants, no input
"""The ``UNION ALL`` branch of ``ivoa.obscore`` for the delivered time-series files.

With the ``simulated`` column the products branch is getting, append ``f.simulated``.
"""
