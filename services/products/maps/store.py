"""SQL of the maps room: the stored all-sky map products."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text


def map_products(conn: Connection) -> list[Any]:
    """Every stored ``allsky_map`` product with what the maps room shows of it."""
    return list(
        conn.execute(
            text(
                "SELECT p.product_id, p.instrument, p.bucket, p.object_key, p.file_name, "
                "p.size, p.sha256, p.meta, p.t_min, p.t_max, p.simulated, e.name AS band "
                "FROM isla.products p LEFT JOIN isla.energy_bands e ON e.band_id = p.band_id "
                "WHERE p.kind = 'allsky_map' ORDER BY p.instrument, p.product_id"
            )
        ).all()
    )
