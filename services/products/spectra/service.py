"""Policy of the spectra room: a spectrum is a stored PHA file; its JSON, VOTable and CSV are
conversions of that file's channels, with energies from its own stored RMF; its responses are
stored ARF/RMF products; time-resolved intervals are the stored time-resolved spectra."""

from __future__ import annotations

import math
import re
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from services.products.common import (
    NotFound,
    SourceRecord,
    meta_of,
    parse_epoch,
    run_db,
    same_instrument,
    simulated_of,
    table_response,
)
from services.products.files.service import read_product, stream_product
from services.products.spectra import store
from shared.integral.time import MJDREF, ijd_to_utc
from shared.products import readers
from shared.service import ServiceContext
from shared.vo.results import ResultField
from shared.vo.types import VOType

SPECTRUM_FIELDS = [
    ResultField("channel", VOType("int"), None, "instr.channel", None, "PHA channel."),
    ResultField(
        "e_min", VOType("double"), "keV", "em.energy;stat.min", None, "Channel lower bound (RMF)."
    ),
    ResultField(
        "e_max", VOType("double"), "keV", "em.energy;stat.max", None, "Channel upper bound (RMF)."
    ),
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
INTERVAL = re.compile(r"^interval(\d+)$")


def scope_of(row: Any) -> str:
    """How requests name a stored spectrum: ``mission``, its epoch or ``intervalNN``."""
    meta = meta_of(row)
    scope = meta.get("scope")
    if scope == "time_resolved":
        number = interval_of(row)
        return f"interval{number:02d}" if number is not None else row.product_id
    if scope == "epoch" or (scope is None and row.epoch):
        return str(row.epoch)
    return "mission"


def interval_of(row: Any) -> int | None:
    """The 1-based interval number of a time-resolved spectrum (meta, else its product id)."""
    value = meta_of(row).get("interval")
    if isinstance(value, int):
        return value
    for part in str(row.product_id).split("/"):
        match = INTERVAL.match(part)
        if match:
            return int(match.group(1))
    return None


def parse_scope(scope: str | None, epoch: str | None) -> str:
    """The scope asked for: ``mission`` (default), an epoch or ``intervalNN``; BadRequest
    when it is none of them."""
    value = epoch or scope or "mission"
    if value == "mission":
        return value
    match = INTERVAL.match(value)
    if match:
        return f"interval{int(match.group(1)):02d}"
    parse_epoch(value)
    return value


def _listing(rows: list[Any]) -> dict[str, Any]:
    """What a source has in stored spectra, for 404s."""
    by_instrument: dict[str, dict[str, list[str]]] = {}
    for r in rows:
        entry = by_instrument.setdefault(
            r.instrument, {"scopes": [], "epochs": [], "intervals": []}
        )
        scope = scope_of(r)
        if scope.startswith("interval"):
            entry["intervals"].append(scope)
        elif scope == "mission":
            entry["scopes"].append(scope)
        else:
            entry["epochs"].append(scope)
    return by_instrument


def choose(rows: list[Any], source: SourceRecord, instrument: str, scope: str) -> Any:
    """The stored spectrum of ``scope``; NotFound naming the spectra that are stored."""
    mine = [r for r in rows if same_instrument(r.instrument, instrument)]
    for r in mine:
        if scope_of(r) == scope:
            return r
    listing = _listing(rows)
    own = listing.get(instrument, {"scopes": [], "epochs": [], "intervals": []})
    raise NotFound(
        f"no {instrument} spectrum of {source.source_id} ({source.name}) for {scope} is stored "
        "in the archive",
        {
            "instruments": sorted(listing),
            "scopes": own["scopes"],
            "epochs": own["epochs"],
            "intervals": own["intervals"],
        },
    )


def spectrum_rows(table: readers.SpectrumTable) -> list[tuple[Any, ...]]:
    """Rows of :data:`SPECTRUM_FIELDS`: the file's channels, unrounded."""

    def num(v: float) -> float | None:
        return float(v) if math.isfinite(v) else None

    return [
        (
            int(c),
            num(lo),
            num(hi),
            num(math.sqrt(lo * hi)) if lo > 0 and hi > 0 else None,
            num(hi - lo),
            num(r),
            num(e),
        )
        for c, lo, hi, r, e in zip(
            table.channel, table.e_min, table.e_max, table.rate, table.error, strict=True
        )
    ]


async def read_table(ctx: ServiceContext, row: Any) -> tuple[readers.SpectrumTable, Any]:
    """The stored spectrum's channels with their energies from its stored RMF (and that
    RMF's row, None when the spectrum names none)."""
    meta = meta_of(row)
    rmf_id = meta.get("rmf")
    rmf_row = None
    if isinstance(rmf_id, str):
        rmf_row = (await run_db(ctx, store.products, [rmf_id])).get(rmf_id)
    object_store = ctx.require_store()
    pha = await read_product(object_store, row)
    rmf = await read_product(object_store, rmf_row) if rmf_row is not None else None
    table = await run_in_threadpool(readers.read_spectrum, pha, rmf)
    return table, rmf_row


def _file_url(product_id: str | None) -> str | None:
    return None if product_id is None else f"/products/files/{quote(product_id, safe='/')}"


async def spectrum(
    ctx: ServiceContext,
    request: Request,
    source: SourceRecord,
    instrument: str,
    scope: str,
    fmt: str,
) -> Response:
    """The stored spectrum as delivered (FITS) or its channels (JSON, VOTable, CSV)."""
    rows = await run_db(ctx, store.spectra, source.source_id)
    row = choose(rows, source, instrument, scope)
    if fmt == "fits":
        return await stream_product(request, ctx.require_store(), row)
    table, _ = await read_table(ctx, row)
    meta = meta_of(row)
    info = {
        "product_id": row.product_id,
        "source_id": source.source_id,
        "name": source.name,
        "instrument": row.instrument,
        "scope": scope,
        "epoch": row.epoch,
        "exposure": table.exposure,
        "nscw": meta.get("nscw"),
        "tstart_mjd": row.t_min,
        "tstop_mjd": row.t_max,
        "respfile": table.header.get("RESPFILE"),
        "ancrfile": table.header.get("ANCRFILE"),
        "rmf_url": _file_url(meta.get("rmf")),
        "arf_url": _file_url(meta.get("arf")),
        "file_url": _file_url(row.product_id),
        "simulated": simulated_of(row),
    }
    return table_response(fmt, SPECTRUM_FIELDS, spectrum_rows(table), info)


def _iso(mjd: float | None) -> str | None:
    return None if mjd is None else ijd_to_utc(float(mjd) - MJDREF).isoformat()


async def intervals(ctx: ServiceContext, source: SourceRecord, instrument: str) -> dict[str, Any]:
    """The stored time-resolved spectra of a source, interval by interval."""
    rows = await run_db(ctx, store.spectra, source.source_id)
    mine = [
        r
        for r in rows
        if same_instrument(r.instrument, instrument) and meta_of(r).get("scope") == "time_resolved"
    ]
    if not mine:
        listing = _listing(rows)
        raise NotFound(
            f"no time-resolved {instrument} spectra of {source.source_id} ({source.name}) are "
            "stored in the archive",
            {
                "instruments": sorted(k for k, v in listing.items() if v["intervals"]),
                "spectra": listing,
            },
        )
    mine.sort(key=lambda r: (interval_of(r) or 0, r.product_id))
    out = []
    for r in mine:
        meta = meta_of(r)
        scope = scope_of(r)
        out.append(
            {
                "scope": scope,
                "interval": interval_of(r),
                "product_id": r.product_id,
                "start_mjd": r.t_min,
                "stop_mjd": r.t_max,
                "start": _iso(r.t_min),
                "stop": _iso(r.t_max),
                "nscw": meta.get("nscw"),
                "exposure": meta.get("exposure"),
                "snr": meta.get("snr"),
                "simulated": simulated_of(r),
                "spectrum": f"/products/spectra/{source.source_id}?instrument={instrument}"
                f"&scope={scope}",
            }
        )
    snrs = [meta_of(r).get("target_snr") for r in mine]
    return {
        "source_id": source.source_id,
        "instrument": instrument,
        "target_snr": next((s for s in snrs if s is not None), None),
        "intervals": out,
    }


async def response_file(
    ctx: ServiceContext, request: Request, instrument: str, kind: str
) -> Response:
    """The instrument's stored ARF or RMF (the standard one; else the first stored)."""
    rows = await run_db(ctx, store.responses, kind)
    mine = [r for r in rows if same_instrument(r.instrument, instrument)]
    if not mine:
        raise NotFound(
            f"no {kind.upper()} of {instrument} is stored in the archive",
            {"instruments": sorted({r.instrument for r in rows})},
        )
    return await stream_product(request, ctx.require_store(), mine[0])
