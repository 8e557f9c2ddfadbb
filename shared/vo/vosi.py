"""VOSI availability (VOSI 1.1 §3.1), one document for every VO service of the archive.

A service is available when its database answers a probe query naming the tables it serves
from; the document says so, with a note a person can read. Built from vo-models, never from
a string template.
"""

from __future__ import annotations

import asyncio

from fastapi.responses import Response
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from vo_models.vosi.availability.models import Availability

PROBE_TIMEOUT = 3.0
"""Seconds the probe query may take before the service counts as unavailable."""

XML = "application/xml"


def availability_document(available: bool, note: str) -> bytes:
    """The VOSI availability document."""
    out = Availability(available=available, note=[note]).to_xml(skip_empty=True)
    return out if isinstance(out, bytes) else out.encode("utf-8")


async def availability(engine: AsyncEngine | None, probe: str, up_note: str) -> Response:
    """Answer ``/availability``: whether ``probe`` (constant SQL) runs on the database.

    ``engine`` is None when the database is not configured; the document then says so (a
    VOSI client expects the document, not an HTTP error).
    """
    available, note = False, "the database is not configured"
    if engine is not None:
        try:
            async with asyncio.timeout(PROBE_TIMEOUT), engine.connect() as conn:
                await conn.execute(text(probe))
            available, note = True, up_note
        except Exception:
            note = "the database does not answer"
    return Response(availability_document(available, note), media_type=XML)
