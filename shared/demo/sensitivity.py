"""Sensitivity tables and upper-limit maps of the demo archive (the basis of upper limits).

The demo pipeline plays the instrument teams' part: from the archive's committed science
windows (pointing, position angle, exposure) it computes, for every HEALPix pixel (ICRS,
NESTED, order :data:`ORDER`) whose centre lies in an instrument's field of view, the effective
exposure (exposure times the coded fraction at the pixel's off-axis angle) and the 1σ
count-rate sensitivity there with the demo's background-limited law
(:func:`shared.demo.model.rate_error`: ``σ[mCrab] = S_band / √(effective exposure)``, the
same law that sets the errors of the demo's light-curve points). Each instrument and band
becomes one or more sensitivity tables (ingest kind ``sensitivity``, ``SIMDATA = T``) that go
through ingestion like any delivery, which stores them pixel-major for the upper-limit
endpoint. Then the mission-average 3σ upper-limit map of each instrument's default band is
delivered as an ordinary HEALPix ``allsky_map`` (``MAPTYPE = 'upper_limit_3sigma'``).

Nothing here writes to the database: the tables and maps are files handed to ``deliver``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from astropy.io import fits
from astropy_healpix import HEALPix
from sqlalchemy import Connection, Engine, text

from shared.demo import model
from shared.demo.delivery import Deliver, DeliveryOptions
from shared.demo.generator import _ISGRI_HALF, _frame
from shared.demo.lightcurves import simulated_file
from shared.integral.time import MJDREF
from shared.products import ogip, upperlimits

Progress = Callable[[str], None]

ORDER = 5
"""HEALPix order of the demo's sensitivity tables (nside 32, 1.8° pixels): the coded fraction
changes by a few per cent across a pixel, and a position's curve is its pixel's."""

MAX_ROWS = 400_000
"""Most rows in one delivered table (a larger instrument band is cut by revolution)."""

JEMX_RADIUS_DEG = 6.4
"""JEM-X pixels are those within this angle of the pointing axis: inside the 16-sided
``fov_jemx`` polygon of 6.6° radius (whose edges come within 6.47° of the axis)."""

_EXPOSURE_SQL = {
    "ISGRI": "isgri_exposure",
    "JEM-X": "coalesce(jemx1_exposure, 0) + coalesce(jemx2_exposure, 0)",
}

UL_MAP_TYPE = "upper_limit_3sigma"
"""``MAPTYPE`` of the mission-average upper-limit maps."""


@dataclass
class SensitivityReport:
    """What :func:`deliver_sensitivity` delivered."""

    tables: int = 0
    rows: int = 0
    maps: int = 0
    bands: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Pointings:
    scw_id: npt.NDArray[np.str_]
    revolution: npt.NDArray[np.int64]
    start: npt.NDArray[np.float64]
    end: npt.NDArray[np.float64]
    exposure: npt.NDArray[np.float64]
    frames: npt.NDArray[np.float64]
    """(n, 3, 3): pointing axis, Y and Z axes of each pointing."""


def _pointings(conn: Connection, instrument: str) -> _Pointings:
    exposure = _EXPOSURE_SQL[instrument]  # a constant of this module, not user input
    rows = conn.execute(
        text(
            f"SELECT scw_id, revolution, start_ijd, end_ijd, {exposure} AS exposure, "  # noqa: S608
            "ra, dec, posangle FROM isla.science_windows "
            f"WHERE scw_type = 'pointing' AND {exposure} > 0 ORDER BY start_ijd"
        )
    ).all()
    return _Pointings(
        np.array([r.scw_id for r in rows], dtype="U12"),
        np.array([r.revolution for r in rows], dtype=np.int64),
        np.array([r.start_ijd for r in rows], dtype=np.float64),
        np.array([r.end_ijd for r in rows], dtype=np.float64),
        np.array([r.exposure for r in rows], dtype=np.float64),
        np.array([_frame(r.ra, r.dec, r.posangle) for r in rows]).reshape(-1, 3, 3),
    )


def _pixel_vectors(order: int) -> npt.NDArray[np.float64]:
    hp = HEALPix(nside=2**order, order="nested")
    lon, lat = hp.healpix_to_lonlat(np.arange(hp.npix))
    lon_r, lat_r = np.asarray(lon.rad), np.asarray(lat.rad)
    return np.stack(
        [np.cos(lat_r) * np.cos(lon_r), np.cos(lat_r) * np.sin(lon_r), np.sin(lat_r)], axis=1
    )


def _in_view(
    instrument: str, frame: npt.NDArray[np.float64], vectors: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float64]]:
    """(pixels, off-axis angles in degrees) of the pixel centres in one pointing's field."""
    x = vectors @ frame[0]
    offaxis = np.degrees(np.arccos(np.clip(x, -1.0, 1.0)))
    if instrument == "ISGRI":
        half = math.tan(math.radians(_ISGRI_HALF))
        with np.errstate(divide="ignore", invalid="ignore"):
            y = (vectors @ frame[1]) / x
            z = (vectors @ frame[2]) / x
        inside = (x > 0) & (np.abs(y) <= half) & (np.abs(z) <= half)
    else:
        inside = offaxis < JEMX_RADIUS_DEG
    inside &= model.coded_fraction(instrument, offaxis) > 0
    pixels = np.flatnonzero(inside)
    return pixels, offaxis[pixels]


@dataclass
class _Rows:
    hpx: list[npt.NDArray[np.int64]] = field(default_factory=list)
    index: list[npt.NDArray[np.intp]] = field(default_factory=list)
    offaxis: list[npt.NDArray[np.float64]] = field(default_factory=list)


def _geometry(
    instrument: str, pointings: _Pointings, order: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.intp], npt.NDArray[np.float64]]:
    """(pixel, pointing index, off-axis angle) of every pixel in every pointing's field."""
    vectors = _pixel_vectors(order)
    rows = _Rows()
    for i, frame in enumerate(pointings.frames):
        pixels, offaxis = _in_view(instrument, frame, vectors)
        rows.hpx.append(pixels.astype(np.int64))
        rows.index.append(np.full(pixels.size, i, dtype=np.intp))
        rows.offaxis.append(offaxis)
    if not rows.hpx:
        return np.array([], np.int64), np.array([], np.intp), np.array([], np.float64)
    return np.concatenate(rows.hpx), np.concatenate(rows.index), np.concatenate(rows.offaxis)


def _header_common(header: fits.Header, instrument: str, band: tuple[float, float]) -> None:
    header["TELESCOP"] = "INTEGRAL"
    header["INSTRUME"] = ogip.INSTRUME.get(instrument, instrument)
    header["DETNAM"] = ogip.DETNAM.get(instrument, instrument)
    header["E_MIN"] = (band[0], "[keV] lower edge of the band")
    header["E_MAX"] = (band[1], "[keV] upper edge of the band")
    header["TIMESYS"] = ("TT", "time scale")
    header["TIMEUNIT"] = ("d", "unit of TSTART, TSTOP")
    header["MJDREFI"] = (int(MJDREF), "integer part of the reference MJD (IJD 0)")
    header["MJDREFF"] = (0.0, "fractional part of the reference MJD")


def sensitivity_table(
    instrument: str,
    band: str,
    order: int,
    columns: dict[str, npt.NDArray[Any]],
    crab_count_rate: float,
) -> bytes:
    """A sensitivity table FITS file (the layout ingestion's QC expects, see
    :mod:`shared.products.upperlimits`)."""
    from shared.demo.products import PRODUCT_DATE

    edges = model.BANDS[instrument][band]
    table = fits.BinTableHDU.from_columns(
        [
            fits.Column("HPX", "K", array=columns["hpx"]),
            fits.Column("SCW_ID", "12A", array=columns["scw_id"]),
            fits.Column("REVOL", "J", array=columns["revolution"]),
            fits.Column("TSTART", "D", unit="d", array=columns["t_start"]),
            fits.Column("TSTOP", "D", unit="d", array=columns["t_stop"]),
            fits.Column("EXPOSURE", "E", unit="s", array=columns["exposure"]),
            fits.Column("RATE_SIG", "E", unit="count/s", array=columns["rate_sigma"]),
        ],
        name=upperlimits.SENSITIVITY_EXTNAME,
    )
    scws = np.unique(columns["scw_id"]).tolist()
    prov = ogip.Provenance(scws, PRODUCT_DATE, simulated=True)
    primary = fits.PrimaryHDU()
    for header in (primary.header, table.header):
        _header_common(header, instrument, edges)
        ogip.provenance(header, prov)
    h = table.header
    h["HDUCLASS"] = ("ISLA", "sensitivity of a pipeline")
    h["HDUCLAS1"] = (upperlimits.SENSITIVITY_EXTNAME, "per HEALPix pixel and science window")
    h["PIXTYPE"] = ("HEALPIX", "HEALPix pixels in column HPX")
    h["ORDERING"] = ("NESTED", "pixel ordering scheme")
    h["COORDSYS"] = ("C", "ICRS")
    h["HPXORDER"] = (order, "HEALPix order of HPX")
    h["CRABRATE"] = (crab_count_rate, "[count/s] the Crab's count rate in the band")
    h["TSTART"] = (float(np.min(columns["t_start"])), "[d] start, IJD (MJD - 51544), TT")
    h["TSTOP"] = (float(np.max(columns["t_stop"])), "[d] end, IJD (MJD - 51544), TT")
    revs = columns["revolution"]
    h["REVFIRST"] = (int(np.min(revs)), "first revolution of the rows")
    h["REVLAST"] = (int(np.max(revs)), "last revolution of the rows")
    return simulated_file(fits.HDUList([primary, table]))


def upper_limit_map(
    instrument: str,
    band: str,
    order: int,
    values_mcrab: npt.NDArray[np.float64],
    span: tuple[float, float],
    nscw: int,
) -> bytes:
    """The mission-average 3σ upper-limit map (mCrab; NaN where never observed) as a HEALPix
    FITS all-sky map (ICRS, NESTED)."""
    from shared.demo.products import PRODUCT_DATE

    edges = model.BANDS[instrument][band]
    table = fits.BinTableHDU.from_columns(
        [fits.Column("UPPER_LIMIT", "E", unit="mCrab", array=values_mcrab.astype(np.float32))],
        name="HEALPIX",
    )
    prov = ogip.Provenance([], PRODUCT_DATE, nscw=nscw, simulated=True)
    primary = fits.PrimaryHDU()
    for header in (primary.header, table.header):
        _header_common(header, instrument, edges)
        ogip.provenance(header, prov)
        header["TSTART"] = (span[0], "[d] start, IJD (MJD - 51544), TT")
        header["TSTOP"] = (span[1], "[d] end, IJD (MJD - 51544), TT")
    h = table.header
    h["PIXTYPE"] = ("HEALPIX", "HEALPix map")
    h["ORDERING"] = ("NESTED", "pixel ordering scheme")
    h["COORDSYS"] = ("C", "ICRS")
    h["NSIDE"] = (2**order, "HEALPix nside")
    h["INDXSCHM"] = ("IMPLICIT", "pixel index is the row number")
    h["FIRSTPIX"] = 0
    h["LASTPIX"] = 12 * 4**order - 1
    h["MAPTYPE"] = (UL_MAP_TYPE, "mission-average 3-sigma upper limit")
    h["BUNIT"] = ("mCrab", "unit of the map")
    return simulated_file(fits.HDUList([primary, table]))


def _chunks(revolution: npt.NDArray[np.int64], max_rows: int) -> Iterator[npt.NDArray[np.bool_]]:
    """Row masks of consecutive revolutions with at most ``max_rows`` rows (a revolution is
    never split)."""
    revs, counts = np.unique(revolution, return_counts=True)
    start, total = 0, 0
    for i, count in enumerate(counts):
        if total and total + count > max_rows:
            yield (revolution >= revs[start]) & (revolution <= revs[i - 1])
            start, total = i, 0
        total += int(count)
    if total:
        yield (revolution >= revs[start]) & (revolution <= revs[-1])


SLICE_POINTINGS = 4_000
"""Pointings whose pixels are computed at once at order :data:`ORDER` (whole revolutions):
memory stays bounded whatever the number of pointings. At a coarser order a pointing covers
4 times fewer pixels per order, so a slice takes 4 times more pointings per order (the same
pixel rows, the same memory): fewer deliveries, each of which appends to every pixel's arrays
(the pixel-major store rewrites a pixel's row per delivery, so the number of deliveries
multiplies its cost)."""


def slice_pointings(order: int) -> int:
    """Pointings per delivered table at HEALPix ``order`` (see :data:`SLICE_POINTINGS`)."""
    return SLICE_POINTINGS * 4 ** max(ORDER - order, 0)


ORDER_BY_SCALE = {"demo": ORDER, "bench": 4, "full": 3}
"""HEALPix order per scale. At ``full`` scale order 5 would be ~250 ISGRI pixels per
pointing in each of four bands, 3x10^8 rows; order 3 (7.3° pixels) keeps it to ~2x10^7
(order 4 at ``bench`` scale, ~5x10^6)."""


def _slices(pointings: _Pointings, size: int) -> Iterator[_Pointings]:
    """The pointings in consecutive slices of whole revolutions, about ``size`` each."""
    revs = pointings.revolution
    start = 0
    while start < revs.size:
        stop = min(start + size, revs.size)
        # Extend to the end of the last revolution, so a table never splits one.
        stop = int(np.searchsorted(revs, revs[stop - 1], side="right"))
        yield _Pointings(
            *(getattr(pointings, f)[start:stop] for f in _Pointings.__dataclass_fields__)
        )
        start = stop


def deliver_sensitivity(
    engine: Engine, deliver: Deliver, say: Progress, order: int = ORDER
) -> SensitivityReport:
    """Compute and deliver the sensitivity tables of ISGRI and JEM-X in every band, then the
    mission-average upper-limit map of each instrument's default band. Pointings are taken
    a slice of revolutions at a time, so memory does not grow with the mission."""
    report = SensitivityReport()
    table_options = DeliveryOptions(kind=upperlimits.SENSITIVITY_KIND)
    map_options = DeliveryOptions(kind="allsky_map", scope="mission")
    for instrument in ("ISGRI", "JEM-X"):
        with engine.connect() as conn:
            everything = _pointings(conn, instrument)
        if everything.scw_id.size == 0:
            continue
        # The pointings come in time order; revolutions follow it.
        inverse = {band: np.zeros(12 * 4**order) for band in model.BANDS[instrument]}
        for pointings in _slices(everything, slice_pointings(order)):
            _deliver_slice(instrument, pointings, order, deliver, table_options, report, inverse)
        for band in model.BANDS[instrument]:
            report.bands.append(f"{instrument}:{band}")
            if band != model.DEFAULT_BAND[instrument]:
                continue
            crab = model.crab_rate(instrument, band)
            inv = inverse[band]
            with np.errstate(divide="ignore"):
                mission_sigma = np.where(inv > 0, 1.0 / np.sqrt(inv), np.nan)
            ul_mcrab = 3.0 * mission_sigma / crab * 1000.0
            span = (float(everything.start.min()), float(everything.end.max()))
            data = upper_limit_map(
                instrument, band, order, ul_mcrab, span, int(everything.scw_id.size)
            )
            name = f"{instrument.replace('-', '').lower()}_allsky_{band}_{UL_MAP_TYPE}.fits"
            deliver([(name, data)], map_options)
            report.maps += 1
        say(f"sensitivity: {instrument} delivered, {report.rows} pixel rows so far")
    say(
        f"sensitivity: {report.rows} pixel rows in {report.tables} tables "
        f"({len(report.bands)} bands), {report.maps} upper-limit maps delivered"
    )
    return report


def _deliver_slice(
    instrument: str,
    pointings: _Pointings,
    order: int,
    deliver: Deliver,
    options: DeliveryOptions,
    report: SensitivityReport,
    inverse: dict[str, npt.NDArray[np.float64]],
) -> None:
    """Deliver the sensitivity tables of one slice of pointings, every band, and add its
    inverse variances to ``inverse`` (per band and pixel)."""
    hpx, index, offaxis = _geometry(instrument, pointings, order)
    effective = np.round(pointings.exposure[index] * model.coded_fraction(instrument, offaxis), 3)
    keep = effective > 0
    hpx, index, effective = hpx[keep], index[keep], effective[keep]
    for band in model.BANDS[instrument]:
        crab = model.crab_rate(instrument, band)
        sigma = model.rate_error(instrument, band, effective)
        inverse[band] += np.bincount(hpx, weights=1.0 / sigma**2, minlength=12 * 4**order)
        columns: dict[str, npt.NDArray[Any]] = {
            "hpx": hpx,
            "scw_id": pointings.scw_id[index],
            "revolution": pointings.revolution[index],
            "t_start": pointings.start[index],
            "t_stop": pointings.end[index],
            "exposure": effective,
            "rate_sigma": sigma,
        }
        for mask in _chunks(columns["revolution"], MAX_ROWS):
            part = {k: v[mask] for k, v in columns.items()}
            data = sensitivity_table(instrument, band, order, part, crab)
            revs = part["revolution"]
            name = (
                f"{instrument.replace('-', '').lower()}_sensitivity_{band}_"
                f"{int(revs.min()):04d}_{int(revs.max()):04d}.fits"
            )
            deliver([(name, data)], options)
            report.tables += 1
            report.rows += int(mask.sum())
