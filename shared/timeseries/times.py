"""Times of the time series: TT seconds since IJD 0, IJD, and UTC ISO 8601 strings.

Samples are kept as TT seconds since IJD 0 (2000-01-01T00:00:00 TT), the ``TIME`` convention
of INTEGRAL files with ``MJDREF = 51544``. TT has no leap seconds; UTC does, and astropy's
table of them decides every conversion. Formatting millions of time stamps (HAPI streams)
converts one chunk at a time: astropy gives the TT-to-UTC offset at both ends of the chunk and,
when no leap second falls inside, numpy formats the whole chunk at C speed.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np
import numpy.typing as npt
from astropy.time import Time
from astropy.utils.exceptions import AstropyWarning
from erfa import ErfaWarning

__all__ = [
    "SECONDS_PER_DAY",
    "TIME_LENGTH",
    "format_utc",
    "format_utc_bytes",
    "ijd_of",
    "parse_iso",
    "tt_of_ijd",
    "tt_of_time",
    "utc_iso",
]

SECONDS_PER_DAY = 86400.0
_JD_IJD0 = 2400000.5 + 51544.0
_EPOCH = np.datetime64("2000-01-01T00:00:00", "us")
_EPOCH_S = np.datetime64("2000-01-01T00:00:00", "s")

_TRIPLES = np.frombuffer("".join(f"{i:03d}" for i in range(1000)).encode(), np.uint8).reshape(
    1000, 3
)

TIME_LENGTH = 27
"""Characters of a formatted time stamp: ``YYYY-MM-DDThh:mm:ss.ssssssZ`` (microseconds)."""

_ISO = re.compile(
    r"(?P<y>\d{4})"
    r"(?:-(?P<doy>\d{3})|-(?P<m>\d{2})(?:-(?P<d>\d{2}))?)?"
    r"(?:T(?P<H>\d{2})(?::(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.(?P<f>\d{1,12}))?)?)?)?"
    r"Z?"
)


def ijd_of(tt_seconds: float | npt.NDArray[np.float64]) -> float | npt.NDArray[np.float64]:
    """IJD (days, TT) of TT seconds since IJD 0."""
    return tt_seconds / SECONDS_PER_DAY


def tt_of_ijd(ijd: float) -> float:
    """TT seconds since IJD 0 of an IJD."""
    return ijd * SECONDS_PER_DAY


def tt_of_time(t: Time) -> float:
    """TT seconds since IJD 0 of one astropy Time."""
    tt = t.tt
    return float((tt.jd1 - _JD_IJD0) * SECONDS_PER_DAY + tt.jd2 * SECONDS_PER_DAY)


def parse_iso(text: str) -> float:
    """TT seconds since IJD 0 of a UTC time in HAPI's restricted ISO 8601.

    Accepts ``yyyy-mm-ddThh:mm:ss.sss`` and ``yyyy-dddThh:mm:ss.sss``, truncated forms
    (``2017-01-15T23``, ``2017-01-15``, ``2017-01``, ``2017-032``), with or without the trailing
    ``Z``; missing elements take their smallest value. Raises ``ValueError`` otherwise.
    """
    match = _ISO.fullmatch(text.strip())
    if match is None:
        raise ValueError("not a HAPI ISO 8601 time")
    g = match.groupdict()
    year = int(g["y"])
    hour = int(g["H"] or 0)
    minute = int(g["M"] or 0)
    second = int(g["S"] or 0)
    if g["doy"] is not None:
        doy = int(g["doy"])
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        if not 1 <= doy <= (366 if leap else 365):
            raise ValueError("day of year out of range")
        date = np.datetime64(f"{year:04d}-01-01") + np.timedelta64(doy - 1, "D")
        ymd = str(date)
    else:
        month = int(g["m"] or 1)
        day = int(g["d"] or 1)
        if not 1 <= month <= 12:
            raise ValueError("month out of range")
        ymd = f"{year:04d}-{month:02d}-{day:02d}"
        try:
            np.datetime64(ymd)
        except ValueError:
            raise ValueError("no such date") from None
    if hour > 24 or minute > 59 or second > 60 or (hour == 24 and (minute or second)):
        raise ValueError("time of day out of range")
    extra = 0.0
    if hour == 24:
        hour, extra = 23, 3600.0
    with warnings.catch_warnings():
        # astropy warns (and accepts) a :60 that is not a real leap second; refuse those.
        warnings.simplefilter("error", AstropyWarning)
        warnings.simplefilter("error", ErfaWarning)
        try:
            t = Time(f"{ymd}T{hour:02d}:{minute:02d}:{second:02d}", format="isot", scale="utc")
            base = tt_of_time(t)
        except (ValueError, AstropyWarning, ErfaWarning) as exc:
            raise ValueError(f"invalid time: {exc}") from None
    fraction = float("0." + g["f"]) if g["f"] else 0.0
    return base + fraction + extra


def _offset(tt_seconds: float) -> float | None:
    """Seconds to add to TT seconds to count datetime64 (leap-free) UTC seconds since 2000.

    None when the instant lies inside a leap second (it has no datetime64 label).
    """
    t = Time(51544.0, tt_seconds / SECONDS_PER_DAY, format="mjd", scale="tt").utc
    t.precision = 6
    iso = t.isot
    if ":60" in iso[16:19]:
        return None
    label = np.datetime64(iso, "us")
    return float((label - _EPOCH) / np.timedelta64(1, "us")) * 1e-6 - tt_seconds


def _digits(out: npt.NDArray[np.uint8], col: int, value: npt.NDArray[np.int64], width: int) -> None:
    """Write ``value`` as ``width`` zero-padded decimal digits into columns ``col...``."""
    for k in range(width - 1, -1, -1):
        out[:, col + k] = 48 + value % 10
        value = value // 10


def format_utc_bytes(tt_seconds: npt.NDArray[Any]) -> npt.NDArray[np.bytes_]:
    """UTC stamps ``YYYY-MM-DDThh:mm:ss.ssssssZ`` (bytes ``S27``) of TT seconds since IJD 0.

    Each distinct whole second is formatted once and gathered from that small table; the
    microseconds come from a table of the 1,000 three-digit groups.
    """
    t = np.asarray(tt_seconds, dtype=np.float64)
    if t.size == 0:
        return np.empty(0, dtype=f"S{TIME_LENGTH}")
    first = _offset(float(t[0]))
    last = _offset(float(t[-1]))
    if first is None or last is None or abs(first - last) > 1e-7:
        # A leap second inside the chunk: astropy, element by element (a handful of chunks
        # over the whole mission).
        times = Time(51544.0, t / SECONDS_PER_DAY, format="mjd", scale="tt").utc
        times.precision = 6
        return np.char.add(np.asarray(times.isot, dtype="S26"), b"Z")
    micro = np.rint((t + first) * 1e6).astype(np.int64)
    sec = micro // 1_000_000
    frac = micro - sec * 1_000_000
    # Whole seconds change in runs along a chunk (times are sorted): format each distinct
    # second once, and each distinct fraction once (a handful at a regular cadence).
    change = np.empty(sec.size, dtype=bool)
    change[0] = True
    np.not_equal(sec[1:], sec[:-1], out=change[1:])
    run = np.cumsum(change) - 1
    labels = np.datetime_as_string(_EPOCH_S + sec[change].astype("timedelta64[s]"), unit="s")
    sec_tab = labels.astype("S19").view(np.uint8).reshape(-1, 19)
    out = np.empty((t.size, TIME_LENGTH), dtype=np.uint8)
    out[:, :19] = sec_tab[run]
    out[:, 19] = ord(".")
    out[:, 20:23] = _TRIPLES[frac // 1000]
    out[:, 23:26] = _TRIPLES[frac % 1000]
    out[:, 26] = ord("Z")
    return out.view(f"S{TIME_LENGTH}").reshape(-1)


def format_utc(tt_seconds: npt.NDArray[Any]) -> npt.NDArray[np.str_]:
    """UTC strings ``YYYY-MM-DDThh:mm:ss.ssssssZ`` of TT seconds since IJD 0 (vectorised)."""
    out: npt.NDArray[np.str_] = format_utc_bytes(tt_seconds).astype(f"<U{TIME_LENGTH}")
    return out


def utc_iso(tt_seconds: float) -> str:
    """UTC ISO string (microseconds, ``Z``) of one instant in TT seconds since IJD 0."""
    return str(format_utc(np.array([tt_seconds]))[0])
