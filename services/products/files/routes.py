"""Routes of the files room: ``/products/files/{product_id}``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse

from services.products.common import BadRequest, check_format, problem
from services.products.files import tables
from services.products.files.service import bundle, product_row, stream_product
from shared.service import ServiceContext, context

router = APIRouter(prefix="/products", tags=["product files"])


@router.post(
    "/bundle",
    summary="Several product files as one streamed tar (or zip), SHA256SUMS first",
    response_class=StreamingResponse,
)
async def product_bundle(
    request: Request, ctx: Annotated[ServiceContext, Depends(context)]
) -> Response:
    """The product files named by the form's ``id`` fields (product ids, up to 500) as one
    download: a ``tar`` with its exact length (``format=zip`` for a zip), ``SHA256SUMS``
    first; the portal's basket posts this form."""
    form = await request.form()
    ids = [str(v) for v in form.getlist("id")]
    for block in form.getlist("ids"):  # or one field of ids, one a line
        ids += str(block).splitlines()
    return await bundle(ctx, ids, str(form.get("format") or "tar").lower())


@router.api_route(
    "/files/{product_id:path}",
    methods=["GET", "HEAD"],
    summary="One product file (supports HTTP Range; ETag is the SHA-256)",
    response_class=StreamingResponse,
)
async def get_file(
    request: Request,
    product_id: str,
    ctx: Annotated[ServiceContext, Depends(context)],
    format: Annotated[
        str | None,
        Query(
            description="omit for the file as stored; json, csv or votable for the table of a "
            "spectrum, time series or OMC light curve"
        ),
    ] = None,
) -> Response:
    """Stream one stored product file by its product id, or a table view of it."""
    if format is None or format.lower() in ("fits", "file"):
        row = await product_row(ctx, product_id, file_only=True)
        return await stream_product(request, ctx.require_store(), row)
    row = await product_row(ctx, product_id)
    fmt = check_format(format, ("json", "csv", "votable"))
    try:
        return await tables.table_view(ctx, row, fmt)
    except BadRequest as exc:
        raise problem(exc) from None
