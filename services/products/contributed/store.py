"""SQL of the contributed-collections room (published rows only: ``isla.contributed_*``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text

_COLLECTION = (
    "SELECT collection, version, title, team, authors, description, licence, instrument, "
    "version_label, documentation, software, software_licence, software_version, n_files, "
    "size, submitted_at, published_at, latest, simulated FROM isla.contributed_collections"
)


def latest(conn: Connection) -> list[Any]:
    """The newest published version of every collection, by name."""
    return list(conn.execute(text(f"{_COLLECTION} WHERE latest ORDER BY collection")).all())


def version(conn: Connection, collection: str, number: int | None) -> Any:
    """One published version (None: the newest), or None."""
    return conn.execute(
        text(
            f"{_COLLECTION} WHERE collection = :c "
            "AND (CAST(:v AS integer) IS NULL OR version = :v) ORDER BY version DESC LIMIT 1"
        ),
        {"c": collection, "v": number},
    ).first()


def versions(conn: Connection, collection: str) -> list[Any]:
    """Every published version of a collection, newest first."""
    return list(
        conn.execute(
            text(
                "SELECT version, version_label, published_at FROM isla.contributed_collections "
                "WHERE collection = :c ORDER BY version DESC"
            ),
            {"c": collection},
        ).all()
    )


_FILE = (
    "SELECT collection, version, file_name, role, format, content_type, size, sha256, bucket, "
    "object_key, product_id, simulated FROM isla.contributed_files"
)


def files(conn: Connection, collection: str, number: int) -> list[Any]:
    """The files of one published version: products, then documentation, then software."""
    return list(
        conn.execute(
            text(
                f"{_FILE} WHERE collection = :c AND version = :v ORDER BY CASE role "
                "WHEN 'product' THEN 0 WHEN 'documentation' THEN 1 ELSE 2 END, file_name"
            ),
            {"c": collection, "v": number},
        ).all()
    )


def file(conn: Connection, collection: str, number: int, file_name: str) -> Any:
    """One file of a published version, or None."""
    return conn.execute(
        text(f"{_FILE} WHERE collection = :c AND version = :v AND file_name = :n"),
        {"c": collection, "v": number, "n": file_name},
    ).first()


def names(conn: Connection) -> list[str]:
    """Every published collection's name."""
    return list(
        conn.execute(
            text("SELECT DISTINCT collection FROM isla.contributed_collections ORDER BY 1")
        ).scalars()
    )
