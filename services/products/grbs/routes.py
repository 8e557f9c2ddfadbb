"""Routes of the GRB room: ``/products/grbs`` and ``/products/grbs/{name}`` (JSON)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from services.products.common import BadRequest, parse_time, problem, run_db
from services.products.grbs import service
from services.products.grbs.store import GrbFilter
from shared.service import ServiceContext, context

router = APIRouter(prefix="/products", tags=["gamma-ray bursts"])


@router.get("/grbs", summary="Gamma-ray bursts, filtered by time, position, T90 and fluence")
async def grbs(
    request: Request,
    ctx: Annotated[ServiceContext, Depends(context)],
    start: Annotated[
        str | None, Query(description="Trigger at or after (ISO 8601 UTC or MJD)")
    ] = None,
    end: Annotated[str | None, Query(description="Trigger before (ISO 8601 UTC or MJD)")] = None,
    ra: Annotated[float | None, Query(description="Cone centre RA (deg, ICRS)")] = None,
    dec: Annotated[float | None, Query(description="Cone centre Dec (deg, ICRS)")] = None,
    radius: Annotated[float | None, Query(description="Cone radius (deg)")] = None,
    t90_min: Annotated[float | None, Query(description="T90 at least (s)")] = None,
    t90_max: Annotated[float | None, Query(description="T90 at most (s)")] = None,
    fluence_min: Annotated[float | None, Query(description="Fluence at least (erg/cm2)")] = None,
    fluence_max: Annotated[float | None, Query(description="Fluence at most (erg/cm2)")] = None,
    alert_type: Annotated[str | None, Query(description="IBIS, SPI-ACS or external")] = None,
    simulated: Annotated[bool | None, Query(description="Only simulated (or only real)")] = None,
    limit: Annotated[int | None, Query(description="Bursts per page (1-1000, default 100)")] = None,
    offset: Annotated[int | None, Query(description="Bursts to skip")] = None,
) -> dict[str, Any]:
    """The bursts of the archive's GRB catalogues (IBAS, real bursts) matching every given
    criterion, by trigger time, one page at a time (``next`` is the following page)."""
    wanted = GrbFilter(
        start_ijd=parse_time(start, "start"),
        end_ijd=parse_time(end, "end"),
        ra=ra,
        dec=dec,
        radius=radius,
        t90_min=t90_min,
        t90_max=t90_max,
        fluence_min=fluence_min,
        fluence_max=fluence_max,
        alert_type=alert_type,
        simulated=simulated,
    )
    try:
        checked, page = service.check_filter(wanted, limit, offset)
    except BadRequest as exc:
        raise problem(exc) from None
    query = {k: v for k, v in request.query_params.items() if k not in ("limit", "offset")}
    return await run_db(ctx, service.list_grbs, checked, page, query)


@router.get("/grbs/{name}", summary="Everything the archive holds about one gamma-ray burst")
async def grb(name: str, ctx: Annotated[ServiceContext, Depends(context)]) -> dict[str, Any]:
    """Position and error circle (with where they come from), trigger time, the science
    windows that had the burst in each instrument's field of view, raw-data selections, the
    SPI-ACS window of T0 +- 300 s (HAPI and plot), the spectral fits and the stored light
    curves and spectra. ``GRB230307A`` and ``GRB 230307A`` are the same name; an unknown
    name is a 404 listing the bursts nearest in time."""
    return await run_db(ctx, service.grb_page, name)
