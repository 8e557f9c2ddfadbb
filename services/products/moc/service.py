"""Policy of the coverage room: which MOC a name means, how it is built, and when again.

- ``isgri``, ``jemx``, ``spi``: the union of the instrument's field-of-view footprints
  (``isla.science_windows.fov_*``, the polygons ObsCore publishes) of every pointing with
  exposure for it; ``omc``: OMC's 5° × 5° field as the circle around it (3.54° radius) at
  each pointing with OMC exposure (the archive stores no OMC footprint);
- ``archive``: the union of the four, and of the footprints of ObsCore's product rows (all-sky
  maps aside), so that every footprint ObsCore publishes lies inside it.

Each is an S-MOC (space, HEALPix depth :data:`SPACE_DEPTH`) or, with ``type=stmoc``, an ST-MOC
(each footprint during its pointing's time, time depth :data:`TIME_DEPTH`, space depth
:data:`STMOC_SPACE_DEPTH`), made with mocpy. A MOC is built once per state of the archive:
the key is the generation of the tables it comes from (``isla_ops.coverage_state``, bumped at
every committed change by a trigger), the result is kept in the process, one build at a time.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import astropy.units as u
import numpy as np
from astropy.time import Time
from starlette.concurrency import run_in_threadpool

from services.products.common import run_db
from services.products.moc import store
from shared.integral.time import MJDREF
from shared.service import ServiceContext
from shared.vo.errors import NotFoundFault, UsageFault

if TYPE_CHECKING:
    from mocpy import MOC

NAMES = ("archive", "isgri", "jemx", "spi", "omc")
"""The coverages served at ``/moc/<name>``."""
TYPES = ("smoc", "stmoc")
FORMATS = ("fits", "json", "ascii")
MEDIA = {"fits": "application/fits", "json": "application/json", "ascii": "text/plain"}

SPACE_DEPTH = 8
"""HEALPix depth of the S-MOCs (14 arcmin cells, about ISGRI's PSF): a cell is in when the
footprint overlaps it, so every footprint lies inside its MOC at this depth or any finer one.
(The cost of a build grows with the depth: ~5 ms per ISGRI field at depth 8, ~16 at 10.)"""
STMOC_SPACE_DEPTH = 6
"""HEALPix depth of the space part of the ST-MOCs (55 arcmin cells)."""
TIME_DEPTH = 35
"""Time depth of the ST-MOCs: 2^26 µs, about 67 s (a science window lasts ~30 min or more)."""
OMC_RADIUS_DEG = 3.54
"""The circle around OMC's 5° × 5° field (its half diagonal)."""

SCOPES = {
    "archive": ("science_windows", "products"),
    "isgri": ("science_windows",),
    "jemx": ("science_windows",),
    "spi": ("science_windows",),
    "omc": ("science_windows",),
}
"""The tables each coverage is made of (its cache key)."""


INSTRUMENTS = ("isgri", "jemx", "spi", "omc")
"""The coverages the archive's is the union of (with the product footprints)."""


@dataclass(frozen=True)
class Built:
    """One MOC, and its three encodings."""

    key: tuple[int, ...]
    moc: Any
    encodings: dict[str, bytes]
    etag: str


def union(mocs: Sequence[Any]) -> Any:
    """The union of many MOCs (or ST-MOCs), pairwise in a balanced tree (n log n)."""
    items = list(mocs)
    while len(items) > 1:
        items = [
            items[i].union(items[i + 1]) if i + 1 < len(items) else items[i]
            for i in range(0, len(items), 2)
        ]
    return items[0]


def _polygons(rows: Sequence[Any], attr: str, depth: int) -> list[MOC]:
    """One MOC per polygon (mocpy takes polygons of one vertex count at a time)."""
    from mocpy import MOC  # on first use (as below): keeps the service's start-up light

    by_size: dict[int, list[np.ndarray]] = {}
    for row in rows:
        vertices = np.asarray(getattr(row, attr), dtype=np.float64)
        by_size.setdefault(len(vertices), []).append(vertices)
    mocs: list[MOC] = []
    for group in by_size.values():
        flat = [axis for v in group for axis in (v[:, 0], v[:, 1])]
        mocs += list(MOC.from_polygons(flat, max_depth=depth))
    return mocs


def _cones(rows: Sequence[Any], depth: int) -> list[MOC]:
    from mocpy import MOC

    return [
        MOC.from_cone(
            float(r.ra) * u.deg,
            float(r.dec) * u.deg,
            radius=OMC_RADIUS_DEG * u.deg,
            max_depth=depth,
        )
        for r in rows
    ]


@dataclass
class Inputs:
    """The footprints (with their times, MJD) a coverage is made of."""

    mocs_space: list[MOC]
    mocs_time: list[MOC]
    t_min: list[float]
    t_max: list[float]


def _read(conn: Any, name: str) -> dict[str, list[Any]]:
    """The rows one coverage is made of (the archive's own: the product footprints)."""
    if name == "archive":
        return {"products": store.product_regions(conn)}
    if name == "omc":
        return {"omc": store.omc_pointings(conn)}
    return {name: store.footprints(conn, name)}


def _empty_smoc() -> MOC:
    from mocpy import MOC

    return MOC.new_empty(SPACE_DEPTH)


def _build(kind: str, rows: dict[str, list[Any]], parts: Sequence[Any] = ()) -> Any:
    """The MOC of some rows, with the MOCs ``parts`` added (runs in a worker thread)."""
    from mocpy import STMOC

    depth = SPACE_DEPTH if kind == "smoc" else STMOC_SPACE_DEPTH
    spaces: list[MOC] = []
    starts: list[float] = []
    ends: list[float] = []
    for source, found in rows.items():
        if source == "omc":
            mocs = _cones(found, depth)
            times = [(r.start_ijd + MJDREF, r.end_ijd + MJDREF) for r in found]
        elif source == "products":
            found = (
                [r for r in found if r.t_min is not None and r.t_max is not None]
                if (kind == "stmoc")
                else found
            )
            mocs = _polygons(found, "s_region", depth)
            times = [(float(r.t_min), float(r.t_max)) for r in found] if kind == "stmoc" else []
        else:
            mocs = _polygons(found, "fov", depth)
            times = [(r.start_ijd + MJDREF, r.end_ijd + MJDREF) for r in found]
        spaces += mocs
        if kind == "stmoc":
            starts += [t[0] for t in times]
            ends += [max(t[1], t[0]) for t in times]
    if kind == "smoc":
        mocs = [*parts, *spaces]
        return union(mocs) if mocs else _empty_smoc()
    built = [*parts]
    if spaces:
        built.append(
            STMOC.from_spatial_coverages(
                Time(starts, format="mjd", scale="tt"),
                Time(ends, format="mjd", scale="tt"),
                spaces,
                time_depth=TIME_DEPTH,
            )
        )
    if not built:
        return STMOC.new_empty(STMOC_SPACE_DEPTH, TIME_DEPTH)
    if len(built) == 1:
        return built[0]
    # A union of ST-MOCs may keep adjacent time ranges with equal space parts apart (and an
    # empty last pair): read back from its ASCII form it is in the normal form every
    # serialisation then shares.
    return STMOC.from_string(union(built).to_string(format="ascii"), format="ascii")


def _encode(moc: Any) -> dict[str, bytes]:
    out = io.BytesIO()
    moc.serialize(format="fits").writeto(out)
    return {
        "fits": out.getvalue(),
        "json": moc.to_string(format="json").encode(),
        "ascii": moc.to_string(format="ascii").encode(),
    }


class Cache:
    """Built MOCs by (name, type), each with the generations it was built from; one build at a
    time per name and type."""

    def __init__(self) -> None:
        """An empty cache."""
        self._built: dict[tuple[str, str], Built] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    def lock(self, key: tuple[str, str]) -> asyncio.Lock:
        """The lock of one MOC's builds."""
        return self._locks.setdefault(key, asyncio.Lock())

    def get(self, key: tuple[str, str], state: tuple[int, ...]) -> Built | None:
        """The MOC built from ``state``, or None."""
        found = self._built.get(key)
        return found if found is not None and found.key == state else None

    def put(self, key: tuple[str, str], built: Built) -> None:
        """Keep a build (replacing the one of an earlier state)."""
        self._built[key] = built


CACHE = Cache()


def check(name: str, kind: str | None, fmt: str | None) -> tuple[str, str, str]:
    """(name, type, format) of a request; NotFoundFault / UsageFault naming the choices."""
    if name not in NAMES:
        raise NotFoundFault(f"no coverage {name!r}; coverages: {', '.join(NAMES)}")
    moc_type = (kind or "smoc").strip().lower()
    if moc_type not in TYPES:
        raise UsageFault(f"type={kind!r} is not one of {', '.join(TYPES)}")
    form = (fmt or "fits").strip().lower()
    if form not in FORMATS:
        raise UsageFault(f"format={fmt!r} is not one of {', '.join(FORMATS)}")
    return name, moc_type, form


async def coverage(ctx: ServiceContext, name: str, kind: str) -> Built:
    """The MOC of the archive's current state (built when that state is new)."""
    key = (name, kind)
    generations = await run_db(ctx, store.generations)
    state = tuple(generations.get(scope, 0) for scope in SCOPES[name])
    found = CACHE.get(key, state)
    if found is not None:
        return found
    async with CACHE.lock(key):
        found = CACHE.get(key, state)
        if found is not None:
            return found
        # The state is read before the rows: a change committed in between is in the rows,
        # and its newer generation makes the next request build once more (never stale).
        # The archive's coverage is the instruments' (each built once) and the products'.
        parts = (
            [(await coverage(ctx, i, kind)).moc for i in INSTRUMENTS] if name == "archive" else []
        )
        rows = await run_db(ctx, _read, name)
        moc = await run_in_threadpool(_build, kind, rows, parts)
        encodings = await run_in_threadpool(_encode, moc)
        digest = hashlib.sha256(encodings["fits"]).hexdigest()[:32]
        built = Built(state, moc, encodings, digest)
        CACHE.put(key, built)
        return built
