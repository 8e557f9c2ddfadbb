"""What an operator sees of a running service: metrics, structured logs and request ids.

**Request ids.** Every request gets an id: the caller's ``X-Request-ID`` when it is well formed
(:data:`REQUEST_ID_PATTERN`: a UUID, a trace id, ...), a new random one otherwise. It is sent
back in the answer's ``X-Request-ID``, put in every log line written while the request is
served (also from worker threads: ``asyncio.to_thread`` copies the context), and forwarded on
the calls a service makes to its peers (:func:`peer_client`), so that one id follows a request
through tap → products or raw → products.

**Logs.** :func:`configure_logging` writes one JSON object per line (python-json-logger) with
``time``, ``level``, ``logger``, ``message``, ``request_id`` and ``service``, or text for a
terminal (``ISLA_LOG_FORMAT``). Each request gets one access line (logger ``isla.access``:
method, path, route, status, duration, bytes) in place of uvicorn's.

**Metrics** (prometheus-client). Requests, latencies and errors are labelled by the route's
*template* (``/raw/scw/{scw_id}``), never the raw path, so their number stays bounded whatever
clients send; a path no route matches counts as ``unmatched``. Database and object-store
failures are counted where they happen (:func:`count_dependency_error`); the job queue's depth,
ages and live workers are read from the queue tables at each scrape (:func:`queue_metrics`).
``/metrics`` answers the clients of ``ISLA_METRICS_NETWORKS`` (loopback and private ranges: a
scraper inside the cluster) and anyone with the bearer token ``ISLA_METRICS_TOKEN``; others get
403. Under several web worker processes (``isla up``), ``PROMETHEUS_MULTIPROC_DIR`` makes every
process write its samples there and ``/metrics`` adds them up.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import os
import re
import sys
import time
import uuid
from contextvars import ContextVar
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from pythonjsonlogger.json import JsonFormatter
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.db.ops import OPS_SCHEMA
from shared.settings import ObservabilitySettings, WorkerSettings, observability_settings

log = logging.getLogger("isla.observability")
access_log = logging.getLogger("isla.access")

REQUEST_ID_HEADER = "X-Request-ID"
"""The header that carries a request's id in and out, and to peer services."""

REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+=/-]{0,127}")
"""A request id accepted from a caller: up to 128 characters that are safe in a log line and a
header (UUIDs, W3C trace ids, load-balancer ids). Anything else is replaced."""

UNMATCHED = "unmatched"
"""The route label of a request no route matched (404s of unknown paths, refused input)."""

_request_id: ContextVar[str | None] = ContextVar("isla_request_id", default=None)
_service: ContextVar[str | None] = ContextVar("isla_service", default=None)


def current_request_id() -> str | None:
    """The id of the request being served (None outside a request)."""
    return _request_id.get()


def accepted_request_id(value: str | None) -> str:
    """``value`` when it is a well-formed request id, a new random one otherwise."""
    if value and REQUEST_ID_PATTERN.fullmatch(value):
        return value
    return uuid.uuid4().hex


# --- metrics -------------------------------------------------------------------------------------

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
"""Request duration buckets (seconds): from a cached page to a five-minute sync query."""

REQUESTS = Counter(
    "isla_http_requests",
    "HTTP requests answered, by service, method, route template and status code.",
    ["service", "method", "route", "status"],
)
LATENCY = Histogram(
    "isla_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer (streamed bodies included).",
    ["service", "method", "route"],
    buckets=LATENCY_BUCKETS,
)
IN_PROGRESS = Gauge(
    "isla_http_requests_in_progress",
    "Requests being served now.",
    ["service"],
    multiprocess_mode="livesum",
)
DEPENDENCY_ERRORS = Counter(
    "isla_dependency_errors",
    "Failures of the database or the object store met while serving (outages, refusals).",
    ["service", "dependency"],
)


def count_dependency_error(dependency: str) -> None:
    """Count one failure of ``dependency`` (``database`` or ``object_store``)."""
    DEPENDENCY_ERRORS.labels(_service.get() or "none", dependency).inc()


def route_template(scope: Scope) -> str:
    """The template of the route that served ``scope`` (bounded label), or ``unmatched``."""
    route = scope.get("route")
    if route is None and "endpoint" in scope:
        # Plain Starlette routes (the OpenAPI document, the docs pages) set only the endpoint.
        routes = getattr(scope.get("app"), "routes", ())
        route = next((r for r in routes if getattr(r, "endpoint", None) is scope["endpoint"]), None)
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    if isinstance(path, str):
        return path or "/"
    # A Mount (static files, a sub-application) sets no route, but extends the root path.
    outer, inner = scope.get("app_root_path"), scope.get("root_path", "")
    if isinstance(outer, str) and isinstance(inner, str) and len(inner) > len(outer):
        return inner[len(outer) :] + "/{path}"
    return UNMATCHED


_QUEUE = text(
    f"""
    SELECT j.queue_name, j.status, count(*) AS n,
           extract(epoch FROM now() - min(e.at)) AS oldest
      FROM {OPS_SCHEMA}.procrastinate_jobs j
      LEFT JOIN {OPS_SCHEMA}.procrastinate_events e ON e.job_id = j.id AND e.type = 'deferred'
     WHERE j.status IN ('todo', 'doing')
     GROUP BY j.queue_name, j.status
    """  # noqa: S608 - the schema name is a constant
)
_WORKERS = text(
    f"SELECT count(*) FROM {OPS_SCHEMA}.procrastinate_workers "  # noqa: S608 - a constant
    "WHERE last_heartbeat > now() - make_interval(secs => :fresh)"
)
QUEUE_FAMILIES = ("isla_jobs", "isla_job_oldest_age_seconds", "isla_job_workers_live")
"""Names of the queue's metric families (:func:`queue_metrics`)."""
QUEUE_TIMEOUT = 3.0
"""Seconds the queue query of a scrape may take; beyond, the queue's samples are left out."""


class _Samples:
    """A collector of fixed metric families (the queue's, read at one scrape)."""

    def __init__(self, families: list[Metric]) -> None:
        """Hold ``families`` for one collection."""
        self.families = families

    def collect(self) -> list[Metric]:
        """The families as read."""
        return self.families


async def queue_metrics(engine: AsyncEngine | None) -> bytes:
    """The job queue's state in the Prometheus text format, read now from the queue tables.

    Jobs waiting (``todo``) and running (``doing``) per queue, the age of the oldest of each
    (seconds since it was deferred), and the workers with a fresh heartbeat. Empty when the
    database does not answer (``isla_dependency_errors_total`` counts that). Built as metric
    families, not gauges: under multiprocess mode a gauge would leave a file per scrape.
    """
    if engine is None:
        return b""
    try:
        async with asyncio.timeout(QUEUE_TIMEOUT), engine.connect() as conn:
            rows = (await conn.execute(_QUEUE)).all()
            live = (
                await conn.execute(_WORKERS, {"fresh": WorkerSettings().stalled_after})
            ).scalar()
    except Exception as exc:  # the scrape still answers the request metrics
        log.warning("metrics: the job queue could not be read: %s", type(exc).__name__)
        return b""
    counts = {("default", "todo"): 0.0, ("default", "doing"): 0.0}
    ages = dict(counts)
    for row in rows:
        counts[(row.queue_name, row.status)] = float(row.n)
        ages[(row.queue_name, row.status)] = float(row.oldest or 0)
    jobs = GaugeMetricFamily(
        "isla_jobs", "Jobs in the queue by queue and state.", labels=["queue", "state"]
    )
    oldest = GaugeMetricFamily(
        "isla_job_oldest_age_seconds",
        "Age of the oldest job in each queue and state (seconds since it was deferred).",
        labels=["queue", "state"],
    )
    for key, value in sorted(counts.items()):
        jobs.add_metric(list(key), value)
        oldest.add_metric(list(key), ages[key])
    workers = GaugeMetricFamily(
        "isla_job_workers_live", "Job workers with a fresh heartbeat.", value=float(live or 0)
    )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Samples([jobs, oldest, workers]))
    return generate_latest(registry)


def process_metrics() -> bytes:
    """The samples of this process, or of every web worker process when they share a folder."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def metrics_allowed(request: Request, settings: ObservabilitySettings) -> bool:
    """Whether the caller may read the metrics: a listed network, or the bearer token."""
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else ""
    if token:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token):
            return True
    host = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    for network in filter(None, (n.strip() for n in settings.metrics_networks.split(","))):
        if address in ipaddress.ip_network(network, strict=False):
            return True
    return False


def metrics_router(name: str, prefix: str) -> APIRouter:
    """``GET /metrics`` and ``GET <prefix>/metrics``: this process's and the queue's samples."""
    router = APIRouter(tags=["health"])

    async def metrics(request: Request) -> Response:
        """Prometheus metrics (text format) for the listed networks or the token holder."""
        settings = observability_settings()
        if not metrics_allowed(request, settings):
            return JSONResponse(
                {
                    "type": "about:blank",
                    "title": "Forbidden",
                    "status": 403,
                    "detail": "metrics are served to the monitoring network only",
                },
                status_code=403,
                media_type="application/problem+json",
            )
        engine: AsyncEngine | None = request.app.state.ctx.engine
        body = process_metrics() + await queue_metrics(engine)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    for base in ("", prefix):
        router.add_api_route(
            f"{base}/metrics",
            metrics,
            methods=["GET"],
            name=f"{name}-metrics{base}",
            include_in_schema=False,
        )
    return router


# --- the middleware ------------------------------------------------------------------------------


class Observability:
    """ASGI middleware: request id, request metrics and the access log line of each request."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        """Wrap ``app``, the service named ``service`` (the metrics' ``service`` label)."""
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request, measuring it; other ASGI events pass through."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or ())
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = accepted_request_id(given)
        # Left set after the request: each request runs in its own task (uvicorn), whose
        # context ends with it, and the error handler outside this middleware still logs with it.
        _request_id.set(request_id)
        _service.set(self.service)
        started = time.perf_counter()
        status = 500
        sent = 0

        async def send_measured(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        IN_PROGRESS.labels(self.service).inc()
        try:
            await self.app(scope, receive, send_measured)
        finally:
            IN_PROGRESS.labels(self.service).dec()
            elapsed = time.perf_counter() - started
            route = route_template(scope)
            method = scope.get("method", "GET")
            REQUESTS.labels(self.service, method, route, str(status)).inc()
            LATENCY.labels(self.service, method, route).observe(elapsed)
            if access_log.isEnabledFor(logging.INFO):
                client = scope.get("client")
                access_log.info(
                    "%s %s %s",
                    method,
                    scope.get("path", ""),
                    status,
                    extra={
                        "method": method,
                        "path": scope.get("path", ""),
                        "route": route,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 1),
                        "bytes": sent,
                        "client": client[0] if client else None,
                    },
                )


# --- peers ---------------------------------------------------------------------------------------


async def _forward_request_id(request: httpx.Request) -> None:
    request_id = current_request_id()
    if request_id and REQUEST_ID_HEADER not in request.headers:
        request.headers[REQUEST_ID_HEADER] = request_id


def peer_client(timeout: float, **kwargs: Any) -> httpx.AsyncClient:
    """The HTTP client for calls to peer services: forwards the current request's id."""
    hooks = kwargs.pop("event_hooks", {})
    hooks = {**hooks, "request": [*hooks.get("request", []), _forward_request_id]}
    return httpx.AsyncClient(timeout=timeout, event_hooks=hooks, **kwargs)


# --- logs ----------------------------------------------------------------------------------------


class RequestContext(logging.Filter):
    """Adds ``request_id`` and ``service`` of the request being served to a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Annotate ``record`` (unless it has them already); never drops it."""
        if not hasattr(record, "request_id"):
            record.request_id = _request_id.get()
        if not hasattr(record, "service"):
            record.service = _service.get()
        return True


_ANNOTATE = RequestContext()


def _install_record_factory() -> None:
    """Annotate every record when it is made, whichever handler (or test capture) gets it."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "_isla_annotates", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        record.request_id = _request_id.get()
        record.service = _service.get()
        return record

    factory._isla_annotates = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


class TextFormatter(logging.Formatter):
    """A terminal's line: time, level, logger, [request id], message."""

    def format(self, record: logging.LogRecord) -> str:
        """One line; ``-`` in place of the request id outside a request."""
        record.request_tag = getattr(record, "request_id", None) or "-"
        return super().format(record)


_HANDLER_MARK = "_isla_handler"


def configure_logging(settings: ObservabilitySettings | None = None) -> None:
    """Send the process's logs to stderr as JSON lines (or text), with request context.

    Idempotent. Handlers others installed on the root logger (a test's capture) stay. uvicorn's
    error log goes through the same handler; its access log gives way to ``isla.access``.
    """
    settings = settings or observability_settings()
    _install_record_factory()
    root = logging.getLogger()
    handler = next((h for h in root.handlers if getattr(h, _HANDLER_MARK, False)), None)
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        setattr(handler, _HANDLER_MARK, True)
        root.addHandler(handler)
    handler.filters = [_ANNOTATE]
    if settings.log_format == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(service)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                datefmt="%Y-%m-%dT%H:%M:%S%z",
            )
        )
    else:
        handler.setFormatter(
            TextFormatter("%(asctime)s %(levelname)s %(name)s [%(request_tag)s] %(message)s")
        )
    root.setLevel(settings.log_level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True
    uvicorn_access = logging.getLogger("uvicorn.access")
    if settings.access_log:
        uvicorn_access.handlers = []
        uvicorn_access.propagate = False
        uvicorn_access.disabled = True
    access_log.disabled = not settings.access_log


__all__ = [
    "REQUEST_ID_HEADER",
    "Observability",
    "accepted_request_id",
    "configure_logging",
    "count_dependency_error",
    "current_request_id",
    "metrics_router",
    "peer_client",
    "queue_metrics",
    "route_template",
]
