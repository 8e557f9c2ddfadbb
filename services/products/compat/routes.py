"""Routes of the ISLA compatibility room: ``/products/isla/servlet`` (``REQUEST=``, handed
over by ``tap/sync``) and ``/products/data`` (``RETRIEVAL_TYPE=``, handed over by raw)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from services.products.common import engine_of
from services.products.compat import retrieval
from services.products.compat import servlet as servlet_calls
from services.products.compat.packaging import package
from services.products.compat.params import CompatError, params_of
from shared.service import ServiceContext, context
from shared.storage import ObjectNotFound, StorageUnavailable

router = APIRouter(prefix="/products", tags=["ISLA compatibility"])


@router.get(
    "/isla/servlet",
    summary="ISLA's REQUEST= calls (timelines, sources, spectra, mosaics, time series)",
)
async def servlet(request: Request, ctx: Annotated[ServiceContext, Depends(context)]) -> Response:
    """Answer one ISLA ``REQUEST`` (as forwarded from ``tap/sync``) with ISLA's JSON."""
    params = params_of(request)
    kind = (params.get("request") or "").lower()
    handler = servlet_calls.HANDLERS.get(kind)
    if handler is None:
        raise CompatError(
            400,
            f"REQUEST must be one of {', '.join(servlet_calls.HANDLERS)}, "
            f"not {params.get('request')!r}",
        )
    async with engine_of(ctx).connect() as conn:
        body = await handler(conn, params, ctx)
    return JSONResponse(body)


@router.api_route(
    "/data",
    methods=["GET", "HEAD"],
    summary="ISLA product retrieval (long_timeseries, short_timeseries, spectras, mosaics)",
)
async def data(request: Request, ctx: Annotated[ServiceContext, Depends(context)]) -> Response:
    """Answer ``data?RETRIEVAL_TYPE=...`` for products with ISLA's packages."""
    params = params_of(request)
    kind = (params.get("retrieval_type") or "").lower()
    handler = retrieval.HANDLERS.get(kind)
    if handler is None:
        raise CompatError(
            400,
            "RETRIEVAL_TYPE must be SCW, long_timeseries, short_timeseries, spectras or mosaics,"
            f" not {params.get('retrieval_type')!r}",
        )
    if ctx.store is None:
        raise CompatError(503, "the object store is not configured", headers={"Retry-After": "30"})
    store = ctx.store
    async with engine_of(ctx).connect() as conn:
        plan = await handler(conn, params)
    # The connection is released: what follows reads the object store or the light-curve room.
    if isinstance(plan, retrieval.FromPoints):
        return await retrieval.from_points(ctx, plan)
    # Once streaming has begun an error can only cut the download: check the objects first.
    try:
        await run_in_threadpool(lambda: [store.stat(m.bucket, m.key) for m in plan.members])
    except StorageUnavailable as exc:
        raise CompatError(
            503, f"the object store is unavailable: {exc}", headers={"Retry-After": "30"}
        ) from None
    except ObjectNotFound as exc:
        raise CompatError(404, f"a file of this product is missing from the store: {exc}") from None
    return package(store, plan.members, plan.fmt, plan.name)
