"""Raw data service benchmark: tarball throughput vs direct S3 reads, memory, first byte, load.

Starts its own embedded Postgres and SeaweedFS in a temporary folder, registers benchmark
science windows whose files are large objects in the raw bucket, runs the raw service as its
own uvicorn process, and drives it with curl (a client that is not the bottleneck):

- direct: the same objects read with the minio client through ``shared.storage`` (one stream);
- tarball: ``GET /raw/archive.tar`` of the whole selection (~2 GB) to /dev/null;
- first byte: curl's time to first byte of that tarball;
- memory: the service's RSS sampled every 50 ms while a ~10 GB tarball streams
  (its ScWs reference the same objects several times over, so 2 GB of storage suffice);
- concurrency: 8 simultaneous tarball downloads, aggregate throughput.

With ``--baseline DIR`` (another checkout of ISLA, e.g. ``git worktree add``), that
checkout's raw service runs beside this one on the same stack, and each repetition reads
direct, through this service and through the baseline's, one after the other: before and
after side by side in one run.

Usage: ``python -m bench raw [--size-mb 2048] [--repeat 3] [--baseline DIR] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psycopg

from deploy.postgres import EmbeddedPostgres
from deploy.seaweed import SeaweedS3
from deploy.serve import service_process
from shared.db import migrate
from shared.settings import StorageSettings
from shared.storage import ObjectStore

OBJECT_MB = 64
"""Size of one benchmark object (MiB): the shape of large ISGRI event files."""
REV = 1000
ACCESS_KEY = "bench"
SECRET_KEY = "bench-secret"  # noqa: S105 - a throw-away server on loopback, for this run only


def _setup(
    home: Path, size_mb: int, copies: int
) -> tuple[EmbeddedPostgres, SeaweedS3, dict[str, str]]:
    pg = EmbeddedPostgres(home)
    url = pg.start()
    weed = SeaweedS3(home / "s3", ACCESS_KEY, SECRET_KEY, volume_size_limit_mb=4096)
    endpoint = weed.start(timeout=120)
    migrate.upgrade(url)
    store = _store(endpoint)
    store.ensure_buckets()
    n_objects = max(1, size_mb // OBJECT_MB)
    block = os.urandom(1 << 20)
    keys: list[tuple[str, int, str]] = []
    for i in range(n_objects):
        key = f"bench/obj{i:04d}.fits"
        data = block * OBJECT_MB
        stored = store.put_bytes(store.raw_bucket, key, data[i:] + data[:i])  # distinct content
        keys.append((key, stored.size, str(stored.sha256)))
    dsn = url.replace("postgresql+psycopg", "postgresql")
    start = dt.datetime(2005, 1, 1)
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "INSERT INTO isla.revolutions VALUES (%s, %s, %s, 1827.0, 1830.0)",
            (REV, start, start + dt.timedelta(days=3)),
        )
        # Selection "revolution 1000": one ScW per object (the 2 GB tarball).
        # Selection "revolution 1001": the same objects `copies` times over (the ~10 GB one).
        conn.execute(
            "INSERT INTO isla.revolutions VALUES (%s, %s, %s, 1830.0, 1833.0)",
            (REV + 1, start + dt.timedelta(days=3), start + dt.timedelta(days=6)),
        )
        for rev, repeat in ((REV, 1), (REV + 1, copies)):
            n = 0
            for _ in range(repeat):
                for key, size, sha in keys:
                    n += 1
                    scw = f"{rev:04d}{n:04d}0010"
                    t0 = start + dt.timedelta(hours=n)
                    conn.execute(
                        "INSERT INTO isla.science_windows (scw_id, version, revolution, scw_type,"
                        " start_time, end_time, start_ijd, end_ijd, ra, dec, pos, posangle,"
                        " raw_files, raw_size) VALUES (%s, '001', %s, 'pointing', %s, %s, 0, 0,"
                        " 0, 0, spoint(0, 0), 0, 1, %s)",
                        (scw, rev, t0, t0 + dt.timedelta(minutes=30), size),
                    )
                    conn.execute(
                        "INSERT INTO isla.scw_files VALUES (%s, '001', 'isgri_events.fits', %s,"
                        " %s, %s, 'application/fits')",
                        (scw, key, size, sha),
                    )
    env = {
        **os.environ,
        "ISLA_DATABASE_URL": url,
        "ISLA_S3_ENDPOINT": endpoint,
        "ISLA_S3_ACCESS_KEY": ACCESS_KEY,
        "ISLA_S3_SECRET_KEY": SECRET_KEY,
        "ISLA_TARBALL_MAX_SCWS": "100000",
        "ISLA_BULK_STREAMS_PER_CLIENT": "16",
    }
    return pg, weed, env


def _store(endpoint: str) -> ObjectStore:
    return ObjectStore.from_settings(
        StorageSettings(s3_endpoint=endpoint, s3_access_key=ACCESS_KEY, s3_secret_key=SECRET_KEY)
    )


def _direct(env: dict[str, str]) -> float:
    store = _store(env["ISLA_S3_ENDPOINT"])
    total = 0
    t0 = time.perf_counter()
    for obj in store.list(store.raw_bucket, "bench/"):
        with store.iter_object(store.raw_bucket, obj.key) as stream:
            for chunk in stream:
                total += len(chunk)
    return total / (time.perf_counter() - t0)


def _curl(url: str) -> dict[str, float]:
    out = subprocess.run(
        [
            "curl",
            "-sSf",
            "-o",
            "/dev/null",
            "-w",
            "%{time_starttransfer} %{speed_download} %{size_download}",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return {"ttfb": float(out[0]), "speed": float(out[1]), "bytes": float(out[2])}


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run(size_mb: int, repeat: int, copies: int, baseline: Path | None = None) -> dict[str, Any]:
    """Run every case and return the figures (medians over ``repeat`` runs)."""
    home = Path(tempfile.mkdtemp(prefix="isla-bench-"))
    home.chmod(0o755)
    pg, weed, env = _setup(home, size_mb, copies)
    try:
        with (
            service_process("services.raw.app:app", env, timeout=600) as (proc, base),
            contextlib.ExitStack() as running,
        ):
            old = None
            if baseline is not None:
                old_env = {**env, "PYTHONPATH": str(baseline.resolve())}
                old = running.enter_context(
                    service_process("services.raw.app:app", old_env, timeout=600, cwd=baseline)
                )[1]
            return _measure(proc, base, env, repeat, old)
    finally:
        weed.stop()
        pg.stop()
        shutil.rmtree(home, ignore_errors=True)


def _measure(
    proc: subprocess.Popen[bytes],
    base: str,
    env: dict[str, str],
    repeat: int,
    baseline: str | None = None,
) -> dict[str, Any]:
    """The figures of every case against the running service (and the baseline's)."""
    tar_url = f"{base}/raw/archive.tar?revolution={REV}"
    big_url = f"{base}/raw/archive.tar?revolution={REV + 1}"
    direct, through, ttfb, before = [], [], [], []
    for _ in range(repeat):  # side by side in one run: direct, through the service(s)
        direct.append(_direct(env))
        result = _curl(tar_url)
        through.append(result["speed"])
        ttfb.append(result["ttfb"])
        if baseline is not None:
            before.append(_curl(f"{baseline}/raw/archive.tar?revolution={REV}")["speed"])
    rss_idle = _rss_mb(proc.pid)
    samples: list[float] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            samples.append(_rss_mb(proc.pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    big = _curl(big_url)
    done.set()
    sampler.join()
    results: list[dict[str, float]] = []

    def one() -> None:
        results.append(_curl(tar_url))

    t0 = time.perf_counter()
    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    mib = 1024 * 1024
    compared = {}
    if before:
        compared = {
            "baseline_MiBps": round(statistics.median(before) / mib, 1),
            "baseline_ratio": round(statistics.median(before) / statistics.median(direct), 3),
        }
    return compared | {
        "tarball_bytes": int(_curl(tar_url)["bytes"]),
        "direct_MiBps": round(statistics.median(direct) / mib, 1),
        "service_MiBps": round(statistics.median(through) / mib, 1),
        "ratio": round(statistics.median(through) / statistics.median(direct), 3),
        "ttfb_ms": round(statistics.median(ttfb) * 1000, 1),
        "big_stream_bytes": int(big["bytes"]),
        "big_stream_MiBps": round(big["speed"] / mib, 1),
        "rss_idle_MB": round(rss_idle, 1),
        "rss_peak_MB": round(max(samples), 1),
        "concurrent8_total_MiBps": round(sum(r["bytes"] for r in results) / elapsed / mib, 1),
        "concurrent8_each_MiBps_median": round(
            statistics.median(r["speed"] for r in results) / mib, 1
        ),
        "repeat": repeat,
        "ratios_each_repeat": [round(t / d, 3) for t, d in zip(through, direct, strict=True)],
        "load_average_1min": round(os.getloadavg()[0], 1),
    }


def main(argv: list[str] | None = None) -> int:
    """Command-line entry (``python -m bench raw``)."""
    parser = argparse.ArgumentParser(prog="bench raw")
    parser.add_argument("--size-mb", type=int, default=2048, help="size of the tarball case")
    parser.add_argument("--copies", type=int, default=5, help="repeats in the big-stream case")
    parser.add_argument("--repeat", type=int, default=3, help="runs per case (medians)")
    parser.add_argument(
        "--baseline", type=Path, help="another checkout whose raw service is measured beside"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    figures = run(args.size_mb, args.repeat, args.copies, args.baseline)
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0
