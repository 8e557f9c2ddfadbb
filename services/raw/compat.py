"""ISLA-compatible retrieval at ``/data``, as astroquery's ``astroquery.esa.integral`` calls it.

``RETRIEVAL_TYPE=SCW`` (with ``scwid``, ``obsid``, ``REVID`` or ``PROPID``) is answered here
with a tarball; every other retrieval type (products) is handed to the products service over
HTTP and its answer streamed back unchanged.
"""

from __future__ import annotations

from typing import Annotated

import httpx
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response, StreamingResponse
from starlette.background import BackgroundTask

from services.raw.routes import bulk_tarball, resolve_params
from shared.openapi import Param, answers, query_parameters
from shared.service import Database, PeerClient, ServiceUnavailable, Store
from shared.settings import peer_settings
from shared.vo.params import IvoaParams, ivoa_params

router = APIRouter(tags=["ISLA compatibility"])

SCW_PARAMETERS = {"scwid": "scw", "obsid": "obsid", "revid": "revolution", "propid": "proposal"}
"""ISLA's parameter names (any case) and the selection criteria they mean."""
IGNORED = {"retrieval_type", "tapclient", "format"}
"""Sent by ESA's clients on every request (astroquery's session adds format=votable_plain)."""
DATA_PARAMETERS = (
    Param("RETRIEVAL_TYPE", "SCW, or a product type (e.g. long_timeseries).", required=True),
    Param("scwid", "ScW ids, comma separated (RETRIEVAL_TYPE=SCW)."),
    Param("obsid", "Observation id (RETRIEVAL_TYPE=SCW)."),
    Param("REVID", "Revolution (RETRIEVAL_TYPE=SCW)."),
    Param("PROPID", "Proposal id (RETRIEVAL_TYPE=SCW)."),
)
"""The ISLA retrieval parameters, as OpenAPI declares them (product types take more)."""
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-encoding", "server"}


@router.api_route(
    "/data",
    methods=["GET", "HEAD"],
    summary="ISLA retrieval (RETRIEVAL_TYPE=SCW here; product types via the products service)",
    response_class=StreamingResponse,
    openapi_extra={"parameters": query_parameters(DATA_PARAMETERS)},
    responses=answers(
        "application/x-tar", "application/fits", "application/octet-stream", description="The data."
    ),
)
async def isla_data(
    request: Request,
    ivoa: Annotated[IvoaParams, Depends(ivoa_params)],
    engine: Database,
    store: Store,
    http: PeerClient,
) -> Response:
    """Answer an ISLA ``data?RETRIEVAL_TYPE=...`` request."""
    params = {name.lower(): values for name, values in ivoa.lists.items()}
    kind = (params.get("retrieval_type") or [""])[-1].strip()
    if not kind:
        raise HTTPException(
            400, "RETRIEVAL_TYPE is required (SCW, or a product type such as long_timeseries)"
        )
    if kind.upper() != "SCW":
        return await _hand_to_products(request, http)
    unknown = sorted(set(params) - set(SCW_PARAMETERS) - IGNORED)
    if unknown:
        raise HTTPException(
            400,
            f"unknown parameter(s) {', '.join(unknown)} for RETRIEVAL_TYPE=SCW; "
            "give one of scwid (comma list), obsid, REVID, PROPID",
        )
    given = {SCW_PARAMETERS[k]: v for k, v in params.items() if k in SCW_PARAMETERS}
    if len(given) != 1:
        raise HTTPException(
            400, "RETRIEVAL_TYPE=SCW needs exactly one of scwid, obsid, REVID, PROPID"
        )
    manifest = await resolve_params(given, engine)
    return await bulk_tarball(request, store, manifest)


async def _hand_to_products(request: Request, http: httpx.AsyncClient) -> Response:
    url = f"{peer_settings().peer('products')}/products/data"
    upstream_request = http.build_request(
        request.method, url, params=list(request.query_params.multi_items())
    )
    try:
        upstream = await http.send(upstream_request, stream=True)
    except httpx.HTTPError as exc:
        raise ServiceUnavailable(
            f"the products service does not answer: {type(exc).__name__}"
        ) from exc
    headers = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_HEADERS}
    return StreamingResponse(
        upstream.aiter_raw(),
        status_code=upstream.status_code,
        headers=headers,
        background=BackgroundTask(upstream.aclose),
    )
