"""Routes of the upper-limits room: ``GET /products/upper-limits``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from services.products.common import columns_meta, json_response, run_db, table_response
from services.products.upperlimits import service
from shared.service import ServiceContext, context
from shared.vo.errors import ErrorStyle

router = APIRouter(prefix="/products", tags=["products"])


def _error_style(request: Request) -> None:
    # Errors of a VOTable request are DALI VOTable documents, the others problem+json.
    if request.query_params.get("format", "").strip().lower() == "votable":
        request.state.error_style = ErrorStyle.VOTABLE


@router.get(
    "/upper-limits",
    summary="Upper limits anywhere on the sky (HILIGT for INTEGRAL)",
    dependencies=[Depends(_error_style)],
)
async def upper_limits(
    ctx: Annotated[ServiceContext, Depends(context)],
    ra: Annotated[str | None, Query(description="right ascension (degrees, ICRS)")] = None,
    dec: Annotated[str | None, Query(description="declination (degrees, ICRS)")] = None,
    band: Annotated[
        str | None, Query(description="band name (28_40, 3_20, ...) or edges in keV (20-35)")
    ] = None,
    instrument: Annotated[str | None, Query(description="ISGRI or JEM-X")] = None,
    sigma: Annotated[str | None, Query(description="limit level: 1, 2 or 3 (sigma)")] = None,
    binning: Annotated[str | None, Query(description="mission, revolution or scw")] = None,
    start: Annotated[str | None, Query(description="ISO 8601 (UTC) or MJD")] = None,
    end: Annotated[str | None, Query(description="ISO 8601 (UTC) or MJD")] = None,
    format: Annotated[str | None, Query(description="json, votable or csv")] = None,
) -> Response:
    """Per bin: exposure, count-rate and flux upper limits (mCrab, erg cm⁻² s⁻¹ for a power
    law of photon index 2), or the measured flux of a catalogue source detected there; each
    number also under its HILIGT name (``_ul``, ``_ul_flux``, ``_exptime``, ...). Read from
    the stored sensitivity data (one indexed read per request)."""
    query = service.parse_query(ra, dec, band, instrument, sigma, binning, start, end, format)
    reading = await run_db(ctx, service.read, query)
    rows, info = service.answer(query, reading)
    if query.fmt == "json":
        # Objects rather than lists: each bin reads as HILIGT's do, by field name.
        names = [f.name for f in service.FIELDS]
        return json_response(
            {
                **info,
                "columns": columns_meta(service.FIELDS),
                "data": [dict(zip(names, r, strict=True)) for r in rows],
            }
        )
    return table_response(query.fmt, service.FIELDS, rows, info)
