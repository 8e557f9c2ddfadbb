"""The skeleton every ISLA service shares: app factory, long-lived clients, health and errors.

Each service calls :func:`create_service` with its name and URL prefix and adds its routers.
The app then carries, on ``app.state``, one async database engine, one object-store client and
one HTTP client for its peers, created at start-up and closed at shutdown. It answers
``/health`` (liveness) and ``/ready`` (database, schema and object store reachable) both at the
root, for when it runs alone, and under its prefix, for when it runs behind the shared base
URL; its OpenAPI description and interactive docs live under its prefix.
"""

from __future__ import annotations

import asyncio
import logging
import re
import warnings
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared import __version__
from shared.db.engine import make_async_engine
from shared.db.migrate import head_revision
from shared.settings import database_settings, peer_settings, storage_settings
from shared.storage import ObjectStore
from shared.vo.errors import install_error_handlers as install_vo_error_handlers

log = logging.getLogger("isla")

READY_TIMEOUT = 3.0
"""Seconds each readiness check may take before the dependency counts as down."""

SCHEMA_HEAD = head_revision()
"""Alembic revision this code expects; /ready reports a stale schema."""


@dataclass
class ServiceContext:
    """Long-lived clients of one service process."""

    engine: AsyncEngine | None
    store: ObjectStore | None
    http: httpx.AsyncClient
    config_errors: dict[str, str]


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


def _build_context() -> ServiceContext:
    errors: dict[str, str] = {}
    engine: AsyncEngine | None = None
    store: ObjectStore | None = None
    try:
        engine = make_async_engine(database_settings())
    except Exception as exc:  # configuration problems surface through /ready, not a crash
        errors["database"] = str(exc)
    try:
        store = ObjectStore.from_settings(storage_settings())
    except Exception as exc:
        errors["object_store"] = str(exc)
    http = httpx.AsyncClient(timeout=peer_settings().peer_timeout)
    return ServiceContext(engine=engine, store=store, http=http, config_errors=errors)


async def _check_database(ctx: ServiceContext) -> dict[str, Any]:
    if ctx.engine is None:
        return {"ok": False, "error": ctx.config_errors.get("database", "not configured")}
    try:
        async with asyncio.timeout(READY_TIMEOUT), ctx.engine.connect() as conn:
            version = (
                await conn.execute(text("SELECT version_num FROM isla.alembic_version"))
            ).scalar()
    except Exception as exc:
        return {"ok": False, "error": f"database unreachable: {type(exc).__name__}: {exc}"[:300]}
    if version != SCHEMA_HEAD:
        return {
            "ok": False,
            "error": f"schema at {version}, expected {SCHEMA_HEAD}: run migrations",
        }
    return {"ok": True, "schema": version}


async def _check_store(ctx: ServiceContext) -> dict[str, Any]:
    if ctx.store is None:
        return {"ok": False, "error": ctx.config_errors.get("object_store", "not configured")}
    store = ctx.store
    try:
        async with asyncio.timeout(READY_TIMEOUT):
            await asyncio.to_thread(store.ping)
    except TimeoutError:
        return {"ok": False, "error": "object store did not answer in time"}
    except Exception as exc:
        return {"ok": False, "error": f"object store unreachable: {exc}"[:300]}
    return {"ok": True}


def _health_router(name: str, prefix: str) -> APIRouter:
    router = APIRouter(tags=["health"])

    async def health() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok", "service": name, "version": __version__}

    async def ready(request: Request) -> JSONResponse:
        """Readiness: the database (at the expected schema) and the object store answer."""
        ctx = context(request)
        db, store = await asyncio.gather(_check_database(ctx), _check_store(ctx))
        checks = {"database": db, "object_store": store}
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
        return problem(500, "Internal error", "the server failed; the error has been logged")


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
        ctx = _build_context()
        app.state.ctx = ctx
        if on_startup is not None:
            result = on_startup(app)
            if asyncio.iscoroutine(result):
                await result
        try:
            yield
        finally:
            await ctx.http.aclose()
            if ctx.engine is not None:
                await ctx.engine.dispose()

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
    # Browser clients (ESASky, Aladin Lite, the portal's plots) call the services directly.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["*"],
        allow_methods=["*"],
        allow_headers=["*"],
        expose_headers=["Content-Length", "Content-Range", "ETag", "Content-Disposition"],
    )
    _install_error_handlers(app)
    install_vo_error_handlers(app)
    app.include_router(_health_router(name, prefix))
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
            counts = Counter(operation.get("operationId") for _, operation in operations)
            for method, operation in operations:
                op_id = operation.get("operationId")
                if op_id and counts[op_id] > 1:
                    # FastAPI's ids end with one method's name: give each its own.
                    operation["operationId"] = f"{op_id.rsplit('_', 1)[0]}_{method}"
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


_BYTE_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def parse_byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) inclusive byte positions of a single-range ``Range`` header; None for all.

    A multi-range or malformed header gets the whole file (RFC 9110 allows it); a range
    outside the file is a 416 with ``Content-Range: bytes */size``.
    """
    if not header:
        return None
    match = _BYTE_RANGE.match(header.strip())
    if not match or (not match.group(1) and not match.group(2)):
        return None
    first_s, last_s = match.groups()
    if first_s:
        first = int(first_s)
        last = min(int(last_s), size - 1) if last_s else size - 1
    else:
        first, last = max(0, size - int(last_s)), size - 1
    if first >= size or first > last:
        raise HTTPException(
            416,
            f"range {header} is outside the file of {size} bytes",
            headers={"Content-Range": f"bytes */{size}"},
        )
    return first, last
