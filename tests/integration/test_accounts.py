"""Accounts and owned jobs, read-only CORS, security headers and refused development secrets.

Against the served demo archive (tests/conftest.py): users log in at ``<base>/login`` as
astroquery's ESA clients do, and TAP async jobs belong to whoever created them.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import httpx
import psycopg
import pytest
from sqlalchemy import create_engine

from deploy.ports import free_port
from services.tap.accounts import AccountError, disable_user
from tests.conftest import Archive, StackInfo
from tests.integration.accounts_support import PASSWORD, bearer_token, make_user

pytestmark = pytest.mark.integration

NS = {"uws": "http://www.ivoa.net/xml/UWS/v1.0"}
QUERY = "SELECT TOP 1 table_name FROM TAP_SCHEMA.tables"


def _login(base: str, name: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=60)
    response = client.post("/login", data={"username": name, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return client


@pytest.fixture(scope="module")
def users(archive: Archive) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    """Two logged-in users, each with a session of their own."""
    for name in ("carol", "dave"):
        make_user(archive.database_url, name)
    carol, dave = _login(archive.base_url, "carol"), _login(archive.base_url, "dave")
    try:
        yield carol, dave
    finally:
        carol.close()
        dave.close()


@pytest.fixture
def anonymous(archive: Archive) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=archive.base_url, timeout=60) as client:
        yield client


def _create(client: httpx.Client) -> str:
    response = client.post("/tap/async", data={"LANG": "ADQL", "QUERY": QUERY})
    assert response.status_code == 303, response.text
    return "/tap/async/" + response.headers["location"].rsplit("/async/", 1)[1]


def _listed(client: httpx.Client) -> set[str]:
    response = client.get("/tap/async")
    assert response.status_code == 200, response.text
    return {r.get("id", "") for r in ET.fromstring(response.content).findall("uws:jobref", NS)}


def _is_dali_error(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert "votable" in response.headers["content-type"]
    assert 'name="QUERY_STATUS" value="ERROR"' in response.text


def test_login_sets_a_safe_session_cookie_and_refuses_bad_passwords(
    archive: Archive, anonymous: httpx.Client
) -> None:
    make_user(archive.database_url, "erin")
    wrong = anonymous.post("/login", data={"username": "erin", "password": "wrong-password"})
    assert wrong.status_code == 401
    unknown = anonymous.post("/login", data={"username": "nobody", "password": PASSWORD})
    assert unknown.status_code == 401
    ok = anonymous.post("/login", data={"username": "erin", "password": PASSWORD})
    assert ok.status_code == 200 and ok.headers["content-type"].startswith("text/plain")
    cookie = ok.headers["set-cookie"].lower()
    assert "isla_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    job = _create(anonymous)
    assert anonymous.get(f"{job}/owner").text == "erin"
    assert anonymous.post("/logout").status_code == 200
    # Logged out: the session is gone on the server, not only in the client.
    with httpx.Client(base_url=archive.base_url, timeout=60) as replay:
        replay.cookies.set("isla_session", ok.cookies["isla_session"])
        assert replay.get(job).status_code == 403


def test_a_logged_in_users_jobs_are_private(
    users: tuple[httpx.Client, httpx.Client], anonymous: httpx.Client
) -> None:
    carol, dave = users
    job = _create(carol)
    job_id = job.rsplit("/", 1)[1]
    assert job_id in _listed(carol)
    assert job_id not in _listed(dave)
    assert carol.get(job).status_code == 200
    for client in (dave, anonymous):
        # read, rewrite, run, delete: all refused, as DALI error documents
        _is_dali_error(client.get(job), 403)
        _is_dali_error(client.get(f"{job}/parameters"), 403)
        _is_dali_error(client.post(f"{job}/parameters", data={"QUERY": "SELECT 1"}), 403)
        _is_dali_error(client.post(f"{job}/phase", data={"PHASE": "RUN"}), 403)
        _is_dali_error(client.delete(job), 403)
        _is_dali_error(client.post(job, data={"ACTION": "DELETE"}), 403)
    root = ET.fromstring(carol.get(job).content)
    assert root.findtext("uws:phase", namespaces=NS) == "PENDING"
    assert root.findtext("uws:ownerId", namespaces=NS) == "carol"
    assert carol.delete(job).status_code == 303


def test_anonymous_jobs_are_never_listed_but_reachable_by_their_url(
    archive: Archive, users: tuple[httpx.Client, httpx.Client], anonymous: httpx.Client
) -> None:
    carol, _ = users
    job = _create(anonymous)
    job_id = job.rsplit("/", 1)[1]
    assert _listed(anonymous) == set()
    assert job_id not in _listed(carol)
    with httpx.Client(base_url=archive.base_url, timeout=60) as other:
        assert other.get(job).status_code == 200  # the unguessable URL is the key
        assert other.get(f"{job}/owner").text == "anonymous"
    assert anonymous.delete(job).status_code == 303


def test_bearer_tokens_of_scripts_and_disabled_users(archive: Archive) -> None:
    make_user(archive.database_url, "frank")
    token = bearer_token(archive.database_url, "frank")
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=archive.base_url, timeout=60, headers=headers) as script:
        job = _create(script)
        assert job.rsplit("/", 1)[1] in _listed(script)
        engine = create_engine(archive.database_url)
        try:
            with engine.begin() as conn:
                disable_user(conn, "frank")
                with pytest.raises(AccountError):
                    disable_user(conn, "no-such-user")
        finally:
            engine.dispose()
        _is_dali_error(script.get("/tap/async"), 401)
    refused = httpx.post(
        f"{archive.base_url}/login", data={"username": "frank", "password": PASSWORD}
    )
    assert refused.status_code == 401
    garbage = httpx.get(
        f"{archive.base_url}/tap/async", headers={"Authorization": "Bearer islu_nonsense"}
    )
    _is_dali_error(garbage, 401)


# --- CORS and security headers ---------------------------------------------------------------


def test_cors_is_open_for_reading_only(anonymous: httpx.Client) -> None:
    origin = {"Origin": "https://esasky.example.org"}
    read = anonymous.get("/tap/capabilities", headers=origin)
    assert read.headers.get("access-control-allow-origin") == "*"
    preflight_get = anonymous.options(
        "/tap/sync", headers={**origin, "Access-Control-Request-Method": "GET"}
    )
    assert preflight_get.headers.get("access-control-allow-origin") == "*"
    for path in ("/tap/async", "/tap/sync", "/ingest/catalogues", "/login"):
        preflight = anonymous.options(
            path, headers={**origin, "Access-Control-Request-Method": "POST"}
        )
        assert "access-control-allow-origin" not in preflight.headers, path
    posted = anonymous.post("/tap/async", data={"QUERY": QUERY}, headers=origin)
    assert "access-control-allow-origin" not in posted.headers
    login = anonymous.post("/login", data={"username": "x", "password": "y"}, headers=origin)
    assert "access-control-allow-origin" not in login.headers


def test_security_headers_on_pages(anonymous: httpx.Client) -> None:
    page = anonymous.get("/")
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    # The portal's pages carry their own policy (no framing at all); others get the default.
    assert "default-src 'self'" in policy and "frame-ancestors" in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] in ("same-origin", "strict-origin-when-cross-origin")
    assert page.headers["x-frame-options"] in ("DENY", "SAMEORIGIN")
    docs = anonymous.get("/tap/docs")
    assert "https://cdn.jsdelivr.net" in docs.headers["content-security-policy"]
    data = anonymous.get("/tap/capabilities")
    assert data.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in data.headers


# --- secrets ---------------------------------------------------------------------------------


def _plain_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ISLA_")}
    # A reachable-looking endpoint: the default secret counts once an S3 server is configured.
    env["ISLA_S3_ENDPOINT"] = f"http://127.0.0.1:{free_port()}"
    return env


def test_services_and_workers_refuse_the_development_secret() -> None:
    env = _plain_env()
    port = free_port()
    service = subprocess.run(
        [sys.executable, "-m", "uvicorn", "services.tap.app:app", "--port", str(port)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert service.returncode != 0
    assert "ISLA_S3_SECRET_KEY" in service.stderr and "ISLA_DEV_MODE" in service.stderr
    env["ISLA_DATABASE_URL"] = f"postgresql://isla@127.0.0.1:{free_port()}/isla"
    worker = subprocess.run(
        [sys.executable, "-m", "deploy.cli", "worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert worker.returncode == 2
    assert "development secret" in worker.stdout


def test_embedded_postgres_wants_its_password(stack: StackInfo) -> None:
    pg = stack.pg
    info = pg.secretfile.stat()
    assert stat.S_IMODE(info.st_mode) == 0o600
    assert "trust" not in [
        line.split()[-1]
        for line in (pg.datadir / "pg_hba.conf").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(f"host=127.0.0.1 port={pg.port} user=isla dbname=postgres").close()
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(
            f"host=127.0.0.1 port={pg.port} user=isla password=wrong dbname=postgres"
        ).close()
    with psycopg.connect(pg.admin_dsn) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("isla",)
