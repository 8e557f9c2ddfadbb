"""HTTP API of product ingestion and of the raw-data index.

- ``POST /ingest/products``: one delivery of FITS files, as ``multipart/form-data`` (one or more
  ``file`` parts, metadata as form fields or query parameters) or as a raw body
  (``Content-Type: application/fits`` or ``application/gzip``, ``?file_name=...``). The size is
  checked against ``Content-Length`` before anything is read, and counted while reading
  (413 past ``ISLA_UPLOAD_MAX_BYTES``). Answers 201 (something written), 200 (every file
  unchanged), 422 with the full ``problems`` list when QC refuses, 403/409 for replacements.
- ``GET /ingest/products/{product_id}``: the registered row (the owning team and operators).
- ``POST /ingest/products/recover``: finish or undo interrupted deliveries (operators).
- ``POST /ingest/raw-index[?revolution=R|ic_only=true]``, ``POST /ingest/raw-verify[?sample=N]``:
  queue the indexing or the verification of the raw bucket (operators and ISDC; 202 with the
  job URL).
- ``POST /ingest/scw-index?name=&version=``, ``POST /ingest/revolution-table?version=``: deliver
  the ScW index (good times, exposures) or the revolution table (jobs, 202).
- ``GET /ingest/raw-index/runs``: the latest indexer runs.

Every product delivery, accepted or refused, is recorded in the audit trail.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import AsyncGenerator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from services.ingest import audit, jobs, products, raw_index
from services.ingest.auth import Principal, require_principal, require_role
from shared.body import BodyTooLargeError, read_limited
from shared.demo.delivery import MAX_DELIVERY_FILES
from shared.service import db_engine, object_store, problem, sync_db_engine
from shared.settings import limit_settings, storage_settings

router = APIRouter(prefix="/ingest", tags=["products and raw index"])

ROLE_INSTRUMENTS = {
    "ibis": {"ISGRI", "PICsIT"},
    "jemx": {"JEM-X"},
    "spi": {"SPI", "SPI-ACS"},
    "omc": {"OMC"},
}
"""Instruments whose products an instrument team's role may deliver (isdc/operator: all)."""

_MULTIPART_SLACK = 64 * 1024  # part headers and boundaries around the files


def _refusal(status: int, title: str, problems: list[dict[str, str]]) -> JSONResponse:
    detail = (
        problems[0]["message"]
        if len(problems) == 1
        else f"{len(problems)} problems; nothing was written"
    )
    return problem(status, title, detail, problems=problems)


async def _body(request: Request, limit: int) -> bytes | None:
    """The request body, or None once it exceeds ``limit`` (read no further)."""
    try:
        return await read_limited(request, limit)
    except BodyTooLargeError:
        return None


async def _replay(data: bytes) -> AsyncGenerator[bytes, None]:
    for i in range(0, len(data), 1 << 20):
        yield data[i : i + (1 << 20)]


_PARAM_NAMES = ("kind", "source_id", "epoch", "band", "scope", "arf", "rmf", "replace")


async def _read_delivery(
    request: Request, limit: int
) -> tuple[list[tuple[str, bytes]], dict[str, str]] | JSONResponse:
    """Files and metadata of the request, or the refusal to send."""
    declared = request.headers.get("content-length")
    too_big = [{"file": "-", "code": "size", "message": f"larger than {limit} bytes"}]
    slack = _MULTIPART_SLACK if "multipart/" in request.headers.get("content-type", "") else 0
    if declared is not None and declared.isdigit() and int(declared) > limit + slack:
        return _refusal(413, "Payload too large", too_big)
    body = await _body(request, limit + slack)
    if body is None:
        return _refusal(413, "Payload too large", too_big)
    params = {k: v for k, v in request.query_params.items() if k in (*_PARAM_NAMES, "file_name")}
    ctype = request.headers.get("content-type", "")
    files: list[tuple[str, bytes]] = []
    if ctype.startswith("multipart/form-data"):
        try:
            form = await MultiPartParser(
                request.headers, _replay(body), max_files=MAX_DELIVERY_FILES
            ).parse()
        except MultiPartException as exc:
            return _refusal(
                400, "Bad request", [{"file": "-", "code": "form", "message": str(exc)}]
            )
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                files.append((value.filename or "", await value.read()))
            elif key in _PARAM_NAMES:
                params[key] = value
    else:
        files.append((params.pop("file_name", ""), body))
    if sum(len(data) for _, data in files) > limit:
        return _refusal(413, "Payload too large", too_big)
    params.pop("file_name", None)
    return files, params


def _params(raw: dict[str, str]) -> products.DeliveryParams:
    return products.DeliveryParams(
        kind=raw.get("kind") or None,
        source_id=raw.get("source_id") or None,
        epoch=raw.get("epoch") or None,
        band=raw.get("band") or None,
        scope=raw.get("scope") or None,
        arf=raw.get("arf") or None,
        rmf=raw.get("rmf") or None,
        replace=raw.get("replace", "").lower() in ("1", "true", "yes"),
    )


_TEXT = {"type": "string"}
_REQUEST_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {
                    "file": {"type": "array", "items": {"type": "string", "format": "binary"}},
                    **dict.fromkeys(_PARAM_NAMES, _TEXT),
                },
                "required": ["file"],
            }
        },
        "application/fits": {"schema": {"type": "string", "format": "binary"}},
        "application/gzip": {"schema": {"type": "string", "format": "binary"}},
    },
}


_ACTION = "product.ingest"
"""What the audit log records these deliveries as."""


@router.post(
    "/products",
    summary="Deliver FITS products (multipart or raw body); QC first, all or nothing",
    status_code=201,
    responses={
        200: {"description": "every file was already in the archive (no-op)"},
        413: {"description": "upload too large (refused before being read in full)"},
        422: {"description": "QC refused the delivery; `problems` lists every reason"},
    },
    openapi_extra={"requestBody": _REQUEST_BODY},
)
async def deliver_products(
    request: Request,
    principal: Annotated[Principal, Depends(require_principal)],
) -> JSONResponse:
    """Ingest light curves, spectra (with ARF/RMF), mosaics or all-sky maps."""
    limit = limit_settings().upload_max_bytes
    read = await _read_delivery(request, limit)
    if isinstance(read, JSONResponse):
        await audit.record_request(
            request, principal, _ACTION, "-", None, "refused", {"status": read.status_code}
        )
        return read
    files, raw = read
    target = ",".join(name for name, _ in files)[:500] or "-"
    checksum = hashlib.sha256(files[0][1]).hexdigest() if files else None
    params = _params(raw)
    store = object_store(request)
    engine = sync_db_engine(request)
    allowed = (
        None if principal.role in ("operator", "isdc") else ROLE_INSTRUMENTS.get(principal.role)
    )
    caller = products.Caller(
        team=principal.team,
        is_operator=principal.is_operator,
        instruments=frozenset(allowed) if allowed is not None else None,
    )
    try:
        result = await run_in_threadpool(
            products.ingest_delivery, engine, store, files, params, caller, limit
        )
    except products.IngestRefused as exc:
        listed = [p.as_dict() for p in exc.problems]
        await audit.record_request(
            request,
            principal,
            _ACTION,
            target,
            checksum,
            "refused",
            {"status": exc.status, "problems": listed},
        )
        return _refusal(exc.status, exc.title, listed)
    states = {p["status"] for p in result.products}
    outcome = "unchanged" if states == {"unchanged"} else "accepted"
    await audit.record_request(
        request, principal, _ACTION, target, checksum, outcome, result.as_dict()
    )
    return JSONResponse(result.as_dict(), status_code=200 if outcome == "unchanged" else 201)


@router.post("/products/recover", summary="Finish or undo interrupted product deliveries")
async def recover(
    request: Request,
    principal: Annotated[Principal, Depends(require_role())],
) -> dict[str, Any]:
    """Roll interrupted deliveries forward (or remove their leftovers); operators only."""
    del principal
    report = await run_in_threadpool(
        products.recover_pending, sync_db_engine(request), object_store(request), True
    )
    return report.as_dict()


@router.get("/products/{product_id:path}", summary="A registered product (owner team, operators)")
async def product_row(
    request: Request,
    product_id: str,
    principal: Annotated[Principal, Depends(require_principal)],
) -> dict[str, Any]:
    """The ``isla.products`` row of a product."""
    async with db_engine(request).connect() as conn:
        row = (
            (
                await conn.execute(
                    text("SELECT * FROM isla.products WHERE product_id = :p"), {"p": product_id}
                )
            )
            .mappings()
            .first()
        )
    if row is None:
        raise HTTPException(404, f"no product {product_id!r}")
    if not principal.may_act_for(str((row["meta"] or {}).get("team"))):
        raise HTTPException(403, "only the owning team or an operator may read this")
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}


async def _queued(
    request: Request,
    kind: str,
    target: str,
    params: dict[str, Any],
    principal: Principal,
    stage: Any = None,
) -> JSONResponse:
    """Queue a raw-data job and answer 202 with its URL (``stage``: work to do in the same
    transaction once the job id is known, e.g. staging an upload)."""
    from services.ingest.raw_index import jobs as raw_jobs
    from services.ingest.routes import job_view

    async with db_engine(request).begin() as conn:
        job_id = await raw_jobs.submit(conn, kind, target, params, principal)
        if stage is not None:
            await stage(job_id)
        await audit.record(
            conn, principal, f"{kind}.request", target, None, "accepted", {"job_id": job_id}
        )
    async with db_engine(request).connect() as conn:
        row = await jobs.STORE.get(conn, job_id)
    assert row is not None
    view = job_view(dict(row), request)
    return JSONResponse(view, status_code=202, headers={"Location": view["url"]})


_QUEUED: dict[int | str, dict[str, Any]] = {
    202: {"description": "queued: follow the job URL for progress and the report"}
}


@router.post(
    "/raw-index",
    summary="Index the raw bucket as a background job (operators, ISDC)",
    status_code=202,
    responses=_QUEUED,
)
async def run_raw_index(
    request: Request,
    principal: Annotated[Principal, Depends(require_role("isdc"))],
    revolution: Annotated[int | None, Query(ge=0, le=9999)] = None,
    hash: Annotated[bool, Query(description="Hash objects without a stored checksum now.")] = True,
    workers: Annotated[int, Query(ge=1, le=64, description="Hashing threads.")] = 8,
    ic_only: Annotated[
        bool, Query(description="Only the instrument-characteristics tree (ic/, idx/ic/).")
    ] = False,
) -> JSONResponse:
    """Queue the indexing of one revolution, or of all and the instrument-characteristics
    tree (or that tree alone); resumes an interrupted run."""
    if ic_only and revolution is not None:
        raise HTTPException(400, "ic_only and revolution exclude each other")
    target = "raw:ic" if ic_only else "raw:all" if revolution is None else f"raw:{revolution:04d}"
    params = {"revolution": revolution, "hash": hash, "workers": workers, "ic_only": ic_only}
    return await _queued(request, "raw-index", target, params, principal)


@router.post(
    "/raw-verify",
    summary="Verify stored raw files as a background job (operators, ISDC)",
    status_code=202,
    responses=_QUEUED,
)
async def run_raw_verify(
    request: Request,
    principal: Annotated[Principal, Depends(require_role("isdc"))],
    sample: Annotated[
        int | None, Query(ge=1, description="Files to check; all when absent.")
    ] = None,
    workers: Annotated[int, Query(ge=1, le=64, description="Hashing threads.")] = 8,
) -> JSONResponse:
    """Queue a verification of ``sample`` files (checked longest ago first) or of all."""
    target = "raw:all" if sample is None else f"raw:sample:{sample}"
    return await _queued(
        request, "raw-verify", target, {"sample": sample, "workers": workers}, principal
    )


@router.get("/scw-index/interface", summary="The ScW index interface (scw_index/1)")
async def scw_index_interface() -> dict[str, Any]:
    """Columns of the ScW index interface, with the ISDC and HEASARC names it accepts."""
    from services.ingest.raw_index.exposures import SCW_INDEX_INTERFACE

    return SCW_INDEX_INTERFACE.describe()


async def _staged_job(
    request: Request,
    principal: Principal,
    kind: str,
    target: str,
    params: dict[str, Any],
) -> JSONResponse:
    """Stage the request body (a table) in the object store and queue its job."""
    from services.ingest.raw_index import jobs as raw_jobs

    limit = limit_settings().upload_max_bytes
    body = await _body(request, limit)
    if body is None:
        too_big = [{"file": "-", "code": "size", "message": f"larger than {limit} bytes"}]
        return _refusal(413, "Payload too large", too_big)
    if not body:
        return _refusal(400, "Bad request", [{"file": "-", "code": "empty", "message": "no body"}])
    store = object_store(request)
    bucket = storage_settings().s3_products_bucket

    async def stage(job_id: int) -> None:
        await run_in_threadpool(store.put_bytes, bucket, raw_jobs.staging_key(job_id), body)

    return await _queued(request, kind, target, params, principal, stage)


_NAME = r"^[A-Za-z0-9_.-]+$"


@router.post(
    "/scw-index",
    summary="Deliver the ScW index (good times, exposures) as a background job",
    status_code=202,
    responses=_QUEUED,
)
async def deliver_scw_index(
    request: Request,
    principal: Annotated[Principal, Depends(require_role("isdc"))],
    name: Annotated[str, Query(min_length=1, max_length=64, pattern=_NAME)],
    version: Annotated[str, Query(min_length=1, max_length=64, pattern=_NAME)],
    file_name: Annotated[str | None, Query(max_length=255, pattern=_NAME)] = None,
) -> JSONResponse:
    """Stage the ScW index (request body: FITS, VOTable or CSV) and queue its load."""
    from services.ingest.raw_index.scw_index import ScwIndexDelivery

    delivery = ScwIndexDelivery(name=name, version=version, filename=file_name)
    params = {"delivery": dataclasses.asdict(delivery)}
    return await _staged_job(request, principal, "scw-index", delivery.label(), params)


@router.post(
    "/revolution-table",
    summary="Deliver ISDC's revolution table (start and end of each revolution) as a job",
    status_code=202,
    responses=_QUEUED,
)
async def deliver_revolution_table(
    request: Request,
    principal: Annotated[Principal, Depends(require_role("isdc"))],
    version: Annotated[str, Query(min_length=1, max_length=64, pattern=_NAME)],
    file_name: Annotated[str | None, Query(max_length=255, pattern=_NAME)] = None,
) -> JSONResponse:
    """Stage the table (revolution, start/end as UTC or IJD) and queue its load; its rows
    replace the bounds from orbit files and from the model (``bounds_source``)."""
    params = {"version": version, "file_name": file_name}
    return await _staged_job(
        request, principal, "revolution-table", f"revolutions@{version}", params
    )


@router.get("/raw-index/runs", summary="The latest raw-index runs")
async def raw_index_runs(
    request: Request,
    principal: Annotated[Principal, Depends(require_principal)],
) -> dict[str, Any]:
    """Runs with their progress, newest first."""
    del principal
    runs = await run_in_threadpool(lambda: list(raw_index.iter_runs(sync_db_engine(request))))
    return {
        "runs": [
            {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in run.items()}
            for run in runs
        ]
    }
