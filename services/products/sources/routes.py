"""Routes of the sources room: ``/products/sources/{source_id}``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from services.products.common import run_db
from services.products.sources import service
from shared.service import ServiceContext, context

router = APIRouter(prefix="/products", tags=["products"])


@router.get("/sources/{source_id}", summary="Everything the archive holds about one source")
async def source_page(
    source_id: str, ctx: Annotated[ServiceContext, Depends(context)]
) -> dict[str, Any]:
    """The data of a source page: position, aliases, class, catalogue fluxes, the
    instruments that detected it, its observing coverage per instrument (science windows,
    exposure, first and last date) and its stored products (each with its ``simulated`` label
    where the archive records it) with download links."""
    return await run_db(ctx, service.source_page, source_id)
