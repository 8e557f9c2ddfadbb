"""DataLink identifiers and documents, without a server."""

from __future__ import annotations

import io

import pytest
from astropy.io.votable import parse_single_table

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
