"""Quality control of delivered FITS products, before anything is written.

Every delivered file goes through :func:`check_delivery`, which returns *all* problems found
(never only the first) plus warnings, and the facts the archive records about each file (kind,
instrument, band edges, source name and position, time range, epoch, light-curve points, ...).
Nothing here touches the database or the object store: QC is a pure function of the bytes, so
a refused delivery cannot have written anything.

The rules (docs/INGEST.md lists them for teams):

- **Names**: plain file names only (``[A-Za-z0-9][A-Za-z0-9._+-]*``, no ``..``, no folders),
  ending in ``.fits``, ``.fit``, ``.fts`` (optionally ``.gz``).
- **Keywords**, looked up in the product's data HDU, then the primary header, then the other
  HDUs of the file (OGIP files spread them, e.g. an RMF's EBOUNDS carries no CREATOR but its
  MATRIX does): TELESCOP = INTEGRAL, INSTRUME, CREATOR naming a software version; for
  time-tagged products (light curves, spectra, images) TIMESYS, TIMEUNIT and MJDREF (or
  MJDREFI + MJDREFF); for source products (light curves, spectra) the source name (NAME or
  OBJECT) and position (RA_OBJ/DEC_OBJ); for light curves and images the energy band
  (E_MIN/E_MAX); for spectra CHANTYPE and DETCHANS.
- **Companions**: ISLA delivers a mosaic as a pair (``..._mosaic_original`` with full headers,
  ``..._mosaic_smooth`` with a WCS-only header written by astropy). A file of a delivery whose
  identity keywords (TELESCOP, INSTRUME, DETNAM, CREATOR, E_MIN, E_MAX) are missing takes them
  from a companion of the same kind and epoch in the same delivery; this is reported as a
  warning. Without a companion, the keywords are required.
- **Provenance** keywords of the archive's own products (ISLAVER, DATE, NSCW or SCW_LIST, DOI)
  are reported as warnings when missing: ISLA's own delivered files do not all carry them.
- **Data**: light curves: TIME, RATE and ERROR finite, TIME strictly increasing, ERROR > 0;
  spectra: channels increasing, DETCHANS matching, RATE/COUNTS and STAT_ERR finite wherever
  QUALITY is 0 (OGIP: channels with QUALITY > 0 are ignored, and ISLA's spectra hold NaN
  there); responses: energy bins increasing (ENERG_LO < ENERG_HI, strictly increasing), finite
  values; ARF and RMF of a spectrum on the same energy grid, RMF channels = the spectrum's
  DETCHANS; images: no infinite pixel and at least one finite one (NaN marks blank pixels),
  a valid celestial WCS; TSTART < TSTOP; HEALPix all-sky maps: ``PIXTYPE = 'HEALPIX'``,
  ``ORDERING`` NESTED or RING, ``NSIDE`` a power of 2, ``COORDSYS`` celestial (``C``, the
  default when absent), 12 NSIDE² pixels per column when implicitly indexed, no infinite
  value (NaN or ``UNSEEN`` mark unobserved pixels); ``MAPTYPE`` (``exposure``,
  ``sensitivity``, ``line``...) names the map's variant.
- **Checksums**: DATASUM and CHECKSUM are verified whenever present. A checksum stamped by the
  program that last wrote the HDU (cfitsio and astropy write the comment ``HDU checksum
  updated <date>``) must verify, otherwise the file is refused. ISLA's post-processing re-sorted
  the headers of the OSA products it delivered and dropped all card comments, leaving the OSA
  checksums stale (all of the real ISLA files in astroquery's test data but the spectrum show
  this); an unstamped checksum that does not verify is therefore reported as a warning.
- **Size**: compressed files may expand to at most :data:`EXPANSION_LIMIT` times the upload
  limit (a gzip bomb is refused, not unpacked).
- **Simulation**: a file with ``SIMDATA = T`` in any HDU is simulated (the demo archive's,
  :mod:`shared.simulation`); its product row is flagged ``simulated``.
"""

from __future__ import annotations

import gzip
import io
import math
import re
import warnings
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from astropy.io import fits
from astropy.utils.exceptions import AstropyWarning
from astropy.wcs import WCS

from shared import simulation
from shared.integral.time import MJDREF
from shared.maps import healpix
from shared.products import upperlimits

EXPANSION_LIMIT = 10
"""A gzip-compressed upload may expand to at most this many times the upload size limit."""

KINDS = (
    "long_timeseries",
    "short_timeseries",
    "spectrum",
    "arf",
    "rmf",
    "mosaic",
    "omc_lightcurve",
    "omc_image",
    "allsky_map",
    "lc_results",
    "sensitivity",
)
"""Product kinds accepted as FITS deliveries (``preview`` PNGs are made by the archive)."""

RESULTS_KIND = "lc_results"
"""A pipeline's per-ScW source results: one row per source, science window and band (rates;
V magnitudes for OMC), loaded into the light-curve points tables."""

SENSITIVITY_KIND = upperlimits.SENSITIVITY_KIND
"""A pipeline's sensitivity table: per HEALPix pixel and science window, the effective exposure
and 1σ count-rate sensitivity (the basis of upper limits), loaded pixel-major into
``isla_ops.sensitivity``."""

MAX_ROW_PROBLEMS = 50
"""Rows of a results table reported one by one; further bad rows are counted."""

SCW_TIME_SLACK_D = 1e-6
"""How far (days, ~0.1 s) a results row's TIME may lie outside its science window."""

LIGHTCURVE_KINDS = frozenset({"long_timeseries", "short_timeseries", "omc_lightcurve"})
IMAGE_KINDS = frozenset({"mosaic", "omc_image", "allsky_map"})
TIMED_KINDS = LIGHTCURVE_KINDS | IMAGE_KINDS | {"spectrum", RESULTS_KIND, SENSITIVITY_KIND}
SOURCE_KINDS = LIGHTCURVE_KINDS | {"spectrum"}
BAND_KINDS = (LIGHTCURVE_KINDS - {"omc_lightcurve"}) | {"mosaic", SENSITIVITY_KIND}

INHERITABLE = ("TELESCOP", "INSTRUME", "DETNAM", "CREATOR", "E_MIN", "E_MAX")
"""Identity keywords a file may take from a companion of its delivery."""

PROVENANCE = ("ISLAVER", "DATE", "DOI")

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,199}$")
_FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fts.gz")
_VERSION_RE = re.compile(r"\d+(\.\d+)+|v\d+")
_EPOCH_IN_NAME = re.compile(r"(?:^|_)(\d{4})_(\d{11})(?:_|\.)")
_STAMP = "checksum updated"

# INSTRUME (+ DETNAM) → (archive instrument, detector unit).
_INSTRUMENTS: dict[str, tuple[str, str | None]] = {
    "ISGRI": ("ISGRI", None),
    "PICSIT": ("PICsIT", None),
    "JMX1": ("JEM-X", "JEM-X1"),
    "JEMX1": ("JEM-X", "JEM-X1"),
    "JEM-X1": ("JEM-X", "JEM-X1"),
    "JMX2": ("JEM-X", "JEM-X2"),
    "JEMX2": ("JEM-X", "JEM-X2"),
    "JEM-X2": ("JEM-X", "JEM-X2"),
    "JEMX": ("JEM-X", None),
    "JEM-X": ("JEM-X", None),
    "SPI": ("SPI", None),
    "OMC": ("OMC", None),
}


@dataclass(frozen=True)
class Problem:
    """One reason to refuse a file (or, as a warning, something a curator should know)."""

    file: str
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        """JSON form, as listed in the 422 problem document."""
        return {"file": self.file, "code": self.code, "message": self.message}


@dataclass
class ResultsRows:
    """The columns of a source-results table (one row per source, science window and band).

    Times are IJD once :func:`check_delivery` has run (``TIME`` converted with the file's
    ``MJDREF`` and ``TIMEUNIT``); durations and exposures are seconds. ``value``/``error``
    are RATE/RATE_ERR (count/s), or MAG_V/ERR_MAG_V for OMC.
    """

    source_id: npt.NDArray[np.str_]
    scw_id: npt.NDArray[np.str_]
    time: npt.NDArray[np.float64]
    timedel_s: npt.NDArray[np.float64]
    exposure: npt.NDArray[np.float64]
    value: npt.NDArray[np.float64]
    error: npt.NDArray[np.float64]
    offaxis: npt.NDArray[np.float64]
    magnitudes: bool
    """True for OMC tables (MAG_V, ERR_MAG_V), False for rates (RATE, RATE_ERR)."""
    e_min: npt.NDArray[np.float64] | None = None
    e_max: npt.NDArray[np.float64] | None = None
    band: npt.NDArray[np.str_] | None = None


@dataclass
class SensitivityRows:
    """The columns of a sensitivity table (one row per HEALPix pixel and science window);
    times are IJD, exposures seconds, ``rate_sigma`` counts/s."""

    order: int
    crab_count_rate: float
    hpx: npt.NDArray[np.int64]
    scw_id: npt.NDArray[np.str_]
    revolution: npt.NDArray[np.int64]
    t_start: npt.NDArray[np.float64]
    t_stop: npt.NDArray[np.float64]
    exposure: npt.NDArray[np.float64]
    rate_sigma: npt.NDArray[np.float64]


@dataclass
class FileFacts:
    """What QC learnt about one delivered file."""

    file_name: str
    size: int
    kind: str | None = None
    keywords: dict[str, Any] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    instrument: str | None = None
    unit: str | None = None
    e_min: float | None = None
    e_max: float | None = None
    source_name: str | None = None
    ra: float | None = None
    dec: float | None = None
    t_min_mjd: float | None = None
    t_max_mjd: float | None = None
    revolution: int | None = None
    obsid: str | None = None
    epoch: str | None = None
    variant: str | None = None
    detchans: int | None = None
    energy_grid: tuple[int, float, float] | None = None  # (n, first ENERG_LO, last ENERG_HI)
    respfile: str | None = None
    ancrfile: str | None = None
    pha_type: str | None = None
    checksums: str = "absent"  # absent | verified | stale
    time_ijd: npt.NDArray[np.float64] | None = None
    rate: npt.NDArray[np.float64] | None = None
    rate_err: npt.NDArray[np.float64] | None = None
    fracexp: npt.NDArray[np.float64] | None = None
    timedel_s: float | None = None
    simulated: bool = False
    """The file says it is simulated (``SIMDATA = T`` in any HDU): the demo archive's."""
    results: ResultsRows | None = None
    """The rows of a source-results table (kind ``lc_results``)."""
    healpix: dict[str, Any] | None = None
    """A HEALPix map's layout: nside, order, ordering, coordsys and its (column, unit) list."""
    sensitivity: SensitivityRows | None = None
    """The rows of a sensitivity table (kind ``sensitivity``)."""

    def meta(self) -> dict[str, Any]:
        """Facts kept in ``isla.products.meta`` (JSON-safe)."""
        out: dict[str, Any] = {"checksums": self.checksums}
        for key in ("unit", "variant", "detchans", "pha_type", "source_name", "e_min", "e_max"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.energy_grid is not None:
            out["energy_grid"] = list(self.energy_grid)
        if self.ra is not None and self.dec is not None:
            out["ra"], out["dec"] = self.ra, self.dec
        creator = self.keywords.get("CREATOR")
        if creator:
            out["creator"] = creator
        if self.rate is not None:
            out["n_points"] = len(self.rate)
        if self.healpix is not None:
            out["healpix"] = self.healpix
        if self.sensitivity is not None:
            out["n_rows"] = len(self.sensitivity.hpx)
            out["n_pixels"] = len(np.unique(self.sensitivity.hpx))
            out["n_scws"] = len(np.unique(self.sensitivity.scw_id))
            out["hpx_order"] = self.sensitivity.order
            out["crab_count_rate"] = self.sensitivity.crab_count_rate
        if self.results is not None:
            out["n_points"] = len(self.results.source_id)
            out["n_sources"] = len(np.unique(self.results.source_id))
            out["n_scws"] = len(np.unique(self.results.scw_id))
        return out


@dataclass
class QcReport:
    """The outcome of QC on a delivery: facts per file, problems (refusal) and warnings."""

    files: list[FileFacts] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing stands in the way of ingestion."""
        return not self.problems


# --- Names -----------------------------------------------------------------------------------


def check_file_name(name: str) -> list[Problem]:
    """Problems with a delivered file name (path-like, unsafe or not a FITS name)."""
    shown = name if isinstance(name, str) else repr(name)
    if not isinstance(name, str) or not name:
        return [Problem(str(shown), "file_name", "a file name is required")]
    if "/" in name or "\\" in name or ".." in name or not _NAME_RE.match(name):
        return [
            Problem(
                shown,
                "file_name",
                "file names must be plain names of letters, digits and . _ + - "
                "(no folders, no '..', at most 200 characters)",
            )
        ]
    if not name.lower().endswith(_FITS_SUFFIXES):
        return [Problem(shown, "file_name", "not a FITS file name (.fits, .fit, .fts, + .gz)")]
    return []


# --- Checksums -------------------------------------------------------------------------------


def _ones_sum(block: bytes) -> int:
    """FITS checksum arithmetic: 32-bit ones' complement sum of big-endian words."""
    if not block:
        return 0
    words = np.frombuffer(block[: len(block) - len(block) % 4], dtype=">u4")
    total = int(words.sum(dtype=np.uint64))
    while total >> 32:
        total = (total & 0xFFFFFFFF) + (total >> 32)
    return total


def _add(a: int, b: int) -> int:
    total = a + b
    while total >> 32:
        total = (total & 0xFFFFFFFF) + (total >> 32)
    return total


def _verify_checksums(
    name: str, raw: bytes, hdul: fits.HDUList, problems: list[Problem], warns: list[Problem]
) -> str:
    """Verify DATASUM/CHECKSUM of every HDU on the raw bytes; returns the file's status."""
    status = "absent"
    for index, hdu in enumerate(hdul):
        header = hdu.header
        if "CHECKSUM" not in header and "DATASUM" not in header:
            continue
        info = hdu.fileinfo()
        if info is None:
            continue
        start, data_at, span = info["hdrLoc"], info["datLoc"], info["datSpan"]
        data_sum = _ones_sum(raw[data_at : data_at + span]) if span else 0
        bad: list[str] = []
        if "DATASUM" in header:
            stated = str(header["DATASUM"]).strip()
            if not stated.isdigit() or int(stated) != data_sum:
                bad.append("DATASUM")
        if "CHECKSUM" in header:
            total = _add(_ones_sum(raw[start:data_at]), data_sum)
            if total not in (0xFFFFFFFF, 0):
                bad.append("CHECKSUM")
        stamped = any(
            _STAMP in str(header.comments[key]).lower()
            for key in ("CHECKSUM", "DATASUM")
            if key in header
        )
        where = f"HDU {index} ({hdu.name})"
        if not bad:
            status = "verified" if status in ("absent", "verified") else status
        elif stamped:
            problems.append(
                Problem(
                    name,
                    "checksum",
                    f"{where}: {' and '.join(bad)} does not match the content: the file was "
                    "damaged or changed after it was written",
                )
            )
            status = "broken"
        else:
            warns.append(
                Problem(
                    name,
                    "stale_checksum",
                    f"{where}: unstamped {' and '.join(bad)} inherited from an earlier file "
                    "version does not match (accepted, as in ISLA's post-processed products)",
                )
            )
            status = "stale"
    return status


# --- Reading ---------------------------------------------------------------------------------


def _decompress(name: str, data: bytes, limit: int) -> bytes:
    """Gunzip ``data`` if it is gzip, refusing to expand beyond ``limit`` bytes."""
    if data[:2] != b"\x1f\x8b":
        return data
    out = io.BytesIO()
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    view = memoryview(data)
    for i in range(0, len(data), 1 << 20):
        chunk = inflater.decompress(view[i : i + (1 << 20)], limit + 1 - out.tell())
        out.write(chunk)
        if out.tell() > limit or inflater.unconsumed_tail:
            raise ValueError(f"expands beyond {limit} bytes")
    try:
        out.write(inflater.flush())
    except zlib.error as exc:
        raise ValueError(f"damaged gzip stream: {exc}") from exc
    if out.tell() > limit:
        raise ValueError(f"expands beyond {limit} bytes")
    # Concatenated gzip members (legal, rare): fall back on the stdlib for the rest.
    if inflater.unused_data:
        rest = gzip.decompress(bytes(inflater.unused_data))
        if out.tell() + len(rest) > limit:
            raise ValueError(f"expands beyond {limit} bytes")
        out.write(rest)
    return out.getvalue()


def _kw(hdul: fits.HDUList, main: int, key: str) -> Any:
    """A keyword from the main HDU, else the primary header, else any other HDU."""
    order = [main, 0, *[i for i in range(len(hdul)) if i not in (main, 0)]]
    for i in order:
        if i < len(hdul) and key in hdul[i].header:
            value = hdul[i].header[key]
            if isinstance(value, str):
                value = value.strip()
            if value not in ("", None):
                return value
    return None


def _number(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def _is_image(hdu: Any) -> bool:
    return (
        isinstance(hdu, fits.PrimaryHDU | fits.ImageHDU)
        and hdu.header.get("NAXIS", 0) >= 2
        and hdu.data is not None
    )


def _column(table: Any, *names: str) -> npt.NDArray[Any] | None:
    columns = {c.upper(): c for c in table.columns.names}
    for name in names:
        if name in columns:
            return np.asarray(table[columns[name]])
    return None


def _detect_kind(hdul: fits.HDUList) -> tuple[str | None, int]:
    """(kind, index of the main HDU) from the HDU classes and structure."""
    for i, hdu in enumerate(hdul):
        h = hdu.header
        cls1 = str(h.get("HDUCLAS1", "")).strip().upper()
        cls2 = str(h.get("HDUCLAS2", "")).strip().upper()
        ext = str(h.get("EXTNAME", "")).strip().upper()
        if cls1 == "SPECTRUM" or ext == "SPECTRUM" or ext.endswith("-SPE"):
            return "spectrum", i
        if ext in ("SPECRESP MATRIX", "MATRIX") or cls2 in ("RSP_MATRIX",):
            return "rmf", i
        if (cls1 == "RESPONSE" and cls2 == "SPECRESP") or ext == "SPECRESP":
            return "arf", i
    for i, hdu in enumerate(hdul):
        if isinstance(hdu, fits.BinTableHDU):
            names = {c.upper() for c in hdu.columns.names}
            label = upperlimits.SENSITIVITY_EXTNAME
            if label in (ext_or_class(hdu, "EXTNAME"), ext_or_class(hdu, "HDUCLAS1")):
                return SENSITIVITY_KIND, i
            if str(hdu.header.get("PIXTYPE", "")).strip().upper() == "HEALPIX":
                return "allsky_map", i
            if {"SOURCE_ID", "SCW_ID", "TIME"} <= names:
                return RESULTS_KIND, i
            if "TIME" in names and ({"RATE", "MAGNITUDE", "MAG_V", "FLUX"} & names):
                return "lightcurve", i
    for i, hdu in enumerate(hdul):
        if _is_image(hdu):
            return "image", i
    return None, 0


def ext_or_class(hdu: Any, key: str) -> str:
    """A header keyword as upper-case text ('' when absent)."""
    return str(hdu.header.get(key, "")).strip().upper()


def _refine_kind(detected: str, hdul: fits.HDUList, main: int, name: str) -> str:
    instrument = str(_kw(hdul, main, "INSTRUME") or "").upper()
    lower = name.lower()
    if detected == "lightcurve":
        if instrument == "OMC":
            return "omc_lightcurve"
        first, last = _kw(hdul, main, "REVFIRST"), _kw(hdul, main, "REVLAST")
        mission = "allmission" in lower or (first is not None and first != last)
        return "long_timeseries" if mission else "short_timeseries"
    if detected == "image":
        if instrument == "OMC":
            return "omc_image"
        ctype = str(hdul[main].header.get("CTYPE1", "")).upper()
        if "allsky" in lower or ctype.endswith(("-CAR", "-AIT", "-HPX", "-MOL")):
            return "allsky_map"
        return "mosaic"
    return detected


# --- Per-kind data checks --------------------------------------------------------------------


def _check_lightcurve(f: FileFacts, hdu: Any, problems: list[Problem]) -> None:
    table = hdu.data
    time = _column(table, "TIME")
    rate = _column(table, "RATE", "FLUX", "MAGNITUDE", "MAG_V")
    err = _column(table, "ERROR", "RATE_ERR", "ERR", "FLUX_ERR", "MAG_ERR", "ERR_MAG_V")
    if time is None or rate is None or err is None:
        problems.append(Problem(f.file_name, "columns", "light curves need TIME, RATE and ERROR"))
        return
    time, rate, err = (np.asarray(a, dtype=np.float64).reshape(-1) for a in (time, rate, err))
    if len(time) == 0:
        problems.append(Problem(f.file_name, "empty", "the light curve has no points"))
        return
    for label, values in (("TIME", time), ("RATE", rate), ("ERROR", err)):
        bad = int(np.count_nonzero(~np.isfinite(values)))
        if bad:
            problems.append(
                Problem(f.file_name, "non_finite", f"{bad} {label} values are NaN or infinite")
            )
    steps = np.diff(time)
    if np.any(~(steps > 0) & np.isfinite(steps)):
        first = int(np.argmax(~(steps > 0))) + 1
        problems.append(
            Problem(
                f.file_name,
                "time_order",
                f"TIME must increase strictly; row {first} is not after row {first - 1}",
            )
        )
    if np.any((err <= 0) & np.isfinite(err)):
        problems.append(Problem(f.file_name, "error_values", "ERROR must be positive"))
    f.time_ijd, f.rate, f.rate_err = time, rate, err
    fracexp = _column(table, "FRACEXP")
    if fracexp is not None:
        f.fracexp = np.asarray(fracexp, dtype=np.float64).reshape(-1)
    timedel = _number(hdu.header.get("TIMEDEL"))
    if timedel is not None:
        unit = str(hdu.header.get("TIMEUNIT", "d")).strip().lower()
        f.timedel_s = timedel * 86400.0 if unit == "d" else timedel


_RESULTS_COLUMNS = ("SOURCE_ID", "SCW_ID", "TIME", "TIMEDEL", "EXPOSURE", "OFFAXIS")
"""Columns every source-results table has; then RATE, RATE_ERR and E_MIN + E_MAX (or BAND)
for ISGRI and JEM-X, MAG_V and ERR_MAG_V for OMC."""


class _RowProblems:
    """Problems of a results table's rows: the first :data:`MAX_ROW_PROBLEMS` one by one
    (row numbers 1-based, as FITS viewers count), then how many more."""

    def __init__(self, f: FileFacts, problems: list[Problem]) -> None:
        self.f, self.problems, self.listed, self.more = f, problems, 0, 0

    def add(self, code: str, rows: npt.NDArray[np.bool_], what: Any) -> None:
        """Report every row where ``rows`` is true; ``what(i)`` says what is wrong with it."""
        for i in np.flatnonzero(rows).tolist():
            if self.listed < MAX_ROW_PROBLEMS:
                self.problems.append(Problem(self.f.file_name, code, f"row {i + 1}: {what(i)}"))
                self.listed += 1
            else:
                self.more += 1

    def close(self) -> None:
        """The count of the rows not listed."""
        if self.more:
            self.problems.append(
                Problem(self.f.file_name, "rows", f"and {self.more} more problems in other rows")
            )
            self.more = 0


def _text_column(table: Any, name: str) -> npt.NDArray[np.str_] | None:
    values = _column(table, name)
    if values is None:
        return None
    return np.char.strip(np.asarray(values).astype(str))


def _check_results(f: FileFacts, hdu: Any, problems: list[Problem]) -> None:
    """A source-results table: its columns, and the rows that can be judged without the
    archive (finite numbers, positive errors and widths, no row twice). Rows are checked
    against the archive's sources, science windows and bands by :func:`resolve_results`."""
    table = hdu.data
    names = {c.upper() for c in table.columns.names}
    omc = str(f.keywords.get("INSTRUME", "")).strip().upper() == "OMC"
    needed = [*_RESULTS_COLUMNS, *(("MAG_V", "ERR_MAG_V") if omc else ("RATE", "RATE_ERR"))]
    missing = [c for c in needed if c not in names]
    if not omc and "BAND" not in names and not {"E_MIN", "E_MAX"} <= names:
        missing.append("E_MIN and E_MAX (or BAND)")
    if missing:
        problems.append(
            Problem(f.file_name, "columns", f"a results table needs {', '.join(missing)}")
        )
        return
    n = len(table)
    if n == 0:
        problems.append(Problem(f.file_name, "empty", "the results table has no rows"))
        return

    def number(name: str) -> npt.NDArray[np.float64]:
        return np.asarray(_column(table, name), dtype=np.float64).reshape(-1)

    rows = ResultsRows(
        source_id=_text_column(table, "SOURCE_ID"),  # type: ignore[arg-type]
        scw_id=_text_column(table, "SCW_ID"),  # type: ignore[arg-type]
        time=number("TIME"),
        timedel_s=number("TIMEDEL") * _seconds_per_unit(hdu, "TIMEDEL"),
        exposure=number("EXPOSURE"),
        value=number("MAG_V" if omc else "RATE"),
        error=number("ERR_MAG_V" if omc else "RATE_ERR"),
        offaxis=number("OFFAXIS"),
        magnitudes=omc,
    )
    if not omc:
        if {"E_MIN", "E_MAX"} <= names:
            rows.e_min, rows.e_max = number("E_MIN"), number("E_MAX")
        else:
            rows.band = _text_column(table, "BAND")
    report = _RowProblems(f, problems)
    numeric = {
        "TIME": rows.time,
        "TIMEDEL": rows.timedel_s,
        "EXPOSURE": rows.exposure,
        ("MAG_V" if omc else "RATE"): rows.value,
        ("ERR_MAG_V" if omc else "RATE_ERR"): rows.error,
        "OFFAXIS": rows.offaxis,
    }
    if rows.e_min is not None and rows.e_max is not None:
        numeric["E_MIN"], numeric["E_MAX"] = rows.e_min, rows.e_max
    finite = np.column_stack([np.isfinite(v) for v in numeric.values()])
    labels = list(numeric)
    report.add(
        "non_finite",
        np.asarray(~finite.all(axis=1)),
        lambda i: (
            f"{', '.join(lab for lab, ok in zip(labels, finite[i], strict=True) if not ok)}"
            " NaN or infinite"
        ),
    )
    with np.errstate(invalid="ignore"):
        error_name = "ERR_MAG_V" if omc else "RATE_ERR"
        report.add(
            "error_values", np.asarray(rows.error <= 0), lambda i: f"{error_name} must be positive"
        )
        report.add(
            "time_values",
            (rows.timedel_s <= 0) | (rows.exposure < 0),
            lambda i: "TIMEDEL must be positive and EXPOSURE not negative",
        )
    bad_scw = ~np.char.isdigit(rows.scw_id) | (np.char.str_len(rows.scw_id) != 12)
    report.add("scw", bad_scw, lambda i: f"SCW_ID {str(rows.scw_id[i])!r} is not a 12-digit ScW id")
    report.add("source", rows.source_id == "", lambda i: "SOURCE_ID is empty")
    twice = _repeated_rows(rows)
    report.add(
        "duplicate",
        twice,
        lambda i: f"{rows.source_id[i]} in ScW {rows.scw_id[i]} appears more than once",
    )
    report.close()
    f.results = rows
    f.time_ijd = rows.time


def _codes(values: npt.NDArray[Any]) -> npt.NDArray[np.int64]:
    """An integer per row, equal where the values are equal (text sorted as bytes when it is
    ASCII, which is several times faster than as unicode)."""
    if values.dtype.kind == "U" and values.size:
        width = values.dtype.itemsize // 4
        if int(values.view(np.uint32).max()) < 128:  # ASCII: bytes hold the same order
            values = values.astype(f"S{width}")
    return np.unique(values, return_inverse=True)[1].reshape(-1).astype(np.int64)


def _repeated_rows(rows: ResultsRows) -> npt.NDArray[np.bool_]:
    """Rows whose source, ScW and band (name, or edges) an earlier row already has: the keys
    turned into integers and sorted together, no string built per row."""
    keys = [_codes(rows.source_id), _codes(rows.scw_id)]
    if rows.band is not None:
        keys.append(_codes(rows.band))
    elif rows.e_min is not None and rows.e_max is not None:
        keys += [rows.e_min.view(np.int64), rows.e_max.view(np.int64)]
    order = np.lexsort(keys[::-1])
    stacked = np.column_stack(keys)[order]
    same = np.zeros(len(order), dtype=bool)
    same[1:] = (stacked[1:] == stacked[:-1]).all(axis=1)
    twice = np.zeros(len(order), dtype=bool)
    twice[order] = same
    return twice


def _time_reference(hdu: Any) -> tuple[float, float] | None:
    """(MJDREF, days per time unit) of a table HDU, None when unreadable."""
    h = hdu.header
    ref = _number(h.get("MJDREF"))
    if ref is None and "MJDREFI" in h:
        ref = (_number(h.get("MJDREFI")) or 0.0) + (_number(h.get("MJDREFF")) or 0.0)
    scale = {"d": 1.0, "s": 1.0 / 86400.0}.get(str(h.get("TIMEUNIT", "d")).strip().lower())
    if ref is None or scale is None:
        return None
    return ref, scale


def _check_sensitivity(f: FileFacts, hdu: Any, problems: list[Problem]) -> None:
    """A sensitivity table: HEALPix keywords (NESTED, ICRS, HPXORDER), the Crab's rate in the
    band, its columns, and rows that are numbers in range, each (pixel, ScW) once. The ScWs
    are checked against the archive by the planning step."""
    h = hdu.header
    table = hdu.data
    names = {c.upper() for c in table.columns.names}
    missing = [c for c in upperlimits.SENSITIVITY_COLUMNS if c not in names]
    if missing:
        problems.append(
            Problem(f.file_name, "columns", f"a sensitivity table needs {', '.join(missing)}")
        )
        return
    order = _number(h.get("HPXORDER"))
    if order is None or order != int(order) or not 0 <= order <= upperlimits.MAX_ORDER:
        problems.append(
            Problem(
                f.file_name,
                "healpix",
                f"HPXORDER must be an integer from 0 to {upperlimits.MAX_ORDER}",
            )
        )
        return
    if str(h.get("ORDERING", "")).strip().upper() != "NESTED":
        problems.append(Problem(f.file_name, "healpix", "ORDERING must be NESTED"))
    if str(h.get("COORDSYS", "C")).strip().upper() not in ("C", "CEL", "ICRS"):
        problems.append(Problem(f.file_name, "healpix", "COORDSYS must be C (ICRS)"))
    crab = _number(h.get("CRABRATE"))
    if crab is None or not math.isfinite(crab) or crab <= 0:
        problems.append(
            Problem(f.file_name, "keyword", "CRABRATE (the Crab's count rate) must be > 0")
        )
        return
    reference = _time_reference(hdu)
    if reference is None:
        problems.append(Problem(f.file_name, "keyword", "MJDREF and TIMEUNIT (d or s) needed"))
        return
    if len(table) == 0:
        problems.append(Problem(f.file_name, "empty", "the sensitivity table has no rows"))
        return
    ref, scale = reference

    def number(name: str) -> npt.NDArray[np.float64]:
        return np.asarray(_column(table, name), dtype=np.float64).reshape(-1)

    hpx = number("HPX")
    rows = SensitivityRows(
        order=int(order),
        crab_count_rate=float(crab),
        hpx=np.nan_to_num(hpx, nan=-1).astype(np.int64),
        scw_id=_text_column(table, "SCW_ID"),  # type: ignore[arg-type]
        revolution=np.nan_to_num(number("REVOL"), nan=-1).astype(np.int64),
        t_start=number("TSTART") * scale + (ref - MJDREF),
        t_stop=number("TSTOP") * scale + (ref - MJDREF),
        exposure=number("EXPOSURE"),
        rate_sigma=number("RATE_SIG"),
    )
    bad = _RowProblems(f, problems)
    npix = 12 * 4 ** int(order)
    bad.add(
        "healpix",
        (hpx != np.floor(hpx)) | (hpx < 0) | (hpx >= npix),
        lambda i: f"HPX {hpx[i]} is no pixel of order {int(order)}",
    )
    bad.add(
        "scw_id",
        (np.char.str_len(rows.scw_id) != 12) | ~np.char.isdigit(rows.scw_id),
        lambda i: f"SCW_ID {rows.scw_id[i]!r} is not RRRRPPPPSSSF",
    )
    bad.add(
        "time",
        ~(np.isfinite(rows.t_start) & np.isfinite(rows.t_stop)) | (rows.t_start >= rows.t_stop),
        lambda i: "TSTART must be before TSTOP",
    )
    bad.add(
        "exposure",
        ~np.isfinite(rows.exposure) | (rows.exposure < 0),
        lambda i: f"EXPOSURE {rows.exposure[i]} is not a non-negative number",
    )
    bad.add(
        "rate_sig",
        ~np.isfinite(rows.rate_sigma) | (rows.rate_sigma <= 0),
        lambda i: f"RATE_SIG {rows.rate_sigma[i]} is not a positive number",
    )
    keys = np.char.add(np.char.add(rows.hpx.astype(str), "/"), rows.scw_id)
    _unique, first, counts = np.unique(keys, return_index=True, return_counts=True)
    twice = np.zeros(len(keys), dtype=bool)
    twice[np.setdiff1d(np.arange(len(keys)), first)] = True
    if np.any(counts > 1):
        bad.add("duplicate", twice, lambda i: f"pixel {rows.hpx[i]} and ScW {rows.scw_id[i]} again")
    bad.close()
    f.sensitivity = rows


def _seconds_per_unit(hdu: Any, column: str) -> float:
    """Seconds per unit of a column (TUNITn ``s`` or ``d``; seconds when not given)."""
    names = [c.upper() for c in hdu.columns.names]
    unit = str(hdu.columns[names.index(column)].unit or "s").strip().lower()
    return 86400.0 if unit in ("d", "day", "days") else 1.0


@dataclass(frozen=True)
class ScwSpan:
    """A science window as a results table's rows are checked against it."""

    start_ijd: float
    end_ijd: float
    revolution: int


def resolve_results(
    f: FileFacts,
    scws: dict[str, ScwSpan],
    sources: set[str],
    bands: Sequence[dict[str, Any]],
) -> tuple[npt.NDArray[np.int64], list[Problem]]:
    """Band id of every row of a results table (-1 for OMC), and the rows' problems against
    the archive: unknown source, unknown ScW, time outside its ScW, unknown band.

    A pure function of the file and the archive facts it is given (``scws`` and ``sources``
    need hold only those the table names; ``bands`` are ``isla.energy_bands`` rows).
    """
    rows = f.results
    problems: list[Problem] = []
    if rows is None:
        return np.zeros(0, dtype=np.int64), problems
    n = len(rows.source_id)
    report = _RowProblems(f, problems)
    report.add(
        "source",
        ~np.isin(rows.source_id, np.array(sorted(sources), dtype=str)),
        lambda i: f"unknown source {str(rows.source_id[i])!r}",
    )
    ids, inverse = np.unique(rows.scw_id, return_inverse=True)
    spans = [scws.get(str(s)) for s in ids]
    known = np.array([s is not None for s in spans], dtype=bool)[inverse]
    report.add("scw", ~known, lambda i: f"unknown science window {str(rows.scw_id[i])!r}")
    start = np.array([s.start_ijd if s else np.nan for s in spans])[inverse]
    end = np.array([s.end_ijd if s else np.nan for s in spans])[inverse]
    with np.errstate(invalid="ignore"):
        outside = known & (
            (rows.time < start - SCW_TIME_SLACK_D) | (rows.time > end + SCW_TIME_SLACK_D)
        )
    report.add(
        "scw_time",
        outside,
        lambda i: (
            f"TIME {rows.time[i]:.6f} (IJD) is outside ScW {rows.scw_id[i]} "
            f"({start[i]:.6f}-{end[i]:.6f})"
        ),
    )
    band_ids = np.full(n, -1, dtype=np.int64)
    if not rows.magnitudes:
        own = [b for b in bands if b["instrument"] == f.instrument]
        if rows.band is not None:
            by_name = {str(b["name"]): int(b["band_id"]) for b in own}
            names, where = np.unique(rows.band, return_inverse=True)
            band_ids = np.array([by_name.get(str(x), -1) for x in names], dtype=np.int64)[where]
            report.add(
                "band",
                band_ids < 0,
                lambda i: f"no {f.instrument} band {str(rows.band[i])!r}",
            )
        elif rows.e_min is not None and rows.e_max is not None:
            lo_edges, hi_edges = rows.e_min, rows.e_max
            edges, where = np.unique(
                np.column_stack([rows.e_min, rows.e_max]), axis=0, return_inverse=True
            )
            found = [_band_of(own, float(lo), float(hi)) for lo, hi in edges]
            band_ids = np.array([-1 if b is None else b for b in found], dtype=np.int64)[
                where.reshape(-1)
            ]
            report.add(
                "band",
                band_ids < 0,
                lambda i: f"no {f.instrument} band matches {lo_edges[i]:g}-{hi_edges[i]:g} keV",
            )
    report.close()
    return band_ids, problems


def _band_of(bands: Sequence[dict[str, Any]], e_min: float, e_max: float) -> int | None:
    """The band whose edges match (within 5 %, at least 0.5 keV), as for light curves."""
    for band in bands:
        if abs(band["e_min"] - e_min) <= max(0.5, 0.05 * band["e_min"]) and abs(
            band["e_max"] - e_max
        ) <= max(0.5, 0.05 * band["e_max"]):
            return int(band["band_id"])
    return None


def _check_spectrum(f: FileFacts, hdu: Any, problems: list[Problem]) -> None:
    table = hdu.data
    channel = _column(table, "CHANNEL")
    values = _column(table, "RATE", "COUNTS")
    if channel is None or values is None:
        problems.append(Problem(f.file_name, "columns", "PHA spectra need CHANNEL and RATE/COUNTS"))
        return
    f.pha_type = "II" if np.asarray(values).ndim == 2 else "I"
    rows_channels = np.atleast_2d(np.asarray(channel))
    for row in rows_channels:
        if len(row) > 1 and np.any(np.diff(row) <= 0):
            problems.append(Problem(f.file_name, "channel_order", "CHANNEL must increase"))
            break
    detchans = _number(hdu.header.get("DETCHANS"))
    if detchans is not None:
        f.detchans = int(detchans)
        if rows_channels.shape[-1] != f.detchans:
            problems.append(
                Problem(
                    f.file_name,
                    "detchans",
                    f"DETCHANS is {f.detchans} but the spectrum has "
                    f"{rows_channels.shape[-1]} channels",
                )
            )
    quality = _column(table, "QUALITY")
    good = np.ones(np.shape(values), dtype=bool)
    if quality is not None:
        flags = np.asarray(quality) == 0
        if flags.ndim == 1 and np.ndim(values) == 2:
            flags = flags[:, np.newaxis]  # type II: one flag per spectrum
        good = np.broadcast_to(flags, np.shape(values))
    arrays = [("RATE/COUNTS", np.asarray(values, dtype=np.float64))]
    stat = _column(table, "STAT_ERR")
    if stat is not None:
        arrays.append(("STAT_ERR", np.asarray(stat, dtype=np.float64)))
    for label, array in arrays:
        bad = int(np.count_nonzero(~np.isfinite(array) & good))
        if bad:
            problems.append(
                Problem(
                    f.file_name,
                    "non_finite",
                    f"{bad} {label} values are NaN or infinite in channels of QUALITY 0",
                )
            )
    exposure = _number(hdu.header.get("EXPOSURE"))
    column = _column(table, "EXPOSURE")
    if exposure is None and column is not None:  # type II: one exposure per spectrum
        exposures = np.asarray(column, dtype=np.float64)
        exposure = float(exposures.min()) if exposures.size else None
    if exposure is None or not exposure > 0:
        problems.append(Problem(f.file_name, "exposure", "EXPOSURE must be a positive number"))
    f.respfile = _base_name(hdu.header.get("RESPFILE"))
    f.ancrfile = _base_name(hdu.header.get("ANCRFILE"))


def _base_name(value: Any) -> str | None:
    if not isinstance(value, str) or value.strip().upper() in ("", "NONE"):
        return None
    return value.strip().replace("\\", "/").rsplit("/", 1)[-1].split("[", 1)[0]


def _check_energy_bins(
    f: FileFacts, lo: npt.NDArray[Any] | None, hi: npt.NDArray[Any] | None, what: str
) -> list[Problem]:
    if lo is None or hi is None:
        return [Problem(f.file_name, "columns", f"{what} needs ENERG_LO and ENERG_HI")]
    lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    out = []
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
        out.append(Problem(f.file_name, "non_finite", f"{what}: energies must be finite"))
    elif len(lo) == 0 or np.any(lo >= hi) or np.any(np.diff(lo) <= 0):
        out.append(
            Problem(
                f.file_name,
                "energy_order",
                f"{what}: energy bins must increase (ENERG_LO < ENERG_HI, strictly increasing)",
            )
        )
    else:
        f.energy_grid = (len(lo), float(lo[0]), float(hi[-1]))
    return out


def _check_arf(f: FileFacts, hdu: Any, problems: list[Problem]) -> None:
    table = hdu.data
    problems += _check_energy_bins(f, _column(table, "ENERG_LO"), _column(table, "ENERG_HI"), "ARF")
    resp = _column(table, "SPECRESP")
    if resp is None:
        problems.append(Problem(f.file_name, "columns", "ARF needs SPECRESP"))
    elif not np.all(np.isfinite(resp)) or np.any(np.asarray(resp) < 0):
        problems.append(Problem(f.file_name, "non_finite", "SPECRESP must be finite and >= 0"))


def _check_rmf(f: FileFacts, hdul: fits.HDUList, main: int, problems: list[Problem]) -> None:
    table = hdul[main].data
    problems += _check_energy_bins(f, _column(table, "ENERG_LO"), _column(table, "ENERG_HI"), "RMF")
    matrix = _column(table, "MATRIX")
    if matrix is None:
        problems.append(Problem(f.file_name, "columns", "RMF needs MATRIX"))
    else:
        flat = (
            np.concatenate([np.asarray(m, dtype=np.float64).ravel() for m in matrix])
            if matrix.dtype == object
            else np.asarray(matrix, dtype=np.float64)
        )
        if not np.all(np.isfinite(flat)):
            problems.append(Problem(f.file_name, "non_finite", "MATRIX values must be finite"))
    detchans = _number(_kw(hdul, main, "DETCHANS"))
    ebounds = next((h for h in hdul if h.name == "EBOUNDS"), None)
    if ebounds is None:
        problems.append(Problem(f.file_name, "ebounds", "RMF needs an EBOUNDS extension"))
        return
    e_lo, e_hi = _column(ebounds.data, "E_MIN"), _column(ebounds.data, "E_MAX")
    if e_lo is None or e_hi is None:
        problems.append(Problem(f.file_name, "columns", "EBOUNDS needs E_MIN and E_MAX"))
        return
    e_lo, e_hi = np.asarray(e_lo, dtype=np.float64), np.asarray(e_hi, dtype=np.float64)
    if np.any(e_lo >= e_hi) or np.any(np.diff(e_lo) <= 0):
        problems.append(
            Problem(f.file_name, "energy_order", "EBOUNDS: channel energies must increase")
        )
    f.detchans = int(detchans) if detchans is not None else len(e_lo)
    if f.detchans != len(e_lo):
        problems.append(
            Problem(
                f.file_name,
                "detchans",
                f"DETCHANS is {f.detchans} but EBOUNDS has {len(e_lo)} channels",
            )
        )


def _check_images(f: FileFacts, hdul: fits.HDUList, problems: list[Problem]) -> None:
    images = [hdu for hdu in hdul if _is_image(hdu)]
    for hdu in images:
        data = np.asarray(hdu.data, dtype=np.float64)
        if np.any(np.isinf(data)):
            problems.append(
                Problem(f.file_name, "non_finite", f"{hdu.name}: image has infinite pixels")
            )
        if not np.any(np.isfinite(data)):
            problems.append(Problem(f.file_name, "non_finite", f"{hdu.name}: no finite pixel"))
    if f.kind == "allsky_map":
        return
    first = images[0]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AstropyWarning)
            wcs = WCS(first.header)
        if not wcs.has_celestial:
            raise ValueError("no celestial axes")
        centre = wcs.celestial.pixel_to_world_values(
            (first.header["NAXIS1"] - 1) / 2, (first.header["NAXIS2"] - 1) / 2
        )
        ra, dec = (float(v) for v in centre)
        if math.isfinite(ra) and math.isfinite(dec):
            f.ra, f.dec = ra % 360.0, dec
    except Exception as exc:  # astropy raises many types for bad WCS headers
        problems.append(Problem(f.file_name, "wcs", f"no valid celestial WCS: {exc}"))


def _check_healpix(f: FileFacts, hdu: Any, problems: list[Problem]) -> None:
    """A HEALPix all-sky map: PIXTYPE, ORDERING (NESTED or RING), NSIDE (a power of 2),
    COORDSYS (celestial only: the archive's maps and HiPS are ICRS), the pixel count of an
    implicit index, no infinite value; records the map's layout for the archive."""
    layout = healpix.header_problems(hdu.header)
    problems += [Problem(f.file_name, "healpix", message) for message in layout]
    if any("NSIDE" in message for message in layout):
        return
    nside = int(hdu.header["NSIDE"])
    columns = healpix.value_columns(hdu)
    if not columns:
        problems.append(Problem(f.file_name, "healpix", "no numeric map column"))
        return
    implicit = str(hdu.header.get("INDXSCHM", "IMPLICIT")).strip().upper() == "IMPLICIT"
    for name, _unit in columns:
        values = np.asarray(hdu.data[name], dtype=np.float64)
        if implicit and values.size != 12 * nside**2:
            problems.append(
                Problem(f.file_name, "healpix", f"{values.size} pixels for NSIDE {nside}")
            )
        if np.any(np.isinf(values)):
            problems.append(Problem(f.file_name, "non_finite", f"{name}: infinite pixels"))
    f.healpix = {
        "nside": nside,
        "order": healpix.order_of(nside),
        "ordering": str(hdu.header.get("ORDERING", "")).strip().upper(),
        "coordsys": str(hdu.header.get("COORDSYS", "C")).strip().upper(),
        "columns": [[name, unit] for name, unit in columns],
    }
    maptype = str(hdu.header.get("MAPTYPE", "")).strip().lower()
    if maptype:
        f.variant = re.sub(r"[^a-z0-9]+", "_", maptype).strip("_") or None


# --- One file --------------------------------------------------------------------------------


def _keywords(hdul: fits.HDUList, main: int, keys: Sequence[str]) -> dict[str, Any]:
    return {key: value for key in keys if (value := _kw(hdul, main, key)) is not None}


_ALL_KEYS = (
    *INHERITABLE,
    "TIMESYS",
    "TIMEUNIT",
    "MJDREF",
    "MJDREFI",
    "MJDREFF",
    "TSTART",
    "TSTOP",
    "NAME",
    "OBJECT",
    "RA_OBJ",
    "DEC_OBJ",
    "REVOL",
    "OBS_ID",
    "CHANTYPE",
    "DETCHANS",
    "ISLAVER",
    "DATE",
    "NSCW",
    "SCW_LIST",
    "DOI",
    "EXPOSURE",
    "INTERVAL",
    "SNR",
    "REVFIRST",
    "REVLAST",
)


def inspect_file(
    name: str, data: bytes, upload_limit: int, kind_hint: str | None = None
) -> tuple[FileFacts, list[Problem], list[Problem]]:
    """QC of one file on its own: (facts, problems, warnings).

    Cross-file rules (companions, ARF/RMF against the spectrum) are applied afterwards by
    :func:`check_delivery`; keywords a companion could supply are left in ``facts.missing``.
    """
    facts = FileFacts(file_name=name, size=len(data))
    problems = check_file_name(name)
    warns: list[Problem] = []
    if problems:
        return facts, problems, warns
    try:
        raw = _decompress(name, data, upload_limit * EXPANSION_LIMIT)
    except (ValueError, OSError, EOFError, zlib.error) as exc:
        return facts, [Problem(name, "compression", f"cannot be decompressed: {exc}")], warns
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AstropyWarning)
            hdul = fits.open(io.BytesIO(raw), memmap=False, lazy_load_hdus=False)
            hdul.verify("exception")
    except Exception as exc:  # astropy raises OSError, ValueError, VerifyError, ...
        return facts, [Problem(name, "not_fits", f"not a valid FITS file: {exc}")], warns
    with hdul:
        facts.checksums = _verify_checksums(name, raw, hdul, problems, warns)
        detected, main = _detect_kind(hdul)
        if detected is None:
            problems.append(
                Problem(name, "kind", "neither a light curve, spectrum, response nor image")
            )
            return facts, problems, warns
        facts.kind = _refine_kind(detected, hdul, main, name)
        if kind_hint and kind_hint != facts.kind:
            compatible = {facts.kind, kind_hint} <= LIGHTCURVE_KINDS or {
                facts.kind,
                kind_hint,
            } <= IMAGE_KINDS
            if not compatible:
                problems.append(
                    Problem(name, "kind", f"declared {kind_hint!r} but the file is a {facts.kind}")
                )
            else:
                facts.kind = kind_hint
        facts.keywords = _keywords(hdul, main, _ALL_KEYS)
        facts.simulated = any(
            simulation.is_simulated(h.header.get(simulation.SIMDATA)) for h in hdul
        )
        _required(facts, problems)
        hdu = hdul[main]
        try:
            if facts.kind in LIGHTCURVE_KINDS:
                _check_lightcurve(facts, hdu, problems)
            elif facts.kind == RESULTS_KIND:
                _check_results(facts, hdu, problems)
            elif facts.kind == SENSITIVITY_KIND:
                _check_sensitivity(facts, hdu, problems)
            elif facts.kind == "spectrum":
                _check_spectrum(facts, hdu, problems)
            elif facts.kind == "arf":
                _check_arf(facts, hdu, problems)
            elif facts.kind == "rmf":
                _check_rmf(facts, hdul, main, problems)
            elif isinstance(hdu, fits.BinTableHDU):
                _check_healpix(facts, hdu, problems)
            else:
                _check_images(facts, hdul, problems)
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            problems.append(Problem(name, "data", f"the data cannot be read: {exc}"))
    for key in PROVENANCE:
        if key not in facts.keywords:
            warns.append(Problem(name, "provenance", f"provenance keyword {key} is missing"))
    if "NSCW" not in facts.keywords and "SCW_LIST" not in facts.keywords:
        warns.append(Problem(name, "provenance", "provenance keyword NSCW or SCW_LIST is missing"))
    match = _EPOCH_IN_NAME.search(name)
    if match:
        facts.epoch = f"{match.group(1)}_{match.group(2)}"
    if "_mosaic_" in name.lower():
        facts.variant = name.lower().split("_mosaic_", 1)[1].split(".", 1)[0] or None
    return facts, problems, warns


def _required(f: FileFacts, problems: list[Problem]) -> None:
    """Required keywords; the inheritable ones missing are left for the companion rule."""
    kw = f.keywords
    kind = f.kind or ""
    needed: list[str] = ["TELESCOP", "INSTRUME", "CREATOR"]
    if kind in BAND_KINDS:
        needed += ["E_MIN", "E_MAX"]
    f.missing = [key for key in needed if key not in kw]
    if kind in TIMED_KINDS:
        for key in ("TIMESYS", "TIMEUNIT"):
            if key not in kw:
                problems.append(Problem(f.file_name, "keyword", f"time keyword {key} is missing"))
        if "MJDREF" not in kw and not ("MJDREFI" in kw and "MJDREFF" in kw):
            problems.append(
                Problem(f.file_name, "keyword", "time reference MJDREF (or MJDREFI+F) is missing")
            )
    if kind in SOURCE_KINDS:
        if "NAME" not in kw and "OBJECT" not in kw:
            problems.append(Problem(f.file_name, "keyword", "source name NAME/OBJECT is missing"))
        if _number(kw.get("RA_OBJ")) is None or _number(kw.get("DEC_OBJ")) is None:
            problems.append(
                Problem(f.file_name, "keyword", "source position RA_OBJ/DEC_OBJ is missing")
            )
    if kind == "spectrum":
        for key in ("CHANTYPE", "DETCHANS"):
            if key not in kw:
                problems.append(Problem(f.file_name, "keyword", f"keyword {key} is missing"))


def _derive(f: FileFacts, problems: list[Problem]) -> None:
    """Instrument, band, source, times and epoch from the (possibly inherited) keywords."""
    kw = f.keywords
    for key in f.missing:
        problems.append(Problem(f.file_name, "keyword", f"required keyword {key} is missing"))
    telescope = str(kw.get("TELESCOP", "")).upper()
    if telescope and telescope != "INTEGRAL":
        problems.append(
            Problem(f.file_name, "keyword", f"TELESCOP is {telescope!r}, not 'INTEGRAL'")
        )
    creator = kw.get("CREATOR")
    if creator is not None and not _VERSION_RE.search(str(creator)):
        problems.append(
            Problem(f.file_name, "keyword", f"CREATOR {creator!r} names no software version")
        )
    instrume = str(kw.get("INSTRUME", "")).upper().replace(" ", "")
    if instrume:
        key = instrume
        if instrume == "IBIS":
            key = str(kw.get("DETNAM", "ISGRI")).upper().replace(" ", "")
        if key not in _INSTRUMENTS:
            problems.append(
                Problem(f.file_name, "instrument", f"unknown instrument {instrume!r}/{key!r}")
            )
        else:
            f.instrument, f.unit = _INSTRUMENTS[key]
    e_min, e_max = _number(kw.get("E_MIN")), _number(kw.get("E_MAX"))
    if e_min is not None and e_max is not None:
        if e_min >= e_max:
            problems.append(Problem(f.file_name, "energy_order", "E_MIN must be below E_MAX"))
        f.e_min, f.e_max = e_min, e_max
    name = kw.get("NAME") or kw.get("OBJECT")
    if name is not None:
        f.source_name = str(name)
    ra, dec = _number(kw.get("RA_OBJ")), _number(kw.get("DEC_OBJ"))
    if ra is not None and dec is not None:
        if not (0 <= ra < 360 and -90 <= dec <= 90):
            problems.append(Problem(f.file_name, "position", "RA_OBJ/DEC_OBJ out of range"))
        else:
            f.ra, f.dec = ra, dec
    _times(f, problems)
    revol = _number(kw.get("REVOL"))
    if revol is not None:
        f.revolution = int(revol)
    obsid = str(kw.get("OBS_ID", "")).strip()
    if re.fullmatch(r"\d{11}", obsid) and f.revolution is not None and f.epoch is None:
        f.epoch = f"{f.revolution:04d}_{obsid}"
    if f.epoch is not None:
        rev_text, f.obsid = f.epoch.split("_")
        if f.revolution is not None and f.revolution != int(rev_text):
            problems.append(
                Problem(
                    f.file_name,
                    "epoch",
                    f"REVOL {f.revolution} disagrees with the epoch {f.epoch}",
                )
            )
        f.revolution = int(rev_text)


def _times(f: FileFacts, problems: list[Problem]) -> None:
    kw = f.keywords
    if f.kind not in TIMED_KINDS:
        return
    ref = _number(kw.get("MJDREF"))
    if ref is None and "MJDREFI" in kw:
        ref = (_number(kw.get("MJDREFI")) or 0.0) + (_number(kw.get("MJDREFF")) or 0.0)
    if ref is None:
        return
    unit = str(kw.get("TIMEUNIT", "d")).strip().lower()
    scale = {"d": 1.0, "s": 1.0 / 86400.0}.get(unit)
    if scale is None:
        problems.append(Problem(f.file_name, "keyword", f"TIMEUNIT {unit!r} is not d or s"))
        return
    start, stop = _number(kw.get("TSTART")), _number(kw.get("TSTOP"))
    if f.time_ijd is not None and len(f.time_ijd) and np.all(np.isfinite(f.time_ijd)):
        # min/max: a light curve's first and last times, a results table's (whose rows are
        # ordered by source) earliest and latest.
        start = float(f.time_ijd.min()) if start is None else start
        stop = float(f.time_ijd.max()) if stop is None else stop
        # Light-curve TIME is kept as IJD (the archive's light-curve time axis).
        f.time_ijd = f.time_ijd * scale + (ref - MJDREF)
    if f.results is not None:
        # Converted even with a non-finite TIME somewhere (the file is refused then): its
        # other rows are still checked against their ScWs, to list every problem at once.
        if f.time_ijd is not None and not np.all(np.isfinite(f.time_ijd)):
            f.time_ijd = f.time_ijd * scale + (ref - MJDREF)
        f.results.time = f.time_ijd if f.time_ijd is not None else f.results.time
    if start is not None and stop is not None:
        if start > stop:
            problems.append(Problem(f.file_name, "time_order", "TSTART is after TSTOP"))
        f.t_min_mjd, f.t_max_mjd = ref + start * scale, ref + stop * scale


# --- A delivery ------------------------------------------------------------------------------


def check_delivery(
    files: Sequence[tuple[str, bytes]],
    upload_limit: int,
    kind_hint: str | None = None,
    existing: dict[str, dict[str, Any]] | None = None,
) -> QcReport:
    """QC of a delivery of one or more files, with the cross-file rules.

    ``existing`` maps product ids of ARF/RMF already in the archive to their ``meta`` (used
    when a spectrum names them instead of bringing them along).
    """
    report = QcReport()
    names = [name for name, _ in files]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        report.problems.append(Problem(dup, "duplicate", "the same file name appears twice"))
    for name, data in files:
        facts, problems, warns = inspect_file(name, data, upload_limit, kind_hint)
        report.files.append(facts)
        report.problems += problems
        report.warnings += warns
    _inherit(report)
    for facts in report.files:
        if facts.kind is not None:
            _derive(facts, report.problems)
    _match_responses(report, existing or {})
    return report


def _inherit(report: QcReport) -> None:
    for facts in report.files:
        if not facts.missing or facts.kind is None:
            continue
        companions = [
            other
            for other in report.files
            if other is not facts
            and other.kind == facts.kind
            and other.epoch == facts.epoch
            and not set(facts.missing) & set(other.missing)
        ]
        if not companions:
            continue
        source = companions[0]
        for key in INHERITABLE:
            if key not in facts.keywords and key in source.keywords:
                facts.keywords[key] = source.keywords[key]
        report.warnings.append(
            Problem(
                facts.file_name,
                "inherited",
                f"{', '.join(facts.missing)} taken from its companion {source.file_name}",
            )
        )
        facts.missing = []


def _match_responses(report: QcReport, existing: dict[str, dict[str, Any]]) -> None:
    by_name = {f.file_name: f for f in report.files}
    arfs = [f for f in report.files if f.kind == "arf"]
    rmfs = [f for f in report.files if f.kind == "rmf"]
    for spec in (f for f in report.files if f.kind == "spectrum"):
        rmf = by_name.get(spec.respfile or "") or (rmfs[0] if len(rmfs) == 1 else None)
        arf = by_name.get(spec.ancrfile or "") or (arfs[0] if len(arfs) == 1 else None)
        rmf_grid = rmf.energy_grid if rmf else _grid(existing.get("rmf"))
        rmf_chans = rmf.detchans if rmf else (existing.get("rmf") or {}).get("detchans")
        arf_grid = arf.energy_grid if arf else _grid(existing.get("arf"))
        if rmf is None and "rmf" not in existing:
            report.problems.append(
                Problem(
                    spec.file_name,
                    "response",
                    "a spectrum needs its RMF: deliver it alongside or name an ingested one",
                )
            )
        if rmf_chans is not None and spec.detchans is not None and rmf_chans != spec.detchans:
            report.problems.append(
                Problem(
                    spec.file_name,
                    "response",
                    f"the RMF has {rmf_chans} channels, the spectrum {spec.detchans}",
                )
            )
        if arf_grid is not None and rmf_grid is not None and not _same_grid(arf_grid, rmf_grid):
            report.problems.append(
                Problem(
                    spec.file_name,
                    "response",
                    f"ARF and RMF energy grids differ: {arf_grid} vs {rmf_grid}",
                )
            )


def _grid(meta: dict[str, Any] | None) -> tuple[int, float, float] | None:
    grid = (meta or {}).get("energy_grid")
    return (int(grid[0]), float(grid[1]), float(grid[2])) if grid else None


def _same_grid(a: tuple[int, float, float], b: tuple[int, float, float]) -> bool:
    return (
        a[0] == b[0]
        and math.isclose(a[1], b[1], rel_tol=1e-5)
        and math.isclose(a[2], b[2], rel_tol=1e-5)
    )
