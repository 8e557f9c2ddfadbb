"""Routes of the ISLA compatibility room: ``/products/isla/servlet`` (``REQUEST=``, handed
over by ``tap/sync``) and ``/products/data`` (``RETRIEVAL_TYPE=``, handed over by raw)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from services.products.compat import retrieval
from services.products.compat import servlet as servlet_calls
from shared.service import Database, ServiceContext, Store, context
from shared.storage import ObjectNotFound
from shared.vo.errors import NotFoundFault, UsageFault
from shared.vo.params import IvoaParams, ivoa_params

router = APIRouter(prefix="/products", tags=["ISLA compatibility"])

Params = Annotated[IvoaParams, Depends(ivoa_params)]


@router.get(
    "/isla/servlet",
    summary="ISLA's REQUEST= calls (timelines, sources, spectra, mosaics, time series)",
)
async def servlet(
    params: Params, engine: Database, ctx: Annotated[ServiceContext, Depends(context)]
) -> Response:
    """Answer one ISLA ``REQUEST`` (as forwarded from ``tap/sync``) with ISLA's JSON."""
    kind = (params.get_upper("REQUEST") or "").lower()
    handler = servlet_calls.HANDLERS.get(kind)
    if handler is None:
        raise UsageFault(
            f"REQUEST must be one of {', '.join(servlet_calls.HANDLERS)}, "
            f"not {params.get_upper('REQUEST')!r}"
        )
    async with engine.connect() as conn:
        body = await handler(conn, params, ctx)
    return JSONResponse(body)


@router.api_route(
    "/data",
    methods=["GET", "HEAD"],
    summary="ISLA product retrieval (long_timeseries, short_timeseries, spectras, mosaics)",
)
async def data(
    params: Params,
    engine: Database,
    store: Store,
    ctx: Annotated[ServiceContext, Depends(context)],
) -> Response:
    """Answer ``data?RETRIEVAL_TYPE=...`` for products with ISLA's packages."""
    kind = (params.get_upper("RETRIEVAL_TYPE") or "").lower()
    handler = retrieval.HANDLERS.get(kind)
    if handler is None:
        raise UsageFault(
            "RETRIEVAL_TYPE must be SCW, long_timeseries, short_timeseries, spectras or mosaics,"
            f" not {params.get_upper('RETRIEVAL_TYPE')!r}"
        )
    async with engine.connect() as conn:
        plan = await handler(conn, params)
    # The connection is released: what follows reads the object store or the light-curve room.
    if isinstance(plan, retrieval.FromPoints):
        return await retrieval.from_points(ctx, plan)
    # Once streaming has begun an error can only cut the download: check the objects first
    # (an outage of the store is the shared 503).
    try:
        await run_in_threadpool(lambda: [store.stat(m.bucket, m.key) for m in plan.members])
    except ObjectNotFound as exc:
        raise NotFoundFault(f"a file of this product is missing from the store: {exc}") from None
    return retrieval.package(store, plan.members, plan.fmt, plan.name)
