"""TAP on a read replica: ``ISLA_DATABASE_READ_URL`` takes the synchronous user queries.

A real replica is another Postgres server streaming the primary's WAL; here the "replica" is a
second migrated database of the session cluster holding one source the primary does not, so
that an answer says which database ran the query. The TAP service runs as its own process
with both URLs set: synchronous ADQL and cone searches must find the replica's source, a
query with a TAP_UPLOAD table (temporary tables, which a hot standby cannot hold) must run on
the primary.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator

import httpx
import pytest
from astropy.io.votable import parse as parse_votable
from sqlalchemy import create_engine, text

from deploy.serve import service_process
from tests.conftest import StackInfo

pytestmark = pytest.mark.integration

ONLY_ON_REPLICA = "J123456.7+654321"
RA, DEC = 188.7363, 65.7225


def _ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    table = parse_votable(io.BytesIO(response.content)).get_first_table().to_table()
    return [str(v) for v in table["source_id"]]


@pytest.fixture(scope="module")
def tap(stack: StackInfo) -> Iterator[str]:
    """Base URL of a TAP service whose read URL names another database than its primary."""
    primary = stack.new_database("isla_primary_of_replica_test")
    replica = stack.new_database("isla_replica_test")
    engine = create_engine(replica)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO isla.sources (source_id, name, ra, dec, pos, source_class, "
                    "det_isgri, det_picsit, det_jemx, det_spi, det_omc) VALUES (:s, "
                    "'replica marker', :ra, :dec, spoint(radians(:ra), radians(:dec)), 'HMXB', "
                    "true, false, false, false, false)"
                ),
                {"s": ONLY_ON_REPLICA, "ra": RA, "dec": DEC},
            )
    finally:
        engine.dispose()
    env = {**os.environ, "ISLA_DATABASE_URL": primary, "ISLA_DATABASE_READ_URL": replica}
    with service_process("services.tap.app:app", env, timeout=180) as (_, url):
        yield url


def test_sync_adql_runs_on_the_replica(tap: str) -> None:
    query = f"SELECT source_id FROM isla.sources WHERE source_id = '{ONLY_ON_REPLICA}'"
    response = httpx.get(f"{tap}/tap/sync", params={"LANG": "ADQL", "QUERY": query}, timeout=60)
    assert _ids(response) == [ONLY_ON_REPLICA]


def test_cone_search_runs_on_the_replica(tap: str) -> None:
    response = httpx.get(f"{tap}/scs", params={"RA": RA, "DEC": DEC, "SR": 0.1}, timeout=60)
    assert _ids(response) == [ONLY_ON_REPLICA]


def test_a_query_with_an_upload_runs_on_the_primary(tap: str) -> None:
    upload = (
        b'<?xml version="1.0"?><VOTABLE version="1.4" '
        b'xmlns="http://www.ivoa.net/xml/VOTable/v1.3"><RESOURCE><TABLE>'
        b'<FIELD name="sid" datatype="char" arraysize="*"/><DATA><TABLEDATA>'
        b"<TR><TD>" + ONLY_ON_REPLICA.encode() + b"</TD></TR>"
        b"</TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>"
    )
    query = (
        "SELECT s.source_id FROM isla.sources AS s JOIN TAP_UPLOAD.mine AS m ON s.source_id = m.sid"
    )
    response = httpx.post(
        f"{tap}/tap/sync",
        data={"LANG": "ADQL", "QUERY": query, "UPLOAD": "mine,param:mine"},
        files={"mine": ("mine.xml", upload, "application/x-votable+xml")},
        timeout=60,
    )
    # The primary has no such source: the join is empty there, and only there.
    assert _ids(response) == []
