"""Routes of the DOI room: ``/doi/`` (every DOI, JSON) and ``/doi/{suffix}`` (the landing page,
or DataCite XML / JSON, or schema.org JSON-LD, by content negotiation).

``Accept: application/vnd.datacite.datacite+xml`` gives DataCite XML,
``application/vnd.datacite.datacite+json`` DataCite JSON, ``application/ld+json`` schema.org,
anything else the HTML landing page (``?format=xml|json|jsonld|html`` overrides ``Accept``).
Every representation carries ``Link: <https://doi.org/...>; rel="cite-as"``. An unknown suffix
is a 404 naming the nearest existing ones (an HTML page for browsers, problem+json otherwise).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, FileSystemLoader

from services.products.common import NotFound, json_response, run_db
from services.products.doi import service
from services.products.portal.routes import SECURITY_HEADERS
from services.products.portal.routes import templates as portal_templates
from shared.doi import metadata
from shared.service import ServiceContext, context
from shared.settings import peer_settings

router = APIRouter(tags=["DOIs"])

ROOM = Path(__file__).parent
templates = Jinja2Templates(
    env=portal_templates.env.overlay(
        loader=ChoiceLoader(
            [
                FileSystemLoader(ROOM / "templates"),
                FileSystemLoader(ROOM.parent / "portal" / "templates"),
            ]
        )
    )
)


def _base() -> str:
    return peer_settings().peer("products")


def _cite_as(doi: str) -> dict[str, str]:
    return {"Link": f'<https://doi.org/{doi}>; rel="cite-as"', "Vary": "Accept"}


@router.get("/doi", include_in_schema=False)
@router.get("/doi/", summary="Every DOI the archive has")
async def listing(
    ctx: Annotated[ServiceContext, Depends(context)],
    kind: Annotated[
        str | None,
        Query(description="Only DOIs of this kind (archive, raw_collection, revolution, ...)"),
    ] = None,
) -> Response:
    """JSON: one entry per DOI with ``doi``, ``suffix``, ``title``, ``resource_type`` (and
    ``resource_type_general``, ``kind``, ``simulated``, registration ``state``, landing
    ``url``)."""
    rows = await run_db(ctx, service.listing, _base(), kind)
    return json_response({"count": len(rows), "dois": rows})


@router.get(
    "/doi/{suffix:path}",
    summary="A DOI: landing page, DataCite XML or JSON, or schema.org (content negotiation)",
    responses={
        200: {
            "content": {
                "text/html": {},
                service.DATACITE_XML: {},
                service.DATACITE_JSON: {},
                service.JSON_LD: {},
            }
        },
        404: {"description": "no such DOI; `nearby` lists the closest suffixes"},
    },
)
async def resolve(
    request: Request,
    suffix: str,
    ctx: Annotated[ServiceContext, Depends(context)],
    format: Annotated[
        Literal["xml", "json", "jsonld", "html"] | None,
        Query(description="Representation, overriding Accept"),
    ] = None,
) -> Response:
    """One DOI in the representation the client asks for."""
    media = service.negotiate(request.headers.get("accept", ""), format)
    base = _base()
    async with ctx.require_engine().connect() as conn:
        try:
            resolved = await conn.run_sync(service.resolve, suffix, base)
        except NotFound as exc:
            if media == service.HTML:
                return await _html_not_found(request, suffix, exc.nearby)
            raise HTTPException(404, {"detail": str(exc), **exc.nearby}) from None
    headers = _cite_as(resolved.record.doi)
    if media == service.DATACITE_XML:
        return Response(
            metadata.datacite_xml(resolved.attributes), media_type=media, headers=headers
        )
    if media == service.DATACITE_JSON:
        return Response(orjson.dumps(resolved.attributes), media_type=media, headers=headers)
    if media == service.JSON_LD:
        body = orjson.dumps(metadata.schema_org(resolved.attributes))
        return Response(body, media_type=media, headers=headers)
    page = templates.TemplateResponse(
        request, "doi.html", {**_layout(resolved.simulated), **service.page_data(resolved, base)}
    )
    page.headers.update({**SECURITY_HEADERS, **headers})
    return page


def _layout(simulated: bool) -> dict[str, Any]:
    # The portal layout's banner, for the data this page is about.
    return {"simulated": {"raw": False, "products": simulated}, "help_topics": {}}


async def _html_not_found(request: Request, suffix: str, nearby: dict[str, Any]) -> HTMLResponse:
    page = templates.TemplateResponse(
        request,
        "doi_missing.html",
        {**_layout(False), "title": "No such DOI", "suffix": suffix, **nearby},
        status_code=404,
    )
    page.headers.update(SECURITY_HEADERS)
    return page
