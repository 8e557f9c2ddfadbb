"""Policy of the time-series room: plot requests, their encodings, links and download scripts.

Plot answers come in two encodings. JSON states everything (times as IJD and ISO UTC, the
first and last sample each column covers). The binary form is for interactive plots: a small
JSON header, then little-endian typed arrays (no Arrow dependency), about 36 kB for 2,000
pixel columns::

    b"ISLATS1\\0" | uint32 header length | header JSON | arrays

The header JSON is space-padded so that the arrays start at a multiple of 8 bytes, and each
array is zero-padded to a multiple of 8 bytes (so a browser can view every one as a typed
array in place). The header lists the arrays (``name``, ``dtype``, ``length``) in order.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

from shared.integral.time import MISSION_END, MISSION_START
from shared.timeseries.datasets import DATASETS, Dataset
from shared.timeseries.plot import PlotResult
from shared.timeseries.times import format_utc, ijd_of, parse_iso, tt_of_time, utc_iso

__all__ = [
    "BINARY_MAGIC",
    "MAX_PX",
    "PlotError",
    "PlotRequest",
    "decode_binary",
    "download_script",
    "encode_binary",
    "encode_json",
    "parse_plot_request",
]

MAX_PX = 10_000
"""Most pixel columns of one plot (a 4K screen, with margin)."""

MIN_SPAN_S = 1e-3
MAX_SPAN_S = 30 * 365.25 * 86400.0
BINARY_MAGIC = b"ISLATS1\0"

MISSION_FIRST = tt_of_time(MISSION_START)
MISSION_LAST = tt_of_time(MISSION_END)


class PlotError(ValueError):
    """A plot request that cannot be answered (HTTP ``status``, problem+json)."""

    def __init__(self, status: int, detail: str) -> None:
        """Error with an HTTP status."""
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class PlotRequest:
    """A checked plot request."""

    dataset: Dataset
    parameter: str
    start: float
    stop: float
    px: int
    binary: bool


def _instant(text: str, what: str) -> float:
    """TT seconds of an ISO UTC time or of an IJD given as a number."""
    try:
        return float(text) * 86400.0
    except ValueError:
        pass
    try:
        return parse_iso(text)
    except ValueError:
        raise PlotError(400, f"{what} must be an ISO 8601 UTC time or an IJD number") from None


def parse_plot_request(
    dataset: str,
    start: str | None,
    stop: str | None,
    px: str | None,
    parameter: str | None,
    fmt: str | None,
    around: str | None = None,
    half_width: str | None = None,
) -> PlotRequest:
    """Check a plot request; PlotError with the reason otherwise."""
    ds = DATASETS.get(dataset)
    if ds is None:
        raise PlotError(404, f"no time-series dataset {dataset!r}; known: {', '.join(DATASETS)}")
    name = parameter or ds.plot_parameters[0]
    if name not in ds.plot_parameters:
        raise PlotError(
            400, f"{dataset} plots the parameters {', '.join(ds.plot_parameters)}, not {name!r}"
        )
    if around is not None:
        if start is not None or stop is not None:
            raise PlotError(400, "give start and stop, or around (with half_width), not both")
        centre = _instant(around, "around")
        try:
            half = float(half_width) if half_width is not None else 300.0
        except ValueError:
            raise PlotError(400, "half_width must be a number of seconds") from None
        if not 0 < half <= MAX_SPAN_S / 2:
            raise PlotError(400, "half_width must be positive and at most 15 years")
        t0, t1 = centre - half, centre + half
    else:
        if start is None or stop is None:
            raise PlotError(400, "start and stop are required (or around)")
        t0, t1 = _instant(start, "start"), _instant(stop, "stop")
    if not t1 > t0:
        raise PlotError(400, "stop must be after start")
    if t1 - t0 < MIN_SPAN_S:
        raise PlotError(400, f"the range must be at least {MIN_SPAN_S} s")
    if t1 - t0 > MAX_SPAN_S:
        raise PlotError(400, "the range must be at most 30 years")
    if t1 <= MISSION_FIRST or t0 >= MISSION_LAST:
        raise PlotError(
            400,
            f"the range lies outside the INTEGRAL mission ({utc_iso(MISSION_FIRST)} to "
            f"{utc_iso(MISSION_LAST)})",
        )
    try:
        n_px = int(px) if px is not None else 1000
    except ValueError:
        raise PlotError(400, "px must be an integer") from None
    if not 1 <= n_px <= MAX_PX:
        raise PlotError(400, f"px must be between 1 and {MAX_PX}")
    if fmt not in (None, "json", "binary"):
        raise PlotError(400, "format must be json or binary")
    return PlotRequest(ds, name, t0, t1, n_px, fmt == "binary")


def _simulated(result: PlotResult) -> dict[str, bool]:
    return {
        "includes_simulated": True in result.simulated,
        "includes_real": False in result.simulated,
    }


def _head(req: PlotRequest, result: PlotResult, bytes_read: int) -> dict[str, Any]:
    ds = req.dataset
    return {
        "dataset": ds.id,
        "parameter": req.parameter,
        "units": ds.parameter(req.parameter).units,
        "start": {"utc": utc_iso(req.start), "ijd": ijd_of(req.start)},
        "stop": {"utc": utc_iso(req.stop), "ijd": ijd_of(req.stop)},
        "px": req.px,
        "mode": result.mode,
        "level": result.level,
        "column_seconds": result.width,
        "samples_in_range": result.samples_in_range,
        "bytes_read": bytes_read,
        **_simulated(result),
    }


def _floats(values: np.ndarray) -> list[float | None]:
    return [None if v != v else float(v) for v in values.tolist()]


def encode_json(req: PlotRequest, result: PlotResult, bytes_read: int) -> dict[str, Any]:
    """The JSON form: every column (or sample) with IJD and ISO UTC times."""
    body = _head(req, result, bytes_read)
    if result.mode == "samples":
        t = result.sample_time
        body["samples"] = {
            "time_ijd": (t / 86400.0).tolist(),
            "time_utc": format_utc(t).tolist(),
            "value": _floats(result.sample_value),
        }
        return body
    cols = np.flatnonzero(result.col_count > 0)
    centre = req.start + (cols + 0.5) * result.width
    body["columns"] = {
        "column": cols.tolist(),
        "time_ijd": (centre / 86400.0).tolist(),
        "time_utc": format_utc(centre).tolist(),
        "first_ijd": (result.col_first[cols] / 86400.0).tolist(),
        "last_ijd": (result.col_last[cols] / 86400.0).tolist(),
        "min": _floats(result.col_min[cols]),
        "max": _floats(result.col_max[cols]),
        "mean": _floats(result.col_mean[cols]),
        "count": result.col_count[cols].tolist(),
    }
    return body


def encode_binary(req: PlotRequest, result: PlotResult, bytes_read: int) -> bytes:
    """The compact form: JSON header + typed arrays (see the module docstring)."""
    head = _head(req, result, bytes_read)
    if result.mode == "samples":
        arrays = [
            ("time_ijd", (result.sample_time / 86400.0).astype("<f8")),
            ("value", result.sample_value.astype("<f4")),
        ]
    else:
        cols = np.flatnonzero(result.col_count > 0)
        arrays = [
            ("column", cols.astype("<u2")),
            ("min", result.col_min[cols].astype("<f4")),
            ("max", result.col_max[cols].astype("<f4")),
            ("mean", result.col_mean[cols].astype("<f4")),
            ("count", np.minimum(result.col_count[cols], 2**32 - 1).astype("<u4")),
        ]
        head["column_time"] = "start.ijd + (column + 0.5) * column_seconds / 86400"
    head["arrays"] = [{"name": n, "dtype": a.dtype.str, "length": int(a.size)} for n, a in arrays]
    text = json.dumps(head, separators=(",", ":")).encode("utf-8")
    text += b" " * (-(12 + len(text)) % 8)
    out = [BINARY_MAGIC, struct.pack("<I", len(text)), text]
    for _, a in arrays:
        data = a.tobytes()
        out.append(data + b"\0" * (-len(data) % 8))
    return b"".join(out)


def decode_binary(data: bytes) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Inverse of :func:`encode_binary` (for clients and tests)."""
    if data[:8] != BINARY_MAGIC:
        raise ValueError("not an ISLA time-series plot")
    (length,) = struct.unpack("<I", data[8:12])
    head = json.loads(data[12 : 12 + length])
    offset = 12 + length
    arrays = {}
    for spec in head["arrays"]:
        dt = np.dtype(spec["dtype"])
        size = dt.itemsize * spec["length"]
        arrays[spec["name"]] = np.frombuffer(data[offset : offset + size], dtype=dt)
        offset += size + (-size % 8)
    return head, arrays


def download_script(dataset: str, files: list[Any], base_url: str, tool: str) -> str:
    """A shell script that fetches every file of ``dataset`` (resumable) and checks them."""
    lines = [
        "#!/bin/sh",
        f"# Every delivered {dataset} file held by the archive at {base_url}",
        "# (one per revolution). Re-run to resume; checksums are verified at the end.",
        "set -e",
        f"mkdir -p {dataset} && cd {dataset}",
    ]
    for row in files:
        url = f"{base_url}/products/timeseries/{dataset}/files/{row.revolution}"
        if tool == "wget":
            lines.append(f"wget -c -O '{row.file_name}' '{url}'")
        else:
            lines.append(f"curl -fL -C - -o '{row.file_name}' '{url}'")
    lines.append("sha256sum -c <<'EOF'")
    lines += [f"{row.sha256}  {row.file_name}" for row in files]
    lines.append("EOF")
    return "\n".join(lines) + "\n"
