"""Policy of the mosaics room: a mosaic is a stored file, served as delivered; the PNG
preview and the JSON summary are rendered from that file (and kept, per file checksum, in a
small in-process cache: rendering a 600 x 600 image takes a few tens of milliseconds)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any
from urllib.parse import urlencode

import numpy as np
from astropy.wcs.utils import proj_plane_pixel_scales
from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from services.products.common import (
    Band,
    NotFound,
    disposition,
    json_response,
    meta_of,
    run_db,
    same_instrument,
    simulated_of,
)
from services.products.files.service import read_product, stream_product
from services.products.mosaics import store
from shared.products import readers, views
from shared.service import ServiceContext

PREVIEW_IMAGES = ("SIGNIFICANCE", "INTENSITY")
"""The image a preview shows, in order of preference."""


class RenderCache:
    """Previews and summaries of stored mosaics, by (file checksum, format)."""

    def __init__(self, size: int) -> None:
        """Keep at most ``size`` renderings."""
        self.size = size
        self._items: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> Any:
        """A rendering, or None."""
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: tuple[str, str], value: Any) -> None:
        """Keep a rendering (the oldest goes when full)."""
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)


CACHE = RenderCache(64)


def _url(epoch: str, instrument: str, band: str, fmt: str) -> str:
    query = urlencode({"instrument": instrument, "band": band, "format": fmt})
    return f"/products/mosaics/{epoch}?{query}"


async def listing(ctx: ServiceContext, revolution: int) -> dict[str, Any]:
    """The epochs of a revolution that have stored mosaics, with their URLs."""
    rows = await run_db(ctx, store.mosaics, revolution)
    if not rows:
        known = await run_db(ctx, store.revolutions_with_mosaics)
        nearest = sorted(known, key=lambda r: (abs(r - revolution), r))[:10]
        raise NotFound(
            f"no mosaics of revolution {revolution} are stored in the archive",
            {"revolutions": sorted(nearest)},
        )
    epochs: dict[str, dict[str, dict[str, str]]] = {}
    for r in rows:
        instrument = "JEM-X" if same_instrument(r.instrument, "JEM-X") else r.instrument
        by_band = epochs.setdefault(r.epoch, {}).setdefault(instrument, {})
        if r.band is not None:
            by_band.setdefault(r.band, _url(r.epoch, instrument, r.band, "fits"))
    return {
        "revolution": revolution,
        "epochs": [{"epoch": e, "mosaics": m} for e, m in epochs.items()],
    }


def _preference(row: Any, base: str) -> tuple[int, int, str]:
    # The plain product first, then ISLA's "original" (unsmoothed) mosaic, then other variants.
    return (row.product_id != base, "original" not in row.product_id, row.product_id)


async def choose(ctx: ServiceContext, epoch: str, band: Band) -> Any:
    """The stored mosaic of an epoch in a band; NotFound naming the epochs and bands that have
    stored mosaics."""
    rows = await run_db(ctx, store.of_epoch, epoch)
    mine = [r for r in rows if same_instrument(r.instrument, band.instrument)]
    matching = [r for r in mine if r.band == band.name]
    if matching:
        base = f"mosaic/{band.instrument}/{epoch}/{band.name}"
        return min(matching, key=lambda r: _preference(r, base))
    every = await run_db(ctx, store.mosaics, None)
    epochs = sorted({r.epoch for r in every if same_instrument(r.instrument, band.instrument)})
    nearby: dict[str, Any] = {"epochs": epochs[:50]}
    if mine:
        nearby["stored_bands"] = sorted({r.band for r in mine if r.band})
        detail = f"no {band.instrument} mosaic of epoch {epoch} in band {band.name} is stored"
    elif rows:
        nearby["instruments"] = sorted({r.instrument for r in rows})
        detail = f"no {band.instrument} mosaic of epoch {epoch} is stored"
    else:
        detail = f"no mosaic of epoch {epoch} is stored in the archive"
    raise NotFound(detail, nearby)


def _summary(row: Any, data: bytes) -> dict[str, Any]:
    mosaic = readers.read_mosaic(data)
    images = mosaic.images
    shape = next(iter(images.values())).shape
    centre = mosaic.wcs.pixel_to_world_values((shape[1] - 1) / 2, (shape[0] - 1) / 2)
    scale = np.abs(proj_plane_pixel_scales(mosaic.wcs))  # in the WCS's units: degrees
    stats = {
        f"max_{name.lower()}": float(np.nanmax(images[name]))
        for name in ("EXPOSURE", "SIGNIFICANCE")
        if name in images
    }
    return {
        "images": list(images),
        "shape": list(shape),
        "centre": {"ra": float(centre[0]), "dec": float(centre[1])},
        "pixel_deg": float(scale[0]),
        "date_obs": mosaic.header.get("DATE-OBS"),
        "date_end": mosaic.header.get("DATE-END"),
        **stats,
        "nscw": meta_of(row).get("nscw"),
    }


def _png(data: bytes) -> bytes:
    mosaic = readers.read_mosaic(data)
    image = next(mosaic.images[n] for n in (*PREVIEW_IMAGES, *mosaic.images) if n in mosaic.images)
    return views.png(image)


async def mosaic(
    ctx: ServiceContext, request: Request, epoch: str, band: Band, fmt: str
) -> Response:
    """The stored mosaic as delivered (``fits``), or a PNG preview / JSON summary of it."""
    row = await choose(ctx, epoch, band)
    if fmt == "fits":
        return await stream_product(request, ctx.require_store(), row)
    key = (str(row.sha256), fmt)
    rendered = CACHE.get(key)
    if rendered is None:
        data = await read_product(ctx.require_store(), row)
        if fmt == "png":
            rendered = await run_in_threadpool(_png, data)
        else:
            rendered = await run_in_threadpool(_summary, row, data)
        CACHE.put(key, rendered)
    stem = f"{band.instrument.replace('-', '')}_{epoch}_{band.name}_mosaic"
    if fmt == "png":
        return Response(rendered, media_type="image/png", headers=disposition(f"{stem}.png"))
    return json_response(
        {
            "product_id": row.product_id,
            "file_name": row.file_name,
            "epoch": epoch,
            "instrument": band.instrument,
            "band": band.name,
            "e_min": band.e_min,
            "e_max": band.e_max,
            **rendered,
            "simulated": simulated_of(row),
            "fits": _url(epoch, band.instrument, band.name, "fits"),
            "png": _url(epoch, band.instrument, band.name, "png"),
        }
    )
