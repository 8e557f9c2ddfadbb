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


async def revolution_aux_files(conn: AsyncConnection, revolution: int) -> list[Row[Any]]:
    """The served auxiliary files of one revolution (not those found corrupt or missing), with
    the end of the revolution as their tarball time."""
    rows = await conn.execute(
        text(
            "SELECT a.name, a.version, a.object_key, a.size, a.sha256, a.etag, a.state, "
            "extract(epoch FROM r.end_time)::bigint AS mtime "
            "FROM isla.aux_files a JOIN isla.revolutions r USING (revolution) "
            "WHERE a.revolution = :rev AND a.state IN ('verified', 'unverified') "
            "ORDER BY a.name"
        ),
        {"rev": revolution},
    )
    return list(rows.all())


async def revolution_row(conn: AsyncConnection, revolution: int) -> Row[Any] | None:
    """The revolution's row (start, end, where they come from), or None."""
    return (
        await conn.execute(
            text(
                "SELECT revolution, start_time, end_time, bounds_source FROM isla.revolutions "
                "WHERE revolution = :rev"
            ),
            {"rev": revolution},
        )
    ).first()


async def withheld_file(conn: AsyncConnection, scw: ScwId, name: str) -> Row[Any] | None:
    """A file of the ScW that a verification found corrupt or missing (None otherwise)."""
    return (
        await conn.execute(
            text(
                "SELECT state, verified_at FROM isla.scw_files WHERE scw_id = :id "
                "AND version = :version AND name = :name AND state IN ('corrupt', 'missing')"
            ),
            {"id": scw.id, "version": scw.version, "name": name},
        )
    ).first()


async def ic_files(
    conn: AsyncConnection, prefix: str | None = None, instrument: str | None = None
) -> list[Row[Any]]:
    """The served files of the instrument-characteristics tree (not those found corrupt or
    missing), under ``prefix`` and of ``instrument`` when given, in path order, with the
    time they were written as their tarball time."""
    rows = await conn.execute(
        text(
            "SELECT path, tree, instrument, size, sha256, etag, state, "
            "coalesce(extract(epoch FROM last_modified), 0)::bigint AS mtime "
            "FROM isla.ic_files WHERE state IN ('verified', 'unverified') "
            "AND (CAST(:prefix AS text) IS NULL OR starts_with(path, CAST(:prefix AS text))) "
            "AND (CAST(:inst AS text) IS NULL OR instrument = CAST(:inst AS text)) "
            "ORDER BY path"
        ),
        {"prefix": prefix, "inst": instrument},
    )
    return list(rows.all())


async def withheld_ic_file(conn: AsyncConnection, path: str) -> Row[Any] | None:
    """A file of the instrument-characteristics tree that a verification found corrupt or
    missing (None otherwise)."""
    return (
        await conn.execute(
            text(
                "SELECT state, verified_at FROM isla.ic_files WHERE path = :path "
                "AND state IN ('corrupt', 'missing')"
            ),
            {"path": path},
        )
    ).first()
