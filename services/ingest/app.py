"""The ingest service app (``uvicorn services.ingest.app:app``), owner of ``/ingest``."""

from __future__ import annotations

import importlib
import logging

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from services.ingest import audit
from services.ingest.auth import PRINCIPAL_STATE, Principal, principal_of
from services.ingest.routes import router
from services.ingest.settings import configure
from services.ingest.timeseries_routes import MAX_BYTES as TIMESERIES_MAX_BYTES
from shared.body import REFUSED_STATE, BodyLimit, Rule, refusal_text
from shared.service import (
    ServiceUnavailable,
    create_service,
    db_engine,
    is_database_outage,
    problem,
)
from shared.settings import IngestSettings, limit_settings

log = logging.getLogger("isla.ingest")

OPTIONAL_ROUTERS = (
    "services.ingest.delivery_routes",
    "services.ingest.timeseries_routes",
    "services.ingest.contributed.routes",
)
"""Modules of further ingestion kinds; each contributes its ``router`` when present."""


def _routers() -> list[APIRouter]:
    routers = [router]
    for name in OPTIONAL_ROUTERS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        extra = getattr(module, "router", None)
        if isinstance(extra, APIRouter):
            routers.append(extra)
    return routers


class TokenFirst:
    """Authenticates the bearer token of a write before its body is read (401 otherwise).

    FastAPI reads a multipart body (spooling files to disk) before it runs the endpoint's
    dependencies, so an endpoint's own token check would come after the upload: the token is
    checked here instead, against the database, and the principal handed to the endpoint
    (:func:`services.ingest.auth.require_principal` takes it from the request's state). The
    size of the body is bounded by :class:`shared.body.BodyLimit`, inside this guard.
    """

    def __init__(self, app: ASGIApp) -> None:
        """Wrap ``app``."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a refusal or pass the request on with its principal."""
        if (
            scope["type"] != "http"
            or scope["method"] in ("GET", "HEAD", "OPTIONS")
            or not scope["path"].startswith("/ingest/")
        ):
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            principal = await principal_of(request)
        except HTTPException as exc:
            response: Response = problem(exc.status_code, _TITLES[exc.status_code], exc.detail)
            response.headers.update(exc.headers or {})
        except ServiceUnavailable as exc:
            response = problem(503, "Service unavailable", exc.detail)
            response.headers.update(exc.headers)
        except Exception as exc:
            if not is_database_outage(exc):
                raise
            response = problem(503, "Service unavailable", "the database cannot serve now")
            response.headers["Retry-After"] = str(limit_settings().retry_after)
        else:
            state = scope.setdefault("state", {})
            state[PRINCIPAL_STATE] = principal
            await self.app(scope, receive, send)
            refused = state.get(REFUSED_STATE)
            if refused is not None:
                # Refused before any handler ran: the audit trail still records the attempt.
                await _audit_refusal(request, principal, int(refused))
            return
        # The body is not read: the connection cannot be reused for another request.
        response.headers["Connection"] = "close"
        await response(scope, receive, send)


_TITLES = {401: "Unauthorized", 403: "Forbidden"}


async def _audit_refusal(request: Request, principal: Principal, limit: int) -> None:
    """Record a write refused for its size in the audit trail (its body was never read)."""
    try:
        async with db_engine(request).begin() as conn:
            await audit.record(
                conn,
                principal,
                f"{request.method} {request.url.path}",
                request.url.path,
                None,
                "refused",
                {"problems": [refusal_text(limit)], "http_status": 413},
            )
    except Exception:  # the refusal has been answered; a failed audit row is logged
        log.exception("could not audit a refused upload on %s", request.url.path)


MULTIPART_SLACK = 65_536
"""Bytes of multipart framing and form fields allowed beyond the file size limit."""

FORM_LIMIT = 1024 * 1024
"""Largest body of the ingest forms that carry no file (merge, current version, recovery)."""


def _catalogue_limit(scope: Scope) -> int:
    app = scope.get("app")
    state = getattr(app.state, "ingest", None) if app is not None else None
    return int(state.max_bytes) if state is not None else IngestSettings().max_bytes


BODY_RULES = [
    Rule("/ingest/catalogues", _catalogue_limit, MULTIPART_SLACK),
    Rule(
        "/ingest/products",
        lambda scope: limit_settings().upload_max_bytes,
        MULTIPART_SLACK,
        # Product deliveries list their problems per file, with a code.
        lambda text: [{"file": "-", "code": "size", "message": text}],
    ),
    # Contributed collections: products, documentation and software in one delivery.
    Rule(
        "/ingest/contributed",
        lambda scope: limit_settings().upload_max_bytes,
        MULTIPART_SLACK,
        lambda text: [{"file": "-", "code": "size", "message": text}],
    ),
    # One revolution of SPI-ACS at 50 ms is tens of MB (services.ingest.timeseries_routes).
    Rule("/ingest/timeseries", lambda scope: TIMESERIES_MAX_BYTES, MULTIPART_SLACK),
    Rule("/ingest/", lambda scope: FORM_LIMIT),
]
"""Body limits of the ingest paths (the longest matching prefix applies)."""


def create_app() -> FastAPI:
    """A new ingest service app (settings are read when it starts)."""
    app = create_service(
        "ingest",
        "/ingest",
        title="ISLA ingest service",
        description=(
            "Authenticated write API through which teams deliver catalogues, products and the "
            "raw-data index to the archive. Authenticate with `Authorization: Bearer <token>` "
            "(tokens come from `isla token create`)."
        ),
        routers=_routers(),
        on_startup=configure,
    )
    # Added last, so outermost: the token is checked first, then the body is counted.
    app.add_middleware(BodyLimit, rules=BODY_RULES)
    app.add_middleware(TokenFirst)
    return app


app = create_app()
