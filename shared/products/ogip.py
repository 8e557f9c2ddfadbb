"""FITS product files: OGIP light curves, PHA type I spectra, ARF, RMF, mosaics, OMC images.

Every file carries the archive's provenance keywords (:func:`provenance`): CREATOR with the
software version, ISLAVER, DATE, NSCW (and SCW_LIST when short) and DOI. Files are built in
memory with astropy and returned as bytes; they pass ``astropy.io.fits`` verification.
Simulated products (``Provenance.simulated``) are labelled as :mod:`shared.simulation` says.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
from astropy.io import fits
from astropy.wcs import WCS

from shared import __version__, simulation
from shared.integral.time import MJDREF
from shared.products.bands import DETECTION_SIGMA

SOFTWARE = f"ISLA products {__version__}"
"""CREATOR of every product file."""

_SCW_LIST_MAX = 30
"""Longest ScW list written in full as SCW_LIST (NSCW is always written)."""

INSTRUME = {"ISGRI": "IBIS", "JEM-X": "JEM-X", "OMC": "OMC"}
DETNAM = {"ISGRI": "ISGRI", "JEM-X": "JMX", "OMC": "OMC"}


@dataclass(frozen=True)
class Target:
    """The source a product belongs to (``source_id`` empty for a gamma-ray burst)."""

    source_id: str
    name: str
    ra: float
    dec: float


@dataclass(frozen=True)
class Provenance:
    """Where a product came from: its input science windows and when it was made."""

    scws: Sequence[str]
    date: datetime = field(default_factory=lambda: datetime.now(UTC))
    doi: str = "none"
    nscw: int | None = None
    """Number of input science windows when ``scws`` does not list them (binned products)."""
    simulated: bool = False
    """True for simulated products (the demo archive's): the file is labelled as such
    (``SIMDATA = T`` in every HDU, a COMMENT, CREATOR naming the demo pipeline)."""


def provenance(header: fits.Header, prov: Provenance) -> None:
    """Write the archive's provenance keywords into ``header``."""
    creator = simulation.PIPELINE if prov.simulated else SOFTWARE
    header["CREATOR"] = (creator, "software that made this file")
    header["ISLAVER"] = (__version__, "ISLA archive version")
    header["DATE"] = (prov.date.strftime("%Y-%m-%dT%H:%M:%S"), "file creation date (UTC)")
    nscw = prov.nscw if prov.nscw is not None else len(prov.scws)
    header["NSCW"] = (nscw, "number of input science windows")
    if 0 < len(prov.scws) <= _SCW_LIST_MAX:
        header["SCW_LIST"] = " ".join(prov.scws)  # a long string: no room for a comment
    header["DOI"] = (prov.doi, "DOI of the product ('none' until assigned)")
    header["ORIGIN"] = ("ISLA", "INTEGRAL Science Legacy Archive")


def _common(header: fits.Header, instrument: str, target: Target | None) -> None:
    header["TELESCOP"] = "INTEGRAL"
    header["INSTRUME"] = INSTRUME.get(instrument, instrument)
    header["DETNAM"] = DETNAM.get(instrument, instrument)
    if target is not None:
        header["OBJECT"] = target.name
        if target.source_id:  # a burst, unlike a catalogue source, has no source id
            header["SOURCEID"] = (target.source_id, "ISLA source identifier")
        header["RA_OBJ"] = (round(target.ra, 6), "[deg] source right ascension (ICRS)")
        header["DEC_OBJ"] = (round(target.dec, 6), "[deg] source declination (ICRS)")
        header["RADESYS"] = "ICRS"


def _time_keywords(header: fits.Header, tstart: float, tstop: float) -> None:
    header["TIMESYS"] = ("TT", "time scale")
    header["TIMEREF"] = ("LOCAL", "times are not barycentred")
    header["TIMEUNIT"] = ("d", "unit of TIME, TSTART, TSTOP, TIMEDEL")
    header["MJDREFI"] = (int(MJDREF), "integer part of the reference MJD (IJD 0)")
    header["MJDREFF"] = (0.0, "fractional part of the reference MJD")
    header["DATEREF"] = ("2000-01-01T00:00:00", "IJD 0 (MJDREF) as a date, TT")
    header["TSTART"] = (tstart, "[d] start, IJD (MJD - 51544), TT")
    header["TSTOP"] = (tstop, "[d] end, IJD (MJD - 51544), TT")
    header["TELAPSE"] = (round((tstop - tstart) * 86400.0, 3), "[s] TSTOP - TSTART")


def _to_bytes(hdul: fits.HDUList, prov: Provenance) -> bytes:
    # The checksum comment carries a time: the product's own date keeps files reproducible.
    when = prov.date.strftime("%Y-%m-%dT%H:%M:%S")
    if prov.simulated:
        _label_simulated(hdul)
    for hdu in hdul:
        hdu.add_checksum(when=when)
    out = io.BytesIO()
    hdul.writeto(out, output_verify="exception")
    return out.getvalue()


def _label_simulated(hdul: fits.HDUList) -> None:
    """Every HDU says SIMDATA = T; the primary header also says it in words and names the
    demo pipeline as CREATOR (extensions without provenance keywords get SIMDATA only)."""
    for index, hdu in enumerate(hdul):
        hdu.header[simulation.SIMDATA] = (True, simulation.SIMDATA_COMMENT)
        if index == 0:
            hdu.header["CREATOR"] = (simulation.PIPELINE, "software that made this file")
            for line in simulation.comment_lines():
                hdu.header.add_comment(line)


def _primary(prov: Provenance, instrument: str, target: Target | None) -> fits.PrimaryHDU:
    primary = fits.PrimaryHDU()
    _common(primary.header, instrument, target)
    provenance(primary.header, prov)
    return primary


# --- light curves ------------------------------------------------------------------------------


@dataclass
class LightCurve:
    """Binned light-curve columns (times IJD, widths days, rates counts/s)."""

    time: npt.NDArray[np.float64]
    timedel: npt.NDArray[np.float64]
    rate: npt.NDArray[np.float64]
    error: npt.NDArray[np.float64]
    exposure: npt.NDArray[np.float64]
    significance: npt.NDArray[np.float64]
    upper_limit: npt.NDArray[np.bool_]
    rate_ul: npt.NDArray[np.float64]
    nscw: npt.NDArray[np.int32]

    @property
    def fracexp(self) -> npt.NDArray[np.float64]:
        """Fraction of each bin covered by exposure (OGIP FRACEXP)."""
        width = np.maximum(self.timedel * 86400.0, 1e-9)
        return np.clip(self.exposure / width, 0.0, 1.0)


def lightcurve_fits(
    lc: LightCurve,
    *,
    instrument: str,
    band: tuple[float, float],
    target: Target,
    prov: Provenance,
    binning: str,
) -> bytes:
    """An OGIP light curve: RATE extension (TIME, TIMEDEL, RATE, ERROR, FRACEXP, ...) + GTI."""
    columns = [
        fits.Column("TIME", "D", unit="d", array=lc.time),
        fits.Column("TIMEDEL", "D", unit="d", array=lc.timedel),
        fits.Column("RATE", "E", unit="count/s", array=lc.rate),
        fits.Column("ERROR", "E", unit="count/s", array=lc.error),
        fits.Column("FRACEXP", "E", array=lc.fracexp),
        fits.Column("EXPOSURE", "E", unit="s", array=lc.exposure),
        fits.Column("SIGNIF", "E", array=lc.significance),
        fits.Column("UPPER_LIMIT", "L", array=lc.upper_limit),
        fits.Column("RATE_UL", "E", unit="count/s", array=lc.rate_ul),
        fits.Column("NSCW", "J", array=lc.nscw),
    ]
    rate = fits.BinTableHDU.from_columns(columns, name="RATE")
    h = rate.header
    h["HDUCLASS"] = ("OGIP", "format conforms to OGIP standards")
    h["HDUCLAS1"] = ("LIGHTCURVE", "light curve")
    h["HDUCLAS2"] = ("NET", "background-subtracted source rate")
    h["HDUCLAS3"] = ("RATE", "rates, not counts")
    h["HDUVERS"] = "1.1.0"
    _common(h, instrument, target)
    tstart = float(lc.time[0] - lc.timedel[0] / 2) if len(lc.time) else 0.0
    tstop = float(lc.time[-1] + lc.timedel[-1] / 2) if len(lc.time) else 0.0
    _time_keywords(h, tstart, tstop)
    h["TIMEPIXR"] = (0.5, "TIME is the middle of the bin")
    h["TIMEZERO"] = (0.0, "[d] offset to add to TIME")
    h["TIMEDEL"] = (float(np.median(lc.timedel)) if len(lc.time) else 0.0, "[d] typical bin")
    h["BINNING"] = (binning, "scw, revolution, or bin width in seconds")
    h["E_MIN"] = (band[0], "[keV] lower band edge")
    h["E_MAX"] = (band[1], "[keV] upper band edge")
    h["EUNIT"] = "keV"
    h["ULSIGMA"] = (DETECTION_SIGMA, "UPPER_LIMIT rows: RATE_UL is this-sigma limit")
    provenance(h, prov)
    gti = fits.BinTableHDU.from_columns(
        [
            fits.Column("START", "D", unit="d", array=lc.time - lc.timedel / 2),
            fits.Column("STOP", "D", unit="d", array=lc.time + lc.timedel / 2),
        ],
        name="GTI",
    )
    gti.header["HDUCLASS"] = "OGIP"
    gti.header["HDUCLAS1"] = "GTI"
    gti.header["HDUCLAS2"] = "STANDARD"
    _time_keywords(gti.header, tstart, tstop)
    return _to_bytes(fits.HDUList([_primary(prov, instrument, target), rate, gti]), prov)


def timeseries_fits(
    lc: LightCurve,
    *,
    instrument: str,
    band: tuple[float, float],
    target: Target,
    prov: Provenance,
    revolutions: tuple[int, int],
) -> bytes:
    """A time series in ISLA's layout (extension TIMESERIES with TIME, RATE, ERROR, as the
    real ISLA all-mission and per-epoch time series), plus OGIP time keywords."""
    columns = [
        fits.Column("TIME", "D", unit="d", array=lc.time),
        fits.Column("RATE", "E", unit="count/s", array=lc.rate),
        fits.Column("ERROR", "E", unit="count/s", array=lc.error),
        fits.Column("FRACEXP", "E", array=lc.fracexp),
        fits.Column("TIMEDEL", "D", unit="d", array=lc.timedel),
    ]
    table = fits.BinTableHDU.from_columns(columns, name="TIMESERIES")
    h = table.header
    h["NAME"] = target.name
    h["REVFIRST"] = revolutions[0]
    h["REVLAST"] = revolutions[1]
    h["CHANTYPE"] = "PI"
    h["EUNIT"] = "keV"
    h["E_MIN"] = band[0]
    h["E_MAX"] = band[1]
    h["HDUCLASS"] = "OGIP"
    h["HDUCLAS1"] = "LIGHTCURVE"
    h["HDUCLAS2"] = "NET"
    h["HDUCLAS3"] = "RATE"
    _common(h, instrument, target)
    tstart = float(lc.time[0] - lc.timedel[0] / 2) if len(lc.time) else 0.0
    tstop = float(lc.time[-1] + lc.timedel[-1] / 2) if len(lc.time) else 0.0
    _time_keywords(h, tstart, tstop)
    h["MJDREF"] = (MJDREF, "reference MJD (as ISLA's files)")
    h["TFIRST"] = (tstart, "[d] as ISLA's files: first time, IJD")
    h["TLAST"] = (tstop, "[d] as ISLA's files: last time, IJD")
    h["TIMEPIXR"] = 0.5
    h["TIMEDEL"] = (float(np.median(lc.timedel)) if len(lc.time) else 0.0, "[d] typical bin")
    provenance(h, prov)
    return _to_bytes(fits.HDUList([_primary(prov, instrument, target), table]), prov)


# --- spectra and responses -----------------------------------------------------------------


@dataclass
class Spectrum:
    """A PHA type I spectrum: rates and errors per channel."""

    rate: npt.NDArray[np.float64]
    stat_err: npt.NDArray[np.float64]
    exposure: float
    tstart: float
    tstop: float


def spectrum_fits(
    spec: Spectrum,
    *,
    instrument: str,
    target: Target,
    prov: Provenance,
    respfile: str,
    ancrfile: str,
    revolution: int | None = None,
) -> bytes:
    """An OGIP PHA type I spectrum (extension SPECTRUM) pointing at its RMF and ARF."""
    channels = len(spec.rate)
    table = fits.BinTableHDU.from_columns(
        [
            fits.Column("CHANNEL", "J", array=np.arange(channels, dtype=np.int32)),
            fits.Column("RATE", "E", unit="count/s", array=spec.rate),
            fits.Column("STAT_ERR", "E", unit="count/s", array=spec.stat_err),
            fits.Column("SYS_ERR", "E", array=np.full(channels, 0.01)),
            fits.Column("QUALITY", "I", array=np.zeros(channels, dtype=np.int16)),
            fits.Column("GROUPING", "I", array=np.ones(channels, dtype=np.int16)),
        ],
        name="SPECTRUM",
    )
    h = table.header
    h["TLMIN1"] = 0
    h["TLMAX1"] = channels - 1
    h["HDUCLASS"] = ("OGIP", "format conforms to OGIP standards")
    h["HDUCLAS1"] = ("SPECTRUM", "PHA dataset")
    h["HDUCLAS2"] = ("NET", "background-subtracted")
    h["HDUCLAS3"] = ("RATE", "rates, not counts")
    h["HDUCLAS4"] = ("TYPE:I", "single spectrum")
    h["HDUVERS"] = "1.2.1"
    h["CHANTYPE"] = ("PI", "channel type")
    h["DETCHANS"] = (channels, "number of detector channels")
    h["EXPOSURE"] = (round(spec.exposure, 3), "[s] dead-time corrected exposure")
    h["POISSERR"] = (False, "errors are given in STAT_ERR")
    h["AREASCAL"] = 1.0
    h["BACKSCAL"] = 1.0
    h["CORRSCAL"] = 0.0
    h["BACKFILE"] = "NONE"
    h["CORRFILE"] = "NONE"
    h["RESPFILE"] = (respfile, "redistribution matrix")
    h["ANCRFILE"] = (ancrfile, "ancillary response")
    h["FILTER"] = "none"
    if revolution is not None:
        h["REVOL"] = revolution
    _common(h, instrument, target)
    _time_keywords(h, spec.tstart, spec.tstop)
    provenance(h, prov)
    return _to_bytes(fits.HDUList([_primary(prov, instrument, target), table]), prov)


def arf_fits(
    instrument: str,
    energies: tuple[npt.NDArray[np.floating], npt.NDArray[np.floating]],
    area: npt.NDArray[np.floating],
    prov: Provenance,
) -> bytes:
    """An on-axis ancillary response (extension SPECRESP): ``area`` (cm²) on the energy bins
    ``energies`` = (lower, upper bounds, keV). Writes what it is given; the responses of the
    demo archive come from the simulated pipeline's instrument model."""
    lo, hi = energies
    table = fits.BinTableHDU.from_columns(
        [
            fits.Column("ENERG_LO", "E", unit="keV", array=lo),
            fits.Column("ENERG_HI", "E", unit="keV", array=hi),
            fits.Column("SPECRESP", "E", unit="cm**2", array=area),
        ],
        name="SPECRESP",
    )
    h = table.header
    h["HDUCLASS"] = "OGIP"
    h["HDUCLAS1"] = "RESPONSE"
    h["HDUCLAS2"] = "SPECRESP"
    h["HDUVERS"] = "1.1.0"
    _common(h, instrument, None)
    provenance(h, prov)
    return _to_bytes(fits.HDUList([_primary(prov, instrument, None), table]), prov)


def rmf_fits(
    instrument: str,
    energies: tuple[npt.NDArray[np.floating], npt.NDArray[np.floating]],
    channels: tuple[npt.NDArray[np.floating], npt.NDArray[np.floating]],
    matrix: npt.NDArray[np.floating],
    prov: Provenance,
) -> bytes:
    """A redistribution matrix (MATRIX: one row per energy bin of ``energies``, one column per
    channel) with its channel bounds (EBOUNDS, from ``channels``), bounds in keV."""
    lo, hi = energies
    c_lo, c_hi = channels
    matrix = np.asarray(matrix, dtype=np.float32)
    n_e, n_c = matrix.shape
    table = fits.BinTableHDU.from_columns(
        [
            fits.Column("ENERG_LO", "E", unit="keV", array=lo),
            fits.Column("ENERG_HI", "E", unit="keV", array=hi),
            fits.Column("N_GRP", "I", array=np.ones(n_e, dtype=np.int16)),
            fits.Column("F_CHAN", "I", array=np.zeros(n_e, dtype=np.int16)),
            fits.Column("N_CHAN", "I", array=np.full(n_e, n_c, dtype=np.int16)),
            fits.Column("MATRIX", f"{n_c}E", array=matrix),
        ],
        name="MATRIX",
    )
    h = table.header
    h["HDUCLASS"] = "OGIP"
    h["HDUCLAS1"] = "RESPONSE"
    h["HDUCLAS2"] = "RSP_MATRIX"
    h["HDUCLAS3"] = "REDIST"
    h["HDUVERS"] = "1.3.0"
    h["CHANTYPE"] = "PI"
    h["DETCHANS"] = n_c
    h["LO_THRES"] = (0.0, "lowest matrix element kept")
    h["TLMIN4"] = 0
    h["TLMAX4"] = n_c - 1
    _common(h, instrument, None)
    provenance(h, prov)
    ebounds = fits.BinTableHDU.from_columns(
        [
            fits.Column("CHANNEL", "J", array=np.arange(n_c, dtype=np.int32)),
            fits.Column("E_MIN", "E", unit="keV", array=c_lo),
            fits.Column("E_MAX", "E", unit="keV", array=c_hi),
        ],
        name="EBOUNDS",
    )
    e = ebounds.header
    e["HDUCLASS"] = "OGIP"
    e["HDUCLAS1"] = "RESPONSE"
    e["HDUCLAS2"] = "EBOUNDS"
    e["HDUVERS"] = "1.2.0"
    e["CHANTYPE"] = "PI"
    e["DETCHANS"] = n_c
    _common(e, instrument, None)
    return _to_bytes(fits.HDUList([_primary(prov, instrument, None), table, ebounds]), prov)


# --- images ------------------------------------------------------------------------------------


def celestial_wcs(ra: float, dec: float, pixel_deg: float, size: int) -> WCS:
    """A gnomonic (TAN) ICRS grid of ``size`` x ``size`` pixels centred on (ra, dec)."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [ra, dec]
    wcs.wcs.crpix = [(size + 1) / 2, (size + 1) / 2]
    wcs.wcs.cdelt = [-pixel_deg, pixel_deg]
    wcs.wcs.cunit = ["deg", "deg"]
    wcs.wcs.radesys = "ICRS"
    wcs.wcs.equinox = 2000.0
    return wcs


@dataclass
class Mosaic:
    """The four images of a mosaic, on one WCS grid."""

    intensity: npt.NDArray[np.float32]
    variance: npt.NDArray[np.float32]
    significance: npt.NDArray[np.float32]
    exposure: npt.NDArray[np.float32]
    wcs: WCS
    tstart: float
    tstop: float


def mosaic_fits(
    mosaic: Mosaic,
    *,
    instrument: str,
    band: tuple[float, float],
    prov: Provenance,
    epoch: str,
) -> bytes:
    """A mosaic: image extensions INTENSITY, VARIANCE, SIGNIFICANCE and EXPOSURE with WCS."""
    hdus: list[fits.PrimaryHDU | fits.ImageHDU] = [_primary(prov, instrument, None)]
    images = (
        ("INTENSITY", mosaic.intensity, "count/s"),
        ("VARIANCE", mosaic.variance, "count2/s2"),
        ("SIGNIFICANCE", mosaic.significance, ""),
        ("EXPOSURE", mosaic.exposure, "s"),
    )
    for name, data, unit in images:
        hdu = fits.ImageHDU(data=data, header=mosaic.wcs.to_header(), name=name)
        h = hdu.header
        h["BUNIT"] = unit
        h["HDUCLASS"] = "OGIP"
        h["HDUCLAS1"] = "IMAGE"
        h["HDUCLAS2"] = name
        h["E_MIN"] = (band[0], "[keV]")
        h["E_MAX"] = (band[1], "[keV]")
        h["EPOCH_ID"] = (epoch, "ISLA epoch RRRR_OOOOOOOOOOO")
        _common(h, instrument, None)
        _time_keywords(h, mosaic.tstart, mosaic.tstop)
        provenance(h, prov)
        hdus.append(hdu)
    return _to_bytes(fits.HDUList(hdus), prov)


def omc_image_fits(
    image: npt.NDArray[np.float32], wcs: WCS, *, target: Target, prov: Provenance
) -> bytes:
    """An OMC 11 x 11 pixel postage stamp around a source (extension IMAGE)."""
    hdu = fits.ImageHDU(data=image, header=wcs.to_header(), name="IMAGE")
    hdu.header["BUNIT"] = "count/s"
    hdu.header["FILTER"] = ("V", "Johnson V")
    _common(hdu.header, "OMC", target)
    provenance(hdu.header, prov)
    return _to_bytes(fits.HDUList([_primary(prov, "OMC", target), hdu]), prov)


def omc_lightcurve_fits(
    time: npt.NDArray[np.float64],
    magnitude: npt.NDArray[np.float64],
    error: npt.NDArray[np.float64],
    exposure: npt.NDArray[np.float64],
    *,
    target: Target,
    prov: Provenance,
) -> bytes:
    """An OMC V-band light curve (extension OMC_LC: TIME, MAG_V, ERR_MAG_V, EXPOSURE)."""
    table = fits.BinTableHDU.from_columns(
        [
            fits.Column("TIME", "D", unit="d", array=time),
            fits.Column("MAG_V", "E", unit="mag", array=magnitude),
            fits.Column("ERR_MAG_V", "E", unit="mag", array=error),
            fits.Column("EXPOSURE", "E", unit="s", array=exposure),
        ],
        name="OMC_LC",
    )
    h = table.header
    h["HDUCLASS"] = "OGIP"
    h["HDUCLAS1"] = "LIGHTCURVE"
    h["FILTER"] = ("V", "Johnson V")
    _common(h, "OMC", target)
    tstart = float(time.min()) if len(time) else 0.0
    tstop = float(time.max()) if len(time) else 0.0
    _time_keywords(h, tstart, tstop)
    provenance(h, prov)
    return _to_bytes(fits.HDUList([_primary(prov, "OMC", target), table]), prov)
