"""Synchronous TAP queries: validate parameters, run the ADQL pipeline, stream the result."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass

import psycopg
from fastapi.responses import StreamingResponse
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from services.tap.adql import AdqlError, ParsedQuery, compile_adql
from services.tap.errors import TapError
from services.tap.metadata import Metadata, PublishedColumn
from services.tap.params import IvoaParams
from services.tap.runner import QueryFailedError, QueryRun
from shared.settings import LimitSettings, PeerSettings, TapSettings
from shared.vo.obscore import PRODUCTS_URL_SETTING, URL_SETTING
from shared.vo.results import FORMATS, ResultField, ResultWriter, writer_for
from shared.vo.types import REGION, vo_type

log = logging.getLogger("isla.tap")

LANGS = {"ADQL", "ADQL-2.0", "ADQL-2.1"}
"""Accepted LANG values."""


@dataclass(frozen=True)
class SyncRequest:
    """A validated synchronous query request."""

    query: str
    maxrec: int
    format: str


def validate(params: IvoaParams, limits: LimitSettings) -> SyncRequest:
    """Check the TAP parameters of a sync request; raise :class:`TapError` when wrong."""
    request = params.get_upper("REQUEST")
    if request is not None and request.lower() != "doquery":
        raise TapError(f"REQUEST={request} is not supported here; use REQUEST=doQuery")
    if params.get_upper("UPLOAD") is not None:
        raise TapError("UPLOAD is not supported yet")
    lang = params.get_upper("LANG")
    if lang is None:
        raise TapError("LANG is missing; use LANG=ADQL")
    if lang.upper() not in LANGS:
        raise TapError(f"LANG={lang} is not supported; use one of {', '.join(sorted(LANGS))}")
    query = params.get_upper("QUERY")
    if query is None:
        raise TapError("QUERY is missing")
    fmt = params.get_upper("RESPONSEFORMAT") or params.get_upper("FORMAT") or "votable"
    if fmt.lower().replace(" ", "") not in FORMATS:
        raise TapError(f"FORMAT={fmt} is not supported; use votable, votable/td, csv, tsv or json")
    raw_maxrec = params.get_upper("MAXREC")
    maxrec = limits.maxrec_default
    if raw_maxrec is not None:
        try:
            maxrec = int(raw_maxrec)
        except ValueError:
            raise TapError(f"MAXREC must be a non-negative integer, not {raw_maxrec!r}") from None
        if maxrec < 0:
            raise TapError(f"MAXREC must be a non-negative integer, not {raw_maxrec!r}")
    # Larger values are capped (TAP 1.1 §2.7.4): the OVERFLOW flag tells the client.
    return SyncRequest(query=query, maxrec=min(maxrec, limits.maxrec_hard), format=fmt)


def view_settings(peers: PeerSettings) -> dict[str, str]:
    """The Postgres settings ivoa.obscore builds its access URLs from (this service's peers)."""
    return {URL_SETTING: peers.peer("raw"), PRODUCTS_URL_SETTING: peers.peer("products")}


def result_fields(
    parsed: ParsedQuery, names: Sequence[str], type_names: Sequence[str], meta: Metadata
) -> list[ResultField]:
    """FIELDs of a result: the type from Postgres, units/UCDs/descriptions from TAP_SCHEMA."""
    catalog = meta.catalog()
    tables = [t for t in dict.fromkeys(parsed.tables.values()) if t in catalog]
    fields: list[ResultField] = []
    seen: dict[str, int] = {}
    for name, typname in zip(names, type_names, strict=True):
        # Duplicate names (SELECT a.name, b.name) would clash as FIELD IDs and CSV headers.
        count = seen.get(name, 0)
        seen[name] = count + 1
        out_name = name if count == 0 else f"{name}_{count + 1}"
        source = _source_column(parsed, name, tables, catalog)
        vo = vo_type(typname)
        if source is not None and source.vo.xtype == REGION.xtype and typname == "spoly":
            # Published as an STC-S region (ObsCore's s_region), not as a DALI polygon.
            vo = source.vo
        if source is not None:
            doc = source.field(out_name)
            fields.append(ResultField(out_name, vo, doc.unit, doc.ucd, doc.utype, doc.description))
        else:
            fields.append(ResultField(out_name, vo))
    return fields


def _source_column(
    parsed: ParsedQuery,
    name: str,
    tables: Sequence[str],
    catalog: dict[str, dict[str, PublishedColumn]],
) -> PublishedColumn | None:
    ref_table: str | None = None
    column = name
    if name in parsed.aliases:
        ref = parsed.aliases[name]
        if ref is None:
            return None
        column = ref.name
        if ref.qualifier is not None:
            ref_table = parsed.tables.get(ref.qualifier, ref.qualifier)
    candidates = [ref_table] if ref_table else tables
    for table in candidates:
        found = catalog.get(table, {}).get(column)
        if found is not None:
            return found
    return None


async def run_sync(
    engine: AsyncEngine,
    request: SyncRequest,
    meta: Metadata,
    settings: TapSettings,
    session: Mapping[str, str] | None = None,
) -> StreamingResponse:
    """Compile, start and stream one synchronous query.

    ``session``: transaction-local Postgres settings the views read (see :func:`view_settings`).
    """
    try:
        parsed, sql = compile_adql(request.query, meta.catalog())
    except AdqlError as exc:
        raise TapError(str(exc)) from None
    # MAXREC=0 asks for the metadata only; the query still runs so that the columns are known.
    try:
        run = await QueryRun.start(
            engine,
            sql,
            maxrec=request.maxrec,
            role=settings.reader_role,
            time_limit=settings.query_timeout,
            batch=settings.fetch_rows,
            session=session,
        )
    except QueryFailedError as exc:
        raise TapError(exc.message, exc.status) from None
    except (OSError, SQLAlchemyError, psycopg.OperationalError):
        log.exception("TAP query could not reach the database")
        raise TapError("the database is not available; try again later", 503) from None
    fields = result_fields(parsed, run.names, run.type_names, meta)
    writer = writer_for(request.format, fields)
    return StreamingResponse(_stream(run, writer), media_type=writer.media_type)


async def _stream(run: QueryRun, writer: ResultWriter) -> AsyncIterator[bytes]:
    """Head, rows, tail; an error after the start is written into the document (DALI)."""
    yield writer.head()
    error: str | None = None
    try:
        async for batch in run.batches():
            yield writer.rows(batch)
    except QueryFailedError as exc:
        error = exc.message
    yield writer.tail(run.overflow, error)
