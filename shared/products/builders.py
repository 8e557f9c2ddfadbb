"""Fetch what a product needs from the database, and build its file.

Each product has a ``fetch_*`` function (a synchronous SQLAlchemy ``Connection``: the demo
generator passes its own, the products service runs it through ``AsyncConnection.run_sync``)
and a pure ``build_*`` function that turns the fetched data into bytes, which the service runs
in a worker thread. Product ids follow the archive's contract, ``kind/instrument/scope/...``
(see :func:`product_id`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, text

from shared.integral.ids import parse_source_id
from shared.integral.time import MJDREF
from shared.products import compute, model, ogip

EPOCH_RE = re.compile(r"^(\d{4})_(\d{11})$")


class NotFound(LookupError):  # noqa: N818 - maps to HTTP 404 Not Found
    """Something named in a request does not exist; ``nearby`` lists what does."""

    def __init__(self, message: str, nearby: dict[str, Any] | None = None) -> None:
        """Keep the message and the alternatives for the problem document."""
        super().__init__(message)
        self.nearby = nearby or {}


class BadRequest(ValueError):  # noqa: N818 - maps to HTTP 400 Bad Request
    """A request that cannot be satisfied as asked (impossible range, bad binning)."""


# --- identifiers ---------------------------------------------------------------------------


def product_id(kind: str, instrument: str, scope: str, *rest: str) -> str:
    """``kind/instrument/scope[/...]``, e.g. ``spectrum/ISGRI/mission/J053432.0+220052``."""
    return "/".join((kind, instrument, scope, *rest))


def file_stem(name: str) -> str:
    """A source name usable in file names (as ISLA writes them: spaces to underscores)."""
    return re.sub(r"[^A-Za-z0-9+.\-]+", "_", name).strip("_") or "source"


def ijd_to_mjd(ijd: float) -> float:
    """IJD to MJD (TT)."""
    return ijd + MJDREF


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


def resolve_band(
    bands: dict[tuple[str, str], Band], instrument: str | None, band: str | None
) -> Band:
    """The band asked for (default: ISLA's band of the instrument); NotFound lists the others."""
    inst = normalise_instrument(instrument or "ISGRI")
    name = band or model.DEFAULT_BAND[inst]
    found = bands.get((inst, name))
    if found is None:
        known = [b.name for b in bands.values() if b.instrument == inst]
        raise NotFound(f"{inst} has no band {name!r}", {"bands": known, "instrument": inst})
    return found


_INSTRUMENT_NAMES = {"isgri": "ISGRI", "ibis": "ISGRI", "jem-x": "JEM-X", "jemx": "JEM-X"}


def normalise_instrument(name: str) -> str:
    """ISGRI or JEM-X from the usual spellings; NotFound for other instruments."""
    inst = _INSTRUMENT_NAMES.get(name.strip().lower())
    if inst is None:
        raise NotFound(
            f"no light curves, spectra or mosaics for instrument {name!r}",
            {"instruments": ["ISGRI", "JEM-X"]},
        )
    return inst


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


def nearby_sources(conn: Connection, text_id: str, limit: int = 5) -> list[dict[str, Any]]:
    """The sources nearest to the position a source id encodes (for 404 hints); BadRequest
    when ``text_id`` is not a source id at all."""
    try:
        ra, dec = parse_source_id(text_id).position
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    rows = conn.execute(
        text(
            "SELECT source_id, name, degrees(pos <-> spoint(radians(:ra), radians(:dec))) AS d "
            "FROM isla.sources ORDER BY pos <-> spoint(radians(:ra), radians(:dec)) LIMIT :n"
        ),
        {"ra": ra, "dec": dec, "n": limit},
    ).all()
    return [{"source_id": r[0], "name": r[1], "distance_deg": round(float(r[2]), 4)} for r in rows]


# --- light curves ----------------------------------------------------------------------------

_POINTS_SQL = (
    "SELECT time_ijd, duration, exposure, rate, rate_err, significance, "
    "upper_limit::int, rate_ul, 1 AS nscw, scw_id FROM isla.lightcurve_points "
    "WHERE source_id = :s AND band_id = :b AND time_ijd >= :t0 AND time_ijd < :t1 "
    "ORDER BY scw_id"
)

# Exposure-weighted means per group (a revolution, or a time bin), computed by Postgres.
_BINNED_SQL = """
WITH g AS (
    SELECT {group} AS k,
           min(time_ijd - duration / 172800.0) AS t0,
           max(time_ijd + duration / 172800.0) AS t1,
           sum(exposure) AS exposure,
           sum(rate * exposure) / sum(exposure) AS rate,
           sqrt(sum((rate_err * exposure) ^ 2)) / sum(exposure) AS rate_err,
           count(*) AS nscw
      FROM isla.lightcurve_points
     WHERE source_id = :s AND band_id = :b AND time_ijd >= :t0 AND time_ijd < :t1
       AND exposure > 0
     GROUP BY k)
SELECT (t0 + t1) / 2, (t1 - t0) * 86400.0, exposure, rate, rate_err, rate / rate_err,
       (rate / rate_err < {sigma})::int,
       CASE WHEN rate / rate_err < {sigma} THEN greatest(rate, 0) + {sigma} * rate_err END,
       nscw, k::text
  FROM g ORDER BY t0
"""


def points_sql() -> str:
    """SQL of the per-ScW points of one source and band in [t0, t1) (IJD)."""
    return _POINTS_SQL


def binned_sql(binning: str) -> str:
    """SQL of a light curve binned by ``revolution`` or by a bin width in seconds (``:w``)."""
    group = "revolution" if binning == "revolution" else "floor(time_ijd * 86400.0 / :w)"
    return _BINNED_SQL.format(group=group, sigma=model.DETECTION_SIGMA)


LightCurveRows = tuple[list[tuple[Any, ...]], list[str]]
"""Light-curve rows (:data:`compute.LC_SQL_COLUMNS`) and one key per row."""


@dataclass(frozen=True)
class Binning:
    """How a light curve is binned: per ScW, per revolution, or in bins of ``seconds``."""

    kind: str
    seconds: float = 0.0

    @property
    def is_sub_scw(self) -> bool:
        """Bins shorter than :data:`FAST_LIMIT_S`: science windows are split, not grouped."""
        return self.kind == "seconds" and self.seconds < FAST_LIMIT_S

    @property
    def label(self) -> str:
        """The binning as requests spell it."""
        return self.kind if self.kind != "seconds" else f"{self.seconds:g}"


def parse_binning(value: str | None) -> Binning:
    """``scw`` (default), ``revolution`` or a positive number of seconds."""
    if value is None or value.lower() == "scw":
        return Binning("scw")
    if value.lower() in ("revolution", "rev"):
        return Binning("revolution")
    try:
        seconds = float(value)
    except ValueError:
        raise BadRequest(
            f"binning {value!r} is not scw, revolution or a number of seconds"
        ) from None
    if not math.isfinite(seconds) or seconds < compute.FAST_MIN_BIN_S:
        raise BadRequest(
            f"binning {value!r}: a bin must be at least {compute.FAST_MIN_BIN_S:g} s long"
        )
    return Binning("seconds", seconds)


FAST_LIMIT_S = 3600.0
"""Bins shorter than this split science windows (sub-ScW light curves); longer ones group
science windows (exposure-weighted in SQL)."""


def fetch_lightcurve(
    conn: Connection,
    source_id: str,
    band: Band,
    binning: Binning,
    t0: float,
    t1: float,
) -> LightCurveRows:
    """Rows of :data:`compute.LC_SQL_COLUMNS` plus a key per row (ScW id, revolution or bin)."""
    params = {"s": source_id, "b": band.band_id, "t0": t0, "t1": t1}
    if binning.kind == "scw" or binning.is_sub_scw:
        # Sub-ScW bins are cut from the per-ScW points in Python (build_lightcurve).
        sql = _POINTS_SQL
    else:
        sql = binned_sql(binning.kind)
        params["w"] = binning.seconds
    rows = conn.execute(text(sql), params).all()
    return [tuple(r[:9]) for r in rows], [str(r[9]) for r in rows]


def build_lightcurve(
    rows: Sequence[Sequence[Any]], keys: Sequence[str], binning: Binning, key: str
) -> ogip.LightCurve:
    """The light curve of fetched rows (sub-ScW bins computed here when asked)."""
    if binning.is_sub_scw:
        return compute.fast_lightcurve(rows, keys, bin_s=binning.seconds, key=key)
    return compute.lightcurve_from_rows(rows)


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
    """(revolution, obsid) of ``RRRR_OOOOOOOOOOO``; BadRequest otherwise."""
    match = EPOCH_RE.match(value)
    if not match:
        raise BadRequest(
            f"epoch {value!r} is not of the form RRRR_OOOOOOOOOOO (e.g. 0727_88601650001)"
        )
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
) -> list[compute.Interval]:
    """The S/N-driven intervals of a source's default-band light curve."""
    band = bands[(instrument, model.DEFAULT_BAND[instrument])]
    rows = conn.execute(
        text(_POINTS_SQL), {"s": source.source_id, "b": band.band_id, "t0": -1e9, "t1": 1e9}
    ).all()
    return compute.snr_intervals([tuple(r[:9]) for r in rows], [str(r[9]) for r in rows])


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


def build_spectrum(data: SpectrumData) -> ogip.Spectrum:
    """The spectrum's channels (deterministic for the source, instrument and scope)."""
    return compute.spectrum(
        data.instrument,
        reference_rate=data.reference_rate,
        exposure=data.exposure,
        index=data.source.index(),
        key=f"{data.source.source_id}/{data.instrument}/{data.scope}",
        tstart=data.tstart,
        tstop=data.tstop,
    )


RESPONSE_SCOPE = "standard"
"""Scope of the (one per instrument) response products."""


def response_names(instrument: str) -> tuple[str, str]:
    """File names of the instrument's (RMF, ARF)."""
    stem = instrument.replace("-", "")
    return f"{stem}_rmf.fits", f"{stem}_arf.fits"


def spectrum_file(data: SpectrumData, prov_date: datetime | None = None) -> bytes:
    """The PHA file of a spectrum, pointing at the instrument's RMF and ARF file names."""
    rmf, arf = response_names(data.instrument)
    return ogip.spectrum_fits(
        build_spectrum(data),
        instrument=data.instrument,
        target=data.source.target,
        prov=provenance(data.scws, prov_date),
        respfile=rmf,
        ancrfile=arf,
        revolution=data.revolution,
    )


def provenance(scws: Sequence[str], date: datetime | None = None) -> ogip.Provenance:
    """Provenance of a product made now (or at ``date``) from ``scws``."""
    return ogip.Provenance(list(scws), date or datetime.now(UTC))


# --- mosaics -----------------------------------------------------------------------------------


@dataclass
class MosaicData:
    """What a mosaic is computed from."""

    epoch: EpochRecord
    band: Band
    sources: list[compute.SkySource]


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
    sources = [compute.SkySource(float(r[0]), float(r[1]), float(r[2] or 0.0)) for r in rows]
    return MosaicData(record, band, sources)


def build_mosaic(data: MosaicData) -> ogip.Mosaic:
    """The mosaic's images."""
    instrument = data.band.instrument
    pointings = [
        compute.Pointing(p.ra, p.dec, p.exposure(instrument))
        for p in data.epoch.exposed(instrument)
    ]
    return compute.mosaic(
        data.band.instrument,
        data.band.name,
        centre=(data.epoch.ra, data.epoch.dec),
        pointings=pointings,
        sources=data.sources,
        key=f"{data.epoch.epoch}/{data.band.instrument}/{data.band.name}",
        tstart=data.epoch.start,
        tstop=data.epoch.stop,
    )


def mosaic_file(data: MosaicData, image: ogip.Mosaic, prov_date: datetime | None = None) -> bytes:
    """The mosaic's FITS file."""
    return ogip.mosaic_fits(
        image,
        instrument=data.band.instrument,
        band=(data.band.e_min, data.band.e_max),
        prov=provenance([p.scw_id for p in data.epoch.exposed(data.band.instrument)], prov_date),
        epoch=data.epoch.epoch,
    )
