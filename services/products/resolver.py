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

from typing import Annotated, Any

from astropy import units as u
from astropy.coordinates import SkyCoord
from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from shared.service import Database
from shared.sources import MAX_NAME, SourceMatch, find_source
from shared.vo.errors import UsageFault

router = APIRouter(tags=["ISLA compatibility"])

RESOLVER_TYPES = ("ALL", "SIMBAD", "NED", "VIZIER", "ISLA")
"""Accepted RESOLVER_TYPE values; all are answered from the archive's catalogues."""


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
    engine: Database,
    target_name: Annotated[
        str | None, Query(alias="TARGET_NAME", description="Name, alias or source id.")
    ] = None,
    resolver_type: Annotated[
        str, Query(alias="RESOLVER_TYPE", description="ALL, SIMBAD, NED, VIZIER or ISLA.")
    ] = "ALL",
    fmt: Annotated[str, Query(alias="FORMAT", description="Only json.")] = "json",
) -> JSONResponse:
    """Resolve ``TARGET_NAME`` (astroquery's ``ISLA_TARGET_RESOLVER`` URL) with the archive's
    one resolver (:mod:`shared.sources`: source id, then name, then alias)."""
    if not target_name or not target_name.strip():
        raise UsageFault("TARGET_NAME is required, e.g. TARGET_NAME=Crab")
    if len(target_name) > MAX_NAME:
        raise UsageFault(f"TARGET_NAME is longer than {MAX_NAME} characters")
    if resolver_type.upper() not in RESOLVER_TYPES:
        raise UsageFault(
            f"RESOLVER_TYPE must be one of {', '.join(RESOLVER_TYPES)}, not {resolver_type!r}"
        )
    if fmt.lower() != "json":
        raise UsageFault(f"FORMAT must be json, not {fmt!r}")
    async with engine.connect() as conn:
        match = await find_source(conn, target_name)
    return JSONResponse(resolver_answer(target_name.strip(), match))
