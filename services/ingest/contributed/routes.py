"""HTTP API of contributed collections (``/ingest/contributed``).

- ``POST /ingest/contributed``: deliver a version of a collection, ``multipart/form-data`` with
  ``file`` parts (the products), one ``documentation`` part, at most one ``software`` part, and
  the metadata as form fields (``collection``, ``title``, ``authors``, ``description``,
  ``licence``, ``instrument``; ``version_label``, ``software_licence``, ``software_version``).
  201 with the new version (state ``submitted``); 422 listing every problem; 403 for another
  team's collection or an instrument the role may not deliver; 413 past the upload limit.
- ``GET /ingest/contributed[?collection=]``: the caller's team's deliveries (operators: all).
- ``GET /ingest/contributed/{collection}/{version}``: one delivery (its team, operators).
- ``POST /ingest/contributed/{collection}/{version}/state``: ``state=accepted|published|
  rejected`` (``note=`` optional); operators only; 409 off the allowed edges.
- ``POST /ingest/contributed/recover``: remove leftovers of interrupted deliveries (operators).

Every write, accepted, refused or forbidden, is a row of the audit trail
(``contributed.deliver``, ``contributed.review``, ``contributed.recover``).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncGenerator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from services.ingest import audit, qc
from services.ingest.auth import Principal, require_principal
from services.ingest.contributed import service
from shared.body import BodyTooLargeError, read_limited
from shared.service import object_store as object_store_of
from shared.service import problem, sync_db_engine
from shared.settings import limit_settings

router = APIRouter(prefix="/ingest", tags=["contributed collections"])

MULTIPART_SLACK = 64 * 1024
"""Bytes of part headers, boundaries and metadata fields allowed beyond the files."""

MAX_PARTS = 64
"""Most files in one delivery."""

_FILE_ROLES = {"file": "product", "documentation": "documentation", "software": "software"}


def _actor(principal: Principal) -> service.Actor:
    return service.Actor(principal.team, principal.role, principal.token_id)


def _refusal(exc: service.ContributedRefused) -> JSONResponse:
    listed = [p.as_dict() for p in exc.problems]
    detail = (
        listed[0]["message"] if len(listed) == 1 else f"{len(listed)} problems; nothing was written"
    )
    extra: dict[str, Any] = {"problems": listed}
    if exc.nearby is not None:
        extra["nearby"] = exc.nearby
    return problem(exc.status, exc.title, detail, **extra)


async def _replay(data: bytes) -> AsyncGenerator[bytes, None]:
    for i in range(0, len(data), 1 << 20):
        yield data[i : i + (1 << 20)]


async def _read_form(
    request: Request, limit: int
) -> tuple[dict[str, list[tuple[str, bytes]]], dict[str, str]]:
    """Files by role and metadata fields of a multipart delivery (raises the refusals)."""
    too_big = service.ContributedRefused(
        413,
        "Payload too large",
        [qc.Problem("-", "size", f"larger than {limit} bytes")],
    )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit + MULTIPART_SLACK:
        raise too_big
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise service.ContributedRefused(
            415,
            "Unsupported media type",
            [qc.Problem("-", "form", "send multipart/form-data (curl -F)")],
        )
    try:
        body = await read_limited(request, limit + MULTIPART_SLACK)
    except BodyTooLargeError:
        raise too_big from None
    try:
        form = await MultiPartParser(request.headers, _replay(body), max_files=MAX_PARTS).parse()
    except MultiPartException as exc:
        raise service.ContributedRefused(
            400, "Bad request", [qc.Problem("-", "form", str(exc))]
        ) from None
    files: dict[str, list[tuple[str, bytes]]] = {role: [] for role in _FILE_ROLES.values()}
    fields: dict[str, str] = {}
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            role = _FILE_ROLES.get(key)
            if role is None:
                raise service.ContributedRefused(
                    400,
                    "Bad request",
                    [
                        qc.Problem(
                            value.filename or "-",
                            "form",
                            f"unknown file part {key!r}: use file, documentation or software",
                        )
                    ],
                )
            files[role].append((value.filename or "", await value.read()))
        else:
            fields[key] = value
    if sum(len(d) for role in files.values() for _, d in role) > limit:
        raise too_big
    return files, fields


@router.post(
    "/contributed",
    summary="Deliver a version of a contributed collection (products, documentation, software)",
    status_code=201,
    responses={
        403: {"description": "another team's collection, or an instrument the role may not"},
        413: {"description": "upload too large"},
        422: {"description": "format checks or metadata refused it; `problems` lists all"},
    },
)
async def deliver(
    request: Request,
    principal: Annotated[Principal, Depends(require_principal)],
) -> JSONResponse:
    """Check every file and the metadata, then store the delivery as the collection's next
    version, state ``submitted`` (all or nothing)."""
    limit = limit_settings().upload_max_bytes
    target = "-"
    checksum = None
    try:
        files, fields = await _read_form(request, limit)
        target = (fields.get("collection") or "-")[:200]
        everything = [d for role in files.values() for _, d in role]
        checksum = hashlib.sha256(everything[0]).hexdigest() if everything else None
        result = await run_in_threadpool(
            service.deliver,
            sync_db_engine(request),
            object_store_of(request),
            _actor(principal),
            fields,
            files["product"],
            files["documentation"],
            files["software"],
            limit,
        )
    except service.ContributedRefused as exc:
        outcome = "forbidden" if exc.status == 403 else "refused"
        await audit.record_request(
            request,
            principal,
            "contributed.deliver",
            target,
            checksum,
            outcome,
            {"status": exc.status, "problems": [p.as_dict() for p in exc.problems]},
        )
        return _refusal(exc)
    await audit.record_request(
        request,
        principal,
        "contributed.deliver",
        f"{result['collection']}@{result['version']}",
        checksum,
        "accepted",
        {"delivery_id": result["delivery_id"], "files": len(result["files"])},
    )
    return JSONResponse(result, status_code=201)


@router.post("/contributed/recover", summary="Remove leftovers of interrupted deliveries")
async def recover(
    request: Request,
    principal: Annotated[Principal, Depends(require_principal)],
) -> JSONResponse:
    """Delete the objects of deliveries that died before their commit (operators)."""
    if not principal.is_operator:
        await audit.record_request(
            request, principal, "contributed.recover", "-", None, "forbidden", {}
        )
        return problem(403, "Forbidden", "only operators run recovery")
    report = await run_in_threadpool(
        service.recover, sync_db_engine(request), object_store_of(request)
    )
    await audit.record_request(request, principal, "contributed.recover", "-", None, "done", report)
    return JSONResponse(report)


@router.get("/contributed", summary="Deliveries of contributed collections (own team; operators)")
async def list_deliveries(
    request: Request,
    principal: Annotated[Principal, Depends(require_principal)],
    collection: Annotated[str | None, Query(max_length=64)] = None,
) -> JSONResponse:
    """Every delivery the caller may see, in every state."""
    try:
        listed = await run_in_threadpool(
            service.list_deliveries, sync_db_engine(request), _actor(principal), collection
        )
    except service.ContributedRefused as exc:
        return _refusal(exc)
    return JSONResponse({"deliveries": listed})


@router.get(
    "/contributed/{collection}/{version}",
    summary="One delivery of a contributed collection (its team; operators)",
)
async def get_delivery(
    request: Request,
    collection: str,
    version: int,
    principal: Annotated[Principal, Depends(require_principal)],
) -> JSONResponse:
    """The delivery with its files, QC facts, state and review history."""
    try:
        found = await run_in_threadpool(
            service.get_delivery, sync_db_engine(request), _actor(principal), collection, version
        )
    except service.ContributedRefused as exc:
        return _refusal(exc)
    return JSONResponse(found)


@router.post(
    "/contributed/{collection}/{version}/state",
    summary="Review a delivery: accepted, published or rejected (operators)",
    responses={
        403: {"description": "not an operator"},
        404: {"description": "no such collection or version (nearby names listed)"},
        409: {"description": "the move is not allowed from the current state"},
    },
)
async def change_state(
    request: Request,
    collection: str,
    version: int,
    principal: Annotated[Principal, Depends(require_principal)],
) -> JSONResponse:
    """Move a delivery along submitted → accepted → published (or to rejected)."""
    form = await request.form()
    state = str(form.get("state") or request.query_params.get("state") or "")
    note = str(form.get("note") or "") or None
    target = f"{collection}@{version}"
    try:
        result = await run_in_threadpool(
            service.review,
            sync_db_engine(request),
            _actor(principal),
            collection,
            version,
            state,
            note,
        )
    except service.ContributedRefused as exc:
        outcome = "forbidden" if exc.status == 403 else "refused"
        await audit.record_request(
            request,
            principal,
            "contributed.review",
            target,
            None,
            outcome,
            {"state": state, "status": exc.status, "problems": [p.as_dict() for p in exc.problems]},
        )
        return _refusal(exc)
    await audit.record_request(
        request, principal, "contributed.review", target, None, "done", {"state": state}
    )
    return JSONResponse(result)
