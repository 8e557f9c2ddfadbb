"""Contributed collections as served: JSON documents of published versions and their files.

Only published versions exist here (``isla.contributed_*`` hold nothing else); every file is
downloadable (``/products/contributed/<collection>/<version>/files/<name>``, ranged and
conditional through :mod:`shared.http`); product files also have an ``isla.products`` id,
their ObsCore row and DataLink document. Unknown names are 404s listing the nearby ones.
"""

from __future__ import annotations

import difflib
from collections.abc import AsyncIterator, Sequence
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy import Connection
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from services.products.common import NotFound
from services.products.contributed import store
from shared.http import Entity, ranged_response
from shared.service import ServiceUnavailable
from shared.settings import peer_settings
from shared.storage import ObjectNotFound, ObjectStore, StorageUnavailable
from shared.vo.obscore import AUTHORITY

STREAM_CHUNK = 1024 * 1024
"""Bytes per chunk of a streamed download."""


def _base() -> str:
    return peer_settings().peer("products")


def page_url(collection: str, version: int | None = None) -> str:
    """The JSON document of a collection (its newest version, or one version)."""
    tail = f"/{version}" if version is not None else ""
    return f"{_base()}/products/contributed/{quote(collection)}{tail}"


def file_url(collection: str, version: int, file_name: str) -> str:
    """Where one file of a published version is downloaded."""
    return f"{page_url(collection, version)}/files/{quote(file_name)}"


def _file(row: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "file_name": row.file_name,
        "role": row.role,
        "format": row.format,
        "content_type": row.content_type,
        "size": int(row.size),
        "sha256": row.sha256,
        "simulated": bool(row.simulated),
        "url": file_url(row.collection, row.version, row.file_name),
    }
    if row.product_id:
        did = f"ivo://{AUTHORITY}/isla?product/{row.product_id}"
        entry["product_id"] = row.product_id
        entry["obs_publisher_did"] = did
        entry["datalink"] = f"{_base()}/datalink?ID={quote(did, safe='')}"
    return entry


def _summary(row: Any) -> dict[str, Any]:
    return {
        "collection": row.collection,
        "version": row.version,
        "title": row.title,
        "team": row.team,
        "authors": [a.strip() for a in row.authors.split(";") if a.strip()],
        "instrument": row.instrument,
        "licence": row.licence,
        "state": "published",
        "simulated": bool(row.simulated),
        "published_at": row.published_at.isoformat(),
        "url": page_url(row.collection),
    }


def collection_list(conn: Connection) -> dict[str, Any]:
    """Every published collection (its newest version)."""
    rows = store.latest(conn)
    return {"count": len(rows), "collections": [_summary(r) for r in rows]}


def collection_page(conn: Connection, collection: str, version: int | None) -> dict[str, Any]:
    """Everything about one published version of a collection (None: the newest)."""
    row = store.version(conn, collection, version)
    if row is None:
        raise _not_found(conn, collection, version)
    files = store.files(conn, row.collection, row.version)
    products = [_file(f) for f in files if f.role == "product"]
    documentation = next((_file(f) for f in files if f.role == "documentation"), None)
    software = next((_file(f) for f in files if f.role == "software"), None)
    if software is not None:
        software.update(licence=row.software_licence, version=row.software_version)
    return {
        **_summary(row),
        "description": row.description,
        "version_label": row.version_label,
        "latest": bool(row.latest),
        "submitted_at": row.submitted_at.isoformat(),
        "size": int(row.size),
        "files": products,
        "documentation": documentation,
        "software": software,
        "versions": [
            {
                "version": v.version,
                "version_label": v.version_label,
                "published_at": v.published_at.isoformat(),
                "url": page_url(row.collection, v.version),
            }
            for v in store.versions(conn, row.collection)
        ],
    }


def file_row(conn: Connection, collection: str, version: int, file_name: str) -> Any:
    """The row of one file of a published version (404 naming the version's files)."""
    row = store.file(conn, collection, version, file_name)
    if row is not None:
        return row
    if store.version(conn, collection, version) is None:
        raise _not_found(conn, collection, version)
    names = [f.file_name for f in store.files(conn, collection, version)]
    raise NotFound(
        f"{collection} version {version} has no file {file_name!r}",
        {"nearby": _nearby(file_name, names) or names[:10]},
    )


def _nearby(name: str, names: Sequence[str]) -> list[str]:
    close = difflib.get_close_matches(name, names, n=5, cutoff=0.5)
    head = name.split("-")[0]
    return close + [n for n in names if n.startswith(head) and n not in close][: 5 - len(close)]


def _not_found(conn: Connection, collection: str, version: int | None) -> NotFound:
    names = store.names(conn)
    if collection in names:
        published = [v.version for v in store.versions(conn, collection)]
        return NotFound(
            f"{collection} has no published version {version}",
            {"nearby": [page_url(collection, v) for v in published]},
        )
    return NotFound(
        f"no published collection {collection!r}",
        {"nearby": _nearby(collection, names), "hint": "/products/contributed lists them"},
    )


async def download(request: Request, object_store: ObjectStore, row: Any) -> Response:
    """Answer with a stored file: Range, If-Range, If-None-Match, HEAD; the ETag is its
    SHA-256."""
    entity = Entity(int(row.size), f'"{row.sha256}"', row.content_type, row.file_name)

    async def body(first: int, last: int) -> bytes | AsyncIterator[bytes]:
        try:
            # Opened before answering, so that an outage is a 503 and never a cut body.
            stream = await run_in_threadpool(
                object_store.iter_object, row.bucket, row.object_key, first, last, STREAM_CHUNK
            )
        except (StorageUnavailable, ObjectNotFound) as exc:
            raise ServiceUnavailable(
                "the object store cannot deliver this file now; retry later"
            ) from exc
        return iterate_in_threadpool(stream)

    return await ranged_response(request, entity, body)
