"""Products service benchmark: whole-mission light curves, and stored products vs direct S3.

Starts its own embedded Postgres and SeaweedFS in a temporary folder, generates the demo
archive at the benchmark scale (``--scale bench``: every 10th revolution, ~18,000 science
windows, light curves of the 3,000 brightest sources) without raw files, writes the demo's
product files to the products bucket, runs the products service as its own uvicorn process and
measures, with one keep-alive HTTP client:

- the whole-mission ISGRI 28-40 keV light curve of the bright source with the most points,
  per science window (tens of thousands of points), as JSON and as OGIP FITS, and a sub-ScW
  light curve served from a stored sub-ScW time series at its own bin width (p50 and p95
  latency; goal p50 < 100 ms);
- stored spectra and mosaics fetched through ``/products/files/...`` against the same objects
  read directly from S3 with the minio client (``shared.storage``), file by file in the same
  run (goal: a throughput ratio of at least 0.8), once cold and then warm (the service keeps
  recently served small files in memory, keyed by their SHA-256);
- small files alone (``small_files``): 200 product files of 12 KB (the size of a spectrum)
  that the service has never served, each fetched through the service and read directly, in
  alternating order (so neither side finds the other's reads in SeaweedFS's caches), cold
  and then warm. It needs no demo archive: ``--files-only`` runs just this case.

The service is fetched with urllib3, the HTTP library under the minio client, on one keep-alive
connection: both sides of a ratio then pay the same client costs, and what differs is what the
service does (routing, one database lookup, the object read, the answer).

Usage: ``python -m bench products [--repeat 30] [--scale bench] [--files-only] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import urllib3
from sqlalchemy import text

from bench.stack import BenchStack, bench_stack
from deploy.demo import demo_delivery
from deploy.serve import service_process
from shared.db.engine import make_sync_engine
from shared.demo.generator import DEFAULT_SEED, bright_source_ids, generate
from shared.demo.lightcurves import deliver_points
from shared.demo.products import deliver_products
from shared.settings import DatabaseSettings
from shared.storage import ObjectStore


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _timings(client: httpx.Client, url: str, repeat: int) -> dict[str, float]:
    client.get(url).raise_for_status()  # warm-up: connection, caches
    times = []
    size = 0
    for _ in range(repeat):
        began = time.perf_counter()
        response = client.get(url)
        times.append(time.perf_counter() - began)
        response.raise_for_status()
        size = len(response.content)
    times.sort()
    return {
        "p50_ms": round(statistics.median(times) * 1000, 2),
        "p95_ms": round(times[min(len(times) - 1, int(0.95 * len(times)))] * 1000, 2),
        "bytes": size,
    }


class FileRow(NamedTuple):
    """A stored product file: its id, object key and size."""

    product_id: str
    object_key: str
    size: int


def _fetch(pool: urllib3.HTTPConnectionPool, row: FileRow) -> bytes:
    response = pool.request("GET", f"/products/files/{row.product_id}")
    if response.status != 200:
        raise RuntimeError(f"{row.product_id}: HTTP {response.status}")
    return response.data


def _throughput(
    bases: dict[str, str], store: ObjectStore, rows: Sequence[FileRow], rounds: int
) -> dict[str, Any]:
    """Bytes per second through each service in ``bases`` and directly from S3, file by file.

    ``bases`` names the services measured (``service``, and with ``--baseline`` the same
    service from another checkout). The first round is cold (the services read every file
    from S3); later rounds find the small files in the services' caches of recently served
    products. The order of the reads rotates from file to file, so that no side is always
    the one that finds the object in the store's own caches.
    """
    figures: dict[str, Any] = {"files": len(rows), "bytes": sum(int(r.size) for r in rows)}
    pools = {
        name: urllib3.connection_from_url(base, maxsize=1, timeout=120)
        for name, base in bases.items()
    }
    sides = ["direct", *bases]
    try:
        for name, count in (("cold", 1), ("warm", rounds - 1)):
            times: dict[str, list[float]] = {side: [] for side in sides}
            total = 0
            for _ in range(count):
                for n, row in enumerate(rows):
                    for side in sides[n % len(sides) :] + sides[: n % len(sides)]:
                        began = time.perf_counter()
                        if side == "direct":
                            data = store.read_bytes(store.products_bucket, row.object_key)
                        else:
                            data = _fetch(pools[side], row)
                        times[side].append(time.perf_counter() - began)
                        assert len(data) == row.size
                    total += row.size
            direct_s = sum(times["direct"])
            case: dict[str, Any] = {
                "direct_mib_s": round(total / direct_s / 2**20, 1),
                "direct_p50_ms": round(statistics.median(times["direct"]) * 1000, 2),
            }
            for side in bases:
                case[f"{side}_mib_s"] = round(total / sum(times[side]) / 2**20, 1)
                case[f"{side}_p50_ms"] = round(statistics.median(times[side]) * 1000, 2)
                case[f"{side}_ratio"] = round(direct_s / sum(times[side]), 3)
            figures[name] = case
    finally:
        for pool in pools.values():
            pool.close()
    return figures


APP = "services.products.app:app"

SMALL_FILES = 200
"""Files of the small-file case."""
SMALL_SIZE = 12 * 1024
"""Bytes of each: an ISGRI spectrum as the demo pipeline writes it."""


def _small_files(stack: BenchStack, count: int = SMALL_FILES) -> list[FileRow]:
    """Store ``count`` files of :data:`SMALL_SIZE` random bytes as spectrum products.

    The rows are written straight into ``isla.products`` (as ingestion would leave them):
    what is measured is serving, and the bytes need not be a valid spectrum for that.
    """
    store = ObjectStore.from_settings(stack.storage)
    engine = make_sync_engine(DatabaseSettings(database_url=stack.database_url))
    rng = random.Random(17)  # noqa: S311 - seeded filler bytes, not secrets
    rows = []
    try:
        with engine.begin() as conn:
            for n in range(count):
                pid = f"spectrum/ISGRI/bench/small{n:04d}"
                key = f"products/{pid}/spectrum.fits"
                data = rng.randbytes(SMALL_SIZE)
                stored = store.put_bytes(store.products_bucket, key, data, "application/fits")
                conn.execute(
                    text(
                        "INSERT INTO isla.products (product_id, kind, instrument, bucket, "
                        "object_key, file_name, size, sha256, content_type, meta, simulated) "
                        "VALUES (:p, 'spectrum', 'ISGRI', :b, :k, 'spectrum.fits', :s, :h, "
                        "'application/fits', '{}'::jsonb, true)"
                    ),
                    {"p": pid, "b": store.products_bucket, "k": key, "s": len(data)}
                    | {"h": stored.sha256},
                )
                rows.append(FileRow(pid, key, len(data)))
    finally:
        engine.dispose()
    return rows


def run_files_only(baseline: Path | None, rounds: int = 4) -> dict[str, Any]:
    """The small-file case alone, on its own stack (no demo archive).

    ``baseline``: another checkout of ISLA (e.g. ``git worktree add``) whose products service
    is measured beside this one, on the same stack and files, in the same rounds.
    """
    with bench_stack("products-files") as stack, contextlib.ExitStack() as running:
        rows = _small_files(stack)
        env = {"PATH": "/usr/bin:/bin", **stack.env()}
        bases = {"service": running.enter_context(service_process(APP, env, timeout=600))[1]}
        if baseline is not None:
            old = {**env, "PYTHONPATH": str(baseline.resolve())}
            bases["baseline"] = running.enter_context(
                service_process(APP, old, timeout=600, cwd=baseline)
            )[1]
        store = ObjectStore.from_settings(stack.storage)
        small = _throughput(bases, store, rows, rounds)
        return {"load_average_1min": round(os.getloadavg()[0], 1), "small_files": small}


def run(scale: str, repeat: int, baseline: Path | None = None) -> dict[str, Any]:
    """Set up, measure, tear down; return the figures."""
    with bench_stack("products") as stack:
        store = ObjectStore.from_settings(stack.storage)
        engine = make_sync_engine(DatabaseSettings(database_url=stack.database_url))
        began = time.monotonic()
        report = generate(engine, None, scale, progress=_say)
        # Without raw files, so the points and products are delivered here, as the generator
        # would.
        deliver = demo_delivery(engine, store)
        bright = set(bright_source_ids().values())
        deliver_points(engine, deliver, scale, DEFAULT_SEED, bright, _say)
        files = deliver_products(engine, deliver, bright, _say)
        small = _small_files(stack)
        setup_s = time.monotonic() - began
        with engine.connect() as conn:
            # The bright named source with the most ISGRI points (and how many of them are
            # detected at 5 sigma).
            source, points, detected = conn.execute(
                text(
                    "SELECT p.source_id, count(*), count(*) FILTER (WHERE p.significance >= 5) "
                    "FROM isla.lightcurve_points p JOIN isla.energy_bands e USING (band_id) "
                    "WHERE e.instrument = 'ISGRI' AND e.name = '28_40' "
                    "AND p.source_id = ANY(:ids) "
                    "GROUP BY p.source_id ORDER BY count(*) DESC LIMIT 1"
                ),
                {"ids": sorted(bright_source_ids().values())},
            ).one()
            spectra = conn.execute(
                text(
                    "SELECT product_id, object_key, size FROM isla.products "
                    "WHERE kind = 'spectrum' ORDER BY product_id LIMIT 50"
                )
            ).all()
            # Sub-ScW bins exist only where a sub-ScW time series is stored: the largest one.
            series = conn.execute(
                text(
                    "SELECT p.source_id, e.name, p.t_min, p.t_max, (p.meta->>'bin_s')::float "
                    "FROM isla.products p JOIN isla.energy_bands e USING (band_id) "
                    "WHERE p.kind = 'short_timeseries' AND p.instrument = 'ISGRI' "
                    "ORDER BY (p.meta->>'bins')::int DESC NULLS LAST, p.product_id LIMIT 1"
                )
            ).one()
            mosaics = conn.execute(
                text(
                    "SELECT product_id, object_key, size FROM isla.products "
                    "WHERE kind = 'mosaic' ORDER BY product_id"
                )
            ).all()
        engine.dispose()
        env = {"PATH": "/usr/bin:/bin", **stack.env()}
        with (
            service_process(APP, env, timeout=600) as (_proc, base),
            httpx.Client(base_url=base, timeout=120) as client,
            contextlib.ExitStack() as running,
        ):
            bases = {"service": base}
            if baseline is not None:
                old = {**env, "PYTHONPATH": str(baseline.resolve())}
                bases["baseline"] = running.enter_context(
                    service_process(APP, old, timeout=600, cwd=baseline)
                )[1]
            lc = f"/products/lightcurves/{source}"
            fast = (
                f"/products/lightcurves/{series[0]}?band={series[1]}&binning={series[4]:g}"
                f"&start={series[2] - 0.01}&end={series[3] + 0.01}"
            )
            fast_bins = len(client.get(fast).json()["data"])
            result: dict[str, Any] = {
                "scale": scale,
                "science_windows": report.science_windows,
                "lightcurve_points": report.lightcurve_points,
                "product_files": files,
                "setup_s": round(setup_s, 1),
                "lightcurve": {
                    "source_id": source,
                    "points": int(points),
                    "detected_5sigma": int(detected),
                    "sub_scw_source_id": series[0],
                    f"sub_scw_bins_of_{series[4]:g}_s": fast_bins,
                },
                "lightcurve_json": _timings(client, lc, repeat),
                "lightcurve_fits": _timings(client, f"{lc}?format=fits", repeat),
                "lightcurve_revolution_json": _timings(client, f"{lc}?binning=revolution", repeat),
                "lightcurve_sub_scw_json": _timings(client, fast, repeat),
                "lightcurve_sub_scw_fits": _timings(client, f"{fast}&format=fits", repeat),
                "spectra": _throughput(bases, store, [FileRow(*r) for r in spectra], 4),
                "mosaics": _throughput(bases, store, [FileRow(*r) for r in mosaics], 4),
                "small_files": _throughput(bases, store, small, 4),
                "load_average_1min": round(os.getloadavg()[0], 1),
            }
        return result


def main(argv: list[str] | None = None) -> int:
    """Command line entry point (``python -m bench products``)."""
    parser = argparse.ArgumentParser(prog="python -m bench products", description=__doc__)
    parser.add_argument("--scale", default="bench", choices=("demo", "bench"))
    parser.add_argument("--repeat", type=int, default=30, help="requests per latency figure")
    parser.add_argument(
        "--files-only", action="store_true", help="only the small-file case (no demo archive)"
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        help="another checkout whose products service is measured beside this one (file cases)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    result = (
        run_files_only(args.baseline)
        if args.files_only
        else run(args.scale, args.repeat, args.baseline)
    )
    text_out = json.dumps(result, indent=2)
    print(text_out)
    if args.json:
        args.json.write_text(text_out + "\n")
    return 0
