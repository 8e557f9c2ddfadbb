"""Policy of the publications room: a paper and the data it used, the papers of a piece of
data, and the export of bibcode ↔ data links in the form ADS takes from data centres.

**The ADS export** (``/products/publications/ads-links.txt``) is a plain-text table, one link
per line, tab-separated: the 19-character bibcode, the URL of the dataset in this archive (the
observation's page) and a short title of the dataset; ADS's data-links pipeline reads exactly
this ``bibcode<TAB>url<TAB>title`` form for a data source. Simulated papers are left out
unless asked for (their bibcodes are fake: ADS must never receive them).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from sqlalchemy import Connection

from services.products.common import NotFound
from services.products.publications import store
from shared import publications

ADS_TITLE = "INTEGRAL observation {obsid} ({target})"


def _paper(row: Any, base: str) -> dict[str, Any]:
    out = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row._mapping.items()}
    out["authors"] = [a for a in str(row.authors).split("; ") if a]
    out["url"] = f"{base}/products/publications/{quote(row.bibcode, safe='')}"
    out["ads"] = None if row.simulated else publications.ads_url(row.bibcode)
    if "unresolved_obsids" in out:
        out["unresolved_obsids"] = (row.unresolved_obsids or "").split()
    return out


def listing(
    conn: Connection, base: str, year: int | None, simulated: bool | None, limit: int, offset: int
) -> dict[str, Any]:
    """Papers of the survey."""
    rows = store.papers(conn, year, simulated, limit, offset)
    return {
        "total": store.count(conn),
        "papers": [_paper(r, base) for r in rows],
        "ads_export": f"{base}/products/publications/ads-links.txt",
    }


def paper_page(conn: Connection, bibcode: str, base: str) -> dict[str, Any]:
    """A paper and every piece of data it used, with links (404 naming similar bibcodes)."""
    row = publications.paper(conn, bibcode)
    if row is None:
        raise NotFound(
            f"no paper {bibcode!r} in the literature survey",
            {"nearby": store.similar_bibcodes(conn, bibcode)},
        )
    data = publications.data_of(conn, bibcode)
    revs = sorted({f"{int(w.revolution):04d}" for w in data["science_windows"]})
    rev_dois = store.dois_of(conn, "revolution", revs)
    product_dois = store.dois_of(conn, "product", [p.product_id for p in data["products"]])
    out = _paper(row, base)
    out["observations"] = [
        {
            **dict(o._mapping),
            "start_time": o.start_time.isoformat(),
            "end_time": o.end_time.isoformat(),
            "page": f"{base}/observations/{o.obsid}",
            "raw": f"{base}/raw/archive.tar?obsid={o.obsid}",
            "papers": f"{base}/products/publications/observations/{o.obsid}",
        }
        for o in data["observations"]
    ]
    out["science_windows"] = [
        {
            "scw_id": w.scw_id,
            "version": w.version,
            "revolution": w.revolution,
            "obsid": w.obsid,
            "url": f"{base}/raw/scw/{w.scw_id}",
        }
        for w in data["science_windows"]
    ]
    out["revolutions"] = [
        {"revolution": r, "doi": rev_dois.get(r), "landing": _landing(base, rev_dois.get(r))}
        for r in revs
    ]
    out["sources"] = [
        {
            "source_id": s.source_id,
            "name": s.name,
            "url": f"{base}/products/sources/{quote(s.source_id)}",
            "papers": f"{base}/products/publications/sources/{quote(s.source_id)}",
        }
        for s in data["sources"]
    ]
    out["products"] = [
        {
            "product_id": p.product_id,
            "kind": p.kind,
            "instrument": p.instrument,
            "epoch": p.epoch,
            "simulated": p.simulated,
            "url": f"{base}/products/files/{quote(p.product_id, safe='/')}",
            "doi": product_dois.get(p.product_id),
            "landing": _landing(base, product_dois.get(p.product_id)),
        }
        for p in data["products"]
    ]
    return out


def _landing(base: str, doi: str | None) -> str | None:
    return f"{base}/doi/{doi.split('/', 1)[1]}" if doi else None


def papers_of(conn: Connection, what: str, key: str, base: str) -> dict[str, Any]:
    """The papers that used an observation, a source or a product (404 when it is unknown)."""
    if what == "observation":
        if not store.observation_exists(conn, key):
            raise NotFound(f"no observation {key!r} in the archive")
        rows = publications.papers_of(conn, "observation", key)
    elif what == "source":
        if not store.source_exists(conn, key):
            raise NotFound(
                f"no source {key!r} in the archive",
                {"hint": "use /servlet/target-resolver to find a source id by name"},
            )
        rows = publications.papers_of(conn, "source", key)
    else:
        if not store.product_exists(conn, key):
            raise NotFound(f"no product {key!r} in the archive")
        rows = publications.papers_of_product(conn, key)
    return {what: key, "count": len(rows), "papers": [_paper(r, base) for r in rows]}


def ads_links(conn: Connection, base: str, include_simulated: bool) -> str:
    """The export ADS takes: ``bibcode<TAB>url<TAB>title`` per line."""
    lines = [
        "\t".join(
            (
                r.bibcode,
                f"{base}/observations/{r.obsid}",
                ADS_TITLE.format(obsid=r.obsid, target=" ".join(str(r.target_name).split())),
            )
        )
        for r in store.ads_links(conn, include_simulated)
    ]
    return "".join(line + "\n" for line in lines)


def ads_links_json(conn: Connection, base: str, include_simulated: bool) -> list[dict[str, Any]]:
    """The same links as JSON, grouped per paper, with the DOI of each observation's data."""
    grouped: dict[str, list[dict[str, str]]] = {}
    for r in store.ads_links(conn, include_simulated):
        grouped.setdefault(r.bibcode, []).append(
            {
                "obsid": r.obsid,
                "url": f"{base}/observations/{r.obsid}",
                "title": ADS_TITLE.format(obsid=r.obsid, target=r.target_name),
            }
        )
    return [{"bibcode": b, "links": links} for b, links in grouped.items()]
