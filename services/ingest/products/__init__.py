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

Writing follows a journal (``isla_ops.product_staging``), so that object store and database
never disagree for long, and never for good:

1. one journal row per file (state ``staging``) is committed, and the delivery takes a
   session-level advisory lock on its id (held while it runs; released by Postgres if the
   process dies);
2. each file is put under ``staging/<delivery>/<file name>`` in the products bucket;
3. in **one** transaction: the ``isla.products`` rows are upserted (and light-curve points
   replaced), then each staged object is copied to its final key
   ``products/<product_id>/<file name>``, the journal rows are set to ``done``, and the
   transaction commits;
4. the staging objects are deleted, then the journal rows.

A crash in 1–2 leaves only staging objects, a crash in 3 before the commit leaves staging
objects and possibly copied final objects without rows (or, for a replacement, the new bytes
under a row that still describes the old ones), a crash in 4 leaves staging objects of a
committed delivery. :func:`recover_pending`, run before every delivery (and by
``isla ingest recover``), takes each unlocked journal entry and rolls it *forward* when its
staged object is complete (step 3 again, then 4: the delivery passed QC, so finishing it is
right) or removes its leftovers otherwise. The lock keeps recovery away from deliveries that
are still running.

Re-sending a file whose SHA-256 equals the stored product's is a no-op reported as
``unchanged``. Replacing a product with different bytes needs ``replace`` and the owning team
(recorded in ``meta.team``) or an operator.
"""

from __future__ import annotations

from services.ingest.products.delivery import ensure_team, ingest_delivery
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
    "product_id",
    "recover_pending",
    "reference_data_dir",
]
