"""/login brakes password guessing: 429 with Retry-After per user name and per address."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from services.tap.login_throttle import ADDRESS_FACTOR
from shared.settings import ObservabilitySettings
from tests.conftest import Archive
from tests.integration.accounts_support import PASSWORD, make_user

pytestmark = pytest.mark.integration

LIMIT = ObservabilitySettings().login_max_failures


def login(archive: Archive, name: str, password: str, address: str) -> httpx.Response:
    # The test server trusts X-Forwarded-For from loopback, as a service behind its proxy
    # does: each test plays its own client addresses and leaves the suite's 127.0.0.1 alone.
    return httpx.post(
        f"{archive.base_url}/login",
        data={"username": name, "password": password},
        headers={"X-Forwarded-For": address},
        timeout=60,
    )


def throttled(archive: Archive) -> dict[str, float]:
    text = httpx.get(f"{archive.base_url}/tap/metrics", timeout=30).text
    return {
        s.labels["reason"]: s.value
        for f in text_string_to_metric_families(text)
        if f.name == "isla_login_throttled"
        for s in f.samples
        if s.name.endswith("_total")
    }


def test_guessing_one_users_password_is_braked(archive: Archive) -> None:
    make_user(archive.database_url, "frieda")
    before = throttled(archive).get("user", 0.0)
    for n in range(LIMIT):
        assert login(archive, "frieda", "wrong-guess", f"198.51.100.{n + 1}").status_code == 401
    # Even the right password waits now, from any address: the name is what is guessed.
    braked = login(archive, "frieda", PASSWORD, "198.51.100.200")
    assert braked.status_code == 429
    assert int(braked.headers["retry-after"]) > 0
    assert "try again" in braked.text
    assert throttled(archive)["user"] == before + 1
    # Other users are not held up by it.
    make_user(archive.database_url, "gustav")
    assert login(archive, "gustav", PASSWORD, "198.51.100.201").status_code == 200


def test_one_address_guessing_many_names_is_braked(archive: Archive) -> None:
    make_user(archive.database_url, "hedda")
    address = "203.0.113.77"
    for n in range(LIMIT * ADDRESS_FACTOR):
        assert login(archive, f"guess{n}", "wrong-guess", address).status_code == 401
    assert login(archive, "hedda", PASSWORD, address).status_code == 429
    assert login(archive, "hedda", PASSWORD, "203.0.113.78").status_code == 200
