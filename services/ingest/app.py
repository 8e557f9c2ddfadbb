"""The ingest service app (``uvicorn services.ingest.app:app``), owner of ``/ingest``."""

from __future__ import annotations

import importlib

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from services.ingest.auth import REALM
from services.ingest.routes import router
from services.ingest.settings import configure
from shared.service import create_service, problem
from shared.settings import IngestSettings

OPTIONAL_ROUTERS = ("services.ingest.delivery_routes", "services.ingest.timeseries_routes")
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


class EarlyRefusal:
    """Refuses uploads before their body is read: no bearer token (401), too large (413).

    FastAPI reads a multipart body (spooling files to disk) before it runs the endpoint's
    dependencies, so without this an anonymous client could make the service store gigabytes
    before being told no. The token itself is still checked by the endpoint.
    """

    def __init__(self, app: ASGIApp) -> None:
        """Wrap ``app``."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a refusal or pass the request on."""
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or not scope["path"].startswith(GUARDED)
        ):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        response: JSONResponse | None = None
        if not headers.get("authorization", "").lower().startswith("bearer "):
            response = problem(401, "Unauthorized", "this endpoint needs an ingest token")
            response.headers["WWW-Authenticate"] = f'Bearer realm="{REALM}"'
        else:
            limit = _limit(scope)
            length = headers.get("content-length", "")
            if length.isdigit() and int(length) > limit + MULTIPART_SLACK:
                response = problem(
                    413,
                    "Payload too large",
                    f"the upload exceeds the limit of {limit} bytes",
                    problems=[f"the upload exceeds the limit of {limit} bytes"],
                )
        if response is None:
            await self.app(scope, receive, send)
        else:
            await response(scope, receive, send)


GUARDED = "/ingest/catalogues"
"""Path prefix of the uploads this guard protects (catalogue deliveries)."""

MULTIPART_SLACK = 65_536
"""Bytes of multipart framing and form fields allowed beyond the file size limit."""


def _limit(scope: Scope) -> int:
    app = scope.get("app")
    state = getattr(app.state, "ingest", None) if app is not None else None
    return int(state.max_bytes) if state is not None else IngestSettings().max_bytes


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
    app.add_middleware(EarlyRefusal)
    return app


app = create_app()
