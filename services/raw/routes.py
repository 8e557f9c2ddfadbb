"""Native raw-data API: science window metadata and single files, streamed with byte ranges."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import select
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from shared.db.models import ScienceWindow, ScwFile
from shared.integral import InvalidIdentifier, ScwId, format_revolution, parse_revolution
from shared.integral import parse_scw_id as _parse_scw_id
from shared.service import ServiceContext, context
from shared.storage import ObjectNotFound, StorageUnavailable

router = APIRouter(prefix="/raw", tags=["raw data"])
log = logging.getLogger("isla.raw")

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
RETRY_AFTER = "30"
"""Seconds a client is asked to wait when the object store is unavailable."""


def scw_id_param(scw_id: Annotated[str, Path(description="ScW id, e.g. 008100430010")]) -> ScwId:
    """Parse the ScW id of a path, answering 400 with the expected form when malformed."""
    try:
        return _parse_scw_id(scw_id)
    except InvalidIdentifier as exc:
        raise HTTPException(400, str(exc)) from exc


def _scw_json(scw: ScienceWindow, files: list[ScwFile], base: str) -> dict[str, Any]:
    url = f"{base}/raw/scw/{scw.scw_id}"
    return {
        "scw_id": scw.scw_id,
        "version": scw.version,
        "revolution": scw.revolution,
        "obsid": scw.obsid,
        "scw_type": scw.scw_type,
        "start_time": scw.start_time.isoformat(),
        "end_time": scw.end_time.isoformat(),
        "ra": scw.ra,
        "dec": scw.dec,
        "isgri_exposure": scw.isgri_exposure,
        "total_size": sum(f.size for f in files),
        "files": [
            {"name": f.name, "size": f.size, "sha256": f.sha256, "url": f"{url}/files/{f.name}"}
            for f in files
        ],
    }


async def _load_scw(ctx: ServiceContext, scw: ScwId) -> tuple[ScienceWindow, list[ScwFile]]:
    if ctx.engine is None:
        raise HTTPException(503, "database not configured", headers={"Retry-After": RETRY_AFTER})
    async with ctx.engine.connect() as conn:
        row = (
            await conn.execute(
                select(ScienceWindow).where(
                    ScienceWindow.scw_id == scw.id, ScienceWindow.version == scw.version
                )
            )
        ).first()
        if row is None:
            raise HTTPException(404, f"unknown ScW {scw.full}")
        files = (
            await conn.execute(
                select(ScwFile)
                .where(ScwFile.scw_id == scw.id, ScwFile.version == scw.version)
                .order_by(ScwFile.name)
            )
        ).all()
    return ScienceWindow(**row._mapping), [ScwFile(**f._mapping) for f in files]


@router.get("/scw/{scw_id}", summary="One science window: metadata and its files")
async def get_scw(
    request: Request,
    scw: Annotated[ScwId, Depends(scw_id_param)],
    ctx: Annotated[ServiceContext, Depends(context)],
) -> dict[str, Any]:
    """Metadata of one ScW with the size, checksum and URL of each raw file."""
    row, files = await _load_scw(ctx, scw)
    return _scw_json(row, files, str(request.base_url).rstrip("/"))


@router.get("/revolutions/{revolution}", summary="Science windows of one revolution")
async def get_revolution(
    revolution: str, ctx: Annotated[ServiceContext, Depends(context)]
) -> dict[str, Any]:
    """The ScWs of a revolution in time order (ids, types, times, sizes)."""
    try:
        rev = parse_revolution(revolution)
    except InvalidIdentifier as exc:
        raise HTTPException(400, str(exc)) from exc
    if ctx.engine is None:
        raise HTTPException(503, "database not configured", headers={"Retry-After": RETRY_AFTER})
    async with ctx.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(
                    ScienceWindow.scw_id,
                    ScienceWindow.version,
                    ScienceWindow.scw_type,
                    ScienceWindow.obsid,
                    ScienceWindow.start_time,
                    ScienceWindow.end_time,
                    ScienceWindow.raw_size,
                )
                .where(ScienceWindow.revolution == rev)
                .order_by(ScienceWindow.start_time)
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


def _parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) inclusive byte positions of a single-range request, None for all."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if not match or (not match.group(1) and not match.group(2)):
        return None  # multi-range or malformed: RFC 9110 lets us answer with the whole file
    first_s, last_s = match.groups()
    if first_s:
        first = int(first_s)
        last = min(int(last_s), size - 1) if last_s else size - 1
    else:
        first, last = max(0, size - int(last_s)), size - 1
    if first >= size or first > last:
        raise HTTPException(
            416,
            f"range {header} is outside the file of {size} bytes",
            headers={"Content-Range": f"bytes */{size}"},
        )
    return first, last


@router.get(
    "/scw/{scw_id}/files/{name}",
    summary="One raw file of a science window (supports HTTP Range)",
    response_class=StreamingResponse,
)
async def get_scw_file(
    request: Request,
    name: str,
    scw: Annotated[ScwId, Depends(scw_id_param)],
    ctx: Annotated[ServiceContext, Depends(context)],
) -> StreamingResponse:
    """Stream one file; ``Range: bytes=a-b`` resumes broken downloads."""
    _, files = await _load_scw(ctx, scw)
    # Only names registered for this ScW are served, so no path can reach other objects.
    entry = next((f for f in files if f.name == name), None)
    if entry is None:
        known = ", ".join(f.name for f in files) or "none"
        raise HTTPException(404, f"ScW {scw.full} has no file {name!r}; files: {known}")
    if ctx.store is None:
        raise HTTPException(
            503, "object store not configured", headers={"Retry-After": RETRY_AFTER}
        )
    span = _parse_range(request.headers.get("range"), entry.size)
    first, last = span if span else (0, entry.size - 1)
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": f'"{entry.sha256}"',
        "Content-Length": str(last - first + 1),
        "Content-Disposition": f'attachment; filename="{scw.id}_{entry.name}"',
    }
    if span:
        headers["Content-Range"] = f"bytes {first}-{last}/{entry.size}"
    # Open the object before answering, so that an outage is a 503 rather than a 200 whose
    # body breaks off; a failure after this point cuts the connection short of Content-Length,
    # which clients see as an incomplete (resumable) download.
    try:
        stream = await run_in_threadpool(
            ctx.store.iter_object, ctx.store.raw_bucket, entry.object_key, first, last
        )
    except (StorageUnavailable, ObjectNotFound) as exc:
        log.error("raw file %s unavailable: %s", entry.object_key, exc)
        raise HTTPException(
            503,
            "the object store cannot deliver this file now; retry later",
            headers={"Retry-After": RETRY_AFTER},
        ) from exc
    body: AsyncIterator[bytes] = iterate_in_threadpool(stream)
    return StreamingResponse(
        body, status_code=206 if span else 200, headers=headers, media_type=entry.content_type
    )
