"""The real burst the archive ships: GRB 230307A, delivered as a catalogue row.

Its row (``shared/data/real/grb230307a_catalogue.csv``, interface ``ibas_grbs/1``) goes
through catalogue ingestion like any team's delivery, as catalogue :data:`REAL_CATALOGUE` of
team ``isdc``; the burst's INTEGRAL data is the real SPI-ACS light curve
(``spiacs_grb230307a.fits``, a time-series delivery), which the GRB API finds by time.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from services.ingest.catalogues import CatalogueDelivery, load_catalogue, sha256_of

REAL_FILE = "grb230307a_catalogue.csv"
"""The real burst's catalogue row, shipped with the archive."""

REAL_CATALOGUE = "ISLA real GRBs"
"""Catalogue name of the real bursts' rows."""


def ingest_reference_grbs(conninfo: str) -> dict[str, Any]:
    """Load the real GRB 230307A row (idempotent: the same file again is reported as loaded)."""
    source = resources.files("shared") / "data" / "real" / REAL_FILE
    with resources.as_file(source) as path:
        delivery = CatalogueDelivery(
            name=REAL_CATALOGUE,
            version="1",
            kind="ibas_grbs/1",
            team="isdc",
            reference="GCN Circ. 33407, 33429; Dalessi et al. 2025 (arXiv:2507.12637)",
            description="Real bursts with INTEGRAL data in the archive, facts cited per row.",
            filename=REAL_FILE,
            sha256=sha256_of(Path(path)),
        )
        return load_catalogue(conninfo, Path(path), delivery, lambda _team: True)
