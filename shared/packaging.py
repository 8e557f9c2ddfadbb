"""Packages of stored objects, streamed: tar with exact length and byte ranges, tar.gz, zip.

Raw science windows and product bundles alike are packaged here. A package lists its
:class:`Member` files, each a stored object (bucket, key) or a few bytes made by the service
(a checksum file, a README).

A tar is planned before a byte is sent (:func:`tar_plan`): a list of segments, each either a
small piece of bytes made here (tar headers, padding, in-memory members) or a span of one
stored object. From the plan follow the exact ``Content-Length`` and, for any ``Range``, which
pieces to send, so a resumed download (``curl -C -``, ``wget -c``) gets exactly the bytes the
first one would have. Nothing is staged: object bytes flow from S3 to the client in chunks.

Python's ``tarfile`` writes whole archives to a file object and cannot start in the middle, so
only its header encoder is used here; the layout (512-byte blocks, two zero blocks at the end)
is POSIX, with GNU headers. A compressed package (tar.gz, zip) has no length known in advance
and no ranges: it is compressed on the fly as the tar or the members stream by.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import tarfile
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from shared.storage import ObjectStore

BLOCK = 512
"""Size of a tar block: headers and data are padded to it."""
END_OF_ARCHIVE = bytes(2 * BLOCK)
"""Two zero blocks close a tar."""
STREAM_CHUNK = 4 << 20
"""Bytes per read from the store. Each chunk costs a thread hop and a socket write; at 1 MiB
that overhead held a tarball to 0.71 of a direct S3 read, at 4 MiB to 0.85 (bench/raw_bench.py),
while a stream still holds only a few chunks in memory."""

TAR = "application/x-tar"
TAR_GZ = "application/gzip"
ZIP = "application/zip"


class TruncatedObjectError(RuntimeError):
    """The object store delivered fewer or more bytes than the archive recorded."""


@dataclass(frozen=True)
class Member:
    """One file going into a package: a stored object, or ``data`` made by the service."""

    name: str
    """Path inside the package."""
    bucket: str
    key: str
    size: int
    mtime: int
    """Modification time written into the package (Unix seconds)."""
    data: bytes | None = None
    """The member's bytes when it is not a stored object (then bucket and key are unused)."""

    @classmethod
    def of_bytes(cls, name: str, data: bytes, mtime: int) -> Member:
        """A member made in memory (a checksum file, a README)."""
        return cls(name, "", "", len(data), mtime, data)


@dataclass(frozen=True)
class Segment:
    """A run of package bytes: literal ``data``, or ``size`` bytes of object ``bucket/key``."""

    offset: int
    size: int
    data: bytes | None = None
    bucket: str | None = None
    key: str | None = None


def tar_header(member: Member) -> bytes:
    """The tar header block(s) of ``member`` (GNU format, owner ``isla``, mode 0644)."""
    info = tarfile.TarInfo(member.name)
    info.size = member.size
    info.mtime = member.mtime
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = "isla"
    # GNU format keeps headers at one block for our short names and is read by every tar.
    return info.tobuf(format=tarfile.GNU_FORMAT, encoding="utf-8", errors="strict")


def _padding(size: int) -> bytes:
    return bytes(-size % BLOCK)


def members_digest(members: Sequence[Member]) -> str:
    """SHA-256 over names, sizes, sources and times: the identity of a package's content."""
    h = hashlib.sha256()
    for m in members:
        source = hashlib.sha256(m.data).hexdigest() if m.data is not None else f"{m.bucket}/{m.key}"
        h.update(f"{m.name}\0{m.size}\0{source}\0{m.mtime}\n".encode())
    return h.hexdigest()


@dataclass(frozen=True)
class Plan:
    """The layout of one download (a tar or one stored file): segments, total size, ETag."""

    segments: tuple[Segment, ...]
    size: int
    etag: str
    """Strong entity tag, quoted."""

    @classmethod
    def single(cls, bucket: str, key: str, size: int, etag: str) -> Plan:
        """One stored object as it is."""
        return cls((Segment(0, size, None, bucket, key),), size, etag)

    def iter_range(
        self, store: ObjectStore, first: int = 0, last: int | None = None
    ) -> Iterator[bytes]:
        """Yield bytes ``first``..``last`` (inclusive) of the download, streaming objects.

        Raises :class:`TruncatedObjectError` when an object's length differs from the plan:
        the response then breaks off short of its Content-Length, so the client keeps an
        incomplete file it can resume, never a silently wrong one.
        """
        last = self.size - 1 if last is None else last
        for seg in _overlapping(self.segments, first, last):
            start = max(first, seg.offset) - seg.offset
            stop = min(last, seg.offset + seg.size - 1) - seg.offset  # inclusive
            if seg.data is not None:
                yield seg.data[start : stop + 1]
                continue
            assert seg.bucket is not None and seg.key is not None
            yield from _object_span(store, seg.bucket, seg.key, start, stop)


def tar_plan(members: Sequence[Member], etag: str | None = None) -> Plan:
    """Plan the tar of ``members`` in order; ``etag`` defaults to :func:`members_digest`."""
    pieces: list[tuple[bytes | None, Member | None, int]] = []
    for m in members:
        pieces.append((tar_header(m), None, 0))
        if m.data is not None:
            pieces.append((m.data + _padding(m.size), None, 0))
            continue
        if m.size:
            pieces.append((None, m, m.size))
        if pad := _padding(m.size):
            pieces.append((pad, None, 0))
    pieces.append((END_OF_ARCHIVE, None, 0))
    segments = []
    offset = 0
    for data, member, size in pieces:
        length = len(data) if data is not None else size
        if member is None:
            segments.append(Segment(offset, length, data))
        else:
            segments.append(Segment(offset, length, None, member.bucket, member.key))
        offset += length
    return Plan(tuple(segments), offset, etag or f'"{members_digest(members)}"')


def tar_size(members: Sequence[Member]) -> int:
    """The exact size of the tar of ``members`` (headers, data, padding, end blocks)."""
    return sum(len(tar_header(m)) + m.size + len(_padding(m.size)) for m in members) + len(
        END_OF_ARCHIVE
    )


def iter_tar(store: ObjectStore, members: Sequence[Member]) -> Iterator[bytes]:
    """The tar of ``members``, streamed chunk by chunk."""
    return tar_plan(members).iter_range(store)


def gzip_stream(chunks: Iterator[bytes], level: int) -> Iterator[bytes]:
    """``chunks`` compressed on the fly into one gzip member."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    for chunk in chunks:
        if out := compressor.compress(chunk):
            yield out
    yield compressor.flush()


def gzip_level(members: Sequence[Member]) -> int:
    """The compression level for a tar.gz of ``members``.

    Compressed members (``.gz``, as ISLA's mosaics and most raw files) only gain time from
    a second deflate: a package of nothing else is stored (level 0 still makes a valid gzip
    stream); otherwise the fast level 1.
    """
    return 0 if all(m.name.endswith(".gz") for m in members) else 1


def iter_tar_gz(
    store: ObjectStore, members: Sequence[Member], level: int | None = None
) -> Iterator[bytes]:
    """The tar of ``members`` compressed on the fly (gzip container)."""
    chosen = gzip_level(members) if level is None else level
    return gzip_stream(iter_tar(store, members), chosen)


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
    """A deflated zip of ``members``, streamed (data descriptors after each member)."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for member in members:
            info = zipfile.ZipInfo(
                member.name, dt.datetime.fromtimestamp(member.mtime, dt.UTC).timetuple()[:6]
            )
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            with archive.open(info, "w") as entry:
                for chunk in _member_chunks(store, member):
                    entry.write(chunk)
                    if out := sink.take():
                        yield out
            yield sink.take()
    yield sink.take()


def _member_chunks(store: ObjectStore, member: Member) -> Iterator[bytes]:
    if member.data is not None:
        yield member.data
    elif member.size:
        yield from _object_span(store, member.bucket, member.key, 0, member.size - 1)


def _object_span(
    store: ObjectStore, bucket: str, key: str, start: int, stop: int
) -> Iterator[bytes]:
    """Bytes ``start``..``stop`` (inclusive) of one object, checked against that length."""
    expected = stop - start + 1
    sent = 0
    with store.iter_object(bucket, key, start=start, end=stop, chunk_size=STREAM_CHUNK) as chunks:
        for chunk in chunks:
            sent += len(chunk)
            if sent > expected:
                raise TruncatedObjectError(f"{key} is longer than recorded")
            yield chunk
    if sent != expected:
        raise TruncatedObjectError(f"{key}: got {sent} of {expected} bytes")


def _overlapping(segments: Sequence[Segment], first: int, last: int) -> Iterator[Segment]:
    # Binary search for the first segment; a range usually starts deep into a large archive.
    lo, hi = 0, len(segments)
    while lo < hi:
        mid = (lo + hi) // 2
        if segments[mid].offset + segments[mid].size <= first:
            lo = mid + 1
        else:
            hi = mid
    for seg in segments[lo:]:
        if seg.offset > last:
            return
        if seg.size:
            yield seg
