"""INTEGRAL's revolutions (orbits): one table, calibrated on real INTEGRAL files.

INTEGRAL counts its orbits perigee to perigee. Revolution 0 starts at launch and the numbers
run to the end of science operations. This module holds the one table of revolution
boundaries that the demo generator, the raw index and every time conversion use: an array of
start times in IJD (TT) with one extra entry, the end of the last revolution, so that the
revolution of any number of instants is one ``numpy.searchsorted``.

Where each piece comes from:

- **Launch**, start of revolution 0: 2002-10-17T04:41:00 UTC (Jensen et al. 2003, A&A 411,
  L7, "The INTEGRAL spacecraft - in-orbit performance").
- **The operational orbit** (revolutions 535 to 1500) has a constant period,
  :data:`OPERATIONAL_PERIOD_S` = 258,418.8 s (71.78 h, 2.991 days, three sidereal days), and
  revolution 789 starts at :data:`REVOLUTION_789_START` = 2009-03-30T04:50:35.9 UTC. Both come
  from ISDC's auxiliary orbit file of revolution 0789 (``sc_orbit_param.fits.gz``, extension
  ``INTL-ORBI-SCP``, written by ``dp_aux_derive``): the period is the inverse of the rate of
  its ``REVOL_PHASE`` column against its on-board time (2^-20 s ticks), and the start is its
  first row (``ERTFIRST`` = 2009-04-01T02:11:24 UTC) minus ``REVOL_PHASE`` = 0.6317 periods.
  The same period and phase put the real ISGRI mosaic of observation 88601650001
  (2008-09-25T22:33 to 2008-09-28T12:07) inside revolution 0727, the real SMC X-1 spectrum
  (``REVOL`` = 745, from 2008-11-18T18:55) inside revolution 0745, which starts at
  2008-11-18T14:25, and every point of the real JEM-X time series of 1A 1742-289 from 2007 to
  2013 inside the revolutions 0535 to 1343 its ``IN_n`` keywords name.
- **Revolutions 0 to 534** have no anchor in the real files: they share the time from launch
  to the start of revolution 535 evenly (2.984 days each).
- **The 2015 disposal manoeuvres** (four burns from late January to February 2015) shortened
  the orbit. The table switches at :data:`DISPOSAL_REVOLUTION` (1501, starting
  2015-01-27T18:20 UTC) to :data:`POST_DISPOSAL_PERIOD_S` = 229,670 s (63.80 h, 2.658
  days). Both are fitted to the real JEM-X time series of 1A 1742-289 from 2015 and 2016:
  with them, each of its 27 groups of points falls inside the revolution (1510 to 1653) its
  ``IN_n`` keywords name, at least 4 hours from either boundary.
- **End of science operations**: 2025-02-28T00:00 UTC. The last revolution is the last one
  that starts before it; at the post-2015 period that is revolution 2886.

Durations are physical: the table is linear in TT (SI seconds), so leap seconds count.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from astropy.time import Time

from shared.integral.time import TimeLike, ijd_to_time, times_to_ijd, to_time

__all__ = [
    "DISPOSAL_REVOLUTION",
    "FIRST_ANCHORED_REVOLUTION",
    "LAUNCH",
    "MISSION_END",
    "MISSION_START",
    "OPERATIONAL_PERIOD_S",
    "POST_DISPOSAL_PERIOD_S",
    "REVOLUTION_789_START",
    "ends_ijd",
    "last_revolution",
    "revolution_at",
    "revolution_bounds",
    "revolution_bounds_ijd",
    "revolution_end",
    "revolution_start",
    "revolutions_at_ijd",
    "starts_ijd",
]

#: Launch, 2002-10-17T04:41:00 UTC (Jensen et al. 2003): the start of revolution 0.
LAUNCH: Time = Time("2002-10-17T04:41:00", scale="utc")

#: End of INTEGRAL science operations, 2025-02-28 (exclusive bound of the mission interval).
MISSION_END: Time = Time("2025-02-28T00:00:00", scale="utc")

#: Start of revolution 789, from ISDC's orbit file of that revolution (see the module text).
REVOLUTION_789_START: Time = Time("2009-03-30T04:50:35.891", scale="utc")

#: Period of the operational orbit before the 2015 manoeuvres (SI seconds), from the rate of
#: ``REVOL_PHASE`` in the orbit file of revolution 789: 71.78 h, three sidereal days.
OPERATIONAL_PERIOD_S: float = 258_418.84

#: The first revolution the real files name (1A 1742-289's JEM-X time series); revolutions
#: before it share the time since launch evenly.
FIRST_ANCHORED_REVOLUTION: int = 535

#: The first revolution on the orbit left by the 2015 disposal manoeuvres.
DISPOSAL_REVOLUTION: int = 1501

#: Period after the 2015 manoeuvres (SI seconds): 63.80 h, fitted to the real JEM-X points.
POST_DISPOSAL_PERIOD_S: float = 229_670.0

_DAY_S = 86_400.0


def _ijd(t: Time) -> float:
    return float(times_to_ijd(t))


def _build_table() -> npt.NDArray[np.float64]:
    """Start IJDs of revolutions 0 to the last, plus the end of the last revolution."""
    launch, end = _ijd(LAUNCH), _ijd(MISSION_END)
    rev789 = _ijd(REVOLUTION_789_START)
    operational = OPERATIONAL_PERIOD_S / _DAY_S
    post = POST_DISPOSAL_PERIOD_S / _DAY_S
    first = rev789 + (FIRST_ANCHORED_REVOLUTION - 789) * operational
    disposal = rev789 + (DISPOSAL_REVOLUTION - 789) * operational
    # Enough revolutions to pass the end of the mission; trimmed below.
    count = DISPOSAL_REVOLUTION + int(np.ceil((end - disposal) / post)) + 2
    n = np.arange(count, dtype=np.float64)
    early = launch + n * ((first - launch) / FIRST_ANCHORED_REVOLUTION)
    middle = rev789 + (n - 789) * operational
    late = disposal + (n - DISPOSAL_REVOLUTION) * post
    starts = np.where(
        n < FIRST_ANCHORED_REVOLUTION, early, np.where(n < DISPOSAL_REVOLUTION, middle, late)
    )
    last = int(np.searchsorted(starts, end, side="left")) - 1  # the last start before the end
    table = np.ascontiguousarray(starts[: last + 2])
    table.setflags(write=False)
    return table


# Start of every revolution and, last, the end of the last revolution (IJD, TT).
_BOUNDS: npt.NDArray[np.float64] = _build_table()
_LAST_REVOLUTION = len(_BOUNDS) - 2
# The same boundaries as UTC Times; the scalar functions hand out (and compare against) these
# very objects, so revolution_at(revolution_start(n)) == n holds exactly.
_BOUND_TIMES: Time = ijd_to_time(_BOUNDS).utc
_END_IJD = _ijd(MISSION_END)

#: Start of revolution 0 (launch, to well under a microsecond), as the table holds it.
MISSION_START: Time = _BOUND_TIMES[0]


def last_revolution() -> int:
    """Return the number of the last revolution: the last one starting before MISSION_END."""
    return _LAST_REVOLUTION


def starts_ijd() -> npt.NDArray[np.float64]:
    """Return the start IJD (TT) of every revolution, 0 to :func:`last_revolution` (read-only)."""
    return _BOUNDS[:-1]


def ends_ijd() -> npt.NDArray[np.float64]:
    """Return the end IJD (TT, exclusive) of every revolution: the next one's start (read-only).

    The last revolution's end is not clipped to MISSION_END: its orbit goes on.
    """
    return _BOUNDS[1:]


def revolutions_at_ijd(ijd: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Return the revolution of each IJD (TT) in ``ijd``, vectorised; -1 outside the mission.

    The mission is ``[MISSION_START, MISSION_END)``. Costs one binary search per value, so it
    suits millions of times.
    """
    values = np.asarray(ijd, dtype=np.float64)
    revs = np.searchsorted(_BOUNDS, values, side="right").astype(np.int64) - 1
    return np.where((values < _BOUNDS[0]) | (values >= _END_IJD), -1, revs)


def _check_revolution(rev: int) -> None:
    if not 0 <= rev <= _LAST_REVOLUTION:
        raise ValueError(f"revolution {rev} is outside the mission (0 to {_LAST_REVOLUTION})")


def revolution_bounds_ijd(rev: int) -> tuple[float, float]:
    """Return ``(start, end)`` IJD (TT) of revolution ``rev``, end exclusive."""
    _check_revolution(rev)
    return float(_BOUNDS[rev]), float(_BOUNDS[rev + 1])


def revolution_start(rev: int) -> Time:
    """Return the start (UTC Time) of revolution ``rev``; ValueError outside the mission."""
    _check_revolution(rev)
    start: Time = _BOUND_TIMES[rev]
    return start


def revolution_end(rev: int) -> Time:
    """Return the end (UTC Time, exclusive) of revolution ``rev``: the start of ``rev + 1``.

    The last revolution's end is not clipped to MISSION_END: its orbit goes on.
    """
    _check_revolution(rev)
    end: Time = _BOUND_TIMES[rev + 1]
    return end


def revolution_bounds(rev: int) -> tuple[Time, Time]:
    """Return ``(start, end)`` of revolution ``rev`` as UTC Times, end exclusive."""
    return revolution_start(rev), revolution_end(rev)


def revolution_at(t: TimeLike) -> int:
    """Return the revolution containing the instant ``t`` (Time, datetime or ISO string, UTC).

    Raises ``ValueError`` when ``t`` is before MISSION_START or not before MISSION_END, or for
    an array Time (use :func:`revolutions_at_ijd`).
    """
    time = to_time(t)
    if not time.isscalar:
        raise ValueError("revolution_at takes a single time; use revolutions_at_ijd for arrays")
    if not MISSION_START <= time < MISSION_END:
        raise ValueError(
            f"{time.utc.isot} UTC is outside the INTEGRAL mission "
            f"({MISSION_START.utc.isot} to {MISSION_END.utc.isot} UTC)"
        )
    estimate: Any = np.searchsorted(_BOUNDS, times_to_ijd(time), side="right")
    rev = min(max(int(estimate) - 1, 0), _LAST_REVOLUTION)
    # The IJD can land on the wrong side of a boundary by a rounding error; exact Time
    # comparisons settle it.
    if rev < _LAST_REVOLUTION and _BOUND_TIMES[rev + 1] <= time:
        rev += 1
    elif rev > 0 and time < _BOUND_TIMES[rev]:
        rev -= 1
    return rev
