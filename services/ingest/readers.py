"""Streamed readers of delivered tables: CSV, FITS binary tables and VOTable.

Every reader yields the file's column names, their units (when the format carries them) and
then the rows in chunks of columns, so that a million-row file never sits in memory as Python
objects. Malformed files raise :class:`MalformedFileError` with a message fit for the delivering
team.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal

import numpy as np

Format = Literal["csv", "fits", "votable"]

CHUNK_ROWS = 50_000
"""Rows per chunk handed to validation and COPY."""

_BATCH = 2_000
"""Rows a CSV reader parses at once before moving them into the chunk's columns."""


class MalformedFileError(ValueError):
    """The file cannot be read as the format it claims (or seems) to be."""


@dataclass
class Chunk:
    """Consecutive rows: one sequence per file column (strings for CSV, arrays otherwise)."""

    first_row: int
    """1-based number of the chunk's first data row in the file."""
    columns: dict[str, Any]
    size: int


@dataclass
class TableReader:
    """An opened table: its columns and units, and an iterator over its rows in chunks."""

    format: Format
    columns: list[str]
    units: dict[str, str | None]
    n_rows: int | None
    chunks: Iterator[Chunk]
    position: Any = field(default=None)
    """Callable returning the fraction of the file read so far (for progress)."""


def detect_format(head: bytes, filename: str | None = None) -> Format:
    """The format of a file from its first bytes (the name only breaks ties)."""
    if head.startswith(b"SIMPLE  ="):
        return "fits"
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"<?xml") or stripped[:200].lower().find(b"<votable") >= 0:
        return "votable"
    if filename and filename.lower().endswith((".fits", ".fit", ".fts", ".fits.gz")):
        return "fits"
    if filename and filename.lower().endswith((".xml", ".vot", ".votable")):
        return "votable"
    return "csv"


_HEADER_UNIT = re.compile(
    r"^\s*(?P<name>[^\[\]()]+?)\s*(?:\[(?P<u1>[^\]]*)\]|\((?P<u2>[^)]*)\))\s*$"
)


def _split_header(raw: str) -> tuple[str, str | None]:
    match = _HEADER_UNIT.match(raw)
    if match:
        unit = match.group("u1") if match.group("u1") is not None else match.group("u2")
        return match.group("name").strip(), (unit or "").strip() or None
    return raw.strip(), None


class _Counting(io.RawIOBase):
    """Counts bytes read from a binary file (progress of streamed formats)."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.count += n
        return n


def read_csv(path: Path, chunk_rows: int = CHUNK_ROWS) -> TableReader:
    """Open a CSV file (UTF-8, comma-separated; ``#`` comment lines before the header line)."""
    size = max(1, path.stat().st_size)
    raw = path.open("rb")
    counting = _Counting(raw)
    text = io.TextIOWrapper(
        io.BufferedReader(counting, 1 << 20), encoding="utf-8", errors="strict", newline=""
    )
    try:
        line = text.readline()
        while line and (line.startswith("#") or not line.strip()):
            line = text.readline()
        header = next(csv.reader([line]), None)
        reader = csv.reader(text)
    except (UnicodeDecodeError, csv.Error) as exc:
        raw.close()
        raise MalformedFileError(f"not a readable UTF-8 CSV file: {exc}") from None
    if not header or not any(h.strip() for h in header):
        raw.close()
        raise MalformedFileError("the CSV file has no header line")
    names: list[str] = []
    units: dict[str, str | None] = {}
    for cell in header:
        name, unit = _split_header(cell.lstrip("\ufeff"))
        names.append(name)
        units[name] = unit
    width = len(names)

    def chunks() -> Iterator[Chunk]:
        done = 0
        try:
            while True:
                cols: list[list[str]] = [[] for _ in range(width)]
                n = 0
                while n < chunk_rows:
                    # Rows are taken in small batches and transposed by C code (zip). Small
                    # batches keep few row lists alive, which keeps the garbage collector's
                    # passes short: with whole chunks of rows alive, they cost more than
                    # the parsing itself.
                    rows = list(itertools.islice(reader, _BATCH))
                    if not rows:
                        break
                    if set(map(len, rows)) != {width}:
                        rows = [r for r in rows if r]  # blank lines
                        for i, row in enumerate(rows):
                            if len(row) != width:
                                raise MalformedFileError(
                                    f"data row {done + n + i + 1}: {len(row)} fields where "
                                    f"the header has {width}"
                                )
                    for target, values in zip(cols, zip(*rows, strict=True), strict=True):
                        target.extend(values)
                    n += len(rows)
                if n == 0:
                    return
                yield Chunk(done + 1, dict(zip(names, cols, strict=True)), n)
                done += n
        except UnicodeDecodeError as exc:
            raise MalformedFileError(f"near row {done + 1}: not UTF-8 text ({exc})") from None
        except csv.Error as exc:
            raise MalformedFileError(f"near data row {done + 1}: {exc}") from None
        finally:
            raw.close()

    return TableReader("csv", names, units, None, chunks(), lambda: counting.count / size)


def _array_chunks(columns: dict[str, Any], n_rows: int, chunk_rows: int) -> Iterator[Chunk]:
    for start in range(0, n_rows, chunk_rows):
        stop = min(n_rows, start + chunk_rows)
        yield Chunk(start + 1, {k: v[start:stop] for k, v in columns.items()}, stop - start)


def read_fits(path: Path, chunk_rows: int = CHUNK_ROWS) -> TableReader:
    """Open the first table extension of a FITS file."""
    from astropy.io import fits

    try:
        with warnings.catch_warnings():
            # A broken header also warns; the exception below tells the team what is wrong.
            warnings.simplefilter("ignore")
            hdul = fits.open(path, memmap=True)
        hdu = next((h for h in hdul if isinstance(h, fits.BinTableHDU | fits.TableHDU)), None)
        if hdu is None:
            raise MalformedFileError("the FITS file holds no table extension")
        data = hdu.data
        names = list(hdu.columns.names)
        units = {c.name: (c.unit or None) for c in hdu.columns}
        n_rows = 0 if data is None else len(data)
        columns = {} if data is None else {name: data[name] for name in names}
        for name, values in columns.items():
            if getattr(values, "ndim", 1) != 1:
                raise MalformedFileError(f"column {name!r} holds vectors; scalars are expected")
    except MalformedFileError:
        raise
    except Exception as exc:  # astropy raises many types for broken files
        raise MalformedFileError(f"not a readable FITS table: {exc}") from None
    done = [0]

    def chunks() -> Iterator[Chunk]:
        try:
            for chunk in _array_chunks(columns, n_rows, chunk_rows):
                done[0] += chunk.size
                yield chunk
        finally:
            hdul.close()

    return TableReader("fits", names, units, n_rows, chunks(), lambda: done[0] / max(1, n_rows))


def read_votable(path: Path, chunk_rows: int = CHUNK_ROWS) -> TableReader:
    """Open the first table of a VOTable (any serialisation astropy reads)."""
    from astropy.io.votable import parse

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            votable = parse(str(path), verify="ignore")
        table = votable.get_first_table()
    except Exception as exc:
        raise MalformedFileError(f"not a readable VOTable: {exc}") from None
    array = table.array
    names = [f.name for f in table.fields]
    units = {f.name: (str(f.unit) if f.unit is not None else None) for f in table.fields}
    n_rows = len(array)
    columns: dict[str, Any] = {}
    for field_ in table.fields:
        values = array[field_.ID or field_.name] if field_.ID in array.dtype.names else None
        if values is None:
            values = array[field_.name]
        if np.ma.isMaskedArray(values) and values.dtype.kind in "fc":
            values = values.filled(np.nan)
        columns[field_.name] = values
    done = [0]

    def chunks() -> Iterator[Chunk]:
        for chunk in _array_chunks(columns, n_rows, chunk_rows):
            done[0] += chunk.size
            yield chunk

    return TableReader("votable", names, units, n_rows, chunks(), lambda: done[0] / max(1, n_rows))


def open_table(path: Path, fmt: Format | None = None, filename: str | None = None) -> TableReader:
    """Open ``path`` as ``fmt`` (detected from its content when None)."""
    if fmt is None:
        with path.open("rb") as f:
            fmt = detect_format(f.read(512), filename)
    if fmt == "fits":
        return read_fits(path)
    if fmt == "votable":
        return read_votable(path)
    return read_csv(path)
