"""Byte sources of segment objects, and typed reads of raw samples and pyramid levels.

Every read goes through a :class:`CountingSource`, so a request knows (and a test checks) how
many bytes it took from storage. Sources: the object store (byte-range GETs) and a local folder
(a cache rebuilt from the object store, or the benchmark's files).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from shared.storage import ObjectStore, validate_key
from shared.timeseries.segments import SegmentRef, bucket_dtype

__all__ = [
    "ByteSource",
    "CountingSource",
    "DirSource",
    "StoreSource",
    "read_level",
    "read_raw",
]


class ByteSource(Protocol):
    """Something that returns byte ranges of named segment objects."""

    def read(self, key: str, offset: int, length: int) -> bytes:
        """``length`` bytes of object ``key`` from ``offset``."""
        ...


class StoreSource:
    """Segment objects in a bucket of the object store."""

    def __init__(self, store: ObjectStore, bucket: str) -> None:
        """Read from ``bucket`` of ``store``."""
        self.store = store
        self.bucket = bucket

    def read(self, key: str, offset: int, length: int) -> bytes:
        """One ranged GET."""
        if length <= 0:
            return b""
        return self.store.read_bytes(self.bucket, key, offset, length)


class DirSource:
    """Segment objects as files under a folder (key = relative path)."""

    def __init__(self, root: Path) -> None:
        """Read files under ``root``."""
        self.root = Path(root)
        self._fds: dict[str, int] = {}
        self._lock = threading.Lock()

    def _fd(self, key: str) -> int:
        with self._lock:
            fd = self._fds.get(key)
            if fd is None:
                fd = os.open(self.root / validate_key(key), os.O_RDONLY)
                self._fds[key] = fd
            return fd

    def read(self, key: str, offset: int, length: int) -> bytes:
        """One ``pread``."""
        if length <= 0:
            return b""
        return os.pread(self._fd(key), length, offset)

    def close(self) -> None:
        """Close the open files."""
        with self._lock:
            for fd in self._fds.values():
                os.close(fd)
            self._fds.clear()


class CountingSource:
    """A source that counts the bytes and reads it serves."""

    def __init__(self, inner: ByteSource) -> None:
        """Wrap ``inner``."""
        self.inner = inner
        self.bytes_read = 0
        self.reads = 0
        self._lock = threading.Lock()

    def read(self, key: str, offset: int, length: int) -> bytes:
        """Read and count (reads may run in several threads)."""
        data = self.inner.read(key, offset, length)
        with self._lock:
            self.bytes_read += len(data)
            self.reads += 1
        return data


def read_raw(source: ByteSource, seg: SegmentRef, name: str, i0: int, i1: int) -> npt.NDArray[Any]:
    """Samples ``[i0, i1)`` of field ``name`` of a segment."""
    dt = seg.layout.dtype(name)
    if i1 <= i0:
        return np.empty(0, dtype=dt)
    offset = seg.layout.raw_offset(name) + i0 * dt.itemsize
    data = source.read(seg.key, offset, (i1 - i0) * dt.itemsize)
    return np.frombuffer(data, dtype=dt)


def read_level(
    source: ByteSource, seg: SegmentRef, name: str, level: int, b0: int, b1: int
) -> npt.NDArray[Any]:
    """Buckets ``[b0, b1)`` of pyramid level ``level`` of field ``name``."""
    rec = bucket_dtype(seg.layout.dtype(name).str)
    if b1 <= b0:
        return np.empty(0, dtype=rec)
    offset = seg.layout.level_offset(name, level) + b0 * rec.itemsize
    data = source.read(seg.key, offset, (b1 - b0) * rec.itemsize)
    return np.frombuffer(data, dtype=rec)
