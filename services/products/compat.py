"""ESA ISLA compatibility for products: the ``REQUEST=`` servlet and ``data?RETRIEVAL_TYPE=``.

astroquery's ``astroquery.esa.integral`` client is the contract. It sends
``REQUEST=timelines|sources|spectra|mosaics|long_timeseries|short_timeseries`` to
``tap/sync`` (the TAP service hands them to :func:`servlet` here) and reads the JSON answers,
and it downloads product files from ``data?RETRIEVAL_TYPE=...`` (the raw service hands every
type but SCW to :func:`data` here). The files are packaged as ESA's ISLA packages them, which
the real archives in astroquery's tests show: a spectrum with its ARF and RMF as a plain tar,
a mosaic as a gzip-compressed tar, long (and short) time series as a zip. Error texts that the
client matches ("None science windows have been selected", "Source not found in the
database") are kept word for word.

Everything is served from ``isla.products`` rows and their objects in the products bucket;
identifiers the client passes back (``spectraOid``, ``mosaicOid``) are product ids.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import math
import re
import tarfile
import zipfile
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.time import Time
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from services.products.resolver import SourceMatch, engine_of, find_source
from shared.service import ServiceContext, context
from shared.settings import peer_settings
from shared.storage import ObjectNotFound, ObjectStore, StorageUnavailable

router = APIRouter(prefix="/products", tags=["ISLA compatibility"])
log = logging.getLogger("isla.products.compat")

NO_SCW = "None science windows have been selected"
"""The text astroquery's get_timeline looks for to say 'no timeline' (ESA's wording)."""
NO_SOURCE = "Source not found in the database"
"""The text astroquery's get_source_metadata looks for to say 'unknown target'."""

DEFAULT_RADIUS = 14.0
"""Timeline cone radius (deg) when none is given, as in astroquery."""
MAX_RADIUS = 60.0
"""Largest timeline cone radius (deg)."""
FULLY_CODED_DEG = 4.5
"""Half width of ISGRI's fully coded field (9 x 9 deg), for the timeline's fraFC."""

EPOCH = re.compile(r"^\d{4}_\d{11}$")
UNITS: Mapping[str, tuple[str, ...]] = {"JEM-X": ("JEM-X", "JEM-X1", "JEM-X2")}
"""Product instruments an ISLA instrument stands for (JEM-X products may be per unit)."""
CHUNK = 1 << 20
"""Bytes read from the object store per step when packaging."""


class CompatError(HTTPException):
    """An ISLA request that cannot be answered (problem+json with the client's wording)."""


@dataclass(frozen=True)
class IslaInstrument:
    """A row of ``ila.instrument`` joined with its default ``ila.band``."""

    instrument_oid: int
    name: str
    archive_name: str
    band_oid: int
    band: str

    @property
    def product_instruments(self) -> tuple[str, ...]:
        """The ``isla.products.instrument`` values this instrument covers."""
        return UNITS.get(self.archive_name, (self.archive_name,))


@dataclass(frozen=True)
class Member:
    """One stored file going into a package."""

    name: str
    bucket: str
    key: str
    size: int
    mtime: int


Packaged = tuple[list[Member], str, str] | Response
"""What a retrieval handler gives: stored files to package (members, format, name) or a
ready response (a package built in memory)."""


# --- request helpers ---------------------------------------------------------------------------


def _params(request: Request) -> dict[str, str]:
    """Query parameters by lower-case name (ISLA's names are case-insensitive); first wins."""
    out: dict[str, str] = {}
    for key, value in request.query_params.multi_items():
        out.setdefault(key.lower(), value.strip())
    return out


def _required(params: Mapping[str, str], name: str, example: str) -> str:
    value = params.get(name.lower())
    if not value:
        raise CompatError(400, f"{name} is required, e.g. {name}={example}")
    return value


def _number(params: Mapping[str, str], name: str, default: float | None = None) -> float:
    raw = params.get(name.lower())
    if not raw:
        if default is None:
            raise CompatError(400, f"{name} is required (a number in degrees)")
        return default
    try:
        value = float(raw)
    except ValueError:
        raise CompatError(400, f"{name} must be a number, not {raw!r}") from None
    if not math.isfinite(value):
        raise CompatError(400, f"{name} must be finite, not {raw!r}")
    return value


def _oid(params: Mapping[str, str], name: str) -> int:
    raw = _required(params, name, "1")
    try:
        return int(raw)
    except ValueError:
        raise CompatError(400, f"{name} must be an integer, not {raw!r}") from None


def _epoch(params: Mapping[str, str]) -> str:
    value = _required(params, "epoch", "0745_06340000001")
    if not EPOCH.match(value):
        raise CompatError(
            400, f"epoch must have the form RRRR_OOOOOOOOOOO (e.g. 0745_06340000001), not {value!r}"
        )
    return value


def _store(ctx: ServiceContext) -> ObjectStore:
    if ctx.store is None:
        raise CompatError(503, "the object store is not configured", headers={"Retry-After": "30"})
    return ctx.store


async def _instrument(
    conn: AsyncConnection, *, instrument_oid: int | None = None, band_oid: int | None = None
) -> IslaInstrument:
    """The ISLA instrument of an instrument_oid or band_oid (400 listing the valid ones)."""
    rows = (
        await conn.execute(
            text(
                "SELECT i.instrument_oid, i.name, i.archive_name, b.band_oid, b.name AS band "
                "FROM ila.instrument i JOIN ila.band b USING (instrument_oid) "
                "ORDER BY i.instrument_oid"
            )
        )
    ).all()
    known = [IslaInstrument(int(r[0]), str(r[1]), str(r[2]), int(r[3]), str(r[4])) for r in rows]
    for item in known:
        if instrument_oid is not None and item.instrument_oid == instrument_oid:
            return item
        if band_oid is not None and item.band_oid == band_oid:
            return item
    what = "instrument_oid" if instrument_oid is not None else "band_oid"
    valid = ", ".join(
        f"{i.instrument_oid if instrument_oid is not None else i.band_oid} "
        f"({i.name if instrument_oid is not None else i.band})"
        for i in known
    )
    raise CompatError(400, f"unknown {what}; valid values: {valid}")


async def _source(conn: AsyncConnection, name: str) -> SourceMatch:
    match = await find_source(conn, name)
    if match is None:
        raise CompatError(404, f"{NO_SOURCE}: {name!r} is no name, alias or source id here")
    return match


def _iso(mjd: float | None) -> str | None:
    if mjd is None or not math.isfinite(mjd):
        return None
    return str(Time(mjd, format="mjd", scale="tt").utc.isot)


# --- the servlet (REQUEST=...) ------------------------------------------------------------------


@router.get(
    "/isla/servlet",
    summary="ISLA's REQUEST= calls (timelines, sources, spectra, mosaics, time series)",
)
async def servlet(request: Request, ctx: Annotated[ServiceContext, Depends(context)]) -> Response:
    """Answer one ISLA ``REQUEST`` (as forwarded from ``tap/sync``) with ISLA's JSON."""
    params = _params(request)
    kind = (params.get("request") or "").lower()
    handlers = {
        "timelines": _timelines,
        "sources": _sources,
        "spectra": _spectra,
        "mosaics": _mosaics,
        "long_timeseries": _long_timeseries_json,
        "short_timeseries": _short_timeseries_json,
    }
    handler = handlers.get(kind)
    if handler is None:
        raise CompatError(
            400, f"REQUEST must be one of {', '.join(handlers)}, not {params.get('request')!r}"
        )
    async with engine_of(ctx).connect() as conn:
        body = await handler(conn, params, ctx)
    return JSONResponse(body)


_TIMELINE = text(
    """
    SELECT w.scw_id, w.revolution, w.start_time, w.end_time,
           coalesce(w.isgri_exposure, 0) AS exposure,
           degrees(w.pos <-> spoint(radians(:ra), radians(:dec))) AS offaxis,
           r.start_time AS rev_start, r.end_time AS rev_end
    FROM isla.science_windows w
    JOIN isla.revolutions r ON r.revolution = w.revolution
    WHERE w.scw_type = 'pointing'
      AND w.pos <@ scircle(spoint(radians(:ra), radians(:dec)), radians(:radius))
    ORDER BY w.start_time
    """
)


def _epoch_ms(value: dt.datetime) -> float:
    return value.replace(tzinfo=dt.UTC).timestamp() * 1000.0


async def _timelines(
    conn: AsyncConnection, params: Mapping[str, str], ctx: ServiceContext
) -> dict[str, Any]:
    """Every pointing within ``radius`` of (ra, dec): exposure, revolution phase, time, offset."""
    ra = _number(params, "ra")
    dec = _number(params, "dec")
    radius = _number(params, "radius", DEFAULT_RADIUS)
    if not -90.0 <= dec <= 90.0:
        raise CompatError(400, f"dec must be within -90..90 degrees, not {dec}")
    if not 0.0 < radius <= MAX_RADIUS:
        raise CompatError(400, f"radius must be within (0, {MAX_RADIUS}] degrees, not {radius}")
    rows = (await conn.execute(_TIMELINE, {"ra": ra % 360.0, "dec": dec, "radius": radius})).all()
    if not rows:
        raise CompatError(
            404, f"{NO_SCW} within {radius} degrees of RA={ra}, Dec={dec}: no pointing there"
        )
    expo, revs, times, offaxis, scws = [], [], [], [], []
    for r in rows:
        middle = r.start_time + (r.end_time - r.start_time) / 2
        span = (r.rev_end - r.rev_start).total_seconds()
        phase = (middle - r.rev_start).total_seconds() / span if span > 0 else 0.0
        expo.append(float(r.exposure))
        revs.append(r.revolution + min(max(phase, 0.0), 0.999999))
        times.append(_epoch_ms(middle))
        offaxis.append(float(r.offaxis))
        scws.append(str(r.scw_id))
    fully_coded = sum(1 for a in offaxis if a <= FULLY_CODED_DEG)
    return {
        "totalItems": len(rows),
        "data": {
            "fraFC": fully_coded / len(rows),
            "totEffExpo": float(sum(expo)),
            "scwExpo": expo,
            "scwRevs": revs,
            "scwTimes": times,
            "scwOffAxis": offaxis,
            "scwIds": scws,
        },
    }


def _row(param: str, value: Any) -> dict[str, Any]:
    return {"param": param, "value": value}


async def _sources(
    conn: AsyncConnection, params: Mapping[str, str], ctx: ServiceContext
) -> list[dict[str, Any]]:
    """The archive's metadata of one source, in ISLA's sections of param/value rows."""
    name = params.get("source") or params.get("target_name") or ""
    if not name:
        raise CompatError(400, "SOURCE is required, e.g. SOURCE=Crab")
    match = await _source(conn, name)
    src = (
        await conn.execute(
            text(
                "SELECT source_id, name, ra, dec, pos_err, source_class, det_isgri, det_picsit, "
                "det_jemx, det_spi, det_omc FROM isla.sources WHERE source_id = :sid"
            ),
            {"sid": match.source_id},
        )
    ).one()
    coord = SkyCoord(src.ra * u.deg, src.dec * u.deg, frame="icrs")
    flags = {
        "Isgri flag": src.det_isgri,
        "Jemx flag": src.det_jemx,
        "Spi flag": src.det_spi,
        "Picsit flag": src.det_picsit,
        "Omc flag": src.det_omc,
    }
    rows = [
        _row("Name", src.name),
        _row("Id", src.source_id),
        _row("Coordinates degrees", f"{src.ra:.4f} {src.dec:.4f}"),
        _row(
            "Coordinates",
            coord.to_string("hmsdms", sep=" ", precision=2),
        ),
        _row("Galactic", f"{coord.galactic.l.deg:.2f} {coord.galactic.b.deg:.2f}"),
        _row("Class", src.source_class),
        _row("Position error (arcmin)", src.pos_err),
        *[_row(k, "detected" if v else "not detected") for k, v in flags.items()],
    ]
    fluxes = (
        await conn.execute(
            text(
                "SELECT b.instrument, b.name, f.flux, f.flux_err FROM isla.source_fluxes f "
                "JOIN isla.energy_bands b ON b.band_id = f.band_id "
                "WHERE f.source_id = :sid ORDER BY b.band_id"
            ),
            {"sid": src.source_id},
        )
    ).all()
    aliases = (
        await conn.execute(
            text(
                "SELECT alias FROM isla.source_aliases WHERE source_id = :sid "
                "AND alias <> :sid ORDER BY alias"
            ),
            {"sid": src.source_id},
        )
    ).scalars()
    products = (
        await conn.execute(
            text(
                "SELECT product_id, kind, instrument, epoch FROM isla.products "
                "WHERE source_id = :sid AND kind <> 'preview' ORDER BY kind, product_id"
            ),
            {"sid": src.source_id},
        )
    ).all()
    return [
        {"name": "Integral", "link": None, "metadata": {"rows": rows}},
        {
            "name": "Fluxes",
            "link": None,
            "metadata": {
                "rows": [
                    _row(f"{f.instrument} {f.name} keV (mCrab)", f"{f.flux} ± {f.flux_err}")
                    for f in fluxes
                ]
            },
        },
        {
            "name": "Aliases",
            "link": None,
            "metadata": {"rows": [_row("Alias", a) for a in aliases]},
        },
        {
            "name": "Products",
            "link": f"{peer_settings().peer('products')}/products/sources/{src.source_id}",
            "metadata": {
                "rows": [
                    _row(p.kind, {"id": p.product_id, "instrument": p.instrument, "epoch": p.epoch})
                    for p in products
                ]
            },
        },
    ]


_PRODUCT_COLUMNS = (
    "product_id, kind, instrument, band_id, source_id, epoch, t_min, t_max, bucket, object_key, "
    "file_name, size, content_type, created_at, meta"
)


async def _spectra(
    conn: AsyncConnection, params: Mapping[str, str], ctx: ServiceContext
) -> list[dict[str, Any]]:
    """The spectra of a source in an epoch for an instrument (``spectraOid`` = product id)."""
    match = await _source(conn, _required(params, "source", "J011705.1-732636"))
    instrument = await _instrument(conn, instrument_oid=_oid(params, "instrument_oid"))
    epoch = _epoch(params)
    rows = (
        await conn.execute(
            text(
                f"SELECT {_PRODUCT_COLUMNS} FROM isla.products "  # noqa: S608 - constant columns
                "WHERE kind = 'spectrum' AND source_id = :sid AND epoch = :epoch "
                "AND instrument = ANY(:instruments) ORDER BY product_id"
            ),
            {
                "sid": match.source_id,
                "epoch": epoch,
                "instruments": list(instrument.product_instruments),
            },
        )
    ).all()
    out = []
    for r in rows:
        meta = dict(r.meta or {})
        rmf = await _rmf_of(conn, meta)
        points = await run_in_threadpool(_spectrum_points, ctx.store, r, rmf)
        out.append(
            {
                "spectraOid": r.product_id,
                "fileName": r.file_name,
                "detector": [r.instrument],
                "instrument": instrument.name,
                "sourceId": r.source_id,
                "epoch": r.epoch,
                "dateStart": _iso(r.t_min),
                "dateStop": _iso(r.t_max),
                "metadata": meta,
                **points,
            }
        )
    return out


async def _rmf_of(conn: AsyncConnection, meta: Mapping[str, Any]) -> Any:
    pid = meta.get("rmf")
    if not isinstance(pid, str):
        return None
    return (
        await conn.execute(
            text("SELECT bucket, object_key FROM isla.products WHERE product_id = :p"),
            {"p": pid},
        )
    ).first()


def _spectrum_points(store: ObjectStore | None, spectrum: Any, rmf: Any) -> dict[str, Any]:
    """Energy (keV, channel centre and half width), rate and error of a PHA spectrum.

    The channel energies come from the EBOUNDS of its RMF. ISLA's servlet sends these arrays
    for plotting; when a file cannot be read the entry simply has none (the client downloads
    the files by ``spectraOid`` anyway).
    """
    if store is None or rmf is None:
        return {}
    try:
        with fits.open(io.BytesIO(store.read_bytes(rmf.bucket, rmf.object_key))) as hdus:
            bounds = hdus["EBOUNDS"].data
            edges = {
                int(c): (float(lo), float(hi))
                for c, lo, hi in zip(
                    bounds["CHANNEL"], bounds["E_MIN"], bounds["E_MAX"], strict=True
                )
            }
        raw = store.read_bytes(spectrum.bucket, spectrum.object_key)
        with fits.open(io.BytesIO(raw)) as hdus:
            table = next(
                h
                for h in hdus[1:]
                if isinstance(h, fits.BinTableHDU) and "CHANNEL" in h.columns.names
            )
            names = table.columns.names
            exposure = float(table.header.get("EXPOSURE", 0) or 0)
            channels = [int(c) for c in table.data["CHANNEL"]]
            if "RATE" in names:
                rate = np.asarray(table.data["RATE"], dtype=float)
            elif "COUNTS" in names and exposure > 0:
                rate = np.asarray(table.data["COUNTS"], dtype=float) / exposure
            else:
                return {}
            error = (
                np.asarray(table.data["STAT_ERR"], dtype=float)
                if "STAT_ERR" in names
                else np.sqrt(np.abs(rate) / exposure)
                if exposure > 0
                else np.zeros_like(rate)
            )
    except (OSError, KeyError, ValueError, StopIteration, StorageUnavailable, ObjectNotFound):
        log.warning("spectrum %s: no points for the servlet", spectrum.product_id, exc_info=True)
        return {}
    keep = [i for i, c in enumerate(channels) if c in edges and math.isfinite(rate[i])]

    def finite(v: float) -> float | None:
        return float(v) if math.isfinite(v) else None

    return {
        "energy": [(edges[channels[i]][0] + edges[channels[i]][1]) / 2 for i in keep],
        "energyError": [(edges[channels[i]][1] - edges[channels[i]][0]) / 2 for i in keep],
        "rate": [float(rate[i]) for i in keep],
        "rateError": [finite(error[i]) for i in keep],
    }


async def _mosaics(
    conn: AsyncConnection, params: Mapping[str, str], ctx: ServiceContext
) -> list[dict[str, Any]]:
    """The mosaics of an epoch in a band: one entry per instrument/band image set."""
    instrument = await _instrument(conn, band_oid=_oid(params, "band_oid"))
    epoch = _epoch(params)
    rows = (
        await conn.execute(
            text(
                f"SELECT {_PRODUCT_COLUMNS} FROM isla.products "  # noqa: S608 - constant columns
                "WHERE kind = 'mosaic' AND epoch = :epoch AND band_id = :band "
                "AND instrument = ANY(:instruments) ORDER BY product_id"
            ),
            {
                "epoch": epoch,
                "band": instrument.band_oid,
                "instruments": list(instrument.product_instruments),
            },
        )
    ).all()
    groups: dict[tuple[str, str], list[Any]] = {}
    for r in rows:
        groups.setdefault((r.instrument, r.epoch), []).append(r)
    out = []
    for members in groups.values():
        first = members[0]
        out.append(
            {
                "mosaicOid": first.product_id,
                "fileName": first.file_name,
                "files": [m.file_name for m in members],
                "instrument": instrument.name,
                "band": instrument.band,
                "epoch": first.epoch,
                "dateStart": _iso(first.t_min),
                "dateStop": _iso(first.t_max),
                "metadata": dict(first.meta or {}),
            }
        )
    return out


# --- time series ---------------------------------------------------------------------------------


async def _timeseries_rows(
    conn: AsyncConnection,
    kind: str,
    source_id: str,
    instrument: IslaInstrument,
    *,
    epoch: str | None = None,
    by_band: bool = False,
) -> list[Any]:
    where = ["kind = :kind", "source_id = :sid", "instrument = ANY(:instruments)"]
    binds: dict[str, Any] = {
        "kind": kind,
        "sid": source_id,
        "instruments": list(instrument.product_instruments),
    }
    if epoch is not None:
        where.append("epoch = :epoch")
        binds["epoch"] = epoch
    if by_band:
        where.append("(band_id = :band OR band_id IS NULL)")
        binds["band"] = instrument.band_oid
    sql = f"SELECT {_PRODUCT_COLUMNS} FROM isla.products WHERE {' AND '.join(where)} ORDER BY product_id"  # noqa: E501, S608 - built from constants
    return list((await conn.execute(text(sql), binds)).all())


def _read_timeseries(store: ObjectStore, bucket: str, key: str) -> dict[str, Any]:
    """TIME (as UTC ISO), RATE and ERROR of an ISLA time-series FITS file."""
    data = store.read_bytes(bucket, key)
    with fits.open(io.BytesIO(data)) as hdus:
        table = next(
            (h for h in hdus[1:] if isinstance(h, fits.BinTableHDU) and "RATE" in h.columns.names),
            None,
        )
        if table is None:
            return {"detector": "", "time": [], "rates": [], "errors": []}
        header = table.header
        ref = float(header.get("MJDREF", header.get("MJDREFI", 51544.0) + header.get("MJDREFF", 0)))
        unit = str(header.get("TIMEUNIT", "d")).strip().lower()
        scale = 1.0 if unit in ("d", "day") else 1.0 / 86400.0
        time = np.asarray(table.data["TIME"], dtype=float) * scale + ref
        rate = np.asarray(table.data["RATE"], dtype=float)
        names = table.columns.names
        err_name = "ERROR" if "ERROR" in names else ("STAT_ERR" if "STAT_ERR" in names else None)
        error = np.asarray(table.data[err_name], dtype=float) if err_name else np.zeros_like(rate)
        detector = str(header.get("INSTRUME", header.get("DETNAM", ""))).strip()
    iso = Time(time, format="mjd", scale="tt").utc.isot if len(time) else []
    return {
        "detector": detector,
        "time": [str(t) for t in iso],
        "rates": [None if not math.isfinite(v) else float(v) for v in rate],
        "errors": [None if not math.isfinite(v) else float(v) for v in error],
    }


async def _timeseries_json(
    rows: Sequence[Any], source_id: str, ctx: ServiceContext, unit: str
) -> dict[str, Any]:
    store = _store(ctx)
    series = []
    for r in rows:
        try:
            series.append(await run_in_threadpool(_read_timeseries, store, r.bucket, r.object_key))
        except StorageUnavailable as exc:
            raise CompatError(
                503, f"the object store is unavailable: {exc}", headers={"Retry-After": "30"}
            ) from None
        except ObjectNotFound:
            raise CompatError(
                404, f"the file of {r.product_id} is missing from the store"
            ) from None
    return {
        "aggregationValue": 1,
        "aggregationUnit": unit,
        "detectors": [s["detector"] for s in series],
        "sourceId": source_id,
        "totalItems": sum(len(s["time"]) for s in series),
        "time": [s["time"] for s in series],
        "rates": [s["rates"] for s in series],
        "ratesError": [s["errors"] for s in series],
    }


async def _long_timeseries_json(
    conn: AsyncConnection, params: Mapping[str, str], ctx: ServiceContext
) -> dict[str, Any]:
    """The whole-mission light curves of a source for an instrument, as JSON arrays."""
    match = await _source(conn, _required(params, "source", "J174537.0-290107"))
    instrument = await _instrument(conn, instrument_oid=_oid(params, "instrument_oid"))
    rows = await _timeseries_rows(conn, "long_timeseries", match.source_id, instrument)
    if not rows:
        raise CompatError(
            404, f"no long term time series of {match.name} for {instrument.name} in the archive"
        )
    return await _timeseries_json(rows, match.source_id, ctx, "scw")


async def _short_timeseries_json(
    conn: AsyncConnection, params: Mapping[str, str], ctx: ServiceContext
) -> dict[str, Any]:
    """The light curves of a source in one epoch for a band, as JSON arrays."""
    match = await _source(conn, _required(params, "source", "J011705.1-732636"))
    instrument = await _instrument(conn, band_oid=_oid(params, "band_oid"))
    epoch = _epoch(params)
    rows = await _timeseries_rows(
        conn, "short_timeseries", match.source_id, instrument, epoch=epoch, by_band=True
    )
    if not rows:
        raise CompatError(
            404,
            f"no short term time series of {match.name} in epoch {epoch} for {instrument.band} "
            "in the archive",
        )
    return await _timeseries_json(rows, match.source_id, ctx, "s")


# --- packaging ------------------------------------------------------------------------------------


def _object_chunks(store: ObjectStore, member: Member) -> Iterator[bytes]:
    with store.iter_object(member.bucket, member.key, chunk_size=CHUNK) as stream:
        yield from stream


def _tar_header(member: Member) -> bytes:
    info = tarfile.TarInfo(member.name)
    info.size = member.size
    info.mtime = member.mtime
    info.mode = 0o644
    info.uname = info.gname = "isla"
    return info.tobuf(format=tarfile.GNU_FORMAT, encoding="utf-8", errors="strict")


def tar_size(members: Sequence[Member]) -> int:
    """The exact size of the plain tar of ``members`` (headers, data, padding, end blocks)."""
    return sum(len(_tar_header(m)) + m.size + (-m.size % 512) for m in members) + 1024


def iter_tar(store: ObjectStore, members: Sequence[Member]) -> Iterator[bytes]:
    """A plain (POSIX/GNU) tar of stored objects, streamed chunk by chunk."""
    for member in members:
        yield _tar_header(member)
        sent = 0
        for chunk in _object_chunks(store, member):
            sent += len(chunk)
            yield chunk
        if sent != member.size:
            # The header already promised the recorded size: a short object would corrupt
            # every later member, so the download is cut instead.
            raise RuntimeError(f"{member.key}: {sent} bytes stored, {member.size} recorded")
        yield bytes(-member.size % 512)
    yield bytes(1024)


def iter_tar_gz(store: ObjectStore, members: Sequence[Member]) -> Iterator[bytes]:
    """The tar of ``members`` compressed on the fly (gzip container, as ISLA's mosaics)."""
    # ISLA's own mosaic files are gzip-compressed already: deflating them again took 0.3 s for
    # the 4.5 MB package of epoch 0727 and gained nothing, so such members are only stored
    # (level 0 still makes a valid gzip stream); plain FITS images get the fast level 1.
    level = 0 if all(m.name.endswith(".gz") for m in members) else 1
    compressor = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    for piece in iter_tar(store, members):
        out = compressor.compress(piece)
        if out:
            yield out
    yield compressor.flush()


class _Sink(io.RawIOBase):
    """A write-only, unseekable buffer: zipfile then writes data descriptors, as streams need."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        out = b"".join(self._parts)
        self._parts.clear()
        return out


def iter_zip(store: ObjectStore, members: Sequence[Member]) -> Iterator[bytes]:
    """A deflated zip of stored objects (ISLA's time-series package), streamed."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for member in members:
            info = zipfile.ZipInfo(
                member.name, dt.datetime.fromtimestamp(member.mtime, dt.UTC).timetuple()[:6]
            )
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            with archive.open(info, "w") as entry:
                for chunk in _object_chunks(store, member):
                    entry.write(chunk)
                    out = sink.take()
                    if out:
                        yield out
            yield sink.take()
    yield sink.take()


def _members(rows: Sequence[Any]) -> list[Member]:
    seen: set[str] = set()
    out = []
    for r in rows:
        if r.file_name in seen:  # two units' files never share a name in ISLA's packages
            continue
        seen.add(r.file_name)
        created = r.created_at or dt.datetime(2025, 3, 1)
        out.append(
            Member(
                r.file_name,
                r.bucket,
                r.object_key,
                int(r.size),
                int(created.replace(tzinfo=dt.UTC).timestamp()),
            )
        )
    return out


def _safe_name(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", value).strip("_") or "isla"


def package(
    store: ObjectStore, members: Sequence[Member], fmt: str, file_name: str
) -> StreamingResponse:
    """Stream ``members`` as a ``tar``, ``tar.gz`` or ``zip`` download named ``file_name``."""
    makers = {
        "tar": (iter_tar, "application/x-tar"),
        "tar.gz": (iter_tar_gz, "application/gzip"),
        "zip": (iter_zip, "application/zip"),
    }
    maker, media = makers[fmt]
    headers = {"Content-Disposition": f'attachment; filename="{file_name}"'}
    if fmt == "tar":
        headers["Content-Length"] = str(tar_size(members))
    return StreamingResponse(
        iterate_in_threadpool(maker(store, members)), media_type=media, headers=headers
    )


# --- data?RETRIEVAL_TYPE= -------------------------------------------------------------------------


@router.api_route(
    "/data",
    methods=["GET", "HEAD"],
    summary="ISLA product retrieval (long_timeseries, short_timeseries, spectras, mosaics)",
)
async def data(request: Request, ctx: Annotated[ServiceContext, Depends(context)]) -> Response:
    """Answer ``data?RETRIEVAL_TYPE=...`` for products with ISLA's packages."""
    params = _params(request)
    kind = (params.get("retrieval_type") or "").lower()
    handlers = {
        "long_timeseries": _long_timeseries_file,
        "short_timeseries": _short_timeseries_file,
        "spectras": _spectrum_file,
        "spectra": _spectrum_file,
        "mosaics": _mosaic_file,
    }
    handler = handlers.get(kind)
    if handler is None:
        raise CompatError(
            400,
            "RETRIEVAL_TYPE must be SCW, long_timeseries, short_timeseries, spectras or mosaics,"
            f" not {params.get('retrieval_type')!r}",
        )
    store = _store(ctx)
    async with engine_of(ctx).connect() as conn:
        result = await handler(conn, params, ctx)
    if isinstance(result, Response):
        return result
    members, fmt, name = result
    # Once streaming has begun an error can only cut the download: check the objects first.
    try:
        await run_in_threadpool(lambda: [store.stat(m.bucket, m.key) for m in members])
    except StorageUnavailable as exc:
        raise CompatError(
            503, f"the object store is unavailable: {exc}", headers={"Retry-After": "30"}
        ) from None
    except ObjectNotFound as exc:
        raise CompatError(404, f"a file of this product is missing from the store: {exc}") from None
    return package(store, members, fmt, name)


async def _long_timeseries_file(
    conn: AsyncConnection, params: Mapping[str, str], ctx: ServiceContext
) -> Packaged:
    match = await _source(conn, _required(params, "source", "J174537.0-290107"))
    instrument = await _instrument(conn, instrument_oid=_oid(params, "instrument_oid"))
    rows = await _timeseries_rows(conn, "long_timeseries", match.source_id, instrument)
    name = f"{_safe_name(match.name)}_{_safe_name(instrument.archive_name)}_allmission_timeseries"
    if rows:
        return _members(rows), "zip", f"{name}.zip"
    built = await _built_timeseries(ctx, match, instrument, f"{name}.fits", {})
    if built is None:
        raise CompatError(
            404, f"no long term time series of {match.name} for {instrument.name} in the archive"
        )
    return built


async def _short_timeseries_file(
    conn: AsyncConnection, params: Mapping[str, str], ctx: ServiceContext
) -> Packaged:
    match = await _source(conn, _required(params, "source", "J011705.1-732636"))
    instrument = await _instrument(conn, band_oid=_oid(params, "band_oid"))
    epoch = _epoch(params)
    rows = await _timeseries_rows(
        conn, "short_timeseries", match.source_id, instrument, epoch=epoch, by_band=True
    )
    name = (
        f"{_safe_name(match.name)}_{_safe_name(instrument.archive_name)}_{epoch}_"
        f"{instrument.band}_timeseries"
    )
    if rows:
        return _members(rows), "zip", f"{name}.zip"
    span = (
        await conn.execute(
            text(
                "SELECT min(start_time), max(end_time) FROM isla.science_windows "
                "WHERE obsid = :obsid AND revolution = :rev AND scw_type = 'pointing'"
            ),
            {"obsid": epoch[5:], "rev": int(epoch[:4])},
        )
    ).one()
    built = None
    if span[0] is not None:
        window = {"start": span[0].isoformat(), "end": span[1].isoformat()}
        built = await _built_timeseries(ctx, match, instrument, f"{name}.fits", window)
    if built is None:
        raise CompatError(
            404,
            f"no short term time series of {match.name} in epoch {epoch} for {instrument.band} "
            "in the archive",
        )
    return built


async def _built_timeseries(
    ctx: ServiceContext,
    match: SourceMatch,
    instrument: IslaInstrument,
    file_name: str,
    window: Mapping[str, str],
) -> Response | None:
    """A light curve made now from the archive's light-curve points, zipped as ISLA does.

    Used when no time-series file is stored for the request; None when the points give no
    light curve either (the products service's native light-curve route builds the FITS).
    """
    url = f"{peer_settings().peer('products')}/products/lightcurves/{match.source_id}"
    query = {
        "instrument": instrument.archive_name,
        "band": instrument.band,
        "binning": "scw",
        "format": "fits",
        **window,
    }
    try:
        response = await ctx.http.get(url, params=query)
    except httpx.HTTPError as exc:
        raise CompatError(
            503,
            f"the light-curve service does not answer: {type(exc).__name__}",
            headers={"Retry-After": "30"},
        ) from None
    if response.status_code != 200 or not _has_rows(response.content):
        return None
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(file_name, response.content)
    stem = file_name.removesuffix(".fits")
    return Response(
        buffer.getvalue(),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{stem}.zip"'},
    )


def _has_rows(data: bytes) -> bool:
    try:
        with fits.open(io.BytesIO(data)) as hdus:
            return any(
                isinstance(h, fits.BinTableHDU) and h.data is not None and len(h.data) > 0
                for h in hdus
            )
    except (OSError, ValueError):
        return False


async def _product(conn: AsyncConnection, product_id: str, kind: str) -> Any:
    row = (
        await conn.execute(
            text(
                f"SELECT {_PRODUCT_COLUMNS} FROM isla.products "  # noqa: S608 - constant columns
                "WHERE product_id = :pid AND kind = :kind"
            ),
            {"pid": product_id, "kind": kind},
        )
    ).first()
    if row is None:
        raise CompatError(404, f"no {kind} with id {product_id!r} in the archive")
    return row


async def _spectrum_file(
    conn: AsyncConnection, params: Mapping[str, str], ctx: ServiceContext
) -> Packaged:
    spectrum = await _product(
        conn,
        _required(params, "spectra_oid", "spectrum/ISGRI/0745_06340000001/J011705.1-732636"),
        "spectrum",
    )
    meta = dict(spectrum.meta or {})
    rows = [spectrum]
    for part in ("arf", "rmf"):
        pid = meta.get(part)
        if isinstance(pid, str):
            found = (
                await conn.execute(
                    text(f"SELECT {_PRODUCT_COLUMNS} FROM isla.products WHERE product_id = :pid"),  # noqa: S608
                    {"pid": pid},
                )
            ).first()
            if found is not None:
                rows.append(found)
    # ISLA's order: response matrix, ancillary response, then the spectrum.
    rows.sort(key=lambda r: {"rmf": 0, "arf": 1}.get(r.kind, 2))
    stem = spectrum.file_name.rsplit(".fits", 1)[0].removesuffix("_spe")
    return _members(rows), "tar", f"{_safe_name(stem)}.tar"


async def _mosaic_file(
    conn: AsyncConnection, params: Mapping[str, str], ctx: ServiceContext
) -> Packaged:
    mosaic = await _product(
        conn, _required(params, "mosaic_oid", "mosaic/ISGRI/0727_88601650001/28_40"), "mosaic"
    )
    rows = (
        await conn.execute(
            text(
                f"SELECT {_PRODUCT_COLUMNS} FROM isla.products "  # noqa: S608 - constant columns
                "WHERE (kind = 'mosaic' AND instrument = :ins AND epoch IS NOT DISTINCT FROM "
                ":epoch AND band_id IS NOT DISTINCT FROM :band) "
                "OR (kind NOT IN ('preview', 'mosaic') AND meta->>'of' = :pid) "
                "ORDER BY product_id"
            ),
            {
                "ins": mosaic.instrument,
                "epoch": mosaic.epoch,
                "band": mosaic.band_id,
                "pid": mosaic.product_id,
            },
        )
    ).all()
    band = (
        await conn.execute(
            text("SELECT name FROM isla.energy_bands WHERE band_id = :b"), {"b": mosaic.band_id}
        )
    ).scalar()
    name = f"{_safe_name(mosaic.instrument)}_{mosaic.epoch}_{band or 'all'}_mosaic"
    return _members(rows), "tar.gz", f"{name}.tar.gz"
