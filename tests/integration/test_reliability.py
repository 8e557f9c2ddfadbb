"""Bounded work per request: each test is one defect found by attacking the archive.

Outcomes, not timings: a refused request must be refused, and others keep being answered,
within the test client's own bounded timeout.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import create_engine

from deploy.ports import free_port
from deploy.serve import service_process
from services.ingest.auth import create_token
from tests.conftest import Archive

pytestmark = pytest.mark.integration

CLIENT_TIMEOUT = 30.0
"""Every answer below must arrive within this (the defects took minutes, or forever)."""


def _nested(depth: int) -> str:
    return f"SELECT TOP 1 {'(' * depth}1{')' * depth} AS x FROM isla.sources"


def _sync(base: str, query: str) -> httpx.Response:
    return httpx.post(
        f"{base}/tap/sync",
        data={"REQUEST": "doQuery", "LANG": "ADQL", "QUERY": query, "FORMAT": "csv"},
        timeout=CLIENT_TIMEOUT,
    )


# --- 1. ADQL parsing bounded ---------------------------------------------------------------------


def test_nested_adql_is_refused_while_others_are_answered(archive: Archive) -> None:
    simple = "SELECT TOP 3 source_id FROM isla.sources ORDER BY source_id"
    queries = [_nested(5000), _nested(200), simple, _nested(5000), _nested(200), simple]
    with ThreadPoolExecutor(len(queries)) as pool:
        answers = list(pool.map(lambda q: _sync(archive.base_url, q), queries))
    for query, answer in zip(queries, answers, strict=True):
        if query == simple:
            assert answer.status_code == 200, answer.text
            assert len(answer.text.strip().splitlines()) == 4  # header + 3 rows
        else:
            assert answer.status_code == 400
            assert "application/x-votable+xml" in answer.headers["content-type"]
            assert "nested too deeply" in answer.text and "limit of 32" in answer.text


# --- 2. the TAP_SCHEMA check cannot be bypassed by an alias ---


def test_alias_named_like_a_table_is_refused_by_the_check(archive: Archive) -> None:
    query = (
        'SELECT * FROM (SELECT TOP 1 ra FROM isla.sources) AS "pg_catalog.pg_settings", '
        "pg_catalog.pg_settings"
    )
    answer = _sync(archive.base_url, query)
    assert answer.status_code == 400
    assert "Unknown table 'pg_catalog.pg_settings'" in answer.text
    # Not the reader role's refusal from the database.
    assert "permission denied" not in answer.text


# --- 3. bodies bounded before any work ---


class CountedBody:
    """A request body of ``total`` bytes in ``chunk``-byte pieces, counting what was pulled."""

    def __init__(self, total: int, chunk: int = 1 << 20, head: bytes = b"") -> None:
        self.total = total
        self.chunk = chunk
        self.head = head
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self.head:
            self.pulled += len(self.head)
            yield self.head
        while self.pulled < self.total:
            piece = b"0" * self.chunk
            self.pulled += len(piece)
            yield piece


BOUNDARY = "isla-test-boundary"
MULTIPART_HEAD = (
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="scw"; filename="ids.txt"\r\n'
    "Content-Type: text/plain\r\n\r\n"
).encode()


def _run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("path", "content_type", "head"),
    [
        ("/raw/manifest.json", f"multipart/form-data; boundary={BOUNDARY}", MULTIPART_HEAD),
        ("/raw/archive.tar", "text/plain", b""),
        ("/raw/manifest.csv", "application/json", b'{"scw": ["'),
    ],
)
def test_unbounded_raw_posts_are_refused_after_the_limit(
    archive: Archive, path: str, content_type: str, head: bytes
) -> None:
    """A 200 MB body without Content-Length: 413 after reading at most limit + one chunk."""
    from services.raw.app import app  # served by the archive's gateway: its state is up
    from shared.settings import limit_settings

    limit = limit_settings().selection_max_bytes
    body = CountedBody(200 * 1024 * 1024, head=head)

    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://isla") as client:
            return await client.post(path, content=body, headers={"Content-Type": content_type})

    answer = _run(post())
    assert isinstance(answer, httpx.Response)
    assert answer.status_code == 413, answer.text
    assert str(limit) in answer.json()["detail"]
    assert body.pulled <= limit + body.chunk + len(head)


def test_declared_length_over_the_limit_is_refused_unread(archive: Archive) -> None:
    """A declared 10 GB body is refused from its header: nothing of it needs to arrive."""
    url = httpx.URL(archive.base_url)
    request = (
        f"POST /raw/manifest.csv HTTP/1.1\r\nHost: {url.host}\r\n"
        "Content-Type: text/plain\r\nContent-Length: 10000000000\r\n\r\n"
    ).encode()
    with socket.create_connection((url.host, url.port), timeout=CLIENT_TIMEOUT) as sock:
        sock.sendall(request)  # headers only: the body never comes
        head = sock.recv(65536).decode("latin-1")
    assert head.startswith("HTTP/1.1 413")


def test_deep_json_is_a_400(client: httpx.Client) -> None:
    deep = '{"scw": ' + "[" * 100_000 + "]" * 100_000 + "}"
    answer = client.post(
        "/raw/manifest.json", content=deep, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 400
    assert "nested deeper" in answer.json()["detail"]
    answer = client.post(
        "/raw/manifest.json",
        content='{"scw": {"a": 1}}',
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 400


@pytest.fixture(scope="module")
def ingest_token(archive: Archive) -> str:
    engine = create_engine(archive.database_url)
    try:
        with engine.begin() as conn:
            return create_token(conn, "reliability", "isdc").token
    finally:
        engine.dispose()


def _ingest_post(path: str, token: str, body: CountedBody, content_type: str) -> httpx.Response:
    from services.ingest.app import create_app

    async def post() -> httpx.Response:
        app = create_app()
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://isla") as client:
                return await client.post(
                    path,
                    content=body,
                    headers={"Content-Type": content_type, "Authorization": f"Bearer {token}"},
                )

    answer = _run(post())
    assert isinstance(answer, httpx.Response)
    return answer


@pytest.mark.parametrize("path", ["/ingest/catalogues", "/ingest/products"])
def test_ingest_checks_the_token_before_reading_the_body(archive: Archive, path: str) -> None:
    body = CountedBody(50 * 1024 * 1024, head=MULTIPART_HEAD)
    wrong = "isla_0123abcd_" + "x" * 43  # well formed, unknown
    answer = _ingest_post(path, wrong, body, f"multipart/form-data; boundary={BOUNDARY}")
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert body.pulled == 0


def test_ingest_bounds_a_body_without_length(archive: Archive, ingest_token: str) -> None:
    from shared.settings import limit_settings

    limit = limit_settings().upload_max_bytes
    body = CountedBody(200 * 1024 * 1024)
    answer = _ingest_post("/ingest/products", ingest_token, body, "application/fits")
    assert answer.status_code == 413
    assert body.pulled <= limit + 65_536 + body.chunk
    refusal = answer.json()
    assert refusal["limit"] == limit and str(limit) in refusal["detail"]


# --- 4. selections in linear time, manifests streamed ---------------------------------------------


@pytest.fixture(scope="module")
def scw_ids(archive: Archive) -> list[str]:
    rows = archive.rows("SELECT scw_id, version FROM isla.science_windows ORDER BY scw_id")
    return [f"{r.scw_id}.{r.version}" for r in rows]


def test_a_100000_id_selection_answers_and_streams(
    client: httpx.Client, archive: Archive, scw_ids: list[str]
) -> None:
    """A TAP result of 100,000 ids posted back as CSV (ids repeat: the demo holds fewer)."""
    lines = ["scw_id"] + [scw_ids[i % len(scw_ids)] for i in range(100_000)]
    body = "\n".join(lines).encode()
    headers = {"Content-Type": "text/csv"}
    with client.stream("POST", "/raw/manifest.csv", content=body, headers=headers) as answer:
        assert answer.status_code == 200
        assert "content-length" not in answer.headers  # streamed, not built whole
        rows = sum(chunk.count("\n") for chunk in answer.iter_text())
    files = archive.scalar("SELECT count(*) FROM isla.scw_files")
    assert rows == files + 1
    # Too many for one tarball: the answer points to the script and the manifest.
    tar = client.post("/raw/archive.tar", content=body, headers=headers)
    assert tar.status_code == 413
    assert "/raw/download.sh" in tar.json()["script"]
    assert "/raw/manifest.json" in tar.json()["manifest"]
    script = client.post("/raw/download.sh", content=body, headers=headers)
    assert script.status_code == 200
    assert script.text.count(".tar") > 0 and f"{len(scw_ids)} science windows" in script.text


def test_a_100000_id_selection_names_its_unknown_ids(
    client: httpx.Client, scw_ids: list[str]
) -> None:
    unknown = [f"{9000 + i // 10000:04d}{i % 10000:04d}0010.001" for i in range(100_000)]
    ids = (scw_ids + unknown)[:100_000]
    answer = client.post(
        "/raw/manifest.json", content="\n".join(ids), headers={"Content-Type": "text/plain"}
    )
    assert answer.status_code == 404
    assert "unknown ScW(s)" in answer.json()["detail"]


# --- 5. NUL bytes and invalid UTF-8 ---------------------------------------------------------------

BAD_INPUT = [
    # (path, VO endpoint: DALI VOTable error; else problem+json)
    ("/tap/sync?REQUEST=doQuery&LANG=ADQL&QUERY=SELECT%00", True),
    ("/tap/sync?REQUEST=doQuery&LANG=ADQL&QUERY=%FF%FE", True),
    ("/tap/tables?x=%00", True),
    ("/scs?RA=%0010&DEC=1&SR=1", False),
    ("/tap/async/%00", True),
    ("/raw/manifest.json?scw=%00", False),
    ("/raw/scw/0081%0000430010", False),
    ("/raw/revolutions/%FF", False),
    ("/data?RETRIEVAL_TYPE=SCW&scwid=%00", False),
    ("/servlet/target-resolver?TARGET_NAME=Crab%00", False),
    ("/sources/J0534%00", False),
    ("/products/grbs?name=%00", False),
    ("/hips/%00/properties", False),
    ("/ingest/interfaces/%00/1", False),
    ("/ingest/whoami?x=%C3%28", False),
]


@pytest.mark.parametrize(("path", "vo"), BAD_INPUT)
def test_nul_and_invalid_utf8_are_a_clean_400(client: httpx.Client, path: str, vo: bool) -> None:
    answer = client.get(path)
    assert answer.status_code == 400, answer.text
    kind = answer.headers["content-type"]
    assert ("votable" in kind) if vo else kind.startswith("application/problem+json")


def test_nul_in_a_form_field_is_a_400(client: httpx.Client) -> None:
    answer = client.post("/tap/sync", data={"LANG": "ADQL", "QUERY": "SELECT\x00 1"})
    assert answer.status_code == 400
    assert "NUL" in answer.text


def test_refused_catalogue_with_nul_is_audited(
    client: httpx.Client, archive: Archive, ingest_token: str
) -> None:
    answer = client.post(
        "/ingest/catalogues",
        headers={"Authorization": f"Bearer {ingest_token}"},
        data={"kind": "isgri_results/1", "name": "evil\x00name", "version": "1"},
        files={"file": ("cat.csv", b"name,ra,dec\nA,1,2\n")},
    )
    assert answer.status_code == 400
    rows = archive.rows(
        "SELECT outcome, target FROM isla_ops.ingest_audit WHERE team = 'reliability' "
        "AND target LIKE 'evil%' ORDER BY audit_id DESC"
    )
    assert rows and rows[0].outcome == "refused"
    assert "\\x00" in rows[0].target


# --- 6. readiness without internals ---------------------------------------------------------------


def test_public_readiness_names_dependencies_not_internals() -> None:
    dead = free_port()
    env = {
        **os.environ,
        "ISLA_DATABASE_URL": f"postgresql+psycopg://isla@127.0.0.1:{dead}/isla",
        "ISLA_S3_ENDPOINT": f"http://127.0.0.1:{dead}",
        "ISLA_S3_TIMEOUT": "1",
        "ISLA_DATABASE_CONNECT_TIMEOUT": "1",
    }
    with service_process("services.raw.app:app", env) as (_, base):
        answer = httpx.get(f"{base}/raw/ready", timeout=CLIENT_TIMEOUT)
    assert answer.status_code == 503
    body = answer.json()
    assert body["checks"]["database"] == {"ok": False, "error": "unreachable"}
    assert body["checks"]["object_store"]["ok"] is False
    for secret in (str(dead), "127.0.0.1", "Error", "psycopg", "isla@"):
        assert secret not in answer.text


# --- 7. sync TAP: one deadline for the whole request ---


def test_a_slow_reader_cannot_hold_a_sync_query(archive: Archive) -> None:
    """Past the whole-request deadline, a client that stopped reading loses the rest."""
    env = {**os.environ, "ISLA_TAP_SYNC_DEADLINE": "2"}
    query = (
        "SELECT a.source_id, a.name, b.source_id AS other, b.name AS other_name "
        "FROM isla.sources AS a, isla.sources AS b"
    )
    params = {"LANG": "ADQL", "QUERY": query, "MAXREC": "5000000", "FORMAT": "votable/td"}
    with service_process("services.tap.app:app", env) as (_, base):
        received = 0
        complete = False
        with (
            httpx.Client(timeout=CLIENT_TIMEOUT) as slow,
            slow.stream("POST", f"{base}/tap/sync", data=params) as answer,
        ):
            assert answer.status_code == 200
            chunks = answer.iter_raw()
            received += len(next(chunks))
            _stop_reading(4.0)  # twice the deadline, without reading
            try:
                for chunk in chunks:
                    received += len(chunk)
                    complete = chunk.rstrip().endswith(b"</VOTABLE>")
            except httpx.RemoteProtocolError:
                complete = False
    assert not complete
    rows = archive.scalar("SELECT count(*) FROM isla.sources") ** 2
    assert received < rows * 40  # far less than the document the query would make


def _stop_reading(seconds: float) -> None:
    import time

    time.sleep(seconds)
