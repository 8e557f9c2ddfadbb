"""TAP errors: each carries its HTTP status and is answered as a DALI error VOTable."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response

from shared.service import ServiceUnavailable
from shared.vo.results import error_votable


class TapError(Exception):
    """A request the TAP service refuses; ``message`` is shown to the user."""

    def __init__(self, message: str, status: int = 400) -> None:
        """Carry the user-facing message and the HTTP status."""
        super().__init__(message)
        self.message = message
        self.status = status


def dali_error(message: str, status: int = 400) -> Response:
    """A DALI error document (``<INFO name="QUERY_STATUS" value="ERROR">``)."""
    return Response(
        error_votable(message), status_code=status, media_type="application/x-votable+xml"
    )


def install_error_handler(app: FastAPI) -> None:
    """Answer :class:`TapError` with DALI error documents."""

    @app.exception_handler(TapError)
    async def tap_error(request: Request, exc: TapError) -> Response:
        return dali_error(exc.message, exc.status)

    @app.exception_handler(ServiceUnavailable)
    async def unavailable(request: Request, exc: ServiceUnavailable) -> Response:
        # The shared 503 (no database / object store), as a DALI document with Retry-After.
        response = dali_error(str(exc.detail), exc.status_code)
        response.headers.update(exc.headers or {})
        return response
