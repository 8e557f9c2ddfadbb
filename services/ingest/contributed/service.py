"""Contributed collections: delivery, review and publication (the policy).

A team delivers a **collection version**: product files, one documentation file and
optionally the software that made them (an archive, with its licence), with metadata (title,
authors, description, licence as an SPDX identifier, the instrument whose data it comes from).
Every file is format-checked first (:mod:`.formats`); a delivery with any problem is refused
as a whole with every problem listed, and nothing is written.

Writing is journaled (``isla_ops.contributed_staging``): the objects the delivery will put are
recorded and committed first; the objects are put under a key unique to the delivery
(``contributed/<collection>/<delivery id>/<file>``, never overwriting anything); then one
transaction takes the collection's lock, numbers the version, writes the delivery and its
files and deletes the journal entries. A crash before that commit leaves only journaled
objects, which :func:`recover` (run before every delivery) deletes; after it, nothing is left
over. So a delivery is in the archive whole, or not at all.

A new delivery of a collection is a new version (1, 2, ...); only the collection's owner (the
team of its first delivery) or an operator may deliver one. Versions are reviewed by operators
along :data:`EDGES` (``submitted`` → ``accepted`` → ``published``; ``rejected`` from either
open state); any other move is a conflict. Publishing writes the public rows
(``isla.contributed_collections``, ``isla.contributed_files``) and one ``isla.products`` row per
product file (kind ``contributed_table`` or ``contributed_map``), through which ObsCore and
DataLink see it; earlier published versions stay published.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import difflib
import logging
import re
import struct
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, text

from services.ingest import qc
from services.ingest.contributed import formats, store
from shared.db.models import COLLECTION_NAME_PATTERN
from shared.storage import ObjectNotFound, ObjectStore

log = logging.getLogger("isla.ingest.contributed")

KEY_PREFIX = "contributed/"
"""Prefix of contributed files in the products bucket."""

EDGES: dict[str, frozenset[str]] = {
    "submitted": frozenset({"accepted", "rejected"}),
    "accepted": frozenset({"published", "rejected"}),
    "published": frozenset(),
    "rejected": frozenset(),
}
"""Allowed review moves: state → states it may go to."""

ROLE_INSTRUMENTS: dict[str, frozenset[str]] = {
    "ibis": frozenset({"ISGRI", "PICsIT"}),
    "jemx": frozenset({"JEM-X", "JEM-X1", "JEM-X2"}),
    "spi": frozenset({"SPI", "SPI-ACS"}),
    "omc": frozenset({"OMC"}),
}
"""Instruments whose collections an instrument team's role may deliver (isdc, operator: all)."""

SPDX_LICENCES = frozenset(
    {
        "AGPL-3.0-only",
        "AGPL-3.0-or-later",
        "Apache-2.0",
        "BSD-2-Clause",
        "BSD-3-Clause",
        "CC-BY-4.0",
        "CC-BY-SA-4.0",
        "CC-BY-NC-4.0",
        "CC0-1.0",
        "CECILL-2.1",
        "EUPL-1.2",
        "GPL-2.0-only",
        "GPL-2.0-or-later",
        "GPL-3.0-only",
        "GPL-3.0-or-later",
        "ISC",
        "LGPL-2.1-only",
        "LGPL-2.1-or-later",
        "LGPL-3.0-only",
        "LGPL-3.0-or-later",
        "MIT",
        "MPL-2.0",
        "ODbL-1.0",
        "PDDL-1.0",
        "Unlicense",
    }
)
"""SPDX licence identifiers accepted for products and software (open licences the archive may
redistribute); the exact SPDX spelling is required, so that the identifier resolves."""

_NAME = re.compile(COLLECTION_NAME_PATTERN)
_METADATA_FIELDS = (
    "collection",
    "title",
    "authors",
    "description",
    "licence",
    "instrument",
    "version_label",
    "software_licence",
    "software_version",
)
"""Form fields of a delivery beside its files."""


@dataclass(frozen=True)
class Actor:
    """Who acts: a team with a role (a token's principal, or the demo loader)."""

    team: str
    role: str
    token_id: int | None = None

    @property
    def is_operator(self) -> bool:
        """Operators act on every team's collections and review them."""
        return self.role == "operator"


class ContributedRefused(Exception):  # noqa: N818 - the API's refusal, not a program error
    """A refused delivery or review: HTTP status, title and every problem."""

    def __init__(
        self,
        status: int,
        title: str,
        problems: list[qc.Problem],
        nearby: list[str] | None = None,
    ) -> None:
        """Keep what the problem document says."""
        super().__init__(f"{title}: " + "; ".join(p.message for p in problems))
        self.status = status
        self.title = title
        self.problems = problems
        self.nearby = nearby


# --- metadata --------------------------------------------------------------------------------


def metadata_problems(
    fields: dict[str, str], instruments: Sequence[str], with_software: bool
) -> tuple[dict[str, Any], list[qc.Problem]]:
    """The delivery's metadata from its form fields, and what is wrong with it."""
    problems: list[qc.Problem] = []

    def bad(code: str, message: str) -> None:
        problems.append(qc.Problem("-", code, message))

    meta: dict[str, Any] = {k: (fields.get(k) or "").strip() or None for k in _METADATA_FIELDS}
    name = meta["collection"] or ""
    if not _NAME.match(name):
        bad(
            "collection",
            "collection= is required: 2-63 lower-case letters, digits and hyphens, "
            "starting with a letter or digit",
        )
    for key in ("title", "description"):
        if not meta[key]:
            bad(key, f"{key}= is required")
        elif len(meta[key]) > 20_000:
            bad(key, f"{key}= is longer than 20000 characters")
    authors = [a.strip() for a in re.split(r"[;\n]", meta["authors"] or "") if a.strip()]
    if not authors:
        bad("authors", "authors= is required (names separated by semicolons)")
    meta["authors"] = authors
    if meta["licence"] not in SPDX_LICENCES:
        bad("licence", _licence_message("licence", meta["licence"]))
    if meta["instrument"] not in instruments:
        bad("instrument", f"instrument= must be one of {', '.join(instruments)}")
    if with_software:
        if meta["software_licence"] not in SPDX_LICENCES:
            bad("software_licence", _licence_message("software_licence", meta["software_licence"]))
    elif meta["software_licence"] or meta["software_version"]:
        bad("software", "software_licence/software_version given without a software archive")
    return meta, problems


def _licence_message(field: str, value: str | None) -> str:
    if not value:
        return f"{field}= is required: an SPDX identifier, e.g. CC-BY-4.0 or MIT"
    # SPDX identifiers are matched case-insensitively by SPDX tools, suggested here likewise.
    lower = {name.lower(): name for name in SPDX_LICENCES}
    matches = difflib.get_close_matches(value.lower(), sorted(lower), n=3, cutoff=0.6)
    close = [lower[m] for m in matches]
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return f"{field}={value!r} is not an accepted SPDX identifier{hint}"


# --- delivery --------------------------------------------------------------------------------


def deliver(
    engine: Engine,
    object_store: ObjectStore,
    actor: Actor,
    fields: dict[str, str],
    products: Sequence[tuple[str, bytes]],
    documentation: Sequence[tuple[str, bytes]],
    software: Sequence[tuple[str, bytes]],
    upload_limit: int,
) -> dict[str, Any]:
    """Check and store one delivery of a collection as its next version (state
    ``submitted``); raises :class:`ContributedRefused` with every problem otherwise."""
    with engine.connect() as conn:
        known = store.instruments(conn)
    meta, problems = metadata_problems(fields, known, bool(software))
    report = formats.check_delivery(
        list(products), list(documentation), list(software), upload_limit
    )
    problems += report.problems
    if problems:
        raise ContributedRefused(422, "Quality control failed", problems)
    collection = str(meta["collection"])
    allowed = ROLE_INSTRUMENTS.get(actor.role)
    if (
        not actor.is_operator
        and actor.role != "isdc"
        and (allowed is None or meta["instrument"] not in allowed)
    ):
        raise ContributedRefused(
            403,
            "Forbidden",
            [
                qc.Problem(
                    "-",
                    "role",
                    f"role {actor.role!r} may not deliver {meta['instrument']} collections",
                )
            ],
        )
    with engine.connect() as conn:
        _check_owner(store.owner(conn, collection), collection, actor)
    recover(engine, object_store)
    delivery_id = str(uuid.uuid4())
    bucket = object_store.products_bucket
    keyed = [(f, f"{KEY_PREFIX}{collection}/{delivery_id}/{f.file_name}") for f in report.files]
    with engine.connect() as lock_conn:
        # Held while the delivery runs: recovery leaves a journal entry alone while its lock
        # is taken, and takes it over once the process that wrote it has died.
        lock_conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _lock_key(delivery_id)})
        lock_conn.commit()
        try:
            with engine.begin() as conn:
                store.journal(conn, delivery_id, bucket, [key for _, key in keyed])
            try:
                for f, key in keyed:
                    object_store.put_bytes(bucket, key, f.data, content_type=f.content_type)
                version = _commit(
                    engine, delivery_id, collection, actor, meta, report, bucket, keyed
                )
            except Exception:
                _undo(engine, object_store, delivery_id, [(bucket, k) for _, k in keyed])
                raise
        finally:
            lock_conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _lock_key(delivery_id)})
            lock_conn.commit()
    return {
        "collection": collection,
        "version": version,
        "delivery_id": delivery_id,
        "state": "submitted",
        "team": actor.team,
        "simulated": report.simulated,
        "files": [f.summary() for f in report.files],
        "warnings": [w.as_dict() for w in report.warnings],
    }


def _check_owner(owner: str | None, collection: str, actor: Actor) -> None:
    if owner is not None and owner != actor.team and not actor.is_operator:
        raise ContributedRefused(
            403,
            "Forbidden",
            [
                qc.Problem(
                    "-",
                    "owner",
                    f"collection {collection!r} belongs to team {owner!r}: only it or an "
                    "operator may deliver new versions",
                )
            ],
        )


def _commit(
    engine: Engine,
    delivery_id: str,
    collection: str,
    actor: Actor,
    meta: dict[str, Any],
    report: formats.FormatReport,
    bucket: str,
    keyed: list[tuple[formats.CheckedFile, str]],
) -> int:
    """The one transaction that makes a delivery exist (and forgets its journal)."""
    with engine.begin() as conn:
        store.lock_collection(conn, collection)
        # Checked again under the lock: another team may have created it meanwhile.
        _check_owner(store.owner(conn, collection), collection, actor)
        version = store.next_version(conn, collection)
        entry = _history_entry("submitted", actor, None)
        summary = {
            "files": [f.summary() for f in report.files],
            "warnings": [w.as_dict() for w in report.warnings],
        }
        store.insert_delivery(
            conn,
            delivery_id,
            collection,
            version,
            actor.team,
            actor.token_id,
            meta,
            summary,
            report.simulated,
            [entry],
        )
        store.insert_files(conn, delivery_id, bucket, keyed)
        store.clear_journal(conn, delivery_id)
    return version


def _history_entry(state: str, actor: Actor, note: str | None) -> dict[str, Any]:
    return {
        "state": state,
        "at": dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(timespec="seconds"),
        "team": actor.team,
        "role": actor.role,
        "note": note,
    }


def _lock_key(delivery_id: str) -> int:
    # A signed 64-bit key from the second half of the UUID (product deliveries use the first
    # half of theirs): the advisory-lock space of contributed deliveries.
    return struct.unpack(">q", uuid.UUID(delivery_id).bytes[8:])[0]


def _undo(
    engine: Engine, object_store: ObjectStore, delivery_id: str, objects: list[tuple[str, str]]
) -> None:
    """Remove what a failed delivery put, then its journal entries (best effort: what is left
    stays journaled for :func:`recover`)."""
    try:
        for bucket, key in objects:
            with contextlib.suppress(ObjectNotFound):
                object_store.delete(bucket, key)
        with engine.begin() as conn:
            store.clear_journal(conn, delivery_id)
    except Exception:
        log.exception("contributed delivery %s: leftovers stay journaled", delivery_id)


def recover(engine: Engine, object_store: ObjectStore) -> dict[str, Any]:
    """Delete the objects of every journaled delivery whose process died before its commit."""
    removed: list[str] = []
    busy: list[str] = []
    with engine.connect() as conn:
        pending = store.journaled(conn)
    for delivery_id, objects in pending.items():
        with engine.connect() as lock_conn:
            got = lock_conn.execute(
                text("SELECT pg_try_advisory_lock(:k)"), {"k": _lock_key(delivery_id)}
            ).scalar()
            lock_conn.commit()
            if not got:
                busy.append(delivery_id)
                continue
            try:
                _undo(engine, object_store, delivery_id, objects)
                removed.append(delivery_id)
            finally:
                lock_conn.execute(
                    text("SELECT pg_advisory_unlock(:k)"), {"k": _lock_key(delivery_id)}
                )
                lock_conn.commit()
    return {"removed": removed, "busy": busy}


# --- review ----------------------------------------------------------------------------------


def review(
    engine: Engine,
    actor: Actor,
    collection: str,
    version: int,
    state: str,
    note: str | None = None,
) -> dict[str, Any]:
    """Move a delivery along :data:`EDGES` (operators only; publishing writes the public rows).

    403 for a non-operator, 404 (with nearby names) for an unknown collection or version,
    409 for a move the review does not allow, 422 for an unknown state.
    """
    if not actor.is_operator:
        raise ContributedRefused(
            403, "Forbidden", [qc.Problem("-", "role", "only operators review collections")]
        )
    if state not in EDGES:
        raise ContributedRefused(
            422,
            "Unprocessable",
            [qc.Problem("-", "state", f"state must be one of {', '.join(EDGES)}")],
        )
    with engine.begin() as conn:
        store.lock_collection(conn, collection)
        row = store.delivery(conn, collection, version, lock=True)
        if row is None:
            raise not_found(conn, collection, version)
        if state not in EDGES[row.state]:
            allowed = ", ".join(sorted(EDGES[row.state])) or "none (final)"
            raise ContributedRefused(
                409,
                "Conflict",
                [
                    qc.Problem(
                        "-",
                        "state",
                        f"{collection} v{version} is {row.state}: it cannot become {state} "
                        f"(allowed: {allowed})",
                    )
                ],
            )
        files = store.delivery_files(conn, row.delivery_id)
        if state == "published":
            product_ids = {
                f.file_name: product_id(collection, version, f.file_name)
                for f in files
                if f.role == "product"
            }
            kinds = {
                f.file_name: formats.PRODUCT_KINDS[
                    "map" if (f.facts or {}).get("holds") == "map" else "table"
                ]
                for f in files
                if f.role == "product"
            }
            store.publish(conn, row, files, product_ids, kinds)
        store.set_state(conn, row.delivery_id, state, _history_entry(state, actor, note))
        updated = store.delivery(conn, collection, version)
        return delivery_view(updated, files)


def product_id(collection: str, version: int, file_name: str) -> str:
    """The ``isla.products`` id of a published product file."""
    return f"contributed/{collection}/{version}/{file_name}"


def not_found(conn: Any, collection: str, version: int | None) -> ContributedRefused:
    """404 naming the collections (or versions) that exist near what was asked."""
    names = store.collection_names(conn)
    if collection in names and version is not None:
        versions = [r.version for r in store.deliveries(conn, None, collection)]
        return ContributedRefused(
            404,
            "Not found",
            [qc.Problem("-", "version", f"{collection} has no version {version}")],
            nearby=[f"{collection} v{v}" for v in sorted(versions)],
        )
    return ContributedRefused(
        404,
        "Not found",
        [qc.Problem("-", "collection", f"no collection {collection!r}")],
        nearby=nearby_names(collection, names),
    )


def nearby_names(name: str, names: Sequence[str]) -> list[str]:
    """Names like ``name``: close spellings first, then names sharing its first word."""
    close = difflib.get_close_matches(name, names, n=5, cutoff=0.5)
    head = name.split("-")[0]
    return close + [n for n in names if n.startswith(head) and n not in close][: 5 - len(close)]


# --- reading ---------------------------------------------------------------------------------


def delivery_view(row: Any, files: Sequence[Any]) -> dict[str, Any]:
    """JSON form of a delivery (the owning team's and operators' view, every state)."""
    meta = dict(row.metadata)
    return {
        "collection": row.collection,
        "version": row.version,
        "delivery_id": row.delivery_id,
        "team": row.team,
        "state": row.state,
        "allowed_next": sorted(EDGES[row.state]),
        "simulated": bool(row.simulated),
        "submitted_at": row.submitted_at.isoformat(),
        "changed_at": row.changed_at.isoformat(),
        **{k: meta.get(k) for k in _METADATA_FIELDS if k != "collection"},
        "files": [
            {
                "file_name": f.file_name,
                "role": f.role,
                "format": f.format,
                "content_type": f.content_type,
                "size": int(f.size),
                "sha256": f.sha256,
                "simulated": bool(f.simulated),
                "facts": f.facts,
            }
            for f in files
        ],
        "warnings": (row.report or {}).get("warnings", []),
        "history": row.history,
    }


def list_deliveries(engine: Engine, actor: Actor, collection: str | None) -> list[dict[str, Any]]:
    """Deliveries the caller may see (its team's; operators: all), newest version first."""
    with engine.connect() as conn:
        rows = store.deliveries(conn, None if actor.is_operator else actor.team, collection)
        if collection is not None and not rows:
            if collection in store.collection_names(conn):
                raise ContributedRefused(
                    403,
                    "Forbidden",
                    [qc.Problem("-", "owner", f"{collection} belongs to another team")],
                )
            raise not_found(conn, collection, None)
        return [delivery_view(r, store.delivery_files(conn, r.delivery_id)) for r in rows]


def get_delivery(engine: Engine, actor: Actor, collection: str, version: int) -> dict[str, Any]:
    """One delivery (its team and operators)."""
    with engine.connect() as conn:
        row = store.delivery(conn, collection, version)
        if row is None:
            raise not_found(conn, collection, version)
        if not (actor.is_operator or actor.team == row.team):
            raise ContributedRefused(
                403,
                "Forbidden",
                [qc.Problem("-", "owner", f"{collection} belongs to team {row.team!r}")],
            )
        return delivery_view(row, store.delivery_files(conn, row.delivery_id))
