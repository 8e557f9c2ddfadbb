"""All-sky maps benchmark: making the demo's maps and their HiPS, building the HiPS of one
NSIDE 1024 map, serving tiles, and the value at a position.

Starts its own embedded Postgres and SeaweedFS in a temporary folder, generates the demo
archive's catalogue and science windows (``--scale demo``, no raw files), then measures:

- ``demo_maps_s``: the demo pipeline's maps (simulated from the science windows and the
  catalogue) delivered through ingestion, which QCs them and builds every HiPS: the time
  ``make up`` spends on maps; ``hips_rebuild_s``: the HiPS of all of them built again (forced),
  without the simulation and delivery;
- ``hips_nside1024_s``: the HiPS of one NSIDE 1024 map (12.6 million pixels, tile orders 3
  and 4), built in memory;
- ``tiles_per_s``: deep tiles (FITS and PNG) fetched from the products service once its HiPS
  cache is warm, by ``--clients`` keep-alive clients in threads (goal >= 1,000 tiles/s);
- ``value``: p50/p95 of ``GET /products/maps/<map>/value?ra=&dec=`` at random positions
  (goal p50 <= 10 ms).

Usage: ``python -m bench maps [--repeat 300] [--clients 4] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.stack import bench_stack
from deploy.demo import demo_delivery
from deploy.serve import service_process
from shared.db.engine import make_sync_engine
from shared.demo.generator import generate
from shared.demo.maps import deliver_maps
from shared.maps import hips
from shared.maps.publish import map_rows, publish_product
from shared.settings import DatabaseSettings
from shared.storage import ObjectStore


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _nside1024() -> float:
    """Seconds to build the HiPS of one NSIDE 1024 map (a smooth sky plus noise)."""
    npix = 12 * 1024**2
    rng = np.random.default_rng(1024)
    values = (np.sin(np.arange(npix) / 5e4) + 0.1 * rng.standard_normal(npix)).astype(np.float32)
    spec = hips.HipsSpec(
        map_id="bench_1024",
        title="bench",
        description="bench",
        instrument="ISGRI",
        unit="mCrab",
        e_min_kev=20.0,
        e_max_kev=35.0,
        t_min_mjd=None,
        t_max_mjd=None,
        product_id="allsky_map/ISGRI/mission/20_35/bench",
        source_sha256="0" * 64,
        release=datetime(2025, 3, 1, tzinfo=UTC),
        simulated=True,
        creator_did="ivo://isla.integral/P/INTEGRAL/ISLA/bench_1024",
    )
    began = time.perf_counter()
    built = hips.build(values, 10, spec)
    seconds = time.perf_counter() - began
    _say(f"NSIDE 1024 HiPS: {built.tiles} tiles per format, {len(built.tar) / 1e6:.0f} MB")
    return seconds


def _tiles(base: str, paths: list[str], clients: int, rounds: int) -> dict[str, Any]:
    """Tiles per second from a warm cache, ``clients`` threads each with its own client."""

    def fetch(index: int) -> int:
        with httpx.Client(base_url=base, timeout=60) as client:
            n = 0
            for _ in range(rounds):
                for path in paths[index::clients]:
                    client.get(path).raise_for_status()
                    n += 1
            return n

    with httpx.Client(base_url=base, timeout=60) as warm:
        for path in paths:
            warm.get(path).raise_for_status()
    began = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        count = sum(pool.map(fetch, range(clients)))
    seconds = time.perf_counter() - began
    return {"tiles": count, "clients": clients, "tiles_per_s": round(count / seconds)}


def _values(base: str, map_id: str, repeat: int) -> dict[str, float]:
    rng = np.random.default_rng(7)
    times = []
    with httpx.Client(base_url=base, timeout=60) as client:
        url = f"/products/maps/{map_id}/value"
        client.get(url, params={"ra": 83.63, "dec": 22.01}).raise_for_status()
        for _ in range(repeat):
            ra, dec = float(rng.uniform(0, 360)), float(np.degrees(np.arcsin(rng.uniform(-1, 1))))
            began = time.perf_counter()
            client.get(url, params={"ra": ra, "dec": dec}).raise_for_status()
            times.append(time.perf_counter() - began)
    times.sort()
    return {
        "p50_ms": round(statistics.median(times) * 1000, 2),
        "p95_ms": round(times[int(0.95 * (len(times) - 1))] * 1000, 2),
    }


def run(repeat: int, clients: int) -> dict[str, Any]:
    """Set up, measure, tear down; return the figures."""
    result: dict[str, Any] = {"hips_nside1024_s": round(_nside1024(), 1)}
    with bench_stack("maps") as stack:
        store = ObjectStore.from_settings(stack.storage)
        engine = make_sync_engine(DatabaseSettings(database_url=stack.database_url))
        generate(engine, None, "demo", progress=_say)
        deliver = demo_delivery(engine, store)
        began = time.monotonic()
        files = deliver_maps(engine, deliver, _say)
        result["demo_map_files"] = files
        result["demo_maps_s"] = round(time.monotonic() - began, 1)
        rows = list(map_rows(engine))
        began = time.monotonic()
        count = 0
        for row in rows:
            data = store.read_bytes(row["bucket"], row["object_key"])
            count += len(publish_product(store, row, data, force=True))
        result["demo_hips"] = count
        result["hips_rebuild_s"] = round(time.monotonic() - began, 1)
        engine.dispose()
        env = {"PATH": "/usr/bin:/bin", **stack.env()}
        with service_process("services.products.app:app", env) as (_proc, base):
            paths = [
                f"/hips/isgri_20_35_intensity/Norder3/Dir0/Npix{n}.{ext}"
                for n in range(0, 768, 3)
                for ext in ("fits", "png")
            ]
            with httpx.Client(base_url=base, timeout=60) as client:
                paths = [p for p in paths if client.get(p).status_code == 200]
            result["tiles"] = _tiles(base, paths, clients, 3)
            result["value_isgri_20_35_intensity"] = _values(base, "isgri_20_35_intensity", repeat)
    return result


def main(argv: list[str] | None = None) -> int:
    """Command line entry point (``python -m bench maps``)."""
    parser = argparse.ArgumentParser(prog="python -m bench maps", description=__doc__)
    parser.add_argument("--repeat", type=int, default=300, help="value requests timed")
    parser.add_argument("--clients", type=int, default=4, help="concurrent tile clients")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    result = run(args.repeat, args.clients)
    text_out = json.dumps(result, indent=2)
    print(text_out)
    if args.json:
        args.json.write_text(text_out + "\n")
    return 0
