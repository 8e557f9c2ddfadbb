"""The FITS writer on its own: types, nulls, arrays, metadata keywords, status, chunked output."""

from __future__ import annotations

import datetime as dt
import io

import numpy as np
from astropy.io import fits
from astropy.table import Table

from shared.vo.results import FitsWriter, ResultField, tail_chunks, writer_for
from shared.vo.types import REGION, vo_type

FIELDS = [
    ResultField("id", vo_type("varchar"), ucd="meta.id;meta.main", description="identifier"),
    ResultField("n", vo_type("int4")),
    ResultField("big", vo_type("int8")),
    ResultField("flux", vo_type("float8"), unit="ct/s", ucd="phot.flux", utype="x:flux"),
    ResultField("ok", vo_type("bool")),
    ResultField("name", vo_type("text")),
    ResultField("pos", vo_type("spoint"), unit="deg"),
    ResultField("poly", vo_type("spoly")),
    ResultField("when", vo_type("timestamp")),
    ResultField("region", REGION),
]
ROWS = [
    (
        "J0534",
        1,
        2**40,
        1.5,
        True,
        "Crab",
        "(1.4596732 , 0.3842130)",
        "{(0 , 0),(0.1 , 0),(0.1 , 0.1)}",
        dt.datetime(2003, 1, 2, 3, 4, 5),
        "{(0 , 0),(0.1 , 0),(0.1 , 0.1)}",
    ),
    (
        "J1958",
        None,
        None,
        None,
        False,
        "Cygnus X-1 — ø",
        None,
        "{(0 , 0),(0.1 , 0),(0.1 , 0.1),(0 , 0.1)}",
        None,
        None,
    ),
]


def _write(overflow: bool = False, error: str | None = None, batches: int = 1) -> bytes:
    writer = writer_for("fits", FIELDS)
    assert isinstance(writer, FitsWriter) and writer.media_type == "application/fits"
    chunks = [writer.head()]
    for _ in range(batches):
        chunks.append(writer.rows(ROWS))
    chunks.extend(tail_chunks(writer, overflow, error))
    return b"".join(chunks)


def test_fits_table_reads_back() -> None:
    data = _write(batches=3)
    assert len(data) % 2880 == 0
    table = Table.read(io.BytesIO(data), format="fits")
    assert len(table) == 6
    assert list(table["id"][:2]) == ["J0534", "J1958"]
    assert table["n"][0] == 1 and table["n"].mask[1]
    assert table["big"][0] == 2**40 and table["big"].mask[1]
    assert table["flux"][0] == 1.5 and table["flux"][1] is np.ma.masked  # NaN
    assert str(table["flux"].unit) == "ct / s"
    assert list(table["ok"][:2]) == [True, False]
    assert table["name"][1] == "Cygnus X-1 ? ?"  # FITS text is ASCII
    assert np.allclose(table["pos"][0], [83.6332, 22.0138], atol=1e-3)
    assert np.ma.getmaskarray(table["pos"][1]).all()  # NaN
    # A variable-length polygon is padded with NaN to the longest one.
    assert table["poly"].shape == (6, 8) and np.ma.getmaskarray(table["poly"][0][6:]).all()
    assert list(table["when"].filled("")[:2]) == ["2003-01-02T03:04:05.000", ""]
    assert table["region"][0].startswith("Polygon ICRS 0 0 ")


def test_metadata_and_status_keywords() -> None:
    with fits.open(io.BytesIO(_write(overflow=True))) as hdus:
        header = hdus[1].header
        assert header["TTYPE4"] == "flux" and header["TUCD4"] == "phot.flux"
        assert header["TUTYP4"] == "x:flux" and header["TCOMM1"] == "identifier"
        assert header["QSTATUS"] == "OVERFLOW" and header["OVERFLOW"] is True
    with fits.open(io.BytesIO(_write(error="the query ran too long"))) as hdus:
        assert hdus[1].header["QSTATUS"] == "ERROR"
        assert hdus[1].header["QERROR"] == "the query ran too long"


def test_empty_result_is_a_valid_table() -> None:
    writer = writer_for("application/fits", FIELDS)
    data = writer.head() + b"".join(tail_chunks(writer, False))
    table = Table.read(io.BytesIO(data), format="fits")
    assert len(table) == 0 and table.colnames[0] == "id"
