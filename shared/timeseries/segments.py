"""Segments of the serving copy: flat arrays with implicit time, and their pyramid.

A *segment* is a run of samples at a constant time step: sample ``i`` is at
``t0 + i * dt`` (TT seconds since IJD 0). Delivered samples are split into segments wherever
the step changes or a gap opens (instruments off in the radiation belts, telemetry gaps), so
time never has to be stored per sample. Invalid samples inside a segment are NaN.

One object holds a segment: each field's raw array, then, for each plottable field, the
pyramid levels. Level ``L`` has one record per bucket of ``FANOUT ** L`` samples:
``(min, max, sum, count)`` of the valid samples (min and max in the field's own type, so they
equal raw values exactly). Level 1 is not stored: at fan-out 8 it would cost 44 % of the raw
data, and a plot that would use it reads at most 64 raw samples per pixel column instead. The
levels above cost about 1/8 of the previous one, so the pyramid is a few percent of the raw data.

The byte layout follows from the segment's sample count and its :class:`Layout` alone, so the
database keeps only the layout (a small JSON) and readers compute the offsets of what they need.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "FANOUT",
    "FIRST_LEVEL",
    "Layout",
    "SegmentRef",
    "bucket_dtype",
    "build_segment",
    "rebin",
    "split_runs",
]

FANOUT = 8
"""Samples (or buckets) per bucket of the next level."""

FIRST_LEVEL = 2
"""Lowest stored pyramid level: buckets of ``FANOUT ** 2`` = 64 samples."""


def bucket_dtype(value_dtype: str) -> np.dtype[Any]:
    """Record of one pyramid bucket for values of ``value_dtype``."""
    return np.dtype([("min", value_dtype), ("max", value_dtype), ("sum", "<f8"), ("count", "<u4")])


@dataclass(frozen=True)
class Layout:
    """Where each array of a segment object lies."""

    n: int
    fields: tuple[tuple[str, str], ...]
    """(name, little-endian numpy dtype) of each raw array, in object order."""
    pyramid: tuple[str, ...]
    """Fields with pyramid levels."""
    fanout: int = FANOUT
    first_level: int = FIRST_LEVEL

    def dtype(self, name: str) -> np.dtype[Any]:
        """Numpy type of field ``name``."""
        for fname, dt in self.fields:
            if fname == name:
                return np.dtype(dt)
        raise KeyError(name)

    @property
    def levels(self) -> tuple[int, ...]:
        """Stored levels, finest first; the last has a single bucket."""
        levels: list[int] = []
        level = self.first_level
        while True:
            levels.append(level)
            if self.n_buckets(level) <= 1:
                return tuple(levels)
            level += 1

    def bucket(self, level: int) -> int:
        """Samples per bucket at ``level`` (1 for the raw level 0)."""
        return int(self.fanout**level)

    def n_buckets(self, level: int) -> int:
        """Buckets at ``level``."""
        b = self.bucket(level)
        return max(1, -(-self.n // b))

    def raw_offset(self, name: str) -> int:
        """Byte offset of field ``name``'s raw array."""
        offset = 0
        for fname, dt in self.fields:
            if fname == name:
                return offset
            offset += self.n * np.dtype(dt).itemsize
        raise KeyError(name)

    def _raw_size(self) -> int:
        return sum(self.n * np.dtype(dt).itemsize for _, dt in self.fields)

    def level_offset(self, name: str, level: int) -> int:
        """Byte offset of level ``level`` of field ``name``'s pyramid."""
        offset = self._raw_size()
        for pname in self.pyramid:
            rec = bucket_dtype(self.dtype(pname).str).itemsize
            for lev in self.levels:
                if pname == name and lev == level:
                    return offset
                offset += self.n_buckets(lev) * rec
        raise KeyError((name, level))

    @property
    def size(self) -> int:
        """Bytes of the whole segment object."""
        total = self._raw_size()
        for pname in self.pyramid:
            rec = bucket_dtype(self.dtype(pname).str).itemsize
            total += sum(self.n_buckets(lev) * rec for lev in self.levels)
        return total

    @property
    def raw_size(self) -> int:
        """Bytes of the raw arrays alone."""
        return self._raw_size()

    def to_json(self) -> dict[str, Any]:
        """JSON form kept in the segment index."""
        return {
            "n": self.n,
            "fields": [list(f) for f in self.fields],
            "pyramid": list(self.pyramid),
            "fanout": self.fanout,
            "first_level": self.first_level,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | str) -> Layout:
        """Inverse of :meth:`to_json`."""
        d = json.loads(data) if isinstance(data, str) else data
        return cls(
            n=int(d["n"]),
            fields=tuple((str(a), str(b)) for a, b in d["fields"]),
            pyramid=tuple(str(p) for p in d["pyramid"]),
            fanout=int(d["fanout"]),
            first_level=int(d["first_level"]),
        )


@dataclass(frozen=True)
class SegmentRef:
    """What the index knows of one segment (enough to plan any read)."""

    key: str
    t0: float
    """TT seconds since IJD 0 of sample 0."""
    dt: float
    layout: Layout
    summary: dict[str, tuple[float, float, float, int]] = field(default_factory=dict)
    """Per plottable field, (min, max, sum, count) over the whole segment (the pyramid root)."""
    simulated: bool = False
    revolution: int | None = None
    file_id: str | None = None

    @property
    def n(self) -> int:
        """Samples in the segment."""
        return self.layout.n

    @property
    def t_last(self) -> float:
        """Time of the last sample."""
        return self.t0 + (self.n - 1) * self.dt

    def index_range(self, start: float, stop: float) -> tuple[int, int]:
        """Sample indices ``[i0, i1)`` with times ``t0 + i * dt`` in ``[start, stop)``.

        Exact for the times as computed everywhere (``t0 + i * dt`` in float64): the estimate
        from a division is corrected by comparing those times with the bounds themselves.
        """
        return self._first_at_or_after(start), self._first_at_or_after(stop)

    def _first_at_or_after(self, t: float) -> int:
        i = int(min(max(np.ceil((t - self.t0) / self.dt), 0), self.n))
        while i > 0 and self.t0 + (i - 1) * self.dt >= t:
            i -= 1
        while i < self.n and self.t0 + i * self.dt < t:
            i += 1
        return i


def split_runs(times: npt.NDArray[Any], dt: float, tolerance: float) -> Iterator[tuple[int, int]]:
    """Index ranges ``[i0, i1)`` of ``times`` that lie on one grid ``t0 + k * dt``.

    A run ends where the step differs from ``dt`` by more than ``tolerance`` seconds, or where
    the accumulated drift from the grid would exceed it, so every implicit time is within
    ``tolerance`` of the delivered one.
    """
    n = len(times)
    if n == 0:
        return
    steps = np.diff(times)
    breaks = np.flatnonzero(np.abs(steps - dt) > tolerance) + 1
    bounds = [0, *breaks.tolist(), n]
    for a, b in itertools.pairwise(bounds):
        i0 = a
        while i0 < b:
            k = np.arange(b - i0, dtype=np.float64)
            drift = np.abs(times[i0:b] - (times[i0] + k * dt))
            bad = np.flatnonzero(drift > tolerance)
            i1 = i0 + int(bad[0]) if bad.size else b
            yield i0, i1
            i0 = i1


def _level_from_values(values: npt.NDArray[Any], bucket: int) -> npt.NDArray[Any]:
    nb = -(-len(values) // bucket)
    pad = nb * bucket - len(values)
    v = np.concatenate([values, np.full(pad, np.nan, dtype=values.dtype)]) if pad else values
    v = v.reshape(nb, bucket)
    out = np.empty(nb, dtype=bucket_dtype(values.dtype.str))
    valid = ~np.isnan(v)
    out["min"] = np.fmin.reduce(v, axis=1)
    out["max"] = np.fmax.reduce(v, axis=1)
    out["sum"] = np.where(valid, v, 0).sum(axis=1, dtype=np.float64)
    out["count"] = valid.sum(axis=1)
    return out


def _level_from_level(prev: npt.NDArray[Any], fanout: int) -> npt.NDArray[Any]:
    nb = -(-len(prev) // fanout)
    pad = nb * fanout - len(prev)
    if pad:
        filler = np.zeros(pad, dtype=prev.dtype)
        filler["min"] = np.nan
        filler["max"] = np.nan
        prev = np.concatenate([prev, filler])
    p = prev.reshape(nb, fanout)
    out = np.empty(nb, dtype=prev.dtype)
    out["min"] = np.fmin.reduce(p["min"], axis=1)
    out["max"] = np.fmax.reduce(p["max"], axis=1)
    out["sum"] = p["sum"].sum(axis=1)
    out["count"] = p["count"].sum(axis=1)
    return out


def build_segment(
    arrays: Mapping[str, npt.NDArray[Any]], pyramid: tuple[str, ...], fanout: int = FANOUT
) -> tuple[Layout, list[bytes], dict[str, tuple[float, float, float, int]]]:
    """The layout, byte chunks (in object order) and root summary of a segment's arrays.

    ``arrays`` maps each field name to its samples (all of one length; NaN marks invalid).
    """
    names = list(arrays)
    n = len(arrays[names[0]])
    fields = []
    for name in names:
        arr = arrays[name]
        if len(arr) != n:
            raise ValueError("segment arrays differ in length")
        fields.append((name, arr.dtype.newbyteorder("<").str))
    layout = Layout(n=n, fields=tuple(fields), pyramid=pyramid, fanout=fanout)
    chunks = [np.ascontiguousarray(arrays[name], dtype=dt).tobytes() for name, dt in fields]
    summary: dict[str, tuple[float, float, float, int]] = {}
    for pname in pyramid:
        values = np.ascontiguousarray(arrays[pname], dtype=layout.dtype(pname))
        level = _level_from_values(values, layout.bucket(layout.first_level))
        chunks.append(level.tobytes())
        for _lev in layout.levels[1:]:
            level = _level_from_level(level, fanout)
            chunks.append(level.tobytes())
        root = level[0]
        summary[pname] = (
            float(root["min"]),
            float(root["max"]),
            float(root["sum"]),
            int(root["count"]),
        )
    return layout, chunks, summary


def rebin(
    times: npt.NDArray[Any],
    rate: npt.NDArray[Any],
    error: npt.NDArray[Any],
    bin_s: float,
) -> tuple[npt.NDArray[Any], npt.NDArray[Any], npt.NDArray[Any], npt.NDArray[Any]]:
    """Rebin samples to bins of ``bin_s`` seconds aligned to multiples of ``bin_s`` in TT.

    Returns bin centres, mean rate of the valid samples, its uncertainty
    (sqrt of the summed variances over the count) and the count, for bins with valid samples.
    """
    valid = ~np.isnan(rate)
    t = times[valid]
    r = rate[valid].astype(np.float64)
    e = error[valid].astype(np.float64)
    if t.size == 0:
        empty = np.empty(0)
        return empty, empty, empty, np.empty(0, dtype=np.int32)
    index = np.floor(t / bin_s).astype(np.int64)
    first = int(index[0])
    rel = index - first
    count = np.bincount(rel)
    sums = np.bincount(rel, weights=r)
    var = np.bincount(rel, weights=np.where(np.isnan(e), 0.0, e * e))
    keep = np.flatnonzero(count)
    c = count[keep]
    centres = (keep + first + 0.5) * bin_s
    return centres, sums[keep] / c, np.sqrt(var[keep]) / c, c.astype(np.int32)
