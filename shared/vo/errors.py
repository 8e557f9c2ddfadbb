"""One error family for every ISLA service: each error carries its VO code and HTTP status.

Raise one of the :class:`VOError` subclasses anywhere (a route, a dependency, a pipeline step);
the handler installed by :func:`install_error_handlers` (every app built by
``shared.service.create_service`` has it) answers it in the document style of the endpoint:

- **VOTable** (VO endpoints: TAP, DataLink, ...): a DALI error document, ``<INFO
  name="QUERY_STATUS" value="ERROR">`` whose text starts with the code (``UsageFault: ...``),
  the convention DataLink, SIA and SSA define and DALI leaves open. A router opts in with
  ``dependencies=[VOTABLE_ERRORS]``.
- **problem+json** (native APIs, the default): RFC 9457 with the code as member ``code``.
- **UWS** (a job that failed): no HTTP response but the job's ``errorSummary``, typed
  ``transient`` or ``fatal`` from the error's class (:func:`uws_error_summary`), while the
  job's ``/error`` resource is the VOTable document of the same error.

DataLink's per-identifier form (a result row whose ``error_message`` is ``NotFoundFault:
...``, DataLink 1.1 §3.4) is :attr:`VOError.text`.

The codes are those DataLink 1.1 §3.4 lists (which SIA 2 and SODA reuse): ``NotFoundFault``,
``UsageFault``, ``TransientFault``, ``FatalFault``, ``DefaultFault`` and ``Overflow``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, ClassVar

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from vo_models.uws.models import ErrorSummary
from vo_models.uws.types import ErrorType

from shared.vo.results import error_votable

VOTABLE_MEDIA_TYPE = "application/x-votable+xml"


class DaliCode(enum.StrEnum):
    """The fault codes of the VO data-access protocols (DataLink 1.1 §3.4)."""

    USAGE = "UsageFault"
    TRANSIENT = "TransientFault"
    FATAL = "FatalFault"
    DEFAULT = "DefaultFault"
    NOT_FOUND = "NotFoundFault"
    OVERFLOW = "Overflow"


class VOError(Exception):
    """A request or job the archive refuses or cannot complete; ``message`` is for users.

    Subclasses fix the code, the default HTTP status and the UWS error type as class
    arguments (``class UsageFault(VOError, code=..., status=400)``); ``status`` overrides the
    HTTP status where a protocol asks for a more precise one (409 for a UWS change the job's
    phase forbids, 413 for a too-large upload) and ``headers`` adds response headers.
    """

    code: ClassVar[DaliCode] = DaliCode.DEFAULT
    default_status: ClassVar[int] = 500
    uws_type: ClassVar[ErrorType] = ErrorType.FATAL
    """Whether running the job again may succeed (UWS errorSummary ``type``)."""
    default_headers: ClassVar[Mapping[str, str]] = {}

    def __init_subclass__(
        cls,
        *,
        code: DaliCode | None = None,
        status: int | None = None,
        uws_type: ErrorType | None = None,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        """Fix the subclass's code, default status, UWS type and default headers; what is not
        given is inherited (a specialised fault, e.g. an outage, keeps its family's code)."""
        super().__init_subclass__(**kwargs)
        if code is not None:
            cls.code = code
        if status is not None:
            cls.default_status = status
        if uws_type is not None:
            cls.uws_type = uws_type
        if headers is not None:
            cls.default_headers = dict(headers)

    def __init__(
        self, message: str, status: int | None = None, headers: Mapping[str, str] | None = None
    ) -> None:
        """Carry the user-facing message, the HTTP status and extra response headers."""
        super().__init__(message)
        self.message = message
        self.status = status or self.default_status
        self.headers = {**self.default_headers, **dict(headers or {})}

    @property
    def text(self) -> str:
        """``Code: message``: the error as VO documents write it."""
        return f"{self.code}: {self.message}"


# The class names are the DALI codes (N818 would want an "Error" suffix).


class UsageFault(VOError, code=DaliCode.USAGE, status=400):  # noqa: N818
    """The request is wrong (a parameter, the query); asking again the same way will fail."""


class NotFoundFault(VOError, code=DaliCode.NOT_FOUND, status=404):  # noqa: N818
    """The thing asked for (a table, a job, a product) does not exist."""


class TransientFault(  # noqa: N818
    VOError,
    code=DaliCode.TRANSIENT,
    status=503,
    uws_type=ErrorType.TRANSIENT,
    headers={"Retry-After": "30"},
):
    """The service cannot answer now (a dependency is down); the same request may work later."""


class FatalFault(VOError, code=DaliCode.FATAL, status=500):  # noqa: N818
    """The service failed on a correct request (a bug, a broken file); the log has details."""


class DefaultFault(VOError, code=DaliCode.DEFAULT, status=500):  # noqa: N818
    """An error none of the other codes describes."""


class Overflow(VOError, code=DaliCode.OVERFLOW, status=400):  # noqa: N818
    """The request asks for more than the service's limits allow (DataLink: too many IDs)."""


class ErrorStyle(enum.StrEnum):
    """The document an endpoint answers errors with."""

    VOTABLE = "votable"
    PROBLEM = "problem"


def votable_error(exc: VOError, status: int | None = None) -> Response:
    """The DALI error document of ``exc`` (``status`` overrides its HTTP status)."""
    return Response(
        error_votable(exc.text),
        status_code=status or exc.status,
        media_type=VOTABLE_MEDIA_TYPE,
        headers=exc.headers,
    )


def problem_error(exc: VOError) -> JSONResponse:
    """The RFC 9457 problem document of ``exc``, with its code as member ``code``."""
    body = {
        "type": "about:blank",
        "title": exc.code.value,
        "status": exc.status,
        "detail": exc.message,
        "code": exc.code.value,
    }
    return JSONResponse(
        body, status_code=exc.status, media_type="application/problem+json", headers=exc.headers
    )


def uws_error_summary(exc: VOError) -> ErrorSummary:
    """The UWS 1.1 ``errorSummary`` of a job that ended with ``exc``."""
    return ErrorSummary(message=exc.text, type=exc.uws_type, has_detail=True)


FAULTS: dict[str, type[VOError]] = {
    cls.code.value: cls
    for cls in (UsageFault, NotFoundFault, TransientFault, FatalFault, DefaultFault, Overflow)
}
"""Error class by code (to rebuild an error recorded by its code, as job rows keep it)."""


def fault(code: str | None, message: str) -> VOError:
    """The error of class ``code`` (DefaultFault for an unknown code) with ``message``."""
    return FAULTS.get(code or "", DefaultFault)(message)


def _use_votable(request: Request) -> None:
    request.state.error_style = ErrorStyle.VOTABLE


VOTABLE_ERRORS = Depends(_use_votable)
"""Router dependency of VO endpoints: their :class:`VOError` answers are DALI documents.

Router dependencies run before the route's own, so errors raised while reading parameters
are covered too."""


def install_error_handlers(app: FastAPI) -> None:
    """Answer every :class:`VOError` in the style its endpoint chose (problem+json if none)."""

    @app.exception_handler(VOError)
    async def vo_error(request: Request, exc: VOError) -> Response:
        return error_response(request, exc)


def error_response(request: Request, exc: VOError) -> Response:
    """``exc`` in the document style the request's endpoint chose (problem+json if none)."""
    style = getattr(request.state, "error_style", ErrorStyle.PROBLEM)
    if style == ErrorStyle.VOTABLE:
        return votable_error(exc)
    return problem_error(exc)
