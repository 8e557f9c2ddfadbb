"""A product delivery from end to end: QC, planning, ownership, then the journaled write.

:func:`ingest_delivery` is what the ingest API, the command line, the real ISLA files and the
demo pipeline all call.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Sequence

from sqlalchemy import Engine, text

from services.ingest import qc
from services.ingest.products.journal import recover_pending, write_delivery
from services.ingest.products.plan import (
    SCOPES,
    Caller,
    DeliveryParams,
    IngestRefused,
    IngestResult,
    PlannedFile,
    existing_responses,
    plan_delivery,
    results_problems,
)
from shared.demo.delivery import Deliver, DeliveryOptions
from shared.maps.publish import publish_product
from shared.storage import ObjectNotFound, ObjectStore

log = logging.getLogger("isla.ingest")

PIPELINE_UPLOAD_LIMIT = 64 * 1024 * 1024
"""Largest file a pipeline run beside the archive may deliver (as the ingest API's default)."""


def ingest_delivery(
    engine: Engine,
    store: ObjectStore,
    files: Sequence[tuple[str, bytes]],
    params: DeliveryParams,
    caller: Caller,
    upload_limit: int,
) -> IngestResult:
    """QC a delivery and write it, all or nothing. Raises :class:`IngestRefused`."""
    if not files:
        raise IngestRefused(400, "Bad request", [qc.Problem("-", "empty", "no file was sent")])
    if params.kind is not None and params.kind not in qc.KINDS:
        raise IngestRefused(
            422,
            "Quality control failed",
            [
                qc.Problem(
                    "-", "kind", f"unknown kind {params.kind!r}; kinds: {', '.join(qc.KINDS)}"
                )
            ],
        )
    if params.scope is not None and params.scope not in SCOPES:
        raise IngestRefused(
            422,
            "Quality control failed",
            [qc.Problem("-", "scope", f"scope must be one of {', '.join(SCOPES)}")],
        )
    recover_pending(engine, store)
    with engine.connect() as conn:
        existing = existing_responses(conn, params)
    report = qc.check_delivery(files, upload_limit, params.kind, existing)
    if not report.ok:
        # The rows of results tables are also checked against the archive, so that the
        # refusal lists every bad row at once.
        with engine.connect() as conn:
            problems = report.problems + results_problems(conn, report)
        raise IngestRefused(422, "Quality control failed", problems)
    with engine.connect() as conn:
        bucket = store.products_bucket
        planned, problems = plan_delivery(conn, report, files, params, caller, bucket)
        if problems:
            raise IngestRefused(422, "Quality control failed", problems)
        if caller.instruments is not None:
            foreign = [p for p in planned if p.row["instrument"] not in caller.instruments]
            if foreign:
                raise IngestRefused(
                    403,
                    "Forbidden",
                    [
                        qc.Problem(
                            p.facts.file_name,
                            "role",
                            f"this token may deliver {', '.join(sorted(caller.instruments))} "
                            f"products, not {p.row['instrument']}",
                        )
                        for p in foreign
                    ],
                )
        stored = {
            row.product_id: row
            for row in conn.execute(
                text(
                    "SELECT product_id, sha256, meta FROM isla.products WHERE product_id = ANY(:p)"
                ),
                {"p": [plan.product_id for plan in planned]},
            )
        }
        for plan in planned:
            plan.sha256 = hashlib.sha256(plan.data).hexdigest()
            plan.row["sha256"] = plan.sha256
            old = stored.get(plan.product_id)
            if old is None:
                continue
            if old.sha256 == plan.sha256:
                # Same bytes: a no-op, unless the stored object went missing or was damaged
                # outside the archive's control, which re-sending then repairs.
                plan.status = "unchanged" if _intact(store, plan) else "restored"
                continue
            owner = (old.meta or {}).get("team")
            if not (caller.is_operator or owner == caller.team):
                raise IngestRefused(
                    403,
                    "Forbidden",
                    [
                        qc.Problem(
                            plan.facts.file_name,
                            "owner",
                            f"{plan.product_id} belongs to team {owner!r}: only it or an "
                            "operator may replace it",
                        )
                    ],
                )
            if not params.replace:
                raise IngestRefused(
                    409,
                    "Conflict",
                    [
                        qc.Problem(
                            plan.facts.file_name,
                            "exists",
                            f"{plan.product_id} exists with other content: send replace=true",
                        )
                    ],
                )
            plan.status = "replaced"
    result = IngestResult(
        ingestion=str(uuid.uuid4()),
        warnings=[w.as_dict() for w in report.warnings],
    )
    to_write = [p for p in planned if p.status != "unchanged"]
    for plan in to_write:
        # Provenance: the delivery that brought the product (as the journal and the log say).
        plan.row["meta"]["ingestion"] = result.ingestion
    if to_write:
        result.points = write_delivery(engine, store, result.ingestion, to_write)
    _publish_maps(store, planned)
    for plan in planned:
        result.products.append(
            {
                "product_id": plan.product_id,
                "kind": plan.row["kind"],
                "status": plan.status,
                "file_name": plan.row["file_name"],
                "object_key": plan.row["object_key"],
                "size": plan.row["size"],
                "sha256": plan.sha256,
            }
        )
    return result


def _publish_maps(store: ObjectStore, planned: Sequence[PlannedFile]) -> None:
    """Build the HiPS of every map of the delivery (kept when already built from the same
    file). The products are stored by now: a failed build is logged, not a refusal, and
    ``isla build-hips`` (:func:`shared.maps.publish.publish_missing`) makes it later."""
    for plan in planned:
        if plan.row["kind"] != "allsky_map":
            continue
        try:
            publish_product(store, {**plan.row, "sha256": plan.sha256}, plan.data)
        except Exception:  # a map the HiPS builder cannot read must not undo its delivery
            log.exception("HiPS of %s not built", plan.product_id)


def _intact(store: ObjectStore, plan: PlannedFile) -> bool:
    try:
        stored = store.stat(store.products_bucket, plan.row["object_key"])
    except ObjectNotFound:
        return False
    return stored.sha256 == plan.sha256 and stored.size == len(plan.data)


def ensure_team(engine: Engine, team: str, description: str) -> None:
    """Register ``team`` (the owner recorded for products it delivers) when the auth tables
    exist; nothing if it is registered already."""
    with engine.begin() as conn:
        if conn.execute(text("SELECT to_regclass('isla_ops.ingest_teams')")).scalar():
            conn.execute(
                text(
                    "INSERT INTO isla_ops.ingest_teams (name, description) VALUES (:t, :d) "
                    "ON CONFLICT DO NOTHING"
                ),
                {"t": team, "d": description},
            )


def pipeline_delivery(engine: Engine, store: ObjectStore, team: str, description: str) -> Deliver:
    """The delivery function of a pipeline run beside the archive (the demo's) as ``team``.

    Registers ``team``, then each call is :func:`ingest_delivery` of the files as that team;
    a refusal raises ``RuntimeError`` listing the problems (such a pipeline's files must
    pass: a refusal is a bug of the pipeline).
    """
    ensure_team(engine, team, description)
    caller = Caller(team=team)

    def deliver(files: Sequence[tuple[str, bytes]], options: DeliveryOptions) -> IngestResult:
        params = DeliveryParams(
            kind=options.kind,
            scope=options.scope,
            arf=options.arf,
            rmf=options.rmf,
            points=options.points,
        )
        try:
            return ingest_delivery(engine, store, files, params, caller, PIPELINE_UPLOAD_LIMIT)
        except IngestRefused as exc:
            problems = "; ".join(f"{p.file}: {p.message}" for p in exc.problems)
            raise RuntimeError(f"delivery of {team} refused ({exc.title}): {problems}") from exc

    return deliver
