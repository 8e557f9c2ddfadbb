"""Routes of the DataLink room: ``/datalink`` (and ``/datalink/links``) and its VOSI
resources."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import AnyUrl
from pydantic_xml import BaseXmlModel
from vo_models.vodataservice.models import ParamHTTP
from vo_models.voresource.models import AccessURL, Capability
from vo_models.vosi.availability.models import Availability
from vo_models.vosi.capabilities.models import VOSICapabilities

from services.products.common import engine_of
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
)
from shared.service import ServiceContext, context
from shared.settings import peer_settings
from shared.vo.results import error_votable

router = APIRouter(tags=["DataLink"])


# --- endpoints ------------------------------------------------------------------------------------


async def _ids(request: Request) -> list[str]:
    ids = [v for k, v in request.query_params.multi_items() if k.upper() == "ID"]
    if request.method == "POST":
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form(max_fields=MAX_IDS + 20, max_files=0)
            ids += [v for k, v in form.multi_items() if k.upper() == "ID" and isinstance(v, str)]
    return ids


def _dali_error(message: str, status: int) -> Response:
    return Response(
        error_votable(message), status_code=status, media_type="application/x-votable+xml"
    )


@router.api_route("/datalink", methods=["GET", "POST"], summary="DataLink 1.1 links")
@router.api_route("/datalink/links", methods=["GET", "POST"], include_in_schema=False)
async def links(request: Request, ctx: Annotated[ServiceContext, Depends(context)]) -> Response:
    """The links of every ``ID`` given (publisher DIDs, ScW ids or product ids)."""
    try:
        ids = await _ids(request)
    except Exception as exc:  # a malformed body is the client's error
        return _dali_error(f"UsageFault: cannot read the request body: {exc}", 400)
    fmt = next(
        (v for k, v in request.query_params.multi_items() if k.upper() == "RESPONSEFORMAT"), None
    )
    if fmt and fmt.strip().lower() not in (
        "votable",
        "application/x-votable+xml",
        DATALINK_TYPE.lower(),
    ):
        return _dali_error(f"UsageFault: RESPONSEFORMAT {fmt!r} is not supported; use votable", 400)
    if not ids:
        return _dali_error(
            "UsageFault: ID is required (a publisher DID, ScW id or product id)", 400
        )
    if len(ids) > MAX_IDS:
        return _dali_error(f"UsageFault: at most {MAX_IDS} IDs per request, got {len(ids)}", 400)
    rows: list[Link] = []
    if ctx.engine is None:
        return _dali_error("TransientFault: the database is not configured", 503)
    async with engine_of(ctx).connect() as conn:
        for raw in ids:
            target = parse_id(raw)
            if target.kind == "scw":
                rows += await scw_links(conn, raw, target)
            elif target.kind == "product":
                rows += await product_links(conn, raw, target)
            else:
                rows.append(not_found(raw, f"{raw!r} is no identifier of this archive"))
    return Response(links_votable(rows), media_type=DATALINK_TYPE)


def _xml(model: BaseXmlModel) -> bytes:
    out = model.to_xml(skip_empty=True)
    return out if isinstance(out, bytes) else out.encode("utf-8")


@router.get("/datalink/availability", summary="VOSI availability of the DataLink service")
async def availability(ctx: Annotated[ServiceContext, Depends(context)]) -> Response:
    """Whether the links can be answered (the database is reachable)."""
    ok, note = False, "the database is not configured"
    if ctx.engine is not None:
        try:
            async with asyncio.timeout(3), ctx.engine.connect() as conn:
                await store.ping(conn)
            ok, note = True, "the DataLink service is accepting requests"
        except Exception:
            note = "the database does not answer"
    body = _xml(Availability(available=ok, note=[note]))
    return Response(body, media_type="application/xml")


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
