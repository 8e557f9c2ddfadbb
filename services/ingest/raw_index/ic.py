"""The instrument-characteristics tree: ``ic/<instrument>/...`` and its index ``idx/ic/...``.

ISDC's archive carries, beside the ScWs and the auxiliary data, the instrument
characteristics OSA needs (response matrices, calibration tables, background models:
``ic/ibis/rsp/...``, ``ic/jemx/...``, ``ic/spi/...``) and their index files (``idx/ic/...``).
When an operator copies them into the raw bucket they are registered in ``isla.ic_files``, one
row per object, exactly as the ScW and auxiliary files are: size and ETag from the listing,
the checksum from :func:`~services.ingest.raw_index.checksums.checksum` (kept, taken from the
store, or streamed in the indexer's worker threads), ``verified`` or ``unverified``.

The tree is registered one folder at a time (``ic/ibis/``, ``ic/jemx/``, ..., ``idx/ic/``;
files at the top of a tree form a folder of their own), each in **one transaction**: the
files of the folder that were read, and the removal of the rows of files no longer listed in
it. An object that cannot be registered (its bytes changed between listing and hashing, it
failed a verification and was not uploaded again) is reported and keeps its previous row, if
any; the rest of the folder is registered. Re-running reads nothing that is unchanged (same
size and ETag), so a killed run costs one listing to take up again.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, text

from services.ingest.raw_index.checksums import FileSum, Known, ObjectChangedError, checksum
from shared.storage import ListedObject, ObjectStore

TREES = {"ic": "ic/", "idx": "idx/ic/"}
"""The two trees and their prefixes in the raw bucket."""

_PATH = re.compile(r"^(ic|idx/ic)/(?:([^/]+)/)?.+$")


@dataclass(frozen=True)
class Folder:
    """One unit of registration: a tree and an instrument folder (None: the tree's top)."""

    tree: str
    instrument: str | None

    @property
    def prefix(self) -> str:
        """The folder's prefix in the raw bucket."""
        return TREES[self.tree] + (f"{self.instrument}/" if self.instrument else "")


def folder_of(key: str) -> Folder | None:
    """The folder a key of the tree belongs to (None: not in the tree)."""
    match = _PATH.match(key)
    if match is None:
        return None
    tree = "ic" if match.group(1) == "ic" else "idx"
    rest = key[len(match.group(1)) + 1 :]
    return Folder(tree, match.group(2) if "/" in rest else None)


def list_tree(store: ObjectStore) -> dict[Folder, dict[str, ListedObject]]:
    """The objects of both trees by folder (key -> listing entry); empty when absent."""
    folders: dict[Folder, dict[str, ListedObject]] = defaultdict(dict)
    for prefix in TREES.values():
        for entry in store.list(store.raw_bucket, prefix, recursive=True):
            folder = None if entry.is_dir else folder_of(entry.key)
            if folder is not None:
                folders[folder][entry.key] = entry
    return dict(sorted(folders.items(), key=lambda item: item[0].prefix))


@dataclass
class IcReport:
    """What the registration of the tree did (merged into the raw-index report)."""

    folders: int = 0
    objects: int = 0
    """Objects listed in the tree."""
    files: int = 0
    hashed_files: int = 0
    hashed_bytes: int = 0
    unverified_files: int = 0
    removed: int = 0
    problems: list[dict[str, str]] = field(default_factory=list)


_UPSERT = text(
    "INSERT INTO isla.ic_files (path, tree, instrument, size, sha256, state, checksum_source, "
    "verified_at, etag, last_modified) VALUES (:key, :tree, :instrument, :size, :sha256, "
    ":state, :source, :verified_at, :etag, :last_modified) ON CONFLICT (path) DO UPDATE SET "
    "tree = EXCLUDED.tree, instrument = EXCLUDED.instrument, size = EXCLUDED.size, "
    "sha256 = EXCLUDED.sha256, state = EXCLUDED.state, "
    "checksum_source = EXCLUDED.checksum_source, "
    # A checksum kept from an earlier run keeps its time; one (re)computed now moves it.
    "verified_at = CASE WHEN ic_files.sha256 IS NOT DISTINCT FROM EXCLUDED.sha256 "
    "AND ic_files.etag IS NOT DISTINCT FROM EXCLUDED.etag "
    "AND ic_files.state = EXCLUDED.state THEN ic_files.verified_at "
    "ELSE EXCLUDED.verified_at END, "
    "etag = EXCLUDED.etag, last_modified = EXCLUDED.last_modified"
)


def _known(engine: Engine) -> dict[str, Known]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT path, size, etag, sha256, state, checksum_source FROM isla.ic_files")
        )
        return {r[0]: Known(int(r[1]), r[2], r[3], r[4], r[5]) for r in rows}


def index_ic(
    engine: Engine,
    store: ObjectStore,
    pool: ThreadPoolExecutor,
    hash_files: bool = True,
    progress: Callable[[str], None] | None = None,
) -> IcReport:
    """Register the instrument-characteristics tree, if the bucket holds one (see the module
    text); ``pool`` hashes the objects."""
    report = IcReport()
    folders = list_tree(store)
    if not folders:
        return report
    report.objects = sum(len(listed) for listed in folders.values())
    known = _known(engine)
    for folder, listed in folders.items():
        jobs = [
            (
                key,
                pool.submit(
                    checksum, store, store.raw_bucket, key, entry, known.get(key), hash_files
                ),
            )
            for key, entry in sorted(listed.items())
        ]
        sums: list[FileSum] = []
        for key, future in jobs:
            try:
                sums.append(future.result())
            except (ObjectChangedError, ValueError) as exc:
                # StorageUnavailable is not caught: the store went away, the job fails.
                report.problems.append({"object": key, "problem": str(exc)})
        _commit(engine, folder, listed, sums, report)
        if progress is not None:
            progress(f"{folder.prefix}: {len(sums)} of {len(listed)} files registered")
    return report


def _commit(
    engine: Engine,
    folder: Folder,
    listed: dict[str, ListedObject],
    sums: list[FileSum],
    report: IcReport,
) -> None:
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    params: list[dict[str, Any]] = [
        {
            "key": f.key,
            "tree": folder.tree,
            "instrument": folder.instrument,
            "size": f.size,
            "sha256": f.sha256,
            "state": f.state,
            "source": f.source,
            "verified_at": now if f.sha256 else None,
            "etag": f.etag,
            "last_modified": _naive(listed[f.key].last_modified),
        }
        for f in sums
    ]
    with engine.begin() as conn:
        if params:
            conn.execute(_UPSERT, params)
        # Files of this folder that are no longer in the store are no longer registered.
        removed = conn.execute(
            text(
                "DELETE FROM isla.ic_files WHERE tree = :tree "
                "AND instrument IS NOT DISTINCT FROM :instrument AND NOT (path = ANY(:keys))"
            ),
            {"tree": folder.tree, "instrument": folder.instrument, "keys": list(listed)},
        )
    report.folders += 1
    report.files += len(sums)
    report.removed += int(removed.rowcount or 0)
    for f in sums:
        report.hashed_files += int(f.hashed_bytes > 0)
        report.hashed_bytes += f.hashed_bytes
        report.unverified_files += int(f.sha256 is None)


def _naive(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value
