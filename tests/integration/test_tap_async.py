"""TAP async (UWS 1.1): jobs in Postgres, run by a real procrastinate worker process.

Every test here runs against a database of its own (jobs change data) with the TAP service
and an ``isla worker`` each in their own process, as a deployment runs them. Queries use
TAP_SCHEMA and the instrument tables that the migrations fill, so no demo archive is needed.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import psycopg
import pytest
import pyvo
import requests
from alembic import command
from astropy.io.votable import parse_single_table
from astropy.table import Table

from deploy.ports import free_port
from deploy.serve import service_process
from shared.db import migrate
from shared.storage import ObjectStore
from tests.conftest import ACCESS_KEY, SECRET_KEY, Archive, StackInfo
from tests.integration.accounts_support import (
    PASSWORD,
    bearer_session,
    bearer_token,
    make_user,
)

pytestmark = pytest.mark.integration

NS = {"uws": "http://www.ivoa.net/xml/UWS/v1.0", "xlink": "http://www.w3.org/1999/xlink"}
BUCKET = "uws-test-jobs"
FINAL = {"COMPLETED", "ERROR", "ABORTED"}
DEADLINE = 120.0
"""Seconds a test waits for a job at most before it fails (not a measured timing)."""

SMALL = "SELECT table_name, table_type FROM TAP_SCHEMA.tables ORDER BY table_name"
COLUMNS = "SELECT column_name, datatype, indexed FROM TAP_SCHEMA.columns ORDER BY 1"
# Never ends on its own within the tests (the product of four copies of the column table):
# only an ABORT or a DELETE stops it.
ENDLESS = (
    "SELECT COUNT(*) AS n FROM TAP_SCHEMA.columns AS a, TAP_SCHEMA.columns AS b, "
    "TAP_SCHEMA.columns AS c, TAP_SCHEMA.columns AS d"
)
# Slow (seconds) but allowed, with a known answer: the cube of the number of columns (the
# condition always holds; it only makes every row cost a little more).
SLOW = (
    "SELECT COUNT(*) AS n FROM TAP_SCHEMA.columns AS a, TAP_SCHEMA.columns AS b, "
    "TAP_SCHEMA.columns AS c WHERE a.principal + b.principal + c.principal >= 0"
)


@dataclass
class Site:
    """A database, the jobs bucket and the environment of the service and worker processes."""

    database_url: str
    env: dict[str, str]
    store: ObjectStore

    def sql(self, query: str, *args: object) -> list[tuple[object, ...]]:
        """Rows of a query on the site's database (psycopg, autocommit)."""
        url = self.database_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(url, autocommit=True) as conn:
            return list(conn.execute(query, args).fetchall())

    def objects(self, job_id: str) -> list[str]:
        """Keys the job has in the jobs bucket."""
        return [o.key for o in self.store.list(BUCKET, f"jobs/{job_id}/")]


def make_site(stack: StackInfo, name: str) -> Site:
    """A migrated database of its own and the environment pointing at it."""
    url = stack.new_database(name)
    storage = stack.storage("isla-raw", "isla-products")
    store = ObjectStore.from_settings(storage)
    store.ensure_buckets(BUCKET)
    env = {
        **os.environ,
        "ISLA_DATABASE_URL": url,
        "ISLA_S3_ENDPOINT": stack.s3_endpoint,
        "ISLA_S3_ACCESS_KEY": ACCESS_KEY,
        "ISLA_S3_SECRET_KEY": SECRET_KEY,
        "ISLA_S3_JOBS_BUCKET": BUCKET,
        # Quick heartbeats, so that a killed worker's jobs are retried within seconds.
        "ISLA_WORKER_HEARTBEAT": "0.5",
        "ISLA_WORKER_STALLED_AFTER": "2",
        "ISLA_WORKER_POLL_INTERVAL": "0.5",
        "ISLA_TAP_ASYNC_MAX_WAIT": "5",
    }
    return Site(url, env, store)


def start_worker(site: Site) -> subprocess.Popen[bytes]:
    """An ``isla worker`` process on the site."""
    return subprocess.Popen([sys.executable, "-m", "deploy.cli", "worker"], env=site.env)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a process politely, then firmly."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def site(stack: StackInfo) -> Site:
    return make_site(stack, "isla_uws")


@pytest.fixture(scope="module")
def tap(site: Site) -> Iterator[str]:
    """The TAP service alone, in its own process, and a worker beside it."""
    worker = start_worker(site)
    try:
        with service_process("services.tap.app:app", site.env) as (_, base):
            yield f"{base}/tap"
    finally:
        stop(worker)


@pytest.fixture
def http(tap: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=tap, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def token(site: Site) -> str:
    """A bearer token of user ``alice`` (job lists are per user)."""
    make_user(site.database_url, "alice")
    return bearer_token(site.database_url, "alice")


@pytest.fixture
def owned(tap: str, token: str) -> Iterator[httpx.Client]:
    """A client of user ``alice``, by bearer token."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=tap, timeout=60, headers=headers) as client:
        yield client


def xml(response: httpx.Response) -> ET.Element:
    assert response.status_code == 200, response.text
    return ET.fromstring(response.content)


def text_of(root: ET.Element, tag: str) -> str | None:
    found = root.find(f"uws:{tag}", NS)
    return None if found is None else (found.text or "")


def create(http: httpx.Client, query: str, **params: str) -> str:
    """POST a job; return its URL (path under the TAP base) after checking the 303."""
    response = http.post("/async", data={"LANG": "ADQL", "QUERY": query, **params})
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert "/tap/async/" in location
    return "/async/" + location.rsplit("/async/", 1)[1]


def wait_final(http: httpx.Client, job: str) -> ET.Element:
    """Block (UWS WAIT) until the job reaches a final phase; its document."""
    deadline = time.monotonic() + DEADLINE
    while True:
        root = xml(http.get(job, params={"WAIT": "5"}))
        if text_of(root, "phase") in FINAL:
            return root
        assert time.monotonic() < deadline, f"job {job} did not finish"


def wait_phase(http: httpx.Client, job: str, phase: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while http.get(f"{job}/phase").text != phase:
        assert time.monotonic() < deadline, f"job {job} never reached {phase}"
        http.get(job, params={"WAIT": "1"})


def running_backends(site: Site, job_id: str) -> int:
    rows = site.sql(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s AND state = 'active'",
        f"isla-uws-{job_id}",
    )
    return int(rows[0][0])  # type: ignore[call-overload]


# ---------------------------------------------------------------------------------------------
# schema


def test_migration_puts_the_queue_in_the_private_schema(site: Site) -> None:
    migrate.check(site.database_url)  # models and migrations agree (queue tables left out)
    tables = {
        str(r[0]) for r in site.sql("SELECT tablename FROM pg_tables WHERE schemaname = 'isla_ops'")
    }
    assert {"uws_jobs", "procrastinate_jobs", "procrastinate_workers"} <= tables
    assert (
        site.sql(
            "SELECT 1 FROM pg_tables WHERE tablename = 'procrastinate_jobs' "
            "AND schemaname <> 'isla_ops'"
        )
        == []
    )
    # TAP's reader role may read the two derived epoch relations the ADQL translator reads
    # (migration 0042), and nothing else of the private schema: not the queue, not the jobs.
    readable = {
        str(r[0])
        for r in site.sql(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'isla_ops' AND c.relkind IN ('r', 'v', 'm', 'p') "
            "AND has_table_privilege('isla_reader', c.oid, 'SELECT')"
        )
    }
    assert readable == {"epoch_list", "epoch_coverage"}


def test_migration_0004_downgrades_cleanly(stack: StackInfo) -> None:
    url = stack.new_database("isla_uws_downgrade", migrated=False)
    migrate.upgrade(url, "0004")
    site = Site(url, {}, ObjectStore.from_settings(stack.storage_settings))
    queue = "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
    queue += "WHERE n.nspname = 'isla_ops' AND p.proname LIKE 'procrastinate%%'"
    assert int(site.sql(queue)[0][0]) > 10  # type: ignore[call-overload]
    command.downgrade(migrate.alembic_config(url), "0003")
    assert site.sql(queue) == [(0,)]
    left = "SELECT tablename FROM pg_tables WHERE schemaname = 'isla_ops'"
    left += " UNION ALL SELECT typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace"
    left += " WHERE n.nspname = 'isla_ops'"
    assert site.sql(left) == []
    migrate.upgrade(url, "0004")  # and up again
    assert int(site.sql(queue)[0][0]) > 10  # type: ignore[call-overload]


# ---------------------------------------------------------------------------------------------
# pyvo and astroquery


def test_pyvo_run_async_matches_run_sync(tap: str) -> None:
    service = pyvo.dal.TAPService(tap)
    async_rows = service.run_async(SMALL, maxrec=1000).to_table()
    sync_rows = service.run_sync(SMALL, maxrec=1000).to_table()
    assert len(async_rows) > 5
    assert list(async_rows["table_name"]) == list(sync_rows["table_name"])
    assert async_rows.colnames == ["table_name", "table_type"]


def test_pyvo_submit_job_list_abort_and_delete(tap: str, site: Site, token: str) -> None:
    service = pyvo.dal.TAPService(tap, session=bearer_session(token))
    job = service.submit_job(ENDLESS, runid="pyvo-abort", execution_duration=600)
    assert job.phase == "PENDING"
    listed = {j.jobid: j for j in service.get_job_list(phases=["PENDING"])}
    assert job.job_id in listed and listed[job.job_id].phase == "PENDING"
    job.run()
    job.wait(phases=["EXECUTING"], timeout=DEADLINE)
    deadline = time.monotonic() + DEADLINE
    while running_backends(site, job.job_id) == 0:  # the query has reached Postgres
        assert time.monotonic() < deadline
        time.sleep(0.1)
    pid = site.sql("SELECT backend_pid FROM isla_ops.uws_jobs WHERE job_id = %s", job.job_id)
    job.abort()
    assert job.phase == "ABORTED"  # at once: pyvo's wait() refuses to wait for ABORTED
    while running_backends(site, job.job_id):  # pg_cancel_backend stopped the query
        assert time.monotonic() < deadline, "the aborted query still runs"
        time.sleep(0.1)
    assert pid and pid[0][0] is not None  # the worker had recorded the backend
    assert job.job_id in {j.jobid for j in service.get_job_list(phases=["ABORTED"])}
    job.delete()
    assert job.job_id not in {j.jobid for j in service.get_job_list(last=1000)}
    assert httpx.get(f"{tap}/async/{job.job_id}").status_code == 404


def test_astroquery_integral_get_job_and_job_list(tap: str, site: Site) -> None:
    """astroquery's ISLA client logs in (``login()``, a session cookie), then reads its jobs
    through pyvo's TAP calls (get_job, get_job_list); after ``logout()`` it lists none."""
    from astroquery.esa.integral import IntegralClass, conf

    base = tap.rsplit("/tap", 1)[0]
    make_user(site.database_url, "bob")
    with (
        conf.set_temp("ISLA_TAP_SERVER", tap),
        conf.set_temp("ISLA_LOGIN_SERVER", f"{base}/login"),
        conf.set_temp("ISLA_LOGOUT_SERVER", f"{base}/logout"),
    ):
        isla = IntegralClass()
        with pytest.raises(requests.HTTPError, match="401"):
            isla.login(user="bob", password="not-the-password")
        isla.login(user="bob", password=PASSWORD)
        job = isla.tap.submit_job(SMALL)
        job.run()
        job.wait(timeout=DEADLINE)
        summary = isla.get_job(job.job_id)
        assert summary.jobid == job.job_id
        assert summary.phase == "COMPLETED"
        assert summary.results[0].href.endswith(f"/async/{job.job_id}/results/result")
        jobs = isla.get_job_list(phases=["COMPLETED"], last=50)
        assert job.job_id in {j.jobid for j in jobs}
        assert {j.ownerid for j in jobs} == {"bob"}
        result = isla.query_tap(SMALL, async_job=True)
        assert "table_name" in result.colnames and len(result) > 5
        isla.logout()
        assert len(isla.get_job_list(last=50)) == 0
        # The job is bob's: once logged out, the same client may no longer read it.
        assert httpx.get(f"{tap}/async/{job.job_id}").status_code == 403


def test_demo_archive_cone_async_equals_sync(archive: Archive) -> None:
    """The shared archive's worker (tests/conftest.py) runs jobs on the demo data; pyvo's
    run_async deletes its job afterwards, so the demo database is left as it was."""
    service = pyvo.dal.TAPService(f"{archive.base_url}/tap")
    cone = (
        "SELECT source_id, name FROM isla.sources WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), "
        "CIRCLE('ICRS', 83.63, 22.01, 5)) ORDER BY source_id"
    )
    async_rows = service.run_async(cone).to_table()
    sync_rows = service.run_sync(cone).to_table()
    assert "Crab" in list(async_rows["name"])
    assert list(async_rows["source_id"]) == list(sync_rows["source_id"])


# ---------------------------------------------------------------------------------------------
# the UWS tree over raw HTTP


def test_job_document_and_every_resource(http: httpx.Client, site: Site) -> None:
    job = create(http, SMALL, RUNID="raw-1", MAXREC="3", FORMAT="csv")
    job_id = job.rsplit("/", 1)[1]
    assert len(job_id) == 32  # 128 random bits
    root = xml(http.get(job))
    assert root.tag == "{http://www.ivoa.net/xml/UWS/v1.0}job"
    assert root.get("version") == "1.1"
    assert text_of(root, "jobId") == job_id
    assert text_of(root, "runId") == "raw-1"
    assert text_of(root, "phase") == "PENDING"
    assert text_of(root, "ownerId") == "anonymous"
    assert text_of(root, "executionDuration") == "600"
    params = {p.get("id"): p.text for p in root.iterfind("uws:parameters/uws:parameter", NS)}
    assert params == {"lang": "ADQL", "query": SMALL, "maxrec": "3", "format": "csv"}
    # Each resource on its own.
    assert http.get(f"{job}/phase").text == "PENDING"
    assert http.get(f"{job}/owner").text == "anonymous"
    assert http.get(f"{job}/quote").status_code == 200
    assert http.get(f"{job}/executionduration").text == "600"
    parameters = xml(http.get(f"{job}/parameters"))
    assert {p.get("id") for p in parameters.iterfind("uws:parameter", NS)} == set(params)
    assert xml(http.get(f"{job}/results")).findall("uws:result", NS) == []
    assert http.get(f"{job}/results/result").status_code == 404
    assert http.get(f"{job}/error").status_code == 404
    # Changes while PENDING (names and values in any case).
    response = http.post(f"{job}/executionduration", data={"executionDuration": "120"})
    assert response.status_code == 303
    assert http.get(f"{job}/executionduration").text == "120"
    capped = http.post(f"{job}/executionduration", data={"EXECUTIONDURATION": "99999999"})
    assert capped.status_code == 303
    assert http.get(f"{job}/executionduration").text == "3600"  # the hard limit
    destruction = http.get(f"{job}/destruction").text
    later = "2099-01-01T00:00:00Z"
    assert http.post(f"{job}/destruction", data={"DESTRUCTION": later}).status_code == 303
    moved = http.get(f"{job}/destruction").text
    assert destruction < moved < later  # capped at 30 days after creation
    response = http.post(f"{job}/parameters", data={"maxrec": "2"})
    assert response.status_code == 303
    # Run it (lower-case name and value) and fetch the result.
    assert http.post(f"{job}/phase", data={"phase": "run"}).status_code == 303
    root = wait_final(http, job)
    assert text_of(root, "phase") == "COMPLETED"
    for tag in ("startTime", "endTime", "creationTime"):
        assert text_of(root, tag)
    result = root.find("uws:results/uws:result", NS)
    assert result is not None and result.get("id") == "result"
    assert result.get("mime-type") == "text/csv"
    href = result.get("{http://www.w3.org/1999/xlink}href")
    assert href and href.endswith(f"{job}/results/result")
    body = httpx.get(href)
    assert body.status_code == 200 and body.headers["content-type"].startswith("text/csv")
    assert int(result.get("size") or 0) == len(body.content)
    rows = Table.read(body.text, format="ascii.csv")
    assert len(rows) == 2  # MAXREC=2, changed while PENDING
    stored = site.sql(
        "SELECT result_rows, result_overflow, result_key FROM isla_ops.uws_jobs WHERE job_id = %s",
        job_id,
    )
    assert stored == [(2, True, f"jobs/{job_id}/result.csv")]
    assert site.objects(job_id) == [f"jobs/{job_id}/result.csv"]
    # A finished job keeps its parameters.
    conflict = http.post(f"{job}/parameters", data={"MAXREC": "5"})
    assert conflict.status_code == 409
    assert "QUERY_STATUS" in conflict.text
    # Delete with POST ACTION=DELETE: row and objects go.
    response = http.post(job, data={"ACTION": "DELETE"})
    assert response.status_code == 303 and response.headers["location"].endswith("/tap/async")
    assert http.get(job).status_code == 404
    assert site.objects(job_id) == []
    assert site.sql("SELECT 1 FROM isla_ops.uws_jobs WHERE job_id = %s", job_id) == []


def test_votable_result_with_overflow(http: httpx.Client) -> None:
    job = create(http, SMALL, MAXREC="1", PHASE="RUN")
    root = wait_final(http, job)
    assert text_of(root, "phase") == "COMPLETED"
    body = http.get(f"{job}/results/result")
    assert body.headers["content-type"].startswith("application/x-votable+xml")
    assert b'name="QUERY_STATUS" value="OVERFLOW"' in body.content
    table = parse_single_table(io.BytesIO(body.content)).to_table()
    assert len(table) == 1
    assert http.delete(job).status_code == 303


def test_failing_query_ends_in_error_with_a_dali_document(http: httpx.Client) -> None:
    job = create(http, "SELECT nope FROM TAP_SCHEMA.tables", PHASE="RUN")
    root = wait_final(http, job)
    assert text_of(root, "phase") == "ERROR"
    summary = root.find("uws:errorSummary", NS)
    assert summary is not None and summary.get("type") == "fatal"
    assert (text_of(summary, "message") or "").startswith("UsageFault: Unknown column 'nope'")
    error = http.get(f"{job}/error")
    assert error.status_code == 200
    assert b'name="QUERY_STATUS" value="ERROR"' in error.content
    assert b"UsageFault: Unknown column 'nope'" in error.content
    assert http.get(f"{job}/results/result").status_code == 404


@pytest.mark.parametrize(
    ("query", "fmt", "maxrec"),
    [
        (SMALL, "votable", "1000"),  # BINARY2, encoded by Postgres
        (SMALL, "votable/td", "1000"),
        (SMALL, "csv", "1000"),  # encoded by Postgres
        (SMALL, "tsv", "5"),  # with OVERFLOW
        (SMALL, "fits", "1000"),
        (SMALL, "json", "1000"),
        (COLUMNS, "votable", "7"),
        (COLUMNS, "fits", "7"),
    ],
)
def test_sync_and_async_give_the_same_bytes(
    http: httpx.Client, query: str, fmt: str, maxrec: str
) -> None:
    """One pipeline: a job's result document is byte for byte what /sync sends."""
    params = {"LANG": "ADQL", "QUERY": query, "FORMAT": fmt, "MAXREC": maxrec}
    synchronous = http.post("/sync", data=params)
    assert synchronous.status_code == 200, synchronous.text
    response = http.post("/async", data={**params, "PHASE": "RUN"})
    job = "/async/" + response.headers["location"].rsplit("/async/", 1)[1]
    assert text_of(wait_final(http, job), "phase") == "COMPLETED"
    result = http.get(f"{job}/results/result")
    assert result.headers["content-type"] == synchronous.headers["content-type"]
    assert result.content == synchronous.content
    assert http.delete(job).status_code == 303


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"LANG": "SQL", "QUERY": SMALL}, "LANG=SQL is not supported"),
        ({"LANG": "ADQL", "QUERY": SMALL, "FORMAT": "pdf"}, "FORMAT=pdf is not supported"),
        ({"LANG": "ADQL", "QUERY": SMALL, "MAXREC": "-1"}, "MAXREC must be"),
        ({"LANG": "ADQL"}, "QUERY is missing"),
    ],
)
def test_bad_query_parameters_end_the_job_in_error(
    http: httpx.Client, site: Site, params: dict[str, str], message: str
) -> None:
    """TAP 1.1: the job is created (303) and reports the error when run, without a worker."""
    response = http.post("/async", data={**params, "PHASE": "RUN"})
    assert response.status_code == 303
    job = "/async/" + response.headers["location"].rsplit("/async/", 1)[1]
    root = xml(http.get(job))
    assert text_of(root, "phase") == "ERROR"
    summary = root.find("uws:errorSummary", NS)
    assert summary is not None and message in (text_of(summary, "message") or "")
    assert message.encode() in http.get(f"{job}/error").content
    queued = site.sql(
        "SELECT queue_job_id FROM isla_ops.uws_jobs WHERE job_id = %s", job.rsplit("/", 1)[1]
    )
    assert queued == [(None,)]  # never reached the queue
    assert http.delete(job).status_code == 303


def test_job_list_filters(owned: httpx.Client) -> None:
    http = owned
    first = create(http, SMALL, RUNID="list-1")
    time.sleep(0.01)  # distinct creation times, for AFTER
    created = text_of(xml(http.get(first)), "creationTime")
    second = create(http, SMALL, RUNID="list-2")
    ids = [j.rsplit("/", 1)[1] for j in (first, second)]
    root = xml(http.get("/async"))
    assert root.tag == "{http://www.ivoa.net/xml/UWS/v1.0}jobs" and root.get("version") == "1.1"
    refs = root.findall("uws:jobref", NS)
    listed = [r.get("id") for r in refs]
    assert listed.index(ids[1]) < listed.index(ids[0])  # newest first
    ref = refs[listed.index(ids[0])]
    assert ref.get("{http://www.w3.org/1999/xlink}href", "").endswith(first)
    assert text_of(ref, "phase") == "PENDING" and text_of(ref, "runId") == "list-1"
    last = [r.get("id") for r in xml(http.get("/async?LAST=1")).findall("uws:jobref", NS)]
    assert last == [ids[1]]
    after = xml(http.get("/async", params={"AFTER": created}))
    assert [r.get("id") for r in after.findall("uws:jobref", NS)] == [ids[1]]
    both = xml(http.get("/async?PHASE=PENDING&phase=COMPLETED"))
    phases = {text_of(r, "phase") for r in both.findall("uws:jobref", NS)}
    assert phases <= {"PENDING", "COMPLETED"} and "PENDING" in phases
    none = xml(http.get("/async?PHASE=ARCHIVED"))
    assert none.findall("uws:jobref", NS) == []
    for job in (first, second):
        assert http.delete(job).status_code == 303


def test_wait_blocks_until_the_phase_changes_and_is_capped(
    http: httpx.Client, tap: str, site: Site
) -> None:
    job = create(http, ENDLESS, PHASE="RUN")
    job_id = job.rsplit("/", 1)[1]
    wait_phase(http, job, "EXECUTING")
    # The service caps WAIT (ISLA_TAP_ASYNC_MAX_WAIT=5 here): a client whose own timeout is
    # shorter than the WAIT it asked for still gets the (unchanged) job back.
    with httpx.Client(base_url=tap, timeout=20) as short:
        capped = xml(short.get(job, params={"WAIT": "3600"}))
    assert text_of(capped, "phase") == "EXECUTING"
    # PHASE=QUEUED: wait only while QUEUED; the job is EXECUTING, so no wait at all.
    other = xml(http.get(job, params={"WAIT": "3600", "PHASE": "QUEUED"}))
    assert text_of(other, "phase") == "EXECUTING"
    # A waiting client sees the phase change (the ABORT from another client).
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(http.get, job, params={"WAIT": "-1"})
        assert http.post(f"{job}/phase", data={"PHASE": "ABORT"}).status_code == 303
        assert text_of(xml(waiting.result()), "phase") == "ABORTED"
    # A final job answers at once, whatever WAIT says.
    assert text_of(xml(http.get(job, params={"WAIT": "3600"})), "phase") == "ABORTED"
    assert http.delete(job).status_code == 303
    deadline = time.monotonic() + DEADLINE
    while running_backends(site, job_id):
        assert time.monotonic() < deadline, "the aborted query still runs"
        time.sleep(0.1)


@pytest.mark.parametrize(
    ("method", "path", "data", "status"),
    [
        ("post", "/async", {"LANG": "ADQL", "QUERY": SMALL, "PHASE": "EXPLODE"}, 400),
        ("post", "/async", {"LANG": "ADQL", "QUERY": SMALL, "EXECUTIONDURATION": "x"}, 400),
        ("post", "/async", {"LANG": "ADQL", "QUERY": SMALL, "EXECUTIONDURATION": "1e999"}, 400),
        ("post", "/async", {"LANG": "ADQL", "QUERY": SMALL, "DESTRUCTION": "2026-13-45"}, 400),
        ("get", "/async?PHASE=NOPE", None, 400),
        ("get", "/async?LAST=0", None, 400),
        ("get", "/async?AFTER=yesterday", None, 400),
        ("get", "/async/0123456789abcdef0123456789abcdef", None, 404),
        ("get", "/async/0123456789abcdef0123456789abcdef/phase", None, 404),
        ("get", "/async/0123456789abcdef0123456789abcdef/results/result", None, 404),
        ("delete", "/async/0123456789abcdef0123456789abcdef", None, 404),
        ("post", "/async/0123456789abcdef0123456789abcdef/phase", {"PHASE": "RUN"}, 404),
    ],
)
def test_bad_requests_are_uws_errors(
    http: httpx.Client, method: str, path: str, data: dict[str, str] | None, status: int
) -> None:
    before = xml(http.get("/async")).findall("uws:jobref", NS)
    response = http.request(method.upper(), path, data=data)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/x-votable+xml")
    assert b'name="QUERY_STATUS" value="ERROR"' in response.content
    assert len(xml(http.get("/async")).findall("uws:jobref", NS)) == len(before)  # no job


def test_bad_phase_action_and_values_on_a_job(http: httpx.Client) -> None:
    job = create(http, SMALL)
    for path, data in (
        ("/phase", {"PHASE": "SUSPEND"}),
        ("/phase", {}),
        ("", {"ACTION": "EXPLODE"}),
        ("/executionduration", {"EXECUTIONDURATION": "-5"}),
        ("/destruction", {"DESTRUCTION": "soon"}),
    ):
        response = http.post(f"{job}{path}", data=data)
        assert response.status_code == 400, (path, data)
        assert b"QUERY_STATUS" in response.content
    wait = http.get(job, params={"WAIT": "abc"})
    assert wait.status_code == 400
    assert http.get(f"{job}/phase").text == "PENDING"  # nothing changed
    assert http.delete(job).status_code == 303


def test_expired_jobs_are_destroyed_with_their_results(http: httpx.Client, site: Site) -> None:
    job = create(http, SMALL, PHASE="RUN", FORMAT="json")
    assert text_of(wait_final(http, job), "phase") == "COMPLETED"
    job_id = job.rsplit("/", 1)[1]
    assert site.objects(job_id) == [f"jobs/{job_id}/result.json"]
    past = "2000-01-01T00:00:00Z"
    assert http.post(f"{job}/destruction", data={"DESTRUCTION": past}).status_code == 303
    assert http.get(job).status_code == 404  # destroyed on access
    assert site.objects(job_id) == []
    assert site.sql("SELECT 1 FROM isla_ops.uws_jobs WHERE job_id = %s", job_id) == []


def test_delete_stops_a_running_query(http: httpx.Client, site: Site) -> None:
    job = create(http, ENDLESS, PHASE="RUN")
    job_id = job.rsplit("/", 1)[1]
    wait_phase(http, job, "EXECUTING")
    deadline = time.monotonic() + DEADLINE
    while running_backends(site, job_id) == 0:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert http.delete(job).status_code == 303
    while running_backends(site, job_id):
        assert time.monotonic() < deadline, "the deleted job's query still runs"
        time.sleep(0.1)
    assert http.get(job).status_code == 404


def test_database_outage_is_a_dali_503(site: Site) -> None:
    dead = free_port()
    env = {
        **site.env,
        "ISLA_DATABASE_URL": f"postgresql+psycopg://isla@127.0.0.1:{dead}/isla",
        "ISLA_DATABASE_CONNECT_TIMEOUT": "1",
    }
    with service_process("services.tap.app:app", env) as (_, base):
        calls = (("GET", "/tap/async"), ("POST", "/tap/async"), ("GET", "/tap/async/x"))
        # A user's list needs the database (an anonymous caller's is empty without asking it).
        user = {"Authorization": "Bearer islu_" + "x" * 43}
        for method, path in calls:
            data = {"LANG": "ADQL", "QUERY": SMALL} if method == "POST" else None
            response = httpx.request(method, f"{base}{path}", data=data, headers=user, timeout=30)
            assert response.status_code == 503, (path, response.text)
            assert b'name="QUERY_STATUS" value="ERROR"' in response.content


def test_reader_role_cannot_see_the_job_table(http: httpx.Client) -> None:
    """Job parameters are private: the TAP reader role gets no access to isla_ops."""
    job = create(http, "SELECT job_id FROM isla_ops.uws_jobs", PHASE="RUN")
    root = wait_final(http, job)
    assert text_of(root, "phase") == "ERROR"
    assert http.delete(job).status_code == 303


# ---------------------------------------------------------------------------------------------
# TAP_UPLOAD in async jobs


def votable_bytes(table: Table) -> bytes:
    out = io.BytesIO()
    table.write(out, format="votable")
    return out.getvalue()


JOIN_UPLOAD = (
    "SELECT u.wanted, t.table_type FROM TAP_UPLOAD.mine AS u "
    "JOIN TAP_SCHEMA.tables AS t ON t.table_name = u.wanted ORDER BY u.wanted"
)


def test_inline_upload_is_kept_with_the_job_and_joined(http: httpx.Client, site: Site) -> None:
    wanted = Table({"wanted": ["TAP_SCHEMA.columns", "TAP_SCHEMA.tables", "nowhere.nothing"]})
    response = http.post(
        "/async",
        data={"LANG": "ADQL", "QUERY": JOIN_UPLOAD, "UPLOAD": "mine,param:t1", "FORMAT": "csv"},
        files={"t1": ("t1.xml", votable_bytes(wanted), "application/x-votable+xml")},
    )
    assert response.status_code == 303, response.text
    job = "/async/" + response.headers["location"].rsplit("/async/", 1)[1]
    job_id = job.rsplit("/", 1)[1]
    # Stored at creation, before the job runs: the worker never sees the request body.
    assert site.objects(job_id) == [f"jobs/{job_id}/upload/mine.vot"]
    params = xml(http.get(f"{job}/parameters"))
    assert {p.get("id"): p.text for p in params.iterfind("uws:parameter", NS)}["upload"] == (
        "mine,param:t1"
    )
    http.post(f"{job}/phase", data={"PHASE": "RUN"})
    assert text_of(wait_final(http, job), "phase") == "COMPLETED"
    rows = Table.read(http.get(f"{job}/results/result").text, format="ascii.csv")
    assert list(rows["wanted"]) == ["TAP_SCHEMA.columns", "TAP_SCHEMA.tables"]
    assert http.delete(job).status_code == 303
    assert site.objects(job_id) == []


def test_pyvo_run_async_with_an_upload(tap: str) -> None:
    service = pyvo.dal.TAPService(tap)
    wanted = Table({"wanted": ["TAP_SCHEMA.schemas"]})
    result = service.run_async(JOIN_UPLOAD, uploads={"mine": wanted}).to_table()
    assert list(result["wanted"]) == ["TAP_SCHEMA.schemas"]


def test_bad_upload_is_refused_at_creation(http: httpx.Client) -> None:
    before = len(xml(http.get("/async")).findall("uws:jobref", NS))
    response = http.post(
        "/async",
        data={"LANG": "ADQL", "QUERY": JOIN_UPLOAD, "UPLOAD": "mine,param:absent"},
        files={"t1": ("t1.xml", b"<VOTABLE/>", "application/x-votable+xml")},
    )
    assert response.status_code == 400
    assert b'name="QUERY_STATUS" value="ERROR"' in response.content
    assert len(xml(http.get("/async")).findall("uws:jobref", NS)) == before


# ---------------------------------------------------------------------------------------------
# restart survival


def test_jobs_survive_killed_service_and_worker(stack: StackInfo) -> None:
    site = make_site(stack, "isla_uws_restart")
    columns = site.sql("SELECT count(*) FROM tap_schema.columns")[0][0]
    expected = int(columns) ** 3  # type: ignore[call-overload]
    worker = start_worker(site)
    try:
        with service_process("services.tap.app:app", site.env) as (service, base):
            http = httpx.Client(base_url=f"{base}/tap", timeout=60)
            slow = create(http, SLOW, PHASE="RUN", FORMAT="csv")
            slow_id = slow.rsplit("/", 1)[1]
            wait_phase(http, slow, "EXECUTING")
            deadline = time.monotonic() + DEADLINE
            while running_backends(site, slow_id) == 0:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            worker.send_signal(signal.SIGKILL)
            worker.wait()
            queued = create(http, SMALL, PHASE="RUN", FORMAT="csv")
            assert http.get(f"{queued}/phase").text == "QUEUED"  # no worker to run it
            assert http.get(f"{slow}/phase").text == "EXECUTING"
            service.send_signal(signal.SIGKILL)
            service.wait()
            http.close()
    finally:
        stop(worker)
    worker = start_worker(site)
    try:
        with (
            service_process("services.tap.app:app", site.env) as (_, base),
            httpx.Client(base_url=f"{base}/tap", timeout=60) as http,
        ):
            for job in (queued, slow):
                root = wait_final(http, job)
                assert text_of(root, "phase") == "COMPLETED", ET.tostring(root)
            rows = Table.read(http.get(f"{slow}/results/result").text, format="ascii.csv")
            assert list(rows["n"]) == [expected]
            small = Table.read(http.get(f"{queued}/results/result").text, format="ascii.csv")
            assert len(small) > 5
    finally:
        stop(worker)


def test_a_stopped_worker_hands_its_running_job_back(stack: StackInfo) -> None:
    """SIGTERM (a redeploy): after the shutdown grace the job is cancelled and retried, and
    the next worker completes it."""
    site = make_site(stack, "isla_uws_sigterm")
    site.env["ISLA_WORKER_SHUTDOWN_GRACE"] = "0.5"
    columns = site.sql("SELECT count(*) FROM tap_schema.columns")[0][0]
    worker = start_worker(site)
    try:
        with (
            service_process("services.tap.app:app", site.env) as (_, base),
            httpx.Client(base_url=f"{base}/tap", timeout=60) as http,
        ):
            slow = create(http, SLOW, PHASE="RUN", FORMAT="csv")
            slow_id = slow.rsplit("/", 1)[1]
            wait_phase(http, slow, "EXECUTING")
            deadline = time.monotonic() + DEADLINE
            while running_backends(site, slow_id) == 0:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            worker.terminate()
            assert worker.wait(timeout=60) == 0  # a clean stop, not a crash
            assert http.get(f"{slow}/phase").text == "EXECUTING"
            worker = start_worker(site)
            root = wait_final(http, slow)
            assert text_of(root, "phase") == "COMPLETED", ET.tostring(root)
            rows = Table.read(http.get(f"{slow}/results/result").text, format="ascii.csv")
            assert list(rows["n"]) == [int(columns) ** 3]  # type: ignore[call-overload]
    finally:
        stop(worker)
