"""Sensitivity tables into the pixel-major store ``isla_ops.sensitivity``.

A delivered table has one row per HEALPix pixel and science window. Per pixel, its science
windows are merged with those already stored for the band (a re-delivered ScW replaces the
stored one; deliveries of other revolutions add to it), and two rows are written: the per-ScW
arrays (``binning = 'scw'``) and the per-revolution ones derived from them (exposures summed,
1σ sensitivities combined with inverse-variance weights, :func:`shared.products.upperlimits.
by_revolution`). Both in the delivery's transaction, beside its product row.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, text

from services.ingest import qc
from shared.products import upperlimits

_SCW_PER_REVOLUTION = 10**8
"""A ScW id ``RRRRPPPPSSSF`` as an integer, divided by this, is its revolution."""

_UPSERT = text(
    "INSERT INTO isla_ops.sensitivity (band_id, binning, hpx, hpx_order, instrument, bin_id, "
    "t_start, t_stop, exposure, rate_sigma, nscw, crab_count_rate, simulated) VALUES (:band_id, "
    ":binning, :hpx, :hpx_order, :instrument, :bin_id, :t_start, :t_stop, :exposure, "
    ":rate_sigma, :nscw, :crab_count_rate, :simulated) "
    "ON CONFLICT (band_id, binning, hpx) DO UPDATE "
    "SET hpx_order = EXCLUDED.hpx_order, instrument = EXCLUDED.instrument, "
    "bin_id = EXCLUDED.bin_id, t_start = EXCLUDED.t_start, t_stop = EXCLUDED.t_stop, "
    "exposure = EXCLUDED.exposure, rate_sigma = EXCLUDED.rate_sigma, nscw = EXCLUDED.nscw, "
    "crab_count_rate = EXCLUDED.crab_count_rate, simulated = EXCLUDED.simulated"
)


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


def _floats(values: npt.NDArray[Any]) -> list[float]:
    return [float(v) for v in values]


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
    stored = _stored(conn, band_id, pixels)
    params: list[dict[str, Any]] = []
    common = {
        "band_id": band_id,
        "hpx_order": rows.order,
        "instrument": str(row["instrument"]),
        "crab_count_rate": rows.crab_count_rate,
        "simulated": bool(row.get("simulated")),
    }
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
                "bin_id": [int(v) for v in bin_id],
                "t_start": _floats(t0),
                "t_stop": _floats(t1),
                "exposure": _floats(exposure),
                "rate_sigma": _floats(sigma),
                "nscw": [1] * int(bin_id.size),
            }
        )
        revs = upperlimits.by_revolution(bin_id // _SCW_PER_REVOLUTION, t0, t1, exposure, sigma)
        params.append(
            {
                **common,
                "binning": "revolution",
                "hpx": pixel,
                "bin_id": [int(v) for v in revs.ids],
                "t_start": _floats(revs.t_start),
                "t_stop": _floats(revs.t_stop),
                "exposure": _floats(revs.exposure),
                "rate_sigma": _floats(revs.rate_sigma),
                "nscw": [int(v) for v in revs.nscw],
            }
        )
    conn.execute(_UPSERT, params)
    return int(rows.hpx.size)
