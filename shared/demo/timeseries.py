"""The demo's simulated SPI-ACS and IREM time series: one FITS file per revolution and dataset.

What the files contain is a model, not a measurement, and every file says so (``SIMDATA = T``
in every header, a ``COMMENT`` and ``CREATOR`` in the primary one). The model:

- SPI-ACS at 50 ms: a background of ~80,000 counts/s that is higher at solar minimum (more
  galactic cosmic rays reach the shield) and rises towards the radiation belts; the instrument
  is off while the orbit crosses the belts around perigee (the start and end of each revolution:
  no rows, a gap in the data); Poisson noise per 50 ms bin; a solar flare (slow rise, exponential
  decay); gamma-ray bursts as fast-rise exponential-decay spikes; and one burst that lasts a
  single 50 ms bin;
- IREM at 8 s: 15 count-rate channels that peak in the belts (IREM keeps counting there),
  follow the solar cycle and jump during the flare's proton event.

Everything is seeded: the same files come out every time. The files go into the archive through
the time-series ingest path like any delivery (``services.ingest.timeseries``).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from astropy.io import fits

from shared import __version__
from shared.integral.time import revolution_end, revolution_start
from shared.timeseries.datasets import IREM_CHANNELS
from shared.timeseries.times import tt_of_time

__all__ = [
    "ACS_REVOLUTIONS",
    "BURSTS",
    "IREM_REVOLUTIONS",
    "Burst",
    "demo_files",
    "irem_file",
    "spiacs_file",
]

ACS_REVOLUTIONS = (727, 745)
"""Revolutions with simulated SPI-ACS data at 50 ms (~4 million rows each)."""

IREM_REVOLUTIONS = (81, 727, 745)
"""Revolutions with simulated IREM data."""

CREATOR = f"ISLA demo pipeline {__version__}"
ACS_DT = 0.05
IREM_DT = 8.0
BELT_IN_S = 4.5 * 3600.0
"""SPI-ACS is off this long after the revolution starts (leaving the belts)."""
BELT_OUT_S = 2.5 * 3600.0
"""... and this long before it ends (entering them)."""


@dataclass(frozen=True)
class Burst:
    """A simulated gamma-ray burst in the SPI-ACS data."""

    revolution: int
    offset_s: float
    """Seconds from the revolution start to the burst's rise."""
    peak: float
    """Peak count rate above background (counts/s)."""
    decay_s: float
    """E-folding decay time; 0 for a burst in a single 50 ms bin."""


BURSTS = (
    Burst(727, 30 * 3600.0 + 17.3, 350_000.0, 6.0),
    Burst(727, 52 * 3600.0 + 1.05, 600_000.0, 0.0),
    Burst(745, 20 * 3600.0 + 40.0, 900_000.0, 2.0),
)
"""Bursts of the demo (the second lasts exactly one 50 ms bin)."""

_FLARE = (745, 40 * 3600.0, 600.0, 3600.0, 0.25)
"""Solar flare: revolution, start offset, rise and decay times (s), relative amplitude."""


def _solar_minimum(t_tt: float) -> float:
    """0 at solar maximum, 1 at minimum (cycle 23 peaked in 2001, 24 in 2014; 11 years)."""
    years = t_tt / (365.25 * 86400.0)
    return 0.5 + 0.5 * float(np.cos(2 * np.pi * (years - 1.5) / 11.0 + np.pi))


def _belt_factor(offset: npt.NDArray[np.float64], length: float) -> npt.NDArray[np.float64]:
    """Rise of the particle background towards perigee (both ends of the revolution)."""
    to_perigee = np.minimum(offset, length - offset)
    out: npt.NDArray[np.float64] = np.exp(-to_perigee / (3.0 * 3600.0))
    return out


def _header(hdr: fits.Header, instrument: str, revolution: int, primary: bool) -> None:
    hdr["TELESCOP"] = "INTEGRAL"
    hdr["INSTRUME"] = instrument
    hdr["REVOL"] = (revolution, "revolution of the data")
    hdr["SIMDATA"] = (True, "simulated data, not an INTEGRAL measurement")
    if primary:
        hdr["CREATOR"] = (CREATOR, "program that made the file")
        hdr["ISLAVER"] = __version__
        hdr.add_comment(
            f"SIMULATED DATA: made by the ISLA demo pipeline {__version__}; "
            "not measured by INTEGRAL."
        )


def _write(
    instrument: str,
    revolution: int,
    t_zero: float,
    dt: float,
    times: npt.NDArray[np.float64],
    columns: list[fits.Column],
) -> bytes:
    primary = fits.PrimaryHDU()
    _header(primary.header, instrument, revolution, True)
    table = fits.BinTableHDU.from_columns(
        [fits.Column(name="TIME", format="D", unit="s", array=times - t_zero), *columns],
        name="RATE",
    )
    h = table.header
    _header(h, instrument, revolution, False)
    h["TIMESYS"] = "TT"
    h["TIMEUNIT"] = "s"
    h["TIMEREF"] = "LOCAL"
    h["MJDREF"] = (51544.0, "IJD 0")
    h["TIMEZERO"] = (t_zero, "TIME is relative to this (TT s since IJD 0)")
    h["TIMEDEL"] = dt
    h["TSTART"] = float(times[0])
    h["TSTOP"] = float(times[-1] + dt)
    buffer = io.BytesIO()
    fits.HDUList([primary, table]).writeto(buffer)
    return buffer.getvalue()


def _grid(revolution: int, dt: float, off_start: float, off_end: float) -> tuple[float, Any]:
    start = tt_of_time(revolution_start(revolution))
    end = tt_of_time(revolution_end(revolution))
    t0 = np.ceil((start + off_start) / dt) * dt
    n = int((end - off_end - t0) // dt)
    return start, t0 + np.arange(n) * dt


def spiacs_file(revolution: int) -> tuple[str, bytes]:
    """The simulated 50 ms SPI-ACS file of ``revolution``."""
    rng = np.random.default_rng(20_000 + revolution)
    rev_start, times = _grid(revolution, ACS_DT, BELT_IN_S, BELT_OUT_S)
    length = tt_of_time(revolution_end(revolution)) - rev_start
    offset = times - rev_start
    base = 70_000.0 + 20_000.0 * _solar_minimum(float(times[0]))
    rate = base * (1.0 + 0.6 * _belt_factor(offset, length))
    # A slow orbital modulation (the changing geomagnetic shielding along the orbit).
    rate *= 1.0 + 0.03 * np.sin(2 * np.pi * offset / length)
    rev, start, rise, decay, amplitude = _FLARE
    if rev == revolution:
        x = offset - start
        xp = np.clip(x, 0.0, None)
        shape = np.where(x < 0, 0.0, np.where(x < rise, xp / rise, np.exp(-(xp - rise) / decay)))
        rate *= 1.0 + amplitude * shape
    for burst in BURSTS:
        if burst.revolution != revolution:
            continue
        x = offset - burst.offset_s
        if burst.decay_s == 0:
            rate[np.argmin(np.abs(x))] += burst.peak
        else:
            xp = np.clip(x, 0.0, None)
            fred = np.where(x < 0, 0.0, (1 - np.exp(-xp / 0.3)) * np.exp(-xp / burst.decay_s))
            rate += burst.peak * fred
    counts = rng.poisson(rate * ACS_DT).astype(np.float64)
    cols = [
        fits.Column(name="RATE", format="E", unit="count/s", array=counts / ACS_DT),
        fits.Column(name="ERROR", format="E", unit="count/s", array=np.sqrt(counts) / ACS_DT),
    ]
    name = f"spiacs_50ms_{revolution:04d}.fits"
    return name, _write("SPI-ACS", revolution, rev_start, ACS_DT, times, cols)


_IREM_BASE = np.array(
    [40.0, 12.0, 6.0, 3.0, 1.5, 25.0, 4.0, 90.0, 30.0, 10.0, 3.0, 15.0, 5.0, 2.0, 1.0]
)
"""Quiet-time count rates of the 15 channels (counts/s)."""


def irem_file(revolution: int) -> tuple[str, bytes]:
    """The simulated IREM file of ``revolution`` (8 s, through the belts)."""
    rng = np.random.default_rng(30_000 + revolution)
    rev_start, times = _grid(revolution, IREM_DT, 0.0, 0.0)
    length = tt_of_time(revolution_end(revolution)) - rev_start
    offset = times - rev_start
    cycle = 0.7 + 0.6 * _solar_minimum(float(times[0]))
    belts = _belt_factor(offset, length) ** 2
    rev, start, rise, decay, _ = _FLARE
    protons = np.zeros_like(offset)
    if rev == revolution:
        x = offset - start - 1800.0  # protons arrive after the X-ray flare
        xp = np.clip(x, 0.0, None)
        protons = np.where(
            x < 0, 0.0, np.where(x < rise, xp / rise, np.exp(-(xp - rise) / (3 * decay)))
        )
    cols = []
    for k, name in enumerate(IREM_CHANNELS):
        belt_gain = 3000.0 / (1 + k % 5)
        proton_gain = 50.0 if name.startswith("S") else 5.0
        expected = _IREM_BASE[k] * (cycle + belt_gain * belts + proton_gain * protons)
        counts = rng.poisson(expected * IREM_DT)
        cols.append(fits.Column(name=name, format="E", unit="count/s", array=counts / IREM_DT))
    return f"irem_{revolution:04d}.fits", _write(
        "IREM", revolution, rev_start, IREM_DT, times, cols
    )


def demo_files() -> Iterator[tuple[str, bytes]]:
    """Every simulated file of the demo, one at a time (each is large: do not hold them all)."""
    for revolution in ACS_REVOLUTIONS:
        yield spiacs_file(revolution)
    for revolution in IREM_REVOLUTIONS:
        yield irem_file(revolution)
