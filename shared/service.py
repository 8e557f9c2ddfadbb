"""The skeleton every ISLA service shares: app factory, long-lived clients, health and errors.

Each service calls :func:`create_service` with its name and URL prefix and adds its routers.
The app then carries, on ``app.state``, its long-lived clients, created at start-up and closed
at shutdown: one async database engine for requests, one sync engine for ingestion work run in
worker threads, one object-store client and one HTTP client for its peers. Handlers take them
as dependencies (:data:`Database`, :data:`SyncDatabase`, :data:`Store`, :data:`PeerClient`), which
answer 503 with ``Retry-After`` (:class:`ServiceUnavailable`) when one is not configured, so no
handler checks for ``None``; a database or object-store outage met while a request runs is a
503 of the same form, never a 500. It answers
``/health`` (liveness) and ``/ready`` (database, schema and object store reachable) both at the
root, for when it runs alone, and under its prefix, for when it runs behind the shared base
URL; its OpenAPI description and interactive docs live under its prefix.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import unquote_to_bytes

import httpx
import psycopg
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Engine, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from shared import __version__
from shared.db.engine import make_async_engine, make_read_engine, make_sync_engine
from shared.db.migrate import head_revision
from shared.jobs.health import check_worker
from shared.observability import (
    REQUEST_ID_HEADER,
    Observability,
    configure_logging,
    current_request_id,
    metrics_router,
    peer_client,
)
from shared.security import ReadOnlyCORS, SecurityHeaders
from shared.settings import (
    database_settings,
    limit_settings,
    observability_settings,
    peer_settings,
    refuse_development_secrets,
    storage_settings,
)
from shared.storage import ObjectStore, StorageUnavailable
from shared.vo.errors import VOTABLE_ERRORS, ErrorStyle, TransientFault, UsageFault, error_response
from shared.vo.errors import install_error_handlers as install_vo_error_handlers

log = logging.getLogger("isla")

READY_TIMEOUT = 3.0
"""Seconds each readiness check may take before the dependency counts as down."""

SCHEMA_HEAD = head_revision()
"""Alembic revision this code expects; /ready reports a stale schema."""


__all__ = [
    "Database",
    "PeerClient",
    "ServiceContext",
    "ServiceUnavailable",
    "Store",
    "SyncDatabase",
    "context",
    "create_service",
    "db_engine",
    "object_store",
    "peer_http",
    "problem",
    "sync_db_engine",
]

SYNC_POOL_SIZE = 4
"""Connections of the sync engine: ingestion work runs in a few worker threads at most."""


class ServiceUnavailable(TransientFault):
    """A dependency (database, object store, peer service) cannot serve now: HTTP 503.

    The one error for outages and missing configuration: a ``TransientFault`` of the shared
    error family that always carries ``Retry-After`` (the ``retry_after`` limit setting unless
    given), answered in the endpoint's own document style (DALI VOTable or problem+json).
    """

    def __init__(self, detail: str, retry_after: int | None = None) -> None:
        """Carry the user-facing ``detail`` and the seconds the client should wait."""
        seconds = limit_settings().retry_after if retry_after is None else retry_after
        super().__init__(detail, headers={"Retry-After": str(seconds)})

    @property
    def detail(self) -> str:
        """The user-facing message (the name HTTP exceptions use)."""
        return self.message


@dataclass
class ServiceContext:
    """Long-lived clients of one service process.

    ``engine``, ``sync_engine`` and ``store`` are None when their configuration is missing or
    invalid (``config_errors`` says why; ``/ready`` reports it); handlers do not look at them
    directly but take the dependencies below, which answer 503 instead.
    """

    engine: AsyncEngine | None
    store: ObjectStore | None
    http: httpx.AsyncClient
    config_errors: dict[str, str]
    sync_engine: Engine | None = None
    read_engine: AsyncEngine | None = None
    """The read replica's engine (``ISLA_DATABASE_READ_URL``), None when there is none."""

    def require_engine(self) -> AsyncEngine:
        """The async engine; :class:`ServiceUnavailable` when the database is not configured."""
        if self.engine is None:
            raise ServiceUnavailable("the database is not configured")
        return self.engine

    def require_read_engine(self) -> AsyncEngine:
        """The engine for read-only user queries: the replica's, else the primary's."""
        return self.read_engine if self.read_engine is not None else self.require_engine()

    def require_sync_engine(self) -> Engine:
        """The sync engine (ingestion work in threads); 503 when not configured."""
        if self.sync_engine is None:
            raise ServiceUnavailable("the database is not configured")
        return self.sync_engine

    def require_store(self) -> ObjectStore:
        """The object store; :class:`ServiceUnavailable` when it is not configured."""
        if self.store is None:
            raise ServiceUnavailable("the object store is not configured")
        return self.store

    async def aclose(self) -> None:
        """Close every client (at shutdown)."""
        await self.http.aclose()
        if self.engine is not None:
            await self.engine.dispose()
        if self.read_engine is not None:
            await self.read_engine.dispose()
        if self.sync_engine is not None:
            self.sync_engine.dispose()


def problem(status: int, title: str, detail: str | None = None, **extra: Any) -> JSONResponse:
    """An RFC 9457 problem-details response (the error format of non-VO endpoints)."""
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


def context(request: Request) -> ServiceContext:
    """The service's long-lived clients (FastAPI dependency)."""
    ctx: ServiceContext = request.app.state.ctx
    return ctx


def db_engine(request: Request) -> AsyncEngine:
    """The async database engine for request work (dependency; 503 when not configured)."""
    return context(request).require_engine()


def read_db_engine(request: Request) -> AsyncEngine:
    """The engine for read-only user queries: the read replica's when one is configured
    (``ISLA_DATABASE_READ_URL``), else the primary's (dependency; 503 when not configured)."""
    return context(request).require_read_engine()


def sync_db_engine(request: Request) -> Engine:
    """The sync engine for ingestion work run in threads (dependency; 503 when missing)."""
    return context(request).require_sync_engine()


def object_store(request: Request) -> ObjectStore:
    """The object-store client (dependency; 503 when not configured)."""
    return context(request).require_store()


def peer_http(request: Request) -> httpx.AsyncClient:
    """The HTTP client for calls to peer services (dependency)."""
    return context(request).http


Database = Annotated[AsyncEngine, Depends(db_engine)]
"""A handler parameter receiving the async engine."""
SyncDatabase = Annotated[Engine, Depends(sync_db_engine)]
"""A handler parameter receiving the sync engine (for work in a worker thread)."""
Store = Annotated[ObjectStore, Depends(object_store)]
"""A handler parameter receiving the object store."""
PeerClient = Annotated[httpx.AsyncClient, Depends(peer_http)]
"""A handler parameter receiving the peers' HTTP client."""


def _build_context() -> ServiceContext:
    errors: dict[str, str] = {}
    engine: AsyncEngine | None = None
    sync_engine: Engine | None = None
    read_engine: AsyncEngine | None = None
    store: ObjectStore | None = None
    try:
        engine = make_async_engine(database_settings())
        read_engine = make_read_engine(database_settings())
        # Creating an engine opens no connection: services that never run ingestion work
        # pay nothing for it.
        sync_engine = make_sync_engine(
            database_settings(), pool_size=SYNC_POOL_SIZE, max_overflow=SYNC_POOL_SIZE
        )
    except Exception as exc:  # configuration problems surface through /ready, not a crash
        errors["database"] = str(exc)
    try:
        store = ObjectStore.from_settings(storage_settings())
    except Exception as exc:
        errors["object_store"] = str(exc)
    http = peer_client(peer_settings().peer_timeout)
    return ServiceContext(
        engine=engine,
        store=store,
        http=http,
        config_errors=errors,
        sync_engine=sync_engine,
        read_engine=read_engine,
    )


async def _check_database(ctx: ServiceContext) -> dict[str, Any]:
    # Public answers say what is down, never why in detail (hosts, ports and exception
    # classes help an attacker, not a user): the log keeps the details for the operator.
    if ctx.engine is None:
        log.error("readiness: database not configured: %s", ctx.config_errors.get("database"))
        return {"ok": False, "error": "not configured"}
    try:
        async with asyncio.timeout(READY_TIMEOUT), ctx.engine.connect() as conn:
            version = (
                await conn.execute(text("SELECT version_num FROM isla.alembic_version"))
            ).scalar()
    except TimeoutError:
        log.error("readiness: the database did not answer within %s s", READY_TIMEOUT)
        return {"ok": False, "error": "did not answer in time"}
    except Exception as exc:
        log.error("readiness: database unreachable: %s: %s", type(exc).__name__, exc)
        return {"ok": False, "error": "unreachable"}
    if version != SCHEMA_HEAD:
        log.error("readiness: schema at %s, expected %s: run migrations", version, SCHEMA_HEAD)
        return {"ok": False, "error": "schema out of date: run the migrations"}
    return {"ok": True}


async def _check_store(ctx: ServiceContext) -> dict[str, Any]:
    if ctx.store is None:
        log.error(
            "readiness: object store not configured: %s", ctx.config_errors.get("object_store")
        )
        return {"ok": False, "error": "not configured"}
    store = ctx.store
    try:
        async with asyncio.timeout(READY_TIMEOUT):
            await asyncio.to_thread(store.ping)
    except TimeoutError:
        log.error("readiness: the object store did not answer within %s s", READY_TIMEOUT)
        return {"ok": False, "error": "did not answer in time"}
    except Exception as exc:
        log.error("readiness: object store unreachable: %s: %s", type(exc).__name__, exc)
        return {"ok": False, "error": "unreachable"}
    return {"ok": True}


def _health_router(name: str, prefix: str) -> APIRouter:
    router = APIRouter(tags=["health"])

    async def health() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok", "service": name, "version": __version__}

    async def ready(request: Request) -> JSONResponse:
        """Readiness: the database (at the expected schema) and the object store answer,
        and a job worker is alive when jobs wait.

        Says ready or not and which dependency is down; the reasons go to the log.
        """
        ctx = context(request)
        db, store, worker = await asyncio.gather(
            _check_database(ctx), _check_store(ctx), check_worker(ctx.engine)
        )
        checks = {"database": db, "object_store": store, "job_worker": worker}
        ok = all(c["ok"] for c in checks.values())
        down = [k for k, c in checks.items() if not c["ok"]]
        body = {
            "status": "ready" if ok else "unavailable",
            "service": name,
            "checks": checks,
        }
        if down:
            body["detail"] = "down: " + ", ".join(down)
        return JSONResponse(body, status_code=200 if ok else 503)

    for base in ("", prefix):
        router.add_api_route(f"{base}/health", health, methods=["GET"], name=f"{name}-health{base}")
        router.add_api_route(f"{base}/ready", ready, methods=["GET"], name=f"{name}-ready{base}")
    return router


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # A dict detail carries extra members (e.g. links) beside its "detail" text.
        extra: dict[str, Any] = dict(exc.detail) if isinstance(exc.detail, dict) else {}
        detail = exc.detail if isinstance(exc.detail, str) else extra.pop("detail", None)
        response = problem(exc.status_code, _TITLES.get(exc.status_code, "Error"), detail, **extra)
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"where": ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg", "")}
            for e in exc.errors()
        ]
        return problem(
            400,
            "Bad request",
            "; ".join(f"{e['where']}: {e['message']}" for e in errors),
            errors=errors,
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Never leak SQL or stack traces to users; the log keeps the details.
        log.exception("unhandled error on %s", request.url.path)
        response = problem(500, "Internal error", "the server failed; the error has been logged")
        # This answer leaves outside the request-id middleware: it carries the id itself.
        if request_id := current_request_id():
            response.headers[REQUEST_ID_HEADER] = request_id
        return response


_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Payload too large",
    416: "Range not satisfiable",
    503: "Service unavailable",
}


def create_service(
    name: str,
    prefix: str,
    *,
    title: str,
    description: str,
    routers: Sequence[APIRouter] = (),
    on_startup: Callable[[FastAPI], Any] | None = None,
) -> FastAPI:
    """Build one ISLA service app with the shared skeleton and the given routers."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # A service configured with a secret published with ISLA does not start at all.
        refuse_development_secrets()
        configure_logging()
        ctx = _build_context()
        app.state.ctx = ctx
        if on_startup is not None:
            result = on_startup(app)
            if asyncio.iscoroutine(result):
                await result
        try:
            yield
        finally:
            await ctx.aclose()

    app = FastAPI(
        title=title,
        description=description,
        version=__version__,
        openapi_url=f"{prefix}/openapi.json",
        docs_url=f"{prefix}/docs",
        swagger_ui_oauth2_redirect_url=f"{prefix}/docs/oauth2-redirect",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.add_middleware(CleanInput, vo_paths=vo_prefixes(routers))
    # Browser clients (ESASky, Aladin Lite, the portal's plots) call the services directly,
    # for reading only: see ReadOnlyCORS. Security headers wrap everything, CORS answers too.
    app.add_middleware(ReadOnlyCORS)
    app.add_middleware(SecurityHeaders)
    # Outermost: the request id and the metrics cover every answer, refusals included.
    app.add_middleware(Observability, service=name)
    _install_error_handlers(app)
    install_vo_error_handlers(app)
    _install_outage_handlers(app)
    app.include_router(_health_router(name, prefix))
    if observability_settings().metrics_enabled:
        app.include_router(metrics_router(name, prefix))
    for router in routers:
        app.include_router(router)
    _unique_operation_ids(app)
    return app


def _unique_operation_ids(app: FastAPI) -> None:
    """One operationId per method in the OpenAPI document.

    FastAPI names an operation after its route, so a route answering several methods (GET and
    POST for the VO protocols, GET and HEAD for downloads) would give clients generated from
    the document clashing names; each method's operation gets its own suffix instead.
    """

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Duplicate Operation ID")
                schema = get_openapi(
                    title=app.title,
                    version=app.version,
                    description=app.description,
                    routes=app.routes,
                )
            operations = [
                (method, operation)
                for path in schema.get("paths", {}).values()
                for method, operation in path.items()
            ]
            for method, operation in operations:
                if method in ("get", "head"):
                    # VO routes declare their form body once for GET and POST (shared.openapi).
                    operation.pop("requestBody", None)
            counts = Counter(operation.get("operationId") for _, operation in operations)
            for method, operation in operations:
                op_id = operation.get("operationId")
                if op_id and counts[op_id] > 1:
                    # FastAPI's ids end with one method's name: give each its own.
                    operation["operationId"] = f"{op_id.rsplit('_', 1)[0]}_{method}"
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


# --- bad input -----------------------------------------------------------------------------------


class CleanInput:
    """Refuse NUL bytes and invalid UTF-8 in a request's path and query string (400).

    Neither can be stored or compared by Postgres (a NUL in a text parameter fails the
    statement), so they are refused before any handler runs, in the endpoint's own error
    style: a DALI document for VO endpoints (routes with ``VOTABLE_ERRORS``), problem+json
    otherwise. Form fields are checked by the shared parameter reader
    (:func:`shared.vo.params.ivoa_params`).
    """

    def __init__(self, app: ASGIApp, vo_paths: Sequence[str] = ()) -> None:
        """Wrap ``app``; ``vo_paths``: prefixes of the VO endpoints (see :func:`vo_prefixes`)."""
        self.app = app
        self.vo_paths = tuple(vo_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer 400 for a bad path or query string; pass everything else on."""
        if scope["type"] == "http":
            problem_text = bad_input(scope)
            if problem_text is not None:
                request = Request(scope, receive)
                path: str = scope["path"]
                if any(path == p or path.startswith(p + "/") for p in self.vo_paths):
                    request.state.error_style = ErrorStyle.VOTABLE
                response = error_response(request, UsageFault(problem_text))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def bad_input(scope: Scope) -> str | None:
    """Why the request's path or query string is refused (None: it is clean)."""
    raw_path = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
    path = unquote_to_bytes(raw_path)
    if b"\x00" in path:
        return "the path holds a NUL byte"
    try:
        path.decode("utf-8")
    except UnicodeDecodeError:
        return "the path is not valid UTF-8"
    query: bytes = scope.get("query_string", b"")
    for pair in query.split(b"&"):
        name, _, value = pair.partition(b"=")
        for part, what in ((name, "name"), (value, "value")):
            decoded = unquote_to_bytes(part.replace(b"+", b" "))
            label = unquote_to_bytes(name).decode("utf-8", "replace").replace("\x00", "")
            if b"\x00" in decoded:
                return f"the query parameter {what} {label!r} holds a NUL byte"
            try:
                decoded.decode("utf-8")
            except UnicodeDecodeError:
                return f"the query parameter {what} {label!r} is not valid UTF-8"
    return None


def vo_prefixes(routers: Sequence[APIRouter]) -> tuple[str, ...]:
    """URL prefixes of the routers whose errors are DALI documents (``VOTABLE_ERRORS``)."""
    return tuple(
        router.prefix
        for router in routers
        if router.prefix
        and any(d.dependency is VOTABLE_ERRORS.dependency for d in router.dependencies)
    )


# --- outages ------------------------------------------------------------------------------------

_DATABASE_DOWN = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError)
"""What SQLAlchemy raises when Postgres cannot be reached or its pool is exhausted."""


def is_database_outage(exc: BaseException) -> bool:
    """True when ``exc`` means the database cannot serve now (not a fault of the request).

    A statement timeout or a cancelled query is a psycopg ``OperationalError`` too, but it
    is the query's doing, not an outage: it is left to the handler that ran the query.
    """
    if isinstance(exc, sa_exc.DBAPIError) and isinstance(exc.orig, psycopg.errors.QueryCanceled):
        return False
    if isinstance(exc, psycopg.errors.QueryCanceled):
        return False
    return isinstance(exc, (*_DATABASE_DOWN, psycopg.OperationalError, psycopg.InterfaceError))


def _install_outage_handlers(app: FastAPI) -> None:
    """Answer a database or object-store outage met by any handler as 503 + Retry-After."""

    async def outage(request: Request, exc: Exception) -> Response:
        if isinstance(exc, StorageUnavailable):
            what = "the object store cannot serve now; retry later"
        elif is_database_outage(exc):
            what = "the database cannot serve now; retry later"
        else:  # a query's own failure (e.g. cancelled): the generic 500
            log.exception("unhandled error on %s", request.url.path)
            return problem(500, "Internal error", "the server failed; the error has been logged")
        log.error("%s on %s: %s", what, request.url.path, type(exc).__name__)
        return error_response(request, ServiceUnavailable(what))

    for kind in (*_DATABASE_DOWN, psycopg.OperationalError, psycopg.InterfaceError):
        app.add_exception_handler(kind, outage)
    app.add_exception_handler(StorageUnavailable, outage)
