"""The archive's landing page: what it holds, where the services are, examples that work."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import text

from shared import __version__
from shared.service import ServiceContext, context
from shared.simulation import Holdings

router = APIRouter(tags=["portal"])
templates = Jinja2Templates(directory=Path(__file__).with_name("templates"))

# One round trip for all counts: the landing page is the most visited URL.
_SUMMARY = text(
    """
    SELECT (SELECT count(*) FROM isla.revolutions) AS revolutions,
           (SELECT count(*) FROM isla.observations) AS observations,
           (SELECT count(*) FROM isla.science_windows) AS science_windows,
           (SELECT count(*) FROM isla.sources) AS sources,
           (SELECT count(*) FROM isla.products) AS products,
           (SELECT count(*) FROM isla.products WHERE simulated) AS simulated_products,
           ((SELECT count(*) FROM isla.scw_files) + (SELECT count(*) FROM isla.aux_files))
               AS raw_files,
           ((SELECT count(*) FROM isla.scw_files WHERE simulated)
            + (SELECT count(*) FROM isla.aux_files WHERE simulated)) AS simulated_raw_files,
           ((SELECT coalesce(sum(size), 0) FROM isla.scw_files)
            + (SELECT coalesce(sum(size), 0) FROM isla.aux_files))::bigint AS raw_bytes,
           (SELECT min(start_time) FROM isla.revolutions) AS first_time,
           (SELECT max(end_time) FROM isla.revolutions) AS last_time,
           example.scw_id AS example_scw,
           example.revolution AS example_rev,
           example.obsid AS example_obsid
      FROM (SELECT NULL) AS one
      LEFT JOIN LATERAL (
            SELECT scw_id, revolution, obsid FROM isla.science_windows
             WHERE scw_type = 'pointing' AND raw_files > 0
             ORDER BY (scw_id = '008100430010') DESC, scw_id
             LIMIT 1) AS example ON true
    """
)


async def archive_summary(ctx: ServiceContext) -> dict[str, Any] | None:
    """Counts of what the archive holds, or None when the database is unreachable."""
    if ctx.engine is None:
        return None
    try:
        async with ctx.engine.connect() as conn:
            row = (await conn.execute(_SUMMARY)).one()
    except Exception:
        return None
    data = dict(row._mapping)
    # Said on the page and in the JSON: what of the archive is simulated (the demo's data).
    data["simulation_note"] = Holdings(
        data["products"],
        data["simulated_products"],
        data["raw_files"],
        data["simulated_raw_files"],
    ).sentence()
    return data


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def landing(
    request: Request, ctx: Annotated[ServiceContext, Depends(context)]
) -> HTMLResponse:
    """The landing page for people."""
    base = str(request.base_url).rstrip("/")
    summary = await archive_summary(ctx)
    return templates.TemplateResponse(
        request,
        "landing.html",
        {"base": base, "summary": summary, "version": __version__},
        status_code=200 if summary is not None else 503,
    )


@router.get("/api/summary", tags=["portal"], summary="What the archive holds")
async def summary(ctx: Annotated[ServiceContext, Depends(context)]) -> dict[str, Any]:
    """The landing page's counts as JSON."""
    data = await archive_summary(ctx)
    if data is None:
        raise HTTPException(503, "database unavailable", headers={"Retry-After": "30"})
    for key in ("first_time", "last_time"):
        if data[key] is not None:
            data[key] = data[key].isoformat()
    return data
