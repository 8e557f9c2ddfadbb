"""One base URL for the four services: route each request by path prefix, in one process.

In a deployment an Ingress routes by path to separately running services (see ``k8s/``); the
local launcher does the same in-process, which avoids a proxy hop. Paths are passed through
unchanged, because every service already answers under its own public prefix.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from services.ingest.app import app as ingest_app
from services.products.app import app as products_app
from services.raw.app import app as raw_app
from services.tap.app import app as tap_app

ROUTES: tuple[tuple[str, FastAPI], ...] = (
    ("/tap", tap_app),
    ("/scs", tap_app),
    # Accounts: astroquery's ESA clients log in at <base>/login (TAP job owners).
    ("/login", tap_app),
    ("/logout", tap_app),
    ("/raw", raw_app),
    ("/data", raw_app),
    ("/ingest", ingest_app),
)
"""Path prefixes and their owners (DESIGN.md's URL layout); everything else is products'."""

DEFAULT: FastAPI = products_app
SERVICES: dict[str, FastAPI] = {
    "tap": tap_app,
    "products": products_app,
    "raw": raw_app,
    "ingest": ingest_app,
}


def owner(path: str) -> FastAPI:
    """The service app that answers ``path``."""
    for prefix, app in ROUTES:
        if path == prefix or path.startswith((prefix + "/", prefix + "?")):
            return app
    return DEFAULT


class Gateway:
    """ASGI app dispatching to the service apps and running all their lifespans."""

    def __init__(self) -> None:
        """Prepare the dispatcher (the services start with the ASGI lifespan)."""
        self._stack: AsyncExitStack | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Dispatch one ASGI connection."""
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        target: ASGIApp = owner(scope.get("path", "/"))
        await target(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message: dict[str, Any] = dict(await receive())
            if message["type"] == "lifespan.startup":
                try:
                    self._stack = AsyncExitStack()
                    for app in SERVICES.values():
                        await self._stack.enter_async_context(app.router.lifespan_context(app))
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._stack is not None:
                    await self._stack.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return


app = Gateway()
"""The combined app: ``uvicorn deploy.gateway:app`` serves the whole archive on one port."""
