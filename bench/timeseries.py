"""Time-series benchmark: plots at random zooms and HAPI binary over >= 10⁹ samples at 50 ms.

Builds a synthetic SPI-ACS-like series in a temporary folder (not kept): ``--samples`` samples
at 50 ms (default 10⁹, about 1.6 years), cut into revolution-sized segments of 4.5 million
samples separated by 8-hour perigee gaps, each written as one segment object with its pyramid
exactly as the ingest path writes it (``shared.timeseries.segments.build_segment``), with one
single-sample spike. The folder is read as the serving copy's local cache
(``shared.timeseries.reader.DirSource``), with the segment index held in memory. Measured:

- plot requests at random zooms, log-uniform from 5 s to the whole span, 2,000 pixel columns:
  server time of the reduction plus the binary encoding (p50, p99), with the page cache of the
  segment files dropped before each request (``posix_fadvise(DONTNEED)``: cold) and without;
  bytes read per request and bytes per response; the spike must be the maximum every time;
- the pyramid's size as a fraction of the raw samples;
- HAPI binary: records encoded per second and MB/s by the same stream the service sends
  (``services.products.timeseries.hapi.stream``), over one day of samples.

Usage: ``python -m bench timeseries [--samples 1000000000] [--queries 300] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from services.products.timeseries import hapi
from services.products.timeseries.service import PlotRequest, encode_binary
from shared.timeseries.datasets import DATASETS
from shared.timeseries.plot import reduce_plot
from shared.timeseries.reader import CountingSource, DirSource
from shared.timeseries.segments import SegmentRef, build_segment
from shared.timeseries.times import parse_iso

DT = 0.05
SEGMENT = 4_500_000
GAP_S = 8 * 3600.0
START = parse_iso("2008-01-01T00:00:00")


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def build(folder: Path, samples: int, seed: int = 1) -> tuple[list[SegmentRef], float, int, int]:
    """Write the synthetic segments; returns them, the spike time, raw and pyramid bytes."""
    rng = np.random.default_rng(seed)
    segments: list[SegmentRef] = []
    t0 = START
    raw_bytes = pyramid_bytes = 0
    n_segments = -(-samples // SEGMENT)
    spike_segment = int(rng.integers(0, n_segments))
    spike_time = 0.0
    left = samples
    k = 0
    began = time.perf_counter()
    while left > 0:
        n = min(SEGMENT, left)
        phase = np.linspace(0, 2 * np.pi, n, dtype=np.float32)
        values = (80_000.0 + 8_000.0 * np.sin(phase)).astype(np.float32)
        values += rng.standard_normal(n, dtype=np.float32) * np.float32(1_300.0)
        if k == spike_segment:
            i = int(rng.integers(0, n))
            values[i] = 2_000_000.0
            spike_time = t0 + i * DT
        layout, chunks, summary = build_segment({"rate": values}, ("rate",))
        name = f"{k:05d}.seg"
        with (folder / name).open("wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
        raw_bytes += layout.raw_size
        pyramid_bytes += layout.size - layout.raw_size
        segments.append(SegmentRef(name, t0, DT, layout, summary))
        t0 += n * DT + GAP_S
        left -= n
        k += 1
        if k % 20 == 0:
            rate = (samples - left) / (time.perf_counter() - began)
            _say(f"  built {samples - left:,} samples ({rate / 1e6:.1f} M/s)")
    return segments, spike_time, raw_bytes, pyramid_bytes


def _drop_cache(folder: Path) -> None:
    for path in folder.iterdir():
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def plots(
    folder: Path, segments: list[SegmentRef], spike: float, queries: int, cold: bool, seed: int
) -> dict[str, Any]:
    """Random-zoom plot requests containing the spike; timings and sizes."""
    rng = np.random.default_rng(seed)
    ds = DATASETS["spiacs_50ms"]
    whole = segments[-1].t_last - segments[0].t0 + DT
    times, sizes, reads = [], [], []
    source_dir = DirSource(folder)
    for _ in range(queries):
        span = float(np.exp(rng.uniform(np.log(5.0), np.log(whole))))
        start = spike - rng.uniform(0.01, 0.99) * span
        if cold:
            source_dir.close()
            _drop_cache(folder)
        source = CountingSource(source_dir)
        req = PlotRequest(ds, "rate", start, start + span, 2000, True)
        began = time.perf_counter()
        # The index lookup a database does with its (dataset, t_start) index.
        chosen = [s for s in segments if s.t_last >= start and s.t0 < start + span]
        result = reduce_plot(source, chosen, "rate", req.start, req.stop, req.px)
        body = encode_binary(req, result, source.bytes_read)
        times.append((time.perf_counter() - began) * 1000)
        peak = result.sample_value if result.mode == "samples" else result.col_max
        if np.nanmax(peak) != 2_000_000.0:
            raise AssertionError(f"spike lost at span {span:.1f} s")
        sizes.append(len(body))
        reads.append(source.bytes_read)
    source_dir.close()
    return {
        "queries": queries,
        "page_cache": "dropped before each request" if cold else "warm",
        "p50_ms": round(_pct(times, 0.5), 2),
        "p99_ms": round(_pct(times, 0.99), 2),
        "max_ms": round(max(times), 2),
        "response_bytes_median": int(statistics.median(sizes)),
        "response_bytes_max": max(sizes),
        "bytes_read_median": int(statistics.median(reads)),
        "bytes_read_max": max(reads),
        "spike_visible": "every request",
    }


def hapi_binary(folder: Path, segments: list[SegmentRef], seconds: float) -> dict[str, Any]:
    """Encode ``seconds`` of samples as HAPI binary, as the service streams them."""
    ds = DATASETS["spiacs_50ms"]
    start = segments[0].t0
    req = hapi.DataRequest(ds, start, start + seconds, ("rate",), "binary", False)
    source = DirSource(folder)
    began = time.perf_counter()
    total = sum(len(chunk) for chunk in hapi.stream(source, segments, req, {}))
    took = time.perf_counter() - began
    source.close()
    rows = total // (27 + 8)
    return {
        "seconds_of_data": seconds,
        "records": rows,
        "bytes": total,
        "MB_per_s": round(total / took / 1e6, 1),
        "records_per_s": int(rows / took),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench timeseries")
    parser.add_argument("--samples", type=int, default=1_000_000_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--hapi-seconds", type=float, default=86400.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    # Stopped with SIGTERM, still remove the gigabytes of the temporary folder.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="isla-bench-ts-") as tmp:
        folder = Path(tmp)
        _say(f"building {args.samples:,} samples at 50 ms in {folder} ...")
        began = time.perf_counter()
        segments, spike, raw, pyramid = build(folder, args.samples)
        build_s = time.perf_counter() - began
        _say(f"built in {build_s:.0f} s; plots ...")
        report = {
            "samples": args.samples,
            "segments": len(segments),
            "span_days": round((segments[-1].t_last - segments[0].t0) / 86400, 1),
            "raw_bytes": raw,
            "pyramid_bytes": pyramid,
            "pyramid_ratio": round(pyramid / raw, 4),
            "build_s": round(build_s, 1),
            "build_samples_per_s": int(args.samples / build_s),
            "plot_warm": plots(folder, segments, spike, args.queries, False, 2),
            "plot_cold": plots(folder, segments, spike, args.queries, True, 3),
            "hapi_binary": hapi_binary(folder, segments, args.hapi_seconds),
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
        }
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0
