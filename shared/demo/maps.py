"""The demo pipeline's all-sky maps: HEALPix exposure, mosaic and sensitivity maps of the whole
mission, made from the archive's own science windows and catalogue, delivered through ingestion.

Like every demo product these are simulated (``SIMDATA = T``) and made once, when the demo
archive is loaded; ingestion QCs them as ``allsky_map`` products and builds their HiPS. What is
made (HEALPix, ICRS, NESTED):

- **ISGRI**, NSIDE 512 (6.9′ pixels for the 12′ PSF): the exposure map; a mosaic in each of
  20–35, 35–60 and 60–200 keV (``INTENSITY`` in mCrab, ``VARIANCE``, ``SIGNIFICANCE``); the
  20–35 keV sensitivity map (5σ point-source sensitivity, mCrab);
- **PICsIT**, NSIDE 256: the exposure map (IBIS's second layer, the same coded field as ISGRI);
- **JEM-X**, NSIDE 256 (13.7′: JEM-X sees a small part of the sky and its 3′ PSF would need
  NSIDE 2048, sixty times the pixels, for little more than the sources' own pixels): the
  exposure map (both units), mosaics in 3–10 and 10–20 keV and the 3–10 keV sensitivity map;
- **SPI**, NSIDE 64 (55′, for a 2.5° PSF): the exposure map.

Exposure: every pointing science window adds its instrument's exposure (``isla.science_windows``)
times the instrument's response at each pixel, in the same spacecraft frame as the ObsCore
footprints (:func:`shared.demo.generator._frame`): ISGRI's 29°x29° square, fully coded in the
central 9°x9°, falling linearly to zero at the square's edge; JEM-X's disc of 13.2° diameter,
fully coded within 4.8°; SPI's hexagon of 16°, uniform. So the maps are zero outside the
union of the footprints. Intensity: each catalogue source's band flux (``isla.source_fluxes``;
60–200 keV extrapolated from the 20–35 / 35–60 keV power law) times the instrument's PSF
(Gaussian, widened by the pixel), plus Gaussian noise of the 1σ error the exposure implies
(:data:`shared.demo.model.INSTRUMENTS`' sensitivity / √exposure).
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from astropy import units as u
from astropy.io import fits
from astropy_healpix import HEALPix
from sqlalchemy import Engine, text

from shared import simulation
from shared.demo import model
from shared.demo.delivery import Deliver, DeliveryOptions
from shared.demo.generator import _ISGRI_HALF, _JEMX_RADIUS, _SPI_RADIUS, _frame, _regular
from shared.maps.healpix import healpix_table
from shared.products import ogip
from shared.products.ogip import Provenance

Progress = Callable[[str], None]
FloatArray = npt.NDArray[np.float64]

NSIDE = {"ISGRI": 512, "PICsIT": 256, "JEM-X": 256, "SPI": 64}
"""HEALPix resolution of each instrument's maps."""
ISGRI_BANDS = ("20_35", "35_60", "60_200")
JEMX_BANDS = ("3_10", "10_20")
SENSITIVITY_BANDS = {"ISGRI": "20_35", "JEM-X": "3_10"}
"""The band of each instrument's sensitivity map."""
SENSITIVITY_SIGMA = 5.0
"""The sensitivity map gives the flux of a 5σ point source."""
ISGRI_FULLY_CODED_HALF = 4.5
"""Half width of ISGRI's fully coded field (9°x9°)."""
JEMX_FULLY_CODED = 2.4
"""Radius of JEM-X's fully coded field."""
EXPOSURE_NSIDE = 256
"""Resolution the exposure is summed at (finer maps interpolate it)."""
_INSTRUME = {
    "ISGRI": ("IBIS", "ISGRI"),
    "PICsIT": ("IBIS", "PICsIT"),
    "JEM-X": ("JEMX", "JEMX"),
    "SPI": ("SPI", "SPI"),
}
_EXPOSURE_COLUMNS = {
    "ISGRI": "isgri_exposure",
    "PICsIT": "picsit_exposure",
    "JEM-X": "coalesce(jemx1_exposure, 0) + coalesce(jemx2_exposure, 0)",
    "SPI": "spi_exposure",
}


@dataclass(frozen=True)
class Pointings:
    """The pointing science windows of one instrument with exposure."""

    ra: FloatArray
    dec: FloatArray
    posangle: FloatArray
    exposure: FloatArray
    t_start: float
    t_stop: float

    @property
    def count(self) -> int:
        """Number of science windows."""
        return len(self.ra)


def _pointings(engine: Engine, instrument: str) -> Pointings:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                f"SELECT ra, dec, posangle, {_EXPOSURE_COLUMNS[instrument]} AS exposure, "  # noqa: S608 - fixed column expressions
                "start_ijd, end_ijd FROM isla.science_windows "
                f"WHERE scw_type = 'pointing' AND {_EXPOSURE_COLUMNS[instrument]} > 0 "
                "ORDER BY scw_id"
            )
        ).all()
    a = np.array([tuple(r) for r in rows], dtype=np.float64).reshape(-1, 6)
    t0 = float(a[:, 4].min()) if len(a) else 0.0
    t1 = float(a[:, 5].max()) if len(a) else 0.0
    return Pointings(a[:, 0], a[:, 1], a[:, 2], a[:, 3], t0, t1)


def _vectors(lon: FloatArray, lat: FloatArray) -> FloatArray:
    """Unit vectors (n, 3) of positions given in radians."""
    return np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=1)


def _pixel_vectors(hp: HEALPix) -> FloatArray:
    """Unit vectors of every pixel centre of ``hp``."""
    lon, lat = hp.healpix_to_lonlat(np.arange(hp.npix))
    return _vectors(np.asarray(lon.to_value(u.rad)), np.asarray(lat.to_value(u.rad)))


def _unit_vectors(hp: HEALPix) -> npt.NDArray[np.float32]:
    return _pixel_vectors(hp).astype(np.float32)


def _response(instrument: str, y: FloatArray, z: FloatArray) -> FloatArray:
    """The instrument's relative response at tangent-plane offsets (tan of the angles)."""
    # PICsIT is IBIS's second detector layer, behind the same coded mask: the same field.
    if instrument in ("ISGRI", "PICsIT"):
        ay, az = np.degrees(np.arctan(np.abs(y))), np.degrees(np.arctan(np.abs(z)))
        span = _ISGRI_HALF - ISGRI_FULLY_CODED_HALF
        fy = np.clip((_ISGRI_HALF - ay) / span, 0.0, 1.0)
        fz = np.clip((_ISGRI_HALF - az) / span, 0.0, 1.0)
        return np.asarray(fy * fz, dtype=np.float64)
    if instrument == "JEM-X":
        radius = np.degrees(np.arctan(np.hypot(y, z)))
        span = _JEMX_RADIUS - JEMX_FULLY_CODED
        return np.asarray(np.clip((_JEMX_RADIUS - radius) / span, 0.0, 1.0), dtype=np.float64)
    # SPI: uniform inside the hexagon of the footprint (a convex polygon, counter-clockwise).
    shape = _regular(6, _SPI_RADIUS)
    inside = np.ones(y.shape, dtype=bool)
    for i in range(len(shape)):
        (x0, y0), (x1, y1) = shape[i], shape[(i + 1) % len(shape)]
        inside &= (x1 - x0) * (z - y0) - (y1 - y0) * (y - x0) >= 0
    return inside.astype(np.float64)


_REACH = dict.fromkeys(
    ("ISGRI", "PICsIT"),
    math.degrees(math.atan(math.sqrt(2) * math.tan(math.radians(_ISGRI_HALF)))),
)
"""Largest off-axis angle of each field of view (the square's corner for ISGRI)."""


def exposure_map(
    instrument: str, nside: int, pointings: Pointings, finest: int = EXPOSURE_NSIDE
) -> FloatArray:
    """Effective exposure (s) at every pixel: each pointing's exposure times the response.

    Summed at NSIDE :data:`EXPOSURE_NSIDE` at most (the response changes over degrees, a
    pixel of 0.23° follows it closely) and repeated to the NESTED children of finer maps.
    """
    coarse = min(nside, finest)
    hp = HEALPix(coarse, order="nested")
    vectors = _unit_vectors(hp)
    parent_level = max(hp.level - 3, 0)
    parents = HEALPix(2**parent_level, order="nested")
    centres = _unit_vectors(parents).astype(np.float64)
    children = 4 ** (hp.level - parent_level)
    reach = _REACH.get(instrument, _JEMX_RADIUS if instrument == "JEM-X" else _SPI_RADIUS)
    margin = math.degrees(parents.pixel_resolution.to_value(u.rad)) * 1.5
    limit = math.cos(math.radians(reach + margin))
    out = np.zeros(hp.npix, dtype=np.float64)
    for i in range(pointings.count):
        frame = _frame(
            float(pointings.ra[i]), float(pointings.dec[i]), float(pointings.posangle[i])
        )
        # Candidate cells: those whose centre lies within the field's reach (plus a cell).
        cells = np.flatnonzero(centres @ frame[0] > limit)
        index = (cells[:, np.newaxis] * children + np.arange(children)).ravel()
        proj = vectors[index] @ frame.T.astype(np.float32)  # (n, 3): along the axis, Y, Z
        ahead = proj[:, 0] > 0.5
        index, proj = index[ahead], proj[ahead].astype(np.float64)
        response = _response(instrument, proj[:, 1] / proj[:, 0], proj[:, 2] / proj[:, 0])
        out[index] += pointings.exposure[i] * response
    if coarse == nside:
        return out
    return np.repeat(out, (nside // coarse) ** 2)


@dataclass(frozen=True)
class SkySources:
    """The catalogue sources with band fluxes, as arrays (one entry per source)."""

    ra: FloatArray
    dec: FloatArray
    flux: dict[str, FloatArray]
    """Flux (mCrab) per ``instrument:band``, 0 where the source has none."""

    @property
    def count(self) -> int:
        """Number of sources."""
        return len(self.ra)


def _log_centre(band: str) -> float:
    lo, hi = (float(x) for x in band.split("_"))
    return math.sqrt(lo * hi)


def _sources(engine: Engine) -> SkySources:
    """Every source with a positive band flux. At full scale that is a million sources: the
    rows are transposed into columns and placed with numpy (no Python object per source)."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT s.source_id, s.ra, s.dec, e.instrument || ':' || e.name, f.flux "
                "FROM isla.source_fluxes f JOIN isla.sources s USING (source_id) "
                "JOIN isla.energy_bands e ON e.band_id = f.band_id "
                "WHERE f.flux > 0 ORDER BY s.source_id"
            )
        ).all()
    if not rows:
        return SkySources(np.zeros(0), np.zeros(0), {})
    ids, ra, dec, keys, fluxes = (np.asarray(c) for c in zip(*rows, strict=True))
    # The rows come by source: a new source starts where the id changes.
    starts = np.r_[True, ids[1:] != ids[:-1]]
    first = np.flatnonzero(starts)
    which = np.cumsum(starts) - 1
    flux: dict[str, FloatArray] = {}
    for key in np.unique(keys):
        column = np.zeros(len(first))
        hit = keys == key
        column[which[hit]] = fluxes[hit].astype(np.float64)
        flux[str(key)] = column
    soft, hard = flux.get("ISGRI:20_35"), flux.get("ISGRI:35_60")
    if soft is not None and hard is not None:
        # A power law in mCrab, extrapolated from its two catalogue bands.
        both = (soft > 0) & (hard > 0)
        slope = np.zeros(len(first))
        slope[both] = np.log(hard[both] / soft[both]) / math.log(
            _log_centre("35_60") / _log_centre("20_35")
        )
        ratio = _log_centre("60_200") / _log_centre("35_60")
        flux["ISGRI:60_200"] = np.where(both, hard * ratio ** np.clip(slope, -3.0, 3.0), 0.0)
    return SkySources(ra[first].astype(np.float64), dec[first].astype(np.float64), flux)


SOURCE_CHUNK = 10_000
"""Sources placed on the map at a time (bounds the memory of :func:`point_sources`)."""


def point_sources(
    instrument: str, nside: int, sources: SkySources, bands: Sequence[str]
) -> dict[str, FloatArray]:
    """Sum of every source's flux times the PSF (peak = flux), per band.

    Each source reaches the pixels within 4σ of it. They lie in the source's cell of a
    coarser level whose cells are at least twice that wide, or in one of its eight
    neighbours: so every source has the same number of candidate pixels (those cells'
    children), and the sources are placed 10,000 at a time with array operations, the
    profiles summed per pixel by ``bincount``.
    """
    hp = HEALPix(nside, order="nested")
    pixel = math.degrees(hp.pixel_resolution.to_value(u.rad))
    psf = model.INSTRUMENTS[instrument].psf_sigma_deg
    sigma = math.hypot(psf, pixel / math.sqrt(12))
    reach = 4 * sigma
    coarse_level = hp.level
    while (
        coarse_level > 0
        and math.degrees(HEALPix(2**coarse_level, order="nested").pixel_resolution.to_value(u.rad))
        < 2 * reach
    ):
        coarse_level -= 1
    coarse = HEALPix(2**coarse_level, order="nested")
    children = 4 ** (hp.level - coarse_level)
    keys = [f"{instrument}:{band}" for band in bands]
    zero = np.zeros(sources.count)
    fluxes = np.stack([sources.flux.get(k, zero) for k in keys])
    out = {band: np.zeros(hp.npix) for band in bands}
    lit = np.flatnonzero(fluxes.any(axis=0))
    # Pixel centres in float64 (float32 would lose the small angles in arccos).
    vectors = _pixel_vectors(hp)
    for start in range(0, len(lit), SOURCE_CHUNK):
        chosen = lit[start : start + SOURCE_CHUNK]
        ra, dec = np.radians(sources.ra[chosen]), np.radians(sources.dec[chosen])
        axes = _vectors(ra, dec)
        own = coarse.lonlat_to_healpix(ra * u.rad, dec * u.rad)
        # (n, 9) cells: the source's own and its neighbours (-1 where a corner has none).
        with np.errstate(invalid="ignore"):  # the missing corners' -1
            around = coarse.neighbours(own).T
        cells = np.concatenate([own[:, np.newaxis], around], axis=1)
        index = (cells[:, :, np.newaxis] * children + np.arange(children)).reshape(len(chosen), -1)
        valid = np.repeat(cells >= 0, children, axis=1)
        index = np.where(valid, index, 0)
        cosine = np.einsum("npk,nk->np", vectors[index], axes)
        d = np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))
        near = valid & (d < reach)
        profile = np.exp(-0.5 * (d[near] / sigma) ** 2)
        row = np.broadcast_to(np.arange(len(chosen))[:, np.newaxis], index.shape)[near]
        pixels = index[near]
        for band, flux in zip(bands, fluxes, strict=True):
            out[band] += np.bincount(pixels, weights=flux[chosen][row] * profile, minlength=hp.npix)
    return out


def _header_common(instrument: str, pointings: Pointings, maptype: str) -> dict[str, Any]:
    instrume, detnam = _INSTRUME[instrument]
    return {
        "TELESCOP": "INTEGRAL",
        "INSTRUME": instrume,
        "DETNAM": detnam,
        "MAPTYPE": (maptype, "exposure, mosaic or sensitivity"),
        "TIMESYS": "TT",
        "TIMEUNIT": "d",
        "MJDREFI": 51544,
        "MJDREFF": 0.0,
        "TSTART": (round(pointings.t_start, 6), "[d] first science window, IJD"),
        "TSTOP": (round(pointings.t_stop, 6), "[d] last science window, IJD"),
    }


def map_file(
    instrument: str,
    nside: int,
    columns: Sequence[tuple[str, FloatArray, str | None]],
    pointings: Pointings,
    maptype: str,
    band: tuple[float, float] | None,
    prov: Provenance,
) -> bytes:
    """A simulated HEALPix map file as the demo pipeline delivers it."""
    keys = _header_common(instrument, pointings, maptype)
    if band is not None:
        keys["E_MIN"] = (band[0], "[keV] lower band edge")
        keys["E_MAX"] = (band[1], "[keV] upper band edge")
    table = healpix_table(nside, columns, keys)
    primary = fits.PrimaryHDU()
    for key, value in keys.items():
        primary.header[key] = value
    ogip.provenance(primary.header, prov)
    hdul = fits.HDUList([primary, table])
    for index, hdu in enumerate(hdul):
        hdu.header[simulation.SIMDATA] = (True, simulation.SIMDATA_COMMENT)
        if index == 0:
            hdu.header["CREATOR"] = (simulation.PIPELINE, "software that made this file")
            for line in simulation.comment_lines():
                hdu.header.add_comment(line)
        hdu.add_checksum(when=prov.date.strftime("%Y-%m-%dT%H:%M:%S"))
    out = io.BytesIO()
    hdul.writeto(out, output_verify="exception")
    return out.getvalue()


def _masked(values: FloatArray, covered: npt.NDArray[np.bool_]) -> FloatArray:
    return np.where(covered, values, np.nan)


def instrument_maps(
    engine: Engine,
    instrument: str,
    sources: SkySources,
    date: Any,
    finest: int = EXPOSURE_NSIDE,
) -> list[tuple[str, bytes]]:
    """The map files of one instrument (exposure, band mosaics, sensitivity); the exposure
    is summed at NSIDE ``finest`` at most."""
    nside = NSIDE[instrument]
    pointings = _pointings(engine, instrument)
    prov = Provenance([], date, nscw=pointings.count, simulated=True)
    exposure = exposure_map(instrument, nside, pointings, finest)
    slug = instrument.replace("-", "").lower()
    files = [
        (
            f"isla_{slug}_allsky_exposure.fits",
            map_file(
                instrument,
                nside,
                [("EXPOSURE", exposure, "s")],
                pointings,
                "exposure",
                None,
                prov,
            ),
        )
    ]
    bands = {"ISGRI": ISGRI_BANDS, "JEM-X": JEMX_BANDS}.get(instrument, ())
    if not bands:
        return files
    covered = exposure > 1.0
    signal = point_sources(instrument, nside, sources, bands)
    inst = model.INSTRUMENTS[instrument]
    for band in bands:
        sens = inst.sensitivity.get(band) or inst.sensitivity[model.DEFAULT_BAND[instrument]]
        sigma = sens / np.sqrt(np.maximum(exposure, 1.0))
        noise = model.rng_for("allsky", instrument, band).standard_normal(len(exposure))
        intensity = signal[band] + sigma * noise
        edges = tuple(float(x) for x in band.split("_"))
        files.append(
            (
                f"isla_{slug}_allsky_{band}_mosaic.fits",
                map_file(
                    instrument,
                    nside,
                    [
                        ("INTENSITY", _masked(intensity, covered), "mCrab"),
                        ("VARIANCE", _masked(sigma**2, covered), "mCrab2"),
                        ("SIGNIFICANCE", _masked(intensity / sigma, covered), None),
                    ],
                    pointings,
                    "mosaic",
                    (edges[0], edges[1]),
                    prov,
                ),
            )
        )
        if band == SENSITIVITY_BANDS.get(instrument):
            files.append(
                (
                    f"isla_{slug}_allsky_{band}_sensitivity.fits",
                    map_file(
                        instrument,
                        nside,
                        [("SENSITIVITY", _masked(SENSITIVITY_SIGMA * sigma, covered), "mCrab")],
                        pointings,
                        "sensitivity",
                        (edges[0], edges[1]),
                        prov,
                    ),
                )
            )
    return files


EXPOSURE_NSIDE_BY_SCALE = {"demo": EXPOSURE_NSIDE, "bench": EXPOSURE_NSIDE, "full": 64}
"""Finest NSIDE the exposure is summed at, per scale: the sum costs a pass over every
pointing's pixels, 16 times fewer at NSIDE 64 (0.9° pixels) for the whole mission's
~300,000 pointings per instrument."""


def deliver_maps(engine: Engine, deliver: Deliver, say: Progress, scale: str = "demo") -> int:
    """Make the demo's all-sky maps and deliver each through ingestion (which builds their
    HiPS); return the number of map files delivered."""
    from shared.demo.products import PRODUCT_DATE

    sources = _sources(engine)
    options = DeliveryOptions(kind="allsky_map", scope="mission")
    count = 0
    with ThreadPoolExecutor(2, thread_name_prefix="isla-demo-maps") as pool:
        jobs = []
        for instrument in ("ISGRI", "PICsIT", "JEM-X", "SPI"):
            made = instrument_maps(
                engine, instrument, sources, PRODUCT_DATE, EXPOSURE_NSIDE_BY_SCALE[scale]
            )
            for name, data in made:
                jobs.append(pool.submit(deliver, [(name, data)], options))
                count += 1
        for job in jobs:
            job.result()
    say(f"maps: {count} HEALPix all-sky map files delivered through ingestion, HiPS built")
    return count
