"""Writing TAP_SCHEMA rows that a migration carries as literal data.

The migrations freeze the rows they write, as they wrote them, so that an old revision keeps its
meaning whatever today's metadata (``shared.vo.tap_schema``) says; this module is only the
mechanism that writes such rows (no metadata), shared by those revisions.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text

TAP_SCHEMA_COLUMNS: dict[str, tuple[str, ...]] = {
    "schemas": ("schema_name", "utype", "description", "schema_index"),
    "tables": ("schema_name", "table_name", "table_type", "utype", "description", "table_index"),
    "columns": (
        "table_name",
        "column_name",
        "datatype",
        "arraysize",
        '"size"',
        "xtype",
        "utype",
        "unit",
        "ucd",
        "description",
        "indexed",
        "principal",
        "std",
        "column_index",
    ),
    "keys": ("key_id", "from_table", "target_table", "utype", "description"),
    "key_columns": ("key_id", "from_column", "target_column"),
}
TAP_SCHEMA_KEY: dict[str, tuple[str, ...]] = {
    "schemas": ("schema_name",),
    "tables": ("table_name",),
    "columns": ("table_name", "column_name"),
    "keys": ("key_id",),
    "key_columns": ("key_id", "from_column", "target_column"),
}
"""The columns that identify a row of each TAP_SCHEMA table (its primary key, if any)."""


def change_tap_schema(
    conn: Connection,
    rows: dict[str, list[tuple[Any, ...]]],
    gone: dict[str, list[tuple[Any, ...]]],
) -> None:
    """Delete the ``gone`` rows (given by key), then insert or update ``rows`` (in the column
    order of :data:`TAP_SCHEMA_COLUMNS`)."""
    for table in ("key_columns", "keys", "columns", "tables", "schemas"):
        where = " AND ".join(f"{n} = :k{i}" for i, n in enumerate(TAP_SCHEMA_KEY[table]))
        for key in gone.get(table, ()):
            conn.execute(
                text(f"DELETE FROM tap_schema.{table} WHERE {where}"),  # noqa: S608 - fixed names
                {f"k{i}": v for i, v in enumerate(key)},
            )
    for table in ("schemas", "tables", "columns", "keys", "key_columns"):
        names = TAP_SCHEMA_COLUMNS[table]
        key = TAP_SCHEMA_KEY[table]
        values = ", ".join(f":v{i}" for i in range(len(names)))
        sql = f"INSERT INTO tap_schema.{table} ({', '.join(names)}) VALUES ({values})"  # noqa: S608 - fixed names
        if len(key) < len(names):  # key_columns has no key: its rows are never updated
            update = ", ".join(f"{n} = excluded.{n}" for n in names if n not in key)
            sql += f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET {update}"
        if rows.get(table):
            conn.execute(
                text(sql), [{f"v{i}": v for i, v in enumerate(row)} for row in rows[table]]
            )


def apply_changes(
    conn: Connection, changes: dict[str, dict[str, Any]], removed: str, added: str
) -> None:
    """Turn the ``removed`` rows of a revision's frozen ``changes`` into its ``added`` ones
    (``upgrade``: ``"removed", "added"``; ``downgrade``: the other way round).

    ``changes`` maps a TAP_SCHEMA table to its rows on each side, optionally with the order of
    their values (``"columns"``; default :data:`TAP_SCHEMA_COLUMNS`). Rows whose key stays are
    updated in place (deleting a table's row would cascade to its columns); the others are
    deleted.
    """

    def as_written(side: str) -> dict[str, list[tuple[Any, ...]]]:
        out: dict[str, list[tuple[Any, ...]]] = {}
        for table, change in changes.items():
            names = [n.strip('"') for n in change.get("columns", TAP_SCHEMA_COLUMNS[table])]
            order = [names.index(n.strip('"')) for n in TAP_SCHEMA_COLUMNS[table]]
            out[table] = [tuple(row[k] for k in order) for row in change[side]]
        return out

    rows = as_written(added)
    gone: dict[str, list[tuple[Any, ...]]] = {}
    for table, old in as_written(removed).items():
        names = [n.strip('"') for n in TAP_SCHEMA_COLUMNS[table]]
        key = [names.index(n) for n in TAP_SCHEMA_KEY[table]]
        kept = {tuple(r[k] for k in key) for r in rows.get(table, [])}
        gone[table] = [k for k in (tuple(r[k] for k in key) for r in old) if k not in kept]
    change_tap_schema(conn, rows, gone)
