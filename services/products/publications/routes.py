"""Routes of the publications room: the literature survey as JSON, and the ADS export.

- ``/products/publications``: the papers (filters ``year``, ``simulated``; ``limit``/``offset``);
- ``/products/publications/{bibcode}``: one paper and every piece of data it used
  (observations, science windows, revolutions with their DOIs, sources, products with theirs);
- ``/products/publications/observations/{obsid}``, ``.../sources/{source_id}``,
  ``.../products/{product_id}``: the papers that used that data;
- ``/products/publications/ads-links.txt`` (and ``.json``): bibcode ↔ data links for ADS.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import PlainTextResponse, Response

from services.products.common import json_response, run_db
from services.products.publications import service
from shared.service import ServiceContext, context
from shared.settings import peer_settings

router = APIRouter(prefix="/products/publications", tags=["publications"])

Ctx = Annotated[ServiceContext, Depends(context)]
_SIMULATED = Query(description="Include simulated papers (fake bibcodes): never send those to ADS")


def _base() -> str:
    return peer_settings().peer("products")


@router.get("", summary="Papers of the INTEGRAL literature survey")
async def papers(
    ctx: Ctx,
    year: Annotated[int | None, Query(ge=1990, le=2100)] = None,
    simulated: Annotated[bool | None, Query(description="Only simulated or only real")] = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    """Papers, newest first, each with its number of observations."""
    return json_response(
        await run_db(ctx, service.listing, _base(), year, simulated, limit, offset)
    )


@router.get(
    "/ads-links.txt",
    summary="Bibcode ↔ data links in the form ADS takes from data centres",
    response_class=PlainTextResponse,
)
async def ads_links(
    ctx: Ctx, include_simulated: Annotated[bool, _SIMULATED] = False
) -> PlainTextResponse:
    """``bibcode<TAB>url<TAB>title``, one line per paper and observation."""
    body = await run_db(ctx, service.ads_links, _base(), include_simulated)
    return PlainTextResponse(
        body, headers={"Content-Disposition": 'attachment; filename="isla-ads-links.txt"'}
    )


@router.get("/ads-links.json", summary="The ADS links as JSON, grouped per paper")
async def ads_links_json(
    ctx: Ctx, include_simulated: Annotated[bool, _SIMULATED] = False
) -> Response:
    """``[{"bibcode", "links": [{"obsid", "url", "title"}]}]``."""
    return json_response(await run_db(ctx, service.ads_links_json, _base(), include_simulated))


@router.get("/observations/{obsid}", summary="Papers that used an observation")
async def of_observation(obsid: str, ctx: Ctx) -> dict[str, Any]:
    """404 when the archive does not hold the observation."""
    return await run_db(ctx, service.papers_of, "observation", obsid, _base())


@router.get("/sources/{source_id}", summary="Papers that used data of a source")
async def of_source(source_id: str, ctx: Ctx) -> dict[str, Any]:
    """Papers of observations with the source in the (ISGRI) field of view."""
    return await run_db(ctx, service.papers_of, "source", source_id, _base())


@router.get("/products/{product_id:path}", summary="Papers that used the data of a product")
async def of_product(product_id: str, ctx: Ctx) -> dict[str, Any]:
    """Papers of the product's observation (or of its source, for whole-mission products)."""
    return await run_db(ctx, service.papers_of, "product", product_id, _base())


@router.get("/{bibcode}", summary="A paper and every piece of data it used")
async def paper(bibcode: str, ctx: Ctx) -> Response:
    """404 naming similar bibcodes when the survey does not hold it."""
    return json_response(await run_db(ctx, service.paper_page, bibcode, _base()))
