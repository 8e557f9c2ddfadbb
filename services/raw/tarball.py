"""The downloads of a manifest: its tarball, and single files, planned by :mod:`shared.packaging`.

A ScW tarball holds the checksum file first (``sha256sum -c SHA256SUMS`` verifies the rest),
then every file of the manifest in the archive's own layout. Its entity tag is the manifest's
digest, so it changes exactly when the content would.
"""

from __future__ import annotations

from services.raw.manifest import Manifest
from shared.packaging import Member, Plan, tar_plan
from shared.settings import storage_settings

CHECKSUM_NAME = "SHA256SUMS"
"""The checksum file at the top of every tarball."""


def tarball_members(manifest: Manifest) -> list[Member]:
    """The members of the tarball of ``manifest``: checksum file, then every file in order."""
    bucket = storage_settings().s3_raw_bucket
    checksums = manifest.sha256sums().encode()
    first_mtime = min((f.mtime for f in manifest.files), default=0)
    members = [Member.of_bytes(CHECKSUM_NAME, checksums, first_mtime)]
    members += [Member(f.path, bucket, f.object_key, f.size, f.mtime) for f in manifest.files]
    return members


def tarball(manifest: Manifest) -> Plan:
    """Plan the tarball of ``manifest`` (exact size, byte ranges, ETag from its digest)."""
    return tar_plan(tarball_members(manifest), f'"{manifest.digest}"')


def single_file(object_key: str, size: int, identity: str) -> Plan:
    """One stored raw file as it is; its checksum (or, unverified, its ETag and size:
    :attr:`ManifestFile.identity`) is its entity tag."""
    return Plan.single(storage_settings().s3_raw_bucket, object_key, size, f'"{identity}"')
