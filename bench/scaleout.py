"""Scale-out benchmark: requests per second of the TAP service with 1 and 2 web workers.

Starts its own embedded Postgres and SeaweedFS (schema migrated, no demo data: the tables are
empty, so what is measured is the per-request work of the service itself, not Postgres
scanning), runs the TAP service as its own uvicorn process with ``--workers 1`` and then
``--workers 2``, and sends a fixed number of requests from ``--concurrency`` concurrent
clients (one asyncio event loop in this process) to:

- ``/tap/health``: the framework's floor (routing, middleware, metrics, a JSON answer);
- a cone search in ADQL through ``/tap/sync``: parse, TAP_SCHEMA check, translation to
  pgSphere, one query on a pooled connection and a VOTable answer, the archive's most common
  cheap request.

The load generator runs on the same machine as the service, so on a two-core machine the
second worker competes with it for CPU: the figures are a lower bound of what a second core
gives, which is why docs/OPERATIONS.md extrapolates per core rather than per machine.

Usage: ``python -m bench scaleout [--requests 400] [--concurrency 8] [--json out.json]``.
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

from bench.stack import bench_stack
from deploy.serve import service_process

CONE = (
    "SELECT TOP 10 source_id, ra, dec FROM isla.sources "
    "WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', 83.63, 22.01, 1))"
)
TARGETS = {
    "health": "/tap/health",
    "adql_cone": "/tap/sync?" + str(httpx.QueryParams({"LANG": "ADQL", "QUERY": CONE})),
}


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
    base: str, path: str, requests: int, concurrency: int, pid: int, db_pid: int
) -> dict[str, Any]:
    """Send ``requests`` GETs of ``path`` from ``concurrency`` clients; figures of the run.

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
        for _ in range(concurrency):  # warm-up: connections, caches, the TAP metadata
            (await client.get(path)).raise_for_status()

        async def one_client() -> None:
            nonlocal failures
            while not queue.empty():
                queue.get_nowait()
                began = time.perf_counter()
                response = await client.get(path)
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


def run(requests: int, concurrency: int) -> dict[str, Any]:
    """Set up, measure both worker counts, tear down; return the figures."""
    result: dict[str, Any] = {
        "cores": os.cpu_count(),
        "requests": requests,
        "concurrency": concurrency,
    }
    with bench_stack("scaleout") as stack:
        (pidfile,) = stack.home.rglob("postmaster.pid")
        db_pid = int(pidfile.read_text().split()[0])
        env = {
            "PATH": "/usr/bin:/bin",
            "ISLA_ACCESS_LOG": "false",  # a log line per request would be measured too
            **stack.env(),
        }
        for workers in (1, 2):
            serving = service_process("services.tap.app:app", env, timeout=180, workers=workers)
            with serving as (proc, base):
                figures = {}
                for name, path in TARGETS.items():
                    _say(f"{workers} worker(s): {name}")
                    load = _load(base, path, requests, concurrency, proc.pid, db_pid)
                    figures[name] = asyncio.run(load)
                result[f"workers_{workers}"] = figures
    for name in TARGETS:
        one, two = result["workers_1"][name]["per_s"], result["workers_2"][name]["per_s"]
        result[f"speedup_{name}"] = round(two / one, 2)
    return result


def main(argv: list[str] | None = None) -> int:
    """Command line entry point (``python -m bench scaleout``)."""
    parser = argparse.ArgumentParser(prog="python -m bench scaleout", description=__doc__)
    parser.add_argument("--requests", type=int, default=400, help="requests per figure")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent clients")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    result = run(args.requests, args.concurrency)
    text_out = json.dumps(result, indent=2)
    print(text_out)
    if args.json:
        args.json.write_text(text_out + "\n")
    return 0
