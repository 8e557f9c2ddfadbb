"""ISLA's ``REQUEST=`` calls (handed over by ``tap/sync``): timelines, source metadata, and the
stored spectra, mosaics and time series of a source, as ISLA's JSON.

Spectra and time series carry their points for plotting: the same numbers as the stored files
(read by :mod:`shared.products.readers`), never a model.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.time import Time
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.concurrency import run_in_threadpool

from services.products.common import meta_of
from services.products.compat import store
from services.products.compat.params import (
    DEFAULT_RADIUS,
    FULLY_CODED_DEG,
    MAX_RADIUS,
    NO_SCW,
    NO_SOURCE,
    IslaInstrument,
    epoch_of,
    iso,
    number,
    oid,
    required,
)
from services.products.files.service import read_whole
from shared.integral.time import MJDREF
from shared.products import readers
from shared.service import ServiceContext
from shared.settings import peer_settings
from shared.sources import SourceMatch, find_source
from shared.storage import ObjectNotFound, ObjectStore, StorageUnavailable
from shared.vo.errors import NotFoundFault, UsageFault
from shared.vo.params import IvoaParams

log = logging.getLogger("isla.products.compat")

Handler = Callable[[AsyncConnection, IvoaParams, ServiceContext], Awaitable[Any]]


async def instrument_of(
    conn: AsyncConnection, *, instrument_oid: int | None = None, band_oid: int | None = None
) -> IslaInstrument:
    """The ISLA instrument of an instrument_oid or band_oid (400 listing the valid ones)."""
    known = [
        IslaInstrument(int(r[0]), str(r[1]), str(r[2]), int(r[3]), str(r[4]))
        for r in await store.instruments(conn)
    ]
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
    raise UsageFault(f"unknown {what}; valid values: {valid}")


async def source_of(conn: AsyncConnection, name: str) -> SourceMatch:
    """The source a name designates; 404 with the client's wording."""
    match = await find_source(conn, name)
    if match is None:
        raise NotFoundFault(f"{NO_SOURCE}: {name!r} is no name, alias or source id here")
    return match


async def timelines(
    conn: AsyncConnection, params: IvoaParams, ctx: ServiceContext
) -> dict[str, Any]:
    """Every pointing within ``radius`` of (ra, dec): exposure, revolution phase, time, offset."""
    ra = number(params, "ra")
    dec = number(params, "dec")
    radius = number(params, "radius", DEFAULT_RADIUS)
    if not -90.0 <= dec <= 90.0:
        raise UsageFault(f"dec must be within -90..90 degrees, not {dec}")
    if not 0.0 < radius <= MAX_RADIUS:
        raise UsageFault(f"radius must be within (0, {MAX_RADIUS}] degrees, not {radius}")
    row = await store.timeline(conn, ra % 360.0, dec, radius, FULLY_CODED_DEG)
    if not row.total:
        raise NotFoundFault(
            f"{NO_SCW} within {radius} degrees of RA={ra}, Dec={dec}: no pointing there"
        )
    return {
        "totalItems": row.total,
        "data": {
            "fraFC": row.fully_coded / row.total,
            "totEffExpo": float(row.total_exposure),
            "scwExpo": row.expo,
            "scwRevs": row.revs,
            "scwTimes": row.times,
            "scwOffAxis": row.offaxis,
            "scwIds": row.scws,
        },
    }


def _row(param: str, value: Any) -> dict[str, Any]:
    return {"param": param, "value": value}


async def sources(
    conn: AsyncConnection, params: IvoaParams, ctx: ServiceContext
) -> list[dict[str, Any]]:
    """The archive's metadata of one source, in ISLA's sections of param/value rows."""
    name = params.get_upper("source") or params.get_upper("target_name") or ""
    if not name:
        raise UsageFault("SOURCE is required, e.g. SOURCE=Crab")
    match = await source_of(conn, name)
    src = await store.source(conn, match.source_id)
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
        _row("Coordinates", coord.to_string("hmsdms", sep=" ", precision=2)),
        _row("Galactic", f"{coord.galactic.l.deg:.2f} {coord.galactic.b.deg:.2f}"),
        _row("Class", src.source_class),
        _row("Position error (arcmin)", src.pos_err),
        *[_row(k, "detected" if v else "not detected") for k, v in flags.items()],
    ]
    fluxes = await store.fluxes(conn, src.source_id)
    aliases = await store.aliases(conn, src.source_id)
    products = await store.source_products(conn, src.source_id)
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


async def spectra(
    conn: AsyncConnection, params: IvoaParams, ctx: ServiceContext
) -> list[dict[str, Any]]:
    """The stored spectra of a source in an epoch for an instrument (``spectraOid`` = product
    id), with their channels read from the stored files."""
    match = await source_of(conn, required(params, "source", "J011705.1-732636"))
    instrument = await instrument_of(conn, instrument_oid=oid(params, "instrument_oid"))
    epoch = epoch_of(params)
    rows = await store.spectra(conn, match.source_id, epoch, instrument.product_instruments)
    out = []
    for r in rows:
        meta = meta_of(r)
        rmf_id = meta.get("rmf")
        rmf = await store.product(conn, rmf_id) if isinstance(rmf_id, str) else None
        points = await run_in_threadpool(spectrum_points, ctx.store, r, rmf)
        out.append(
            {
                "spectraOid": r.product_id,
                "fileName": r.file_name,
                "detector": [r.instrument],
                "instrument": instrument.name,
                "sourceId": r.source_id,
                "epoch": r.epoch,
                "dateStart": iso(r.t_min),
                "dateStop": iso(r.t_max),
                "metadata": meta,
                **points,
            }
        )
    return out


def spectrum_points(store_: ObjectStore | None, spectrum: Any, rmf: Any) -> dict[str, Any]:
    """Energy (keV, channel centre and half width), rate and error of a stored spectrum, the
    channel energies from the EBOUNDS of its stored RMF.

    ISLA's servlet sends these arrays for plotting; when a file cannot be read the entry simply
    has none (the client downloads the files by ``spectraOid`` anyway).
    """
    if store_ is None or rmf is None:
        return {}
    try:
        table = readers.read_spectrum(read_whole(store_, spectrum), read_whole(store_, rmf))
    except (readers.UnreadableProduct, StorageUnavailable, ObjectNotFound):
        log.warning("spectrum %s: no points for the servlet", spectrum.product_id, exc_info=True)
        return {}
    keep = [
        i
        for i in range(len(table.channel))
        if math.isfinite(table.e_min[i]) and math.isfinite(table.rate[i])
    ]

    def finite(v: float) -> float | None:
        return float(v) if math.isfinite(v) else None

    return {
        "energy": [float(table.e_min[i] + table.e_max[i]) / 2 for i in keep],
        "energyError": [float(table.e_max[i] - table.e_min[i]) / 2 for i in keep],
        "rate": [float(table.rate[i]) for i in keep],
        "rateError": [finite(table.error[i]) for i in keep],
    }


async def mosaics(
    conn: AsyncConnection, params: IvoaParams, ctx: ServiceContext
) -> list[dict[str, Any]]:
    """The stored mosaics of an epoch in a band: one entry per instrument/band image set."""
    instrument = await instrument_of(conn, band_oid=oid(params, "band_oid"))
    epoch = epoch_of(params)
    rows = await store.mosaics(conn, epoch, instrument.band_oid, instrument.product_instruments)
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
                "dateStart": iso(first.t_min),
                "dateStop": iso(first.t_max),
                "metadata": meta_of(first),
            }
        )
    return out


# --- time series ---------------------------------------------------------------------------------


def _series_json(store_: ObjectStore, row: Any) -> dict[str, Any]:
    """TIME (as UTC ISO), RATE and ERROR of a stored time-series file."""
    table = readers.read_timeseries(read_whole(store_, row))
    times = table.time + MJDREF
    stamps = Time(times, format="mjd", scale="tt").utc.isot if len(times) else []
    return {
        "detector": table.detector,
        "time": [str(t) for t in stamps],
        "rates": [None if not math.isfinite(v) else float(v) for v in table.rate],
        "errors": [None if not math.isfinite(v) else float(v) for v in table.error],
    }


async def _timeseries_json(
    rows: list[Any], source_id: str, ctx: ServiceContext, unit: str
) -> dict[str, Any]:
    object_store = ctx.require_store()
    series = []
    for r in rows:
        # An outage of the store is the shared 503 (raised through here).
        try:
            series.append(await run_in_threadpool(_series_json, object_store, r))
        except (ObjectNotFound, readers.UnreadableProduct):
            raise NotFoundFault(
                f"the file of {r.product_id} is missing from the store or unreadable"
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


async def long_timeseries(
    conn: AsyncConnection, params: IvoaParams, ctx: ServiceContext
) -> dict[str, Any]:
    """The stored whole-mission light curves of a source for an instrument, as JSON arrays."""
    match = await source_of(conn, required(params, "source", "J174537.0-290107"))
    instrument = await instrument_of(conn, instrument_oid=oid(params, "instrument_oid"))
    rows = await store.timeseries(
        conn, "long_timeseries", match.source_id, instrument.product_instruments, None, None
    )
    if not rows:
        raise NotFoundFault(
            f"no long term time series of {match.name} for {instrument.name} in the archive"
        )
    return await _timeseries_json(rows, match.source_id, ctx, "scw")


async def short_timeseries(
    conn: AsyncConnection, params: IvoaParams, ctx: ServiceContext
) -> dict[str, Any]:
    """The stored light curves of a source in one epoch for a band, as JSON arrays."""
    match = await source_of(conn, required(params, "source", "J011705.1-732636"))
    instrument = await instrument_of(conn, band_oid=oid(params, "band_oid"))
    epoch = epoch_of(params)
    rows = await store.timeseries(
        conn,
        "short_timeseries",
        match.source_id,
        instrument.product_instruments,
        epoch,
        instrument.band_oid,
    )
    if not rows:
        raise NotFoundFault(
            f"no short term time series of {match.name} in epoch {epoch} for {instrument.band} "
            "in the archive",
        )
    return await _timeseries_json(rows, match.source_id, ctx, "s")


HANDLERS: dict[str, Handler] = {
    "timelines": timelines,
    "sources": sources,
    "spectra": spectra,
    "mosaics": mosaics,
    "long_timeseries": long_timeseries,
    "short_timeseries": short_timeseries,
}
"""The ``REQUEST=`` values and their handlers."""
