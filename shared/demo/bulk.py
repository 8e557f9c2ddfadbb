"""Bulk loading of the demo's own tables: indexes and foreign keys built once, after the rows.

The generator fills an empty archive in one transaction. Maintaining every secondary index
row by row (pgSphere's GiST indexes above all) and checking every foreign key row by row made
the database, not the generator, the bottleneck of a full-scale load. Inside the transaction
:func:`indexes_after` drops the secondary indexes and the foreign keys of the tables it is
given, and re-creates them from their own definitions (read from the catalogue, so an index a
later migration adds is rebuilt too) when the rows are in: one index build per index and one
join per foreign key. Primary keys and unique constraints stay, so duplicates still fail the
load. If anything fails, the transaction rolls back and the archive keeps its indexes.

The same holds for the triggers that keep derived relations current per statement (the epoch
coverage of migration 0042 tests every new pointing against the sources, which without their
index means a scan of the catalogue per statement): they are disabled for the block and the
relation is recomputed once, after the indexes.
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

_MAINTAINING_TRIGGERS = text(
    "SELECT t.tgrelid::regclass::text AS tbl, t.tgname AS name FROM pg_trigger t "
    "WHERE t.tgrelid = ANY(CAST(:tables AS regclass[])) AND NOT t.tgisinternal "
    "AND t.tgname LIKE 'epochs\\_%' ORDER BY 1, 2"
)
_REFRESH_AFTER = "SELECT isla_ops.refresh_epoch_coverage(NULL)"
"""Recomputes what the disabled triggers would have kept (every revolution's epochs)."""

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
    triggers = conn.execute(_MAINTAINING_TRIGGERS, {"tables": names}).all()
    for trigger in triggers:
        conn.execute(text(f'ALTER TABLE {trigger.tbl} DISABLE TRIGGER "{trigger.name}"'))
    yield
    began = time.monotonic()
    # A table with pending deferred trigger events cannot be indexed: fire them now.
    conn.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))
    conn.execute(text(f"SET LOCAL maintenance_work_mem = '{BUILD_MEMORY}'"))
    for index in indexes:
        conn.execute(text(index.definition))
    for fk in foreign:
        conn.execute(text(f'ALTER TABLE {fk.tbl} ADD CONSTRAINT "{fk.name}" {fk.definition}'))
    built = time.monotonic()
    for trigger in triggers:
        conn.execute(text(f'ALTER TABLE {trigger.tbl} ENABLE TRIGGER "{trigger.name}"'))
    for table in names:
        # What follows (the recomputation, the caller's queries) plans on the new rows.
        conn.execute(text(f"ANALYZE {table}"))
    if triggers:
        conn.execute(text(_REFRESH_AFTER))
    if say is not None:
        say(
            f"indexes: {len(indexes)} indexes and {len(foreign)} foreign keys built in "
            f"{built - began:.1f} s; {len(triggers)} maintaining triggers deferred, "
            f"their relation recomputed in {time.monotonic() - built:.1f} s"
        )
