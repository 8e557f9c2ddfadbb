"""The one source resolver (shared.sources) on the demo archive: precedence and indexes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, create_engine, text

from shared.sources import find_source, find_sources_sync
from tests.conftest import Archive

pytestmark = pytest.mark.integration

CRAB = "J053432.0+220052"


@pytest.fixture
def conn(archive: Archive) -> Iterator[Connection]:
    engine = create_engine(archive.database_url)
    with engine.connect() as connection:
        yield connection
    engine.dispose()


def test_id_name_and_alias_resolve_in_that_order(conn: Connection) -> None:
    name = conn.execute(text("SELECT name FROM isla.sources WHERE source_id = :s"), {"s": CRAB})
    preferred = str(name.scalar())
    by_id = find_sources_sync(conn, CRAB.lower())
    assert by_id[0].source_id == CRAB and by_id[0].matched_by == "source_id"
    for spelling in (preferred, preferred.upper(), preferred.replace(" ", "_"), "  crab "):
        found = find_sources_sync(conn, spelling)
        assert found and found[0].source_id == CRAB, spelling
        assert found[0].matched_by == "name"
    alias = conn.execute(
        text(
            "SELECT a.alias FROM isla.source_aliases a JOIN isla.sources s USING (source_id) "
            "WHERE a.alias_norm <> lower(replace(replace(replace(s.name, ' ', ''), '_', ''), "
            "'-', '')) ORDER BY a.alias LIMIT 1"
        )
    ).scalar()
    assert alias is not None, "the demo catalogue has aliases beside the preferred names"
    found = find_sources_sync(conn, str(alias))
    assert found and found[0].matched_by == "alias"
    assert find_sources_sync(conn, "no such source anywhere") == []
    assert find_sources_sync(conn, "   ") == []


async def test_async_resolver_agrees(archive: Archive) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(archive.database_url)
    try:
        async with engine.connect() as conn:
            match = await find_source(conn, "crab")
    finally:
        await engine.dispose()
    assert match is not None and match.source_id == CRAB


def test_a_name_is_two_index_probes(conn: Connection) -> None:
    """ "Crab" is looked up through the name and alias indexes, never by a scan."""
    from shared.sources import BY_NAME_OR_ALIAS

    conn.rollback()  # a transaction of its own, for SET LOCAL
    with conn.begin():
        # The demo catalogue is small enough that Postgres would scan it anyway: forbid
        # scans to see that the indexes match the query.
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(
            str(row[0])
            for row in conn.execute(text(f"EXPLAIN {BY_NAME_OR_ALIAS.text}"), {"norm": "crab"})
        )
    assert "ix_sources_name_norm" in plan, plan
    assert "ix_source_aliases_norm" in plan, plan
    assert "Seq Scan" not in plan, plan
