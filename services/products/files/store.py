"""SQL of the files room: ``isla.products`` rows by product id."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


def reader(engine: AsyncEngine) -> AsyncEngine:
    """``engine`` in autocommit: a lookup is one statement, and a transaction around it would
    cost a ``BEGIN`` and a ``ROLLBACK``, two more round trips to Postgres per request than the
    query itself (the connections and their pool are shared with ``engine``)."""
    return engine.execution_options(isolation_level="AUTOCOMMIT")


PRODUCT_SELECT = "SELECT p.* FROM isla.products p"
"""Every column of a product row: columns added later (``simulated``) arrive without a change
here, and readers treat a missing one as unknown."""


FILE_SELECT = (
    "SELECT p.product_id, p.kind, p.bucket, p.object_key, p.file_name, p.size, p.sha256, "
    "p.content_type FROM isla.products p WHERE p.product_id = :p"
)
"""What serving a product's file needs, and no more: the row is found by its primary key in
one query, and the wide columns (``meta``) are neither read nor decoded."""


async def product_file(conn: AsyncConnection, product_id: str) -> Any:
    """The file columns of ``product_id`` (:data:`FILE_SELECT`), or None."""
    return (await conn.execute(text(FILE_SELECT), {"p": product_id})).first()


async def product(conn: AsyncConnection, product_id: str) -> Any:
    """The row of ``product_id``, or None."""
    return (
        await conn.execute(text(f"{PRODUCT_SELECT} WHERE p.product_id = :p"), {"p": product_id})
    ).first()


async def ids_like(conn: AsyncConnection, prefix: str, limit: int = 10) -> list[str]:
    """Product ids starting with ``prefix`` (for 404 hints)."""
    rows = (
        await conn.execute(
            text(
                "SELECT product_id FROM isla.products WHERE product_id LIKE :p "
                "ORDER BY product_id LIMIT :n"
            ),
            {"p": prefix.replace("%", "").replace("_", r"\_") + "%", "n": limit},
        )
    ).all()
    return [r[0] for r in rows]


async def products(conn: AsyncConnection, product_ids: list[str]) -> list[Any]:
    """The rows of ``product_ids`` that exist, in the order asked."""
    rows = (
        await conn.execute(
            text(f"{PRODUCT_SELECT} WHERE p.product_id = ANY(:ids)"), {"ids": product_ids}
        )
    ).all()
    by_id = {r.product_id: r for r in rows}
    return [by_id[p] for p in product_ids if p in by_id]
