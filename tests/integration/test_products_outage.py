"""The products service without its database: 503 with Retry-After, in each endpoint's style.

The service is started alone against a port where no database listens (no archive needed):
its VO endpoints (DataLink) answer a DALI error document, its native and ISLA-compatible
endpoints a problem document, both carrying the ``TransientFault`` code of the shared error
family, and VOSI availability still answers its document, saying the database is down.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator

import httpx
import pytest
from astropy.io.votable import parse

from deploy.ports import free_port
from deploy.serve import service_process

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    """Base URL of a products service whose database does not answer."""
    dead = free_port()
    env = {
        **os.environ,
        "ISLA_DATABASE_URL": f"postgresql+psycopg://isla@127.0.0.1:{dead}/isla",
        "ISLA_DATABASE_CONNECT_TIMEOUT": "1",
    }
    with service_process("services.products.app:app", env) as (_, url):
        yield url


def test_datalink_outage_is_a_dali_transient_fault(base: str) -> None:
    response = httpx.get(f"{base}/datalink", params={"ID": "008100430010"}, timeout=20)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "30"
    assert response.headers["content-type"].startswith("application/x-votable+xml")
    infos = [i for r in parse(io.BytesIO(response.content)).resources for i in r.infos]
    status = [i for i in infos if i.name == "QUERY_STATUS"]
    assert status and status[0].value == "ERROR"
    assert str(status[0].content).startswith("TransientFault: ")


@pytest.mark.parametrize(
    "path",
    [
        "/products/files/spectrum/ISGRI/mission/J053432.0+220052",
        "/products/sources/J053432.0+220052",
        "/servlet/target-resolver?TARGET_NAME=Crab",
        "/products/isla/servlet?REQUEST=sources&SOURCE=Crab",
    ],
)
def test_native_outage_is_a_problem_with_its_code(base: str, path: str) -> None:
    response = httpx.get(f"{base}{path}", timeout=20)
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "30"
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "TransientFault"


def test_availability_says_the_database_is_down(base: str) -> None:
    response = httpx.get(f"{base}/datalink/availability", timeout=20)
    assert response.status_code == 200
    assert b"available>false<" in response.content.replace(b"vosi:", b"")
