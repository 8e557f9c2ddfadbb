"""SQL of the mosaics room: stored mosaics by epoch, instrument and band."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text


def mosaics(conn: Connection, revolution: int | None = None) -> list[Any]:
    """Stored mosaics (of one revolution, or all) with their band names."""
    return list(
        conn.execute(
            text(
                "SELECT p.*, e.name AS band FROM isla.products p "
                "LEFT JOIN isla.energy_bands e ON e.band_id = p.band_id "
                "WHERE p.kind = 'mosaic' AND (CAST(:r AS int) IS NULL OR p.revolution = :r) "
                "ORDER BY p.epoch, p.instrument, e.band_id, p.product_id"
            ),
            {"r": revolution},
        ).all()
    )


def of_epoch(conn: Connection, epoch: str) -> list[Any]:
    """The stored mosaics of one epoch (every instrument and band)."""
    return list(
        conn.execute(
            text(
                "SELECT p.*, e.name AS band FROM isla.products p "
                "LEFT JOIN isla.energy_bands e ON e.band_id = p.band_id "
                "WHERE p.kind = 'mosaic' AND p.epoch = :e ORDER BY p.product_id"
            ),
            {"e": epoch},
        ).all()
    )


def revolutions_with_mosaics(conn: Connection) -> list[int]:
    """The revolutions that have stored mosaics."""
    return [
        int(r[0])
        for r in conn.execute(
            text(
                "SELECT DISTINCT revolution FROM isla.products WHERE kind = 'mosaic' "
                "AND revolution IS NOT NULL ORDER BY revolution"
            )
        )
    ]
