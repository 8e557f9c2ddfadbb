"""Sensitivity tables into the pixel-major store ``isla_ops.sensitivity``.

A delivered table has one row per HEALPix pixel and science window. Per pixel, its science
windows are merged with those already stored for the band (a re-delivered ScW replaces the
stored one; deliveries of other revolutions add to it), and two rows are written: the per-ScW
arrays (``binning = 'scw'``) and the per-revolution ones derived from them (exposures summed,
1σ sensitivities combined with inverse-variance weights, :func:`shared.products.upperlimits.
by_revolution`). Both in the delivery's transaction, beside its product row.

A table that only adds later revolutions to every pixel it touches (a pipeline delivering the
mission in time order) is appended in SQL: the stored arrays are not read back and sent again,
which made each delivery slower than the last.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, text

from services.ingest import qc
from shared.db import arrays
from shared.products import upperlimits

_SCW_PER_REVOLUTION = 10**8
"""A ScW id ``RRRRPPPPSSSF`` as an integer, divided by this, is its revolution."""

_INSERT = (
    "INSERT INTO isla_ops.sensitivity (band_id, binning, hpx, hpx_order, instrument, bin_id, "
    "t_start, t_stop, exposure, rate_sigma, nscw, crab_count_rate, simulated) VALUES (:band_id, "
    ":binning, :hpx, :hpx_order, :instrument, :bin_id, :t_start, :t_stop, :exposure, "
    ":rate_sigma, :nscw, :crab_count_rate, :simulated) "
)

_ARRAYS = ("bin_id", "t_start", "t_stop", "exposure", "rate_sigma", "nscw")
_SCALARS = ("hpx_order", "instrument", "crab_count_rate", "simulated")
_ON_CONFLICT = "ON CONFLICT (band_id, binning, hpx) DO UPDATE SET "

_UPSERT = text(
    _INSERT + _ON_CONFLICT + ", ".join(f"{c} = EXCLUDED.{c}" for c in _ARRAYS + _SCALARS)
)
"""A pixel's rows written whole (the merged arrays)."""

_APPEND = text(
    _INSERT
    + _ON_CONFLICT
    + ", ".join(
        [f"{c} = isla_ops.sensitivity.{c} || EXCLUDED.{c}" for c in _ARRAYS]
        + [f"{c} = EXCLUDED.{c}" for c in _SCALARS]
    )
)
"""The rows of a table that only adds later revolutions, appended to the stored arrays."""


def _stored(conn: Connection, band_id: int, pixels: list[int]) -> dict[int, Any]:
    """The stored per-ScW rows of ``pixels`` (locked: a concurrent delivery waits)."""
    rows = conn.execute(
        text(
            "SELECT hpx, bin_id, t_start, t_stop, exposure, rate_sigma "
            "FROM isla_ops.sensitivity WHERE band_id = :b AND binning = 'scw' "
            "AND hpx = ANY(:p) FOR UPDATE"
        ),
        {"b": band_id, "p": pixels},
    )
    return {int(r.hpx): r for r in rows}


def load_sensitivity(conn: Connection, facts: qc.FileFacts, row: dict[str, Any]) -> int:
    """Merge a sensitivity table into the pixel-major store; return the rows it brought."""
    rows = facts.sensitivity
    if rows is None or not len(rows.hpx):
        return 0
    band_id = int(row["band_id"])
    ids = rows.scw_id.astype(np.int64)
    order = np.lexsort((rows.t_start, rows.hpx))
    hpx = rows.hpx[order]
    starts = np.flatnonzero(np.r_[True, hpx[1:] != hpx[:-1]])
    ends = np.r_[starts[1:], hpx.size]
    pixels = [int(p) for p in hpx[starts]]
    common = {
        "band_id": band_id,
        "hpx_order": rows.order,
        "instrument": str(row["instrument"]),
        "crab_count_rate": rows.crab_count_rate,
        "simulated": bool(row.get("simulated")),
    }
    first_revolution = ids[order][starts] // _SCW_PER_REVOLUTION
    first_start = rows.t_start[order][starts]
    appends = _appends(conn, band_id, pixels, first_revolution, first_start)
    stored = {} if appends else _stored(conn, band_id, pixels)
    params: list[dict[str, Any]] = []
    for pixel, a, b in zip(pixels, starts, ends, strict=True):
        take = order[a:b]
        bin_id = ids[take]
        t0, t1 = rows.t_start[take], rows.t_stop[take]
        exposure, sigma = rows.exposure[take], rows.rate_sigma[take]
        old = stored.get(pixel)
        if old is not None:
            keep = ~np.isin(np.asarray(old.bin_id, dtype=np.int64), bin_id)
            bin_id = np.r_[np.asarray(old.bin_id, dtype=np.int64)[keep], bin_id]
            t0 = np.r_[np.asarray(old.t_start)[keep], t0]
            t1 = np.r_[np.asarray(old.t_stop)[keep], t1]
            exposure = np.r_[np.asarray(old.exposure)[keep], exposure]
            sigma = np.r_[np.asarray(old.rate_sigma)[keep], sigma]
            by_time = np.argsort(t0, kind="stable")
            bin_id, t0, t1 = bin_id[by_time], t0[by_time], t1[by_time]
            exposure, sigma = exposure[by_time], sigma[by_time]
        params.append(
            {
                **common,
                "binning": "scw",
                "hpx": pixel,
                "bin_id": arrays.Int8s(bin_id),
                "t_start": arrays.Float8s(t0),
                "t_stop": arrays.Float8s(t1),
                "exposure": arrays.Float8s(exposure),
                "rate_sigma": arrays.Float8s(sigma),
                "nscw": arrays.Int4s(np.ones(bin_id.size)),
            }
        )
        revs = upperlimits.by_revolution(bin_id // _SCW_PER_REVOLUTION, t0, t1, exposure, sigma)
        params.append(
            {
                **common,
                "binning": "revolution",
                "hpx": pixel,
                "bin_id": arrays.Int8s(revs.ids),
                "t_start": arrays.Float8s(revs.t_start),
                "t_stop": arrays.Float8s(revs.t_stop),
                "exposure": arrays.Float8s(revs.exposure),
                "rate_sigma": arrays.Float8s(revs.rate_sigma),
                "nscw": arrays.Int4s(revs.nscw),
            }
        )
    arrays.register(conn)
    conn.execute(_APPEND if appends else _UPSERT, params)
    return int(rows.hpx.size)


def _appends(
    conn: Connection,
    band_id: int,
    pixels: list[int],
    first_revolution: npt.NDArray[np.int64],
    first_start: npt.NDArray[np.float64],
) -> bool:
    """Whether the table only adds later revolutions to every pixel it touches (as a pipeline
    delivers the mission in time order): its rows then go after the stored ones, per ScW and
    per revolution, and the stored arrays need not be read back. The pixels are locked."""
    stored = conn.execute(
        text(
            "SELECT hpx, bin_id[cardinality(bin_id)] AS last_scw, "
            "t_start[cardinality(t_start)] AS last_start FROM isla_ops.sensitivity "
            "WHERE band_id = :b AND binning = 'scw' AND hpx = ANY(:p) ORDER BY hpx FOR UPDATE"
        ),
        {"b": band_id, "p": pixels},
    ).all()
    index = {pixel: k for k, pixel in enumerate(pixels)}
    for last in stored:
        k = index[int(last.hpx)]
        if last.last_scw is None:
            continue
        if int(last.last_scw) // _SCW_PER_REVOLUTION >= int(first_revolution[k]):
            return False
        if float(last.last_start) >= float(first_start[k]):
            return False
    return True
