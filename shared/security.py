"""HTTP hardening every service shares: CORS for reading only, and security headers.

**CORS.** Browser tools of other sites (ESASky, Aladin Lite, notebooks served elsewhere) read
the VO services directly, so ``GET`` and ``HEAD`` answer any origin, without credentials. Any
other method, and the account routes (:data:`NO_CORS_PATHS`), get no CORS headers at all: a page
of another site can then neither send a job-changing request with a preflight nor read the
answer of one without it, and the session cookie (``SameSite=Lax``) is not sent with such
cross-site POSTs in the first place.

**Headers.** Every answer says ``X-Content-Type-Options: nosniff`` and a ``Referrer-Policy``;
HTML pages also carry a Content-Security-Policy (scripts and styles from the archive itself,
``frame-ancestors 'self'``) and ``X-Frame-Options``. The interactive API pages (``.../docs``)
load Swagger UI from its CDN and get a policy that allows exactly that.
"""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

READ_METHODS = frozenset({"GET", "HEAD"})
"""Methods open to other origins."""

NO_CORS_PATHS = frozenset({"/login", "/logout"})
"""Paths never open to other origins, whatever the method."""

EXPOSED_HEADERS = ["Content-Length", "Content-Range", "ETag", "Content-Disposition"]
"""Response headers a cross-origin reader may see (resumable downloads need them)."""

PAGE_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'self'"
)
"""Content-Security-Policy of the archive's HTML pages (the portal inlines its stylesheet)."""

DOCS_CDN = "https://cdn.jsdelivr.net"
DOCS_POLICY = (
    f"default-src 'self'; script-src 'self' 'unsafe-inline' {DOCS_CDN}; "
    f"style-src 'self' 'unsafe-inline' {DOCS_CDN}; img-src 'self' data: https:; "
    "object-src 'none'; base-uri 'self'; frame-ancestors 'self'"
)
"""Content-Security-Policy of the interactive API pages (Swagger UI from its CDN)."""

BASE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}
"""Headers on every answer."""


class ReadOnlyCORS:
    """CORS for ``GET``/``HEAD`` (and their preflights) on every path but the account ones."""

    def __init__(self, app: ASGIApp) -> None:
        """Wrap ``app``; CORS answers come from Starlette's middleware, read methods only."""
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=["*"],
            allow_methods=sorted(READ_METHODS),
            allow_headers=["*"],
            allow_credentials=False,
            expose_headers=EXPOSED_HEADERS,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send read requests through CORS, everything else straight to the app."""
        if scope["type"] == "http" and self._open(scope):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    @staticmethod
    def _open(scope: Scope) -> bool:
        if scope.get("path", "") in NO_CORS_PATHS:
            return False
        method = scope.get("method", "GET")
        if method == "OPTIONS":
            wanted = Headers(scope=scope).get("access-control-request-method", "")
            return wanted.upper() in READ_METHODS
        return method in READ_METHODS


class SecurityHeaders:
    """Add the security headers to every answer, and the page policy to HTML ones."""

    def __init__(self, app: ASGIApp) -> None:
        """Wrap ``app``."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; add headers to the response's start."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in BASE_HEADERS.items():
                    headers.setdefault(name, value)
                if headers.get("content-type", "").startswith("text/html"):
                    docs = path.endswith(("/docs", "/docs/oauth2-redirect"))
                    headers.setdefault(
                        "Content-Security-Policy", DOCS_POLICY if docs else PAGE_POLICY
                    )
                    headers.setdefault("X-Frame-Options", "SAMEORIGIN")
            await send(message)

        await self.app(scope, receive, send_with_headers)


__all__ = ["NO_CORS_PATHS", "ReadOnlyCORS", "SecurityHeaders"]
