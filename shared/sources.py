"""The one source resolver: a source id, a name or an alias to a source of the archive.

Every service that takes a source from a user (the target resolver, raw-data selections,
product requests, ingestion) resolves it here, in one precedence:

1. the source id, exactly (``J053432.0+220052``, any case);
2. the preferred name (``isla.sources.name``), compared normalised: lower case without
   spaces, ``_`` or ``-`` (:func:`shared.integral.normalise_source_name`), so ``crab``,
   ``CRAB`` and ``Crab`` agree;
3. an alias (``isla.source_aliases.alias_norm``, normalised the same way).

Within one rank, matches come in source-id order. A name that is neither an id nor matched
is not guessed at (no prefix or fuzzy matching): callers report it unknown.

Each step is one indexed lookup: the primary key, the functional index
``ix_sources_name_norm`` on the normalised name (:data:`NAME_NORM_SQL`), and
``ix_source_aliases_norm``; a text that cannot be a source id skips the first. So resolving
"Crab" costs two index probes, never a scan of the catalogue.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, TextClause, text
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.integral import normalise_source_name

NAME_NORM_SQL = "lower(replace(replace(replace(name, ' ', ''), '_', ''), '-', ''))"
"""SQL of :func:`shared.integral.normalise_source_name` on ``isla.sources.name``: the
expression of the functional index, which a query must repeat exactly to use it."""

SOURCE_ID = re.compile(r"^J\d{6}\.\d[+-]\d{6}$")
"""The form of an ISLA source id (``JHHMMSS.s+DDMMSS``)."""

MAX_NAME = 200
"""Longest name looked up; longer texts name no source."""

_BY_ID = "SELECT source_id, name, ra, dec, 1 AS rank FROM isla.sources WHERE source_id = :id"
_BY_NAME = (
    "SELECT source_id, name, ra, dec, 2 AS rank FROM isla.sources "  # noqa: S608 - constant
    f"WHERE {NAME_NORM_SQL} = :norm"
)
_BY_ALIAS = (
    "SELECT s.source_id, s.name, s.ra, s.dec, 3 AS rank FROM isla.source_aliases a "
    "JOIN isla.sources s USING (source_id) WHERE a.alias_norm = :norm"
)
_ORDER = " ORDER BY rank, source_id"
BY_ID_NAME_OR_ALIAS = text(f"{_BY_ID} UNION ALL {_BY_NAME} UNION ALL {_BY_ALIAS}{_ORDER}")
"""The look-up of a text shaped like a source id: the primary key, then name and alias."""
BY_NAME_OR_ALIAS = text(f"{_BY_NAME} UNION ALL {_BY_ALIAS}{_ORDER}")
"""The look-up of a text that cannot be a source id: two index probes."""
MATCHED_BY = {1: "source_id", 2: "name", 3: "alias"}
"""What each rank of the precedence matched."""


@dataclass(frozen=True)
class SourceMatch:
    """A source of the archive found for a name."""

    source_id: str
    name: str
    ra: float
    dec: float
    matched_by: str
    """``source_id``, ``name`` or ``alias``: which rank of the precedence matched."""


def _query(name: str) -> tuple[TextClause, dict[str, Any]] | None:
    cleaned = name.strip()
    if not cleaned or len(cleaned) > MAX_NAME:
        return None
    norm = normalise_source_name(cleaned)
    upper = cleaned.upper()
    if SOURCE_ID.match(upper):
        return BY_ID_NAME_OR_ALIAS, {"id": upper, "norm": norm}
    return BY_NAME_OR_ALIAS, {"norm": norm}


def _matches(rows: Any) -> list[SourceMatch]:
    seen: set[str] = set()
    out = []
    for row in rows:
        if row.source_id in seen:  # a source found by its id and its name counts once
            continue
        seen.add(row.source_id)
        out.append(
            SourceMatch(
                str(row.source_id),
                str(row.name),
                float(row.ra),
                float(row.dec),
                MATCHED_BY[int(row.rank)],
            )
        )
    return out


async def find_sources(conn: AsyncConnection, name: str) -> list[SourceMatch]:
    """Every source ``name`` designates, best first (see the precedence above)."""
    query = _query(name)
    if query is None:
        return []
    return _matches((await conn.execute(*query)).all())


async def find_source(conn: AsyncConnection, name: str) -> SourceMatch | None:
    """The source ``name`` designates (id, then name, then alias); None when none does."""
    found = await find_sources(conn, name)
    return found[0] if found else None


def find_sources_sync(conn: Connection, name: str) -> list[SourceMatch]:
    """:func:`find_sources` on a synchronous connection (ingestion, the demo generator)."""
    query = _query(name)
    if query is None:
        return []
    return _matches(conn.execute(*query).all())
