"""The instrument-characteristics tree (``ic/...``, ``idx/ic/...``): listed, and packed by the
same planner as the ScWs (:mod:`services.raw.tarball`), so a tarball of it has its
``SHA256SUMS`` first, an exact length, byte ranges and a strong ``ETag``.

A selection is a folder of the tree (``path=ic/ibis/rsp/``) and/or an instrument
(``instrument=spi``); the files keep their archive paths, so a tarball unpacks into the
layout OSA expects (``REP_BASE_PROD/ic/...``, ``REP_BASE_PROD/idx/ic/...``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from services.raw.manifest import Manifest, ManifestFile

TREE_PREFIXES = ("ic/", "idx/ic/")


class IcSelectionError(ValueError):
    """A selection of the tree that cannot be answered (400)."""


def check_prefix(path: str | None) -> str | None:
    """``path`` as a folder of the tree (a trailing ``/`` added), or None; IcSelectionError
    when it lies outside ``ic/`` and ``idx/ic/``."""
    if path is None or path == "":
        return None
    folder = path if path.endswith("/") else path + "/"
    if not folder.startswith(TREE_PREFIXES) or "//" in folder or "/../" in f"/{folder}":
        raise IcSelectionError(
            f"path {path!r} is not a folder of the instrument-characteristics tree "
            "(ic/... or idx/ic/...)"
        )
    return folder


def ic_files(rows: Sequence[Any]) -> tuple[ManifestFile, ...]:
    """Manifest entries of rows of :func:`services.raw.store.ic_files` (files of no ScW)."""
    return tuple(
        ManifestFile("", "", r.path, r.path, r.size, r.sha256, r.mtime, r.etag) for r in rows
    )


def label(prefix: str | None, instrument: str | None) -> str:
    """The selection's name in file names: ``ic``, ``ic_spi``, ``ic_ibis_rsp``."""
    head, rest = ("ic_idx", prefix[7:]) if prefix and prefix.startswith("idx/ic/") else ("ic", "")
    if prefix and head == "ic":
        rest = prefix[3:]
    parts = [head, *(p for p in rest.split("/") if p)]
    if instrument:
        parts.append(instrument)
    return "_".join(parts)


def ic_manifest(rows: Sequence[Any], prefix: str | None, instrument: str | None) -> Manifest:
    """The manifest of a selection of the tree."""
    selection = {k: v for k, v in (("path", prefix), ("instrument", instrument)) if v}
    return Manifest(label(prefix, instrument), (), ic_files(rows), selection)


def describe(base_url: str, manifest: Manifest, rows: Sequence[Any]) -> dict[str, Any]:
    """The listing of a selection: its folders, its files (size, checksum or the
    unverified flag, URL) and its tarball."""
    query = urlencode(manifest.selection)
    folders: dict[tuple[str, str | None], dict[str, Any]] = {}
    for r in rows:
        folder = folders.setdefault(
            (r.tree, r.instrument),
            {"tree": r.tree, "instrument": r.instrument, "files": 0, "size": 0},
        )
        folder["files"] += 1
        folder["size"] += r.size
    return {
        "selection": manifest.selection,
        "label": manifest.label,
        "file_count": len(manifest.files),
        "total_size": manifest.total_size,
        "unverified_files": manifest.unverified,
        "digest": manifest.digest,
        "tar_url": f"{base_url}/raw/ic.tar" + (f"?{query}" if query else ""),
        "folders": list(folders.values()),
        "files": [
            {
                "path": f.path,
                "size": f.size,
                "sha256": f.sha256,
                "verified": f.verified,
                "url": f"{base_url}/raw/ic/files/{f.path}",
            }
            for f in manifest.files
        ],
    }
