"""SQL of the DataLink room."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection


async def science_window(conn: AsyncConnection, scw: str, version: str | None) -> Any:
    """The science window (its latest version unless one is given), or None."""
    return (
        await conn.execute(
            text(
                "SELECT w.scw_id, w.version, w.obsid, w.revolution, w.scw_type, w.raw_size, "
                "w.raw_files FROM isla.science_windows w WHERE w.scw_id = :scw "
                "AND (CAST(:version AS text) IS NULL OR w.version = :version) "
                "ORDER BY w.version DESC LIMIT 1"
            ),
            {"scw": scw, "version": version},
        )
    ).first()


async def scw_files(conn: AsyncConnection, scw: str, version: str) -> list[Any]:
    """The raw files of a science window."""
    return list(
        (
            await conn.execute(
                text(
                    "SELECT name, size, content_type FROM isla.scw_files "
                    "WHERE scw_id = :scw AND version = :version ORDER BY name"
                ),
                {"scw": scw, "version": version},
            )
        ).all()
    )


async def epoch_products(conn: AsyncConnection, epoch: str) -> list[Any]:
    """The stored products of an epoch."""
    return list(
        (
            await conn.execute(
                text(
                    "SELECT product_id, kind, instrument, content_type, size FROM isla.products "
                    "WHERE epoch = :epoch AND kind <> 'preview' ORDER BY product_id"
                ),
                {"epoch": epoch},
            )
        ).all()
    )


async def field_sources(conn: AsyncConnection, scw: str, version: str, limit: int) -> list[Any]:
    """Sources in a science window's ISGRI field, nearest to the pointing first."""
    return list(
        (
            await conn.execute(
                text(
                    "SELECT s.source_id, s.name FROM isla.sources s, isla.science_windows w "
                    "WHERE w.scw_id = :scw AND w.version = :version AND w.fov_isgri @> s.pos "
                    "ORDER BY (s.pos <-> w.pos) LIMIT :limit"
                ),
                {"scw": scw, "version": version, "limit": limit},
            )
        ).all()
    )


async def product(conn: AsyncConnection, product_id: str) -> Any:
    """A product with its source's name and its band's name, or None."""
    return (
        await conn.execute(
            text(
                "SELECT p.product_id, p.kind, p.instrument, p.band_id, p.source_id, p.epoch, "
                "p.obsid, p.file_name, p.size, p.content_type, p.meta, s.name AS source_name, "
                "e.name AS band FROM isla.products p "
                "LEFT JOIN isla.sources s ON s.source_id = p.source_id "
                "LEFT JOIN isla.energy_bands e ON e.band_id = p.band_id "
                "WHERE p.product_id = :pid"
            ),
            {"pid": product_id},
        )
    ).first()


async def related(conn: AsyncConnection, product_id: str, refs: Sequence[str]) -> list[Any]:
    """Products made of this one (``meta.of``) or that it names (its ARF, RMF, origin)."""
    return list(
        (
            await conn.execute(
                text(
                    "SELECT product_id, kind, file_name, content_type, size FROM isla.products "
                    "WHERE meta->>'of' = :pid OR product_id = ANY(:refs) ORDER BY product_id"
                ),
                {"pid": product_id, "refs": list(refs)},
            )
        ).all()
    )


AVAILABILITY_PROBE = "SELECT 1 FROM isla.products LIMIT 1"
"""A query that answers when the product tables are readable (VOSI availability)."""


async def timeseries_file(conn: AsyncConnection, file_id: str) -> Any:
    """A delivered SPI-ACS or IREM file (one dataset and revolution), or None."""
    return (
        await conn.execute(
            text(
                "SELECT file_id, dataset, revolution, instrument, t_start, t_stop, file_name, "
                "size, simulated FROM isla.timeseries_files WHERE file_id = :f"
            ),
            {"f": file_id},
        )
    ).first()


async def contributed_companions(conn: AsyncConnection, collection: str, version: int) -> list[Any]:
    """The documentation and software files of a published contributed collection version."""
    return list(
        (
            await conn.execute(
                text(
                    "SELECT f.file_name, f.role, f.content_type, f.size, c.title, "
                    "c.software_licence, c.software_version FROM isla.contributed_files f "
                    "JOIN isla.contributed_collections c USING (collection, version) "
                    "WHERE f.collection = :c AND f.version = :v AND f.role <> 'product' "
                    "ORDER BY f.role, f.file_name"
                ),
                {"c": collection, "v": version},
            )
        ).all()
    )
