"""The demo pipeline's science products, delivered through ingestion like any team's.

The demo archive is simulated, its products too: this module plays the part of the instrument
teams' pipelines. From the demo's light-curve points it makes OGIP FITS files (labelled
simulated: ``SIMDATA = T``, see :mod:`shared.simulation`) and delivers them through the
:class:`~shared.demo.delivery.Deliver` function it is given, ingestion's code behind the ingest
API: each file goes through quality control, the journaled writer and the provenance record
(``meta.team`` is :data:`DEMO_TEAM`), exactly as the real ISLA files of astroquery's test data
do. The services then serve only what is stored.

What is made, for every source with light-curve points (at ``full`` scale the 1,000 brightest
of a million, as :mod:`shared.demo.lightcurves` chooses them), from its points read once:

- all-mission time series (``long_timeseries``) in every ISGRI and JEM-X band it has points in;
- mission spectra (ISGRI, and JEM-X where it has points) with the instrument's ARF and RMF;
- epoch spectra and sub-ScW time series (``short_timeseries``, bins on the science windows
  detected at S/N 5 or more: the good-time intervals) at the epochs of :func:`choose_epochs`
  where it is detected: the fixed epochs ``0727_88601650001`` and ``0745_06340000001`` and a
  few more, chosen where the most bright named sources (``bright_sources.csv``) are detected;
- time-resolved ISGRI spectra of the Crab and SMC X-1, every S/N-driven interval;
- OMC light curves and images of the sources with an optical counterpart;

and for every epoch with epoch products, mosaics in every band. Previews are not stored: the
products service renders them from the mosaics.

Deliveries are independent (the files of a few sources per kind, at most
:data:`~shared.demo.delivery.MAX_DELIVERY_FILES` each; one per epoch's mosaics) and run in a
few threads; every file is a function of the light-curve points and fixed dates, so a re-run
delivers the same bytes (ingestion then reports them ``unchanged``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cache
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine, text

from shared.demo import inputs as d
from shared.demo import model, simulate
from shared.demo.delivery import MAX_DELIVERY_FILES, Deliver, Delivered, DeliveryOptions
from shared.demo.lightcurves import v_magnitude
from shared.doi.identifiers import doi_of, product_collection
from shared.products import ogip
from shared.settings import TEST_DOI_PREFIX

Progress = Callable[[str], None]

DEMO_TEAM = "isla-demo"
"""The team the demo pipeline delivers as (recorded as the products' owner, ``meta.team``)."""

DEMO_TEAM_DESCRIPTION = "The ISLA demo pipeline: simulated products"
"""How the demo's team is described where teams are registered."""

FIXED_EPOCHS = ("0727_88601650001", "0745_06340000001")
"""Epochs whose products the tests and the documentation name."""

EPOCHS_PER_SOURCE = 2
"""Further epochs wanted per bright source (chosen where the most sources are detected)."""

MAX_EPOCHS = 5
"""Most epochs with epoch products (each has a mosaic in every band: they dominate the
archive's size and loading time)."""

PRODUCT_DATE = datetime(2025, 3, 1, tzinfo=UTC)
"""DATE of the demo's product files: fixed, so that they are reproducible byte for byte."""

REAL_PRODUCTS = frozenset(
    {
        ("spectrum", "ISGRI", "0745_06340000001", "J011705.1-732636"),
        ("long_timeseries", "JEM-X", "mission", "J174537.0-290107"),
        ("mosaic", "ISGRI", "0727_88601650001", "28_40"),
    }
)
"""(kind, instrument, scope, source or band) of the real ISLA products, ingested from
astroquery's data instead (no demo JEM-X time series of 1A 1742-289 in any band)."""

TIME_RESOLVED = ("Crab", "SMC X-1")
"""Bright sources whose time-resolved ISGRI spectra are made (every interval)."""

THREADS = 4
"""Deliveries run at once: enough to overlap the object store's and database's latency."""

SOURCES_PER_ROUND = 8
"""Sources whose files are made together and share deliveries: fewer, fuller deliveries
(each is a journal round of its own), within :data:`MAX_DELIVERY_FILES` files each."""

_SIGMA = model.DETECTION_SIGMA


File = tuple[str, bytes]
"""A product file: its name and its bytes."""


@dataclass
class _Files:
    """The files of a few sources, by the delivery they go in (per instrument for spectra,
    which name their instrument's responses)."""

    series: list[File] = field(default_factory=list)
    mission: dict[str, list[File]] = field(default_factory=dict)
    intervals: dict[str, list[File]] = field(default_factory=dict)
    epochs: dict[str, list[File]] = field(default_factory=dict)
    omc: list[File] = field(default_factory=list)


@dataclass
class _Tally:
    """What the deliveries did (summed over threads)."""

    files: int = 0
    points: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, result: Delivered) -> None:
        with self.lock:
            self.files += len(result.products)
            self.points += result.points
            for product in result.products:
                self.by_kind[product["kind"]] = self.by_kind.get(product["kind"], 0) + 1


def _prov(scws: list[str], nscw: int | None = None, *, kind: str) -> ogip.Provenance:
    """Provenance of a demo product: simulated, made at :data:`PRODUCT_DATE`, naming the DOI
    of its product type's collection (the archive gives each file its own DOI only once it is
    delivered, when its bytes are fixed; simulated data keep DataCite's test prefix)."""
    doi = doi_of(TEST_DOI_PREFIX, product_collection(kind), simulated=True)
    return ogip.Provenance(
        list(scws), PRODUCT_DATE, doi=doi, nscw=nscw, simulated=True, ds_ident=f"doi:{doi}"
    )


def _inst(instrument: str) -> str:
    return instrument.replace("-", "")


class _Pipeline:
    """Makes the files of each delivery and hands them to ingestion."""

    def __init__(self, engine: Engine, deliver: Deliver) -> None:
        self.engine = engine
        self._deliver = deliver
        self.response_ids: dict[str, dict[str, str]] = {}
        with engine.connect() as conn:
            self.bands = d.fetch_bands(conn)

    @contextmanager
    def _conn(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn

    def deliver(self, files: list[File], options: DeliveryOptions | None = None) -> Delivered:
        """One delivery through ingestion (QC, journal, provenance)."""
        return self._deliver(files, options or DeliveryOptions())

    def band(self, instrument: str, name: str | None = None) -> d.Band:
        """A band of ``instrument`` (its default one when ``name`` is None)."""
        return self.bands[(instrument, name or model.DEFAULT_BAND[instrument])]

    # --- per source ---------------------------------------------------------------------------

    def sources(
        self, sources: list[d.SourceRecord], epochs: list[d.EpochRecord], tally: _Tally
    ) -> None:
        """Every product of a few sources, in deliveries shared by them.

        The files are made first, on one connection that is then released: a delivery opens
        its own (at most two at a time), so that the threads never exhaust the pool.
        """
        files = _Files()
        with self._conn() as conn:
            for source in sources:
                self._source_files(conn, source, epochs, files)
        # The time series are made from the archive's points: stored as files, the points
        # left as they are.
        self._deliver_all(files.series, DeliveryOptions(points=False), tally)
        for instrument in model.INSTRUMENTS:
            # Every spectrum names its instrument's responses, delivered first, by product id.
            ids = self.response_ids[instrument]
            params = DeliveryOptions(arf=ids["arf"], rmf=ids["rmf"])
            mission = files.mission.get(instrument, [])
            self._deliver_all(mission, replace(params, scope="mission"), tally)
            intervals = files.intervals.get(instrument, [])
            self._deliver_all(intervals, replace(params, scope="time_resolved"), tally)
            at_epochs = files.epochs.get(instrument, [])
            self._deliver_all(at_epochs, replace(params, points=False), tally)
        self._deliver_all(files.omc, DeliveryOptions(), tally)

    def _deliver_all(self, files: list[File], options: DeliveryOptions, tally: _Tally) -> None:
        """``files`` in as few deliveries as the ingest API's file limit allows."""
        for start in range(0, len(files), MAX_DELIVERY_FILES):
            tally.add(self.deliver(files[start : start + MAX_DELIVERY_FILES], options))

    def _source_files(
        self,
        conn: Connection,
        source: d.SourceRecord,
        epochs: list[d.EpochRecord],
        files: _Files,
    ) -> None:
        """The files of one source, added to ``files``: all made from its points, read once."""
        points = d.fetch_points(conn, source.source_id)
        files.series += self._timeseries(source, points)
        for instrument in model.INSTRUMENTS:
            default = points.get(self.band(instrument).band_id)
            if default is None:
                continue  # the instrument never saw the source: no spectrum
            files.mission.setdefault(instrument, []).append(
                self._mission_spectrum(source, instrument, default)
            )
            if source.name in TIME_RESOLVED and instrument == "ISGRI":
                files.intervals.setdefault(instrument, []).extend(
                    self._intervals(source, instrument, default)
                )
            at_epochs = files.epochs.setdefault(instrument, [])
            for epoch in epochs:
                at_epochs += self._epoch_files(source, instrument, epoch, default)
        files.omc += self._omc(conn, source)

    def _timeseries(self, source: d.SourceRecord, points: dict[int, d.Points]) -> list[File]:
        """All-mission time series in every band the source has points in."""
        files = []
        for (instrument, band_name), band in sorted(self.bands.items()):
            if band_name not in model.BANDS.get(instrument, {}):
                continue
            if ("long_timeseries", instrument, "mission", source.source_id) in REAL_PRODUCTS:
                continue
            series = points.get(band.band_id)
            if series is None:
                continue
            scws = series.scws
            revolutions = (int(scws[0][:4]), int(scws[-1][:4]))
            name = f"{d.file_stem(source.name)}_{_inst(instrument)}_{band_name}"
            files.append(
                (
                    f"{name}_allmission_timeseries.fits",
                    ogip.timeseries_fits(
                        series.lightcurve(),
                        instrument=instrument,
                        band=(band.e_min, band.e_max),
                        target=source.target,
                        prov=_prov(scws.tolist(), kind="long_timeseries"),
                        revolutions=revolutions,
                    ),
                )
            )
        return files

    def _spectrum_file(
        self, data: d.SpectrumData, responses: tuple[str, str], extra: dict[str, Any] | None = None
    ) -> bytes:
        spec = simulate.spectrum(
            data.instrument,
            reference_rate=data.reference_rate,
            exposure=data.exposure,
            index=data.source.index(),
            key=f"{data.source.source_id}/{data.instrument}/{data.scope}",
            tstart=data.tstart,
            tstop=data.tstop,
        )
        body = ogip.spectrum_fits(
            spec,
            instrument=data.instrument,
            target=data.source.target,
            prov=_prov(data.scws, kind="spectrum"),
            respfile=responses[1],
            ancrfile=responses[0],
            revolution=data.revolution,
        )
        if not extra:
            return body
        return _with_keywords(body, "SPECTRUM", extra)

    def _response_names(self, source: d.SourceRecord, instrument: str) -> tuple[str, str]:
        # One on-axis response per instrument, as INTEGRAL's own (ISGRI's RMF is the
        # instrument's): every spectrum names the same two files.
        del source
        return _response_files(instrument)

    def responses(self) -> None:
        """Deliver each instrument's ARF and RMF once, before any spectrum names them."""
        for instrument in model.INSTRUMENTS:
            arf_name, rmf_name = _response_files(instrument)
            arf, rmf = _responses(instrument)
            result = self.deliver(
                [(arf_name, arf), (rmf_name, rmf)], DeliveryOptions(scope="mission")
            )
            self.response_ids[instrument] = {p["kind"]: p["product_id"] for p in result.products}

    def _mission_spectrum(self, source: d.SourceRecord, instrument: str, points: d.Points) -> File:
        """The mission spectrum, naming the instrument's ARF and RMF."""
        data = d.spectrum_data(source, instrument, "mission", points)
        return (
            f"{d.file_stem(source.name)}_{_inst(instrument)}_mission_spectrum_spe.fits",
            self._spectrum_file(data, self._response_names(source, instrument)),
        )

    def _intervals(self, source: d.SourceRecord, instrument: str, points: d.Points) -> list[File]:
        """Time-resolved spectra: one per S/N-driven interval of the mission light curve."""
        arf_name, rmf_name = self._response_names(source, instrument)
        files = []
        for interval in simulate.snr_intervals(*points.rows()):
            scope = f"interval{interval.index:02d}"
            data = d.spectrum_data(
                source, instrument, scope, points.take(np.isin(points.scws, interval.scws))
            )
            extra = {
                "INTERVAL": (interval.index, "time-resolved spectrum: interval number"),
                "SNR": (round(interval.snr, 3), "S/N of the interval's light curve"),
            }
            files.append(
                (
                    f"{d.file_stem(source.name)}_{_inst(instrument)}_{scope}_spectrum_spe.fits",
                    self._spectrum_file(data, (arf_name, rmf_name), extra),
                )
            )
        return files

    def _epoch_files(
        self, source: d.SourceRecord, instrument: str, epoch: d.EpochRecord, points: d.Points
    ) -> list[File]:
        """Epoch spectrum and sub-ScW time series of a source detected in ``epoch``."""
        seen = points.take(np.isin(points.scws, [p.scw_id for p in epoch.pointings]))
        if not len(seen) or seen.significance.max() < _SIGMA:
            return []
        band = self.band(instrument)
        stem = f"{d.file_stem(source.name)}_{_inst(instrument)}_{epoch.epoch}"
        files = []
        if ("spectrum", instrument, epoch.epoch, source.source_id) not in REAL_PRODUCTS:
            data = d.spectrum_data(source, instrument, epoch.epoch, seen, epoch.revolution)
            arf_name, rmf_name = self._response_names(source, instrument)
            files.append(
                (f"{stem}_spectrum_spe.fits", self._spectrum_file(data, (arf_name, rmf_name)))
            )
        rows, scws = seen.rows()
        width = _fast_bin(rows)
        if width:
            lc = simulate.fast_lightcurve(
                rows, scws, bin_s=width, key=f"{source.source_id}/{band.band_id}"
            )
            if len(lc.time):
                files.append(
                    (
                        f"{stem}_{band.name}_timeseries.fits",
                        ogip.timeseries_fits(
                            lc,
                            instrument=instrument,
                            band=(band.e_min, band.e_max),
                            target=source.target,
                            prov=_prov(scws, kind="short_timeseries"),
                            revolutions=(epoch.revolution, epoch.revolution),
                        ),
                    )
                )
        return files

    def _omc(self, conn: Connection, source: d.SourceRecord) -> list[File]:
        """OMC light curve and the image of the ScW with the most OMC exposure."""
        points = conn.execute(
            text(
                "SELECT scw_id, revolution, time_ijd, exposure, magnitude, magnitude_err "
                "FROM isla.omc_points WHERE source_id = :s ORDER BY scw_id"
            ),
            {"s": source.source_id},
        ).all()
        if not points:
            return []
        stem = d.file_stem(source.name)
        t = np.array([p[2] for p in points])
        files = [
            (
                f"{stem}_OMC_allmission_lightcurve.fits",
                ogip.omc_lightcurve_fits(
                    t,
                    np.array([p[4] for p in points]),
                    np.array([p[5] for p in points]),
                    np.array([p[3] for p in points]),
                    target=source.target,
                    prov=_prov([p[0] for p in points], kind="omc_lightcurve"),
                ),
            )
        ]
        best = max(points, key=lambda p: float(p[3]))
        obsid = conn.execute(
            text("SELECT obsid FROM isla.science_windows WHERE scw_id = :s"), {"s": best[0]}
        ).scalar()
        if obsid:
            epoch = f"{int(best[1]):04d}_{obsid}"
            image, wcs = simulate.omc_image(
                source.ra, source.dec, v_magnitude(source.source_id), source.source_id
            )
            body = ogip.omc_image_fits(
                image, wcs, target=source.target, prov=_prov([best[0]], kind="omc_image")
            )
            # The stamp is of one science window: its time, for the archive's time columns.
            half = float(best[3]) / 2 / 86400.0
            body = _with_keywords(
                body,
                "IMAGE",
                {
                    "TIMESYS": ("TT", "time scale"),
                    "TIMEUNIT": ("d", "unit of TSTART, TSTOP"),
                    "MJDREF": (51544.0, "reference MJD (IJD 0)"),
                    "TSTART": (float(best[2]) - half, "[d] IJD"),
                    "TSTOP": (float(best[2]) + half, "[d] IJD"),
                },
            )
            files.append((f"{stem}_OMC_{epoch}_image.fits", body))
        return files

    # --- per epoch ------------------------------------------------------------------------------

    def mosaics(self, epoch: d.EpochRecord, candidates: list[str], tally: _Tally) -> None:
        """The epoch's mosaics in every band of the instruments that exposed it, with the
        sources among ``candidates`` (those with points) seen in each."""
        files = []
        with self._conn() as conn:
            for (instrument, band_name), band in sorted(self.bands.items()):
                if band_name not in model.BANDS.get(instrument, {}):
                    continue
                if ("mosaic", instrument, epoch.epoch, band_name) in REAL_PRODUCTS:
                    continue
                exposed = epoch.exposed(instrument)
                if not exposed:
                    continue
                data = d.fetch_mosaic(conn, epoch.epoch, band, candidates)
                image = simulate.mosaic(
                    instrument,
                    band_name,
                    centre=(epoch.ra, epoch.dec),
                    pointings=[
                        simulate.Pointing(p.ra, p.dec, p.exposure(instrument)) for p in exposed
                    ],
                    sources=data.sources,
                    key=f"{epoch.epoch}/{instrument}/{band_name}",
                    tstart=epoch.start,
                    tstop=epoch.stop,
                )
                files.append(
                    (
                        f"{_inst(instrument)}_{epoch.epoch}_{band_name}_mosaic.fits",
                        ogip.mosaic_fits(
                            image,
                            instrument=instrument,
                            band=(band.e_min, band.e_max),
                            prov=_prov([p.scw_id for p in exposed], kind="mosaic"),
                            epoch=epoch.epoch,
                        ),
                    )
                )
        if files:
            tally.add(self.deliver(files))


def _response_files(instrument: str) -> tuple[str, str]:
    """File names of an instrument's (ARF, RMF)."""
    return f"{_inst(instrument)}_arf.fits", f"{_inst(instrument)}_rmf.fits"


@cache
def _responses(instrument: str) -> tuple[bytes, bytes]:
    """The instrument's (ARF, RMF) files: the demo models on-axis responses, the same for
    every source, so they are built once and delivered with each source's spectra."""
    energies = model.energy_grid(instrument)
    arf = ogip.arf_fits(
        instrument, energies, model.effective_area(instrument), _prov([], 0, kind="arf")
    )
    rmf = ogip.rmf_fits(
        instrument,
        energies,
        model.channel_grid(instrument),
        model.redistribution(instrument),
        _prov([], 0, kind="rmf"),
    )
    return arf, rmf


def _with_keywords(body: bytes, extname: str, cards: dict[str, tuple[Any, str]]) -> bytes:
    """``body`` with keywords added to extension ``extname`` (checksums recomputed)."""
    import io

    from astropy.io import fits

    with fits.open(io.BytesIO(body)) as hdul:
        for key, value in cards.items():
            hdul[extname].header[key] = value
        when = PRODUCT_DATE.strftime("%Y-%m-%dT%H:%M:%S")
        for hdu in hdul:
            hdu.add_checksum(when=when)
        out = io.BytesIO()
        hdul.writeto(out, output_verify="exception")
    return out.getvalue()


def _fast_bin(rows: list[tuple[Any, ...]]) -> float:
    """Bin width of a sub-ScW light curve: short enough to resolve the science windows, long
    enough for an S/N of about 5 per bin where the source is detected."""
    good = [r for r in rows if float(r[5]) >= simulate.FAST_MIN_SIGNIFICANCE]
    if not good:
        return 0.0
    duration = float(np.median([float(r[1]) for r in good]))
    snr = float(np.median([float(r[5]) for r in good]))
    width = duration * (simulate.FAST_MIN_SIGNIFICANCE / snr) ** 2
    return float(np.clip(round(width, -1), 60.0, duration / 4))


def choose_epochs(conn: Connection, bright: set[str], band_id: int) -> list[str]:
    """The epochs that get epoch products: :data:`FIXED_EPOCHS`, then, up to
    :data:`MAX_EPOCHS` in all, one by one the epoch where the most bright sources with fewer
    than :data:`EPOCHS_PER_SOURCE` + 1 chosen epochs are detected in ``band_id`` (ties: the
    highest summed S/N), so that as many source pages as possible get several epochs."""
    rows = conn.execute(
        text(
            "SELECT p.source_id, w.revolution, w.obsid, "
            "sqrt(sum(greatest(p.significance, 0) ^ 2)) AS snr "
            "FROM isla.lightcurve_points p JOIN isla.science_windows w ON w.scw_id = p.scw_id "
            "WHERE p.band_id = :b AND p.source_id = ANY(:ids) AND w.obsid IS NOT NULL "
            "GROUP BY p.source_id, w.revolution, w.obsid HAVING max(p.significance) >= :sig"
        ),
        {"b": band_id, "ids": sorted(bright), "sig": _SIGMA},
    ).all()
    seen: dict[str, dict[str, float]] = {}
    for source_id, revolution, obsid, snr in rows:
        seen.setdefault(f"{int(revolution):04d}_{obsid}", {})[source_id] = float(snr)
    chosen = list(FIXED_EPOCHS)
    count: dict[str, int] = {}
    for epoch in chosen:
        for source_id in seen.get(epoch, {}):
            count[source_id] = count.get(source_id, 0) + 1
    while len(chosen) < MAX_EPOCHS:
        best = max(
            (e for e in sorted(seen) if e not in chosen),
            key=lambda e: (
                sum(1 for s in seen[e] if count.get(s, 0) <= EPOCHS_PER_SOURCE),
                sum(seen[e].values()),
            ),
            default=None,
        )
        if best is None:
            break
        chosen.append(best)
        for source_id in seen[best]:
            count[source_id] = count.get(source_id, 0) + 1
    return chosen


def deliver_products(engine: Engine, deliver: Deliver, bright: set[str], say: Progress) -> int:
    """Make the demo's product files and hand them to ``deliver`` (ingestion, as
    :data:`DEMO_TEAM`); return how many files were delivered. Every source with light-curve
    points gets its products; the ``bright`` sources choose the epochs with epoch products.
    Runs on committed data (ingestion uses its own connections)."""
    pipeline = _Pipeline(engine, deliver)
    with engine.connect() as conn:
        ids = d.sources_with_points(conn)
        sources = [s for s in (d.fetch_source(conn, i) for i in ids) if s is not None]
        epochs = []
        for epoch_id in choose_epochs(conn, bright, pipeline.band("ISGRI").band_id):
            try:
                epochs.append(d.fetch_epoch(conn, epoch_id))
            except d.NotFound:
                continue
    say(f"products: {len(sources)} sources with points, {len(epochs)} epochs with mosaics")
    tally = _Tally()
    pipeline.responses()
    tally.files += 2 * len(pipeline.response_ids)
    rounds = [sources[i : i + SOURCES_PER_ROUND] for i in range(0, len(sources), SOURCES_PER_ROUND)]
    with ThreadPoolExecutor(THREADS, thread_name_prefix="isla-demo-products") as pool:
        jobs = [pool.submit(pipeline.mosaics, epoch, ids, tally) for epoch in epochs]
        jobs += [pool.submit(pipeline.sources, chunk, epochs, tally) for chunk in rounds]
        for done, job in enumerate(jobs, 1):
            job.result()
            if done % 25 == 0:
                say(f"products: {done}/{len(jobs)} rounds, {tally.files} files")
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(tally.by_kind.items()))
    say(f"products: {tally.files} files delivered through ingestion ({kinds})")
    return tally.files


__all__ = [
    "DEMO_TEAM",
    "DEMO_TEAM_DESCRIPTION",
    "FIXED_EPOCHS",
    "REAL_PRODUCTS",
    "choose_epochs",
    "deliver_products",
]
