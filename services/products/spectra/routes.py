"""Routes of the spectra room: stored spectra, their time-resolved series, and responses."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response

from services.products.common import (
    BadRequest,
    NotFound,
    check_format,
    normalise_instrument,
    problem,
    run_db,
)
from services.products.sources.service import source_or_404
from services.products.spectra import service
from shared.service import ServiceContext, context

router = APIRouter(prefix="/products", tags=["products"])


@router.get("/spectra/{source_id}", summary="Spectrum of a source (PHA FITS, JSON, VOTable, CSV)")
async def spectrum(
    source_id: str,
    ctx: Annotated[ServiceContext, Depends(context)],
    request: Request,
    instrument: Annotated[str, Query(description="ISGRI or JEM-X")] = "ISGRI",
    scope: Annotated[
        str | None, Query(description="mission (default), an epoch RRRR_OOOOOOOOOOO, or intervalNN")
    ] = None,
    epoch: Annotated[str | None, Query(description="an epoch (same as scope=epoch)")] = None,
    format: Annotated[str, Query(description="fits, json, votable or csv")] = "fits",
) -> Response:
    """A stored background-subtracted spectrum: mission-average, of one epoch, or of one
    interval of the time-resolved series (see ``/intervals``). ``fits`` is the OGIP PHA file
    as delivered; ``json``, ``votable`` and ``csv`` are its channels with the energy bounds of
    its own RMF. 404 names the spectra stored for the source."""
    fmt = check_format(format)
    try:
        inst = normalise_instrument(instrument)
        chosen = service.parse_scope(scope, epoch)
    except (NotFound, BadRequest) as exc:
        raise problem(exc) from None
    source = await run_db(ctx, source_or_404, source_id)
    try:
        return await service.spectrum(ctx, request, source, inst, chosen, fmt)
    except NotFound as exc:
        raise problem(exc) from None


@router.get("/spectra/{source_id}/intervals", summary="The stored time-resolved spectra")
async def spectrum_intervals(
    source_id: str,
    ctx: Annotated[ServiceContext, Depends(context)],
    instrument: Annotated[str, Query(description="ISGRI or JEM-X")] = "ISGRI",
) -> dict[str, Any]:
    """The intervals of the stored time-resolved spectra of a source: time range, science
    windows, exposure and S/N of each (as their delivery recorded them)."""
    try:
        inst = normalise_instrument(instrument)
    except NotFound as exc:
        raise problem(exc) from None
    source = await run_db(ctx, source_or_404, source_id)
    try:
        return await service.intervals(ctx, source, inst)
    except NotFound as exc:
        raise problem(exc) from None


@router.get("/responses/{instrument}/{kind}", summary="The instrument's ARF or RMF (OGIP)")
async def response_file(
    instrument: str, kind: str, request: Request, ctx: Annotated[ServiceContext, Depends(context)]
) -> Response:
    """The stored ancillary response (``arf``) or redistribution matrix (``rmf``) of ISGRI or
    JEM-X. A spectrum's own responses are linked from it (``rmf_url``, ``arf_url``)."""
    try:
        inst = normalise_instrument(instrument)
    except NotFound as exc:
        raise problem(exc) from None
    if kind not in ("arf", "rmf"):
        raise HTTPException(404, {"detail": f"no response {kind!r}", "responses": ["arf", "rmf"]})
    try:
        return await service.response_file(ctx, request, inst, kind)
    except NotFound as exc:
        raise problem(exc) from None
