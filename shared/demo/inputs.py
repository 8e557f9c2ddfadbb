"""What the demo pipeline simulates its products from: sources, bands, epochs and the
light-curve points, read from the archive database with a synchronous ``Connection``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, text

from shared.demo import model, simulate
from shared.products import ogip

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

_POINTS_SQL = (
    "SELECT time_ijd, duration, exposure, rate, rate_err, significance, "
    "upper_limit::int, rate_ul, 1 AS nscw, scw_id FROM isla.lightcurve_points "
    "WHERE source_id = :s AND band_id = :b AND time_ijd >= :t0 AND time_ijd < :t1 "
    "ORDER BY scw_id"
)

LightCurveRows = tuple[list[tuple[Any, ...]], list[str]]
"""Light-curve rows (:data:`simulate.LC_SQL_COLUMNS`) and one key per row."""


def fetch_lightcurve(
    conn: Connection, source_id: str, band: Band, t0: float, t1: float
) -> LightCurveRows:
    """Per-ScW rows of :data:`simulate.LC_SQL_COLUMNS` in [t0, t1) (IJD) plus each ScW id."""
    params = {"s": source_id, "b": band.band_id, "t0": t0, "t1": t1}
    rows = conn.execute(text(_POINTS_SQL), params).all()
    return [tuple(r[:9]) for r in rows], [str(r[9]) for r in rows]


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


def _spectrum_from_rows(
    source: SourceRecord,
    instrument: str,
    scope: str,
    rows: Sequence[Sequence[Any]],
    revolution: int | None,
) -> SpectrumData:
    exposure = sum(float(r[2]) for r in rows)
    rate = sum(float(r[3]) * float(r[2]) for r in rows) / exposure if exposure > 0 else 0.0
    tstart = min(float(r[0]) - float(r[1]) / 172800.0 for r in rows)
    tstop = max(float(r[0]) + float(r[1]) / 172800.0 for r in rows)
    return SpectrumData(
        source,
        instrument,
        scope,
        [str(r[9]) for r in rows],
        rate,
        exposure,
        tstart,
        tstop,
        revolution,
    )


def fetch_spectrum(
    conn: Connection,
    source: SourceRecord,
    instrument: str,
    scope: str,
    bands: dict[tuple[str, str], Band],
) -> SpectrumData:
    """Data of the spectrum of ``source`` for ``scope``: ``mission``, an epoch or
    ``intervalNN`` (the S/N-driven intervals of :func:`fetch_intervals`)."""
    band = bands[(instrument, model.DEFAULT_BAND[instrument])]
    params: dict[str, Any] = {"s": source.source_id, "b": band.band_id}
    if scope == "mission":
        rows = conn.execute(text(_POINTS_SQL), {**params, "t0": -1e9, "t1": 1e9}).all()
        if not rows:
            raise NotFound(
                f"{instrument} never observed {source.source_id}",
                {"instruments": observed_instruments(conn, source.source_id)},
            )
        return _spectrum_from_rows(source, instrument, scope, rows, None)
    if scope.startswith("interval"):
        intervals = fetch_intervals(conn, source, instrument, bands)
        try:
            number = int(scope.removeprefix("interval"))
            if number < 1:
                raise IndexError(number)
            chosen = intervals[number - 1]
        except (ValueError, IndexError):
            raise NotFound(
                f"{source.source_id} has no {instrument} interval {scope!r}",
                {"intervals": [f"interval{i.index:02d}" for i in intervals]},
            ) from None
        rows = conn.execute(
            text(
                "SELECT time_ijd, duration, exposure, rate, rate_err, significance, "
                "upper_limit::int, rate_ul, 1, scw_id FROM isla.lightcurve_points "
                "WHERE source_id = :s AND band_id = :b AND scw_id = ANY(:ids) ORDER BY scw_id"
            ),
            {**params, "ids": list(chosen.scws)},
        ).all()
        return _spectrum_from_rows(source, instrument, scope, rows, None)
    revolution, obsid = parse_epoch(scope)
    rows = conn.execute(
        text(
            "SELECT p.time_ijd, p.duration, p.exposure, p.rate, p.rate_err, p.significance, "
            "p.upper_limit::int, p.rate_ul, 1, p.scw_id FROM isla.lightcurve_points p "
            "JOIN isla.science_windows w ON w.scw_id = p.scw_id "
            "WHERE p.source_id = :s AND p.band_id = :b AND w.revolution = :r AND w.obsid = :o "
            "ORDER BY p.scw_id"
        ),
        {**params, "r": revolution, "o": obsid},
    ).all()
    if not rows:
        raise NotFound(
            f"{instrument} did not observe {source.source_id} in epoch {scope}",
            {"epochs": source_epochs(conn, source.source_id, band.band_id)},
        )
    return _spectrum_from_rows(source, instrument, scope, rows, revolution)


def fetch_intervals(
    conn: Connection, source: SourceRecord, instrument: str, bands: dict[tuple[str, str], Band]
) -> list[simulate.Interval]:
    """The S/N-driven intervals of a source's default-band light curve."""
    band = bands[(instrument, model.DEFAULT_BAND[instrument])]
    rows = conn.execute(
        text(_POINTS_SQL), {"s": source.source_id, "b": band.band_id, "t0": -1e9, "t1": 1e9}
    ).all()
    return simulate.snr_intervals([tuple(r[:9]) for r in rows], [str(r[9]) for r in rows])


def source_epochs(conn: Connection, source_id: str, band_id: int, limit: int = 20) -> list[str]:
    """Epochs in which a source has points in a band (most recent last)."""
    rows = conn.execute(
        text(
            "SELECT DISTINCT w.revolution, w.obsid FROM isla.lightcurve_points p "
            "JOIN isla.science_windows w ON w.scw_id = p.scw_id "
            "WHERE p.source_id = :s AND p.band_id = :b AND w.obsid IS NOT NULL "
            "ORDER BY w.revolution, w.obsid LIMIT :n"
        ),
        {"s": source_id, "b": band_id, "n": limit},
    ).all()
    return [f"{r[0]:04d}_{r[1]}" for r in rows]


def observed_instruments(conn: Connection, source_id: str) -> list[str]:
    """Instruments with light-curve points of a source."""
    rows = conn.execute(
        text("SELECT DISTINCT instrument FROM isla.lightcurve_points WHERE source_id = :s"),
        {"s": source_id},
    ).all()
    return sorted(r[0] for r in rows)


# --- mosaics -----------------------------------------------------------------------------------


@dataclass
class MosaicData:
    """What a mosaic is computed from."""

    epoch: EpochRecord
    band: Band
    sources: list[simulate.SkySource]


def fetch_mosaic(conn: Connection, epoch: str, band: Band) -> MosaicData:
    """The epoch's pointings and the mean rate of every source seen in the band."""
    record = fetch_epoch(conn, epoch)
    rows = conn.execute(
        text(
            "SELECT s.ra, s.dec, sum(p.rate * p.exposure) / nullif(sum(p.exposure), 0) "
            "FROM isla.lightcurve_points p JOIN isla.sources s ON s.source_id = p.source_id "
            "JOIN isla.science_windows w ON w.scw_id = p.scw_id "
            "WHERE p.band_id = :b AND w.revolution = :r AND w.obsid = :o "
            "GROUP BY s.source_id, s.ra, s.dec"
        ),
        {"b": band.band_id, "r": record.revolution, "o": record.obsid},
    ).all()
    sources = [simulate.SkySource(float(r[0]), float(r[1]), float(r[2] or 0.0)) for r in rows]
    return MosaicData(record, band, sources)
