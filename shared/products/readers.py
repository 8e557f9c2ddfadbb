"""Readers of stored product files: what a view needs from a spectrum, its responses, a time
series, a mosaic or an OMC light curve, in the demo's OGIP layout and in ESA's ISLA layout.

A reader only decodes what was delivered (columns, header keywords, images); it never fills a
gap with a model. Files may be gzip-compressed, as ISLA's mosaics are.
"""

from __future__ import annotations

import gzip
import io
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

from shared.integral.time import MJDREF

FloatArray = npt.NDArray[np.float64]

MOSAIC_IMAGES = ("INTENSITY", "VARIANCE", "SIGNIFICANCE", "EXPOSURE")
"""The image types of a mosaic (extension names in the demo's files, IMATYPE in ISLA's)."""


class UnreadableProduct(ValueError):  # noqa: N818 - names the condition, as NotFound does
    """A stored file does not have the layout its kind promises."""


def open_fits(data: bytes) -> fits.HDUList:
    """The HDUs of a stored file (gzip-compressed or not), read into memory."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    try:
        hdul = fits.open(io.BytesIO(data), memmap=False)
        hdul.readall()
    except (OSError, ValueError) as exc:
        raise UnreadableProduct(f"not a FITS file: {exc}") from None
    return hdul


def _table(hdul: fits.HDUList, column: str) -> fits.BinTableHDU:
    for hdu in hdul[1:]:
        if isinstance(hdu, fits.BinTableHDU) and column in hdu.columns.names:
            return hdu
    raise UnreadableProduct(f"no table with a {column} column")


def _floats(values: Any) -> FloatArray:
    return np.asarray(values, dtype=np.float64)


# --- spectra ------------------------------------------------------------------------------


@dataclass
class SpectrumTable:
    """The channels of a PHA type I spectrum, with their energy bounds from the RMF."""

    channel: npt.NDArray[np.int64]
    e_min: FloatArray
    """Channel lower bound (keV) from the RMF's EBOUNDS; NaN when no RMF was given."""
    e_max: FloatArray
    rate: FloatArray
    """Counts / s (RATE, or COUNTS / EXPOSURE)."""
    error: FloatArray
    """1-sigma error of the rate (STAT_ERR, or Poisson when POISSERR)."""
    exposure: float
    tstart: float | None
    """IJD (TSTART), when the file says."""
    tstop: float | None
    header: dict[str, Any] = field(default_factory=dict)


def read_ebounds(rmf: bytes) -> dict[int, tuple[float, float]]:
    """CHANNEL -> (E_MIN, E_MAX) keV of a stored RMF's EBOUNDS extension."""
    with open_fits(rmf) as hdul:
        try:
            bounds = hdul["EBOUNDS"].data
        except KeyError:
            raise UnreadableProduct("the RMF has no EBOUNDS extension") from None
        return {
            int(c): (float(lo), float(hi))
            for c, lo, hi in zip(bounds["CHANNEL"], bounds["E_MIN"], bounds["E_MAX"], strict=True)
        }


def read_spectrum(pha: bytes, rmf: bytes | None = None) -> SpectrumTable:
    """The channels of a stored spectrum (and their energies when its RMF is given)."""
    with open_fits(pha) as hdul:
        table = _table(hdul, "CHANNEL")
        names = table.columns.names
        h = table.header
        exposure = float(h.get("EXPOSURE", 0.0) or 0.0)
        channel = np.asarray(table.data["CHANNEL"], dtype=np.int64)
        if "RATE" in names:
            rate = _floats(table.data["RATE"])
        elif "COUNTS" in names and exposure > 0:
            rate = _floats(table.data["COUNTS"]) / exposure
        else:
            raise UnreadableProduct("the spectrum has neither RATE nor COUNTS with EXPOSURE")
        if "STAT_ERR" in names:
            error = _floats(table.data["STAT_ERR"])
            if "COUNTS" in names and "RATE" not in names:
                error = error / exposure
        elif exposure > 0:
            error = np.sqrt(np.abs(rate) / exposure)  # POISSERR: counts are Poisson
        else:
            error = np.full(len(rate), np.nan)
        header = {
            k: h[k] for k in ("RESPFILE", "ANCRFILE", "REVOL", "DETCHANS", "INSTRUME") if k in h
        }
        tstart = float(h["TSTART"]) if "TSTART" in h else None
        tstop = float(h["TSTOP"]) if "TSTOP" in h else None
    bounds = read_ebounds(rmf) if rmf is not None else {}
    e_min = np.array([bounds.get(int(c), (np.nan, np.nan))[0] for c in channel], dtype=np.float64)
    e_max = np.array([bounds.get(int(c), (np.nan, np.nan))[1] for c in channel], dtype=np.float64)
    return SpectrumTable(channel, e_min, e_max, rate, error, exposure, tstart, tstop, header)


# --- time series --------------------------------------------------------------------------


@dataclass
class TimeSeriesTable:
    """The bins of a stored light curve (OGIP RATE or ISLA TIMESERIES extension)."""

    time: FloatArray
    """Bin centre, IJD (TT)."""
    timedel: FloatArray
    """Bin width (days); NaN when the file gives none."""
    rate: FloatArray
    error: FloatArray
    fracexp: FloatArray
    """Exposed fraction of each bin (1 when the file does not say)."""
    e_min: float | None
    e_max: float | None
    detector: str


def _mjdref(h: fits.Header) -> float:
    if "MJDREF" in h:
        return float(h["MJDREF"])
    return float(h.get("MJDREFI", MJDREF)) + float(h.get("MJDREFF", 0.0))


def read_timeseries(data: bytes) -> TimeSeriesTable:
    """The bins of a stored time series, times as IJD whatever the file's MJDREF and unit."""
    with open_fits(data) as hdul:
        table = _table(hdul, "RATE")
        h = table.header
        names = table.columns.names
        scale = 1.0 if str(h.get("TIMEUNIT", "d")).strip().lower() in ("d", "day") else 1 / 86400
        time = _floats(table.data["TIME"]) * scale + (_mjdref(h) - MJDREF)
        rate = _floats(table.data["RATE"])
        err_name = "ERROR" if "ERROR" in names else ("STAT_ERR" if "STAT_ERR" in names else None)
        error = _floats(table.data[err_name]) if err_name else np.full(len(rate), np.nan)
        if "TIMEDEL" in names:
            timedel = _floats(table.data["TIMEDEL"]) * scale
        elif "TIMEDEL" in h:
            timedel = np.full(len(rate), float(h["TIMEDEL"]) * scale)
        else:
            timedel = np.full(len(rate), np.nan)
        fracexp = _floats(table.data["FRACEXP"]) if "FRACEXP" in names else np.ones(len(rate))
        e_min = float(h["E_MIN"]) if "E_MIN" in h else None
        e_max = float(h["E_MAX"]) if "E_MAX" in h else None
        detector = str(h.get("INSTRUME", h.get("DETNAM", ""))).strip()
    return TimeSeriesTable(time, timedel, rate, error, fracexp, e_min, e_max, detector)


@dataclass
class OmcLightCurveTable:
    """The points of a stored OMC light curve."""

    time: FloatArray
    magnitude: FloatArray
    error: FloatArray
    exposure: FloatArray


def read_omc_lightcurve(data: bytes) -> OmcLightCurveTable:
    """TIME (IJD), MAG_V, ERR_MAG_V and EXPOSURE of a stored OMC light curve."""
    with open_fits(data) as hdul:
        table = _table(hdul, "MAG_V")
        names = table.columns.names
        return OmcLightCurveTable(
            _floats(table.data["TIME"]),
            _floats(table.data["MAG_V"]),
            _floats(table.data["ERR_MAG_V"]),
            _floats(table.data["EXPOSURE"])
            if "EXPOSURE" in names
            else np.full(len(table.data), 0.0),
        )


# --- images -------------------------------------------------------------------------------


@dataclass
class MosaicImages:
    """The images of a stored mosaic by type, with the keywords a summary shows."""

    images: dict[str, npt.NDArray[np.float64]]
    wcs: WCS
    header: dict[str, Any]


def _keywords(h: fits.Header) -> dict[str, Any]:
    keys = ("DATE-OBS", "DATE-END", "TSTART", "TSTOP", "E_MIN", "E_MAX", "BUNIT", "SIMDATA")
    return {k: h[k] for k in keys if k in h}


def read_mosaic(data: bytes) -> MosaicImages:
    """The images of a mosaic: extensions named INTENSITY... (the demo), ISGR-MOSA-IMA with
    IMATYPE (ISLA's original mosaics) or one primary image (ISLA's smoothed mosaics)."""
    images: dict[str, npt.NDArray[np.float64]] = {}
    header: fits.Header | None = None
    with open_fits(data) as hdul:
        for hdu in hdul:
            if hdu.data is None or not isinstance(hdu, fits.PrimaryHDU | fits.ImageHDU):
                continue
            if hdu.data.ndim != 2:
                continue
            kind = str(hdu.header.get("IMATYPE") or hdu.name or "").strip().upper()
            if kind == "PRIMARY":
                kind = "INTENSITY"
            if kind in MOSAIC_IMAGES and kind not in images:
                images[kind] = np.asarray(hdu.data, dtype=np.float64)
                header = header if header is not None else hdu.header.copy()
    if header is None:
        raise UnreadableProduct("the mosaic has no image")
    with warnings.catch_warnings():
        # Delivered headers are kept as they are (ISLA's use RADECSYS and DATE-OBS without
        # MJD-OBS): astropy's notes on fixing them up are not the reader's business.
        warnings.simplefilter("ignore", FITSFixedWarning)
        wcs = WCS(header, naxis=2)
    return MosaicImages(images, wcs, _keywords(header))


def read_image(data: bytes) -> tuple[npt.NDArray[np.float64], dict[str, Any]]:
    """The first 2-D image of a stored file (an OMC postage stamp) and its keywords."""
    with open_fits(data) as hdul:
        for hdu in hdul:
            is_image = isinstance(hdu, fits.PrimaryHDU | fits.ImageHDU)
            if is_image and hdu.data is not None and hdu.data.ndim == 2:
                return np.asarray(hdu.data, dtype=np.float64), _keywords(hdu.header)
    raise UnreadableProduct("the file has no image")
