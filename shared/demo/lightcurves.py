"""Light-curve points of the demo archive: ISGRI, JEM-X and OMC, per source and science window.

Written after the science windows and the source list, in the generator's transaction: one SQL
query finds, with pgSphere's indexes, every (source, pointing) pair with the source inside the
instrument's field of view; numpy turns the pairs into measured rates (catalogue flux, source
variability of :mod:`shared.demo.variability`, coded fraction at the off-axis angle,
exposure-dependent noise) for every band at once; ``COPY`` loads them. Nothing is computed
row by row in Python except the COPY itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, text

from shared.db.models import LIGHTCURVE_COLUMNS
from shared.demo import model, variability
from shared.demo.generator import bright_sources
from shared.integral.ids import source_id_from_position

Progress = Callable[[str], None]

MAX_SOURCES = {"demo": None, "bench": 1_000, "full": 20_000}
"""Sources with light curves per scale (the brightest in ISGRI 28-40 keV; None: all)."""

# The constraints and index of migration 0007, by their names.
_DROP_INDEXES = (
    "ALTER TABLE isla.lightcurve_points DROP CONSTRAINT fk_lightcurve_points_source_id_sources",
    "ALTER TABLE isla.lightcurve_points DROP CONSTRAINT pk_lightcurve_points",
    "DROP INDEX isla.ix_lightcurve_points_scw_id",
)
_CREATE_INDEXES = (
    "ALTER TABLE isla.lightcurve_points ADD CONSTRAINT pk_lightcurve_points "
    "PRIMARY KEY (source_id, band_id, scw_id)",
    "CREATE INDEX ix_lightcurve_points_scw_id ON isla.lightcurve_points (scw_id)",
    "ALTER TABLE isla.lightcurve_points ADD CONSTRAINT fk_lightcurve_points_source_id_sources "
    "FOREIGN KEY (source_id) REFERENCES isla.sources (source_id) ON DELETE CASCADE",
    "ANALYZE isla.lightcurve_points",
)

_CHUNK = 250
"""Sources whose points are computed and written at once."""

OMC_RADIUS_DEG = 2.5
"""OMC's 5 x 5 degree field of view, as a circle."""

_LC_COLUMNS = LIGHTCURVE_COLUMNS
_OMC_COLUMNS = (
    "source_id",
    "scw_id",
    "revolution",
    "time_ijd",
    "exposure",
    "magnitude",
    "magnitude_err",
    "offaxis",
)

ISGRI_HALF_DEG = 14.5
"""Half width of ISGRI's 29 x 29 degree square field of view."""
_SEARCH_RADIUS = {
    "ISGRI": math.degrees(math.atan(math.sqrt(2) * math.tan(math.radians(14.5)))),
    "JEM-X": 6.6,
}
_EXPOSURE = {
    "ISGRI": "w.isgri_exposure",
    "JEM-X": "coalesce(w.jemx1_exposure, 0) + coalesce(w.jemx2_exposure, 0)",
}


@dataclass
class LightCurveReport:
    """What :func:`write_lightcurves` wrote."""

    points: int = 0
    omc_points: int = 0
    sources: int = 0


@dataclass(frozen=True)
class SourceInfo:
    """What the light curves of one source are computed from."""

    source_id: str
    name: str
    source_class: str
    fluxes: dict[str, float]
    """mCrab per ``instrument:band``, including the derived 60-200 and 3-20 keV bands."""
    variability: str | None = None
    """Variability class of a named source (``bright_sources.csv``); None: constant."""


def load_sources(conn: Connection) -> dict[str, SourceInfo]:
    """Catalogue fluxes (current catalogue) of every source, with the derived bands."""
    rows = conn.execute(
        text(
            "SELECT s.source_id, s.name, s.source_class, e.instrument, e.name AS band, f.flux "
            "FROM isla.sources s JOIN isla.source_fluxes f USING (source_id) "
            "JOIN isla.energy_bands e USING (band_id) "
            "WHERE f.flux IS NOT NULL AND e.instrument IN ('ISGRI', 'JEM-X')"
        )
    ).all()
    named: dict[str, str] = {}
    for bright in bright_sources():
        named.setdefault(source_id_from_position(bright.ra, bright.dec), bright.variability)
    out: dict[str, SourceInfo] = {}
    for source_id, name, cls, instrument, band, flux in rows:
        info = out.get(source_id)
        if info is None:
            info = out[source_id] = SourceInfo(
                source_id, name, cls or "unclassified", {}, named.get(source_id)
            )
        info.fluxes[f"{instrument}:{band}"] = float(flux)
    for info in out.values():
        f = info.fluxes
        if "ISGRI:20_35" in f and "ISGRI:35_60" in f:
            # Extrapolate the power law that joins the two catalogue bands.
            hardness = f["ISGRI:35_60"] / max(f["ISGRI:20_35"], 1e-6)
            f.setdefault("ISGRI:60_200", f["ISGRI:35_60"] * hardness)
            f.setdefault("ISGRI:28_40", math.sqrt(f["ISGRI:20_35"] * f["ISGRI:35_60"]))
        if "JEM-X:3_10" in f and "JEM-X:10_20" in f:
            f.setdefault("JEM-X:3_20", (2 * f["JEM-X:3_10"] + f["JEM-X:10_20"]) / 3)
    return out


def _band_ids(conn: Connection) -> dict[tuple[str, str], int]:
    rows = conn.execute(text("SELECT band_id, instrument, name FROM isla.energy_bands")).all()
    return {(instrument, name): int(band_id) for band_id, instrument, name in rows}


def _pairs(conn: Connection, instrument: str, ids: Sequence[str]) -> list[Any]:
    """(source_id, scw_id, revolution, mid ijd, duration s, exposure s, off-axis deg) rows of
    the sources inside the instrument's field of view of each pointing.

    pgSphere tests a point against a circle about ten times faster than against the ISGRI
    square, so the query selects the circle around the square and :func:`_in_square` keeps
    the pairs inside it.
    """
    radius = _SEARCH_RADIUS[instrument]
    # ScW ids sort in time order, so this order is the light curves' order on disk.
    exposure = _EXPOSURE[instrument]  # a constant of this module, not user input
    sql = (
        "SELECT s.source_id, w.scw_id, w.revolution, (w.start_ijd + w.end_ijd) / 2, "  # noqa: S608
        "(w.end_ijd - w.start_ijd) * 86400.0, "
        f"{exposure}, degrees(s.pos <-> w.pos), s.ra, s.dec, w.ra, w.dec, "
        "w.posangle FROM isla.science_windows w JOIN isla.sources s "
        "ON s.pos @ scircle(w.pos, radians(:radius)) "
        f"WHERE w.scw_type = 'pointing' AND {exposure} > 0 "
        "AND s.source_id = ANY(:ids) ORDER BY s.source_id, w.scw_id"
    )
    return list(conn.execute(text(sql), {"ids": list(ids), "radius": radius}).all())


def _tangent(
    src_ra: npt.NDArray[np.float64],
    src_dec: npt.NDArray[np.float64],
    ra: npt.NDArray[np.float64],
    dec: npt.NDArray[np.float64],
    posangle: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """(y, z, in front) of each source in the tangent plane of its pointing (along the
    spacecraft Y and Z axes, Z at ``posangle`` east of north): a gnomonic projection, as the
    footprints of ``science_windows`` are built, so their edges are straight lines here."""
    a, d, p = np.radians(ra), np.radians(dec), np.radians(posangle)
    sa, sd = np.radians(src_ra), np.radians(src_dec)
    vec = np.stack([np.cos(sd) * np.cos(sa), np.cos(sd) * np.sin(sa), np.sin(sd)])
    centre = np.stack([np.cos(d) * np.cos(a), np.cos(d) * np.sin(a), np.sin(d)])
    east = np.stack([-np.sin(a), np.cos(a), np.zeros_like(a)])
    north = np.stack([-np.sin(d) * np.cos(a), -np.sin(d) * np.sin(a), np.cos(d)])
    z_axis = np.sin(p) * east + np.cos(p) * north
    y_axis = np.cos(p) * east - np.sin(p) * north
    along = (vec * centre).sum(axis=0)
    y = (vec * y_axis).sum(axis=0) / np.where(along > 0, along, 1.0)
    z = (vec * z_axis).sum(axis=0) / np.where(along > 0, along, 1.0)
    return y, z, np.asarray(along > 0)


def _in_square(
    src_ra: npt.NDArray[np.float64],
    src_dec: npt.NDArray[np.float64],
    ra: npt.NDArray[np.float64],
    dec: npt.NDArray[np.float64],
    posangle: npt.NDArray[np.float64],
    half_deg: float,
) -> npt.NDArray[np.bool_]:
    """Whether each source lies in the square field (``half_deg`` along the spacecraft Y and
    Z axes) of its pointing: ISGRI's ``fov_isgri`` footprint."""
    y, z, front = _tangent(src_ra, src_dec, ra, dec, posangle)
    limit = math.tan(math.radians(half_deg))
    return np.asarray(front & (np.abs(y) <= limit) & (np.abs(z) <= limit))


JEMX_SIDES = 16
"""JEM-X's ``fov_jemx`` footprint is a regular polygon of this many sides with its vertices
on the 6.6 degree circle, one on the Y axis."""


def _in_jemx_polygon(
    src_ra: npt.NDArray[np.float64],
    src_dec: npt.NDArray[np.float64],
    ra: npt.NDArray[np.float64],
    dec: npt.NDArray[np.float64],
    posangle: npt.NDArray[np.float64],
) -> npt.NDArray[np.bool_]:
    """Whether each source lies in the JEM-X footprint of its pointing (the polygon inscribed
    in the circle the SQL search uses: its last tenth of a degree, where the coded fraction is
    under 3 %, is outside the field the archive records). Tested here rather than with
    pgSphere's polygon operator, which the planner would apply pair by pair."""
    y, z, front = _tangent(src_ra, src_dec, ra, dec, posangle)
    sector = 2 * math.pi / JEMX_SIDES
    phi = np.mod(np.arctan2(z, y), sector)
    inradius = math.tan(math.radians(_SEARCH_RADIUS["JEM-X"])) * math.cos(sector / 2)
    return np.asarray(front & (np.hypot(y, z) * np.cos(phi - sector / 2) <= inradius))


def _copy(conn: Connection, table: str, columns: Sequence[str], rows: Any) -> None:
    raw: Any = conn.connection.driver_connection
    statement = f"COPY isla.{table} ({', '.join(columns)}) FROM STDIN"
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def _instrument_points(
    conn: Connection,
    instrument: str,
    sources: dict[str, SourceInfo],
    ids: Sequence[str],
    bands: dict[tuple[str, str], int],
    seed: int,
) -> int:
    """Compute and COPY the points of one instrument; return how many were written."""
    rows = _pairs(conn, instrument, ids)
    if not rows:
        return 0
    src = np.array([r[0] for r in rows], dtype=object)
    scw = [r[1] for r in rows]
    rev = [int(r[2]) for r in rows]
    cols = np.array([r[3:] for r in rows], dtype=np.float64)
    t, duration, exposure, offaxis = cols[:, 0], cols[:, 1], cols[:, 2], cols[:, 3]
    coded = model.coded_fraction(instrument, offaxis)
    keep = coded > 0.02
    if instrument == "ISGRI":
        keep &= _in_square(
            cols[:, 4], cols[:, 5], cols[:, 6], cols[:, 7], cols[:, 8], ISGRI_HALF_DEG
        )
    else:
        keep &= _in_jemx_polygon(cols[:, 4], cols[:, 5], cols[:, 6], cols[:, 7], cols[:, 8])
    # The variability factor is shared by every band of a source (a flux change, not noise).
    factor = np.ones_like(t)
    change = (np.flatnonzero(src[1:] != src[:-1]) + 1).tolist()
    for lo, hi in zip([0, *change], [*change, len(src)], strict=True):
        info = sources[str(src[lo])]
        var = variability.variability_for(info.name, info.variability)
        factor[lo:hi] = variability.flux_factor(var, t[lo:hi])
    eff_exposure = np.round(exposure * coded, 3)
    written = 0
    for band in model.BANDS[instrument]:
        key = f"{instrument}:{band}"
        flux = np.array([sources[str(s)].fluxes.get(key, np.nan) for s in src], dtype=np.float64)
        ok = keep & np.isfinite(flux)
        if not ok.any():
            continue
        true_rate = flux / 1000.0 * model.crab_rate(instrument, band) * factor
        err = model.rate_error(instrument, band, eff_exposure, true_rate)
        # One stream per chunk, keyed by its first source: chunks are fixed slices of the
        # sorted source list, so the same seed gives the same points.
        rng = model.rng_for("lightcurve", seed, instrument, band, src[0])
        measured = true_rate + rng.standard_normal(len(t)) * err
        significance = measured / err
        upper = significance < model.DETECTION_SIGMA
        limit = np.where(upper, np.maximum(measured, 0.0) + model.DETECTION_SIGMA * err, np.nan)
        band_id = bands[(instrument, band)]
        idx = np.flatnonzero(ok)
        # Columns converted once, as whole arrays: per-value numpy calls would dominate.
        values = zip(
            src[idx].tolist(),
            [scw[i] for i in idx.tolist()],
            [rev[i] for i in idx.tolist()],
            t[idx].tolist(),
            np.round(duration[idx], 3).tolist(),
            eff_exposure[idx].tolist(),
            measured[idx].astype(np.float32).astype(np.float64).tolist(),
            err[idx].astype(np.float32).astype(np.float64).tolist(),
            np.round(offaxis[idx], 4).tolist(),
            np.round(significance[idx], 3).tolist(),
            upper[idx].tolist(),
            [
                None if v != v else v
                for v in limit[idx].astype(np.float32).astype(np.float64).tolist()
            ],
            strict=True,
        )
        _copy(
            conn,
            "lightcurve_points",
            _LC_COLUMNS,
            ((s, band_id, c, instrument, r, *rest) for s, c, r, *rest in values),
        )
        written += len(idx)
    return written


def _omc_points(conn: Connection, seed: int, ids: Sequence[str]) -> int:
    rows = conn.execute(
        text(
            "SELECT s.source_id, w.scw_id, w.revolution, (w.start_ijd + w.end_ijd) / 2, "
            "w.omc_exposure, degrees(s.pos <-> w.pos) "
            "FROM isla.science_windows w JOIN isla.sources s "
            "ON s.pos <@ scircle(w.pos, radians(:r)) "
            "WHERE w.scw_type = 'pointing' AND w.omc_exposure > 0 AND s.det_omc "
            "AND s.source_id = ANY(:ids) ORDER BY s.source_id, w.scw_id"
        ),
        {"r": OMC_RADIUS_DEG, "ids": list(ids)},
    ).all()
    if not rows:
        return 0
    out = []
    rng = model.rng_for("omc", seed)
    noise = rng.standard_normal(len(rows))
    for i, (source_id, scw_id, rev, t, exposure, offaxis) in enumerate(rows):
        base = v_magnitude(source_id)
        var = model.rng_for("omc-var", source_id).uniform(0.02, 0.3)
        mag_true = base + var * math.sin(2 * math.pi * t / (3.0 + (hash_unit(source_id) * 40)))
        err = 0.004 + 0.02 * 10 ** (0.4 * (base - 12.0)) * math.sqrt(600.0 / max(exposure, 1.0))
        out.append(
            (
                source_id,
                scw_id,
                rev,
                t,
                round(exposure, 3),
                round(mag_true + noise[i] * err, 4),
                round(err, 4),
                round(offaxis, 4),
            )
        )
    _copy(conn, "omc_points", _OMC_COLUMNS, out)
    return len(out)


def hash_unit(key: str) -> float:
    """A number in [0, 1) determined by ``key``."""
    return float(model.rng_for("unit", key).random())


def v_magnitude(source_id: str) -> float:
    """The mean Johnson V magnitude of a source's optical counterpart (demo model)."""
    return round(9.0 + 6.0 * hash_unit(f"V/{source_id}"), 2)


def select_sources(sources: dict[str, SourceInfo], scale: str, bright: set[str]) -> list[str]:
    """The sources that get light curves: all bright ones, then the brightest others."""
    cap = MAX_SOURCES.get(scale)
    ranked = sorted(
        (s for s in sources.values() if "ISGRI:28_40" in s.fluxes or "JEM-X:3_20" in s.fluxes),
        key=lambda s: (s.source_id not in bright, -s.fluxes.get("ISGRI:28_40", 0.0), s.source_id),
    )
    chosen = ranked if cap is None else ranked[: max(cap, len(bright))]
    return sorted(s.source_id for s in chosen)


def write_lightcurves(
    conn: Connection, scale: str, seed: int, bright: set[str], say: Progress
) -> LightCurveReport:
    """Write the ISGRI, JEM-X and OMC light-curve points of the generated archive."""
    report = LightCurveReport()
    sources = load_sources(conn)
    ids = select_sources(sources, scale, bright)
    report.sources = len(ids)
    bands = _band_ids(conn)
    # A bulk load builds its indexes once at the end, which is several times faster than
    # maintaining them (and checking the foreign key) row by row. The table is empty here:
    # the generator only fills an empty archive.
    for statement in _DROP_INDEXES:
        conn.execute(text(statement))
    for instrument in model.INSTRUMENTS:
        # Sources in chunks bound the memory of the bench and full scales.
        for k in range(0, len(ids), _CHUNK):
            chunk = ids[k : k + _CHUNK]
            report.points += _instrument_points(conn, instrument, sources, chunk, bands, seed)
            if len(ids) > 8 * _CHUNK:
                say(
                    f"light curves: {report.points} points ({instrument}, {k + len(chunk)} sources)"
                )
        say(f"light curves: {report.points} {instrument} and earlier points")
    say("light curves: indexing")
    for statement in _CREATE_INDEXES:
        conn.execute(text(statement))
    report.omc_points = _omc_points(conn, seed, ids)
    return report
