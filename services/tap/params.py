"""IVOA request parameters: names are case-insensitive (TAP 1.1 §2.3, DALI §3.1).

Handled once, here: :func:`ivoa_params` merges the query string and a form body
(url-encoded or multipart) into one mapping keyed by upper-case name, which every TAP
endpoint takes as a FastAPI dependency. Values keep their case.

Multipart bodies may carry TAP_UPLOAD tables (``UPLOAD=name,param:part``). Their size is
bounded before they are read: a declared Content-Length above the limit is refused at once,
and the body stream is counted while it is parsed, so that a chunked body stops at the limit.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing

from fastapi import Request
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import FormParser, MultiPartParser

from shared.settings import limit_settings
from shared.vo.errors import UsageFault

MAX_FORM_FIELDS = 100
"""Form fields accepted in one request (TAP requests carry a handful)."""

MAX_FORM_FILES = 16
"""File parts (uploaded tables) accepted in one request."""

FORM_OVERHEAD = 1024 * 1024
"""Bytes a form body may hold beyond the upload limit: the query and the other fields."""


class IvoaParams(dict[str, str]):
    """Request parameters by upper-case name (the first value of a repeated name wins).

    ``files`` holds the parts of a multipart body by their (case-sensitive) name, as bytes:
    what ``UPLOAD=name,param:part`` refers to.
    """

    def __init__(self) -> None:
        """An empty parameter set."""
        super().__init__()
        self.files: dict[str, bytes] = {}

    def get_upper(self, name: str) -> str | None:
        """The value of ``name`` (any case), stripped; None when absent or blank."""
        value = self.get(name.upper())
        if value is None:
            return None
        value = value.strip()
        return value or None


def too_large(limit: int) -> UsageFault:
    """The error for a body or an uploaded table above ``limit`` bytes (HTTP 413)."""
    return UsageFault(f"the upload is larger than the limit of {limit} bytes", 413)


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


async def ivoa_params(request: Request) -> IvoaParams:
    """Collect query-string and form parameters with case-insensitive names."""
    params = IvoaParams()
    for key, value in request.query_params.multi_items():
        params.setdefault(key.upper(), value)
    if request.method == "POST":
        content_type = request.headers.get("content-type", "")
        multipart = content_type.startswith("multipart/form-data")
        if multipart or content_type.startswith("application/x-www-form-urlencoded"):
            try:
                form = await _read_form(request, multipart)
            except UsageFault:
                raise
            except Exception as exc:  # malformed bodies are the client's error
                raise UsageFault(f"cannot read the form body: {exc}") from None
            try:
                for key, item in form.multi_items():
                    if isinstance(item, UploadFile):
                        params.files.setdefault(key, await item.read())
                        continue
                    params.setdefault(key.upper(), item)
                    if multipart:
                        # A part without a filename may still be an uploaded table.
                        params.files.setdefault(key, item.encode("utf-8"))
            finally:
                await form.close()
    return params
