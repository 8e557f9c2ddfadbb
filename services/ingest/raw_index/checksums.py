"""The checksum of each raw object, whoever uploaded it.

Objects copied in by ordinary tools (``mc mirror``, ``aws s3 sync``, ``rclone``) carry no ISLA
metadata. For each listed object :func:`checksum` decides, cheapest first:

1. **unchanged since the last index** (same size and ETag as the registered row, which is
   verified): the registered SHA-256 is kept, nothing is read;
2. **a checksum the store already holds**: ISLA's own ``x-amz-meta-sha256`` (computed while
   ISLA wrote the object) or S3's native ``x-amz-checksum-sha256`` (verified by the server on
   upload, when the client asked for it): one HEAD, for objects over :data:`SMALL_OBJECT`;
3. **streamed**: the object is read once and hashed, in the indexer's worker threads (small
   objects at once: one GET costs what the HEAD would, and a checksum in its headers is
   checked against the bytes). The GET must return the very version that was listed (same
   ETag, same length), or the object changed between listing and hashing and is reported
   (:class:`ObjectChangedError`).

An object a verification found corrupt is refused while it is the same object (same ETag):
it stays withheld until it is uploaded again (:class:`WithheldObjectError`).

Without hashing (``hash_files=False``) step 3 is skipped and the file is registered
``unverified``: served with its size, flagged in manifests, hashed later by ``isla raw verify``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from shared.storage import (
    SHA256_META,
    ListedObject,
    ObjectNotFound,
    ObjectStore,
    s3_checksum_sha256,
)


class ObjectChangedError(RuntimeError):
    """The object's bytes changed between the listing and the hashing."""


class WithheldObjectError(ValueError):
    """A verification found the object corrupt and it has not been uploaded again (same
    ETag): it stays withheld rather than being registered with the checksum of bad bytes."""


@dataclass(frozen=True)
class Known:
    """A file as registered by an earlier run."""

    size: int
    etag: str | None
    sha256: str | None
    state: str
    source: str | None


@dataclass(frozen=True)
class FileSum:
    """One registered file: where it is, its size, and what is known of its content."""

    name: str
    key: str
    size: int
    etag: str | None
    sha256: str | None
    source: str | None
    """streamed, s3, isla, or None while unverified."""
    hashed_bytes: int = 0
    """Bytes read to compute the checksum in this run (0 when it came from elsewhere)."""
    data: bytes | None = field(default=None, repr=False, compare=False)
    """The object's bytes, when they were read and asked for."""

    @property
    def state(self) -> str:
        """verified when the checksum is known, unverified otherwise."""
        return "verified" if self.sha256 else "unverified"


def _etag(value: str | None) -> str | None:
    return value.strip('"') if value else None


SMALL_OBJECT = 4 * 1024 * 1024
"""Objects up to this size are read at once (one GET, whose headers also carry any stored
checksum); larger ones are asked for a stored checksum first (a HEAD), so that an object
whose checksum the store holds is never read."""


def stream_sha256(
    store: ObjectStore, bucket: str, key: str, size: int, etag: str | None, keep: bool = False
) -> tuple[str, bytes | None]:
    """Hash the object by reading it once: (SHA-256, the bytes when ``keep``);
    ObjectChangedError when it is not the listed object.

    When the GET's headers carry ISLA's or S3's checksum, it is compared with the bytes.
    """
    digest = hashlib.sha256()
    count = 0
    kept: list[bytes] = []
    with store.iter_object(bucket, key, checksums=True) as stream:
        if etag and stream.etag and stream.etag != etag:
            raise ObjectChangedError(
                f"{key}: changed since it was listed (ETag {etag} then, {stream.etag} now)"
            )
        stored = s3_checksum_sha256(stream.headers), stream.headers.get(SHA256_META)
        for block in stream:
            digest.update(block)
            count += len(block)
            if keep:
                kept.append(block)
    if count != size:
        raise ObjectChangedError(f"{key}: {count} bytes read, {size} listed")
    sha = digest.hexdigest()
    for claimed in stored:
        if claimed and claimed != sha:
            raise ObjectChangedError(f"{key}: its bytes do not match the checksum stored with it")
    return sha, b"".join(kept) if keep else None


def checksum(
    store: ObjectStore,
    bucket: str,
    name: str,
    listed: ListedObject,
    known: Known | None,
    hash_files: bool = True,
    keep: bool = False,
) -> FileSum:
    """What the archive records about one listed object (see the module text); ``keep``: also
    return the bytes when the object is read. An object deleted since the listing is an
    :class:`ObjectChangedError` too; one a verification found corrupt and that was not
    uploaded again since is a :class:`WithheldObjectError`."""
    if known is not None and known.state == "corrupt" and known.etag == _etag(listed.etag):
        raise WithheldObjectError(
            f"{listed.key}: a verification found it corrupt and it was not uploaded again; "
            "it stays withheld"
        )
    try:
        return _checksum(store, bucket, name, listed, known, hash_files, keep)
    except ObjectNotFound as exc:
        raise ObjectChangedError(f"{listed.key}: deleted since it was listed") from exc


def _checksum(
    store: ObjectStore,
    bucket: str,
    name: str,
    listed: ListedObject,
    known: Known | None,
    hash_files: bool,
    keep: bool,
) -> FileSum:
    etag = _etag(listed.etag)
    if (
        known is not None
        and known.state == "verified"
        and known.sha256
        and known.size == listed.size
        and etag is not None
        and known.etag == etag
    ):
        return FileSum(name, listed.key, listed.size, etag, known.sha256, known.source)
    if hash_files and listed.size <= SMALL_OBJECT:
        # One GET: reading a small object costs about what asking for its checksum does.
        sha, data = stream_sha256(store, bucket, listed.key, listed.size, etag, keep)
        return FileSum(name, listed.key, listed.size, etag, sha, "streamed", listed.size, data)
    stored = store.stat(bucket, listed.key)
    if stored.size != listed.size or (etag and stored.etag and _etag(stored.etag) != etag):
        raise ObjectChangedError(f"{listed.key}: changed since it was listed")
    if stored.s3_sha256:
        return FileSum(name, listed.key, listed.size, etag, stored.s3_sha256, "s3")
    if stored.sha256:
        return FileSum(name, listed.key, listed.size, etag, stored.sha256, "isla")
    if not hash_files:
        return FileSum(name, listed.key, listed.size, etag, None, None)
    sha, data = stream_sha256(store, bucket, listed.key, listed.size, etag, keep)
    return FileSum(name, listed.key, listed.size, etag, sha, "streamed", listed.size, data)
