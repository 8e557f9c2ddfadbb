"""IVOA request parameters: names are case-insensitive (TAP 1.1 §2.3, DALI §3.1).

Read once, here, for every service: :func:`ivoa_params` merges the query string and a
form body (url-encoded or multipart) into one :class:`IvoaParams`, keyed by upper-case name;
values keep their case and a repeated name keeps all its values in order. GET and POST are
read alike. The result is kept on the request, so several dependencies of one handler read
the body once; services take it as a FastAPI dependency.

Multipart bodies may carry uploaded tables (TAP_UPLOAD's ``UPLOAD=name,param:part``). Their
size is bounded before they are read: a declared Content-Length above the limit is refused at
once, and the body stream is counted while it is parsed, so that a chunked body stops at the
limit. A POST body of another type (JSON, plain text) is left unread for the service.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing

from fastapi import Request
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import FormParser, MultiPartParser

from shared.settings import limit_settings
from shared.vo.errors import UsageFault

MAX_FORM_FIELDS = 1000
"""Form fields accepted in one request: VO requests carry a handful, but DataLink takes up to
500 repeated ``ID`` fields in one POST (the body's size is bounded anyway)."""

MAX_FORM_FILES = 16
"""File parts (uploaded tables) accepted in one request."""

FORM_OVERHEAD = 1024 * 1024
"""Bytes a form body may hold beyond the upload limit: the query and the other fields."""

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
"""Body types read as parameters."""


class ParameterError(UsageFault):
    """The parameters cannot be read (HTTP 400, or 413 for a body over the limit).

    A ``UsageFault``: native APIs answer it as a problem document, VO endpoints as their DALI
    error document (the shared handler picks the endpoint's style).
    """

    def __init__(self, message: str, status: int = 400) -> None:
        """Carry the user-facing message and the HTTP status."""
        super().__init__(message, status)


class IvoaParams(dict[str, str]):
    """Request parameters by upper-case name; the mapping gives the first value of each.

    ``lists`` holds every value of each name in order (repeated names, e.g. ``ID``);
    ``files`` holds the parts of a multipart body by their (case-sensitive) name, as bytes:
    what ``UPLOAD=name,param:part`` refers to.
    """

    def __init__(self) -> None:
        """An empty parameter set."""
        super().__init__()
        self.lists: dict[str, list[str]] = {}
        self.files: dict[str, bytes] = {}

    def add(self, name: str, value: str) -> None:
        """Add one value of ``name`` (any case)."""
        key = name.upper()
        self.setdefault(key, value)
        self.lists.setdefault(key, []).append(value)

    def get_upper(self, name: str) -> str | None:
        """The first value of ``name`` (any case), stripped; None when absent or blank."""
        value = self.get(name.upper())
        if value is None:
            return None
        value = value.strip()
        return value or None

    def getall(self, name: str) -> list[str]:
        """Every value of ``name`` (any case), in the order sent."""
        key = name.upper()
        if key in self.lists:
            return list(self.lists[key])
        # Filled as a plain mapping (e.g. from a stored job): one value per name.
        return [self[key]] if key in self else []


def too_large(limit: int) -> ParameterError:
    """The error for a body or an uploaded table above ``limit`` bytes (HTTP 413)."""
    return ParameterError(f"the upload is larger than the limit of {limit} bytes", 413)


async def _counted(request: Request, limit: int, upload_limit: int) -> AsyncIterator[bytes]:
    """The request body, refused as soon as more than ``limit`` bytes have arrived."""
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > limit:
            raise too_large(upload_limit)
        yield chunk


async def _read_form(request: Request, multipart: bool) -> FormData:
    upload_limit = limit_settings().upload_max_bytes
    limit = upload_limit + FORM_OVERHEAD
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        # Refused from the header alone: nothing of the body is read.
        raise too_large(upload_limit)
    stream: AsyncGenerator[bytes, None] = _counted(request, limit, upload_limit)  # type: ignore[assignment]
    async with aclosing(stream):
        if multipart:
            parser = MultiPartParser(
                request.headers,
                stream,
                max_files=MAX_FORM_FILES,
                max_fields=MAX_FORM_FIELDS,
                # A table sent as a plain form field (no filename) is bounded the same way.
                max_part_size=limit,
            )
            return await parser.parse()
        return await FormParser(
            request.headers, stream, max_fields=MAX_FORM_FIELDS, max_part_size=limit
        ).parse()


def body_type(request: Request) -> str:
    """The media type of the request body, lower case, without parameters."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def ivoa_params(request: Request) -> IvoaParams:
    """The request's IVOA parameters (FastAPI dependency; 400/413 :class:`ParameterError`).

    Collected from the query string and a form body with case-insensitive names, once per
    request.
    """
    cached: IvoaParams | None = getattr(request.state, "ivoa_params", None)
    if cached is not None:
        return cached
    params = IvoaParams()
    for key, value in request.query_params.multi_items():
        params.add(key, value)
    kind = body_type(request)
    if request.method == "POST" and kind in FORM_TYPES:
        multipart = kind == "multipart/form-data"
        try:
            form = await _read_form(request, multipart)
        except ParameterError:
            raise
        except Exception as exc:  # malformed bodies are the client's error
            raise ParameterError(f"cannot read the form body: {exc}") from None
        try:
            for key, item in form.multi_items():
                if isinstance(item, UploadFile):
                    params.files.setdefault(key, await item.read())
                    continue
                if "\x00" in item or "\x00" in key:
                    # Postgres cannot hold a NUL in text: refused here, not by a statement.
                    raise ParameterError(
                        f"the form field {key.replace(chr(0), '')!r} holds a NUL byte"
                    )
                params.add(key, item)
                if multipart:
                    # A part without a filename may still be an uploaded table.
                    params.files.setdefault(key, item.encode("utf-8"))
        finally:
            await form.close()
    request.state.ivoa_params = params
    return params
