"""Packages (shared.packaging): exact tar layout and ranges, tar.gz and zip that open.

Members made in memory need no object store; packages of stored objects are exercised by
the raw data service's integration tests against the real S3 server.
"""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile
from typing import cast

import pytest

from shared.packaging import (
    Member,
    gzip_level,
    iter_tar,
    iter_tar_gz,
    iter_zip,
    tar_plan,
    tar_size,
)
from shared.storage import ObjectStore

NO_STORE = cast(ObjectStore, None)
"""In-memory members never reach the store."""

MEMBERS = [
    Member.of_bytes("SHA256SUMS", b"abc  a/swg.fits\n", 1_100_000_000),
    Member.of_bytes("a/swg.fits", bytes(range(256)) * 7, 1_100_000_100),
    Member.of_bytes("a/empty.fits", b"", 1_100_000_200),
    Member.of_bytes("b/" + "long_name_" * 12 + ".fits.gz", b"x" * 1023, 1_100_000_300),
]


def whole_tar() -> bytes:
    return b"".join(iter_tar(NO_STORE, MEMBERS))


def test_tar_has_the_planned_size_and_opens_with_every_member() -> None:
    data = whole_tar()
    assert len(data) == tar_plan(MEMBERS).size == tar_size(MEMBERS)
    assert len(data) % 512 == 0
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = tar.getnames()
        contents = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]
        mtimes = {m.name: m.mtime for m in tar.getmembers()}
    assert names == [m.name for m in MEMBERS]
    assert contents == {m.name: m.data for m in MEMBERS}
    assert mtimes == {m.name: m.mtime for m in MEMBERS}


@pytest.mark.parametrize(
    ("first", "last"), [(0, 0), (0, 511), (500, 2000), (1024, 1024), (3000, None), (0, None)]
)
def test_any_range_is_the_same_slice_of_the_whole(first: int, last: int | None) -> None:
    data = whole_tar()
    plan = tar_plan(MEMBERS)
    part = b"".join(plan.iter_range(NO_STORE, first, last))
    stop = len(data) if last is None else last + 1
    assert part == data[first:stop]


def test_etag_follows_content() -> None:
    same = tar_plan(list(MEMBERS)).etag
    assert same == tar_plan(MEMBERS).etag and same.startswith('"')
    changed = [*MEMBERS[:-1], Member.of_bytes(MEMBERS[-1].name, b"y" * 1023, MEMBERS[-1].mtime)]
    assert tar_plan(changed).etag != same
    assert tar_plan(MEMBERS, '"given"').etag == '"given"'


def test_tar_gz_is_the_tar_compressed() -> None:
    packed = b"".join(iter_tar_gz(NO_STORE, MEMBERS))
    assert gzip.decompress(packed) == whole_tar()
    assert gzip.decompress(b"".join(iter_tar_gz(NO_STORE, MEMBERS, level=9))) == whole_tar()


def test_gzip_only_stores_already_compressed_members() -> None:
    assert gzip_level([MEMBERS[-1]]) == 0
    assert gzip_level(MEMBERS) == 1


def test_zip_streams_every_member() -> None:
    packed = b"".join(iter_zip(NO_STORE, MEMBERS))
    with zipfile.ZipFile(io.BytesIO(packed)) as archive:
        assert archive.testzip() is None
        assert archive.namelist() == [m.name for m in MEMBERS]
        for member in MEMBERS:
            assert archive.read(member.name) == member.data
