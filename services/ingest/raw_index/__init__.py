"""The raw-data index: what operators copy into the raw bucket, registered and verified.

:mod:`.indexer` walks ISDC's layout, :mod:`.checksums` decides each object's checksum,
:mod:`.exposures` reads good times and exposures (delivered ScW index, GTI files),
:mod:`.scw_index` loads a delivered ScW index, :mod:`.ic` registers the
instrument-characteristics tree, :mod:`.verify` checks stored objects again, :mod:`.jobs` runs
all of them as ingestion jobs.
"""

from services.ingest.raw_index.indexer import (
    RawIndexError,
    RawIndexReport,
    _ensure_revolution,
    ensure_revolution,
    index_raw,
    iter_runs,
)

__all__ = [
    "RawIndexError",
    "RawIndexReport",
    "_ensure_revolution",
    "ensure_revolution",
    "index_raw",
    "iter_runs",
]
