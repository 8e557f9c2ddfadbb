"""Policy of the light-curve room.

Per-ScW light curves are the stored points; revolution and >= 1 h bins are exposure-weighted
means of them computed by Postgres; bins shorter than a science window exist only where a
sub-ScW time series (``short_timeseries``) is stored, and are its bins, joined when the asked
width is a multiple of the stored one. Nothing is drawn or modelled: every format is a
conversion of the same stored numbers.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from services.products.common import (
    MEDIA,
    BadRequest,
    Band,
    NotFound,
    SourceRecord,
    columns_meta,
    disposition,
    file_stem,
    fits_response,
    meta_of,
    normalise_instrument,
    result_writer,
    run_db,
    simulated_of,
    table_response,
    view_provenance,
)
from services.products.files.service import read_product
from services.products.lightcurves import store
from services.products.sources.service import source_or_404
from services.products.sources.store import fetch_bands
from shared.integral.time import MJDREF, ijd_to_utc
from shared.products import ogip, readers, views
from shared.products.bands import DETECTION_SIGMA, MIN_BIN_S, SUB_SCW_LIMIT_S
from shared.service import ServiceContext
from shared.vo.results import ResultField, VOTableWriter
from shared.vo.types import VOType

STREAM_BATCH = 5_000

LC_FIELDS = [
    ResultField(
        "time", VOType("double"), "d", "time.epoch", None, "Bin centre, IJD (MJD - 51544), TT."
    ),
    ResultField("time_mjd", VOType("double"), "d", "time.epoch", None, "Bin centre, MJD (TT)."),
    ResultField("timedel", VOType("double"), "s", "time.interval", None, "Bin width."),
    ResultField("rate", VOType("double"), "ct/s", "phot.count", None, "Source count rate."),
    ResultField(
        "rate_err", VOType("double"), "ct/s", "stat.error;phot.count", None, "1-sigma error."
    ),
    ResultField("exposure", VOType("double"), "s", "time.duration;obs.exposure", None, "Exposure."),
    ResultField(
        "fracexp",
        VOType("double"),
        None,
        "time.duration;arith.ratio",
        None,
        "Exposure / bin width.",
    ),
    ResultField("significance", VOType("double"), None, "stat.snr", None, "rate / rate_err."),
    ResultField(
        "upper_limit",
        VOType("boolean"),
        None,
        "meta.code;stat.max",
        None,
        "Not detected (< 3 sigma): use rate_ul.",
    ),
    ResultField(
        "rate_ul",
        VOType("double"),
        "ct/s",
        "phot.count;stat.max",
        None,
        "3-sigma upper limit when not detected.",
    ),
    ResultField("nscw", VOType("int"), None, "meta.number", None, "Science windows in the bin."),
    ResultField(
        "bin", VOType("char", "*"), None, "meta.id", None, "ScW id, revolution or bin number."
    ),
]
OMC_FIELDS = [
    ResultField("time", VOType("double"), "d", "time.epoch", None, "ScW centre, IJD (TT)."),
    ResultField("time_mjd", VOType("double"), "d", "time.epoch", None, "ScW centre, MJD (TT)."),
    ResultField("magnitude", VOType("double"), "mag", "phot.mag;em.opt.V", None, "Johnson V."),
    ResultField(
        "magnitude_err", VOType("double"), "mag", "stat.error;phot.mag", None, "1-sigma error."
    ),
    ResultField("exposure", VOType("double"), "s", "time.duration;obs.exposure", None, "Exposure."),
    ResultField("bin", VOType("char", "*"), None, "meta.id", None, "ScW id."),
]
SERIES_FIELDS = [
    ResultField("time", VOType("double"), "d", "time.epoch", None, "Bin centre, IJD (TT)."),
    ResultField("time_mjd", VOType("double"), "d", "time.epoch", None, "Bin centre, MJD (TT)."),
    ResultField("timedel", VOType("double"), "s", "time.interval", None, "Bin width (if given)."),
    ResultField("rate", VOType("double"), "ct/s", "phot.count", None, "RATE of the file."),
    ResultField("error", VOType("double"), "ct/s", "stat.error;phot.count", None, "ERROR."),
    ResultField("fracexp", VOType("double"), None, "time.duration;arith.ratio", None, "FRACEXP."),
]
"""Columns of the table view of a stored time-series file (``/products/files/...?format=``)."""


@dataclass(frozen=True)
class Binning:
    """How a light curve is binned: per ScW, per revolution, or in bins of ``seconds``."""

    kind: str
    seconds: float = 0.0

    @property
    def is_sub_scw(self) -> bool:
        """Bins shorter than an hour split science windows: served from stored series only."""
        return self.kind == "seconds" and self.seconds < SUB_SCW_LIMIT_S

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
    if not math.isfinite(seconds) or seconds < MIN_BIN_S:
        raise BadRequest(f"binning {value!r}: a bin must be at least {MIN_BIN_S:g} s long")
    return Binning("seconds", seconds)


def lightcurve_rows(lc: ogip.LightCurve, keys: list[str] | None = None) -> list[tuple[Any, ...]]:
    """Rows of :data:`LC_FIELDS` from a light curve, converted column by column (rounded to
    well below the errors, as the streamed answers are)."""
    ul = np.round(lc.rate_ul, 6)
    columns = (
        np.round(lc.time, 8).tolist(),
        np.round(lc.time + MJDREF, 8).tolist(),
        np.round(lc.timedel * 86400.0, 3).tolist(),
        np.round(lc.rate, 6).tolist(),
        np.round(lc.error, 6).tolist(),
        np.round(lc.exposure, 3).tolist(),
        np.round(lc.fracexp, 5).tolist(),
        [None if v != v else v for v in np.round(lc.significance, 3).tolist()],
        lc.upper_limit.tolist(),
        [None if v != v else v for v in ul.tolist()],  # NaN (detected) is JSON null
        lc.nscw.tolist(),
        keys if keys is not None else [str(k) for k in range(len(lc.time))],
    )
    return list(zip(*columns, strict=True))


async def _rows_stream(
    ctx: ServiceContext,
    kind: str,
    params: dict[str, Any],
    fmt: str,
    fields: list[ResultField],
    info: dict[str, Any],
) -> AsyncIterator[bytes]:
    """Stream light-curve rows as JSON, CSV or VOTable, batch by batch."""
    batches = store.stream_batches(ctx.require_engine(), kind, params, STREAM_BATCH)
    if fmt == "json":
        yield orjson.dumps({**info, "columns": columns_meta(fields)})[:-1] + b', "data": ['
        first = True
        async for batch in batches:
            body = orjson.dumps(batch)[1:-1]
            if body:
                yield body if first else b"," + body
                first = False
        yield b"]}"
        return
    writer = result_writer(fmt, fields)
    yield writer.head()
    async for batch in batches:
        yield writer.rows(batch)
    yield writer.tail(False)


def _name(source: SourceRecord, instrument: str, band: str, binning: str, ext: str) -> str:
    return f"{file_stem(source.name)}_{instrument.replace('-', '')}_{band}_{binning}_lc.{ext}"


# --- light curves of stored points -------------------------------------------------------------


async def points_lightcurve(
    ctx: ServiceContext,
    source: SourceRecord,
    band: Band,
    binning: Binning,
    t0: float,
    t1: float,
    fmt: str,
    info: dict[str, Any],
) -> Response:
    """Per-ScW or binned (revolution, >= 1 h) light curve of the stored points; ``simulated``
    says whether any of them is (the demo archive's)."""
    name = _name(source, band.instrument, band.name, binning.label, fmt)
    if fmt != "fits":
        simulated = await run_db(
            ctx, store.points_simulated, source.source_id, band.band_id, t0, t1
        )
        info = {**info, "simulated": simulated}
        params: dict[str, Any] = {"s": source.source_id, "b": band.band_id, "t0": t0, "t1": t1}
        if binning.kind == "seconds":
            params["w"] = binning.seconds
        stream = _rows_stream(ctx, binning.kind, params, fmt, LC_FIELDS, info)
        media = MEDIA[fmt] if fmt != "votable" else VOTableWriter(LC_FIELDS).media_type
        return StreamingResponse(stream, media_type=media, headers=disposition(name))
    data, _ = await points_fits(ctx, source, band, binning, t0, t1)
    return fits_response(data, name)


async def points_fits(
    ctx: ServiceContext, source: SourceRecord, band: Band, binning: Binning, t0: float, t1: float
) -> tuple[bytes, int]:
    """The OGIP FITS light curve of the stored points (per ScW or binned), and its rows."""
    rows, keys = await run_db(
        ctx, store.points, source.source_id, band.band_id, binning.kind, binning.seconds, t0, t1
    )
    simulated = await run_db(ctx, store.points_simulated, source.source_id, band.band_id, t0, t1)
    lc = views.lightcurve_from_rows(rows)
    prov = (
        view_provenance(keys, None, simulated)
        if binning.kind == "scw"
        else view_provenance([], sum(int(r[8]) for r in rows), simulated)
    )
    data = await run_in_threadpool(
        lambda: ogip.lightcurve_fits(
            lc,
            instrument=band.instrument,
            band=(band.e_min, band.e_max),
            target=source.target,
            prov=prov,
            binning=binning.label,
        )
    )
    return data, len(rows)


async def scw_points_fits(
    ctx: ServiceContext, source_id: str, instrument: str, band_name: str, t0: float, t1: float
) -> bytes | None:
    """The per-ScW FITS light curve of a source's stored points in a band and time range, or
    None when the archive holds no such points (for ISLA retrievals without a stored file)."""
    try:
        inst = normalise_instrument(instrument)
    except NotFound:
        return None
    source = await run_db(ctx, source_or_404, source_id)
    band = (await run_db(ctx, fetch_bands)).get((inst, band_name))
    if band is None:
        return None
    data, rows = await points_fits(ctx, source, band, Binning("scw"), t0, t1)
    return data if rows else None


# --- sub-ScW light curves: stored series only ---------------------------------------------------


def _series_entry(row: Any) -> dict[str, Any]:
    return {
        "product_id": row.product_id,
        "epoch": row.epoch,
        "instrument": row.instrument,
        "band": row.band,
        "bin_s": meta_of(row).get("bin_s"),
        "start_mjd": row.t_min,
        "stop_mjd": row.t_max,
    }


async def sub_scw_lightcurve(
    ctx: ServiceContext,
    source: SourceRecord,
    band: Band,
    binning: Binning,
    t0: float,
    t1: float,
    fmt: str,
    info: dict[str, Any],
) -> Response:
    """Bins shorter than an hour, from the stored sub-ScW time series that overlap [t0, t1)."""
    everything = await run_db(ctx, store.short_series, source.source_id, band.instrument)
    stored = [r for r in everything if r.band == band.name]
    if not stored:
        raise NotFound(
            f"no sub-ScW time series of {source.source_id} in {band.instrument} {band.name} is "
            f"stored; bins shorter than {SUB_SCW_LIMIT_S:g} s are served only from stored ones",
            {
                "short_timeseries": [_series_entry(r) for r in everything],
                "binnings": ["scw", "revolution", f">= {SUB_SCW_LIMIT_S:g} s"],
            },
        )
    lo, hi = t0 + MJDREF, t1 + MJDREF
    chosen = [
        r for r in stored if r.t_max is None or r.t_min is None or (r.t_max >= lo and r.t_min < hi)
    ]
    if not chosen:
        raise NotFound(
            f"no stored sub-ScW time series of {source.source_id} overlaps the time range",
            {"short_timeseries": [_series_entry(r) for r in stored]},
        )
    object_store = ctx.require_store()
    series = []
    for row in chosen:
        data = await read_product(object_store, row)
        table = await run_in_threadpool(readers.read_timeseries, data)
        width = views.stored_width_s(table, meta_of(row).get("bin_s"))
        series.append((row, table, width))
    widths = sorted({w for _, _, w in series})
    factors = [views.multiple_of(binning.seconds, w) for _, _, w in series]
    if any(f is None for f in factors):
        raise BadRequest(
            f"binning {binning.label} s is not a multiple of the stored bin width "
            f"({', '.join(f'{w:g}' for w in widths)} s); ask for a multiple of it, e.g. "
            + ", ".join(f"{w * k:g}" for w in widths for k in (1, 2, 5))
        )
    parts = [
        views.rebin(table, width, int(factor or 1), t0, t1)
        for (_, table, width), factor in zip(series, factors, strict=True)
    ]
    lc = _concat(parts)
    name = _name(source, band.instrument, band.name, binning.label, fmt)
    sources = [r.product_id for r, _, _ in series]
    simulated = any(simulated_of(r) for r, _, _ in series)
    info = {**info, "from_products": sources, "simulated": simulated}
    if fmt == "fits":
        nscw = sum(int(meta_of(r).get("nscw") or 0) for r, _, _ in series) or None
        prov = view_provenance([], nscw, simulated)
        data = await run_in_threadpool(
            lambda: ogip.lightcurve_fits(
                lc,
                instrument=band.instrument,
                band=(band.e_min, band.e_max),
                target=source.target,
                prov=prov,
                binning=binning.label,
            )
        )
        return fits_response(data, name)
    return table_response(fmt, LC_FIELDS, lightcurve_rows(lc), info, disposition(name))


def _concat(parts: list[ogip.LightCurve]) -> ogip.LightCurve:
    if len(parts) == 1:
        return parts[0]
    joined = ogip.LightCurve(*(np.concatenate([getattr(p, f) for p in parts]) for f in _LC_COLUMNS))
    order = np.argsort(joined.time, kind="stable")
    return ogip.LightCurve(*(getattr(joined, f)[order] for f in _LC_COLUMNS))


_LC_COLUMNS = (
    "time",
    "timedel",
    "rate",
    "error",
    "exposure",
    "significance",
    "upper_limit",
    "rate_ul",
    "nscw",
)


# --- OMC ------------------------------------------------------------------------------------------


async def omc_lightcurve(
    ctx: ServiceContext, source: SourceRecord, t0: float, t1: float, fmt: str
) -> Response:
    """The source's stored OMC points (V magnitudes per science window)."""
    rows = await run_db(ctx, store.omc_rows, source.source_id, t0, t1)
    if not rows and not source.detected.get("OMC"):
        raise NotFound(
            f"{source.source_id} has no optical counterpart with OMC data",
            {"instruments": ["ISGRI", "JEM-X"]},
        )
    simulated = await run_db(ctx, store.points_simulated, source.source_id, None, t0, t1)
    if fmt == "fits":
        arr = np.array([r[:5] for r in rows], dtype=np.float64).reshape(-1, 5)
        data = await run_in_threadpool(
            lambda: ogip.omc_lightcurve_fits(
                arr[:, 0],
                arr[:, 2],
                arr[:, 3],
                arr[:, 4],
                target=source.target,
                prov=view_provenance([r[5] for r in rows], None, simulated),
            )
        )
        return fits_response(data, f"{file_stem(source.name)}_OMC_lc.fits")
    info = {
        "source_id": source.source_id,
        "instrument": "OMC",
        "band": "V",
        "binning": "scw",
        "simulated": simulated,
    }
    return table_response(fmt, OMC_FIELDS, [tuple(r) for r in rows], info)


# --- table views of stored time-series files ---------------------------------------------------


def series_rows(table: readers.TimeSeriesTable) -> list[tuple[Any, ...]]:
    """Rows of :data:`SERIES_FIELDS` from a stored time series (the file's numbers, unrounded)."""
    return [
        (
            float(t),
            float(t) + MJDREF,
            None if not math.isfinite(d) else float(d) * 86400.0,
            None if not math.isfinite(r) else float(r),
            None if not math.isfinite(e) else float(e),
            None if not math.isfinite(f) else float(f),
        )
        for t, d, r, e, f in zip(
            table.time, table.timedel, table.rate, table.error, table.fracexp, strict=True
        )
    ]


def series_info(row: Any, table: readers.TimeSeriesTable) -> dict[str, Any]:
    """The header of a time-series table view."""
    return {
        "product_id": row.product_id,
        "kind": row.kind,
        "source_id": row.source_id,
        "instrument": row.instrument,
        "detector": table.detector,
        "e_min": table.e_min,
        "e_max": table.e_max,
        "epoch": row.epoch,
        "simulated": simulated_of(row),
        "first": ijd_to_utc(float(table.time.min())).isoformat() if len(table.time) else None,
        "last": ijd_to_utc(float(table.time.max())).isoformat() if len(table.time) else None,
        "upper_limit_sigma": DETECTION_SIGMA,
    }
