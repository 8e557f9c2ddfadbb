"""``python -m shared.demo``: generate the demo archive into the configured database and store.

Settings come from the environment like every ISLA component: ``ISLA_DATABASE_URL`` (a
migrated, empty archive database) and ``ISLA_S3_*`` (the object store; not needed with
``--no-raw``). Progress goes to stderr, the final summary to stdout.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from shared.db.engine import DatabaseNotConfiguredError, make_sync_engine
from shared.demo.generator import DEFAULT_SEED, SCALES, ArchiveNotEmpty, generate
from shared.settings import DatabaseSettings, StorageSettings
from shared.storage import ObjectStore, StorageUnavailable


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the generator; return the process exit code (0 ok, 1 refused or failed)."""
    parser = argparse.ArgumentParser(
        prog="python -m shared.demo",
        description="Generate ISLA's deterministic demo archive into an empty database.",
    )
    parser.add_argument(
        "--scale",
        choices=sorted(SCALES),
        default="demo",
        help="demo: ~95 revolutions (seconds); bench: every 10th revolution with ~1.5 MB of "
        "raw data per science window; full: the whole mission (default: demo)",
    )
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})"
    )
    parser.add_argument(
        "--no-raw",
        action="store_true",
        help="write the catalogue and observations only: no raw files, points or products",
    )
    args = parser.parse_args(argv)

    store = None
    if not args.no_raw:
        storage = StorageSettings()
        if not storage.s3_endpoint:
            parser.error("ISLA_S3_ENDPOINT is not set (or pass --no-raw for a database only)")
        store = ObjectStore.from_settings(storage)
    try:
        engine = make_sync_engine(DatabaseSettings())
    except DatabaseNotConfiguredError as exc:
        parser.error(str(exc))
    try:
        report = generate(engine, store, args.scale, args.seed, progress=_progress)
    except (ArchiveNotEmpty, StorageUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(report.summary())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
