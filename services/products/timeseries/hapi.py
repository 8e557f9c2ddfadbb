"""HAPI 3.1: documents, request checks and constant-memory data streams.

Request parameters are checked strictly as the specification asks (unknown names are a 1401,
HAPI 2's ``id`` / ``time.min`` / ``time.max`` are accepted as aliases of ``dataset`` / ``start``
/ ``stop``), errors are HAPI JSON documents with the specification's codes and HTTP statuses,
and never echo the offending input. Data are read from the serving copy one chunk of rows at a
time, so memory does not grow with the requested range. ``format=x_fits`` is this server's
extension: a FITS binary table of the same rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
from fastapi.responses import JSONResponse

from shared.timeseries.datasets import DATASETS, Dataset
from shared.timeseries.fitsio import fits_header, fits_padding, fits_rows, row_bytes
from shared.timeseries.reader import ByteSource, read_raw
from shared.timeseries.segments import SegmentRef
from shared.timeseries.times import TIME_LENGTH, format_utc_bytes, parse_iso, utc_iso

__all__ = [
    "FORMATS",
    "HAPI_VERSION",
    "DataRequest",
    "HapiError",
    "count_rows",
    "hapi_error",
    "info_document",
    "parse_data_request",
    "parse_info_request",
    "stream",
]

HAPI_VERSION = "3.1"
TIME_NAME = "Time"
FORMATS = ("csv", "binary", "json", "x_fits")
CHUNK_ROWS = 1 << 18
"""Rows read and encoded at a time (a few MB): the memory bound of every stream."""

JSON_MAX_ROWS = 20_000_000
"""Most rows of one JSON answer (1408 beyond): JSON costs ~40 bytes a row to write and parse."""

STATUS: dict[int, tuple[int, str]] = {
    1200: (200, "OK"),
    1201: (200, "OK - no data for time range"),
    1400: (400, "Bad request - user input error"),
    1401: (400, "Bad request - unknown API parameter name"),
    1402: (400, "Bad request - error in start time"),
    1403: (400, "Bad request - error in stop time"),
    1404: (400, "Bad request - start time equal to or after stop time"),
    1405: (400, "Bad request - time outside valid range"),
    1406: (404, "Bad request - unknown dataset id"),
    1407: (404, "Bad request - unknown dataset parameter"),
    1408: (400, "Bad request - too much time or data requested"),
    1409: (400, "Bad request - unsupported output format"),
    1410: (400, "Bad request - unsupported include value"),
    1500: (500, "Internal server error"),
    1501: (500, "Internal server error - upstream request error"),
}
"""HAPI status codes: (HTTP status, message)."""


class HapiError(Exception):
    """A request HAPI answers with an error document."""

    def __init__(self, code: int, detail: str | None = None) -> None:
        """Error ``code`` (14xx/15xx), with an optional explanation that echoes no input."""
        super().__init__(STATUS[code][1])
        self.code = code
        self.detail = detail


def status(code: int) -> dict[str, Any]:
    """The HAPI ``status`` object of ``code``."""
    return {"code": code, "message": STATUS[code][1]}


def hapi_error(exc: HapiError) -> JSONResponse:
    """The HAPI error document, with the code's HTTP status and HAPI text in the reason."""
    body: dict[str, Any] = {"HAPI": HAPI_VERSION, "status": status(exc.code)}
    if exc.detail:
        body["status"]["x_reason"] = exc.detail
    http, message = STATUS[exc.code]
    return JSONResponse(body, status_code=http, headers={"X-HAPI-Status": f"{exc.code} {message}"})


def _names(query: Sequence[tuple[str, str]], allowed: set[str]) -> dict[str, str]:
    seen: dict[str, str] = {}
    for name, value in query:
        if name not in allowed:
            raise HapiError(1401, "request parameters are not all HAPI parameters")
        if name in seen:
            raise HapiError(1400, "a request parameter is given twice")
        seen[name] = value
    return seen


def _alias(given: dict[str, str], new: str, old: str) -> str | None:
    if new in given and old in given:
        raise HapiError(1400, f"give {new} or its HAPI 2 alias {old}, not both")
    return given.get(new, given.get(old))


def _dataset(given: dict[str, str]) -> Dataset:
    ds_id = _alias(given, "dataset", "id")
    if not ds_id:
        raise HapiError(1400, "the dataset parameter is required")
    ds = DATASETS.get(ds_id)
    if ds is None:
        raise HapiError(1406)
    return ds


def _parameters(ds: Dataset, text: str | None) -> list[str]:
    """Requested parameters (not the time column) in dataset order."""
    if text is None or text == "":
        return list(ds.parameter_names)
    names = text.split(",")
    known = [TIME_NAME, *ds.parameter_names]
    if any(n not in known for n in names):
        raise HapiError(1407)
    if len(set(names)) != len(names):
        raise HapiError(1400, "parameters are listed more than once")
    order = [known.index(n) for n in names]
    if order != sorted(order):
        raise HapiError(1400, "parameters must follow the order of the info response")
    return [n for n in names if n != TIME_NAME]


def parse_info_request(query: Sequence[tuple[str, str]]) -> tuple[Dataset, list[str]]:
    """Dataset and parameters of an ``info`` request (or HapiError)."""
    given = _names(query, {"dataset", "id", "parameters"})
    ds = _dataset(given)
    return ds, _parameters(ds, given.get("parameters"))


@dataclass(frozen=True)
class DataRequest:
    """A checked ``data`` request."""

    dataset: Dataset
    start: float
    """TT seconds since IJD 0 (inclusive)."""
    stop: float
    """TT seconds since IJD 0 (exclusive)."""
    parameters: tuple[str, ...]
    format: str
    header: bool


def parse_data_request(query: Sequence[tuple[str, str]]) -> DataRequest:
    """Check a ``data`` request (times are checked against the data range later)."""
    given = _names(
        query,
        {
            "dataset",
            "id",
            "start",
            "stop",
            "time.min",
            "time.max",
            "parameters",
            "include",
            "format",
        },
    )
    ds = _dataset(given)
    parameters = _parameters(ds, given.get("parameters"))
    start_text = _alias(given, "start", "time.min")
    stop_text = _alias(given, "stop", "time.max")
    if not start_text:
        raise HapiError(1402, "start is required")
    if not stop_text:
        raise HapiError(1403, "stop is required")
    try:
        start = parse_iso(start_text)
    except ValueError:
        raise HapiError(1402, "start must be an ISO 8601 UTC time") from None
    try:
        stop = parse_iso(stop_text)
    except ValueError:
        raise HapiError(1403, "stop must be an ISO 8601 UTC time") from None
    if not stop > start:
        raise HapiError(1404)
    fmt = given.get("format", "csv") or "csv"
    if fmt not in FORMATS:
        raise HapiError(1409, f"formats: {', '.join(FORMATS)}")
    include = given.get("include")
    if include not in (None, "", "header"):
        raise HapiError(1410, "include takes only the value header")
    return DataRequest(ds, start, stop, tuple(parameters), fmt, include == "header")


def _parameter_doc(ds: Dataset, name: str) -> dict[str, Any]:
    p = ds.parameter(name)
    doc: dict[str, Any] = {"name": p.name, "type": p.hapi_type, "units": p.units}
    doc["fill"] = None if p.hapi_type == "integer" else "NaN"
    doc["description"] = p.description
    return doc


def info_document(
    ds: Dataset,
    parameters: Sequence[str],
    t_first: float | None,
    t_last: float | None,
    simulated: tuple[int, int],
    base_url: str,
) -> dict[str, Any]:
    """The ``info`` response of ``ds`` limited to ``parameters``.

    ``simulated`` is (segments, simulated segments) of the dataset, stated in ``x_`` keys.
    """
    first = utc_iso(t_first) if t_first is not None else "2002-10-17T00:00:00.000000Z"
    last = utc_iso(t_last) if t_last is not None else first
    doc: dict[str, Any] = {
        "HAPI": HAPI_VERSION,
        "status": status(1200),
        "startDate": first,
        "stopDate": last,
        "cadence": f"PT{ds.cadence_s:g}S",
        "timeStampLocation": "center",
        "description": ds.description,
        "resourceURL": f"{base_url}/products/timeseries/{ds.id}",
        "parameters": [
            {
                "name": TIME_NAME,
                "type": "isotime",
                "units": "UTC",
                "fill": None,
                "length": TIME_LENGTH,
            },
            *(_parameter_doc(ds, n) for n in parameters),
        ],
    }
    if t_first is not None:
        doc["sampleStartDate"] = first
        doc["sampleStopDate"] = utc_iso(min(t_first + 600.0, t_last or t_first) + ds.cadence_s)
    segments, simulated_segments = simulated
    doc["x_simulated"] = (
        "none" if simulated_segments == 0 else "all" if simulated_segments == segments else "some"
    )
    doc["x_note"] = (
        "Simulated segments come from the archive's demo pipeline, not from INTEGRAL; "
        "per-revolution files state SIMDATA = T. See x_filesURL."
    )
    doc["x_filesURL"] = f"{base_url}/products/timeseries/{ds.id}/files"
    return doc


def _spans(
    segments: Sequence[SegmentRef], start: float, stop: float
) -> list[tuple[SegmentRef, int, int]]:
    out = []
    for seg in segments:
        i0, i1 = seg.index_range(start, stop)
        if i1 > i0:
            out.append((seg, i0, i1))
    return out


def count_rows(segments: Sequence[SegmentRef], start: float, stop: float) -> int:
    """Records a data request for ``[start, stop)`` returns."""
    return sum(i1 - i0 for _, i0, i1 in _spans(segments, start, stop))


def _chunks(
    source: ByteSource, spans: Sequence[tuple[SegmentRef, int, int]], names: Sequence[str]
) -> Iterator[tuple[npt.NDArray[np.float64], dict[str, npt.NDArray[Any]]]]:
    for seg, i0, i1 in spans:
        for a in range(i0, i1, CHUNK_ROWS):
            b = min(i1, a + CHUNK_ROWS)
            times = seg.t0 + np.arange(a, b, dtype=np.float64) * seg.dt
            yield times, {n: read_raw(source, seg, n, a, b) for n in names}


def _text(values: npt.NDArray[Any], hapi_type: str) -> npt.NDArray[np.str_]:
    if hapi_type == "integer":
        return values.astype(np.int64).astype(str)
    v = values.astype(np.float64)
    out: npt.NDArray[np.str_] = v.astype(str)
    nan = np.isnan(v)
    if nan.any():
        out = np.where(nan, "NaN", out)
    return out


def header_lines(info: dict[str, Any]) -> bytes:
    """The info header as ``#``-prefixed lines (for csv and binary with include=header)."""
    text = json.dumps(info, indent=1)
    return ("".join(f"#{line}\n" for line in text.splitlines())).encode("utf-8")


def stream(
    source: ByteSource,
    segments: Sequence[SegmentRef],
    req: DataRequest,
    info: dict[str, Any],
) -> Iterator[bytes]:
    """The body of a data response, chunk by chunk."""
    ds, names = req.dataset, req.parameters
    spans = _spans(segments, req.start, req.stop)
    types = {n: ds.parameter(n).hapi_type for n in names}
    if req.format == "x_fits":
        n_rows = sum(i1 - i0 for _, i0, i1 in spans)
        simulated = any(seg.simulated for seg, _, _ in spans)
        yield fits_header(ds, names, n_rows, req.start, req.stop, simulated)
        for times, values in _chunks(source, spans, names):
            yield fits_rows(ds, names, times, values)
        yield fits_padding(n_rows * row_bytes(ds, names))
        return
    if req.format == "json":
        head = orjson.dumps({**info, "format": "json"})
        yield head[:-1] + b',"data":['
        first = True
        for times, values in _chunks(source, spans, names):
            stamps = format_utc_bytes(times).astype(f"U{TIME_LENGTH}").tolist()
            cols = [
                values[n].astype(np.int64 if types[n] == "integer" else np.float64).tolist()
                for n in names
            ]
            rows = orjson.dumps([list(r) for r in zip(stamps, *cols, strict=True)])
            yield (b"" if first else b",") + rows[1:-1]
            first = False
        yield b"]}\n"
        return
    if req.header:
        yield header_lines({**info, "format": req.format})
    if req.format == "binary":
        record = np.dtype(
            [(TIME_NAME, f"S{TIME_LENGTH}")]
            + [(n, "<i4" if types[n] == "integer" else "<f8") for n in names]
        )
        for times, values in _chunks(source, spans, names):
            records = np.empty(times.size, dtype=record)
            records[TIME_NAME] = format_utc_bytes(times)
            for n in names:
                records[n] = values[n]
            yield records.tobytes()
        return
    for times, values in _chunks(source, spans, names):
        line = format_utc_bytes(times).astype(f"U{TIME_LENGTH}")
        for n in names:
            line = np.char.add(np.char.add(line, ","), _text(values[n], types[n]))
        yield ("\n".join(line.tolist()) + "\n").encode("ascii")


def record_bytes(req: DataRequest) -> int:
    """Bytes of one binary record."""
    types = [req.dataset.parameter(n).hapi_type for n in req.parameters]
    return TIME_LENGTH + sum(4 if t == "integer" else 8 for t in types)
