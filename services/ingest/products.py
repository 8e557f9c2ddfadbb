"""Product ingestion: QC, then object + row written so that a crash never leaves half of it.

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

import hashlib
import json
import logging
import math
import struct
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from minio.commonconfig import CopySource
from sqlalchemy import Connection, Engine, text

from services.ingest import qc
from shared.db.models import LIGHTCURVE_COLUMNS
from shared.integral.ids import InvalidIdentifier, normalise_source_name, parse_epoch
from shared.storage import ObjectNotFound, ObjectStore

log = logging.getLogger("isla.ingest.products")

STAGING_PREFIX = "staging/"
"""Prefix of staged objects in the products bucket."""

SOURCE_MATCH_DEG = 0.25
"""Largest distance between a file's RA_OBJ/DEC_OBJ and the archive source it names."""

CONTENT_TYPES = {".gz": "application/gzip"}

_KIND_SCOPE = {
    "long_timeseries": "mission",
    "omc_lightcurve": "mission",
    "allsky_map": "mission",
}
_EPOCH_KINDS = frozenset({"spectrum", "arf", "rmf", "short_timeseries", "mosaic", "omc_image"})
_POINT_KINDS = frozenset({"long_timeseries", "short_timeseries"})
_POINT_INSTRUMENTS = frozenset({"ISGRI", "JEM-X"})
_SOURCE_IF_NAMED = frozenset({"omc_image"})
"""Kinds that belong to a source when the file names one (OMC postage stamps)."""
SUB_SCW_BIN_S = 600.0
"""Light curves with bins shorter than this cut science windows into pieces (sub-ScW light
curves): they are stored as products, but are not per-ScW points and load none."""
_POINT_COLUMNS = LIGHTCURVE_COLUMNS


class IngestRefused(Exception):  # noqa: N818 - a refusal, not a crash; carries its HTTP status
    """The delivery is refused; nothing was written."""

    def __init__(self, status: int, title: str, problems: Sequence[qc.Problem]) -> None:
        super().__init__(title)
        self.status = status
        self.title = title
        self.problems = list(problems)


@dataclass(frozen=True)
class DeliveryParams:
    """Metadata sent with a delivery (all optional: most come from the FITS headers)."""

    kind: str | None = None
    source_id: str | None = None
    epoch: str | None = None
    band: str | None = None
    scope: str | None = None
    arf: str | None = None
    rmf: str | None = None
    replace: bool = False


@dataclass(frozen=True)
class Caller:
    """Who delivers: team (recorded as the products' owner) and whether an operator."""

    team: str
    is_operator: bool = False
    instruments: frozenset[str] | None = None  # None: every instrument (isdc, operator)


@dataclass
class PlannedFile:
    """One file of an accepted delivery, ready to be written."""

    facts: qc.FileFacts
    data: bytes
    sha256: str
    row: dict[str, Any]
    status: str = "created"  # created | replaced | restored | unchanged
    load_points: bool = False

    @property
    def product_id(self) -> str:
        """The product this file becomes."""
        return str(self.row["product_id"])


@dataclass
class IngestResult:
    """What a delivery did: one entry per file, and QC's warnings."""

    ingestion: str
    products: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, str]] = field(default_factory=list)
    points: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON form (the API's answer)."""
        return {
            "ingestion": self.ingestion,
            "products": self.products,
            "warnings": self.warnings,
            "points": self.points,
        }


# --- Resolution against the archive ----------------------------------------------------------


def product_id(
    kind: str,
    instrument: str,
    scope: str,
    subject: str,
    *extra: str | None,
) -> str:
    """The stable product id ``kind/instrument/scope/subject[/extra...]``.

    ``scope`` is an epoch ``RRRR_OOOOOOOOOOO`` or ``mission``; ``subject`` a source id (band
    name for mosaics and maps); ``extra`` parts tell apart the files of one product set (the
    JEM-X unit, a non-default band, a mosaic variant).
    """
    return "/".join([kind, instrument, scope, subject, *(e for e in extra if e)])


def _bands(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(
        text("SELECT band_id, instrument, name, e_min, e_max, isla_default FROM isla.energy_bands")
    ).mappings()
    return [dict(r) for r in rows]


def _match_band(
    bands: list[dict[str, Any]], instrument: str, facts: qc.FileFacts, name: str | None
) -> dict[str, Any] | None:
    own = [b for b in bands if b["instrument"] == instrument]
    if name is not None:
        return next((b for b in own if b["name"] == name), None)
    if facts.e_min is None or facts.e_max is None:
        return next((b for b in own if b["isla_default"]), None)
    for band in own:
        tol_lo = max(0.5, 0.05 * band["e_min"])
        tol_hi = max(0.5, 0.05 * band["e_max"])
        if (
            abs(band["e_min"] - facts.e_min) <= tol_lo
            and abs(band["e_max"] - facts.e_max) <= tol_hi
        ):
            return band
    return None


def _resolve_source(
    conn: Connection, facts: qc.FileFacts, given: str | None
) -> tuple[str | None, str | None]:
    """(source_id, problem) from the parameter, the name in the file or its position."""
    if given is not None:
        found = conn.execute(
            text("SELECT source_id FROM isla.sources WHERE source_id = :s"), {"s": given}
        ).scalar()
        return (given, None) if found else (None, f"unknown source_id {given!r}")
    if facts.source_name:
        norm = normalise_source_name(facts.source_name)
        found = conn.execute(
            text(
                "SELECT source_id FROM isla.source_aliases WHERE alias_norm = :n "
                "UNION SELECT source_id FROM isla.sources "
                "WHERE lower(replace(replace(replace(name, ' ', ''), '_', ''), '-', '')) = :n "
                "LIMIT 2"
            ),
            {"n": norm},
        ).scalars()
        ids = sorted(set(found))
        if len(ids) == 1:
            source = ids[0]
            if facts.ra is not None and facts.dec is not None:
                distance = conn.execute(
                    text(
                        "SELECT degrees(pos <-> spoint(radians(:ra), radians(:dec))) "
                        "FROM isla.sources WHERE source_id = :s"
                    ),
                    {"ra": facts.ra, "dec": facts.dec, "s": source},
                ).scalar()
                if distance is not None and distance > SOURCE_MATCH_DEG:
                    return None, (
                        f"{facts.source_name!r} is {distance:.2f} deg from the file's "
                        f"RA_OBJ/DEC_OBJ (more than {SOURCE_MATCH_DEG} deg)"
                    )
            return source, None
    if facts.ra is not None and facts.dec is not None:
        source = conn.execute(
            text(
                "SELECT source_id FROM isla.sources "
                "WHERE pos <@ scircle(spoint(radians(:ra), radians(:dec)), radians(:r)) "
                "ORDER BY pos <-> spoint(radians(:ra), radians(:dec)) LIMIT 1"
            ),
            {"ra": facts.ra, "dec": facts.dec, "r": SOURCE_MATCH_DEG},
        ).scalar()
        if source:
            return str(source), None
    return None, (
        f"no archive source matches {facts.source_name!r} at RA_OBJ/DEC_OBJ: give source_id"
    )


def _content_type(name: str) -> str:
    return "application/gzip" if name.lower().endswith(".gz") else "application/fits"


def _plan(
    conn: Connection,
    report: qc.QcReport,
    files: Sequence[tuple[str, bytes]],
    params: DeliveryParams,
    caller: Caller,
    bucket: str,
) -> tuple[list[PlannedFile], list[qc.Problem]]:
    """Product ids and rows for every file, with the problems found on the way."""
    problems: list[qc.Problem] = []
    bands = _bands(conn)
    data = dict(files)
    planned: list[PlannedFile] = []
    spectrum_sources: dict[str | None, str] = {}
    ordered = sorted(report.files, key=lambda f: f.kind != "spectrum")  # spectra first
    epoch_param = None
    if params.epoch is not None:
        try:
            epoch_param = str(parse_epoch(params.epoch))
        except InvalidIdentifier as exc:
            problems.append(qc.Problem("-", "epoch", str(exc)))
    for facts in ordered:
        name = facts.file_name
        kind = facts.kind
        if kind is None or facts.instrument is None:
            continue
        epoch = facts.epoch
        if epoch_param is not None:
            if epoch is not None and epoch != epoch_param:
                problems.append(
                    qc.Problem(name, "epoch", f"file is of epoch {epoch}, not {epoch_param}")
                )
            epoch = epoch_param
        if (
            kind in _EPOCH_KINDS
            and epoch is None
            and params.scope not in ("mission", "time_resolved")
        ):
            problems.append(
                qc.Problem(name, "epoch", "no epoch (REVOL + OBS_ID, file name or epoch=...)")
            )
            continue
        band = None
        if kind != "omc_lightcurve" and kind != "omc_image":
            band = _match_band(bands, facts.instrument, facts, params.band)
            if band is None:
                problems.append(
                    qc.Problem(
                        name,
                        "band",
                        f"no {facts.instrument} band matches "
                        f"{params.band or f'{facts.e_min}-{facts.e_max} keV'}",
                    )
                )
                continue
        source_id: str | None = None
        if kind in qc.SOURCE_KINDS:
            source_id, why = _resolve_source(conn, facts, params.source_id)
            if why:
                problems.append(qc.Problem(name, "source", why))
                continue
            if kind == "spectrum" and source_id is not None:
                spectrum_sources[epoch] = source_id
        elif kind in _SOURCE_IF_NAMED and (facts.source_name or facts.ra is not None):
            source_id, why = _resolve_source(conn, facts, params.source_id)
            if why:
                problems.append(qc.Problem(name, "source", why))
                continue
        elif kind in ("arf", "rmf"):
            source_id = params.source_id or spectrum_sources.get(epoch)
            if source_id is None:
                problems.append(
                    qc.Problem(name, "source", "a response needs its spectrum or source_id")
                )
                continue
        scope = "mission" if params.scope == "mission" or kind in _KIND_SCOPE else epoch
        scope = scope or "mission"
        interval = None
        if params.scope == "time_resolved" and kind == "spectrum":
            # Spectra of one source over consecutive intervals: the interval number (1-based,
            # keyword INTERVAL) is their scope, so that each is a product of its own.
            number = qc._number(facts.keywords.get("INTERVAL"))
            if number is None or number < 1 or number != int(number):
                problems.append(
                    qc.Problem(name, "interval", "a time-resolved spectrum needs INTERVAL >= 1")
                )
                continue
            interval = int(number)
            scope = f"interval{interval:02d}"
        default_band = band is not None and band["isla_default"]
        subject = source_id if source_id is not None else (band["name"] if band else "all")
        extra_band = (
            None if default_band or band is None or subject == band["name"] else band["name"]
        )
        pid = product_id(
            kind, facts.instrument, scope, subject, facts.unit, extra_band, facts.variant
        )
        meta = facts.meta()
        meta["team"] = caller.team
        meta["qc_warnings"] = sorted({w.code for w in report.warnings if w.file == name})
        if kind == "spectrum":
            meta["scope"] = params.scope or ("epoch" if epoch else "mission")
            for key, word in (("exposure", "EXPOSURE"), ("snr", "SNR")):
                value = qc._number(facts.keywords.get(word))
                if value is not None:
                    meta[key] = value
            if interval is not None:
                meta["interval"] = interval
        nscw = qc._number(facts.keywords.get("NSCW"))
        if nscw is not None:
            meta["nscw"] = int(nscw)
        if kind in _POINT_KINDS and facts.timedel_s is not None:
            meta["bin_s"] = round(facts.timedel_s, 3)
        revolution = facts.revolution
        obsid = facts.obsid
        if epoch is not None:
            revolution, obsid = int(epoch[:4]), epoch[5:]
        row = {
            "product_id": pid,
            "kind": kind,
            "instrument": facts.instrument,
            "band_id": band["band_id"] if band else None,
            "source_id": source_id,
            "epoch": epoch if kind in _EPOCH_KINDS else None,
            "revolution": revolution,
            "obsid": obsid,
            "t_min": facts.t_min_mjd,
            "t_max": facts.t_max_mjd,
            "bucket": bucket,
            "object_key": f"products/{pid}/{name}",
            "file_name": name,
            "size": len(data[name]),
            "sha256": "",
            "content_type": _content_type(name),
            "meta": meta,
            "simulated": facts.simulated,
        }
        planned.append(
            PlannedFile(
                facts=facts,
                data=data[name],
                sha256="",
                row=row,
                load_points=kind in _POINT_KINDS
                and facts.instrument in _POINT_INSTRUMENTS
                and not (facts.timedel_s is not None and facts.timedel_s < SUB_SCW_BIN_S),
            )
        )
    ids = [p.product_id for p in planned]
    for dup in sorted({i for i in ids if ids.count(i) > 1}):
        problems.append(qc.Problem(dup, "duplicate", "two files of the delivery are one product"))
    # A spectrum points to its responses by product id (the contract's meta arf/rmf).
    for plan in planned:
        if plan.row["kind"] != "spectrum":
            continue
        for part in ("arf", "rmf"):
            given = getattr(params, part)
            sibling = next(
                (
                    p.product_id
                    for p in planned
                    if p.row["kind"] == part
                    and p.row["epoch"] == plan.row["epoch"]
                    and p.row["source_id"] == plan.row["source_id"]
                ),
                None,
            )
            if sibling or given:
                plan.row["meta"][part] = sibling or given
    return planned, problems


def _existing_responses(conn: Connection, params: DeliveryParams) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for part in ("arf", "rmf"):
        pid = getattr(params, part)
        if pid is None:
            continue
        row = conn.execute(
            text("SELECT kind, meta FROM isla.products WHERE product_id = :p"), {"p": pid}
        ).first()
        if row is None or row.kind != part:
            raise IngestRefused(
                422,
                "Quality control failed",
                [qc.Problem("-", "response", f"no {part} product {pid!r} in the archive")],
            )
        out[part] = dict(row.meta or {})
    return out


# --- The delivery ----------------------------------------------------------------------------


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
    if params.scope is not None and params.scope not in ("epoch", "mission", "time_resolved"):
        raise IngestRefused(
            422,
            "Quality control failed",
            [qc.Problem("-", "scope", "scope must be epoch, mission or time_resolved")],
        )
    recover_pending(engine, store)
    with engine.connect() as conn:
        existing = _existing_responses(conn, params)
    report = qc.check_delivery(files, upload_limit, params.kind, existing)
    if not report.ok:
        raise IngestRefused(422, "Quality control failed", report.problems)
    with engine.connect() as conn:
        planned, problems = _plan(conn, report, files, params, caller, store.products_bucket)
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
        for plan in planned:
            plan.sha256 = hashlib.sha256(plan.data).hexdigest()
            plan.row["sha256"] = plan.sha256
            old = conn.execute(
                text("SELECT sha256, meta FROM isla.products WHERE product_id = :p"),
                {"p": plan.product_id},
            ).first()
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
        result.points = _write(engine, store, result.ingestion, to_write)
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


def _intact(store: ObjectStore, plan: PlannedFile) -> bool:
    try:
        stored = store.stat(store.products_bucket, plan.row["object_key"])
    except ObjectNotFound:
        return False
    return stored.sha256 == plan.sha256 and stored.size == len(plan.data)


def _lock_key(ingestion: str) -> int:
    # A signed 64-bit key from the UUID: the advisory-lock space of product deliveries.
    return struct.unpack(">q", uuid.UUID(ingestion).bytes[:8])[0]


def _write(
    engine: Engine,
    store: ObjectStore,
    ingestion: str,
    planned: list[PlannedFile],
) -> int:
    bucket = store.products_bucket
    with engine.connect() as lock_conn:
        lock_conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _lock_key(ingestion)})
        lock_conn.commit()
        try:
            with engine.begin() as conn:
                for plan in planned:
                    conn.execute(
                        text(
                            "INSERT INTO isla_ops.product_staging (ingestion, product_id, "
                            "staging_key, final_key, sha256, row, load_points, state) VALUES "
                            "(:i, :p, :s, :f, :h, CAST(:r AS jsonb), :lp, 'staging')"
                        ),
                        {
                            "i": ingestion,
                            "p": plan.product_id,
                            "s": f"{STAGING_PREFIX}{ingestion}/{plan.row['file_name']}",
                            "f": plan.row["object_key"],
                            "h": plan.sha256,
                            "r": json.dumps(plan.row),
                            "lp": plan.load_points,
                        },
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
            lock_conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _lock_key(ingestion)})
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
        superseded: list[str] = []
        for entry in entries:
            row = dict(entry.row)
            previous = conn.execute(
                text("SELECT object_key FROM isla.products WHERE product_id = :p FOR UPDATE"),
                {"p": entry.product_id},
            ).scalar()
            if previous is not None and previous != entry.final_key:
                superseded.append(str(previous))
            _upsert_product(conn, row)
            if entry.load_points:
                plan = (planned or {}).get(entry.product_id)
                facts = plan.facts if plan is not None else _refacts(store, entry, row)
                points += load_points(conn, facts, row)
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
        keys = conn.execute(
            text("SELECT staging_key FROM isla_ops.product_staging WHERE ingestion = :i"),
            {"i": ingestion},
        ).scalars()
        for key in list(keys):
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


def _upsert_product(conn: Connection, row: dict[str, Any]) -> None:
    # Journal rows written before the flag existed carry no "simulated": such files were real.
    params = {**row, "meta": json.dumps(row["meta"]), "simulated": bool(row.get("simulated"))}
    conn.execute(_UPSERT, params)


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
                text("SELECT pg_try_advisory_lock(:k)"), {"k": _lock_key(ingestion)}
            ).scalar()
            lock_conn.commit()
            if not got:
                report.busy.append(ingestion)
                continue
            try:
                _recover_one(engine, store, ingestion, report)
            finally:
                lock_conn.execute(
                    text("SELECT pg_advisory_unlock(:k)"), {"k": _lock_key(ingestion)}
                )
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


# --- Light-curve points ----------------------------------------------------------------------


def _points_table_exists(conn: Connection) -> bool:
    return bool(conn.execute(text("SELECT to_regclass('isla.lightcurve_points')")).scalar())


def load_points(conn: Connection, facts: qc.FileFacts, row: dict[str, Any]) -> int:
    """Replace the native light-curve points of the file's source, band and ScWs.

    Each point goes to the pointing ScW whose time span contains it (points outside every
    registered ScW are not loaded; several points in one ScW keep the first). Rows are sent
    with one binary ``COPY`` built with numpy. Returns the number of points loaded.
    """
    if facts.time_ijd is None or facts.rate is None or facts.rate_err is None:
        return 0
    if row.get("source_id") is None or row.get("band_id") is None:
        return 0
    if not _points_table_exists(conn):
        return 0
    times = np.asarray(facts.time_ijd, dtype=np.float64)
    scws = conn.execute(
        text(
            "SELECT scw_id, revolution, start_ijd, end_ijd, ra, dec FROM isla.science_windows "
            "WHERE end_ijd >= :t0 AND start_ijd <= :t1 AND scw_type = 'pointing' "
            "ORDER BY start_ijd"
        ),
        {"t0": float(times.min()), "t1": float(times.max())},
    ).all()
    if not scws:
        return 0
    starts = np.array([s.start_ijd for s in scws])
    ends = np.array([s.end_ijd for s in scws])
    index = np.searchsorted(starts, times, side="right") - 1
    inside = (index >= 0) & (times <= ends[np.clip(index, 0, None)])
    chosen = np.flatnonzero(inside)
    chosen = chosen[np.unique(index[chosen], return_index=True)[1]]
    if len(chosen) == 0:
        return 0
    which = index[chosen]
    scw_ids = np.array([s.scw_id for s in scws])[which]
    duration = (ends - starts)[which] * 86400.0
    fracexp = facts.fracexp[chosen] if facts.fracexp is not None else 1.0
    ra_s = np.radians(np.array([s.ra for s in scws])[which])
    dec_s = np.radians(np.array([s.dec for s in scws])[which])
    ra0 = math.radians(float(row["meta"].get("ra", facts.ra or 0.0)))
    dec0 = math.radians(float(row["meta"].get("dec", facts.dec or 0.0)))
    cos_d = np.sin(dec_s) * math.sin(dec0) + np.cos(dec_s) * math.cos(dec0) * np.cos(ra_s - ra0)
    rate = facts.rate[chosen]
    err = facts.rate_err[chosen]
    significance = rate / err
    columns = {
        "scw_id": scw_ids,
        "revolution": np.array([s.revolution for s in scws])[which],
        "time_ijd": times[chosen],
        "duration": duration,
        "exposure": duration * fracexp,
        "rate": rate,
        "rate_err": err,
        "offaxis": np.degrees(np.arccos(np.clip(cos_d, -1.0, 1.0))),
        "significance": significance,
        "upper_limit": significance < 3.0,
        "rate_ul": np.maximum(rate, 0.0) + 3.0 * err,
    }
    conn.execute(
        text(
            "DELETE FROM isla.lightcurve_points WHERE source_id = :s AND band_id = :b "
            "AND scw_id = ANY(:ids)"
        ),
        {"s": row["source_id"], "b": row["band_id"], "ids": list(map(str, scw_ids))},
    )
    copy_points(conn, str(row["source_id"]), int(row["band_id"]), str(row["instrument"]), columns)
    return len(chosen)


_PG_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)


def _binary_rows(
    source_id: str,
    band_id: int,
    instrument: str,
    columns: dict[str, npt.NDArray[Any]],
    with_ul: bool,
) -> bytes:
    """Rows in Postgres binary COPY format, built as one numpy record array.

    Every row of one call has the same layout (fixed-width text columns: the source id,
    instrument and ScW ids of a file all have one length), so a record array holds them all
    and ``tobytes`` is the whole COPY body: no Python loop per row.
    """
    n = len(columns["rate"])
    src, ins = source_id.encode(), instrument.encode()
    scw_len = len(columns["scw_id"][0]) if n else 12
    fields: list[tuple[str, str]] = [("nfields", ">i2")]
    values: dict[str, Any] = {"nfields": len(_POINT_COLUMNS)}

    def add(name: str, dtype: str, size: int, value: Any) -> None:
        fields.append((f"{name}_len", ">i4"))
        values[f"{name}_len"] = size
        if dtype:
            fields.append((name, dtype))
            values[name] = value

    add("source_id", f"S{len(src)}", len(src), src)
    add("band_id", ">i2", 2, band_id)
    add("scw_id", f"S{scw_len}", scw_len, np.char.encode(columns["scw_id"].astype(str)))
    add("instrument", f"S{len(ins)}", len(ins), ins)
    add("revolution", ">i4", 4, columns["revolution"])
    for name in ("time_ijd", "duration", "exposure", "rate", "rate_err", "offaxis"):
        add(name, ">f8", 8, columns[name])
    add("significance", ">f8", 8, columns["significance"])
    add("upper_limit", "u1", 1, columns["upper_limit"].astype(np.uint8))
    if with_ul:
        add("rate_ul", ">f8", 8, columns["rate_ul"])
    else:
        add("rate_ul", "", -1, None)
    records = np.empty(n, dtype=np.dtype(fields))
    for name, value in values.items():
        records[name] = value
    return records.tobytes()


def copy_points(
    conn: Connection,
    source_id: str,
    band_id: int,
    instrument: str,
    columns: dict[str, npt.NDArray[Any]],
) -> None:
    """Binary ``COPY`` of light-curve points of one source and band into the points table."""
    ul = np.asarray(columns["upper_limit"], dtype=bool)
    body = [_PG_HEADER]
    for mask, with_ul in ((ul, True), (~ul, False)):
        if mask.any():
            part = {k: np.asarray(v)[mask] for k, v in columns.items()}
            body.append(_binary_rows(source_id, band_id, instrument, part, with_ul))
    body.append(struct.pack(">h", -1))
    raw = conn.connection.driver_connection
    assert raw is not None
    with (
        raw.cursor() as cursor,
        cursor.copy(
            f"COPY isla.lightcurve_points ({', '.join(_POINT_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
        ) as copy,
    ):
        copy.write(b"".join(body))


# --- The real ISLA files ---------------------------------------------------------------------

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


# --- Counting (tests and operators) ----------------------------------------------------------


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
