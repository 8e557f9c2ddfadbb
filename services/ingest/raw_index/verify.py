"""Verification of the raw files: hash stored objects again and compare with the index.

``isla raw verify --sample N`` checks the N files checked longest ago (never-checked and
unverified files first), so repeated samples sweep the whole archive; ``--all`` checks every
file. Each file read is streamed and hashed in worker threads:

- an unverified file whose bytes read back at its registered size becomes ``verified``
  (checksum ``streamed``);
- a verified file whose bytes hash to its checksum gets a new ``verified_at``;
- a file whose bytes differ (checksum or size) becomes ``corrupt``, one that is gone
  ``missing``: both are reported and no longer served (the raw service serves only verified
  and unverified files; the indexer does not take a corrupt file back until it is uploaded
  again).

Every file's outcome is written as soon as it is known, so an interrupted verification keeps
what it found; running it again continues with the files checked longest ago.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time as _time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, text

from shared.storage import ObjectNotFound, ObjectStore

_CANDIDATES = (
    "SELECT 'scw_files' AS tbl, scw_id, version, name, NULL::int AS revolution, object_key, "
    "size, sha256, verified_at FROM isla.scw_files WHERE state IN ('verified', 'unverified') "
    "UNION ALL SELECT 'aux_files', NULL, NULL, name, revolution, object_key, size, sha256, "
    "verified_at FROM isla.aux_files WHERE state IN ('verified', 'unverified') "
    "UNION ALL SELECT 'ic_files', NULL, NULL, path, NULL, path, size, sha256, verified_at "
    "FROM isla.ic_files WHERE state IN ('verified', 'unverified') "
    "ORDER BY verified_at NULLS FIRST, object_key"
)


@dataclass
class VerifyReport:
    """What one verification found."""

    checked: int = 0
    bytes: int = 0
    ok: int = 0
    newly_verified: int = 0
    corrupt: list[dict[str, Any]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return dict(self.__dict__)


def _hash(store: ObjectStore, key: str) -> tuple[int, str, str | None] | None:
    """Size, SHA-256 and ETag of the object as it is now (None: gone)."""
    digest = hashlib.sha256()
    size = 0
    try:
        with store.iter_object(store.raw_bucket, key) as stream:
            for block in stream:
                digest.update(block)
                size += len(block)
            etag = stream.etag
    except ObjectNotFound:
        return None
    return size, digest.hexdigest(), etag


def verify_raw(
    engine: Engine,
    store: ObjectStore,
    sample: int | None = None,
    progress: Callable[[float, str], None] | None = None,
    workers: int = 8,
) -> VerifyReport:
    """Verify ``sample`` files (the longest unchecked), or all when None."""
    say = progress or (lambda _f, _m: None)
    began = _time.monotonic()
    sql = _CANDIDATES + (" LIMIT :n" if sample is not None else "")
    with engine.connect() as conn:
        rows = conn.execute(text(sql), {"n": sample} if sample is not None else {}).all()
    report = VerifyReport()
    pending: list[tuple[str, dict[str, Any]]] = []
    with ThreadPoolExecutor(max(1, workers), thread_name_prefix="isla-verify") as pool:
        futures = [(row, pool.submit(_hash, store, row.object_key)) for row in rows]
        for i, (row, future) in enumerate(futures, 1):
            pending.append(_outcome(row, future.result(), report))
            if i % BATCH == 0 or i == len(futures):
                _write(engine, pending)
                pending.clear()
                say(i / max(1, len(futures)), f"{i} of {len(futures)} files checked")
    report.seconds = round(_time.monotonic() - began, 3)
    return report


BATCH = 200
"""Outcomes written per transaction (what an interrupted verification keeps)."""

# Rows are updated by their primary keys (an object key is not indexed). The ETag read is
# kept: a file found corrupt is taken back by the indexer once its object has another ETag
# (uploaded again, even with the very bytes it was first indexed with).
_SET = (
    "SET state = :state, verified_at = :now, sha256 = coalesce(sha256, :sha256), "
    "checksum_source = coalesce(:source, checksum_source), etag = coalesce(:etag, etag) "
)
_UPDATES = {
    "scw_files": "UPDATE isla.scw_files "
    + _SET
    + "WHERE scw_id = :scw_id AND version = :version AND name = :name",
    "aux_files": "UPDATE isla.aux_files "
    + _SET
    + "WHERE revolution = :revolution AND name = :name",
    "ic_files": "UPDATE isla.ic_files " + _SET + "WHERE path = :name",
}


def _outcome(
    row: Any, found: tuple[int, str, str | None] | None, report: VerifyReport
) -> tuple[str, dict[str, Any]]:
    """The update one file's check calls for, counted in ``report``."""
    table = row.tbl if row.tbl in ("aux_files", "ic_files") else "scw_files"
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    report.checked += 1
    values: dict[str, Any] = {
        "now": now,
        "sha256": None,
        "source": None,
        "name": row.name,
        "etag": None,
    }
    if table == "scw_files":
        values.update(scw_id=row.scw_id, version=row.version)
    elif table == "aux_files":
        values["revolution"] = row.revolution
    if found is None:
        report.missing.append(row.object_key)
        return table, {**values, "state": "missing"}
    size, sha, values["etag"] = found
    report.bytes += size
    if size != row.size or (row.sha256 is not None and sha != row.sha256):
        report.corrupt.append(
            {"object": row.object_key, "expected": row.sha256, "found": sha, "size": size}
        )
        return table, {**values, "state": "corrupt"}
    report.ok += 1
    if row.sha256 is None:
        report.newly_verified += 1
        return table, {**values, "state": "verified", "sha256": sha, "source": "streamed"}
    return table, {**values, "state": "verified"}


def _write(engine: Engine, outcomes: list[tuple[str, dict[str, Any]]]) -> None:
    with engine.begin() as conn:
        for table in _UPDATES:
            params = [p for t, p in outcomes if t == table]
            if params:
                conn.execute(text(_UPDATES[table]), params)
