"""The demo's instrument and source model, and the products it makes from light-curve points.

Moved here unchanged from the products library, which now only reads and converts stored
products: this is the code of the simulated pipeline (power laws folded through analytic
responses, drawn noise, Gaussian sources on mosaics, S/N-driven intervals), used at load time
to make the demo's product files and never by a service in a request.
"""

from __future__ import annotations

import hashlib
import math
import re
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, text

from shared.integral.ids import parse_source_id
from shared.integral.time import MJDREF
from shared.products import ogip
from shared.products.ogip import LightCurve, Mosaic, Spectrum, celestial_wcs

# --- the model --------------------------------------------------------------------------------

FloatArray = npt.NDArray[np.float64]

CRAB_INDEX = 2.1
"""Photon index of the Crab's power law."""
CRAB_NORM = 10.0
"""Crab normalisation at 1 keV (photons / cm² / s / keV)."""

DETECTION_SIGMA = 3.0
"""Below this significance a point is an upper limit."""


@dataclass(frozen=True)
class InstrumentModel:
    """Response and sensitivity of one instrument, as the demo models it."""

    name: str
    e_min: float
    e_max: float
    channels: int
    """Number of PHA channels (DETCHANS)."""
    energies: int
    """Number of bins of the response's energy grid."""
    peak_area: float
    """Peak effective area (cm²)."""
    resolution: float
    """FWHM / E at 60 keV for ISGRI, at 6 keV for JEM-X; scales as E^-0.5."""
    fully_coded: float
    """Half width (ISGRI) or radius (JEM-X) of the fully coded field of view (degrees)."""
    zero_response: float
    """Off-axis angle at which the coded fraction reaches zero (degrees)."""
    sensitivity: dict[str, float]
    """1-sigma error in mCrab times sqrt(exposure in s), on axis, per band name."""
    background: float
    """Background rate per keV at the low end of the range (counts / s / keV)."""
    pixel_deg: float
    """Mosaic pixel size (degrees)."""
    psf_sigma_deg: float
    """Gaussian sigma of the point-spread function (degrees)."""
    mosaic_half_deg: float
    """Half width of a mosaic around the observation's target (degrees)."""


INSTRUMENTS: dict[str, InstrumentModel] = {
    "ISGRI": InstrumentModel(
        "ISGRI",
        15.0,
        1000.0,
        channels=128,
        energies=256,
        peak_area=1100.0,
        resolution=0.09,
        fully_coded=4.5,
        zero_response=19.0,
        sensitivity={"28_40": 224.0, "20_35": 200.0, "35_60": 300.0, "60_200": 600.0},
        background=1.5,
        pixel_deg=0.1,
        psf_sigma_deg=0.085,
        mosaic_half_deg=16.0,
    ),
    "JEM-X": InstrumentModel(
        "JEM-X",
        3.0,
        35.0,
        channels=64,
        energies=128,
        peak_area=110.0,
        resolution=0.16,
        fully_coded=2.4,
        zero_response=6.6,
        sensitivity={"3_20": 360.0, "3_10": 400.0, "10_20": 650.0},
        background=0.4,
        pixel_deg=0.05,
        psf_sigma_deg=0.03,
        mosaic_half_deg=7.5,
    ),
}
"""The instruments with modelled products (the names of ``isla.instruments``)."""

BANDS: dict[str, dict[str, tuple[float, float]]] = {
    "ISGRI": {
        "28_40": (28.0, 40.0),
        "20_35": (20.0, 35.0),
        "35_60": (35.0, 60.0),
        "60_200": (60.0, 200.0),
    },
    "JEM-X": {"3_20": (3.0, 20.0), "3_10": (3.0, 10.0), "10_20": (10.0, 20.0)},
}
"""Light-curve and mosaic bands per instrument (as in ``isla.energy_bands``)."""

DEFAULT_BAND = {"ISGRI": "28_40", "JEM-X": "3_20"}
"""ISLA's default band of each instrument."""


def rng_for(*key: object) -> np.random.Generator:
    """A random stream determined by ``key`` alone (stable across processes and runs)."""
    digest = hashlib.sha256("/".join(str(k) for k in key).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "little"))


# --- responses --------------------------------------------------------------------------------


def energy_grid(instrument: str) -> tuple[FloatArray, FloatArray]:
    """(ENERG_LO, ENERG_HI) of the response's energy grid (keV, logarithmic)."""
    model = INSTRUMENTS[instrument]
    edges = np.geomspace(model.e_min * 0.85, model.e_max * 1.1, model.energies + 1)
    return edges[:-1], edges[1:]


def channel_grid(instrument: str) -> tuple[FloatArray, FloatArray]:
    """(E_MIN, E_MAX) of the PHA channels (keV, logarithmic), for the EBOUNDS extension."""
    model = INSTRUMENTS[instrument]
    edges = np.geomspace(model.e_min, model.e_max, model.channels + 1)
    return edges[:-1], edges[1:]


@lru_cache(maxsize=4)
def effective_area(instrument: str) -> FloatArray:
    """On-axis effective area (cm²) on the energy grid: a rise at low energies (absorption,
    thresholds) and a fall at high energies (detector transparency)."""
    model = INSTRUMENTS[instrument]
    lo, hi = energy_grid(instrument)
    e = np.sqrt(lo * hi)
    if instrument == "ISGRI":
        rise = 1.0 - np.exp(-(((e - 12.0).clip(0.0) / 9.0) ** 2))
        fall = 1.0 / (1.0 + (e / 180.0) ** 1.6)
    else:
        rise = 1.0 - np.exp(-(((e - 2.2).clip(0.0) / 2.5) ** 2))
        fall = 1.0 / (1.0 + (e / 14.0) ** 3)
    area = rise * fall
    result: FloatArray = model.peak_area * area / area.max()
    return result


@lru_cache(maxsize=4)
def redistribution(instrument: str) -> FloatArray:
    """The redistribution matrix (energies × channels): Gaussian lines of the instrument's
    resolution, each row summing to 1 over the channels (no escape or loss modelled)."""
    model = INSTRUMENTS[instrument]
    lo, hi = energy_grid(instrument)
    c_lo, c_hi = channel_grid(instrument)
    e = np.sqrt(lo * hi)
    reference = 60.0 if instrument == "ISGRI" else 6.0
    sigma = model.resolution * reference * np.sqrt(e / reference) / 2.3548
    # Gaussian integrated over each channel through the error function (computed once per
    # instrument and cached: math.erf element by element is fast enough for 32k cells).
    erf = np.vectorize(math.erf, otypes=[np.float64])
    upper = erf((c_hi[None, :] - e[:, None]) / (np.sqrt(2.0) * sigma[:, None]))
    lower = erf((c_lo[None, :] - e[:, None]) / (np.sqrt(2.0) * sigma[:, None]))
    matrix: FloatArray = 0.5 * (upper - lower)
    total = matrix.sum(axis=1, keepdims=True)
    matrix = np.where(total > 0, matrix / np.where(total > 0, total, 1.0), 0.0)
    return matrix.astype(np.float64)


def photon_flux(norm: float, index: float, lo: FloatArray, hi: FloatArray) -> FloatArray:
    """Photons / cm² / s in each energy bin of a power law ``norm * E^-index``."""
    if abs(index - 1.0) < 1e-9:
        return norm * np.log(hi / lo)
    p = 1.0 - index
    return norm * (hi**p - lo**p) / p


def band_rate(instrument: str, band: tuple[float, float], norm: float, index: float) -> float:
    """Count rate (counts / s) of a power law in a band, on axis, through ARF and RMF."""
    lo, hi = energy_grid(instrument)
    c_lo, c_hi = channel_grid(instrument)
    counts = (photon_flux(norm, index, lo, hi) * effective_area(instrument)) @ redistribution(
        instrument
    )
    centre = np.sqrt(c_lo * c_hi)
    inside = (centre >= band[0]) & (centre < band[1])
    return float(counts[inside].sum())


@lru_cache(maxsize=16)
def crab_rate(instrument: str, band: str) -> float:
    """The Crab's count rate in a band (counts / s): 1000 mCrab."""
    return band_rate(instrument, BANDS[instrument][band], CRAB_NORM, CRAB_INDEX)


def coded_fraction(instrument: str, offaxis_deg: npt.ArrayLike) -> FloatArray:
    """Fraction of the on-axis sensitivity left at an off-axis angle (1 in the fully coded
    field, falling linearly to 0 at the edge of the partially coded one)."""
    model = INSTRUMENTS[instrument]
    angle = np.asarray(offaxis_deg, dtype=np.float64)
    slope = (angle - model.fully_coded) / (model.zero_response - model.fully_coded)
    return np.clip(1.0 - slope, 0.0, 1.0)


def rate_error(
    instrument: str, band: str, exposure: npt.ArrayLike, bright_rate: npt.ArrayLike = 0.0
) -> FloatArray:
    """1-sigma error (counts / s) of a rate measured with ``exposure`` seconds (already
    reduced by the coded fraction), including 1% systematics on bright sources."""
    model = INSTRUMENTS[instrument]
    exp = np.maximum(np.asarray(exposure, dtype=np.float64), 1.0)
    sigma_mcrab = model.sensitivity[band] / np.sqrt(exp)
    stat = sigma_mcrab / 1000.0 * crab_rate(instrument, band)
    syst = 0.01 * np.abs(np.asarray(bright_rate, dtype=np.float64))
    return np.asarray(np.sqrt(stat**2 + syst**2), dtype=np.float64)


def index_from_hardness(hardness: float) -> float:
    """Photon index of a power law whose 35-60 / 20-35 keV ratio in mCrab is ``hardness``."""
    lever = math.log(math.sqrt(35.0 * 60.0) / math.sqrt(20.0 * 35.0))
    return CRAB_INDEX - math.log(max(hardness, 1e-3)) / lever


def power_law_for(instrument: str, band: str, rate: float, index: float) -> float:
    """The normalisation of a power law of ``index`` that gives ``rate`` in ``band``."""
    unit = band_rate(instrument, BANDS[instrument][band], 1.0, index)
    return rate / unit if unit > 0 else 0.0


# --- variability -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Variability:
    """How one source's flux changes with time: slow waves, and outbursts for transients."""

    periods: tuple[float, ...]
    phases: tuple[float, ...]
    amplitude: float
    outbursts: tuple[float, ...]
    """Peak times (IJD) of outbursts; a transient is faint outside them."""
    quiescence: float


def variability_for(source_id: str, source_class: str, name: str) -> Variability | None:
    """The variability of a bright source (None: constant, e.g. the Crab or faint sources)."""
    if name == "Crab" or name.startswith("IGR "):
        return None
    rng = rng_for("variability", source_id)
    count = 3
    periods = tuple(float(p) for p in np.exp(rng.uniform(math.log(5.0), math.log(2000.0), count)))
    phases = tuple(float(p) for p in rng.uniform(0.0, 2 * math.pi, count))
    transient = "transient" in source_class.lower() or "BH" in source_class
    outbursts: tuple[float, ...] = ()
    if transient:
        outbursts = tuple(float(t) for t in np.sort(rng.uniform(1020.0, 9200.0, 6)))
    amplitude = float(rng.uniform(0.2, 0.5))
    return Variability(periods, phases, amplitude, outbursts, 0.05 if transient else 1.0)


def flux_factor(var: Variability | None, ijd: npt.ArrayLike) -> FloatArray:
    """Multiplier of the catalogue flux at times ``ijd``."""
    t = np.asarray(ijd, dtype=np.float64)
    if var is None:
        return np.ones_like(t)
    wave = sum(
        np.sin(2 * math.pi * t / p + phi) for p, phi in zip(var.periods, var.phases, strict=True)
    )
    factor = np.exp(var.amplitude * np.asarray(wave) / math.sqrt(len(var.periods)))
    if var.outbursts:
        bursts = sum(np.exp(-0.5 * ((t - peak) / 40.0) ** 2) for peak in var.outbursts)
        factor = factor * (var.quiescence + 3.0 * np.asarray(bursts))
    return np.asarray(factor, dtype=np.float64)


# --- products computed from the model ------------------------------------------------------------

FloatPair = tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]

FAST_MIN_SIGNIFICANCE = 5.0
"""A science window enters a sub-ScW light curve (a good-time interval) from this S/N on."""
FAST_MIN_BIN_S = 10.0
"""Shortest bin of a sub-ScW light curve (seconds)."""
INTERVAL_SNR = 50.0
"""S/N accumulated by each interval of time-resolved spectra."""
MAX_INTERVALS = 50
"""Most intervals of a time-resolved spectral series."""

LC_SQL_COLUMNS = (
    "time_ijd",
    "duration",
    "exposure",
    "rate",
    "rate_err",
    "significance",
    "upper_limit",
    "rate_ul",
    "nscw",
)
"""Columns every light-curve query returns, in this order."""


def lightcurve_from_rows(rows: Sequence[Sequence[Any]]) -> LightCurve:
    """A :class:`LightCurve` from rows of :data:`LC_SQL_COLUMNS` (duration in seconds)."""
    arr = np.array(
        [[np.nan if v is None else float(v) for v in row] for row in rows], dtype=np.float64
    ).reshape(-1, len(LC_SQL_COLUMNS))
    return LightCurve(
        time=arr[:, 0],
        timedel=arr[:, 1] / 86400.0,
        rate=arr[:, 3],
        error=arr[:, 4],
        exposure=arr[:, 2],
        significance=arr[:, 5],
        upper_limit=arr[:, 6] > 0.5,
        rate_ul=arr[:, 7],
        nscw=arr[:, 8].astype(np.int32),
    )


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _splitmix64(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """SplitMix64's output function: a well-mixed 64-bit value for each counter."""
    with np.errstate(over="ignore"):
        z = x + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return np.asarray(z ^ (z >> np.uint64(31)), dtype=np.uint64)


def keyed_normals(seeds: npt.NDArray[np.uint64], index: npt.NDArray[np.int64]) -> FloatPair:
    """Two standard normal values for each (seed, index) pair, by counter: the same pair
    always gives the same values, whatever else is drawn (Box-Muller on SplitMix64)."""
    base = seeds * np.uint64(2) + (index.astype(np.uint64) << np.uint64(33))
    u1 = (_splitmix64(base) >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    u2 = (_splitmix64(base + np.uint64(1)) >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    radius = np.sqrt(-2.0 * np.log1p(-u1))
    return radius * np.cos(2 * math.pi * u2), radius * np.sin(2 * math.pi * u2)


def fast_lightcurve(
    rows: Sequence[Sequence[Any]],
    scw_ids: Sequence[str],
    *,
    bin_s: float,
    key: str,
) -> LightCurve:
    """Sub-ScW light curve: each science window detected at ``FAST_MIN_SIGNIFICANCE`` or more
    (its good-time interval) split into bins of exactly ``bin_s`` seconds from its start (a
    last, partial bin is left out rather than given another width).

    The bins scatter around the science window's measured rate with the error their shorter
    exposure implies (plus a little intrinsic flickering). The noise is drawn by counter from
    the source, band, science window and bin number, all at once with numpy: the same bin has
    the same value in every request, whatever time range is asked for.
    """
    arr = np.array([[float(v) for v in row[:6]] for row in rows], dtype=np.float64).reshape(-1, 6)
    t, duration, exposure, rate, err, significance = arr.T
    n = np.where(
        (significance >= FAST_MIN_SIGNIFICANCE) & (duration > 0), duration // bin_s, 0
    ).astype(np.int64)
    chosen = np.flatnonzero(n > 0)
    counts = n[chosen]
    total = int(counts.sum())
    owner = np.repeat(chosen, counts)
    first = np.repeat(np.cumsum(counts) - counts, counts)
    index = np.arange(total, dtype=np.int64) - first
    seeds = np.array(
        [
            int.from_bytes(hashlib.blake2b(f"{key}/{scw_ids[i]}".encode(), digest_size=8).digest())
            for i in chosen.tolist()
        ],
        dtype=np.uint64,
    )
    flicker, noise = keyed_normals(np.repeat(seeds, counts), index)
    bin_err = err[owner] * np.sqrt(duration[owner] / bin_s)
    rates = rate[owner] * (1.0 + 0.05 * flicker) + bin_err * noise
    start = t[owner] - duration[owner] / 2 / 86400.0
    sig = rates / np.where(bin_err > 0, bin_err, 1.0)
    upper = sig < DETECTION_SIGMA
    return LightCurve(
        time=start + (index + 0.5) * bin_s / 86400.0,
        timedel=np.full(total, bin_s / 86400.0),
        rate=rates,
        error=bin_err,
        exposure=exposure[owner] * bin_s / duration[owner],
        significance=sig,
        upper_limit=upper,
        rate_ul=np.where(upper, np.maximum(rates, 0.0) + DETECTION_SIGMA * bin_err, np.nan),
        nscw=np.ones(total, dtype=np.int32),
    )


@dataclass(frozen=True)
class Interval:
    """A time interval of time-resolved spectra (IJD), with the ScWs it holds."""

    index: int
    start: float
    stop: float
    scws: tuple[str, ...]
    exposure: float
    rate: float
    snr: float


def snr_intervals(
    rows: Sequence[Sequence[Any]], scw_ids: Sequence[str], target_snr: float = INTERVAL_SNR
) -> list[Interval]:
    """Consecutive detected science windows grouped until each group reaches ``target_snr``
    (S/N adds in quadrature); the rest of the last group joins the previous one."""
    groups: list[list[int]] = []
    current: list[int] = []
    acc = 0.0
    for i, row in enumerate(rows):
        significance = float(row[5])
        if significance < DETECTION_SIGMA:
            continue
        current.append(i)
        acc += significance**2
        if math.sqrt(acc) >= target_snr:
            groups.append(current)
            current, acc = [], 0.0
    if current:
        if groups:
            groups[-1] += current
        else:
            groups.append(current)
    if len(groups) > MAX_INTERVALS:
        # Merge neighbours so that a very long light curve stays a readable series.
        per = math.ceil(len(groups) / MAX_INTERVALS)
        groups = [
            [i for group in groups[k : k + per] for i in group] for k in range(0, len(groups), per)
        ]
    out = []
    for k, members in enumerate(groups):
        t = [float(rows[i][0]) for i in members]
        d = [float(rows[i][1]) / 86400.0 for i in members]
        exp = np.array([float(rows[i][2]) for i in members])
        rate = np.array([float(rows[i][3]) for i in members])
        sig = np.array([float(rows[i][5]) for i in members])
        mean = float((rate * exp).sum() / exp.sum()) if exp.sum() > 0 else 0.0
        out.append(
            Interval(
                k + 1,
                t[0] - d[0] / 2,
                t[-1] + d[-1] / 2,
                tuple(scw_ids[i] for i in members),
                float(exp.sum()),
                mean,
                float(math.sqrt((sig**2).sum())),
            )
        )
    return out


def spectrum(
    instrument: str,
    *,
    reference_rate: float,
    exposure: float,
    index: float,
    key: str,
    tstart: float,
    tstop: float,
) -> Spectrum:
    """A background-subtracted spectrum of a power law of photon ``index`` whose rate in the
    instrument's default band is ``reference_rate``, observed for ``exposure`` seconds."""
    inst = INSTRUMENTS[instrument]
    lo, hi = energy_grid(instrument)
    c_lo, c_hi = channel_grid(instrument)
    norm = power_law_for(instrument, DEFAULT_BAND[instrument], max(reference_rate, 0.0), index)
    counts = (photon_flux(norm, index, lo, hi) * effective_area(instrument)) @ (
        redistribution(instrument)
    )
    background = inst.background * (c_hi - c_lo) * (c_lo / inst.e_min) ** -0.7
    exp = max(exposure, 1.0)
    err = np.sqrt((np.maximum(counts, 0.0) + 2.0 * background) * exp) / exp
    rng = rng_for("spectrum", key)
    rate = counts + err * rng.standard_normal(len(counts))
    return Spectrum(rate=rate, stat_err=err, exposure=exposure, tstart=tstart, tstop=tstop)


@dataclass(frozen=True)
class Pointing:
    """A pointing contributing to a mosaic."""

    ra: float
    dec: float
    exposure: float


@dataclass(frozen=True)
class SkySource:
    """A source drawn into a mosaic, with its mean on-axis rate in the band."""

    ra: float
    dec: float
    rate: float


def _angles(
    ra: npt.NDArray[np.float64], dec: npt.NDArray[np.float64], ra0: float, dec0: float
) -> npt.NDArray[np.float64]:
    """Angular distances (degrees) of many positions from one."""
    r, d, r0, d0 = np.radians(ra), np.radians(dec), math.radians(ra0), math.radians(dec0)
    cos = np.sin(d) * math.sin(d0) + np.cos(d) * math.cos(d0) * np.cos(r - r0)
    return np.asarray(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))), dtype=np.float64)


def mosaic(
    instrument: str,
    band: str,
    *,
    centre: tuple[float, float],
    pointings: Sequence[Pointing],
    sources: Sequence[SkySource],
    key: str,
    tstart: float,
    tstop: float,
) -> Mosaic:
    """Sky images of one epoch: exposure from every pointing's coded fraction, variance from
    the band's sensitivity, sources as PSF-shaped excesses, and Gaussian noise."""
    inst = INSTRUMENTS[instrument]
    size = round(2 * inst.mosaic_half_deg / inst.pixel_deg)
    wcs = celestial_wcs(centre[0], centre[1], inst.pixel_deg, size)
    yy, xx = np.mgrid[0:size, 0:size]
    ra, dec = wcs.wcs_pix2world(xx.ravel(), yy.ravel(), 0)
    exposure = np.zeros(size * size)
    for p in pointings:
        exposure += p.exposure * coded_fraction(instrument, _angles(ra, dec, p.ra, p.dec))
    crab = crab_rate(instrument, band)
    sens = inst.sensitivity[band] / 1000.0 * crab
    covered = exposure > 1.0
    variance = np.where(covered, sens**2 / np.maximum(exposure, 1.0), 0.0)
    sigma = np.sqrt(variance)
    rng = rng_for("mosaic", key)
    intensity = np.where(covered, sigma * rng.standard_normal(size * size), 0.0)
    px, py = wcs.wcs_world2pix(
        np.array([s.ra for s in sources]), np.array([s.dec for s in sources]), 0
    )
    psf = inst.psf_sigma_deg / inst.pixel_deg
    for s, x, y in zip(sources, np.atleast_1d(px), np.atleast_1d(py), strict=True):
        if not (0 <= x < size and 0 <= y < size):
            continue
        profile = np.exp(-0.5 * ((xx.ravel() - x) ** 2 + (yy.ravel() - y) ** 2) / psf**2)
        intensity += np.where(covered, s.rate * profile, 0.0)
    significance = np.where(covered, intensity / np.where(sigma > 0, sigma, 1.0), 0.0)
    shape = (size, size)
    return Mosaic(
        intensity=intensity.reshape(shape).astype(np.float32),
        variance=variance.reshape(shape).astype(np.float32),
        significance=significance.reshape(shape).astype(np.float32),
        exposure=exposure.reshape(shape).astype(np.float32),
        wcs=wcs,
        tstart=tstart,
        tstop=tstop,
    )


OMC_PIXEL_DEG = 17.504 / 3600.0
"""OMC's pixel size (17.5 arcsec)."""


def omc_image(
    ra: float, dec: float, magnitude: float, key: str
) -> tuple[npt.NDArray[np.float32], object]:
    """An 11 x 11 pixel OMC postage stamp (counts/s) of a star of V ``magnitude``."""
    size = 11
    wcs = celestial_wcs(ra, dec, OMC_PIXEL_DEG, size)
    yy, xx = np.mgrid[0:size, 0:size]
    flux = 10 ** (-0.4 * (magnitude - 10.0)) * 5000.0
    star = flux * np.exp(-0.5 * ((xx - 5) ** 2 + (yy - 5) ** 2) / 0.9**2) / (2 * math.pi * 0.81)
    rng = rng_for("omc-image", key)
    sky = 20.0 + np.sqrt(20.0 + star) * rng.standard_normal((size, size))
    return (star + sky).astype(np.float32), wcs


# --- PNG previews ------------------------------------------------------------------------------


def png(image: npt.NDArray[np.floating], *, flip: bool = True) -> bytes:
    """An 8-bit greyscale PNG of ``image`` (asinh stretch between the 1st and 99.7th
    percentiles; FITS row 0 is the bottom, so rows are flipped for display).

    Written by hand on purpose: a PNG is a zlib stream of filtered rows in three chunks, a
    dozen lines with numpy and zlib, while an imaging library (Pillow, matplotlib) would be a
    heavy dependency for this one use.
    """
    data = np.nan_to_num(np.asarray(image, dtype=np.float64))
    lo, hi = np.percentile(data, [1.0, 99.7]) if data.size else (0.0, 1.0)
    span = hi - lo if hi > lo else 1.0
    scaled = np.arcsinh(np.clip((data - lo) / span, 0.0, 1.0) * 10.0) / math.asinh(10.0)
    pixels = (scaled * 255.0).round().astype(np.uint8)
    if flip:
        pixels = pixels[::-1]
    height, width = pixels.shape
    raw = b"".join(b"\x00" + pixels[row].tobytes() for row in range(height))

    def chunk(tag: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(tag + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )


# --- fetching and building ----------------------------------------------------------------------

EPOCH_RE = re.compile(r"^(\d{4})_(\d{11})$")


class NotFound(LookupError):  # noqa: N818 - maps to HTTP 404 Not Found
    """Something named in a request does not exist; ``nearby`` lists what does."""

    def __init__(self, message: str, nearby: dict[str, Any] | None = None) -> None:
        """Keep the message and the alternatives for the problem document."""
        super().__init__(message)
        self.nearby = nearby or {}


class BadRequest(ValueError):  # noqa: N818 - maps to HTTP 400 Bad Request
    """A request that cannot be satisfied as asked (impossible range, bad binning)."""


# --- identifiers ---------------------------------------------------------------------------


def product_id(kind: str, instrument: str, scope: str, *rest: str) -> str:
    """``kind/instrument/scope[/...]``, e.g. ``spectrum/ISGRI/mission/J053432.0+220052``."""
    return "/".join((kind, instrument, scope, *rest))


def file_stem(name: str) -> str:
    """A source name usable in file names (as ISLA writes them: spaces to underscores)."""
    return re.sub(r"[^A-Za-z0-9+.\-]+", "_", name).strip("_") or "source"


def ijd_to_mjd(ijd: float) -> float:
    """IJD to MJD (TT)."""
    return ijd + MJDREF


# --- reference data ------------------------------------------------------------------------


@dataclass(frozen=True)
class Band:
    """An energy band of ``isla.energy_bands``."""

    band_id: int
    instrument: str
    name: str
    e_min: float
    e_max: float


def fetch_bands(conn: Connection) -> dict[tuple[str, str], Band]:
    """The ISGRI and JEM-X bands, by (instrument, name)."""
    rows = conn.execute(
        text(
            "SELECT band_id, instrument, name, e_min, e_max FROM isla.energy_bands "
            "WHERE instrument IN ('ISGRI', 'JEM-X') ORDER BY band_id"
        )
    ).all()
    return {(r[1], r[2]): Band(int(r[0]), r[1], r[2], float(r[3]), float(r[4])) for r in rows}


def resolve_band(
    bands: dict[tuple[str, str], Band], instrument: str | None, band: str | None
) -> Band:
    """The band asked for (default: ISLA's band of the instrument); NotFound lists the others."""
    inst = normalise_instrument(instrument or "ISGRI")
    name = band or DEFAULT_BAND[inst]
    found = bands.get((inst, name))
    if found is None:
        known = [b.name for b in bands.values() if b.instrument == inst]
        raise NotFound(f"{inst} has no band {name!r}", {"bands": known, "instrument": inst})
    return found


_INSTRUMENT_NAMES = {"isgri": "ISGRI", "ibis": "ISGRI", "jem-x": "JEM-X", "jemx": "JEM-X"}


def normalise_instrument(name: str) -> str:
    """ISGRI or JEM-X from the usual spellings; NotFound for other instruments."""
    inst = _INSTRUMENT_NAMES.get(name.strip().lower())
    if inst is None:
        raise NotFound(
            f"no light curves, spectra or mosaics for instrument {name!r}",
            {"instruments": ["ISGRI", "JEM-X"]},
        )
    return inst


@dataclass
class SourceRecord:
    """A source of the catalogue with what products need of it."""

    source_id: str
    name: str
    ra: float
    dec: float
    source_class: str
    pos_err: float | None
    detected: dict[str, bool]
    fluxes: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    """(flux, error) in mCrab per ``instrument:band``."""

    @property
    def target(self) -> ogip.Target:
        """The source as FITS headers name it."""
        return ogip.Target(self.source_id, self.name, self.ra, self.dec)

    def index(self) -> float:
        """Photon index from the catalogue's ISGRI hardness (Crab-like when unknown)."""
        soft = self.fluxes.get("ISGRI:20_35", (None, None))[0]
        hard = self.fluxes.get("ISGRI:35_60", (None, None))[0]
        if soft and hard and soft > 0 and hard > 0:
            return min(max(index_from_hardness(hard / soft), 1.0), 4.0)
        return CRAB_INDEX


def fetch_source(conn: Connection, source_id: str) -> SourceRecord | None:
    """The source ``source_id`` with its catalogue fluxes, or None."""
    row = conn.execute(
        text(
            "SELECT source_id, name, ra, dec, source_class, pos_err, det_isgri, det_picsit, "
            "det_jemx, det_spi, det_omc FROM isla.sources WHERE source_id = :s"
        ),
        {"s": source_id},
    ).first()
    if row is None:
        return None
    record = SourceRecord(
        row[0],
        row[1],
        float(row[2]),
        float(row[3]),
        row[4],
        row[5],
        dict(
            zip(
                ("ISGRI", "PICsIT", "JEM-X", "SPI", "OMC"),
                (bool(v) for v in row[6:11]),
                strict=True,
            )
        ),
    )
    for instrument, band, flux, err in conn.execute(
        text(
            "SELECT e.instrument, e.name, f.flux, f.flux_err FROM isla.source_fluxes f "
            "JOIN isla.energy_bands e USING (band_id) WHERE f.source_id = :s "
            "ORDER BY e.band_id, f.catalogue_id DESC"
        ),
        {"s": source_id},
    ):
        record.fluxes.setdefault(f"{instrument}:{band}", (flux, err))
    return record


def nearby_sources(conn: Connection, text_id: str, limit: int = 5) -> list[dict[str, Any]]:
    """The sources nearest to the position a source id encodes (for 404 hints); BadRequest
    when ``text_id`` is not a source id at all."""
    try:
        ra, dec = parse_source_id(text_id).position
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    rows = conn.execute(
        text(
            "SELECT source_id, name, degrees(pos <-> spoint(radians(:ra), radians(:dec))) AS d "
            "FROM isla.sources ORDER BY pos <-> spoint(radians(:ra), radians(:dec)) LIMIT :n"
        ),
        {"ra": ra, "dec": dec, "n": limit},
    ).all()
    return [{"source_id": r[0], "name": r[1], "distance_deg": round(float(r[2]), 4)} for r in rows]


# --- light curves ----------------------------------------------------------------------------

_POINTS_SQL = (
    "SELECT time_ijd, duration, exposure, rate, rate_err, significance, "
    "upper_limit::int, rate_ul, 1 AS nscw, scw_id FROM isla.lightcurve_points "
    "WHERE source_id = :s AND band_id = :b AND time_ijd >= :t0 AND time_ijd < :t1 "
    "ORDER BY scw_id"
)

# Exposure-weighted means per group (a revolution, or a time bin), computed by Postgres.
_BINNED_SQL = """
WITH g AS (
    SELECT {group} AS k,
           min(time_ijd - duration / 172800.0) AS t0,
           max(time_ijd + duration / 172800.0) AS t1,
           sum(exposure) AS exposure,
           sum(rate * exposure) / sum(exposure) AS rate,
           sqrt(sum((rate_err * exposure) ^ 2)) / sum(exposure) AS rate_err,
           count(*) AS nscw
      FROM isla.lightcurve_points
     WHERE source_id = :s AND band_id = :b AND time_ijd >= :t0 AND time_ijd < :t1
       AND exposure > 0
     GROUP BY k)
SELECT (t0 + t1) / 2, (t1 - t0) * 86400.0, exposure, rate, rate_err, rate / rate_err,
       (rate / rate_err < {sigma})::int,
       CASE WHEN rate / rate_err < {sigma} THEN greatest(rate, 0) + {sigma} * rate_err END,
       nscw, k::text
  FROM g ORDER BY t0
"""


def points_sql() -> str:
    """SQL of the per-ScW points of one source and band in [t0, t1) (IJD)."""
    return _POINTS_SQL


def binned_sql(binning: str) -> str:
    """SQL of a light curve binned by ``revolution`` or by a bin width in seconds (``:w``)."""
    group = "revolution" if binning == "revolution" else "floor(time_ijd * 86400.0 / :w)"
    return _BINNED_SQL.format(group=group, sigma=DETECTION_SIGMA)


LightCurveRows = tuple[list[tuple[Any, ...]], list[str]]
"""Light-curve rows (:data:`LC_SQL_COLUMNS`) and one key per row."""


@dataclass(frozen=True)
class Binning:
    """How a light curve is binned: per ScW, per revolution, or in bins of ``seconds``."""

    kind: str
    seconds: float = 0.0

    @property
    def is_sub_scw(self) -> bool:
        """Bins shorter than :data:`FAST_LIMIT_S`: science windows are split, not grouped."""
        return self.kind == "seconds" and self.seconds < FAST_LIMIT_S

    @property
    def label(self) -> str:
        """The binning as requests spell it."""
        return self.kind if self.kind != "seconds" else f"{self.seconds:g}"


def parse_binning(value: str | None) -> Binning:
    """``scw`` (default), ``revolution`` or a positive number of seconds."""
    if value is None or value.lower() == "scw":
        return Binning("scw")
    if value.lower() in ("revolution", "rev"):
        return Binning("revolution")
    try:
        seconds = float(value)
    except ValueError:
        raise BadRequest(
            f"binning {value!r} is not scw, revolution or a number of seconds"
        ) from None
    if not math.isfinite(seconds) or seconds < FAST_MIN_BIN_S:
        raise BadRequest(f"binning {value!r}: a bin must be at least {FAST_MIN_BIN_S:g} s long")
    return Binning("seconds", seconds)


FAST_LIMIT_S = 3600.0
"""Bins shorter than this split science windows (sub-ScW light curves); longer ones group
science windows (exposure-weighted in SQL)."""


def fetch_lightcurve(
    conn: Connection,
    source_id: str,
    band: Band,
    binning: Binning,
    t0: float,
    t1: float,
) -> LightCurveRows:
    """Rows of :data:`LC_SQL_COLUMNS` plus a key per row (ScW id, revolution or bin)."""
    params = {"s": source_id, "b": band.band_id, "t0": t0, "t1": t1}
    if binning.kind == "scw" or binning.is_sub_scw:
        # Sub-ScW bins are cut from the per-ScW points in Python (build_lightcurve).
        sql = _POINTS_SQL
    else:
        sql = binned_sql(binning.kind)
        params["w"] = binning.seconds
    rows = conn.execute(text(sql), params).all()
    return [tuple(r[:9]) for r in rows], [str(r[9]) for r in rows]


def build_lightcurve(
    rows: Sequence[Sequence[Any]], keys: Sequence[str], binning: Binning, key: str
) -> ogip.LightCurve:
    """The light curve of fetched rows (sub-ScW bins computed here when asked)."""
    if binning.is_sub_scw:
        return fast_lightcurve(rows, keys, bin_s=binning.seconds, key=key)
    return lightcurve_from_rows(rows)


# --- epochs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EpochPointing:
    """One pointing of an epoch."""

    scw_id: str
    ra: float
    dec: float
    isgri_exposure: float
    jemx_exposure: float
    start: float
    stop: float

    def exposure(self, instrument: str) -> float:
        """The instrument's exposure (JEM-X: both units together)."""
        return self.isgri_exposure if instrument == "ISGRI" else self.jemx_exposure


@dataclass
class EpochRecord:
    """An ISLA epoch: one observation within one revolution."""

    epoch: str
    revolution: int
    obsid: str
    ra: float
    dec: float
    target: str
    pointings: list[EpochPointing]

    @property
    def start(self) -> float:
        """Start of the first pointing (IJD)."""
        return min(p.start for p in self.pointings)

    @property
    def stop(self) -> float:
        """End of the last pointing (IJD)."""
        return max(p.stop for p in self.pointings)

    def exposed(self, instrument: str) -> list[EpochPointing]:
        """The pointings with exposure of ``instrument``."""
        return [p for p in self.pointings if p.exposure(instrument) > 0]


def parse_epoch(value: str) -> tuple[int, str]:
    """(revolution, obsid) of ``RRRR_OOOOOOOOOOO``; BadRequest otherwise."""
    match = EPOCH_RE.match(value)
    if not match:
        raise BadRequest(
            f"epoch {value!r} is not of the form RRRR_OOOOOOOOOOO (e.g. 0727_88601650001)"
        )
    return int(match.group(1)), match.group(2)


def fetch_epoch(conn: Connection, epoch: str) -> EpochRecord:
    """The epoch and its pointings; NotFound lists the epochs of the same revolution."""
    revolution, obsid = parse_epoch(epoch)
    obs = conn.execute(
        text("SELECT ra, dec, target_name FROM isla.observations WHERE obsid = :o"), {"o": obsid}
    ).first()
    rows = conn.execute(
        text(
            "SELECT scw_id, ra, dec, coalesce(isgri_exposure, 0), "
            "coalesce(jemx1_exposure, 0) + coalesce(jemx2_exposure, 0), start_ijd, end_ijd "
            "FROM isla.science_windows WHERE revolution = :r AND obsid = :o "
            "AND scw_type = 'pointing' ORDER BY scw_id"
        ),
        {"r": revolution, "o": obsid},
    ).all()
    if obs is None or not rows:
        raise NotFound(f"no epoch {epoch}", {"epochs": epochs_of_revolution(conn, revolution)})
    return EpochRecord(
        epoch,
        revolution,
        obsid,
        float(obs[0]),
        float(obs[1]),
        obs[2],
        [
            EpochPointing(
                r[0], float(r[1]), float(r[2]), float(r[3]), float(r[4]), float(r[5]), float(r[6])
            )
            for r in rows
        ],
    )


def epochs_of_revolution(conn: Connection, revolution: int) -> list[str]:
    """The epochs (RRRR_OOOOOOOOOOO) of one revolution."""
    rows = conn.execute(
        text(
            "SELECT DISTINCT obsid FROM isla.science_windows WHERE revolution = :r "
            "AND obsid IS NOT NULL AND scw_type = 'pointing' ORDER BY obsid"
        ),
        {"r": revolution},
    ).all()
    return [f"{revolution:04d}_{r[0]}" for r in rows]


# --- spectra -------------------------------------------------------------------------------


@dataclass
class SpectrumData:
    """What a spectrum is computed from: the default-band points of its science windows."""

    source: SourceRecord
    instrument: str
    scope: str
    """``mission``, an epoch, or ``intervalNN``."""
    scws: list[str]
    reference_rate: float
    exposure: float
    tstart: float
    tstop: float
    revolution: int | None = None


def _spectrum_from_rows(
    source: SourceRecord,
    instrument: str,
    scope: str,
    rows: Sequence[Sequence[Any]],
    revolution: int | None,
) -> SpectrumData:
    exposure = sum(float(r[2]) for r in rows)
    rate = sum(float(r[3]) * float(r[2]) for r in rows) / exposure if exposure > 0 else 0.0
    tstart = min(float(r[0]) - float(r[1]) / 172800.0 for r in rows)
    tstop = max(float(r[0]) + float(r[1]) / 172800.0 for r in rows)
    return SpectrumData(
        source,
        instrument,
        scope,
        [str(r[9]) for r in rows],
        rate,
        exposure,
        tstart,
        tstop,
        revolution,
    )


def fetch_spectrum(
    conn: Connection,
    source: SourceRecord,
    instrument: str,
    scope: str,
    bands: dict[tuple[str, str], Band],
) -> SpectrumData:
    """Data of the spectrum of ``source`` for ``scope``: ``mission``, an epoch or
    ``intervalNN`` (the S/N-driven intervals of :func:`fetch_intervals`)."""
    band = bands[(instrument, DEFAULT_BAND[instrument])]
    params: dict[str, Any] = {"s": source.source_id, "b": band.band_id}
    if scope == "mission":
        rows = conn.execute(text(_POINTS_SQL), {**params, "t0": -1e9, "t1": 1e9}).all()
        if not rows:
            raise NotFound(
                f"{instrument} never observed {source.source_id}",
                {"instruments": observed_instruments(conn, source.source_id)},
            )
        return _spectrum_from_rows(source, instrument, scope, rows, None)
    if scope.startswith("interval"):
        intervals = fetch_intervals(conn, source, instrument, bands)
        try:
            number = int(scope.removeprefix("interval"))
            if number < 1:
                raise IndexError(number)
            chosen = intervals[number - 1]
        except (ValueError, IndexError):
            raise NotFound(
                f"{source.source_id} has no {instrument} interval {scope!r}",
                {"intervals": [f"interval{i.index:02d}" for i in intervals]},
            ) from None
        rows = conn.execute(
            text(
                "SELECT time_ijd, duration, exposure, rate, rate_err, significance, "
                "upper_limit::int, rate_ul, 1, scw_id FROM isla.lightcurve_points "
                "WHERE source_id = :s AND band_id = :b AND scw_id = ANY(:ids) ORDER BY scw_id"
            ),
            {**params, "ids": list(chosen.scws)},
        ).all()
        return _spectrum_from_rows(source, instrument, scope, rows, None)
    revolution, obsid = parse_epoch(scope)
    rows = conn.execute(
        text(
            "SELECT p.time_ijd, p.duration, p.exposure, p.rate, p.rate_err, p.significance, "
            "p.upper_limit::int, p.rate_ul, 1, p.scw_id FROM isla.lightcurve_points p "
            "JOIN isla.science_windows w ON w.scw_id = p.scw_id "
            "WHERE p.source_id = :s AND p.band_id = :b AND w.revolution = :r AND w.obsid = :o "
            "ORDER BY p.scw_id"
        ),
        {**params, "r": revolution, "o": obsid},
    ).all()
    if not rows:
        raise NotFound(
            f"{instrument} did not observe {source.source_id} in epoch {scope}",
            {"epochs": source_epochs(conn, source.source_id, band.band_id)},
        )
    return _spectrum_from_rows(source, instrument, scope, rows, revolution)


def fetch_intervals(
    conn: Connection, source: SourceRecord, instrument: str, bands: dict[tuple[str, str], Band]
) -> list[Interval]:
    """The S/N-driven intervals of a source's default-band light curve."""
    band = bands[(instrument, DEFAULT_BAND[instrument])]
    rows = conn.execute(
        text(_POINTS_SQL), {"s": source.source_id, "b": band.band_id, "t0": -1e9, "t1": 1e9}
    ).all()
    return snr_intervals([tuple(r[:9]) for r in rows], [str(r[9]) for r in rows])


def source_epochs(conn: Connection, source_id: str, band_id: int, limit: int = 20) -> list[str]:
    """Epochs in which a source has points in a band (most recent last)."""
    rows = conn.execute(
        text(
            "SELECT DISTINCT w.revolution, w.obsid FROM isla.lightcurve_points p "
            "JOIN isla.science_windows w ON w.scw_id = p.scw_id "
            "WHERE p.source_id = :s AND p.band_id = :b AND w.obsid IS NOT NULL "
            "ORDER BY w.revolution, w.obsid LIMIT :n"
        ),
        {"s": source_id, "b": band_id, "n": limit},
    ).all()
    return [f"{r[0]:04d}_{r[1]}" for r in rows]


def observed_instruments(conn: Connection, source_id: str) -> list[str]:
    """Instruments with light-curve points of a source."""
    rows = conn.execute(
        text("SELECT DISTINCT instrument FROM isla.lightcurve_points WHERE source_id = :s"),
        {"s": source_id},
    ).all()
    return sorted(r[0] for r in rows)


def build_spectrum(data: SpectrumData) -> ogip.Spectrum:
    """The spectrum's channels (deterministic for the source, instrument and scope)."""
    return spectrum(
        data.instrument,
        reference_rate=data.reference_rate,
        exposure=data.exposure,
        index=data.source.index(),
        key=f"{data.source.source_id}/{data.instrument}/{data.scope}",
        tstart=data.tstart,
        tstop=data.tstop,
    )


RESPONSE_SCOPE = "standard"
"""Scope of the (one per instrument) response products."""


def response_names(instrument: str) -> tuple[str, str]:
    """File names of the instrument's (RMF, ARF)."""
    stem = instrument.replace("-", "")
    return f"{stem}_rmf.fits", f"{stem}_arf.fits"


def spectrum_file(data: SpectrumData, prov_date: datetime | None = None) -> bytes:
    """The PHA file of a spectrum, pointing at the instrument's RMF and ARF file names."""
    rmf, arf = response_names(data.instrument)
    return ogip.spectrum_fits(
        build_spectrum(data),
        instrument=data.instrument,
        target=data.source.target,
        prov=provenance(data.scws, prov_date),
        respfile=rmf,
        ancrfile=arf,
        revolution=data.revolution,
    )


def provenance(scws: Sequence[str], date: datetime | None = None) -> ogip.Provenance:
    """Provenance of a product made now (or at ``date``) from ``scws``."""
    return ogip.Provenance(list(scws), date or datetime.now(UTC))


# --- mosaics -----------------------------------------------------------------------------------


@dataclass
class MosaicData:
    """What a mosaic is computed from."""

    epoch: EpochRecord
    band: Band
    sources: list[SkySource]


def fetch_mosaic(conn: Connection, epoch: str, band: Band) -> MosaicData:
    """The epoch's pointings and the mean rate of every source seen in the band."""
    record = fetch_epoch(conn, epoch)
    rows = conn.execute(
        text(
            "SELECT s.ra, s.dec, sum(p.rate * p.exposure) / nullif(sum(p.exposure), 0) "
            "FROM isla.lightcurve_points p JOIN isla.sources s ON s.source_id = p.source_id "
            "JOIN isla.science_windows w ON w.scw_id = p.scw_id "
            "WHERE p.band_id = :b AND w.revolution = :r AND w.obsid = :o "
            "GROUP BY s.source_id, s.ra, s.dec"
        ),
        {"b": band.band_id, "r": record.revolution, "o": record.obsid},
    ).all()
    sources = [SkySource(float(r[0]), float(r[1]), float(r[2] or 0.0)) for r in rows]
    return MosaicData(record, band, sources)


def build_mosaic(data: MosaicData) -> ogip.Mosaic:
    """The mosaic's images."""
    instrument = data.band.instrument
    pointings = [
        Pointing(p.ra, p.dec, p.exposure(instrument)) for p in data.epoch.exposed(instrument)
    ]
    return mosaic(
        data.band.instrument,
        data.band.name,
        centre=(data.epoch.ra, data.epoch.dec),
        pointings=pointings,
        sources=data.sources,
        key=f"{data.epoch.epoch}/{data.band.instrument}/{data.band.name}",
        tstart=data.epoch.start,
        tstop=data.epoch.stop,
    )


def mosaic_file(data: MosaicData, image: ogip.Mosaic, prov_date: datetime | None = None) -> bytes:
    """The mosaic's FITS file."""
    return ogip.mosaic_fits(
        image,
        instrument=data.band.instrument,
        band=(data.band.e_min, data.band.e_max),
        prov=provenance([p.scw_id for p in data.epoch.exposed(data.band.instrument)], prov_date),
        epoch=data.epoch.epoch,
    )
