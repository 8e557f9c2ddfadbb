"""What the demo pipeline simulates its products from: sources, bands, epochs and the
light-curve points, read from the archive database with a synchronous ``Connection``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import numpy.typing as npt
from psycopg import sql as psycopg_sql
from sqlalchemy import Connection, text

from shared.demo import model, simulate
from shared.products import ogip
from shared.products.ogip import LightCurve

EPOCH_RE = re.compile(r"^(\d{4})_(\d{11})$")


class NotFound(LookupError):  # noqa: N818 - maps to HTTP 404 Not Found
    """Something named in a request does not exist; ``nearby`` lists what does."""

    def __init__(self, message: str, nearby: dict[str, Any] | None = None) -> None:
        """Keep the message and the alternatives for the problem document."""
        super().__init__(message)
        self.nearby = nearby or {}


# --- identifiers ---------------------------------------------------------------------------


def product_id(kind: str, instrument: str, scope: str, *rest: str) -> str:
    """``kind/instrument/scope[/...]``, e.g. ``spectrum/ISGRI/mission/J053432.0+220052``."""
    return "/".join((kind, instrument, scope, *rest))


def file_stem(name: str) -> str:
    """A source name usable in file names (as ISLA writes them: spaces to underscores)."""
    return re.sub(r"[^A-Za-z0-9+.\-]+", "_", name).strip("_") or "source"


# --- reference data ------------------------------------------------------------------------


@dataclass(frozen=True)
class Band:
    """An energy band of ``isla.energy_bands``."""

    band_id: int
    instrument: str
    name: str
    e_min: float
    e_max: float


def fetch_bands(conn: Connection) -> dict[tuple[str, str], Band]:
    """The ISGRI and JEM-X bands, by (instrument, name)."""
    rows = conn.execute(
        text(
            "SELECT band_id, instrument, name, e_min, e_max FROM isla.energy_bands "
            "WHERE instrument IN ('ISGRI', 'JEM-X') ORDER BY band_id"
        )
    ).all()
    return {(r[1], r[2]): Band(int(r[0]), r[1], r[2], float(r[3]), float(r[4])) for r in rows}


@dataclass
class SourceRecord:
    """A source of the catalogue with what products need of it."""

    source_id: str
    name: str
    ra: float
    dec: float
    source_class: str
    pos_err: float | None
    detected: dict[str, bool]
    fluxes: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    """(flux, error) in mCrab per ``instrument:band``."""

    @property
    def target(self) -> ogip.Target:
        """The source as FITS headers name it."""
        return ogip.Target(self.source_id, self.name, self.ra, self.dec)

    def index(self) -> float:
        """Photon index from the catalogue's ISGRI hardness (Crab-like when unknown)."""
        soft = self.fluxes.get("ISGRI:20_35", (None, None))[0]
        hard = self.fluxes.get("ISGRI:35_60", (None, None))[0]
        if soft and hard and soft > 0 and hard > 0:
            return min(max(model.index_from_hardness(hard / soft), 1.0), 4.0)
        return model.CRAB_INDEX


def fetch_source(conn: Connection, source_id: str) -> SourceRecord | None:
    """The source ``source_id`` with its catalogue fluxes, or None."""
    row = conn.execute(
        text(
            "SELECT source_id, name, ra, dec, source_class, pos_err, det_isgri, det_picsit, "
            "det_jemx, det_spi, det_omc FROM isla.sources WHERE source_id = :s"
        ),
        {"s": source_id},
    ).first()
    if row is None:
        return None
    record = SourceRecord(
        row[0],
        row[1],
        float(row[2]),
        float(row[3]),
        row[4],
        row[5],
        dict(
            zip(
                ("ISGRI", "PICsIT", "JEM-X", "SPI", "OMC"),
                (bool(v) for v in row[6:11]),
                strict=True,
            )
        ),
    )
    for instrument, band, flux, err in conn.execute(
        text(
            "SELECT e.instrument, e.name, f.flux, f.flux_err FROM isla.source_fluxes f "
            "JOIN isla.energy_bands e USING (band_id) WHERE f.source_id = :s "
            "ORDER BY e.band_id, f.catalogue_id DESC"
        ),
        {"s": source_id},
    ):
        record.fluxes.setdefault(f"{instrument}:{band}", (flux, err))
    return record


# --- light curves ----------------------------------------------------------------------------

_POINT_COLUMNS = (*simulate.LC_SQL_COLUMNS[:6], "rate_ul")
"""The float columns of a source's points, in the order :data:`_POINTS_COPY` sends them."""

_POINTS_COPY = (
    "COPY (SELECT band_id::int4, scw_id, coalesce(time_ijd, 'NaN')::float8, "
    "coalesce(duration, 'NaN')::float8, coalesce(exposure, 'NaN')::float8, "
    "coalesce(rate, 'NaN')::float8, coalesce(rate_err, 'NaN')::float8, "
    "coalesce(significance, 'NaN')::float8, coalesce(rate_ul, 'NaN')::float8, "
    "coalesce(upper_limit, false) FROM isla.lightcurve_points WHERE source_id = {source} "
    "ORDER BY band_id, scw_id) TO STDOUT (FORMAT binary)"
)

# One row of :data:`_POINTS_COPY` in PostgreSQL's binary COPY format: a field count, then
# each field as its length and its big-endian value. With no NULLs and 12-character ScW ids
# every row has this width, so a whole answer is one numpy array: psycopg's row loaders would
# make ten Python objects per point, and a full-scale source has ~50,000 points.
_POINT_ROW = np.dtype(
    [("fields", ">i2"), ("band_len", ">i4"), ("band", ">i4"), ("scw_len", ">i4"), ("scw", "S12")]
    + [(f, t) for c in _POINT_COLUMNS for f, t in ((f"{c}_len", ">i4"), (c, ">f8"))]
    + [("ul_len", ">i4"), ("upper_limit", "u1")]
)
_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"


@dataclass(frozen=True)
class Points:
    """A source's light-curve points in one band, in science-window order."""

    scws: npt.NDArray[np.str_]
    time: npt.NDArray[np.float64]
    duration: npt.NDArray[np.float64]
    """Seconds."""
    exposure: npt.NDArray[np.float64]
    rate: npt.NDArray[np.float64]
    rate_err: npt.NDArray[np.float64]
    significance: npt.NDArray[np.float64]
    rate_ul: npt.NDArray[np.float64]
    upper_limit: npt.NDArray[np.bool_]

    def __len__(self) -> int:
        return len(self.time)

    def take(self, mask: npt.NDArray[np.bool_]) -> Points:
        """The points where ``mask`` is true."""
        return Points(*(getattr(self, f.name)[mask] for f in fields(self)))

    def lightcurve(self) -> LightCurve:
        """One bin per science window."""
        return LightCurve(
            time=self.time,
            timedel=self.duration / 86400.0,
            rate=self.rate,
            error=self.rate_err,
            exposure=self.exposure,
            significance=self.significance,
            upper_limit=self.upper_limit,
            rate_ul=self.rate_ul,
            nscw=np.ones(len(self), np.int32),
        )

    def rows(self) -> LightCurveRows:
        """Rows of :data:`simulate.LC_SQL_COLUMNS` and the ScW of each, for the functions
        that take rows."""
        columns = (
            self.time,
            self.duration,
            self.exposure,
            self.rate,
            self.rate_err,
            self.significance,
            self.upper_limit.astype(int),
            self.rate_ul,
            np.ones(len(self), int),
        )
        return list(zip(*(c.tolist() for c in columns), strict=True)), self.scws.tolist()


def fetch_points(conn: Connection, source_id: str) -> dict[int, Points]:
    """Every light-curve point of ``source_id``, by band id, in one binary COPY."""
    raw: Any = conn.connection.driver_connection
    statement = psycopg_sql.SQL(_POINTS_COPY).format(source=psycopg_sql.Literal(source_id))
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        data = b"".join(bytes(block) for block in copy)
    if not data.startswith(_COPY_SIGNATURE):
        raise ValueError("not a binary COPY answer")
    header = len(_COPY_SIGNATURE) + 8 + int.from_bytes(data[15:19], "big")
    body = data[header : len(data) - 2]  # the trailer is a field count of -1
    rows = np.frombuffer(body, _POINT_ROW, count=len(body) // _POINT_ROW.itemsize)
    widths = {"fields": 10, "band_len": 4, "scw_len": 12, "ul_len": 1}
    widths |= {f"{c}_len": 8 for c in _POINT_COLUMNS}
    if len(body) % _POINT_ROW.itemsize or any((rows[f] != n).any() for f, n in widths.items()):
        raise ValueError("a point has a NULL or a ScW id that is not 12 characters long")
    out: dict[int, Points] = {}
    if not len(rows):
        return out
    bands, starts = np.unique(rows["band"], return_index=True)
    for band, lo, hi in zip(bands, starts, [*starts[1:], len(rows)], strict=True):
        part = rows[lo:hi]
        out[int(band)] = Points(
            scws=part["scw"].astype("U12"),
            time=part["time_ijd"].astype(np.float64),
            duration=part["duration"].astype(np.float64),
            exposure=part["exposure"].astype(np.float64),
            rate=part["rate"].astype(np.float64),
            rate_err=part["rate_err"].astype(np.float64),
            significance=part["significance"].astype(np.float64),
            rate_ul=part["rate_ul"].astype(np.float64),
            upper_limit=part["upper_limit"].astype(bool),
        )
    return out


def sources_with_points(conn: Connection) -> list[str]:
    """The sources with light-curve or OMC points, in id order."""
    # One index probe per source (a "loose index scan"): DISTINCT would read every point.
    rows = conn.execute(
        text(
            "WITH RECURSIVE s AS (SELECT min(source_id) AS id FROM isla.lightcurve_points "
            "UNION ALL SELECT (SELECT min(source_id) FROM isla.lightcurve_points "
            "WHERE source_id > s.id) FROM s WHERE s.id IS NOT NULL) "
            "SELECT id FROM s WHERE id IS NOT NULL "
            "UNION SELECT DISTINCT source_id FROM isla.omc_points ORDER BY 1"
        )
    ).scalars()
    return [str(r) for r in rows]


LightCurveRows = tuple[list[tuple[Any, ...]], list[str]]
"""Light-curve rows (:data:`simulate.LC_SQL_COLUMNS`) and one key per row."""


# --- epochs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EpochPointing:
    """One pointing of an epoch."""

    scw_id: str
    ra: float
    dec: float
    isgri_exposure: float
    jemx_exposure: float
    start: float
    stop: float

    def exposure(self, instrument: str) -> float:
        """The instrument's exposure (JEM-X: both units together)."""
        return self.isgri_exposure if instrument == "ISGRI" else self.jemx_exposure


@dataclass
class EpochRecord:
    """An ISLA epoch: one observation within one revolution."""

    epoch: str
    revolution: int
    obsid: str
    ra: float
    dec: float
    target: str
    pointings: list[EpochPointing]

    @property
    def start(self) -> float:
        """Start of the first pointing (IJD)."""
        return min(p.start for p in self.pointings)

    @property
    def stop(self) -> float:
        """End of the last pointing (IJD)."""
        return max(p.stop for p in self.pointings)

    def exposed(self, instrument: str) -> list[EpochPointing]:
        """The pointings with exposure of ``instrument``."""
        return [p for p in self.pointings if p.exposure(instrument) > 0]


def parse_epoch(value: str) -> tuple[int, str]:
    """(revolution, obsid) of ``RRRR_OOOOOOOOOOO``; ValueError otherwise."""
    match = EPOCH_RE.match(value)
    if not match:
        raise ValueError(f"epoch {value!r} is not of the form RRRR_OOOOOOOOOOO")
    return int(match.group(1)), match.group(2)


def fetch_epoch(conn: Connection, epoch: str) -> EpochRecord:
    """The epoch and its pointings; NotFound lists the epochs of the same revolution."""
    revolution, obsid = parse_epoch(epoch)
    obs = conn.execute(
        text("SELECT ra, dec, target_name FROM isla.observations WHERE obsid = :o"), {"o": obsid}
    ).first()
    rows = conn.execute(
        text(
            "SELECT scw_id, ra, dec, coalesce(isgri_exposure, 0), "
            "coalesce(jemx1_exposure, 0) + coalesce(jemx2_exposure, 0), start_ijd, end_ijd "
            "FROM isla.science_windows WHERE revolution = :r AND obsid = :o "
            "AND scw_type = 'pointing' ORDER BY scw_id"
        ),
        {"r": revolution, "o": obsid},
    ).all()
    if obs is None or not rows:
        raise NotFound(f"no epoch {epoch}", {"epochs": epochs_of_revolution(conn, revolution)})
    return EpochRecord(
        epoch,
        revolution,
        obsid,
        float(obs[0]),
        float(obs[1]),
        obs[2],
        [
            EpochPointing(
                r[0], float(r[1]), float(r[2]), float(r[3]), float(r[4]), float(r[5]), float(r[6])
            )
            for r in rows
        ],
    )


def epochs_of_revolution(conn: Connection, revolution: int) -> list[str]:
    """The epochs (RRRR_OOOOOOOOOOO) of one revolution."""
    rows = conn.execute(
        text(
            "SELECT DISTINCT obsid FROM isla.science_windows WHERE revolution = :r "
            "AND obsid IS NOT NULL AND scw_type = 'pointing' ORDER BY obsid"
        ),
        {"r": revolution},
    ).all()
    return [f"{revolution:04d}_{r[0]}" for r in rows]


# --- spectra -------------------------------------------------------------------------------


@dataclass
class SpectrumData:
    """What a spectrum is computed from: the default-band points of its science windows."""

    source: SourceRecord
    instrument: str
    scope: str
    """``mission``, an epoch, or ``intervalNN``."""
    scws: list[str]
    reference_rate: float
    exposure: float
    tstart: float
    tstop: float
    revolution: int | None = None


def spectrum_data(
    source: SourceRecord,
    instrument: str,
    scope: str,
    points: Points,
    revolution: int | None = None,
) -> SpectrumData:
    """What the spectrum of ``points`` (of the instrument's default band) is made from: their
    exposure-weighted mean rate, summed exposure and time span."""
    exposure = float(points.exposure.sum())
    rate = float((points.rate * points.exposure).sum()) / exposure if exposure > 0 else 0.0
    half = points.duration / 172800.0
    return SpectrumData(
        source,
        instrument,
        scope,
        points.scws.tolist(),
        rate,
        exposure,
        float((points.time - half).min()),
        float((points.time + half).max()),
        revolution,
    )


# --- mosaics -----------------------------------------------------------------------------------


@dataclass
class MosaicData:
    """What a mosaic is computed from."""

    epoch: EpochRecord
    band: Band
    sources: list[simulate.SkySource]


def fetch_mosaic(conn: Connection, epoch: str, band: Band, candidates: Sequence[str]) -> MosaicData:
    """The epoch's pointings and the mean rate in the band of every source seen there, among
    ``candidates`` (the sources with points, :func:`sources_with_points`)."""
    record = fetch_epoch(conn, epoch)
    ids = [p.scw_id for p in record.pointings]
    # By the points' primary key (source, band, ScW range of the epoch): one short descent
    # per candidate. A join with the science windows probed the ScW BRIN index once per ScW,
    # each probe reading the whole delivery the ScW came in: minutes per mosaic at full scale.
    rows = conn.execute(
        text(
            "SELECT s.ra, s.dec, sum(p.rate * p.exposure) / nullif(sum(p.exposure), 0) "
            "FROM isla.lightcurve_points p JOIN isla.sources s ON s.source_id = p.source_id "
            "WHERE p.source_id = ANY(:candidates) AND p.band_id = :b "
            "AND p.scw_id BETWEEN :first AND :last AND p.scw_id = ANY(:ids) "
            "GROUP BY s.source_id, s.ra, s.dec"
        ),
        {
            "candidates": list(candidates),
            "b": band.band_id,
            "first": min(ids),
            "last": max(ids),
            "ids": ids,
        },
    ).all()
    sources = [simulate.SkySource(float(r[0]), float(r[1]), float(r[2] or 0.0)) for r in rows]
    return MosaicData(record, band, sources)
