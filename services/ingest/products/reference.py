"""The real ISLA files of astroquery's test data, ingested through the normal QC path."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from services.ingest import qc
from services.ingest.products.delivery import ensure_team, ingest_delivery
from services.ingest.products.plan import Caller, DeliveryParams
from shared.storage import ObjectStore

REFERENCE_ARCHIVES = ("tar_file.tar", "tar_gz_file.gz", "zip_file.zip")
"""astroquery's real ISLA deliveries (``astroquery/esa/integral/tests/data``)."""

REFERENCE_TEAM = "isdc"
"""Team recorded as the owner of the reference products."""


def reference_data_dir() -> Any:
    """The folder of astroquery's ISLA test archives (astroquery is a runtime dependency)."""
    from importlib import resources

    return resources.files("astroquery.esa.integral") / "tests" / "data"


def _unpack(name: str, blob: bytes) -> list[tuple[str, bytes]]:
    import io
    import tarfile
    import zipfile

    if zipfile.is_zipfile(io.BytesIO(blob)):
        with zipfile.ZipFile(io.BytesIO(blob)) as archive:
            return [
                (info.filename.rsplit("/", 1)[-1], archive.read(info))
                for info in archive.infolist()
                if not info.is_dir()
            ]
    out = []
    with tarfile.open(fileobj=io.BytesIO(blob)) as archive:
        for member in archive.getmembers():
            if member.isfile():
                handle = archive.extractfile(member)
                assert handle is not None
                out.append((member.name.rsplit("/", 1)[-1], handle.read()))
    return out


@dataclass
class ReferenceReport:
    """What :func:`ingest_reference_products` did, per archive."""

    products: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    warnings: int = 0

    def summary(self) -> str:
        """One line for the launcher's output."""
        states: dict[str, int] = {}
        for p in self.products:
            states[p["status"]] = states.get(p["status"], 0) + 1
        parts = ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
        return f"real ISLA products: {len(self.products)} files ({parts})"


def ingest_reference_products(engine: Engine, store: ObjectStore) -> ReferenceReport:
    """Ingest the real ISLA files shipped in astroquery's wheel through the normal QC path.

    Each archive is one delivery (the SMC X-1 spectrum with its ARF and RMF, the mosaic pair of
    epoch 0727_88601650001, the two JEM-X all-mission time series of 1A 1742-289); files that
    are not FITS (the mosaic's ds9 region file) are skipped. Idempotent: a second call reports
    every file ``unchanged``.
    """
    folder = reference_data_dir()
    report = ReferenceReport()
    caller = Caller(team=REFERENCE_TEAM, is_operator=True)
    limit = 64 * 1024 * 1024
    for archive in REFERENCE_ARCHIVES:
        members = _unpack(archive, (folder / archive).read_bytes())
        fits_files = [(n, b) for n, b in members if not qc.check_file_name(n)]
        report.skipped += [n for n, _ in members if qc.check_file_name(n)]
        result = ingest_delivery(engine, store, fits_files, DeliveryParams(), caller, limit)
        report.products += result.products
        report.warnings += len(result.warnings)
    ensure_team(engine, REFERENCE_TEAM, "ISDC: the real ISLA deliveries")
    return report
