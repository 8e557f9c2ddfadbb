"""The auxiliary data of a revolution (``aux/adp/RRRR.VVV/``): listed, packed, and added to
ScW tarballs on request (``aux=true``), as analysis software (OSA) needs them beside the ScWs.

Auxiliary files enter manifests as files of no ScW, at their archive path, so the tarball's
``SHA256SUMS`` covers them as it covers the ScW files.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from services.raw.manifest import Manifest, ManifestFile
from shared.integral import format_revolution


def aux_files(rows: Sequence[Any]) -> tuple[ManifestFile, ...]:
    """Manifest entries of auxiliary-file rows (:func:`services.raw.store.revolution_aux_files`)."""
    return tuple(
        ManifestFile("", r.version, r.name, r.object_key, r.size, r.sha256, r.mtime, r.etag)
        for r in rows
    )


def aux_manifest(revolution: int, rows: Sequence[Any]) -> Manifest:
    """The manifest of a revolution's auxiliary files alone."""
    label = f"aux_{format_revolution(revolution)}"
    return Manifest(label, (), aux_files(rows), {"revolution": format_revolution(revolution)})


def with_aux(manifest: Manifest, rows: Sequence[Any]) -> Manifest:
    """``manifest`` with the auxiliary files added after the ScWs' files."""
    return Manifest(
        manifest.label, manifest.scws, manifest.files + aux_files(rows), manifest.selection
    )


def describe(base_url: str, revolution: int, rows: Sequence[Any]) -> list[dict[str, Any]]:
    """The auxiliary files as a revolution's listing shows them."""
    rev = format_revolution(revolution)
    return [
        {
            "name": r.name,
            "path": r.object_key,
            "size": r.size,
            "sha256": r.sha256,
            "verified": r.sha256 is not None,
            "url": f"{base_url}/raw/revolutions/{rev}/aux/{r.name}",
        }
        for r in rows
    ]
