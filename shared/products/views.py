"""Deterministic views of stored data: light curves from stored points, rebinning of stored
time series, PNG previews of stored images.

Pure functions on arrays (no I/O, no random numbers, no source model): the same stored data
always give the same view, in every format.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from shared.products.bands import DETECTION_SIGMA
from shared.products.ogip import LightCurve
from shared.products.readers import TimeSeriesTable

LC_SQL_COLUMNS = (
    "time_ijd",
    "duration",
    "exposure",
    "rate",
    "rate_err",
    "significance",
    "upper_limit",
    "rate_ul",
    "nscw",
)
"""Columns every light-curve query returns, in this order."""

WIDTH_TOLERANCE = 1e-3
"""Relative tolerance when checking that an asked bin width is a multiple of the stored one."""


def lightcurve_from_rows(rows: Sequence[Sequence[Any]]) -> LightCurve:
    """A :class:`LightCurve` from rows of :data:`LC_SQL_COLUMNS` (duration in seconds)."""
    arr = np.array(
        [[np.nan if v is None else float(v) for v in row] for row in rows], dtype=np.float64
    ).reshape(-1, len(LC_SQL_COLUMNS))
    return LightCurve(
        time=arr[:, 0],
        timedel=arr[:, 1] / 86400.0,
        rate=arr[:, 3],
        error=arr[:, 4],
        exposure=arr[:, 2],
        significance=arr[:, 5],
        upper_limit=arr[:, 6] > 0.5,
        rate_ul=arr[:, 7],
        nscw=arr[:, 8].astype(np.int32),
    )


def stored_width_s(series: TimeSeriesTable, fallback: float | None = None) -> float:
    """The bin width (s) of a stored time series: its TIMEDEL, else ``fallback``."""
    widths = series.timedel[np.isfinite(series.timedel)]
    if len(widths):
        return round(float(np.median(widths)) * 86400.0, 6)
    if fallback is None:
        raise ValueError("the time series gives no bin width")
    return float(fallback)


def multiple_of(asked_s: float, stored_s: float) -> int | None:
    """How many stored bins make one asked bin, or None when ``asked_s`` is no multiple."""
    if stored_s <= 0:
        return None
    k = round(asked_s / stored_s)
    if k < 1 or abs(asked_s - k * stored_s) > WIDTH_TOLERANCE * stored_s:
        return None
    return int(k)


def rebin(series: TimeSeriesTable, width_s: float, factor: int, t0: float, t1: float) -> LightCurve:
    """Stored bins of ``width_s`` seconds joined ``factor`` at a time, within [t0, t1) (IJD).

    Bins are joined only where they follow each other without a gap (one good-time interval),
    counted from the start of each interval; an incomplete group at the end of an interval is
    left out, as the stored series leaves out partial bins. Rates are exposure-weighted means,
    errors added in quadrature.
    """
    width_d = width_s / 86400.0
    order = np.argsort(series.time, kind="stable")
    time = series.time[order]
    inside = (time >= t0) & (time < t1)
    time = time[inside]
    rate = series.rate[order][inside]
    error = series.error[order][inside]
    weight = np.clip(series.fracexp[order][inside], 0.0, None)
    starts = time - width_d / 2
    # A new run starts wherever a bin does not begin where the previous one ended.
    gap = np.ones(len(time), dtype=bool)
    if len(time) > 1:
        gap[1:] = np.abs(starts[1:] - (starts[:-1] + width_d)) > WIDTH_TOLERANCE * width_d
    run = np.cumsum(gap) - 1
    position = np.arange(len(time)) - np.flatnonzero(gap)[run]
    group = position // factor
    keys = run * (len(time) + 1) + group
    out_t: list[float] = []
    out_r: list[float] = []
    out_e: list[float] = []
    out_w: list[float] = []
    for key in np.unique(keys):
        members = np.flatnonzero(keys == key)
        if len(members) < factor:
            continue
        w = weight[members]
        total = float(w.sum())
        if total <= 0:
            continue
        out_t.append(float(starts[members[0]] + factor * width_d / 2))
        out_r.append(float((w * rate[members]).sum() / total))
        out_e.append(float(math.sqrt(float(((w * error[members]) ** 2).sum())) / total))
        out_w.append(total / factor)
    n = len(out_t)
    r = np.array(out_r, dtype=np.float64)
    e = np.array(out_e, dtype=np.float64)
    sig = r / np.where(e > 0, e, np.nan)
    upper = ~(sig >= DETECTION_SIGMA)
    return LightCurve(
        time=np.array(out_t, dtype=np.float64),
        timedel=np.full(n, factor * width_d),
        rate=r,
        error=e,
        exposure=np.array(out_w, dtype=np.float64) * factor * width_s,
        significance=sig,
        upper_limit=upper,
        rate_ul=np.where(upper, np.maximum(r, 0.0) + DETECTION_SIGMA * e, np.nan),
        nscw=np.ones(n, dtype=np.int32),
    )


# --- PNG previews ------------------------------------------------------------------------------


def png(image: npt.NDArray[np.floating], *, flip: bool = True) -> bytes:
    """An 8-bit greyscale PNG of ``image`` (asinh stretch between the 1st and 99.7th
    percentiles; FITS row 0 is the bottom, so rows are flipped for display).

    Written by hand on purpose: a PNG is a zlib stream of filtered rows in three chunks, a
    dozen lines with numpy and zlib, while an imaging library (Pillow, matplotlib) would be a
    heavy dependency for this one use.
    """
    data = np.nan_to_num(np.asarray(image, dtype=np.float64))
    lo, hi = np.percentile(data, [1.0, 99.7]) if data.size else (0.0, 1.0)
    span = hi - lo if hi > lo else 1.0
    scaled = np.arcsinh(np.clip((data - lo) / span, 0.0, 1.0) * 10.0) / math.asinh(10.0)
    pixels = (scaled * 255.0).round().astype(np.uint8)
    if flip:
        pixels = pixels[::-1]
    height, width = pixels.shape
    raw = b"".join(b"\x00" + pixels[row].tobytes() for row in range(height))

    def chunk(tag: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(tag + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )
