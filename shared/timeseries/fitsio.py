"""FITS in and out: reading delivered per-revolution files, streaming FITS for any range.

Delivered files follow what ISDC and MMODA serve for SPI-ACS: a binary table extension
``RATE`` with ``TIME`` (seconds, relative to ``TIMEZERO``), ``RATE`` (or ``COUNTS``) and
``ERROR``, ``TIMEDEL``, ``TIMESYS = 'TT'`` and ``MJDREF = 51544`` (times in seconds since IJD 0).
IREM files have the same layout with the 15 channel columns (``TC1`` ... ``S34``) instead of
``RATE``/``ERROR``, and ``INSTRUME = 'IREM'``.

FITS for any range is written as a stream: the header states the row count (known from the
segment index before any sample is read), then rows go out chunk by chunk, so memory does not
grow with the range.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from astropy.io import fits

from shared import __version__
from shared.timeseries.datasets import IREM_CHANNELS, Dataset
from shared.timeseries.times import utc_iso

__all__ = [
    "BLOCK",
    "Delivered",
    "fits_header",
    "fits_padding",
    "fits_rows",
    "read_delivered",
]

BLOCK = 2880
"""FITS block size."""

_MJDREF = 51544.0


@dataclass
class Delivered:
    """The content of one delivered time-series file."""

    instrument: str
    times: npt.NDArray[np.float64]
    """TT seconds since IJD 0 of each row (``TIMEZERO + TIME``)."""
    timedel: float
    columns: dict[str, npt.NDArray[Any]]
    """Served parameter name -> values (little-endian, the file's float type)."""
    simulated: bool
    revolution: int | None
    keywords: dict[str, Any] = field(default_factory=dict)


def _card(header: fits.Header, name: str) -> Any:
    value = header.get(name)
    return value.strip() if isinstance(value, str) else value


def read_delivered(data: bytes) -> tuple[Delivered | None, list[tuple[str, str]]]:
    """Parse and check a delivered file; ``(content, [])`` or ``(None, [(code, message)...])``."""
    problems: list[tuple[str, str]] = []
    try:
        hdul = fits.open(io.BytesIO(data), memmap=False, lazy_load_hdus=False)
    except Exception as exc:  # astropy raises many types for broken files
        return None, [("fits", f"not a readable FITS file: {exc}")]
    with hdul:
        simulated = any(bool(h.header.get("SIMDATA", False)) for h in hdul)
        if "RATE" not in hdul:
            return None, [("extension", "no binary table extension named RATE")]
        hdu = hdul["RATE"]
        if not isinstance(hdu, fits.BinTableHDU):
            return None, [("extension", "extension RATE is not a binary table")]
        h = hdu.header
        primary = hdul[0].header
        instrument = str(_card(h, "INSTRUME") or _card(primary, "INSTRUME") or "")
        if instrument not in ("SPI-ACS", "IREM"):
            problems.append(("instrument", f"INSTRUME must be SPI-ACS or IREM, not {instrument!r}"))
        if _card(h, "TIMESYS") != "TT":
            problems.append(("timesys", "TIMESYS must be 'TT'"))
        mjdref = h.get("MJDREF")
        if mjdref is None and "MJDREFI" in h:
            mjdref = float(h["MJDREFI"]) + float(h.get("MJDREFF", 0.0))
        if mjdref is None or abs(float(mjdref) - _MJDREF) > 1e-9:
            problems.append(("mjdref", "MJDREF must be 51544 (times in seconds since IJD 0)"))
        unit = _card(h, "TIMEUNIT")
        if unit not in (None, "s"):
            problems.append(("timeunit", "TIMEUNIT must be 's'"))
        timedel = h.get("TIMEDEL")
        if not isinstance(timedel, int | float) or not timedel > 0:
            problems.append(("timedel", "TIMEDEL must be a positive number of seconds"))
            timedel = 0.0
        names = [c.name.upper() for c in hdu.columns]
        table = hdu.data
        if "TIME" not in names:
            problems.append(("columns", "column TIME is missing"))
        columns: dict[str, npt.NDArray[Any]] = {}
        if instrument == "IREM":
            missing = [c for c in IREM_CHANNELS if c not in names]
            if missing:
                problems.append(("columns", f"IREM channels missing: {', '.join(missing)}"))
            else:
                for ch in IREM_CHANNELS:
                    columns[ch] = _float_column(table[ch])
        elif instrument == "SPI-ACS":
            if "RATE" in names and "ERROR" in names:
                columns["rate"] = _float_column(table["RATE"])
                columns["error"] = _float_column(table["ERROR"])
            elif "COUNTS" in names and timedel:
                counts = np.asarray(table["COUNTS"], dtype=np.float64)
                columns["rate"] = counts / timedel
                columns["error"] = np.sqrt(np.maximum(counts, 0.0)) / timedel
            else:
                problems.append(("columns", "SPI-ACS needs RATE and ERROR, or COUNTS"))
        if problems:
            return None, problems
        timezero = float(h.get("TIMEZERO", 0.0) or 0.0)
        times = np.asarray(table["TIME"], dtype=np.float64) + timezero
        if times.size == 0:
            return None, [("rows", "the table has no rows")]
        if not np.isfinite(times).all():
            problems.append(("time", "TIME has non-finite values"))
        elif times.size > 1 and not (np.diff(times) > 0).all():
            problems.append(("time", "TIME must increase strictly"))
        revol = h.get("REVOL", primary.get("REVOL"))
        keywords = {
            k: _card(h, k) if k in h else _card(primary, k)
            for k in ("CREATOR", "ORIGIN", "DATE", "TSTART", "TSTOP", "ISLAVER")
            if k in h or k in primary
        }
        if problems:
            return None, problems
        return (
            Delivered(
                instrument=instrument,
                times=times,
                timedel=float(timedel),
                columns=columns,
                simulated=simulated,
                revolution=int(revol) if isinstance(revol, int | float) else None,
                keywords=keywords,
            ),
            [],
        )


def _float_column(values: Any) -> npt.NDArray[Any]:
    arr = np.asarray(values)
    if arr.dtype.kind != "f":
        arr = arr.astype(np.float64)
    return arr.astype(arr.dtype.newbyteorder("<"), copy=True)


def _fits_type(p_type: str) -> tuple[str, str]:
    return ("J", ">i4") if p_type == "integer" else ("D", ">f8")


def fits_header(
    ds: Dataset,
    parameters: Sequence[str],
    n_rows: int,
    start: float,
    stop: float,
    simulated: bool,
) -> bytes:
    """Primary header and the ``RATE`` table header of a streamed FITS file of ``n_rows``."""
    primary = fits.PrimaryHDU()
    ph = primary.header
    ph["TELESCOP"] = "INTEGRAL"
    ph["INSTRUME"] = ds.instrument
    ph["CREATOR"] = (f"ISLA time-series service {__version__}", "program that made the file")
    ph["ISLAVER"] = __version__
    ph["DATASET"] = (ds.id, "archive dataset the rows come from")
    if simulated:
        ph["SIMDATA"] = (True, "simulated data, not an INTEGRAL measurement")
        ph.add_comment(
            f"SIMULATED DATA: made by the ISLA demo pipeline {__version__}; "
            "not measured by INTEGRAL."
        )
    cols = [fits.Column(name="TIME", format="D", unit="s")]
    for name in parameters:
        p = ds.parameter(name)
        fmt, _ = _fits_type(p.hapi_type)
        cols.append(fits.Column(name=name.upper(), format=fmt, unit=p.units or ""))
    table = fits.BinTableHDU.from_columns(cols, nrows=0, name="RATE")
    th = table.header
    th["NAXIS2"] = n_rows
    th["TELESCOP"] = "INTEGRAL"
    th["INSTRUME"] = ds.instrument
    th["TIMESYS"] = "TT"
    th["TIMEUNIT"] = "s"
    th["TIMEREF"] = "LOCAL"
    th["MJDREF"] = (51544.0, "IJD 0 (TIME: TT seconds since 2000-01-01 TT)")
    th["TIMEZERO"] = 0.0
    th["TIMEDEL"] = (ds.cadence_s, "nominal time step (s)")
    th["TSTART"] = start
    th["TSTOP"] = stop
    th["DATE-OBS"] = utc_iso(start)[:-1]
    th["DATE-END"] = utc_iso(stop)[:-1]
    if simulated:
        th["SIMDATA"] = (True, "simulated data, not an INTEGRAL measurement")
    return primary.header.tostring().encode("ascii") + th.tostring().encode("ascii")


def fits_rows(
    ds: Dataset, parameters: Sequence[str], times: npt.NDArray[np.float64], values: Any
) -> bytes:
    """Big-endian table rows: TIME then each parameter (``values`` maps name -> array)."""
    fields = [("TIME", ">f8")] + [
        (name.upper(), _fits_type(ds.parameter(name).hapi_type)[1]) for name in parameters
    ]
    rows = np.empty(times.size, dtype=np.dtype(fields))
    rows["TIME"] = times
    for name in parameters:
        rows[name.upper()] = values[name]
    return rows.tobytes()


def fits_padding(data_bytes: int) -> bytes:
    """Zero bytes that complete the data unit's last 2880-byte block."""
    return b"\0" * (-data_bytes % BLOCK)


def row_bytes(ds: Dataset, parameters: Sequence[str]) -> int:
    """Bytes of one streamed FITS row."""
    return 8 + sum(4 if ds.parameter(p).hapi_type == "integer" else 8 for p in parameters)
