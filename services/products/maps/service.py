"""Policy of the maps room: the stored all-sky maps, their HiPS and their values.

A map is one column of a stored ``allsky_map`` product (its id: :func:`shared.maps.healpix.map_id`,
listed in the product's ``meta.maps`` by ingestion). Its HiPS was built when the map was
delivered (:mod:`shared.maps.publish`) and is one tar in the object store; this service fetches
each tar once into a local folder (:class:`PackCache`, kept across restarts: the file name
carries the map file's checksum) and serves its members by path from a memory map. A value at a
position is read from the deepest FITS tiles of that tar: the tiles hold every pixel of the map
(maps coarser than order 9 repeated), so the value is the stored pixel's, to the bit.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import math
import os
import re
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
from astropy import units as u
from astropy_healpix import lonlat_to_healpix
from fastapi.responses import Response
from lxml import etree
from pydantic import AnyUrl
from starlette.concurrency import run_in_threadpool
from vo_models.vodataservice.models import ParamHTTP
from vo_models.voresource.models import AccessURL, Capability

from services.products.common import run_db
from services.products.maps import store
from shared.maps import hips
from shared.maps.esasky import esasky_url
from shared.maps.publish import hips_key, properties_key
from shared.service import ServiceContext
from shared.settings import maps_settings
from shared.storage import ObjectNotFound, ObjectStore
from shared.vo import registry
from shared.vo.errors import NotFoundFault, UsageFault
from shared.vo.obscore import AUTHORITY

CATALOGUE_TTL_S = 10.0
"""Seconds the list of maps is reused before the database is asked again."""
MAX_POSITIONS = 10_000
"""Positions one POST may ask for."""
CACHE_CONTROL = "public, max-age=86400"
"""HiPS members change only with their map (and then their ETag does)."""
CORS = {"Access-Control-Allow-Origin": "*"}
"""Aladin Lite and ESASky read HiPS and values from other origins."""
MEMBER = re.compile(
    r"^(properties|Moc\.fits|Norder\d{1,2}/Allsky\.(?:fits|png)|"
    r"Norder\d{1,2}/Dir\d{1,9}/Npix\d{1,12}\.(?:fits|png))$"
)
"""The paths a HiPS tree has; anything else is 404 without looking further."""
GALACTIC_CENTRE = (266.4168, -29.0078)
"""Where a map opens in ESASky: INTEGRAL's most observed region (as ``hips_initial_ra/dec``)."""
MEDIA = {"fits": "application/fits", "png": "image/png", "properties": "text/plain"}


@dataclass(frozen=True)
class MapInfo:
    """One map as the archive describes it."""

    map_id: str
    product_id: str
    column: str
    unit: str | None
    error_column: str | None
    error_map_id: str | None
    instrument: str
    band: str | None
    e_min: float | None
    e_max: float | None
    t_min: float | None
    t_max: float | None
    simulated: bool
    sha256: str
    nside: int
    file_name: str
    size: int

    @property
    def order(self) -> int:
        """The map's HEALPix order."""
        return int(math.log2(self.nside))

    @property
    def pixel_order(self) -> int:
        """The order of the pixels of its deepest HiPS tiles."""
        return max(self.order, 9)

    def describe(self, base: str) -> dict[str, Any]:
        """The JSON description of the map, with its URLs under ``base``."""
        enc = quote(self.map_id)
        return {
            "map_id": self.map_id,
            "product_id": self.product_id,
            "column": self.column,
            "instrument": self.instrument,
            "band": self.band,
            "e_min": self.e_min,
            "e_max": self.e_max,
            "unit": self.unit,
            "error_from": self.error_map_id,
            "healpix": {
                "nside": self.nside,
                "order": self.order,
                "ordering": "NESTED",
                "frame": "ICRS",
            },
            "t_min": self.t_min,
            "t_max": self.t_max,
            "simulated": self.simulated,
            "hips_url": f"{base}/hips/{enc}",
            "value_url": f"{base}/products/maps/{enc}/value",
            "fits_url": f"{base}/products/files/{quote(self.product_id, safe='/')}",
            "datalink_url": f"{base}/datalink?ID={quote(self.product_id, safe='')}",
            "esasky_url": esasky_url(GALACTIC_CENTRE[0], GALACTIC_CENTRE[1], 60.0),
        }


def _infos(rows: list[Any]) -> dict[str, MapInfo]:
    out: dict[str, MapInfo] = {}
    for row in rows:
        meta = dict(row.meta or {})
        layout = meta.get("healpix") or {}
        entries = meta.get("maps") or []
        by_column = {e["column"]: e["map_id"] for e in entries}
        for entry in entries:
            error = entry.get("error_column")
            out[entry["map_id"]] = MapInfo(
                map_id=entry["map_id"],
                product_id=row.product_id,
                column=entry["column"],
                unit=entry.get("unit"),
                error_column=error,
                error_map_id=by_column.get(error) if error else None,
                instrument=row.instrument,
                band=row.band,
                e_min=meta.get("e_min"),
                e_max=meta.get("e_max"),
                t_min=row.t_min,
                t_max=row.t_max,
                simulated=bool(row.simulated),
                sha256=row.sha256,
                nside=int(layout.get("nside", 512)),
                file_name=row.file_name,
                size=int(row.size),
            )
    return out


class Catalogue:
    """The stored maps by id, reused for :data:`CATALOGUE_TTL_S`."""

    def __init__(self) -> None:
        """Start empty."""
        self._maps: dict[str, MapInfo] = {}
        self._at = -math.inf

    async def maps(self, ctx: ServiceContext) -> dict[str, MapInfo]:
        """Every map, by id."""
        if time.monotonic() - self._at > CATALOGUE_TTL_S:
            rows = await run_db(ctx, store.map_products)
            self._maps, self._at = _infos(rows), time.monotonic()
        return self._maps

    async def get(self, ctx: ServiceContext, map_id: str) -> MapInfo:
        """One map; :class:`NotFoundFault` (404) naming the maps there are."""
        maps = await self.maps(ctx)
        info = maps.get(map_id)
        if info is None:
            known = ", ".join(sorted(maps)[:40])
            raise NotFoundFault(f"no all-sky map {map_id!r}; maps: {known or 'none'}")
        return info


CATALOGUE = Catalogue()


def cache_dir() -> Path:
    """Where fetched HiPS tars are kept."""
    configured = maps_settings().cache_dir
    return configured or Path(tempfile.gettempdir()) / "isla-hips"


class PackCache:
    """Built HiPS fetched from the object store once, then memory-mapped."""

    def __init__(self) -> None:
        """Nothing open yet."""
        self._packs: dict[str, hips.HipsPack] = {}
        self._lock = threading.Lock()
        self._fetching: dict[str, threading.Lock] = {}

    def cached(self, info: MapInfo) -> hips.HipsPack | None:
        """The open HiPS of a map, if it is open already."""
        return self._packs.get(hips_key(info.map_id, info.sha256))

    def open(self, objects: ObjectStore, info: MapInfo) -> hips.HipsPack:
        """The HiPS of a map, fetching its tar on first use (blocking: run in a thread)."""
        key = hips_key(info.map_id, info.sha256)
        pack = self._packs.get(key)
        if pack is not None:
            return pack
        with self._lock:
            lock = self._fetching.setdefault(key, threading.Lock())
        with lock:
            pack = self._packs.get(key)
            if pack is not None:
                return pack
            folder = cache_dir()
            folder.mkdir(parents=True, exist_ok=True)
            # The key's own name (checksum and layout version): a rebuilt tree is a new file.
            path = folder / f"{info.map_id}-{key.rsplit('/', 1)[-1]}"
            if not path.exists():
                partial = folder / f".{path.name}.{os.getpid()}.{threading.get_ident()}"
                try:
                    with (
                        objects.iter_object(objects.products_bucket, key) as stream,
                        partial.open("wb") as out,
                    ):
                        for chunk in stream:
                            out.write(chunk)
                except ObjectNotFound:
                    partial.unlink(missing_ok=True)
                    raise NotFoundFault(
                        f"the HiPS of map {info.map_id!r} is not built yet"
                    ) from None
                partial.replace(path)
            pack = hips.HipsPack(path)
            self._packs[key] = pack
            return pack


PACKS = PackCache()


async def pack_of(ctx: ServiceContext, info: MapInfo) -> hips.HipsPack:
    """The open HiPS of a map (fetched in a thread the first time)."""
    pack = PACKS.cached(info)
    if pack is not None:
        return pack
    return await run_in_threadpool(PACKS.open, ctx.require_store(), info)


# --- HiPS ----------------------------------------------------------------------------------------

_PROPERTIES: dict[str, str] = {}


async def properties_of(ctx: ServiceContext, info: MapInfo) -> str:
    """The stored ``properties`` of a map's HiPS (read once per map file)."""
    key = properties_key(info.map_id, info.sha256)
    text = _PROPERTIES.get(key)
    if text is None:
        objects = ctx.require_store()
        try:
            data = await run_in_threadpool(objects.read_bytes, objects.products_bucket, key)
        except ObjectNotFound:
            raise NotFoundFault(f"the HiPS of map {info.map_id!r} is not built yet") from None
        text = data.decode()
        _PROPERTIES[key] = text
    return text


def with_service_url(properties: str, url: str) -> str:
    """``properties`` plus the ``hips_service_url`` it is served at."""
    return properties.rstrip("\n") + f"\nhips_service_url   = {url}\n"


def etag(info: MapInfo, path: str) -> str:
    """The entity tag of one member: the map file's checksum and the path."""
    digest = hashlib.blake2b(f"{info.sha256}:{path}".encode(), digest_size=10).hexdigest()
    return f'"{digest}"'


def _media(path: str) -> str:
    return MEDIA.get(path.rsplit(".", 1)[-1], MEDIA["properties"])


async def member(
    ctx: ServiceContext, map_id: str, path: str, base: str, if_none_match: str | None
) -> Response:
    """One member of a map's HiPS tree (404 for any other path)."""
    if not MEMBER.match(path):
        raise NotFoundFault(f"{path!r} is not a path of a HiPS tree")
    info = await CATALOGUE.get(ctx, map_id)
    tag = etag(info, path)
    headers = {"ETag": tag, "Cache-Control": CACHE_CONTROL, **CORS}
    if if_none_match and tag in [t.strip() for t in if_none_match.split(",")]:
        return Response(status_code=304, headers=headers)
    if path == "properties":
        text = with_service_url(await properties_of(ctx, info), f"{base}/hips/{quote(map_id)}")
        return Response(text, media_type="text/plain; charset=utf-8", headers=headers)
    pack = await pack_of(ctx, info)
    data = pack.get(path)
    if data is None:
        raise NotFoundFault(f"map {map_id!r} has no HiPS member {path!r} (no data there)")
    return Response(data, media_type=_media(path), headers=headers)


async def hips_list(ctx: ServiceContext, base: str) -> str:
    """The HiPS list (HiPS 1.0 §4.5): every map's properties with its ``hips_service_url``,
    records separated by blank lines."""
    maps = await CATALOGUE.maps(ctx)
    texts = await asyncio.gather(*(properties_of(ctx, info) for info in maps.values()))
    records = [
        with_service_url(text, f"{base}/hips/{quote(info.map_id)}")
        for info, text in zip(maps.values(), texts, strict=True)
    ]
    return "# ISLA HiPS list (IVOA HiPS 1.0)\n\n" + "\n".join(records)


HIPS_STANDARD = "ivo://ivoa.net/std/hips#hips-1.0"
"""standardID of a HiPS capability in the Registry (HiPS 1.0, §6)."""
WAVEBAND = {"ISGRI": "Gamma-ray", "PICsIT": "Gamma-ray", "SPI": "Gamma-ray", "JEM-X": "X-ray"}
"""VODataService waveband of each instrument's maps."""
TELESCOPE = {"ISGRI": "IBIS", "PICsIT": "IBIS", "JEM-X": "JEM-X", "SPI": "SPI", "OMC": "OMC"}
"""The INTEGRAL instrument each map's detector belongs to."""


async def resource_record(ctx: ServiceContext, map_id: str, base: str) -> bytes:
    """The map's HiPS as a VOResource 1.1 record (``vs:CatalogService`` with a HiPS 1.0
    capability), so that a publishing registry can list it beside the TAP service."""
    info = await CATALOGUE.get(ctx, map_id)
    props = hips.parse_properties(await properties_of(ctx, info))
    try:
        released = dt.datetime.strptime(props.get("hips_release_date", ""), "%Y-%m-%dT%H:%MZ")
    except ValueError:
        released = dt.datetime(2026, 1, 1)
    released = released.replace(tzinfo=dt.UTC)
    description = props.get("obs_description") or props.get("obs_title") or map_id
    if info.simulated:
        description = f"Simulated demo data, not INTEGRAL measurements. {description}"
    url = f"{base}/hips/{quote(map_id)}"
    root = registry.catalog_service(
        identifier=f"ivo://{AUTHORITY}/hips/{map_id}",
        title=props.get("obs_title") or f"ISLA all-sky map {map_id}",
        # shortName is at most 16 characters (VOResource 1.1).
        short_name=f"ISLA {info.instrument} map"[:16],
        created=released.strftime("%Y-%m-%dT%H:%M:%SZ"),
        updated=released,
        curation=registry.Curation(),
        subjects=("gamma-ray-astronomy", "all-sky-surveys"),
        description=description,
        reference_url=f"{base}/products/maps/{quote(map_id)}",
        types=("Survey",),
    )
    capability = Capability(
        standard_id=AnyUrl(HIPS_STANDARD),
        interface=[ParamHTTP(role="std", access_url=[AccessURL(value=AnyUrl(url), use="base")])],
    )
    out = capability.to_xml(skip_empty=True)
    root.append(etree.fromstring(out if isinstance(out, bytes) else out.encode()))
    registry.sub(root, "facility", "INTEGRAL")
    registry.sub(root, "instrument", TELESCOPE.get(info.instrument, info.instrument))
    coverage = registry.sub(root, "coverage")
    registry.sub(coverage, "waveband", WAVEBAND.get(info.instrument, "Gamma-ray"))
    return registry.serialise(root)


# --- values --------------------------------------------------------------------------------------


def parse_position(ra: Any, dec: Any) -> tuple[float, float]:
    """(ra, dec) in degrees from request values; :class:`UsageFault` (400) saying what is
    wrong (not a number, RA outside [0, 360), Dec outside [-90, 90])."""
    try:
        r, d = float(ra), float(dec)
    except (TypeError, ValueError):
        raise UsageFault(f"ra and dec must be numbers (degrees), not {ra!r}, {dec!r}") from None
    if not (math.isfinite(r) and math.isfinite(d)):
        raise UsageFault("ra and dec must be finite numbers")
    if not 0.0 <= r < 360.0 + 1e-9:
        raise UsageFault(f"ra {r} is outside [0, 360] degrees")
    if not -90.0 <= d <= 90.0:
        raise UsageFault(f"dec {d} is outside [-90, 90] degrees")
    return r % 360.0, d


def _pixels(info: MapInfo, positions: list[tuple[float, float]]) -> np.ndarray[Any, Any]:
    ra = np.array([p[0] for p in positions]) * u.deg
    dec = np.array([p[1] for p in positions]) * u.deg
    return np.asarray(
        lonlat_to_healpix(ra, dec, 2**info.pixel_order, order="nested"), dtype=np.int64
    )


async def values(
    ctx: ServiceContext, info: MapInfo, positions: list[tuple[float, float]]
) -> list[dict[str, Any]]:
    """The map's value (and 1σ error, from its variance map where it has one) at positions."""
    pack = await pack_of(ctx, info)
    error_pack = None
    if info.error_map_id is not None:
        error_info = await CATALOGUE.get(ctx, info.error_map_id)
        error_pack = await pack_of(ctx, error_info)
    ipix = _pixels(info, positions)
    tile_order = info.pixel_order - hips.TILE_SHIFT
    shift = 2 * (info.pixel_order - info.order)
    out = []
    for (ra, dec), pixel in zip(positions, ipix, strict=True):
        value = pack.pixel(tile_order, int(pixel))
        error = None
        if error_pack is not None:
            variance = error_pack.pixel(tile_order, int(pixel))
            if variance is not None and math.isfinite(variance) and variance >= 0:
                error = math.sqrt(variance)
        covered = value is not None and math.isfinite(value)
        out.append(
            {
                "ra": ra,
                "dec": dec,
                "value": value if covered else None,
                "error": error if covered else None,
                "covered": covered,
                "healpix_pixel": int(pixel) >> shift,
                "healpix_order": info.order,
                "healpix_nside": info.nside,
            }
        )
    return out


def positions_of(body: Any) -> list[tuple[float, float]]:
    """Positions from a POST body: ``{"positions": [[ra, dec], ...]}`` (or objects with
    ``ra``/``dec``), or ``{"ra": [...], "dec": [...]}``."""
    if not isinstance(body, dict):
        raise UsageFault('the body must be a JSON object: {"positions": [[ra, dec], ...]}')
    if "positions" in body:
        items = body["positions"]
        if not isinstance(items, list):
            raise UsageFault("positions must be a list")
        pairs: list[tuple[Any, Any]] = []
        for item in items:
            if isinstance(item, dict):
                pairs.append((item.get("ra"), item.get("dec")))
            elif isinstance(item, list | tuple) and len(item) == 2:
                pairs.append((item[0], item[1]))
            else:
                raise UsageFault(f"a position is [ra, dec] or {{ra, dec}}, not {item!r}")
    elif "ra" in body and "dec" in body:
        ras, decs = body["ra"], body["dec"]
        if not (isinstance(ras, list) and isinstance(decs, list) and len(ras) == len(decs)):
            raise UsageFault("ra and dec must be lists of the same length")
        pairs = list(zip(ras, decs, strict=True))
    else:
        raise UsageFault('no positions: send {"positions": [[ra, dec], ...]}')
    if not pairs:
        raise UsageFault("no positions")
    if len(pairs) > MAX_POSITIONS:
        raise UsageFault(f"at most {MAX_POSITIONS} positions per request")
    return [parse_position(ra, dec) for ra, dec in pairs]
