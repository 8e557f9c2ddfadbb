"""Routes of the DataLink room: ``/datalink`` (and ``/datalink/links``) and its VOSI
resources."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from pydantic import AnyUrl
from pydantic_xml import BaseXmlModel
from vo_models.vodataservice.models import ParamHTTP
from vo_models.voresource.models import AccessURL, Capability
from vo_models.vosi.capabilities.models import VOSICapabilities

from services.products.datalink import store
from services.products.datalink.service import (
    DATALINK_TYPE,
    MAX_IDS,
    STANDARD_ID,
    Link,
    links_votable,
    not_found,
    parse_id,
    product_links,
    scw_links,
    timeseries_links,
)
from shared.service import Database, ServiceContext, context
from shared.settings import peer_settings
from shared.vo import vosi
from shared.vo.errors import VOTABLE_ERRORS, Overflow, UsageFault
from shared.vo.params import IvoaParams, ivoa_params

# A VO endpoint: its errors (parameters, outages) are DALI error documents.
router = APIRouter(tags=["DataLink"], dependencies=[VOTABLE_ERRORS])

RESPONSE_FORMATS = ("votable", "application/x-votable+xml", DATALINK_TYPE.lower())
"""RESPONSEFORMAT values answered (all the DataLink VOTable)."""


# --- endpoints ------------------------------------------------------------------------------------


@router.api_route("/datalink", methods=["GET", "POST"], summary="DataLink 1.1 links")
@router.api_route("/datalink/links", methods=["GET", "POST"], include_in_schema=False)
async def links(params: Annotated[IvoaParams, Depends(ivoa_params)], engine: Database) -> Response:
    """The links of every ``ID`` given (publisher DIDs, ScW ids or product ids)."""
    ids = params.getall("ID")
    fmt = params.get_upper("RESPONSEFORMAT")
    if fmt and fmt.lower() not in RESPONSE_FORMATS:
        raise UsageFault(f"RESPONSEFORMAT {fmt!r} is not supported; use votable")
    if not ids:
        raise UsageFault("ID is required (a publisher DID, ScW id or product id)")
    if len(ids) > MAX_IDS:
        raise Overflow(f"at most {MAX_IDS} IDs per request, got {len(ids)}")
    rows: list[Link] = []
    async with engine.connect() as conn:
        for raw in ids:
            target = parse_id(raw)
            if target.kind == "scw":
                rows += await scw_links(conn, raw, target)
            elif target.kind == "product":
                rows += await product_links(conn, raw, target)
            elif target.kind == "timeseries":
                rows += await timeseries_links(conn, raw, target)
            else:
                rows.append(not_found(raw, f"{raw!r} is no identifier of this archive"))
    return Response(links_votable(rows), media_type=DATALINK_TYPE)


def _xml(model: BaseXmlModel) -> bytes:
    out = model.to_xml(skip_empty=True)
    return out if isinstance(out, bytes) else out.encode("utf-8")


@router.get("/datalink/availability", summary="VOSI availability of the DataLink service")
async def availability(ctx: Annotated[ServiceContext, Depends(context)]) -> Response:
    """Whether the links can be answered (the database is reachable); the document says why
    not, also when the database is not configured (a VOSI client expects the document)."""
    return await vosi.availability(
        ctx.engine, store.AVAILABILITY_PROBE, "the DataLink service is accepting requests"
    )


@router.get("/datalink/capabilities", summary="VOSI capabilities of the DataLink service")
async def capabilities() -> Response:
    """The DataLink 1.1 capability and the VOSI ones."""
    base = f"{peer_settings().peer('products')}/datalink"

    def cap(standard: str, url: str, role: str | None = None) -> Capability:
        interface = ParamHTTP(access_url=[AccessURL(value=AnyUrl(url), use="full")], role=role)
        return Capability(standard_id=AnyUrl(standard), interface=[interface])

    caps = VOSICapabilities(
        capability=[
            cap(STANDARD_ID, base, "std"),
            cap("ivo://ivoa.net/std/VOSI#capabilities", f"{base}/capabilities"),
            cap("ivo://ivoa.net/std/VOSI#availability", f"{base}/availability"),
        ]
    )
    return Response(_xml(caps), media_type="application/xml")
