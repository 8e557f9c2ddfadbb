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
from concurrent.futures import ThreadPoolExecutor
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


Read = tuple[SegmentRef, int, int, int]
"""One planned read: segment, level (0: raw samples), first and end index at that level."""


def _fetch(
    source: ByteSource, parameter: str, reads: Sequence[Read], parallel: int
) -> list[npt.NDArray[Any]]:
    """The planned reads, in order; ``parallel`` > 1 overlaps them (object-store latency)."""

    def one(read: Read) -> npt.NDArray[Any]:
        seg, level, a, b = read
        if level == 0:
            return read_raw(source, seg, parameter, a, b)
        return read_level(source, seg, parameter, level, a, b)

    if parallel > 1 and len(reads) > 1:
        with ThreadPoolExecutor(max_workers=min(parallel, len(reads))) as pool:
            return list(pool.map(one, reads))
    return [one(r) for r in reads]


def reduce_plot(
    source: ByteSource,
    segments: Sequence[SegmentRef],
    parameter: str,
    start: float,
    stop: float,
    px: int,
    parallel: int = 1,
) -> PlotResult:
    """Reduce ``parameter`` over ``[start, stop)`` (TT seconds) to ``px`` columns.

    ``segments`` must be in time order and not overlap. The reads are planned first, then
    made (``parallel`` at a time), then reduced.
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
            result.simulated.add(seg.simulated)
    if result.samples_in_range <= SAMPLES_PER_PIXEL * px:
        result.mode = "samples"
        data = _fetch(source, parameter, [(s, 0, i0, i1) for s, i0, i1 in spans], parallel)
        times = [seg.t0 + np.arange(i0, i1) * seg.dt for seg, i0, i1 in spans]
        result.sample_time = np.concatenate(times) if times else np.empty(0)
        result.sample_value = (
            np.concatenate([d.astype(np.float64) for d in data]) if data else np.empty(0)
        )
        return result
    _new_columns(result)
    width = result.width
    # Buckets of every segment are gathered and reduced in one pass: segments are in time
    # order, so their columns stay non-decreasing, and a wide zoom over hundreds of segments
    # costs a handful of numpy calls per segment instead of dozens.
    parts: list[tuple[Any, ...] | None] = []
    reads: list[Read] = []
    for seg, i0, i1 in spans:
        whole = i0 == 0 and i1 == seg.n
        if whole and seg.n * seg.dt <= width / 2 and parameter in seg.summary:
            lo, hi, total, count = seg.summary[parameter]
            t_mid = (seg.t0 + seg.t_last) / 2
            parts.append(([t_mid], [seg.t0], [seg.t_last], [lo], [hi], [total], [count]))
            continue
        level = _choose_level(seg, width)
        if level == 0:
            reads.append((seg, 0, i0, i1))
        else:
            bucket = seg.layout.bucket(level)
            reads.append((seg, level, i0 // bucket, -(-i1 // bucket)))
        parts.append(None)  # filled from the read below, in the same order
    fetched = iter(_fetch(source, parameter, reads, parallel))
    plan = iter(reads)
    for k, part in enumerate(parts):
        if part is not None:
            continue
        seg, level, a, b = next(plan)
        values = next(fetched)
        if level == 0:
            t = seg.t0 + np.arange(a, b) * seg.dt
            valid = ~np.isnan(values)
            parts[k] = (t, t, t, values, values, np.where(valid, values, 0.0), valid)
            continue
        bucket = seg.layout.bucket(level)
        idx = np.arange(a, b)
        first = seg.t0 + (idx * bucket) * seg.dt
        last = seg.t0 + (np.minimum((idx + 1) * bucket, seg.n) - 1) * seg.dt
        parts[k] = (
            (first + last) / 2,
            first,
            last,
            values["min"],
            values["max"],
            values["sum"],
            values["count"],
        )
    filled = [p for p in parts if p is not None]
    if filled:
        columns = [
            np.concatenate([np.asarray(p[k], dtype=np.float64) for p in filled]) for k in range(7)
        ]
        _accumulate(result, *columns)
    levels = [level for _, level, _, _ in reads]
    result.level = min(levels) if levels else -1
    return result
