"""The ingest audit trail: one row of ``isla_ops.ingest_audit`` per write attempt."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.ingest.auth import Principal
from shared.service import context

_INSERT = text(
    "INSERT INTO isla_ops.ingest_audit "
    "(token_id, team, role, action, target, checksum, outcome, detail) "
    "VALUES (:token_id, :team, :role, :action, :target, :checksum, :outcome, "
    "CAST(:detail AS jsonb)) RETURNING audit_id"
)


def safe_text(value: Any) -> Any:
    """``value`` with every NUL character written as ``\\x00`` (strings, in lists and dicts too).

    Postgres text and jsonb cannot hold NUL: a refused request whose fields carry one must
    still leave its audit row, so what the row records is escaped, visibly.
    """
    if isinstance(value, str):
        return value.replace("\x00", "\\x00")
    if isinstance(value, dict):
        return {safe_text(k): safe_text(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [safe_text(v) for v in value]
    return value


def _params(
    principal: Principal | None,
    action: str,
    target: str | None,
    checksum: str | None,
    outcome: str,
    detail: dict[str, Any],
) -> dict[str, Any]:
    return {
        "token_id": principal.token_id if principal else None,
        "team": principal.team if principal else None,
        "role": principal.role if principal else None,
        "action": action,
        "target": safe_text(target),
        "checksum": safe_text(checksum),
        "outcome": outcome,
        "detail": json.dumps(safe_text(detail), default=lambda v: safe_text(str(v))),
    }


async def record(
    conn: AsyncConnection,
    principal: Principal | None,
    action: str,
    target: str | None,
    checksum: str | None,
    outcome: str,
    detail: dict[str, Any],
) -> int:
    """Write one audit row on ``conn`` (in its transaction); returns the audit id."""
    result = await conn.execute(
        _INSERT, _params(principal, action, target, checksum, outcome, detail)
    )
    return int(result.scalar_one())


def record_sync(
    conn: Connection,
    principal: Principal | None,
    action: str,
    target: str | None,
    checksum: str | None,
    outcome: str,
    detail: dict[str, Any],
) -> int:
    """:func:`record` for synchronous code (job-queue workers, the command line)."""
    result = conn.execute(_INSERT, _params(principal, action, target, checksum, outcome, detail))
    return int(result.scalar_one())


async def record_request(
    request: Request,
    principal: Principal,
    action: str,
    target: str,
    checksum: str | None,
    outcome: str,
    detail: dict[str, Any],
) -> None:
    """:func:`record` in its own transaction, for a route (nothing without a database: the
    request is then refused by the outage answer anyway)."""
    engine = context(request).engine
    if engine is None:
        return
    async with engine.begin() as conn:
        await record(conn, principal, action, target, checksum, outcome, detail)
