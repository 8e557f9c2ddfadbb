"""Manifests: what a selection of science windows contains, and the ways to fetch it.

Every selection resolves to a manifest first (the ScWs, their files, sizes and checksums); the
tarball, the checksum file, the CSV/JSON listings and the download scripts are all renderings
of it, so they always agree.
"""

from __future__ import annotations

import csv
import hashlib
import io
import shlex
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any


@dataclass(frozen=True)
class ManifestFile:
    """One raw file: where it sits in the archive layout and what it must contain."""

    scw_id: str
    version: str
    name: str
    object_key: str
    size: int
    sha256: str
    mtime: int
    """Modification time written into the tarball (the end of the ScW, Unix seconds)."""

    @property
    def path(self) -> str:
        """Path inside tarballs and download folders: the archive's own layout."""
        return self.object_key


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
            h.update(f"{f.path}\0{f.size}\0{f.sha256}\0{f.mtime}\n".encode())
        return h.hexdigest()

    def sha256sums(self) -> str:
        """A ``sha256sum -c`` compatible checksum file (paths as in the tarball)."""
        return "".join(f"{f.sha256}  {f.path}\n" for f in self.files)

    def as_json(self, base_url: str) -> dict[str, Any]:
        """The manifest as a JSON document with a download URL per file and per ScW."""
        by_scw: dict[str, list[ManifestFile]] = {}
        for f in self.files:
            by_scw.setdefault(f"{f.scw_id}.{f.version}", []).append(f)
        return {
            "selection": self.selection,
            "label": self.label,
            "scw_count": len(self.scws),
            "file_count": len(self.files),
            "total_size": self.total_size,
            "digest": self.digest,
            "scws": [
                {
                    "scw_id": full.split(".")[0],
                    "version": full.split(".")[1],
                    "tar_url": f"{base_url}/raw/scw/{full.split('.')[0]}.tar",
                    "size": sum(f.size for f in by_scw.get(full, [])),
                    "files": [
                        {
                            "name": f.name,
                            "path": f.path,
                            "size": f.size,
                            "sha256": f.sha256,
                            "url": f"{base_url}/raw/scw/{f.scw_id}/files/{f.name}",
                        }
                        for f in by_scw.get(full, [])
                    ],
                }
                for full in self.scws
            ],
        }

    def as_csv(self, base_url: str) -> str:
        """One row per file: scw_id, version, name, path, size, sha256, url."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["scw_id", "version", "name", "path", "size", "sha256", "url"])
        for f in self.files:
            url = f"{base_url}/raw/scw/{f.scw_id}/files/{f.name}"
            writer.writerow([f.scw_id, f.version, f.name, f.path, f.size, f.sha256, url])
        return out.getvalue()

    def per_scw(self) -> list[Manifest]:
        """One manifest per ScW (what ``/raw/scw/{id}.tar`` serves)."""
        return [
            Manifest(
                full.split(".")[0],
                (full,),
                tuple(f for f in self.files if f"{f.scw_id}.{f.version}" == full),
            )
            for full in self.scws
        ]

    def download_script(self, base_url: str, tar_sizes: dict[str, int], tool: str = "curl") -> str:
        """A bash script fetching one tarball per ScW, resumable and parallel (``-j N``).

        ``tar_sizes`` maps each ScW id to the size of its tarball: a file that already has it
        is complete and is not asked for again (a server answers such a resume with 416).
        """
        if tool == "curl":
            fetch = 'curl -fsSL --retry 5 -C - -o "$1.tar" "$BASE/raw/scw/$1.tar"'
        else:
            fetch = 'wget -q -c --tries=5 -O "$1.tar" "$BASE/raw/scw/$1.tar"'
        ids = "\n".join(f"{s.split('.')[0]} {tar_sizes[s.split('.')[0]]}" for s in self.scws)
        return f"""#!/usr/bin/env bash
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
{ids}
SCWS
"""
