"""Bulk loading of the demo's own tables: indexes and foreign keys built once, after the rows.

The generator fills an empty archive in one transaction. Maintaining every secondary index
row by row (pgSphere's GiST indexes above all) and checking every foreign key row by row made
the database, not the generator, the bottleneck of a full-scale load. Inside the transaction
:func:`indexes_after` drops the secondary indexes and the foreign keys of the tables it is
given, and re-creates them from their own definitions (read from the catalogue, so an index a
later migration adds is rebuilt too) when the rows are in: one index build per index and one
join per foreign key. Primary keys and unique constraints stay, so duplicates still fail the
load. If anything fails, the transaction rolls back and the archive keeps its indexes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import Connection, text

_INDEXES = text(
    "SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS definition "
    "FROM pg_index i WHERE i.indrelid = ANY(CAST(:tables AS regclass[])) "
    # Indexes behind a constraint (primary keys, unique constraints) stay.
    "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid) "
    "ORDER BY 1"
)
_FOREIGN_KEYS = text(
    "SELECT c.conrelid::regclass::text AS tbl, c.conname AS name, "
    "pg_get_constraintdef(c.oid) AS definition FROM pg_constraint c "
    "WHERE c.contype = 'f' AND c.conrelid = ANY(CAST(:tables AS regclass[])) ORDER BY 1, 2"
)

BUILD_MEMORY = "512MB"
"""``maintenance_work_mem`` of the index builds (server memory, for this transaction only)."""


@contextmanager
def indexes_after(
    conn: Connection, tables: Sequence[str], say: Callable[[str], None] | None = None
) -> Iterator[None]:
    """Drop the secondary indexes and foreign keys of ``tables`` (``schema.table``) on the
    connection's transaction, and re-create them when the block ends without an error."""
    names = list(tables)
    indexes = conn.execute(_INDEXES, {"tables": names}).all()
    foreign = conn.execute(_FOREIGN_KEYS, {"tables": names}).all()
    for fk in foreign:
        conn.execute(text(f'ALTER TABLE {fk.tbl} DROP CONSTRAINT "{fk.name}"'))
    for index in indexes:
        conn.execute(text(f"DROP INDEX {index.name}"))
    yield
    began = time.monotonic()
    # A table with pending deferred trigger events cannot be indexed: fire them now.
    conn.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))
    conn.execute(text(f"SET LOCAL maintenance_work_mem = '{BUILD_MEMORY}'"))
    for index in indexes:
        conn.execute(text(index.definition))
    for fk in foreign:
        conn.execute(text(f'ALTER TABLE {fk.tbl} ADD CONSTRAINT "{fk.name}" {fk.definition}'))
    if say is not None:
        say(
            f"indexes: {len(indexes)} indexes and {len(foreign)} foreign keys built in "
            f"{time.monotonic() - began:.1f} s"
        )
