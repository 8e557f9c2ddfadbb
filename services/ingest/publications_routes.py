"""HTTP API of the literature survey and of DOI registration.

- ``POST /ingest/publications``: one delivery of papers and the observations they used, as a
  raw body (``Content-Type: application/json`` or ``text/csv``) or as ``multipart/form-data``
  with one ``file`` part (``.json`` or ``.csv``); ``replace=true`` to change papers already
  held. Roles ``isdc`` and ``operator``. Answers 201 (something written), 200 (nothing
  changed), 400/403/409/413/415/422 with ``problems``; unknown observations are listed in the
  report's ``unresolved``.
- ``POST /ingest/dois/assign``: register a DOI for every collection, revolution bundle,
  catalogue and product (``isdc``, ``operator``).
- ``POST /ingest/dois/mint[?suffix=...]``: send the DOI records through the configured client
  (a dry run by default; operators only).

Every attempt is recorded in the audit trail.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from services.ingest import audit
from services.ingest.auth import Principal, require_role
from services.ingest.publications import PublicationsRefused, ingest_publications
from shared.body import BodyTooLargeError, json_depth, read_limited
from shared.doi import minting
from shared.doi.registry import assign_dois
from shared.service import object_store, problem, sync_db_engine
from shared.settings import doi_settings, peer_settings

router = APIRouter(prefix="/ingest", tags=["publications and DOIs"])

MAX_BYTES = 64 * 1024 * 1024
"""Largest delivery: the whole survey (thousands of papers) is a few MB of CSV."""

_ACTION = "publications.ingest"


def _refusal(status: int, title: str, problems: list[dict[str, str]]) -> JSONResponse:
    detail = problems[0]["message"] if len(problems) == 1 else f"{len(problems)} problems"
    return problem(status, title, f"{detail}; nothing was written", problems=problems)


async def _replay(data: bytes) -> Any:
    yield data


def _format(content_type: str, name: str) -> str | None:
    if "json" in content_type or name.lower().endswith(".json"):
        return "json"
    if "csv" in content_type or name.lower().endswith(".csv"):
        return "csv"
    return None


async def _read(request: Request) -> tuple[bytes, str, str] | JSONResponse:
    """Bytes, format and file name of the delivery, or the refusal."""
    try:
        body = await read_limited(request, MAX_BYTES + 64 * 1024)
    except BodyTooLargeError:
        too_big = [{"where": "-", "code": "size", "message": f"larger than {MAX_BYTES} bytes"}]
        return _refusal(413, "Payload too large", too_big)
    ctype = request.headers.get("content-type", "")
    name = request.query_params.get("file_name", "")
    if ctype.startswith("multipart/form-data"):
        try:
            form = await MultiPartParser(request.headers, _replay(body), max_files=1).parse()
        except MultiPartException as exc:
            return _refusal(
                400, "Bad request", [{"where": "-", "code": "form", "message": str(exc)}]
            )
        upload = next((v for _, v in form.multi_items() if isinstance(v, UploadFile)), None)
        if upload is None:
            missing = [{"where": "-", "code": "form", "message": "no file part"}]
            return _refusal(400, "Bad request", missing)
        name, body, ctype = upload.filename or "", await upload.read(), upload.content_type or ""
    fmt = _format(ctype, name)
    if fmt is None:
        bad = [{"where": "-", "code": "format", "message": "send application/json or text/csv"}]
        return _refusal(415, "Unsupported media type", bad)
    if fmt == "json" and json_depth(body) > 8:
        deep = [{"where": "-", "code": "json", "message": "JSON nested deeper than 8 levels"}]
        return _refusal(400, "Bad request", deep)
    return body, fmt, name or f"delivery.{fmt}"


@router.post(
    "/publications",
    summary="Deliver papers of the literature survey and the observations they used",
    status_code=201,
    responses={
        200: {"description": "every paper was already held as sent (no-op)"},
        409: {"description": "a paper is held with other content; send replace=true"},
        413: {"description": "delivery too large"},
        415: {"description": "neither JSON nor CSV"},
        422: {"description": "QC refused the delivery; `problems` lists every reason"},
    },
)
async def deliver_publications(
    request: Request,
    principal: Annotated[Principal, Depends(require_role("isdc"))],
    replace: Annotated[bool, Query(description="Replace papers held with other content")] = False,
) -> JSONResponse:
    """Check and store one delivery; the report lists observations the archive lacks."""
    read = await _read(request)
    if isinstance(read, JSONResponse):
        await audit.record_request(
            request, principal, _ACTION, "-", None, "refused", {"status": read.status_code}
        )
        return read
    data, fmt, name = read
    try:
        result = await run_in_threadpool(
            ingest_publications,
            sync_db_engine(request),
            object_store(request),
            data,
            fmt,
            principal.team,
            is_operator=principal.is_operator,
            replace=replace,
        )
    except PublicationsRefused as exc:
        detail = {"status": exc.status, "problems": exc.problems[:50]}
        await audit.record_request(request, principal, _ACTION, name, None, "refused", detail)
        return _refusal(exc.status, exc.title, exc.problems)
    report = result.as_dict()
    await audit.record_request(
        request, principal, _ACTION, name, result.sha256, result.status, report
    )
    return JSONResponse(report, status_code=200 if result.status == "unchanged" else 201)


@router.post("/dois/assign", summary="Register a DOI for every collection, bundle and product")
async def assign(
    request: Request,
    principal: Annotated[Principal, Depends(require_role("isdc"))],
) -> dict[str, Any]:
    """Keep ``isla.dois`` complete (idempotent); the counts per kind and how many were new."""
    engine = sync_db_engine(request)
    prefix = doi_settings().doi_prefix

    def run() -> dict[str, int]:
        with engine.begin() as conn:
            return assign_dois(conn, prefix)

    counts = await run_in_threadpool(run)
    await audit.record_request(request, principal, "doi.assign", "isla.dois", None, "done", counts)
    return counts


@router.post("/dois/mint", summary="Send DOI records to DataCite (a dry run by default)")
async def mint(
    request: Request,
    principal: Annotated[Principal, Depends(require_role())],
    suffix: Annotated[list[str] | None, Query(description="Only these DOI suffixes")] = None,
) -> dict[str, Any]:
    """Build, validate and send records through the configured client (operators)."""
    settings = doi_settings()
    client = minting.client_from_settings(settings)
    base = peer_settings().base_url.rstrip("/")
    report = await run_in_threadpool(
        minting.mint, sync_db_engine(request), client, settings, base, suffix
    )
    outcome = "done" if not (report.invalid or report.failed) else "failed"
    await audit.record_request(
        request,
        principal,
        "doi.mint",
        ",".join(suffix or ["all"])[:500],
        None,
        outcome,
        report.as_dict(),
    )
    return report.as_dict()
