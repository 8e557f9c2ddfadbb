"""Routes of the light-curve room: ``/products/lightcurves/{source_id}``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import Response

from services.products.common import (
    BadRequest,
    NotFound,
    check_format,
    normalise_instrument,
    problem,
    resolve_band,
    run_db,
    time_range,
)
from services.products.lightcurves import service
from services.products.sources.service import source_or_404
from services.products.sources.store import fetch_bands
from shared.integral.time import MJDREF
from shared.products.bands import DETECTION_SIGMA
from shared.service import ServiceContext, context

router = APIRouter(prefix="/products", tags=["products"])


@router.get(
    "/lightcurves/{source_id}", summary="Light curve of a source (FITS, VOTable, CSV, JSON)"
)
async def lightcurve(
    source_id: str,
    ctx: Annotated[ServiceContext, Depends(context)],
    instrument: Annotated[str, Query(description="ISGRI, JEM-X or OMC")] = "ISGRI",
    band: Annotated[str | None, Query(description="e.g. 28_40 (ISGRI), 3_20 (JEM-X)")] = None,
    binning: Annotated[
        str, Query(description="scw, revolution, or a bin width in seconds (>= 10)")
    ] = "scw",
    start: Annotated[str | None, Query(description="ISO 8601 UTC or MJD")] = None,
    end: Annotated[str | None, Query(description="ISO 8601 UTC or MJD (exclusive)")] = None,
    format: Annotated[str, Query(description="json, csv, votable or fits")] = "json",
) -> Response:
    """Light curve of ``source_id`` from stored data: per science window (``scw``), per
    revolution or in bins of N >= 3600 seconds (exposure-weighted means of the stored points),
    or in bins shorter than an hour where a sub-ScW time series is stored (its bins, joined
    when N is a multiple of their width; 404 naming the stored series otherwise)."""
    fmt = check_format(format)
    t0, t1 = time_range(start, end)
    try:
        bin_spec = service.parse_binning(binning)
    except BadRequest as exc:
        raise problem(exc) from None
    source = await run_db(ctx, source_or_404, source_id)
    if instrument.strip().upper() == "OMC":
        if bin_spec.kind != "scw":
            raise HTTPException(400, "OMC light curves are given per science window (binning=scw)")
        try:
            return await service.omc_lightcurve(ctx, source, t0, t1, fmt)
        except NotFound as exc:
            raise problem(exc) from None
    try:
        inst = normalise_instrument(instrument)
    except NotFound as exc:
        raise HTTPException(
            404, {"detail": str(exc), "instruments": ["ISGRI", "JEM-X", "OMC"]}
        ) from None
    bands = await run_db(ctx, fetch_bands)
    try:
        band_rec = resolve_band(bands, inst, band)
    except NotFound as exc:
        raise problem(exc) from None
    info = {
        "source_id": source.source_id,
        "name": source.name,
        "instrument": inst,
        "band": band_rec.name,
        "e_min": band_rec.e_min,
        "e_max": band_rec.e_max,
        "binning": bin_spec.label,
        "timesys": "TT",
        "mjdref": MJDREF,
        "upper_limit_sigma": DETECTION_SIGMA,
    }
    if not bin_spec.is_sub_scw:
        return await service.points_lightcurve(ctx, source, band_rec, bin_spec, t0, t1, fmt, info)
    try:
        return await service.sub_scw_lightcurve(ctx, source, band_rec, bin_spec, t0, t1, fmt, info)
    except (NotFound, BadRequest) as exc:
        raise problem(exc) from None
