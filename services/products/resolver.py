"""The target resolver at ``/servlet/target-resolver``: a name → position, offline.

ESA's ISLA resolves names through SIMBAD, NED and VizieR; this archive answers from its own
catalogues (preferred names, aliases, source ids), so it works without network and gives the
position the archive itself uses. astroquery's ``esautils.resolve_target`` reads
``objects[0].raDegrees`` / ``decDegrees`` from the JSON answer.

An unknown name is answered ``200`` with no ``objects`` member and an ``errorMessage``: the
client turns a missing member into its own "cannot be resolved" ``ValueError``, whereas an
HTTP error status or an empty list would surface as an unrelated exception in astroquery.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from astropy import units as u
from astropy.coordinates import SkyCoord
from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.integral import normalise_source_name
from shared.service import ServiceContext, context

router = APIRouter(tags=["ISLA compatibility"])

RESOLVER_TYPES = ("ALL", "SIMBAD", "NED", "VIZIER", "ISLA")
"""Accepted RESOLVER_TYPE values; all are answered from the archive's catalogues."""

MAX_NAME = 200
"""Longest accepted target name."""


@dataclass(frozen=True)
class SourceMatch:
    """A source of the archive found for a name."""

    source_id: str
    name: str
    ra: float
    dec: float
    matched_by: str


_LOOKUP = text(
    """
    SELECT s.source_id, s.name, s.ra, s.dec,
           CASE WHEN s.source_id = :raw THEN 'source_id'
                WHEN lower(s.name) = lower(:name) THEN 'name'
                ELSE 'alias' END AS matched_by
    FROM isla.sources s
    WHERE s.source_id = :raw
       OR lower(s.name) = lower(:name)
       OR s.source_id IN (SELECT a.source_id FROM isla.source_aliases a
                          WHERE a.alias_norm = :norm)
    ORDER BY s.source_id = :raw DESC, lower(s.name) = lower(:name) DESC, s.source_id
    LIMIT 1
    """
)


async def find_source(conn: AsyncConnection, name: str) -> SourceMatch | None:
    """The source a name, alias or source id designates (exact id, then name, then alias)."""
    cleaned = name.strip()
    if not cleaned:
        return None
    row = (
        await conn.execute(
            _LOOKUP,
            {"raw": cleaned.upper(), "name": cleaned, "norm": normalise_source_name(cleaned)},
        )
    ).first()
    if row is None:
        return None
    return SourceMatch(
        str(row.source_id), str(row.name), float(row.ra), float(row.dec), str(row.matched_by)
    )


def engine_of(ctx: ServiceContext) -> AsyncEngine:
    """The service's database engine; 503 when the database is not configured."""
    if ctx.engine is None:
        raise HTTPException(503, "the database is not configured", headers={"Retry-After": "30"})
    return ctx.engine


def resolver_answer(target: str, match: SourceMatch | None) -> dict[str, Any]:
    """The resolver's JSON document for one target."""
    if match is None:
        return {
            "target": target,
            "resolver": "ISLA",
            "totalObjects": 0,
            "errorMessage": f"Target {target} not found in the ISLA catalogues",
        }
    coord = SkyCoord(match.ra * u.deg, match.dec * u.deg, frame="icrs")
    galactic = coord.galactic
    return {
        "target": target,
        "resolver": "ISLA",
        "totalObjects": 1,
        "objects": [
            {
                "name": match.name,
                "sourceId": match.source_id,
                "raDegrees": match.ra,
                "decDegrees": match.dec,
                "raHms": coord.ra.to_string(unit=u.hourangle, sep=" ", precision=2, pad=True),
                "decDms": coord.dec.to_string(sep=" ", precision=1, alwayssign=True, pad=True),
                "glonDegrees": round(float(galactic.l.deg), 6),
                "glatDegrees": round(float(galactic.b.deg), 6),
                "matchedBy": match.matched_by,
                "resolver": "ISLA",
            }
        ],
    }


@router.get(
    "/servlet/target-resolver",
    summary="Resolve a target name to a position from the archive's catalogues (ISLA)",
)
async def target_resolver(
    ctx: Annotated[ServiceContext, Depends(context)],
    target_name: Annotated[
        str | None, Query(alias="TARGET_NAME", description="Name, alias or source id.")
    ] = None,
    resolver_type: Annotated[
        str, Query(alias="RESOLVER_TYPE", description="ALL, SIMBAD, NED, VIZIER or ISLA.")
    ] = "ALL",
    fmt: Annotated[str, Query(alias="FORMAT", description="Only json.")] = "json",
) -> JSONResponse:
    """Resolve ``TARGET_NAME`` (astroquery's ``ISLA_TARGET_RESOLVER`` URL)."""
    if not target_name or not target_name.strip():
        raise HTTPException(400, "TARGET_NAME is required, e.g. TARGET_NAME=Crab")
    if len(target_name) > MAX_NAME:
        raise HTTPException(400, f"TARGET_NAME is longer than {MAX_NAME} characters")
    if resolver_type.upper() not in RESOLVER_TYPES:
        raise HTTPException(
            400, f"RESOLVER_TYPE must be one of {', '.join(RESOLVER_TYPES)}, not {resolver_type!r}"
        )
    if fmt.lower() != "json":
        raise HTTPException(400, f"FORMAT must be json, not {fmt!r}")
    async with engine_of(ctx).connect() as conn:
        match = await find_source(conn, target_name)
    return JSONResponse(resolver_answer(target_name.strip(), match))
