"""How the demo pipeline hands its product files to the archive: a function it is given.

The demo plays an instrument team's pipeline; like a team's, its files go through ingestion
(quality control, the journaled writer, provenance). The library must not depend on a service,
so the pipeline does not import ingestion: whoever loads the demo passes a :class:`Deliver`
(the ingest service provides one, ``services.ingest.products.pipeline_delivery``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

MAX_DELIVERY_FILES = 32
"""Most files in one delivery, as the ingest API takes them: a pipeline beside the archive
delivers no more at once than a team can."""


@dataclass(frozen=True)
class DeliveryOptions:
    """What the pipeline says about a delivery beside its files (the rest is in the headers)."""

    kind: str | None = None
    """The product kind where the file does not say it (``lc_results`` for the per-ScW
    source-results tables that carry the light-curve points)."""
    scope: str | None = None
    """``epoch``, ``mission`` or ``time_resolved`` where the headers leave it open."""
    arf: str | None = None
    """Product id of the ARF the delivery's spectra use (delivered earlier)."""
    rmf: str | None = None
    """Product id of the RMF the delivery's spectra use (delivered earlier)."""
    points: bool = True
    """Load the points of delivered light curves; False when the files were made from the
    archive's points (they are then stored without touching the points)."""


class Delivered(Protocol):
    """What a delivery stored: one entry per product (with ``kind`` and ``product_id``)."""

    products: list[dict[str, Any]]
    points: int


class Deliver(Protocol):
    """Ingest one delivery, all or nothing; raise when it is refused (the demo's files must
    pass, so a refusal is a bug of the pipeline)."""

    def __call__(self, files: Sequence[tuple[str, bytes]], options: DeliveryOptions) -> Delivered:
        """Quality-check and store ``files``; return what was stored."""
        ...


@dataclass(frozen=True)
class CatalogueFile:
    """One catalogue version as a team delivers it: the table and what the form says."""

    kind: str
    """Interface ``kind/version`` (``ibas_grbs/1``)."""
    name: str
    version: str
    file_name: str
    data: bytes
    reference: str | None = None
    description: str | None = None


class DeliverCatalogue(Protocol):
    """Load one catalogue version through ingestion (validated against its interface, made
    current); return the ingestion report; raise when it is refused."""

    def __call__(self, catalogue: CatalogueFile) -> dict[str, Any]:
        """Validate and load ``catalogue``; return the report."""
        ...
