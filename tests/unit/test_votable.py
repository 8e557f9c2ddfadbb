"""Streamed result writers: what they write parses with astropy, csv and json."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from astropy.io.votable import parse as parse_votable
from astropy.io.votable import parse_single_table

from shared.vo.results import (
    ResultField,
    ResultWriter,
    error_votable,
    to_python,
    writer_for,
)
from shared.vo.types import vo_type

FIELDS = [
    ResultField("source_id", vo_type("text"), ucd="meta.id;meta.main"),
    ResultField("ra", vo_type("float8"), unit="deg", ucd="pos.eq.ra", description="RA."),
    ResultField("n", vo_type("int4")),
    ResultField("flag", vo_type("bool")),
    ResultField("start_time", vo_type("timestamp")),
    ResultField("pos", vo_type("spoint")),
    ResultField("fov", vo_type("spoly")),
]
RAD = math.radians
ROWS: list[tuple[Any, ...]] = [
    (
        "J053432.0+220052",
        83.6332,
        7,
        True,
        dt.datetime(2005, 1, 2, 3, 4, 5, 678000),
        f"({RAD(83.6332)} , {RAD(22.0145)})",
        f"{{({RAD(1)} , {RAD(2)}),({RAD(3)} , {RAD(4)}),({RAD(5)} , {RAD(6)})}}",
    ),
    ("Gévaudan é", None, None, None, None, None, None),
]


def _write(fmt: str, rows: Sequence[tuple[Any, ...]], overflow: bool = False) -> bytes:
    writer: ResultWriter = writer_for(fmt, FIELDS)
    # Two batches, so that BINARY2's base64 carry-over between batches is exercised.
    return writer.head() + writer.rows(rows[:1]) + writer.rows(rows[1:]) + writer.tail(overflow)


@pytest.mark.parametrize("fmt", ["votable", "votable/td"])
def test_votable_round_trip(fmt: str) -> None:
    table = parse_single_table(io.BytesIO(_write(fmt, ROWS))).to_table()
    assert list(table.colnames) == [f.name for f in FIELDS]
    assert table["source_id"][0] == "J053432.0+220052"
    assert table["ra"].unit == "deg"
    assert table["ra"][0] == pytest.approx(83.6332)
    assert table["n"][0] == 7 and table["flag"][0]
    assert table["start_time"][0] == "2005-01-02T03:04:05.678"
    assert np.allclose(table["pos"][0], [83.6332, 22.0145])
    assert np.allclose(list(table["fov"][0]), [1, 2, 3, 4, 5, 6])
    assert table["source_id"][1] == "Gévaudan é"
    assert table["ra"].mask[1] and table["n"].mask[1]


def test_overflow_info_follows_the_table() -> None:
    doc = _write("votable", ROWS, overflow=True).decode()
    assert doc.index('value="OVERFLOW"') > doc.index("</TABLE>")
    vot = parse_votable(io.BytesIO(doc.encode()))
    statuses = [i.value for i in vot.resources[0].infos if i.name == "QUERY_STATUS"]
    assert statuses[-1] == "OVERFLOW"


def test_error_document_is_dali() -> None:
    vot = parse_votable(io.BytesIO(error_votable("Unknown table 'x' & <y>")))
    resource = vot.resources[0]
    assert resource.type == "results"
    info = next(i for i in resource.infos if i.name == "QUERY_STATUS")
    assert info.value == "ERROR" and info.content == "Unknown table 'x' & <y>"


@pytest.mark.parametrize(("fmt", "delimiter"), [("csv", ","), ("text/tab-separated-values", "\t")])
def test_delimited(fmt: str, delimiter: str) -> None:
    text = _write(fmt, ROWS).decode()
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    assert rows[0] == [f.name for f in FIELDS]
    assert rows[1][0] == "J053432.0+220052" and rows[1][4] == "2005-01-02T03:04:05.678"
    assert rows[1][5] == "83.6332 22.0145"
    assert rows[2][1] == ""


def test_json() -> None:
    doc = json.loads(_write("json", ROWS, overflow=True))
    assert [m["name"] for m in doc["metadata"]] == [f.name for f in FIELDS]
    assert doc["data"][0][2] == 7 and doc["data"][1][1] is None
    assert doc["overflow"] is True


def test_empty_result_is_valid() -> None:
    writer = writer_for("votable", FIELDS)
    doc = writer.head() + writer.tail(False)
    assert len(parse_single_table(io.BytesIO(doc)).to_table()) == 0


def test_unknown_format_is_refused() -> None:
    with pytest.raises(KeyError):
        writer_for("hdf5", FIELDS)


def test_circle_and_json_values() -> None:
    circle = to_python(f"<({RAD(10)} , {RAD(20)}) , {RAD(0.5)}>", vo_type("scircle"))
    assert circle == pytest.approx([10, 20, 0.5])
    # As Postgres prints jsonb, so that both result encoders give the same text.
    assert to_python({"a": 1}, vo_type("jsonb")) == '{"a": 1}'
