"""Product files from the object store, as delivered, and their bytes for the views.

Files are streamed from the products bucket as they are stored, with an exact
``Content-Length``, byte ranges (``curl -C -``, ``wget -c``) and a strong ``ETag`` that is the
file's SHA-256 recorded in ``isla.products``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from services.products.files import store
from shared.http import Entity, ranged_response, read_ahead
from shared.packaging import Member
from shared.service import ServiceContext, ServiceUnavailable
from shared.storage import ObjectNotFound, ObjectStore, StorageUnavailable
from shared.vo.errors import UsageFault

log = logging.getLogger("isla.products.files")

STREAM_CHUNK = 1024 * 1024
SMALL_FILE = 16 * 1024 * 1024
"""Files (or ranges) up to this size are read whole and sent in one piece."""


class SmallObjectCache:
    """Recently served small product files, in memory, keyed by their SHA-256.

    Products are immutable per checksum: ``isla.products`` gives the SHA-256 of the file a
    product id stands for, so an entry can never be served for another version of the file
    (a replaced product has a new checksum and misses). Spectra, responses and light curves
    are small and fetched again and again (astroquery downloads, DataLink, the portal); for
    them a request then costs one database lookup and no object-store round trip.
    """

    def __init__(self, max_bytes: int, max_item: int) -> None:
        """Hold at most ``max_bytes`` in files of at most ``max_item`` bytes each."""
        self.max_bytes = max_bytes
        self.max_item = max_item
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, sha256: str) -> bytes | None:
        """The file with this checksum, if held (and mark it recently used)."""
        with self._lock:
            data = self._items.get(sha256)
            if data is not None:
                self._items.move_to_end(sha256)
            return data

    def put(self, sha256: str, data: bytes) -> None:
        """Keep a file whose content has been checked against ``sha256``."""
        if len(data) > self.max_item:
            return
        with self._lock:
            if sha256 in self._items:
                return
            self._items[sha256] = data
            self._size += len(data)
            while self._size > self.max_bytes:
                _, old = self._items.popitem(last=False)
                self._size -= len(old)


CACHE = SmallObjectCache(max_bytes=64 * 1024 * 1024, max_item=4 * 1024 * 1024)
"""The process's cache of small product files."""


def read_whole(store: ObjectStore, row: Any) -> bytes:
    """Read a small product file through the cache, verifying it against its checksum."""
    cached = CACHE.get(row.sha256)
    if cached is not None:
        return cached
    data = store.read_bytes(row.bucket, row.object_key)
    if hashlib.sha256(data).hexdigest() == row.sha256:
        CACHE.put(row.sha256, data)
    else:
        log.error("product %s: stored object does not match its SHA-256", row.product_id)
    return data


async def stream_product(request: Request, store: ObjectStore, row: Any) -> Response:
    """Answer with a stored product file (:func:`shared.http.ranged_response`: Range,
    If-Range, If-None-Match and HEAD); the entity tag is the file's SHA-256."""
    size = int(row.size)
    entity = Entity(
        size,
        f'"{row.sha256}"',
        row.content_type,
        row.file_name,
        {"X-Product-Id": row.product_id},
    )

    async def body(first: int, last: int) -> bytes | AsyncIterator[bytes]:
        length = last - first + 1
        try:
            if size <= CACHE.max_item:
                # A hit is a dictionary lookup: answered on the event loop, without the hop
                # to a worker thread and back that a read from the store needs.
                whole = CACHE.get(row.sha256)
                if whole is None:
                    whole = await run_in_threadpool(read_whole, store, row)
                return whole if first == 0 and last == size - 1 else whole[first : last + 1]
            if length <= SMALL_FILE:
                # Most products (spectra, responses, light curves, mosaics) are a few MiB at
                # most: one read in one worker thread, then one write, is the shortest path.
                data: bytes = await run_in_threadpool(
                    store.read_bytes, row.bucket, row.object_key, first, length
                )
                return data
            # Opening the object before answering turns an outage into a 503, never a
            # response whose body breaks off at once; later failures cut the body short of
            # Content-Length, which clients see as an incomplete download they can resume.
            stream = await run_in_threadpool(
                store.iter_object, row.bucket, row.object_key, first, last, STREAM_CHUNK
            )
        except (StorageUnavailable, ObjectNotFound) as exc:
            raise _unreadable(row, exc) from exc
        return read_ahead(stream)

    return await ranged_response(request, entity, body)


def _unreadable(row: Any, exc: Exception) -> ServiceUnavailable:
    log.error("product %s cannot be read: %s", row.product_id, exc)
    return ServiceUnavailable("the object store cannot deliver this product now; retry later")


async def read_product(object_store: ObjectStore, row: Any) -> bytes:
    """The whole stored file of a product (through the cache); 503 when the store fails."""
    try:
        return await run_in_threadpool(read_whole, object_store, row)
    except (StorageUnavailable, ObjectNotFound) as exc:
        raise _unreadable(row, exc) from exc


async def product_row(ctx: ServiceContext, product_id: str, *, file_only: bool = False) -> Any:
    """The ``isla.products`` row of ``product_id``; 404 naming products with the same prefix.

    ``file_only`` reads only what :func:`stream_product` needs (:data:`store.FILE_SELECT`).
    """
    lookup = store.product_file if file_only else store.product
    async with store.reader(ctx.require_engine()).connect() as conn:
        row = await lookup(conn, product_id)
        if row is not None:
            return row
        nearby = await store.ids_like(conn, "/".join(product_id.split("/")[:2]))
    raise HTTPException(
        404,
        {
            "detail": f"no product {product_id!r}",
            "nearby": nearby,
            "hint": "product ids are kind/instrument/scope/..., e.g. "
            "spectrum/ISGRI/mission/J053432.0+220052; /products/sources/{source_id} lists a "
            "source's products",
        },
    )


BUNDLE_MAX = 500
"""Most product files in one bundle (a basket is a handful; bigger selections use scripts)."""
CHECKSUMS = "SHA256SUMS"


def bundle_members(rows: list[Any]) -> list[Member]:
    """The members of a product bundle: ``SHA256SUMS`` first (``sha256sum -c`` verifies the
    rest), then each file by its name (prefixed by its product id where two names clash)."""
    # Imported here: the compat room imports this module at its own import.
    from services.products.compat.retrieval import safe_name

    used: set[str] = {CHECKSUMS}
    files: list[Member] = []
    lines: list[str] = []
    for r in rows:
        name = str(r.file_name)
        if name in used:
            name = f"{safe_name(str(r.product_id))}/{name}"
        used.add(name)
        created = r.created_at or dt.datetime(2025, 3, 1)
        mtime = int(created.replace(tzinfo=dt.UTC).timestamp())
        files.append(Member(name, r.bucket, r.object_key, int(r.size), mtime))
        lines.append(f"{r.sha256}  {name}\n")
    newest = max((m.mtime for m in files), default=0)
    return [Member.of_bytes(CHECKSUMS, "".join(lines).encode(), newest), *files]


async def bundle(ctx: ServiceContext, product_ids: list[str], fmt: str) -> Response:
    """Stored product files as one streamed ``tar`` (with its length, so browsers show the
    progress) or ``zip``; 400 for no ids, too many or unknown ones."""
    wanted = list(dict.fromkeys(p.strip() for p in product_ids if p.strip()))
    if not wanted:
        raise UsageFault("no product: send one id= per product file")
    if len(wanted) > BUNDLE_MAX:
        raise UsageFault(f"at most {BUNDLE_MAX} products per bundle; use a download script")
    if fmt not in ("tar", "zip"):
        raise UsageFault(f"format must be tar or zip, not {fmt!r}")
    async with ctx.require_engine().connect() as conn:
        rows = await store.products(conn, wanted)
    missing = sorted(set(wanted) - {r.product_id for r in rows})
    if missing:
        raise UsageFault(f"no such product: {', '.join(missing[:10])}")
    members = bundle_members(rows)
    from services.products.compat.retrieval import package  # (see bundle_members)

    return package(ctx.require_store(), members, fmt, f"isla-products.{fmt}")
