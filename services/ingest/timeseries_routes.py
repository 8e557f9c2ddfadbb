"""HTTP API of time-series ingestion: ``POST /ingest/timeseries``.

One delivered FITS file per request, as a raw body (``Content-Type: application/fits``,
``?file_name=...``) or as ``multipart/form-data`` with one ``file`` part. Optional ``dataset``
(checked against the file's instrument) and ``replace``. The same bearer tokens, roles and audit
trail as product deliveries: ``spi`` may deliver SPI-ACS, ``isdc`` and ``operator`` anything.
Answers 201 (created or replaced), 200 (unchanged), 400/403/409/413/422 with ``problems``.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncGenerator
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from services.ingest import audit
from services.ingest.auth import Principal, require_principal
from services.ingest.timeseries import TimeseriesRefused, ingest_file
from shared.service import object_store, problem, sync_db_engine

router = APIRouter(prefix="/ingest", tags=["time series"])

MAX_BYTES = 256 * 1024 * 1024
"""Largest delivered file: a revolution at 50 ms with double-precision columns is ~125 MB."""

ROLE_INSTRUMENTS = {"spi": frozenset({"SPI-ACS"})}
"""Instruments an instrument team may deliver time series of (isdc, operator: all)."""

_SLACK = 64 * 1024


def _refusal(status: int, title: str, problems: list[dict[str, str]]) -> JSONResponse:
    detail = problems[0]["message"] if len(problems) == 1 else f"{len(problems)} problems"
    return problem(status, title, detail, problems=problems)


async def _replay(data: bytes) -> AsyncGenerator[bytes, None]:
    for i in range(0, len(data), 1 << 20):
        yield data[i : i + (1 << 20)]


async def _read(request: Request) -> tuple[str, bytes, dict[str, str]] | JSONResponse:
    """File name, bytes and form fields of the request, or the refusal."""
    too_big = [{"file": "-", "code": "size", "message": f"larger than {MAX_BYTES} bytes"}]
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BYTES + _SLACK:
        return _refusal(413, "Payload too large", too_big)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BYTES + _SLACK:
            return _refusal(413, "Payload too large", too_big)
        chunks.append(chunk)
    body = b"".join(chunks)
    fields = dict(request.query_params)
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        try:
            form = await MultiPartParser(request.headers, _replay(body), max_files=1).parse()
        except MultiPartException as exc:
            return _refusal(
                400, "Bad request", [{"file": "-", "code": "form", "message": str(exc)}]
            )
        upload = None
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                upload = value
            else:
                fields[key] = value
        if upload is None:
            missing = [{"file": "-", "code": "form", "message": "no file part"}]
            return _refusal(400, "Bad request", missing)
        name, body = upload.filename or "", await upload.read()
    else:
        name = fields.get("file_name", "")
    if len(body) > MAX_BYTES:
        return _refusal(413, "Payload too large", too_big)
    return name, body, fields


_ACTION = "timeseries.ingest"
"""What the audit log records these deliveries as."""


@router.post(
    "/timeseries",
    summary="Deliver one SPI-ACS or IREM time-series file (one revolution)",
    status_code=201,
    responses={
        200: {"description": "the file was already held (no-op)"},
        409: {"description": "another file is held for this dataset and revolution"},
        413: {"description": "file too large"},
        422: {"description": "QC refused the file; `problems` lists every reason"},
    },
)
async def deliver_timeseries(
    request: Request,
    principal: Annotated[Principal, Depends(require_principal)],
) -> JSONResponse:
    """Check, store and register one file, and build its serving copy."""
    read = await _read(request)
    if isinstance(read, JSONResponse):
        await audit.record_request(
            request, principal, _ACTION, "-", None, "refused", {"status": read.status_code}
        )
        return read
    name, data, fields = read
    checksum = hashlib.sha256(data).hexdigest()
    if principal.role in ("operator", "isdc"):
        instruments: frozenset[str] | None = None
    else:
        instruments = ROLE_INSTRUMENTS.get(principal.role, frozenset())
    dataset = fields.get("dataset") or None
    replace = fields.get("replace", "").lower() in ("1", "true", "yes")
    try:
        result = await run_in_threadpool(
            ingest_file,
            sync_db_engine(request),
            object_store(request),
            data,
            name,
            principal.team,
            dataset=dataset,
            replace=replace,
            instruments=instruments,
        )
    except TimeseriesRefused as exc:
        detail = {"status": exc.status, "problems": exc.problems}
        await audit.record_request(
            request, principal, _ACTION, name or "-", checksum, "refused", detail
        )
        return _refusal(exc.status, exc.title, exc.problems)
    outcome = "unchanged" if result.status == "unchanged" else "accepted"
    await audit.record_request(
        request, principal, _ACTION, name, checksum, outcome, result.as_dict()
    )
    return JSONResponse(result.as_dict(), status_code=200 if outcome == "unchanged" else 201)
