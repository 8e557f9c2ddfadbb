"""INTEGRAL time: IJD conversions.

INTEGRAL Julian Date (IJD) is the Modified Julian Date in the TT scale minus 51544, so that
IJD 0 is 2000-01-01T00:00:00 TT (1999-12-31T23:58:55.816 UTC).

The revolutions (orbits) live in :mod:`shared.integral.revolutions`, one table calibrated on
real INTEGRAL files; their functions are also reachable from this module under their old names
(``revolution_at``, ``revolution_start``, ...), loaded on first use.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeAlias, overload

import numpy as np
import numpy.typing as npt
from astropy.time import Time

if TYPE_CHECKING:
    from shared.integral.revolutions import (
        MISSION_END,
        MISSION_START,
        last_revolution,
        revolution_at,
        revolution_bounds,
        revolution_end,
        revolution_start,
    )

__all__ = [
    "MISSION_END",
    "MISSION_START",
    "MJDREF",
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
    "to_time",
    "utc_to_ijd",
]

#: MJD (TT) of IJD 0.
MJDREF: float = 51544.0

# JD of IJD 0 (MJD = JD - 2400000.5); subtracting it from Time.jd1 (a whole or half day) is
# exact, which keeps IJD precise to well under a microsecond.
_JD_IJD0 = 2400000.5 + MJDREF

# What the functions below accept as an instant.
TimeLike: TypeAlias = Time | datetime | str


def to_time(t: TimeLike) -> Time:
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
            return to_time(datetime.fromisoformat(text))
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
    time = to_time(t)
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


TT_MINUS_TAI_S = 32.184
"""TT − TAI (seconds)."""


@lru_cache(maxsize=1)
def _leap_table() -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(UTC calendar seconds since 2000-01-01 at which TAI − UTC changes, the new value), from
    ERFA's leap-second table (the one astropy uses)."""
    import erfa

    table = erfa.leap_seconds.get()
    epoch = np.datetime64("2000-01-01", "s")
    starts = np.array(
        [(np.datetime64(f"{y:04d}-{m:02d}-01", "s") - epoch).astype(np.int64) for y, m, _ in table],
        dtype=np.float64,
    )
    return starts, np.asarray(table["tai_utc"], dtype=np.float64)


def ijd_to_utc_iso(ijd: npt.ArrayLike) -> list[str]:
    """UTC ISO 8601 strings (milliseconds, ``Z``) of many IJDs at once.

    Vectorised with numpy (a few microseconds per value, where astropy's ``Time`` takes about a
    hundred): UTC = TT − 32.184 s − (TAI − UTC) from the leap-second table; an instant inside a
    leap second is shown as the second after it.
    """
    values = np.asarray(ijd, dtype=np.float64)
    if values.size == 0:
        return []
    starts, offsets = _leap_table()
    tt = values * 86400.0
    # TAI − UTC at the instant: found from the UTC estimate with the latest offset, then again
    # from the estimate with the offset found (exact away from the leap second itself).
    delta = offsets[
        np.clip(np.searchsorted(starts, tt - TT_MINUS_TAI_S - offsets[-1], "right") - 1, 0, None)
    ]
    delta = offsets[
        np.clip(np.searchsorted(starts, tt - TT_MINUS_TAI_S - delta, "right") - 1, 0, None)
    ]
    micro = np.round((tt - TT_MINUS_TAI_S - delta) * 1e6).astype(np.int64)
    stamps = np.datetime64("2000-01-01T00:00:00", "us") + micro.astype("timedelta64[us]")
    return list(np.char.add(np.datetime_as_string(stamps, unit="ms"), "Z").tolist())


def utc_to_ijd(t: datetime | str) -> float:
    """Return the IJD of a UTC datetime (naive = UTC, aware is converted) or ISO 8601 string."""
    return time_to_ijd(t)


# The revolution functions kept here under their old names (loaded on first use: the table
# module builds on this one).
_REVOLUTION_NAMES = frozenset(
    {
        "MISSION_END",
        "MISSION_START",
        "last_revolution",
        "revolution_at",
        "revolution_bounds",
        "revolution_end",
        "revolution_start",
    }
)


def __getattr__(name: str) -> Any:
    if name in _REVOLUTION_NAMES:
        from shared.integral import revolutions

        return getattr(revolutions, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
