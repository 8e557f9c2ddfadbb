"""The TAP query pipeline, one for /sync and for async jobs: parameters → parse → check →
translate → run → encode.

:func:`validate` checks the TAP parameters; :func:`start` compiles the ADQL against
TAP_SCHEMA (and the uploaded tables), starts it under the reader role and chooses the
encoding (by Postgres where :mod:`services.tap.pushdown` can, else by the Python writers);
:func:`document` yields the result document's bytes. ``/sync`` streams them as they come
(:mod:`services.tap.sync`), a job writes them to its result object
(:mod:`services.tap.tasks`): the same query gives the same bytes both ways.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass

import anyio
import psycopg
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from services.tap import pushdown
from services.tap.adql import AdqlError, Catalog, ParsedQuery, ParseLimits, compile_adql
from services.tap.metadata import Metadata, PublishedColumn
from services.tap.runner import QueryRun
from services.tap.upload import Upload, read_upload, upload_catalog
from shared.settings import LimitSettings, PeerSettings, TapSettings
from shared.vo.errors import TransientFault, UsageFault, VOError
from shared.vo.obscore import PRODUCTS_URL_SETTING, URL_SETTING
from shared.vo.params import IvoaParams
from shared.vo.results import (
    FORMATS,
    DelimitedWriter,
    ResultField,
    ResultWriter,
    VOTableWriter,
    tail_chunks,
    writer_for,
)
from shared.vo.types import REGION, vo_type

log = logging.getLogger("isla.tap")

LANGS = {"ADQL", "ADQL-2.0", "ADQL-2.1"}
"""Accepted LANG values."""


@dataclass(frozen=True)
class QueryRequest:
    """A validated query request (the TAP parameters the pipeline needs)."""

    query: str
    maxrec: int
    format: str


def validate(params: IvoaParams, limits: LimitSettings) -> QueryRequest:
    """Check the TAP parameters of a query; raise :class:`UsageFault` when wrong."""
    request = params.get_upper("REQUEST")
    if request is not None and request.lower() != "doquery":
        raise UsageFault(f"REQUEST={request} is not supported here; use REQUEST=doQuery")
    lang = params.get_upper("LANG")
    if lang is None:
        raise UsageFault("LANG is missing; use LANG=ADQL")
    if lang.upper() not in LANGS:
        raise UsageFault(f"LANG={lang} is not supported; use one of {', '.join(sorted(LANGS))}")
    query = params.get_upper("QUERY")
    if query is None:
        raise UsageFault("QUERY is missing")
    fmt = params.get_upper("RESPONSEFORMAT") or params.get_upper("FORMAT") or "votable"
    if fmt.lower().replace(" ", "") not in FORMATS:
        raise UsageFault(
            f"FORMAT={fmt} is not supported; use votable, votable/td, fits, csv, tsv or json"
        )
    raw_maxrec = params.get_upper("MAXREC")
    maxrec = limits.maxrec_default
    if raw_maxrec is not None:
        try:
            maxrec = int(raw_maxrec)
        except ValueError:
            raise UsageFault(f"MAXREC must be a non-negative integer, not {raw_maxrec!r}") from None
        if maxrec < 0:
            raise UsageFault(f"MAXREC must be a non-negative integer, not {raw_maxrec!r}")
    # Larger values are capped (TAP 1.1 §2.7.4): the OVERFLOW flag tells the client.
    return QueryRequest(query=query, maxrec=min(maxrec, limits.maxrec_hard), format=fmt)


def view_settings(peers: PeerSettings) -> dict[str, str]:
    """The Postgres settings ivoa.obscore builds its access URLs from (this service's peers)."""
    return {URL_SETTING: peers.peer("raw"), PRODUCTS_URL_SETTING: peers.peer("products")}


def result_fields(
    parsed: ParsedQuery,
    names: Sequence[str],
    type_names: Sequence[str],
    meta: Metadata,
    uploads: Mapping[str, dict[str, PublishedColumn]] | None = None,
) -> list[ResultField]:
    """FIELDs of a result: the type from Postgres, units/UCDs/descriptions from TAP_SCHEMA
    (and from the uploaded tables' FIELDs, ``uploads`` as :func:`upload_catalog` gives)."""
    catalog = meta.catalog() | dict(uploads or {})
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


def parse_limits(settings: TapSettings) -> ParseLimits:
    """The ADQL limits of the settings."""
    return ParseLimits(
        max_length=settings.adql_max_length,
        max_depth=settings.adql_max_depth,
        max_selects=settings.adql_max_selects,
        parse_seconds=settings.adql_parse_timeout,
    )


_PARSERS: dict[int, anyio.CapacityLimiter] = {}
"""One limiter of parsing threads per size (in practice one, from the settings)."""


def _parsers(size: int) -> anyio.CapacityLimiter:
    limiter = _PARSERS.get(size)
    if limiter is None:
        limiter = _PARSERS[size] = anyio.CapacityLimiter(size)
    return limiter


async def compile_query(
    query: str, catalog: Catalog, settings: TapSettings
) -> tuple[ParsedQuery, str]:
    """Parse, check and translate ``query`` in a worker thread, within the ADQL limits.

    The parser is CPU-bound pure Python: on the event loop it would stall every other request
    of the process. A small limiter bounds how many parses run at once; each one is bounded
    in length and nesting before it starts and in time while it runs, so a waiting query
    waits at most about that long. Beyond a limit: a :class:`UsageFault` naming it.
    """
    try:
        return await anyio.to_thread.run_sync(
            compile_adql,
            query,
            catalog,
            parse_limits(settings),
            limiter=_parsers(settings.adql_parse_threads),
        )
    except AdqlError as exc:
        raise UsageFault(str(exc)) from None


@dataclass
class Started:
    """A query started by :func:`start`: its rows, their writer and the encoding plan."""

    run: QueryRun
    writer: ResultWriter
    plan: pushdown.Plan | None
    rows: int = 0
    """Rows written so far by :func:`document`."""


async def start(
    engine: AsyncEngine,
    request: QueryRequest,
    meta: Metadata,
    settings: TapSettings,
    *,
    time_limit: float,
    session: Mapping[str, str] | None = None,
    uploads: Sequence[Upload] = (),
    datalink_url: str | None = None,
    max_upload_rows: int = 1_000_000,
) -> Started:
    """Compile and start one query, and fetch its first rows.

    Every error up to the first rows is raised as a :class:`VOError` (a UsageFault for the
    query's own problems); later ones come out of :func:`document`.

    ``session``: transaction-local Postgres settings the views read (see :func:`view_settings`).
    ``uploads``: TAP_UPLOAD tables (:func:`services.tap.upload.parse_uploads`).
    ``datalink_url``: the DataLink service VOTable results point to (service descriptors).
    """
    tables = [await anyio.to_thread.run_sync(read_upload, u, max_upload_rows) for u in uploads]
    upload_columns = upload_catalog(tables)
    parsed, sql = await compile_query(request.query, meta.catalog() | upload_columns, settings)
    # MAXREC=0 asks for the metadata only; the query still runs so that the columns are known.
    try:
        run = await QueryRun.start(
            engine,
            sql,
            maxrec=request.maxrec,
            role=settings.reader_role,
            time_limit=time_limit,
            batch=settings.fetch_rows,
            session=session,
            uploads=tables,
            fetch_first=False,
        )
        fields = result_fields(parsed, run.names, run.type_names, meta, upload_columns)
        writer = writer_for(request.format, fields, datalink_url=datalink_url)
        plan = encoding_plan(writer, sql, run.type_names)
        await run.fetch_first(plan.sql if plan else None)
    except (OSError, SQLAlchemyError, psycopg.OperationalError):
        log.exception("TAP query could not reach the database")
        raise TransientFault("the database is not available; try again later") from None
    return Started(run, writer, plan)


def encoding_plan(
    writer: ResultWriter, sql: str, type_names: Sequence[str]
) -> pushdown.Plan | None:
    """How the database can encode this result for ``writer`` (None: Python encodes it)."""
    if isinstance(writer, VOTableWriter) and writer.binary:
        return pushdown.binary2(sql, _columns(writer.fields, type_names))
    if isinstance(writer, DelimitedWriter):
        return pushdown.delimited(sql, _columns(writer.fields, type_names), writer.delimiter)
    return None


def _columns(fields: Sequence[ResultField], type_names: Sequence[str]) -> list[pushdown.Column]:
    return [pushdown.Column(t, f.vo) for t, f in zip(type_names, fields, strict=True)]


async def document(
    started: Started, *, inline_errors: bool, deadline: float | None = None
) -> AsyncIterator[bytes]:
    """The result document: head, rows, tail.

    ``inline_errors``: an error after the first bytes is written into the document, as DALI
    asks of a response already under way (sync); otherwise it is raised (a job then ends in
    ERROR: nothing was delivered yet). ``deadline`` (an ``anyio.current_time()`` value): no
    batch is fetched after it; the document ends with the error instead.
    """
    run, writer, plan = started.run, started.writer, started.plan
    yield writer.head()
    error: str | None = None
    try:
        # Closed however the document ends (a cut response closes it), so the query's
        # connection goes back to the pool then, not when the generator is collected.
        async with aclosing(run.batches()) as batches:  # type: ignore[type-var]
            async for batch in batches:
                if deadline is not None and anyio.current_time() > deadline:
                    raise UsageFault(
                        "the query ran longer than the limit of the whole request; "
                        "ask for fewer rows or use the asynchronous service (/tap/async)"
                    )
                started.rows += len(batch)
                if plan is None:
                    yield writer.rows(batch)
                elif isinstance(writer, VOTableWriter):
                    yield writer.encoded(plan.join_batch(batch))
                else:
                    yield plan.join_batch(batch)
    except VOError as exc:
        if not inline_errors:
            raise
        error = exc.text
    for chunk in tail_chunks(writer, run.overflow, error):
        yield chunk
