"""Catalogue ingestion benchmark: validated COPY loading vs a naive row-by-row INSERT.

Starts its own embedded Postgres in a temporary folder, writes a CSV catalogue of the shape
of the synthetic benchmark catalogue (``source_id,name,ra,dec,flux_20_40,flux_40_100,class``;
kind ``spi_results/1``), and measures:

- copy: the real ingestion (:func:`services.ingest.catalogues.load_catalogue`): streamed CSV
  parsing, validation against the interface, COPY into a staging table, one INSERT into
  ``isla.catalogue_entries`` (with its GiST and unique indexes) and the version switch, all
  in one transaction; with the time split into read+validate+stage and the final insert;
- naive: the same rows parsed with the csv module and inserted one ``INSERT`` per row (in one
  transaction, positions built by Postgres), on a subset of the rows;
- merge (``--merge``): the catalogue loaded once more, then merged into the archive's source
  list (:func:`services.ingest.merge.merge_catalogues`, what ``isla ingest merge`` runs), every
  entry a new source in an empty list; once, timed whole.

Usage: ``python -m bench ingest [--rows 1000000] [--naive-rows 50000] [--repeat 3]
[--merge] [--csv FILE] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

from deploy.postgres import EmbeddedPostgres
from services.ingest.catalogues import CatalogueDelivery, load_catalogue
from services.ingest.merge import merge_catalogues
from shared.db import migrate

KIND = "spi_results/1"
CLASSES = ("AGN", "LMXB", "HMXB", "CV", "Unknown")


def write_csv(path: Path, rows: int, seed: int = 1) -> None:
    """A deterministic synthetic catalogue of ``rows`` sources."""
    rng = np.random.default_rng(seed)
    ra = rng.uniform(0.0, 360.0, rows)
    dec = np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, rows)))
    f1 = rng.lognormal(0.0, 1.0, rows)
    f2 = rng.lognormal(0.0, 1.0, rows)
    empty = rng.random(rows) < 0.1
    cls = rng.integers(0, len(CLASSES), rows)
    with path.open("w") as out:
        out.write("source_id,name,ra,dec,flux_20_40,flux_40_100,class\n")
        for i in range(rows):
            f40 = "" if empty[i] else f"{f2[i]:.4g}"
            out.write(
                f"{10_000_001 + i},SYN {i:07d},{ra[i]:.6f},{dec[i]:.6f},{f1[i]:.4g},{f40},"
                f"{CLASSES[cls[i]]}\n"
            )


def _count(path: Path) -> int:
    with path.open("rb") as f:
        return sum(1 for _ in f) - 1


def copy_run(info: str, path: Path, name: str) -> dict[str, float]:
    """One real ingestion; seconds in total and per phase."""
    marks: dict[str, float] = {}
    start = time.perf_counter()

    def progress(_fraction: float, message: str) -> None:
        if message.startswith("writing"):
            marks["staged"] = time.perf_counter() - start

    delivery = CatalogueDelivery(name=name, version="1", kind=KIND, team="bench")
    report = load_catalogue(info, path, delivery, lambda _team: True, progress)
    total = time.perf_counter() - start
    return {
        "rows": float(report["rows"]),
        "seconds": total,
        "read_validate_stage_s": marks.get("staged", total),
        "insert_s": total - marks.get("staged", total),
    }


def naive_run(info: str, path: Path, rows: int) -> float:
    """Seconds to insert the first ``rows`` rows one INSERT at a time (one transaction)."""
    start = time.perf_counter()
    with psycopg.connect(info) as conn, conn.cursor() as cur, path.open(newline="") as f:
        cid = cur.execute(
            "INSERT INTO isla.catalogues (name, version, team, kind, is_current, n_rows) "
            "VALUES ('naive', '1', 'bench', %s, false, 0) RETURNING catalogue_id",
            (KIND,),
        ).fetchone()[0]  # type: ignore[index]
        reader = csv.DictReader(f)
        for n, row in enumerate(reader):
            if n >= rows:
                break
            ra, dec = float(row["ra"]), float(row["dec"])
            values = {"name": row["name"], "flux_20_40": float(row["flux_20_40"])}
            if row["flux_40_100"]:
                values["flux_40_100"] = float(row["flux_40_100"])
            cur.execute(
                "INSERT INTO isla.catalogue_entries (catalogue_id, entry_name, ra, dec, "
                "source_class, values, version) VALUES (%s, %s, %s, %s, %s, %s, '1')",
                (cid, row["source_id"], ra, dec, row["class"], json.dumps(values)),
            )
        conn.commit()
    return time.perf_counter() - start


def _reset(info: str) -> None:
    with psycopg.connect(info) as conn:
        conn.execute("TRUNCATE isla.catalogue_entries, isla.catalogues CASCADE")
    with psycopg.connect(info, autocommit=True) as conn:
        conn.execute("CHECKPOINT")


def merge_run(info: str, path: Path) -> dict[str, Any]:
    """Load the catalogue, then time one merge of it into the (empty) source list."""
    copy_run(info, path, "bench merge")
    start = time.perf_counter()
    report = merge_catalogues(info)
    seconds = time.perf_counter() - start
    return {
        "entries": report["totals"]["entries"],
        "new_sources": report["totals"]["new"],
        "seconds": round(seconds, 2),
        "entries_per_s": round(report["totals"]["entries"] / seconds),
    }


def run(
    rows: int, naive_rows: int, repeat: int, csv_path: Path | None, merge: bool = False
) -> dict[str, Any]:
    """Set up, measure both cases ``repeat`` times, tear down; the figures as a dict."""
    home = Path(tempfile.mkdtemp(prefix="isla-bench-ingest-"))
    home.chmod(0o755)
    pg = EmbeddedPostgres(home)
    try:
        url = pg.start()
        migrate.upgrade(url)
        info = url.replace("postgresql+psycopg", "postgresql")
        if csv_path is None:
            csv_path = home / "catalogue.csv"
            write_csv(csv_path, rows)
        else:
            rows = _count(csv_path)
        copies: list[dict[str, float]] = []
        naive: list[float] = []
        for i in range(repeat):
            _reset(info)
            copies.append(copy_run(info, csv_path, f"bench {i}"))
            _reset(info)
            naive.append(naive_run(info, csv_path, min(naive_rows, rows)))
        merged = None
        if merge:
            _reset(info)
            merged = merge_run(info, csv_path)
        copy_s = statistics.median(c["seconds"] for c in copies)
        naive_s = statistics.median(naive)
        n_naive = min(naive_rows, rows)
        return {
            "rows": rows,
            "repeat": repeat,
            "copy_seconds_median": round(copy_s, 2),
            "copy_rows_per_s": round(rows / copy_s),
            "copy_read_validate_stage_rows_per_s": round(
                rows / statistics.median(c["read_validate_stage_s"] for c in copies)
            ),
            "copy_final_insert_rows_per_s": round(
                rows / statistics.median(c["insert_s"] for c in copies)
            ),
            "naive_rows": n_naive,
            "naive_seconds_median": round(naive_s, 2),
            "naive_rows_per_s": round(n_naive / naive_s),
            "speedup": round((rows / copy_s) / (n_naive / naive_s), 1),
            "merge": merged,
            "runs": {"copy": copies, "naive_seconds": naive},
        }
    finally:
        pg.stop()
        shutil.rmtree(home, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m bench ingest``."""
    parser = argparse.ArgumentParser(prog="bench ingest")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the catalogue")
    parser.add_argument("--naive-rows", type=int, default=50_000, help="rows of the baseline")
    parser.add_argument("--repeat", type=int, default=3, help="runs per case (medians)")
    parser.add_argument("--merge", action="store_true", help="also time a merge of the rows")
    parser.add_argument("--csv", type=Path, help="load this CSV instead of a generated one")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    figures = run(args.rows, args.naive_rows, args.repeat, args.csv, args.merge)
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0
