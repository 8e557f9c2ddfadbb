"""ObsCore publishes the SPI-ACS and IREM time series: one row per delivered file.

Revision ID: 0023
Revises: 0019
Create Date: 2026-12-03

``ivoa.obscore`` gains a third branch: every file of ``isla.timeseries_files`` (one dataset and
revolution) as a ``timeseries`` of calibration level 1, collection ``INTEGRAL/ISLA time
series`` (with the `` (simulated demo)`` suffix and ``isla_simulated = 1`` for simulated
files), its ``access_url`` the DataLink document of the file (the file itself, its HAPI range,
its plot). SPI-ACS and IREM see the whole sky, so the spatial columns are NULL. The view text
and the TAP_SCHEMA description are frozen here: the migration imports no live module.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESERIES_BRANCH = """
UNION ALL
SELECT 'timeseries'::varchar,
       1,
       (CASE WHEN f.simulated THEN 'INTEGRAL/ISLA time series (simulated demo)'
             ELSE 'INTEGRAL/ISLA time series' END)::varchar,
       f.file_id::varchar,
       ('ivo://isla.integral/isla?timeseries/' || f.file_id)::varchar,
       (coalesce(current_setting('isla.products_url', true), '') || '/datalink?ID='
           || replace(replace(replace(replace(('ivo://isla.integral/isla?timeseries/'
           || f.file_id), '%', '%25'), '+', '%2B'), '&', '%26'), '#', '%23'))::varchar,
       'application/x-votable+xml;content=datalink'::varchar,
       ceil(f.size / 1024.0)::bigint,
       NULL::varchar,
       NULL::double precision,
       NULL::double precision,
       NULL::double precision,
       NULL::spoly,
       NULL::double precision,
       NULL::bigint,
       NULL::bigint,
       f.t_start + 51544.0,
       f.t_stop + 51544.0,
       (f.t_stop - f.t_start) * 86400.0 + f.timedel,
       f.timedel,
       f.n_samples,
       CASE WHEN f.instrument = 'SPI-ACS' THEN 1.239841984e-13 END::double precision,
       CASE WHEN f.instrument = 'SPI-ACS' THEN 1.5498024800000002e-11 END::double precision,
       NULL::double precision,
       NULL::bigint,
       'phot.count;arith.rate'::varchar,
       NULL::varchar,
       NULL::bigint,
       'INTEGRAL'::varchar,
       f.instrument::varchar,
       f.simulated::int::smallint
FROM isla.timeseries_files f
"""
"""The time-series branch appended to migration 0011's view (SPI-ACS: 80 keV to 10 MeV)."""

COLLECTION = (
    "Name of the data collection: INTEGRAL/ISLA raw, INTEGRAL/ISLA products or INTEGRAL/ISLA "
    "time series, followed by ' (simulated demo)' for simulated data."
)
COLLECTION_BEFORE = (
    "Name of the data collection: INTEGRAL/ISLA raw or INTEGRAL/ISLA products, followed by "
    "' (simulated demo)' for simulated data."
)


def _view_of(revision_file: str) -> str:
    """The frozen view SQL of an earlier migration (revision modules are not a package)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).with_name(revision_file)
    spec = importlib.util.spec_from_file_location(f"isla_migration_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.OBSCORE_VIEW)


OBSCORE_VIEW = _view_of("0011_simulated_flags.py").rstrip() + "\n" + TIMESERIES_BRANCH
"""The whole view of this revision."""


def _describe(text: str) -> None:
    op.execute(
        sa.text(
            "UPDATE tap_schema.columns SET description = :d "
            "WHERE table_name = 'ivoa.obscore' AND column_name = 'obs_collection'"
        ).bindparams(d=text)
    )


def upgrade() -> None:
    """Replace the view with the one that has the time-series branch."""
    op.execute(OBSCORE_VIEW)
    _describe(COLLECTION)


def downgrade() -> None:
    """Back to migration 0011's view."""
    op.execute("DROP VIEW ivoa.obscore")
    op.execute(_view_of("0011_simulated_flags.py"))
    op.execute("GRANT SELECT ON ivoa.obscore TO isla_reader")
    _describe(COLLECTION_BEFORE)
