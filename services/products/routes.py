"""The native products API: light curves, spectra, responses, mosaics and source pages.

Routes live under ``/products``. Light curves come from ``isla.lightcurve_points`` (binned per
science window, per revolution or in bins of N seconds, exposure-weighted by Postgres; sub-ScW
bins for bright, detected science windows) as OGIP FITS, VOTable, CSV or JSON; per-ScW and
binned answers in the row formats are streamed from a server-side cursor, so a whole-mission
request never sits in memory. Spectra (OGIP PHA type I + ARF + RMF) and mosaics are served from
the products bucket when the archive holds them as files and computed from the same data
otherwise (:mod:`shared.products.builders`). Errors are problem documents naming what exists.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, TypeVar

import numpy as np
import orjson
from astropy.time import Time
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.concurrency import run_in_threadpool

from services.products.files import PRODUCT_COLUMNS, store_of, stream_product
from shared.integral.time import MJDREF, ijd_to_utc
from shared.products import builders as b
from shared.products import compute, model, ogip
from shared.service import ServiceContext, context
from shared.vo.results import DelimitedWriter, ResultField, VOTableWriter
from shared.vo.types import VOType

router = APIRouter(prefix="/products", tags=["products"])

T = TypeVar("T")

FORMATS = ("json", "csv", "votable", "fits")
FITS = "application/fits"
MAX_FAST_BINS = 50_000
"""Most sub-ScW bins one request may ask for (they are computed in memory)."""
STREAM_BATCH = 5_000

# The light-curve columns of the row formats, in order (the FITS file has its own layout).
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
SPECTRUM_FIELDS = [
    ResultField("channel", VOType("int"), None, "instr.channel", None, "PHA channel."),
    ResultField(
        "energy", VOType("double"), "keV", "em.energy", None, "Channel centre (geometric)."
    ),
    ResultField(
        "width", VOType("double"), "keV", "em.energy;instr.bandwidth", None, "Channel width."
    ),
    ResultField(
        "rate", VOType("double"), "ct/s", "phot.count", None, "Background-subtracted rate."
    ),
    ResultField("error", VOType("double"), "ct/s", "stat.error;phot.count", None, "1-sigma error."),
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

_MEDIA = {
    "json": "application/json",
    "csv": "text/csv",
    "votable": "application/x-votable+xml",
    "fits": FITS,
}


# --- helpers -----------------------------------------------------------------------------------


def engine_of(ctx: ServiceContext) -> AsyncEngine:
    """The database engine; 503 when the database is not configured."""
    if ctx.engine is None:
        raise HTTPException(503, "the database is not configured", headers={"Retry-After": "30"})
    return ctx.engine


async def run_db(ctx: ServiceContext, fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn(sync_connection, *args)`` on a pooled connection; map lookup errors to
    problem documents (404 naming what exists, 400 with the reason)."""
    async with engine_of(ctx).connect() as conn:
        try:
            return await conn.run_sync(fn, *args)
        except b.NotFound as exc:
            raise HTTPException(404, {"detail": str(exc), **exc.nearby}) from None
        except b.BadRequest as exc:
            raise HTTPException(400, str(exc)) from None


def json_response(content: Any, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer written by orjson (NaN becomes null), an order of magnitude faster than
    the standard library on light curves of tens of thousands of rows."""
    return Response(
        orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY),
        media_type="application/json",
        headers=headers,
    )


def check_format(fmt: str, allowed: tuple[str, ...] = FORMATS) -> str:
    """The output format, lower case; 400 naming the allowed ones."""
    value = fmt.lower()
    if value not in allowed:
        raise HTTPException(400, f"format {fmt!r} is not one of {', '.join(allowed)}")
    return value


def parse_time(value: str | None, name: str) -> float | None:
    """An ISO 8601 UTC date/time or an MJD number, as IJD (TT); 400 when unreadable."""
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except ValueError:
        try:
            t = (
                Time(value, format="isot", scale="utc")
                if "T" in value
                else Time(value, scale="utc")
            )
        except ValueError:
            raise HTTPException(
                400, f"{name}={value!r} is neither an ISO 8601 date/time (UTC) nor an MJD"
            ) from None
        return float(t.tt.mjd) - MJDREF
    if not math.isfinite(number):
        raise HTTPException(400, f"{name}={value!r} is not a finite MJD")
    return number - MJDREF


def time_range(start: str | None, end: str | None) -> tuple[float, float]:
    """[start, end) as IJD; 400 when the range is empty or reversed."""
    t0 = parse_time(start, "start")
    t1 = parse_time(end, "end")
    if t0 is not None and t1 is not None and t1 <= t0:
        raise HTTPException(400, f"empty time range: end ({end}) is not after start ({start})")
    return (-1e9 if t0 is None else t0), (1e9 if t1 is None else t1)


def _fetch_source(conn: Connection, source_id: str) -> b.SourceRecord:
    record = b.fetch_source(conn, source_id)
    if record is None:
        raise b.NotFound(
            f"no source {source_id!r} in the archive",
            {
                "nearby": b.nearby_sources(conn, source_id),
                "hint": "use /servlet/target-resolver to find a source id by name",
            },
        )
    return record


def _fits_response(data: bytes, file_name: str, headers: dict[str, str] | None = None) -> Response:
    return Response(
        data,
        media_type=FITS,
        headers={"Content-Disposition": f'attachment; filename="{file_name}"', **(headers or {})},
    )


async def stored(ctx: ServiceContext, product_id: str) -> Any | None:
    """The ``isla.products`` row of a product held as a file, or None."""
    async with engine_of(ctx).connect() as conn:
        return (
            await conn.execute(
                text(f"SELECT {PRODUCT_COLUMNS} FROM isla.products WHERE product_id = :p"),  # noqa: S608 - constant columns
                {"p": product_id},
            )
        ).first()


async def _rows_stream(
    ctx: ServiceContext,
    sql: str,
    params: dict[str, Any],
    fmt: str,
    fields: list[ResultField],
    info: dict[str, Any],
) -> AsyncIterator[bytes]:
    """Stream query rows as JSON, CSV or VOTable from a server-side cursor."""
    async with engine_of(ctx).connect() as conn:
        result = await conn.stream(text(sql), params)
        if fmt == "json":
            yield orjson.dumps({**info, "columns": columns_meta(fields)})[:-1] + b', "data": ['
            first = True
            async for batch in result.partitions(STREAM_BATCH):
                body = orjson.dumps([tuple(r) for r in batch])[1:-1]
                if body:
                    yield body if first else b"," + body
                    first = False
            yield b"]}"
            return
        writer: DelimitedWriter | VOTableWriter = (
            DelimitedWriter(fields) if fmt == "csv" else VOTableWriter(fields)
        )
        yield writer.head()
        async for batch in result.partitions(STREAM_BATCH):
            yield writer.rows([tuple(r) for r in batch])
        yield writer.tail(False)


def columns_meta(fields: list[ResultField]) -> list[dict[str, Any]]:
    """The ``columns`` member of the JSON answers: name, unit, UCD and description."""
    return [
        {"name": f.name, "unit": f.unit, "ucd": f.ucd, "description": f.description} for f in fields
    ]


def _disposition(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'inline; filename="{name}"'}


def lightcurve_rows(lc: ogip.LightCurve) -> list[tuple[Any, ...]]:
    """Rows of :data:`LC_FIELDS` from a computed light curve, converted column by column
    (rounded to well below the errors: shorter documents, and fast to write)."""
    ul = np.round(lc.rate_ul, 6)
    columns = (
        np.round(lc.time, 8).tolist(),
        np.round(lc.time + MJDREF, 8).tolist(),
        np.round(lc.timedel * 86400.0, 3).tolist(),
        np.round(lc.rate, 6).tolist(),
        np.round(lc.error, 6).tolist(),
        np.round(lc.exposure, 3).tolist(),
        np.round(lc.fracexp, 5).tolist(),
        np.round(lc.significance, 3).tolist(),
        lc.upper_limit.tolist(),
        [None if v != v else v for v in ul.tolist()],  # NaN (detected) is JSON null
        lc.nscw.tolist(),
        [str(k) for k in range(len(lc.time))],
    )
    return list(zip(*columns, strict=True))


def _lc_provenance(
    rows: list[tuple[Any, ...]], keys: list[str], binning: b.Binning, fast: bool
) -> ogip.Provenance:
    """Per-ScW rows name their science windows; binned rows only count them."""
    if binning.kind == "scw" or fast:
        return b.provenance(keys)
    return ogip.Provenance([], nscw=sum(int(r[8]) for r in rows))


def _lc_name(source: b.SourceRecord, instrument: str, band: str, binning: str, ext: str) -> str:
    return f"{b.file_stem(source.name)}_{instrument.replace('-', '')}_{band}_{binning}_lc.{ext}"


# --- light curves ----------------------------------------------------------------------------

_LC_OUTPUT = """
SELECT t, t + {mjdref}, d, rate, err, exp, least(exp / nullif(d, 0), 1.0), sig, ul::boolean,
       rate_ul, nscw::int, k::text
  FROM ({inner}) AS q(t, d, exp, rate, err, sig, ul, rate_ul, nscw, k)
"""


def _lc_sql(binning: b.Binning) -> str:
    inner = b.points_sql() if binning.kind == "scw" else b.binned_sql(binning.kind)
    return _LC_OUTPUT.format(mjdref=MJDREF, inner=inner)


def _omc_lightcurve_rows(conn: Connection, source_id: str, t0: float, t1: float) -> list[Any]:
    return list(
        conn.execute(
            text(
                "SELECT time_ijd, time_ijd + :mjdref, magnitude, magnitude_err, exposure, scw_id "
                "FROM isla.omc_points WHERE source_id = :s AND time_ijd >= :t0 AND time_ijd < :t1 "
                "ORDER BY scw_id"
            ),
            {"s": source_id, "t0": t0, "t1": t1, "mjdref": MJDREF},
        ).all()
    )


async def _omc_lightcurve(
    ctx: ServiceContext, source: b.SourceRecord, t0: float, t1: float, fmt: str
) -> Response:
    rows = await run_db(ctx, _omc_lightcurve_rows, source.source_id, t0, t1)
    if not rows and not source.detected.get("OMC"):
        raise HTTPException(
            404,
            {
                "detail": f"{source.source_id} has no optical counterpart with OMC data",
                "instruments": ["ISGRI", "JEM-X"],
            },
        )
    if fmt == "fits":
        arr = np.array([r[:5] for r in rows], dtype=np.float64).reshape(-1, 5)
        data = await run_in_threadpool(
            ogip.omc_lightcurve_fits,
            arr[:, 0],
            arr[:, 2],
            arr[:, 3],
            arr[:, 4],
            target=source.target,
            prov=b.provenance([r[5] for r in rows]),
        )
        return _fits_response(data, f"{b.file_stem(source.name)}_OMC_lc.fits")
    info = {"source_id": source.source_id, "instrument": "OMC", "band": "V", "binning": "scw"}
    if fmt == "json":
        return json_response(
            {**info, "columns": columns_meta(OMC_FIELDS), "data": [list(r) for r in rows]}
        )
    writer: DelimitedWriter | VOTableWriter = (
        DelimitedWriter(OMC_FIELDS) if fmt == "csv" else VOTableWriter(OMC_FIELDS)
    )
    body = writer.head() + writer.rows([tuple(r) for r in rows]) + writer.tail(False)
    return Response(body, media_type=writer.media_type)


@router.get(
    "/lightcurves/{source_id}", summary="Light curve of a source (FITS, VOTable, CSV, JSON)"
)
async def lightcurve(
    source_id: str,
    ctx: Annotated[ServiceContext, Depends(context)],
    instrument: Annotated[str, Query(description="ISGRI, JEM-X or OMC")] = "ISGRI",
    band: Annotated[str | None, Query(description="e.g. 28_40 (ISGRI), 3_20 (JEM-X)")] = None,
    binning: Annotated[
        str, Query(description="scw, revolution, or a bin width in seconds (>= 10)")
    ] = "scw",
    start: Annotated[str | None, Query(description="ISO 8601 UTC or MJD")] = None,
    end: Annotated[str | None, Query(description="ISO 8601 UTC or MJD (exclusive)")] = None,
    format: Annotated[str, Query(description="json, csv, votable or fits")] = "json",
) -> Response:
    """Light curve of ``source_id``: per science window (``scw``), per revolution
    (exposure-weighted), or in bins of N seconds (shorter than a science window: sub-ScW bins
    of the science windows where the source is detected at 5 sigma or more)."""
    fmt = check_format(format)
    t0, t1 = time_range(start, end)
    try:
        bin_spec = b.parse_binning(binning)
    except b.BadRequest as exc:
        raise HTTPException(400, str(exc)) from None
    source = await run_db(ctx, _fetch_source, source_id)
    if instrument.strip().upper() == "OMC":
        if bin_spec.kind != "scw":
            raise HTTPException(400, "OMC light curves are given per science window (binning=scw)")
        return await _omc_lightcurve(ctx, source, t0, t1, fmt)
    try:
        inst = b.normalise_instrument(instrument)
    except b.NotFound as exc:
        raise HTTPException(
            404, {"detail": str(exc), "instruments": ["ISGRI", "JEM-X", "OMC"]}
        ) from None
    bands = await run_db(ctx, b.fetch_bands)
    try:
        band_rec = b.resolve_band(bands, inst, band)
    except b.NotFound as exc:
        raise HTTPException(404, {"detail": str(exc), **exc.nearby}) from None
    info = {
        "source_id": source.source_id,
        "name": source.name,
        "instrument": inst,
        "band": band_rec.name,
        "e_min": band_rec.e_min,
        "e_max": band_rec.e_max,
        "binning": bin_spec.label,
        "timesys": "TT",
        "mjdref": MJDREF,
        "upper_limit_sigma": model.DETECTION_SIGMA,
    }
    fast = bin_spec.is_sub_scw
    name = _lc_name(source, inst, band_rec.name, bin_spec.label, "fits" if fmt == "fits" else fmt)
    if fmt != "fits" and not fast:
        params: dict[str, Any] = {"s": source.source_id, "b": band_rec.band_id, "t0": t0, "t1": t1}
        if bin_spec.kind == "seconds":
            params["w"] = bin_spec.seconds
        stream = _rows_stream(ctx, _lc_sql(bin_spec), params, fmt, LC_FIELDS, info)
        media = _MEDIA[fmt] if fmt != "votable" else VOTableWriter(LC_FIELDS).media_type
        return StreamingResponse(stream, media_type=media, headers=_disposition(name))

    rows, keys = await run_db(ctx, b.fetch_lightcurve, source.source_id, band_rec, bin_spec, t0, t1)
    if fast:
        span_s = sum(float(r[1]) for r in rows if float(r[5]) >= compute.FAST_MIN_SIGNIFICANCE)
        if span_s / bin_spec.seconds > MAX_FAST_BINS:
            raise HTTPException(
                400,
                f"{span_s / bin_spec.seconds:.0f} bins of {bin_spec.seconds:g} s: more than "
                f"{MAX_FAST_BINS}; ask for a shorter time range (start, end) or longer bins",
            )
    lc = await run_in_threadpool(
        b.build_lightcurve, rows, keys, bin_spec, f"{source.source_id}/{band_rec.band_id}"
    )
    if fmt == "fits":
        data = await run_in_threadpool(
            lambda: ogip.lightcurve_fits(
                lc,
                instrument=inst,
                band=(band_rec.e_min, band_rec.e_max),
                target=source.target,
                prov=_lc_provenance(rows, keys, bin_spec, fast),
                binning=bin_spec.label,
            )
        )
        return _fits_response(data, name)
    out = lightcurve_rows(lc)
    if fmt == "json":
        return json_response(
            {**info, "columns": columns_meta(LC_FIELDS), "data": out},
            headers=_disposition(name),
        )
    writer: DelimitedWriter | VOTableWriter = (
        DelimitedWriter(LC_FIELDS) if fmt == "csv" else VOTableWriter(LC_FIELDS)
    )
    return Response(
        writer.head() + writer.rows(out) + writer.tail(False),
        media_type=writer.media_type,
        headers=_disposition(name),
    )


# --- spectra -----------------------------------------------------------------------------------


def _spectrum_rows(spec: ogip.Spectrum, instrument: str) -> list[tuple[Any, ...]]:
    lo, hi = model.channel_grid(instrument)
    return [
        (
            i,
            float(math.sqrt(lo[i] * hi[i])),
            float(hi[i] - lo[i]),
            float(spec.rate[i]),
            float(spec.stat_err[i]),
        )
        for i in range(len(spec.rate))
    ]


def _scope(scope: str | None, epoch: str | None) -> str:
    value = epoch or scope or "mission"
    if value in ("mission",) or value.startswith("interval"):
        return value
    b.parse_epoch(value)  # 400 when malformed
    return value


@router.get("/spectra/{source_id}", summary="Spectrum of a source (PHA FITS, JSON, VOTable, CSV)")
async def spectrum(
    source_id: str,
    ctx: Annotated[ServiceContext, Depends(context)],
    request: Request,
    instrument: Annotated[str, Query(description="ISGRI or JEM-X")] = "ISGRI",
    scope: Annotated[
        str | None, Query(description="mission (default), an epoch RRRR_OOOOOOOOOOO, or intervalNN")
    ] = None,
    epoch: Annotated[str | None, Query(description="an epoch (same as scope=epoch)")] = None,
    format: Annotated[str, Query(description="fits, json, votable or csv")] = "fits",
) -> Response:
    """A background-subtracted spectrum: mission-average, of one epoch (observation-resolved),
    or of one S/N-driven interval of the time-resolved series (see ``/intervals``). The FITS
    file is OGIP PHA type I; its RESPFILE and ANCRFILE name the instrument's RMF and ARF
    (``/products/responses/{instrument}/rmf|arf``)."""
    fmt = check_format(format)
    try:
        inst = b.normalise_instrument(instrument)
        chosen = _scope(scope, epoch)
    except b.NotFound as exc:
        raise HTTPException(404, {"detail": str(exc), **exc.nearby}) from None
    except b.BadRequest as exc:
        raise HTTPException(400, str(exc)) from None
    source = await run_db(ctx, _fetch_source, source_id)
    pid = b.product_id("spectrum", inst, chosen, source.source_id)
    if fmt == "fits":
        row = await stored(ctx, pid)
        if row is not None:
            return await stream_product(request, store_of(ctx), row)
    bands = await run_db(ctx, b.fetch_bands)
    data = await run_db(ctx, b.fetch_spectrum, source, inst, chosen, bands)
    if fmt == "fits":
        content = await run_in_threadpool(b.spectrum_file, data, None)
        name = f"{b.file_stem(source.name)}_{inst.replace('-', '')}_{chosen}_spectrum_spe.fits"
        return _fits_response(content, name, {"X-Product-Id": pid})
    spec = await run_in_threadpool(b.build_spectrum, data)
    rows = _spectrum_rows(spec, inst)
    rmf, arf = b.response_names(inst)
    info = {
        "product_id": pid,
        "source_id": source.source_id,
        "name": source.name,
        "instrument": inst,
        "scope": chosen,
        "exposure": data.exposure,
        "nscw": len(data.scws),
        "tstart_mjd": data.tstart + MJDREF,
        "tstop_mjd": data.tstop + MJDREF,
        "respfile": rmf,
        "ancrfile": arf,
        "rmf_url": f"/products/responses/{inst}/rmf",
        "arf_url": f"/products/responses/{inst}/arf",
    }
    if fmt == "json":
        return json_response({**info, "columns": columns_meta(SPECTRUM_FIELDS), "data": rows})
    writer: DelimitedWriter | VOTableWriter = (
        DelimitedWriter(SPECTRUM_FIELDS) if fmt == "csv" else VOTableWriter(SPECTRUM_FIELDS)
    )
    return Response(
        writer.head() + writer.rows(rows) + writer.tail(False), media_type=writer.media_type
    )


@router.get(
    "/spectra/{source_id}/intervals", summary="The S/N-driven intervals of time-resolved spectra"
)
async def spectrum_intervals(
    source_id: str,
    ctx: Annotated[ServiceContext, Depends(context)],
    instrument: Annotated[str, Query(description="ISGRI or JEM-X")] = "ISGRI",
) -> dict[str, Any]:
    """Consecutive detected science windows grouped until each interval reaches S/N 50: the
    intervals of time-resolved spectra (and the good-time intervals of sub-ScW light curves are
    chosen the same way, from each science window's S/N)."""
    try:
        inst = b.normalise_instrument(instrument)
    except b.NotFound as exc:
        raise HTTPException(404, {"detail": str(exc), **exc.nearby}) from None
    source = await run_db(ctx, _fetch_source, source_id)
    bands = await run_db(ctx, b.fetch_bands)
    intervals = await run_db(ctx, b.fetch_intervals, source, inst, bands)
    return {
        "source_id": source.source_id,
        "instrument": inst,
        "target_snr": compute.INTERVAL_SNR,
        "intervals": [
            {
                "scope": f"interval{i.index:02d}",
                "start_mjd": i.start + MJDREF,
                "stop_mjd": i.stop + MJDREF,
                "start": ijd_to_utc(i.start).isoformat(),
                "stop": ijd_to_utc(i.stop).isoformat(),
                "nscw": len(i.scws),
                "exposure": i.exposure,
                "snr": round(i.snr, 2),
                "rate": i.rate,
                "spectrum": f"/products/spectra/{source.source_id}?instrument={inst}"
                f"&scope=interval{i.index:02d}",
            }
            for i in intervals
        ],
    }


@router.get("/responses/{instrument}/{kind}", summary="The instrument's ARF or RMF (OGIP)")
async def response_file(
    instrument: str, kind: str, request: Request, ctx: Annotated[ServiceContext, Depends(context)]
) -> Response:
    """The ancillary response (``arf``) or redistribution matrix (``rmf``) of ISGRI or JEM-X,
    as the spectra's ANCRFILE and RESPFILE name them."""
    try:
        inst = b.normalise_instrument(instrument)
    except b.NotFound as exc:
        raise HTTPException(404, {"detail": str(exc), **exc.nearby}) from None
    if kind not in ("arf", "rmf"):
        raise HTTPException(404, {"detail": f"no response {kind!r}", "responses": ["arf", "rmf"]})
    row = await stored(ctx, b.product_id(kind, inst, b.RESPONSE_SCOPE))
    if row is not None:
        return await stream_product(request, store_of(ctx), row)
    prov = b.provenance([])
    build = ogip.arf_fits if kind == "arf" else ogip.rmf_fits
    data = await run_in_threadpool(build, inst, prov)
    rmf, arf = b.response_names(inst)
    return _fits_response(data, arf if kind == "arf" else rmf)


# --- mosaics -----------------------------------------------------------------------------------


@router.get("/mosaics", summary="Epochs with mosaics, by revolution")
async def mosaics(
    ctx: Annotated[ServiceContext, Depends(context)],
    revolution: Annotated[int, Query(ge=0, le=9999, description="revolution number")],
) -> dict[str, Any]:
    """The epochs of a revolution, each with its mosaic URLs per instrument and band."""
    epochs = await run_db(ctx, b.epochs_of_revolution, revolution)
    if not epochs:
        raise HTTPException(
            404, {"detail": f"the archive holds no pointings of revolution {revolution}"}
        )
    return {
        "revolution": revolution,
        "epochs": [
            {
                "epoch": e,
                "mosaics": {
                    inst: {
                        band: f"/products/mosaics/{e}?instrument={inst}&band={band}"
                        for band in model.BANDS[inst]
                    }
                    for inst in model.BANDS
                },
            }
            for e in epochs
        ],
    }


@router.get("/mosaics/{epoch}", summary="Mosaic of one epoch (FITS with WCS, PNG preview, JSON)")
async def mosaic(
    epoch: str,
    request: Request,
    ctx: Annotated[ServiceContext, Depends(context)],
    instrument: Annotated[str, Query(description="ISGRI or JEM-X")] = "ISGRI",
    band: Annotated[str | None, Query(description="a light-curve band of the instrument")] = None,
    format: Annotated[str, Query(description="fits, png or json")] = "fits",
) -> Response:
    """Sky mosaic of one epoch (observation within a revolution) in one band: INTENSITY,
    VARIANCE, SIGNIFICANCE and EXPOSURE images on a gnomonic ICRS grid; ``png`` is a preview
    of the significance image."""
    fmt = check_format(format, ("fits", "png", "json"))
    try:
        b.parse_epoch(epoch)
        inst = b.normalise_instrument(instrument)
    except b.BadRequest as exc:
        raise HTTPException(400, str(exc)) from None
    except b.NotFound as exc:
        raise HTTPException(404, {"detail": str(exc), **exc.nearby}) from None
    bands = await run_db(ctx, b.fetch_bands)
    try:
        band_rec = b.resolve_band(bands, inst, band)
    except b.NotFound as exc:
        raise HTTPException(404, {"detail": str(exc), **exc.nearby}) from None
    pid = b.product_id("mosaic", inst, epoch, band_rec.name)
    if fmt in ("fits", "png"):
        row = await stored(ctx, pid if fmt == "fits" else f"preview/{pid}")
        if row is not None:
            return await stream_product(request, store_of(ctx), row)
    data = await run_db(ctx, b.fetch_mosaic, epoch, band_rec)
    if not data.epoch.exposed(inst):
        raise HTTPException(404, {"detail": f"{inst} has no exposure in epoch {epoch}"})
    image = await run_in_threadpool(b.build_mosaic, data)
    stem = f"{inst.replace('-', '')}_{epoch}_{band_rec.name}_mosaic"
    if fmt == "png":
        png = await run_in_threadpool(compute.png, image.significance)
        return Response(png, media_type="image/png", headers=_disposition(f"{stem}.png"))
    if fmt == "fits":
        content = await run_in_threadpool(b.mosaic_file, data, image, None)
        return _fits_response(content, f"{stem}.fits", {"X-Product-Id": pid})
    return json_response(
        {
            "product_id": pid,
            "epoch": epoch,
            "instrument": inst,
            "band": band_rec.name,
            "centre": {"ra": data.epoch.ra, "dec": data.epoch.dec},
            "shape": list(image.intensity.shape),
            "pixel_deg": model.INSTRUMENTS[inst].pixel_deg,
            "nscw": len(data.epoch.exposed(inst)),
            "max_exposure": float(image.exposure.max()),
            "max_significance": float(image.significance.max()),
            "fits": f"/products/mosaics/{epoch}?instrument={inst}&band={band_rec.name}&format=fits",
            "png": f"/products/mosaics/{epoch}?instrument={inst}&band={band_rec.name}&format=png",
        }
    )


# --- source pages ------------------------------------------------------------------------------


def _source_page(conn: Connection, source_id: str) -> dict[str, Any]:
    source = _fetch_source(conn, source_id)
    aliases = [
        r[0]
        for r in conn.execute(
            text("SELECT alias FROM isla.source_aliases WHERE source_id = :s ORDER BY alias"),
            {"s": source_id},
        )
    ]
    fluxes = [
        dict(r._mapping)
        for r in conn.execute(
            text(
                "SELECT e.instrument, e.name AS band, e.e_min, e.e_max, f.flux, f.flux_err, "
                "f.detected, c.name AS catalogue, c.version AS catalogue_version "
                "FROM isla.source_fluxes f JOIN isla.energy_bands e USING (band_id) "
                "JOIN isla.catalogues c USING (catalogue_id) WHERE f.source_id = :s "
                "ORDER BY e.band_id, c.catalogue_id"
            ),
            {"s": source_id},
        )
    ]
    coverage = []
    for instrument, band in model.DEFAULT_BAND.items():
        row = conn.execute(
            text(
                "SELECT count(*), coalesce(sum(p.exposure), 0), "
                "min(p.time_ijd - p.duration / 172800.0), "
                "max(p.time_ijd + p.duration / 172800.0), "
                "count(*) FILTER (WHERE NOT p.upper_limit) "
                "FROM isla.lightcurve_points p "
                "JOIN isla.energy_bands e ON e.band_id = p.band_id "
                "WHERE p.source_id = :s AND e.instrument = :i AND e.name = :b"
            ),
            {"s": source_id, "i": instrument, "b": band},
        ).one()
        coverage.append(_coverage(instrument, row[0], row[1], row[2], row[3], row[4]))
    omc = conn.execute(
        text(
            "SELECT count(*), coalesce(sum(exposure), 0), min(time_ijd), max(time_ijd), count(*) "
            "FROM isla.omc_points WHERE source_id = :s"
        ),
        {"s": source_id},
    ).one()
    coverage.append(_coverage("OMC", omc[0], omc[1], omc[2], omc[3], omc[4]))
    products = [
        {
            "product_id": r.product_id,
            "kind": r.kind,
            "instrument": r.instrument,
            "epoch": r.epoch,
            "file_name": r.file_name,
            "size": int(r.size),
            "sha256": r.sha256,
            "content_type": r.content_type,
            "url": f"/products/files/{r.product_id}",
            "meta": r.meta,
        }
        for r in conn.execute(
            text(
                "SELECT product_id, kind, instrument, epoch, file_name, size, sha256, "
                "content_type, meta FROM isla.products WHERE source_id = :s "
                "ORDER BY kind, product_id"
            ),
            {"s": source_id},
        )
    ]
    sid = source.source_id
    observed = {c["instrument"] for c in coverage if c["scw_count"]}
    links = {
        "lightcurve_isgri": f"/products/lightcurves/{sid}?instrument=ISGRI&band=28_40",
        "spectrum_isgri": f"/products/spectra/{sid}?instrument=ISGRI",
        "intervals_isgri": f"/products/spectra/{sid}/intervals?instrument=ISGRI",
        "lightcurve_jemx": f"/products/lightcurves/{sid}?instrument=JEM-X&band=3_20",
        "spectrum_jemx": f"/products/spectra/{sid}?instrument=JEM-X",
        "lightcurve_omc": f"/products/lightcurves/{sid}?instrument=OMC",
    }
    wanted = {"isgri": "ISGRI", "jemx": "JEM-X", "omc": "OMC"}
    return {
        "source_id": sid,
        "name": source.name,
        "ra": source.ra,
        "dec": source.dec,
        "pos_err_arcmin": source.pos_err,
        "source_class": source.source_class,
        "aliases": aliases,
        "detected_by": [k for k, v in source.detected.items() if v],
        "fluxes": fluxes,
        "coverage": coverage,
        "products": products,
        # Links to what exists: a source never observed by JEM-X has no JEM-X light curve.
        "links": {k: v for k, v in links.items() if wanted[k.rsplit("_", 1)[1]] in observed},
    }


def _coverage(
    instrument: str,
    count: int,
    exposure: float,
    first: float | None,
    last: float | None,
    detections: int,
) -> dict[str, Any]:
    return {
        "instrument": instrument,
        "scw_count": int(count),
        "exposure_s": round(float(exposure), 3),
        "first": None if first is None else ijd_to_utc(float(first)).isoformat(),
        "last": None if last is None else ijd_to_utc(float(last)).isoformat(),
        "detections": int(detections),
    }


@router.get("/sources/{source_id}", summary="Everything the archive holds about one source")
async def source_page(
    source_id: str, ctx: Annotated[ServiceContext, Depends(context)]
) -> dict[str, Any]:
    """The data of a source page: position, aliases, class, catalogue fluxes, the
    instruments that detected it, its observing coverage per instrument (science windows,
    exposure, first and last date) and its products with download links."""
    return await run_db(ctx, _source_page, source_id)
