"""SQL of the light-curve room: stored points (per ScW, or binned by Postgres), OMC points,
and the stored sub-ScW time series."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.integral.time import MJDREF
from shared.products.bands import DETECTION_SIGMA

POINTS_SQL = (
    "SELECT time_ijd, duration, exposure, rate, rate_err, significance, "
    "upper_limit::int, rate_ul, 1 AS nscw, scw_id FROM isla.lightcurve_points "
    "WHERE source_id = :s AND band_id = :b AND time_ijd >= :t0 AND time_ijd < :t1 "
    "ORDER BY scw_id"
)
"""The per-ScW points of one source and band in [t0, t1) (IJD)."""

# Exposure-weighted means per group (a revolution, or a time bin), computed by Postgres.
_BINNED_SQL = """
WITH g AS (
    SELECT {group} AS k,
           min(time_ijd - duration / 172800.0) AS t0,
           max(time_ijd + duration / 172800.0) AS t1,
           sum(exposure) AS exposure,
           sum(rate * exposure) / sum(exposure) AS rate,
           sqrt(sum((rate_err * exposure) ^ 2)) / sum(exposure) AS rate_err,
           count(*) AS nscw
      FROM isla.lightcurve_points
     WHERE source_id = :s AND band_id = :b AND time_ijd >= :t0 AND time_ijd < :t1
       AND exposure > 0
     GROUP BY k)
SELECT (t0 + t1) / 2, (t1 - t0) * 86400.0, exposure, rate, rate_err, rate / rate_err,
       (rate / rate_err < {sigma})::int,
       CASE WHEN rate / rate_err < {sigma} THEN greatest(rate, 0) + {sigma} * rate_err END,
       nscw, k::text
  FROM g ORDER BY t0
"""

_LC_OUTPUT = """
SELECT t, t + {mjdref}, d, rate, err, exp, least(exp / nullif(d, 0), 1.0), sig, ul::boolean,
       rate_ul, nscw::int, k::text
  FROM ({inner}) AS q(t, d, exp, rate, err, sig, ul, rate_ul, nscw, k)
"""


def binned_sql(kind: str) -> str:
    """SQL of a light curve binned by ``revolution`` or by a bin width in seconds (``:w``)."""
    group = "revolution" if kind == "revolution" else "floor(time_ijd * 86400.0 / :w)"
    return _BINNED_SQL.format(group=group, sigma=DETECTION_SIGMA)


def rows_sql(kind: str) -> str:
    """SQL of the row formats (the columns of the JSON/CSV/VOTable answers), streamed."""
    inner = POINTS_SQL if kind == "scw" else binned_sql(kind)
    return _LC_OUTPUT.format(mjdref=MJDREF, inner=inner)


def points(
    conn: Connection, source_id: str, band_id: int, kind: str, seconds: float, t0: float, t1: float
) -> tuple[list[tuple[Any, ...]], list[str]]:
    """Light-curve rows (9 columns) plus a key per row (ScW id, revolution or bin number)."""
    params: dict[str, Any] = {"s": source_id, "b": band_id, "t0": t0, "t1": t1}
    if kind == "scw":
        sql = POINTS_SQL
    else:
        sql = binned_sql(kind)
        params["w"] = seconds
    rows = conn.execute(text(sql), params).all()
    return [tuple(r[:9]) for r in rows], [str(r[9]) for r in rows]


def points_simulated(
    conn: Connection, source_id: str, band_id: int | None, t0: float, t1: float
) -> bool:
    """Whether any stored point of the source in [t0, t1) (IJD) is simulated: in ``band_id``
    (``lightcurve_points``), or its OMC points when ``band_id`` is None."""
    if band_id is None:
        sql = (
            "SELECT coalesce(bool_or(simulated), false) FROM isla.omc_points "
            "WHERE source_id = :s AND time_ijd >= :t0 AND time_ijd < :t1"
        )
    else:
        sql = (
            "SELECT coalesce(bool_or(simulated), false) FROM isla.lightcurve_points "
            "WHERE source_id = :s AND band_id = :b AND time_ijd >= :t0 AND time_ijd < :t1"
        )
    params = {"s": source_id, "b": band_id, "t0": t0, "t1": t1}
    return bool(conn.execute(text(sql), params).scalar())


def bands_with_points(conn: Connection, source_id: str) -> dict[str, list[str]]:
    """The bands in which the source has stored points, per instrument."""
    out: dict[str, list[str]] = {}
    for instrument, name in conn.execute(
        text(
            "SELECT e.instrument, e.name FROM isla.energy_bands e WHERE EXISTS ("
            "SELECT 1 FROM isla.lightcurve_points p WHERE p.source_id = :s "
            "AND p.band_id = e.band_id) ORDER BY e.band_id"
        ),
        {"s": source_id},
    ):
        out.setdefault(instrument, []).append(name)
    return out


def omc_rows(conn: Connection, source_id: str, t0: float, t1: float) -> list[Any]:
    """The source's stored OMC points in [t0, t1)."""
    return list(
        conn.execute(
            text(
                "SELECT time_ijd, time_ijd + :mjdref, magnitude, magnitude_err, exposure, scw_id "
                "FROM isla.omc_points WHERE source_id = :s AND time_ijd >= :t0 AND time_ijd < :t1 "
                "ORDER BY scw_id"
            ),
            {"s": source_id, "t0": t0, "t1": t1, "mjdref": MJDREF},
        ).all()
    )


def short_series(conn: Connection, source_id: str, instrument: str) -> list[Any]:
    """Every stored sub-ScW time series of the source for an instrument (any band)."""
    return list(
        conn.execute(
            text(
                "SELECT p.*, e.name AS band FROM isla.products p "
                "LEFT JOIN isla.energy_bands e ON e.band_id = p.band_id "
                "WHERE p.kind = 'short_timeseries' AND p.source_id = :s "
                "AND (p.instrument = :i OR p.instrument LIKE :unit) ORDER BY p.t_min, p.product_id"
            ),
            {"s": source_id, "i": instrument, "unit": instrument + "_"},
        ).all()
    )


async def stream_batches(
    engine: AsyncEngine, kind: str, params: dict[str, Any], size: int
) -> AsyncIterator[list[tuple[Any, ...]]]:
    """The rows of :func:`rows_sql` in batches, from a server-side cursor (the connection is
    held only while the answer streams)."""
    async with engine.connect() as conn:
        result = await conn.stream(text(rows_sql(kind)), params)
        async for batch in result.partitions(size):
            yield [tuple(r) for r in batch]
