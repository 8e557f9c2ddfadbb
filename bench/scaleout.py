"""Scale-out benchmark: requests per second of the TAP service with 1, 2, 3 and 4 web workers.

Starts its own embedded Postgres and SeaweedFS (schema migrated), loads a seeded catalogue of
``--rows`` sources uniform on the sky (default 100,000) through ISLA's own catalogue ingestion
(``POST /ingest/catalogues``, kind ``spi_results/1``, with a real token; the rows land in
``isla.catalogue_entries``), runs the TAP service as its own uvicorn process with each count
of ``--workers`` in turn, and sends a fixed number of requests from ``--concurrency``
concurrent clients (one asyncio event loop in this process) to:

- ``/tap/health``: the framework's floor (routing, middleware, metrics, a JSON answer);
- 1° cone searches in ADQL through ``/tap/sync`` on that catalogue, at 64 seeded centres in
  turn (about 8 rows each at 100,000 rows): parse, TAP_SCHEMA check, translation to pgSphere,
  one indexed query on a pooled connection and a VOTable answer, the archive's most common
  cheap request.

On a machine of N cores the rate should grow up to N workers and then stay flat: more
processes than cores only share the same cores.

The load generator runs on the same machine as the service, so on a two-core machine the
second worker competes with it for CPU: the figures are a lower bound of what a second core
gives, which is why docs/OPERATIONS.md extrapolates per core rather than per machine.

Usage: ``python -m bench scaleout [--requests 400] [--concurrency 8] [--workers 1,2,3,4]
[--rows 100000] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from bench.stack import BenchStack, bench_stack
from bench.tap_bench import generate_sources
from bench.tap_cases import cone_centres
from deploy.serve import service_process
from services.ingest.auth import create_token
from shared.db.engine import make_sync_engine
from shared.settings import DatabaseSettings

TABLE = "isla.catalogue_entries"
"""Where catalogue ingestion puts the benchmark's sources."""
CONE_CENTRES = 64


def _cone_path(ra: float, dec: float) -> str:
    query = (
        f"SELECT * FROM {TABLE} WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), "  # noqa: S608 - ADQL of seeded numbers, sent to TAP
        f"CIRCLE('ICRS', {ra}, {dec}, 1))"
    )
    return "/tap/sync?" + str(httpx.QueryParams({"LANG": "ADQL", "QUERY": query}))


TARGETS: dict[str, list[str]] = {
    "health": ["/tap/health"],
    "adql_cone": [_cone_path(ra, dec) for ra, dec in cone_centres(CONE_CENTRES)],
}
"""Each case's request paths, sent in turn."""


def _cpu_seconds(root: int) -> float:
    """CPU time (user + system) used so far by process ``root`` and its descendants (Linux)."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    tree, grown = {root}, True
    while grown:
        more = {pid for pid, parent in parents.items() if parent in tree} - tree
        grown = bool(more)
        tree |= more
    return sum(times.get(pid, 0.0) for pid in tree)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def _load(
    base: str, paths: list[str], requests: int, concurrency: int, pid: int, db_pid: int
) -> dict[str, Any]:
    """Send ``requests`` GETs of ``paths`` (in turn) from ``concurrency`` clients; figures.

    Besides rates and latencies, the CPU time per request of the service (process ``pid`` and
    its worker processes) and of Postgres (``db_pid``, the postmaster, and its backends):
    unlike the rate, it hardly depends on what else the machine runs.
    """
    times: list[float] = []
    failures = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(requests):
        queue.put_nowait(n)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        for n in range(max(concurrency, 8)):  # warm-up: connections, caches, TAP metadata
            (await client.get(paths[n % len(paths)])).raise_for_status()

        async def one_client() -> None:
            nonlocal failures
            while not queue.empty():
                n = queue.get_nowait()
                began = time.perf_counter()
                response = await client.get(paths[n % len(paths)])
                times.append(time.perf_counter() - began)
                failures += response.status_code != 200

        cpu_before, db_before = _cpu_seconds(pid), _cpu_seconds(db_pid)
        began = time.perf_counter()
        await asyncio.gather(*(one_client() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
        cpu, db_cpu = _cpu_seconds(pid) - cpu_before, _cpu_seconds(db_pid) - db_before
    times.sort()
    return {
        "requests": requests,
        "failures": failures,
        "per_s": round(requests / elapsed, 1),
        "p50_ms": round(statistics.median(times) * 1000, 1),
        "p95_ms": round(times[int(0.95 * (len(times) - 1))] * 1000, 1),
        "service_cpu_ms_per_request": round(cpu / requests * 1000, 2),
        "postgres_cpu_ms_per_request": round(db_cpu / requests * 1000, 2),
        "load_average_1min": round(os.getloadavg()[0], 1),
    }


def _load_catalogue(stack: BenchStack, rows: int) -> dict[str, Any]:
    """Ingest ``rows`` seeded sources through the ingest service; how long it took."""
    csv_path = stack.home / "sources.csv"
    generate_sources(csv_path, rows)
    engine = make_sync_engine(DatabaseSettings(database_url=stack.database_url))
    with engine.begin() as conn:
        token = create_token(conn, "spi-team", "spi", "scale-out benchmark").token
    env = {"PATH": "/usr/bin:/bin", **stack.env()}
    began = time.perf_counter()
    with (
        service_process("services.ingest.app:app", env, timeout=900) as (_proc, base),
        httpx.Client(timeout=1800) as client,
        csv_path.open("rb") as data,
    ):
        response = client.post(
            f"{base}/ingest/catalogues",
            headers={"Authorization": f"Bearer {token}"},
            files={"file": (csv_path.name, data, "text/csv")},
            data={"kind": "spi_results/1", "name": "scale-out", "version": "1", "mode": "sync"},
        )
    if response.status_code != 201:
        raise RuntimeError(f"ingestion refused: {response.status_code} {response.text[:500]}")
    seconds = time.perf_counter() - began
    with engine.begin() as conn:
        conn.execute(text(f"ANALYZE {TABLE}"))
        loaded = conn.execute(text(f"SELECT count(*) FROM {TABLE}")).scalar_one()  # noqa: S608 - a constant
    engine.dispose()
    return {
        "rows": int(loaded),
        "seconds": round(seconds, 1),
        "rows_per_s": round(loaded / seconds),
    }


def run(requests: int, concurrency: int, workers: list[int], rows: int) -> dict[str, Any]:
    """Set up, load the catalogue, measure each worker count, tear down; the figures."""
    result: dict[str, Any] = {
        "cores": os.cpu_count(),
        "requests": requests,
        "concurrency": concurrency,
        "load_average_1min_at_start": round(os.getloadavg()[0], 1),
    }
    with bench_stack("scaleout") as stack:
        (pidfile,) = stack.home.rglob("postmaster.pid")
        db_pid = int(pidfile.read_text().split()[0])
        _say(f"loading {rows} sources through catalogue ingestion")
        result["catalogue"] = _load_catalogue(stack, rows)
        env = {
            "PATH": "/usr/bin:/bin",
            "ISLA_ACCESS_LOG": "false",  # a log line per request would be measured too
            **stack.env(),
        }
        for count in workers:
            # Starting several workers on a loaded machine takes minutes (each imports the app).
            serving = service_process("services.tap.app:app", env, timeout=900, workers=count)
            with serving as (proc, base):
                figures = {}
                for name, paths in TARGETS.items():
                    _say(f"{count} worker(s): {name}")
                    load = _load(base, paths, requests, concurrency, proc.pid, db_pid)
                    figures[name] = asyncio.run(load)
                result[f"workers_{count}"] = figures
                _say(json.dumps({f"workers_{count}": figures}))  # kept if a later count fails
    first = workers[0]
    for name in TARGETS:
        base_rate = result[f"workers_{first}"][name]["per_s"]
        result[f"speedup_{name}"] = {
            str(count): round(result[f"workers_{count}"][name]["per_s"] / base_rate, 2)
            for count in workers
        }
    return result


def main(argv: list[str] | None = None) -> int:
    """Command line entry point (``python -m bench scaleout``)."""
    parser = argparse.ArgumentParser(prog="python -m bench scaleout", description=__doc__)
    parser.add_argument("--requests", type=int, default=400, help="requests per figure")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent clients")
    parser.add_argument(
        "--workers", default="1,2,3,4", help="web worker counts to measure, comma-separated"
    )
    parser.add_argument("--rows", type=int, default=100_000, help="catalogue rows to load")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    workers = [int(w) for w in args.workers.split(",")]
    result = run(args.requests, args.concurrency, workers, args.rows)
    text_out = json.dumps(result, indent=2)
    print(text_out)
    if args.json:
        args.json.write_text(text_out + "\n")
    return 0
