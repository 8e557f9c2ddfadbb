"""ISLA's ``data?RETRIEVAL_TYPE=`` downloads of products: plan what to send from the stored
rows, then stream it.

A handler returns a plan while the database connection is open; the plan is carried out after
the connection is released: stored files are packaged from the object store, and a time series
that is not stored as a file is made from the stored points by the light-curve room's code,
called directly (never through this service's own HTTP).
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi.responses import Response, StreamingResponse
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.concurrency import iterate_in_threadpool

from services.products.compat import store
from services.products.compat.params import epoch_of, oid, required
from services.products.compat.servlet import instrument_of, source_of
from services.products.lightcurves.service import scw_points_fits
from shared.packaging import TAR, TAR_GZ, ZIP, Member, iter_tar, iter_tar_gz, iter_zip, tar_size
from shared.service import ServiceContext
from shared.storage import ObjectStore
from shared.vo.errors import NotFoundFault
from shared.vo.params import IvoaParams


@dataclass(frozen=True)
class Package:
    """Stored files to send as one package."""

    members: list[Member]
    fmt: str
    """``tar``, ``tar.gz`` or ``zip``."""
    name: str


@dataclass(frozen=True)
class FromPoints:
    """A time series to make from the stored points and zip, as ISLA packages one."""

    source_id: str
    instrument: str
    band: str
    t0: float
    t1: float
    file_name: str
    missing: str
    """The 404 text when the points give no light curve either."""


Plan = Package | FromPoints
Handler = Callable[[AsyncConnection, IvoaParams], Awaitable[Plan]]


async def long_timeseries(conn: AsyncConnection, params: IvoaParams) -> Plan:
    """The all-mission time series of a source for an instrument (zip)."""
    match = await source_of(conn, required(params, "source", "J174537.0-290107"))
    instrument = await instrument_of(conn, instrument_oid=oid(params, "instrument_oid"))
    rows = await store.timeseries(
        conn, "long_timeseries", match.source_id, instrument.product_instruments, None, None
    )
    name = f"{safe_name(match.name)}_{safe_name(instrument.archive_name)}_allmission_timeseries"
    if rows:
        return Package(members_of(rows), "zip", f"{name}.zip")
    return FromPoints(
        match.source_id,
        instrument.archive_name,
        instrument.band,
        -1e9,
        1e9,
        f"{name}.fits",
        f"no long term time series of {match.name} for {instrument.name} in the archive",
    )


async def short_timeseries(conn: AsyncConnection, params: IvoaParams) -> Plan:
    """The time series of a source in one epoch for a band (zip)."""
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
    name = (
        f"{safe_name(match.name)}_{safe_name(instrument.archive_name)}_{epoch}_"
        f"{instrument.band}_timeseries"
    )
    if rows:
        return Package(members_of(rows), "zip", f"{name}.zip")
    missing = (
        f"no short term time series of {match.name} in epoch {epoch} for {instrument.band} "
        "in the archive"
    )
    start, end = await store.epoch_span(conn, epoch)
    if start is None or end is None:
        raise NotFoundFault(missing)
    return FromPoints(
        match.source_id,
        instrument.archive_name,
        instrument.band,
        start,
        end,
        f"{name}.fits",
        missing,
    )


async def spectrum(conn: AsyncConnection, params: IvoaParams) -> Plan:
    """A stored spectrum with its stored RMF and ARF (plain tar, ISLA's order)."""
    pid = required(params, "spectra_oid", "spectrum/ISGRI/0745_06340000001/J011705.1-732636")
    row = await store.product(conn, pid, "spectrum")
    if row is None:
        raise NotFoundFault(f"no spectrum with id {pid!r} in the archive")
    meta = dict(row.meta or {})
    rows = [row]
    for part in ("arf", "rmf"):
        ref = meta.get(part)
        if isinstance(ref, str):
            found = await store.product(conn, ref)
            if found is not None:
                rows.append(found)
    # ISLA's order: response matrix, ancillary response, then the spectrum.
    rows.sort(key=lambda r: {"rmf": 0, "arf": 1}.get(r.kind, 2))
    stem = row.file_name.rsplit(".fits", 1)[0].removesuffix("_spe")
    return Package(members_of(rows), "tar", f"{safe_name(stem)}.tar")


async def mosaic(conn: AsyncConnection, params: IvoaParams) -> Plan:
    """A stored mosaic with the other files of its set (tar.gz)."""
    pid = required(params, "mosaic_oid", "mosaic/ISGRI/0727_88601650001/28_40")
    row = await store.product(conn, pid, "mosaic")
    if row is None:
        raise NotFoundFault(f"no mosaic with id {pid!r} in the archive")
    rows = await store.mosaic_set(conn, row)
    band = await store.band_name(conn, row.band_id)
    name = f"{safe_name(row.instrument)}_{row.epoch}_{band or 'all'}_mosaic"
    return Package(members_of(rows), "tar.gz", f"{name}.tar.gz")


HANDLERS: dict[str, Handler] = {
    "long_timeseries": long_timeseries,
    "short_timeseries": short_timeseries,
    "spectras": spectrum,
    "spectra": spectrum,
    "mosaics": mosaic,
}
"""The product ``RETRIEVAL_TYPE`` values and their handlers."""


async def from_points(ctx: ServiceContext, plan: FromPoints) -> Response:
    """The per-ScW light curve of the stored points, zipped as ISLA packages a time series."""
    data = await scw_points_fits(ctx, plan.source_id, plan.instrument, plan.band, plan.t0, plan.t1)
    if data is None:
        raise NotFoundFault(plan.missing)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(plan.file_name, data)
    stem = plan.file_name.removesuffix(".fits")
    return Response(
        buffer.getvalue(),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{stem}.zip"'},
    )


# --- packages ------------------------------------------------------------------------------------


def members_of(rows: Sequence[Any]) -> list[Member]:
    """The package members of stored product rows (one file per name)."""
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


def safe_name(value: str) -> str:
    """A value usable in a package file name."""
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", value).strip("_") or "isla"


def package(
    store: ObjectStore, members: Sequence[Member], fmt: str, file_name: str
) -> StreamingResponse:
    """Stream ``members`` as ISLA packages them (:mod:`shared.packaging`): a ``tar`` (with
    its exact length), a ``tar.gz`` or a ``zip``, as a download named ``file_name``."""
    makers = {"tar": (iter_tar, TAR), "tar.gz": (iter_tar_gz, TAR_GZ), "zip": (iter_zip, ZIP)}
    maker, media = makers[fmt]
    headers = {"Content-Disposition": f'attachment; filename="{file_name}"'}
    if fmt == "tar":
        headers["Content-Length"] = str(tar_size(members))
    return StreamingResponse(
        iterate_in_threadpool(maker(store, members)), media_type=media, headers=headers
    )
