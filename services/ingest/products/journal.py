"""The journaled writer of product deliveries, and recovery after a crash.

Writing follows a journal (``isla_ops.product_staging``), so that object store and database
never disagree for long, and never for good:

1. one journal row per file (state ``staging``) is committed, and the delivery takes a
   session-level advisory lock on its id (held while it runs; released by Postgres if the
   process dies);
2. each file is put under ``staging/<delivery>/<file name>`` in the products bucket;
3. in **one** transaction: the ``isla.products`` rows are upserted (and light-curve points
   replaced: those of a light curve, or the rows of a source-results table), then each
   staged object is copied to its final key ``products/<product_id>/<file name>``, the
   journal rows are set to ``done``, and the transaction commits;
4. the staging objects are deleted, then the journal rows.

A crash in 1–2 leaves only staging objects, a crash in 3 before the commit leaves staging
objects and possibly copied final objects without rows (or, for a replacement, the new bytes
under a row that still describes the old ones), a crash in 4 leaves staging objects of a
committed delivery. :func:`recover_pending`, run before every delivery (and by
``isla ingest recover``), takes each unlocked journal entry and rolls it *forward* when its
staged object is complete (step 3 again, then 4: the delivery passed QC, so finishing it is
right) or removes its leftovers otherwise. The lock keeps recovery away from deliveries that
are still running.
"""

from __future__ import annotations

import json
import logging
import struct
import uuid
from dataclasses import dataclass, field
from typing import Any

from minio.commonconfig import CopySource
from sqlalchemy import Engine, text

from services.ingest import qc
from services.ingest.products.plan import PlannedFile
from services.ingest.products.points import load_points, load_results
from services.ingest.products.sensitivity import load_sensitivity
from shared.storage import ObjectNotFound, ObjectStore

log = logging.getLogger("isla.ingest.products")

STAGING_PREFIX = "staging/"
"""Prefix of staged objects in the products bucket."""


def lock_key(ingestion: str) -> int:
    # A signed 64-bit key from the UUID: the advisory-lock space of product deliveries.
    return struct.unpack(">q", uuid.UUID(ingestion).bytes[:8])[0]


def write_delivery(
    engine: Engine,
    store: ObjectStore,
    ingestion: str,
    planned: list[PlannedFile],
) -> int:
    bucket = store.products_bucket
    with engine.connect() as lock_conn:
        lock_conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": lock_key(ingestion)})
        lock_conn.commit()
        try:
            with engine.begin() as conn:
                # One statement for all the files (psycopg sends them in one pipeline).
                conn.execute(
                    text(
                        "INSERT INTO isla_ops.product_staging (ingestion, product_id, "
                        "staging_key, final_key, sha256, row, load_points, state) VALUES "
                        "(:i, :p, :s, :f, :h, CAST(:r AS jsonb), :lp, 'staging')"
                    ),
                    [
                        {
                            "i": ingestion,
                            "p": plan.product_id,
                            "s": f"{STAGING_PREFIX}{ingestion}/{plan.row['file_name']}",
                            "f": plan.row["object_key"],
                            "h": plan.sha256,
                            "r": json.dumps(plan.row),
                            "lp": plan.load_points,
                        }
                        for plan in planned
                    ],
                )
            for plan in planned:
                store.put_bytes(
                    bucket,
                    f"{STAGING_PREFIX}{ingestion}/{plan.row['file_name']}",
                    plan.data,
                    content_type=plan.row["content_type"],
                )
            points = _commit(engine, store, ingestion, {p.product_id: p for p in planned})
            _finish(engine, store, ingestion)
            return points
        finally:
            lock_conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock_key(ingestion)})
            lock_conn.commit()


def _commit(
    engine: Engine,
    store: ObjectStore,
    ingestion: str,
    planned: dict[str, PlannedFile] | None = None,
) -> int:
    """Step 3: rows (and points) upserted, staged objects copied to their keys, one commit."""
    bucket = store.products_bucket
    points = 0
    with engine.begin() as conn:
        entries = conn.execute(
            text(
                "SELECT staging_id, product_id, staging_key, final_key, sha256, row, load_points "
                "FROM isla_ops.product_staging WHERE ingestion = :i AND state = 'staging' "
                "ORDER BY staging_id"
            ),
            {"i": ingestion},
        ).all()
        # The rows replaced, locked, then every row upserted at once; the points after.
        previous: dict[str, str] = dict(
            conn.execute(
                text(
                    "SELECT product_id, object_key FROM isla.products "
                    "WHERE product_id = ANY(:p) ORDER BY product_id FOR UPDATE"
                ),
                {"p": [entry.product_id for entry in entries]},
            ).all()
        )
        superseded = [
            str(previous[entry.product_id])
            for entry in entries
            if previous.get(entry.product_id) not in (None, entry.final_key)
        ]
        if entries:
            conn.execute(_UPSERT, [_product_params(dict(entry.row)) for entry in entries])
        for entry in entries:
            if entry.load_points:
                row = dict(entry.row)
                plan = (planned or {}).get(entry.product_id)
                facts = plan.facts if plan is not None else _refacts(store, entry, row)
                if row["kind"] == qc.SENSITIVITY_KIND:
                    points += load_sensitivity(conn, facts, row)
                    continue
                load = load_results if row["kind"] == qc.RESULTS_KIND else load_points
                points += load(conn, facts, row)
        # Objects last: a database error above leaves no object behind.
        for entry in entries:
            store.client.copy_object(bucket, entry.final_key, CopySource(bucket, entry.staging_key))
        conn.execute(
            text("UPDATE isla_ops.product_staging SET state = 'done' WHERE ingestion = :i"),
            {"i": ingestion},
        )
    # A replacement under another file name leaves the old object unreferenced: remove it
    # (should this be interrupted, ``recover_pending(sweep=True)`` finds it).
    for key in superseded:
        store.delete(bucket, key)
    return points


def _refacts(store: ObjectStore, entry: Any, row: dict[str, Any]) -> qc.FileFacts:
    """Light-curve facts of a staged file again (recovery has no QC result in memory)."""
    data = store.read_bytes(store.products_bucket, entry.staging_key)
    facts, _problems, _warns = qc.inspect_file(row["file_name"], data, len(data) + 1, row["kind"])
    qc._derive(facts, [])
    return facts


def _finish(engine: Engine, store: ObjectStore, ingestion: str) -> None:
    """Step 4: staging objects, then journal rows, removed."""
    with engine.connect() as conn:
        keys = list(
            conn.execute(
                text("SELECT staging_key FROM isla_ops.product_staging WHERE ingestion = :i"),
                {"i": ingestion},
            ).scalars()
        )
    folder = f"{STAGING_PREFIX}{ingestion}/"
    if len(keys) > 1 and all(key.startswith(folder) for key in keys):
        # The delivery's staging folder in one listing and one multi-object delete, rather
        # than a request per file.
        store.delete_prefix(store.products_bucket, folder)
    else:
        for key in keys:
            store.delete(store.products_bucket, key)
    with engine.begin() as conn:
        conn.execute(
            text("DELETE FROM isla_ops.product_staging WHERE ingestion = :i"), {"i": ingestion}
        )


_UPSERT = text(
    "INSERT INTO isla.products (product_id, kind, instrument, band_id, source_id, epoch, "
    "revolution, obsid, t_min, t_max, bucket, object_key, file_name, size, sha256, "
    "content_type, meta, simulated) VALUES (:product_id, :kind, :instrument, :band_id, "
    ":source_id, :epoch, :revolution, :obsid, :t_min, :t_max, :bucket, :object_key, :file_name, "
    ":size, :sha256, :content_type, CAST(:meta AS jsonb), :simulated) "
    "ON CONFLICT (product_id) DO UPDATE SET "
    "kind = EXCLUDED.kind, instrument = EXCLUDED.instrument, band_id = EXCLUDED.band_id, "
    "source_id = EXCLUDED.source_id, epoch = EXCLUDED.epoch, revolution = EXCLUDED.revolution, "
    "obsid = EXCLUDED.obsid, t_min = EXCLUDED.t_min, t_max = EXCLUDED.t_max, "
    "bucket = EXCLUDED.bucket, object_key = EXCLUDED.object_key, "
    "file_name = EXCLUDED.file_name, size = EXCLUDED.size, sha256 = EXCLUDED.sha256, "
    "content_type = EXCLUDED.content_type, meta = EXCLUDED.meta, "
    "simulated = EXCLUDED.simulated, created_at = timezone('UTC', now())"
)


def _product_params(row: dict[str, Any]) -> dict[str, Any]:
    """Parameters of :data:`_UPSERT` for a journal row."""
    # Journal rows written before the flag existed carry no "simulated": such files were real.
    return {**row, "meta": json.dumps(row["meta"]), "simulated": bool(row.get("simulated"))}


# --- Recovery --------------------------------------------------------------------------------


@dataclass
class RecoveryReport:
    """What :func:`recover_pending` did."""

    completed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)
    stray_objects: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "completed": self.completed,
            "removed": self.removed,
            "busy": self.busy,
            "stray_objects": self.stray_objects,
        }


def recover_pending(engine: Engine, store: ObjectStore, sweep: bool = False) -> RecoveryReport:
    """Finish or undo every delivery a crash interrupted (see the module docstring).

    With ``sweep``, staging objects that belong to no journal entry (which the protocol never
    leaves, but an operator's manual copy might) are deleted as well.
    """
    report = RecoveryReport()
    with engine.connect() as conn:
        pending = conn.execute(
            text("SELECT DISTINCT ingestion FROM isla_ops.product_staging ORDER BY ingestion")
        ).scalars()
        ingestions = [str(i) for i in pending]
    for ingestion in ingestions:
        with engine.connect() as lock_conn:
            got = lock_conn.execute(
                text("SELECT pg_try_advisory_lock(:k)"), {"k": lock_key(ingestion)}
            ).scalar()
            lock_conn.commit()
            if not got:
                report.busy.append(ingestion)
                continue
            try:
                _recover_one(engine, store, ingestion, report)
            finally:
                lock_conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock_key(ingestion)})
                lock_conn.commit()
    if sweep:
        report.stray_objects = _sweep(engine, store)
    return report


def _sweep(engine: Engine, store: ObjectStore) -> int:
    """Delete staging objects no journal entry knows, and product objects no row references.

    Objects of deliveries in flight are protected by their journal entries (staging and
    final keys), which are read *after* the listing: an object listed first and registered
    afterwards is therefore never taken for a stray.
    """
    bucket = store.products_bucket
    listed = [o.key for o in store.list(bucket, STAGING_PREFIX)]
    listed += [o.key for o in store.list(bucket, "products/")]
    with engine.connect() as conn:
        known = set(
            conn.execute(
                text(
                    "SELECT staging_key FROM isla_ops.product_staging UNION ALL "
                    "SELECT final_key FROM isla_ops.product_staging UNION ALL "
                    "SELECT object_key FROM isla.products WHERE bucket = :b"
                ),
                {"b": bucket},
            ).scalars()
        )
    stray = [key for key in listed if key not in known]
    for key in stray:
        store.delete(bucket, key)
    return len(stray)


def _recover_one(
    engine: Engine, store: ObjectStore, ingestion: str, report: RecoveryReport
) -> None:
    with engine.connect() as conn:
        entries = conn.execute(
            text(
                "SELECT staging_key, final_key, sha256, state FROM isla_ops.product_staging "
                "WHERE ingestion = :i"
            ),
            {"i": ingestion},
        ).all()
    complete = all(e.state == "done" for e in entries)
    if not complete:
        staged = True
        for entry in entries:
            try:
                stored = store.stat(store.products_bucket, entry.staging_key)
            except ObjectNotFound:
                staged = False
                break
            if stored.sha256 != entry.sha256:
                staged = False
                break
        if staged:
            _commit(engine, store, ingestion)
            report.completed.append(ingestion)
        else:
            # Never committed, and not everything was staged: nothing of it is published.
            # Final keys are untouched (copies happen only once all files are staged).
            report.removed.append(ingestion)
    elif entries:
        report.completed.append(ingestion)
    _finish(engine, store, ingestion)
    log.info("recovered product delivery %s", ingestion)


def counts(engine: Engine, store: ObjectStore) -> dict[str, int]:
    """Products rows, journal rows, product objects and staging objects (for checks)."""
    with engine.connect() as conn:
        rows = int(conn.execute(text("SELECT count(*) FROM isla.products")).scalar() or 0)
        journal = int(
            conn.execute(text("SELECT count(*) FROM isla_ops.product_staging")).scalar() or 0
        )
    objects = sum(1 for _ in store.list(store.products_bucket, "products/"))
    staged = sum(1 for _ in store.list(store.products_bucket, STAGING_PREFIX))
    return {"rows": rows, "journal": journal, "objects": objects, "staging": staged}
