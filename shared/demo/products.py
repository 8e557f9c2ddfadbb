"""Product files of the demo archive, stored in the products bucket and listed in
``isla.products``.

Only a bounded set is written as files, so that loading stays fast at every scale: for each
bright named source its all-mission time series (``long_timeseries``) and mission-average
spectra; for the fixed demo epochs (``0727_88601650001`` on the Crab, ``0745_06340000001`` on
SMC X-1) the epoch spectra, sub-ScW time series (``short_timeseries``) and mosaics of every
light-curve band with PNG previews; time-resolved spectra of the Crab and SMC X-1; the
instruments' ARF and RMF; OMC light curves and 11x11-pixel images of the bright sources with
an optical counterpart. Everything else the products service computes on request from the
same light-curve points, with the same code (:mod:`shared.products.builders`).

The files the archive ingests from ISLA itself (astroquery's test data: the SMC X-1 ISGRI
spectrum of epoch 0745_06340000001, the JEM-X all-mission time series of 1A 1742-289 and the
ISGRI 28-40 keV mosaic of epoch 0727_88601650001) are not generated here: see
:data:`REAL_PRODUCTS`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import Connection, text

from shared.demo import legacy_model as b
from shared.demo import legacy_model as compute
from shared.demo import legacy_model as model
from shared.demo.lightcurves import v_magnitude
from shared.integral.time import MJDREF
from shared.products import ogip
from shared.storage import ObjectStore

Progress = Callable[[str], None]

FIXED_EPOCHS = ("0727_88601650001", "0745_06340000001")
"""Epochs whose per-epoch products are stored as files."""

PRODUCT_DATE = datetime(2025, 3, 1, tzinfo=UTC)
"""DATE of the demo's product files: fixed, so that they are reproducible byte for byte."""

REAL_PRODUCTS = frozenset(
    {
        ("spectrum", "ISGRI", "0745_06340000001", "J011705.1-732636"),
        ("long_timeseries", "JEM-X", "mission", "J174537.0-290107"),
        ("mosaic", "ISGRI", "0727_88601650001", "28_40"),
    }
)
"""(kind, instrument, scope, source or band) of the real ISLA products ingested separately."""

TIME_RESOLVED = ("Crab", "SMC X-1")
"""Bright sources whose time-resolved ISGRI spectra are stored as files."""
STORED_INTERVALS = 10
"""Time-resolved spectra stored per source (the service computes the others on request)."""

_COLUMNS = (
    "product_id",
    "kind",
    "instrument",
    "band_id",
    "source_id",
    "epoch",
    "revolution",
    "obsid",
    "t_min",
    "t_max",
    "bucket",
    "object_key",
    "file_name",
    "size",
    "sha256",
    "content_type",
    "meta",
)


@dataclass
class _Pending:
    row: dict[str, Any]
    job: Future[Any]


class _Writer:
    """Uploads files in a thread pool and collects their ``isla.products`` rows."""

    def __init__(self, store: ObjectStore, pool: ThreadPoolExecutor) -> None:
        self.store = store
        self.pool = pool
        self.pending: list[_Pending] = []

    def add(
        self,
        pid: str,
        kind: str,
        instrument: str,
        file_name: str,
        data: bytes,
        *,
        content_type: str = "application/fits",
        band_id: int | None = None,
        source_id: str | None = None,
        epoch: str | None = None,
        t_range: tuple[float, float] | None = None,
        meta: dict[str, Any] | None = None,
    ) -> str:
        key = f"products/{pid}/{file_name}"
        revolution = int(epoch[:4]) if epoch else None
        obsid = epoch[5:] if epoch else None
        row = {
            "product_id": pid,
            "kind": kind,
            "instrument": instrument,
            "band_id": band_id,
            "source_id": source_id,
            "epoch": epoch,
            "revolution": revolution,
            "obsid": obsid,
            "t_min": None if t_range is None else t_range[0] + MJDREF,
            "t_max": None if t_range is None else t_range[1] + MJDREF,
            "bucket": self.store.products_bucket,
            "object_key": key,
            "file_name": file_name,
            "content_type": content_type,
            "meta": meta or {},
        }
        job = self.pool.submit(
            self.store.put_bytes, self.store.products_bucket, key, data, content_type
        )
        self.pending.append(_Pending(row, job))
        return pid

    def preview(self, of: str, image: Any, **kwargs: Any) -> None:
        self.add(
            f"preview/{of}",
            "preview",
            kwargs.pop("instrument"),
            "preview.png",
            compute.png(image),
            content_type="image/png",
            meta={"of": of},
            **kwargs,
        )

    def rows(self) -> list[tuple[Any, ...]]:
        out = []
        for item in self.pending:
            stored = item.job.result()
            row = {**item.row, "size": stored.size, "sha256": stored.sha256}
            row["meta"] = json.dumps(row["meta"], sort_keys=True)
            out.append(tuple(row[c] for c in _COLUMNS))
        return out


def _responses(w: _Writer) -> dict[str, tuple[str, str]]:
    """The ARF and RMF of each instrument; returns their product ids (arf, rmf)."""
    prov = b.provenance([], PRODUCT_DATE)
    ids = {}
    for instrument in model.INSTRUMENTS:
        rmf_name, arf_name = b.response_names(instrument)
        arf = w.add(
            b.product_id("arf", instrument, b.RESPONSE_SCOPE),
            "arf",
            instrument,
            arf_name,
            ogip.arf_fits(instrument, prov),
        )
        rmf = w.add(
            b.product_id("rmf", instrument, b.RESPONSE_SCOPE),
            "rmf",
            instrument,
            rmf_name,
            ogip.rmf_fits(instrument, prov),
        )
        ids[instrument] = (arf, rmf)
    return ids


def _spectrum(
    w: _Writer,
    data: b.SpectrumData,
    responses: dict[str, tuple[str, str]],
    scope_kind: str,
    epoch: str | None = None,
) -> None:
    source = data.source
    if (("spectrum", data.instrument, data.scope, source.source_id)) in REAL_PRODUCTS:
        return
    arf, rmf = responses[data.instrument]
    inst = data.instrument.replace("-", "")
    name = f"{b.file_stem(source.name)}_{inst}_{data.scope}_spectrum_spe.fits"
    w.add(
        b.product_id("spectrum", data.instrument, data.scope, source.source_id),
        "spectrum",
        data.instrument,
        name,
        b.spectrum_file(data, PRODUCT_DATE),
        source_id=source.source_id,
        epoch=epoch,
        t_range=(data.tstart, data.tstop),
        meta={"arf": arf, "rmf": rmf, "scope": scope_kind, "nscw": len(data.scws)},
    )


def _fast_bin(rows: list[tuple[Any, ...]]) -> float:
    """Bin width of a sub-ScW light curve: short enough to resolve the science windows, long
    enough for an S/N of about 5 per bin where the source is detected."""
    good = [r for r in rows if float(r[5]) >= compute.FAST_MIN_SIGNIFICANCE]
    if not good:
        return 0.0
    duration = float(np.median([float(r[1]) for r in good]))
    snr = float(np.median([float(r[5]) for r in good]))
    width = duration * (compute.FAST_MIN_SIGNIFICANCE / snr) ** 2
    return float(np.clip(round(width, -1), 60.0, duration / 4))


def _source_products(
    conn: Connection,
    w: _Writer,
    source: b.SourceRecord,
    bands: dict[tuple[str, str], b.Band],
    responses: dict[str, tuple[str, str]],
) -> None:
    for instrument in model.INSTRUMENTS:
        band = bands[(instrument, model.DEFAULT_BAND[instrument])]
        rows, keys = b.fetch_lightcurve(conn, source.source_id, band, b.Binning("scw"), -1e9, 1e9)
        if not rows:
            continue
        lc = b.build_lightcurve(rows, keys, b.Binning("scw"), source.source_id)
        if ("long_timeseries", instrument, "mission", source.source_id) not in REAL_PRODUCTS:
            revs = (int(keys[0][:4]), int(keys[-1][:4]))
            w.add(
                b.product_id("long_timeseries", instrument, "mission", source.source_id),
                "long_timeseries",
                instrument,
                f"{b.file_stem(source.name)}_{instrument.replace('-', '')}"
                "_allmission_timeseries.fits",
                ogip.timeseries_fits(
                    lc,
                    instrument=instrument,
                    band=(band.e_min, band.e_max),
                    target=source.target,
                    prov=b.provenance(keys, PRODUCT_DATE),
                    revolutions=revs,
                ),
                band_id=band.band_id,
                source_id=source.source_id,
                t_range=(float(lc.time[0]), float(lc.time[-1])),
                meta={"nscw": len(keys), "bins": len(keys)},
            )
        data = b.fetch_spectrum(conn, source, instrument, "mission", bands)
        _spectrum(w, data, responses, "mission")
        if source.name in TIME_RESOLVED and instrument == "ISGRI":
            for interval in b.fetch_intervals(conn, source, instrument, bands)[:STORED_INTERVALS]:
                scope = f"interval{interval.index:02d}"
                data = b.fetch_spectrum(conn, source, instrument, scope, bands)
                _spectrum(w, data, responses, "time_resolved")


def _epoch_products(
    conn: Connection,
    w: _Writer,
    epoch: b.EpochRecord,
    bright: set[str],
    bands: dict[tuple[str, str], b.Band],
    responses: dict[str, tuple[str, str]],
) -> None:
    t0, t1 = epoch.start, epoch.stop
    for instrument in model.INSTRUMENTS:
        band = bands[(instrument, model.DEFAULT_BAND[instrument])]
        seen = conn.execute(
            text(
                "SELECT DISTINCT source_id FROM isla.lightcurve_points "
                "WHERE band_id = :b AND time_ijd >= :t0 AND time_ijd < :t1 "
                "AND source_id = ANY(:ids) AND significance >= :sig ORDER BY source_id"
            ),
            {"b": band.band_id, "t0": t0, "t1": t1, "ids": sorted(bright), "sig": 3.0},
        ).all()
        for (source_id,) in seen:
            source = b.fetch_source(conn, source_id)
            assert source is not None
            data = b.fetch_spectrum(conn, source, instrument, epoch.epoch, bands)
            _spectrum(w, data, responses, "epoch", epoch.epoch)
            rows, keys = b.fetch_lightcurve(conn, source_id, band, b.Binning("scw"), t0, t1)
            width = _fast_bin(rows)
            if not width:
                continue
            binning = b.Binning("seconds", width)
            lc = b.build_lightcurve(rows, keys, binning, f"{source_id}/{band.band_id}")
            w.add(
                b.product_id("short_timeseries", instrument, epoch.epoch, source_id),
                "short_timeseries",
                instrument,
                f"{b.file_stem(source.name)}_{instrument.replace('-', '')}_{epoch.epoch}_"
                f"{band.name}_timeseries.fits",
                ogip.timeseries_fits(
                    lc,
                    instrument=instrument,
                    band=(band.e_min, band.e_max),
                    target=source.target,
                    prov=b.provenance(keys, PRODUCT_DATE),
                    revolutions=(epoch.revolution, epoch.revolution),
                ),
                band_id=band.band_id,
                source_id=source_id,
                epoch=epoch.epoch,
                t_range=(float(lc.time[0]), float(lc.time[-1])),
                meta={"bin_s": width, "nscw": len(keys), "bins": len(lc.time)},
            )
    for (instrument, band_name), band in sorted(bands.items()):
        if instrument not in model.INSTRUMENTS or band_name not in model.BANDS[instrument]:
            continue
        if ("mosaic", instrument, epoch.epoch, band_name) in REAL_PRODUCTS:
            continue
        if not epoch.exposed(instrument):
            continue
        mosaic = b.fetch_mosaic(conn, epoch.epoch, band)
        image = b.build_mosaic(mosaic)
        pid = b.product_id("mosaic", instrument, epoch.epoch, band_name)
        stem = f"{instrument.replace('-', '')}_{epoch.epoch}_{band_name}_mosaic"
        w.add(
            pid,
            "mosaic",
            instrument,
            f"{stem}.fits",
            b.mosaic_file(mosaic, image, PRODUCT_DATE),
            band_id=band.band_id,
            epoch=epoch.epoch,
            t_range=(image.tstart, image.tstop),
            meta={"nscw": len(epoch.exposed(instrument))},
        )
        w.preview(
            pid, image.significance, instrument=instrument, band_id=band.band_id, epoch=epoch.epoch
        )


def _omc_products(conn: Connection, w: _Writer, bright: set[str]) -> None:
    rows = conn.execute(
        text(
            "SELECT source_id, scw_id, revolution, time_ijd, exposure, magnitude, magnitude_err "
            "FROM isla.omc_points WHERE source_id = ANY(:ids) ORDER BY source_id, scw_id"
        ),
        {"ids": sorted(bright)},
    ).all()
    by_source: dict[str, list[Any]] = {}
    for row in rows:
        by_source.setdefault(row[0], []).append(row)
    for source_id, points in sorted(by_source.items()):
        source = b.fetch_source(conn, source_id)
        assert source is not None
        scws = [p[1] for p in points]
        t = np.array([p[3] for p in points])
        prov = b.provenance(scws, PRODUCT_DATE)
        stem = b.file_stem(source.name)
        w.add(
            b.product_id("omc_lightcurve", "OMC", "mission", source_id),
            "omc_lightcurve",
            "OMC",
            f"{stem}_OMC_allmission_lightcurve.fits",
            ogip.omc_lightcurve_fits(
                t,
                np.array([p[5] for p in points]),
                np.array([p[6] for p in points]),
                np.array([p[4] for p in points]),
                target=source.target,
                prov=prov,
            ),
            source_id=source_id,
            t_range=(float(t.min()), float(t.max())),
            meta={"nscw": len(points)},
        )
        # The image of the science window with the most OMC exposure on the source.
        best = max(points, key=lambda p: float(p[4]))
        obsid = conn.execute(
            text("SELECT obsid FROM isla.science_windows WHERE scw_id = :s"), {"s": best[1]}
        ).scalar()
        epoch = f"{int(best[2]):04d}_{obsid}"
        image, wcs = compute.omc_image(source.ra, source.dec, v_magnitude(source_id), source_id)
        pid = b.product_id("omc_image", "OMC", epoch, source_id)
        w.add(
            pid,
            "omc_image",
            "OMC",
            f"{stem}_OMC_{epoch}_image.fits",
            ogip.omc_image_fits(
                image, wcs, target=source.target, prov=b.provenance([best[1]], PRODUCT_DATE)
            ),
            source_id=source_id,
            epoch=epoch,
            t_range=(float(best[3]), float(best[3])),
            meta={"scw_id": best[1], "nscw": 1},
        )
        w.preview(pid, image, instrument="OMC", source_id=source_id, epoch=epoch)


def write_product_files(
    conn: Connection, store: ObjectStore, seed: int, bright: set[str], say: Progress
) -> int:
    """Build, upload and register the demo's product files; return how many were written."""
    del seed  # the products derive from the light-curve points, which carry the seed
    bands = b.fetch_bands(conn)
    with ThreadPoolExecutor(8, thread_name_prefix="isla-products") as pool:
        w = _Writer(store, pool)
        responses = _responses(w)
        for source_id in sorted(bright):
            source = b.fetch_source(conn, source_id)
            if source is not None:
                _source_products(conn, w, source, bands, responses)
        say(f"products: {len(w.pending)} source files")
        for epoch_id in FIXED_EPOCHS:
            try:
                epoch = b.fetch_epoch(conn, epoch_id)
            except b.NotFound:
                continue
            _epoch_products(conn, w, epoch, bright, bands, responses)
        _omc_products(conn, w, bright)
        rows = w.rows()
    raw: Any = conn.connection.driver_connection
    with (
        raw.cursor() as cursor,
        cursor.copy(f"COPY isla.products ({', '.join(_COLUMNS)}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)
    return len(rows)
