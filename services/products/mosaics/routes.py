"""Routes of the mosaics room: ``/products/mosaics`` and ``/products/mosaics/{epoch}``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from services.products.common import (
    BadRequest,
    NotFound,
    check_format,
    normalise_instrument,
    parse_epoch,
    problem,
    resolve_band,
    run_db,
)
from services.products.mosaics import service
from services.products.sources.store import fetch_bands
from shared.service import ServiceContext, context

router = APIRouter(prefix="/products", tags=["products"])


@router.get("/mosaics", summary="Epochs with stored mosaics, by revolution")
async def mosaics(
    ctx: Annotated[ServiceContext, Depends(context)],
    revolution: Annotated[int, Query(ge=0, le=9999, description="revolution number")],
) -> dict[str, Any]:
    """The epochs of a revolution that have stored mosaics, each with its mosaic URLs per
    instrument and band; 404 naming the nearest revolutions with mosaics."""
    try:
        return await service.listing(ctx, revolution)
    except NotFound as exc:
        raise problem(exc) from None


@router.get("/mosaics/{epoch}", summary="Mosaic of one epoch (FITS with WCS, PNG preview, JSON)")
async def mosaic(
    epoch: str,
    request: Request,
    ctx: Annotated[ServiceContext, Depends(context)],
    instrument: Annotated[str, Query(description="ISGRI or JEM-X")] = "ISGRI",
    band: Annotated[str | None, Query(description="a light-curve band of the instrument")] = None,
    format: Annotated[str, Query(description="fits, png or json")] = "fits",
) -> Response:
    """The stored sky mosaic of one epoch in one band: ``fits`` is the file as delivered
    (the demo's INTENSITY, VARIANCE, SIGNIFICANCE and EXPOSURE extensions, or ISLA's own
    layout, possibly gzip-compressed); ``png`` is a preview of its significance image and
    ``json`` a summary, both rendered from the stored file."""
    fmt = check_format(format, ("fits", "png", "json"))
    try:
        parse_epoch(epoch)
        inst = normalise_instrument(instrument)
    except (BadRequest, NotFound) as exc:
        raise problem(exc) from None
    bands = await run_db(ctx, fetch_bands)
    try:
        band_rec = resolve_band(bands, inst, band)
        return await service.mosaic(ctx, request, epoch, band_rec, fmt)
    except NotFound as exc:
        raise problem(exc) from None
