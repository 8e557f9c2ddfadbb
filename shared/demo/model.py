"""The instrument and source model of the demo pipeline, which simulates the demo archive.

One place says how bright a source looks to ISGRI and JEM-X, how noisy a measurement is, what
the responses (ARF, RMF) are and how a source varies, so that light-curve points written by the
demo generator, spectra and mosaics computed by the products service, and the stored product
files all agree with each other: a spectrum folded through its ARF and RMF gives back the rates
of the light curve in the same band and time range.

Everything is deterministic: random numbers come from ``numpy.random.default_rng`` streams keyed
by stable strings (source, science window, band), never from global state.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

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
