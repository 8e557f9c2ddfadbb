"""Routes of the time-series room (thin: checks in ``service``/``hapi``, SQL in ``store``).

- ``GET /products/timeseries``: the datasets; ``/products/timeseries/{dataset}``: one of them;
- ``GET /products/timeseries/{dataset}/plot?start=&stop=&px=[&parameter=][&format=binary]``
  (or ``around=<time>&half_width=<s>``): min/max/mean per pixel column, or the samples;
- ``GET /products/timeseries/{dataset}/files[/{revolution}]``, ``files.sha256``,
  ``download.sh[?tool=wget]``: the delivered per-revolution files, with Range and checksums;
- ``GET /products/timeseries/scw/{scw_id}``: a science window's SPI-ACS and IREM links;
- ``GET /hapi``, ``/hapi/about``, ``/hapi/capabilities``, ``/hapi/catalog``, ``/hapi/info``,
  ``/hapi/data``: HAPI 3.1.
"""

from __future__ import annotations

import base64
import hashlib
import html
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    Response,
    StreamingResponse,
)
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from services.products.timeseries import hapi
from services.products.timeseries.service import (
    PlotError,
    download_script,
    encode_binary,
    encode_json,
    parse_plot_request,
)
from services.products.timeseries.store import TimeseriesStore
from shared.http import Entity, ranged_response
from shared.service import ServiceUnavailable, context, problem
from shared.settings import peer_settings
from shared.storage import ObjectNotFound, ObjectStore, StorageUnavailable
from shared.timeseries.datasets import DATASETS
from shared.timeseries.plot import reduce_plot
from shared.timeseries.reader import CountingSource, StoreSource
from shared.timeseries.times import ijd_of, utc_iso

router = APIRouter(tags=["time series"])

PARALLEL_READS = 8
"""Ranged GETs one plot request keeps in flight (a wide zoom touches one per segment)."""

DELIVERED = ("spiacs_50ms", "irem")
"""Datasets with per-revolution files of their own (the others are derived from them)."""


def _base() -> str:
    return peer_settings().peer("products")


def _ts_store(request: Request) -> TimeseriesStore:
    engine = context(request).engine
    if engine is None:
        raise HTTPException(503, "the database is not configured", headers={"Retry-After": "30"})
    return TimeseriesStore(engine)


def _object_store(request: Request) -> ObjectStore:
    store = context(request).store
    if store is None:
        raise HTTPException(
            503, "the object store is not configured", headers={"Retry-After": "30"}
        )
    return store


def _dataset_links(ds_id: str) -> dict[str, str]:
    base = _base()
    links = {
        "view": f"{base}/products/timeseries/{ds_id}/view",
        "plot": f"{base}/products/timeseries/{ds_id}/plot",
        "hapi_info": f"{base}/hapi/info?dataset={ds_id}",
        "hapi_data": f"{base}/hapi/data?dataset={ds_id}",
    }
    if ds_id in DELIVERED:
        links["files"] = f"{base}/products/timeseries/{ds_id}/files"
        links["download_script"] = f"{base}/products/timeseries/{ds_id}/download.sh"
    return links


@router.get("/products/timeseries", summary="The time-series datasets")
async def datasets() -> dict[str, Any]:
    """Every served dataset with its links."""
    return {
        "datasets": [
            {"id": ds.id, "title": ds.title, "instrument": ds.instrument, **_dataset_links(ds.id)}
            for ds in DATASETS.values()
        ]
    }


@router.get("/products/timeseries/scw/{scw_id}", summary="A science window's SPI-ACS and IREM")
async def science_window(request: Request, scw_id: str) -> dict[str, Any]:
    """Links to the SPI-ACS and IREM data during one science window."""
    row = await _ts_store(request).science_window(scw_id[:12])
    if row is None:
        raise HTTPException(404, f"no science window {scw_id!r}")
    window = {"start": f"{row.start_ijd:.9f}", "stop": f"{row.end_ijd:.9f}"}
    start_iso, stop_iso = utc_iso(row.start_ijd * 86400.0), utc_iso(row.end_ijd * 86400.0)
    base = _base()
    links: dict[str, Any] = {}
    for ds_id in ("spiacs_50ms", "spiacs_2s", "spiacs_10s", "irem"):
        links[ds_id] = {
            "plot": f"{base}/products/timeseries/{ds_id}/plot?{urlencode(window)}",
            "hapi": f"{base}/hapi/data?"
            + urlencode({"dataset": ds_id, "start": start_iso, "stop": stop_iso}),
        }
    return {
        "scw_id": row.scw_id,
        "revolution": row.revolution,
        "start": {"ijd": row.start_ijd, "utc": start_iso},
        "stop": {"ijd": row.end_ijd, "utc": stop_iso},
        "timeseries": links,
    }


@router.get("/products/timeseries/{dataset}", summary="One time-series dataset")
async def dataset_summary(request: Request, dataset: str) -> dict[str, Any]:
    """Time span, real and simulated content, and links of a dataset."""
    ds = DATASETS.get(dataset)
    if ds is None:
        raise HTTPException(
            404, f"no time-series dataset {dataset!r}; known: {', '.join(DATASETS)}"
        )
    extent = await _ts_store(request).extent(dataset)
    span = None
    if extent.t_first is not None and extent.t_last is not None:
        span = {
            "first": {"utc": utc_iso(extent.t_first), "ijd": ijd_of(extent.t_first)},
            "last": {"utc": utc_iso(extent.t_last), "ijd": ijd_of(extent.t_last)},
        }
    return {
        "id": ds.id,
        "title": ds.title,
        "description": ds.description,
        "instrument": ds.instrument,
        "cadence_s": ds.cadence_s,
        "parameters": [
            {"name": p.name, "units": p.units, "description": p.description} for p in ds.parameters
        ],
        "plot_parameters": list(ds.plot_parameters),
        "derived_from": ds.derived_from,
        "span": span,
        "segments": extent.segments,
        "simulated_segments": extent.simulated_segments,
        "links": _dataset_links(ds.id),
    }


_VIEWER = (Path(__file__).parent / "viewer.html").read_text(encoding="utf-8")


@router.get(
    "/products/timeseries/{dataset}/view",
    response_class=HTMLResponse,
    summary="Interactive plot page (pan and zoom from the whole span to single samples)",
)
async def view(
    request: Request,
    dataset: str,
    start: Annotated[str | None, Query(description="IJD")] = None,
    stop: Annotated[str | None, Query(description="IJD")] = None,
) -> HTMLResponse:
    """A page that draws ``plot`` answers on a canvas, with pan and zoom."""
    ds = DATASETS.get(dataset)
    if ds is None:
        raise HTTPException(
            404, f"no time-series dataset {dataset!r}; known: {', '.join(DATASETS)}"
        )
    extent = await _ts_store(request).extent(dataset)
    first = extent.t_first / 86400 if extent.t_first is not None else 1020.0
    last = extent.t_last / 86400 if extent.t_last is not None else 9190.0
    try:
        a = float(start) if start is not None else first
        b = float(stop) if stop is not None else last + 1 / 86400
    except ValueError:
        raise HTTPException(400, "start and stop are IJD numbers on this page") from None
    options = "".join(
        f'<option value="{html.escape(p)}">{html.escape(p)}</option>' for p in ds.plot_parameters
    )
    page = (
        _VIEWER.replace("{{TITLE}}", html.escape(ds.title))
        .replace("{{DATASET}}", ds.id)
        .replace("{{SUMMARY}}", f"../{ds.id}")
        .replace("{{OPTIONS}}", options)
        .replace("{{START}}", repr(a))
        .replace("{{STOP}}", repr(b))
    )
    # The page's one inline script is allowed by its hash, nothing else inline runs.
    script = page.split("<script>", 1)[1].split("</script>", 1)[0]
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    policy = (
        f"default-src 'self'; script-src 'self' 'sha256-{digest}'; "
        "style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
        "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'self'"
    )
    return HTMLResponse(page, headers={"Content-Security-Policy": policy})


@router.get(
    "/products/timeseries/{dataset}/plot",
    summary="Min, max and mean per pixel column at any zoom (JSON or binary)",
    responses={200: {"content": {"application/json": {}, "application/octet-stream": {}}}},
)
async def plot(
    request: Request,
    dataset: str,
    start: Annotated[str | None, Query(description="ISO 8601 UTC, or IJD")] = None,
    stop: Annotated[str | None, Query(description="ISO 8601 UTC, or IJD (exclusive)")] = None,
    px: Annotated[str | None, Query(description="pixel columns, 1 to 10000")] = None,
    parameter: Annotated[str | None, Query(description="default: the first one")] = None,
    format: Annotated[str | None, Query(description="json (default) or binary")] = None,
    around: Annotated[str | None, Query(description="centre time instead of start/stop")] = None,
    half_width: Annotated[str | None, Query(description="seconds each side of around")] = None,
) -> Response:
    """The reduced curve of one parameter over ``[start, stop)``."""
    try:
        req = parse_plot_request(dataset, start, stop, px, parameter, format, around, half_width)
    except PlotError as exc:
        return problem(exc.status, "Not found" if exc.status == 404 else "Bad request", exc.detail)
    if req.binary is False and "application/octet-stream" in request.headers.get("accept", ""):
        req = type(req)(req.dataset, req.parameter, req.start, req.stop, req.px, True)
    ts = _ts_store(request)
    segments = await ts.segments(dataset, req.start, req.stop)
    bucket = segments and (await ts.bucket(dataset))
    source = CountingSource(StoreSource(_object_store(request), bucket or ""))
    began = time.perf_counter()
    try:
        result = await run_in_threadpool(
            reduce_plot,
            source,
            segments,
            req.parameter,
            req.start,
            req.stop,
            req.px,
            PARALLEL_READS,
        )
    except (StorageUnavailable, ObjectNotFound) as exc:
        raise HTTPException(503, f"the serving copy cannot be read now: {exc}") from exc
    took = (time.perf_counter() - began) * 1000
    headers = {
        "X-Bytes-Read": str(source.bytes_read),
        "Server-Timing": f"reduce;dur={took:.2f}",
        "Cache-Control": "public, max-age=300",
    }
    if req.binary:
        body = encode_binary(req, result, source.bytes_read)
        return Response(body, media_type="application/octet-stream", headers=headers)
    return JSONResponse(encode_json(req, result, source.bytes_read), headers=headers)


def _delivered(dataset: str) -> None:
    if dataset not in DATASETS:
        raise HTTPException(
            404, f"no time-series dataset {dataset!r}; known: {', '.join(DATASETS)}"
        )
    if dataset not in DELIVERED:
        source = DATASETS[dataset].derived_from
        raise HTTPException(
            404,
            f"{dataset} is derived by the archive from {source}; its delivered files are at "
            f"/products/timeseries/{source}/files",
        )


@router.get("/products/timeseries/{dataset}/files", summary="The delivered per-revolution files")
async def files(request: Request, dataset: str) -> dict[str, Any]:
    """One entry per revolution: time span, size, SHA-256, simulated, URL."""
    _delivered(dataset)
    base = _base()
    rows = await _ts_store(request).files(dataset)
    return {
        "dataset": dataset,
        "files": [
            {
                "file_id": r.file_id,
                "revolution": r.revolution,
                "file_name": r.file_name,
                "start": {"ijd": r.t_start, "utc": utc_iso(r.t_start * 86400.0)},
                "stop": {"ijd": r.t_stop, "utc": utc_iso(r.t_stop * 86400.0)},
                "n_samples": r.n_samples,
                "timedel": r.timedel,
                "size": r.size,
                "sha256": r.sha256,
                "simulated": r.simulated,
                "url": f"{base}/products/timeseries/{dataset}/files/{r.revolution}",
            }
            for r in rows
        ],
    }


@router.get(
    "/products/timeseries/{dataset}/files.sha256", summary="Checksums (sha256sum -c format)"
)
async def checksums(request: Request, dataset: str) -> PlainTextResponse:
    """``<sha256>  <file name>`` per file."""
    _delivered(dataset)
    rows = await _ts_store(request).files(dataset)
    return PlainTextResponse("".join(f"{r.sha256}  {r.file_name}\n" for r in rows))


@router.get("/products/timeseries/{dataset}/download.sh", summary="Script: every file, resumable")
async def script(
    request: Request,
    dataset: str,
    tool: Annotated[str, Query(pattern="^(curl|wget)$")] = "curl",
) -> PlainTextResponse:
    """A curl (or wget) script fetching the whole mission, then checking the checksums."""
    _delivered(dataset)
    rows = await _ts_store(request).files(dataset)
    return PlainTextResponse(
        download_script(dataset, rows, _base(), tool),
        headers={"Content-Disposition": f'attachment; filename="{dataset}_download.sh"'},
    )


@router.api_route(
    "/products/timeseries/{dataset}/files/{revolution}",
    methods=["GET", "HEAD"],
    summary="One delivered file as stored (Range, ETag = SHA-256)",
)
async def file(request: Request, dataset: str, revolution: int) -> Response:
    """The delivered FITS file of one revolution, byte for byte."""
    _delivered(dataset)
    row = await _ts_store(request).file(dataset, revolution)
    if row is None:
        raise HTTPException(404, f"no {dataset} file for revolution {revolution}")
    entity = Entity(
        size=int(row.size),
        etag=f'"{row.sha256}"',
        media_type="application/fits",
        filename=row.file_name,
        headers={
            "X-Checksum-SHA256": row.sha256,
            "X-Simulated": "true" if row.simulated else "false",
        },
    )
    store = _object_store(request)

    async def body(first: int, last: int) -> AsyncIterator[bytes]:
        try:
            chunks = await run_in_threadpool(
                store.iter_object, row.bucket, row.object_key, first, last
            )
        except (StorageUnavailable, ObjectNotFound) as exc:
            raise ServiceUnavailable("the object store cannot deliver this file now") from exc
        return iterate_in_threadpool(chunks)

    return await ranged_response(request, entity, body)


# --- HAPI 3.1 ----------------------------------------------------------------------------------


def _ok(body: dict[str, Any]) -> JSONResponse:
    return JSONResponse({"HAPI": hapi.HAPI_VERSION, "status": hapi.status(1200), **body})


@router.get("/hapi", response_class=HTMLResponse, summary="HAPI landing page")
async def hapi_landing() -> HTMLResponse:
    """A short human-readable page with the endpoints and datasets."""
    items = "".join(
        f'<li><a href="hapi/info?dataset={d.id}"><code>{d.id}</code></a>: {d.title}</li>'
        for d in DATASETS.values()
    )
    return HTMLResponse(
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>ISLA HAPI server</title>"
        "</head><body><h1>ISLA HAPI 3.1 server: INTEGRAL SPI-ACS and IREM</h1>"
        '<p>Endpoints: <a href="hapi/about">about</a>, <a href="hapi/capabilities">capabilities'
        '</a>, <a href="hapi/catalog">catalog</a>, info, data.</p>'
        f"<ul>{items}</ul></body></html>"
    )


@router.api_route("/hapi/about", methods=["GET", "HEAD"], summary="HAPI about")
async def hapi_about(request: Request) -> Response:
    """Server identity."""
    if request.query_params:
        return hapi.hapi_error(hapi.HapiError(1401))
    return _ok(
        {
            "id": "ESA/ISLA",
            "title": "INTEGRAL Science Legacy Archive",
            "contact": "the archive's operators (see the archive's help page)",
            "description": "INTEGRAL SPI-ACS count rates (full resolution, 2 s, 10 s) and IREM "
            "radiation monitor count rates over the mission. Demo archives hold simulated data, "
            "marked in each dataset's info (x_simulated).",
        }
    )


@router.api_route("/hapi/capabilities", methods=["GET", "HEAD"], summary="HAPI capabilities")
async def hapi_capabilities(request: Request) -> Response:
    """Output formats."""
    if request.query_params:
        return hapi.hapi_error(hapi.HapiError(1401))
    return _ok({"outputFormats": list(hapi.FORMATS)})


@router.api_route("/hapi/catalog", methods=["GET", "HEAD"], summary="HAPI catalog")
async def hapi_catalog(request: Request) -> Response:
    """The datasets."""
    if request.query_params:
        return hapi.hapi_error(hapi.HapiError(1401))
    return _ok({"catalog": [{"id": d.id, "title": d.title} for d in DATASETS.values()]})


async def _info(request: Request, ds: Any, parameters: list[str]) -> dict[str, Any]:
    extent = await _ts_store(request).extent(ds.id)
    return hapi.info_document(
        ds,
        parameters,
        extent.t_first,
        extent.t_last,
        (extent.segments, extent.simulated_segments),
        _base(),
    )


@router.api_route("/hapi/info", methods=["GET", "HEAD"], summary="HAPI info")
async def hapi_info(request: Request) -> Response:
    """A dataset's header."""
    try:
        ds, parameters = hapi.parse_info_request(list(request.query_params.multi_items()))
    except hapi.HapiError as exc:
        return hapi.hapi_error(exc)
    return JSONResponse(await _info(request, ds, parameters))


_MEDIA = {
    "csv": "text/csv",
    "binary": "application/octet-stream",
    "json": "application/json",
    "x_fits": "application/fits",
}


@router.api_route(
    "/hapi/data",
    methods=["GET", "HEAD"],
    summary="HAPI data (csv, binary, json, x_fits), streamed",
)
async def hapi_data(request: Request) -> Response:
    """Records of ``[start, stop)``, streamed chunk by chunk."""
    try:
        req = hapi.parse_data_request(list(request.query_params.multi_items()))
    except hapi.HapiError as exc:
        return hapi.hapi_error(exc)
    ts = _ts_store(request)
    extent = await ts.extent(req.dataset.id)
    info = hapi.info_document(
        req.dataset,
        list(req.parameters),
        extent.t_first,
        extent.t_last,
        (extent.segments, extent.simulated_segments),
        _base(),
    )
    if (
        extent.t_first is not None
        and extent.t_last is not None
        and (req.stop <= extent.t_first or req.start > extent.t_last)
    ):
        return hapi.hapi_error(
            hapi.HapiError(1405, f"data run from {info['startDate']} to {info['stopDate']}")
        )
    segments = await ts.segments(req.dataset.id, req.start, req.stop)
    rows = hapi.count_rows(segments, req.start, req.stop)
    if req.format == "json" and rows > hapi.JSON_MAX_ROWS:
        return hapi.hapi_error(
            hapi.HapiError(1408, f"at most {hapi.JSON_MAX_ROWS} rows in JSON; use binary")
        )
    code = 1200 if rows else 1201
    info["status"] = hapi.status(code)
    bucket = (await ts.bucket(req.dataset.id)) if segments else ""
    source = StoreSource(_object_store(request), bucket or "")
    headers = {"X-HAPI-Status": f"{code} {hapi.STATUS[code][1]}"}
    if req.format == "binary" and not req.header:
        headers["Content-Length"] = str(rows * hapi.record_bytes(req))
    if req.format == "x_fits":
        name = f"{req.dataset.id}_{utc_iso(req.start)[:19]}.fits".replace(":", "")
        headers["Content-Disposition"] = f'attachment; filename="{name}"'
    if request.method == "HEAD":
        return Response(status_code=200, headers=headers, media_type=_MEDIA[req.format])
    body = hapi.stream(source, segments, req, info)
    return StreamingResponse(
        iterate_in_threadpool(body), media_type=_MEDIA[req.format], headers=headers
    )
