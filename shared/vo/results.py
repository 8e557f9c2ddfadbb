"""Streamed serialisation of query results: VOTable (BINARY2, TABLEDATA), CSV, TSV, JSON.

Every writer turns a result into ``head()``, any number of ``rows(batch)`` and ``tail(overflow)``
byte chunks, so that a result of any size is written with constant memory while rows arrive
from a server-side cursor.

The VOTable header (RESOURCE, INFO, FIELDs) is rendered by astropy from models, never from
string templates. astropy writes whole in-memory tables only, so the DATA element is written
here: we render the document of an empty table, cut it after the last FIELD and stream the
rows between the two halves. The overflow INFO goes after the TABLE, as DALI 1.1 asks.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import json
import math
import re
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol
from xml.sax.saxutils import escape

from astropy.io.votable.tree import Field, Info, Resource, TableElement, VOTableFile

from shared.vo.types import VOType

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_PAIR = re.compile(rf"\(\s*({_NUMBER})\s*,\s*({_NUMBER})\s*\)")
_RADIUS = re.compile(rf">?\s*,\s*({_NUMBER})\s*>\s*$")


@dataclass(frozen=True)
class ResultField:
    """One column of a result, with its VO metadata."""

    name: str
    vo: VOType
    unit: str | None = None
    ucd: str | None = None
    utype: str | None = None
    description: str | None = None


def _degrees_pairs(text: str) -> list[float]:
    """pgSphere's radian text output ``(a , b)`` pairs, flattened, in degrees."""
    out: list[float] = []
    for a, b in _PAIR.findall(text):
        # Rounded to 1e-10 deg (0.4 µas): hides the noise of the radian round trip.
        out += [round(math.degrees(float(a)) % 360.0, 10), round(math.degrees(float(b)), 10)]
    return out


def stc_s(shape: str) -> str | None:
    """A pgSphere polygon's text output as an STC-S string in degrees (None when empty)."""
    flat = _degrees_pairs(shape)
    if not flat:
        return None
    return "Polygon ICRS " + " ".join(f"{v:.10g}" for v in flat)


def to_python(value: Any, vo: VOType) -> Any:
    """A database value in the form the VO type asks for (None stays None)."""
    if value is None:
        return None
    xtype = vo.xtype
    if xtype == "adql:REGION":
        return stc_s(str(value))
    if xtype in ("point", "polygon"):
        return _degrees_pairs(str(value))
    if xtype == "circle":
        text = str(value)
        centre = _degrees_pairs(text)[:2]
        radius = _RADIUS.search(text)
        if not (radius and centre):
            return None
        return [*centre, round(math.degrees(float(radius.group(1))), 10)]
    if xtype == "timestamp":
        if isinstance(value, dt.datetime):
            if value.tzinfo is not None:
                value = value.astimezone(dt.UTC).replace(tzinfo=None)
            return value.isoformat(timespec="milliseconds")
        if isinstance(value, dt.date):
            return value.isoformat()
        return str(value)
    if vo.datatype in ("char", "unicodeChar"):
        if isinstance(value, dict | list):
            return json.dumps(value, separators=(",", ":"))
        return str(value)
    if isinstance(value, Decimal):
        return float(value)
    return value


def converter(vo: VOType) -> Callable[[Any], Any] | None:
    """The conversion :func:`to_python` does for this type, or None when values pass as they are.

    Numbers and booleans need none (psycopg's Decimal packs as a double too); text only when
    it is not already a string (JSON values).
    """
    if vo.xtype is not None:
        return lambda value: to_python(value, vo)
    if vo.datatype in ("char", "unicodeChar"):
        return lambda value: value if type(value) is str else to_python(value, vo)
    if vo.datatype in ("double", "float"):
        return lambda value: value if type(value) is float else float(value)
    return None


class ResultWriter(Protocol):
    """Streams one result as bytes."""

    media_type: str

    def head(self) -> bytes:
        """Everything before the first row."""
        ...

    def rows(self, batch: Sequence[Sequence[Any]]) -> bytes:
        """One batch of rows (database values)."""
        ...

    def tail(self, overflow: bool, error: str | None = None) -> bytes:
        """Everything after the last row; ``overflow`` when MAXREC truncated the result,
        ``error`` when the query failed after the output had started."""
        ...


def _votable(fields: Sequence[ResultField], status: str = "OK", message: str | None = None) -> str:
    vot = VOTableFile(version="1.4")
    resource = Resource(type="results")
    vot.resources.append(resource)
    info = Info(name="QUERY_STATUS", value=status)
    if message is not None:
        info.content = message
    resource.infos.append(info)
    if status != "ERROR":
        table = TableElement(vot)
        resource.tables.append(table)
        for f in fields:
            table.fields.append(
                Field(
                    vot,
                    name=f.name,
                    ID=_xml_id(f.name),
                    datatype=f.vo.datatype,
                    arraysize=f.vo.arraysize,
                    xtype=f.vo.xtype,
                    unit=f.unit,
                    ucd=f.ucd,
                    utype=f.utype,
                )
            )
            if f.description:
                table.fields[-1].description = f.description
        table.create_arrays(nrows=0)
    out = io.BytesIO()
    vot.to_xml(out)
    return out.getvalue().decode("utf-8")


def _xml_id(name: str) -> str:
    clean = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    return clean if re.match(r"[A-Za-z_]", clean) else f"_{clean}"


def error_votable(message: str) -> bytes:
    """A DALI error document: RESOURCE type=results with INFO QUERY_STATUS=ERROR."""
    return _votable([], "ERROR", message).encode("utf-8")


def scs_error_votable(message: str) -> bytes:
    """A Simple Cone Search 1.03 error: ``<INFO name="Error" value="...">`` (SCS §3.3).

    The DALI ``QUERY_STATUS`` INFO is written too, so that current clients (pyvo) that look
    for it report the message as well.
    """
    vot = VOTableFile(version="1.4")
    resource = Resource(type="results")
    vot.resources.append(resource)
    resource.infos.append(Info(ID="Error", name="Error", value=message))
    status = Info(name="QUERY_STATUS", value="ERROR")
    status.content = message
    resource.infos.append(status)
    out = io.BytesIO()
    vot.to_xml(out)
    return out.getvalue()


class VOTableWriter:
    """VOTable 1.4 with BINARY2 (default) or TABLEDATA serialisation."""

    media_type = "application/x-votable+xml"

    def __init__(self, fields: Sequence[ResultField], serialization: str = "binary2") -> None:
        """Prepare the header and the per-column encoders."""
        self.fields = list(fields)
        self.binary = serialization == "binary2"
        if not self.binary:
            self.media_type = "application/x-votable+xml;serialization=TABLEDATA"
        doc = _votable(self.fields)
        cut = doc.rindex("</TABLE>")
        self._head = doc[:cut]
        self._tail = doc[cut:]
        self._encoders = [_binary_encoder(f.vo) for f in self.fields]
        self._converters = [converter(f.vo) for f in self.fields]
        self._nulls = [encode(None) for encode in self._encoders]
        self._flag_bytes = (len(self.fields) + 7) // 8
        self._top = self._flag_bytes * 8 - 1
        self._pending = b""  # base64 works on 3-byte groups; leftovers wait for the next batch

    def head(self) -> bytes:
        """Header up to the DATA element."""
        data = '<DATA><BINARY2><STREAM encoding="base64">' if self.binary else "<DATA><TABLEDATA>"
        return (self._head + data).encode("utf-8")

    def rows(self, batch: Sequence[Sequence[Any]]) -> bytes:
        """Encode rows."""
        if self.binary:
            raw = self._pending + b"".join(self._binary_row(r) for r in batch)
            keep = len(raw) % 3
            self._pending = raw[len(raw) - keep :] if keep else b""
            return base64.b64encode(raw[: len(raw) - keep]) + b"\n"
        return "".join(self._td_row(r) for r in batch).encode("utf-8")

    def tail(self, overflow: bool, error: str | None = None) -> bytes:
        """Close DATA and TABLE; add the overflow (or error) INFO after the table."""
        if self.binary:
            data = base64.b64encode(self._pending).decode() + "</STREAM></BINARY2></DATA>"
        else:
            data = "</TABLEDATA></DATA>"
        table_end, rest = self._tail.split("</TABLE>", 1)
        note = '<INFO name="QUERY_STATUS" value="OVERFLOW"/>' if overflow else ""
        if error is not None:
            note = f'<INFO name="QUERY_STATUS" value="ERROR">{escape(error)}</INFO>'
        return (data + table_end + "</TABLE>" + note + rest).encode("utf-8")

    def _binary_row(self, row: Sequence[Any]) -> bytes:
        # The hot loop of large results: per-field converters and encoders are prepared once.
        flags = 0
        parts = []
        converters, encoders, nulls, top = self._converters, self._encoders, self._nulls, self._top
        for i, value in enumerate(row):
            convert = converters[i]
            if value is not None and convert is not None:
                value = convert(value)
            if value is None:
                flags |= 1 << (top - i)
                parts.append(nulls[i])
            else:
                parts.append(encoders[i](value))
        return flags.to_bytes(self._flag_bytes, "big") + b"".join(parts)

    def _td_row(self, row: Sequence[Any]) -> str:
        cells = []
        for value, convert in zip(row, self._converters, strict=True):
            v = convert(value) if convert is not None and value is not None else value
            if v is None:
                cells.append("<TD/>")
            elif isinstance(v, bool):
                cells.append("<TD>T</TD>" if v else "<TD>F</TD>")
            elif isinstance(v, list):
                cells.append("<TD>" + " ".join(repr(float(x)) for x in v) + "</TD>")
            elif isinstance(v, float):
                cells.append("<TD>" + ("" if math.isnan(v) else repr(v)) + "</TD>")
            else:
                cells.append("<TD>" + escape(str(v)) + "</TD>")
        return "<TR>" + "".join(cells) + "</TR>\n"


_FIXED = {"short": ">h", "int": ">i", "long": ">q", "float": ">f", "double": ">d"}
_NULL_FIXED = {"short": 0, "int": 0, "long": 0, "float": math.nan, "double": math.nan}


def _binary_encoder(vo: VOType) -> Callable[[Any], bytes]:
    """How one value of this type is written in BINARY2 (nulls already flagged)."""
    if vo.datatype == "boolean":
        return lambda v: b"?" if v is None else (b"T" if v else b"F")
    if vo.datatype == "char":

        def char(v: Any) -> bytes:
            # char is ASCII in BINARY2; identifiers are, free text is sent as unicodeChar.
            data = b"" if v is None else str(v).encode("ascii", "replace")
            return struct.pack(">I", len(data)) + data

        return char
    if vo.datatype == "unicodeChar":

        def unicode_char(v: Any) -> bytes:
            data = b"" if v is None else str(v).encode("utf-16-be")
            return struct.pack(">I", len(data) // 2) + data

        return unicode_char
    fmt = _FIXED[vo.datatype]
    null = _NULL_FIXED[vo.datatype]
    if vo.arraysize is None:
        pack = struct.Struct(fmt).pack

        def scalar(v: Any) -> bytes:
            return pack(null if v is None else v)

        return scalar
    if vo.variable:

        def variable(v: Any) -> bytes:
            values = v or []
            return struct.pack(f">I{len(values)}{fmt[1]}", len(values), *values)

        return variable
    n = int(vo.arraysize)

    def fixed(v: Any) -> bytes:
        values = list(v or [])[:n]
        values += [null] * (n - len(values))
        return struct.pack(f">{n}{fmt[1]}", *values)

    return fixed


class DelimitedWriter:
    """CSV (RFC 4180) or TSV with a header line of column names."""

    def __init__(self, fields: Sequence[ResultField], delimiter: str = ",") -> None:
        """Prepare a writer for ``fields``."""
        self.fields = list(fields)
        self.delimiter = delimiter
        self.media_type = "text/csv" if delimiter == "," else "text/tab-separated-values"
        self._converters = [converter(f.vo) for f in self.fields]

    def _lines(self, rows: Sequence[Sequence[Any]]) -> bytes:
        buf = io.StringIO()
        writer = csv.writer(buf, delimiter=self.delimiter, lineterminator="\r\n")
        writer.writerows(rows)
        return buf.getvalue().encode("utf-8")

    def head(self) -> bytes:
        """The header line."""
        return self._lines([[f.name for f in self.fields]])

    def rows(self, batch: Sequence[Sequence[Any]]) -> bytes:
        """Rows as lines; arrays as space-separated values, nulls as empty cells."""
        converters = self._converters
        out = []
        for row in batch:
            cells = []
            for value, convert in zip(row, converters, strict=True):
                v = convert(value) if convert is not None and value is not None else value
                if v is None:
                    cells.append("")
                elif isinstance(v, list):
                    cells.append(" ".join(repr(float(x)) for x in v))
                else:
                    cells.append(v)
            out.append(cells)
        return self._lines(out)

    def tail(self, overflow: bool, error: str | None = None) -> bytes:
        """Nothing: CSV cannot carry the overflow flag (the TAP standard accepts that)."""
        return b""


class JsonWriter:
    """JSON: ``{"metadata": [...], "data": [[...], ...], "overflow": bool}``."""

    media_type = "application/json"

    def __init__(self, fields: Sequence[ResultField]) -> None:
        """Prepare a writer for ``fields``."""
        self.fields = list(fields)
        self._first = True

    def head(self) -> bytes:
        """Metadata and the opening of the data array."""
        meta = [
            {
                "name": f.name,
                "datatype": f.vo.datatype,
                "arraysize": f.vo.arraysize,
                "xtype": f.vo.xtype,
                "unit": f.unit,
                "ucd": f.ucd,
                "description": f.description,
            }
            for f in self.fields
        ]
        return (json.dumps({"metadata": meta})[:-1] + ', "data": [').encode("utf-8")

    def rows(self, batch: Sequence[Sequence[Any]]) -> bytes:
        """Rows as arrays (NaN as null, since JSON has no NaN)."""
        parts = []
        for row in batch:
            values = [to_python(v, f.vo) for v, f in zip(row, self.fields, strict=True)]
            values = [None if isinstance(v, float) and math.isnan(v) else v for v in values]
            parts.append(json.dumps(values, separators=(",", ":")))
        if not parts:
            return b""
        prefix = "" if self._first else ","
        self._first = False
        return (prefix + ",".join(parts)).encode("utf-8")

    def tail(self, overflow: bool, error: str | None = None) -> bytes:
        """Close the document."""
        end = {"overflow": overflow, **({"error": error} if error is not None else {})}
        return ("]," + json.dumps(end)[1:]).encode("utf-8")


FORMATS: dict[str, tuple[str, str]] = {
    "votable": ("votable", "binary2"),
    "application/x-votable+xml": ("votable", "binary2"),
    "text/xml": ("votable", "binary2"),
    "votable/b2": ("votable", "binary2"),
    "votable/td": ("votable", "tabledata"),
    # ESA's TAP+ name, sent by astroquery's ESA clients with every request.
    "votable_plain": ("votable", "tabledata"),
    "application/x-votable+xml;serialization=binary2": ("votable", "binary2"),
    "application/x-votable+xml;serialization=tabledata": ("votable", "tabledata"),
    "csv": ("csv", ""),
    "text/csv": ("csv", ""),
    "tsv": ("tsv", ""),
    "text/tab-separated-values": ("tsv", ""),
    "json": ("json", ""),
    "application/json": ("json", ""),
}
"""Accepted FORMAT/RESPONSEFORMAT values (lower case, spaces removed) → writer and variant."""


def writer_for(fmt: str, fields: Sequence[ResultField]) -> ResultWriter:
    """The writer for a FORMAT value (see :data:`FORMATS`); KeyError when unsupported."""
    kind, variant = FORMATS[fmt.lower().replace(" ", "")]
    if kind == "votable":
        return VOTableWriter(fields, variant)
    if kind == "csv":
        return DelimitedWriter(fields, ",")
    if kind == "tsv":
        return DelimitedWriter(fields, "\t")
    return JsonWriter(fields)
