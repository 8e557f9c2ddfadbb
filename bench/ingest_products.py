"""Product ingestion benchmark: FITS products per second, light-curve points per second.

Starts its own embedded Postgres and SeaweedFS in a temporary folder, registers a benchmark
sky (``--sources`` sources, ``--scws`` contiguous pointings) and measures:

- products/s: complete deliveries of small OGIP light curves (``--points-per-product``
  points each) through :func:`services.ingest.products.ingest_delivery`: QC, journal,
  staging object, server-side copy, row upsert and point loading, one after the other;
- points/s: :func:`services.ingest.products.load_points` (ScW matching in numpy, one binary
  COPY per light curve) for ``--sources`` light curves of ``--scws`` points each, in one
  transaction, against an empty points table;
- baseline: the same rows inserted one ``INSERT`` at a time (on the first
  ``--baseline-rows`` points, which is enough for a rate).

Usage: ``python -m bench ingest-products [--sources 50] [--scws 20000] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits
from sqlalchemy import Engine, text

from bench.stack import bench_stack, copy_pointings
from services.ingest import products, qc
from services.ingest.raw_index import _ensure_revolution
from shared import settings as cfg
from shared.db.engine import make_sync_engine
from shared.integral.ids import source_id_from_position
from shared.integral.revolutions import revolution_at
from shared.integral.time import ijd_to_utc
from shared.storage import ObjectStore

T0 = 2000.0
"""IJD of the first benchmark pointing."""
SCW_DAYS = 0.025
"""Length of one benchmark pointing (36 minutes)."""


def _seed(engine: Engine, n_sources: int, n_scws: int) -> list[tuple[str, float, float]]:
    rng = np.random.default_rng(1)
    sources = []
    for _ in range(n_sources):
        # Inside ISGRI's field of every bench pointing (all at 0, 0): points are attached only
        # to science windows whose field of view holds their source.
        ra, dec = float(rng.uniform(-10, 10)) % 360.0, float(rng.uniform(-10, 10))
        sources.append((source_id_from_position(ra, dec), ra, dec))
    starts = T0 + SCW_DAYS * np.arange(n_scws)
    revs = sorted({revolution_at(ijd_to_utc(float(t))) for t in starts[:: max(1, n_scws // 500)]})
    revs = list(range(revs[0], revolution_at(ijd_to_utc(float(starts[-1]))) + 1))
    with engine.begin() as conn:
        for source_id, ra, dec in sources:
            conn.execute(
                text(
                    "INSERT INTO isla.sources (source_id, name, ra, dec, source_class, "
                    "det_isgri, det_picsit, det_jemx, det_spi, det_omc) VALUES (:s, :n, :ra, "
                    ":dec, 'AGN', true, false, false, false, false)"
                ),
                {"s": source_id, "n": f"bench {source_id}", "ra": ra, "dec": dec},
            )
        for rev in revs:
            _ensure_revolution(conn, rev)
        bounds = conn.execute(
            text("SELECT revolution, start_ijd FROM isla.revolutions ORDER BY revolution")
        ).all()
        rev_of = np.searchsorted([b.start_ijd for b in bounds], starts, side="right") - 1
        revs_of = [int(bounds[r].revolution) for r in rev_of]
        scw_ids = [f"{rev:04d}{i % 10000:04d}{i // 10000:03d}0" for i, rev in enumerate(revs_of)]
        copy_pointings(conn, scw_ids, revs_of, starts, starts + SCW_DAYS * 0.9)
    return sources


def _lightcurve(times: np.ndarray, source: tuple[str, float, float], seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    table = fits.BinTableHDU.from_columns(
        [
            fits.Column("TIME", "D", array=times),
            fits.Column("RATE", "E", array=rng.normal(5, 1, len(times))),
            fits.Column("ERROR", "E", array=np.full(len(times), 0.7)),
        ],
        name="RATE",
    )
    for key, value in {
        "TELESCOP": "INTEGRAL",
        "INSTRUME": "IBIS",
        "DETNAM": "ISGRI",
        "CREATOR": "isla-bench 1.0",
        "TIMESYS": "TT",
        "TIMEUNIT": "d",
        "MJDREF": 51544.0,
        "NAME": source[0],
        "RA_OBJ": source[1],
        "DEC_OBJ": source[2],
        "E_MIN": 28.0,
        "E_MAX": 40.0,
        "REVFIRST": 0,
        "REVLAST": 1,
    }.items():
        table.header[key] = value
    buffer = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(buffer, checksum=True)
    return buffer.getvalue()


def _facts(times: np.ndarray, source: tuple[str, float, float], seed: int) -> qc.FileFacts:
    rng = np.random.default_rng(seed)
    facts = qc.FileFacts(file_name="bench.fits", size=0, ra=source[1], dec=source[2])
    facts.time_ijd = times
    facts.rate = rng.normal(5, 1, len(times))
    facts.rate_err = np.full(len(times), 0.7)
    return facts


def run(
    n_sources: int, n_scws: int, per_product: int, repeat: int, baseline_rows: int
) -> dict[str, Any]:
    """Start the stack, seed it, measure; returns the figures."""
    with bench_stack(
        "ingest-products", s3_raw_bucket="bench-raw", s3_products_bucket="bench-products"
    ) as stack:
        storage = stack.storage
        store = ObjectStore.from_settings(storage)
        engine = make_sync_engine(cfg.DatabaseSettings(database_url=stack.database_url))
        sources = _seed(engine, n_sources, n_scws)
        times = T0 + SCW_DAYS * np.arange(n_scws) + SCW_DAYS * 0.45
        with engine.connect() as conn:
            band = conn.execute(
                text(
                    "SELECT band_id FROM isla.energy_bands WHERE instrument = 'ISGRI' "
                    "AND name = '28_40'"
                )
            ).scalar_one()
        results: dict[str, Any] = {
            "sources": n_sources,
            "scws": n_scws,
            "points": n_sources * n_scws,
        }
        # Products per second (complete deliveries, sequential).
        caller = products.Caller(team="bench", is_operator=True)
        product_rates = []
        for r in range(repeat):
            files = [
                (
                    f"BENCH_{r}_{i}_lc.fits",
                    _lightcurve(times[(i * per_product) % n_scws :][:per_product], sources[i], i),
                )
                for i in range(n_sources)
            ]
            began = time.perf_counter()
            for name, data in files:
                products.ingest_delivery(
                    engine,
                    store,
                    [(name, data)],
                    products.DeliveryParams(kind="long_timeseries", replace=True),
                    caller,
                    1 << 26,
                )
            product_rates.append(len(files) / (time.perf_counter() - began))
        results["products_per_s"] = round(statistics.median(product_rates), 1)
        results["product_size_bytes"] = len(files[0][1])
        # Points per second: load_points (numpy ScW matching + binary COPY), one transaction.
        point_rates = []
        facts = [_facts(times, s, i) for i, s in enumerate(sources)]
        for _ in range(repeat):
            with engine.begin() as conn:
                conn.execute(text("TRUNCATE isla.lightcurve_points"))
            began = time.perf_counter()
            with engine.begin() as conn:
                total = 0
                for fact, source in zip(facts, sources, strict=True):
                    row = {
                        "source_id": source[0],
                        "band_id": band,
                        "instrument": "ISGRI",
                        "meta": {"ra": source[1], "dec": source[2]},
                    }
                    total += products.load_points(conn, fact, row)
            point_rates.append(total / (time.perf_counter() - began))
        results["points_loaded"] = total
        results["points_per_s"] = round(statistics.median(point_rates))
        # Baseline: the same rows, one INSERT each.
        with engine.begin() as conn:
            rows = (
                conn.execute(
                    text("SELECT * FROM isla.lightcurve_points LIMIT :n"), {"n": baseline_rows}
                )
                .mappings()
                .all()
            )
            conn.execute(text("TRUNCATE isla.lightcurve_points"))
        columns = list(rows[0].keys())
        insert = text(
            f"INSERT INTO isla.lightcurve_points ({', '.join(columns)}) "  # noqa: S608 - fixed
            f"VALUES ({', '.join(':' + c for c in columns)})"
        )
        began = time.perf_counter()
        with engine.begin() as conn:
            for point in rows:
                conn.execute(insert, dict(point))
        results["baseline_rows"] = len(rows)
        results["baseline_points_per_s"] = round(len(rows) / (time.perf_counter() - began))
        results["speedup"] = round(results["points_per_s"] / results["baseline_points_per_s"], 1)
        engine.dispose()
        return results


def main(argv: list[str] | None = None) -> int:
    """``python -m bench ingest-products [options]``: print the figures as JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench ingest-products")
    parser.add_argument("--sources", type=int, default=50, help="light curves (sources)")
    parser.add_argument("--scws", type=int, default=20000, help="pointings = points per curve")
    parser.add_argument("--points-per-product", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline-rows", type=int, default=20000)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    figures = run(args.sources, args.scws, args.points_per_product, args.repeat, args.baseline_rows)
    text_out = json.dumps(figures, indent=2)
    print(text_out)
    if args.json:
        args.json.write_text(text_out + "\n")
    return 0
