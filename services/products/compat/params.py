"""ISLA request parameters and errors: names are case-insensitive (read by
:func:`shared.vo.params.ivoa_params`), and the error texts astroquery's client matches are kept
word for word. Errors are the shared family's (:mod:`shared.vo.errors`), answered as
problem+json like the native APIs."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from astropy.time import Time

from shared.vo.errors import UsageFault
from shared.vo.params import IvoaParams

NO_SCW = "None science windows have been selected"
"""The text astroquery's get_timeline looks for to say 'no timeline' (ESA's wording)."""
NO_SOURCE = "Source not found in the database"
"""The text astroquery's get_source_metadata looks for to say 'unknown target'."""

DEFAULT_RADIUS = 14.0
"""Timeline cone radius (deg) when none is given, as in astroquery."""
MAX_RADIUS = 60.0
"""Largest timeline cone radius (deg)."""
FULLY_CODED_DEG = 4.5
"""Half width of ISGRI's fully coded field (9 x 9 deg), for the timeline's fraFC."""

EPOCH = re.compile(r"^\d{4}_\d{11}$")
UNITS: Mapping[str, tuple[str, ...]] = {"JEM-X": ("JEM-X", "JEM-X1", "JEM-X2")}
"""Product instruments an ISLA instrument stands for (JEM-X products may be per unit)."""


@dataclass(frozen=True)
class IslaInstrument:
    """A row of ``ila.instrument`` joined with its default ``ila.band``."""

    instrument_oid: int
    name: str
    archive_name: str
    band_oid: int
    band: str

    @property
    def product_instruments(self) -> tuple[str, ...]:
        """The ``isla.products.instrument`` values this instrument covers."""
        return UNITS.get(self.archive_name, (self.archive_name,))


def required(params: IvoaParams, name: str, example: str) -> str:
    """A required parameter; UsageFault (400) with an example when missing."""
    value = params.get_upper(name)
    if not value:
        raise UsageFault(f"{name} is required, e.g. {name}={example}")
    return value


def number(params: IvoaParams, name: str, default: float | None = None) -> float:
    """A finite number in degrees."""
    raw = params.get_upper(name)
    if not raw:
        if default is None:
            raise UsageFault(f"{name} is required (a number in degrees)")
        return default
    try:
        value = float(raw)
    except ValueError:
        raise UsageFault(f"{name} must be a number, not {raw!r}") from None
    if not math.isfinite(value):
        raise UsageFault(f"{name} must be finite, not {raw!r}")
    return value


def oid(params: IvoaParams, name: str) -> int:
    """An integer identifier (``instrument_oid``, ``band_oid``)."""
    raw = required(params, name, "1")
    try:
        return int(raw)
    except ValueError:
        raise UsageFault(f"{name} must be an integer, not {raw!r}") from None


def epoch_of(params: IvoaParams) -> str:
    """The ``epoch`` parameter, checked to be ``RRRR_OOOOOOOOOOO``."""
    value = required(params, "epoch", "0745_06340000001")
    if not EPOCH.match(value):
        raise UsageFault(
            f"epoch must have the form RRRR_OOOOOOOOOOO (e.g. 0745_06340000001), not {value!r}"
        )
    return value


def iso(mjd: float | None) -> str | None:
    """An MJD (TT) as ISO UTC, as ISLA's JSON gives dates."""
    if mjd is None or not math.isfinite(mjd):
        return None
    return str(Time(mjd, format="mjd", scale="tt").utc.isot)
