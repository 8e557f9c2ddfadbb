"""Catalogue ingestion: validate a delivered table against its interface, then load it.

One ingestion is one database transaction. Rows are validated chunk by chunk while they are
streamed with ``COPY`` into a temporary staging table (invisible to everyone else); when the
whole file is valid, one ``INSERT ... SELECT`` moves them into ``isla.catalogue_entries``
(positions and the JSON of the remaining values built by Postgres), the new version's row in
``isla.catalogues`` is completed and, if asked, the ``is_current`` flag of the catalogue's
versions is flipped to it; then the transaction commits. Any problem, a crash or a killed
worker leaves nothing behind, and running the same ingestion again is safe: a version that
is already loaded with the same checksum is reported as such, not loaded twice.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from psycopg import sql

from services.ingest import grbs
from services.ingest.interface import (
    INTERFACES,
    CatalogueInterface,
    Column,
    get_interface,
    unit_factor,
)
from services.ingest.readers import Chunk, Format, MalformedFileError, TableReader, open_table

MAX_PROBLEMS = 50
"""Problems listed in a refusal (the count of further ones is given)."""

ROWS_SHOWN = 5
"""Row numbers quoted per problem."""

NAME_FORM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.,+()'-]{0,127}$")
VERSION_FORM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,31}$")
KEY_MAX = 128
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
ASCII_COLUMNS = ("class",)
"""Interface columns kept ASCII besides the key (``isla.catalogue_entries.source_class``)."""

Progress = Callable[[float, str], None]


class CatalogueRefusedError(Exception):
    """The delivery is refused; ``problems`` says why, precisely. Nothing was written."""

    def __init__(self, problems: list[str], status: int = 400) -> None:
        """Carry the problems and the HTTP status that fits them."""
        super().__init__("; ".join(problems[:3]))
        self.problems = problems
        self.status = status


@dataclass
class CatalogueDelivery:
    """What is delivered: which catalogue, version, kind and team, and the file's facts."""

    name: str
    version: str
    kind: str
    team: str
    reference: str | None = None
    description: str | None = None
    make_current: bool = True
    filename: str | None = None
    format: Format | None = None
    sha256: str | None = None
    size: int | None = None

    def target(self) -> str:
        """``name@version``, as audit records and job listings show it."""
        return f"{self.name}@{self.version}"


def path_like(text: str) -> bool:
    """True for names that look like file-system paths (never accepted as names)."""
    return "/" in text or "\\" in text or ".." in text or text.startswith((".", "~"))


def check_delivery(delivery: CatalogueDelivery) -> list[str]:
    """Problems with the delivery's own parameters (names, version, kind, file name)."""
    problems: list[str] = []
    if path_like(delivery.name) or not NAME_FORM.match(delivery.name):
        problems.append(
            f"catalogue name {delivery.name!r} is not accepted: 1-128 letters, digits, spaces "
            "and _.,+()'- starting with a letter or digit, and no path separators or '..'"
        )
    if path_like(delivery.version) or not VERSION_FORM.match(delivery.version):
        problems.append(
            f"version {delivery.version!r} is not accepted: 1-32 letters, digits and _.+- "
            "starting with a letter or digit, no '..'"
        )
    if delivery.filename is not None and (
        path_like(delivery.filename) or _CONTROL.search(delivery.filename)
    ):
        problems.append(f"file name {delivery.filename!r} looks like a path; send a bare name")
    try:
        get_interface(delivery.kind)
    except KeyError as exc:
        problems.append(str(exc.args[0]))
    return problems


def sha256_of(path: Path) -> str:
    """SHA-256 of a file, hex."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- Column mapping ------------------------------------------------------------------------------


@dataclass
class Mapping:
    """Which file column feeds which interface column, with unit factors."""

    interface: CatalogueInterface
    source: dict[str, str] = field(default_factory=dict)
    """interface column -> file column"""
    factor: dict[str, float] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)


def map_columns(interface: CatalogueInterface, reader: TableReader) -> tuple[Mapping, list[str]]:
    """Match the file's columns to the interface; returns the mapping and the problems."""
    problems: list[str] = []
    mapping = Mapping(interface)
    by_lower: dict[str, str] = {}
    for name in reader.columns:
        key = name.strip().lower()
        if key in by_lower:
            problems.append(f"column {name!r} appears twice in the file")
        by_lower[key] = name
    used: set[str] = set()
    for col in interface.columns:
        found = [by_lower[n.lower()] for n in col.names() if n.lower() in by_lower]
        if not found:
            if col.required:
                accepted = ", ".join(col.names())
                problems.append(
                    f"required column {col.name!r} is missing (accepted names: {accepted})"
                )
            continue
        chosen = found[0]
        if len(found) > 1:
            others = ", ".join(repr(f) for f in found[1:])
            problems.append(
                f"columns {chosen!r} and {others} all mean {col.name!r}; keep only one of them"
            )
        mapping.source[col.name] = chosen
        used.update(found)
        factor, problem = unit_factor(col, reader.units.get(chosen))
        if problem:
            problems.append(problem)
        else:
            mapping.factor[col.name] = factor or 1.0
    mapping.ignored = [c for c in reader.columns if c not in used]
    return mapping, problems


# --- Value conversion and validation -------------------------------------------------------------

_TRUE = {"true", "t", "1", "yes", "y"}
_FALSE = {"false", "f", "0", "no", "n", ""}


def _rows(mask: Any, first_row: int) -> list[int]:
    return [int(i) + first_row for i in np.flatnonzero(mask)[:ROWS_SHOWN]]


def _where(count: int, rows: list[int]) -> str:
    shown = ", ".join(str(r) for r in rows)
    more = f" and {count - len(rows)} more" if count > len(rows) else ""
    return f"row{'s' if count > 1 else ''} {shown}{more}"


def _as_strings(values: Any) -> list[str | None]:
    """Strings of a column (None for empty or masked cells)."""
    if isinstance(values, list | tuple):
        return [v.strip() or None for v in values]
    arr = values
    if np.ma.isMaskedArray(arr):
        mask = np.ma.getmaskarray(arr)
        data = arr.data
    else:
        mask = None
        data = np.asarray(arr)
    if data.dtype.kind == "S":
        out: list[str | None] = [b.decode("utf-8", "replace").strip() or None for b in data]
    elif data.dtype.kind in "iu":
        out = [str(v) for v in data.tolist()]
    elif data.dtype.kind == "f":
        out = [None if math.isnan(v) else repr(v) for v in data.tolist()]
    else:
        out = [(str(v).strip() or None) if v is not None else None for v in data.tolist()]
    if mask is not None:
        out = [None if m else v for v, m in zip(out, mask.tolist(), strict=True)]
    return out


def _as_floats(values: Any, first_row: int, col: Column) -> tuple[Any, str | None]:
    """Float64 array (NaN for empty cells) and a problem for cells that are no numbers."""
    if isinstance(values, list | tuple):
        count = len(values)
        # float() on each cell is several times faster than numpy's string conversion;
        # empty cells (NaN) and bad ones take the slower paths.
        try:
            return np.fromiter(map(float, values), np.float64, count=count), None
        except ValueError:
            pass
        cleaned = [v if v.strip() else "nan" for v in values]
        try:
            return np.fromiter(map(float, cleaned), np.float64, count=count), None
        except ValueError:
            pass
        bad = []
        out = np.empty(count)
        for i, v in enumerate(cleaned):
            try:
                out[i] = float(v)
            except ValueError:
                bad.append(i)
                out[i] = np.nan
        rows = [first_row + i for i in bad[:ROWS_SHOWN]]
        sample = cleaned[bad[0]].strip()
        return out, (
            f"column {col.name!r}: {_where(len(bad), rows)} hold no number (e.g. {sample[:40]!r})"
        )
    arr: Any = values
    if np.ma.isMaskedArray(arr) and arr.dtype.kind in "fiub":
        arr = np.ma.filled(arr.astype(np.float64), np.nan)
    data = np.asarray(arr)
    if data.dtype.kind in "fiu":
        return data.astype(np.float64), None
    return _as_floats([s or "" for s in _as_strings(values)], first_row, col)


def _as_bools(values: Any, first_row: int, col: Column) -> tuple[Any, str | None]:
    if not isinstance(values, list | tuple):
        data = np.asarray(values.filled(False) if np.ma.isMaskedArray(values) else values)
        if data.dtype.kind == "b":
            return data.astype(bool), None
        if data.dtype.kind in "iu":
            return data != 0, None
    strings = _as_strings(values)
    out = np.zeros(len(strings), dtype=bool)
    bad = []
    for i, s in enumerate(strings):
        low = (s or "").lower()
        if low in _TRUE:
            out[i] = True
        elif low not in _FALSE:
            bad.append(i)
    if bad:
        rows = [first_row + i for i in bad[:ROWS_SHOWN]]
        return out, f"column {col.name!r}: {_where(len(bad), rows)} are not true/false"
    return out, None


@dataclass
class ChunkData:
    """One validated chunk, column by column, ready for COPY."""

    size: int
    columns: dict[str, Any]


class Validator:
    """Converts and checks chunks against an interface; remembers keys across chunks."""

    def __init__(self, mapping: Mapping, max_problems: int = MAX_PROBLEMS) -> None:
        """Validate with ``mapping``; keep at most ``max_problems`` messages."""
        self.mapping = mapping
        self.interface = mapping.interface
        self.keys: dict[str, int] = {}
        self.duplicates: list[tuple[str, int, int]] = []
        self.problems: list[str] = []
        self.more = 0
        self.rows = 0
        self.max_problems = max_problems

    def problem(self, text: str) -> None:
        """Record a problem (counted beyond the listed maximum)."""
        if len(self.problems) < self.max_problems:
            self.problems.append(text)
        else:
            self.more += 1

    def all_problems(self) -> list[str]:
        """Every recorded problem, duplicates summarised, with the count of unlisted ones."""
        problems = list(self.problems)
        if self.duplicates:
            shown = "; ".join(f"{k!r} in rows {a} and {b}" for k, a, b in self.duplicates[:10])
            more = len(self.duplicates) - 10
            problems.append(
                f"duplicate {self.interface.key} values ({len(self.duplicates)}): {shown}"
                + (f" and {more} more" if more > 0 else "")
            )
        if self.more:
            problems.append(f"... and {self.more} more problems")
        return problems

    def convert(self, chunk: Chunk) -> ChunkData:
        """Typed columns of ``chunk`` (interface names), recording every problem found."""
        out: dict[str, Any] = {}
        first = chunk.first_row
        for col in self.interface.columns:
            source = self.mapping.source.get(col.name)
            if source is None:
                continue
            raw = chunk.columns[source]
            if col.type == "str":
                strings = _as_strings(raw)
                self._check_strings(col, strings, first)
                if col.name in (self.interface.key, *ASCII_COLUMNS):
                    self._check_ascii(col, strings, first)
                out[col.name] = strings
            elif col.type == "bool":
                values, problem = _as_bools(raw, first, col)
                if problem:
                    self.problem(problem)
                out[col.name] = values
            else:
                values, problem = _as_floats(raw, first, col)
                if problem:
                    self.problem(problem)
                factor = self.mapping.factor.get(col.name, 1.0)
                if factor != 1.0:
                    values = values * factor
                self._check_numbers(col, values, first)
                out[col.name] = values
        self._check_keys(out.get(self.interface.key, []), first)
        self.rows += chunk.size
        return ChunkData(chunk.size, out)

    def _check_strings(self, col: Column, values: Any, first: int) -> None:
        if not col.nullable and None in values:
            empty = np.fromiter((v is None for v in values), dtype=bool, count=len(values))
            self.problem(
                f"column {col.name!r}: {_where(int(empty.sum()), _rows(empty, first))} are empty"
            )
        present = [v for v in values if v is not None]
        # One search over the joined text finds whether any value needs a closer look.
        if not present or (
            max(map(len, present)) <= KEY_MAX * 4 and not _CONTROL.search("".join(present))
        ):
            return
        bad = [
            i
            for i, v in enumerate(values)
            if v is not None and (len(v) > KEY_MAX * 4 or _CONTROL.search(v))
        ]
        if bad:
            rows = [first + i for i in bad[:ROWS_SHOWN]]
            self.problem(
                f"column {col.name!r}: {_where(len(bad), rows)} hold control characters or "
                "overlong text"
            )

    def _check_ascii(self, col: Column, values: Any, first: int) -> None:
        # One test over the joined text; the rows are looked for only when it fails.
        if "".join(v for v in values if v is not None).isascii():
            return
        bad = np.fromiter((v is not None and not v.isascii() for v in values), bool, len(values))
        self.problem(
            f"column {col.name!r}: {_where(int(bad.sum()), _rows(bad, first))} hold characters "
            "beyond ASCII (entry keys and classes are published as VOTable char, which is ASCII)"
        )

    def _check_numbers(self, col: Column, values: Any, first: int) -> None:
        nan = np.isnan(values)
        if not col.nullable and nan.any():
            self.problem(
                f"column {col.name!r}: {_where(int(nan.sum()), _rows(nan, first))} are empty or NaN"
            )
        finite = ~nan
        inf = np.isinf(values)
        if inf.any():
            self.problem(
                f"column {col.name!r}: {_where(int(inf.sum()), _rows(inf, first))} are infinite"
            )
        with np.errstate(invalid="ignore"):
            out = np.zeros(len(values), dtype=bool)
            if col.minimum is not None:
                out |= finite & ~inf & (values < col.minimum)
            if col.maximum is not None:
                out |= finite & ~inf & (values > col.maximum)
        if out.any():
            lo = "-inf" if col.minimum is None else f"{col.minimum:g}"
            hi = "inf" if col.maximum is None else f"{col.maximum:g}"
            unit = f" {col.unit}" if col.unit else ""
            self.problem(
                f"column {col.name!r}: {_where(int(out.sum()), _rows(out, first))} are outside "
                f"[{lo}, {hi}]{unit}"
            )

    def _check_keys(self, keys: Any, first: int) -> None:
        seen = self.keys
        rows = dict(zip(keys, range(first, first + len(keys)), strict=True))
        rows.pop(None, None)  # empty keys are reported as an empty required column
        if len(rows) == sum(k is not None for k in keys) and seen.keys().isdisjoint(rows):
            seen.update(rows)  # the usual case, checked by C code only
            return
        for i, key in enumerate(keys):
            if key is None:
                continue
            row = first + i
            if len(key) > KEY_MAX:
                self.problem(f"row {row}: {self.interface.key} is longer than {KEY_MAX} chars")
            previous = seen.setdefault(key, row)
            if previous != row:
                self.duplicates.append((key, previous, row))


# --- Loading -------------------------------------------------------------------------------------

_PG_TYPES = {
    "str": "text",
    "float": "double precision",
    "int": "double precision",
    "bool": "boolean",
}
_COPY_TYPES = {"str": "text", "float": "float8", "int": "float8", "bool": "bool"}
_CORE = ("ra", "dec", "pos_err", "class")


def _staging_plan(interface: CatalogueInterface, mapping: Mapping) -> list[Column]:
    return [c for c in interface.columns if c.name in mapping.source]


def _insert_statement(
    interface: CatalogueInterface, present: list[Column], catalogue_id: int, version: str
) -> sql.Composed:
    names = {c.name for c in present}

    def value(name: str) -> sql.Composable:
        ident = sql.Identifier(name)
        col = interface.column(name)
        if col.type in ("float", "int"):
            return sql.SQL("NULLIF({}, 'NaN'::float8)").format(ident)
        return ident

    pairs: list[sql.Composable] = []
    for col in present:
        if col.name == interface.key or col.name in _CORE:
            continue
        pairs.extend([sql.Literal(col.name), value(col.name)])
    values = (
        sql.SQL("jsonb_strip_nulls(jsonb_build_object({}))").format(sql.SQL(", ").join(pairs))
        if pairs
        else sql.SQL("'{}'::jsonb")
    )
    pos_err = value("pos_err") if "pos_err" in names else sql.SQL("NULL")
    cls = (
        sql.SQL("NULLIF(btrim({}), '')").format(sql.Identifier("class"))
        if "class" in names
        else sql.SQL("NULL")
    )
    return sql.SQL(
        "INSERT INTO isla.catalogue_entries "
        "(catalogue_id, entry_name, ra, dec, pos, pos_err, source_class, values, version) "
        # The schema's trigger (0012) would compute the same pos, one function call a row;
        # given here, its condition (0043) skips the call.
        "SELECT {cid}, {key}, ra, dec, spoint(radians(ra), radians(dec)), {pos_err}, {cls}, "
        "{values}, {version} FROM pg_temp.isla_staging ORDER BY row_no"
    ).format(
        cid=sql.Literal(catalogue_id),
        key=sql.Identifier(interface.key),
        pos_err=pos_err,
        cls=cls,
        values=values,
        version=sql.Literal(version),
    )


def _check_owner(
    cur: psycopg.Cursor[Any], delivery: CatalogueDelivery, may_act_for: Callable[[str], bool]
) -> dict[str, Any] | None:
    """Ownership and idempotency: the existing version with this name/version, if any."""
    rows = cur.execute(
        "SELECT catalogue_id, version, team, sha256, kind, n_rows, is_current "
        "FROM isla.catalogues WHERE name = %s ORDER BY catalogue_id",
        (delivery.name,),
    ).fetchall()
    if rows:
        owner = rows[0][2]
        if not may_act_for(owner):
            raise CatalogueRefusedError(
                [
                    f"catalogue {delivery.name!r} belongs to team {owner!r}; only that team "
                    "or an operator may deliver versions of it"
                ],
                status=403,
            )
    for cid, version, team, sha, kind, n_rows, current in rows:
        if version == delivery.version:
            if sha is not None and sha == delivery.sha256:
                return {
                    "catalogue_id": cid,
                    "team": team,
                    "kind": kind,
                    "rows": n_rows,
                    "is_current": current,
                }
            raise CatalogueRefusedError(
                [
                    f"version {delivery.version!r} of catalogue {delivery.name!r} already "
                    "exists with other content; deliver a new version"
                ],
                status=409,
            )
    return None


def load_catalogue(
    conninfo: str,
    path: Path,
    delivery: CatalogueDelivery,
    may_act_for: Callable[[str], bool],
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Validate and load one delivered catalogue file; returns the ingestion report.

    Raises :class:`CatalogueRefusedError` (nothing written) when the delivery or any row is
    invalid, the catalogue belongs to another team, or the version exists with other content.
    """
    say: Progress = progress or (lambda _f, _m: None)
    problems = check_delivery(delivery)
    if problems:
        raise CatalogueRefusedError(problems)
    interface = get_interface(delivery.kind)
    delivery.sha256 = delivery.sha256 or sha256_of(path)
    try:
        reader = open_table(path, delivery.format, delivery.filename)
    except MalformedFileError as exc:
        raise CatalogueRefusedError([str(exc)]) from None
    mapping, problems = map_columns(interface, reader)
    if problems:
        raise CatalogueRefusedError(problems)
    present = _staging_plan(interface, mapping)
    validator = Validator(mapping)
    say(0.0, f"validating {reader.format.upper()} against {interface.name}")
    with psycopg.connect(conninfo, autocommit=False) as conn, conn.cursor() as cur:
        # Deliveries of one catalogue are serialised: the ownership and version checks below
        # must see every committed version.
        cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"catalogue:{delivery.name}",))
        existing = _check_owner(cur, delivery, may_act_for)
        if existing is not None:
            conn.rollback()
            say(1.0, "this version is already loaded")
            return {
                "catalogue": delivery.name,
                "version": delivery.version,
                "kind": interface.name,
                "already_loaded": True,
                **existing,
            }
        columns = [sql.SQL("row_no bigint")] + [
            sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(_PG_TYPES[c.type]))
            for c in present
        ]
        cur.execute(
            sql.SQL("CREATE TEMP TABLE isla_staging ({}) ON COMMIT DROP").format(
                sql.SQL(", ").join(columns)
            )
        )
        copy_sql = sql.SQL("COPY pg_temp.isla_staging ({}) FROM STDIN").format(
            sql.SQL(", ").join(
                [sql.Identifier("row_no")] + [sql.Identifier(c.name) for c in present]
            )
        )
        names = [c.name for c in present]
        try:
            with cur.copy(copy_sql) as copy:
                # Declared types spare psycopg a dumper look-up for every value.
                copy.set_types(["int8", *(_COPY_TYPES[c.type] for c in present)])
                for chunk in reader.chunks:
                    data = validator.convert(chunk)
                    if not validator.problems and not validator.duplicates:
                        cols = [
                            v.tolist() if isinstance(v, np.ndarray) else v
                            for v in (data.columns[n] for n in names)
                        ]
                        start = chunk.first_row
                        for i, row in enumerate(zip(*cols, strict=True)):
                            copy.write_row((start + i, *row))
                    fraction = reader.position() if reader.position else 0.0
                    say(0.8 * min(1.0, fraction), f"{validator.rows} rows read")
                    if len(validator.problems) >= validator.max_problems:
                        break
        except MalformedFileError as exc:
            validator.problem(str(exc))
        problems = validator.all_problems()
        if validator.rows == 0 and not problems:
            problems.append("the table holds no rows")
        if problems:
            conn.rollback()
            raise CatalogueRefusedError(problems)
        say(0.8, f"writing {validator.rows} entries")
        catalogue_id = cur.execute(
            "INSERT INTO isla.catalogues (name, version, team, kind, reference, description, "
            "is_current, n_rows, sha256) VALUES (%s, %s, %s, %s, %s, %s, false, %s, %s) "
            "RETURNING catalogue_id",
            (
                delivery.name,
                delivery.version,
                delivery.team,
                interface.name,
                delivery.reference,
                delivery.description,
                validator.rows,
                delivery.sha256,
            ),
        ).fetchone()[0]  # type: ignore[index]
        cur.execute(_insert_statement(interface, present, catalogue_id, delivery.version))
        loaded = cur.rowcount
        published = None
        if delivery.make_current:
            published = switch_current(cur, delivery.name, catalogue_id)
        conn.commit()
    say(1.0, f"{loaded} entries loaded")
    return {
        "catalogue": delivery.name,
        "version": delivery.version,
        "kind": interface.name,
        "catalogue_id": catalogue_id,
        "team": delivery.team,
        "rows": loaded,
        "is_current": delivery.make_current,
        "format": reader.format,
        "sha256": delivery.sha256,
        "columns": mapping.source,
        "converted_units": {k: f for k, f in mapping.factor.items() if f != 1.0},
        "ignored_columns": mapping.ignored,
        "already_loaded": False,
        **({"published": published} if published is not None else {}),
    }


def switch_current(cur: psycopg.Cursor[Any], name: str, catalogue_id: int) -> dict[str, Any] | None:
    """Make ``catalogue_id`` the current version of catalogue ``name`` (one statement).

    A GRB catalogue's current version is also written to its table (:mod:`services.ingest.
    grbs`); the report of that is returned (None for source catalogues, which are merged into
    the source list on request instead). Raises :class:`CatalogueRefusedError` when an entry
    cannot be published (the caller's transaction then writes nothing).
    """
    cur.execute(
        "UPDATE isla.catalogues SET is_current = (catalogue_id = %s) "
        "WHERE name = %s AND is_current IS DISTINCT FROM (catalogue_id = %s)",
        (catalogue_id, name, catalogue_id),
    )
    kind = cur.execute(
        "SELECT kind FROM isla.catalogues WHERE catalogue_id = %s", (catalogue_id,)
    ).fetchone()
    target = get_interface(str(kind[0])).target if kind and kind[0] in INTERFACES else None
    if target is None:
        return None
    report = grbs.publish(cur, catalogue_id, target, lambda p: CatalogueRefusedError(p, 422))
    if target == "grbs":
        grbs.refresh_fit_links(cur)
    return report
