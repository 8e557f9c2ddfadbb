"""Metrics, request ids and structured logs (shared.observability), on a small app of its own."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import APIRouter
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from shared import settings as cfg
from shared.observability import (
    REQUEST_ID_HEADER,
    RequestContext,
    configure_logging,
    peer_client,
)
from shared.service import PeerClient, create_service
from shared.storage import StorageUnavailable

PEER_SEEN: list[str | None] = []  # what the stand-in peer received


def peer_answer(request: httpx.Request) -> httpx.Response:
    PEER_SEEN.append(request.headers.get(REQUEST_ID_HEADER))
    return httpx.Response(200, text="peer")


def build_app(service: str) -> tuple[object, logging.Logger]:
    """A service with a templated route that logs (also from a thread) and calls a peer."""
    router = APIRouter(prefix=f"/{service}")
    logger = logging.getLogger(f"isla.test.{service}")

    @router.get("/items/{item_id}")
    async def item(item_id: str) -> dict[str, str]:
        logger.info("serving item %s", item_id)
        await asyncio.to_thread(logger.info, "work in a thread for %s", item_id)
        return {"item": item_id}

    @router.get("/relay")
    async def relay(http: PeerClient) -> dict[str, str]:
        # A client made like the service's own (same hooks), pointed at a stand-in peer.
        stand_in = peer_client(5, transport=httpx.MockTransport(peer_answer))
        assert stand_in.event_hooks["request"] == http.event_hooks["request"]
        async with stand_in as c:
            await c.get("http://peer/products/x")
        return {"ok": "yes"}

    @router.get("/broken")
    async def broken() -> dict[str, str]:
        raise RuntimeError("boom")

    app = create_service(service, f"/{service}", title="t", description="d", routers=[router])
    return app, logger


@asynccontextmanager
async def client_of(
    app: object, client: tuple[str, int] = ("127.0.0.1", 5000)
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of ``app`` with its lifespan run, calling from address ``client``."""
    async with app.router.lifespan_context(app):  # type: ignore[attr-defined]
        transport = httpx.ASGITransport(app=app, client=client, raise_app_exceptions=False)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            yield c


def count(service: str, route: str, status: str = "200", method: str = "GET") -> float:
    value = REGISTRY.get_sample_value(
        "isla_http_requests_total",
        {"service": service, "method": method, "route": route, "status": status},
    )
    return value or 0.0


async def test_a_well_formed_request_id_is_echoed_and_a_bad_one_replaced() -> None:
    app, _ = build_app("rid")
    async with client_of(app) as c:
        given = "3f2b9c1e-aaaa-4bbb-8ccc-0123456789ab"
        assert (await c.get("/rid/items/1", headers={"X-Request-ID": given})).headers[
            "x-request-id"
        ] == given
        for bad in ("two words", "x" * 200, "<script>", "-starts-with-dash"):
            answered = (await c.get("/rid/items/1", headers={"X-Request-ID": bad})).headers[
                "x-request-id"
            ]
            assert answered != bad
            assert re.fullmatch(r"[0-9a-f]{32}", answered)
        first = (await c.get("/rid/items/1")).headers["x-request-id"]
        second = (await c.get("/rid/items/1")).headers["x-request-id"]
        assert first != second
        # Refusals before any handler (a NUL byte) and unknown paths carry one too.
        assert "x-request-id" in (await c.get("/rid/items/a%00b")).headers
        assert "x-request-id" in (await c.get("/nowhere")).headers
        # So does the 500 answered outside the middleware.
        broken = await c.get("/rid/broken", headers={"X-Request-ID": "req-500"})
        assert broken.status_code == 500
        assert broken.headers["x-request-id"] == "req-500"


async def test_every_log_line_of_a_request_carries_its_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app, logger = build_app("logs")
    async with client_of(app) as c:
        caplog.set_level(logging.INFO)
        caplog.clear()
        await c.get("/logs/items/42", headers={"X-Request-ID": "trace-42"})
    mine = [r for r in caplog.records if r.name in (logger.name, "isla.access")]
    assert [r.getMessage() for r in mine] == [
        "serving item 42",
        "work in a thread for 42",
        "GET /logs/items/42 200",
    ]
    for record in mine:
        RequestContext().filter(record)
        assert record.request_id == "trace-42"  # type: ignore[attr-defined]
        assert record.service == "logs"  # type: ignore[attr-defined]
    access = mine[-1]
    assert access.route == "/logs/items/{item_id}"  # type: ignore[attr-defined]
    assert access.status == 200  # type: ignore[attr-defined]


def test_json_lines_hold_the_request_context() -> None:
    configure_logging(cfg.ObservabilitySettings(log_format="json", log_level="INFO"))
    handler = next(h for h in logging.getLogger().handlers if getattr(h, "_isla_handler", False))
    record = logging.getLogger("isla.test.json").makeRecord(
        "isla.test.json",
        logging.WARNING,
        __file__,
        1,
        "disk %s is full",
        ("/tmp",),
        None,
        extra={"free": 0},
    )
    assert handler.filter(record)
    line = handler.format(record)
    assert "\n" not in line
    fields = json.loads(line)
    assert fields["message"] == "disk /tmp is full"
    assert fields["level"] == "WARNING"
    assert fields["logger"] == "isla.test.json"
    assert fields["free"] == 0
    assert "request_id" in fields
    assert "time" in fields


async def test_peer_calls_forward_the_request_id() -> None:
    app, _ = build_app("peer")
    PEER_SEEN.clear()
    async with client_of(app) as c:
        await c.get("/peer/relay", headers={"X-Request-ID": "follow-me"})
        answered = (await c.get("/peer/relay")).headers["x-request-id"]
    seen = list(PEER_SEEN)
    assert seen == ["follow-me", answered]


async def test_metrics_are_labelled_by_route_template() -> None:
    app, _ = build_app("met")
    template = "/met/items/{item_id}"
    before = count("met", template)
    unmatched = count("met", "unmatched", "404")
    async with client_of(app) as c:
        for n in range(5):
            await c.get(f"/met/items/{n}")
        await c.get("/met/no/such/path")
        await c.get("/met/openapi.json")
        assert (await c.get("/metrics")).status_code == 200
        text = (await c.get("/met/metrics")).text
    assert count("met", template) == before + 5
    assert count("met", "/met/openapi.json") >= 1  # a plain Starlette route has its template too
    assert count("met", "unmatched", "404") == unmatched + 1
    families = {f.name: f for f in text_string_to_metric_families(text)}
    routes = {s.labels.get("route") for s in families["isla_http_requests"].samples}
    assert template in routes
    assert not any(r and re.search(r"/met/items/\d", r) for r in routes), routes
    assert "isla_http_request_duration_seconds" in families
    assert "isla_http_requests_in_progress" in families


@pytest.mark.parametrize(
    ("client", "token", "header", "status"),
    [
        (("127.0.0.1", 1), None, None, 200),
        (("10.1.2.3", 1), None, None, 200),
        (("203.0.113.9", 1), None, None, 403),
        (("203.0.113.9", 1), "s3cret-scrape", "Bearer s3cret-scrape", 200),
        (("203.0.113.9", 1), "s3cret-scrape", "Bearer wrong", 403),
    ],
)
async def test_metrics_are_for_the_monitoring_network_or_the_token(
    monkeypatch: pytest.MonkeyPatch,
    client: tuple[str, int],
    token: str | None,
    header: str | None,
    status: int,
) -> None:
    if token:
        monkeypatch.setenv("ISLA_METRICS_TOKEN", token)
    cfg.observability_settings.cache_clear()
    try:
        app, _ = build_app("guard")
        async with client_of(app, client) as c:
            headers = {"Authorization": header} if header else {}
            answer = await c.get("/guard/metrics", headers=headers)
        assert answer.status_code == status
        if status == 403:
            assert "isla_http" not in answer.text
    finally:
        cfg.observability_settings.cache_clear()


def test_a_bad_network_list_is_refused_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ISLA_METRICS_NETWORKS", "10.0.0.0/8,not-a-network")
    with pytest.raises(ValueError, match="metrics_networks"):
        cfg.ObservabilitySettings()


def object_store_errors() -> float:
    return sum(
        sample.value
        for family in REGISTRY.collect()
        if family.name == "isla_dependency_errors"
        for sample in family.samples
        if sample.name.endswith("_total") and sample.labels["dependency"] == "object_store"
    )


def test_object_store_failures_are_counted() -> None:
    before = object_store_errors()
    StorageUnavailable("the store is down")
    assert object_store_errors() == before + 1
