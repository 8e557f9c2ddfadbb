"""Plot reduction (M4-style): min, max and mean per pixel column, from the level a zoom needs.

The request's time range is cut into ``px`` equal columns. Each segment contributes from the
coarsest pyramid level whose buckets still hold at most half a column, so every column gets
at least two buckets: a bucket goes to the column that holds its centre. The answer states,
per column, the times of the first and last sample it covers, and min / max / mean / count are
exact over those samples: a single sample out of line (a 50 ms spike) shows as the column's max
at every zoom. A segment no longer than half a column is one bucket itself: its summary comes
from the index and no byte is read. When the range holds no more than
``SAMPLES_PER_PIXEL * px`` samples, the samples themselves are returned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from shared.timeseries.reader import ByteSource, read_level, read_raw
from shared.timeseries.segments import SegmentRef

__all__ = ["SAMPLES_PER_PIXEL", "PlotResult", "reduce_plot"]

SAMPLES_PER_PIXEL = 1.5
"""At most this many samples per pixel column: answer with the samples themselves."""


@dataclass
class PlotResult:
    """The reduced curve of one parameter over ``[start, stop)``."""

    start: float
    stop: float
    px: int
    mode: str
    """``"m4"`` (columns) or ``"samples"``."""
    level: int = 0
    """Finest pyramid level used (0: raw samples)."""
    samples_in_range: int = 0
    col_min: npt.NDArray[np.float64] = field(default_factory=lambda: np.empty(0))
    col_max: npt.NDArray[np.float64] = field(default_factory=lambda: np.empty(0))
    col_sum: npt.NDArray[np.float64] = field(default_factory=lambda: np.empty(0))
    col_count: npt.NDArray[np.int64] = field(default_factory=lambda: np.empty(0, np.int64))
    col_first: npt.NDArray[np.float64] = field(default_factory=lambda: np.empty(0))
    col_last: npt.NDArray[np.float64] = field(default_factory=lambda: np.empty(0))
    sample_time: npt.NDArray[np.float64] = field(default_factory=lambda: np.empty(0))
    sample_value: npt.NDArray[np.float64] = field(default_factory=lambda: np.empty(0))
    simulated: set[bool] = field(default_factory=set)

    @property
    def width(self) -> float:
        """Seconds per column."""
        return (self.stop - self.start) / self.px

    @property
    def col_mean(self) -> npt.NDArray[np.float64]:
        """Mean of the valid samples of each column (NaN when none)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            out: npt.NDArray[np.float64] = self.col_sum / self.col_count
        return out


def _new_columns(result: PlotResult) -> None:
    px = result.px
    result.col_min = np.full(px, np.nan)
    result.col_max = np.full(px, np.nan)
    result.col_sum = np.zeros(px)
    result.col_count = np.zeros(px, dtype=np.int64)
    result.col_first = np.full(px, np.inf)
    result.col_last = np.full(px, -np.inf)


def _accumulate(
    result: PlotResult,
    centres: npt.NDArray[Any],
    first: npt.NDArray[Any],
    last: npt.NDArray[Any],
    mins: npt.NDArray[Any],
    maxs: npt.NDArray[Any],
    sums: npt.NDArray[Any],
    counts: npt.NDArray[Any],
) -> None:
    """Add buckets (or samples) with these centre times to their columns."""
    col = np.floor((centres - result.start) / result.width).astype(np.int64)
    keep = (centres >= result.start) & (centres < result.stop)
    if not keep.all():
        col, first, last = col[keep], first[keep], last[keep]
        mins, maxs, sums, counts = mins[keep], maxs[keep], sums[keep], counts[keep]
    if col.size == 0:
        return
    np.clip(col, 0, result.px - 1, out=col)
    # Columns are non-decreasing along a segment: reduce each run of equal columns at once.
    starts = np.flatnonzero(np.r_[True, col[1:] != col[:-1]])
    cols = col[starts]
    mins64 = mins.astype(np.float64)
    maxs64 = maxs.astype(np.float64)
    result.col_min[cols] = np.fmin(result.col_min[cols], np.fmin.reduceat(mins64, starts))
    result.col_max[cols] = np.fmax(result.col_max[cols], np.fmax.reduceat(maxs64, starts))
    result.col_sum[cols] += np.add.reduceat(sums.astype(np.float64), starts)
    result.col_count[cols] += np.add.reduceat(counts.astype(np.int64), starts)
    result.col_first[cols] = np.minimum(result.col_first[cols], first[starts])
    ends = np.r_[starts[1:], col.size] - 1
    result.col_last[cols] = np.maximum(result.col_last[cols], last[ends])


def _choose_level(seg: SegmentRef, width: float) -> int:
    """Coarsest stored level with buckets of at most half a column (0: raw samples)."""
    per_column = width / seg.dt
    chosen = 0
    for level in seg.layout.levels:
        if seg.layout.bucket(level) <= per_column / 2:
            chosen = level
        else:
            break
    return chosen


def reduce_plot(
    source: ByteSource,
    segments: Sequence[SegmentRef],
    parameter: str,
    start: float,
    stop: float,
    px: int,
) -> PlotResult:
    """Reduce ``parameter`` over ``[start, stop)`` (TT seconds) to ``px`` columns.

    ``segments`` must be in time order and not overlap.
    """
    if not stop > start or px < 1:
        raise ValueError("need start < stop and px >= 1")
    result = PlotResult(start=start, stop=stop, px=px, mode="m4")
    spans = []
    for seg in segments:
        i0, i1 = seg.index_range(start, stop)
        if i1 > i0:
            spans.append((seg, i0, i1))
            result.samples_in_range += i1 - i0
    if result.samples_in_range <= SAMPLES_PER_PIXEL * px:
        result.mode = "samples"
        times, values = [], []
        for seg, i0, i1 in spans:
            v = read_raw(source, seg, parameter, i0, i1).astype(np.float64)
            t = seg.t0 + np.arange(i0, i1) * seg.dt
            times.append(t)
            values.append(v)
            result.simulated.add(seg.simulated)
        result.sample_time = np.concatenate(times) if times else np.empty(0)
        result.sample_value = np.concatenate(values) if values else np.empty(0)
        return result
    _new_columns(result)
    width = result.width
    finest: int | None = None
    # Buckets of every segment are gathered and reduced in one pass: segments are in time
    # order, so their columns stay non-decreasing, and a wide zoom over hundreds of segments
    # costs a handful of numpy calls per segment instead of dozens.
    parts: list[tuple[Any, ...]] = []
    for seg, i0, i1 in spans:
        result.simulated.add(seg.simulated)
        whole = i0 == 0 and i1 == seg.n
        if whole and seg.n * seg.dt <= width / 2 and parameter in seg.summary:
            lo, hi, total, count = seg.summary[parameter]
            t_mid = (seg.t0 + seg.t_last) / 2
            parts.append(([t_mid], [seg.t0], [seg.t_last], [lo], [hi], [total], [count]))
            continue
        level = _choose_level(seg, width)
        finest = level if finest is None else min(finest, level)
        if level == 0:
            v = read_raw(source, seg, parameter, i0, i1)
            t = seg.t0 + np.arange(i0, i1) * seg.dt
            valid = ~np.isnan(v)
            parts.append((t, t, t, v, v, np.where(valid, v, 0.0), valid))
            continue
        bucket = seg.layout.bucket(level)
        b0, b1 = i0 // bucket, -(-i1 // bucket)
        rec = read_level(source, seg, parameter, level, b0, b1)
        idx = np.arange(b0, b1)
        first = seg.t0 + (idx * bucket) * seg.dt
        last = seg.t0 + (np.minimum((idx + 1) * bucket, seg.n) - 1) * seg.dt
        parts.append(
            ((first + last) / 2, first, last, rec["min"], rec["max"], rec["sum"], rec["count"])
        )
    if parts:
        columns = [
            np.concatenate([np.asarray(p[k], dtype=np.float64) for p in parts]) for k in range(7)
        ]
        _accumulate(result, *columns)
    result.level = finest if finest is not None else -1
    return result
