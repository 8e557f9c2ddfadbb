"""Streamed serialisation of query results: VOTable (BINARY2, TABLEDATA), FITS, CSV, TSV, JSON.

Every writer turns a result into ``head()``, any number of ``rows(batch)`` and ``tail(overflow)``
byte chunks, so that a result of any size is written with constant memory while rows arrive
from a server-side cursor. FITS needs the row count and the column widths in its header, so
:class:`FitsWriter` spools the rows to a temporary file and writes everything at the end, in
chunks (:func:`tail_chunks`).

The VOTable header (RESOURCE, INFO, FIELDs) is rendered by astropy from models, never from
string templates. astropy writes whole in-memory tables only, so the DATA element is written
here: we render the document of an empty table, cut it after the last FIELD and stream the
rows between the two halves. The overflow INFO goes after the TABLE, as DALI 1.1 asks.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import functools
import io
import json
import math
import pickle
import re
import struct
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol
from xml.sax.saxutils import escape

from astropy.io import fits
from astropy.io.votable.tree import Field, Group, Info, Param, Resource, TableElement, VOTableFile

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


RADIANS_PER_DEGREE = 0.0174532925199432957692
"""Postgres' constant: ``degrees(x)`` is ``x / RADIANS_PER_DEGREE`` there, and here too, so
that both sides turn a radian into the same double."""


def format_coordinate(value: float) -> str:
    """A coordinate in degrees to 10 significant digits, without exponent, trailing zeros
    trimmed (``83.6332``, ``-0.000123``); below 1e-10 in size, ``0``.

    The rule is one Postgres follows exactly (``ivoa.format_g10``, migration 0042, which
    writes ObsCore's ``s_region`` in the database): the scaled value is rounded half to even
    in double precision, then written as a decimal.
    """
    if abs(value) < 1e-10:
        return "0"
    digits = 9 - math.floor(math.log10(abs(value)))
    scaled = round(value * 10.0**digits)
    text = str(abs(scaled)).rjust(digits + 1, "0")
    whole, fraction = text[: len(text) - digits], text[len(text) - digits :].rstrip("0")
    sign = "-" if scaled < 0 else ""
    return f"{sign}{whole}.{fraction}" if fraction else f"{sign}{whole}"


def stc_s(shape: str) -> str | None:
    """A pgSphere polygon's text output as an STC-S string in degrees (None when empty)."""
    numbers: list[str] = []
    for a, b in _PAIR.findall(shape):
        lon = float(a) / RADIANS_PER_DEGREE
        numbers += [
            format_coordinate(lon % 360.0),
            format_coordinate(float(b) / RADIANS_PER_DEGREE),
        ]
    if not numbers:
        return None
    return "Polygon ICRS " + " ".join(numbers)


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
            # As Postgres writes jsonb (the database-side encoders send its text as it is).
            return json.dumps(value, ensure_ascii=False)
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


DATALINK_STANDARD = "ivo://ivoa.net/std/DataLink#links-1.1"
DATALINK_ID_COLUMNS = ("obs_publisher_did", "scw_id", "product_id")
"""Result columns that identify a dataset the DataLink service knows (ObsCore's DID first)."""


def _datalink_descriptor(vot: VOTableFile, column_id: str, access_url: str) -> Resource:
    """A DataLink 1.1 §4 service descriptor: the links of the dataset in ``column_id``."""
    rid = f"datalink_{column_id}"
    resource = Resource(type="meta", utype="adhoc:service", ID=rid)
    for name, value in (("standardID", DATALINK_STANDARD), ("accessURL", access_url)):
        resource.params.append(
            Param(vot, name=name, ID=f"{rid}_{name}", datatype="char", arraysize="*", value=value)
        )
    group = Group(resource, name="inputParams")
    group.entries.append(
        Param(
            vot,
            name="ID",
            ID=f"{rid}_ID",
            datatype="char",
            arraysize="*",
            value="",
            ref=column_id,
            ucd="meta.id;meta.main",
        )
    )
    resource.groups.append(group)
    return resource


def _votable(
    fields: Sequence[ResultField],
    status: str = "OK",
    message: str | None = None,
    datalink_url: str | None = None,
) -> str:
    # Building the document with astropy costs milliseconds per query, as much as a whole
    # cone search; the same columns come back again and again (one query form, many cones).
    return _votable_cached(tuple(fields), status, message, datalink_url)


@functools.lru_cache(maxsize=512)
def _votable_cached(
    fields: tuple[ResultField, ...], status: str, message: str | None, datalink_url: str | None
) -> str:
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
        if datalink_url:
            ids = {f.name: _xml_id(f.name) for f in fields}
            for column in DATALINK_ID_COLUMNS:
                if column in ids:
                    vot.resources.append(_datalink_descriptor(vot, ids[column], datalink_url))
    out = io.BytesIO()
    vot.to_xml(out)
    return _declared_units(out.getvalue().decode("utf-8"), fields)


_FIELD_TAG = re.compile(r"<FIELD\b[^>]*>")
_UNIT_ATTR = re.compile(r'\sunit="[^"]*"')


def _declared_units(doc: str, fields: Sequence[ResultField]) -> str:
    """Put back the units as TAP_SCHEMA declares them.

    astropy parses a FIELD's unit and writes its own spelling (``ct/s`` becomes
    ``count.s**-1``), which then differs from /tables and TAP_SCHEMA (taplint's MDQ stage
    reports each such column). FIELDs are written in order, so the n-th tag is the n-th field.
    """
    units = iter([f.unit for f in fields])

    def restore(match: re.Match[str]) -> str:
        unit = next(units, None)
        tag = _UNIT_ATTR.sub("", match.group(0))
        if not unit:
            return tag
        end = -2 if tag.endswith("/>") else -1
        return f'{tag[:end]} unit="{escape(unit, {chr(34): "&quot;"})}"{tag[end:]}'

    return _FIELD_TAG.sub(restore, doc)


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

    def __init__(
        self,
        fields: Sequence[ResultField],
        serialization: str = "binary2",
        datalink_url: str | None = None,
    ) -> None:
        """Prepare the header and the per-column encoders.

        ``datalink_url``: when given and the result has a dataset identifier column
        (:data:`DATALINK_ID_COLUMNS`), a DataLink service descriptor follows the results.
        """
        self.fields = list(fields)
        self.binary = serialization == "binary2"
        if not self.binary:
            self.media_type = "application/x-votable+xml;serialization=TABLEDATA"
        doc = _votable(self.fields, datalink_url=datalink_url)
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
            return self.encoded(b"".join(self._binary_row(r) for r in batch))
        return "".join(self._td_row(r) for r in batch).encode("utf-8")

    def encoded(self, data: bytes) -> bytes:
        """BINARY2 rows already encoded (by the database, see services.tap.pushdown)."""
        if self.binary:
            raw = self._pending + data
            keep = len(raw) % 3
            self._pending = raw[len(raw) - keep :] if keep else b""
            return base64.b64encode(raw[: len(raw) - keep]) + b"\n"
        raise ValueError("pre-encoded rows are BINARY2 only")

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
    "fits": ("fits", ""),
    "application/fits": ("fits", ""),
    "image/fits": ("fits", ""),
}
"""Accepted FORMAT/RESPONSEFORMAT values (lower case, spaces removed) → writer and variant."""


def writer_for(
    fmt: str, fields: Sequence[ResultField], datalink_url: str | None = None
) -> ResultWriter:
    """The writer for a FORMAT value (see :data:`FORMATS`); KeyError when unsupported.

    ``datalink_url``: the DataLink service VOTable results describe (service descriptors).
    """
    kind, variant = FORMATS[fmt.lower().replace(" ", "")]
    if kind == "votable":
        return VOTableWriter(fields, variant, datalink_url)
    if kind == "fits":
        return FitsWriter(fields)
    if kind == "csv":
        return DelimitedWriter(fields, ",")
    if kind == "tsv":
        return DelimitedWriter(fields, "\t")
    return JsonWriter(fields)


def tail_chunks(writer: ResultWriter, overflow: bool, error: str | None = None) -> Iterator[bytes]:
    """The writer's tail in chunks: FITS writes its whole table there, the others one piece."""
    chunks = getattr(writer, "tail_chunks", None)
    if chunks is not None:
        yield from chunks(overflow, error)
    else:
        yield writer.tail(overflow, error)


_FITS_BLOCK = 2880
_FITS_SCALARS = {
    # VOTable datatype → TFORM letter, struct code, TNULL for integers
    "boolean": ("L", "c", None),
    "short": ("I", "h", -(2**15)),
    "int": ("J", "i", -(2**31)),
    "long": ("K", "q", -(2**63)),
    "float": ("E", "f", None),
    "double": ("D", "d", None),
}


class FitsWriter:
    """A FITS binary table (empty primary HDU + BINTABLE) of the result.

    The header needs the row count and every column's width, so rows are spooled (pickled
    batches of converted values) to a temporary file while the widths of text and
    variable-length arrays are measured; :meth:`tail_chunks` then writes the header and
    streams the rows, so memory stays constant. Units, UCDs, utypes and descriptions go to
    ``TUNITn``, ``TUCDn``, ``TUTYPn`` and ``TCOMMn``; integer nulls are ``TNULLn``, float
    nulls NaN, text nulls empty. Text is ASCII (FITS knows no other; other characters become
    ``?``). ``QSTATUS`` says ``OK``, ``OVERFLOW`` (MAXREC truncated the result) or ``ERROR``.
    """

    media_type = "application/fits"

    def __init__(self, fields: Sequence[ResultField]) -> None:
        """Prepare a writer for ``fields``."""
        self.fields = list(fields)
        self._converters = [converter(f.vo) for f in self.fields]
        self._widths = [1] * len(self.fields)
        self._count = 0
        # Closed by tail_chunks (or when the writer is dropped, if the client went away).
        self._spool = tempfile.TemporaryFile()  # noqa: SIM115

    def head(self) -> bytes:
        """Nothing yet: the header is known only after the last row."""
        return b""

    def rows(self, batch: Sequence[Sequence[Any]]) -> bytes:
        """Spool rows (converted values) and measure the widths."""
        out = []
        widths = self._widths
        for row in batch:
            values = []
            for i, (value, convert) in enumerate(zip(row, self._converters, strict=True)):
                v = convert(value) if convert is not None and value is not None else value
                if isinstance(v, str):
                    v = v.encode("ascii", "replace")
                    widths[i] = max(widths[i], len(v))
                elif isinstance(v, list):
                    widths[i] = max(widths[i], len(v))
                values.append(v)
            out.append(values)
        if out:
            pickle.dump(out, self._spool, protocol=pickle.HIGHEST_PROTOCOL)
            self._count += len(out)
        return b""

    def tail(self, overflow: bool, error: str | None = None) -> bytes:
        """The whole file at once (prefer :meth:`tail_chunks`, which streams it)."""
        return b"".join(self.tail_chunks(overflow, error))

    def _columns(self) -> tuple[list[fits.Column], list[Callable[[Any], bytes]]]:
        columns, encoders = [], []
        for f, width in zip(self.fields, self._widths, strict=True):
            vo = f.vo
            if vo.datatype in _FITS_SCALARS and vo.arraysize is None:
                letter, code, null = _FITS_SCALARS[vo.datatype]
                columns.append(fits.Column(name=f.name, format=letter, unit=f.unit, null=null))
                encoders.append(_fits_scalar(code, null))
            elif vo.datatype in ("float", "double") and vo.arraysize is not None:
                n = width if vo.variable else int(vo.arraysize)
                letter, code, _ = _FITS_SCALARS[vo.datatype]
                columns.append(fits.Column(name=f.name, format=f"{n}{letter}", unit=f.unit))
                encoders.append(_fits_array(code, n))
            else:
                columns.append(fits.Column(name=f.name, format=f"{width}A", unit=f.unit))
                encoders.append(_fits_text(width))
        return columns, encoders

    def tail_chunks(self, overflow: bool, error: str | None = None) -> Iterator[bytes]:
        """Primary HDU, table header, then the spooled rows in chunks, padded to 2880 bytes."""
        columns, encoders = self._columns()
        primary = fits.PrimaryHDU()
        primary.header["EXTEND"] = True
        table = fits.BinTableHDU.from_columns(columns, nrows=0)
        header = table.header
        header["NAXIS2"] = self._count
        header["EXTNAME"] = ("RESULTS", "result of a TAP query")
        for i, f in enumerate(self.fields, start=1):
            for key, value in (("TUCD", f.ucd), ("TUTYP", f.utype), ("TCOMM", f.description)):
                if value:
                    header[f"{key}{i}"] = value
        status = "ERROR" if error is not None else "OVERFLOW" if overflow else "OK"
        header["QSTATUS"] = (status, "TAP QUERY_STATUS of this result")
        header["OVERFLOW"] = (overflow, "MAXREC truncated the result")
        if error is not None:
            header["QERROR"] = error
        yield primary.header.tostring().encode("ascii")
        yield header.tostring().encode("ascii")
        written = 0
        self._spool.seek(0)
        try:
            while True:
                try:
                    batch = pickle.load(self._spool)  # noqa: S301 - our own spool file
                except EOFError:
                    break
                parts = [
                    b"".join(encode(v) for encode, v in zip(encoders, row, strict=True))
                    for row in batch
                ]
                data = b"".join(parts)
                written += len(data)
                yield data
        finally:
            self._spool.close()
        pad = -written % _FITS_BLOCK
        if pad:
            yield b"\0" * pad


def _fits_scalar(code: str, null: int | None) -> Callable[[Any], bytes]:
    if code == "c":
        return lambda v: b"\0" if v is None else (b"T" if v else b"F")
    pack = struct.Struct(f">{code}").pack
    empty = null if null is not None else math.nan
    return lambda v: pack(empty if v is None else v)


def _fits_array(code: str, n: int) -> Callable[[Any], bytes]:
    pack = struct.Struct(f">{n}{code}").pack

    def encode(v: Any) -> bytes:
        values = [math.nan if x is None else x for x in list(v or [])[:n]]
        return pack(*values, *([math.nan] * (n - len(values))))

    return encode


def _fits_text(width: int) -> Callable[[Any], bytes]:
    def encode(v: Any) -> bytes:
        data = (
            b"" if v is None else v if isinstance(v, bytes) else str(v).encode("ascii", "replace")
        )
        return data[:width].ljust(width, b"\0")

    return encode
