"""How the demo archive's sources vary with time: a multiplier of each source's mean flux.

Every named source of ``bright_sources.csv`` has a variability class, and the light-curve
points of the demo archive are its mean 20-40 keV flux times :func:`flux_factor` at the time
of each science window (the same factor in every band: a change of flux, not noise):

- ``steady``: the Crab, the standard candle, and other steady emitters (rotation-powered
  pulsars, galaxy clusters): within ±1.5 % of the mean;
- ``persistent``: slow waves (days to years, a known super-orbital cycle where the source has
  one) and flickering from one science window to the next, floored at a third of the mean:
  a persistent source never drops to a quiescent level;
- ``transient``: outbursts (a fast rise and a slower decay) on a quiescent level a few hundred
  times below the peaks; the famous outbursts of the mission at their approximate dates, other
  sources on a schematic recurrence;
- ``faint``: a constant few mCrab with a little flickering (Sgr A* in hard X-rays);
- ``agn``: slow log-normal variability within a factor of about two of the mean.

Sources without a named class (the generated catalogue) are constant. The factor's mean over
the mission is 1, so a light curve averages to the catalogue flux. Everything is
deterministic: the random parameters come from streams keyed by the source's name.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

CLASSES = ("steady", "persistent", "transient", "faint", "agn")
"""The variability classes of ``bright_sources.csv``."""

MISSION_IJD = (1020.0, 9190.0)
"""INTEGRAL's science operations in IJD (2002-10-17 to 2025-02-28): the span over which a
source's factor averages to 1."""

PERSISTENT_FLOOR = 1.0 / 3.0
"""The lowest factor of a persistent source (relative to its mean)."""

QUIESCENCE = 0.0005
"""A transient's quiescent level, relative to its typical outburst peak: well below a mCrab
for outbursts of about a Crab."""

_MJD_TO_IJD = -51544.0


@dataclass(frozen=True)
class Outburst:
    """One outburst of a transient: peak time, e-folding rise and decay, relative height."""

    peak_ijd: float
    rise_days: float
    decay_days: float
    height: float = 1.0


def _mjd(mjd: float, rise: float, decay: float, height: float = 1.0) -> Outburst:
    return Outburst(mjd + _MJD_TO_IJD, rise, decay, height)


KNOWN_OUTBURSTS: dict[str, tuple[Outburst, ...]] = {
    # Peaks are approximate (to a few weeks): the demo places the outbursts of the mission in
    # the right season and year, not on the exact day.
    "V404 Cyg": (_mjd(57199, 4.0, 8.0), _mjd(57380, 3.0, 6.0, 0.1)),
    "MAXI J1820+070": (_mjd(58201, 6.0, 90.0),),
    "GRO J1655-40": (_mjd(53445, 10.0, 80.0),),
    "XTE J1550-564": (_mjd(52740, 5.0, 25.0),),
    "GX 339-4": (
        _mjd(52600, 20.0, 60.0, 0.4),
        _mjd(53220, 15.0, 60.0, 0.6),
        _mjd(54130, 15.0, 60.0),
        _mjd(55290, 15.0, 60.0),
        _mjd(57060, 15.0, 50.0, 0.6),
        _mjd(59260, 15.0, 60.0),
    ),
    "H 1743-322": (
        _mjd(52740, 10.0, 60.0),
        _mjd(54750, 8.0, 30.0, 0.3),
        _mjd(54990, 8.0, 30.0, 0.4),
        _mjd(55420, 8.0, 30.0, 0.4),
        _mjd(55660, 8.0, 30.0, 0.4),
        _mjd(56180, 8.0, 30.0, 0.4),
        _mjd(57460, 8.0, 30.0, 0.4),
        _mjd(58380, 8.0, 30.0, 0.4),
    ),
    "IGR J17091-3624": (
        _mjd(55600, 10.0, 80.0),
        _mjd(57440, 10.0, 60.0, 0.8),
        _mjd(59670, 10.0, 60.0, 0.8),
    ),
    "1A 0535+262": (
        _mjd(53530, 6.0, 15.0),
        _mjd(55170, 6.0, 15.0),
        _mjd(55610, 6.0, 15.0),
        _mjd(59160, 6.0, 15.0, 2.0),
    ),
    "1E 1547.0-5408": (_mjd(54853, 0.5, 120.0),),
}
"""Outbursts of the mission at their approximate dates (MJD in the table, IJD in the values)."""

_RECURRENCE: dict[str, tuple[float, float, float, float]] = {
    # name: (mean recurrence days, rise days, decay days, jitter as a fraction of recurrence)
    "4U 1630-47": (650.0, 10.0, 60.0, 0.15),
    "Aql X-1": (330.0, 4.0, 20.0, 0.25),
    "IGR J17544-2619": (30.0, 0.04, 0.12, 0.5),
    "EXO 2030+375": (46.02, 2.0, 5.0, 0.03),
}
"""Schematic recurrence of transients whose outbursts are too many to list."""
_DEFAULT_RECURRENCE = (700.0, 8.0, 40.0, 0.3)

_SUPERORBITAL: dict[str, float] = {
    "SMC X-1": 56.0,
    "LMC X-4": 30.4,
    "Her X-1": 35.0,
    "4U 1820-30": 176.0,
    "SS 433": 162.5,
}
"""Known super-orbital periods (days): the slowest wave of these persistent sources."""


@dataclass(frozen=True)
class Variability:
    """How one source's flux changes with time (see the module's description)."""

    kind: str
    periods: tuple[float, ...] = ()
    """Periods of the slow waves (days)."""
    phases: tuple[float, ...] = ()
    amplitude: float = 0.0
    """Standard deviation of the slow waves in ln(flux)."""
    flicker_periods: tuple[float, ...] = ()
    """Periods of the fast terms (hours to a day), which make neighbouring science windows
    differ; incommensurate, so the pattern never repeats within the mission."""
    flicker_phases: tuple[float, ...] = ()
    flicker: float = 0.0
    """Standard deviation of the fast terms in ln(flux)."""
    outbursts: tuple[Outburst, ...] = ()
    floor: float = 0.0
    """Lowest factor before normalisation (persistent sources)."""
    ceiling: float = math.inf
    """Highest factor before normalisation (AGN)."""


def _rng(*key: object) -> np.random.Generator:
    digest = hashlib.sha256("/".join(str(k) for k in ("variability", *key)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "little"))


def _waves(
    rng: np.random.Generator, count: int, low: float, high: float
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    periods = np.exp(rng.uniform(math.log(low), math.log(high), count))
    phases = rng.uniform(0.0, 2 * math.pi, count)
    return tuple(float(p) for p in periods), tuple(float(p) for p in phases)


def _recurrent(name: str, rng: np.random.Generator) -> tuple[Outburst, ...]:
    every, rise, decay, jitter = _RECURRENCE.get(name, _DEFAULT_RECURRENCE)
    start, end = MISSION_IJD
    t = start + float(rng.uniform(0.0, every))
    out = []
    while t < end:
        out.append(Outburst(t, rise, decay, float(rng.lognormal(0.0, 0.4))))
        t += every * (1.0 + jitter * float(rng.uniform(-1.0, 1.0)))
    return tuple(out)


@lru_cache(maxsize=512)
def variability_for(name: str, kind: str | None) -> Variability:
    """The variability of source ``name`` of class ``kind`` (None: constant).

    Raises ``ValueError`` for a class that is not one of :data:`CLASSES`.
    """
    if kind is None:
        return Variability("constant")
    if kind not in CLASSES:
        raise ValueError(f"unknown variability class {kind!r}; expected one of {CLASSES}")
    rng = _rng(name)
    fast, fast_phases = _waves(rng, 5, 0.08, 1.5)
    if kind == "steady":
        periods, phases = _waves(rng, 2, 200.0, 3000.0)
        return Variability(kind, periods, phases, 0.007)
    if kind == "faint":
        return Variability(kind, flicker_periods=fast, flicker_phases=fast_phases, flicker=0.05)
    if kind == "agn":
        periods, phases = _waves(rng, 4, 20.0, 1500.0)
        return Variability(kind, periods, phases, 0.3, fast, fast_phases, 0.05, ceiling=2.5)
    if kind == "persistent":
        periods, phases = _waves(rng, 3, 5.0, 2000.0)
        if name in _SUPERORBITAL:
            periods = (_SUPERORBITAL[name], *periods[1:])
        return Variability(
            kind,
            periods,
            phases,
            float(rng.uniform(0.15, 0.3)),
            fast,
            fast_phases,
            float(rng.uniform(0.05, 0.15)),
            floor=PERSISTENT_FLOOR,
        )
    outbursts = KNOWN_OUTBURSTS.get(name) or _recurrent(name, rng)
    return Variability(
        kind, flicker_periods=fast, flicker_phases=fast_phases, flicker=0.1, outbursts=outbursts
    )


def _sum_of_sines(
    t: FloatArray, periods: tuple[float, ...], phases: tuple[float, ...]
) -> FloatArray:
    """Sum of unit sines, scaled to unit standard deviation."""
    total = np.zeros_like(t)
    for period, phase in zip(periods, phases, strict=True):
        total += np.sin(2 * math.pi * t / period + phase)
    return total * math.sqrt(2.0 / max(len(periods), 1))


def _outburst_profile(t: FloatArray, outbursts: tuple[Outburst, ...]) -> FloatArray:
    """Quiescence plus exponential rise and decay of each outburst."""
    total = np.full_like(t, QUIESCENCE)
    for burst in outbursts:
        dt = t - burst.peak_ijd
        scale = np.where(dt < 0, burst.rise_days, burst.decay_days)
        # Only the neighbourhood of the peak matters; elsewhere exp() would underflow to 0.
        total += burst.height * np.exp(-np.minimum(np.abs(dt) / scale, 700.0))
    return total


def _raw_factor(var: Variability, t: FloatArray) -> FloatArray:
    log_factor = np.zeros_like(t)
    if var.periods:
        log_factor += var.amplitude * _sum_of_sines(t, var.periods, var.phases)
    if var.flicker_periods:
        log_factor += var.flicker * _sum_of_sines(t, var.flicker_periods, var.flicker_phases)
    factor = np.exp(log_factor)
    if var.outbursts:
        factor = factor * _outburst_profile(t, var.outbursts)
    return np.clip(factor, var.floor, var.ceiling)


def _outburst_mean(outbursts: tuple[Outburst, ...]) -> float:
    """Mission mean of :func:`_outburst_profile`, integrated exactly."""
    start, end = MISSION_IJD
    total = 0.0
    for burst in outbursts:
        p, r, d = burst.peak_ijd, burst.rise_days, burst.decay_days
        rising = (
            r * (math.exp(-(p - min(p, end)) / r) - math.exp(-(p - start) / r))
            if p > start
            else 0.0
        )
        decaying = (
            d * (math.exp(-(max(p, start) - p) / d) - math.exp(-(end - p) / d)) if p < end else 0.0
        )
        total += burst.height * (max(rising, 0.0) + max(decaying, 0.0))
    return QUIESCENCE + total / (end - start)


@lru_cache(maxsize=512)
def _mission_mean(var: Variability) -> float:
    # Sampled every 3.3 hours (a step incommensurate with the flicker's periods) over the
    # mission. Outbursts are integrated exactly instead: sampled, the flares of a few hours
    # would need a fine grid, and they are independent of the fast flicker they multiply.
    t = np.arange(MISSION_IJD[0], MISSION_IJD[1], 0.137)
    if not var.outbursts:
        return float(_raw_factor(var, t).mean())
    steady = Variability(
        var.kind,
        var.periods,
        var.phases,
        var.amplitude,
        var.flicker_periods,
        var.flicker_phases,
        var.flicker,
    )
    return float(_raw_factor(steady, t).mean()) * _outburst_mean(var.outbursts)


def flux_factor(var: Variability, ijd: npt.ArrayLike) -> FloatArray:
    """Multiplier of the source's mean flux at times ``ijd`` (its mission mean is 1)."""
    t = np.asarray(ijd, dtype=np.float64)
    if var.kind == "constant":
        return np.ones_like(t)
    return np.asarray(_raw_factor(var, t) / _mission_mean(var), dtype=np.float64)
