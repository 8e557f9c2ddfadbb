"""Building and storing the HiPS of every map of an ``allsky_map`` product.

Ingestion calls :func:`publish_product` after it has written an ``allsky_map`` product (the
demo's maps and real ones alike), and :func:`publish_missing` rebuilds whatever is missing
(``isla build-hips``, or a delivery whose HiPS build was interrupted). A HiPS is stored
as one tar at :func:`hips_key`, named by the map id and the checksum of the product file it
was built from and the builder's layout version, so that a replaced map (or a tree of an older
layout) gets a new HiPS and an unchanged one is never rebuilt.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, text

from shared.maps import healpix, hips
from shared.storage import ObjectStore
from shared.vo.obscore import AUTHORITY

log = logging.getLogger("isla.maps")

HIPS_PREFIX = "hips/"
"""Where HiPS tars live in the products bucket."""


def hips_key(map_id: str, sha256: str) -> str:
    """Object key of a map's HiPS built from the product file with this checksum (and by this
    version of the builder's layout)."""
    return f"{HIPS_PREFIX}{map_id}/{sha256[:16]}-v{hips.LAYOUT}.tar"


def properties_key(map_id: str, sha256: str) -> str:
    """Object key of the ``properties`` of that HiPS, kept beside the tar (the HiPS list
    reads every map's properties without fetching the tiles)."""
    return f"{HIPS_PREFIX}{map_id}/{sha256[:16]}-v{hips.LAYOUT}.properties"


def creator_did(map_id: str) -> str:
    """The HiPS identifier (``creator_did``) of a map."""
    return f"ivo://{AUTHORITY}/P/INTEGRAL/ISLA/{map_id}"


@dataclass(frozen=True)
class Published:
    """One map's HiPS: where it is and what building it took."""

    map_id: str
    key: str
    built: bool
    tiles: int = 0
    seconds: float = 0.0


def _title(instrument: str, column: str, band: str | None, simulated: bool) -> str:
    words = f"INTEGRAL {instrument} {column.lower()}"
    if band:
        words += f" {band} keV"
    words += ", mission"
    return words + (" (SIMULATED)" if simulated else "")


INSTRUMENT_RANGE_KEV = {
    "ISGRI": (15.0, 1000.0),
    "PICsIT": (175.0, 10000.0),
    "JEM-X": (3.0, 35.0),
    "SPI": (20.0, 8000.0),
    "OMC": (0.0017, 0.0023),
}
"""Each instrument's energy range: the band of a map that names none (an exposure map)."""


def _band_text(meta: Mapping[str, Any]) -> str | None:
    lo, hi = meta.get("e_min"), meta.get("e_max")
    if lo is None or hi is None:
        return None
    return f"{float(lo):g}-{float(hi):g}"


def spec_for(
    row: Mapping[str, Any], entry: Mapping[str, Any], header: Mapping[str, Any]
) -> hips.HipsSpec:
    """The properties of one map's HiPS from its product row and file header."""
    meta = dict(row.get("meta") or {})
    simulated = bool(row.get("simulated"))
    column = str(entry["column"])
    band = _band_text(meta)
    full: tuple[float | None, float | None] = INSTRUMENT_RANGE_KEV.get(
        str(row["instrument"]), (None, None)
    )
    title = _title(str(row["instrument"]), column, band, simulated)
    description = (
        f"{column.title()} map ({entry.get('unit') or 'no unit'}) of the whole INTEGRAL mission "
        f"from the archive's science windows; HEALPix NSIDE {meta.get('healpix', {}).get('nside')}"
        f", product {row['product_id']}."
    )
    if simulated:
        description += " SIMULATED DATA of the ISLA demo archive, not an INTEGRAL measurement."
    return hips.HipsSpec(
        map_id=str(entry["map_id"]),
        title=title,
        description=description,
        instrument=str(row["instrument"]),
        unit=entry.get("unit"),
        e_min_kev=meta.get("e_min") or full[0],
        e_max_kev=meta.get("e_max") or full[1],
        t_min_mjd=row.get("t_min"),
        t_max_mjd=row.get("t_max"),
        product_id=str(row["product_id"]),
        source_sha256=str(row["sha256"]),
        release=hips.release_of(header.get("DATE")),
        simulated=simulated,
        creator_did=creator_did(str(entry["map_id"])),
    )


def publish_product(
    store: ObjectStore, row: Mapping[str, Any], data: bytes, force: bool = False
) -> list[Published]:
    """Build and store the HiPS of every map of one product (``row``: its ``isla.products``
    row, ``data``: its file); a HiPS already stored for this file is kept unless ``force``."""
    entries = list((row.get("meta") or {}).get("maps") or [])
    if not entries:
        return []
    bucket = store.products_bucket
    sha = str(row["sha256"])
    todo = [
        e for e in entries if force or not store.exists(bucket, properties_key(e["map_id"], sha))
    ]
    out = [Published(e["map_id"], hips_key(e["map_id"], sha), False) for e in entries]
    if not todo:
        return out
    sky = healpix.read_map(data)
    for entry in todo:
        began = time.monotonic()
        values = sky.columns[str(entry["column"])]
        built = hips.build(values, sky.order, spec_for(row, entry, sky.header))
        key = hips_key(entry["map_id"], sha)
        props = properties_key(entry["map_id"], sha)
        store.put_bytes(bucket, key, built.tar, "application/x-tar")
        # The properties last: their presence says the HiPS is whole.
        store.put_bytes(bucket, props, built.properties.encode(), "text/plain")
        for old in store.list(bucket, f"{HIPS_PREFIX}{entry['map_id']}/"):
            if old.key not in (key, props):
                store.delete(bucket, old.key)
        seconds = time.monotonic() - began
        log.info("HiPS of %s: %d tiles in %.1f s", entry["map_id"], built.tiles, seconds)
        out = [
            Published(p.map_id, p.key, True, built.tiles, seconds)
            if p.map_id == entry["map_id"]
            else p
            for p in out
        ]
    return out


def map_rows(engine: Engine) -> Iterator[dict[str, Any]]:
    """Every stored ``allsky_map`` product row."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT product_id, instrument, bucket, object_key, sha256, meta, t_min, t_max, "
                "simulated FROM isla.products WHERE kind = 'allsky_map' ORDER BY product_id"
            )
        ).mappings()
        items = [dict(r) for r in rows]
    yield from items


def publish_missing(
    engine: Engine, store: ObjectStore, say: Callable[[str], None] | None = None
) -> list[Published]:
    """Build the HiPS of every stored map that has none yet (for its current file)."""
    out: list[Published] = []
    for row in map_rows(engine):
        entries = (row.get("meta") or {}).get("maps") or []
        missing = [
            e
            for e in entries
            if not store.exists(store.products_bucket, properties_key(e["map_id"], row["sha256"]))
        ]
        if not missing:
            continue
        data = store.read_bytes(row["bucket"], row["object_key"])
        done = publish_product(store, row, data)
        out += done
        if say is not None:
            say(f"HiPS: {', '.join(p.map_id for p in done if p.built)} built")
    return out
