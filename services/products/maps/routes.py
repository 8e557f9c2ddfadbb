"""Routes of the maps room: ``/products/maps`` (the maps, one map, its value at positions) and
``/hips`` (the HiPS list and every map's HiPS tree)."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import Response

from services.products.common import json_response, table_response
from services.products.maps import service
from shared.service import ServiceContext, context
from shared.vo.errors import ErrorStyle, UsageFault
from shared.vo.results import ResultField
from shared.vo.types import VOType

router = APIRouter(tags=["maps"])

VALUE_FIELDS = [
    ResultField("ra", VOType("double"), "deg", "pos.eq.ra", None, "Right ascension (ICRS)."),
    ResultField("dec", VOType("double"), "deg", "pos.eq.dec", None, "Declination (ICRS)."),
    ResultField("value", VOType("double"), None, "phot.flux;stat.value", None, "Map value."),
    ResultField("error", VOType("double"), None, "stat.error", None, "1-sigma error."),
    ResultField("covered", VOType("boolean"), None, "meta.code", None, "The map has a value."),
    ResultField("healpix_pixel", VOType("long"), None, "pos.healpix", None, "NESTED pixel."),
    ResultField("healpix_order", VOType("int"), None, "meta.number", None, "HEALPix order."),
    ResultField("healpix_nside", VOType("int"), None, "meta.number", None, "HEALPix NSIDE."),
]


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _format(request: Request, format: Annotated[str, Query()] = "json") -> str:
    """The answer format (``json`` or ``votable``); a VOTable request gets its errors as a
    DALI VOTable error document, a JSON one as problem+json."""
    fmt = format.lower()
    if fmt in ("votable", "vot", "xml"):
        request.state.error_style = ErrorStyle.VOTABLE
        return "votable"
    if fmt != "json":
        raise UsageFault(f"format must be json or votable, not {format!r}")
    return fmt


Format = Annotated[str, Depends(_format)]


def _value_response(
    info: service.MapInfo, rows: list[dict[str, Any]], fmt: str, single: bool
) -> Response:
    head = {
        "map_id": info.map_id,
        "product_id": info.product_id,
        "unit": info.unit,
        "error_from": info.error_map_id,
        "simulated": info.simulated,
    }
    if fmt == "json":
        body = {**head, **rows[0]} if single else {**head, "values": rows}
        return json_response(body, headers=service.CORS)
    fields = [
        ResultField(
            f.name,
            f.vo,
            info.unit if f.name in ("value", "error") else f.unit,
            f.ucd,
            f.utype,
            f.description,
        )
        for f in VALUE_FIELDS
    ]
    tuples = [tuple(r[f.name] for f in VALUE_FIELDS) for r in rows]
    return table_response("votable", fields, tuples, head, headers=service.CORS)


@router.get("/products/maps", summary="The all-sky maps (HEALPix), each with its HiPS")
async def maps(request: Request, ctx: Annotated[ServiceContext, Depends(context)]) -> Response:
    """Every stored all-sky map: id, instrument, band, unit, HEALPix resolution, and the URLs
    of its HiPS, value endpoint, FITS file and DataLink."""
    base = _base(request)
    catalogue = await service.CATALOGUE.maps(ctx)
    return json_response(
        {"maps": [info.describe(base) for info in catalogue.values()]}, headers=service.CORS
    )


@router.get("/products/maps/{map_id}", summary="One all-sky map's description")
async def one_map(
    map_id: str, request: Request, ctx: Annotated[ServiceContext, Depends(context)]
) -> Response:
    """The map's description (404 for an unknown map id)."""
    info = await service.CATALOGUE.get(ctx, map_id)
    return json_response(info.describe(_base(request)), headers=service.CORS)


@router.get("/products/maps/{map_id}/value", summary="A map's value at a position")
async def value(
    map_id: str,
    fmt: Format,
    ctx: Annotated[ServiceContext, Depends(context)],
    ra: Annotated[str | None, Query(description="right ascension, ICRS degrees")] = None,
    dec: Annotated[str | None, Query(description="declination, ICRS degrees")] = None,
) -> Response:
    """The stored pixel's value at (ra, dec), its 1σ error where the map has a variance map,
    unit, HEALPix pixel (NESTED) and order; JSON or VOTable (``format=votable``). 400 for a
    missing or impossible position, 404 for an unknown map."""
    if ra is None or dec is None:
        raise UsageFault("ra and dec are required (ICRS degrees)")
    position = service.parse_position(ra, dec)
    info = await service.CATALOGUE.get(ctx, map_id)
    rows = await service.values(ctx, info, [position])
    return _value_response(info, rows, fmt, single=True)


@router.post("/products/maps/{map_id}/value", summary="A map's values at many positions")
async def values(
    map_id: str,
    request: Request,
    fmt: Format,
    ctx: Annotated[ServiceContext, Depends(context)],
) -> Response:
    """Values at up to 10,000 positions, sent as JSON ``{"positions": [[ra, dec], ...]}``
    (or ``{"ra": [...], "dec": [...]}``); answered as JSON or VOTable like the GET."""
    raw = await request.body()
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise UsageFault('the body must be JSON: {"positions": [[ra, dec], ...]}') from None
    positions = service.positions_of(body)
    info = await service.CATALOGUE.get(ctx, map_id)
    rows = await service.values(ctx, info, positions)
    return _value_response(info, rows, fmt, single=False)


@router.get("/hips/hipslist", summary="The HiPS list: every map's HiPS (HiPS 1.0 §4.5)")
async def hipslist(request: Request, ctx: Annotated[ServiceContext, Depends(context)]) -> Response:
    """Every map's ``properties`` with its absolute ``hips_service_url``, for Aladin and ESASky."""
    text = await service.hips_list(ctx, _base(request))
    return Response(text, media_type="text/plain; charset=utf-8", headers=service.CORS)


@router.get("/hips/{map_id}", summary="A HiPS's landing: its properties")
async def hips_root(
    map_id: str, request: Request, ctx: Annotated[ServiceContext, Depends(context)]
) -> Response:
    """The map's HiPS ``properties`` (what a client reads first)."""
    return await service.member(ctx, map_id, "properties", _base(request), None)


@router.get(
    "/hips/{map_id}/resource.xml",
    summary="A HiPS's VOResource record for the IVOA Registry",
    response_class=Response,
    responses={200: {"content": {"application/xml": {}}}},
)
async def hips_resource(
    map_id: str, request: Request, ctx: Annotated[ServiceContext, Depends(context)]
) -> Response:
    """The map's HiPS as a ``vs:CatalogService`` record with a HiPS 1.0 capability."""
    body = await service.resource_record(ctx, map_id, _base(request))
    return Response(body, media_type="application/xml", headers=service.CORS)


@router.get("/hips/{map_id}/{path:path}", summary="A member of a map's HiPS tree")
async def hips_member(
    map_id: str,
    path: str,
    request: Request,
    ctx: Annotated[ServiceContext, Depends(context)],
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """``properties``, ``Moc.fits``, ``Norder3/Allsky.{fits,png}`` or a tile
    ``NorderK/DirD/NpixN.{fits,png}``, with ETag, long-lived caching and CORS; 404 for any
    other path and for tiles where the map has no data."""
    return await service.member(ctx, map_id, path, _base(request), if_none_match)
