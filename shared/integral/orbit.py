"""Revolution boundaries from INTEGRAL's own orbit files.

Two forms are read:

- ISDC's orbit parameter table ``INTL-ORBI-SCP`` (``sc_orbit_param.fits.gz``, written by
  ``dp_aux_derive``; one is in the archive's real data): rows of on-board time ``OB_TIME``
  (four 16-bit words, 2^-20 s ticks) and ``REVOL_PHASE`` (0 at perigee, 1 at the next), with the
  UTC of its first row in ``ERTFIRST``. The period is the inverse of the phase rate against
  on-board time, and the revolution starts ``REVOL_PHASE`` periods before the first row.
- An orbit table of the revolution whose header gives ``REVOL`` and the revolution's span as
  ``TSTART``/``TSTOP`` in IJD (TT) (an ``INTL-ORBI-*`` extension such as the historic orbit file
  of ``aux/adp/RRRR.VVV/``).

:func:`revolution_bounds_from_fits` returns the revolution number and its start and end (UTC);
it raises :class:`OrbitFileError` when the file is neither.
"""

from __future__ import annotations

import gzip
import io
import warnings
from dataclasses import dataclass

import numpy as np
from astropy.io import fits
from astropy.time import Time, TimeDelta
from astropy.utils.exceptions import AstropyWarning

from shared.integral.time import ijd_to_time

OBT_TICK_S = 2.0**-20
"""Seconds of one on-board time tick."""

MIN_PERIOD_S, MAX_PERIOD_S = 150_000.0, 300_000.0
"""Plausible orbital periods (INTEGRAL's were 63.8 h to 71.8 h); others mean a bad file."""


class OrbitFileError(ValueError):
    """The file does not give a revolution's boundaries."""


@dataclass(frozen=True)
class OrbitBounds:
    """A revolution and its span as an orbit file gives them."""

    revolution: int
    start: Time
    end: Time


def _obt_seconds(words: np.ndarray) -> np.ndarray:
    """On-board times (4 x 16-bit words, most significant first) as seconds."""
    w = np.asarray(words, dtype=np.float64)
    ticks = ((w[:, 0] * 65536.0 + w[:, 1]) * 65536.0 + w[:, 2]) * 65536.0 + w[:, 3]
    return np.asarray(ticks * OBT_TICK_S)


def _from_phase(hdu: fits.BinTableHDU) -> OrbitBounds:
    data, header = hdu.data, hdu.header
    if data is None or len(data) < 2:
        raise OrbitFileError(f"{hdu.name}: fewer than two rows")
    seconds = _obt_seconds(data["OB_TIME"])
    phase = np.asarray(data["REVOL_PHASE"], dtype=np.float64)
    revols = np.asarray(data["REVOL"], dtype=np.int64)
    if seconds[-1] <= seconds[0] or phase[-1] <= phase[0]:
        raise OrbitFileError(f"{hdu.name}: phase does not advance with on-board time")
    # A least-squares line through the rows of the first revolution named in the file.
    same = revols == revols[0]
    rate = np.polyfit(seconds[same] - seconds[0], phase[same], 1)[0]
    period = 1.0 / rate
    if not MIN_PERIOD_S <= period <= MAX_PERIOD_S:
        raise OrbitFileError(f"{hdu.name}: implausible period {period:.0f} s")
    first = header.get("ERTFIRST")
    if not first:
        raise OrbitFileError(f"{hdu.name}: no ERTFIRST (UTC of the first row)")
    t0 = Time(str(first).strip(), scale="utc")
    start = t0 - TimeDelta(float(phase[0]) * period, format="sec")
    return OrbitBounds(int(revols[0]), start, start + TimeDelta(period, format="sec"))


def _from_header(hdu: fits.BinTableHDU) -> OrbitBounds:
    header = hdu.header
    try:
        revolution = int(header["REVOL"])
        start_ijd, end_ijd = float(header["TSTART"]), float(header["TSTOP"])
    except (KeyError, ValueError, TypeError) as exc:
        raise OrbitFileError(f"{hdu.name}: no REVOL, TSTART and TSTOP") from exc
    if not MIN_PERIOD_S <= (end_ijd - start_ijd) * 86400.0 <= MAX_PERIOD_S:
        raise OrbitFileError(f"{hdu.name}: TSTART..TSTOP is not one revolution")
    return OrbitBounds(revolution, ijd_to_time(start_ijd).utc, ijd_to_time(end_ijd).utc)


def revolution_bounds_from_fits(data: bytes) -> OrbitBounds:
    """The revolution an orbit file (FITS, gzipped or not) describes, with its start and end."""
    try:
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AstropyWarning)
            with fits.open(io.BytesIO(data)) as hdul:
                for hdu in hdul[1:]:
                    if not isinstance(hdu, fits.BinTableHDU):
                        continue
                    names = {n.upper() for n in (hdu.columns.names or [])}
                    if {"OB_TIME", "REVOL", "REVOL_PHASE"} <= names:
                        return _from_phase(hdu)
                    if str(hdu.name).upper().startswith("INTL-ORBI"):
                        return _from_header(hdu)
    except OrbitFileError:
        raise
    except (OSError, EOFError, ValueError, KeyError, TypeError) as exc:
        raise OrbitFileError(f"not a readable FITS orbit file: {exc}") from exc
    raise OrbitFileError("no orbit table (INTL-ORBI-SCP or INTL-ORBI-*) in the file")
