"""SQL of the ingest routes: the catalogue versions, switching the current one, merges.

The routes stay thin (no SQL in ``routes.py``); what they read and write is here.
"""

from __future__ import annotations

from typing import Any

import psycopg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection


async def catalogues(conn: AsyncConnection) -> list[dict[str, Any]]:
    """Every catalogue version with its team, kind, size and whether it is current."""
    rows = (
        await conn.execute(
            text(
                "SELECT catalogue_id, name, version, team, kind, is_current, n_rows, sha256, "
                "loaded_at FROM isla.catalogues ORDER BY name, catalogue_id"
            )
        )
    ).mappings()
    return [dict(r) for r in rows]


def lock_catalogue_versions(cur: psycopg.Cursor[Any], name: str) -> list[tuple[Any, ...]]:
    """(catalogue_id, version, team) of every version of ``name``, oldest first, after taking
    the catalogue's transaction lock (so that two switches of one catalogue never interleave)."""
    cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"catalogue:{name}",))
    return cur.execute(
        "SELECT catalogue_id, version, team FROM isla.catalogues WHERE name = %s "
        "ORDER BY catalogue_id",
        (name,),
    ).fetchall()


def audit_switch(
    cur: psycopg.Cursor[Any], token_id: Any, team: str, role: str, target: str
) -> None:
    """Record a switch of the current catalogue version in the audit log."""
    cur.execute(
        "INSERT INTO isla_ops.ingest_audit (token_id, team, role, action, target, "
        "outcome, detail) VALUES (%s, %s, %s, 'catalogue.switch', %s, 'done', '{}')",
        (token_id, team, role, target),
    )


async def current_entries(conn: AsyncConnection) -> int:
    """Rows of the current catalogue versions (what a merge would read)."""
    total = (
        await conn.execute(
            text("SELECT coalesce(sum(n_rows), 0) FROM isla.catalogues WHERE is_current")
        )
    ).scalar_one()
    return int(total)


async def merge_report(conn: AsyncConnection, merge_id: int) -> dict[str, Any] | None:
    """One merge's report with every conflict it found; None when there is no such merge."""
    run = (
        (
            await conn.execute(
                text(
                    "SELECT merge_id, team, created_at, catalogues, report "
                    "FROM isla_ops.merge_runs WHERE merge_id = :id"
                ),
                {"id": merge_id},
            )
        )
        .mappings()
        .first()
    )
    if run is None:
        return None
    conflicts = (
        await conn.execute(
            text(
                "SELECT conflict_id, kind, source_id, detail FROM isla_ops.merge_conflicts "
                "WHERE merge_id = :id ORDER BY conflict_id"
            ),
            {"id": merge_id},
        )
    ).mappings()
    return {**dict(run), "conflicts": [dict(c) for c in conflicts]}
