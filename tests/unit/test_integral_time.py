"""Unit tests for shared.integral.time: IJD conversions (revolutions: test_revolutions.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest
from astropy.time import Time

from shared.integral import (
    MJDREF,
    ijd_to_mjd,
    ijd_to_time,
    ijd_to_utc,
    mjd_to_ijd,
    time_to_ijd,
    times_to_ijd,
    utc_to_ijd,
)

MICROSECOND_DAYS = 1e-6 / 86400.0


def test_ijd_zero_is_2000_01_01_tt() -> None:
    t = ijd_to_time(0.0)
    assert t.scale == "tt"
    assert t.isot == "2000-01-01T00:00:00.000"
    assert t.mjd == MJDREF == 51544.0
    # TT - UTC was 32.184 s + 32 leap seconds = 64.184 s in 2000.
    assert t.utc.isot == "1999-12-31T23:58:55.816"
    assert ijd_to_utc(0.0) == datetime(1999, 12, 31, 23, 58, 55, 816000, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    [
        Time("2000-01-01T00:00:00", scale="tt"),
        Time(51544.0, format="mjd", scale="tt"),
        "1999-12-31T23:58:55.816",
        datetime(1999, 12, 31, 23, 58, 55, 816000),
        datetime(1999, 12, 31, 23, 58, 55, 816000, tzinfo=UTC),
        datetime(2000, 1, 1, 0, 58, 55, 816000, tzinfo=timezone(timedelta(hours=1))),
        "2000-01-01T00:58:55.816+01:00",
        "1999-12-31T23:58:55.816Z",
    ],
)
def test_time_to_ijd_of_ijd_zero(value: Time | datetime | str) -> None:
    assert abs(time_to_ijd(value)) < MICROSECOND_DAYS


def test_2010_date_matches_astropy() -> None:
    t = Time("2010-06-15T12:34:56.789", scale="utc")
    expected = t.tt.mjd - 51544.0
    assert abs(time_to_ijd(t) - expected) < MICROSECOND_DAYS
    assert abs(utc_to_ijd("2010-06-15T12:34:56.789") - expected) < MICROSECOND_DAYS
    # TT - UTC was 66.184 s in 2010 (34 leap seconds).
    assert abs((time_to_ijd(t) - (t.mjd - 51544.0)) * 86400 - 66.184) < 1e-6
    back = ijd_to_time(expected).utc
    assert abs((back - t).to_value("sec")) < 1e-6


@pytest.mark.parametrize("ijd", [0.0, 1234.56789, 3579.123456789, 9190.999999, -100.25])
def test_ijd_time_round_trip_below_microsecond(ijd: float) -> None:
    assert abs(time_to_ijd(ijd_to_time(ijd)) - ijd) < MICROSECOND_DAYS
    assert abs(time_to_ijd(ijd_to_time(ijd).utc) - ijd) < MICROSECOND_DAYS


@pytest.mark.parametrize(
    "dt",
    [
        datetime(2002, 10, 17, 4, 59, tzinfo=UTC),
        datetime(2012, 7, 1, 0, 0, 0, 123456, tzinfo=UTC),
        datetime(2025, 2, 27, 23, 59, 59, 999999, tzinfo=UTC),
    ],
)
def test_utc_round_trip_below_microsecond(dt: datetime) -> None:
    back = ijd_to_utc(utc_to_ijd(dt))
    assert back.tzinfo is not None
    assert abs(back - dt) < timedelta(microseconds=1)


def test_ijd_to_utc_is_utc_aware() -> None:
    assert ijd_to_utc(1000.0).utcoffset() == timedelta(0)


def test_mjd_conversions_scalar_and_array() -> None:
    assert ijd_to_mjd(0.0) == 51544.0
    assert mjd_to_ijd(55000.5) == 3456.5
    assert isinstance(ijd_to_mjd(1.0), float)
    arr = np.array([0.0, 1.5, 8000.25])
    np.testing.assert_array_equal(ijd_to_mjd(arr), arr + 51544.0)
    np.testing.assert_allclose(mjd_to_ijd(ijd_to_mjd(arr)), arr, rtol=0, atol=1e-9)


def test_array_ijd_to_time_and_back() -> None:
    ijd = np.array([0.0, 1000.123456, 9000.5])
    t = ijd_to_time(ijd)
    assert t.shape == (3,)
    np.testing.assert_allclose(times_to_ijd(t), ijd, rtol=0, atol=MICROSECOND_DAYS)
    np.testing.assert_allclose(t.mjd, ijd + 51544.0, rtol=0, atol=1e-8)


def test_time_to_ijd_rejects_arrays_and_bad_strings() -> None:
    with pytest.raises(ValueError, match="times_to_ijd"):
        time_to_ijd(ijd_to_time(np.array([1.0, 2.0])))
    with pytest.raises(ValueError, match="ISO 8601"):
        time_to_ijd("not a date")
