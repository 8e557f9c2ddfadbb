"""Manifests: what a selection of science windows contains, and the ways to fetch it.

Every selection resolves to a manifest first (the ScWs, their files, sizes and checksums); the
tarball, the checksum file, the CSV/JSON listings and the download scripts are all renderings
of it, so they always agree.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shlex
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

CHUNK = 64 * 1024
"""Characters per streamed piece of a manifest (one write to the connection each)."""


def _pieces(parts: Iterable[str], size: int = CHUNK) -> Iterator[str]:
    """``parts`` joined into pieces of about ``size`` characters: every piece is one message
    to the server, so a part per science window or file (14,600 for the Crab at full scale)
    made the streaming itself the cost."""
    batch: list[str] = []
    length = 0
    for part in parts:
        batch.append(part)
        length += len(part)
        if length >= size:
            yield "".join(batch)
            batch, length = [], 0
    if batch:
        yield "".join(batch)


@dataclass(frozen=True)
class ManifestFile:
    """One raw file: where it sits in the archive layout and what it must contain."""

    scw_id: str
    version: str
    name: str
    object_key: str
    size: int
    sha256: str | None
    """None while the file is unverified (its checksum not yet computed)."""
    mtime: int
    """Modification time written into the tarball (the end of the ScW, Unix seconds)."""
    etag: str | None = None
    """The object's ETag when indexed: the identity of an unverified file's content."""

    @property
    def path(self) -> str:
        """Path inside tarballs and download folders: the archive's own layout."""
        return self.object_key

    @property
    def verified(self) -> bool:
        """Whether the file's SHA-256 is known (unverified files are served with their size
        only, and listed without a checksum)."""
        return self.sha256 is not None

    @property
    def identity(self) -> str:
        """What stands for the content: the SHA-256, else the object's ETag and size."""
        return self.sha256 or f"unverified:{self.etag}:{self.size}"


@dataclass(frozen=True)
class Manifest:
    """The resolved content of a selection."""

    label: str
    """Short name of the selection, used in file names (e.g. ``obsid_06340000001``)."""
    scws: tuple[str, ...]
    """ScW ids with version (``008100430010.001``), in time order."""
    files: tuple[ManifestFile, ...]
    selection: dict[str, Any] = field(default_factory=dict)

    @property
    def total_size(self) -> int:
        """Sum of the file sizes (the tarball adds headers and the checksum file)."""
        return sum(f.size for f in self.files)

    @cached_property
    def digest(self) -> str:
        """SHA-256 over the file list and checksums: the identity of the content."""
        h = hashlib.sha256()
        for f in self.files:
            h.update(f"{f.path}\0{f.size}\0{f.identity}\0{f.mtime}\n".encode())
        return h.hexdigest()

    def sha256sums(self) -> str:
        """A ``sha256sum -c`` compatible checksum file (paths as in the tarball)."""
        return "".join(self.iter_sha256sums())

    def iter_sha256sums(self) -> Iterator[str]:
        """:meth:`sha256sums` in pieces of about :data:`CHUNK` characters (for streaming);
        unverified files have no line (their checksum is not known yet), so ``sha256sum -c``
        checks every line it gets."""
        yield from _pieces(f"{f.sha256}  {f.path}\n" for f in self.files if f.sha256 is not None)

    @property
    def unverified(self) -> int:
        """Files of the manifest whose checksum is not known yet."""
        return sum(1 for f in self.files if not f.verified)

    def by_scw(self) -> dict[str, list[ManifestFile]]:
        """The files of each ScW (``id.version``), in one pass over the files."""
        groups: dict[str, list[ManifestFile]] = {full: [] for full in self.scws}
        for f in self.files:
            groups.setdefault(f"{f.scw_id}.{f.version}", []).append(f)
        return groups

    def as_json(self, base_url: str) -> dict[str, Any]:
        """The manifest as a JSON document with a download URL per file and per ScW."""
        return dict(json.loads("".join(self.iter_json(base_url))))

    def iter_json(
        self, base_url: str, groups: dict[str, list[ManifestFile]] | None = None
    ) -> Iterator[str]:
        """The JSON manifest in pieces of about :data:`CHUNK` characters (for streaming large
        selections)."""
        return _pieces(self._json_parts(base_url, groups))

    def _json_parts(
        self, base_url: str, groups: dict[str, list[ManifestFile]] | None
    ) -> Iterator[str]:
        """The JSON manifest, its head and then one ScW at a time."""
        head = {
            "selection": self.selection,
            "label": self.label,
            "scw_count": len(self.scws),
            "file_count": len(self.files),
            "total_size": self.total_size,
            "digest": self.digest,
            "unverified_files": self.unverified,
        }
        yield json.dumps(head)[:-1] + ', "scws": ['
        by_scw = self.by_scw() if groups is None else groups
        for i, full in enumerate(self.scws):
            scw_id, version = full.split(".")
            files = by_scw.get(full, [])
            entry = {
                "scw_id": scw_id,
                "version": version,
                "tar_url": f"{base_url}/raw/scw/{scw_id}.tar",
                "size": sum(f.size for f in files),
                "files": [
                    {
                        "name": f.name,
                        "path": f.path,
                        "size": f.size,
                        "sha256": f.sha256,
                        "verified": f.verified,
                        "url": f"{base_url}/raw/scw/{f.scw_id}/files/{f.name}",
                    }
                    for f in files
                ],
            }
            yield ("" if i == 0 else ", ") + json.dumps(entry)
        yield "]}"

    def as_csv(self, base_url: str) -> str:
        """One row per file: scw_id, version, name, path, size, sha256 (empty while
        unverified), url, verified (a column added last, so that older readers keep theirs)."""
        return "".join(self.iter_csv(base_url))

    def iter_csv(self, base_url: str, rows_per_chunk: int = 1000) -> Iterator[str]:
        """:meth:`as_csv` in chunks of rows (for streaming)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["scw_id", "version", "name", "path", "size", "sha256", "url", "verified"])
        for i, f in enumerate(self.files, 1):
            url = f"{base_url}/raw/scw/{f.scw_id}/files/{f.name}"
            row = [f.scw_id, f.version, f.name, f.path, f.size, f.sha256 or "", url, f.verified]
            writer.writerow(row)
            if i % rows_per_chunk == 0:
                yield out.getvalue()
                out.seek(0)
                out.truncate()
        yield out.getvalue()

    def per_scw(self) -> list[Manifest]:
        """One manifest per ScW (what ``/raw/scw/{id}.tar`` serves), in linear time."""
        groups = self.by_scw()
        return [
            Manifest(full.split(".")[0], (full,), tuple(groups.get(full, ()))) for full in self.scws
        ]

    def download_script(self, base_url: str, tar_sizes: dict[str, int], tool: str = "curl") -> str:
        """The whole script of :meth:`iter_download_script`."""
        return "".join(self.iter_download_script(base_url, tar_sizes, tool))

    def iter_download_script(
        self, base_url: str, tar_sizes: Mapping[str, int], tool: str = "curl"
    ) -> Iterator[str]:
        """A bash script fetching one tarball per ScW, resumable and parallel (``-j N``).

        ``tar_sizes`` maps each ScW id to the size of its tarball: a file that already has it
        is complete and is not asked for again (a server answers such a resume with 416).
        """
        if tool == "curl":
            fetch = 'curl -fsSL --retry 5 -C - -o "$1.tar" "$BASE/raw/scw/$1.tar"'
        else:
            fetch = 'wget -q -c --tries=5 -O "$1.tar" "$BASE/raw/scw/$1.tar"'
        yield f"""#!/usr/bin/env bash
# ISLA raw data: {len(self.scws)} science windows, {self.total_size} bytes of files
# selection: {shlex.quote(self.label)}  (manifest digest {self.digest})
#
# Usage: bash {shlex.quote(self.label)}.sh [-j PARALLEL] [-x]
#   Run it again after an interruption: finished files are complete and partial ones resume.
#   -x extracts each tarball and verifies it with sha256sum -c.
set -euo pipefail
BASE=${{ISLA_BASE_URL:-{shlex.quote(base_url)}}}
JOBS=4
EXTRACT=0
while getopts "j:x" opt; do
  case $opt in j) JOBS=$OPTARG ;; x) EXTRACT=1 ;; *) exit 2 ;; esac
done
export BASE EXTRACT
fetch() {{
  set -euo pipefail
  if [ "$(stat -c %s "$1.tar" 2>/dev/null || echo 0)" != "$2" ]; then
    {fetch}
  fi
  if [ "$EXTRACT" = 1 ]; then
    mkdir -p "$1" && tar -xf "$1.tar" -C "$1" && (cd "$1" && sha256sum --quiet -c SHA256SUMS)
  fi
  echo "$1 done"
}}
export -f fetch
xargs -P "$JOBS" -L 1 bash -c 'fetch "$0" "$1"' <<'SCWS'
"""
        ids = (full.split(".")[0] for full in self.scws)
        yield from _pieces(f"{scw_id} {tar_sizes[scw_id]}\n" for scw_id in ids)
        yield "SCWS\n"
