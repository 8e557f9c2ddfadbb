"""Run translated ADQL on Postgres: read-only, as the reader role, bounded in time and rows.

Each query gets its own pooled connection and transaction:

- ``SET TRANSACTION READ ONLY``: nothing the query does can write;
- ``statement_timeout`` (transaction-local): a runaway query is stopped by Postgres;
- ``SET LOCAL ROLE isla_reader``: the query sees only what the reader role was granted
  (the published schemas), even if a check upstream missed something;
- a server-side cursor read in batches: memory stays constant whatever the result size, and
  MAXREC is applied by fetching at most MAXREC + 1 rows (the extra row flags OVERFLOW).

The first batch is fetched before the HTTP response starts, so that errors Postgres reports
while planning or starting the query still become a proper HTTP 400 error document.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import anyio
import psycopg
from psycopg import sql as pgsql
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.tap.upload import Upload, UploadTable, create_upload_tables
from shared.vo.errors import FatalFault, TransientFault, UsageFault, VOError

log = logging.getLogger("isla.tap")

SEARCH_PATH = "isla_adql, public"
"""ADQL helper functions first, then pgSphere; published tables are always schema-qualified."""


CLEANUP_SECONDS = 5.0
"""Longest wait for closing a cursor after the client went away."""


def _user_message(exc: psycopg.Error, timeout: float) -> VOError:
    """Classify a database error: user errors keep Postgres' primary message (never the SQL)."""
    state = exc.sqlstate or ""
    if isinstance(exc, psycopg.errors.QueryCanceled):
        return UsageFault(f"the query ran longer than the limit of {timeout:g} s")
    if state == "25006":
        return UsageFault("queries are read-only")
    if state[:2] in {"22", "42", "0A", "2F", "53", "54"} or state == "XX000":
        primary = exc.diag.message_primary or "the query failed"
        return UsageFault(f"query failed: {primary}")
    if state[:2] in {"08", "57"}:  # connection lost, server shutting down: may work later
        log.warning("TAP query stopped by the database (SQLSTATE %s): %s", state, exc)
        return TransientFault("the database stopped the query; try again later")
    log.error("TAP query failed with SQLSTATE %s: %s", state, exc)
    return FatalFault("the query failed in the database; the error has been logged")


class QueryRun:
    """One running query: its columns and a stream of row batches up to MAXREC."""

    def __init__(
        self,
        conn: AsyncConnection,
        cursor: psycopg.AsyncServerCursor[Any],
        maxrec: int,
        batch: int,
        timeout: float,
    ) -> None:
        """Use :meth:`start`."""
        self._conn = conn
        self._cursor = cursor
        self._remaining = maxrec
        self._batch = batch
        self._timeout = timeout
        self._done = False
        self.overflow = False
        self.names: list[str] = []
        self.type_names: list[str] = []
        self.first: list[Sequence[Any]] = []

    @classmethod
    async def start(
        cls,
        engine: AsyncEngine,
        query: str,
        *,
        maxrec: int,
        role: str,
        time_limit: float,
        batch: int,
        session: Mapping[str, str] | None = None,
        uploads: Sequence[Upload | UploadTable] | None = None,
        fetch_first: bool = True,
    ) -> QueryRun:
        """Open the transaction, start the query and fetch the first batch.

        ``session`` holds transaction-local settings for the views (``isla.raw_url``: the
        base of ivoa.obscore's access_url), set with the others in the same round trip.
        ``uploads``: TAP_UPLOAD tables, created as the reader's temporary tables in this
        transaction before it is made read-only (going read-only mid-transaction is allowed;
        only the way back is not).
        """
        conn = await engine.connect()
        try:
            raw = await conn.get_raw_connection()
            pconn: psycopg.AsyncConnection[Any] = raw.driver_connection  # type: ignore[assignment]
            async with pconn.cursor() as setup:
                # One round trip for the whole set-up (no parameters: values are quoted
                # literals, so several statements may go together).
                settings = {
                    "statement_timeout": str(max(1, round(time_limit * 1000))),
                    "search_path": SEARCH_PATH,
                    **dict(session or {}),
                }
                statements: list[pgsql.Composable] = (
                    [] if uploads else [pgsql.SQL("SET TRANSACTION READ ONLY")]
                )
                statements.append(
                    pgsql.SQL("SELECT {}").format(
                        pgsql.SQL(", ").join(
                            pgsql.SQL("set_config({}, {}, true)").format(
                                pgsql.Literal(name), pgsql.Literal(value)
                            )
                            for name, value in settings.items()
                        )
                    )
                )
                statements.append(pgsql.SQL("SET LOCAL ROLE {}").format(pgsql.Identifier(role)))
                await setup.execute(pgsql.SQL("; ").join(statements))
                if uploads:
                    await create_upload_tables(pconn, uploads)
                    await setup.execute("SET TRANSACTION READ ONLY")
            cursor = pconn.cursor(name="isla_tap_query")
            run = cls(conn, cursor, maxrec, batch, time_limit)
            # The query text comes from the ADQL translator after the checks; no parameters
            # are passed, so psycopg sends it as it is ('%' in LIKE patterns stays literal).
            await cursor.execute(pgsql.SQL(query))
            description = cursor.description or []
            run.names = [c.name for c in description]
            run.type_names = await _type_names(pconn, [c.type_code for c in description])
            if fetch_first:
                run.first = await run._fetch()
            return run
        except psycopg.Error as exc:
            await conn.close()
            raise _user_message(exc, time_limit) from None
        except BaseException:
            await conn.close()
            raise

    async def fetch_first(self, encoding_sql: str | None = None) -> None:
        """Fetch the first batch (after ``start(fetch_first=False)``).

        ``encoding_sql``: a projection wrapping the same query that returns the rows encoded
        by the database (:mod:`services.tap.pushdown`); it replaces the described cursor.
        """
        try:
            if encoding_sql is not None:
                pconn = self._cursor.connection
                await self._cursor.close()
                self._cursor = pconn.cursor(name="isla_tap_query", binary=True)
                await self._cursor.execute(pgsql.SQL(encoding_sql))
            self.first = await self._fetch()
        except psycopg.Error as exc:
            await self.aclose()
            raise _user_message(exc, self._timeout) from None
        except BaseException:
            await self.aclose()
            raise

    async def _fetch(self) -> list[Sequence[Any]]:
        if self._done:
            return []
        want = min(self._batch, self._remaining + 1)
        rows = await self._cursor.fetchmany(want)
        if len(rows) > self._remaining:
            self.overflow = True
            self._done = True
            return rows[: self._remaining]
        if len(rows) < want:
            self._done = True
        self._remaining -= len(rows)
        return rows

    async def batches(self) -> AsyncIterator[Sequence[Sequence[Any]]]:
        """Row batches: the first one (already fetched), then the rest, up to MAXREC."""
        try:
            if self.first:
                yield self.first
            self.first = []
            while not self._done:
                try:
                    rows = await self._fetch()
                except psycopg.Error as exc:
                    raise _user_message(exc, self._timeout) from None
                if rows:
                    yield rows
        finally:
            # A client that hangs up cancels this generator; the cleanup must still run to
            # the end (close the cursor, give the connection back), so it is shielded.
            with anyio.move_on_after(CLEANUP_SECONDS, shield=True):
                await self.aclose()

    async def aclose(self) -> None:
        """End the transaction and give the connection back (idempotent)."""
        if self._conn.closed:
            return
        pconn = self._cursor.connection
        if pconn.closed or pconn.broken:
            # psycopg closed it while cancelling a fetch (the client went away): drop it from
            # the pool instead of letting the pool try to roll it back.
            await self._conn.invalidate()
        else:
            # A failing close is harmless: the pool rolls the connection back on return.
            with contextlib.suppress(psycopg.Error):
                await self._cursor.close()
        await self._conn.close()


_EXTENSION_TYPES: dict[int, str] = {}
"""pg_type names of OIDs psycopg does not know (pgSphere's), once looked up: a type's OID is
fixed for the life of the database, and most results hold a position."""


async def _type_names(pconn: psycopg.AsyncConnection[Any], oids: list[int]) -> list[str]:
    """pg_type names of the result columns (pgSphere types have per-database OIDs)."""
    known: dict[int, str] = {}
    missing = []
    for oid in oids:
        info = pconn.adapters.types.get(oid)
        if info is not None:
            known[oid] = info.name
        elif oid in _EXTENSION_TYPES:
            known[oid] = _EXTENSION_TYPES[oid]
        else:
            missing.append(oid)
    if missing:
        async with pconn.cursor() as cur:
            await cur.execute("SELECT oid, typname FROM pg_type WHERE oid = ANY(%s)", (missing,))
            for oid, name in await cur.fetchall():
                known[int(oid)] = _EXTENSION_TYPES[int(oid)] = str(name)
    return [known.get(oid, "text") for oid in oids]
