"""Query-path rewrites and formats without a database: the epoch list a distinct query on
``ila.epoch`` reads, and the coordinate format Postgres repeats for ObsCore's s_region."""

from __future__ import annotations

import pytest

from services.tap.adql import _translate_checked, parse
from shared.vo.results import format_coordinate, stc_s

EPOCHS_OF_AN_INSTRUMENT = (
    # astroquery's get_epochs(instrument=...) without a target
    (
        "select distinct epoch from ila.epoch where (instrument_oid = 2 or band_oid = 5)",
        "select distinct epoch from isla_ops.epoch_list where (instrument_oid = 2 or band_oid = 5)",
    ),
    (
        "SELECT DISTINCT x.epoch, x.band_oid FROM ila.epoch AS x ORDER BY x.epoch",
        "SELECT DISTINCT x.epoch, x.band_oid FROM isla_ops.epoch_list AS x ORDER BY x.epoch",
    ),
    (
        "SELECT DISTINCT TOP 3 epoch FROM ila.epoch WHERE epoch LIKE 'ila.epoch%'",
        "SELECT DISTINCT epoch FROM isla_ops.epoch_list WHERE epoch LIKE 'ila.epoch%' LIMIT 3",
    ),
)


@pytest.mark.parametrize(("adql", "sql"), EPOCHS_OF_AN_INSTRUMENT)
def test_distinct_epochs_read_the_maintained_list(adql: str, sql: str) -> None:
    assert _translate_checked(parse(adql)) == sql


@pytest.mark.parametrize(
    "adql",
    [
        # a target: the view's spatial join, through the indexes
        "select distinct epoch from ila.epoch where source_id = 'J053432.0+220052' "
        "and (instrument_oid = 1 or band_oid = 1)",
        # rows, not distinct values; every column; counts that duplicates change
        "select epoch from ila.epoch where instrument_oid = 1",
        "select distinct * from ila.epoch",
        "select distinct count(*) from ila.epoch",
        "select distinct epoch from ila.epoch group by epoch having count(*) > 2",
        "select distinct x.epoch from ila.epoch as x join ila.band as b on b.band_oid = x.band_oid",
        "select distinct epoch from (select epoch, source_id from ila.epoch) as t",
    ],
)
def test_other_epoch_queries_read_the_view(adql: str) -> None:
    assert "isla_ops" not in _translate_checked(parse(adql))


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (83.6332, "83.6332"),
        (-22.0145, "-22.0145"),
        (0.0, "0"),
        (4e-11, "0"),
        (-0.000123, "-0.000123"),
        (1.5e-05, "0.000015"),
        (359.99999999999, "360"),
        (92.10245468, "92.10245468"),
        (123.456789012345, "123.456789"),
    ],
)
def test_coordinates_have_ten_significant_digits(value: float, text: str) -> None:
    assert format_coordinate(value) == text


def test_stc_s_from_pgsphere_text() -> None:
    shape = "{(1.45967470397892 , 0.384225508180292),(0 , -0.5),(6.28318530717958 , 1e-12)}"
    assert stc_s(shape) == "Polygon ICRS 83.6332 22.0145 0 -28.64788976 360 0"
    assert stc_s("{}") is None
