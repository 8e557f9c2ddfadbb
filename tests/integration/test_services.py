"""The four services behind one base URL, on the demo archive, over real HTTP."""

from __future__ import annotations

import hashlib
import os

import httpx
import pytest
from sqlalchemy import create_engine, text

from deploy.ports import free_port
from deploy.serve import service_process
from tests.conftest import Archive

pytestmark = pytest.mark.integration

PREFIXES = ("tap", "raw", "products", "ingest")


@pytest.mark.parametrize("prefix", PREFIXES)
def test_health_ready_and_docs_per_service(client: httpx.Client, prefix: str) -> None:
    health = client.get(f"/{prefix}/health")
    assert health.status_code == 200
    assert health.json()["service"] == prefix
    ready = client.get(f"/{prefix}/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["database"]["ok"] is True
    assert ready.json()["checks"]["object_store"]["ok"] is True
    spec = client.get(f"/{prefix}/openapi.json")
    assert spec.status_code == 200
    assert spec.json()["info"]["title"].startswith("ISLA")
    docs = client.get(f"/{prefix}/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_landing_page_shows_what_the_archive_holds(client: httpx.Client, archive: Archive) -> None:
    page = client.get("/")
    assert page.status_code == 200
    engine = create_engine(archive.database_url)
    with engine.connect() as conn:
        scws = conn.execute(text("SELECT count(*) FROM isla.science_windows")).scalar()
        sources = conn.execute(text("SELECT count(*) FROM isla.sources")).scalar()
        raw_bytes = conn.execute(
            text(
                "SELECT (SELECT sum(size) FROM isla.scw_files)"
                " + (SELECT sum(size) FROM isla.aux_files)"
            )
        ).scalar()
    engine.dispose()
    assert scws and sources
    assert f">{scws:,}<" in page.text
    assert f">{sources:,}<" in page.text
    assert f"{archive.base_url}/tap" in page.text
    summary = client.get("/api/summary").json()
    assert summary["science_windows"] == scws and summary["sources"] == sources
    assert summary["raw_bytes"] == raw_bytes
    assert summary["example_scw"] == "008100430010" and summary["example_rev"] == 81


def test_landing_page_says_what_is_simulated(client: httpx.Client, archive: Archive) -> None:
    """The demo archive is simulated: the page says so with the counts, and drops the claim
    to hold INTEGRAL's measurements."""
    engine = create_engine(archive.database_url)
    with engine.connect() as conn:
        products, simulated = conn.execute(
            text("SELECT count(*), count(*) FILTER (WHERE simulated) FROM isla.products")
        ).one()
        raw_simulated = conn.execute(
            text(
                "SELECT (SELECT count(*) FROM isla.scw_files WHERE simulated)"
                " + (SELECT count(*) FROM isla.aux_files WHERE simulated)"
            )
        ).scalar()
    engine.dispose()
    assert 0 < simulated < products and raw_simulated
    page = client.get("/").text
    assert 'id="simulated"' in page and "simulated data" in page
    assert f"{simulated:,} of its {products:,} science products" in page
    assert f"{products - simulated:,} products" in page
    assert "every measurement" not in page
    summary = client.get("/api/summary").json()
    assert summary["simulated_products"] == simulated
    assert summary["simulated_raw_files"] == raw_simulated
    assert "SIMDATA" in summary["simulation_note"]


def test_landing_page_examples_work(client: httpx.Client, archive: Archive) -> None:
    page = client.get("/").text
    commands = [line for line in page.splitlines() if line.startswith("<pre>curl ")]
    assert len(commands) >= 3
    for line in commands:
        url = next(
            w
            for w in line.removeprefix("<pre>").removesuffix("</pre>").split()
            if w.startswith("http")
        )
        assert client.get(url).status_code == 200, url


def test_scw_metadata_and_file_checksums(client: httpx.Client) -> None:
    meta = client.get("/raw/scw/008100430010")
    assert meta.status_code == 200
    body = meta.json()
    assert body["revolution"] == 81 and body["scw_type"] == "pointing"
    names = {f["name"] for f in body["files"]}
    assert "swg.fits" in names
    for entry in body["files"]:
        data = client.get(entry["url"])
        assert data.status_code == 200
        assert len(data.content) == entry["size"]
        assert hashlib.sha256(data.content).hexdigest() == entry["sha256"]
        assert data.headers["etag"] == f'"{entry["sha256"]}"'


def test_byte_ranges_resume_a_download(client: httpx.Client) -> None:
    url = "/raw/scw/008100430010/files/swg.fits"
    whole = client.get(url).content
    part = client.get(url, headers={"Range": "bytes=100-"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 100-{len(whole) - 1}/{len(whole)}"
    assert whole[:100] + part.content == whole
    tail = client.get(url, headers={"Range": "bytes=-10"})
    assert tail.content == whole[-10:]
    beyond = client.get(url, headers={"Range": f"bytes={len(whole)}-"})
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{len(whole)}"


@pytest.mark.parametrize(
    "path,status,needle",
    [
        ("/raw/scw/12ab", 400, "RRRRPPPPSSSF"),
        ("/raw/scw/0081004300100", 400, "RRRRPPPPSSSF"),
        ("/raw/scw/999999990010", 404, "unknown ScW 999999990010.001"),
        ("/raw/scw/008100430010/files/..%2F..%2Fetc%2Fpasswd", 404, "Not Found"),
        ("/raw/scw/008100430010/files/..swg.fits", 404, "has no file"),
        ("/raw/scw/008100430010/files/nothing.fits", 404, "swg.fits"),
        ("/raw/revolutions/x81", 400, "revolution"),
        ("/raw/revolutions/9998", 404, "9998"),
    ],
)
def test_bad_input_gets_problem_details(
    client: httpx.Client, path: str, status: int, needle: str
) -> None:
    response = client.get(path)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/problem+json")
    assert needle in response.json()["detail"]


def test_revolution_listing(client: httpx.Client) -> None:
    body = client.get("/raw/revolutions/0081").json()
    assert body["revolution"] == "0081"
    ids = [s["scw_id"] for s in body["scws"]]
    assert "008100430010" in ids
    assert body["count"] == len(ids)


def test_cors_for_browser_clients(client: httpx.Client) -> None:
    response = client.get("/raw/health", headers={"Origin": "https://sky.esa.int"})
    assert response.headers["access-control-allow-origin"] == "*"


def test_ready_names_what_is_down() -> None:
    """A service whose database and object store are unreachable answers 503, naming both."""
    dead = free_port()
    env = {
        **os.environ,
        "ISLA_DATABASE_URL": f"postgresql+psycopg://isla@127.0.0.1:{dead}/isla",
        "ISLA_S3_ENDPOINT": f"http://127.0.0.1:{dead}",
        "ISLA_S3_TIMEOUT": "1",
        "ISLA_DATABASE_CONNECT_TIMEOUT": "1",
    }
    with service_process("services.raw.app:app", env) as (_, base):
        response = httpx.get(f"{base}/ready", timeout=15)
        assert response.status_code == 503
        body = response.json()
        assert body["checks"]["database"]["ok"] is False
        assert body["checks"]["object_store"]["ok"] is False
        assert "database" in body["detail"] and "object_store" in body["detail"]
        assert httpx.get(f"{base}/health").status_code == 200


@pytest.mark.parametrize(
    ("app", "path"),
    [
        ("services.raw.app:app", "/raw/scw/008100430010/files/swg.fits"),
        ("services.products.app:app", "/products/files/spectrum/ISGRI/mission/J053432.0+220052"),
        ("services.ingest.app:app", "/ingest/products/spectrum/ISGRI/mission/J053432.0+220052"),
    ],
)
def test_database_outage_is_503_not_500(app: str, path: str) -> None:
    """A request that needs an unreachable database is told to come back (503, Retry-After)."""
    dead = free_port()
    env = {
        **os.environ,
        "ISLA_DATABASE_URL": f"postgresql+psycopg://isla@127.0.0.1:{dead}/isla",
        "ISLA_DATABASE_CONNECT_TIMEOUT": "1",
    }
    # A well-formed token, so that the request gets as far as the database.
    headers = {"Authorization": "Bearer isla_0123abcd_" + "x" * 43}
    with service_process(app, env) as (_, base):
        response = httpx.get(f"{base}{path}", headers=headers, timeout=20)
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "30"
    assert response.headers["content-type"] == "application/problem+json"
