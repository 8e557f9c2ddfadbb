"""The demo's gamma-ray bursts: a simulated IBAS catalogue, SPI spectral fits and their products.

Made at load time from the demo's own observing history, then delivered through ingestion
like a team's: the catalogues through the catalogue interfaces (``ibas_grbs/1``,
``spi_grb_fits/1``), the files (IBAS light curves, SPI spectra with their responses) as
product deliveries of scope ``grb``. Every row says ``simulated`` and every file
``SIMDATA = T``.

Realistic shapes, not real bursts:

- **rate**: IBAS localised about one burst a month in the IBIS field of view; bursts arrive as
  a Poisson process at that rate over the time the demo's revolutions cover;
- **trigger and position**: the trigger time is uniform over the demo's pointings (a burst
  needs a pointing to be localised), the position uniform on the sky within that pointing's
  ISGRI partially coded field of view (29 x 29 deg);
- **T90**: bimodal, log-normal short (median 0.4 s, ~15 % of IBAS bursts) and long (median
  25 s) classes;
- **brightness**: peak fluxes from a power law (N(>S) ~ S^-1, S > 0.15 ph/cm2/s, the IBAS
  threshold), fluence from peak flux and duration; the error radius shrinks with significance
  (2-4 arcmin at threshold, as IBAS);
- **spectra**: bursts brighter than 0.4 ph/cm2/s get time bins with Band, cutoff power law
  and synchrotron fits, hard-to-soft E_peak evolution, alpha about -0.8, beta about -2.4.
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
from astropy.table import Table
from sqlalchemy import Engine, text

from shared.demo.delivery import CatalogueFile, Deliver, DeliverCatalogue, DeliveryOptions
from shared.demo.generator import _ISGRI_HALF, _frame, _radec
from shared.integral.time import ijd_to_utc
from shared.products import ogip

IBAS_CATALOGUE = "IBAS GRB catalogue (simulated demo)"
"""Name of the demo's simulated IBAS catalogue."""

SPI_CATALOGUE = "SPI GRB spectral catalogue (simulated demo)"
"""Name of the demo's simulated SPI GRB catalogue (the form of Biltzinger et al. 2023)."""

BURSTS_PER_DAY = 1.0 / 30.44
"""IBIS-localised bursts per day of observing (about one a month)."""

SHORT_FRACTION = 0.15
"""Fraction of short bursts among those IBAS localises."""

PEAK_FLUX_MIN = 0.15
"""IBAS threshold peak flux (ph/cm2/s, 20-200 keV)."""

SPI_FIT_MIN_PEAK = 0.4
"""Bursts above this peak flux get SPI time-resolved fits."""

ISGRI_COUNTS_PER_FLUX = 450.0
"""ISGRI count rate (20-200 keV, on axis) per ph/cm2/s of burst flux."""

ISGRI_BACKGROUND = 250.0
"""ISGRI background count rate, 20-200 keV (counts/s)."""

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Burst:
    """One simulated burst."""

    name: str
    trigger: datetime
    trigger_ijd: float
    ra: float
    dec: float
    pos_err: float
    peak_flux: float
    fluence: float
    t90: float
    significance: float
    obsid: str | None
    scw_id: str
    offaxis: float


@dataclass(frozen=True)
class Fit:
    """One spectral fit of one time bin."""

    bin_index: int
    t_start: float
    t_stop: float
    model: str
    e_peak: float
    e_peak_err: float
    alpha: float
    alpha_err: float
    beta: float | None
    beta_err: float | None
    energy_flux: float
    synch_b: float | None
    synch_index: float | None
    cstat: float
    dof: int


def _pointings(engine: Engine) -> tuple[list[tuple[object, ...]], float]:
    """The demo's pointings and the days its revolutions cover."""
    with engine.connect() as conn:
        rows = list(
            conn.execute(
                text(
                    "SELECT scw_id, obsid, start_ijd, end_ijd, ra, dec, posangle "
                    "FROM isla.science_windows WHERE scw_type = 'pointing' ORDER BY start_ijd"
                )
            ).all()
        )
        days = conn.execute(
            text(
                "SELECT coalesce(sum(end_ijd - start_ijd), 0) FROM isla.revolutions WHERE "
                "revolution IN (SELECT DISTINCT revolution FROM isla.science_windows)"
            )
        ).scalar()
    return [tuple(r) for r in rows], float(days or 0.0)


def _in_field(
    rng: np.random.Generator, ra: float, dec: float, posangle: float
) -> tuple[float, float, float]:
    """A position uniform on the sky within the ISGRI field of view of a pointing, and its
    off-axis angle: tangent-plane points uniform in the square, kept with the probability of
    the gnomonic area element (1 + u^2 + v^2)^-3/2, are uniform on the sphere."""
    half = math.tan(math.radians(_ISGRI_HALF))
    frame = _frame(ra, dec, posangle)
    while True:
        u, v = rng.uniform(-half, half, 2)
        if rng.random() < (1.0 + u * u + v * v) ** -1.5:
            break
    vec = frame[0] + u * frame[1] + v * frame[2]
    out_ra, out_dec = _radec(vec[np.newaxis, :])[0]
    return float(out_ra), float(out_dec), math.degrees(math.atan(math.hypot(u, v)))


def draw_t90(rng: np.random.Generator) -> float:
    """A T90 (s) from the bimodal distribution: log-normal short (median 0.4 s, sigma 0.7 in
    ln) with probability :data:`SHORT_FRACTION`, else long (median 25 s, sigma 0.9)."""
    short = rng.random() < SHORT_FRACTION
    return float(np.exp(rng.normal(math.log(0.4 if short else 25.0), 0.7 if short else 0.9)))


def position_in_field(
    rng: np.random.Generator, ra: float, dec: float, posangle: float
) -> tuple[float, float, float]:
    """(ra, dec, off-axis angle) uniform on the sky within a pointing's ISGRI field of view."""
    return _in_field(rng, ra, dec, posangle)


def make_bursts(engine: Engine, seed: int) -> list[Burst]:
    """The demo's bursts, determined by the observing history and ``seed``."""
    pointings, days = _pointings(engine)
    if not pointings:
        return []
    rng = np.random.default_rng([seed, 14, 1])
    count = int(rng.poisson(days * BURSTS_PER_DAY))
    spans = np.array([float(p[3]) - float(p[2]) for p in pointings])  # type: ignore[arg-type]
    chosen = rng.choice(len(pointings), size=count, p=spans / spans.sum())
    bursts: list[tuple[float, Burst]] = []
    for index in chosen:
        scw_id, obsid, start, end, ra, dec, posangle = pointings[int(index)]
        t_ijd = float(rng.uniform(float(start), float(end)))  # type: ignore[arg-type]
        pos = _in_field(rng, float(ra), float(dec), float(posangle))  # type: ignore[arg-type]
        t90 = draw_t90(rng)
        peak = min(PEAK_FLUX_MIN / (1.0 - rng.random()), 200.0)
        # Fluence (erg/cm2): peak flux x duration x ~50% duty cycle x ~100 keV mean energy.
        fluence = peak * max(t90, 0.05) * 0.5 * 100.0 * 1.602e-9 * float(np.exp(rng.normal(0, 0.5)))
        significance = float(6.0 * math.sqrt(peak / PEAK_FLUX_MIN) * np.exp(rng.normal(0, 0.2)))
        pos_err = float(np.clip(3.0 * (8.0 / significance) ** 0.8, 0.6, 4.0))
        trigger = ijd_to_utc(t_ijd).replace(microsecond=0)
        bursts.append(
            (
                t_ijd,
                Burst(
                    "",
                    trigger,
                    t_ijd,
                    round(pos[0], 4),
                    round(pos[1], 4),
                    round(pos_err, 2),
                    round(peak, 3),
                    float(f"{fluence:.3g}"),
                    round(t90, 3),
                    round(significance, 1),
                    None if obsid is None else str(obsid),
                    str(scw_id),
                    pos[2],
                ),
            )
        )
    bursts.sort(key=lambda b: b[0])
    named: list[Burst] = []
    per_day: dict[str, int] = {}
    for _, b in bursts:
        day = b.trigger.strftime("%y%m%d")
        letter = "ABCDEFGH"[per_day.get(day, 0)]
        per_day[day] = per_day.get(day, 0) + 1
        named.append(Burst(f"GRB {day}{letter}", *[getattr(b, f) for f in _FIELDS]))
    return named


_FIELDS = (
    "trigger",
    "trigger_ijd",
    "ra",
    "dec",
    "pos_err",
    "peak_flux",
    "fluence",
    "t90",
    "significance",
    "obsid",
    "scw_id",
    "offaxis",
)


def make_fits(burst: Burst, seed: int) -> list[Fit]:
    """Time-resolved fits of a burst bright enough for SPI: 1-5 bins over T90, each fitted
    with a Band function, a cutoff power law and a synchrotron model."""
    if burst.peak_flux < SPI_FIT_MIN_PEAK:
        return []
    rng = np.random.default_rng([seed, 14, 2, int(burst.trigger_ijd * 86400)])
    bins = int(np.clip(1 + math.log2(burst.peak_flux / SPI_FIT_MIN_PEAK) * 1.5, 1, 5))
    edges = np.linspace(0.0, max(burst.t90, 0.1), bins + 1)
    e_peak0 = float(np.exp(rng.normal(math.log(500.0 if burst.t90 < 2 else 250.0), 0.4)))
    fits: list[Fit] = []
    for i in range(bins):
        e_peak = e_peak0 * (0.6**i)  # hard to soft
        rel = 0.15 * math.sqrt(SPI_FIT_MIN_PEAK / burst.peak_flux) + 0.05
        alpha = float(np.clip(rng.normal(-0.8, 0.25), -1.9, 0.5))
        beta = float(np.clip(rng.normal(-2.4, 0.3), -4.5, -1.95))
        flux = burst.fluence / max(burst.t90, 0.1) * float(np.exp(rng.normal(0, 0.3)))
        dof = int(rng.integers(60, 120))
        common = {
            "bin_index": i + 1,
            "t_start": round(float(edges[i]), 3),
            "t_stop": round(float(edges[i + 1]), 3),
            "energy_flux": float(f"{flux:.3g}"),
        }
        for model in ("band", "cpl", "synchrotron"):
            shift = {"band": 1.0, "cpl": 1.1, "synchrotron": 0.95}[model]
            fits.append(
                Fit(
                    model=model,
                    e_peak=round(e_peak * shift, 1),
                    e_peak_err=round(e_peak * shift * rel, 1),
                    alpha=round(alpha if model != "synchrotron" else -2.0 / 3.0 - 0.1, 3),
                    alpha_err=round(0.1 + rel, 3),
                    beta=round(beta, 3) if model == "band" else None,
                    beta_err=round(0.2 + rel, 3) if model == "band" else None,
                    synch_b=round(float(np.exp(rng.normal(math.log(30.0), 0.5))), 2)
                    if model == "synchrotron"
                    else None,
                    synch_index=round(float(rng.normal(3.5, 0.4)), 2)
                    if model == "synchrotron"
                    else None,
                    cstat=round(float(dof * np.exp(rng.normal(0.05, 0.1))), 1),
                    dof=dof,
                    **common,  # type: ignore[arg-type]
                )
            )
    return fits


def _csv(table: Table) -> bytes:
    out = io.StringIO()
    table.write(out, format="ascii.csv")
    return out.getvalue().encode()


def ibas_table(bursts: list[Burst]) -> Table:
    """The simulated IBAS catalogue as a table of the ``ibas_grbs/1`` interface."""
    table = Table(
        {
            "grb_name": [b.name for b in bursts],
            "trigger_time": [b.trigger.strftime("%Y-%m-%dT%H:%M:%S") for b in bursts],
            "ra": [b.ra for b in bursts],
            "dec": [b.dec for b in bursts],
            "pos_err": [b.pos_err for b in bursts],
            "alert_type": ["IBIS"] * len(bursts),
            "peak_flux": [b.peak_flux for b in bursts],
            "fluence": [b.fluence for b in bursts],
            "t90": [b.t90 for b in bursts],
            "significance": [b.significance for b in bursts],
            "obsid": [b.obsid or "" for b in bursts],
            "scw_id": [b.scw_id for b in bursts],
            "position_ref": ["IBIS/ISGRI (IBAS), simulated"] * len(bursts),
            "time_ref": ["IBAS trigger, simulated"] * len(bursts),
            "simulated": [True] * len(bursts),
        }
    )
    table["pos_err"].unit = "arcmin"
    return table


def spi_table(bursts: list[Burst], fits: dict[str, list[Fit]]) -> Table:
    """The simulated SPI GRB catalogue as a table of the ``spi_grb_fits/1`` interface."""
    rows = [(b, f) for b in bursts for f in fits.get(b.name, [])]

    def number(value: float | None) -> float:
        return math.nan if value is None else value

    return Table(
        {
            "fit_id": [f"{b.name.replace(' ', '')}/{f.model}/{f.bin_index:02d}" for b, f in rows],
            "grb_name": [b.name for b, _ in rows],
            "ra": [b.ra for b, _ in rows],
            "dec": [b.dec for b, _ in rows],
            "model": [f.model for _, f in rows],
            "bin_index": [f.bin_index for _, f in rows],
            "t_start": [f.t_start for _, f in rows],
            "t_stop": [f.t_stop for _, f in rows],
            "e_peak": [f.e_peak for _, f in rows],
            "e_peak_err": [f.e_peak_err for _, f in rows],
            "alpha": [f.alpha for _, f in rows],
            "alpha_err": [f.alpha_err for _, f in rows],
            "beta": [number(f.beta) for _, f in rows],
            "beta_err": [number(f.beta_err) for _, f in rows],
            "energy_flux": [f.energy_flux for _, f in rows],
            "synch_b": [number(f.synch_b) for _, f in rows],
            "synch_index": [number(f.synch_index) for _, f in rows],
            "cstat": [f.cstat for _, f in rows],
            "dof": [f.dof for _, f in rows],
            "simulated": [True] * len(rows),
        }
    )


# --- product files -----------------------------------------------------------------------------


def _prov(burst: Burst) -> ogip.Provenance:
    return ogip.Provenance(
        scws=[burst.scw_id], date=datetime(2025, 3, 1, tzinfo=UTC), simulated=True
    )


def _target(burst: Burst) -> ogip.Target:
    return ogip.Target("", burst.name, burst.ra, burst.dec)


def _profile(
    t: npt.NDArray[np.float64], t90: float, rng: np.random.Generator
) -> npt.NDArray[np.float64]:
    """Peak-normalised pulses (fast rise, exponential decay) spread over T90."""
    shape = np.zeros_like(t)
    for _ in range(int(rng.integers(1, 4))):
        start = rng.uniform(0.0, 0.5 * t90)
        rise, decay = 0.05 * t90 + 0.01, 0.2 * t90 + 0.02
        dt = t - start
        pulse = np.where(dt < 0, np.exp(-((dt / rise) ** 2)), np.exp(-dt / decay))
        shape += rng.uniform(0.4, 1.0) * pulse
    return shape / shape.max()


def lightcurve_file(burst: Burst, seed: int) -> tuple[str, bytes]:
    """The IBAS (ISGRI, 20-200 keV) light curve of a burst, T0 - 30 s to T0 + 3 T90."""
    rng = np.random.default_rng([seed, 14, 3, int(burst.trigger_ijd * 86400)])
    bin_s = 0.05 if burst.t90 < 2.0 else 1.0
    t = np.arange(-30.0, 30.0 + 3.0 * burst.t90, bin_s) + bin_s / 2
    coding = max(0.05, 1.0 - burst.offaxis / 20.0)  # partially coded: less signal off axis
    rate = ISGRI_BACKGROUND + burst.peak_flux * ISGRI_COUNTS_PER_FLUX * coding * _profile(
        t, burst.t90, rng
    )
    counts = rng.poisson(rate * bin_s).astype(np.float64)
    error = np.sqrt(np.maximum(counts, 1.0)) / bin_s
    net = counts / bin_s - ISGRI_BACKGROUND
    n = len(t)
    lc = ogip.LightCurve(
        time=burst.trigger_ijd + t / 86400.0,
        timedel=np.full(n, bin_s / 86400.0),
        rate=net,
        error=error,
        exposure=np.full(n, bin_s),
        significance=net / error,
        upper_limit=np.zeros(n, dtype=bool),
        rate_ul=np.zeros(n),
        nscw=np.ones(n, dtype=np.int32),
    )
    body = ogip.lightcurve_fits(
        lc,
        instrument="ISGRI",
        band=(20.0, 200.0),
        target=_target(burst),
        prov=_prov(burst),
        binning=f"{bin_s:g}",
    )
    return f"{burst.name.replace(' ', '')}_ISGRI_ibas_lc.fits", body


_SPI_EDGES = np.geomspace(20.0, 8000.0, 65)
"""SPI energy bins and channels of the demo's simple response (keV)."""


def _band(
    e: npt.NDArray[np.float64], alpha: float, beta: float, e_peak: float
) -> npt.NDArray[np.float64]:
    """Band function photon spectrum (arbitrary normalisation)."""
    e0 = e_peak / (2.0 + alpha)
    brk = (alpha - beta) * e0
    low = (e / 100.0) ** alpha * np.exp(-e / e0)
    high = ((brk / 100.0) ** (alpha - beta) * np.exp(beta - alpha)) * (e / 100.0) ** beta
    return np.where(e < brk, low, high)


def spi_response() -> tuple[bytes, bytes]:
    """The demo's simple on-axis SPI response (ARF, RMF): germanium's resolution is a few keV,
    so the redistribution is nearly diagonal on these bins."""
    lo, hi = _SPI_EDGES[:-1], _SPI_EDGES[1:]
    prov = ogip.Provenance(scws=[], date=datetime(2025, 3, 1, tzinfo=UTC), nscw=0, simulated=True)
    area = 70.0 * np.exp(-((np.log(np.sqrt(lo * hi) / 300.0)) ** 2) / 8.0)
    n = len(lo)
    matrix = np.eye(n) * 0.9 + np.eye(n, k=-1) * 0.1
    matrix[0, 0] = 1.0
    arf = ogip.arf_fits("SPI", (lo, hi), area, prov)
    rmf = ogip.rmf_fits("SPI", (lo, hi), (lo, hi), matrix, prov)
    return arf, rmf


def spectrum_files(burst: Burst, fits: list[Fit], seed: int) -> list[tuple[str, bytes]]:
    """The SPI spectrum over T90 of a burst (from its first Band fit) with its ARF and RMF."""
    band = next(f for f in fits if f.model == "band")
    rng = np.random.default_rng([seed, 14, 4, int(burst.trigger_ijd * 86400)])
    lo, hi = _SPI_EDGES[:-1], _SPI_EDGES[1:]
    mid = np.sqrt(lo * hi)
    shape = _band(mid, band.alpha, band.beta or -2.4, band.e_peak) * (hi - lo)
    exposure = max(burst.t90, 0.1)
    # Normalised to the peak flux (ph/cm2/s over 20-200 keV) times the mean duty cycle.
    in_band = (mid >= 20.0) & (mid <= 200.0)
    photons = shape / shape[in_band].sum() * burst.peak_flux * 0.5
    area = 70.0 * np.exp(-((np.log(mid / 300.0)) ** 2) / 8.0)
    background = 0.02 * (hi - lo) ** 0.5
    counts = rng.poisson((photons * area + background) * exposure).astype(np.float64)
    rate = counts / exposure - background
    stat_err = np.sqrt(np.maximum(counts, 1.0)) / exposure
    stem = burst.name.replace(" ", "")
    arf_name, rmf_name = f"{stem}_SPI_arf.fits", f"{stem}_SPI_rmf.fits"
    spectrum = ogip.spectrum_fits(
        ogip.Spectrum(
            rate,
            stat_err,
            exposure,
            burst.trigger_ijd,
            burst.trigger_ijd + exposure / 86400.0,
        ),
        instrument="SPI",
        target=_target(burst),
        prov=_prov(burst),
        respfile=rmf_name,
        ancrfile=arf_name,
    )
    arf, rmf = spi_response()
    return [(f"{stem}_SPI_spectrum.fits", spectrum), (arf_name, arf), (rmf_name, rmf)]


# --- delivery ----------------------------------------------------------------------------------


@dataclass
class GrbReport:
    """What the demo's burst pipeline delivered."""

    bursts: int = 0
    fits: int = 0
    products: int = 0


def deliver_grbs(
    engine: Engine,
    deliver_catalogue: DeliverCatalogue,
    deliver: Deliver,
    seed: int,
    say: Progress,
) -> GrbReport:
    """Make the demo's bursts and deliver the catalogues, then the light curves and spectra."""
    began = time.monotonic()
    report = GrbReport()
    bursts = make_bursts(engine, seed)
    if not bursts:
        return report
    fits = {b.name: f for b in bursts if (f := make_fits(b, seed))}
    reference = "Simulated by the ISLA demo pipeline (not a real catalogue)"
    deliver_catalogue(
        CatalogueFile(
            "ibas_grbs/1",
            IBAS_CATALOGUE,
            "1",
            "ibas_grbs_demo.csv",
            _csv(ibas_table(bursts)),
            reference,
            "Simulated IBIS-localised bursts, about one a month of the demo's observing time.",
        )
    )
    report.bursts = len(bursts)
    if fits:
        deliver_catalogue(
            CatalogueFile(
                "spi_grb_fits/1",
                SPI_CATALOGUE,
                "1",
                "spi_grb_fits_demo.csv",
                _csv(spi_table(bursts, fits)),
                reference,
                "Simulated time-resolved SPI fits (Band, cutoff power law, synchrotron) in the "
                "form of Biltzinger et al. 2023, A&A 675, A175.",
            )
        )
        report.fits = sum(len(f) for f in fits.values())
    options = DeliveryOptions(scope="grb")
    for burst in bursts:
        files = [lightcurve_file(burst, seed)]
        if burst.name in fits:
            files += spectrum_files(burst, fits[burst.name], seed)
        report.products += len(deliver(files, options).products)
    say(
        f"bursts: {report.bursts} (simulated IBAS), {report.fits} SPI fits, "
        f"{report.products} burst products in {time.monotonic() - began:.1f} s"
    )
    return report
