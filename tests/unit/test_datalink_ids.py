"""DataLink identifiers and documents, and the ISLA package layouts, without a server."""

from __future__ import annotations

import io
import tarfile
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from astropy.io.votable import parse_single_table

from services.products.compat.packaging import Member, iter_tar, iter_tar_gz, iter_zip, tar_size
from services.products.datalink.service import COLUMNS, Link, Target, links_votable, parse_id

DID = "ivo://isla.integral/isla?"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (f"{DID}scw/008100430010.001", Target("scw", "008100430010", "001")),
        (f"{DID}scw/008100430010", Target("scw", "008100430010", None)),
        ("008100430010.002", Target("scw", "008100430010", "002")),
        (
            f"{DID}product/spectrum/ISGRI/mission/J053432.0+220052",
            Target("product", "spectrum/ISGRI/mission/J053432.0+220052"),
        ),
        (
            "mosaic/ISGRI/0727_88601650001/28_40",
            Target("product", "mosaic/ISGRI/0727_88601650001/28_40"),
        ),
        (f"{DID}scw/81", Target("bad", f"{DID}scw/81")),
        (f"{DID}other/1", Target("bad", f"{DID}other/1")),
        ("  ", Target("bad", "")),
    ],
)
def test_parse_id(raw: str, expected: Target) -> None:
    assert parse_id(raw) == expected


def test_links_document_has_the_datalink_columns_and_nulls() -> None:
    body = links_votable(
        [
            Link("a", "http://x/a.fits", "#this", "the file", "application/fits", 2880),
            Link("b", error_message="NotFoundFault: b is unknown"),
        ]
    )
    table = parse_single_table(io.BytesIO(body)).to_table()
    assert table.colnames == [c[0] for c in COLUMNS]
    assert table["content_length"][0] == 2880
    assert table["error_message"][1] == "NotFoundFault: b is unknown"
    # VOTable char nulls are empty cells; numbers are masked.
    assert not table["access_url"][1] and bool(table["content_length"].mask[1])


class _Store:
    """Objects held in memory, with the one method packaging uses."""

    def __init__(self, objects: dict[str, bytes]) -> None:
        self.objects = objects

    def iter_object(self, bucket: str, key: str, chunk_size: int = 5) -> Any:
        data = self.objects[key]

        class _Stream:
            def __enter__(self) -> Iterator[bytes]:
                return iter([data[i : i + 3] for i in range(0, len(data), 3)])

            def __exit__(self, *exc: object) -> None:
                return None

        return _Stream()


MEMBERS = [
    Member("a_rmf.fits", "b", "k1", 1000, 1_700_000_000),
    Member("a_spe.fits", "b", "k2", 3, 1_700_000_000),
]
OBJECTS = {"k1": bytes(range(256)) * 3 + bytes(232), "k2": b"xyz"}


def test_tar_is_exactly_as_long_as_announced_and_reads_back() -> None:
    store: Any = _Store(OBJECTS)
    data = b"".join(iter_tar(store, MEMBERS))
    assert len(data) == tar_size(MEMBERS)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert tar.getnames() == ["a_rmf.fits", "a_spe.fits"]
        assert tar.extractfile("a_rmf.fits").read() == OBJECTS["k1"]  # type: ignore[union-attr]


def test_tar_gz_and_zip_read_back() -> None:
    store: Any = _Store(OBJECTS)
    gz = b"".join(iter_tar_gz(store, MEMBERS))
    with tarfile.open(fileobj=io.BytesIO(gz), mode="r:gz") as tar:
        assert tar.extractfile("a_spe.fits").read() == b"xyz"  # type: ignore[union-attr]
    packed = b"".join(iter_zip(store, MEMBERS))
    with zipfile.ZipFile(io.BytesIO(packed)) as archive:
        assert archive.namelist() == ["a_rmf.fits", "a_spe.fits"]
        assert archive.read("a_rmf.fits") == OBJECTS["k1"]
        assert archive.testzip() is None


def test_a_short_object_cuts_the_tar() -> None:
    store: Any = _Store({"k1": b"short", "k2": b"xyz"})
    with pytest.raises(RuntimeError, match="bytes stored"):
        b"".join(iter_tar(store, MEMBERS))
