"""Raw-index benchmark: ScWs copied in by a plain S3 client, indexed with streamed checksums.

Starts its own Postgres and SeaweedFS (:mod:`bench.stack`), uploads ``--scws`` science windows
in ISDC's layout with the ``minio`` client's plain ``put_object`` (no ISLA metadata, as
``mc mirror`` leaves them: every checksum must be computed by reading the object), each a group
file ``swg.fits`` plus ``--files`` instrument files of ``--file-kb`` KiB of synthetic bytes,
``--per-rev`` ScWs per revolution, and then measures:

- ``index``: a first :func:`services.ingest.raw_index.index_raw` over the whole bucket
  (listing, one HEAD and one streamed GET per object, group files parsed, one transaction per
  revolution): objects/s and MB/s hashed;
- ``reindex``: the same run again (nothing changed: sizes and ETags match, nothing is read);
- ``verify``: ``verify_raw`` of every file (every object read and hashed again).

Usage: ``python -m bench raw-index [--scws 10000] [--files 2] [--file-kb 16] [--per-rev 100]
[--workers 8] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from astropy import units as u
from astropy.io import fits
from minio import Minio

from bench.stack import ACCESS_KEY, SECRET_KEY, bench_stack
from services.ingest.raw_index import index_raw
from services.ingest.raw_index.verify import verify_raw
from shared.db.engine import make_sync_engine
from shared.integral.revolutions import revolution_start
from shared.integral.time import time_to_ijd
from shared.settings import DatabaseSettings
from shared.storage import ObjectStore

FIRST_REV = 100
INSTRUMENT_FILES = ("isgri_events.fits.gz", "jmx1_events.fits.gz", "spi_oper.fits.gz")


def _swg(scw_id: str, rev: int, slot: int) -> bytes:
    start = revolution_start(rev) + (30 * slot + 10) * u.min
    end = start + 25 * u.min
    header = fits.Header()
    for key, value in (
        ("SWID", scw_id),
        ("SW_VER", "001"),
        ("REVOL", rev),
        ("SW_TYPE", "POINTING"),
        ("OBS_ID", f"{rev:04d}0000001"),
        ("RA_SCX", (slot * 3.7) % 360),
        ("DEC_SCX", (slot % 120) - 60.0),
        ("POSANGLE", 0.0),
        ("TSTART", time_to_ijd(start)),
        ("TSTOP", time_to_ijd(end)),
        ("DATE-OBS", start.utc.isot),
    ):
        header[key] = value
    out = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(header=header)]).writeto(out)
    return out.getvalue()


def _upload(client: Minio, bucket: str, args: argparse.Namespace) -> tuple[int, int, float]:
    """Upload every ScW with plain PUTs; (objects, bytes, seconds)."""
    payload = os.urandom(args.file_kb * 1024 + 4096)
    names = [INSTRUMENT_FILES[i % 3].replace(".fits", f"_{i}.fits") for i in range(args.files)]

    def put_scw(n: int) -> int:
        rev, slot = FIRST_REV + n // args.per_rev, n % args.per_rev
        scw_id = f"{rev:04d}{slot:04d}0010"
        folder = f"scw/{rev:04d}/{scw_id}.001/"
        sent = 0
        swg = _swg(scw_id, rev, slot)
        client.put_object(bucket, folder + "swg.fits", io.BytesIO(swg), len(swg))
        sent += len(swg)
        for i, name in enumerate(names):
            # Distinct bytes per object: a shifted window of one random block.
            data = payload[(n + i) % 4096 :][: args.file_kb * 1024]
            client.put_object(bucket, folder + name, io.BytesIO(data), len(data))
            sent += len(data)
        return sent

    began = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        total = sum(pool.map(put_scw, range(args.scws)))
    return args.scws * (1 + args.files), total, time.monotonic() - began


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the benchmark; the figures as a dict."""
    with bench_stack("raw-index") as stack:
        storage = stack.storage
        host = (storage.s3_endpoint or "").split("://", 1)[1]
        client = Minio(host, access_key=ACCESS_KEY, secret_key=SECRET_KEY, secure=False)
        objects, size, upload_s = _upload(client, storage.s3_raw_bucket, args)
        engine = make_sync_engine(DatabaseSettings(database_url=stack.database_url))
        store = ObjectStore.from_settings(storage, max_connections=64)
        try:
            if args.profile:
                import cProfile
                import pstats

                with cProfile.Profile() as prof:
                    first = index_raw(engine, store, workers=args.workers)
                pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
            else:
                first = index_raw(engine, store, workers=args.workers)
            again = index_raw(engine, store, workers=args.workers)
            checked = verify_raw(engine, store, None, workers=args.workers)
        finally:
            engine.dispose()
    mb = size / 1e6
    return {
        "scws": args.scws,
        "objects": objects,
        "megabytes": round(mb, 1),
        "workers": args.workers,
        "cpus": os.cpu_count(),
        "upload": {"seconds": round(upload_s, 1), "objects_per_s": round(objects / upload_s)},
        "index": {
            "seconds": first.seconds,
            "objects_per_s": round(objects / first.seconds),
            "mb_hashed_per_s": round(first.hashed_bytes / 1e6 / first.seconds, 2),
            "scws_per_s": round(first.scws / first.seconds, 1),
            "hashed_files": first.hashed_files,
            "problems": len(first.problems),
        },
        "reindex": {
            "seconds": again.seconds,
            "objects_per_s": round(objects / again.seconds),
            "hashed_files": again.hashed_files,
        },
        "verify": {
            "seconds": checked.seconds,
            "objects_per_s": round(checked.checked / checked.seconds),
            "mb_per_s": round(checked.bytes / 1e6 / checked.seconds, 2),
        },
    }


def main(argv: list[str]) -> None:
    """Entry point of ``python -m bench raw-index``."""
    parser = argparse.ArgumentParser(prog="python -m bench raw-index")
    parser.add_argument("--scws", type=int, default=10_000, help="science windows to upload")
    parser.add_argument("--files", type=int, default=2, help="instrument files per ScW")
    parser.add_argument("--file-kb", type=int, default=16, help="size of an instrument file")
    parser.add_argument("--per-rev", type=int, default=100, help="ScWs per revolution")
    parser.add_argument("--workers", type=int, default=8, help="hashing threads")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--profile", action="store_true", help="profile the first index run")
    args = parser.parse_args(argv)
    figures = run(args)
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
