"""SQL of the spectra room: stored spectra of a source and their ARF/RMF products."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, text


def spectra(conn: Connection, source_id: str) -> list[Any]:
    """Every stored spectrum of the source (all instruments), oldest scope first."""
    return list(
        conn.execute(
            text(
                "SELECT p.* FROM isla.products p WHERE p.kind = 'spectrum' "
                "AND p.source_id = :s ORDER BY p.instrument, p.t_min NULLS FIRST, p.product_id"
            ),
            {"s": source_id},
        ).all()
    )


def products(conn: Connection, product_ids: Sequence[str]) -> dict[str, Any]:
    """The rows of the given product ids, by id."""
    rows = conn.execute(
        text("SELECT p.* FROM isla.products p WHERE p.product_id = ANY(:ids)"),
        {"ids": list(product_ids)},
    ).all()
    return {r.product_id: r for r in rows}


def responses(conn: Connection, kind: str) -> list[Any]:
    """Every stored ARF (or RMF): the instrument's standard one (no source) first."""
    return list(
        conn.execute(
            text(
                "SELECT p.* FROM isla.products p WHERE p.kind = :k "
                "ORDER BY p.source_id IS NOT NULL, p.product_id"
            ),
            {"k": kind},
        ).all()
    )
