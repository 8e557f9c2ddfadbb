"""The object-store layer against a real embedded SeaweedFS S3 server (no mocks).

The module starts its own server in a temporary folder, so it also tests the launcher's
``SeaweedS3``: startup, credentials, restart on the same folder, and a clean stop.
"""

from __future__ import annotations

import gc
import hashlib
import io
import json
import random
import socket
import threading
import time
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
import urllib3
from minio import Minio

from deploy.ports import free_port, port_is_free
from deploy.seaweed import SeaweedS3
from shared.settings import StorageSettings
from shared.storage import (
    InvalidRange,
    ObjectNotFound,
    ObjectStore,
    StorageUnavailable,
    validate_key,
    validate_prefix,
)

pytestmark = pytest.mark.integration

ACCESS_KEY = "isla-storage-test"
SECRET_KEY = "isla-storage-test-secret"
RAW = "test-raw"
PRODUCTS = "test-products"
# Larger than minio's 5 MiB part (a multipart upload) and SeaweedFS's 4 MiB chunk.
BIG_SIZE = 6 * 1024 * 1024 + 12345


def _settings(endpoint: str, *, secret: str = SECRET_KEY, timeout: float = 5.0) -> StorageSettings:
    return StorageSettings(
        s3_endpoint=endpoint,
        s3_access_key=ACCESS_KEY,
        s3_secret_key=secret,
        s3_raw_bucket=RAW,
        s3_products_bucket=PRODUCTS,
        s3_timeout=timeout,
    )


def _payload(size: int, seed: int = 727) -> bytes:
    return random.Random(seed).randbytes(size)


@pytest.fixture(scope="module")
def weed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    """One SeaweedFS S3 server for the module."""
    server = SeaweedS3(tmp_path_factory.mktemp("weed"), ACCESS_KEY, SECRET_KEY)
    server.start(timeout=90)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def store(weed: SeaweedS3) -> ObjectStore:
    """A store on the module's server, with both buckets created."""
    result = ObjectStore.from_settings(_settings(weed.endpoint))
    result.ensure_buckets()
    result.ensure_buckets()  # idempotent
    return result


@pytest.fixture(scope="module")
def big(store: ObjectStore) -> bytes:
    """A multi-chunk object stored under ``big/object.bin`` in the raw bucket."""
    data = _payload(BIG_SIZE)
    store.put_bytes(RAW, "big/object.bin", data)
    return data


# -- writing and checksums ---------------------------------------------------------------------


def test_put_bytes_records_sha256(store: ObjectStore) -> None:
    data = _payload(100_000, seed=1)
    written = store.put_bytes(PRODUCTS, "spectra/smc_x-1.fits", data, content_type="image/fits")
    expected = hashlib.sha256(data).hexdigest()
    assert written.sha256 == expected
    assert written.size == len(data)
    assert written.etag
    found = store.stat(PRODUCTS, "spectra/smc_x-1.fits")
    assert (found.sha256, found.size, found.content_type) == (expected, len(data), "image/fits")
    assert found.last_modified is not None
    assert store.read_bytes(PRODUCTS, "spectra/smc_x-1.fits") == data


def test_empty_object(store: ObjectStore) -> None:
    written = store.put_bytes(RAW, "empty/nothing", b"")
    assert written.sha256 == hashlib.sha256(b"").hexdigest()
    assert store.stat(RAW, "empty/nothing").size == 0
    assert store.read_bytes(RAW, "empty/nothing") == b""


def test_put_file_multipart(store: ObjectStore, tmp_path: Path, big: bytes) -> None:
    path = tmp_path / "events.fits"
    path.write_bytes(big)
    written = store.put_file(RAW, "file/events.fits", path)
    assert written.sha256 == hashlib.sha256(big).hexdigest()
    assert written.size == len(big)
    assert store.stat(RAW, "file/events.fits").sha256 == written.sha256
    assert store.read_bytes(RAW, "file/events.fits") == big


class _Unseekable(io.RawIOBase):
    """A pipe-like stream: readable once, no seek, no tell."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        chunk = self._data.read(min(len(buffer), 65536))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def test_put_stream_seekable_and_not(store: ObjectStore, big: bytes) -> None:
    expected = hashlib.sha256(big).hexdigest()
    seekable = io.BytesIO(b"header" + big)
    seekable.seek(6)
    written = store.put_stream(RAW, "stream/seekable", seekable, len(big))
    assert written.sha256 == expected
    piped = store.put_stream(RAW, "stream/pipe", _Unseekable(big))  # type: ignore[arg-type]
    assert (piped.sha256, piped.size) == (expected, len(big))
    for key in ("stream/seekable", "stream/pipe"):
        assert store.stat(RAW, key).sha256 == expected
        assert store.read_bytes(RAW, key) == big
    part = store.put_stream(RAW, "stream/part", _Unseekable(big), 1000)  # type: ignore[arg-type]
    assert part.sha256 == hashlib.sha256(big[:1000]).hexdigest()


def test_put_stream_too_short(store: ObjectStore) -> None:
    with pytest.raises(ValueError, match="10 of 20"):
        store.put_stream(RAW, "stream/short", io.BytesIO(b"0123456789"), 20)
    with pytest.raises(ValueError, match="10 of 20"):
        store.put_stream(RAW, "stream/short", _Unseekable(b"0123456789"), 20)  # type: ignore[arg-type]
    assert not store.exists(RAW, "stream/short")


# -- reading ranges ------------------------------------------------------------------------------

_MIB = 1024 * 1024


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (0, 0),  # first byte
        (0, 99),  # first bytes
        (1000, 1999),  # middle
        (4 * _MIB - 10, 4 * _MIB + 10),  # across SeaweedFS's 4 MiB chunk boundary
        (5 * _MIB - 3, 5 * _MIB + 2),  # across minio's 5 MiB upload part boundary
        (BIG_SIZE - 1, BIG_SIZE - 1),  # last byte
        (BIG_SIZE - 500, None),  # open-ended
        (BIG_SIZE - 10, BIG_SIZE + 1000),  # end past the object: clamped, as in HTTP
        (0, None),  # everything
    ],
)
def test_range_reads(store: ObjectStore, big: bytes, start: int, end: int | None) -> None:
    expected = big[start:] if end is None else big[start : end + 1]
    with store.iter_object(RAW, "big/object.bin", start, end, chunk_size=64 * 1024) as stream:
        assert stream.content_length == len(expected)
        assert b"".join(stream) == expected


def test_read_bytes_with_length(store: ObjectStore, big: bytes) -> None:
    assert store.read_bytes(RAW, "big/object.bin", 10, 5) == big[10:15]
    assert store.read_bytes(RAW, "big/object.bin", 10, 0) == b""
    assert store.read_bytes(RAW, "big/object.bin", BIG_SIZE - 3) == big[-3:]


def test_bad_ranges_and_missing_objects(store: ObjectStore, big: bytes) -> None:
    with pytest.raises(InvalidRange):
        store.iter_object(RAW, "big/object.bin", start=BIG_SIZE)
    with pytest.raises(ValueError):
        store.iter_object(RAW, "big/object.bin", start=10, end=9)
    with pytest.raises(ValueError):
        store.iter_object(RAW, "big/object.bin", start=-1)
    with pytest.raises(ObjectNotFound):
        store.iter_object(RAW, "no/such/object")
    with pytest.raises(ObjectNotFound):
        store.stat(RAW, "no/such/object")
    with pytest.raises(ObjectNotFound):
        store.stat("no-such-bucket", "x")
    assert not store.exists(RAW, "no/such/object")
    assert store.exists(RAW, "big/object.bin")


def _tight_store(weed: SeaweedS3) -> tuple[ObjectStore, urllib3.PoolManager]:
    """A store whose pool holds ONE connection and blocks when it is taken.

    A leaked connection then makes the next request wait forever instead of quietly
    opening another socket, so the leak cannot go unnoticed.
    """
    http = urllib3.PoolManager(
        maxsize=1, block=True, timeout=urllib3.Timeout(connect=5, read=5), retries=False
    )
    client = Minio(
        weed.endpoint.split("://", 1)[1],
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        secure=False,
        region="us-east-1",
        http_client=http,
    )
    return ObjectStore(client, RAW, PRODUCTS, endpoint=weed.endpoint), http


def _finishes(fn: object, timeout: float = 20) -> bool:
    """Run ``fn`` in a daemon thread; whether it returned within ``timeout`` seconds."""
    done = threading.Event()

    def run() -> None:
        fn()  # type: ignore[operator]
        done.set()

    threading.Thread(target=run, daemon=True).start()
    return done.wait(timeout)


def test_abandoned_iteration_releases_connection(weed: SeaweedS3, big: bytes) -> None:
    tight, _ = _tight_store(weed)
    results: list[bytes] = []

    # 1. stopped early and closed explicitly
    stream = tight.iter_object(RAW, "big/object.bin", chunk_size=4096)
    assert next(stream) == big[:4096]
    stream.close()
    assert _finishes(lambda: results.append(tight.read_bytes(RAW, "big/object.bin", 0, 8)))

    # 2. abandoned without close (a client that disconnected): released when collected
    stream = tight.iter_object(RAW, "big/object.bin", chunk_size=4096)
    next(stream)
    del stream
    gc.collect()
    assert _finishes(lambda: results.append(tight.read_bytes(RAW, "big/object.bin", 8, 8)))

    # 3. the web services' pattern: a generator delegating with ``yield from``, closed early
    def serve() -> Generator[bytes, None, None]:
        yield from tight.iter_object(RAW, "big/object.bin", chunk_size=4096)

    body = serve()
    next(body)
    body.close()
    assert _finishes(lambda: results.append(tight.read_bytes(RAW, "big/object.bin", 16, 8)))

    # 4. a stream that was never read at all
    tight.iter_object(RAW, "big/object.bin").close()
    assert _finishes(lambda: results.append(tight.read_bytes(RAW, "big/object.bin", 24, 8)))

    assert results == [big[0:8], big[8:16], big[16:24], big[24:32]]


# -- keys ----------------------------------------------------------------------------------------

BAD_KEYS = [
    "",
    "../x",
    "a/../b",
    "a/..",
    "/abs",
    "a\\b",
    "a//b",
    "./a",
    "a/./b",
    "dir/",
    "nul\x00byte",
    "tab\tkey",
    "new\nline",
    "del\x7f",
    "x" * 256,
    "a/" * 600 + "b",
]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_keys_are_refused(store: ObjectStore, key: str) -> None:
    with pytest.raises(ValueError):
        validate_key(key)
    with pytest.raises(ValueError):
        store.put_bytes(RAW, key, b"x")
    with pytest.raises(ValueError):
        store.put_stream(RAW, key, io.BytesIO(b"x"), 1)
    with pytest.raises(ValueError):
        store.stat(RAW, key)
    with pytest.raises(ValueError):
        store.iter_object(RAW, key)
    with pytest.raises(ValueError):
        store.read_bytes(RAW, key)
    with pytest.raises(ValueError):
        store.exists(RAW, key)
    with pytest.raises(ValueError):
        store.delete(RAW, key)


def test_good_keys_round_trip(store: ObjectStore) -> None:
    for key in (
        "scw/0727/072700010010.001/isgri_events.fits.gz",
        "products/J053432.0+220052/lc_28-40keV.fits",
        "names with spaces/é ü ±.txt",
        "x" * 255,
    ):
        assert validate_key(key) == key
        store.put_bytes(PRODUCTS, key, key.encode())
        assert store.read_bytes(PRODUCTS, key) == key.encode()
        store.delete(PRODUCTS, key)
        assert not store.exists(PRODUCTS, key)


def test_prefix_validation() -> None:
    assert validate_prefix("") == ""
    assert validate_prefix("scw/0727/") == "scw/0727/"
    for bad in ("/abs", "../x/", "a\\b", "a//", "x\x00"):
        with pytest.raises(ValueError):
            validate_prefix(bad)


# -- listing and deleting ------------------------------------------------------------------------


def test_list_and_delete_prefix(store: ObjectStore) -> None:
    keys = {"lst/a/1": 1, "lst/a/2": 22, "lst/a/sub/3": 333, "lst/b/4": 4, "lst/ab": 5}
    for key, size in keys.items():
        store.put_bytes(PRODUCTS, key, b"z" * size)

    listed = list(store.list(PRODUCTS, "lst/"))
    assert [(o.key, o.size) for o in listed] == sorted(keys.items())
    assert all(not o.is_dir and o.bucket == PRODUCTS for o in listed)

    shallow = {(o.key, o.is_dir) for o in store.list(PRODUCTS, "lst/", recursive=False)}
    assert shallow == {("lst/a/", True), ("lst/b/", True), ("lst/ab", False)}

    assert store.delete_prefix(PRODUCTS, "lst/a/") == 3
    assert [o.key for o in store.list(PRODUCTS, "lst/")] == ["lst/ab", "lst/b/4"]
    assert store.delete_prefix(PRODUCTS, "lst/nothing/") == 0
    with pytest.raises(ValueError):
        store.delete_prefix(PRODUCTS, "")
    with pytest.raises(ValueError):
        list(store.list(PRODUCTS, "../"))

    store.delete(PRODUCTS, "lst/ab")
    store.delete(PRODUCTS, "lst/ab")  # deleting twice is fine, as in S3
    assert store.delete_prefix(PRODUCTS, "lst/") == 1
    assert list(store.list(PRODUCTS, "lst/")) == []


def test_delete_prefix_more_than_one_batch(store: ObjectStore) -> None:
    for i in range(1005):
        store.put_bytes(RAW, f"many/{i:05d}", b"")
    assert store.delete_prefix(RAW, "many/") == 1005
    assert list(store.list(RAW, "many/")) == []


# -- reachability --------------------------------------------------------------------------------


def test_ping(store: ObjectStore) -> None:
    store.ping()


def test_ping_without_server_fails_fast() -> None:
    # A free port: nothing listens (a never-started server).
    timeout = 2.0
    dead = ObjectStore.from_settings(_settings(f"http://127.0.0.1:{free_port()}", timeout=timeout))
    started = time.monotonic()
    with pytest.raises(StorageUnavailable, match="not reachable"):
        dead.ping()
    with pytest.raises(StorageUnavailable):
        dead.stat(RAW, "any/key")
    # Generous bound: the point is "no minute-long retry loop", not precise timing.
    assert time.monotonic() - started < timeout * 10


def test_ping_with_wrong_secret(weed: SeaweedS3) -> None:
    wrong = ObjectStore.from_settings(_settings(weed.endpoint, secret="not-the-secret"))
    with pytest.raises(StorageUnavailable, match="refused"):
        wrong.ping()


def test_server_records_its_state(weed: SeaweedS3) -> None:
    state = json.loads(weed.state_path.read_text())
    assert state["pid"] == weed.pid
    assert state["endpoint"] == weed.endpoint
    assert weed.is_running()
    ports = state["ports"]
    assert len(set(ports.values())) == 8
    assert not any(port_is_free("127.0.0.1", p) for p in ports.values())
    assert weed.log_path.stat().st_size > 0
    # the credentials file holds a secret: owner-only
    assert (weed.data_dir / "s3.json").stat().st_mode & 0o077 == 0


# -- lifecycle -----------------------------------------------------------------------------------


def _assert_ports_free(ports: dict[str, int]) -> None:
    busy = [p for p in ports.values() if not port_is_free("127.0.0.1", p)]
    assert busy == []


def test_restart_keeps_objects_and_frees_ports(tmp_path: Path) -> None:
    data_dir = tmp_path / "s3"
    first = SeaweedS3(data_dir, ACCESS_KEY, SECRET_KEY)
    endpoint = first.start(timeout=90)
    try:
        # A second server on the same folder is refused while the first one runs.
        with pytest.raises(RuntimeError, match="still running"):
            SeaweedS3(data_dir, ACCESS_KEY, SECRET_KEY).start(timeout=10)
        store = ObjectStore.from_settings(_settings(endpoint))
        store.ensure_buckets()
        big = _payload(BIG_SIZE, seed=3)
        written = {
            (RAW, "scw/0042/004200010010.001/events.fits"): store.put_bytes(
                RAW, "scw/0042/004200010010.001/events.fits", big
            ),
            (PRODUCTS, "lc/small.csv"): store.put_bytes(PRODUCTS, "lc/small.csv", b"t,rate\n"),
        }
    finally:
        first.stop()
    ports = json.loads(first.state_path.read_text())["ports"]
    _assert_ports_free(ports)
    assert not first.is_running()
    with pytest.raises(StorageUnavailable):
        ObjectStore.from_settings(_settings(endpoint, timeout=1)).ping()

    def check_objects(endpoint: str) -> None:
        again = ObjectStore.from_settings(_settings(endpoint))
        for (bucket, key), stored in written.items():
            found = again.stat(bucket, key)
            assert (found.size, found.sha256) == (stored.size, stored.sha256)
            data = again.read_bytes(bucket, key)
            assert hashlib.sha256(data).hexdigest() == stored.sha256

    # Same folder, ports free: the same endpoint comes back, with the data.
    second = SeaweedS3(data_dir, ACCESS_KEY, SECRET_KEY)
    assert second.start(timeout=90) == endpoint
    try:
        check_objects(endpoint)
    finally:
        # Stopped "from another process", as `isla down` does after a crashed launcher.
        assert SeaweedS3.stop_recorded(data_dir, timeout=3)
        assert not SeaweedS3.stop_recorded(data_dir)
        second.stop()  # already gone: a no-op
    _assert_ports_free(ports)

    # Old S3 port taken by someone else: new ports, same data.
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # ignore TIME_WAIT
        squatter.bind(("127.0.0.1", ports["s3"]))
        squatter.listen()
        third = SeaweedS3(data_dir, ACCESS_KEY, SECRET_KEY)
        moved = third.start(timeout=90)
        try:
            assert moved != endpoint
            check_objects(moved)
        finally:
            third.stop(timeout=3)  # SIGKILL early: must lose nothing either
    _assert_ports_free(json.loads(third.state_path.read_text())["ports"])
    assert json.loads(third.state_path.read_text())["pid"] is None


def test_start_failure_reports_log(tmp_path: Path) -> None:
    broken = SeaweedS3(tmp_path / "s3", ACCESS_KEY, SECRET_KEY, binary=Path("/bin/false"))
    with pytest.raises(RuntimeError, match="exited"):
        broken.start(timeout=10)
    assert not broken.is_running()
