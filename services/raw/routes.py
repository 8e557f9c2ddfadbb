"""Native raw-data API: science windows one by one or in bulk, streamed from the object store.

Every download is planned first (:mod:`services.raw.tarball` on :mod:`shared.packaging`), so it
has an exact ``Content-Length``, a strong ``ETag`` and byte ranges, and is answered by
:func:`shared.http.ranged_response` (Range, If-Range, If-None-Match, HEAD); errors are problem
documents with their HTTP status, never a file. The SQL lives in :mod:`services.raw.selection`
and :mod:`services.raw.store`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.concurrency import run_in_threadpool

from services.raw import aux as raw_aux
from services.raw import ic as raw_ic
from services.raw import store as raw_store
from services.raw import tarball
from services.raw.limits import StreamLimiter, TooManyStreamsError
from services.raw.manifest import Manifest
from services.raw.selection import (
    FOV_COLUMN,
    NothingSelectedError,
    Selection,
    SelectionError,
    parse_selection,
    resolve,
)
from shared.body import MAX_JSON_DEPTH, BodyTooLargeError, json_depth, read_limited
from shared.http import Entity, ranged_response, read_ahead
from shared.integral import InvalidIdentifier, ScwId, format_revolution, parse_revolution
from shared.integral import parse_scw_id as _parse_scw_id
from shared.openapi import Param, answers, inputs
from shared.packaging import TAR, TAR_GZ, Plan, iter_tar_gz
from shared.service import Database, Store
from shared.settings import limit_settings
from shared.storage import ObjectStore
from shared.vo.params import FORM_TYPES, body_type, ivoa_params

router = APIRouter(prefix="/raw", tags=["raw data"])
log = logging.getLogger("isla.raw")
limiter = StreamLimiter()

BodyWrapper = Callable[[AsyncIterator[bytes]], AsyncIterator[bytes]]
"""Wraps a download's byte stream (e.g. to hold a bulk-download slot while it runs)."""


# --- request helpers ---------------------------------------------------------------------------


def scw_id_param(scw_id: Annotated[str, Path(description="ScW id, e.g. 008100430010")]) -> ScwId:
    """Parse the ScW id of a path, answering 400 with the expected form when malformed."""
    try:
        return _parse_scw_id(scw_id)
    except InvalidIdentifier as exc:
        raise HTTPException(400, str(exc)) from exc


def base_url(request: Request) -> str:
    """The public base URL as the client reached us."""
    return str(request.base_url).rstrip("/")


async def request_params(request: Request) -> dict[str, list[str]]:
    """Parameters from the query string and, for POST, the body; names in lower case.

    Names are case-insensitive and repeatable, read by the shared IVOA reader (query string
    and forms, GET and POST alike). A POST body may also be JSON (``{"scw": [...], "obsid":
    ...}``), or plain text / CSV holding ScW ids, such as a TAP result saved as CSV; it is
    refused beyond the upload limit before it is read in full.
    """
    ivoa = await ivoa_params(request)
    params: dict[str, list[str]] = {name.lower(): values for name, values in ivoa.lists.items()}

    def add(name: str, value: Any) -> None:
        values = value if isinstance(value, list) else [value]
        params.setdefault(name.lower(), []).extend(str(v) for v in values)

    for name, data in ivoa.files.items():
        if name.upper() not in ivoa.lists:  # an uploaded file: its text is the value
            add(name, data.decode(errors="replace"))
    kind = body_type(request)
    if request.method != "POST" or kind in FORM_TYPES:
        return params
    # The body was bounded on arrival (BodyLimit); this read stops at the same limit.
    try:
        body = await read_limited(request, limit_settings().selection_max_bytes)
    except BodyTooLargeError as exc:
        raise HTTPException(413, str(exc)) from None
    if kind == "application/json":
        if json_depth(body) > MAX_JSON_DEPTH:
            raise HTTPException(400, f"the JSON body is nested deeper than {MAX_JSON_DEPTH} levels")
        try:
            doc = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise HTTPException(400, f"the JSON body does not parse: {exc}") from exc
        if not isinstance(doc, dict):
            raise HTTPException(400, 'the JSON body must be an object such as {"scw": [...]}')
        for name, value in doc.items():
            if isinstance(value, dict) or (
                isinstance(value, list) and any(isinstance(v, dict | list) for v in value)
            ):
                raise HTTPException(400, f"{name} must be a value or a list of values")
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


async def select(request: Request, engine: AsyncEngine) -> Manifest:
    """Resolve the request's selection to its manifest (400/404 problems otherwise)."""
    return await resolve_params(await request_params(request), engine)


async def resolve_params(params: dict[str, list[str]], engine: AsyncEngine) -> Manifest:
    """Resolve already gathered parameters."""
    try:
        # Up to 100,000 ids to parse: CPU work, kept off the event loop.
        selection: Selection = await run_in_threadpool(parse_selection, params)
    except SelectionError as exc:
        raise HTTPException(400, str(exc)) from exc
    async with engine.connect() as conn:
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
    body_wrapper: BodyWrapper | None = None,
) -> Response:
    """Answer with ``plan`` honouring Range, If-Range, If-None-Match and HEAD.

    ``body_wrapper`` is applied only when bytes are sent (not for HEAD or 304).
    """

    async def body(first: int, last: int) -> AsyncIterator[bytes]:
        # Check the store answers before committing to a 200: an outage is a 503, never a
        # response whose body breaks off at once. Later failures cut the connection short of
        # Content-Length, which clients see as an incomplete download they can resume.
        await run_in_threadpool(store.ping)
        chunks = read_ahead(plan.iter_range(store, first, last))
        return body_wrapper(chunks) if body_wrapper is not None else chunks

    entity = Entity(plan.size, plan.etag, media_type, filename)
    return await ranged_response(request, entity, body)


# --- one science window ------------------------------------------------------------------------


async def _single_scw_manifest(engine: AsyncEngine, scw: ScwId, aux: bool = False) -> Manifest:
    manifest = await resolve_params({"scw": [scw.full]}, engine)
    if not aux:
        return manifest
    async with engine.connect() as conn:
        rows = await raw_store.revolution_aux_files(conn, scw.revolution)
    return raw_aux.with_aux(manifest, rows)


AuxParam = Annotated[
    bool,
    Query(description="Add the revolution's auxiliary files (aux/adp/RRRR.VVV/), as OSA needs."),
]


@router.get(
    "/scw/{scw_id}.tar.gz",
    summary="One science window as a gzip-compressed tarball",
    response_class=StreamingResponse,
    responses=answers(TAR_GZ, description="The compressed tarball."),
)
async def get_scw_targz(
    scw: Annotated[ScwId, Depends(scw_id_param)],
    engine: Database,
    store: Store,
    aux: AuxParam = False,
) -> Response:
    """All files of one ScW plus SHA256SUMS, compressed on the fly (no ranges, no length)."""
    manifest = await _single_scw_manifest(engine, scw, aux)
    await run_in_threadpool(store.ping)  # an outage is a 503 before the first byte
    members = tarball.tarball_members(manifest)
    return StreamingResponse(
        read_ahead(iter_tar_gz(store, members)),
        media_type=TAR_GZ,
        headers={"Content-Disposition": f'attachment; filename="{scw.id}.tar.gz"'},
    )


@router.api_route(
    "/scw/{scw_id}.tar",
    methods=["GET", "HEAD"],
    summary="One science window as a tarball",
    response_class=StreamingResponse,
    responses=answers(TAR, description="The tarball (ranges supported)."),
)
async def get_scw_tar(
    request: Request,
    scw: Annotated[ScwId, Depends(scw_id_param)],
    engine: Database,
    store: Store,
    aux: AuxParam = False,
) -> Response:
    """All files of one ScW plus SHA256SUMS; resumable (Range), with exact length and ETag."""
    manifest = await _single_scw_manifest(engine, scw, aux)
    return await stream_plan(request, store, tarball.tarball(manifest), f"{scw.id}.tar", TAR)


@router.get("/scw/{scw_id}", summary="One science window: metadata and its files")
async def get_scw(
    request: Request, scw: Annotated[ScwId, Depends(scw_id_param)], engine: Database
) -> dict[str, Any]:
    """Metadata of one ScW with the size, checksum and URL of each raw file."""
    async with engine.connect() as conn:
        row = await raw_store.scw_metadata(conn, scw)
    if row is None:
        raise HTTPException(404, f"unknown ScW {scw.full}")
    manifest = await _single_scw_manifest(engine, scw)
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
    responses=answers("application/fits", "application/gzip", description="The file."),
)
async def get_scw_file(
    request: Request,
    name: str,
    scw: Annotated[ScwId, Depends(scw_id_param)],
    engine: Database,
    store: Store,
) -> Response:
    """Stream one file; ``Range: bytes=a-b`` resumes broken downloads."""
    manifest = await _single_scw_manifest(engine, scw)
    # Only names registered for this ScW are served, so no path can reach other objects.
    entry = next((f for f in manifest.files if f.name == name), None)
    if entry is None:
        async with engine.connect() as conn:
            withheld = await raw_store.withheld_file(conn, scw, name)
        if withheld is not None:
            raise HTTPException(
                410,
                f"{scw.full}/{name} is withheld: a verification found it {withheld.state}; "
                "it is served again once it is uploaded and indexed anew",
            )
        known = ", ".join(f.name for f in manifest.files) or "none"
        raise HTTPException(404, f"ScW {scw.full} has no file {name!r}; files: {known}")
    media = "application/gzip" if name.endswith(".gz") else "application/fits"
    plan = tarball.single_file(entry.object_key, entry.size, entry.identity)
    return await stream_plan(request, store, plan, f"{scw.id}_{entry.name}", media)


def _revolution_param(revolution: str) -> int:
    try:
        return parse_revolution(revolution)
    except InvalidIdentifier as exc:
        raise HTTPException(400, str(exc)) from exc


@router.get(
    "/revolutions/{revolution}", summary="Science windows and auxiliary files of one revolution"
)
async def get_revolution(request: Request, revolution: str, engine: Database) -> dict[str, Any]:
    """The ScWs of a revolution in time order (ids, types, times, sizes) and its auxiliary
    files (orbit, attitude, time correlation) with their tarball."""
    rev = _revolution_param(revolution)
    async with engine.connect() as conn:
        rows = await raw_store.revolution_scws(conn, rev)
        aux_rows = await raw_store.revolution_aux_files(conn, rev)
        row = await raw_store.revolution_row(conn, rev)
    if not rows and not aux_rows:
        raise HTTPException(404, f"no science windows in revolution {format_revolution(rev)}")
    base = base_url(request)
    return {
        "revolution": format_revolution(rev),
        "start_time": row.start_time.isoformat() if row else None,
        "end_time": row.end_time.isoformat() if row else None,
        "bounds_source": row.bounds_source if row else None,
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
        "aux_files": raw_aux.describe(base, rev, aux_rows),
        "aux_size": sum(r.size for r in aux_rows),
        "aux_tar_url": f"{base}/raw/revolutions/{format_revolution(rev)}/aux.tar"
        if aux_rows
        else None,
    }


async def _aux_rows(engine: AsyncEngine, rev: int) -> list[Any]:
    async with engine.connect() as conn:
        rows = await raw_store.revolution_aux_files(conn, rev)
    if not rows:
        raise HTTPException(
            404, f"revolution {format_revolution(rev)} has no auxiliary files in the archive"
        )
    return rows


@router.api_route(
    "/revolutions/{revolution}/aux.tar",
    methods=["GET", "HEAD"],
    summary="The auxiliary files of one revolution as a tarball",
    response_class=StreamingResponse,
    responses=answers(TAR, description="The tarball (ranges supported)."),
)
async def get_revolution_aux_tar(
    request: Request, revolution: str, engine: Database, store: Store
) -> Response:
    """aux/adp/RRRR.VVV/... plus SHA256SUMS; resumable (Range), with exact length and ETag."""
    rev = _revolution_param(revolution)
    manifest = raw_aux.aux_manifest(rev, await _aux_rows(engine, rev))
    return await stream_plan(
        request, store, tarball.tarball(manifest), f"{manifest.label}.tar", TAR
    )


@router.api_route(
    "/revolutions/{revolution}/aux/{name:path}",
    methods=["GET", "HEAD"],
    summary="One auxiliary file of a revolution (supports HTTP Range)",
    response_class=StreamingResponse,
    responses=answers("application/fits", "application/gzip", description="The file."),
)
async def get_revolution_aux_file(
    request: Request, revolution: str, name: str, engine: Database, store: Store
) -> Response:
    """Stream one auxiliary file; only registered names are served."""
    rev = _revolution_param(revolution)
    rows = await _aux_rows(engine, rev)
    entry = next((r for r in rows if r.name == name), None)
    if entry is None:
        raise HTTPException(
            404, f"revolution {format_revolution(rev)} has no auxiliary file {name!r}"
        )
    media = "application/gzip" if name.endswith(".gz") else "application/fits"
    (item,) = raw_aux.aux_files([entry])
    plan = tarball.single_file(item.object_key, item.size, item.identity)
    return await stream_plan(request, store, plan, name.rsplit("/", 1)[-1], media)


# --- the instrument-characteristics tree -----------------------------------------------------

IcPath = Annotated[
    str | None,
    Query(description="A folder of the tree: ic/, ic/ibis/, ic/ibis/rsp/, idx/ic/ (default: all)."),
]
IcInstrument = Annotated[
    str | None,
    Query(
        description="An instrument folder of the tree (ibis, jemx, spi, omc, ...).", max_length=64
    ),
]


async def _ic_selection(
    engine: AsyncEngine, path: str | None, instrument: str | None
) -> tuple[Manifest, list[Any]]:
    try:
        prefix = raw_ic.check_prefix(path)
    except raw_ic.IcSelectionError as exc:
        raise HTTPException(400, str(exc)) from exc
    async with engine.connect() as conn:
        rows = await raw_store.ic_files(conn, prefix, instrument or None)
    if not rows:
        raise HTTPException(
            404,
            "no instrument-characteristics files in the archive"
            + (f" for {raw_ic.label(prefix, instrument)}" if path or instrument else ""),
        )
    return raw_ic.ic_manifest(rows, prefix, instrument or None), rows


@router.get("/ic", summary="Files of the instrument-characteristics tree (ic/, idx/ic/)")
async def get_ic(
    request: Request, engine: Database, path: IcPath = None, instrument: IcInstrument = None
) -> dict[str, Any]:
    """The selected files with their sizes, checksums (or the unverified flag) and URLs, the
    folders they are in, and the tarball of the selection."""
    manifest, rows = await _ic_selection(engine, path, instrument)
    return raw_ic.describe(base_url(request), manifest, rows)


@router.api_route(
    "/ic.tar",
    methods=["GET", "HEAD"],
    summary="Files of the instrument-characteristics tree as a tarball",
    response_class=StreamingResponse,
    responses=answers(TAR, description="The tarball (ranges supported)."),
)
async def get_ic_tar(
    request: Request,
    engine: Database,
    store: Store,
    path: IcPath = None,
    instrument: IcInstrument = None,
) -> Response:
    """The selection in ISDC's layout with SHA256SUMS first; resumable (Range), with exact
    length and ETag; one of the client's bulk-download slots while it streams."""
    manifest, _rows = await _ic_selection(engine, path, instrument)
    plan = await run_in_threadpool(tarball.tarball, manifest)
    return await stream_plan(
        request, store, plan, f"{manifest.label}.tar", TAR, body_wrapper=bulk_slot(request)
    )


@router.api_route(
    "/ic/files/{path:path}",
    methods=["GET", "HEAD"],
    summary="One file of the instrument-characteristics tree (supports HTTP Range)",
    response_class=StreamingResponse,
    responses=answers("application/fits", "application/gzip", description="The file."),
)
async def get_ic_file(request: Request, path: str, engine: Database, store: Store) -> Response:
    """Stream one registered file (``ic/...`` or ``idx/ic/...``); only registered paths."""
    async with engine.connect() as conn:
        rows = await raw_store.ic_files(conn, path)
        entry = next((r for r in rows if r.path == path), None)
        withheld = None if entry is not None else await raw_store.withheld_ic_file(conn, path)
    if withheld is not None:
        raise HTTPException(
            410,
            f"{path} is withheld: a verification found it {withheld.state}; it is served "
            "again once it is uploaded and indexed anew",
        )
    if entry is None:
        raise HTTPException(404, f"no instrument-characteristics file {path!r}")
    media = "application/gzip" if path.endswith(".gz") else "application/fits"
    (item,) = raw_ic.ic_files([entry])
    plan = tarball.single_file(item.object_key, item.size, item.identity)
    return await stream_plan(request, store, plan, path.rsplit("/", 1)[-1], media)


# --- selections --------------------------------------------------------------------------------

SELECTION_DOC = (
    " Select with any of: scw (ids, repeated or comma separated), obsid, revolution (81 or "
    "81-85), proposal, source (name, alias or source id) or ra+dec, radius / max_offaxis "
    "(deg, default 15), start/end (ISO UTC), instrument (isgri, picsit, jemx, jemx1, jemx2, spi, "
    "omc: ScWs with exposure of it), type (pointing, "
    "slew). GET with query parameters, or POST a form, JSON, or a text/CSV list of ScW ids."
)


SELECTION_PARAMETERS = (
    Param("scw", "ScW ids (012345678901 or with .001), repeated or comma separated."),
    Param("obsid", "Observation id (11 digits)."),
    Param("revolution", "A revolution (81) or a range (81-85)."),
    Param("proposal", "Proposal id (digits)."),
    Param("source", "Source name, alias or source id."),
    Param("ra", "Right ascension (ICRS, degrees), with dec.", "number"),
    Param("dec", "Declination (ICRS, degrees), with ra.", "number"),
    Param("radius", "Largest off-axis angle of the pointing (degrees, default 15).", "number"),
    Param("max_offaxis", "Same as radius.", "number"),
    Param("start", "Start of a time range (ISO 8601 UTC)."),
    Param("end", "End of a time range (ISO 8601 UTC)."),
    Param("instrument", "Instrument whose field of view holds the source.", enum=tuple(FOV_COLUMN)),
    Param("type", "ScW type.", enum=("pointing", "slew")),
)
"""Selection parameters, as OpenAPI declares them (GET query or POST form)."""

SELECTION_BODIES = ("application/json", "text/plain", "text/csv")
"""Other POST bodies of a selection: a JSON object of the parameters, or a list of ScW ids."""

SELECTION_INPUTS = inputs(SELECTION_PARAMETERS, *SELECTION_BODIES)


def client_address(request: Request) -> str:
    """The client's address (uvicorn resolves proxies' forwarded headers when trusted)."""
    return request.client.host if request.client else "unknown"


async def bulk_tarball(request: Request, store: ObjectStore, manifest: Manifest) -> Response:
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
    plan = tarball.tarball(manifest)
    return await stream_plan(
        request, store, plan, f"{manifest.label}.tar", TAR, body_wrapper=bulk_slot(request)
    )


def bulk_slot(request: Request) -> BodyWrapper:
    """A body wrapper that holds one of the client's bulk-download slots while it streams."""
    limits = limit_settings()
    client = client_address(request)

    def hold_slot(body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        # Only a download that sends bytes takes a slot (HEAD and 304 send none); the guard
        # gives it back however the stream ends.
        try:
            limiter.acquire(client, limits.bulk_streams_per_client)
        except TooManyStreamsError as exc:
            raise HTTPException(
                429, str(exc), headers={"Retry-After": str(limits.retry_after)}
            ) from exc
        return limiter.guard(client, body)

    return hold_slot


@router.api_route(
    "/archive.tar",
    methods=["GET", "POST", "HEAD"],
    summary="A selection of science windows as one tarball",
    description="A plain tar of all files with SHA256SUMS first; resumable." + SELECTION_DOC,
    openapi_extra=SELECTION_INPUTS,
    response_class=StreamingResponse,
    responses=answers(TAR, description="The tarball."),
)
async def archive_tar(request: Request, engine: Database, store: Store) -> Response:
    """Stream the selection's tarball (up to the ScW cap)."""
    return await bulk_tarball(request, store, await select(request, engine))


def _attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"'}


@router.api_route(
    "/manifest.json",
    methods=["GET", "POST"],
    summary="Manifest of a selection (JSON)",
    description="The ScWs, their files, sizes, checksums and URLs." + SELECTION_DOC,
    openapi_extra=SELECTION_INPUTS,
    response_class=StreamingResponse,
    responses={200: {"content": {"application/json": {}}, "description": "The manifest."}},
)
async def manifest_json(request: Request, engine: Database) -> Response:
    """The manifest as JSON, streamed one ScW at a time."""
    manifest = await select(request, engine)
    return StreamingResponse(manifest.iter_json(base_url(request)), media_type="application/json")


@router.api_route(
    "/manifest.csv",
    methods=["GET", "POST"],
    summary="Manifest of a selection (CSV, one row per file)",
    description=SELECTION_DOC,
    openapi_extra=SELECTION_INPUTS,
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "One row per file."}},
)
async def manifest_csv(request: Request, engine: Database) -> Response:
    """The manifest as CSV, streamed."""
    manifest = await select(request, engine)
    return StreamingResponse(
        manifest.iter_csv(base_url(request)),
        media_type="text/csv",
        headers=_attachment(f"{manifest.label}.csv"),
    )


@router.api_route(
    "/SHA256SUMS",
    methods=["GET", "POST"],
    summary="Checksums of a selection (sha256sum -c format)",
    description=SELECTION_DOC,
    openapi_extra=SELECTION_INPUTS,
    response_class=StreamingResponse,
    responses={200: {"content": {"text/plain": {}}, "description": "sha256sum -c lines."}},
)
async def checksums(request: Request, engine: Database) -> Response:
    """``sha256  path`` lines for every file, paths as in the tarballs, streamed."""
    manifest = await select(request, engine)
    return StreamingResponse(manifest.iter_sha256sums(), media_type="text/plain; charset=utf-8")


@router.api_route(
    "/download.sh",
    methods=["GET", "POST"],
    summary="A resumable, parallel download script for a selection",
    description="tool=curl (default) or wget; one request per ScW." + SELECTION_DOC,
    openapi_extra=inputs(
        (*SELECTION_PARAMETERS, Param("tool", "Download tool.", enum=("curl", "wget"))),
        *SELECTION_BODIES,
    ),
    response_class=StreamingResponse,
    responses={200: {"content": {"text/x-shellscript": {}}, "description": "A bash script."}},
)
async def download_script(request: Request, engine: Database) -> Response:
    """A bash script that fetches each ScW's tarball with curl or wget, streamed."""
    params = await request_params(request)
    tool = (params.pop("tool", None) or ["curl"])[-1]
    if tool not in ("curl", "wget"):
        raise HTTPException(400, "tool must be curl or wget")
    manifest = await resolve_params(params, engine)

    def sizes() -> dict[str, int]:
        return {m.label: tarball.tarball(m).size for m in manifest.per_scw()}

    tar_sizes = await run_in_threadpool(sizes)  # one tar plan per ScW: CPU work off the loop
    return StreamingResponse(
        manifest.iter_download_script(base_url(request), tar_sizes, tool),
        media_type="text/x-shellscript",
        headers=_attachment(f"{manifest.label}.sh"),
    )
