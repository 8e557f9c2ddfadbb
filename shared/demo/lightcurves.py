"""Light-curve points of the demo archive: ISGRI, JEM-X and OMC, per source and science window,
delivered through ingestion as the pipelines' per-ScW source-results tables.

ISDC's pipelines deliver the per-ScW results of a processing batch as one FITS table per
instrument (``lc_results``: SOURCE_ID, SCW_ID, E_MIN/E_MAX, TIME, TIMEDEL, EXPOSURE, RATE,
RATE_ERR, OFFAXIS; MAG_V and ERR_MAG_V for OMC). The demo pipeline plays that part: after the
science windows and the source list are committed, for each batch of revolutions one SQL
query finds, with pgSphere's indexes, every (source, pointing) pair with the source inside the
instrument's field of view; numpy turns the pairs into measured rates (catalogue flux, source
variability of :mod:`shared.demo.variability`, coded fraction at the off-axis angle,
exposure-dependent noise) for every band at once; the rows become a results table labelled
simulated (``SIMDATA = T``) and go through ingestion (the
:class:`~shared.demo.delivery.Deliver` the loader passes)
(QC of every row, the journaled writer, the provenance record), which loads them into
``isla.lightcurve_points`` / ``isla.omc_points`` flagged simulated. Nothing here writes to
the points tables.
"""

from __future__ import annotations

import io
import math
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from astropy.io import fits
from sqlalchemy import Connection, Engine, text

from shared import simulation
from shared.demo import model, variability
from shared.demo.delivery import Deliver, DeliveryOptions
from shared.demo.generator import bright_sources
from shared.demo.inputs import fetch_bands
from shared.doi.identifiers import doi_of, product_collection
from shared.integral.ids import source_id_from_position
from shared.integral.time import MJDREF
from shared.products import ogip
from shared.settings import TEST_DOI_PREFIX

RESULTS_KIND = "lc_results"
"""The ingest kind of the per-ScW source-results tables (``services.ingest.qc``)."""

Progress = Callable[[str], None]

MAX_SOURCES = {"demo": None, "bench": 1_000, "full": 1_000}
"""Sources with light curves per scale (the brightest in ISGRI 28-40 keV; None: all). At
``full`` scale the 1,000 brightest give ~50 million points over the mission, the tens of
millions of INTEGRAL's catalogue light curves; 20,000 sources would be 200-250 million."""

RESULTS_REVOLUTIONS = 24
"""Revolutions per delivery of results tables (as a pipeline delivers a processing batch)."""

DELIVERY_THREADS = 2
"""Results deliveries ingested at once (the database loads one while it checks another)."""

RESULTS_MAX_ROWS = 400_000
"""Most rows in one results table (a larger batch is cut into several, by revolution), so
that a file stays well under the ingest API's upload limit."""

OMC_RADIUS_DEG = 2.5
"""OMC's 5 x 5 degree field of view, as a circle."""

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
    """What :func:`deliver_points` delivered."""

    points: int = 0
    omc_points: int = 0
    sources: int = 0
    files: int = 0


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


def load_sources(conn: Connection, ids: Sequence[str] | None = None) -> dict[str, SourceInfo]:
    """Catalogue fluxes (current catalogue) of every source (or of ``ids``), with the derived
    bands."""
    only = "" if ids is None else "AND s.source_id = ANY(:ids) "
    rows = conn.execute(
        text(
            "SELECT s.source_id, s.name, s.source_class, e.instrument, e.name AS band, f.flux "  # noqa: S608 - a fixed clause
            "FROM isla.sources s JOIN isla.source_fluxes f USING (source_id) "
            "JOIN isla.energy_bands e USING (band_id) "
            f"WHERE f.flux IS NOT NULL AND e.instrument IN ('ISGRI', 'JEM-X') {only}"
        ),
        {} if ids is None else {"ids": list(ids)},
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


def _pairs(
    conn: Connection, instrument: str, ids: Sequence[str], revolutions: tuple[int, int]
) -> list[Any]:
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
        "AND w.revolution BETWEEN :r0 AND :r1 "
        "AND s.source_id = ANY(:ids) ORDER BY s.source_id, w.scw_id"
    )
    params = {"ids": list(ids), "radius": radius, "r0": revolutions[0], "r1": revolutions[1]}
    return list(conn.execute(text(sql), params).all())


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


@dataclass
class _Rows:
    """Rows of one instrument's results table, column by column (a batch of revolutions)."""

    columns: dict[str, list[npt.NDArray[Any]]] = field(default_factory=dict)

    def add(self, **values: npt.NDArray[Any]) -> None:
        for name, value in values.items():
            self.columns.setdefault(name, []).append(value)

    def joined(self) -> dict[str, npt.NDArray[Any]]:
        return {name: np.concatenate(parts) for name, parts in self.columns.items()}


def _instrument_rows(
    conn: Connection,
    instrument: str,
    sources: dict[str, SourceInfo],
    ids: Sequence[str],
    bands: dict[tuple[str, str], tuple[float, float]],
    seed: int,
    revolutions: tuple[int, int],
) -> dict[str, npt.NDArray[Any]]:
    """The measured points of one instrument in a range of revolutions, every band: the
    columns of its results table (empty when no source was in the field of view)."""
    rows = _pairs(conn, instrument, ids, revolutions)
    if not rows:
        return {}
    src = np.array([r[0] for r in rows], dtype=object)
    scw = np.array([r[1] for r in rows], dtype=object)
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
    unique_src, src_index = np.unique(src.astype(str), return_inverse=True)
    unique_src, src_index = unique_src.tolist(), src_index.reshape(-1)
    out = _Rows()
    for band in model.BANDS[instrument]:
        key = f"{instrument}:{band}"
        flux = np.array([sources[s].fluxes.get(key, np.nan) for s in unique_src], dtype=np.float64)[
            src_index
        ]
        ok = keep & np.isfinite(flux)
        if not ok.any():
            continue
        true_rate = flux / 1000.0 * model.crab_rate(instrument, band) * factor
        err = model.rate_error(instrument, band, eff_exposure, true_rate)
        # One stream per band and batch of revolutions: the same seed gives the same points.
        rng = model.rng_for("lightcurve", seed, instrument, band, revolutions[0])
        measured = true_rate + rng.standard_normal(len(t)) * err
        idx = np.flatnonzero(ok)
        e_min, e_max = bands[(instrument, band)]
        out.add(
            source_id=src[idx].astype(str),
            scw_id=scw[idx].astype(str),
            e_min=np.full(len(idx), e_min),
            e_max=np.full(len(idx), e_max),
            time=t[idx],
            timedel=np.round(duration[idx], 3),
            exposure=eff_exposure[idx],
            rate=measured[idx],
            rate_err=err[idx],
            offaxis=np.round(offaxis[idx], 4),
        )
    return out.joined()


def _omc_rows(
    conn: Connection, seed: int, ids: Sequence[str], revolutions: tuple[int, int]
) -> dict[str, npt.NDArray[Any]]:
    """The OMC V magnitudes of the sources in OMC's field in a range of revolutions."""
    rows = conn.execute(
        text(
            "SELECT s.source_id, w.scw_id, (w.start_ijd + w.end_ijd) / 2, "
            "(w.end_ijd - w.start_ijd) * 86400.0, w.omc_exposure, degrees(s.pos <-> w.pos) "
            "FROM isla.science_windows w JOIN isla.sources s "
            "ON s.pos <@ scircle(w.pos, radians(:r)) "
            "WHERE w.scw_type = 'pointing' AND w.omc_exposure > 0 AND s.det_omc "
            "AND w.revolution BETWEEN :r0 AND :r1 "
            "AND s.source_id = ANY(:ids) ORDER BY s.source_id, w.scw_id"
        ),
        {"r": OMC_RADIUS_DEG, "ids": list(ids), "r0": revolutions[0], "r1": revolutions[1]},
    ).all()
    if not rows:
        return {}
    rng = model.rng_for("omc", seed, revolutions[0])
    noise = rng.standard_normal(len(rows))
    source_ids = np.array([r[0] for r in rows], dtype=str)
    t = np.array([float(r[2]) for r in rows])
    exposure = np.array([float(r[4]) for r in rows])
    # The per-source model (mean magnitude, amplitude, period) once per source, not per row.
    unique, where = np.unique(source_ids, return_inverse=True)
    where = where.reshape(-1)
    names = unique.tolist()
    base = np.array([v_magnitude(s) for s in names])[where]
    amplitude = np.array([model.rng_for("omc-var", s).uniform(0.02, 0.3) for s in names])[where]
    period = np.array([3.0 + hash_unit(s) * 40 for s in names])[where]
    mag_true = base + amplitude * np.sin(2 * np.pi * t / period)
    err = 0.004 + 0.02 * 10 ** (0.4 * (base - 12.0)) * np.sqrt(600.0 / np.maximum(exposure, 1.0))
    return {
        "source_id": source_ids,
        "scw_id": np.array([r[1] for r in rows], dtype=str),
        "time": t,
        "timedel": np.round(np.array([float(r[3]) for r in rows]), 3),
        "exposure": np.round(exposure, 3),
        "mag_v": np.round(mag_true + noise * err, 4),
        "err_mag_v": np.round(err, 4),
        "offaxis": np.round(np.array([float(r[5]) for r in rows]), 4),
    }


# (FITS column, format, unit) of the results tables, in file order.
_RATE_COLUMNS = (
    ("SOURCE_ID", "16A", None),
    ("SCW_ID", "12A", None),
    ("E_MIN", "E", "keV"),
    ("E_MAX", "E", "keV"),
    ("TIME", "D", "d"),
    ("TIMEDEL", "D", "s"),
    ("EXPOSURE", "D", "s"),
    ("RATE", "E", "count/s"),
    ("RATE_ERR", "E", "count/s"),
    ("OFFAXIS", "D", "deg"),
)
_OMC_FITS_COLUMNS = (
    ("SOURCE_ID", "16A", None),
    ("SCW_ID", "12A", None),
    ("TIME", "D", "d"),
    ("TIMEDEL", "D", "s"),
    ("EXPOSURE", "D", "s"),
    ("MAG_V", "E", "mag"),
    ("ERR_MAG_V", "E", "mag"),
    ("OFFAXIS", "D", "deg"),
)


def results_fits(
    instrument: str, columns: dict[str, npt.NDArray[Any]], revolutions: tuple[int, int]
) -> bytes:
    """A per-ScW source-results table as the pipelines deliver it (one row per source, ScW
    and band; TIME the ScW's middle as IJD), labelled simulated. The file's date is the
    demo's fixed product date, so the same points give the same bytes."""
    from shared.demo.products import PRODUCT_DATE

    layout = _OMC_FITS_COLUMNS if instrument == "OMC" else _RATE_COLUMNS
    table = fits.BinTableHDU.from_columns(
        [
            fits.Column(name, fmt, unit=unit, array=columns[name.lower()])
            for name, fmt, unit in layout
        ],
        name="SRC-RESULTS",
    )
    scws = np.unique(columns["scw_id"]).tolist()
    doi = doi_of(TEST_DOI_PREFIX, product_collection("lc_results"), simulated=True)
    prov = ogip.Provenance(scws, PRODUCT_DATE, doi=doi, simulated=True, ds_ident=f"doi:{doi}")
    primary = fits.PrimaryHDU()
    for header in (primary.header, table.header):
        header["TELESCOP"] = "INTEGRAL"
        header["INSTRUME"] = ogip.INSTRUME.get(instrument, instrument)
        header["DETNAM"] = ogip.DETNAM.get(instrument, instrument)
        ogip.provenance(header, prov)
    h = table.header
    h["HDUCLASS"] = ("ISLA", "per-ScW source results of a pipeline")
    h["HDUCLAS1"] = ("SCW_RESULTS", "one row per source, science window and band")
    h["TIMESYS"] = ("TT", "time scale")
    h["TIMEUNIT"] = ("d", "unit of TIME, TSTART, TSTOP")
    h["MJDREFI"] = (int(MJDREF), "integer part of the reference MJD (IJD 0)")
    h["MJDREFF"] = (0.0, "fractional part of the reference MJD")
    times = np.asarray(columns["time"], dtype=np.float64)
    half = np.asarray(columns["timedel"], dtype=np.float64) / 172800.0
    h["TSTART"] = (float((times - half).min()), "[d] start, IJD (MJD - 51544), TT")
    h["TSTOP"] = (float((times + half).max()), "[d] end, IJD (MJD - 51544), TT")
    h["REVFIRST"] = (revolutions[0], "first revolution of the rows")
    h["REVLAST"] = (revolutions[1], "last revolution of the rows")
    return simulated_file(fits.HDUList([primary, table]))


def simulated_file(hdul: fits.HDUList) -> bytes:
    """The bytes of a demo pipeline table file: ``SIMDATA = T`` and the simulated-data
    comment in its headers, checksums stamped at the demo's product date."""
    from shared.demo.products import PRODUCT_DATE

    when = PRODUCT_DATE.strftime("%Y-%m-%dT%H:%M:%S")
    for index, hdu in enumerate(hdul):
        hdu.header[simulation.SIMDATA] = (True, simulation.SIMDATA_COMMENT)
        if index == 0:
            for line in simulation.comment_lines():
                hdu.header.add_comment(line)
        hdu.add_checksum(when=when)
    out = io.BytesIO()
    hdul.writeto(out, output_verify="exception")
    return out.getvalue()


def _split(
    columns: dict[str, npt.NDArray[Any]], revolution_of: dict[str, int], max_rows: int
) -> list[tuple[tuple[int, int], dict[str, npt.NDArray[Any]]]]:
    """The rows cut into files of consecutive revolutions with at most ``max_rows`` rows each
    (one revolution is never split), each with its first and last revolution."""
    ids, where = np.unique(columns["scw_id"], return_inverse=True)
    rev = np.array([revolution_of[str(s)] for s in ids], dtype=np.int64)[where.reshape(-1)]
    revs, counts = np.unique(rev, return_counts=True)
    groups: list[list[int]] = [[]]
    size = 0
    for r, c in zip(revs.tolist(), counts.tolist(), strict=True):
        if groups[-1] and size + c > max_rows:
            groups.append([])
            size = 0
        groups[-1].append(r)
        size += c
    out = []
    for group in groups:
        mask = np.isin(rev, group)
        out.append(((group[0], group[-1]), {k: v[mask] for k, v in columns.items()}))
    return out


def _revolution_batches(conn: Connection) -> tuple[list[tuple[int, int]], dict[str, int]]:
    """The archive's revolutions in batches of :data:`RESULTS_REVOLUTIONS` (first, last),
    and the revolution of every pointing."""
    pointings = conn.execute(
        text("SELECT scw_id, revolution FROM isla.science_windows WHERE scw_type = 'pointing'")
    ).all()
    revolution_of = {str(s): int(r) for s, r in pointings}
    revs = sorted(set(revolution_of.values()))
    batches = [
        (revs[i], revs[min(i + RESULTS_REVOLUTIONS, len(revs)) - 1])
        for i in range(0, len(revs), RESULTS_REVOLUTIONS)
    ]
    return batches, revolution_of


@dataclass
class ResultsBatch:
    """One delivery of results tables: the files, and the points they hold."""

    files: list[tuple[str, bytes]] = field(default_factory=list)
    points: int = 0
    omc_points: int = 0


def results_deliveries(
    conn: Connection, scale: str, seed: int, bright: set[str]
) -> Iterator[ResultsBatch]:
    """The demo pipeline's source-results tables, one delivery per batch of revolutions (a
    table per instrument, split further when it would exceed :data:`RESULTS_MAX_ROWS`).
    Determined by the archive's sources and science windows and by ``seed``."""
    ids = chosen_sources(conn, scale, bright)
    sources = load_sources(conn, ids)
    bands = {k: (b.e_min, b.e_max) for k, b in fetch_bands(conn).items()}
    batches, revolution_of = _revolution_batches(conn)
    for revolutions in batches:
        batch = ResultsBatch()
        for instrument in (*model.INSTRUMENTS, "OMC"):
            if instrument == "OMC":
                columns = _omc_rows(conn, seed, ids, revolutions)
            else:
                columns = _instrument_rows(conn, instrument, sources, ids, bands, seed, revolutions)
            if not columns:
                continue
            for revs, part in _split(columns, revolution_of, RESULTS_MAX_ROWS):
                name = f"{instrument.replace('-', '')}_{revs[0]:04d}_{revs[1]:04d}_results.fits"
                batch.files.append((name, results_fits(instrument, part, revs)))
                if instrument == "OMC":
                    batch.omc_points += len(part["scw_id"])
                else:
                    batch.points += len(part["scw_id"])
        if batch.files:
            yield batch


def hash_unit(key: str) -> float:
    """A number in [0, 1) determined by ``key``."""
    return float(model.rng_for("unit", key).random())


def v_magnitude(source_id: str) -> float:
    """The mean Johnson V magnitude of a source's optical counterpart (demo model)."""
    return round(9.0 + 6.0 * hash_unit(f"V/{source_id}"), 2)


_CANDIDATES = text(
    # The light-curve candidates of load_sources' rule (an ISGRI 28-40 keV flux, measured or
    # derived from 20-35 and 35-60 keV, or a JEM-X 3-20 keV one), brightest first, in SQL:
    # a million sources never come into memory.
    "WITH f AS (SELECT f.source_id, "
    "max(f.flux) FILTER (WHERE e.instrument = 'ISGRI' AND e.name = '28_40') AS i2840, "
    "max(f.flux) FILTER (WHERE e.instrument = 'ISGRI' AND e.name = '20_35') AS i2035, "
    "max(f.flux) FILTER (WHERE e.instrument = 'ISGRI' AND e.name = '35_60') AS i3560, "
    "bool_or(e.instrument = 'JEM-X' AND e.name = '3_20') AS j320, "
    "bool_or(e.instrument = 'JEM-X' AND e.name = '3_10') AS j310, "
    "bool_or(e.instrument = 'JEM-X' AND e.name = '10_20') AS j1020 "
    "FROM isla.source_fluxes f JOIN isla.energy_bands e USING (band_id) "
    "WHERE f.flux IS NOT NULL GROUP BY f.source_id) "
    "SELECT source_id FROM f WHERE i2840 IS NOT NULL OR (i2035 IS NOT NULL AND i3560 IS NOT "
    "NULL) OR j320 OR (j310 AND j1020) ORDER BY NOT (source_id = ANY(:bright)), "
    "coalesce(i2840, sqrt(greatest(i2035 * i3560, 0)), 0) DESC, source_id LIMIT :cap"
)


def chosen_sources(conn: Connection, scale: str, bright: set[str]) -> list[str]:
    """:func:`select_sources` for ``scale``, ranked in the database: the sources that get
    light curves, sorted."""
    cap = MAX_SOURCES.get(scale)
    if cap is None:
        return select_sources(load_sources(conn), scale, bright)
    ids = conn.execute(_CANDIDATES, {"bright": sorted(bright), "cap": max(cap, len(bright))})
    return sorted(str(row[0]) for row in ids)


def select_sources(sources: dict[str, SourceInfo], scale: str, bright: set[str]) -> list[str]:
    """The sources that get light curves: all bright ones, then the brightest others."""
    cap = MAX_SOURCES.get(scale)
    ranked = sorted(
        (s for s in sources.values() if "ISGRI:28_40" in s.fluxes or "JEM-X:3_20" in s.fluxes),
        key=lambda s: (s.source_id not in bright, -s.fluxes.get("ISGRI:28_40", 0.0), s.source_id),
    )
    chosen = ranked if cap is None else ranked[: max(cap, len(bright))]
    return sorted(s.source_id for s in chosen)


def deliver_points(
    engine: Engine, deliver: Deliver, scale: str, seed: int, bright: set[str], say: Progress
) -> LightCurveReport:
    """Compute the demo's ISGRI, JEM-X and OMC points and deliver them through ``deliver``
    (ingestion, as team ``isla-demo``) as the pipelines' per-ScW source-results tables (kind
    ``lc_results``): QC checks every row, the journaled writer stores each table as a product
    and loads its rows into the points tables, flagged simulated. Runs on committed data.

    Tables are computed on this thread while earlier batches are delivered on others.
    """
    report = LightCurveReport()
    options = DeliveryOptions(kind=RESULTS_KIND)

    def send(batch: ResultsBatch, lock: threading.Lock) -> None:
        result = deliver(batch.files, options)
        if result.points != batch.points + batch.omc_points and any(
            p["status"] != "unchanged" for p in result.products
        ):
            raise RuntimeError(
                f"demo results: {result.points} of {batch.points + batch.omc_points} rows loaded"
            )
        with lock:
            report.files += len(result.products)
            report.points += batch.points
            report.omc_points += batch.omc_points

    lock = threading.Lock()
    with (
        engine.connect() as conn,
        ThreadPoolExecutor(DELIVERY_THREADS, thread_name_prefix="isla-lc") as pool,
    ):
        report.sources = len(chosen_sources(conn, scale, bright))
        pending: list[Future[None]] = []
        for batch in results_deliveries(conn, scale, seed, bright):
            # At most DELIVERY_THREADS batches wait in memory (bench and full scales).
            while len(pending) >= DELIVERY_THREADS:
                pending.pop(0).result()
            pending.append(pool.submit(send, batch, lock))
        for job in pending:
            job.result()
    say(
        f"light curves: {report.points} points of {report.sources} sources and "
        f"{report.omc_points} OMC points, in {report.files} results tables delivered"
    )
    return report
