"""Upper limits from stored sensitivity data: the conventions and the arithmetic, no model.

A pipeline delivers, per instrument and band, its **sensitivity table** (ingest kind
``sensitivity``): one row per HEALPix pixel (ICRS, NESTED, order ``HPXORDER``) and science
window, with the effective exposure at the pixel (dead-time corrected exposure times the coded
fraction at the pixel's off-axis angle) and the 1σ count-rate sensitivity there
(``RATE_SIG``, counts/s: the error a source's rate would have). Ingestion stores it
pixel-major (``isla.sensitivity``): per band and pixel, one row of arrays over science windows
and one over revolutions, so that a position's whole-mission curve is one indexed read.

What a request does with it is arithmetic on stored numbers:

- bins are combined with inverse-variance weights (background-limited data: independent
  measurements), ``σ = (Σ σᵢ⁻²)^-½``, exposures add up;
- the n-σ upper limit of the count rate is ``n × σ``;
- count rate → mCrab with the Crab's count rate in the band (``CRABRATE``, delivered with the
  table: the instrument team's calibration);
- mCrab → erg cm⁻² s⁻¹ as the energy flux in the band of a power law of photon index 2 with the
  photon flux density of that fraction of the Crab at the band's logarithmic centre (the Crab:
  ``10 E^-2.1`` photons cm⁻² s⁻¹ keV⁻¹, E in keV), see :func:`erg_per_mcrab`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

SENSITIVITY_KIND = "sensitivity"
"""The ingest kind of a sensitivity table."""

SENSITIVITY_EXTNAME = "SENSITIVITY"
"""EXTNAME (and HDUCLAS1) of the table HDU of a sensitivity delivery."""

SENSITIVITY_COLUMNS = ("HPX", "SCW_ID", "REVOL", "TSTART", "TSTOP", "EXPOSURE", "RATE_SIG")
"""The columns a sensitivity table must have (TSTART/TSTOP in the file's time system)."""

MAX_ORDER = 13
"""Finest HEALPix order a sensitivity table may use (nside 8192, 26 arcsec pixels)."""

SIGMAS = (1, 2, 3)
"""The confidence levels (in σ) an upper limit may be asked for."""

BINNINGS = ("mission", "revolution", "scw")
"""How an upper-limit curve may be binned."""

CRAB_NORM = 10.0
"""The Crab's photon flux density at 1 keV (photons cm⁻² s⁻¹ keV⁻¹) used for flux units."""
CRAB_INDEX = 2.1
"""The Crab's photon index used for flux units."""
UL_PHOTON_INDEX = 2.0
"""Photon index of the power law a flux limit assumes (as HILIGT's default)."""
KEV_TO_ERG = 1.602176634e-9
"""One keV in erg."""

FloatArray = npt.NDArray[np.float64]


def erg_per_mcrab(e_min: float, e_max: float) -> float:
    """Energy flux (erg cm⁻² s⁻¹) in [e_min, e_max] keV of 1 mCrab, for a power law of photon
    index 2 whose photon flux density equals 1 mCrab's at the band's logarithmic centre
    ``E_c = √(e_min e_max)``: ``K = 10⁻³ · CRAB_NORM · E_c^(2 - 2.1)``, energy flux
    ``K · ln(e_max / e_min)`` keV cm⁻² s⁻¹."""
    if not (0 < e_min < e_max):
        raise ValueError(f"not a band: {e_min}-{e_max} keV")
    centre = math.sqrt(e_min * e_max)
    norm = 1e-3 * CRAB_NORM * centre ** (UL_PHOTON_INDEX - CRAB_INDEX)
    return norm * math.log(e_max / e_min) * KEV_TO_ERG


def combined_sigma(sigmas: npt.ArrayLike) -> float:
    """The 1σ sensitivity of independent measurements taken together (inverse variance)."""
    s = np.asarray(sigmas, dtype=np.float64)
    s = s[np.isfinite(s) & (s > 0)]
    if s.size == 0:
        return math.nan
    return float(1.0 / math.sqrt(float(np.sum(1.0 / s**2))))


def group_sigma(sigmas: FloatArray, starts: npt.NDArray[np.intp]) -> FloatArray:
    """Inverse-variance combination of consecutive runs of ``sigmas`` beginning at ``starts``
    (``np.add.reduceat`` groups)."""
    inv = np.add.reduceat(1.0 / np.asarray(sigmas, dtype=np.float64) ** 2, starts)
    return np.asarray(1.0 / np.sqrt(inv), dtype=np.float64)


@dataclass(frozen=True)
class Bins:
    """A sensitivity curve at one pixel: bins in time order."""

    ids: npt.NDArray[np.int64]
    """Revolution numbers, or ScW ids as integers."""
    t_start: FloatArray
    """Start of each bin (IJD)."""
    t_stop: FloatArray
    """End of each bin (IJD)."""
    exposure: FloatArray
    """Effective exposure (s)."""
    rate_sigma: FloatArray
    """1σ count-rate sensitivity (counts/s)."""
    nscw: npt.NDArray[np.int64]
    """Science windows in each bin."""

    def __len__(self) -> int:
        """Number of bins."""
        return int(self.ids.size)

    def within(self, t0: float, t1: float) -> Bins:
        """The bins that overlap [t0, t1) (IJD)."""
        keep = (self.t_stop > t0) & (self.t_start < t1)
        return Bins(
            self.ids[keep],
            self.t_start[keep],
            self.t_stop[keep],
            self.exposure[keep],
            self.rate_sigma[keep],
            self.nscw[keep],
        )

    def total(self) -> Bins:
        """All bins as one (empty when there are none)."""
        if len(self) == 0:
            return self
        return Bins(
            np.array([0], dtype=np.int64),
            np.array([self.t_start.min()]),
            np.array([self.t_stop.max()]),
            np.array([self.exposure.sum()]),
            np.array([combined_sigma(self.rate_sigma)]),
            np.array([int(self.nscw.sum())], dtype=np.int64),
        )


def by_revolution(
    revolutions: npt.NDArray[np.int64],
    t_start: FloatArray,
    t_stop: FloatArray,
    exposure: FloatArray,
    rate_sigma: FloatArray,
) -> Bins:
    """Per-ScW bins (any order) grouped into per-revolution bins, in time order."""
    order = np.lexsort((t_start, revolutions))
    rev = revolutions[order]
    starts = np.flatnonzero(np.r_[True, rev[1:] != rev[:-1]]) if rev.size else np.array([], int)
    if rev.size == 0:
        empty = np.array([], dtype=np.float64)
        return Bins(np.array([], dtype=np.int64), empty, empty, empty, empty, np.array([], int))
    counts = np.diff(np.r_[starts, rev.size])
    return Bins(
        rev[starts].astype(np.int64),
        np.minimum.reduceat(t_start[order], starts),
        np.maximum.reduceat(t_stop[order], starts),
        np.add.reduceat(exposure[order], starts),
        group_sigma(rate_sigma[order], starts),
        counts.astype(np.int64),
    )
