"""INTEGRAL identifiers: ScW ids, observation ids, ISLA epochs, revolutions and source ids.

Each identifier is a frozen dataclass that validates itself on construction, with a ``parse``
class method and a plain ``parse_*`` function (usable directly as a FastAPI/pydantic validator).
Every parser raises :class:`~shared.integral.errors.InvalidIdentifier`, a ``ValueError``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

from shared.integral.errors import InvalidIdentifier

__all__ = [
    "Epoch",
    "ObsId",
    "ScwId",
    "SourceId",
    "format_revolution",
    "parse_epoch",
    "parse_obsid",
    "parse_revolution",
    "parse_scw_id",
    "parse_source_id",
    "source_id_from_position",
    "validate_revolution",
]

# [0-9] rather than \d: \d also matches non-ASCII digits, which int() would happily accept.
_SCW_RE = re.compile(r"([0-9]{4})([0-9]{4})([0-9]{3})([0-9])(?:\.([0-9]{3}))?")
_OBSID_RE = re.compile(r"[0-9]{11}")
_EPOCH_RE = re.compile(r"([0-9]{4})_([0-9]{11})")
_REVOLUTION_RE = re.compile(r"[0-9]{1,4}")
_SOURCE_RE = re.compile(
    r"J([0-9]{2})([0-9]{2})([0-9]{2})\.([0-9])([+-])([0-9]{2})([0-9]{2})([0-9]{2})"
)

SCW_EXPECTED = "12 digits RRRRPPPPSSSF, optionally followed by .VVV (e.g. 008100430010.001)"
OBSID_EXPECTED = "11 digits (e.g. 06340000001)"
EPOCH_EXPECTED = (
    "RRRR_OOOOOOOOOOO: 4-digit revolution, '_', 11-digit observation id (e.g. 0745_06340000001)"
)
REVOLUTION_EXPECTED = "a revolution number from 0 to 9999, up to 4 digits (e.g. 0081 or 81)"
SOURCE_EXPECTED = (
    "JHHMMSS.s±DDMMSS with hours < 24, minutes and seconds < 60, degrees <= 90 "
    "(e.g. J053432.0+220052)"
)

MAX_REVOLUTION = 9999

ScwType = Literal["pointing", "slew"]


def _require_str(kind: str, value: object, expected: str) -> str:
    # Typed callers always pass str, but API layers may hand over anything (None, int, ...).
    if not isinstance(value, str):
        raise InvalidIdentifier(kind, value, expected, f"not a string ({type(value).__name__})")
    return value.strip()


# --- ScW ids ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScwId:
    """A Science Window id ``RRRRPPPPSSSF`` with its version ``.VVV``.

    RRRR is the revolution, PPPP the pointing, SSS the sub-pointing and F the type
    (0 = pointing, 1 = slew).
    """

    revolution: int
    pointing: int
    subpointing: int
    scw_type: ScwType = "pointing"
    version: str = "001"

    def __post_init__(self) -> None:
        def bad(reason: str) -> InvalidIdentifier:
            shown = (
                f"rev={self.revolution} pointing={self.pointing} sub={self.subpointing} "
                f"type={self.scw_type} version={self.version}"
            )
            return InvalidIdentifier("ScW id", shown, SCW_EXPECTED, reason)

        if not 0 <= self.revolution <= MAX_REVOLUTION:
            raise bad("revolution must be 0-9999")
        if not 0 <= self.pointing <= 9999:
            raise bad("pointing must be 0-9999")
        if not 0 <= self.subpointing <= 999:
            raise bad("sub-pointing must be 0-999")
        if self.scw_type not in ("pointing", "slew"):
            raise bad("type must be 'pointing' or 'slew'")
        if not (re.fullmatch(r"[0-9]{3}", self.version) and self.version != "000"):
            raise bad("version must be 3 digits, 001-999")

    @classmethod
    def parse(cls, text: str) -> ScwId:
        """Parse ``RRRRPPPPSSSF`` or ``RRRRPPPPSSSF.VVV`` (surrounding whitespace ignored)."""
        value = _require_str("ScW id", text, SCW_EXPECTED)
        match = _SCW_RE.fullmatch(value)
        if match is None:
            raise InvalidIdentifier("ScW id", text, SCW_EXPECTED)
        rev, pointing, sub, type_digit, version = match.groups()
        if type_digit not in ("0", "1"):
            raise InvalidIdentifier(
                "ScW id", text, SCW_EXPECTED, "type digit F must be 0 (pointing) or 1 (slew)"
            )
        if version == "000":
            raise InvalidIdentifier("ScW id", text, SCW_EXPECTED, "version 000 does not exist")
        return cls(
            revolution=int(rev),
            pointing=int(pointing),
            subpointing=int(sub),
            scw_type="slew" if type_digit == "1" else "pointing",
            version=version or "001",
        )

    @classmethod
    def make(cls, rev: int, pointing: int, sub: int, slew: bool = False, version: int = 1) -> ScwId:
        """Build a ScW id from its numeric parts."""
        if not 1 <= version <= 999:
            raise InvalidIdentifier("ScW id", f"version={version}", SCW_EXPECTED, "bad version")
        return cls(rev, pointing, sub, "slew" if slew else "pointing", f"{version:03d}")

    @property
    def id(self) -> str:
        """The 12-character id without version, e.g. ``008100430010``."""
        type_digit = 1 if self.scw_type == "slew" else 0
        return f"{self.revolution:04d}{self.pointing:04d}{self.subpointing:03d}{type_digit}"

    @property
    def full(self) -> str:
        """The id with its version, e.g. ``008100430010.001``."""
        return f"{self.id}.{self.version}"

    @property
    def path(self) -> str:
        """The object-store folder of this ScW, e.g. ``scw/0081/008100430010.001/``."""
        return f"scw/{self.revolution:04d}/{self.full}/"

    def __str__(self) -> str:
        return self.full


def parse_scw_id(text: str) -> ScwId:
    """Parse a ScW id (``RRRRPPPPSSSF[.VVV]``); raises InvalidIdentifier."""
    return ScwId.parse(text)


# --- Observation ids -------------------------------------------------------------------------


@dataclass(frozen=True)
class ObsId:
    """An 11-digit observation id, e.g. ``06340000001``.

    ISLA's convention: the first 7 digits are the proposal id (its first 2 digits the AO
    cycle) and the last 4 digits the observation's sequence number within the proposal.
    """

    value: str

    def __post_init__(self) -> None:
        if not (isinstance(self.value, str) and _OBSID_RE.fullmatch(self.value)):
            raise InvalidIdentifier("observation id", self.value, OBSID_EXPECTED)

    @classmethod
    def parse(cls, text: str) -> ObsId:
        """Parse an 11-digit observation id (surrounding whitespace ignored)."""
        return cls(_require_str("observation id", text, OBSID_EXPECTED))

    @property
    def proposal_id(self) -> str:
        """The 7-digit proposal id."""
        return self.value[:7]

    @property
    def ao_cycle(self) -> int:
        """The announcement-of-opportunity cycle (first 2 digits)."""
        return int(self.value[:2])

    @property
    def sequence(self) -> int:
        """The observation's number within its proposal (last 4 digits)."""
        return int(self.value[7:])

    def __str__(self) -> str:
        return self.value


def parse_obsid(text: str) -> ObsId:
    """Parse an 11-digit observation id; raises InvalidIdentifier."""
    return ObsId.parse(text)


# --- Revolutions -----------------------------------------------------------------------------


def validate_revolution(rev: int, max_rev: int | None = None) -> int:
    """Return ``rev`` if it is in 0..``max_rev`` (default 9999); raise InvalidIdentifier."""
    upper = MAX_REVOLUTION if max_rev is None else max_rev
    # bool is an int subclass; True is not a revolution.
    if isinstance(rev, bool) or not isinstance(rev, int) or not 0 <= rev <= upper:
        raise InvalidIdentifier("revolution", rev, f"an integer from 0 to {upper}")
    return rev


def parse_revolution(text: str | int) -> int:
    """Parse a revolution number given as int or as up to 4 digits ('0081', '81')."""
    if isinstance(text, int) and not isinstance(text, bool):
        if not 0 <= text <= MAX_REVOLUTION:
            raise InvalidIdentifier("revolution", text, REVOLUTION_EXPECTED)
        return text
    value = _require_str("revolution", text, REVOLUTION_EXPECTED)
    if not _REVOLUTION_RE.fullmatch(value):
        raise InvalidIdentifier("revolution", text, REVOLUTION_EXPECTED)
    return int(value)


def format_revolution(rev: int) -> str:
    """Format a revolution number as 4 digits, e.g. 81 -> '0081'."""
    return f"{validate_revolution(rev):04d}"


# --- ISLA epochs -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Epoch:
    """An ISLA epoch ``RRRR_OOOOOOOOOOO``: an observation within one revolution."""

    revolution: int
    obsid: ObsId

    def __post_init__(self) -> None:
        if not isinstance(self.obsid, ObsId):
            raise InvalidIdentifier("ISLA epoch", self.obsid, EPOCH_EXPECTED, "obsid not an ObsId")
        if isinstance(self.revolution, bool) or not 0 <= self.revolution <= MAX_REVOLUTION:
            raise InvalidIdentifier(
                "ISLA epoch", self.revolution, EPOCH_EXPECTED, "revolution must be 0-9999"
            )

    @classmethod
    def parse(cls, text: str) -> Epoch:
        """Parse ``RRRR_OOOOOOOOOOO`` (surrounding whitespace ignored)."""
        match = _EPOCH_RE.fullmatch(_require_str("ISLA epoch", text, EPOCH_EXPECTED))
        if match is None:
            raise InvalidIdentifier("ISLA epoch", text, EPOCH_EXPECTED)
        return cls(int(match.group(1)), ObsId(match.group(2)))

    @classmethod
    def make(cls, rev: int, obsid: ObsId | str) -> Epoch:
        """Build an epoch from a revolution number and an observation id."""
        return cls(rev, obsid if isinstance(obsid, ObsId) else ObsId.parse(obsid))

    def __str__(self) -> str:
        return f"{self.revolution:04d}_{self.obsid}"


def parse_epoch(text: str) -> Epoch:
    """Parse an ISLA epoch ``RRRR_OOOOOOOOOOO``; raises InvalidIdentifier."""
    return Epoch.parse(text)


# --- Source ids ------------------------------------------------------------------------------

# Tenths of a second of time in one degree of RA (1° = 240 s), and in a full circle.
_RA_TENTHS_PER_DEG = 2400
_RA_TENTHS_FULL = 360 * _RA_TENTHS_PER_DEG
# Guards the rounding against float noise: 0.5 units computed as 0.4999999... still rounds up.
_EPS = 1e-7


@dataclass(frozen=True)
class SourceId:
    """An ISLA source id ``JHHMMSS.s±DDMMSS`` (J2000 position, RA to 0.1 s, Dec to 1″)."""

    value: str

    def __post_init__(self) -> None:
        text = self.value
        match = _SOURCE_RE.fullmatch(text) if isinstance(text, str) else None
        if match is None:
            raise InvalidIdentifier("source id", text, SOURCE_EXPECTED)
        hh, mm, ss, _tenths, _sign, dd, am, asec = (match.group(i) for i in range(1, 9))
        reason = None
        if int(hh) >= 24:
            reason = "hours must be < 24"
        elif int(mm) >= 60 or int(ss) >= 60:
            reason = "RA minutes and seconds must be < 60"
        elif int(am) >= 60 or int(asec) >= 60:
            reason = "Dec arcminutes and arcseconds must be < 60"
        elif int(dd) > 90 or (int(dd) == 90 and (am, asec) != ("00", "00")):
            reason = "|Dec| must be <= 90°"
        if reason:
            raise InvalidIdentifier("source id", text, SOURCE_EXPECTED, reason)

    @classmethod
    def parse(cls, text: str) -> SourceId:
        """Parse ``JHHMMSS.s±DDMMSS`` (surrounding whitespace ignored)."""
        return cls(_require_str("source id", text, SOURCE_EXPECTED))

    @property
    def position(self) -> tuple[float, float]:
        """The (ra, dec) in degrees that the id encodes (its resolution: 1.5″ in RA, 1″ in Dec)."""
        v = self.value
        ra_seconds = int(v[1:3]) * 3600 + int(v[3:5]) * 60 + int(v[5:7]) + int(v[8]) / 10
        dec = int(v[10:12]) + int(v[12:14]) / 60 + int(v[14:16]) / 3600
        return ra_seconds / 240.0, -dec if v[9] == "-" else dec

    def __str__(self) -> str:
        return self.value


def parse_source_id(text: str) -> SourceId:
    """Parse an ISLA source id ``JHHMMSS.s±DDMMSS``; raises InvalidIdentifier."""
    return SourceId.parse(text)


def source_id_from_position(ra_deg: float, dec_deg: float) -> str:
    """Return the ISLA source id ``JHHMMSS.s±DDMMSS`` of a J2000 position in degrees.

    RA is rounded (half up) to 0.1 s of time and Dec's magnitude to 1″, which reproduces
    ISLA's ids (e.g. the Crab at (83.6332, 22.0145) is J053432.0+220052: RA 5h34m31.968s
    becomes 32.0). RA wraps modulo 360° (so 23h59m59.96s becomes J000000.0); Dec keeps its
    sign even when it rounds to zero (-0.0001 gives -000000). Raises ValueError for a
    non-finite position or |dec| > 90.
    """
    if not (math.isfinite(ra_deg) and math.isfinite(dec_deg)):
        raise ValueError(f"position must be finite, got ({ra_deg}, {dec_deg})")
    if not -90.0 <= dec_deg <= 90.0:
        raise ValueError(f"declination must be within ±90°, got {dec_deg}")
    ra_tenths = math.floor((ra_deg % 360.0) * _RA_TENTHS_PER_DEG + 0.5 + _EPS) % _RA_TENTHS_FULL
    ra_s10 = ra_tenths % 600
    ra_min = ra_tenths // 600 % 60
    ra_hours = ra_tenths // 36000
    # |dec| <= 90° so the rounded value never exceeds 90°00'00".
    dec_arcsec = math.floor(abs(dec_deg) * 3600.0 + 0.5 + _EPS)
    sign = "-" if dec_deg < 0 else "+"
    return (
        f"J{ra_hours:02d}{ra_min:02d}{ra_s10 // 10:02d}.{ra_s10 % 10}"
        f"{sign}{dec_arcsec // 3600:02d}{dec_arcsec // 60 % 60:02d}{dec_arcsec % 60:02d}"
    )


def normalise_source_name(name: str) -> str:
    """A source name as the archive matches it: lower case, without spaces, '_' or '-'.

    Name look-ups (target resolver, raw-data selections) compare this form with
    ``source_aliases.alias_norm``, so 'Crab Nebula', 'crab_nebula' and 'CRAB-NEBULA' agree.
    """
    return name.lower().replace(" ", "").replace("_", "").replace("-", "")
