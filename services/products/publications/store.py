"""SQL of the publications room (the paper ↔ data questions are in :mod:`shared.publications`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text


def papers(
    conn: Connection, year: int | None, simulated: bool | None, limit: int, offset: int
) -> list[Any]:
    """Papers, newest first, with how many observations each used."""
    return list(
        conn.execute(
            text(
                "SELECT p.bibcode, p.doi, p.title, p.authors, p.pub_year AS year, p.simulated, "
                "p.unresolved_obsids, (SELECT count(*) FROM isla.publication_links l "
                "WHERE l.bibcode = p.bibcode) AS n_observations FROM isla.publications p "
                "WHERE (CAST(:y AS int) IS NULL OR p.pub_year = :y) "
                "AND (CAST(:s AS boolean) IS NULL OR p.simulated = :s) "
                "ORDER BY p.pub_year DESC, p.bibcode LIMIT :limit OFFSET :offset"
            ),
            {"y": year, "s": simulated, "limit": limit, "offset": offset},
        ).all()
    )


def count(conn: Connection) -> int:
    """Number of papers."""
    return int(conn.execute(text("SELECT count(*) FROM isla.publications")).scalar() or 0)


def similar_bibcodes(conn: Connection, bibcode: str, limit: int = 5) -> list[str]:
    """Bibcodes of the same year (or any), for "did you mean"."""
    return list(
        conn.execute(
            text(
                "SELECT bibcode FROM isla.publications ORDER BY (left(bibcode, 4) = left(:b, 4)) "
                "DESC, bibcode LIMIT :n"
            ),
            {"b": bibcode, "n": limit},
        ).scalars()
    )


def observation_exists(conn: Connection, obsid: str) -> bool:
    """Whether the archive holds the observation."""
    return bool(
        conn.execute(text("SELECT 1 FROM isla.observations WHERE obsid = :o"), {"o": obsid}).first()
    )


def source_exists(conn: Connection, source_id: str) -> bool:
    """Whether the archive holds the source."""
    return bool(
        conn.execute(
            text("SELECT 1 FROM isla.sources WHERE source_id = :s"), {"s": source_id}
        ).first()
    )


def product_exists(conn: Connection, product_id: str) -> bool:
    """Whether the archive holds the product."""
    return bool(
        conn.execute(
            text("SELECT 1 FROM isla.products WHERE product_id = :p"), {"p": product_id}
        ).first()
    )


def ads_links(conn: Connection, include_simulated: bool) -> list[Any]:
    """Every paper ↔ observation link with the observation's target (for the ADS export)."""
    return list(
        conn.execute(
            text(
                "SELECT l.bibcode, l.obsid, o.target_name, p.simulated "
                "FROM isla.publication_links l "
                "JOIN isla.publications p ON p.bibcode = l.bibcode "
                "JOIN isla.observations o ON o.obsid = l.obsid "
                "WHERE :sim OR NOT p.simulated ORDER BY l.bibcode, l.obsid"
            ),
            {"sim": include_simulated},
        ).all()
    )


def dois_of(conn: Connection, kind: str, targets: list[str]) -> dict[str, str]:
    """DOIs of archive objects of ``kind`` by target."""
    return {
        r.target: r.doi
        for r in conn.execute(
            text("SELECT target, doi FROM isla.dois WHERE kind = :k AND target = ANY(:t)"),
            {"k": kind, "t": targets},
        )
    }
