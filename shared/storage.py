"""The object-store layer: raw ScW data and science products in S3, through ``minio``.

Every ISLA component reaches S3 (the embedded SeaweedFS, or MinIO on a deployment) through
:class:`ObjectStore`. It adds what the archive needs on top of the plain client:

- a SHA-256 of every object, computed while writing and kept as user metadata
  ``x-amz-meta-sha256`` (S3 ETags are MD5s or multipart digests, useless as published
  checksums), returned in :class:`StoredObject`;
- byte-range streaming (HTTP semantics: ``end`` is inclusive) that always gives its
  connection back to the pool, also when the consumer stops early;
- key validation, so that a key built from user input can never escape its prefix;
- fail-fast networking: short timeouts from ``StorageSettings.s3_timeout`` and few retries,
  so an outage surfaces as :class:`StorageUnavailable` instead of a hung request;
- errors that services can map to HTTP: :class:`ObjectNotFound` (404),
  :class:`InvalidRange` (416), :class:`StorageUnavailable` (503).

The ``minio`` client is synchronous and thread-safe. Async services call these methods in a
thread pool (``starlette.concurrency.run_in_threadpool`` / ``iterate_in_threadpool``); no async
wrappers are provided on purpose.
"""

from __future__ import annotations

import base64
import binascii
import builtins
import contextlib
import hashlib
import io
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any, BinaryIO, Self, cast

import urllib3
from minio import Minio
from minio.deleteobjects import DeleteObject
from minio.error import MinioException, S3Error, ServerError
from urllib3.exceptions import HTTPError as Urllib3HTTPError

from shared.observability import count_dependency_error
from shared.settings import StorageSettings

SHA256_META = "x-amz-meta-sha256"
DEFAULT_CONTENT_TYPE = "application/octet-stream"
CHUNK_SIZE = 1024 * 1024
MAX_KEY_BYTES = 1024  # S3's limit on key length
MAX_SEGMENT_BYTES = 255  # SeaweedFS stores keys as filer paths; each name is limited to this
_HASH_BLOCK = 1024 * 1024
_SPOOL_IN_MEMORY = 16 * 1024 * 1024  # unseekable uploads up to this size stay in memory
_DELETE_BATCH = 1000  # most keys one S3 DeleteObjects request takes

_NOT_FOUND_CODES = frozenset({"NoSuchKey", "NoSuchBucket", "NoSuchObject", "ResourceNotFound"})
_AUTH_CODES = frozenset(
    {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken"}
)


class StorageUnavailable(RuntimeError):  # noqa: N818 - the name states the condition (503)
    """The object store cannot be reached (or refuses our credentials) right now.

    Each one raised is counted (``isla_dependency_errors_total{dependency="object_store"}``).
    """

    def __init__(self, *args: object) -> None:
        """Keep the message and count the failure."""
        super().__init__(*args)
        count_dependency_error("object_store")


class ObjectNotFound(LookupError):  # noqa: N818 - mirrors S3's NoSuchKey; maps to 404
    """The bucket or object does not exist."""


class InvalidRange(ValueError):  # noqa: N818 - mirrors S3's InvalidRange; maps to 416
    """The requested byte range starts beyond the end of the object."""


@dataclass(frozen=True)
class StoredObject:
    """An object as written or as found by :meth:`ObjectStore.stat`.

    ``sha256`` is the hex digest recorded at write time; it is None only for objects that
    were written by another tool, without ISLA's metadata.
    """

    bucket: str
    key: str
    size: int
    sha256: str | None
    etag: str | None
    content_type: str | None = None
    last_modified: datetime | None = None
    s3_sha256: str | None = None
    """The object store's own SHA-256 of the whole object (``x-amz-checksum-sha256``, as hex),
    when the uploading client asked for one; None otherwise (and for multipart composites)."""


@dataclass(frozen=True)
class ListedObject:
    """One entry of :meth:`ObjectStore.list` (listings carry no user metadata, so no hash)."""

    bucket: str
    key: str
    size: int
    etag: str | None
    last_modified: datetime | None
    is_dir: bool = False  # a common prefix, only in non-recursive listings


def validate_key(key: str) -> str:
    """Return ``key`` if it is a safe object key, else raise ``ValueError``.

    Refused: empty keys, absolute keys ('/x'), '.' / '..' / empty segments, backslashes,
    NUL and other control characters, a trailing '/', and keys or segments longer than the
    store allows. Keys are often built from request parameters; these rules keep them inside
    the intended prefix on every S3 implementation (SeaweedFS maps keys to filer paths).
    """
    if not isinstance(key, str) or not key:
        raise ValueError("object key must be a non-empty string")
    if key.endswith("/"):
        raise ValueError(f"object key must not end with '/': {key!r}")
    _check_path(key, what="object key")
    return key


def validate_prefix(prefix: str) -> str:
    """Return ``prefix`` if it is a safe listing prefix, else raise ``ValueError``.

    Like :func:`validate_key`, but the empty prefix and a trailing '/' are allowed.
    """
    if not isinstance(prefix, str):
        raise ValueError("prefix must be a string")
    if prefix:
        _check_path(prefix.removesuffix("/"), what="prefix")
    return prefix


def _check_path(value: str, *, what: str) -> None:
    """The rules shared by keys and prefixes (``value`` has no trailing '/')."""
    if value.startswith("/"):
        raise ValueError(f"{what} must be relative, not {value!r}")
    if "\\" in value:
        raise ValueError(f"{what} must not contain backslashes: {value!r}")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise ValueError(f"{what} must not contain control characters: {value!r}")
    if len(value.encode("utf-8")) > MAX_KEY_BYTES:
        raise ValueError(f"{what} is longer than {MAX_KEY_BYTES} bytes")
    for segment in value.split("/"):
        if segment in ("", ".", ".."):
            raise ValueError(f"{what} has an empty, '.' or '..' segment: {value!r}")
        if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
            raise ValueError(f"{what} has a segment longer than {MAX_SEGMENT_BYTES} bytes")


class ObjectStream(Iterator[bytes]):
    """Chunks of one object (or byte range), read from an open S3 response.

    The request is made when the stream is created, so a missing object or a bad range
    raises before the first chunk (a web service can still answer 404/416). The connection
    is released when the data is exhausted, on any error, on :meth:`close`, at the end of a
    ``with`` block, and at the latest when the stream is garbage collected (a client that
    disconnects mid-download abandons the iterator without closing it).
    """

    def __init__(self, response: urllib3.BaseHTTPResponse, chunk_size: int, where: str) -> None:
        """Wrap an S3 GET ``response``; ``where`` names the object in error messages."""
        self._response: urllib3.BaseHTTPResponse | None = response
        self._chunks = response.stream(chunk_size)
        self._where = where
        length = response.headers.get("Content-Length")
        self.content_length: int | None = int(length) if length is not None else None
        self.content_range: str | None = response.headers.get("Content-Range")
        self.headers: Any = response.headers
        """The response headers (user metadata, S3 checksums)."""
        etag = response.headers.get("ETag")
        self.etag: str | None = etag.strip('"') if etag else None
        """The ETag of the object version being read (to notice an object replaced since it
        was listed)."""

    def __iter__(self) -> Self:
        """The stream is its own iterator (it can be consumed once)."""
        return self

    def __next__(self) -> bytes:
        """The next non-empty chunk."""
        if self._response is None:
            raise StopIteration
        try:
            while True:
                chunk = next(self._chunks)
                if chunk:
                    return chunk
        except StopIteration:
            self.close()
            raise
        except Urllib3HTTPError as exc:
            self.close()
            raise StorageUnavailable(f"reading {self._where} failed: {exc}") from exc
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Release the connection (idempotent). Unread data is dropped with the socket."""
        response, self._response = self._response, None
        if response is not None:
            # close() drops a half-read socket, so it is never reused with stale bytes;
            # release_conn() gives the slot back to the pool either way.
            response.close()
            response.release_conn()

    def __enter__(self) -> Self:
        """Use the stream in a ``with`` block that releases it."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Release the connection."""
        self.close()

    def __del__(self) -> None:
        """Last-resort release for abandoned streams."""
        with contextlib.suppress(Exception):
            self.close()


class _HashingReader:
    """A read-only view of ``length`` bytes of a stream that hashes what is read.

    Wrapped around the data handed to minio so that the digest compared after the upload
    describes exactly the bytes that were sent.
    """

    def __init__(self, raw: IO[bytes], length: int) -> None:
        self._raw = raw
        self._left = length
        self.sha256 = hashlib.sha256()
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        """Read at most ``size`` bytes (all that is left when negative)."""
        if self._left <= 0:
            return b""
        want = self._left if size is None or size < 0 else min(size, self._left)
        data = self._raw.read(want)
        self._left -= len(data)
        self.count += len(data)
        self.sha256.update(data)
        return data


class ObjectStore:
    """ISLA's access to its S3 buckets (raw data and products)."""

    def __init__(
        self,
        client: Minio,
        raw_bucket: str,
        products_bucket: str,
        *,
        endpoint: str = "",
        timeout: float = 10.0,
    ) -> None:
        """Wrap a configured ``Minio`` client; most callers use :meth:`from_settings`."""
        self.client = client
        self.raw_bucket = raw_bucket
        self.products_bucket = products_bucket
        self.endpoint = endpoint
        self.timeout = timeout

    @classmethod
    def from_settings(cls, settings: StorageSettings, *, max_connections: int = 32) -> Self:
        """Build a store from ``StorageSettings`` (the endpoint must be set).

        ``max_connections`` sizes the connection pool; it should cover the thread pool that
        calls the store, or urllib3 discards (and re-opens) the surplus connections.
        """
        timeout = settings.s3_timeout
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=timeout, read=timeout),
            maxsize=max_connections,
            # One connect retry rides over a server restart; read errors are not retried,
            # so an outage costs at most about two timeouts, never minutes (minio's default
            # is 5 retries with a 5-minute timeout). Idempotent methods only, as urllib3's
            # default allowed_methods says.
            retries=urllib3.Retry(
                total=2,
                connect=1,
                read=0,
                redirect=0,
                status=2,
                backoff_factor=0.2,
                status_forcelist=[500, 502, 503, 504],
                raise_on_status=False,  # let minio read the S3 error document
            ),
        )
        client = Minio(
            settings.host,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key.get_secret_value(),
            secure=settings.secure,
            region=settings.s3_region,  # known region: no GetBucketLocation round trips
            http_client=http,
        )
        scheme = "https" if settings.secure else "http"
        return cls(
            client,
            settings.s3_raw_bucket,
            settings.s3_products_bucket,
            endpoint=f"{scheme}://{settings.host}",
            timeout=timeout,
        )

    # -- service -------------------------------------------------------------------------------

    def ping(self) -> None:
        """Check that the store answers with our credentials; raise ``StorageUnavailable``.

        Uses a HEAD on the raw bucket, which needs only bucket-level permissions (a
        deployment's keys may not be allowed to list all buckets). A missing bucket still
        counts as reachable.
        """
        try:
            self.client.bucket_exists(self.raw_bucket)
        except S3Error as exc:
            raise StorageUnavailable(
                f"object store at {self.endpoint} refused the request: {exc.code} {exc.message}"
            ) from exc
        except (Urllib3HTTPError, MinioException, OSError) as exc:
            raise StorageUnavailable(
                f"object store at {self.endpoint} is not reachable "
                f"(timeout {self.timeout:g} s): {exc}"
            ) from exc

    def ensure_buckets(self, *extra: str) -> None:
        """Create the raw, products and ``extra`` buckets when missing (safe to repeat/race)."""
        for bucket in (self.raw_bucket, self.products_bucket, *extra):
            with self._errors(bucket):
                if self.client.bucket_exists(bucket):
                    continue
                try:
                    self.client.make_bucket(bucket)
                except S3Error as exc:
                    if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise

    # -- writing -------------------------------------------------------------------------------

    def put_bytes(
        self, bucket: str, key: str, data: bytes, content_type: str = DEFAULT_CONTENT_TYPE
    ) -> StoredObject:
        """Store ``data`` under ``key``; the result carries its SHA-256 and size."""
        validate_key(key)
        digest = hashlib.sha256(data).hexdigest()
        return self._put(bucket, key, io.BytesIO(data), len(data), digest, content_type)

    def put_file(
        self, bucket: str, key: str, path: Path | str, content_type: str = DEFAULT_CONTENT_TYPE
    ) -> StoredObject:
        """Store the file at ``path`` under ``key``.

        The file is hashed first (the digest travels in the request headers, before the
        body) and hashed again as it is sent; if it changed in between, the object is
        deleted and ``RuntimeError`` is raised rather than publishing a wrong checksum.
        """
        validate_key(key)
        with Path(path).open("rb") as handle:
            size, digest = _hash_stream(handle, None)
            handle.seek(0)
            return self._put_verified(bucket, key, handle, size, digest, content_type)

    def put_stream(
        self,
        bucket: str,
        key: str,
        fileobj: BinaryIO,
        length: int | None = None,
        content_type: str = DEFAULT_CONTENT_TYPE,
    ) -> StoredObject:
        """Store ``length`` bytes read from ``fileobj`` (all of it when ``length`` is None).

        A seekable stream is hashed in place and rewound; any other stream is copied into a
        temporary spool (memory up to 16 MiB, then disk) while hashing, because S3 needs the
        digest, and the size, before the body. Raises ``ValueError`` if the stream holds
        fewer than ``length`` bytes.
        """
        validate_key(key)
        if length is not None and length < 0:
            raise ValueError("length must not be negative")
        seekable = bool(getattr(fileobj, "seekable", lambda: False)())
        if seekable and length is not None:
            start = fileobj.tell()
            size, digest = _hash_stream(fileobj, length)
            _check_length(size, length)
            fileobj.seek(start)
            return self._put_verified(bucket, key, fileobj, size, digest, content_type)
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY) as spool:
            size, digest = _hash_stream(fileobj, length, copy_to=cast(IO[bytes], spool))
            if length is not None:
                _check_length(size, length)
            spool.seek(0)
            return self._put(bucket, key, cast(IO[bytes], spool), size, digest, content_type)

    def _put_verified(
        self,
        bucket: str,
        key: str,
        handle: IO[bytes],
        size: int,
        digest: str,
        content_type: str,
    ) -> StoredObject:
        """Upload with a second hash over the bytes actually sent; undo on a mismatch."""
        reader = _HashingReader(handle, size)
        stored = self._put(bucket, key, reader, size, digest, content_type)
        if reader.count != size or reader.sha256.hexdigest() != digest:
            with contextlib.suppress(Exception):
                self.delete(bucket, key)
            raise RuntimeError(f"{bucket}/{key} changed while it was being uploaded; removed")
        return stored

    def _put(
        self,
        bucket: str,
        key: str,
        data: IO[bytes] | _HashingReader,
        size: int,
        digest: str,
        content_type: str,
    ) -> StoredObject:
        with self._errors(bucket, key):
            result = self.client.put_object(
                bucket,
                key,
                cast(BinaryIO, data),
                size,
                content_type=content_type,
                metadata={SHA256_META: digest},
            )
        return StoredObject(
            bucket=bucket,
            key=key,
            size=size,
            sha256=digest,
            etag=result.etag,
            content_type=content_type,
        )

    # -- reading -------------------------------------------------------------------------------

    def stat(self, bucket: str, key: str) -> StoredObject:
        """Size, SHA-256 (from the write-time metadata), ETag and type of an object.

        Raises ``ObjectNotFound`` when it does not exist.
        """
        validate_key(key)
        with self._errors(bucket, key):
            # Checksum mode: S3 returns the SHA-256 it verified on upload, when there is one.
            info = self.client.stat_object(bucket, key, extra_headers=_CHECKSUM_MODE)
        metadata: Any = info.metadata or {}
        sha256 = metadata.get(SHA256_META) if hasattr(metadata, "get") else None
        return StoredObject(
            bucket=bucket,
            key=key,
            size=int(info.size or 0),
            sha256=sha256,
            etag=info.etag,
            content_type=info.content_type,
            last_modified=info.last_modified,
            s3_sha256=s3_checksum_sha256(metadata),
        )

    def exists(self, bucket: str, key: str) -> bool:
        """Whether the object exists."""
        try:
            self.stat(bucket, key)
        except ObjectNotFound:
            return False
        return True

    def iter_object(
        self,
        bucket: str,
        key: str,
        start: int = 0,
        end: int | None = None,
        chunk_size: int = CHUNK_SIZE,
        *,
        checksums: bool = False,
    ) -> ObjectStream:
        """Stream bytes ``start``..``end`` of an object, **end inclusive** as in HTTP Range.

        ``end=None`` reads to the end of the object; an ``end`` past the end is clamped, as
        HTTP does. Raises ``ObjectNotFound``, or ``InvalidRange`` when ``start`` lies beyond
        the last byte. The returned stream always releases its connection (see
        :class:`ObjectStream`); close it explicitly when stopping early. ``checksums`` asks S3
        for its own checksum of the object in the response headers (``stream.headers``).
        """
        validate_key(key)
        if start < 0:
            raise ValueError("start must not be negative")
        if end is not None and end < start:
            raise ValueError("end must not be smaller than start (end is inclusive)")
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        # minio sends no Range header for offset=0, length=0 (the whole object).
        length = 0 if end is None else end - start + 1
        with self._errors(bucket, key):
            response = self.client.get_object(
                bucket,
                key,
                offset=start,
                length=length,
                request_headers=_CHECKSUM_MODE if checksums else None,
            )
        return ObjectStream(response, chunk_size, f"{bucket}/{key}")

    def read_bytes(self, bucket: str, key: str, start: int = 0, length: int | None = None) -> bytes:
        """Read ``length`` bytes from ``start`` (to the end when None) into memory."""
        if length is not None and length < 0:
            raise ValueError("length must not be negative")
        if length == 0:
            validate_key(key)
            return b""  # an HTTP range cannot express zero bytes
        end = None if length is None else start + length - 1
        with self.iter_object(bucket, key, start, end) as stream:
            return b"".join(stream)

    def list(self, bucket: str, prefix: str = "", recursive: bool = True) -> Iterator[ListedObject]:
        """The objects under ``prefix`` (keys and sizes), in key order, fetched lazily.

        With ``recursive=False`` the next level of "folders" appears as entries with
        ``is_dir=True``.
        """
        validate_prefix(prefix)
        with self._errors(bucket):
            for obj in self.client.list_objects(bucket, prefix=prefix, recursive=recursive):
                yield ListedObject(
                    bucket=bucket,
                    key=str(obj.object_name),
                    size=int(obj.size or 0),
                    etag=obj.etag,
                    last_modified=obj.last_modified,
                    is_dir=bool(obj.is_dir),
                )

    # -- deleting ------------------------------------------------------------------------------

    def delete(self, bucket: str, key: str) -> None:
        """Delete an object; deleting a missing object is not an error (as in S3)."""
        validate_key(key)
        with self._errors(bucket, key):
            self.client.remove_object(bucket, key)

    def delete_prefix(self, bucket: str, prefix: str) -> int:
        """Delete every object under ``prefix``; return how many were deleted.

        The empty prefix is refused: emptying a whole bucket is never what a caller of
        this method means. End the prefix with '/' to stay within one "folder" ('a/b/'
        does not touch 'a/bc').
        """
        validate_prefix(prefix)
        if not prefix:
            raise ValueError("delete_prefix needs a non-empty prefix")
        deleted = 0
        batch: builtins.list[str] = []
        for entry in self.list(bucket, prefix, recursive=True):
            batch.append(entry.key)
            if len(batch) >= _DELETE_BATCH:
                deleted += self._delete_many(bucket, batch)
                batch = []
        if batch:
            deleted += self._delete_many(bucket, batch)
        return deleted

    def _delete_many(self, bucket: str, keys: builtins.list[str]) -> int:
        """One DeleteObjects request; raise on the first per-key failure."""
        with self._errors(bucket):
            # remove_objects is lazy: the request only happens while its result is consumed.
            errors = builtins.list(
                self.client.remove_objects(bucket, (DeleteObject(key) for key in keys))
            )
        if errors:
            first = errors[0]
            raise RuntimeError(
                f"could not delete {len(errors)} objects in {bucket}, e.g. "
                f"{first.name}: {first.code} {first.message}"
            )
        return len(keys)

    # -- errors --------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _errors(self, bucket: str, key: str | None = None) -> Iterator[None]:
        """Translate client errors into the archive's exceptions."""
        where = f"{bucket}/{key}" if key is not None else bucket
        try:
            yield
        except S3Error as exc:
            if exc.code in _NOT_FOUND_CODES:
                raise ObjectNotFound(f"{where}: {exc.code}") from exc
            if exc.code == "InvalidRange":
                raise InvalidRange(f"{where}: requested range not satisfiable") from exc
            if exc.code in _AUTH_CODES:
                raise StorageUnavailable(
                    f"object store at {self.endpoint} refused access to {where}: {exc.code}"
                ) from exc
            raise
        except ServerError as exc:
            raise StorageUnavailable(
                f"object store at {self.endpoint} failed on {where}: HTTP {exc.status_code}"
            ) from exc
        except Urllib3HTTPError as exc:
            raise StorageUnavailable(
                f"object store at {self.endpoint} is not reachable for {where}: {exc}"
            ) from exc


_CHECKSUM_MODE: dict[str, str | list[str] | tuple[str]] = {"x-amz-checksum-mode": "ENABLED"}


def s3_checksum_sha256(headers: Any) -> str | None:
    """The whole-object SHA-256 of S3's ``x-amz-checksum-sha256`` header as hex, or None.

    S3 gives the checksum base64-encoded; a multipart upload's checksum is a checksum of the
    parts' checksums (marked ``-N`` or ``x-amz-checksum-type: COMPOSITE``), not of the object,
    and is ignored.
    """
    if not hasattr(headers, "get"):
        return None
    value = headers.get("x-amz-checksum-sha256")
    if not value or "-" in value:
        return None
    if str(headers.get("x-amz-checksum-type", "FULL_OBJECT")).upper() == "COMPOSITE":
        return None
    try:
        raw = base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error):
        return None
    return raw.hex() if len(raw) == 32 else None


def _hash_stream(
    stream: IO[bytes] | BinaryIO, limit: int | None, copy_to: IO[bytes] | None = None
) -> tuple[int, str]:
    """Read up to ``limit`` bytes (all when None); return (size, sha256 hex)."""
    digest = hashlib.sha256()
    size = 0
    while limit is None or size < limit:
        want = _HASH_BLOCK if limit is None else min(_HASH_BLOCK, limit - size)
        block = stream.read(want)
        if not block:
            break
        digest.update(block)
        size += len(block)
        if copy_to is not None:
            copy_to.write(block)
    return size, digest.hexdigest()


def _check_length(size: int, length: int) -> None:
    if size != length:
        raise ValueError(f"stream ended after {size} of {length} bytes")
