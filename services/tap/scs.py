"""Simple Cone Search 1.03 at ``/scs`` over the source catalogue (``isla.sources``).

``GET /scs?RA=..&DEC=..&SR=..[&VERB=1|2|3]`` (degrees, ICRS; names in any case). The answer
is a VOTable (TABLEDATA, which every SCS client reads) with the UCD1 names SCS 1.03 requires
on the identifier and position columns (``ID_MAIN``, ``POS_EQ_RA_MAIN``, ``POS_EQ_DEC_MAIN``),
nearest source first. The cone uses the GiST index on ``pos`` (``pos <@ scircle``).

Errors are SCS 1.03 error documents (``<INFO name="Error" value="...">``, plus the DALI
QUERY_STATUS INFO; the text starts with the DALI code, e.g. ``UsageFault: ...``) with HTTP
status 200, as SCS 1.03 clients expect the message in the document rather than in the status
line. ``SR=0`` returns the columns and no rows.
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import text

from shared.openapi import Param, answers, query_parameters
from shared.service import context
from shared.settings import limit_settings, tap_settings
from shared.vo.errors import TransientFault, UsageFault, VOError
from shared.vo.params import IvoaParams, ivoa_params
from shared.vo.results import ResultField, VOTableWriter, scs_error_votable
from shared.vo.types import BY_TYPNAME, TEXT, UNICODE

router = APIRouter(tags=["scs"])
log = logging.getLogger("isla.tap")

MAX_SR = 10.0
"""Largest search radius in degrees (a larger cone is a job for TAP)."""

MEDIA_TYPE = "text/xml;content=x-votable"
"""The MIME type SCS 1.03 names for its responses."""

_DOUBLE = BY_TYPNAME["float8"]
_BOOL = BY_TYPNAME["bool"]
_INT = BY_TYPNAME["int4"]

# (column expression, FIELD) per verbosity level; each level adds to the one before.
_VERB1 = [
    ("s.source_id", ResultField("source_id", TEXT, None, "ID_MAIN", None, "ISLA source id.")),
    ("s.ra", ResultField("ra", _DOUBLE, "deg", "POS_EQ_RA_MAIN", None, "Right ascension.")),
    ("s.dec", ResultField("dec", _DOUBLE, "deg", "POS_EQ_DEC_MAIN", None, "Declination.")),
]
_VERB2 = [
    ("s.name", ResultField("name", UNICODE, None, "ID_ALTERNATIVE", None, "Source name.")),
    (
        "s.source_class",
        ResultField("source_class", UNICODE, None, "CLASS_OBJECT", None, "Source class."),
    ),
    (
        "s.pos_err",
        ResultField("pos_err", _DOUBLE, "arcmin", "ERROR", None, "Position error (90%)."),
    ),
    (
        "degrees(s.pos <-> c.centre)",
        ResultField("distance", _DOUBLE, "deg", "POS_ANG_DIST_GENERAL", None, "From the centre."),
    ),
]
_VERB3 = [
    (f"s.det_{i}", ResultField(f"det_{i}", _BOOL, None, "CODE_MISC", None, f"Detected by {n}."))
    for i, n in (
        ("isgri", "ISGRI"),
        ("picsit", "PICsIT"),
        ("jemx", "JEM-X"),
        ("spi", "SPI"),
        ("omc", "OMC"),
    )
] + [
    (
        "s.catalogue_id",
        ResultField("catalogue_id", _INT, None, "ID_CATALOG", None, "Catalogue version."),
    )
]
COLUMNS = {1: _VERB1, 2: _VERB1 + _VERB2, 3: _VERB1 + _VERB2 + _VERB3}
"""Columns of each VERB level (SCS: 1 the fewest, 3 all)."""


@dataclass(frozen=True)
class Cone:
    """A validated cone search request."""

    ra: float
    dec: float
    sr: float
    verb: int


def _number(params: IvoaParams, name: str) -> float:
    raw = params.get_upper(name)
    if raw is None:
        raise UsageFault(f"{name} is missing; SCS needs RA, DEC and SR in decimal degrees")
    try:
        value = float(raw)
    except ValueError:
        raise UsageFault(f"{name} must be a number of degrees, not {raw!r}") from None
    if not math.isfinite(value):
        raise UsageFault(f"{name} must be a finite number of degrees, not {raw!r}")
    return value


def parse_cone(params: IvoaParams) -> Cone:
    """Check RA, DEC, SR and VERB (SCS 1.03 §2); raise :class:`UsageFault` when wrong."""
    ra = _number(params, "RA")
    dec = _number(params, "DEC")
    sr = _number(params, "SR")
    if not 0.0 <= ra <= 360.0:
        raise UsageFault(f"RA must be between 0 and 360 degrees, not {ra:g}")
    if not -90.0 <= dec <= 90.0:
        raise UsageFault(f"DEC must be between -90 and 90 degrees, not {dec:g}")
    if not 0.0 <= sr <= MAX_SR:
        raise UsageFault(f"SR must be between 0 and {MAX_SR:g} degrees, not {sr:g}")
    raw_verb = params.get_upper("VERB") or "2"
    if raw_verb not in ("1", "2", "3"):
        raise UsageFault(f"VERB must be 1, 2 or 3, not {raw_verb!r}")
    return Cone(ra, dec, sr, int(raw_verb))


def _error(error: VOError) -> Response:
    # SCS 1.03 answers errors with HTTP 200 and its own document; the text carries the code.
    return Response(scs_error_votable(error.text), media_type=MEDIA_TYPE)


SCS_PARAMETERS = (
    Param("RA", "Right ascension of the cone's centre (ICRS, degrees).", "number", True),
    Param("DEC", "Declination of the cone's centre (ICRS, degrees).", "number", True),
    Param("SR", "Radius of the cone (degrees).", "number", True),
    Param("VERB", "Columns returned: 1 (fewest), 2 or 3 (all).", "integer"),
)
"""The parameters of the cone search, as OpenAPI declares them."""


@router.get(
    "/scs",
    openapi_extra={"parameters": query_parameters(SCS_PARAMETERS)},
    response_class=Response,
    responses=answers(MEDIA_TYPE, description="The sources in the cone (or an SCS error)."),
)
@router.get("/scs/", include_in_schema=False)
async def cone_search(
    request: Request, params: Annotated[IvoaParams, Depends(ivoa_params)]
) -> Response:
    """Simple Cone Search 1.03 over the source catalogue."""
    try:
        cone = parse_cone(params)
    except UsageFault as exc:
        return _error(exc)
    ctx = context(request)
    if ctx.engine is None:
        return _error(TransientFault("the database is not configured"))
    engine = ctx.require_read_engine()  # the read replica's, when there is one
    columns = COLUMNS[cone.verb]
    limit = limit_settings().maxrec_default
    rows: list[tuple[object, ...]] = []
    if cone.sr > 0:
        # Only bound numbers reach the SQL; the column list is fixed per VERB.
        select = ", ".join(expr for expr, _ in columns)
        sql = text(
            f"SELECT {select} FROM isla.sources s, "  # noqa: S608 - fixed column list
            "(SELECT spoint(radians(:ra), radians(:dec)) AS centre) c "
            "WHERE s.pos <@ scircle(c.centre, radians(:sr)) "
            "ORDER BY s.pos <-> c.centre LIMIT :limit"
        )
        try:
            async with asyncio.timeout(tap_settings().query_timeout), engine.connect() as conn:
                result = await conn.execute(
                    sql, {"ra": cone.ra, "dec": cone.dec, "sr": cone.sr, "limit": limit + 1}
                )
                rows = [tuple(r) for r in result.all()]
        except Exception:
            log.exception("cone search failed")
            return _error(
                TransientFault("the source catalogue cannot be read now; try again later")
            )
    writer = VOTableWriter([f for _, f in columns], serialization="tabledata")
    overflow = len(rows) > limit
    body = writer.head() + writer.rows(rows[:limit]) + writer.tail(overflow)
    return Response(body, media_type=MEDIA_TYPE)
