"""Routes of the coverage room: ``GET /moc/{name}`` (archive, isgri, jemx, spi, omc)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from services.products.moc import service
from shared.http import Entity, ranged_response
from shared.service import ServiceContext, context

router = APIRouter(tags=["coverage"])


@router.get("/moc/{name}", summary="MOC 2.0 coverage of the archive or of one instrument")
async def moc(
    name: str,
    request: Request,
    ctx: Annotated[ServiceContext, Depends(context)],
    type: Annotated[str | None, Query(description="smoc (space) or stmoc (space-time)")] = None,
    format: Annotated[str | None, Query(description="fits (default), json or ascii")] = None,
) -> Response:
    """The sky the archive's pointings covered (``archive``: every instrument and ObsCore's
    product footprints; ``isgri``, ``jemx``, ``spi``, ``omc``: one instrument's fields of
    view), as an S-MOC or, with ``type=stmoc``, an ST-MOC, in the MOC 2.0 FITS, JSON or ASCII
    serialisation. Rebuilt once when the archive's science windows or products change."""
    moc_name, kind, fmt = service.check(name, type, format)
    built = await service.coverage(ctx, moc_name, kind)
    data = built.encodings[fmt]
    suffix = {"fits": "fits", "json": "json", "ascii": "txt"}[fmt]
    entity = Entity(
        size=len(data),
        etag=f'"{built.etag}-{fmt}"',
        media_type=service.MEDIA[fmt],
        filename=f"isla_{moc_name}_{kind}.{suffix}",
        headers={"Cache-Control": "public, max-age=3600"},
    )

    async def body(first: int, last: int) -> bytes:
        return data[first : last + 1]

    return await ranged_response(request, entity, body)
