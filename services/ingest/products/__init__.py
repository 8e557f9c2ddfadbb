"""Product ingestion: QC, then object + row written so that a crash never leaves half of it.

The package by role: :mod:`.plan` (who delivers what, product ids and rows),
:mod:`.delivery` (the whole delivery, :func:`ingest_delivery`), :mod:`.journal` (the
journaled writer and recovery), :mod:`.points` (light-curve points, of light curves and of
source-results tables) and :mod:`.reference`
(the real ISLA files).

A delivery is one or more FITS files (a spectrum with its ARF and RMF, a mosaic pair, a light
curve). :func:`ingest_delivery` runs quality control on all of them (:mod:`services.ingest.qc`),
resolves the source, band and epoch against the archive, and refuses the whole delivery with
the full list of problems when anything is wrong: nothing is written then.

Writing follows a journal (``isla_ops.product_staging``, :mod:`.journal` tells the steps and
what a crash at each leaves), so that object store and database never disagree for long, and
never for good: :func:`recover_pending`, run before every delivery (and by ``isla ingest
recover``), rolls an unfinished delivery forward or removes its leftovers.

Re-sending a file whose SHA-256 equals the stored product's is a no-op reported as
``unchanged``. Replacing a product with different bytes needs ``replace`` and the owning team
(recorded in ``meta.team``) or an operator.
"""

from __future__ import annotations

from services.ingest.products.delivery import ensure_team, ingest_delivery, pipeline_delivery
from services.ingest.products.journal import (
    STAGING_PREFIX,
    RecoveryReport,
    counts,
    recover_pending,
)
from services.ingest.products.plan import (
    SOURCE_MATCH_DEG,
    SUB_SCW_BIN_S,
    Caller,
    DeliveryParams,
    IngestRefused,
    IngestResult,
    PlannedFile,
    product_id,
)
from services.ingest.products.points import copy_points, load_points, load_results
from services.ingest.products.reference import (
    REFERENCE_ARCHIVES,
    REFERENCE_TEAM,
    ReferenceReport,
    ingest_reference_products,
    reference_data_dir,
)

__all__ = [
    "REFERENCE_ARCHIVES",
    "REFERENCE_TEAM",
    "SOURCE_MATCH_DEG",
    "STAGING_PREFIX",
    "SUB_SCW_BIN_S",
    "Caller",
    "DeliveryParams",
    "IngestRefused",
    "IngestResult",
    "PlannedFile",
    "RecoveryReport",
    "ReferenceReport",
    "copy_points",
    "counts",
    "ensure_team",
    "ingest_delivery",
    "ingest_reference_products",
    "load_points",
    "load_results",
    "pipeline_delivery",
    "product_id",
    "recover_pending",
    "reference_data_dir",
]
