"""Ranged and conditional downloads: one answer for every file the archive serves.

A download is described once, as an :class:`Entity` (its exact size, a strong entity tag, its
media type and file name), and :func:`ranged_response` answers the request for it as HTTP
asks (RFC 9110):

- ``If-None-Match`` naming the entity's tag (or ``*``) gives ``304 Not Modified``;
- a single ``Range: bytes=a-b`` (also ``a-`` and ``-n``) gives ``206`` with ``Content-Range``;
  a range outside the entity gives ``416`` with ``Content-Range: bytes */size``; several
  ranges or a malformed header give the whole entity, which RFC 9110 allows;
- ``If-Range`` with another tag (or a date) gives the whole entity: the client holds another
  version, so resuming it would splice two versions together;
- ``HEAD`` gives the same headers without reading a byte;
- every answer carries ``Accept-Ranges: bytes``, ``ETag`` and an exact ``Content-Length``.

The bytes come from a :data:`BodySource`, called with the inclusive first and last positions
once the answer is decided: it returns the bytes themselves (small files read in one go) or an
async iterator of chunks (large files and archives streamed from the object store). A source
should fail before returning (e.g. by checking the store answers) rather than inside its
iterator, so that an outage is a 503, never a 200 whose body breaks off at once.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import cast

import anyio
from fastapi import HTTPException, Request
from fastapi.responses import Response, StreamingResponse

BodySource = Callable[[int, int], Awaitable[bytes | AsyncIterator[bytes]]]
"""Gives bytes ``first``..``last`` (inclusive) of an entity, whole or as chunks."""

_BYTE_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


@dataclass(frozen=True)
class Entity:
    """What is downloaded: exact size, strong entity tag (quoted), media type, file name."""

    size: int
    etag: str
    media_type: str
    filename: str | None = None
    """Sent as ``Content-Disposition: attachment``; None sends no disposition."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """Further headers of every answer (e.g. the product id)."""


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


def _opaque(tag: str) -> str:
    """An entity tag without its weakness prefix (If-None-Match compares weakly)."""
    tag = tag.strip()
    return tag[2:] if tag.startswith("W/") else tag


def not_modified(if_none_match: str | None, etag: str) -> bool:
    """True when an ``If-None-Match`` header names ``etag`` (or is ``*``)."""
    if not if_none_match:
        return False
    tags = [t.strip() for t in if_none_match.split(",")]
    return "*" in tags or _opaque(etag) in {_opaque(t) for t in tags if t}


def entity_headers(entity: Entity) -> dict[str, str]:
    """The headers every answer about ``entity`` carries (besides its length and range)."""
    headers = {"Accept-Ranges": "bytes", "ETag": entity.etag, **entity.headers}
    if entity.filename is not None:
        headers["Content-Disposition"] = f'attachment; filename="{entity.filename}"'
    return headers


async def ranged_response(request: Request, entity: Entity, body: BodySource) -> Response:
    """Answer ``request`` for ``entity`` with its bytes from ``body`` (see the module text)."""
    headers = entity_headers(entity)
    if request.method in ("GET", "HEAD") and not_modified(
        request.headers.get("if-none-match"), entity.etag
    ):
        return Response(status_code=304, headers=headers)
    size = entity.size
    # An empty file has no byte to point at: any Range gets the (empty) whole.
    span = parse_byte_range(request.headers.get("range"), size) if size else None
    if_range = request.headers.get("if-range")
    if span and if_range and if_range.strip() != entity.etag:
        span = None  # the client holds another version (or only a date): send it all
    first, last = span if span else (0, size - 1)
    length = last - first + 1 if size else 0
    headers["Content-Length"] = str(length)
    if span:
        headers["Content-Range"] = f"bytes {first}-{last}/{size}"
    status = 206 if span else 200
    if request.method == "HEAD" or length == 0:
        return Response(status_code=status, headers=headers, media_type=entity.media_type)
    data = await body(first, last)
    if isinstance(data, bytes):
        return Response(data, status_code=status, headers=headers, media_type=entity.media_type)
    return StreamingResponse(
        data, status_code=status, headers=headers, media_type=entity.media_type
    )


_DONE = object()


def _next(chunks: Iterator[bytes]) -> object:
    return next(chunks, _DONE)


async def read_ahead(chunks: Iterator[bytes]) -> AsyncGenerator[bytes, None]:
    """The chunks of a blocking iterator (an object-store stream), one read ahead.

    Each chunk is read in a worker thread; the read of the next one starts as soon as this
    one is handed on, so that the store is read while the client is sent the previous chunk
    (with Starlette's ``iterate_in_threadpool`` the two alternate, and a stream runs at the
    speed of both added up). At most two chunks are held. When the consumer stops early
    (the client went away), the read in flight is awaited and the iterator closed, which
    gives its connection back to the pool.
    """
    pending = asyncio.ensure_future(anyio.to_thread.run_sync(_next, chunks))
    try:
        while True:
            chunk = await pending
            if chunk is _DONE:
                return
            pending = asyncio.ensure_future(anyio.to_thread.run_sync(_next, chunks))
            yield cast(bytes, chunk)
    finally:
        with anyio.CancelScope(shield=True):
            if not pending.done():
                await asyncio.wait({pending})
            if not pending.cancelled():
                pending.exception()  # retrieved: a failure after the client left is moot
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
