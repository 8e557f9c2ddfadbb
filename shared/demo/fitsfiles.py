"""Small, deterministic FITS files for the demo archive's raw data.

The demo archive needs thousands of small FITS files (one group file and a few instrument
files per science window, plus per-revolution auxiliary files) written in seconds. Building
each through ``astropy.io.fits`` costs milliseconds per file, so this module writes FITS
directly: header cards are formatted here, binary-table data are big-endian numpy record
arrays, and the column layout of every file kind (the "template") is built once at import.
Only header values and a seeded data block change from one file to the next.

Every byte is a function of the science window's metadata and the generator's seed: no
wall-clock ``DATE``, no ``CHECKSUM``, and gzip members are written with ``mtime=0``. This is
what lets the generator re-create any file and lets the tests compare checksums.

Every file is labelled simulated (:mod:`shared.simulation`): ``SIMDATA = T`` in every HDU,
a ``COMMENT`` in the primary header, and ``CREATOR`` naming the demo pipeline and its version.
"""

from __future__ import annotations

import gzip
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from shared import simulation
from shared.integral.ids import ScwId
from shared.integral.time import MJDREF

__all__ = [
    "AUX_FILE_NAMES",
    "CREATOR",
    "AuxAttitudeRow",
    "Column",
    "ScwMeta",
    "attitude_file",
    "bintable_hdu",
    "build_scw_file",
    "build_scw_files",
    "card",
    "content_type",
    "header_bytes",
    "jemx_units_on",
    "orbit_file",
    "primary_hdu",
    "scw_file_names",
    "swg_file",
    "z_axis",
]

CREATOR = simulation.PIPELINE
"""Value of the CREATOR keyword in every generated file (the demo pipeline and its version)."""

BLOCK = 2880
"""FITS files are made of 2880-byte blocks."""

CARD = 80
"""Length of one header card."""

GZIP_LEVEL = 1
"""Compression level of the instrument files: synthetic events barely compress, so a higher
level would only cost time."""

AUX_FILE_NAMES = ("orbit_historic.fits", "attitude_historic.fits")
"""The per-revolution auxiliary files, in ``aux/adp/RRRR.001/``."""

CardValue = str | bool | int | float


# --- Header cards ------------------------------------------------------------------------------


def _format_float(value: float) -> str:
    """A FITS real value of at most 20 characters that reads back to the same float.

    ``repr`` gives the shortest round-tripping form; FITS wants a decimal point and an upper
    case exponent letter.
    """
    if not math.isfinite(value):
        raise ValueError(f"FITS header values must be finite, got {value!r}")
    text = repr(float(value))
    if "e" in text:
        mantissa, exponent = text.split("e")
        if "." not in mantissa:
            mantissa += ".0"
        text = f"{mantissa}E{int(exponent):+03d}"
    elif "." not in text:
        text += ".0"
    if len(text) > 20:
        text = f"{value:.13E}"
    return text


def card(key: str, value: CardValue | None = None, comment: str = "") -> bytes:
    """One 80-byte header card in FITS fixed format.

    ``value`` None makes a commentary card (``COMMENT``/``HISTORY``) whose text is
    ``comment``. Strings are quoted (quotes doubled) and padded to 8 characters; numbers
    and logicals are right-justified to column 30, as the FITS standard's fixed format asks.
    """
    key = key.upper()
    if len(key) > 8:
        raise ValueError(f"FITS keyword longer than 8 characters: {key!r}")
    if value is None:
        text = f"{key:<8}{comment}"
    else:
        if isinstance(value, bool):
            field = f"{'T' if value else 'F':>20}"
        elif isinstance(value, int):
            field = f"{value:>20d}"
        elif isinstance(value, float):
            field = f"{_format_float(value):>20}"
        else:
            # A fixed-format string holds at most 68 characters once quotes are doubled;
            # shorten the text itself so that a doubled quote is never cut in half.
            while len(value.replace("'", "''")) > 68:
                value = value[:-1]
            escaped = value.replace("'", "''")
            field = f"'{escaped:<8}'"
        text = f"{key:<8}= {field}"
        if comment:
            text += f" / {comment}"
    raw = text[:CARD].ljust(CARD)
    # FITS headers are ASCII only; replace anything else rather than write an invalid file.
    return raw.encode("ascii", "replace")


def header_bytes(cards: Iterable[bytes]) -> bytes:
    """Join cards, add ``END`` and pad with spaces to a whole number of blocks."""
    body = b"".join(cards) + b"END".ljust(CARD)
    return body + b" " * (-len(body) % BLOCK)


def _pad_data(data: bytes) -> bytes:
    """Pad a data unit with zero bytes to a whole number of blocks."""
    return data + b"\0" * (-len(data) % BLOCK)


def primary_hdu(cards: Iterable[bytes] = ()) -> bytes:
    """A data-less primary HDU carrying ``cards``."""
    mandatory = [
        card("SIMPLE", True, "file conforms to the FITS standard"),
        card("BITPIX", 8, "array data type"),
        card("NAXIS", 0, "no primary array"),
        card("EXTEND", True, "file contains extensions"),
    ]
    return header_bytes([*mandatory, *cards])


def _simulated_primary(cards: Iterable[bytes]) -> bytes:
    """A primary HDU of a simulated file: ``cards`` (which carry SIMDATA) and the COMMENT
    lines that say in words that the file is simulated."""
    comments = [card("COMMENT", None, line) for line in simulation.comment_lines()]
    return primary_hdu([*cards, *comments])


def _simdata() -> bytes:
    return card(simulation.SIMDATA, True, simulation.SIMDATA_COMMENT)


@dataclass(frozen=True)
class Column:
    """A binary-table column: name, FITS TFORM, numpy dtype (big-endian) and unit."""

    name: str
    tform: str
    dtype: str
    unit: str = ""


def _record_dtype(columns: Sequence[Column]) -> np.dtype[Any]:
    """The packed big-endian record type of a table (FITS rows have no alignment gaps)."""
    return np.dtype([(col.name, col.dtype) for col in columns])


def bintable_hdu(
    extname: str, columns: Sequence[Column], data: npt.NDArray[Any], cards: Iterable[bytes] = ()
) -> bytes:
    """A BINTABLE extension holding ``data`` (a record array with ``columns``' layout)."""
    dtype = _record_dtype(columns)
    if data.dtype != dtype:
        data = data.astype(dtype)
    head = [
        card("XTENSION", "BINTABLE", "binary table extension"),
        card("BITPIX", 8, "8-bit bytes"),
        card("NAXIS", 2, "2-dimensional binary table"),
        card("NAXIS1", dtype.itemsize, "width of table in bytes"),
        card("NAXIS2", len(data), "number of rows in table"),
        card("PCOUNT", 0, "size of special data area"),
        card("GCOUNT", 1, "one data group"),
        card("TFIELDS", len(columns), "number of fields in each row"),
    ]
    for i, col in enumerate(columns, start=1):
        head.append(card(f"TTYPE{i}", col.name))
        head.append(card(f"TFORM{i}", col.tform))
        if col.unit:
            head.append(card(f"TUNIT{i}", col.unit))
    head.append(card("EXTNAME", extname, "name of this binary table extension"))
    return header_bytes([*head, *cards]) + _pad_data(data.tobytes())


# --- Science window metadata -------------------------------------------------------------------


def jemx_units_on(revolution: int) -> tuple[bool, bool]:
    """Which JEM-X units (1, 2) took data in ``revolution``.

    Both units ran at the start of the mission; from 2004 one unit at a time was used to
    save detector life (JEM-X1), and both ran again from 2010 on. The demo follows that
    history with fixed revolution limits, so it is a function of the revolution alone.
    """
    return True, revolution < 170 or revolution >= 970


def z_axis(ra: float, dec: float, posangle: float) -> tuple[float, float]:
    """(ra, dec) of the spacecraft Z axis: 90° from the pointing (X) axis at ``posangle``."""
    d, pa = math.radians(dec), math.radians(posangle)
    dec_z = math.asin(max(-1.0, min(1.0, math.cos(d) * math.cos(pa))))
    ra_z = ra + math.degrees(math.atan2(math.sin(pa), -math.sin(d) * math.cos(pa)))
    return ra_z % 360.0, math.degrees(dec_z)


@dataclass(frozen=True)
class ScwMeta:
    """What the raw files of one science window are built from.

    Every field is stored in the database (``science_windows`` joined with
    ``observations``), so any file can be rebuilt from a database row with :meth:`from_row`.
    """

    scw: ScwId
    obsid: str | None
    start_utc: datetime
    end_utc: datetime
    start_ijd: float
    end_ijd: float
    ra: float
    dec: float
    posangle: float
    target: str | None
    pi_name: str | None

    @property
    def is_slew(self) -> bool:
        """True for a slew science window."""
        return self.scw.scw_type == "slew"

    @property
    def duration(self) -> float:
        """Length of the science window in seconds."""
        return (self.end_ijd - self.start_ijd) * 86400.0

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> ScwMeta:
        """Rebuild from a row with ``science_windows`` columns plus ``target_name`` and
        ``pi_name`` of its observation."""
        return cls(
            scw=ScwId.parse(f"{row['scw_id']}.{row.get('version') or '001'}"),
            obsid=row.get("obsid"),
            start_utc=row["start_time"],
            end_utc=row["end_time"],
            start_ijd=float(row["start_ijd"]),
            end_ijd=float(row["end_ijd"]),
            ra=float(row["ra"]),
            dec=float(row["dec"]),
            posangle=float(row["posangle"]),
            target=row.get("target_name"),
            pi_name=row.get("pi_name"),
        )


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="milliseconds")


def _time_cards(meta: ScwMeta) -> list[bytes]:
    """Time keywords shared by every file of a science window (OGIP/INTEGRAL conventions)."""
    return [
        card("TSTART", meta.start_ijd, "start time (IJD)"),
        card("TSTOP", meta.end_ijd, "end time (IJD)"),
        card("TELAPSE", round(meta.duration, 6), "[s] elapsed time"),
        card("DATE-OBS", _iso(meta.start_utc), "start of the science window (UTC)"),
        card("DATE-END", _iso(meta.end_utc), "end of the science window (UTC)"),
        card("TIMESYS", "TT", "time scale of TSTART, TSTOP and TIME"),
        card("TIMEUNIT", "d", "unit of TSTART, TSTOP and TIME"),
        card("TIMEREF", "LOCAL", "times refer to the spacecraft"),
        card("MJDREF", MJDREF, "MJD (TT) of IJD 0"),
    ]


def _common_cards(meta: ScwMeta, instrume: str | None = None) -> list[bytes]:
    # DATE is the creation date; using the end of the science window (when the data could
    # first have been processed) keeps files reproducible.
    cards = [
        card("TELESCOP", "INTEGRAL", "mission name"),
        card("ORIGIN", "ISDC", "origin of the file"),
        card("CREATOR", CREATOR, "program that made the file"),
        card("DATE", meta.end_utc.isoformat(timespec="seconds"), "file creation date"),
        _simdata(),
    ]
    if instrume:
        cards.append(card("INSTRUME", instrume, "instrument name"))
    cards += [
        card("SWID", meta.scw.id, "science window identifier"),
        card("SW_VER", meta.scw.version, "science window version"),
        card("REVOL", meta.scw.revolution, "revolution number"),
    ]
    return cards


# --- Instrument files --------------------------------------------------------------------------

EventMaker = Callable[[np.random.Generator, int, float, float], dict[str, npt.NDArray[Any]]]


@dataclass(frozen=True)
class _Kind:
    """Template of one instrument file kind."""

    file_name: str
    instrume: str
    detnam: str
    extname: str
    columns: tuple[Column, ...]
    rate: float  # rows per second of science window at row_scale 1
    pointing_only: bool
    stream: int  # distinguishes the random streams of the files of one science window
    make: EventMaker


def _times(rng: np.random.Generator, n: int, t0: float, t1: float) -> npt.NDArray[np.float64]:
    return np.sort(rng.uniform(t0, t1, n))


def _isgri(rng: np.random.Generator, n: int, t0: float, t1: float) -> dict[str, Any]:
    return {
        "TIME": _times(rng, n, t0, t1),
        # A falling power-law-like spectrum, as background-dominated ISGRI data look.
        "ISGRI_PHA": np.minimum(rng.exponential(180.0, n) + 20, 2047).astype(np.int16),
        "RISE_TIME": rng.integers(0, 256, n, dtype=np.uint8),
        "ISGRI_Y": rng.integers(0, 128, n, dtype=np.uint8),
        "ISGRI_Z": rng.integers(0, 128, n, dtype=np.uint8),
        "SELECT_FLAG": (rng.random(n) < 0.02).astype(np.uint8),
    }


def _jemx(rng: np.random.Generator, n: int, t0: float, t1: float) -> dict[str, Any]:
    return {
        "TIME": _times(rng, n, t0, t1),
        "PI": np.minimum(rng.exponential(40.0, n) + 5, 255).astype(np.int16),
        "RAWX": rng.integers(0, 256, n, dtype=np.int16),
        "RAWY": rng.integers(0, 256, n, dtype=np.int16),
        "STATUS": (rng.random(n) < 0.05).astype(np.uint8),
    }


def _spi(rng: np.random.Generator, n: int, t0: float, t1: float) -> dict[str, Any]:
    energy = 20.0 + rng.exponential(150.0, n)
    return {
        "TIME": _times(rng, n, t0, t1),
        "DETE": rng.integers(0, 19, n, dtype=np.int16),
        "ENERGY": energy.astype(np.float32),
        "PHA": np.minimum(energy * 4.0, 16383).astype(np.int16),
    }


def _omc(rng: np.random.Generator, n: int, t0: float, t1: float) -> dict[str, Any]:
    # OMC takes shots on a fixed cadence rather than recording events.
    times = np.linspace(t0, t1, n, endpoint=False) if n else np.empty(0)
    magnitude = rng.normal(12.0, 1.5, n)
    return {
        "TIME": times,
        "EXPOSURE": rng.choice(np.array([10.0, 50.0, 200.0], dtype=np.float32), n),
        "MAGNITUDE": magnitude.astype(np.float32),
        "MAG_ERR": (0.01 + 0.02 * np.exp((magnitude - 12.0) / 2.0)).astype(np.float32),
        "OMC_X": rng.integers(0, 2061, n, dtype=np.int16),
        "OMC_Y": rng.integers(0, 2061, n, dtype=np.int16),
    }


_TIME = Column("TIME", "1D", ">f8", "d")
_KINDS: tuple[_Kind, ...] = (
    _Kind(
        "isgri_events.fits.gz",
        "IBIS",
        "ISGRI",
        "ISGR-EVTS-ALL",
        (
            _TIME,
            Column("ISGRI_PHA", "1I", ">i2", "chan"),
            Column("RISE_TIME", "1B", "u1", "chan"),
            Column("ISGRI_Y", "1B", "u1", "pixel"),
            Column("ISGRI_Z", "1B", "u1", "pixel"),
            Column("SELECT_FLAG", "1B", "u1"),
        ),
        0.15,
        False,
        1,
        _isgri,
    ),
    # The two JEM-X units write the same events, each under its own name.
    *(
        _Kind(
            f"jmx{unit}_events.fits.gz",
            f"JMX{unit}",
            f"JMX{unit}",
            f"JMX{unit}-FULL-ALL",
            (
                _TIME,
                Column("PI", "1I", ">i2", "chan"),
                Column("RAWX", "1I", ">i2", "pixel"),
                Column("RAWY", "1I", ">i2", "pixel"),
                Column("STATUS", "1B", "u1"),
            ),
            0.06,
            False,
            unit + 1,
            _jemx,
        )
        for unit in (1, 2)
    ),
    _Kind(
        "spi_oper.fits.gz",
        "SPI",
        "SPI",
        "SPI.-OPER-ALL",
        (
            _TIME,
            Column("DETE", "1I", ">i2"),
            Column("ENERGY", "1E", ">f4", "keV"),
            Column("PHA", "1I", ">i2", "chan"),
        ),
        0.08,
        False,
        4,
        _spi,
    ),
    _Kind(
        "omc_shots.fits.gz",
        "OMC",
        "OMC",
        "OMC.-SHOT-ALL",
        (
            _TIME,
            Column("EXPOSURE", "1E", ">f4", "s"),
            Column("MAGNITUDE", "1E", ">f4", "mag"),
            Column("MAG_ERR", "1E", ">f4", "mag"),
            Column("OMC_X", "1I", ">i2", "pixel"),
            Column("OMC_Y", "1I", ">i2", "pixel"),
        ),
        0.01,
        True,
        5,
        _omc,
    ),
)
_KIND_BY_NAME = {kind.file_name: kind for kind in _KINDS}
_DTYPES = {kind.file_name: _record_dtype(kind.columns) for kind in _KINDS}
_MIN_ROWS = 16


def _kinds_for(meta: ScwMeta) -> list[_Kind]:
    """The instrument files a science window has (JEM-X2 only when on, OMC on pointings)."""
    _jemx1, jemx2 = jemx_units_on(meta.scw.revolution)
    kinds = []
    for kind in _KINDS:
        if kind.pointing_only and meta.is_slew:
            continue
        if kind.instrume == "JMX2" and not jemx2:
            continue
        kinds.append(kind)
    return kinds


def scw_file_names(meta: ScwMeta) -> list[str]:
    """Names of all raw files of a science window, ``swg.fits`` first."""
    return ["swg.fits", *(kind.file_name for kind in _kinds_for(meta))]


def _rng(seed: int, meta: ScwMeta, stream: int) -> np.random.Generator:
    # One independent stream per (seed, ScW, file): files can be built in any order and in
    # any thread, and rebuilding one file needs nothing but its ScW's metadata.
    return np.random.default_rng([seed, int(meta.scw.id), int(meta.scw.version), stream])


def _instrument_file(kind: _Kind, meta: ScwMeta, seed: int, row_scale: float) -> bytes:
    rng = _rng(seed, meta, kind.stream)
    n = max(_MIN_ROWS, int(kind.rate * meta.duration * row_scale))
    values = kind.make(rng, n, meta.start_ijd, meta.end_ijd)
    data = np.empty(n, dtype=_DTYPES[kind.file_name])
    for name, column in values.items():
        data[name] = column
    common = _common_cards(meta, kind.instrume)
    primary = _simulated_primary([*common, card("DETNAM", kind.detnam, "detector name")])
    ext_cards = [
        *common,
        card("DETNAM", kind.detnam, "detector name"),
        *_time_cards(meta),
        card("SW_TYPE", "SLEW" if meta.is_slew else "POINTING", "science window type"),
    ]
    fits_bytes = primary + bintable_hdu(kind.extname, kind.columns, data, ext_cards)
    return gzip.compress(fits_bytes, compresslevel=GZIP_LEVEL, mtime=0)


_GROUP_COLUMNS = (
    Column("MEMBER_XTENSION", "8A", "S8"),
    Column("MEMBER_NAME", "32A", "S32"),
    Column("MEMBER_VERSION", "1J", ">i4"),
    Column("MEMBER_POSITION", "1J", ">i4"),
    Column("MEMBER_LOCATION", "64A", "S64"),
)


def _scw_cards(meta: ScwMeta) -> list[bytes]:
    """The science window's pointing, observation and time keywords."""
    ra_z, dec_z = z_axis(meta.ra, meta.dec, meta.posangle)
    return [
        card("SW_TYPE", "SLEW" if meta.is_slew else "POINTING", "science window type"),
        card("OBS_ID", meta.obsid or "", "observation identifier"),
        card("OBJECT", meta.target or "", "target of the observation"),
        card("PI_NAME", meta.pi_name or "", "principal investigator"),
        card("RA_SCX", meta.ra, "[deg] pointing (X) axis right ascension"),
        card("DEC_SCX", meta.dec, "[deg] pointing (X) axis declination"),
        card("RA_SCZ", ra_z, "[deg] Z axis right ascension"),
        card("DEC_SCZ", dec_z, "[deg] Z axis declination"),
        card("POSANGLE", meta.posangle, "[deg] position angle of the Z axis"),
        card("RADESYS", "ICRS", "reference frame of the positions"),
        card("EQUINOX", 2000.0, "equinox of the positions"),
        *_time_cards(meta),
    ]


def swg_file(meta: ScwMeta) -> bytes:
    """The science window group file ``swg.fits``: keywords plus a grouping table that lists
    the instrument files of the science window."""
    kinds = _kinds_for(meta)
    group = np.empty(len(kinds), dtype=_record_dtype(_GROUP_COLUMNS))
    for i, kind in enumerate(kinds):
        # Space padding, not NULs: both are legal, spaces read back the same everywhere.
        group[i] = (
            b"BINTABLE",
            kind.extname.ljust(32).encode(),
            1,
            1,
            kind.file_name.ljust(64).encode(),
        )
    cards = [*_common_cards(meta), *_scw_cards(meta)]
    return _simulated_primary(cards) + bintable_hdu(
        "GNRL-SCWG-GRP",
        _GROUP_COLUMNS,
        group,
        [*cards, card("GRPNAME", "GNRL-SCWG-GRP", "science window group")],
    )


def content_type(name: str) -> str:
    """MIME type of a raw file, from its name."""
    return "application/gzip" if name.endswith(".gz") else "application/fits"


def build_scw_file(meta: ScwMeta, name: str, seed: int, row_scale: float = 1.0) -> bytes:
    """The bytes of one raw file of a science window (``swg.fits`` or an instrument file).

    ``row_scale`` multiplies the number of synthetic events (1 for the demo, larger for
    benchmarks). Raises ``KeyError`` for a name the science window does not have.
    """
    if name == "swg.fits":
        return swg_file(meta)
    if name not in scw_file_names(meta):
        raise KeyError(f"science window {meta.scw.full} has no file {name!r}")
    return _instrument_file(_KIND_BY_NAME[name], meta, seed, row_scale)


def build_scw_files(meta: ScwMeta, seed: int, row_scale: float = 1.0) -> list[tuple[str, bytes]]:
    """All raw files of a science window as (name, bytes), ``swg.fits`` first."""
    files = [("swg.fits", swg_file(meta))]
    files += [
        (kind.file_name, _instrument_file(kind, meta, seed, row_scale)) for kind in _kinds_for(meta)
    ]
    return files


# --- Auxiliary per-revolution files ------------------------------------------------------------

_MU_EARTH = 398600.4418  # km^3 s^-2
_PERIGEE_KM = 15000.0  # radius; INTEGRAL's perigee altitude was about 9,000 km at launch
_ORBIT_STEP_S = 1800.0
_INCLINATION = math.radians(51.6)
_ARG_PERIGEE = math.radians(300.0)

_ORBIT_COLUMNS = (
    _TIME,
    Column("XPOS", "1D", ">f8", "km"),
    Column("YPOS", "1D", ">f8", "km"),
    Column("ZPOS", "1D", ">f8", "km"),
    Column("XVEL", "1D", ">f8", "km/s"),
    Column("YVEL", "1D", ">f8", "km/s"),
    Column("ZVEL", "1D", ">f8", "km/s"),
)


def _aux_cards(revolution: int, start_ijd: float, end_ijd: float, date: datetime) -> list[bytes]:
    return [
        card("TELESCOP", "INTEGRAL", "mission name"),
        card("ORIGIN", "ISDC", "origin of the file"),
        card("CREATOR", CREATOR, "program that made the file"),
        card("DATE", date.isoformat(timespec="seconds"), "file creation date"),
        _simdata(),
        card("REVOL", revolution, "revolution number"),
        card("TSTART", start_ijd, "start time (IJD)"),
        card("TSTOP", end_ijd, "end time (IJD)"),
        card("TIMESYS", "TT", "time scale"),
        card("TIMEUNIT", "d", "unit of TSTART, TSTOP and TIME"),
        card("MJDREF", MJDREF, "MJD (TT) of IJD 0"),
    ]


def orbit_file(revolution: int, start_ijd: float, end_ijd: float, date: datetime) -> bytes:
    """``orbit_historic.fits``: a Keplerian orbit sampled every 30 minutes.

    The orbit lasts the revolution (its duration in the revolution table of
    :mod:`shared.integral.revolutions`: 71.8 h before the 2015 manoeuvres, 63.8 h after) and has
    INTEGRAL's highly eccentric shape
    (perigee about 15,000 km, apogee about 155,000 km from the Earth's centre), with perigee
    at the start of the revolution, as INTEGRAL revolutions are counted perigee to perigee.
    """
    period = (end_ijd - start_ijd) * 86400.0
    semi_major = (_MU_EARTH * (period / (2 * math.pi)) ** 2) ** (1.0 / 3.0)
    ecc = 1.0 - _PERIGEE_KM / semi_major
    seconds = np.arange(0.0, period, _ORBIT_STEP_S)
    mean_motion = 2 * math.pi / period
    mean_anomaly = mean_motion * seconds
    ecc_anomaly = mean_anomaly.copy()
    for _ in range(30):  # Newton's method on Kepler's equation; converges fast even at e=0.8
        ecc_anomaly -= (ecc_anomaly - ecc * np.sin(ecc_anomaly) - mean_anomaly) / (
            1 - ecc * np.cos(ecc_anomaly)
        )
    cos_e, sin_e = np.cos(ecc_anomaly), np.sin(ecc_anomaly)
    root = math.sqrt(1 - ecc * ecc)
    plane_pos = np.stack([semi_major * (cos_e - ecc), semi_major * root * sin_e, 0 * cos_e])
    rate = mean_motion / (1 - ecc * cos_e)
    plane_vel = np.stack([-semi_major * sin_e * rate, semi_major * root * cos_e * rate, 0 * cos_e])
    # The node drifts slowly from one revolution to the next (lunisolar perturbations).
    node = math.radians((120.0 + 0.05 * revolution) % 360.0)
    rotation = _rot_z(node) @ _rot_x(_INCLINATION) @ _rot_z(_ARG_PERIGEE)
    pos, vel = rotation @ plane_pos, rotation @ plane_vel
    data = np.empty(len(seconds), dtype=_record_dtype(_ORBIT_COLUMNS))
    data["TIME"] = start_ijd + seconds / 86400.0
    for i, axis in enumerate("XYZ"):
        data[f"{axis}POS"] = pos[i]
        data[f"{axis}VEL"] = vel[i]
    cards = _aux_cards(revolution, start_ijd, end_ijd, date)
    return _simulated_primary(cards) + bintable_hdu("INTL-ORBI-HIS", _ORBIT_COLUMNS, data, cards)


def _rot_z(angle: float) -> npt.NDArray[np.float64]:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _rot_x(angle: float) -> npt.NDArray[np.float64]:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


@dataclass(frozen=True)
class AuxAttitudeRow:
    """One attitude record: the spacecraft axes at the start of a science window."""

    ijd: float
    scw_id: str
    ra: float
    dec: float
    posangle: float


_ATTITUDE_COLUMNS = (
    _TIME,
    Column("SWID", "12A", "S12"),
    Column("RA_SCX", "1D", ">f8", "deg"),
    Column("DEC_SCX", "1D", ">f8", "deg"),
    Column("RA_SCZ", "1D", ">f8", "deg"),
    Column("DEC_SCZ", "1D", ">f8", "deg"),
    Column("POSANGLE", "1D", ">f8", "deg"),
)


def attitude_file(
    revolution: int,
    start_ijd: float,
    end_ijd: float,
    date: datetime,
    rows: Sequence[AuxAttitudeRow],
) -> bytes:
    """``attitude_historic.fits``: the spacecraft attitude at each science window start."""
    data = np.empty(len(rows), dtype=_record_dtype(_ATTITUDE_COLUMNS))
    for i, row in enumerate(rows):
        ra_z, dec_z = z_axis(row.ra, row.dec, row.posangle)
        data[i] = (row.ijd, row.scw_id.encode(), row.ra, row.dec, ra_z, dec_z, row.posangle)
    cards = _aux_cards(revolution, start_ijd, end_ijd, date)
    return _simulated_primary(cards) + bintable_hdu("INTL-ATTI-HIS", _ATTITUDE_COLUMNS, data, cards)
