"""SQL of contributed deliveries: the private review tables (``isla_ops.contributed_*``), the
journal of deliveries in flight, and the published rows (``isla.contributed_*``,
``isla.products``) written when an operator publishes a version."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, text

from services.ingest.contributed.formats import CheckedFile


def instruments(conn: Connection) -> list[str]:
    """The archive's instrument names (a collection names one)."""
    return list(conn.execute(text("SELECT name FROM isla.instruments ORDER BY name")).scalars())


def owner(conn: Connection, collection: str) -> str | None:
    """The team that owns ``collection`` (its first delivery's), or None for a new one."""
    return conn.execute(
        text(
            "SELECT team FROM isla_ops.contributed_deliveries WHERE collection = :c "
            "ORDER BY version LIMIT 1"
        ),
        {"c": collection},
    ).scalar()


def lock_collection(conn: Connection, collection: str) -> None:
    """Serialise deliveries and reviews of one collection (until the transaction ends)."""
    conn.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended('contributed:' || :c, 0))"),
        {"c": collection},
    )


def next_version(conn: Connection, collection: str) -> int:
    """The version a new delivery of ``collection`` gets (under the collection's lock)."""
    latest = conn.execute(
        text("SELECT max(version) FROM isla_ops.contributed_deliveries WHERE collection = :c"),
        {"c": collection},
    ).scalar()
    return int(latest or 0) + 1


def journal(conn: Connection, ingestion: str, bucket: str, keys: Sequence[str]) -> None:
    """Record the objects a delivery is about to put (committed before the first put)."""
    conn.execute(
        text(
            "INSERT INTO isla_ops.contributed_staging (ingestion, bucket, object_key) "
            "VALUES (:i, :b, :k)"
        ),
        [{"i": ingestion, "b": bucket, "k": key} for key in keys],
    )


def clear_journal(conn: Connection, ingestion: str) -> None:
    """Forget a delivery's journal entries (in the transaction that commits or undoes it)."""
    conn.execute(
        text("DELETE FROM isla_ops.contributed_staging WHERE ingestion = :i"), {"i": ingestion}
    )


def journaled(conn: Connection) -> dict[str, list[tuple[str, str]]]:
    """Objects of every delivery in the journal: ingestion → [(bucket, key)]."""
    out: dict[str, list[tuple[str, str]]] = {}
    for row in conn.execute(
        text("SELECT ingestion, bucket, object_key FROM isla_ops.contributed_staging")
    ):
        out.setdefault(str(row.ingestion), []).append((str(row.bucket), str(row.object_key)))
    return out


def insert_delivery(
    conn: Connection,
    delivery_id: str,
    collection: str,
    version: int,
    team: str,
    token_id: int | None,
    meta: dict[str, Any],
    report: dict[str, Any],
    simulated: bool,
    history: list[dict[str, Any]],
) -> None:
    """The delivery's row, state ``submitted``."""
    conn.execute(
        text(
            "INSERT INTO isla_ops.contributed_deliveries (delivery_id, collection, version, "
            "team, token_id, state, metadata, report, history, simulated) VALUES (:d, :c, :v, "
            ":t, :tok, 'submitted', CAST(:m AS jsonb), CAST(:r AS jsonb), CAST(:h AS jsonb), :s)"
        ),
        {
            "d": delivery_id,
            "c": collection,
            "v": version,
            "t": team,
            "tok": token_id,
            "m": json.dumps(meta),
            "r": json.dumps(report),
            "h": json.dumps(history),
            "s": simulated,
        },
    )


def insert_files(
    conn: Connection,
    delivery_id: str,
    bucket: str,
    files: Sequence[tuple[CheckedFile, str]],
) -> None:
    """The delivery's files with their object keys."""
    conn.execute(
        text(
            "INSERT INTO isla_ops.contributed_delivery_files (delivery, file_name, role, format, "
            "content_type, size, sha256, bucket, object_key, facts, simulated) VALUES (:d, :n, "
            ":role, :fmt, :ct, :size, :sha, :b, :k, CAST(:facts AS jsonb), :sim)"
        ),
        [
            {
                "d": delivery_id,
                "n": f.file_name,
                "role": f.role,
                "fmt": f.format,
                "ct": f.content_type,
                "size": f.size,
                "sha": f.sha256,
                "b": bucket,
                "k": key,
                "facts": json.dumps(f.facts),
                "sim": f.simulated,
            }
            for f, key in files
        ],
    )


_DELIVERY = (
    "SELECT delivery_id, collection, version, team, state, metadata, report, history, "
    "simulated, submitted_at, changed_at FROM isla_ops.contributed_deliveries"
)


def delivery(conn: Connection, collection: str, version: int, lock: bool = False) -> Any:
    """One delivery, or None (``lock``: FOR UPDATE)."""
    sql = f"{_DELIVERY} WHERE collection = :c AND version = :v"
    return conn.execute(
        text(sql + (" FOR UPDATE" if lock else "")), {"c": collection, "v": version}
    ).first()


def deliveries(conn: Connection, team: str | None, collection: str | None = None) -> list[Any]:
    """Deliveries, newest first: of one team (None: every team), optionally one collection."""
    return list(
        conn.execute(
            text(
                f"{_DELIVERY} WHERE (CAST(:t AS text) IS NULL OR team = :t) "
                "AND (CAST(:c AS text) IS NULL OR collection = :c) "
                "ORDER BY collection, version DESC"
            ),
            {"t": team, "c": collection},
        ).all()
    )


def delivery_files(conn: Connection, delivery_id: str) -> list[Any]:
    """A delivery's files, products first."""
    return list(
        conn.execute(
            text(
                "SELECT file_name, role, format, content_type, size, sha256, bucket, object_key, "
                "facts, simulated FROM isla_ops.contributed_delivery_files WHERE delivery = :d "
                "ORDER BY CASE role WHEN 'product' THEN 0 WHEN 'documentation' THEN 1 ELSE 2 "
                "END, file_name"
            ),
            {"d": delivery_id},
        ).all()
    )


def collection_names(conn: Connection) -> list[str]:
    """Every collection that has a delivery."""
    return list(
        conn.execute(
            text("SELECT DISTINCT collection FROM isla_ops.contributed_deliveries ORDER BY 1")
        ).scalars()
    )


def set_state(conn: Connection, delivery_id: str, state: str, entry: dict[str, Any]) -> None:
    """Move a delivery to ``state`` and append ``entry`` to its history."""
    conn.execute(
        text(
            "UPDATE isla_ops.contributed_deliveries SET state = :s, "
            "changed_at = timezone('UTC', now()), history = history || CAST(:e AS jsonb) "
            "WHERE delivery_id = :d"
        ),
        {"s": state, "e": json.dumps([entry]), "d": delivery_id},
    )


# --- publication -----------------------------------------------------------------------------


def publish(
    conn: Connection,
    row: Any,
    files: Sequence[Any],
    product_ids: dict[str, str],
    kinds: dict[str, str],
) -> None:
    """Write the published rows of one delivery: its collection version, its files, and an
    ``isla.products`` row per product file (what ObsCore and DataLink serve)."""
    meta = dict(row.metadata)
    software = next((f for f in files if f.role == "software"), None)
    documentation = next(f for f in files if f.role == "documentation")
    conn.execute(
        text(
            "INSERT INTO isla.contributed_collections (collection, version, title, team, "
            "authors, description, licence, instrument, version_label, documentation, "
            "software, software_licence, software_version, n_files, size, submitted_at, "
            "published_at, latest, simulated) VALUES (:c, :v, :title, :team, :authors, :descr, "
            ":licence, :instrument, :label, :doc, :sw, :swl, :swv, :n, :size, :submitted, "
            "timezone('UTC', now()), false, :sim)"
        ),
        {
            "c": row.collection,
            "v": row.version,
            "title": meta["title"],
            "team": row.team,
            "authors": "; ".join(meta["authors"]),
            "descr": meta["description"],
            "licence": meta["licence"],
            "instrument": meta["instrument"],
            "label": meta.get("version_label"),
            "doc": documentation.file_name,
            "sw": software.file_name if software is not None else None,
            "swl": meta.get("software_licence") if software is not None else None,
            "swv": meta.get("software_version") if software is not None else None,
            "n": sum(1 for f in files if f.role == "product"),
            "size": sum(int(f.size) for f in files),
            "submitted": row.submitted_at,
            "sim": row.simulated,
        },
    )
    conn.execute(
        text(
            "INSERT INTO isla.contributed_files (collection, version, file_name, role, format, "
            "content_type, size, sha256, bucket, object_key, product_id, simulated) VALUES "
            "(:c, :v, :n, :role, :fmt, :ct, :size, :sha, :b, :k, :pid, :sim)"
        ),
        [
            {
                "c": row.collection,
                "v": row.version,
                "n": f.file_name,
                "role": f.role,
                "fmt": f.format,
                "ct": f.content_type,
                "size": f.size,
                "sha": f.sha256,
                "b": f.bucket,
                "k": f.object_key,
                "pid": product_ids.get(f.file_name),
                "sim": f.simulated,
            }
            for f in files
        ],
    )
    product_meta = {
        "team": row.team,
        "ingestion": row.delivery_id,
        "collection": row.collection,
        "version": row.version,
        "title": meta["title"],
        "licence": meta["licence"],
        "documentation": documentation.file_name,
        "software": software.file_name if software is not None else None,
    }
    for f in files:
        if f.role != "product":
            continue
        conn.execute(
            text(
                "INSERT INTO isla.products (product_id, kind, instrument, bucket, object_key, "
                "file_name, size, sha256, content_type, meta, simulated) VALUES (:pid, :kind, "
                ":instrument, :b, :k, :n, :size, :sha, :ct, CAST(:meta AS jsonb), :sim)"
            ),
            {
                "pid": product_ids[f.file_name],
                "kind": kinds[f.file_name],
                "instrument": meta["instrument"],
                "b": f.bucket,
                "k": f.object_key,
                "n": f.file_name,
                "size": f.size,
                "sha": f.sha256,
                "ct": f.content_type,
                "meta": json.dumps({**product_meta, "facts": f.facts}),
                "sim": f.simulated,
            },
        )
    # The newest published version is the collection's "latest", whatever order they came in.
    conn.execute(
        text(
            "UPDATE isla.contributed_collections SET latest = (version = (SELECT max(version) "
            "FROM isla.contributed_collections WHERE collection = :c)) WHERE collection = :c"
        ),
        {"c": row.collection},
    )
