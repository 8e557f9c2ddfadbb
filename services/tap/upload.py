"""TAP_UPLOAD (TAP 1.1 §4): user tables joined with the archive in one query.

``UPLOAD=name,uri[;name2,uri2...]`` where ``uri`` is either ``param:part`` (a part of the
multipart request body) or an ``http(s)://`` URL. Each table is a VOTable, read with astropy,
and becomes ``TAP_UPLOAD.<name>`` for the query: a temporary table created in the query's own
transaction (by the reader role, which migration 0009 grants TEMPORARY), typed from the
VOTable FIELDs, and dropped when the transaction ends.

Limits: ``LimitSettings.upload_max_bytes`` bounds every table before it is read in full (the
request body is counted while it is parsed, see ``shared.vo.params``; a URL download is
counted the same way and refused from its Content-Length when that is declared), and
``LimitSettings.upload_max_rows`` bounds its rows.

Fetching by URL is a server-side request on behalf of a user, so only the hosts in
``TapSettings.upload_hosts`` are reached (default: the archive's own public URLs); redirects
are not followed.

The asynchronous service uses the same three steps as :mod:`services.tap.sync`:
:func:`parse_uploads` (request → :class:`Upload` list, kept with the job), then
:func:`read_upload` per table and :func:`upload_catalog` for the ADQL checks, and the runner
calls :func:`create_upload_tables` inside the query's transaction.
"""

from __future__ import annotations

import io
import math
import re
import urllib.parse
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import psycopg
from astropy.io.votable import parse as parse_votable
from psycopg import sql as pgsql

from services.tap.metadata import PublishedColumn
from shared.settings import LimitSettings, PeerSettings, TapSettings
from shared.vo.errors import UsageFault
from shared.vo.params import IvoaParams, too_large
from shared.vo.types import vo_type

SCHEMA = "tap_upload"
"""The ADQL schema of uploaded tables (``TAP_UPLOAD.name``; unquoted ADQL folds case)."""

MAX_TABLES = 8
"""Uploaded tables per query."""

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,62}$")


@dataclass(frozen=True)
class Upload:
    """One uploaded table as the client sent it: its name and the VOTable bytes."""

    name: str
    votable_bytes: bytes


@dataclass(frozen=True)
class UploadColumn:
    """A column of an uploaded table: its Postgres name and type and its VO metadata."""

    name: str
    pg_type: str
    field: PublishedColumn


@dataclass
class UploadTable:
    """An uploaded table read and typed, ready to be created."""

    name: str
    columns: list[UploadColumn]
    rows: list[tuple[Any, ...]]


# ---------------------------------------------------------------------------------------------
# UPLOAD parameter → Upload list


def allowed_hosts(settings: TapSettings, peers: PeerSettings) -> set[str]:
    """Hosts (``host`` or ``host:port``, lower case) a table may be fetched from."""
    configured = [h.strip().lower() for h in settings.upload_hosts.split(",") if h.strip()]
    if configured:
        return set(configured)
    hosts = set()
    for name in ("tap", "products", "raw", "ingest"):
        parts = urllib.parse.urlsplit(peers.peer(name))
        if parts.hostname:
            port = parts.port or (443 if parts.scheme == "https" else 80)
            hosts.add(f"{parts.hostname.lower()}:{port}")
    return hosts


def _host_allowed(url: str, allowed: set[str]) -> bool:
    parts = urllib.parse.urlsplit(url)
    if parts.hostname is None:
        return False
    host = parts.hostname.lower()
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return host in allowed or f"{host}:{port}" in allowed or f"[{host}]:{port}" in allowed


def _split_upload(value: str) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for item in value.split(";"):
        item = item.strip()
        if not item:
            continue
        name, sep, uri = item.partition(",")
        name, uri = name.strip(), uri.strip()
        if not sep or not uri:
            raise UsageFault(f"UPLOAD must be 'name,uri' (e.g. mine,param:table1), not {item!r}")
        if not _NAME.match(name):
            raise UsageFault(
                f"UPLOAD table name {name!r} is not a valid ADQL name "
                "(a letter, then letters, digits or '_')"
            )
        pairs.append((name.lower(), uri))
    if len(pairs) > MAX_TABLES:
        raise UsageFault(f"at most {MAX_TABLES} tables may be uploaded with one query")
    names = [n for n, _ in pairs]
    if len(set(names)) != len(names):
        raise UsageFault("UPLOAD names a table twice")
    return pairs


async def fetch(url: str, limit: int, allowed: set[str], seconds: float) -> bytes:
    """Download a table from an allowed host, refusing more than ``limit`` bytes."""
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise UsageFault(f"UPLOAD URI {url!r} must be param:<part>, http:// or https://")
    if not _host_allowed(url, allowed):
        raise UsageFault(
            f"UPLOAD from {urllib.parse.urlsplit(url).netloc!r} is not allowed; "
            "send the table in the request (UPLOAD=name,param:part) instead"
        )
    try:
        async with (
            httpx.AsyncClient(timeout=seconds, follow_redirects=False) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code != 200:
                raise UsageFault(f"UPLOAD URL {url} answered HTTP {response.status_code}")
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                raise too_large(limit)
            data = bytearray()
            async for chunk in response.aiter_bytes():
                data += chunk
                if len(data) > limit:
                    raise too_large(limit)
            return bytes(data)
    except httpx.HTTPError as exc:
        raise UsageFault(f"UPLOAD URL {url} cannot be read: {type(exc).__name__}") from None


async def parse_uploads(
    params: IvoaParams, limits: LimitSettings, settings: TapSettings, peers: PeerSettings
) -> list[Upload]:
    """The tables an ``UPLOAD`` parameter names, fetched or taken from the request body."""
    value = params.get_upper("UPLOAD")
    if value is None:
        return []
    uploads = []
    for name, uri in _split_upload(value):
        if uri.lower().startswith("param:"):
            part = uri[len("param:") :]
            data = params.files.get(part)
            if data is None:
                raise UsageFault(f"UPLOAD {name} refers to part '{part}', which the request lacks")
        else:
            data = await fetch(
                uri, limits.upload_max_bytes, allowed_hosts(settings, peers), peers.peer_timeout
            )
        if len(data) > limits.upload_max_bytes:
            raise too_large(limits.upload_max_bytes)
        uploads.append(Upload(name, data))
    return uploads


# ---------------------------------------------------------------------------------------------
# VOTable → typed table

_SCALAR_TYPES = {
    "boolean": "boolean",
    "bit": "boolean",
    "unsignedByte": "int2",
    "short": "int2",
    "int": "int4",
    "long": "int8",
    "float": "float4",
    "double": "float8",
}
_SHAPES = {"point": "spoint", "circle": "scircle", "polygon": "spoly"}
_PG_DECL = {
    "boolean": "boolean",
    "int2": "smallint",
    "int4": "integer",
    "int8": "bigint",
    "float4": "real",
    "float8": "double precision",
    "text": "text",
    "varchar": "varchar",
    "timestamp": "timestamp",
    "spoint": "spoint",
    "scircle": "scircle",
    "spoly": "spoly",
}


def _pg_type(datatype: str, arraysize: str | None, xtype: str | None) -> str:
    """The Postgres type an uploaded column becomes (pg_type name)."""
    xtype = (xtype or "").lower().removeprefix("adql:")
    if xtype in _SHAPES and datatype in ("float", "double"):
        return _SHAPES[xtype]
    if datatype in ("char", "unicodeChar"):
        if xtype == "timestamp":
            return "timestamp"
        # Results type varchar as char and text as unicodeChar (shared.vo.types).
        return "text" if datatype == "unicodeChar" else "varchar"
    scalar = arraysize in (None, "1")
    if scalar and datatype in _SCALAR_TYPES:
        return _SCALAR_TYPES[datatype]
    # Other arrays and complex numbers are kept as their text (space-separated values).
    return "varchar"


def _column_name(name: str) -> str:
    """Regular identifiers fold to lower case (as ADQL reads them unquoted); others stay."""
    if _NAME.match(name):
        return name.lower()
    if not name or len(name.encode("utf-8")) > 63 or "\x00" in name:
        raise UsageFault(f"uploaded column name {name!r} is not usable")
    return name


def _radians_pairs(values: Sequence[float]) -> str:
    return ",".join(
        f"({math.radians(float(a))!r},{math.radians(float(b))!r})"
        for a, b in zip(values[::2], values[1::2], strict=False)
    )


def _shape_text(value: Any, pg_type: str) -> str | None:
    """pgSphere input for a DALI point/circle/polygon in degrees (None when not valid)."""
    flat = [float(v) for v in np.ravel(np.ma.filled(np.ma.asarray(value), np.nan))]
    if any(math.isnan(v) for v in flat):
        return None
    if pg_type == "spoint" and len(flat) == 2:
        return _radians_pairs(flat)
    if pg_type == "scircle" and len(flat) == 3:
        return f"<{_radians_pairs(flat[:2])},{math.radians(flat[2])!r}>"
    if pg_type == "spoly" and len(flat) >= 6 and len(flat) % 2 == 0:
        return "{" + _radians_pairs(flat) + "}"
    return None


def _cell(value: Any, masked: bool, pg_type: str) -> Any:
    if masked or value is None:
        return None
    if pg_type in ("spoint", "scircle", "spoly"):
        return _shape_text(value, pg_type)
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if pg_type in ("text", "varchar", "timestamp"):
        if isinstance(value, np.ndarray | np.ma.MaskedArray):
            return " ".join(str(v) for v in np.ravel(value))
        text = str(value)
        return text if text or pg_type != "timestamp" else None
    if pg_type == "boolean":
        return bool(value)
    if pg_type in ("float4", "float8"):
        number = float(value)
        return None if math.isnan(number) else number
    return int(value)


def read_upload(upload: Upload, max_rows: int) -> UploadTable:
    """Read and type one uploaded VOTable; :class:`UsageFault` when it is not usable."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            votable = parse_votable(io.BytesIO(upload.votable_bytes), verify="ignore")
            element = votable.get_first_table()
    except Exception as exc:  # astropy raises many kinds for broken documents
        message = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise UsageFault(
            f"the uploaded table '{upload.name}' is not a VOTable: {message}"
        ) from None
    array = element.array
    if len(array) > max_rows:
        raise UsageFault(
            f"the uploaded table '{upload.name}' has {len(array)} rows; at most {max_rows} "
            "are accepted",
            413,
        )
    if not element.fields:
        raise UsageFault(f"the uploaded table '{upload.name}' has no columns")
    columns: list[UploadColumn] = []
    data: list[list[Any]] = []
    seen: set[str] = set()
    for index, f in enumerate(element.fields):
        name = _column_name(str(f.name or f.ID or f"col{index + 1}"))
        if name in seen:
            raise UsageFault(f"the uploaded table '{upload.name}' has two columns named '{name}'")
        seen.add(name)
        arraysize = None if f.arraysize is None else str(f.arraysize)
        pg_type = _pg_type(str(f.datatype), arraysize, f.xtype)
        vo = vo_type(pg_type)
        description = str(f.description) if f.description else None
        field = PublishedColumn(
            name, vo, f.unit and str(f.unit), f.ucd, f.utype, description, False, False, False
        )
        columns.append(UploadColumn(name, pg_type, field))
        column = array[array.dtype.names[index]]
        mask = np.asarray(np.ma.getmaskarray(column))
        if mask.ndim > 1:  # arrays: null when every element is masked
            mask = np.asarray(mask.reshape(len(mask), -1).all(axis=1))
        values = np.ma.getdata(column)
        data.append([_cell(v, bool(m), pg_type) for v, m in zip(values, mask, strict=True)])
    rows = list(zip(*data, strict=True)) if data else []
    return UploadTable(upload.name, columns, rows)


def upload_catalog(tables: Iterable[UploadTable]) -> dict[str, dict[str, PublishedColumn]]:
    """The uploaded tables as the ADQL checks see them (``tap_upload.<name>`` → columns)."""
    return {f"{SCHEMA}.{t.name}": {c.name: c.field for c in t.columns} for t in tables}


# ---------------------------------------------------------------------------------------------
# Temporary tables


async def create_upload_tables(
    conn: psycopg.AsyncConnection[Any],
    uploads: Sequence[Upload | UploadTable],
    max_rows: int | None = None,
) -> None:
    """Create and fill ``pg_temp.<name>`` for each table, dropped at the end of the transaction.

    Runs inside the query's transaction, after ``SET LOCAL ROLE`` (the reader owns the
    tables) and before it is made read-only. Translated SQL names them ``pg_temp.<name>``
    (:func:`services.tap.adql.compile_adql` rewrites the ``TAP_UPLOAD`` schema).
    """
    for item in uploads:
        table = item if isinstance(item, UploadTable) else read_upload(item, max_rows or 10**9)
        ident = pgsql.Identifier("pg_temp", table.name)
        decl = pgsql.SQL(", ").join(
            pgsql.SQL("{} {}").format(pgsql.Identifier(c.name), pgsql.SQL(_PG_DECL[c.pg_type]))
            for c in table.columns
        )
        names = pgsql.SQL(", ").join(pgsql.Identifier(c.name) for c in table.columns)
        try:
            async with conn.cursor() as cur:
                await cur.execute(
                    pgsql.SQL("CREATE TEMPORARY TABLE {} ({}) ON COMMIT DROP").format(ident, decl)
                )
                async with cur.copy(
                    pgsql.SQL("COPY {} ({}) FROM STDIN").format(ident, names)
                ) as copy:
                    for row in table.rows:
                        await copy.write_row(row)
        except psycopg.errors.DataError as exc:
            primary = exc.diag.message_primary or "bad value"
            raise UsageFault(
                f"the uploaded table '{table.name}' holds a bad value: {primary}"
            ) from None
