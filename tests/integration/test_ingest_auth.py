"""Ingest authentication and authorisation: tokens, roles, ownership, the audit trail."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import StackInfo
from tests.integration.ingest_support import IngestServer, serve_ingest

pytestmark = pytest.mark.integration

CSV = "name,ra,dec,pos_err,flux_20_35,flux_35_60\nSrc A,10.0,20.0,1.0,5.0,3.0\n"


@pytest.fixture(scope="module")
def server(stack: StackInfo) -> Iterator[IngestServer]:
    with serve_ingest(stack, "isla_ingest_auth") as srv:
        yield srv


@pytest.fixture(scope="module")
def http(server: IngestServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=60) as client:
        yield client


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _upload(
    http: httpx.Client,
    token: str | None,
    name: str,
    version: str = "1",
    kind: str = "isgri_results/1",
) -> httpx.Response:
    return http.post(
        "/ingest/catalogues",
        headers=_bearer(token) if token else {},
        data={"kind": kind, "name": name, "version": version},
        files={"file": ("cat.csv", CSV.encode())},
    )


def _cli(server: IngestServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deploy.cli", *args],
        env=server.subprocess_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_missing_or_unknown_token_is_401_with_a_bearer_challenge(
    server: IngestServer, http: httpx.Client
) -> None:
    before = server.counts()
    for headers in (
        {},
        {"Authorization": "Bearer nonsense"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        _bearer("isla_0123abcd_" + "A" * 43),
    ):
        response = http.get("/ingest/whoami", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json()["status"] == 401
    response = _upload(http, None, "Anonymous")
    assert response.status_code == 401
    assert server.counts() == before


def test_cli_creates_lists_and_revokes_tokens_storing_only_hashes(
    server: IngestServer, http: httpx.Client
) -> None:
    made = _cli(server, "token", "create", "--team", "ibis-team", "--role", "ibis")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("isla_") and len(token) > 40
    who = http.get("/ingest/whoami", headers=_bearer(token))
    assert who.status_code == 200
    assert who.json()["team"] == "ibis-team" and who.json()["role"] == "ibis"
    stored = server.query(
        "SELECT prefix, token_hash FROM isla_ops.ingest_tokens WHERE team = 'ibis-team'"
    )
    assert stored == [(token[:13], hashlib.sha256(token.encode()).hexdigest())]
    listing = _cli(server, "token", "list")
    assert listing.returncode == 0 and token[:13] in listing.stdout
    assert token not in listing.stdout
    revoked = _cli(server, "token", "revoke", token[:13])
    assert revoked.returncode == 0, revoked.stderr
    after = http.get("/ingest/whoami", headers=_bearer(token))
    assert after.status_code == 401
    assert "revoked" in after.json()["detail"]
    bad_role = _cli(server, "token", "create", "--team", "x", "--role", "admin")
    assert bad_role.returncode != 0


def test_wrong_role_is_403_and_changes_nothing_but_the_audit(
    server: IngestServer, http: httpx.Client
) -> None:
    omc = server.token("omc-team", "omc")
    before = server.counts()
    response = _upload(http, omc, "OMC tries ISGRI")
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "omc" in response.json()["detail"]
    assert server.counts() == before
    audit = server.query(
        "SELECT outcome FROM isla_ops.ingest_audit WHERE target = 'OMC tries ISGRI@1'"
    )
    assert audit == [("forbidden",)]
    merge = http.post("/ingest/merge", headers=_bearer(omc))
    assert merge.status_code == 403


def test_only_the_owner_team_or_an_operator_replaces_a_catalogue(
    server: IngestServer, http: httpx.Client
) -> None:
    owner = server.token("isgri-a", "ibis")
    other = server.token("isgri-b", "ibis")
    operator = server.token("ops", "operator")
    first = _upload(http, owner, "Owned catalogue", "1")
    assert first.status_code == 201, first.text
    before = server.counts()
    stolen = _upload(http, other, "Owned catalogue", "2")
    assert stolen.status_code == 403
    assert "isgri-a" in stolen.json()["detail"]
    assert server.counts() == before
    switch = http.post(
        "/ingest/catalogues/Owned catalogue/current",
        headers=_bearer(other),
        data={"version": "1"},
    )
    assert switch.status_code == 403
    by_operator = _upload(http, operator, "Owned catalogue", "2")
    assert by_operator.status_code == 201, by_operator.text
    versions = server.query(
        "SELECT version, team, is_current FROM isla.catalogues "
        "WHERE name = 'Owned catalogue' ORDER BY version"
    )
    assert versions == [("1", "isgri-a", False), ("2", "ops", True)]


def test_job_status_is_readable_by_its_team_and_operators_only(
    server: IngestServer, http: httpx.Client
) -> None:
    owner = server.token("jobs-a", "ibis")
    stranger = server.token("jobs-b", "ibis")
    operator = server.token("ops-2", "operator")
    response = _upload(http, owner, "Job visibility")
    assert response.status_code == 201, response.text
    job_url = response.json()["url"]
    assert http.get(job_url, headers=_bearer(owner)).status_code == 200
    assert http.get(job_url, headers=_bearer(operator)).status_code == 200
    denied = http.get(job_url, headers=_bearer(stranger))
    assert denied.status_code == 403
    assert denied.headers["content-type"].startswith("application/problem+json")
    assert http.get(job_url).status_code == 401
