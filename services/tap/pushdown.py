"""Result encoding pushed down into Postgres: BINARY2 rows and CSV/TSV lines built in SQL.

Encoding a large result in Python costs several microseconds per value (one Python object per
cell from the driver, then one encoder call per cell): about a second for 100,000 rows of a
dozen columns, ten times what Postgres needs to read them. Postgres can write most of the
VOTable BINARY2 representation itself: ``float8send``/``int4send``/... produce exactly the
big-endian IEEE/two's-complement bytes BINARY2 wants, ``convert_to`` the bytes of ASCII text,
and the null flags are one integer per row. So the translated query is wrapped in a projection
that returns, per row, a few pre-encoded byte segments, and Python only joins them.

The one thing SQL cannot produce is UTF-16 (``unicodeChar``, used for free text): such columns
come back as text between the segments and are encoded by Python, one ``str.encode`` per value.

For CSV and TSV each row comes back as one finished line, quoted as Python's ``csv`` module
(QUOTE_MINIMAL) would, so both paths give the same text.

Types without a pushed-down form (pgSphere circles, polygons and regions, JSON) make
:func:`plan` return None, and the caller keeps the per-value Python writers. No library does
this (it is specific to Postgres' binary output functions and to BINARY2), hence by hand.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from shared.vo.types import VOType

_LENGTH = struct.Struct(">I").pack

# Null placeholders of fixed-size BINARY2 values (the null flag says they are null).
_NULL_BYTES = {
    "boolean": "'?'::bytea",
    "short": "'\\x0000'::bytea",
    "int": "'\\x00000000'::bytea",
    "long": "'\\x0000000000000000'::bytea",
    "float": "'\\x7fc00000'::bytea",
    "double": "'\\x7ff8000000000000'::bytea",
}
_SEND = {"short": "int2send", "int": "int4send", "long": "int8send", "float": "float4send"}
_TIMESTAMP_FORMAT = {
    "timestamp": "to_char({c}, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS')",
    "timestamptz": "to_char({c} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS')",
    "date": "to_char({c}, 'YYYY-MM-DD')",
}
_ASCII_TYPES = frozenset({"varchar", "bpchar", "name", "text", "json", "jsonb"})


@dataclass(frozen=True)
class Column:
    """One result column: its Postgres type name and the VO type its FIELD declares."""

    typname: str
    vo: VOType


@dataclass(frozen=True)
class Plan:
    """A wrapping query and how to turn each of its rows into output bytes."""

    sql: str
    join: Callable[[Sequence[object]], bytes]
    """Joins one fetched row (segments and text values) into its encoded form."""
    join_batch: Callable[[Sequence[Sequence[object]]], bytes]
    """Joins a batch of rows (faster than calling :attr:`join` per row)."""


def _ascii(c: str) -> str:
    # VOTable char is ASCII; other characters become '?', like the Python writer's
    # encode("ascii", "replace"). The length comparison skips the regex for ASCII values.
    return (
        f"(CASE WHEN octet_length({c}) = char_length({c}) THEN {c} "
        f"ELSE regexp_replace({c}, '[^\\x01-\\x7f]', '?', 'g') END)"
    )


def _degrees(expr: str) -> str:
    # As the Python writer: degrees rounded to 1e-10 (hides the radian round trip's noise).
    # In double precision: a cast to numeric would first round to 15 digits (twice rounded).
    return f"(round(degrees({expr}) * 1e10) / 1e10)"


def _binary_part(c: str, col: Column) -> str | None:
    """SQL for one value's BINARY2 bytes, or None for text sent as unicodeChar (Python)."""
    vo, typname = col.vo, col.typname
    if vo.xtype == "timestamp" and typname in _TIMESTAMP_FORMAT:
        return _char_bytes(c)
    if vo.xtype == "point" and typname == "spoint":
        lon = f"float8send({_degrees(f'long({c})')})"
        lat = f"float8send({_degrees(f'lat({c})')})"
        null = "'\\x7ff80000000000007ff8000000000000'::bytea"
        return f"coalesce({lon} || {lat}, {null})"
    if vo.xtype is not None or vo.arraysize not in (None, "*"):
        raise _UnsupportedError
    if vo.datatype == "unicodeChar":
        return None
    if vo.datatype == "char":
        if typname not in _ASCII_TYPES:
            raise _UnsupportedError
        return _char_bytes(c)
    if vo.datatype == "boolean":
        return f"(CASE WHEN {c} THEN 'T' WHEN NOT {c} THEN 'F' ELSE '?' END)::bytea"
    if vo.datatype == "double":
        value = c if typname == "float8" else f"{c}::float8"
        return f"coalesce(float8send({value}), {_NULL_BYTES['double']})"
    if vo.datatype in _SEND:
        return f"coalesce({_SEND[vo.datatype]}({c}), {_NULL_BYTES[vo.datatype]})"
    raise _UnsupportedError


_ZERO = "'\\x00000000'::bytea"


def _char_bytes(text: str) -> str:
    # ``text`` is a prepared column (see _binary_text): length prefix, then the bytes.
    return f"coalesce(int4send(octet_length({text})) || textsend({text}), {_ZERO})"


def _binary_text(c: str, col: Column) -> str | None:
    """The text a char column is sent as, computed once per value (None: not a char column)."""
    vo, typname = col.vo, col.typname
    if vo.xtype == "timestamp" and typname in _TIMESTAMP_FORMAT:
        return _TIMESTAMP_FORMAT[typname].format(c=c)
    if vo.xtype is None and vo.datatype == "char" and typname in _ASCII_TYPES:
        return _ascii(f"{c}::text")
    return None


class _UnsupportedError(Exception):
    """A column type without a pushed-down encoding."""


def _aliases(n: int) -> tuple[str, list[str]]:
    names = [f"c{i}" for i in range(n)]
    return "(" + ", ".join(names) + ")", [f"q.{name}" for name in names]


def _source(sql: str, alias: str, prepared: dict[int, str], n: int) -> str:
    """The FROM item: the query with positional column names (duplicates allowed in ADQL).

    ``prepared`` columns (text conversions) are computed in a subquery the planner may not
    flatten (``OFFSET 0``): inlined, they would run once per use, and they are the costly part.
    """
    source = f"({sql}) AS q{alias}"
    if not prepared:
        return source
    select = ", ".join(f"{prepared[i]} AS c{i}" if i in prepared else f"q.c{i}" for i in range(n))
    return f"(SELECT {select} FROM {source} OFFSET 0) AS q"  # noqa: S608 - generated names


def binary2(sql: str, columns: Sequence[Column]) -> Plan | None:
    """A plan producing BINARY2 rows (null flags, then the values), or None if unsupported."""
    if not columns:
        return None
    alias, refs = _aliases(len(columns))
    flag_bytes = (len(columns) + 7) // 8
    top = flag_bytes * 8 - 1
    flags = " + ".join(
        f"(CASE WHEN {ref} IS NULL THEN {1 << (top - i)} ELSE 0 END)" for i, ref in enumerate(refs)
    )
    # int8send gives 8 big-endian bytes; the flags are the last flag_bytes of them.
    segments: list[list[str]] = [[f"substr(int8send(({flags})::int8), {9 - flag_bytes})"]]
    texts: list[str] = []
    try:
        if flag_bytes > 8:
            raise _UnsupportedError
        for ref, col in zip(refs, columns, strict=True):
            part = _binary_part(ref, col)
            if part is None:
                texts.append(ref)
                segments.append([])
            else:
                segments[-1].append(part)
    except _UnsupportedError:
        return None
    select: list[str] = []
    for i, segment in enumerate(segments):
        select.append(" || ".join(segment) if segment else "''::bytea")
        if i < len(texts):
            select.append(f"{texts[i]}::text")
    # The query is the translator's output after the ADQL checks; the rest is generated.
    prepared = {
        i: text
        for i, col in enumerate(columns)
        if (text := _binary_text(f"q.c{i}", col)) is not None
    }
    source = _source(sql, alias, prepared, len(columns))
    wrapped = f"SELECT {', '.join(select)} FROM {source}"  # noqa: S608
    if not texts:

        def join_one(row: Sequence[object]) -> bytes:
            return row[0]  # type: ignore[return-value]

        def join_batch(rows: Sequence[Sequence[object]]) -> bytes:
            return b"".join([row[0] for row in rows])  # type: ignore[misc]

        return Plan(wrapped, join_one, join_batch)

    def join_text(row: Sequence[object]) -> bytes:
        out = [row[0]]
        for i in range(1, len(row), 2):
            value = row[i]
            data = value.encode("utf-16-be") if isinstance(value, str) else b""
            out += [_LENGTH(len(data) // 2), data, row[i + 1]]
        return b"".join(out)  # type: ignore[arg-type]

    def join_text_batch(rows: Sequence[Sequence[object]]) -> bytes:
        return b"".join([join_text(row) for row in rows])

    return Plan(wrapped, join_text, join_text_batch)


def _csv_text(c: str, col: Column, delimiter: str) -> str:
    """SQL for one CSV cell (unquoted text; '' for null)."""
    vo, typname = col.vo, col.typname
    if vo.xtype == "timestamp" and typname in _TIMESTAMP_FORMAT:
        return _TIMESTAMP_FORMAT[typname].format(c=c)
    if vo.xtype == "point" and typname == "spoint":
        lon, lat = _degrees(f"long({c})"), _degrees(f"lat({c})")
        return f"({_float_text(lon)} || ' ' || {_float_text(lat)})"
    if vo.xtype is not None or vo.arraysize not in (None, "*"):
        raise _UnsupportedError
    if vo.datatype in ("char", "unicodeChar"):
        if typname not in _ASCII_TYPES:
            raise _UnsupportedError
        c = f"{c}::text"
        # Quoted as QUOTE_MINIMAL does: when the cell holds the delimiter, a quote or a newline.
        tests = " + ".join(
            f"strpos({c}, {lit})" for lit in (f"'{delimiter}'", "'\"'", "E'\\n'", "E'\\r'")
        )
        return (
            f"(CASE WHEN {tests} > 0 THEN '\"' || replace({c}, '\"', '\"\"') || '\"' "
            f"ELSE {c}::text END)"
        )
    if vo.datatype == "boolean":
        return f"(CASE WHEN {c} THEN 'True' WHEN NOT {c} THEN 'False' END)"
    if vo.datatype in ("double", "float"):
        return _float_text(c if typname in ("float8", "float4") else f"{c}::float8")
    if vo.datatype in ("short", "int", "long"):
        return f"{c}::text"
    raise _UnsupportedError


def _float_text(value: str) -> str:
    # Postgres' shortest round-trip output equals Python's repr except for the specials and
    # for integral values, which Python writes with a trailing '.0' below 1e16 (in full from
    # 1e15, where Postgres switches to an exponent). Most values are not integral: that test
    # comes first, so they take one comparison (NaN and the infinities equal their trunc()).
    return (
        f"(CASE WHEN {value} <> trunc({value}) THEN {value}::text "
        f"WHEN {value} = 'NaN' THEN 'nan' WHEN {value} = 'Infinity' THEN 'inf' "
        f"WHEN {value} = '-Infinity' THEN '-inf' "
        f"WHEN abs({value}) < 1e15 THEN {value}::text || '.0' "
        f"WHEN abs({value}) < 1e16 THEN {value}::numeric::text || '.0' "
        f"ELSE {value}::text END)"
    )


def delimited(sql: str, columns: Sequence[Column], delimiter: str = ",") -> Plan | None:
    """A plan producing finished CSV (or TSV) lines, or None if a column is unsupported."""
    if not columns or delimiter not in (",", "\t"):
        return None
    alias, refs = _aliases(len(columns))
    try:
        cells = [
            f"coalesce({_csv_text(ref, col, delimiter)}, '')"
            for ref, col in zip(refs, columns, strict=True)
        ]
    except _UnsupportedError:
        return None
    sep = "E'\\t'" if delimiter == "\t" else "','"
    line = f"concat_ws({sep}, {', '.join(cells)}) || E'\\r\\n'"
    json_text = {
        i: f"q.c{i}::text" for i, col in enumerate(columns) if col.typname in ("json", "jsonb")
    }
    source = _source(sql, alias, json_text, len(columns))
    wrapped = f"SELECT {line} FROM {source}"  # noqa: S608 - as in binary2

    def join_one(row: Sequence[object]) -> bytes:
        return str(row[0]).encode("utf-8")

    def join_batch(rows: Sequence[Sequence[object]]) -> bytes:
        return "".join([row[0] for row in rows]).encode("utf-8")  # type: ignore[misc]

    return Plan(wrapped, join_one, join_batch)
