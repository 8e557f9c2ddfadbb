"""One body reader: request bodies bounded before any parsing or authentication work.

A body is refused with 413 as soon as it is known to be too large: at once when its declared
``Content-Length`` says so, otherwise when the bytes counted on arrival pass the limit (a
chunked body has no length). What a handler or a form parser reads is therefore never more
than the limit plus one network chunk, whatever the client sends.

- :class:`BodyLimit` is ASGI middleware: it applies per-path limits to every request before the
  application (routing, dependencies, form parsing) sees it.
- :func:`read_limited` and :func:`limited_chunks` read a body within a limit inside a handler.
- :func:`json_depth` measures the nesting of a JSON text in linear time without recursion, so
  that a deeply nested document is refused before ``json.loads`` recurses into it.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("isla")

MAX_JSON_DEPTH = 32
"""Deepest nesting of arrays and objects accepted in a JSON body (selections use two)."""


class BodyTooLargeError(Exception):
    """The request body passed its limit (HTTP 413)."""

    def __init__(self, limit: int) -> None:
        """Carry the limit in bytes."""
        super().__init__(refusal_text(limit))
        self.limit = limit


def declared_length(headers: Iterable[tuple[bytes, bytes]]) -> int | None:
    """The ``Content-Length`` of raw ASGI headers (None when absent or malformed)."""
    for name, value in headers:
        if name.lower() == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None


REFUSED_STATE = "body_refused"
"""Request-state key set (to the limit) when :class:`BodyLimit` refused the body: outer
layers, such as an audit trail, learn of the refusal from it."""


def refusal_text(limit: int) -> str:
    """The message of a refused body."""
    return f"the upload exceeds the limit of {limit} bytes"


def _listed(text: str) -> list[Any]:
    return [text]


def too_large_response(limit: int, problems: Callable[[str], list[Any]] = _listed) -> Message:
    """The problem document of a refused body (RFC 9457), as one ASGI body message.

    ``problems`` gives its ``problems`` member from the message, in the style of the API.
    """
    text = refusal_text(limit)
    body = {
        "type": "about:blank",
        "title": "Payload too large",
        "status": 413,
        "detail": text,
        "problems": problems(text),
        "limit": limit,
    }
    return {"type": "http.response.body", "body": json.dumps(body).encode(), "more_body": False}


async def _send_too_large(scope: Scope, send: Send, limit: int, rule: Rule) -> None:
    scope.setdefault("state", {})[REFUSED_STATE] = limit
    message = too_large_response(limit, rule.problems)
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(message["body"])).encode()),
                # The rest of the body is not read: the connection cannot be reused.
                (b"connection", b"close"),
            ],
        }
    )
    await send(message)


@dataclass(frozen=True)
class Rule:
    """A body limit for requests whose path starts with ``prefix`` (longest prefix wins)."""

    prefix: str
    limit: Callable[[Scope], int]
    """The limit in bytes, computed per request (settings may be read at start-up)."""
    slack: int = 0
    """Bytes allowed beyond ``limit`` (multipart framing around a file); the refusal names
    ``limit``, the size users know."""
    problems: Callable[[str], list[Any]] = _listed
    """The refusal's ``problems`` member from its message (default: the message alone)."""


class BodyLimit:
    """ASGI middleware bounding request bodies by path before the application reads them.

    Requests that carry a body (any method but GET, HEAD, OPTIONS) on a path under one of the
    rules are refused with 413 when their declared length is above the limit, without reading
    anything; otherwise the body is counted as it arrives and the request is refused once the
    count passes the limit, whatever the application was doing with it (the application's own
    answer, usually an error about the broken read, is replaced by the 413).
    """

    def __init__(self, app: ASGIApp, rules: Sequence[Rule]) -> None:
        """Wrap ``app`` with ``rules``."""
        self.app = app
        self.rules = sorted(rules, key=lambda r: len(r.prefix), reverse=True)

    def _rule(self, scope: Scope) -> Rule | None:
        """The rule of the request, None when none applies."""
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            return None
        path: str = scope["path"]
        return next((r for r in self.rules if path.startswith(r.prefix)), None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse or count the body; pass the request on."""
        rule = self._rule(scope)
        if rule is None:
            await self.app(scope, receive, send)
            return
        named = rule.limit(scope)
        limit = named + rule.slack
        declared = declared_length(scope["headers"])
        if declared is not None and declared > limit:
            await _send_too_large(scope, send, named, rule)
            return
        seen = 0
        exceeded = False
        started = False

        async def counted() -> Message:
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    exceeded = True
                    raise BodyTooLargeError(named)
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if exceeded:
                return  # the application's answer to the broken read: replaced below
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            log.info("refused a body over %d bytes on %s", limit, scope["path"])
            await _send_too_large(scope, send, named, rule)


async def limited_chunks(request: Request, limit: int) -> AsyncIterator[bytes]:
    """The request body as it arrives; :class:`BodyTooLargeError` once past ``limit``."""
    declared = declared_length(request.scope["headers"])
    if declared is not None and declared > limit:
        raise BodyTooLargeError(limit)
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > limit:
            raise BodyTooLargeError(limit)
        yield chunk


async def read_limited(request: Request, limit: int) -> bytes:
    """The whole request body, at most ``limit`` bytes (:class:`BodyTooLargeError` beyond)."""
    body = bytearray()
    async for chunk in limited_chunks(request, limit):
        body.extend(chunk)
    return bytes(body)


_JSON_SCAN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.S)
"""Strings (skipped whole, escapes included) and brackets of a JSON text."""


def json_depth(text: str | bytes, stop: int = MAX_JSON_DEPTH) -> int:
    """Deepest nesting of arrays/objects in a JSON text, counted up to ``stop`` + 1.

    A linear scan (a regular expression that steps over strings) without recursion; it does not
    validate the text, ``json.loads`` does that afterwards, once the depth is known to be safe.
    """
    data = text.encode() if isinstance(text, str) else text
    depth = deepest = 0
    for match in _JSON_SCAN.finditer(data):
        token = match.group(0)
        if token in (b"[", b"{"):
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > stop:
                    break
        elif token in (b"]", b"}"):
            depth -= 1
    return deepest
