"""The demo pipeline's simulation of science products from the light-curve points: sub-ScW
(fast) light curves, S/N-driven intervals, spectra, mosaics and OMC images.

Pure functions on arrays (no I/O), deterministic: noise is drawn from streams keyed by the
product (:func:`shared.demo.model.rng_for`) or by counter (:func:`keyed_normals`). They run
only when the demo archive is made; the files they make are delivered through ingestion.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from astropy.coordinates import angular_separation

from shared.demo import model
from shared.products.ogip import LightCurve, Mosaic, Spectrum, celestial_wcs

# Light curves are read from the points the one way the products service reads them.
from shared.products.views import LC_SQL_COLUMNS as LC_SQL_COLUMNS
from shared.products.views import lightcurve_from_rows as lightcurve_from_rows

FloatPair = tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]

FAST_MIN_SIGNIFICANCE = 5.0
"""A science window enters a sub-ScW light curve (a good-time interval) from this S/N on."""
FAST_MIN_BIN_S = 10.0
"""Shortest bin of a sub-ScW light curve (seconds)."""
INTERVAL_SNR = 50.0
"""S/N accumulated by each interval of time-resolved spectra."""
MAX_INTERVALS = 50
"""Most intervals of a time-resolved spectral series."""

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
    upper = sig < model.DETECTION_SIGMA
    return LightCurve(
        time=start + (index + 0.5) * bin_s / 86400.0,
        timedel=np.full(total, bin_s / 86400.0),
        rate=rates,
        error=bin_err,
        exposure=exposure[owner] * bin_s / duration[owner],
        significance=sig,
        upper_limit=upper,
        rate_ul=np.where(upper, np.maximum(rates, 0.0) + model.DETECTION_SIGMA * bin_err, np.nan),
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
        if significance < model.DETECTION_SIGMA:
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
    inst = model.INSTRUMENTS[instrument]
    lo, hi = model.energy_grid(instrument)
    c_lo, c_hi = model.channel_grid(instrument)
    norm = model.power_law_for(
        instrument, model.DEFAULT_BAND[instrument], max(reference_rate, 0.0), index
    )
    counts = (model.photon_flux(norm, index, lo, hi) * model.effective_area(instrument)) @ (
        model.redistribution(instrument)
    )
    background = inst.background * (c_hi - c_lo) * (c_lo / inst.e_min) ** -0.7
    exp = max(exposure, 1.0)
    err = np.sqrt((np.maximum(counts, 0.0) + 2.0 * background) * exp) / exp
    rng = model.rng_for("spectrum", key)
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
    return np.asarray(np.degrees(angular_separation(r, d, r0, d0)), dtype=np.float64)


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
    inst = model.INSTRUMENTS[instrument]
    size = round(2 * inst.mosaic_half_deg / inst.pixel_deg)
    wcs = celestial_wcs(centre[0], centre[1], inst.pixel_deg, size)
    yy, xx = np.mgrid[0:size, 0:size]
    ra, dec = wcs.wcs_pix2world(xx.ravel(), yy.ravel(), 0)
    exposure = np.zeros(size * size)
    for p in pointings:
        exposure += p.exposure * model.coded_fraction(instrument, _angles(ra, dec, p.ra, p.dec))
    crab = model.crab_rate(instrument, band)
    sens = inst.sensitivity[band] / 1000.0 * crab
    covered = exposure > 1.0
    variance = np.where(covered, sens**2 / np.maximum(exposure, 1.0), 0.0)
    sigma = np.sqrt(variance)
    rng = model.rng_for("mosaic", key)
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
    rng = model.rng_for("omc-image", key)
    sky = 20.0 + np.sqrt(20.0 + star) * rng.standard_normal((size, size))
    return (star + sky).astype(np.float32), wcs
