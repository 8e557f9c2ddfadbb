"""Packages of stored files as ESA's ISLA sends them: a plain tar (spectra with their
responses), a gzip-compressed tar (mosaics) or a zip (time series), streamed from the object
store with exact sizes where the format allows."""

from __future__ import annotations

import datetime as dt
import io
import re
import tarfile
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi.responses import StreamingResponse
from starlette.concurrency import iterate_in_threadpool

from shared.storage import ObjectStore

CHUNK = 1 << 20
"""Bytes read from the object store per step when packaging."""


@dataclass(frozen=True)
class Member:
    """One stored file going into a package."""

    name: str
    bucket: str
    key: str
    size: int
    mtime: int


def _object_chunks(store: ObjectStore, member: Member) -> Iterator[bytes]:
    with store.iter_object(member.bucket, member.key, chunk_size=CHUNK) as stream:
        yield from stream


def _tar_header(member: Member) -> bytes:
    info = tarfile.TarInfo(member.name)
    info.size = member.size
    info.mtime = member.mtime
    info.mode = 0o644
    info.uname = info.gname = "isla"
    return info.tobuf(format=tarfile.GNU_FORMAT, encoding="utf-8", errors="strict")


def tar_size(members: Sequence[Member]) -> int:
    """The exact size of the plain tar of ``members`` (headers, data, padding, end blocks)."""
    return sum(len(_tar_header(m)) + m.size + (-m.size % 512) for m in members) + 1024


def iter_tar(store: ObjectStore, members: Sequence[Member]) -> Iterator[bytes]:
    """A plain (POSIX/GNU) tar of stored objects, streamed chunk by chunk."""
    for member in members:
        yield _tar_header(member)
        sent = 0
        for chunk in _object_chunks(store, member):
            sent += len(chunk)
            yield chunk
        if sent != member.size:
            # The header already promised the recorded size: a short object would corrupt
            # every later member, so the download is cut instead.
            raise RuntimeError(f"{member.key}: {sent} bytes stored, {member.size} recorded")
        yield bytes(-member.size % 512)
    yield bytes(1024)


def iter_tar_gz(store: ObjectStore, members: Sequence[Member]) -> Iterator[bytes]:
    """The tar of ``members`` compressed on the fly (gzip container, as ISLA's mosaics)."""
    # ISLA's own mosaic files are gzip-compressed already: deflating them again took 0.3 s for
    # the 4.5 MB package of epoch 0727 and gained nothing, so such members are only stored
    # (level 0 still makes a valid gzip stream); plain FITS images get the fast level 1.
    level = 0 if all(m.name.endswith(".gz") for m in members) else 1
    compressor = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    for piece in iter_tar(store, members):
        out = compressor.compress(piece)
        if out:
            yield out
    yield compressor.flush()


class _Sink(io.RawIOBase):
    """A write-only, unseekable buffer: zipfile then writes data descriptors, as streams need."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        out = b"".join(self._parts)
        self._parts.clear()
        return out


def iter_zip(store: ObjectStore, members: Sequence[Member]) -> Iterator[bytes]:
    """A deflated zip of stored objects (ISLA's time-series package), streamed."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for member in members:
            info = zipfile.ZipInfo(
                member.name, dt.datetime.fromtimestamp(member.mtime, dt.UTC).timetuple()[:6]
            )
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            with archive.open(info, "w") as entry:
                for chunk in _object_chunks(store, member):
                    entry.write(chunk)
                    out = sink.take()
                    if out:
                        yield out
            yield sink.take()
    yield sink.take()


def members_of(rows: Sequence[Any]) -> list[Member]:
    """The package members of stored product rows (one file per name)."""
    seen: set[str] = set()
    out = []
    for r in rows:
        if r.file_name in seen:  # two units' files never share a name in ISLA's packages
            continue
        seen.add(r.file_name)
        created = r.created_at or dt.datetime(2025, 3, 1)
        out.append(
            Member(
                r.file_name,
                r.bucket,
                r.object_key,
                int(r.size),
                int(created.replace(tzinfo=dt.UTC).timestamp()),
            )
        )
    return out


def safe_name(value: str) -> str:
    """A value usable in a package file name."""
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", value).strip("_") or "isla"


def package(
    store: ObjectStore, members: Sequence[Member], fmt: str, file_name: str
) -> StreamingResponse:
    """Stream ``members`` as a ``tar``, ``tar.gz`` or ``zip`` download named ``file_name``."""
    makers = {
        "tar": (iter_tar, "application/x-tar"),
        "tar.gz": (iter_tar_gz, "application/gzip"),
        "zip": (iter_zip, "application/zip"),
    }
    maker, media = makers[fmt]
    headers = {"Content-Disposition": f'attachment; filename="{file_name}"'}
    if fmt == "tar":
        headers["Content-Length"] = str(tar_size(members))
    return StreamingResponse(
        iterate_in_threadpool(maker(store, members)), media_type=media, headers=headers
    )
