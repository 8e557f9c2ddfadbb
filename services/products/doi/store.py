"""SQL of the DOI room (the records themselves are read by :mod:`shared.doi.metadata`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text


def listing(conn: Connection, kind: str | None) -> list[Any]:
    """Every DOI (of one kind), parents before parts."""
    return list(
        conn.execute(
            text(
                "SELECT doi, suffix, title, kind, resource_type_general, resource_type, "
                "simulated, state FROM isla.dois WHERE CAST(:k AS text) IS NULL OR kind = :k "
                "ORDER BY suffix"
            ),
            {"k": kind},
        ).all()
    )


def candidates(conn: Connection, suffix: str, limit: int = 400) -> list[str]:
    """Suffixes that share the longest possible beginning with ``suffix`` (for "did you
    mean"): the prefix is shortened until some exist."""
    for n in range(len(suffix), 0, -1):
        found = list(
            conn.execute(
                text(
                    "SELECT suffix FROM isla.dois WHERE suffix LIKE :p ESCAPE '\\' "
                    "ORDER BY suffix LIMIT :n"
                ),
                {"p": _like(suffix[:n]) + "%", "n": limit},
            ).scalars()
        )
        if found:
            return found
    return list(
        conn.execute(
            text("SELECT suffix FROM isla.dois ORDER BY suffix LIMIT :n"), {"n": limit}
        ).scalars()
    )


def _like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
