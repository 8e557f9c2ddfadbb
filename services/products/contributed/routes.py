"""Routes of the contributed-collections room: ``/products/contributed``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response, StreamingResponse

from services.products.common import run_db
from services.products.contributed import service
from shared.service import ServiceContext, context

router = APIRouter(prefix="/products", tags=["contributed collections"])

Version = Annotated[int, Path(ge=1, le=1_000_000, description="Archive version (1, 2, ...)")]


@router.get("/contributed", summary="Published contributed collections (newest versions)")
async def collections(ctx: Annotated[ServiceContext, Depends(context)]) -> dict[str, Any]:
    """Every published collection: name, title, team, authors, instrument, licence."""
    return await run_db(ctx, service.collection_list)


@router.get(
    "/contributed/{collection}",
    summary="A contributed collection's newest published version",
)
async def collection(
    collection: str, ctx: Annotated[ServiceContext, Depends(context)]
) -> dict[str, Any]:
    """Title, team, authors, description, licence, the files with sizes, checksums and
    download links, documentation, software, version and the earlier published versions."""
    return await run_db(ctx, service.collection_page, collection, None)


@router.get(
    "/contributed/{collection}/{version}",
    summary="One published version of a contributed collection",
)
async def collection_version(
    collection: str, version: Version, ctx: Annotated[ServiceContext, Depends(context)]
) -> dict[str, Any]:
    """As the collection's page, for one (possibly older) published version."""
    return await run_db(ctx, service.collection_page, collection, version)


@router.api_route(
    "/contributed/{collection}/{version}/files/{file_name}",
    methods=["GET", "HEAD"],
    summary="One file of a published collection version (HTTP Range; ETag is the SHA-256)",
    response_class=StreamingResponse,
)
async def collection_file(
    request: Request,
    collection: str,
    version: Version,
    file_name: str,
    ctx: Annotated[ServiceContext, Depends(context)],
) -> Response:
    """A product, documentation or software file as delivered."""
    row = await run_db(ctx, service.file_row, collection, version, file_name)
    return await service.download(request, ctx.require_store(), row)
