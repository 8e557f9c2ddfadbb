"""SQL of the raw data service besides selections: science-window metadata and listings."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.integral import ScwId


async def scw_metadata(conn: AsyncConnection, scw: ScwId) -> Row[Any] | None:
    """The catalogue row of one science window (None when unknown)."""
    return (
        await conn.execute(
            text(
                "SELECT scw_id, version, revolution, obsid, scw_type, start_time, end_time, "
                "ra, dec, isgri_exposure FROM isla.science_windows "
                "WHERE scw_id = :id AND version = :version"
            ),
            {"id": scw.id, "version": scw.version},
        )
    ).first()


async def revolution_scws(conn: AsyncConnection, revolution: int) -> list[Row[Any]]:
    """The science windows of one revolution in time order."""
    rows = await conn.execute(
        text(
            "SELECT scw_id, version, scw_type, obsid, start_time, end_time, raw_size "
            "FROM isla.science_windows WHERE revolution = :rev ORDER BY start_time"
        ),
        {"rev": revolution},
    )
    return list(rows.all())
