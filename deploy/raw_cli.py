"""``isla raw index|verify|scw-index|job``: the operator's commands for the raw archive.

``index`` and ``verify`` queue a background job (run by ``isla worker``, progress and report
on the job row, ``GET /ingest/jobs/<id>``) and, with ``--wait``, follow it until it ends;
``--inline`` runs the work in this process instead (an archive without a worker). ``scw-index``
and ``revolutions`` load a ScW index (good times and exposures) or ISDC's revolution table into
the configured database directly.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from shared import settings as cfg


def _err(message: str) -> None:
    print(f"[isla] {message}", file=sys.stderr, flush=True)


def _progress(fraction: float, message: str) -> None:
    _err(f"{100 * fraction:5.1f}%  {message}")


def _configured() -> bool:
    if not cfg.database_settings().database_url:
        _err("ISLA_DATABASE_URL is not set")
        return False
    if not cfg.storage_settings().s3_endpoint:
        _err("ISLA_S3_ENDPOINT is not set")
        return False
    return True


def _queue(kind: str, target: str, params: dict[str, Any]) -> int:
    """Create and queue a job of ``kind`` acting for the operator; its id."""
    from services.ingest.raw_index.jobs import submit
    from shared.db.engine import make_async_engine

    async def go() -> int:
        engine = make_async_engine(cfg.database_settings())
        try:
            async with engine.begin() as conn:
                return await submit(conn, kind, target, params, None)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def _follow(job_id: int, poll: float = 2.0) -> int:
    """Print a job's progress until it ends; print its report; 0 when done without problems."""
    from services.ingest import jobs
    from shared.jobs.queue import conninfo

    info = conninfo(cfg.database_settings())
    last = None
    while True:
        job = jobs.load_job(info, job_id)
        if job is None:
            _err(f"no job {job_id}")
            return 2
        seen = (job["status"], job["progress"], job["message"])
        if seen != last:
            done = 100 * float(job["progress"])
            _err(f"job {job_id} {job['status']} {done:5.1f}% {job['message']}")
            last = seen
        if job["status"] in ("done", "failed", "refused"):
            print(json.dumps(job["report"], indent=2, default=str))
            report = job["report"] or {}
            bad = report.get("problems") or report.get("corrupt") or report.get("missing")
            return 0 if job["status"] == "done" and not bad else 1
        time.sleep(poll)


def _backend() -> tuple[Any, Any]:
    from shared.db.engine import make_sync_engine
    from shared.storage import ObjectStore

    store = ObjectStore.from_settings(cfg.storage_settings(), max_connections=64)
    return make_sync_engine(cfg.database_settings()), store


def cmd_index(args: argparse.Namespace) -> int:
    """Index the raw bucket (queued, or ``--inline``)."""
    if not _configured():
        return 2
    if args.ic_only and args.revolution is not None:
        _err("--ic-only and --revolution exclude each other")
        return 2
    params = {
        "revolution": args.revolution,
        "hash": not args.no_hash,
        "workers": args.workers,
        "ic_only": args.ic_only,
    }
    if args.inline:
        from services.ingest.raw_index import index_raw

        engine, store = _backend()
        try:
            report = index_raw(
                engine,
                store,
                args.revolution,
                _progress,
                workers=args.workers,
                hash_files=not args.no_hash,
                ic_only=args.ic_only,
            )
        finally:
            engine.dispose()
        print(json.dumps(report.as_dict(), indent=2))
        return 1 if report.problems else 0
    target = (
        "raw:ic"
        if args.ic_only
        else "raw:all"
        if args.revolution is None
        else f"raw:{args.revolution:04d}"
    )
    job_id = _queue("raw-index", target, params)
    _err(f"queued raw-index job {job_id} (GET /ingest/jobs/{job_id})")
    return _follow(job_id) if args.wait else 0


def cmd_verify(args: argparse.Namespace) -> int:
    """Verify stored raw files (queued, or ``--inline``)."""
    if not _configured():
        return 2
    sample = None if args.all else args.sample
    if args.inline:
        from services.ingest.raw_index.verify import verify_raw

        engine, store = _backend()
        try:
            report = verify_raw(engine, store, sample, _progress, workers=args.workers)
        finally:
            engine.dispose()
        print(json.dumps(report.as_dict(), indent=2))
        return 1 if report.corrupt or report.missing else 0
    target = "raw:all" if sample is None else f"raw:sample:{sample}"
    job_id = _queue("raw-verify", target, {"sample": sample, "workers": args.workers})
    _err(f"queued raw-verify job {job_id} (GET /ingest/jobs/{job_id})")
    return _follow(job_id) if args.wait else 0


def cmd_scw_index(args: argparse.Namespace) -> int:
    """Load a ScW index file and apply it to the indexed science windows."""
    if not cfg.database_settings().database_url:
        _err("ISLA_DATABASE_URL is not set")
        return 2
    from services.ingest.raw_index.exposures import ScwIndexError
    from services.ingest.raw_index.scw_index import ScwIndexDelivery, load_scw_index
    from shared.db.engine import make_sync_engine

    path = Path(args.file)
    delivery = ScwIndexDelivery(args.name, args.version, path.name)
    engine = make_sync_engine(cfg.database_settings())
    try:
        report = load_scw_index(engine, path, delivery)
    except ScwIndexError as exc:
        _err(f"refused, nothing written: {exc}")
        return 1
    finally:
        engine.dispose()
    print(json.dumps(report.as_dict(), indent=2))
    return 1 if report.problems else 0


def cmd_revolutions(args: argparse.Namespace) -> int:
    """Load a revolution table into the configured database."""
    if not cfg.database_settings().database_url:
        _err("ISLA_DATABASE_URL is not set")
        return 2
    from services.ingest.raw_index.exposures import ScwIndexError
    from services.ingest.raw_index.scw_index import load_revolution_table
    from shared.db.engine import make_sync_engine

    path = Path(args.file)
    engine = make_sync_engine(cfg.database_settings())
    try:
        report = load_revolution_table(engine, path, path.name)
    except ScwIndexError as exc:
        _err(f"refused, nothing written: {exc}")
        return 1
    finally:
        engine.dispose()
    print(json.dumps(report.as_dict(), indent=2))
    return 1 if report.problems else 0


def cmd_job(args: argparse.Namespace) -> int:
    """Follow a raw-data job until it ends."""
    if not cfg.database_settings().database_url:
        _err("ISLA_DATABASE_URL is not set")
        return 2
    return _follow(args.job_id)


def add_commands(sub: Any) -> None:
    """Register ``isla raw ...``."""
    raw = sub.add_parser("raw", help="index, verify and describe the raw (CONS) archive")
    rsub = raw.add_subparsers(dest="raw_command", required=True)
    index = rsub.add_parser("index", help="index the raw bucket (a background job)")
    index.add_argument("--revolution", type=int, help="only this revolution")
    index.add_argument(
        "--ic-only",
        action="store_true",
        help="only the instrument-characteristics tree (ic/, idx/ic/)",
    )
    index.add_argument(
        "--no-hash",
        action="store_true",
        help="register files without a stored checksum as unverified instead of hashing them",
    )
    verify = rsub.add_parser("verify", help="hash stored raw files again (a background job)")
    which = verify.add_mutually_exclusive_group(required=True)
    which.add_argument("--sample", type=int, help="the N files checked longest ago")
    which.add_argument("--all", action="store_true", help="every file")
    for cmd in (index, verify):
        cmd.add_argument("--workers", type=int, default=8, help="hashing threads (default 8)")
        cmd.add_argument("--wait", action="store_true", help="follow the job until it ends")
        cmd.add_argument("--inline", action="store_true", help="run here, not in a worker")
    index.set_defaults(func=cmd_index)
    verify.set_defaults(func=cmd_verify)
    scw = rsub.add_parser("scw-index", help="load a ScW index (good times and exposures)")
    scw.add_argument("file", help="FITS, VOTable or CSV with ISDC's or HEASARC's columns")
    scw.add_argument("--name", default="isdc_scw_index", help="name of the index")
    scw.add_argument("--version", required=True, help="version of this delivery")
    scw.set_defaults(func=cmd_scw_index)
    revs = rsub.add_parser("revolutions", help="load ISDC's revolution table")
    revs.add_argument("file", help="FITS, VOTable or CSV: revolution, start and end (UTC or IJD)")
    revs.set_defaults(func=cmd_revolutions)
    job = rsub.add_parser("job", help="follow a raw-data job")
    job.add_argument("job_id", type=int)
    job.set_defaults(func=cmd_job)
