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
  recently served small files in memory, keyed by their SHA-256).

Usage: ``python -m bench products [--repeat 30] [--scale bench] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from bench.stack import bench_stack
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


def _throughput(
    client: httpx.Client, store: ObjectStore, rows: list[Any], rounds: int
) -> dict[str, Any]:
    """Bytes per second through the service and directly from S3, interleaved file by file.

    The first round is cold (the service reads every file from S3); later rounds find the
    small files in the service's cache of recently served products.
    """
    figures: dict[str, Any] = {"files": len(rows), "bytes": sum(int(r.size) for r in rows)}
    for name, count in (("cold", 1), ("warm", rounds - 1)):
        service_s = direct_s = 0.0
        total = 0
        for _ in range(count):
            for row in rows:
                began = time.perf_counter()
                body = client.get(f"/products/files/{row.product_id}").content
                service_s += time.perf_counter() - began
                began = time.perf_counter()
                data = store.read_bytes(store.products_bucket, row.object_key)
                direct_s += time.perf_counter() - began
                assert len(body) == len(data) == row.size
                total += row.size
        figures[name] = {
            "service_mib_s": round(total / service_s / 2**20, 1),
            "direct_mib_s": round(total / direct_s / 2**20, 1),
            "ratio": round(direct_s / service_s, 3),
        }
    return figures


def run(scale: str, repeat: int) -> dict[str, Any]:
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
            service_process("services.products.app:app", env) as (_proc, base),
            httpx.Client(base_url=base, timeout=120) as client,
        ):
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
                "spectra": _throughput(client, store, list(spectra), 4),
                "mosaics": _throughput(client, store, list(mosaics), 4),
            }
        return result


def main(argv: list[str] | None = None) -> int:
    """Command line entry point (``python -m bench products``)."""
    parser = argparse.ArgumentParser(prog="python -m bench products", description=__doc__)
    parser.add_argument("--scale", default="bench", choices=("demo", "bench"))
    parser.add_argument("--repeat", type=int, default=30, help="requests per latency figure")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    result = run(args.scale, args.repeat)
    text_out = json.dumps(result, indent=2)
    print(text_out)
    if args.json:
        args.json.write_text(text_out + "\n")
    return 0
