"""Native raw-data API: science windows one by one or in bulk, streamed from the object store.

Every download is planned first (:mod:`services.raw.tarball`), so it has an exact
``Content-Length``, a strong ``ETag`` and byte ranges; errors are problem documents with their
HTTP status, never a file.
"""

from __future__ import annotations

import json
import logging
import zlib
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.responses import PlainTextResponse, Response, StreamingResponse
from sqlalchemy import text
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from services.raw.limits import StreamLimiter, TooManyStreamsError
from services.raw.manifest import Manifest
from services.raw.selection import (
    NothingSelectedError,
    Selection,
    SelectionError,
    parse_selection,
    resolve,
)
from services.raw.tarball import Plan
from shared.integral import InvalidIdentifier, ScwId, format_revolution, parse_revolution
from shared.integral import parse_scw_id as _parse_scw_id
from shared.service import ServiceContext, context, parse_byte_range
from shared.settings import limit_settings
from shared.storage import ObjectStore, StorageUnavailable

router = APIRouter(prefix="/raw", tags=["raw data"])
log = logging.getLogger("isla.raw")
limiter = StreamLimiter()

RETRY_AFTER = "30"
"""Seconds a client is asked to wait when the object store is unavailable."""
TAR = "application/x-tar"


# --- request helpers ---------------------------------------------------------------------------


def scw_id_param(scw_id: Annotated[str, Path(description="ScW id, e.g. 008100430010")]) -> ScwId:
    """Parse the ScW id of a path, answering 400 with the expected form when malformed."""
    try:
        return _parse_scw_id(scw_id)
    except InvalidIdentifier as exc:
        raise HTTPException(400, str(exc)) from exc


def _engine(ctx: ServiceContext) -> Any:
    if ctx.engine is None:
        raise HTTPException(503, "database not configured", headers={"Retry-After": RETRY_AFTER})
    return ctx.engine


def _store(ctx: ServiceContext) -> ObjectStore:
    if ctx.store is None:
        raise HTTPException(
            503, "object store not configured", headers={"Retry-After": RETRY_AFTER}
        )
    return ctx.store


def base_url(request: Request) -> str:
    """The public base URL as the client reached us."""
    return str(request.base_url).rstrip("/")


async def request_params(request: Request) -> dict[str, list[str]]:
    """Parameters from the query string and, for POST, the body; names in lower case.

    A POST body may be a form, JSON (``{"scw": [...], "obsid": ...}``), or plain text / CSV
    holding ScW ids, such as a TAP result saved as CSV; it is refused beyond the upload limit
    before it is read in full.
    """
    params: dict[str, list[str]] = {}

    def add(name: str, value: Any) -> None:
        values = value if isinstance(value, list) else [value]
        params.setdefault(name.lower(), []).extend(str(v) for v in values)

    for name, value in request.query_params.multi_items():
        add(name, value)
    if request.method != "POST":
        return params
    limit = limit_settings().upload_max_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"request body over the limit of {limit} bytes")
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.form()
        for name, item in form.multi_items():
            add(name, item if isinstance(item, str) else (await item.read()).decode())
        return params
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise HTTPException(413, f"request body over the limit of {limit} bytes")
    if kind == "application/json":
        try:
            doc = json.loads(body)
        except ValueError as exc:
            raise HTTPException(400, f"the JSON body does not parse: {exc}") from exc
        if not isinstance(doc, dict):
            raise HTTPException(400, 'the JSON body must be an object such as {"scw": [...]}')
        for name, value in doc.items():
            add(name, value)
        return params
    lines = body.decode(errors="replace").splitlines()
    # A CSV with a header (e.g. "scw_id") contributes its first column.
    ids = [line.split(",")[0].strip().strip('"') for line in lines if line.strip()]
    if ids and not ids[0][:1].isdigit():
        ids = ids[1:]
    if ids:
        add("scw", ids)
    return params


async def select(request: Request, ctx: ServiceContext) -> Manifest:
    """Resolve the request's selection to its manifest (400/404 problems otherwise)."""
    return await resolve_params(await request_params(request), ctx)


async def resolve_params(params: dict[str, list[str]], ctx: ServiceContext) -> Manifest:
    """Resolve already gathered parameters."""
    try:
        selection: Selection = parse_selection(params)
    except SelectionError as exc:
        raise HTTPException(400, str(exc)) from exc
    async with _engine(ctx).connect() as conn:
        try:
            return await resolve(conn, selection)
        except NothingSelectedError as exc:
            raise HTTPException(404, str(exc)) from exc


async def stream_plan(
    request: Request,
    store: ObjectStore,
    plan: Plan,
    filename: str,
    media_type: str,
    body_wrapper: Any = None,
) -> Response:
    """Answer with ``plan`` honouring Range/If-Range and HEAD; 503 if the store is down."""
    span = parse_byte_range(request.headers.get("range"), plan.size)
    if_range = request.headers.get("if-range")
    if span and if_range and if_range != plan.etag:
        span = None  # the client holds another version: send it all
    first, last = span if span else (0, plan.size - 1)
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": plan.etag,
        "Content-Length": str(last - first + 1 if plan.size else 0),
        "Content-Disposition": f'attachment; filename="{filename}"',
    }
    if span:
        headers["Content-Range"] = f"bytes {first}-{last}/{plan.size}"
    status = 206 if span else 200
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type=media_type)
    # Check the store answers before committing to a 200: an outage is a 503, never a
    # response whose body breaks off at once. Later failures cut the connection short of
    # Content-Length, which clients see as an incomplete download they can resume.
    try:
        await run_in_threadpool(store.ping)
    except StorageUnavailable as exc:
        log.error("object store unavailable: %s", exc)
        raise HTTPException(
            503,
            "the object store cannot deliver data now; retry later",
            headers={"Retry-After": RETRY_AFTER},
        ) from exc
    body: AsyncIterator[bytes] = iterate_in_threadpool(
        plan.iter_range(store, first, last) if plan.size else iter(())
    )
    if body_wrapper is not None:
        body = body_wrapper(body)
    return StreamingResponse(body, status_code=status, headers=headers, media_type=media_type)


# --- one science window ------------------------------------------------------------------------


async def _single_scw_manifest(ctx: ServiceContext, scw: ScwId) -> Manifest:
    return await resolve_params({"scw": [scw.full]}, ctx)


def _gzip(chunks: Iterator[bytes]) -> Iterator[bytes]:
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)  # wbits 31: gzip container
    for chunk in chunks:
        if out := compressor.compress(chunk):
            yield out
    yield compressor.flush()


@router.get("/scw/{scw_id}.tar.gz", summary="One science window as a gzip-compressed tarball")
async def get_scw_targz(
    request: Request,
    scw: Annotated[ScwId, Depends(scw_id_param)],
    ctx: Annotated[ServiceContext, Depends(context)],
) -> Response:
    """All files of one ScW plus SHA256SUMS, compressed on the fly (no ranges, no length)."""
    manifest = await _single_scw_manifest(ctx, scw)
    store = _store(ctx)
    try:
        await run_in_threadpool(store.ping)
    except StorageUnavailable as exc:
        raise HTTPException(
            503, "object store unavailable", headers={"Retry-After": RETRY_AFTER}
        ) from exc
    plan = Plan.tarball(manifest)
    return StreamingResponse(
        iterate_in_threadpool(_gzip(plan.iter_range(store))),
        media_type="application/gzip",
        headers={"Content-Disposition": f'attachment; filename="{scw.id}.tar.gz"'},
    )


@router.api_route(
    "/scw/{scw_id}.tar", methods=["GET", "HEAD"], summary="One science window as a tarball"
)
async def get_scw_tar(
    request: Request,
    scw: Annotated[ScwId, Depends(scw_id_param)],
    ctx: Annotated[ServiceContext, Depends(context)],
) -> Response:
    """All files of one ScW plus SHA256SUMS; resumable (Range), with exact length and ETag."""
    manifest = await _single_scw_manifest(ctx, scw)
    return await stream_plan(request, _store(ctx), Plan.tarball(manifest), f"{scw.id}.tar", TAR)


@router.get("/scw/{scw_id}", summary="One science window: metadata and its files")
async def get_scw(
    request: Request,
    scw: Annotated[ScwId, Depends(scw_id_param)],
    ctx: Annotated[ServiceContext, Depends(context)],
) -> dict[str, Any]:
    """Metadata of one ScW with the size, checksum and URL of each raw file."""
    async with _engine(ctx).connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT scw_id, version, revolution, obsid, scw_type, start_time, end_time, "
                    "ra, dec, isgri_exposure FROM isla.science_windows "
                    "WHERE scw_id = :id AND version = :version"
                ),
                {"id": scw.id, "version": scw.version},
            )
        ).first()
    if row is None:
        raise HTTPException(404, f"unknown ScW {scw.full}")
    manifest = await _single_scw_manifest(ctx, scw)
    files = manifest.as_json(base_url(request))["scws"][0]
    return {
        **{k: v for k, v in row._mapping.items() if k not in ("start_time", "end_time")},
        "start_time": row.start_time.isoformat(),
        "end_time": row.end_time.isoformat(),
        "total_size": manifest.total_size,
        "tar_url": files["tar_url"],
        "files": files["files"],
    }


@router.api_route(
    "/scw/{scw_id}/files/{name}",
    methods=["GET", "HEAD"],
    summary="One raw file of a science window (supports HTTP Range)",
    response_class=StreamingResponse,
)
async def get_scw_file(
    request: Request,
    name: str,
    scw: Annotated[ScwId, Depends(scw_id_param)],
    ctx: Annotated[ServiceContext, Depends(context)],
) -> Response:
    """Stream one file; ``Range: bytes=a-b`` resumes broken downloads."""
    manifest = await _single_scw_manifest(ctx, scw)
    # Only names registered for this ScW are served, so no path can reach other objects.
    entry = next((f for f in manifest.files if f.name == name), None)
    if entry is None:
        known = ", ".join(f.name for f in manifest.files) or "none"
        raise HTTPException(404, f"ScW {scw.full} has no file {name!r}; files: {known}")
    media = "application/gzip" if name.endswith(".gz") else "application/fits"
    plan = Plan.single(entry.object_key, entry.size, entry.sha256)
    return await stream_plan(request, _store(ctx), plan, f"{scw.id}_{entry.name}", media)


@router.get("/revolutions/{revolution}", summary="Science windows of one revolution")
async def get_revolution(
    revolution: str, ctx: Annotated[ServiceContext, Depends(context)]
) -> dict[str, Any]:
    """The ScWs of a revolution in time order (ids, types, times, sizes)."""
    try:
        rev = parse_revolution(revolution)
    except InvalidIdentifier as exc:
        raise HTTPException(400, str(exc)) from exc
    async with _engine(ctx).connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT scw_id, version, scw_type, obsid, start_time, end_time, raw_size "
                    "FROM isla.science_windows WHERE revolution = :rev ORDER BY start_time"
                ),
                {"rev": rev},
            )
        ).all()
    if not rows:
        raise HTTPException(404, f"no science windows in revolution {format_revolution(rev)}")
    return {
        "revolution": format_revolution(rev),
        "count": len(rows),
        "total_size": sum(r.raw_size for r in rows),
        "scws": [
            {
                "scw_id": r.scw_id,
                "version": r.version,
                "scw_type": r.scw_type,
                "obsid": r.obsid,
                "start_time": r.start_time.isoformat(),
                "end_time": r.end_time.isoformat(),
                "size": r.raw_size,
            }
            for r in rows
        ],
    }


# --- selections --------------------------------------------------------------------------------

SELECTION_DOC = (
    " Select with any of: scw (ids, repeated or comma separated), obsid, revolution (81 or "
    "81-85), proposal, source (name, alias or source id) or ra+dec, radius / max_offaxis "
    "(deg, default 15), start/end (ISO UTC), instrument (isgri, jemx, spi), type (pointing, "
    "slew). GET with query parameters, or POST a form, JSON, or a text/CSV list of ScW ids."
)


def client_address(request: Request) -> str:
    """The client's address (uvicorn resolves proxies' forwarded headers when trusted)."""
    return request.client.host if request.client else "unknown"


async def bulk_tarball(request: Request, ctx: ServiceContext, manifest: Manifest) -> Response:
    """A multi-ScW tarball, within the ScW cap and the per-client stream limit."""
    limits = limit_settings()
    if len(manifest.scws) > limits.tarball_max_scws:
        base, query = base_url(request), request.url.query
        where = f"?{query}" if query else " (POST the same selection)"
        raise HTTPException(
            413,
            {
                "detail": (
                    f"{len(manifest.scws)} science windows are more than the "
                    f"{limits.tarball_max_scws} one tarball may hold; fetch them with the "
                    "download script (one request per ScW) or from the manifest"
                ),
                "script": f"{base}/raw/download.sh{where}",
                "manifest": f"{base}/raw/manifest.json{where}",
            },
        )
    plan = Plan.tarball(manifest)
    client = client_address(request)
    if request.method == "HEAD":
        return await stream_plan(request, _store(ctx), plan, f"{manifest.label}.tar", TAR)
    try:
        limiter.acquire(client, limits.bulk_streams_per_client)
    except TooManyStreamsError as exc:
        raise HTTPException(429, str(exc), headers={"Retry-After": RETRY_AFTER}) from exc
    try:
        return await stream_plan(
            request,
            _store(ctx),
            plan,
            f"{manifest.label}.tar",
            TAR,
            body_wrapper=lambda body: limiter.guard(client, body),
        )
    except BaseException:
        limiter.release(client)
        raise


@router.api_route(
    "/archive.tar",
    methods=["GET", "POST", "HEAD"],
    summary="A selection of science windows as one tarball",
    description="A plain tar of all files with SHA256SUMS first; resumable." + SELECTION_DOC,
)
async def archive_tar(
    request: Request, ctx: Annotated[ServiceContext, Depends(context)]
) -> Response:
    """Stream the selection's tarball (up to the ScW cap)."""
    return await bulk_tarball(request, ctx, await select(request, ctx))


@router.api_route(
    "/manifest.json",
    methods=["GET", "POST"],
    summary="Manifest of a selection (JSON)",
    description="The ScWs, their files, sizes, checksums and URLs." + SELECTION_DOC,
)
async def manifest_json(
    request: Request, ctx: Annotated[ServiceContext, Depends(context)]
) -> dict[str, Any]:
    """The manifest as JSON."""
    return (await select(request, ctx)).as_json(base_url(request))


@router.api_route(
    "/manifest.csv",
    methods=["GET", "POST"],
    summary="Manifest of a selection (CSV, one row per file)",
    description=SELECTION_DOC,
    response_class=PlainTextResponse,
)
async def manifest_csv(
    request: Request, ctx: Annotated[ServiceContext, Depends(context)]
) -> Response:
    """The manifest as CSV."""
    manifest = await select(request, ctx)
    return Response(
        manifest.as_csv(base_url(request)),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{manifest.label}.csv"'},
    )


@router.api_route(
    "/SHA256SUMS",
    methods=["GET", "POST"],
    summary="Checksums of a selection (sha256sum -c format)",
    description=SELECTION_DOC,
    response_class=PlainTextResponse,
)
async def checksums(request: Request, ctx: Annotated[ServiceContext, Depends(context)]) -> Response:
    """``sha256  path`` lines for every file, paths as in the tarballs."""
    return PlainTextResponse((await select(request, ctx)).sha256sums())


@router.api_route(
    "/download.sh",
    methods=["GET", "POST"],
    summary="A resumable, parallel download script for a selection",
    description="tool=curl (default) or wget; one request per ScW." + SELECTION_DOC,
    response_class=PlainTextResponse,
)
async def download_script(
    request: Request, ctx: Annotated[ServiceContext, Depends(context)]
) -> Response:
    """A bash script that fetches each ScW's tarball with curl or wget."""
    params = await request_params(request)
    tool = (params.pop("tool", None) or ["curl"])[-1]
    if tool not in ("curl", "wget"):
        raise HTTPException(400, "tool must be curl or wget")
    manifest = await resolve_params(params, ctx)
    sizes = {m.label: Plan.tarball(m).size for m in manifest.per_scw()}
    return Response(
        manifest.download_script(base_url(request), sizes, tool),
        media_type="text/x-shellscript",
        headers={"Content-Disposition": f'attachment; filename="{manifest.label}.sh"'},
    )
