"""TAP benchmark: ISLA beside a peer TAP service (GAVO DaCHS) and beside Postgres itself.

Starts its own embedded Postgres and SeaweedFS in a temporary folder, migrates an empty
archive, and loads a 1,000,000-row source catalogue (``source_id,name,ra,dec,flux_20_40,
flux_40_100,class``) through ISLA's own catalogue ingestion (``POST /ingest/catalogues``, kind
``spi_results/1``, with a real token). The archive's services run in their own uvicorn process
(the gateway, with two worker processes as ``isla up`` runs it). Then the cases of
:mod:`bench.tap_cases` run against:

- ISLA's TAP service, on ``isla.catalogue_entries`` (the loaded catalogue's rows);
- Postgres directly, with the SQL the ADQL translator produces (the floor: the published
  columns, read through ``isla_pub.catalogue_entries``);
- optionally a peer service (``--peer-url``, e.g. DaCHS serving the same rows) and its
  database (``--peer-dsn``), in the same run.

``--data DIR`` takes ``DIR/sources.csv`` (for instance from the generator the peer was loaded
from, so that both serve identical rows); without it, a catalogue of the same form is generated
(seeded) here.

Usage: ``python -m bench tap [--data DIR] [--rows N] [--peer-url URL --peer-table T]
[--peer-dsn DSN] [--repeat 30] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psycopg

from bench.stack import bench_stack
from bench.tap_cases import Plan, Target, run_sql, run_tap
from deploy.serve import service_process
from services.ingest.auth import create_token
from shared.db.engine import make_sync_engine
from shared.settings import DatabaseSettings
from shared.vo.tap_schema import PUBLISHED_RELATIONS

CLASSES = np.array(["AGN", "LMXB", "HMXB", "CV", "PSR", "SNR", "GRB", "Star", "Cluster", ""])
TABLE = "isla.catalogue_entries"


def generate_sources(path: Path, rows: int, seed: int = 42) -> None:
    """A seeded catalogue of ``rows`` sources uniform on the sky, in the benchmark's CSV form."""
    rng = np.random.default_rng(seed)
    ra = rng.uniform(0, 360, rows)
    dec = np.degrees(np.arcsin(rng.uniform(-1, 1, rows)))
    flux1 = rng.lognormal(0, 1.5, rows)
    flux2 = np.where(rng.random(rows) < 0.1, np.nan, flux1 * rng.uniform(0.2, 1.5, rows))
    classes = CLASSES[rng.integers(0, len(CLASSES), rows)]
    with path.open("w") as out:
        out.write("source_id,name,ra,dec,flux_20_40,flux_40_100,class\n")
        for i in range(rows):
            f2 = "" if np.isnan(flux2[i]) else f"{flux2[i]:.4g}"
            out.write(
                f"SYN{i:07d},SYN {i:07d},{ra[i]:.6f},{dec[i]:.6f},{flux1[i]:.4g},{f2},"
                f"{classes[i]}\n"
            )


def _load(base_url: str, token: str, csv_path: Path) -> dict[str, Any]:
    t0 = time.perf_counter()
    with httpx.Client(timeout=1800) as client, csv_path.open("rb") as data:
        response = client.post(
            f"{base_url}/ingest/catalogues",
            headers={"Authorization": f"Bearer {token}"},
            files={"file": (csv_path.name, data, "text/csv")},
            data={"kind": "spi_results/1", "name": "TAP benchmark", "version": "1", "mode": "sync"},
        )
    if response.status_code != 201:
        raise RuntimeError(f"ingestion refused: {response.status_code} {response.text[:500]}")
    elapsed = time.perf_counter() - t0
    report = response.json()
    return {"seconds": round(elapsed, 1), "report": report}


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Set up, load, measure; the figures as a dict."""
    with bench_stack("tap") as stack:
        url = stack.database_url
        csv_path = Path(args.data) / "sources.csv" if args.data else stack.home / "sources.csv"
        if not args.data:
            generate_sources(csv_path, args.rows)
        engine = make_sync_engine(DatabaseSettings(database_url=url))
        with engine.begin() as conn:
            token = create_token(conn, "spi-team", "spi", "TAP benchmark").token
        engine.dispose()
        env = {
            **os.environ,
            **stack.env(),
            "ISLA_INGEST_MAX_BYTES": str(4 << 30),
            "ISLA_INGEST_SYNC_MAX_BYTES": str(4 << 30),
        }
        results: dict[str, Any] = {}
        plan = Plan(repeat=args.repeat)
        with service_process("deploy.gateway:app", env, 300, args.workers) as (_proc, base):
            results["ingestion"] = _load(base, token, csv_path)
            dsn = url.replace("postgresql+psycopg://", "postgresql://")
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(f"VACUUM ANALYZE {TABLE}")
            results["isla"] = run_tap(Target("isla", f"{base}/tap", TABLE), plan)
            # The floor reads what the translator reads: the view of the published columns.
            relation = PUBLISHED_RELATIONS.get(TABLE, TABLE)
            results["isla_sql"] = run_sql(dsn, relation, plan, point="pos")
            if args.peer_url:
                peer = Target("peer", args.peer_url, args.peer_table)
                results["peer"] = run_tap(peer, plan)
            if args.peer_dsn:
                results["peer_sql"] = run_sql(args.peer_dsn, args.peer_table, plan)
        return results


def _table(results: dict[str, Any]) -> str:
    services = [s for s in ("isla", "peer", "isla_sql", "peer_sql") if s in results]
    lines = ["case | " + " | ".join(services), "--- | " + " | ".join("---" for _ in services)]
    for case in ("trivial", "cone", "bulk_b2", "bulk_csv", "cone_conc"):
        cells = []
        for s in services:
            r = results[s][case]
            cells.append(
                f"{r['queries_per_s']} q/s" if case == "cone_conc" else f"{r['median_ms']} ms"
            )
        lines.append(f"{case} | " + " | ".join(cells))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line entry (``python -m bench tap``)."""
    parser = argparse.ArgumentParser(prog="python -m bench tap", description=__doc__)
    parser.add_argument("--data", help="folder holding sources.csv (default: generate one)")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows to generate")
    parser.add_argument("--peer-url", help="a peer TAP service to measure in the same run")
    parser.add_argument("--peer-table", default="integral.sources", help="the peer's table")
    parser.add_argument("--peer-dsn", help="the peer's database, for its SQL floor")
    parser.add_argument("--repeat", type=int, default=30, help="timed runs per case")
    parser.add_argument(
        "--workers", type=int, default=2, help="web server processes (as isla up runs them)"
    )
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    results = run(args)
    print(_table(results))
    text = json.dumps(results, indent=2, default=str)
    if args.json:
        Path(args.json).write_text(text)
    else:
        print(text)
    return 0
