"""Which papers of the literature survey used which data: the one place these questions are
answered in SQL (bound parameters), for the publications API and the DOI records alike.

A paper is linked to observations (``isla.publication_links``); from there it used:

- the observation's science windows (and so their revolutions and instruments);
- the sources in the field of view of those science windows (ISGRI's field: the widest);
- the products made from the observation (epoch ``RRRR_<obsid>``), and mission-scope products
  of those sources.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from sqlalchemy import Connection, text

from shared.doi.identifiers import RAW_INSTRUMENTS

MAX_PAPERS = 1000
"""Most papers one question answers (newest first)."""

SIMULATED_BIBSTEM = "SIMUL"
"""The bibstem of the demo's made-up papers: no real journal has it."""


def ads_url(bibcode: str) -> str | None:
    """The paper's ADS abstract page, or None for a made-up bibcode of the demo (ADS has no
    page for it, and a link would dress a simulated paper as a real one)."""
    if bibcode[4:9].rstrip(".") == SIMULATED_BIBSTEM:
        return None
    return f"https://ui.adsabs.harvard.edu/abs/{quote(bibcode, safe='')}"


_PAPERS = (
    "SELECT p.bibcode, p.doi, p.title, p.authors, p.pub_year AS year, p.simulated "
    "FROM isla.publications p "
    "WHERE p.bibcode IN (SELECT l.bibcode FROM isla.publication_links l WHERE l.obsid IN ({obs})) "
    "ORDER BY p.pub_year DESC, p.bibcode LIMIT :limit"
)

OBSIDS_OF = {
    "all": "SELECT obsid FROM isla.observations",
    "observation": "SELECT CAST(:key AS text)",
    "revolution": "SELECT obsid FROM isla.science_windows WHERE revolution = CAST(:key AS int)",
    "scw": "SELECT obsid FROM isla.science_windows WHERE scw_id = :key",
    "source": (
        "SELECT w.obsid FROM isla.science_windows w JOIN isla.sources s "
        "ON w.fov_isgri @> s.pos WHERE s.source_id = :key AND w.obsid IS NOT NULL"
    ),
    "product_kind": (
        "SELECT substr(epoch, 6) FROM isla.products WHERE kind = :key "
        "AND epoch ~ '^[0-9]{4}_[0-9]{11}$'"
    ),
}
"""The observations a piece of data comes from, per kind of data (``:key`` names it)."""


def _rows(conn: Connection, obs_sql: str, key: str | None) -> list[Any]:
    sql = _PAPERS.format(obs=obs_sql)  # fixed fragments of OBSIDS_OF only
    return list(conn.execute(text(sql), {"key": key, "limit": MAX_PAPERS}).all())


def papers_of(conn: Connection, kind: str, key: str | None = None) -> list[Any]:
    """Papers that used the data of ``kind`` (a key of :data:`OBSIDS_OF`) named ``key``."""
    return _rows(conn, OBSIDS_OF[kind], key)


def papers_of_instrument(conn: Connection, instrument: str) -> list[Any]:
    """Papers that used observations in which ``instrument`` (a key of
    :data:`shared.doi.identifiers.RAW_INSTRUMENTS`) took data."""
    expression = RAW_INSTRUMENTS[instrument][1]
    obs = f"SELECT obsid FROM isla.science_windows WHERE {expression} > 0"  # noqa: S608 - fixed expressions
    return _rows(conn, obs, None)


def papers_of_product(conn: Connection, product_id: str) -> list[Any]:
    """Papers that used the observation a product was made from (its epoch), or, for a
    mission-scope product of a source, any observation with the source in the field."""
    row = conn.execute(
        text("SELECT epoch, source_id FROM isla.products WHERE product_id = :p"),
        {"p": product_id},
    ).first()
    if row is None:
        return []
    epoch = row.epoch or ""
    if len(epoch) == 16 and epoch[4] == "_" and epoch[5:].isdigit():
        return papers_of(conn, "observation", epoch[5:])
    if row.source_id:
        return papers_of(conn, "source", row.source_id)
    return []


def paper(conn: Connection, bibcode: str) -> Any:
    """One paper, or None."""
    return conn.execute(
        text(
            "SELECT bibcode, doi, title, authors, pub_year AS year, simulated, unresolved_obsids, "
            "team, created_at FROM isla.publications WHERE bibcode = :b"
        ),
        {"b": bibcode},
    ).first()


def data_of(conn: Connection, bibcode: str, limit: int = 500) -> dict[str, list[Any]]:
    """The data one paper used: its observations, their science windows, the sources in their
    fields and the products made from them (each list at most ``limit`` long)."""
    params = {"b": bibcode, "limit": limit}
    observations = conn.execute(
        text(
            "SELECT o.obsid, o.target_name, o.rev_start, o.rev_end, o.start_time, o.end_time "
            "FROM isla.publication_links l JOIN isla.observations o ON o.obsid = l.obsid "
            "WHERE l.bibcode = :b ORDER BY o.obsid LIMIT :limit"
        ),
        params,
    ).all()
    scws = conn.execute(
        text(
            "SELECT w.scw_id, w.version, w.revolution, w.obsid FROM isla.science_windows w "
            "JOIN isla.publication_links l ON l.obsid = w.obsid WHERE l.bibcode = :b "
            "ORDER BY w.scw_id LIMIT :limit"
        ),
        params,
    ).all()
    sources = conn.execute(
        text(
            "SELECT s.source_id, s.name FROM isla.sources s WHERE EXISTS ("
            "SELECT 1 FROM isla.science_windows w JOIN isla.publication_links l "
            "ON l.obsid = w.obsid WHERE l.bibcode = :b AND w.fov_isgri @> s.pos) "
            "ORDER BY s.source_id LIMIT :limit"
        ),
        params,
    ).all()
    products = conn.execute(
        text(
            "SELECT p.product_id, p.kind, p.instrument, p.epoch, p.simulated "
            "FROM isla.products p WHERE p.kind <> 'preview' AND p.epoch IN ("
            "SELECT lpad(w.revolution::text, 4, '0') || '_' || w.obsid "
            "FROM isla.science_windows w JOIN isla.publication_links l ON l.obsid = w.obsid "
            "WHERE l.bibcode = :b) ORDER BY p.product_id LIMIT :limit"
        ),
        params,
    ).all()
    return {
        "observations": list(observations),
        "science_windows": list(scws),
        "sources": list(sources),
        "products": list(products),
    }


def as_dicts(rows: Sequence[Any]) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts (dates as ISO strings)."""
    return [
        {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row._mapping.items()}
        for row in rows
    ]
