"""Light-curve points ingestion benchmark: points per second through the real delivery path.

Starts its own embedded Postgres and SeaweedFS in a temporary folder, registers a benchmark
sky (``--sources`` sources, ``--revolutions`` revolutions of ``--pointings`` pointings each)
and delivers per-ScW source-results tables (kind ``lc_results``) as the pipelines do: per
delivery, one ISGRI table (4 bands) and one JEM-X table (3 bands) covering
``--revs-per-delivery`` revolutions, each source seen in a random part of the pointings. Each
delivery goes through :func:`services.ingest.products.ingest_delivery`: FITS reading, QC
(every row checked against the archive), the journal, the staged object, the points loaded
with binary ``COPY`` and the server-side copy of the object, in one transaction.

Measured:

- points/s end to end: all points over the wall time of the deliveries, one after the other
  (the files are made before each delivery, outside the timing), and with ``--threads`` 2
  deliveries at a time as the demo pipeline sends them;
- points per CPU second: the same points over the CPU time of this process plus every
  Postgres process of the private cluster (what a quiet machine would give; the machine this
  runs on is shared, so wall times follow its load);
- re-delivery: the same files again (idempotent, ``unchanged``), and one table replaced;
- table floor, side by side in the same run: one binary ``COPY`` body of ``--floor-rows`` points
  into the points table as it was before (one table, foreign key to the sources checked per
  row, primary key and ``scw_id`` B-trees) and into the table as it is now.

Usage: ``python -m bench ingest-points [--sources 2000] [--revolutions 180] [--pointings 60]
[--revs-per-delivery 5] [--threads 1] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from astropy.io import fits
from sqlalchemy import Engine, text

from bench.stack import bench_stack, copy_pointings
from services.ingest import products
from services.ingest.products import points as points_module
from services.ingest.raw_index import _ensure_revolution
from shared import settings as cfg
from shared.db.engine import make_sync_engine
from shared.storage import ObjectStore

SCW_DAYS = 0.025
"""Length of one benchmark pointing (36 minutes)."""
BANDS = {"ISGRI": ((20.0, 35.0), (28.0, 40.0), (35.0, 60.0), (60.0, 200.0)),
         "JEM-X": ((3.0, 10.0), (3.0, 20.0), (10.0, 20.0))}  # fmt: skip
"""Energy bands (keV) of each instrument's table: ISLA's bands."""
SEEN = {"ISGRI": 0.1, "JEM-X": 0.02}
"""Fraction of the sources in an instrument's field of view in one pointing."""


def _seed(engine: Engine, n_sources: int, revolutions: int, pointings: int) -> dict[str, Any]:
    """Sources and pointing ScWs of the benchmark sky; returns their ids and times."""
    rng = np.random.default_rng(7)
    ra = rng.uniform(0.0, 360.0, n_sources)
    dec = np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, n_sources)))
    source_ids = np.array([f"J{i:06d}.0+000000" for i in range(n_sources)])
    first = 100
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO isla.sources (source_id, name, ra, dec, source_class, det_isgri, "
                "det_picsit, det_jemx, det_spi, det_omc) SELECT s, 'bench ' || s, r, d, 'AGN', "
                "true, false, true, false, false FROM unnest(CAST(:s AS text[]), "
                "CAST(:r AS float8[]), CAST(:d AS float8[])) AS t(s, r, d)"
            ),
            {"s": source_ids.tolist(), "r": ra.tolist(), "d": dec.tolist()},
        )
        for rev in range(first, first + revolutions):
            _ensure_revolution(conn, rev)
        starts_of: dict[int, float] = dict(
            conn.execute(
                text(
                    "SELECT revolution, start_ijd FROM isla.revolutions "
                    "WHERE revolution BETWEEN :a AND :b"
                ),
                {"a": first, "b": first + revolutions - 1},
            ).all()
        )
        revs = np.repeat(np.arange(first, first + revolutions), pointings)
        index = np.tile(np.arange(pointings), revolutions)
        starts = np.array([starts_of[int(r)] for r in revs]) + 0.01 + index * SCW_DAYS
        ends = starts + SCW_DAYS * 0.9
        scw_ids = np.array([f"{r:04d}{i + 1:04d}0010" for r, i in zip(revs, index, strict=True)])
        copy_pointings(conn, scw_ids.tolist(), revs.tolist(), starts, ends)
    return {"sources": source_ids, "scws": scw_ids, "revs": revs, "start": starts, "end": ends}


def _table(
    sky: dict[str, Any], instrument: str, mask: npt.NDArray[np.bool_], seed: int
) -> tuple[bytes, int]:
    """One results table of ``instrument`` for the pointings in ``mask``; (bytes, rows)."""
    rng = np.random.default_rng(seed)
    scw_index = np.flatnonzero(mask)
    n_src = len(sky["sources"])
    per_scw = max(1, int(n_src * SEEN[instrument]))
    src = np.concatenate([rng.choice(n_src, per_scw, replace=False) for _ in scw_index])
    scw = np.repeat(scw_index, per_scw)
    bands = BANDS[instrument]
    nb = len(bands)
    src, scw = np.repeat(src, nb), np.repeat(scw, nb)
    band = np.tile(np.arange(nb), len(scw_index) * per_scw)
    n = len(src)
    middle = (sky["start"][scw] + sky["end"][scw]) / 2.0
    rate = rng.normal(2.0, 1.0, n)
    columns = [
        fits.Column("SOURCE_ID", "16A", array=sky["sources"][src]),
        fits.Column("SCW_ID", "12A", array=sky["scws"][scw]),
        fits.Column("E_MIN", "E", unit="keV", array=np.array([b[0] for b in bands])[band]),
        fits.Column("E_MAX", "E", unit="keV", array=np.array([b[1] for b in bands])[band]),
        fits.Column("TIME", "D", unit="d", array=middle),
        fits.Column("TIMEDEL", "D", unit="s", array=np.full(n, SCW_DAYS * 0.9 * 86400.0)),
        fits.Column("EXPOSURE", "D", unit="s", array=rng.uniform(500.0, 1800.0, n)),
        fits.Column("RATE", "E", unit="count/s", array=rate),
        fits.Column("RATE_ERR", "E", unit="count/s", array=rng.uniform(0.3, 1.0, n)),
        fits.Column("OFFAXIS", "D", unit="deg", array=rng.uniform(0.0, 10.0, n)),
    ]
    table = fits.BinTableHDU.from_columns(columns, name="SRC-RESULTS")
    primary = fits.PrimaryHDU()
    revs = sky["revs"][scw_index]
    for header in (primary.header, table.header):
        header["TELESCOP"] = "INTEGRAL"
        header["INSTRUME"] = "IBIS" if instrument == "ISGRI" else "JEMX1"
        header["DETNAM"] = instrument
        header["CREATOR"] = "isla-bench 1.0"
        header["SIMDATA"] = (True, "benchmark data, simulated")
    h = table.header
    h["HDUCLAS1"] = "SCW_RESULTS"
    h["TIMESYS"], h["TIMEUNIT"], h["MJDREFI"], h["MJDREFF"] = "TT", "d", 51544, 0.0
    h["TSTART"] = float(sky["start"][scw_index].min())
    h["TSTOP"] = float(sky["end"][scw_index].max())
    h["REVFIRST"], h["REVLAST"] = int(revs.min()), int(revs.max())
    out = io.BytesIO()
    fits.HDUList([primary, table]).writeto(out)
    return out.getvalue(), n


def _deliveries(sky: dict[str, Any], revs_per_delivery: int) -> list[tuple[int, int]]:
    revs = np.unique(sky["revs"])
    return [
        (int(revs[i]), int(revs[min(i + revs_per_delivery, len(revs)) - 1]))
        for i in range(0, len(revs), revs_per_delivery)
    ]


def _files(sky: dict[str, Any], span: tuple[int, int], seed: int) -> tuple[list[Any], int]:
    mask = (sky["revs"] >= span[0]) & (sky["revs"] <= span[1])
    files, total = [], 0
    for k, instrument in enumerate(("ISGRI", "JEM-X")):
        data, n = _table(sky, instrument, mask, seed * 2 + k)
        name = f"{instrument.replace('-', '')}_{span[0]:04d}_{span[1]:04d}_results.fits"
        files.append((name, data))
        total += n
    return files, total


def _cluster_cpu(home: Path) -> float:
    """CPU seconds (user + system) used so far by the private Postgres cluster's processes
    (the server and its backends: children of the postmaster)."""
    pid_file = next(home.rglob("postmaster.pid"))
    postmaster = int(pid_file.read_text().split()[0])
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        pid, ppid = int(entry.name), int(fields[1])
        if pid == postmaster or ppid == postmaster:
            # utime, stime, and the waited-for children's cutime, cstime (exited backends).
            total += sum(int(x) for x in fields[11:15]) / tick
    return total


def _floor(engine: Engine, sky: dict[str, Any], rows: int) -> dict[str, float]:
    """One binary COPY body of ``rows`` points into the old layout and into the table."""
    n_src, n_scw = len(sky["sources"]), len(sky["scws"])
    rng = np.random.default_rng(3)
    per_scw = max(1, rows // n_scw // 4 + 1)
    src = np.concatenate([rng.choice(n_src, per_scw, replace=False) for _ in range(n_scw)])
    scw = np.repeat(np.arange(n_scw), per_scw)
    src, scw = np.repeat(src, 4)[:rows], np.repeat(scw, 4)[:rows]
    band = np.tile(np.arange(4), len(src) // 4 + 1)[:rows]
    with engine.connect() as conn:
        ids = conn.execute(
            text("SELECT band_id FROM isla.energy_bands WHERE instrument = 'ISGRI' ORDER BY 1")
        ).scalars()
        band_ids = np.array(list(ids), dtype=np.int16)[:4]
    n = len(src)
    rate = rng.normal(2.0, 1.0, n)
    columns: dict[str, npt.NDArray[Any]] = {
        "source_id": sky["sources"][src],
        "band_id": band_ids[band],
        "scw_id": sky["scws"][scw],
        "instrument": np.full(n, "ISGRI"),
        "revolution": sky["revs"][scw].astype(np.int32),
        "time_ijd": sky["start"][scw],
        "duration": np.full(n, 1944.0),
        "exposure": np.full(n, 1500.0),
        "rate": rate,
        "rate_err": np.full(n, 0.5),
        "offaxis": np.full(n, 3.0),
        "significance": rate / 0.5,
        "upper_limit": rate / 0.5 < 3.0,
        "rate_ul": np.where(rate / 0.5 < 3.0, np.maximum(rate, 0.0) + 1.5, np.nan),
        "simulated": np.ones(n, dtype=bool),
    }
    order = np.lexsort((columns["scw_id"], columns["band_id"], columns["source_id"]))
    columns = {k: v[order] for k, v in columns.items()}
    out: dict[str, float] = {"rows": float(n)}
    with engine.begin() as conn:
        # The points table as migration 0007 made it: one table, a foreign key to the
        # sources checked per row, the primary key and the scw_id B-tree.
        conn.execute(text("DROP TABLE IF EXISTS isla.bench_points_before"))
        conn.execute(
            text(
                "CREATE TABLE isla.bench_points_before (LIKE isla.lightcurve_points "
                "INCLUDING DEFAULTS INCLUDING CONSTRAINTS, PRIMARY KEY (source_id, band_id, "
                "scw_id), FOREIGN KEY (source_id) REFERENCES isla.sources ON DELETE CASCADE)"
            )
        )
        conn.execute(text("CREATE INDEX ON isla.bench_points_before (scw_id)"))
    for label, table in (("before", "bench_points_before"), ("now", "lightcurve_points")):
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE isla.{table}"))
        began = time.perf_counter()
        with engine.begin() as conn:
            points_module.copy_rows(conn, table, columns)
        out[f"{label}_points_per_s"] = round(n / (time.perf_counter() - began))
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE isla.bench_points_before"))
        conn.execute(text("TRUNCATE isla.lightcurve_points"))
    out["speedup"] = round(out["now_points_per_s"] / out["before_points_per_s"], 2)
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Start the stack, seed it, deliver, measure; returns the figures."""
    with bench_stack(
        "ingest-points", s3_raw_bucket="bench-raw", s3_products_bucket="bench-products"
    ) as stack:
        store = ObjectStore.from_settings(stack.storage)
        engine = make_sync_engine(cfg.DatabaseSettings(database_url=stack.database_url))
        sky = _seed(engine, args.sources, args.revolutions, args.pointings)
        caller = products.Caller(team="bench", is_operator=True)
        spans = _deliveries(sky, args.revs_per_delivery)
        results: dict[str, Any] = {
            "sources": args.sources,
            "scws": len(sky["scws"]),
            "deliveries": len(spans),
            "threads": args.threads,
            "load_average_before": os.getloadavg(),
        }

        def deliver(files: list[Any], replace: bool = False) -> tuple[int, float]:
            began = time.perf_counter()
            result = products.ingest_delivery(
                engine,
                store,
                files,
                products.DeliveryParams(kind="lc_results", replace=replace),
                caller,
                1 << 30,
            )
            return result.points, time.perf_counter() - began

        # Files are made ahead of their delivery and never timed; at most a few wait in memory.
        delivered = 0
        seconds: list[float] = []
        rows_per_delivery: list[int] = []
        cpu0, pg0 = time.process_time(), _cluster_cpu(stack.home)
        wall0 = time.perf_counter()
        made = 0.0
        first_files: list[Any] = []
        with ThreadPoolExecutor(args.threads) as pool:
            batch: list[list[Any]] = []
            for i, span in enumerate(spans):
                m0 = time.perf_counter()
                c0 = time.process_time()
                files, n = _files(sky, span, i)
                made += time.perf_counter() - m0
                cpu0 += time.process_time() - c0  # making files is not ingestion
                rows_per_delivery.append(n)
                if i == 0:
                    first_files = files
                batch.append(files)
                if len(batch) == args.threads or i == len(spans) - 1:
                    for loaded, took in pool.map(deliver, batch):
                        delivered += loaded
                        seconds.append(took)
                    batch = []
        wall = time.perf_counter() - wall0 - made
        cpu = time.process_time() - cpu0
        pg = _cluster_cpu(stack.home) - pg0
        results["points"] = delivered
        results["rows_per_delivery_median"] = int(statistics.median(rows_per_delivery))
        results["seconds"] = round(wall, 2)
        results["points_per_s"] = round(delivered / wall)
        results["delivery_s_median"] = round(statistics.median(seconds), 3)
        results["cpu_s_python"] = round(cpu, 2)
        results["cpu_s_postgres"] = round(pg, 2)
        results["points_per_cpu_s"] = round(delivered / (cpu + pg))
        # Re-delivery of the same bytes: nothing is loaded again.
        loaded, took = deliver(first_files)
        results["redelivery_points_loaded"] = loaded
        results["redelivery_s"] = round(took, 3)
        # A corrected table of the first delivery: its points replaced.
        files, n = _files(sky, spans[0], 10_000)
        loaded, took = deliver(files, replace=True)
        results["replacement_points_per_s"] = round(loaded / took)
        with engine.connect() as conn:
            stored = conn.execute(text("SELECT count(*) FROM isla.lightcurve_points")).scalar()
            results["points_stored"] = int(stored or 0)
            crab = conn.execute(
                text(
                    "SELECT source_id, band_id FROM isla.lightcurve_points "
                    "GROUP BY 1, 2 ORDER BY count(*) DESC LIMIT 1"
                )
            ).one()
            lc: list[float] = []
            for _ in range(21):
                began = time.perf_counter()
                conn.execute(
                    text(
                        "SELECT time_ijd, rate, rate_err, scw_id FROM isla.lightcurve_points "
                        "WHERE source_id = :s AND band_id = :b ORDER BY scw_id"
                    ),
                    {"s": crab.source_id, "b": crab.band_id},
                ).all()
                lc.append(time.perf_counter() - began)
            results["one_light_curve_ms_p50"] = round(statistics.median(lc) * 1000, 2)
        results["table_floor"] = _floor(engine, sky, args.floor_rows)
        results["load_average_after"] = os.getloadavg()
        engine.dispose()
        return results


def main(argv: list[str] | None = None) -> int:
    """``python -m bench ingest-points [options]``: print the figures as JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench ingest-points")
    parser.add_argument("--sources", type=int, default=2000)
    parser.add_argument("--revolutions", type=int, default=180)
    parser.add_argument("--pointings", type=int, default=60, help="pointings per revolution")
    parser.add_argument("--revs-per-delivery", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="deliveries at a time")
    parser.add_argument("--floor-rows", type=int, default=1_000_000)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    figures = run(args)
    out = json.dumps(figures, indent=2)
    print(out)
    if args.json:
        args.json.write_text(out + "\n")
    return 0
