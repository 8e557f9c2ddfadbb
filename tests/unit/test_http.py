"""Ranged and conditional downloads (shared.http), answered by a small app of its own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter, Request
from fastapi.responses import Response

from shared.http import Entity, not_modified, ranged_response, read_ahead
from shared.service import create_service

DATA = bytes(range(256)) * 40
ETAG = '"abc123"'


def make_client(streamed: bool) -> tuple[httpx.AsyncClient, list[tuple[int, int]]]:
    """An app serving DATA through ranged_response; records the spans its body source gave."""
    calls: list[tuple[int, int]] = []
    router = APIRouter()

    async def body(first: int, last: int) -> bytes | AsyncIterator[bytes]:
        calls.append((first, last))
        if not streamed:
            return DATA[first : last + 1]

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(first, last + 1, 1000):
                yield DATA[start : min(start + 1000, last + 1)]

        return chunks()

    @router.api_route("/file", methods=["GET", "HEAD"])
    async def file(request: Request) -> Response:
        entity = Entity(len(DATA), ETAG, "application/fits", "x.fits", {"X-Product-Id": "p/1"})
        return await ranged_response(request, entity, body)

    app = create_service("files", "/files", title="t", description="d", routers=[router])
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://test"), calls


@pytest.mark.parametrize("streamed", [False, True])
async def test_whole_file_has_exact_length_and_validators(streamed: bool) -> None:
    client, _ = make_client(streamed)
    response = await client.get("/file")
    assert response.status_code == 200
    assert response.content == DATA
    assert response.headers["content-length"] == str(len(DATA))
    assert response.headers["etag"] == ETAG
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["content-disposition"] == 'attachment; filename="x.fits"'
    assert response.headers["x-product-id"] == "p/1"


@pytest.mark.parametrize("streamed", [False, True])
@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-9", 0, 9),
        ("bytes=1000-", 1000, len(DATA) - 1),
        ("bytes=-100", len(DATA) - 100, len(DATA) - 1),
        ("bytes=5000-999999", 5000, len(DATA) - 1),
    ],
)
async def test_single_range_is_206(streamed: bool, header: str, first: int, last: int) -> None:
    client, calls = make_client(streamed)
    response = await client.get("/file", headers={"Range": header})
    assert response.status_code == 206
    assert response.content == DATA[first : last + 1]
    assert response.headers["content-range"] == f"bytes {first}-{last}/{len(DATA)}"
    assert response.headers["content-length"] == str(last - first + 1)
    assert calls == [(first, last)]


async def test_range_outside_the_file_is_416() -> None:
    client, calls = make_client(False)
    response = await client.get("/file", headers={"Range": f"bytes={len(DATA)}-"})
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{len(DATA)}"
    assert response.headers["content-type"] == "application/problem+json"
    assert calls == []


@pytest.mark.parametrize("header", ["bytes=0-1,5-9", "lines=1-2", "bytes=-"])
async def test_multi_or_malformed_range_gets_the_whole_file(header: str) -> None:
    client, _ = make_client(True)
    response = await client.get("/file", headers={"Range": header})
    assert response.status_code == 200
    assert response.content == DATA


async def test_if_range_with_another_version_sends_everything() -> None:
    client, _ = make_client(False)
    same = await client.get("/file", headers={"Range": "bytes=0-9", "If-Range": ETAG})
    assert same.status_code == 206
    other = await client.get("/file", headers={"Range": "bytes=0-9", "If-Range": '"old"'})
    assert other.status_code == 200 and other.content == DATA
    dated = await client.get(
        "/file", headers={"Range": "bytes=0-9", "If-Range": "Wed, 21 Oct 2015 07:28:00 GMT"}
    )
    assert dated.status_code == 200


@pytest.mark.parametrize("header", [ETAG, f'"x", {ETAG}', f"W/{ETAG}", "*"])
async def test_if_none_match_is_304_without_reading(header: str) -> None:
    client, calls = make_client(True)
    response = await client.get("/file", headers={"If-None-Match": header})
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == ETAG
    assert calls == []


async def test_if_none_match_with_another_tag_sends_the_file() -> None:
    client, _ = make_client(False)
    response = await client.get("/file", headers={"If-None-Match": '"other"'})
    assert response.status_code == 200 and response.content == DATA


async def test_head_gives_the_headers_without_reading() -> None:
    client, calls = make_client(True)
    whole = await client.head("/file")
    assert whole.status_code == 200
    assert whole.headers["content-length"] == str(len(DATA))
    assert whole.content == b""
    part = await client.head("/file", headers={"Range": "bytes=10-19"})
    assert part.status_code == 206
    assert part.headers["content-length"] == "10"
    assert calls == []


def test_not_modified_parses_lists() -> None:
    assert not not_modified(None, ETAG)
    assert not not_modified('"abc"', ETAG)
    assert not_modified(' "a" ,W/"abc123"', ETAG)


class _Chunks:
    """A blocking iterator that records how far it was read and whether it was closed."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.read = 0
        self.closed = False

    def __iter__(self) -> _Chunks:
        return self

    def __next__(self) -> bytes:
        if self.read == self.n:
            raise StopIteration
        self.read += 1
        return bytes([self.read])

    def close(self) -> None:
        self.closed = True


def test_read_ahead_yields_every_chunk_in_order_and_closes() -> None:
    chunks = _Chunks(5)

    async def consume() -> list[bytes]:
        return [c async for c in read_ahead(chunks)]

    assert asyncio.run(consume()) == [bytes([i]) for i in range(1, 6)]
    assert chunks.closed


def test_read_ahead_reads_one_chunk_ahead_and_closes_when_the_client_leaves() -> None:
    chunks = _Chunks(100)

    async def first_two() -> list[bytes]:
        stream = read_ahead(chunks)
        got = [await anext(stream), await anext(stream)]
        await asyncio.sleep(0.2)  # the read of the third chunk runs meanwhile, no further
        await stream.aclose()  # as Starlette does when the client disconnects
        return got

    assert asyncio.run(first_two()) == [b"\x01", b"\x02"]
    assert chunks.read == 3
    assert chunks.closed
