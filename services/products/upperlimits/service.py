"""Policy of the upper-limits room: what a request means, and the curve it gets.

A request names a position, a band, a confidence level (1, 2 or 3σ), a binning (the whole
mission, revolutions or science windows) and optionally a time range. Its answer is read from
the stored sensitivity data (:mod:`shared.products.upperlimits`): the position's HEALPix pixel
at the band's order, then **one** primary-key read of that pixel's curve (per revolution, or
per ScW for ``binning=scw`` and for a mission bin cut by a time range). Per bin:

- the count-rate limit ``sigma × σ_rate``, in mCrab (with the Crab's rate in the band, stored
  with the data) and erg cm⁻² s⁻¹ (:func:`shared.products.upperlimits.erg_per_mcrab`);
- when a catalogue source with light-curve points in the band lies within the instrument's
  PSF of the position and is detected in the bin (weighted mean of its points in the bin at
  3σ or more), its measured rate and flux instead of a limit.

Every field has a HILIGT-compatible twin (``_ul``, ``_ul_flux``, ``_exptime``, ...).
Nothing here evaluates a model: the numbers are the stored ones, combined.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import astropy.units as u
import numpy as np
import numpy.typing as npt
from fastapi import HTTPException
from sqlalchemy import Connection

from services.products.common import Band, Bands, parse_time
from services.products.sources.store import fetch_bands
from services.products.upperlimits import store
from shared.integral.revolutions import ends_ijd, starts_ijd
from shared.integral.time import MJDREF, ijd_to_utc_iso
from shared.products import upperlimits as ul
from shared.products.bands import DEFAULT_BAND, DETECTION_SIGMA
from shared.vo.errors import UsageFault
from shared.vo.results import ResultField
from shared.vo.types import BY_TYPNAME, TEXT

FORMATS = ("json", "votable", "csv")

MATCH_RADIUS_DEG = {"ISGRI": 12.0 / 60.0, "JEM-X": 3.0 / 60.0}
"""A catalogue source within this distance of the position (the instrument's PSF FWHM) is
the source at the position."""

MISSION = "INTEGRAL"

_BAND_RANGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*[-_:]\s*(\d+(?:\.\d+)?)\s*(?:kev)?\s*$", re.I)

_D = BY_TYPNAME["float8"]
_I = BY_TYPNAME["int4"]
_B = BY_TYPNAME["bool"]

FIELDS: list[ResultField] = [
    ResultField("bin", TEXT, None, "meta.id", description="mission, revolution or ScW id"),
    ResultField("start", TEXT, None, "time.start", description="start of the bin (UTC)"),
    ResultField("end", TEXT, None, "time.end", description="end of the bin (UTC)"),
    ResultField("t_start_mjd", _D, "d", "time.start", description="start of the bin (MJD, TT)"),
    ResultField("t_stop_mjd", _D, "d", "time.end", description="end of the bin (MJD, TT)"),
    ResultField("nscw", _I, None, "meta.number", description="science windows in the bin"),
    ResultField(
        "exposure", _D, "s", "time.duration;obs.exposure", description="effective exposure"
    ),
    ResultField(
        "rate_sigma", _D, "ct/s", "stat.stdev;phot.count", description="1-sigma sensitivity"
    ),
    ResultField(
        "detected", _B, None, "meta.code", description="a catalogue source is detected here"
    ),
    ResultField("rate_ul", _D, "ct/s", "phot.count;stat.max", description="count-rate limit"),
    ResultField("flux_ul_mcrab", _D, "mCrab", "phot.flux;stat.max", description="flux limit"),
    ResultField(
        "flux_ul_erg", _D, "erg.cm-2.s-1", "phot.flux;stat.max", description="energy-flux limit"
    ),
    ResultField("rate", _D, "ct/s", "phot.count", description="measured rate (detected)"),
    ResultField("rate_err", _D, "ct/s", "stat.error;phot.count", description="its 1-sigma error"),
    ResultField("flux_mcrab", _D, "mCrab", "phot.flux", description="measured flux (detected)"),
    ResultField("flux_mcrab_err", _D, "mCrab", "stat.error;phot.flux", description="its error"),
    ResultField("flux_erg", _D, "erg.cm-2.s-1", "phot.flux", description="measured energy flux"),
    ResultField("flux_erg_err", _D, "erg.cm-2.s-1", "stat.error;phot.flux", description="error"),
    # HILIGT's names for the same numbers.
    ResultField("_ul", _D, "ct/s", "phot.count;stat.max", description="HILIGT: rate limit"),
    ResultField(
        "_ul_flux", _D, "erg.cm-2.s-1", "phot.flux;stat.max", description="HILIGT: flux limit"
    ),
    ResultField("_exptime", _D, "s", "time.duration", description="HILIGT: exposure"),
    ResultField("_start_date", TEXT, None, "time.start", description="HILIGT: start (UTC)"),
    ResultField("_end_date", TEXT, None, "time.end", description="HILIGT: end (UTC)"),
    ResultField("_ulsig", _I, None, "stat.value", description="HILIGT: limit level (sigma)"),
    ResultField("_mission", TEXT, None, "meta.id;instr.obsty", description="HILIGT: mission"),
    ResultField("_instrum", TEXT, None, "meta.id;instr", description="HILIGT: instrument"),
    ResultField("_elow", _D, "keV", "em.energy;stat.min", description="HILIGT: band low edge"),
    ResultField("_ehigh", _D, "keV", "em.energy;stat.max", description="HILIGT: band high edge"),
]
"""The columns of every answer (JSON keys, CSV header, VOTable FIELDs)."""


@dataclass(frozen=True)
class Query:
    """A checked upper-limit request."""

    ra: float
    dec: float
    band_name: str | None
    instrument: str | None
    sigma: int
    binning: str
    t0: float
    """Start of the time range (IJD; the mission's start when not given)."""
    t1: float
    ranged: bool
    """A time range was given."""
    fmt: str


def _number(value: str | None, name: str) -> float:
    if value is None or value.strip() == "":
        raise UsageFault(f"{name} is required (decimal degrees, ICRS)")
    try:
        number = float(value)
    except ValueError:
        raise UsageFault(f"{name}={value!r} is not a number") from None
    if not math.isfinite(number):
        raise UsageFault(f"{name}={value!r} is not a finite number")
    return number


def _time(value: str | None, name: str) -> float | None:
    try:
        return parse_time(value, name)
    except HTTPException as exc:
        raise UsageFault(str(exc.detail)) from None


def parse_query(
    ra: str | None,
    dec: str | None,
    band: str | None,
    instrument: str | None,
    sigma: str | None,
    binning: str | None,
    start: str | None,
    end: str | None,
    fmt: str | None,
) -> Query:
    """The request's parameters checked; :class:`UsageFault` (400) naming what is wrong."""
    form = (fmt or "json").strip().lower()
    if form not in FORMATS:
        raise UsageFault(f"format={fmt!r} is not one of {', '.join(FORMATS)}")
    ra_deg, dec_deg = _number(ra, "ra"), _number(dec, "dec")
    if not 0.0 <= ra_deg <= 360.0:
        raise UsageFault(f"ra={ra} is outside [0, 360] degrees")
    if not -90.0 <= dec_deg <= 90.0:
        raise UsageFault(f"dec={dec} is outside [-90, 90] degrees")
    level_text = (sigma or "3").strip()
    try:
        level = float(level_text)
    except ValueError:
        level = math.nan
    if level not in ul.SIGMAS:
        raise UsageFault(f"sigma={sigma!r} is not one of {', '.join(map(str, ul.SIGMAS))}")
    binned = (binning or "revolution").strip().lower()
    if binned not in ul.BINNINGS:
        raise UsageFault(f"binning={binning!r} is not one of {', '.join(ul.BINNINGS)}")
    t0, t1 = _time(start, "start"), _time(end, "end")
    first, last = float(starts_ijd()[0]), float(ends_ijd()[-1])
    if t0 is not None and t1 is not None and t1 <= t0:
        raise UsageFault(f"empty time range: end ({end}) is not after start ({start})")
    if (t0 is not None and t0 >= last) or (t1 is not None and t1 <= first):
        raise UsageFault(
            "the time range lies outside the INTEGRAL mission "
            f"(MJD {first + MJDREF:.1f} to {last + MJDREF:.1f})"
        )
    return Query(
        ra=ra_deg % 360.0,
        dec=dec_deg,
        band_name=band.strip() if band and band.strip() else None,
        instrument=instrument.strip() if instrument and instrument.strip() else None,
        sigma=int(level),
        binning=binned,
        t0=first if t0 is None else max(t0, first),
        t1=last if t1 is None else min(t1, last),
        ranged=t0 is not None or t1 is not None,
        fmt=form,
    )


def _instrument_name(name: str) -> str:
    key = name.strip().lower().replace(" ", "")
    names = {"isgri": "ISGRI", "ibis": "ISGRI", "jem-x": "JEM-X", "jemx": "JEM-X"}
    if key not in names:
        raise UsageFault(f"instrument={name!r} is not ISGRI or JEM-X")
    return names[key]


def resolve_band(bands: Bands, query: Query) -> Band:
    """The band a request names: a band name (``28_40``), or its edges (``28-40`` keV), of the
    given instrument or of either; ISGRI's default when none. UsageFault lists the bands."""
    instrument = _instrument_name(query.instrument) if query.instrument else None
    mine = [b for b in bands.values() if instrument is None or b.instrument == instrument]
    name = query.band_name
    if name is None:
        default = DEFAULT_BAND[instrument or "ISGRI"]
        return next(b for b in mine if b.name == default)
    found = [b for b in mine if b.name.lower() == name.lower()]
    match = _BAND_RANGE.match(name)
    if not found and match:
        lo, hi = float(match.group(1)), float(match.group(2))
        found = [b for b in mine if abs(b.e_min - lo) < 1e-6 and abs(b.e_max - hi) < 1e-6]
    if not found:
        known = ", ".join(f"{b.instrument} {b.name}" for b in mine)
        raise UsageFault(f"band={name!r} is no band of the archive; bands: {known}")
    return found[0]


@dataclass
class Reading:
    """What the database gave for one request."""

    band: Band
    order: int | None
    hpx: int | None
    curve: Any
    source: Any
    points: list[Any]


def _pixel(ra: float, dec: float, order: int) -> int:
    from astropy_healpix import HEALPix  # on first use: keeps the service's start-up light

    hp = HEALPix(nside=2**order, order="nested")
    return int(hp.lonlat_to_healpix(ra * u.deg, dec * u.deg))


def read(conn: Connection, query: Query) -> Reading:
    """Everything a request needs, on one connection: the band, the pixel's curve (one
    indexed read) and the catalogue source at the position with its points."""
    band = resolve_band(fetch_bands(conn), query)
    order = store.band_order(conn, band.band_id)
    if order is None:
        return Reading(band, None, None, None, None, [])
    hpx = _pixel(query.ra, query.dec, order)
    binning = "revolution" if query.binning == "revolution" else "scw"
    if query.binning == "mission" and not query.ranged:
        binning = "revolution"  # revolutions add up to the same mission bin, fewer values
    row = store.curve(conn, band.band_id, binning, hpx)
    source = store.source_at(
        conn, query.ra, query.dec, MATCH_RADIUS_DEG[band.instrument], band.band_id
    )
    pts = store.points(conn, source.source_id, band.band_id) if source is not None else []
    return Reading(band, order, hpx, row, source, pts)


def _bins(query: Query, row: Any) -> ul.Bins:
    bins = ul.Bins(
        np.asarray(row.bin_id, dtype=np.int64),
        np.asarray(row.t_start, dtype=np.float64),
        np.asarray(row.t_stop, dtype=np.float64),
        np.asarray(row.exposure, dtype=np.float64),
        np.asarray(row.rate_sigma, dtype=np.float64),
        np.asarray(row.nscw, dtype=np.int64),
    ).within(query.t0, query.t1)
    return bins.total() if query.binning == "mission" else bins


@dataclass
class Measured:
    """A source's weighted-mean rate per bin (NaN where it has no point)."""

    rate: npt.NDArray[np.float64]
    error: npt.NDArray[np.float64]


def _measured(query: Query, bins: ul.Bins, pts: list[Any]) -> Measured:
    n = len(bins)
    rate, error = np.full(n, np.nan), np.full(n, np.nan)
    if not pts or n == 0:
        return Measured(rate, error)
    time = np.array([p.time_ijd for p in pts], dtype=np.float64)
    value = np.array([p.rate for p in pts], dtype=np.float64)
    err = np.array([p.rate_err for p in pts], dtype=np.float64)
    inside = (time >= query.t0) & (time < query.t1)
    if query.binning == "mission":
        where = np.where(inside, 0, -1)
    else:
        index = {int(k): i for i, k in enumerate(bins.ids)}
        keys = (
            [int(p.revolution) for p in pts]
            if query.binning == "revolution"
            else [int(p.scw_id) for p in pts]
        )
        where = np.array([index.get(k, -1) for k in keys], dtype=np.int64)
        where = np.where(inside, where, -1)
    use = where >= 0
    weight = np.bincount(where[use], weights=1.0 / err[use] ** 2, minlength=n)
    total = np.bincount(where[use], weights=value[use] / err[use] ** 2, minlength=n)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(weight > 0, total / weight, np.nan)
        error = np.where(weight > 0, 1.0 / np.sqrt(weight), np.nan)
    return Measured(rate, error)


def _iso(ijd: npt.NDArray[np.float64]) -> list[str]:
    return ijd_to_utc_iso(ijd)


def _none(values: npt.NDArray[np.float64]) -> list[float | None]:
    """A column for JSON, CSV and VOTable: NaN and infinities as None (vectorised: most
    columns are all finite or all blank)."""
    finite = np.isfinite(values)
    if finite.all():
        return list(values.tolist())
    if not finite.any():
        return [None] * int(values.size)
    out = values.astype(object)
    out[~finite] = None
    return list(out.tolist())


def answer(query: Query, reading: Reading) -> tuple[list[tuple[Any, ...]], dict[str, Any]]:
    """The rows (in :data:`FIELDS` order) and the description of the answer."""
    band = reading.band
    info: dict[str, Any] = {
        "position": {"ra": query.ra, "dec": query.dec, "frame": "ICRS"},
        "mission": MISSION,
        "instrument": band.instrument,
        "band": band.name,
        "e_min": band.e_min,
        "e_max": band.e_max,
        "sigma": query.sigma,
        "binning": query.binning,
        "start_mjd": query.t0 + MJDREF,
        "end_mjd": query.t1 + MJDREF,
        "photon_index": ul.UL_PHOTON_INDEX,
        "erg_per_mcrab": ul.erg_per_mcrab(band.e_min, band.e_max),
        "healpix": None,
        "crab_count_rate": None,
        "source": None,
        "simulated": None,
    }
    if reading.order is not None and reading.hpx is not None:
        info["healpix"] = {
            "order": reading.order,
            "nside": 2**reading.order,
            "pixel": reading.hpx,
            "ordering": "NESTED",
            "frame": "ICRS",
        }
    src = reading.source
    if src is not None:
        info["source"] = {
            "source_id": src.source_id,
            "name": src.name,
            "ra": float(src.ra),
            "dec": float(src.dec),
            "separation_arcmin": float(src.distance) * 60.0,
        }
    row = reading.curve
    if row is None:
        return [], info
    info["crab_count_rate"] = float(row.crab_count_rate)
    info["simulated"] = bool(row.simulated)
    bins = _bins(query, row)
    n = len(bins)
    crab, erg = float(row.crab_count_rate), info["erg_per_mcrab"]
    measured = _measured(query, bins, reading.points)
    detected = np.nan_to_num(measured.rate / measured.error, nan=0.0) >= DETECTION_SIGMA
    rate_ul = np.where(detected, np.nan, query.sigma * bins.rate_sigma)
    mcrab_ul = rate_ul / crab * 1000.0
    rate = np.where(detected, measured.rate, np.nan)
    rate_err = np.where(detected, measured.error, np.nan)
    mcrab, mcrab_err = rate / crab * 1000.0, rate_err / crab * 1000.0
    start, end = _iso(bins.t_start), _iso(bins.t_stop)
    if query.binning == "mission":
        labels = ["mission"] * n
    elif query.binning == "revolution":
        labels = [f"{int(i):04d}" for i in bins.ids]
    else:
        labels = [f"{int(i):012d}" for i in bins.ids]
    columns = [
        labels,
        start,
        end,
        (bins.t_start + MJDREF).tolist(),
        (bins.t_stop + MJDREF).tolist(),
        bins.nscw.tolist(),
        bins.exposure.tolist(),
        bins.rate_sigma.tolist(),
        detected.tolist(),
        _none(rate_ul),
        _none(mcrab_ul),
        _none(mcrab_ul * erg),
        _none(rate),
        _none(rate_err),
        _none(mcrab),
        _none(mcrab_err),
        _none(mcrab * erg),
        _none(mcrab_err * erg),
        _none(rate_ul),
        _none(mcrab_ul * erg),
        bins.exposure.tolist(),
        start,
        end,
        [query.sigma] * n,
        [MISSION] * n,
        [band.instrument] * n,
        [band.e_min] * n,
        [band.e_max] * n,
    ]
    return list(zip(*columns, strict=True)), info
