"""TAP_SCHEMA: what the TAP service publishes, generated from the schema metadata.

The published tables are the archive's own tables (``isla``, described by the models' ``info``),
the ISLA compatibility views (``ila``, described here), the ObsCore 1.1 view ``ivoa.obscore``
(described in :mod:`shared.vo.obscore`) and TAP_SCHEMA itself; the description classes live in
:mod:`shared.vo.docs`. Types, column order and indexes are read from the database catalog, so
TAP_SCHEMA always matches what a query really returns; descriptions, units, UCDs and utypes
come from the metadata.

:func:`refresh` writes the TAP_SCHEMA rows this metadata gives. Migrations never call it: each
one that changes a published table or view carries the rows it writes as literal data (what
:func:`refresh` gives at that revision, frozen), so that an old migration keeps its meaning;
``tests/integration/test_schema.py`` checks that the frozen rows at the head revision still
equal what :func:`refresh` gives. Tables that a later migration creates (``ivoa.obscore``,
migration 0003) are marked ``required=False`` and published only once they exist.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text
from vo_models.vodataservice.models import ADQL_SQL_KEYWORDS

from shared.db.models import DECLARED_KEYS, Base
from shared.vo.docs import ColumnDoc, TableDoc
from shared.vo.obscore import OBSCORE_TABLE
from shared.vo.types import vo_type

SCHEMAS: dict[str, str] = {
    "isla": "The INTEGRAL Science Legacy Archive: science windows, observations, sources, "
    "catalogues and products.",
    "ila": "ISLA compatibility views: the tables ESA's ISLA TAP service and astroquery's "
    "astroquery.esa.integral client query.",
    "ivoa": "IVOA standard data models: the ObsCore 1.1 table of observations (ivoa.obscore).",
    "TAP_SCHEMA": "Metadata of the tables and columns this service publishes (TAP 1.1).",
}
"""Published schemas and their descriptions, in display order."""

DB_SCHEMA = {"isla": "isla", "ila": "ila", "ivoa": "ivoa", "TAP_SCHEMA": "tap_schema"}
"""Postgres schema of each published schema (ADQL folds the unquoted TAP_SCHEMA to it)."""


def _c(description: str, unit: str | None = None, ucd: str | None = None, **kw: Any) -> ColumnDoc:
    return ColumnDoc(description, unit, ucd, **kw)


_RA = _c("Right ascension (ICRS).", "deg", "pos.eq.ra;meta.main", principal=True)
_DEC = _c("Declination (ICRS).", "deg", "pos.eq.dec;meta.main", principal=True)
_INSTRUMENT_OID = _c("ISLA instrument identifier.", None, "meta.id;instr", principal=True)
_BAND_OID = _c("ISLA band identifier.", None, "meta.id", principal=True)

ILA_VIEWS: list[TableDoc] = [
    TableDoc(
        "ila",
        "instrument",
        "Instruments as ESA's ISLA names them, with their numeric identifiers.",
        "view",
        columns={
            "instrument_oid": _INSTRUMENT_OID,
            "name": _c("ISLA instrument name (ibis, jem-x, ...).", None, "meta.id", principal=True),
            "archive_name": _c(
                "Instrument name in the isla schema (ISGRI, JEM-X, ...).", None, "meta.id;instr"
            ),
            "telescope": _c("Telescope the instrument belongs to.", None, "instr.tel"),
            "description": _c("What the instrument measures.", None, "meta.note"),
            "e_min": _c("Lower end of the energy range.", "keV", "em.energy;stat.min"),
            "e_max": _c("Upper end of the energy range.", "keV", "em.energy;stat.max"),
        },
    ),
    TableDoc(
        "ila",
        "band",
        "The ISLA default energy band of each instrument (one per instrument).",
        "view",
        columns={
            "band_oid": _BAND_OID,
            "name": _c(
                "Band name as used in ISLA requests (e.g. 28_40).", None, "meta.id", principal=True
            ),
            "instrument_oid": _INSTRUMENT_OID,
            "e_min": _c("Lower band edge.", "keV", "em.energy;stat.min", principal=True),
            "e_max": _c("Upper band edge.", "keV", "em.energy;stat.max", principal=True),
        },
    ),
    TableDoc(
        "ila",
        "cons_pub_obs",
        "Public consolidated observations, with the columns ISLA clients query.",
        "view",
        columns={
            "obsid": _c("Observation identifier (11 digits).", None, "meta.id;obs", principal=True),
            "proposal_id": _c("Proposal identifier.", None, "meta.id;meta.dataset"),
            "pi_name": _c("Principal investigator.", None, "meta.id.PI"),
            "target_name": _c("Target as proposed.", None, "meta.id;src", principal=True),
            "ra": _RA,
            "dec": _DEC,
            "starttime": _c("Start of the observation (UTC).", None, "time.start", principal=True),
            "endtime": _c("End of the observation (UTC).", None, "time.end", principal=True),
            "start_revno": _c("First revolution, four digits.", None, "meta.id;obs.sequence"),
            "end_revno": _c("Last revolution, four digits.", None, "meta.id;obs.sequence"),
            "pattern": _c("Dither pattern.", None, "instr.setup"),
            "exposure": _c("Total pointing time.", "s", "time.duration;obs.exposure"),
        },
    ),
    TableDoc(
        "ila",
        "v_cat_source",
        "The source catalogue as ISLA clients query it (name search and cone search).",
        "view",
        columns={
            "source_id": _c(
                "ISLA source identifier JHHMMSS.s+DDMMSS.",
                None,
                "meta.id;meta.main",
                principal=True,
            ),
            "name": _c("Preferred source name.", None, "meta.id", principal=True),
            "ra": _RA,
            "dec": _DEC,
            "pos_err": _c("Position error radius (90%).", "arcmin", "stat.error;pos"),
            "source_class": _c(
                "Source class; 'unclassified' when unknown.", None, "src.class", principal=True
            ),
        },
    ),
    TableDoc(
        "ila",
        "epoch",
        "Epochs (RRRR_OOOOOOOOOOO: revolution and observation) in which a source was in the "
        "field of view of an instrument, from products and from the observations' pointings.",
        "view",
        columns={
            "epoch": _c("ISLA epoch RRRR_OOOOOOOOOOO.", None, "meta.id;obs", principal=True),
            "source_id": _c("Source identifier.", None, "meta.id;src", principal=True),
            "instrument_oid": _INSTRUMENT_OID,
            "band_oid": _BAND_OID,
        },
    ),
]
"""The ``ila`` views (their SQL is in migration 0002)."""

_S = {"std": True, "principal": True}
TAP_SCHEMA_TABLES: list[TableDoc] = [
    TableDoc(
        "TAP_SCHEMA",
        "schemas",
        "Schemas published by this service.",
        columns={
            "schema_name": _c("Schema name.", None, "meta.id", **_S),
            "utype": _c("Schema utype.", None, None, **_S),
            "description": _c("Schema description.", None, "meta.note", **_S),
            "schema_index": _c("Recommended display order.", None, None, std=True),
        },
    ),
    TableDoc(
        "TAP_SCHEMA",
        "tables",
        "Tables published by this service.",
        columns={
            "schema_name": _c("Schema of the table.", None, "meta.id", **_S),
            "table_name": _c("Fully qualified table name.", None, "meta.id", **_S),
            "table_type": _c("table or view.", None, None, **_S),
            "utype": _c("Table utype.", None, None, **_S),
            "description": _c("Table description.", None, "meta.note", **_S),
            "table_index": _c("Recommended display order.", None, None, std=True),
        },
    ),
    TableDoc(
        "TAP_SCHEMA",
        "columns",
        "Columns of the published tables.",
        columns={
            "table_name": _c("Table of the column.", None, "meta.id", **_S),
            "column_name": _c("Column name.", None, "meta.id", **_S),
            "datatype": _c("VOTable datatype.", None, None, **_S),
            "arraysize": _c("VOTable arraysize.", None, None, **_S),
            "xtype": _c("VOTable/DALI xtype.", None, None, **_S),
            "size": _c("Deprecated length (use arraysize).", None, None, std=True),
            "utype": _c("Column utype.", None, None, **_S),
            "unit": _c("VO unit.", None, None, **_S),
            "ucd": _c("UCD.", None, None, **_S),
            "description": _c("Column description.", None, "meta.note", **_S),
            "indexed": _c("1 if the column is indexed.", None, None, **_S),
            "principal": _c("1 if the column is principal.", None, None, **_S),
            "std": _c("1 if defined by a standard.", None, None, **_S),
            "column_index": _c("Recommended display order.", None, None, std=True),
        },
    ),
    TableDoc(
        "TAP_SCHEMA",
        "keys",
        "Foreign keys between published tables.",
        columns={
            "key_id": _c("Key identifier.", None, "meta.id", **_S),
            "from_table": _c("Table holding the key.", None, None, **_S),
            "target_table": _c("Table the key refers to.", None, None, **_S),
            "utype": _c("Key utype.", None, None, **_S),
            "description": _c("Key description.", None, "meta.note", **_S),
        },
    ),
    TableDoc(
        "TAP_SCHEMA",
        "key_columns",
        "Columns of the foreign keys.",
        columns={
            "key_id": _c("Key identifier.", None, "meta.id", **_S),
            "from_column": _c("Column in from_table.", None, None, **_S),
            "target_column": _c("Column in target_table.", None, None, **_S),
        },
    ),
]
"""TAP_SCHEMA's own tables, as TAP 1.1 defines them."""


PUBLISHED_RELATIONS: dict[str, str] = {"isla.catalogue_entries": "isla_pub.catalogue_entries"}
"""Published tables that queries read through a view of their published columns.

``isla.catalogue_entries`` keeps the delivered values (JSON) beside the entries, where the
loaders write them, but publishes them as :data:`CATALOGUE_VALUES` instead: ``SELECT *`` on
the big catalogue then reads no JSON. The view (migration 0043) has exactly the table's
published columns; the ADQL translator reads it in place of the table
(:func:`services.tap.adql.published_relations`).
"""

CATALOGUE_VALUES = TableDoc(
    "isla",
    "catalogue_entry_values",
    "The delivered values of each catalogue entry that have no column of their own in "
    "isla.catalogue_entries (fluxes, flags, identifiers), as JSON; join on entry_id.",
    "view",
    columns={
        "entry_id": _c("Entry identifier (isla.catalogue_entries.entry_id).", None, "meta.id"),
        "catalogue_id": _c("Catalogue version of the entry.", None, "meta.id", principal=True),
        "values": _c(
            "Remaining columns of the delivered row (fluxes, flags), as JSON.",
            None,
            "meta.note",
            principal=True,
        ),
    },
    required=False,
)
"""The delivered values of catalogue entries, published apart from the entries (0043)."""


def model_tables() -> list[TableDoc]:
    """The archive's tables (schema ``isla``), documented from the models' ``info``, and the
    views published beside them (:data:`CATALOGUE_VALUES`)."""
    docs = [CATALOGUE_VALUES]
    for table in Base.metadata.sorted_tables:
        info = table.info or {}
        columns = {
            c.name: ColumnDoc(
                description=c.info.get("description") or c.comment or "",
                unit=c.info.get("unit"),
                ucd=c.info.get("ucd"),
                utype=c.info.get("utype"),
                principal=bool(c.info.get("principal")),
            )
            for c in table.columns
            if c.info.get("published", True)
        }
        docs.append(
            TableDoc(
                "isla",
                table.name,
                info.get("description") or table.comment or "",
                utype=info.get("utype"),
                columns=columns,
                # Tables of later migrations say so, for the refreshes of earlier ones.
                required=bool(info.get("required", True)),
                hidden=frozenset(
                    c.name for c in table.columns if not c.info.get("published", True)
                ),
            )
        )
    return sorted(docs, key=lambda d: d.name)


def published_tables() -> list[TableDoc]:
    """Every table that may be published, in display order."""
    return [*model_tables(), *ILA_VIEWS, OBSCORE_TABLE, *TAP_SCHEMA_TABLES]


_RESERVED = frozenset(ADQL_SQL_KEYWORDS)


def adql_name(column: str) -> str:
    """A column name as ADQL must write it: delimited when it is a reserved word ("size").

    TAP_SCHEMA and /tables carry this form, so that clients that build queries from the
    metadata (TOPCAT, taplint) quote it.
    """
    return f'"{column}"' if column.upper() in _RESERVED else column


TAP_SCHEMA_KEYS = [
    (
        "tap_schema_tables_schemas",
        "TAP_SCHEMA.tables",
        "TAP_SCHEMA.schemas",
        [("schema_name", "schema_name")],
    ),
    (
        "tap_schema_columns_tables",
        "TAP_SCHEMA.columns",
        "TAP_SCHEMA.tables",
        [("table_name", "table_name")],
    ),
    (
        "tap_schema_keys_from",
        "TAP_SCHEMA.keys",
        "TAP_SCHEMA.tables",
        [("from_table", "table_name")],
    ),
    (
        "tap_schema_keys_target",
        "TAP_SCHEMA.keys",
        "TAP_SCHEMA.tables",
        [("target_table", "table_name")],
    ),
    (
        "tap_schema_key_columns_keys",
        "TAP_SCHEMA.key_columns",
        "TAP_SCHEMA.keys",
        [("key_id", "key_id")],
    ),
]
"""The foreign keys between TAP_SCHEMA's own tables (TAP 1.1 §4)."""

_CATALOG = text(
    """
    SELECT a.attname, t.typname, a.attnum,
           EXISTS (SELECT 1 FROM pg_index i
                   WHERE i.indrelid = a.attrelid AND i.indkey[0] = a.attnum) AS indexed
    FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_type t ON t.oid = a.atttypid
    WHERE n.nspname = :schema AND c.relname = :table AND a.attnum > 0 AND NOT a.attisdropped
    ORDER BY a.attnum
    """
)


def _fixed_size(arraysize: str | None) -> int | None:
    return int(arraysize) if arraysize is not None and arraysize.isdigit() else None


def refresh(conn: Connection) -> None:
    """Rewrite the TAP_SCHEMA rows from the metadata and the database catalog.

    Runs inside the caller's transaction (a migration's), so readers never see it half done.
    """
    for table in ("key_columns", "keys", "columns", "tables", "schemas"):
        conn.execute(text(f"DELETE FROM tap_schema.{table}"))  # noqa: S608 - fixed names
    present: list[tuple[TableDoc, list[Any]]] = []
    for doc in published_tables():
        rows = list(
            conn.execute(_CATALOG, {"schema": DB_SCHEMA[doc.schema], "table": doc.name}).all()
        )
        rows = [r for r in rows if r[0] not in doc.hidden]
        if rows:
            present.append((doc, rows))
        elif doc.required:
            raise RuntimeError(f"published table {doc.qualified} does not exist")
    # A schema is listed only when it has a published table (ivoa before migration 0003).
    with_tables = {doc.schema for doc, _ in present}
    schemas = [(n, d) for n, d in SCHEMAS.items() if n in with_tables]
    for index, (name, description) in enumerate(schemas):
        conn.execute(
            text(
                "INSERT INTO tap_schema.schemas (schema_name, description, schema_index) "
                "VALUES (:n, :d, :i)"
            ),
            {"n": name, "d": description, "i": index},
        )
    for t_index, (doc, rows) in enumerate(present):
        conn.execute(
            text(
                "INSERT INTO tap_schema.tables "
                "(schema_name, table_name, table_type, utype, description, table_index) "
                "VALUES (:s, :t, :tt, :u, :d, :i)"
            ),
            {
                "s": doc.schema,
                "t": doc.qualified,
                "tt": doc.table_type,
                "u": doc.utype,
                "d": doc.description,
                "i": t_index,
            },
        )
        for c_index, (name, typname, _attnum, indexed) in enumerate(rows):
            cdoc = doc.columns.get(name, ColumnDoc(""))
            vt = cdoc.vo or vo_type(typname)
            conn.execute(
                text(
                    "INSERT INTO tap_schema.columns (table_name, column_name, datatype, "
                    'arraysize, "size", xtype, utype, unit, ucd, description, indexed, '
                    "principal, std, column_index) VALUES (:t, :c, :dt, :a, :size, :x, :u, "
                    ":unit, :ucd, :d, :ix, :p, :std, :i)"
                ),
                {
                    "t": doc.qualified,
                    "c": adql_name(name),
                    "dt": vt.datatype,
                    "a": vt.arraysize,
                    # TAP 1.0's "size" repeats a fixed arraysize (taplint checks they agree).
                    "size": _fixed_size(vt.arraysize),
                    "x": vt.xtype,
                    "u": cdoc.utype,
                    "unit": cdoc.unit,
                    "ucd": cdoc.ucd,
                    "d": cdoc.description,
                    "ix": int(indexed),
                    "p": int(cdoc.principal),
                    "std": int(cdoc.std),
                    "i": c_index,
                },
            )
    _refresh_keys(conn)


def _insert_key(
    conn: Connection,
    key_id: str,
    from_table: str,
    target_table: str,
    description: str,
    columns: list[tuple[str, str]],
) -> None:
    conn.execute(
        text(
            "INSERT INTO tap_schema.keys (key_id, from_table, target_table, description) "
            "VALUES (:k, :f, :t, :d)"
        ),
        {"k": key_id, "f": from_table, "t": target_table, "d": description},
    )
    for from_column, target_column in columns:
        conn.execute(
            text(
                "INSERT INTO tap_schema.key_columns (key_id, from_column, target_column) "
                "VALUES (:k, :f, :t)"
            ),
            {"k": key_id, "f": adql_name(from_column), "t": adql_name(target_column)},
        )


def _refresh_keys(conn: Connection) -> None:
    for key_id, from_table, target_table, columns in TAP_SCHEMA_KEYS:
        _insert_key(
            conn,
            key_id,
            from_table,
            target_table,
            f"{from_table} refers to {target_table}.",
            columns,
        )
    for key_id, table_name, target_name, pairs in DECLARED_KEYS:
        _insert_key(
            conn,
            key_id,
            f"isla.{table_name}",
            f"isla.{target_name}",
            f"{table_name} refers to {target_name}.",
            list(pairs),
        )
    for table in Base.metadata.sorted_tables:
        for fk in table.foreign_key_constraints:
            target = fk.referred_table
            # Constraint names come from the naming convention only at DDL time; a key id
            # built from the parts is stable and readable.
            key_id = f"fk_{table.name}_{'_'.join(fk.column_keys)}_{target.name}"
            _insert_key(
                conn,
                key_id,
                f"isla.{table.name}",
                f"isla.{target.name}",
                f"{table.name} refers to {target.name}.",
                [(e.parent.name, e.column.name) for e in fk.elements],
            )
