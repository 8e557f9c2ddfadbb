"""ADQL as a pipeline: parse → check against TAP_SCHEMA → translate to PostgreSQL + pgSphere.

Parsing uses queryparser-python3's ANTLR grammar directly, so that we hold the parse tree and
can check it before queryparser's translator ever sees the query.

Safety: queryparser 0.8 passes the text of geometry arguments to Python's ``eval``
(``adqltranslator._convert_values``), so ``CIRCLE('ICRS', eval('...'), 0, 1)``, or delimited
identifiers whose text is Python (``"x\\" + "+__import__('os')...#"``), would run Python code
in this process. :func:`_numeric_eval` replaces ``eval`` in that module with an evaluator of
numbers and ``+ - * /`` only; on top, user-defined functions are refused by name and every
table and column is checked, so such queries are refused before translation anyway.

The checks also give users the errors the TAP standard and astroquery expect: an unknown
table is ``Unknown table 'x'``, an unknown column names itself, a syntax error says where.
"""

from __future__ import annotations

import ast
import logging
import operator
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import antlr4
import queryparser.adql.adqltranslator as _qp_translator
from antlr4.atn.PredictionMode import PredictionMode
from antlr4.error.ErrorListener import ErrorListener
from antlr4.error.Errors import ParseCancellationException
from antlr4.error.ErrorStrategy import BailErrorStrategy
from queryparser.adql import ADQLQueryTranslator
from queryparser.adql.ADQLLexer import ADQLLexer
from queryparser.adql.ADQLParser import ADQLParser
from queryparser.adql.adqltranslator import (
    ADQLFunctionsTranslationVisitor,
    ADQLGeometryTranslationVisitor,
)
from queryparser.exceptions import QueryError, QuerySyntaxError

from shared.vo.tap_schema import PUBLISHED_RELATIONS

ALLOWED_USER_FUNCTIONS: frozenset[str] = frozenset({"coord1", "coord2"})
"""Functions the grammar reads as user-defined that a query may call (see the module docstring).

COORD1/COORD2 of a point-valued column (``COORD1(pos)``) parse as user-defined functions;
migration 0002 defines them for pgSphere points (in schema ``isla_adql``)."""

MAX_QUERY_LENGTH = 100_000
"""Longest ADQL text accepted by default (characters); the parser is not meant for megabyte
queries (``ISLA_TAP_ADQL_MAX_LENGTH``)."""


@dataclass(frozen=True)
class ParseLimits:
    """Bounds on the work one query may cause before it reaches the database.

    The pure-Python ANTLR parser is superlinear in the nesting depth of a query (200 nested
    parentheses cost seconds, 1,000 half a minute and a gigabyte), so the text is measured by
    a linear pre-scan before the parser sees it, and the parse itself runs against a clock.
    """

    max_length: int = MAX_QUERY_LENGTH
    """Most characters of ADQL text."""
    max_depth: int = 32
    """Deepest nesting of parentheses (sub-queries, functions, expressions)."""
    max_selects: int = 16
    """Most SELECTs in one query (the main one, sub-queries and WITH queries)."""
    parse_seconds: float = 5.0
    """Longest time parsing and translating one query may take."""


DEFAULT_LIMITS = ParseLimits()
"""The limits when the caller gives none (tests, warm-up)."""


_ARITHMETIC = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}


def _arith(node: ast.expr) -> float:
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise NameError("not a number")
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        value = _arith(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
        return float(_ARITHMETIC[type(node.op)](_arith(node.left), _arith(node.right)))
    raise NameError("not a number")


def _numeric_eval(expression: str) -> float:
    """What queryparser's ``eval`` of a geometry argument may do: numbers and + - * / only.

    Anything else raises NameError, which queryparser reads as "a column or expression" and
    passes on to SQL unchanged (where Postgres evaluates or refuses it).
    """
    try:
        return _arith(ast.parse(expression, mode="eval").body)
    except (SyntaxError, ArithmeticError, RecursionError, ValueError, MemoryError):
        raise NameError("not a number") from None


# The translator module looks ``eval`` up in its globals before the builtins.
setattr(_qp_translator, "eval", _numeric_eval)  # noqa: B010 - documented monkeypatch

log = logging.getLogger("isla.tap")


class AdqlError(ValueError):
    """The query cannot be run; the message is meant for the user."""


@dataclass(frozen=True)
class ColumnRef:
    """A column reference as written: optional qualifier (alias or table) and name."""

    qualifier: str | None
    name: str


@dataclass
class ParsedQuery:
    """What the checks and the result metadata need to know about a parsed query."""

    adql: str
    tables: dict[str, str] = field(default_factory=dict)
    """Correlation name (alias, or the table's own name) → qualified table name, lower case."""
    table_refs: list[tuple[str, ...]] = field(default_factory=list)
    """Every table named in a FROM clause, as its name's parts (schema, table)."""
    ctes: set[str] = field(default_factory=set)
    """Names of WITH queries: the only names besides published tables a FROM may use."""
    derived: set[str] = field(default_factory=set)
    """Correlation names of derived tables, and WITH query names: qualifiers of columns that
    are not checked here (their queries are). Never a table: aliases and tables are separate
    namespaces, so an alias named like a table does not let that table through the check."""
    columns: list[ColumnRef] = field(default_factory=list)
    aliases: dict[str, ColumnRef | None] = field(default_factory=dict)
    """Select-list aliases → the column they rename (None for expressions)."""
    functions: list[str] = field(default_factory=list)
    """User-defined function names called."""
    tree: Any = field(default=None, repr=False, compare=False)
    """The ANTLR parse tree, until translation consumes it (queryparser's visitors edit it)."""
    parser: Any = field(default=None, repr=False, compare=False)


class _Errors(ErrorListener):
    def __init__(self) -> None:
        super().__init__()
        self.errors: list[tuple[int, int, str]] = []

    def syntaxError(  # noqa: N802 - ANTLR's callback name
        self, recognizer: object, offending: object, line: int, column: int, msg: str, e: object
    ) -> None:
        text = getattr(offending, "text", None) or "end of query"
        self.errors.append((line, column, text))


def _ident(text: str) -> str:
    """An identifier as Postgres sees it: quoted keeps its case, unquoted folds to lower."""
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        return text[1:-1].replace('""', '"')
    return text.lower()


def _split_name(text: str) -> list[str]:
    """Split a dotted name, respecting double-quoted parts."""
    parts: list[str] = []
    current = ""
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
            current += ch
        elif ch == "." and not quoted:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return [_ident(p) for p in parts]


def _walk(node: object) -> Iterator[object]:
    yield node
    for child in getattr(node, "children", None) or ():
        yield from _walk(child)


# Strings, quoted identifiers and comments (skipped), parentheses and words, in one pass.
_SCAN = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|[()]|[A-Za-z_][A-Za-z0-9_]*")


def prescan(text: str, limits: ParseLimits = DEFAULT_LIMITS) -> None:
    """Refuse, in linear time, a query whose text is beyond ``limits`` (before parsing).

    Counts the nesting depth of parentheses and the SELECTs outside string literals, quoted
    identifiers and comments; raises :class:`AdqlError` naming the limit exceeded.
    """
    if len(text) > limits.max_length:
        raise AdqlError(
            f"QUERY is longer than the limit of {limits.max_length} characters ({len(text)} given)"
        )
    depth = deepest = selects = 0
    for match in _SCAN.finditer(text):
        piece = match.group(0)
        if piece == "(":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limits.max_depth:
                    raise AdqlError(
                        f"QUERY is nested too deeply: more than the limit of {limits.max_depth} "
                        "levels of parentheses"
                    )
        elif piece == ")":
            depth = max(0, depth - 1)
        elif len(piece) == 6 and piece.upper() == "SELECT":
            selects += 1
            if selects > limits.max_selects:
                raise AdqlError(
                    f"QUERY has too many sub-queries: more than the limit of "
                    f"{limits.max_selects} SELECTs"
                )


class ParseTimeoutError(AdqlError):
    """Parsing or translating the query took longer than its limit."""


class _Clock:
    """A deadline the parser's token stream looks at (checked every few hundred reads)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds

    def check(self) -> None:
        if time.monotonic() > self.deadline:
            raise ParseTimeoutError(
                f"QUERY took longer than the limit of {self.seconds:g} s to parse; simplify it"
            )


class _TimedTokenStream(antlr4.CommonTokenStream):
    """ANTLR's token stream, stopping the parse once the clock has run out.

    The parser reads tokens through ``LT`` (``LA`` calls it) many times per token during
    prediction, so this is where a runaway parse is seen; the error unwinds the parser like
    any exception.
    """

    def __init__(self, lexer: ADQLLexer, clock: _Clock | None) -> None:
        super().__init__(lexer)
        self._clock = clock
        self._reads = 0

    def LT(self, k: int) -> Any:  # noqa: N802 - ANTLR's method name (LA calls it too)
        self._reads += 1
        if self._reads & 511 == 0 and self._clock is not None:
            self._clock.check()
        return super().LT(k)


_CLOCK = threading.local()
"""The clock of the parse running in this thread (parses run in worker threads)."""


def _parse_with(text: str, mode: int, *, bail: bool) -> tuple[Any, Any, _Errors]:
    clock: _Clock | None = getattr(_CLOCK, "clock", None)
    parser = ADQLParser(_TimedTokenStream(ADQLLexer(antlr4.InputStream(text + ";")), clock))
    parser._interp.predictionMode = mode
    parser.removeErrorListeners()
    errors = _Errors()
    if bail:
        parser._errHandler = BailErrorStrategy()
    else:
        parser.addErrorListener(errors)
    return parser, parser.query(), errors


WARM_UP = [
    "SELECT TOP 10 * FROM TAP_SCHEMA.tables",
    "SELECT a.x, b.y AS z FROM s.t AS a JOIN s.u AS b USING (k) WHERE a.x > 1 ORDER BY z",
    "SELECT COUNT(*) AS n FROM s.t WHERE name ILIKE '%a%' GROUP BY c",
    "SELECT x FROM s.t WHERE 1=CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', 1, 2, 3))",
    "SELECT DISTANCE(POINT('ICRS', ra, dec), POINT('ICRS', 1, 2)) AS d FROM s.t",
    "SELECT x FROM s.t WHERE 1=INTERSECTS(pos, POLYGON('ICRS', 1, 2, 3, 4, 5, 6))",
    "SELECT x FROM s.t WHERE 1=CONTAINS(POINT('ICRS', 1, 2), BOX('ICRS', 1, 2, 3, 4))",
]
"""Typical queries parsed at start-up, so that the first users do not pay for the DFA."""


def warm_up() -> None:
    """Parse :data:`WARM_UP` once (the parser's prediction cache is process-wide)."""
    for text in WARM_UP:
        parse(text)


def parse(adql: str, limits: ParseLimits = DEFAULT_LIMITS) -> ParsedQuery:
    """Parse one ADQL SELECT statement (a trailing semicolon is allowed).

    Raises :class:`AdqlError` for syntax errors (with line and column), empty queries, more
    than one statement, and queries beyond ``limits`` (length, nesting, parse time).
    """
    text = adql.strip()
    if not text:
        raise AdqlError("QUERY is empty")
    prescan(text, limits)
    text = text.rstrip(";").rstrip()
    try:
        return _parse_text(text)
    except RecursionError:
        # A backstop: the pre-scan keeps nesting far below Python's recursion limit.
        raise AdqlError("QUERY is nested too deeply to parse") from None


def _parse_text(text: str) -> ParsedQuery:
    # Two-stage parsing, as ANTLR recommends: the fast SLL prediction mode (a few ms once its
    # DFA is warm) bails out on the first problem, and only then does the full LL mode run,
    # which is ~50x slower in the pure-Python runtime but exact, and reports the errors.
    try:
        parser, tree, errors = _parse_with(text, PredictionMode.SLL, bail=True)
    except ParseCancellationException:
        parser, tree, errors = _parse_with(text, PredictionMode.LL, bail=False)
    if errors.errors:
        # A table named with ADQL reserved words (FROM schema.table) is no syntax error to the
        # user but a table the archive lacks: say so, as ESA's own archive does.
        reserved = _reserved_table_name(text)
        if reserved is not None:
            name, word = reserved
            raise AdqlError(
                f"Unknown table '{name}' ('{word}' is an ADQL reserved word; "
                f'write it "{word}" if it really is a name)'
            )
        line, column, near = errors.errors[0]
        lines = text.splitlines()
        if near == ";" and (line, column) >= (len(lines), len(lines[-1])):
            raise AdqlError(f"syntax error: unexpected end of query (line {line})")
        if near == ";":
            raise AdqlError(
                f"only one SELECT statement is allowed (';' at line {line}, column {column + 1})"
            )
        raise AdqlError(f"syntax error at line {line}, column {column + 1}, near '{near}'")
    if parser.getCurrentToken().type != antlr4.Token.EOF:
        # The grammar stops at the first ';' and would silently drop what follows.
        raise AdqlError("only one SELECT statement is allowed")
    parsed = _collect(text, tree)
    parsed.tree, parsed.parser = tree, parser
    return parsed


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_CLAUSE_END = frozenset(
    {
        ADQLLexer.WHERE,
        ADQLLexer.GROUP,
        ADQLLexer.HAVING,
        ADQLLexer.ORDER,
        ADQLLexer.ON,
        ADQLLexer.USING,
        ADQLLexer.UNION,
        ADQLLexer.EXCEPT,
        ADQLLexer.INTERSECT,
        ADQLLexer.OFFSET,
    }
)


def _reserved_table_name(text: str) -> tuple[str, str] | None:
    """The first table name after FROM/JOIN (or a comma of a FROM list) that contains an
    ADQL reserved word, with that word; None when there is none.

    Read from the lexer's tokens (so that strings and comments are skipped), only once the
    grammar has refused the query.
    """
    tokens = [
        t
        for t in ADQLLexer(antlr4.InputStream(text)).getAllTokens()
        if t.channel == antlr4.Token.DEFAULT_CHANNEL
    ]
    depth = 0
    from_depth: int | None = None  # paren depth of the FROM list being read, if any
    expect_table = False
    i = 0
    while i < len(tokens):
        kind = tokens[i].type
        if expect_table:
            expect_table = False
            parts: list[str] = []
            reserved: str | None = None
            while i < len(tokens) and (
                tokens[i].type in (ADQLLexer.ID, ADQLLexer.DELIMITED_ID)
                or _NAME.match(tokens[i].text)
            ):
                word = tokens[i].text
                parts.append(word)
                if reserved is None and tokens[i].type != ADQLLexer.ID and _NAME.match(word):
                    reserved = word
                if i + 1 < len(tokens) and tokens[i + 1].type == ADQLLexer.DOT:
                    i += 2
                    continue
                i += 1
                break
            if parts and reserved is not None:
                return ".".join(parts), reserved
            continue
        if kind == ADQLLexer.LPAREN:
            depth += 1
        elif kind == ADQLLexer.RPAREN:
            depth -= 1
            if from_depth is not None and depth < from_depth:
                from_depth = None
        elif kind == ADQLLexer.FROM:
            from_depth, expect_table = depth, True
        elif kind == ADQLLexer.JOIN or (kind == ADQLLexer.COMMA and from_depth == depth):
            expect_table = True
        elif kind in _CLAUSE_END and from_depth == depth:
            from_depth = None
        i += 1
    return None


def _collect(text: str, tree: object) -> ParsedQuery:
    parsed = ParsedQuery(adql=text)
    for node in _walk(tree):
        if isinstance(node, ADQLParser.Table_referenceContext):
            _collect_table(node, parsed)
        elif isinstance(node, ADQLParser.With_queryContext):
            name = _ident(node.getChild(0).getText())
            parsed.ctes.add(name)
            parsed.derived.add(name)
        elif isinstance(node, ADQLParser.Column_referenceContext):
            parts = [c for c in node.getChildren() if isinstance(c, ADQLParser.Column_nameContext)]
            qualifier = next(
                (c for c in node.getChildren() if isinstance(c, ADQLParser.QualifierContext)),
                None,
            )
            if parts:
                qual = ".".join(_split_name(qualifier.getText())) if qualifier else None
                parsed.columns.append(ColumnRef(qual, _ident(parts[-1].getText())))
        elif isinstance(node, ADQLParser.Derived_columnContext):
            _collect_alias(node, parsed)
        elif isinstance(node, ADQLParser.User_defined_functionContext):
            name_node = next(
                c
                for c in node.getChildren()
                if isinstance(c, ADQLParser.User_defined_function_nameContext)
            )
            parsed.functions.append(name_node.getText())
    return parsed


def _collect_table(node: object, parsed: ParsedQuery) -> None:
    children = list(node.getChildren())  # type: ignore[attr-defined]
    correlation = next(
        (c for c in children if isinstance(c, ADQLParser.Correlation_specificationContext)), None
    )
    alias = None
    if correlation is not None:
        name = next(
            c for c in _walk(correlation) if isinstance(c, ADQLParser.Correlation_nameContext)
        )
        alias = _ident(name.getText())
    table = next((c for c in children if isinstance(c, ADQLParser.Table_nameContext)), None)
    if table is not None:
        parts = _split_name(table.getText())
        parsed.table_refs.append(tuple(parts))
        qualified = ".".join(parts)
        parsed.tables[alias or qualified] = qualified
        # Columns may also be qualified with the bare table name (sources.ra).
        parsed.tables.setdefault(qualified.rsplit(".", 1)[-1], qualified)
    elif alias is not None:
        parsed.derived.add(alias)


def _collect_alias(node: object, parsed: ParsedQuery) -> None:
    children = list(node.getChildren())  # type: ignore[attr-defined]
    as_clause = next((c for c in children if isinstance(c, ADQLParser.As_clauseContext)), None)
    if as_clause is None:
        return
    name = next(c for c in _walk(as_clause) if isinstance(c, ADQLParser.Column_nameContext))
    refs = [c for c in _walk(children[0]) if isinstance(c, ADQLParser.Column_referenceContext)]
    direct = len(refs) == 1 and refs[0].getText() == children[0].getText()
    target = None
    if direct:
        parts = _split_name(refs[0].getText())
        target = ColumnRef(".".join(parts[:-1]) or None, parts[-1])
    parsed.aliases[_ident(name.getText())] = target


Catalog = Mapping[str, Mapping[str, object]]
"""Qualified table name (lower case) → its columns by name (whatever metadata the caller keeps)."""


def check(parsed: ParsedQuery, catalog: Catalog) -> None:
    """Refuse unknown tables, unknown columns and functions outside the allowed set."""
    for name in parsed.functions:
        if name.lower() not in ALLOWED_USER_FUNCTIONS:
            raise AdqlError(f"Unknown function '{name}': only ADQL functions are supported")
    for parts in dict.fromkeys(parsed.table_refs):
        if len(parts) == 1 and parts[0] in parsed.ctes:
            continue  # a WITH query (its own tables are checked as table references)
        qualified = ".".join(parts)
        # A quoted name holding a dot ("pg_catalog.pg_settings") is one identifier: it names
        # no published table, whatever its text looks like joined up.
        if qualified not in catalog or any("." in p for p in parts):
            hint = "" if "." in qualified else " (qualify it with its schema, e.g. isla.sources)"
            if qualified.startswith(f"{UPLOAD_SCHEMA}."):
                hint = " (no table of that name was uploaded)"
            raise AdqlError(f"Unknown table '{qualified}'{hint}")
    real = {a: t for a, t in parsed.tables.items() if t in catalog}
    for ref in parsed.columns:
        _check_column(ref, parsed, real, catalog)


def _check_column(
    ref: ColumnRef, parsed: ParsedQuery, real: Mapping[str, str], catalog: Catalog
) -> None:
    if ref.qualifier is not None:
        qual = ref.qualifier
        if qual in parsed.derived:
            return
        table = real.get(qual) or (qual if qual in catalog else None)
        if table is None:
            raise AdqlError(
                f"Unknown table or alias '{qual}' in column reference '{qual}.{ref.name}'"
            )
        if ref.name not in catalog[table]:
            raise AdqlError(f"Unknown column '{ref.name}' in table '{table}'")
        return
    if ref.name in parsed.aliases or parsed.derived:
        return
    if any(ref.name in catalog[t] for t in set(real.values())):
        return
    tables = ", ".join(sorted(set(real.values()))) or "no table"
    raise AdqlError(f"Unknown column '{ref.name}' (not in {tables})")


def translate(parsed: ParsedQuery) -> str:
    """PostgreSQL + pgSphere SQL for a parsed and checked query (no trailing semicolon).

    Reuses our parse tree: ``ADQLQueryTranslator.to_postgresql`` would parse the text twice
    more, which costs about 100 ms for a cone search in the pure-Python ANTLR runtime. The
    steps are those of ``to_postgresql``; ``tests/unit/test_adql.py`` checks both agree.
    """
    try:
        if parsed.tree is None:
            sql = ADQLQueryTranslator(parsed.adql).to_postgresql()
        else:
            sql = _translate_tree(parsed)
    except AdqlError:
        raise
    except QuerySyntaxError as exc:  # the grammar already accepted it; kept for safety
        raise AdqlError(f"syntax error: {exc.syntax_errors}") from None
    except QueryError as exc:
        raise AdqlError(f"cannot translate the query: {exc.messages}") from None
    except Exception:  # translator bugs on odd input are the query's problem, not a 500
        log.warning("queryparser failed to translate a checked query", exc_info=True)
        raise AdqlError("this query cannot be translated (unsupported ADQL construct)") from None
    finally:
        parsed.tree = parsed.parser = None  # the visitors have edited it: never reuse
    return str(sql).rstrip().rstrip(";")


def _translate_tree(parsed: ParsedQuery) -> str:
    translator = ADQLQueryTranslator()
    translator.tree = parsed.tree
    translator.parser = parsed.parser
    translator.walker = antlr4.ParseTreeWalker()
    geometry = ADQLGeometryTranslationVisitor(output_sql="postgresql")
    geometry.visit(parsed.tree)
    functions = ADQLFunctionsTranslationVisitor(geometry.contexts, output_sql="postgresql")
    functions.visit(parsed.tree)
    return str(translator.translate(functions))


UPLOAD_SCHEMA = "tap_upload"
"""ADQL schema of uploaded tables; in SQL they are the transaction's temporary tables."""

_SQL_TOKEN = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|[A-Za-z_][A-Za-z0-9_$]*|\s+|.", re.S)


def qualify_uploads(sql: str) -> str:
    """``TAP_UPLOAD.t`` → ``pg_temp.t`` in translated SQL (string literals left alone).

    Temporary tables live in the session's own ``pg_temp`` schema, which no other name
    reaches, so the schema is renamed in the SQL rather than in the database.
    """
    tokens = _SQL_TOKEN.findall(sql)
    out = []
    for i, piece in enumerate(tokens):
        name = piece[1:-1] if piece.startswith('"') else piece
        following = next((t for t in tokens[i + 1 :] if not t.isspace()), "")
        if name.lower() == UPLOAD_SCHEMA and piece[0] != "'" and following == ".":
            out.append("pg_temp")
        else:
            out.append(piece)
    return "".join(out)


_CACHE: OrderedDict[str, tuple[ParsedQuery, str]] = OrderedDict()
CACHE_SIZE = 512
"""Translated queries kept (clients repeat theirs: astroquery sends the same one per call)."""


_CACHE_LOCK = threading.Lock()
"""Guards the caches: queries are compiled in worker threads."""


def compile_adql(
    adql: str, catalog: Catalog, limits: ParseLimits = DEFAULT_LIMITS
) -> tuple[ParsedQuery, str]:
    """The whole pipeline before execution: parse, check, translate.

    Translations are cached by query text, and by the query's *form* (its text with the
    numeric literals taken out, see :func:`_template`): parsing takes milliseconds, and cone
    searches repeat one form with new numbers. The check runs on every call, against the
    current catalog.

    CPU-bound: callers on an event loop run it in a worker thread
    (:func:`services.tap.pipeline.compile_query`). Queries beyond ``limits`` are refused with
    an :class:`AdqlError` naming the limit, the text before the parser sees it, the parse and
    translation once they have run for ``limits.parse_seconds``.
    """
    key = adql.strip()
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
        if cached is not None:
            _CACHE.move_to_end(key)
    if cached is not None:
        check(cached[0], catalog)
        return cached
    if not key:
        raise AdqlError("QUERY is empty")
    prescan(key, limits)
    _CLOCK.clock = _Clock(limits.parse_seconds)
    try:
        form = _template(key)
        if form is not None:
            result = _from_form(form, catalog, limits)
            if result is not None:
                _remember(_CACHE, key, result)
                return result
        parsed = parse(adql, limits)
        check(parsed, catalog)
        result = (parsed, _translate_checked(parsed))
    finally:
        _CLOCK.clock = None
    _remember(_CACHE, key, result)
    return result


POSITION_TABLES = frozenset(
    {"isla.sources", "isla.catalogue_entries", "isla.observations", "isla.science_windows"}
)
"""Tables whose ``pos`` column is ``spoint(radians(ra), radians(dec))`` (every loader writes it
so), with a GiST index on ``pos``."""

_RADEC_POINT = re.compile(r"spoint\(RADIANS\(((?:\w+\.)*)ra\), RADIANS\(\1dec\)\)")


def _indexed_positions(sql: str, parsed: ParsedQuery) -> str:
    """``POINT('ICRS', ra, dec)`` of the position tables as their indexed ``pos`` column.

    Postgres uses an index only for the expression it was built on: the translated point is
    computed per row, ``pos`` has the GiST index. Only simple queries (one SELECT, no derived
    tables) are rewritten, where ``ra``/``dec`` certainly are the table's own columns.
    """
    if parsed.derived or sql.upper().count("SELECT") != 1:
        return sql
    tables = set(parsed.tables.values())

    def swap(match: re.Match[str]) -> str:
        qualifier = match.group(1)[:-1]
        if qualifier:
            table = parsed.tables.get(qualifier.lower(), qualifier.lower())
            ok = table in POSITION_TABLES
        else:
            ok = len(tables) == 1 and tables <= POSITION_TABLES
        return f"{match.group(1)}pos" if ok else match.group(0)

    return _RADEC_POINT.sub(swap, sql)


PROJECTIONS: dict[str, tuple[str, frozenset[str]]] = {
    "ila.epoch": ("isla_ops.epoch_list", frozenset({"epoch", "instrument_oid", "band_oid"})),
}
"""Published views with a maintained relation that holds exactly the distinct values of some
of their columns (migration 0042): ``ila.epoch`` joins pointings with the sources in their
fields, ``isla_ops.epoch_list`` is its distinct ``(epoch, instrument_oid, band_oid)``."""

_DISTINCT_COLUMNS = re.compile(
    r"\s*select\s+distinct\s+(?:top\s+\d+\s+)?[\w\s.,\"]+?\s+from\s", re.IGNORECASE
)
_GROUPING = re.compile(r"\b(group\s+by|having)\b", re.IGNORECASE)


def _distinct_projection(sql: str, parsed: ParsedQuery) -> str:
    """A ``SELECT DISTINCT`` of a view's projected columns read from its maintained projection.

    Exact whatever the conditions: a query that names only columns of the projection, selects
    plain columns (no ``*``, no expressions or aggregates) and keeps distinct rows gives the
    same rows from the view and from its distinct projection. astroquery's
    ``get_epochs(instrument=...)`` is such a query; through the view it would join every
    pointing of the mission with every source in its field before deduplicating.
    """
    tables = set(parsed.tables.values())
    if parsed.derived or len(parsed.table_refs) != 1 or len(tables) != 1:
        return sql
    (table,) = tables
    if table not in PROJECTIONS or sql.upper().count("SELECT") != 1:
        return sql
    target, columns = PROJECTIONS[table]
    if not {c.name for c in parsed.columns} <= columns:
        return sql
    if not _DISTINCT_COLUMNS.match(sql) or _GROUPING.search(sql):
        return sql
    return _rename_relations(sql, {table: target})


def published_relations(sql: str) -> str:
    """Published tables read through the view of their published columns, in translated SQL.

    :data:`shared.vo.tap_schema.PUBLISHED_RELATIONS` maps such a table to its view, so that
    ``SELECT *`` returns what TAP_SCHEMA lists (string literals and other names left alone).
    """
    return _rename_relations(sql, PUBLISHED_RELATIONS)


def _rename_relations(sql: str, relations: dict[str, str]) -> str:
    """``schema.table`` names in translated SQL replaced by ``relations[name]`` (lower-case
    keys; quoted names unquoted first; string literals left alone)."""
    tokens = _SQL_TOKEN.findall(sql)
    out: list[str] = []
    i = 0
    while i < len(tokens):
        if i + 2 < len(tokens) and tokens[i + 1] == "." and tokens[i][0] != "'":
            schema, table = (
                t[1:-1] if t.startswith('"') else t for t in (tokens[i], tokens[i + 2])
            )
            relation = relations.get(f"{schema.lower()}.{table.lower()}")
            if relation is not None:
                out.append(relation)
                i += 3
                continue
        out.append(tokens[i])
        i += 1
    return "".join(out)


def _translate_checked(parsed: ParsedQuery) -> str:
    sql = _indexed_positions(translate(parsed), parsed)
    sql = _distinct_projection(sql, parsed)
    if any(t in PUBLISHED_RELATIONS for t in parsed.tables.values()):
        sql = published_relations(sql)
    if any(t.startswith(f"{UPLOAD_SCHEMA}.") for t in parsed.tables.values()):
        sql = qualify_uploads(sql)
    return sql


def _remember(cache: OrderedDict[str, Any], key: str, value: Any) -> None:
    with _CACHE_LOCK:
        cache[key] = value
        if len(cache) > CACHE_SIZE:
            cache.popitem(last=False)


# String literals and quoted identifiers (kept as they are), or an unsigned numeric literal
# that is not part of a name (c1, t2.x) or of a longer number.
_LITERAL = re.compile(
    r"""('(?:[^']|'')*'|"(?:[^"]|"")*")"""
    r"|(?<![\w.])(\d+\.\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|\d+(?:[eE][+-]?\d+)?)"
    r"(?![\w.])"
)
_SENTINEL = 271828182800
"""First placeholder number; the i-th literal of a query becomes _SENTINEL + i (floats: +.5)."""
_KEEP = frozenset({"0", "1"})
"""Literals that stay in the form: ``1 = CONTAINS(...)`` is syntax to the translator."""
_FORMS: OrderedDict[str, tuple[ParsedQuery, str, int] | None] = OrderedDict()


@dataclass(frozen=True)
class _Form:
    text: str
    literals: list[str]
    sentinels: list[str]


def _template(adql: str) -> _Form | None:
    """``adql`` with its numeric literals replaced by placeholder numbers (None: none)."""
    literals: list[str] = []
    sentinels: list[str] = []

    def swap(match: re.Match[str]) -> str:
        number = match.group(2)
        if number is None or number in _KEEP:
            return match.group(0)
        sentinel = str(_SENTINEL + len(literals))
        if not number.isdigit():
            sentinel += ".5"
        literals.append(number)
        sentinels.append(sentinel)
        return sentinel

    text = _LITERAL.sub(swap, adql)
    return _Form(text, literals, sentinels) if literals else None


def _from_form(
    form: _Form, catalog: Catalog, limits: ParseLimits = DEFAULT_LIMITS
) -> tuple[ParsedQuery, str] | None:
    """The query compiled through its form's cached translation (None: compile it whole)."""
    with _CACHE_LOCK:
        entry = _FORMS.get(form.text, ...)
        if entry is not ...:
            _FORMS.move_to_end(form.text)
    if entry is ...:
        entry = None
        try:
            parsed = parse(form.text, limits)
            sql = _translate_checked(parsed)
        except ParseTimeoutError:
            raise
        except AdqlError:
            parsed = None
        # Usable only if every placeholder comes out once and as written: a translation
        # that evaluates or repeats a literal is not a template.
        if parsed is not None and all(
            len(re.findall(_placeholder(s), sql)) == 1 for s in form.sentinels
        ):
            entry = (parsed, sql, len(form.sentinels))
        _remember(_FORMS, form.text, entry)
    if entry is None:
        return None
    parsed, sql, _count = entry
    check(parsed, catalog)
    for sentinel, literal in zip(form.sentinels, form.literals, strict=True):
        sql = re.sub(_placeholder(sentinel), _put(literal), sql, count=1)
    return parsed, sql


def _put(literal: str) -> Callable[[re.Match[str]], str]:
    # An integer the translator wrote as a float (geometry arguments) keeps that form.
    return lambda match: literal + (match.group(1) or "")


def _placeholder(sentinel: str) -> str:
    suffix = r"(\.0)?" if "." not in sentinel else "()"
    return rf"(?<![\w.]){re.escape(sentinel)}{suffix}(?![\w.])"
