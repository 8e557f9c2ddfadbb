"""INTEGRAL time: IJD conversions and ISLA's model of the revolutions (orbits).

INTEGRAL Julian Date (IJD) is the Modified Julian Date in the TT scale minus 51544, so that
IJD 0 is 2000-01-01T00:00:00 TT (1999-12-31T23:58:55.816 UTC).

Revolutions follow ISLA's *demo model* of the orbit, not the real orbit file: revolution N starts
at ``MISSION_START + N * REVOLUTION_PERIOD`` with a constant period. The real orbit lasted 72 h
until the 2015 orbit change and about 64 h afterwards; the model uses a constant 68.8 h in
between, which numbers the revolutions 0 to 2849 over the mission, like the real archive's
~2,800. Elapsed time is counted in physical (SI) seconds, so leap seconds are included.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any, TypeAlias, overload

import numpy as np
import numpy.typing as npt
from astropy.time import Time, TimeDelta

__all__ = [
    "MISSION_END",
    "MISSION_START",
    "MJDREF",
    "REVOLUTION_PERIOD",
    "REVOLUTION_PERIOD_SECONDS",
    "TimeLike",
    "ijd_to_mjd",
    "ijd_to_time",
    "ijd_to_utc",
    "last_revolution",
    "mjd_to_ijd",
    "revolution_at",
    "revolution_bounds",
    "revolution_end",
    "revolution_start",
    "time_to_ijd",
    "times_to_ijd",
    "utc_to_ijd",
]

#: MJD (TT) of IJD 0.
MJDREF: float = 51544.0

#: Start of revolution 0 in ISLA's orbit model: launch day, 2002-10-17 (launch was 04:33 UTC).
MISSION_START: Time = Time("2002-10-17T04:59:00", scale="utc")

#: End of INTEGRAL science operations, 2025-02-28 (exclusive bound of the mission interval).
MISSION_END: Time = Time("2025-02-28T00:00:00", scale="utc")

#: ISLA's constant revolution period: 68.8 h (about 2.867 days), in SI seconds.
REVOLUTION_PERIOD_SECONDS: float = 68.8 * 3600.0
REVOLUTION_PERIOD: TimeDelta = TimeDelta(REVOLUTION_PERIOD_SECONDS, format="sec")

# JD of IJD 0 (MJD = JD - 2400000.5); subtracting it from Time.jd1 (a whole or half day) is
# exact, which keeps IJD precise to well under a microsecond.
_JD_IJD0 = 2400000.5 + MJDREF

# What the functions below accept as an instant.
TimeLike: TypeAlias = Time | datetime | str


def _to_time(t: TimeLike) -> Time:
    """Convert a Time, datetime (naive = UTC) or ISO 8601 string (UTC unless offset) to Time."""
    if isinstance(t, Time):
        return t
    if isinstance(t, datetime):
        if t.tzinfo is not None:
            t = t.astimezone(UTC).replace(tzinfo=None)
        return Time(t, scale="utc")
    if isinstance(t, str):
        text = t.strip()
        try:
            # astropy first: it keeps sub-microsecond digits and accepts leap seconds (:60).
            return Time(text, format="isot" if "T" in text else "iso", scale="utc")
        except ValueError:
            pass
        try:
            # Python's parser handles the "+01:00" offsets astropy rejects.
            return _to_time(datetime.fromisoformat(text))
        except ValueError:
            raise ValueError(f"not an ISO 8601 time: {t!r}") from None
    raise TypeError(f"expected astropy Time, datetime or ISO string, got {type(t).__name__}")


def ijd_to_time(ijd: float | npt.ArrayLike) -> Time:
    """Return the astropy Time (TT scale) of an IJD, or an array Time for an array of IJDs."""
    # Two-part MJD (reference + offset) so that the offset keeps its full float precision.
    return Time(MJDREF, np.asarray(ijd, dtype=np.float64), format="mjd", scale="tt")


def _ijd_of(t: Time) -> Any:
    tt = t.tt
    return (tt.jd1 - _JD_IJD0) + tt.jd2


def time_to_ijd(t: TimeLike) -> float:
    """Return the IJD of one instant given as Time, datetime (naive = UTC) or ISO string (UTC).

    Raises ``ValueError`` for an array Time (use :func:`times_to_ijd`) or an unparsable string.
    """
    time = _to_time(t)
    if not time.isscalar:
        raise ValueError("time_to_ijd takes a single time; use times_to_ijd for arrays")
    return float(_ijd_of(time))


def times_to_ijd(t: Time) -> npt.NDArray[np.float64]:
    """Return the IJDs of an (array) astropy Time as a float64 numpy array."""
    return np.asarray(_ijd_of(t), dtype=np.float64)


@overload
def ijd_to_mjd(ijd: float) -> float: ...
@overload
def ijd_to_mjd(ijd: npt.NDArray[Any]) -> npt.NDArray[np.float64]: ...
def ijd_to_mjd(ijd: float | npt.NDArray[Any]) -> float | npt.NDArray[np.float64]:
    """Return MJD for IJD in the same time scale (TT for INTEGRAL); works on numpy arrays."""
    if isinstance(ijd, np.ndarray):
        return np.asarray(ijd, dtype=np.float64) + MJDREF
    return float(ijd) + MJDREF


@overload
def mjd_to_ijd(mjd: float) -> float: ...
@overload
def mjd_to_ijd(mjd: npt.NDArray[Any]) -> npt.NDArray[np.float64]: ...
def mjd_to_ijd(mjd: float | npt.NDArray[Any]) -> float | npt.NDArray[np.float64]:
    """Return IJD for MJD in the same time scale (TT for INTEGRAL); works on numpy arrays."""
    if isinstance(mjd, np.ndarray):
        return np.asarray(mjd, dtype=np.float64) - MJDREF
    return float(mjd) - MJDREF


def ijd_to_utc(ijd: float) -> datetime:
    """Return the timezone-aware UTC datetime (microsecond precision) of an IJD.

    Raises ``ValueError`` for an instant inside a leap second, which datetime cannot represent.
    """
    result: datetime = ijd_to_time(ijd).utc.to_datetime(timezone=UTC)
    return result


def utc_to_ijd(t: datetime | str) -> float:
    """Return the IJD of a UTC datetime (naive = UTC, aware is converted) or ISO 8601 string."""
    return time_to_ijd(t)


def _start(rev: int) -> Time:
    # rev * period is an exact float for every revolution number, and a single addition to
    # the same start keeps each boundary bit-identical however it is reached.
    return MISSION_START + TimeDelta(rev * REVOLUTION_PERIOD_SECONDS, format="sec")


def _last_revolution() -> int:
    elapsed = (MISSION_END - MISSION_START).to_value("sec")
    rev = max(math.ceil(elapsed / REVOLUTION_PERIOD_SECONDS) - 1, 0)
    # Float division may be off by one at an exact boundary; settle it by comparing Times.
    if _start(rev) >= MISSION_END:
        rev -= 1
    elif _start(rev + 1) < MISSION_END:
        rev += 1
    return rev


_LAST_REVOLUTION = _last_revolution()


def last_revolution() -> int:
    """Return the number of the last revolution that starts before MISSION_END."""
    return _LAST_REVOLUTION


def _check_revolution(rev: int) -> None:
    if not 0 <= rev <= _LAST_REVOLUTION:
        raise ValueError(f"revolution {rev} is outside the mission (0 to {_LAST_REVOLUTION})")


def revolution_start(rev: int) -> Time:
    """Return the start (UTC Time) of revolution ``rev``; ValueError outside the mission."""
    _check_revolution(rev)
    return _start(rev)


def revolution_end(rev: int) -> Time:
    """Return the end (UTC Time, exclusive) of revolution ``rev``: the start of ``rev + 1``.

    The last revolution's end is not clipped to MISSION_END: the model's orbit goes on.
    """
    _check_revolution(rev)
    return _start(rev + 1)


def revolution_bounds(rev: int) -> tuple[Time, Time]:
    """Return ``(start, end)`` of revolution ``rev``, end exclusive."""
    return revolution_start(rev), revolution_end(rev)


def revolution_at(t: TimeLike) -> int:
    """Return the revolution containing the instant ``t`` (Time, datetime or ISO string, UTC).

    Raises ``ValueError`` when ``t`` is before MISSION_START or not before MISSION_END.
    """
    time = _to_time(t)
    if not time.isscalar:
        raise ValueError("revolution_at takes a single time")
    if not MISSION_START <= time < MISSION_END:
        raise ValueError(
            f"{time.utc.isot} UTC is outside the INTEGRAL mission "
            f"({MISSION_START.utc.isot} to {MISSION_END.utc.isot} UTC)"
        )
    elapsed = (time - MISSION_START).to_value("sec")
    rev = min(max(int(elapsed // REVOLUTION_PERIOD_SECONDS), 0), _LAST_REVOLUTION)
    # The float estimate can land on the wrong side of a boundary by a rounding error;
    # exact Time comparisons make revolution_at(revolution_start(n)) == n hold.
    if rev < _LAST_REVOLUTION and _start(rev + 1) <= time:
        rev += 1
    elif rev > 0 and time < _start(rev):
        rev -= 1
    return rev
