"""The database-side encoders give the same documents as the Python writers."""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
import psycopg
import pytest
from astropy.io.votable import parse_single_table

from services.tap import pushdown
from shared.vo.results import ResultField, VOTableWriter, writer_for
from shared.vo.types import vo_type
from tests.conftest import Archive

QUERIES = [
    # identifiers, free text, doubles, booleans, integers, a point; NULL classes and errors
    "SELECT source_id, name, ra, dec, pos, pos_err, source_class, det_isgri, catalogue_id "
    "FROM isla.sources ORDER BY source_id",
    # timestamps, smallint/int, a point
    "SELECT scw_id, start_time, end_time, revolution, pos FROM isla.science_windows "
    "ORDER BY scw_id",
    # computed columns, NULLs of every type, text needing CSV quotes, non-ASCII text
    "SELECT NULL::float8 AS d, NULL::int4 AS i, NULL::bool AS b, NULL::text AS t, "
    "'a,\"b\"' AS q, 'Ångström' AS u, 'x'::varchar AS v, 3::float8 AS three, "
    "'NaN'::float8 AS nan, 'Infinity'::float8 AS inf, '-Infinity'::float8 AS ninf, "
    "'-0'::float8 AS nzero, 1e15::float8 AS e15, -2.5e15::float8 AS e15n, 1e16::float8 AS e16, "
    "0.1::float8 AS tenth, 1.5e300::float8 AS huge, NULL::timestamp AS ts, "
    '\'{"a": 1, "b": [1, 2.5], "c": "é, x"}\'::jsonb AS j',
]


def _columns(conn: psycopg.Connection[Any], sql: str) -> tuple[list[ResultField], list[str]]:
    cur = conn.execute(f"SELECT * FROM ({sql}) AS q LIMIT 0")
    description = cur.description or []
    names = [
        conn.execute("SELECT typname FROM pg_type WHERE oid = %s", (d.type_code,)).fetchone()[0]  # type: ignore[index]
        for d in description
    ]
    return [ResultField(d.name, vo_type(t)) for d, t in zip(description, names, strict=True)], names


def _python(fmt: str, fields: list[ResultField], rows: list[Any]) -> bytes:
    writer = writer_for(fmt, fields)
    return writer.head() + writer.rows(rows) + writer.tail(False)


def _pushed(
    conn: psycopg.Connection[Any], fmt: str, fields: list[ResultField], plan: pushdown.Plan
) -> bytes:
    with conn.cursor(name="pushdown_test", binary=True) as cur:
        cur.execute(plan.sql.encode())
        rows = cur.fetchall()
    writer = writer_for(fmt, fields)
    if isinstance(writer, VOTableWriter):
        return writer.head() + writer.encoded(plan.join_batch(rows)) + writer.tail(False)
    return writer.head() + plan.join_batch(rows)


@pytest.mark.parametrize("sql", QUERIES)
def test_binary2_from_the_database_equals_the_python_writer(archive: Archive, sql: str) -> None:
    with psycopg.connect(archive.database_url.replace("+psycopg", "")) as conn:
        fields, types = _columns(conn, sql)
        plan = pushdown.binary2(
            sql, [pushdown.Column(t, f.vo) for t, f in zip(types, fields, strict=True)]
        )
        assert plan is not None
        rows = conn.execute(sql.encode()).fetchall()
        assert rows
        ours, reference = (
            parse_single_table(io.BytesIO(doc)).to_table()
            for doc in (_pushed(conn, "votable", fields, plan), _python("votable", fields, rows))
        )
    assert ours.colnames == reference.colnames and len(ours) == len(reference)
    for name in ours.colnames:
        a, b = ours[name], reference[name]
        assert list(np.ma.getmaskarray(a).ravel()) == list(np.ma.getmaskarray(b).ravel()), name
        if a.dtype.kind == "f":
            # Points agree to the writers' 1e-10 degree rounding.
            assert np.allclose(a.filled(0), b.filled(0), rtol=0, atol=2e-10, equal_nan=True)
        else:
            assert list(a) == list(b), name


@pytest.mark.parametrize("sql", [QUERIES[0].replace("pos, ", ""), QUERIES[2]])
def test_csv_from_the_database_equals_the_python_writer(archive: Archive, sql: str) -> None:
    with psycopg.connect(archive.database_url.replace("+psycopg", "")) as conn:
        fields, types = _columns(conn, sql)
        columns = [pushdown.Column(t, f.vo) for t, f in zip(types, fields, strict=True)]
        rows = conn.execute(sql.encode()).fetchall()
        for fmt, delimiter in (("csv", ","), ("tsv", "\t")):
            plan = pushdown.delimited(sql, columns, delimiter)
            assert plan is not None
            assert _pushed(conn, fmt, fields, plan) == _python(fmt, fields, rows)


def test_shapes_keep_the_python_writers(archive: Archive) -> None:
    sql = "SELECT scw_id, fov_isgri FROM isla.science_windows"
    with psycopg.connect(archive.database_url.replace("+psycopg", "")) as conn:
        fields, types = _columns(conn, sql)
    columns = [pushdown.Column(t, f.vo) for t, f in zip(types, fields, strict=True)]
    assert pushdown.binary2(sql, columns) is None
    assert pushdown.delimited(sql, columns) is None


def test_base64_stream_is_continuous_across_batches() -> None:
    writer = VOTableWriter([ResultField("x", vo_type("int4"))])
    chunks = [writer.encoded(b"\x00\x00\x00\x00\x01"), writer.encoded(b"\x00\x00\x00\x02\x00")]
    tail = writer.tail(False)
    text = b"".join(c.strip() for c in chunks) + tail.split(b"<")[0]
    assert base64.b64decode(text) == b"\x00\x00\x00\x00\x01\x00\x00\x00\x02\x00"
