"""Metrics and request ids on the served archive: every service, the queue, peer calls."""

from __future__ import annotations

import logging
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Archive

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("service", ["tap", "raw", "products", "ingest"])
def test_every_service_serves_metrics(archive: Archive, service: str) -> None:
    with httpx.Client(base_url=archive.base_url, timeout=30) as c:
        assert c.get(f"/{service}/health").status_code == 200
        answer = c.get(f"/{service}/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(answer.text)}
    requests = families["isla_http_requests"].samples
    assert any(
        s.labels["service"] == service and s.labels["route"] == f"/{service}/health"
        for s in requests
    )
    # The queue's depth, ages and live workers, read at the scrape (the suite runs a worker).
    jobs = {(s.labels["queue"], s.labels["state"]) for s in families["isla_jobs"].samples}
    assert {("default", "todo"), ("default", "doing")} <= jobs
    assert "isla_job_oldest_age_seconds" in families
    assert len(families["isla_job_workers_live"].samples) == 1


def test_the_queue_metrics_see_the_worker(archive: Archive) -> None:
    # The suite's worker process starts beside the server: its first heartbeat may take a moment.
    deadline = time.monotonic() + 60
    while True:
        text = httpx.get(f"{archive.base_url}/metrics", timeout=30).text
        families = {f.name: f for f in text_string_to_metric_families(text)}
        (live,) = families["isla_job_workers_live"].samples
        if live.value >= 1 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert live.value >= 1


def test_the_request_id_travels_to_the_peer_service(
    archive: Archive, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="isla.access")
    request_id = "isla-test-travels-0001"
    # tap hands ISLA's product calls to products (services/tap/handoff.py) over HTTP.
    answer = httpx.get(
        f"{archive.base_url}/tap/sync",
        params={"REQUEST": "timelines", "ra": "83.63", "dec": "22.01", "radius": "5"},
        headers={"X-Request-ID": request_id},
        timeout=60,
    )
    assert answer.status_code == 200
    assert answer.headers["x-request-id"] == request_id
    lines = [r for r in caplog.records if getattr(r, "request_id", None) == request_id]
    services = {getattr(r, "service", None) for r in lines if r.name == "isla.access"}
    assert services == {"tap", "products"}, [r.getMessage() for r in lines]
