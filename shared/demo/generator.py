"""The demo archive generator: a realistic, deterministic INTEGRAL archive from a seed.

ISLA runs without network access, so the archive a fresh installation shows is generated. It
follows the real mission's structure (revolutions, observations with dither patterns,
pointings and slews, per-instrument exposures, fields of view, a source catalogue, raw files
in the real folder layout) and always contains the fixed content the documentation, the
astroquery examples and the tests rely on:

- revolution 0081 with science window ``008100430010``;
- revolution 0745 with observation ``06340000001`` on SMC X-1;
- revolution 0727 with observation ``88601650001`` on the Crab;
- the Crab (``J053432.0+220052``), observed every spring and autumn for calibration, and
  every bright source of ``bright_sources.csv`` by name.

Everything is derived from ``numpy.random.default_rng`` streams keyed by the seed and by
what is being generated (one stream per revolution, one per science-window file), so the
same seed gives the same archive byte for byte, and each raw file can be rebuilt alone
(:func:`shared.demo.fitsfiles.build_scw_file`).

Rows are written with ``COPY`` in one transaction: an interrupted run leaves an empty
database. Raw files are uploaded by a thread pool while the database rows are written;
because they are deterministic, re-running after a failure just overwrites them.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt
from astropy.coordinates import angular_separation
from astropy.time import Time, TimeDelta
from sqlalchemy import Connection, Engine, text

from shared.db.models import SOURCE_LOAD_COLUMNS
from shared.db.pgsphere import Point, spoly_literal
from shared.demo.bulk import indexes_after
from shared.demo.delivery import Deliver
from shared.demo.fitsfiles import (
    AUX_FILE_NAMES,
    AuxAttitudeRow,
    ScwMeta,
    attitude_file,
    build_scw_files,
    content_type,
    jemx_units_on,
    orbit_file,
    scw_file_names,
)
from shared.demo.variability import CLASSES as VARIABILITY_CLASSES
from shared.integral.ids import ScwId, normalise_source_name, source_id_from_position
from shared.integral.revolutions import (
    ends_ijd,
    revolution_end,
    revolution_start,
    starts_ijd,
)
from shared.integral.sun import SOLAR_ASPECT_MAX, SOLAR_ASPECT_MIN, solar_aspect, sun_radec
from shared.integral.time import ijd_to_time, time_to_ijd, times_to_ijd
from shared.storage import ObjectStore

normalise_alias = normalise_source_name
"""The resolver's name form (kept under the demo's name for its callers)."""

DEFAULT_SEED = 20021017
"""The default seed: INTEGRAL's launch date."""

Progress = Callable[[str], None]


class ArchiveNotEmpty(RuntimeError):  # noqa: N818 - names the condition, like the others
    """The database already holds an archive; the generator only fills an empty one."""


@dataclass(frozen=True)
class Scale:
    """How much data one ``--scale`` produces."""

    name: str
    every: int | None
    """Take every n-th revolution; None samples a few revolutions per year."""
    random_per_year: int
    """Revolutions sampled per calendar year (when ``every`` is None)."""
    crab_per_window: int
    """Crab calibration observations per spring/autumn visibility window."""
    pointings: tuple[int, int] | None
    """Range of pointings per revolution; None fills each revolution."""
    faint_sources: int
    """Generated faint sources besides the bright ones."""
    row_scale: float
    """Multiplier of the synthetic events in the instrument files."""
    raw_bytes: bool = True
    """Whether raw files are built and uploaded by default (else registered as missing)."""


SCALES: dict[str, Scale] = {
    # ~95 revolutions, ~1,800 science windows, ~9,000 small files: loads in seconds.
    "demo": Scale("demo", None, 2, 1, (6, 14), 1_000, 1.0),
    # Every 10th revolution with long stretches of it, and ~1.5 MB of raw data per ScW.
    "bench": Scale("bench", 10, 0, 1, (25, 40), 100_000, 280.0, raw_bytes=False),
    # The whole mission: 2,887 full revolutions, ~370,000 science windows.
    "full": Scale("full", 1, 0, 3, None, 1_000_000, 1.0, raw_bytes=False),
}


@dataclass(frozen=True)
class FixedContent:
    """Content every generated archive holds, whatever the scale and seed."""

    scw: str = "008100430010"
    scw_revolution: int = 81
    scw_pointing: int = 43
    smc_x1_obsid: str = "06340000001"
    smc_x1_revolution: int = 745
    crab_obsid: str = "88601650001"
    crab_revolution: int = 727
    crab_source_id: str = "J053432.0+220052"


FIXED_CONTENT = FixedContent()
"""The fixed content (see :class:`FixedContent`)."""

_FIXED_REVOLUTIONS = (
    FIXED_CONTENT.scw_revolution,
    FIXED_CONTENT.crab_revolution,
    FIXED_CONTENT.smc_x1_revolution,
)

# Timeline of a revolution (seconds from its start). Instruments are off while the orbit
# crosses the radiation belts around perigee, at the start and end of each revolution.
_SCIENCE_START = 5 * 3600.0
_SCIENCE_END_MARGIN = 3 * 3600.0
_POINTING_S = (1800.0, 3600.0)
_DITHER_SLEW_S = (120.0, 300.0)
_CYCLE_ESTIMATE_S = 3300.0  # a little more than the mean pointing + slew, to plan safely
_MAX_FIRST_POINTING = 40

# Fields of view (tangent-plane half sizes, degrees).
_ISGRI_HALF = 14.5  # 29 x 29 deg partially coded field of view
_JEMX_RADIUS = 6.6
_SPI_RADIUS = 8.0
_DITHER_STEP = 2.0

# Dead-time fractions (uniform ranges) per instrument column; for OMC the fraction of the
# good time the CCD is not integrating.
_DEAD_TIME = {
    "isgri": (0.17, 0.24),
    "picsit": (0.02, 0.05),
    "jemx1": (0.05, 0.12),
    "jemx2": (0.05, 0.12),
    "spi": (0.10, 0.13),
    "omc": (0.35, 0.55),
}

_PATTERNS = ("5x5", "hex", "staring")
_PATTERN_WEIGHTS = (0.45, 0.35, 0.20)

_CALIBRATION_PI = "INTEGRAL Calibration Team"
# Invented names: plausible, but no real person's.
_PI_NAMES = (
    "Adler K.",
    "Bertolini M.",
    "Castellano R.",
    "Dubois-Marchand C.",
    "Eriksen T.",
    "Fontaine A.",
    "Grunewald H.",
    "Halvorsen I.",
    "Iturriaga P.",
    "Jankowski W.",
    "Kowalczyk E.",
    "Lindqvist S.",
    "Moreau J.",
    "Nakamura Y.",
    "Okonkwo C.",
    "Petrakis D.",
    "Quintero L.",
    "Rasmussen F.",
    "Schellenberg B.",
    "Tanaka H.",
    "Uhlmann G.",
    "Vasquez-Ortega N.",
    "Whitfield R.",
    "Yilmaz O.",
    "Zanetti V.",
    "Brennan M.",
    "Chatterjee S.",
    "Dvorak P.",
    "Ferreira J.",
    "Kristensen A.",
)

_CATALOGUE = {
    "name": "ISLA demo reference catalogue",
    "version": "1.0",
    "team": "ISDC",
    "kind": "reference",
    "reference": "Generated by the ISLA demo generator (not a real catalogue)",
    "description": (
        "Bright INTEGRAL sources at their real positions plus generated faint sources, "
        "with synthetic fluxes (mCrab) in the ISGRI and JEM-X bands."
    ),
}

# Well-known other names of bright sources (resolver aliases).
_KNOWN_ALIASES: dict[str, tuple[str, ...]] = {
    "Crab": ("Crab Nebula", "Crab Pulsar", "4U 0531+21", "PSR B0531+21", "Tau A", "M1"),
    "Cyg X-1": ("4U 1956+35", "HDE 226868"),
    "Cyg X-3": ("4U 2030+40",),
    "Cyg X-2": ("4U 2142+38",),
    "Sco X-1": ("4U 1617-15", "V818 Sco"),
    "GRS 1915+105": ("V1487 Aql",),
    "GX 339-4": ("4U 1659-487",),
    "SMC X-1": ("4U 0115-73",),
    "LMC X-4": ("4U 0532-664",),
    "Vela X-1": ("4U 0900-40", "GP Vel"),
    "Her X-1": ("4U 1656+35", "HZ Her"),
    "Cen X-3": ("4U 1119-60",),
    "Sgr A*": ("Sgr A star", "SgrA*"),
    "1E 1740.7-2942": ("Great Annihilator",),
    "V404 Cyg": ("GS 2023+338",),
    "SS 433": ("V1343 Aql",),
    "Vela Pulsar": ("PSR B0833-45",),
    "Cen A": ("NGC 5128",),
    "3C 273": ("PKS 1226+023",),
    "Mrk 421": ("Markarian 421",),
    "Perseus Cluster": ("Abell 426",),
    "Coma Cluster": ("Abell 1656",),
    "X Per": ("4U 0352+309",),
}
_CONSTELLATIONS = {
    "Cyg": "Cygnus",
    "Sco": "Scorpius",
    "Her": "Hercules",
    "Cen": "Centaurus",
    "Aql": "Aquila",
    "Ser": "Serpens",
    "Per": "Perseus",
}

# Classes of generated sources: a Galactic population and an isotropic (extragalactic) one.
_PLANE_CLASSES = (
    ("unclassified", 0.45),
    ("HMXB", 0.10),
    ("LMXB", 0.10),
    ("CV", 0.10),
    ("pulsar", 0.04),
    ("SNR", 0.03),
    ("PWN", 0.02),
    ("star", 0.06),
    ("AGN", 0.10),
)
_SKY_CLASSES = (
    ("unclassified", 0.30),
    ("AGN Sy1", 0.25),
    ("AGN Sy2", 0.25),
    ("AGN blazar", 0.10),
    ("galaxy cluster", 0.05),
    ("star", 0.05),
)
_OPTICAL_CLASSES = ("HMXB", "AGN", "CV", "star", "microquasar")
_OPTICAL_NAMES = frozenset(
    {"Sco X-1", "Her X-1", "Cyg X-2", "V404 Cyg", "Aql X-1", "MAXI J1820+070", "GRO J1655-40"}
)

_BATCH_REVOLUTIONS = 24
_UPLOAD_THREADS = 8


# --- Report ------------------------------------------------------------------------------------


@dataclass
class GenerationReport:
    """What one run generated."""

    scale: str
    seed: int
    revolutions: int = 0
    observations: int = 0
    science_windows: int = 0
    sources: int = 0
    files: int = 0
    bytes: int = 0
    lightcurve_points: int = 0
    omc_points: int = 0
    products: int = 0
    maps: int = 0
    seconds: float = 0.0
    stages: dict[str, float] = field(default_factory=dict)
    """Wall time (s) of each stage, in order."""

    def summary(self) -> str:
        """One line for logs and the command line."""
        return (
            f"demo archive ({self.scale}, seed {self.seed}): {self.revolutions} revolutions, "
            f"{self.observations} observations, {self.science_windows} science windows, "
            f"{self.sources} sources, {self.files} files ({self.bytes / 1e6:.1f} MB), "
            f"{self.lightcurve_points} light-curve and {self.omc_points} OMC points, "
            f"{self.products} product files, {self.maps} all-sky maps in {self.seconds:.1f} s"
        )


# --- Bright sources ----------------------------------------------------------------------------


@dataclass(frozen=True)
class BrightSource:
    """A real bright source of ``bright_sources.csv``."""

    name: str
    ra: float
    dec: float
    source_class: str
    flux_20_40: float
    """Mean 20-40 keV flux over the mission (mCrab)."""
    reference: str
    """Where the flux comes from: a catalogue (``Bird+2016``, ``Krivonos+2022``) or
    ``estimate: <why>``."""
    variability: str
    """Variability class, one of :data:`shared.demo.variability.CLASSES`."""


# Catalogue positions that differ from the CSV's rounded ones. ISLA knows the Crab as
# J053432.0+220052; the CSV's RA (83.6331) is 0.4" short of rounding to that id.
_POSITION_OVERRIDES = {"Crab": (83.6332, 22.0145)}


@lru_cache(maxsize=1)
def _bright_sources() -> tuple[BrightSource, ...]:
    content = resources.files("shared.demo").joinpath("bright_sources.csv").read_text("utf-8")
    # The file's header comment (the flux references) is not CSV.
    lines = [line for line in content.splitlines() if line.strip() and not line.startswith("#")]
    sources = []
    for row in csv.DictReader(lines):
        ra, dec = _POSITION_OVERRIDES.get(row["name"], (float(row["ra"]), float(row["dec"])))
        if row["variability"] not in VARIABILITY_CLASSES:
            raise ValueError(
                f"bright_sources.csv: {row['name']}: unknown variability {row['variability']!r}"
            )
        sources.append(
            BrightSource(
                row["name"],
                ra,
                dec,
                row["class"],
                float(row["flux_20_40"]),
                row["reference"],
                row["variability"],
            )
        )
    return tuple(sources)


def bright_sources() -> list[BrightSource]:
    """The bright sources shipped with the package (``shared/demo/bright_sources.csv``)."""
    return list(_bright_sources())


# --- Sky geometry ------------------------------------------------------------------------------


def _unit(ra: float, dec: float) -> npt.NDArray[np.float64]:
    a, d = math.radians(ra), math.radians(dec)
    return np.array([math.cos(d) * math.cos(a), math.cos(d) * math.sin(a), math.sin(d)])


def _radec(vectors: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """(ra, dec) degrees of (n, 3) vectors (normalised here), as an (n, 2) array."""
    v = vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)
    ra = np.degrees(np.arctan2(v[..., 1], v[..., 0])) % 360.0
    dec = np.degrees(np.arcsin(np.clip(v[..., 2], -1.0, 1.0)))
    return np.stack([ra, dec], axis=-1)


def _frame(ra: float, dec: float, posangle: float) -> npt.NDArray[np.float64]:
    """Rows: pointing axis, spacecraft Y axis and Z axis (Z at ``posangle`` east of north).

    Offsets in the tangent plane along Y and Z, added to the pointing axis and normalised,
    are a gnomonic deprojection: straight lines there are great circles on the sky, which is
    what pgSphere draws between polygon vertices. So footprints built this way are exact,
    anywhere on the sky, including at the poles and across RA 0.
    """
    a, d, p = math.radians(ra), math.radians(dec), math.radians(posangle)
    centre = np.array([math.cos(d) * math.cos(a), math.cos(d) * math.sin(a), math.sin(d)])
    east = np.array([-math.sin(a), math.cos(a), 0.0])
    north = np.array([-math.sin(d) * math.cos(a), -math.sin(d) * math.sin(a), math.cos(d)])
    z_axis = math.sin(p) * east + math.cos(p) * north
    y_axis = math.cos(p) * east - math.sin(p) * north
    return np.stack([centre, y_axis, z_axis])


def _offset(frame: npt.NDArray[np.float64], y_deg: float, z_deg: float) -> tuple[float, float]:
    """The position offset by (y, z) degrees along the spacecraft axes."""
    ty, tz = math.tan(math.radians(y_deg)), math.tan(math.radians(z_deg))
    x, y, z = (float(v) for v in frame[0] + ty * frame[1] + tz * frame[2])
    # Scalar arithmetic: numpy's per-call overhead dominated planning ~370,000 pointings.
    norm = math.sqrt(x * x + y * y + z * z)
    ra = math.degrees(math.atan2(y, x)) % 360.0
    return ra, math.degrees(math.asin(max(-1.0, min(1.0, z / norm))))


def _regular(n: int, radius_deg: float) -> npt.NDArray[np.float64]:
    """A regular n-gon of angular radius ``radius_deg`` in tangent-plane units."""
    r = math.tan(math.radians(radius_deg))
    angles = np.arange(n) * (2 * math.pi / n)
    return np.stack([r * np.cos(angles), r * np.sin(angles)], axis=1)


_HALF = math.tan(math.radians(_ISGRI_HALF))
# Vertices in order around each footprint: pgSphere wants a simple, convex polygon.
_ISGRI_SHAPE = np.array([(_HALF, _HALF), (_HALF, -_HALF), (-_HALF, -_HALF), (-_HALF, _HALF)])
_JEMX_SHAPE = _regular(16, _JEMX_RADIUS)
_SPI_SHAPE = _regular(6, _SPI_RADIUS)


_ALL_SHAPES = np.concatenate([_ISGRI_SHAPE, _JEMX_SHAPE, _SPI_SHAPE])
_SHAPE_ENDS = (len(_ISGRI_SHAPE), len(_ISGRI_SHAPE) + len(_JEMX_SHAPE), len(_ALL_SHAPES))


def _footprints(frame: npt.NDArray[np.float64]) -> tuple[str, str, str]:
    """pgSphere polygon texts of the ISGRI, JEM-X and SPI footprints of one pointing (as
    :func:`_footprint` makes each, in one pass over their 26 vertices)."""
    vectors = frame[0] + _ALL_SHAPES[:, :1] * frame[1] + _ALL_SHAPES[:, 1:] * frame[2]
    points = [f"({ra!r}d, {dec!r}d)" for ra, dec in _radec(vectors).tolist()]
    a, b, c = _SHAPE_ENDS
    return (
        "{" + ",".join(points[:a]) + "}",
        "{" + ",".join(points[a:b]) + "}",
        "{" + ",".join(points[b:c]) + "}",
    )


def _footprint(frame: npt.NDArray[np.float64], shape: npt.NDArray[np.float64]) -> str:
    """pgSphere polygon text of a tangent-plane ``shape`` placed on the spacecraft frame."""
    vectors = frame[0] + shape[:, :1] * frame[1] + shape[:, 1:] * frame[2]
    points: list[Point] = [(float(ra), float(dec)) for ra, dec in _radec(vectors)]
    return spoly_literal(points)


def _dither_offsets(pattern: str) -> list[tuple[float, float]]:
    """Offsets (Y, Z degrees) of a dither pattern in the order they are visited."""
    if pattern == "staring":
        return [(0.0, 0.0)]
    if pattern == "hex":
        ring = [
            (_DITHER_STEP * math.cos(k * math.pi / 3), _DITHER_STEP * math.sin(k * math.pi / 3))
            for k in range(6)
        ]
        return [(0.0, 0.0), *ring]
    # 5x5: the centre first, then the grid row by row in a serpentine (shortest slews).
    grid: list[tuple[float, float]] = []
    for row, z in enumerate(range(-2, 3)):
        ys = range(-2, 3) if row % 2 == 0 else range(2, -3, -1)
        grid += [(y * _DITHER_STEP, z * _DITHER_STEP) for y in ys if (y, z) != (0, 0)]
    return [(0.0, 0.0), *grid]


_DITHERS = {pattern: _dither_offsets(pattern) for pattern in _PATTERNS}


def _dither_radius(pattern: str) -> float:
    """Largest angle (degrees) between a pattern's pointings and its target."""
    return max(
        math.degrees(math.atan(math.hypot(math.tan(math.radians(y)), math.tan(math.radians(z)))))
        for y, z in _DITHERS[pattern]
    )


# Room kept inside the solar aspect range (degrees) for an observation of each pattern: its
# farthest dither position, the pointing jitter (a few arcseconds), and 0.1° for the Sun's
# path curving away from its end points within a revolution and for the ephemeris.
_ASPECT_ROOM = {pattern: _dither_radius(pattern) + 0.1 for pattern in _PATTERNS}


def _angle(ra1: float, dec1: float, ra2: float, dec2: float) -> float:
    """Angular distance (degrees) between two positions (astropy's Vincenty formula)."""
    angles = map(math.radians, (ra1, dec1, ra2, dec2))
    return math.degrees(float(angular_separation(*angles)))


def _position_angle(ra1: float, dec1: float, ra2: float, dec2: float) -> float:
    """Position angle (east of north, degrees) of point 2 seen from point 1."""
    d1, d2, da = math.radians(dec1), math.radians(dec2), math.radians(ra2 - ra1)
    y = math.sin(da) * math.cos(d2)
    x = math.cos(d1) * math.sin(d2) - math.sin(d1) * math.cos(d2) * math.cos(da)
    return math.degrees(math.atan2(y, x)) % 360.0


def _observable(
    ra: npt.ArrayLike, dec: npt.ArrayLike, window: npt.ArrayLike, room: float
) -> npt.NDArray[np.bool_]:
    """Whether a target keeps ``room`` degrees inside the solar aspect range throughout a
    science window ``(first, last)`` IJD (the last axis of ``window``).

    Over the three days of a revolution the Sun moves 3°; for a target 40° to 140° from it,
    the aspect angle in between strays less than 0.03° beyond its values at the two ends
    (well inside the 0.1° kept in ``room``), so the two ends decide.
    """
    bounds = np.asarray(window, dtype=np.float64)
    aspect = solar_aspect(np.asarray(ra)[..., None], np.asarray(dec)[..., None], bounds)
    ok = (aspect >= SOLAR_ASPECT_MIN + room) & (aspect <= SOLAR_ASPECT_MAX - room)
    return np.asarray(ok.all(axis=-1), dtype=np.bool_)


def _science_window(start_ijd: float, end_ijd: float) -> tuple[float, float]:
    """IJDs of the first and last instant a revolution's pointings may take."""
    return start_ijd + _SCIENCE_START / 86400.0, end_ijd - _SCIENCE_END_MARGIN / 86400.0


# --- Revolution selection ----------------------------------------------------------------------


def _revolution_starts() -> tuple[list[datetime], npt.NDArray[np.float64]]:
    """UTC start of every revolution of the mission and its science window (IJD pairs)."""
    first = starts_ijd() + _SCIENCE_START / 86400.0
    last = ends_ijd() - _SCIENCE_END_MARGIN / 86400.0
    starts = list(ijd_to_time(starts_ijd()).utc.to_datetime())
    return starts, np.stack([first, last], axis=-1)


def _select_revolutions(scale: Scale, rng: np.random.Generator) -> tuple[list[int], set[int]]:
    """The revolutions to generate and those with a Crab calibration observation.

    Every year gets revolutions, and each spring and autumn Crab visibility window gets its
    Crab calibration (the Crab is only observable in those two windows, 50-130° from the
    Sun, and the calibration revolutions are those where every dither pattern fits inside
    the range). The fixed revolutions are always included.
    """
    starts, windows_ijd = _revolution_starts()
    count = len(starts)
    crab = _bright_by_name()["Crab"]
    crab_ok = _observable(crab.ra, crab.dec, windows_ijd, max(_ASPECT_ROOM.values()))
    fixed = set(_FIXED_REVOLUTIONS)
    selected: set[int] = set(fixed)
    if scale.every is None:
        by_year: dict[int, list[int]] = {}
        for rev, start in enumerate(starts):
            by_year.setdefault(start.year, []).append(rev)
        for year in sorted(by_year):
            pool = [rev for rev in by_year[year] if rev not in fixed]
            take = min(scale.random_per_year, len(pool))
            selected.update(int(r) for r in rng.choice(pool, size=take, replace=False))
    else:
        selected.update(range(0, count, scale.every))

    crab_revs: set[int] = set()
    windows: dict[tuple[int, int], list[int]] = {}
    for rev in range(count):
        if crab_ok[rev] and rev not in fixed:
            # Spring (before July) and autumn windows of each year.
            windows.setdefault((starts[rev].year, starts[rev].month >= 7), []).append(rev)
    for key in sorted(windows):
        # Sampled scales add calibration revolutions; the others calibrate in what they have.
        pool = windows[key] if scale.every is None else [r for r in windows[key] if r in selected]
        take = min(scale.crab_per_window, len(pool))
        if take:
            crab_revs.update(int(r) for r in rng.choice(pool, size=take, replace=False))
    selected |= crab_revs
    return sorted(selected), crab_revs


@lru_cache(maxsize=1)
def _bright_by_name() -> dict[str, BrightSource]:
    """The bright sources by name (read once)."""
    return {source.name: source for source in bright_sources()}


# --- Planning a revolution ---------------------------------------------------------------------

SCW_COLUMNS = (
    "scw_id",
    "version",
    "revolution",
    "obsid",
    "scw_type",
    "start_time",
    "end_time",
    "start_ijd",
    "end_ijd",
    "ra",
    "dec",
    "posangle",
    "fov_isgri",
    "fov_jemx",
    "fov_spi",
    "isgri_good_time",
    "isgri_exposure",
    "picsit_good_time",
    "picsit_exposure",
    "jemx1_good_time",
    "jemx1_exposure",
    "jemx2_good_time",
    "jemx2_exposure",
    "spi_good_time",
    "spi_exposure",
    "omc_good_time",
    "omc_exposure",
    "raw_files",
    "raw_size",
)
OBSERVATION_COLUMNS = (
    "obsid",
    "proposal_id",
    "pi_name",
    "target_name",
    "start_time",
    "end_time",
    "rev_start",
    "rev_end",
    "ra",
    "dec",
    "pattern",
    "exposure",
)


@dataclass
class _ObsPlan:
    obsid: str
    proposal_id: str
    pi_name: str
    target: str
    ra: float
    dec: float
    pattern: str
    posangle: float
    pointings: int
    exposure: float = 0.0
    first: int = -1  # index of its first and last pointing ScW in the revolution
    last: int = -1


@dataclass
class _ScwPlan:
    scw: ScwId
    obs: _ObsPlan
    start: float  # seconds from the revolution start
    end: float
    ra: float
    dec: float
    posangle: float
    fovs: tuple[str | None, str | None, str | None] = (None, None, None)
    times: tuple[float | None, ...] = ()


@dataclass
class _RevPlan:
    revolution: int
    start_utc: datetime
    end_utc: datetime
    start_ijd: float
    end_ijd: float
    observations: list[_ObsPlan]
    scws: list[_ScwPlan]
    metas: list[ScwMeta] = field(default_factory=list)


class _Planner:
    """Plans revolutions one after the other (observation numbering runs across them)."""

    def __init__(self, scale: Scale, seed: int, crab_revs: set[int]) -> None:
        self.scale = scale
        self.seed = seed
        self.crab_revs = crab_revs
        self.sources = bright_sources()
        self.index = {source.name: i for i, source in enumerate(self.sources)}
        self.pi_order = np.random.default_rng([seed, 4]).permutation(len(_PI_NAMES))
        self.sequence: dict[str, int] = {}
        self.obsids: set[str] = {FIXED_CONTENT.smc_x1_obsid, FIXED_CONTENT.crab_obsid}

    def _next_obsid(self, proposal: str) -> str:
        while True:
            number = self.sequence.get(proposal, 0) + 1
            self.sequence[proposal] = number
            obsid = f"{proposal}{number:04d}"
            if obsid not in self.obsids:
                self.obsids.add(obsid)
                return obsid

    def _pi(self, ao: int, target_index: int) -> str:
        return _PI_NAMES[int(self.pi_order[(ao * 7 + target_index) % len(_PI_NAMES)])]

    def _special(self, rev: int, ao: int, rng: np.random.Generator) -> list[_ObsPlan]:
        """The fixed observations of ``rev`` (pointing counts filled in later)."""
        bright = _bright_by_name()
        specials = []
        if rev == FIXED_CONTENT.smc_x1_revolution:
            smc = bright["SMC X-1"]
            obsid = FIXED_CONTENT.smc_x1_obsid
            specials.append(
                _ObsPlan(obsid, obsid[:7], _PI_NAMES[3], smc.name, smc.ra, smc.dec, "5x5", 0, 0)
            )
        crab = bright["Crab"]
        if rev == FIXED_CONTENT.crab_revolution:
            obsid = FIXED_CONTENT.crab_obsid
            specials.append(
                _ObsPlan(obsid, obsid[:7], _CALIBRATION_PI, "Crab", crab.ra, crab.dec, "hex", 0, 0)
            )
        if rev in self.crab_revs:
            proposal = f"8860{ao:02d}0"  # calibration proposals: 886...
            pattern = str(rng.choice(_PATTERNS, p=_PATTERN_WEIGHTS))
            specials.append(
                _ObsPlan(
                    self._next_obsid(proposal),
                    proposal,
                    _CALIBRATION_PI,
                    "Crab",
                    crab.ra,
                    crab.dec,
                    pattern,
                    0,
                    0,
                )
            )
        return specials

    def plan(self, rev: int) -> _RevPlan:
        """Plan the observations and science windows of revolution ``rev``."""
        rng = np.random.default_rng([self.seed, 1, rev])
        start, end = revolution_start(rev), revolution_end(rev)
        start_ijd, end_ijd = time_to_ijd(start), time_to_ijd(end)
        length = (end_ijd - start_ijd) * 86400.0
        science_end = length - _SCIENCE_END_MARGIN
        start_utc: datetime = start.utc.to_datetime()
        ao = max(1, start_utc.year - 2002)  # announcement-of-opportunity cycle
        sun_ra, sun_dec = sun_radec((start_ijd + end_ijd) / 2)
        sun = (float(sun_ra), float(sun_dec))
        window = _science_window(start_ijd, end_ijd)

        room = int((science_end - _SCIENCE_START) / _CYCLE_ESTIMATE_S)
        if self.scale.pointings is None:
            first, count = 1, room
        else:
            low, high = self.scale.pointings
            count = int(rng.integers(low, high + 1))
            first = int(rng.integers(1, _MAX_FIRST_POINTING + 1))
            if rev == FIXED_CONTENT.scw_revolution:
                count = max(count, 8)
                first = FIXED_CONTENT.scw_pointing - int(rng.integers(0, count))
            count = min(count, room - (first - 1))

        specials = self._special(rev, ao, rng)
        for obs in specials:
            if not _observable(obs.ra, obs.dec, window, _ASPECT_ROOM[obs.pattern]):
                # The fixed content must be planned where its target is observable.
                raise RuntimeError(
                    f"revolution {rev}: {obs.target} is outside INTEGRAL's solar aspect range"
                )
        n_obs = max(len(specials), min(int(rng.integers(1, 5)), count))
        count = max(count, n_obs)
        cuts = np.sort(rng.choice(np.arange(1, count), size=n_obs - 1, replace=False))
        sizes = np.diff(np.concatenate([[0], cuts, [count]])).tolist()
        slots = rng.permutation(n_obs)[: len(specials)].tolist()
        # The bright sources each pattern can observe in this revolution.
        ras = np.array([source.ra for source in self.sources])
        decs = np.array([source.dec for source in self.sources])
        visible = {
            pattern: [
                source
                for source, ok in zip(
                    self.sources, _observable(ras, decs, window, _ASPECT_ROOM[pattern]), strict=True
                )
                if ok
            ]
            for pattern in _PATTERNS
        }

        observations: list[_ObsPlan] = []
        for i, size in enumerate(sizes):
            if i in slots:
                obs = specials[slots.index(i)]
            else:
                pattern = str(rng.choice(_PATTERNS, p=_PATTERN_WEIGHTS))
                if not visible[pattern]:
                    pattern = "staring"  # the smallest footprint on the sky
                candidates = visible[pattern]
                if not candidates:
                    raise RuntimeError(f"revolution {rev}: no bright source is observable")
                target = candidates[int(rng.integers(len(candidates)))]
                t_index = self.index[target.name]
                proposal = f"{ao:02d}{100 + t_index:03d}00"
                obs = _ObsPlan(
                    self._next_obsid(proposal),
                    proposal,
                    self._pi(ao, t_index),
                    target.name,
                    target.ra,
                    target.dec,
                    pattern,
                    0.0,
                    0,
                )
            # The solar arrays must face the Sun, which fixes the roll about the pointing
            # axis: the Z axis is kept towards the Sun (with the small scatter of real ops).
            pa_sun = _position_angle(obs.ra, obs.dec, *sun)
            obs.posangle = (pa_sun + float(rng.normal(0.0, 1.0))) % 360.0
            obs.pointings = int(size)
            observations.append(obs)

        scws = self._timeline(rev, rng, observations, first, science_end)
        if any(obs.first < 0 for obs in specials):
            # Cannot happen with the timeline's safety margin; fail loudly if it ever does.
            raise RuntimeError(f"revolution {rev}: no room left for its fixed observations")
        observations = [obs for obs in observations if obs.first >= 0]
        _check_solar_aspect(rev, start_ijd, scws)
        return _RevPlan(
            rev, start_utc, end.utc.to_datetime(), start_ijd, end_ijd, observations, scws
        )

    def _timeline(
        self,
        rev: int,
        rng: np.random.Generator,
        observations: list[_ObsPlan],
        first: int,
        science_end: float,
    ) -> list[_ScwPlan]:
        """Pointings and the slews between them, back to back from pointing ``first``."""
        t = _SCIENCE_START + (first - 1) * _CYCLE_ESTIMATE_S + float(rng.uniform(0, 600))
        scws: list[_ScwPlan] = []
        number = first
        previous: _ScwPlan | None = None
        for obs in observations:
            dithers = _DITHERS[obs.pattern]
            frame = _frame(obs.ra, obs.dec, obs.posangle)
            for k in range(obs.pointings):
                y, z = dithers[k % len(dithers)]
                # Pointing jitter of a few arcseconds, as the attitude control achieves.
                y += float(rng.normal(0.0, 0.003))
                z += float(rng.normal(0.0, 0.003))
                ra, dec = _offset(frame, y, z)
                posangle = (obs.posangle + float(rng.normal(0.0, 0.02))) % 360.0
                if previous is not None:
                    angle = _angle(previous.ra, previous.dec, ra, dec)
                    if previous.obs is obs:
                        slew_s = float(rng.uniform(*_DITHER_SLEW_S))
                    else:  # a slew to a new target takes longer
                        slew_s = min(300.0 + 6.0 * angle, 1800.0) + float(rng.uniform(0, 60))
                    mid = _radec((_unit(previous.ra, previous.dec) + _unit(ra, dec))[None, :])[0]
                    slew = _ScwPlan(
                        ScwId.make(rev, number - 1, 2, slew=True),
                        obs,
                        t,
                        t + slew_s,
                        float(mid[0]),
                        float(mid[1]),
                        _mean_angle(previous.posangle, posangle),
                    )
                    t = slew.end + float(rng.uniform(0.5, 3.0))
                duration = float(rng.uniform(*_POINTING_S))
                if t + duration > science_end:
                    return scws
                if previous is not None:
                    scws.append(slew)
                pointing = _ScwPlan(
                    ScwId.make(rev, number, 1), obs, t, t + duration, ra, dec, posangle
                )
                pointing_frame = _frame(ra, dec, posangle)
                pointing.fovs = _footprints(pointing_frame)
                pointing.times = _instrument_times(rng, rev, duration)
                if obs.first < 0:
                    obs.first = len(scws)
                obs.last = len(scws)
                obs.exposure += duration
                scws.append(pointing)
                previous = pointing
                number += 1
                t = pointing.end + float(rng.uniform(0.5, 3.0))
        return scws


def _check_solar_aspect(rev: int, start_ijd: float, scws: list[_ScwPlan]) -> None:
    """Raise RuntimeError if a pointing leaves the solar aspect range at its start or end
    (the planning keeps them inside by construction; this guards the construction)."""
    pointings = [scw for scw in scws if scw.scw.scw_type == "pointing"]
    if not pointings:
        return
    ra = np.array([[scw.ra] for scw in pointings])
    dec = np.array([[scw.dec] for scw in pointings])
    ijd = start_ijd + np.array([[scw.start, scw.end] for scw in pointings]) / 86400.0
    aspect = solar_aspect(ra, dec, ijd)
    if aspect.min() < SOLAR_ASPECT_MIN or aspect.max() > SOLAR_ASPECT_MAX:
        raise RuntimeError(f"revolution {rev}: a pointing leaves the solar aspect range")


def _mean_angle(a: float, b: float) -> float:
    """Mean of two angles in degrees, across the 0/360 wrap."""
    diff = ((b - a + 180.0) % 360.0) - 180.0
    return (a + diff / 2) % 360.0


def _instrument_times(
    rng: np.random.Generator, rev: int, duration: float
) -> tuple[float | None, ...]:
    """(good time, exposure) per instrument column, in ``INSTRUMENT_COLUMNS`` order."""
    _jemx1, jemx2 = jemx_units_on(rev)
    values: list[float | None] = []
    for name, (low, high) in _DEAD_TIME.items():
        if name == "jemx2" and not jemx2:
            values += [None, None]
            continue
        # Most pointings lose a little time to telemetry gaps; a few lose much more
        # (solar flares, belt entry, instrument anomalies).
        loss = float(rng.uniform(0.1, 0.6)) if rng.random() < 0.05 else float(rng.uniform(0, 0.03))
        good = round(duration * (1.0 - loss), 3)
        values += [good, round(good * (1.0 - float(rng.uniform(low, high))), 3)]
    return tuple(values)


def _finish(plan: _RevPlan, start: Time) -> list[tuple[Any, ...]]:
    """Convert the plan's times and build its ScwMeta list; return science-window rows
    (without the raw-file columns)."""
    if not plan.scws:
        return []
    offsets = np.array([[s.start, s.end] for s in plan.scws], dtype=np.float64)
    utc, ijd = _utc_times(start, offsets.ravel())
    rows: list[tuple[Any, ...]] = []
    for i, scw in enumerate(plan.scws):
        start_utc, end_utc = utc[2 * i], utc[2 * i + 1]
        start_ijd, end_ijd = float(ijd[2 * i]), float(ijd[2 * i + 1])
        slew = scw.scw.scw_type == "slew"
        plan.metas.append(
            ScwMeta(
                scw=scw.scw,
                obsid=scw.obs.obsid,
                start_utc=start_utc,
                end_utc=end_utc,
                start_ijd=start_ijd,
                end_ijd=end_ijd,
                ra=scw.ra,
                dec=scw.dec,
                posangle=scw.posangle,
                target=scw.obs.target,
                pi_name=scw.obs.pi_name,
            )
        )
        times = (None,) * 12 if slew else scw.times
        rows.append(
            (
                scw.scw.id,
                scw.scw.version,
                plan.revolution,
                scw.obs.obsid,
                scw.scw.scw_type,
                start_utc,
                end_utc,
                start_ijd,
                end_ijd,
                scw.ra,
                scw.dec,
                scw.posangle,
                *scw.fovs,
                *times,
            )
        )
    return rows


def _utc_times(start: Time, offsets: npt.NDArray[np.float64]) -> tuple[list[datetime], Any]:
    """UTC datetimes (naive) and IJDs of instants ``offsets`` seconds after ``start``.

    Elapsed seconds are SI seconds, so leap seconds are counted right. A datetime cannot
    hold an instant inside a leap second; such an instant (rare) is moved one second on.
    """
    times = start + TimeDelta(offsets, format="sec")
    try:
        return list(times.utc.to_datetime()), times_to_ijd(times)
    except ValueError:
        result: list[datetime] = []
        ijds = []
        for offset in offsets:
            moment = start + TimeDelta(float(offset), format="sec")
            if moment.utc.ymdhms["second"] >= 60:
                moment = moment + TimeDelta(1.0, format="sec")
            result.append(moment.utc.to_datetime())
            ijds.append(time_to_ijd(moment))
        return result, np.array(ijds)


# --- Sources -----------------------------------------------------------------------------------


@dataclass
class _SourceRows:
    sources: list[tuple[Any, ...]] = field(default_factory=list)
    aliases: list[tuple[str, str, str]] = field(default_factory=list)
    fluxes: list[tuple[Any, ...]] = field(default_factory=list)
    entries: list[tuple[Any, ...]] = field(default_factory=list)


def _aliases_of(name: str, source_id: str) -> list[str]:
    names = [name, name.replace(" ", ""), source_id, *_KNOWN_ALIASES.get(name, ())]
    first, _, rest = name.partition(" ")
    if first in _CONSTELLATIONS and rest:
        names.append(f"{_CONSTELLATIONS[first]} {rest}")
    unique: list[str] = []
    for alias in names:
        if alias not in unique:
            unique.append(alias)
    return unique


def _add_source(
    rows: _SourceRows,
    catalogue_id: int,
    bands: dict[str, int],
    *,
    source_id: str,
    name: str,
    ra: float,
    dec: float,
    pos_err: float,
    source_class: str,
    flags: dict[str, bool],
    fluxes: dict[str, tuple[float, float]],
    aliases: Iterable[str],
) -> None:
    rows.sources.append(
        (
            source_id,
            name,
            ra,
            dec,
            pos_err,
            source_class,
            flags["isgri"],
            flags["picsit"],
            flags["jemx"],
            flags["spi"],
            flags["omc"],
            catalogue_id,
        )
    )
    for alias in aliases:
        rows.aliases.append((source_id, alias, normalise_alias(alias)))
    for band, (flux, error) in fluxes.items():
        rows.fluxes.append((source_id, bands[band], catalogue_id, flux, error, True))
    values: dict[str, Any] = {f"flux_{band}": flux for band, (flux, _err) in fluxes.items()}
    values.update({f"det_{key}": value for key, value in flags.items()})
    rows.entries.append(
        (
            catalogue_id,
            name,
            source_id,
            ra,
            dec,
            pos_err,
            source_class,
            json.dumps(values, sort_keys=True),
        )
    )


_E_20_35 = math.sqrt(20.0 * 35.0)
_E_35_60 = math.sqrt(35.0 * 60.0)
_E_20_40 = math.sqrt(20.0 * 40.0)


def flux_20_35(flux_20_40: float, hardness: float) -> float:
    """The 20-35 keV flux (mCrab) of a source whose 20-40 keV flux is ``flux_20_40`` and whose
    35-60 to 20-35 keV ratio (in mCrab) is ``hardness``.

    In mCrab a power law is itself a power law of energy, ``E^(Gamma_Crab - Gamma)``, the one
    that :func:`shared.demo.model.index_from_hardness` reads back from the two catalogue
    bands; each band's value is taken at its logarithmic centre.
    """
    slope = math.log(max(hardness, 1e-3)) / math.log(_E_35_60 / _E_20_35)
    return flux_20_40 * (_E_20_35 / _E_20_40) ** slope


def _band_fluxes(
    rng: np.random.Generator, isgri: float, hardness: float, jemx: float | None
) -> dict[str, tuple[float, float]]:
    """Fluxes and 1-sigma errors (mCrab) in the catalogue's bands.

    ``isgri`` is the 20-35 keV flux. mCrab normalises each band to the Crab, so a Crab-like
    spectrum has the same value in every band; ``hardness`` is the 35-60 to 20-35 keV ratio,
    the 28-40 keV band lies between the two.
    """
    hard = isgri * hardness
    mid = math.sqrt(isgri * hard)
    fluxes = {
        band: (round(value, 3), round(0.08 + 0.004 * value + 0.05 * float(rng.random()), 3))
        for band, value in (("isgri:20_35", isgri), ("isgri:35_60", hard), ("isgri:28_40", mid))
    }
    if jemx is not None:
        high = jemx * float(rng.uniform(0.5, 1.0))
        for band, value in (("jemx:3_10", jemx), ("jemx:10_20", high)):
            fluxes[band] = (round(value, 3), round(0.4 + 0.01 * value, 3))
    return fluxes


def _bright_rows(
    rows: _SourceRows, rng: np.random.Generator, catalogue_id: int, bands: dict[str, int]
) -> tuple[set[str], set[str]]:
    ids: set[str] = set()
    names: set[str] = set()
    for source in bright_sources():
        source_id = source_id_from_position(source.ra, source.dec)
        if source_id in ids:
            continue
        ids.add(source_id)
        names.add(source.name)
        cls = source.source_class
        if source.name == "Crab":
            hardness, jemx_ratio = 1.0, 1.0
        else:
            # The spectral shape is drawn by class (the CSV gives only the 20-40 keV flux):
            # neutron-star LMXBs are soft, the others about as hard as the Crab.
            soft = "LMXB" in cls and "BH" not in cls
            hardness = float(rng.uniform(0.3, 0.6) if soft else rng.lognormal(0.0, 0.15))
            jemx_ratio = float(rng.uniform(2.0, 8.0) if soft else rng.uniform(0.5, 1.5))
        isgri = flux_20_35(source.flux_20_40, hardness)
        jemx = isgri * jemx_ratio
        flags = {
            "isgri": True,
            "picsit": source.flux_20_40 >= 400.0,
            "jemx": not ("obscured" in cls or "SMBH" in cls),
            # Transients' outbursts reach hundreds of mCrab, whatever their mission mean.
            "spi": source.flux_20_40 >= 150.0 or source.variability == "transient",
            "omc": (any(c in cls for c in _OPTICAL_CLASSES) and "obscured" not in cls)
            or source.name in _OPTICAL_NAMES,
        }
        _add_source(
            rows,
            catalogue_id,
            bands,
            source_id=source_id,
            name=source.name,
            ra=source.ra,
            dec=source.dec,
            pos_err=round(float(rng.uniform(0.3, 1.0)), 2),
            source_class=cls,
            flags=flags,
            fluxes=_band_fluxes(rng, isgri, hardness, jemx if flags["jemx"] else None),
            aliases=_aliases_of(source.name, source_id),
        )
    return ids, names


def _faint_positions(
    rng: np.random.Generator, count: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """(ra, dec, galactic?) of generated sources: 70% in a thin Galactic disk and bulge,
    30% isotropic (extragalactic)."""
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    plane = rng.random(count) < 0.7
    n_plane = int(plane.sum())
    # Longitudes crowd towards the Galactic centre; latitudes follow a thin disk.
    lon = np.where(
        rng.random(n_plane) < 0.5, rng.normal(0.0, 30.0, n_plane), rng.uniform(0, 360, n_plane)
    )
    lat = np.clip(rng.laplace(0.0, 2.5, n_plane), -89.0, 89.0)
    icrs = SkyCoord(lon % 360.0, lat, unit=u.deg, frame="galactic").icrs
    ra = np.empty(count)
    dec = np.empty(count)
    ra[plane] = icrs.ra.deg
    dec[plane] = icrs.dec.deg
    n_sky = count - n_plane
    ra[~plane] = rng.uniform(0, 360, n_sky)
    dec[~plane] = np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, n_sky)))
    return np.round(ra, 5) % 360.0, np.round(dec, 5), plane


def _tsv(columns: Sequence[Sequence[str]]) -> bytes:
    """Rows of ``COPY`` text (tab-separated, one row a line) from columns of formatted values
    (none of which holds a tab, a newline or a backslash)."""
    return ("\n".join(map("\t".join, zip(*columns, strict=True))) + "\n").encode()


def _copy_text(conn: Connection, table: str, columns: Sequence[str], data: bytes) -> None:
    """Bulk-load ``COPY`` text on the connection's transaction, in one write."""
    raw: Any = conn.connection.driver_connection
    statement = f"COPY isla.{table} ({', '.join(columns)}) FROM STDIN"
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        copy.write(data)


def _texts(values: npt.NDArray[Any]) -> list[str]:
    """Formatted values: floats as Python's shortest repr, booleans as t/f."""
    if values.dtype == np.bool_:
        return np.where(values, "t", "f").tolist()
    # Python's float repr (the shortest that reads back exactly): numpy's astype(str) takes
    # ten times as long.
    return list(map(repr, values.tolist()))


def _source_ids(ra: npt.NDArray[np.float64], dec: npt.NDArray[np.float64]) -> list[str]:
    """:func:`source_id_from_position` of many positions at once (the same rounding)."""
    ra_tenths = np.floor((ra % 360.0) * (36000 * 24 / 360.0) + 0.5 + 1e-7).astype(np.int64)
    ra_tenths %= 24 * 36000
    dec_arcsec = np.floor(np.abs(dec) * 3600.0 + 0.5 + 1e-7).astype(np.int64)
    parts = [
        (ra_tenths // 36000).tolist(),
        (ra_tenths // 600 % 60).tolist(),
        (ra_tenths % 600 // 10).tolist(),
        (ra_tenths % 10).tolist(),
        np.where(dec < 0, "-", "+").tolist(),
        (dec_arcsec // 3600).tolist(),
        (dec_arcsec // 60 % 60).tolist(),
        (dec_arcsec % 60).tolist(),
    ]
    return [
        f"J{h:02d}{m:02d}{s:02d}.{t}{sign}{d:02d}{dm:02d}{ds:02d}"
        for h, m, s, t, sign, d, dm, ds in zip(*parts, strict=True)
    ]


def _faint_chunk(
    conn: Connection,
    rng: np.random.Generator,
    catalogue_id: int,
    bands: dict[str, int],
    count: int,
    ids: set[str],
    names: set[str],
) -> int:
    """Generate ``count`` faint sources column by column and ``COPY`` them; return how many
    were written (a position that repeats an earlier source's id is dropped)."""
    ra, dec, plane = _faint_positions(rng, count)
    plane_classes = rng.choice(
        [c for c, _ in _PLANE_CLASSES], size=count, p=[p for _, p in _PLANE_CLASSES]
    )
    sky_classes = rng.choice(
        [c for c, _ in _SKY_CLASSES], size=count, p=[p for _, p in _SKY_CLASSES]
    )
    # A power-law number-flux relation: many faint sources, few bright ones (20-40 keV,
    # mCrab). The cap keeps the generated sources below the bright named ones: the IBIS
    # catalogues' sources above a few tens of mCrab are all well-known, named ones.
    flux = np.minimum(0.4 * (1.0 - rng.random(count)) ** (-1 / 1.5), 30.0)
    hardness = rng.lognormal(0.0, 0.3, count)
    jemx_ratio = rng.uniform(0.3, 3.0, count)
    det_jemx = rng.random(count) < 0.2
    det_spi = (flux > 20.0) & (rng.random(count) < 0.5)
    det_omc = rng.random(count) < 0.5
    pos_err = np.round(rng.uniform(0.8, 4.5, count), 2)
    isgri_noise = rng.random((3, count))
    jemx_high = rng.uniform(0.5, 1.0, count)

    source_ids = _source_ids(ra, dec)
    # IGR-style name from the id without its decimal: unique whenever the ids are.
    all_names = [f"IGR {s[:7]}{s[9:]}" for s in source_ids]
    keep = np.ones(count, dtype=bool)
    seen: set[str] = set()
    seen_names: set[str] = set()
    for i, (source_id, igr) in enumerate(zip(source_ids, all_names, strict=True)):
        if source_id in ids or igr in names or source_id in seen or igr in seen_names:
            keep[i] = False  # the same position (or name) twice: keep the first
        seen.add(source_id)
        seen_names.add(igr)
    idx = np.flatnonzero(keep)
    sid = [source_ids[i] for i in idx.tolist()]
    name = [all_names[i] for i in idx.tolist()]
    ids.update(sid)
    names.update(name)
    n = len(sid)
    cls = np.where(plane, plane_classes, sky_classes)[idx]
    optical = np.isin(cls, [c for c in np.unique(cls) if any(o in c for o in _OPTICAL_CLASSES)])
    det = {
        "isgri": np.ones(n, dtype=bool),
        "picsit": np.zeros(n, dtype=bool),
        "jemx": det_jemx[idx],
        "spi": det_spi[idx],
        "omc": det_omc[idx] & optical,
    }
    # The 20-35 keV flux of each 20-40 keV flux and hardness (flux_20_35, vectorised).
    slope = np.log(np.maximum(hardness[idx], 1e-3)) / math.log(_E_35_60 / _E_20_35)
    isgri = flux[idx] * (_E_20_35 / _E_20_40) ** slope
    hard = isgri * hardness[idx]
    values = {"isgri:20_35": isgri, "isgri:35_60": hard, "isgri:28_40": np.sqrt(isgri * hard)}
    errors = {
        band: 0.08 + 0.004 * values[band] + 0.05 * isgri_noise[k][idx]
        for k, band in enumerate(("isgri:20_35", "isgri:35_60", "isgri:28_40"))
    }
    jemx = isgri * jemx_ratio[idx]
    values["jemx:3_10"], values["jemx:10_20"] = jemx, jemx * jemx_high[idx]
    for band in ("jemx:3_10", "jemx:10_20"):
        errors[band] = 0.4 + 0.01 * values[band]
    values = {band: np.round(v, 3) for band, v in values.items()}
    errors = {band: np.round(e, 3) for band, e in errors.items()}

    ra_t, dec_t, err_t = _texts(ra[idx]), _texts(dec[idx]), _texts(pos_err[idx])
    cls_t = cls.tolist()
    det_t = {key: _texts(flag) for key, flag in det.items()}
    cat = [str(catalogue_id)] * n
    _copy_text(
        conn,
        "sources",
        _SOURCE_COLUMNS,
        _tsv(
            [
                sid,
                name,
                ra_t,
                dec_t,
                err_t,
                cls_t,
                *(det_t[k] for k in ("isgri", "picsit", "jemx", "spi", "omc")),
                cat,
            ]
        ),
    )
    bare = [s.replace(" ", "") for s in name]
    alias_ids = sid * 3
    aliases = name + bare + sid
    _copy_text(
        conn,
        "source_aliases",
        ("source_id", "alias", "alias_norm"),
        _tsv([alias_ids, aliases, [normalise_alias(a) for a in aliases]]),
    )
    # JEM-X fluxes only for the sources JEM-X detects.
    flux_cols: list[list[str]] = [[], [], [], [], [], []]
    jemx_rows = det["jemx"]
    for band in values:
        rows = np.ones(n, dtype=bool) if band.startswith("isgri") else jemx_rows
        sel = np.flatnonzero(rows).tolist()
        flux_cols[0] += [sid[i] for i in sel]
        flux_cols[1] += [str(bands[band])] * len(sel)
        flux_cols[2] += [str(catalogue_id)] * len(sel)
        flux_cols[3] += _texts(values[band][rows])
        flux_cols[4] += _texts(errors[band][rows])
        flux_cols[5] += ["t"] * len(sel)
    _copy_text(
        conn,
        "source_fluxes",
        ("source_id", "band_id", "catalogue_id", "flux", "flux_err", "detected"),
        _tsv(flux_cols),
    )
    # The provenance values as json.dumps(sort_keys=True) writes them.
    flux_t = {band: _texts(v) for band, v in values.items()}
    bool_t = {key: np.where(flag, "true", "false").tolist() for key, flag in det.items()}
    json_rows = []
    for i in range(n):
        jemx_part = (
            f', "flux_jemx:10_20": {flux_t["jemx:10_20"][i]}, '
            f'"flux_jemx:3_10": {flux_t["jemx:3_10"][i]}'
            if jemx_rows[i]
            else ""
        )
        json_rows.append(
            f'{{"det_isgri": {bool_t["isgri"][i]}, "det_jemx": {bool_t["jemx"][i]}, '
            f'"det_omc": {bool_t["omc"][i]}, "det_picsit": {bool_t["picsit"][i]}, '
            f'"det_spi": {bool_t["spi"][i]}, "flux_isgri:20_35": {flux_t["isgri:20_35"][i]}, '
            f'"flux_isgri:28_40": {flux_t["isgri:28_40"][i]}, '
            f'"flux_isgri:35_60": {flux_t["isgri:35_60"][i]}{jemx_part}}}'
        )
    _copy_text(
        conn,
        "catalogue_entries",
        _ENTRY_COLUMNS,
        _tsv([cat, name, sid, ra_t, dec_t, err_t, cls_t, json_rows]),
    )
    return n


# --- Database writing --------------------------------------------------------------------------


def _copy(
    conn: Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """Bulk-load ``rows`` with ``COPY`` on the connection's transaction."""
    raw: Any = conn.connection.driver_connection
    statement = f"COPY isla.{table} ({', '.join(columns)}) FROM STDIN"
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def _check_empty(conn: Connection) -> None:
    # The lock makes a concurrent generator wait for this one and then see a full archive,
    # instead of both filling the same database.
    conn.execute(text("LOCK TABLE isla.revolutions IN SHARE ROW EXCLUSIVE MODE"))
    if conn.execute(text("SELECT EXISTS (SELECT 1 FROM isla.revolutions)")).scalar():
        raise ArchiveNotEmpty(
            "the archive database already holds revolutions; the demo generator only fills "
            "an empty archive (drop and re-create the database to generate again)"
        )


def _band_ids(conn: Connection) -> dict[str, int]:
    result = conn.execute(text("SELECT band_id, instrument, name FROM isla.energy_bands"))
    bands = {}
    for band_id, instrument, name in result:
        prefix = {"ISGRI": "isgri", "JEM-X": "jemx"}.get(instrument)
        if prefix:
            bands[f"{prefix}:{name}"] = int(band_id)
    missing = {"isgri:20_35", "isgri:35_60", "isgri:28_40", "jemx:3_10", "jemx:10_20"} - set(bands)
    if missing:
        raise RuntimeError(f"energy bands missing from the schema: {sorted(missing)}")
    return bands


_SOURCE_COLUMNS = SOURCE_LOAD_COLUMNS
_ENTRY_COLUMNS = (
    "catalogue_id",
    "entry_name",
    "source_id",
    "ra",
    "dec",
    "pos_err",
    "source_class",
    "values",
)
_SOURCE_CHUNK = 100_000  # faint sources generated and written per step (bounds memory)


def _copy_sources(conn: Connection, rows: _SourceRows) -> None:
    _copy(conn, "sources", _SOURCE_COLUMNS, rows.sources)
    _copy(conn, "source_aliases", ("source_id", "alias", "alias_norm"), rows.aliases)
    _copy(
        conn,
        "source_fluxes",
        ("source_id", "band_id", "catalogue_id", "flux", "flux_err", "detected"),
        rows.fluxes,
    )
    _copy(conn, "catalogue_entries", _ENTRY_COLUMNS, rows.entries)


def _write_sources(conn: Connection, scale: Scale, seed: int, say: Progress) -> int:
    """Write the reference catalogue and the source list; return the number of sources."""
    catalogue_id = int(
        conn.execute(
            text(
                "INSERT INTO isla.catalogues "
                "(name, version, team, kind, reference, description, is_current, n_rows) "
                "VALUES (:name, :version, :team, :kind, :reference, :description, true, 0) "
                "RETURNING catalogue_id"
            ),
            _CATALOGUE,
        ).scalar_one()
    )
    bands = _band_ids(conn)
    rows = _SourceRows()
    ids, names = _bright_rows(rows, np.random.default_rng([seed, 2]), catalogue_id, bands)
    _copy_sources(conn, rows)
    total = len(rows.sources)
    rng = np.random.default_rng([seed, 3])
    for done in range(0, scale.faint_sources, _SOURCE_CHUNK):
        count = min(_SOURCE_CHUNK, scale.faint_sources - done)
        total += _faint_chunk(conn, rng, catalogue_id, bands, count, ids, names)
        if scale.faint_sources > _SOURCE_CHUNK:
            say(f"sources: {total} written")
    conn.execute(
        text("UPDATE isla.catalogues SET n_rows = :n WHERE catalogue_id = :id"),
        {"n": total, "id": catalogue_id},
    )
    return total


# --- Raw files ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _StoredFile:
    name: str
    key: str
    size: int
    sha256: str
    content_type: str


def _put(store: ObjectStore, key: str, data: bytes, mime: str) -> _StoredFile:
    stored = store.put_bytes(store.raw_bucket, key, data, content_type=mime)
    sha256 = stored.sha256 or hashlib.sha256(data).hexdigest()
    return _StoredFile(key.rsplit("/", 1)[-1], key, stored.size, sha256, mime)


def _upload_scw(
    store: ObjectStore, meta: ScwMeta, seed: int, row_scale: float
) -> list[_StoredFile]:
    """Build and upload every file of one science window (runs in a worker thread)."""
    return [
        _put(store, meta.scw.path + name, data, content_type(name))
        for name, data in build_scw_files(meta, seed, row_scale)
    ]


def _upload_aux(store: ObjectStore, plan: _RevPlan) -> list[_StoredFile]:
    """Build and upload the auxiliary files of one revolution (runs in a worker thread)."""
    prefix = f"aux/adp/{plan.revolution:04d}.001/"
    attitude = [
        AuxAttitudeRow(meta.start_ijd, meta.scw.id, meta.ra, meta.dec, meta.posangle)
        for meta in plan.metas
    ]
    contents = {
        "orbit_historic.fits": orbit_file(
            plan.revolution, plan.start_ijd, plan.end_ijd, plan.end_utc
        ),
        "attitude_historic.fits": attitude_file(
            plan.revolution, plan.start_ijd, plan.end_ijd, plan.end_utc, attitude
        ),
    }
    return [
        _put(store, prefix + name, contents[name], "application/fits") for name in AUX_FILE_NAMES
    ]


# --- Entry point -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedPointing:
    """One pointing science window as the generator plans it."""

    scw_id: str
    obsid: str
    target: str
    revolution: int
    start_ijd: float
    end_ijd: float
    ra: float
    dec: float


def planned_pointings(scale: str = "demo", seed: int = DEFAULT_SEED) -> Iterator[PlannedPointing]:
    """The pointings :func:`generate` writes for ``scale`` and ``seed``, revolution by revolution.

    The same planning as :func:`generate`, without a database, raw files or products: it lets
    the timeline and the solar aspect constraint be checked at any scale in seconds. Raises
    ``KeyError`` for an unknown scale.
    """
    spec = SCALES[scale]
    revolutions, crab_revs = _select_revolutions(spec, np.random.default_rng([seed, 0]))
    planner = _Planner(spec, seed, crab_revs)
    for rev in revolutions:
        plan = planner.plan(rev)
        for scw in plan.scws:
            if scw.scw.scw_type == "pointing":
                yield PlannedPointing(
                    scw.scw.id,
                    scw.obs.obsid,
                    scw.obs.target,
                    rev,
                    plan.start_ijd + scw.start / 86400.0,
                    plan.start_ijd + scw.end / 86400.0,
                    scw.ra,
                    scw.dec,
                )


def _batches(items: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def generate(
    engine: Engine,
    store: ObjectStore | None,
    scale: str = "demo",
    seed: int = DEFAULT_SEED,
    progress: Progress | None = None,
    deliver: Deliver | None = None,
    raw_bytes: bool | None = None,
) -> GenerationReport:
    """Fill an empty archive database (and the raw bucket) with the demo archive.

    ``scale`` is ``demo`` (about 95 revolutions sampled over the whole mission, ~1,800
    science windows, 1,000 faint sources), ``bench`` (every 10th revolution, more science
    windows, 100,000 faint sources, ~1.5 MB of raw data per science window) or ``full``
    (every revolution, 1,000,000 faint sources). ``store`` None writes the catalogue and the
    observing history only; otherwise every science window's raw files and each revolution's
    auxiliary files are uploaded to ``store.raw_bucket`` and recorded in ``scw_files`` /
    ``aux_files``, and the light-curve points and products are delivered through ingestion
    (which stores every delivered file). ``raw_bytes`` False (the default of the ``bench``
    and ``full`` scales, :attr:`Scale.raw_bytes`) builds and uploads no raw file: each one is
    registered in the raw index by name, in state ``missing`` (size 0, no checksum), so the
    archive says it has no bytes for it instead of pretending to.

    The result is determined by ``scale`` and ``seed`` alone. Raises :class:`ArchiveNotEmpty`
    (before writing anything) when the database already holds revolutions, and ``KeyError``
    for an unknown scale. All rows are written in one transaction; then, given ``deliver``
    (ingestion's entry for a pipeline, see :mod:`shared.demo.delivery`), the demo pipeline
    delivers through it its per-ScW source results (the light-curve points,
    :mod:`shared.demo.lightcurves`) and its products (:mod:`shared.demo.products`).
    """
    if scale not in SCALES:
        raise KeyError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    spec = SCALES[scale]
    began = time.monotonic()
    say = progress or (lambda _message: None)
    report = GenerationReport(scale=scale, seed=seed)

    uploads = store if (spec.raw_bytes if raw_bytes is None else raw_bytes) else None
    stage = _Stages(report, say)
    with engine.begin() as conn:
        _check_empty(conn)
        if store is not None:
            store.ensure_buckets()
        with indexes_after(conn, _BULK_TABLES, say):
            report.sources = _write_sources(conn, spec, seed, say)
            say(f"sources: {report.sources} in the catalogue")
            stage.done("sources")

            revolutions, crab_revs = _select_revolutions(spec, np.random.default_rng([seed, 0]))
            planner = _Planner(spec, seed, crab_revs)
            pool = ThreadPoolExecutor(_UPLOAD_THREADS, thread_name_prefix="isla-demo")
            try:
                for batch in _batches(revolutions, _BATCH_REVOLUTIONS):
                    _write_batch(
                        conn, planner, batch, uploads, pool, spec, seed, report, store is not None
                    )
                    say(
                        f"revolutions: {report.revolutions}/{len(revolutions)}, "
                        f"{report.science_windows} science windows, {report.files} files "
                        f"({report.bytes / 1e6:.1f} MB)"
                    )
            finally:
                # On a failure (or Ctrl-C) queued uploads are dropped rather than waited for.
                pool.shutdown(wait=True, cancel_futures=True)
            stage.done("revolutions")
        # (indexes_after also analyzed the tables: the light curves' pair queries plan on it.)
        stage.done("indexes")
    if deliver is not None:
        # Light-curve points and products go through ingestion, which works on committed
        # data with its own connections: after the transaction above, as an instrument
        # team's would. The products are made from the points, which come first.
        from shared.demo.lightcurves import deliver_points
        from shared.demo.products import deliver_products

        bright = set(bright_source_ids().values())
        lc = deliver_points(engine, deliver, scale, seed, bright, say)
        report.lightcurve_points, report.omc_points = lc.points, lc.omc_points
        stage.done("light curves")
        report.products = deliver_products(engine, deliver, bright, say)
        stage.done("products")
        from shared.demo.maps import deliver_maps

        report.maps = deliver_maps(engine, deliver, say, scale)
        stage.done("maps")

        # The basis of upper limits: per-pixel sensitivity from the committed pointings.
        from shared.demo.sensitivity import ORDER_BY_SCALE, deliver_sensitivity

        deliver_sensitivity(engine, deliver, say, ORDER_BY_SCALE[scale])
        stage.done("sensitivity")
    report.seconds = round(time.monotonic() - began, 3)
    say(report.summary())
    return report


_BULK_TABLES = (
    "isla.sources",
    "isla.source_aliases",
    "isla.source_fluxes",
    "isla.catalogue_entries",
    "isla.revolutions",
    "isla.observations",
    "isla.science_windows",
    "isla.scw_files",
    "isla.aux_files",
)
"""The tables the generator's transaction fills: indexed after the rows are in."""


def _missing_files(plans: Sequence[_RevPlan]) -> list[list[str]]:
    """The raw file names of every science window of ``plans`` (none of them written)."""
    return [scw_file_names(meta) for plan in plans for meta in plan.metas]


class _Stages:
    """Wall time and peak memory of each stage, as progress lines."""

    def __init__(self, report: GenerationReport, say: Progress) -> None:
        self.report, self.say = report, say
        self.began, self.cpu = time.monotonic(), time.process_time()

    def done(self, stage: str) -> None:
        import resource

        now, cpu = time.monotonic(), time.process_time()
        seconds = round(now - self.began, 1)
        # CPU seconds of this process (all its threads): what the stage costs the generator
        # whatever else the machine runs; the database's share is not in it.
        used = cpu - self.cpu
        self.began, self.cpu = now, cpu
        self.report.stages[stage] = seconds
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        self.say(
            f"stage {stage}: {seconds:.1f} s, generator CPU {used:.1f} s "
            f"(peak memory so far {peak:.0f} MB)"
        )


def bright_source_ids() -> dict[str, str]:
    """Source id of every bright source of ``bright_sources.csv``, by name."""
    return {
        source.name: source_id_from_position(source.ra, source.dec) for source in bright_sources()
    }


def _write_batch(
    conn: Connection,
    planner: _Planner,
    batch: Sequence[int],
    store: ObjectStore | None,
    pool: ThreadPoolExecutor,
    spec: Scale,
    seed: int,
    report: GenerationReport,
    register: bool = True,
) -> None:
    """Plan, upload and write one batch of revolutions. Without a ``store`` and with
    ``register``, the raw files are registered as ``missing`` (no bytes were written)."""
    plans: list[_RevPlan] = []
    scw_rows: list[tuple[Any, ...]] = []
    for rev in batch:
        plan = planner.plan(rev)
        scw_rows += _finish(plan, revolution_start(rev))
        plans.append(plan)

    # Uploads run in the pool while this thread writes the revolution and observation rows.
    scw_jobs: list[Future[list[_StoredFile]]] = []
    aux_jobs: list[tuple[int, Future[list[_StoredFile]]]] = []
    if store is not None:
        for plan in plans:
            aux_jobs.append((plan.revolution, pool.submit(_upload_aux, store, plan)))
            scw_jobs += [
                pool.submit(_upload_scw, store, meta, seed, spec.row_scale) for meta in plan.metas
            ]

    _copy(
        conn,
        "revolutions",
        ("revolution", "start_time", "end_time", "start_ijd", "end_ijd"),
        [(p.revolution, p.start_utc, p.end_utc, p.start_ijd, p.end_ijd) for p in plans],
    )
    observation_rows = []
    for plan in plans:
        for obs in plan.observations:
            first, last = plan.metas[obs.first], plan.metas[obs.last]
            observation_rows.append(
                (
                    obs.obsid,
                    obs.proposal_id,
                    obs.pi_name,
                    obs.target,
                    first.start_utc,
                    last.end_utc,
                    plan.revolution,
                    plan.revolution,
                    obs.ra,
                    obs.dec,
                    obs.pattern,
                    round(obs.exposure, 3),
                )
            )
    _copy(conn, "observations", OBSERVATION_COLUMNS, observation_rows)

    file_rows: list[tuple[Any, ...]] = []
    if store is not None:
        for i, job in enumerate(scw_jobs):
            stored = job.result()
            scw_rows[i] = (*scw_rows[i], len(stored), sum(f.size for f in stored))
            meta_id, version = scw_rows[i][0], scw_rows[i][1]
            file_rows += [
                (meta_id, version, f.name, f.key, f.size, f.sha256, f.content_type, True)
                for f in stored
            ]
            report.files += len(stored)
            report.bytes += sum(f.size for f in stored)
    elif register:
        missing = _missing_files(plans)
        scw_rows = [(*row, len(names), 0) for row, names in zip(scw_rows, missing, strict=True)]
        file_rows = [
            (
                row[0],
                row[1],
                name,
                f"{meta.scw.path}{name}",
                0,
                None,
                content_type(name),
                True,
                "missing",
            )
            for row, meta, names in zip(
                scw_rows, (m for p in plans for m in p.metas), missing, strict=True
            )
            for name in names
        ]
        report.files += len(file_rows)
    else:
        scw_rows = [(*row, 0, 0) for row in scw_rows]
    _copy(conn, "science_windows", SCW_COLUMNS, scw_rows)
    if file_rows:
        _copy(
            conn,
            "scw_files",
            # Every raw file the demo writes is simulated (and says so: SIMDATA = T).
            (
                "scw_id",
                "version",
                "name",
                "object_key",
                "size",
                "sha256",
                "content_type",
                "simulated",
                "state",
            ),
            [row if len(row) == 9 else (*row, "verified") for row in file_rows],
        )
    aux_rows: list[tuple[Any, ...]] = []
    for rev, job in aux_jobs:
        for f in job.result():
            aux_rows.append((rev, f.name, f.key, f.size, f.sha256, True))
            report.files += 1
            report.bytes += f.size
    if store is None and register:
        aux_rows = [
            (
                plan.revolution,
                name,
                f"aux/adp/{plan.revolution:04d}.001/{name}",
                0,
                None,
                True,
                "missing",
            )
            for plan in plans
            for name in AUX_FILE_NAMES
        ]
        report.files += len(aux_rows)
    if aux_rows:
        aux_columns = ("revolution", "name", "object_key", "size", "sha256", "simulated", "state")
        _copy(
            conn,
            "aux_files",
            aux_columns,
            [row if len(row) == 7 else (*row, "verified") for row in aux_rows],
        )

    report.revolutions += len(plans)
    report.observations += len(observation_rows)
    report.science_windows += len(scw_rows)
