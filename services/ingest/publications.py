"""Ingestion of the INTEGRAL literature survey: papers and the observations they used.

A delivery is one document, JSON or CSV:

- JSON: ``{"papers": [{"bibcode", "doi", "title", "authors": [...], "year", "obsids": [...],
  "simulated"}]}`` (or the list alone);
- CSV (UTF-8, a header row): one row per paper and observation, columns ``bibcode``, ``obsid``,
  ``title``, ``authors`` (separated by ``;``), ``year``, and optionally ``doi`` and
  ``simulated``; the rows of one paper repeat its metadata, which must agree.

Quality control reads everything first and refuses the whole delivery (422, every problem with
its row or paper) on: a malformed bibcode, a bibcode whose year is not the paper's, a year
outside 1990-2100, a malformed DOI or observation id, an empty title or author list, control
characters, overlong text, a paper twice, CSV rows of one paper that disagree, or a simulated
paper that does not look simulated (title starting ``[simulated]``, bibstem ``SIMUL``) and a
real one that does. Observations the archive does not hold are not refused: the paper is stored
with its other links, and every unknown pair is listed in the report (``unresolved``) and kept
in ``isla.publications.unresolved_obsids``.

Writing: the delivered document is stored as delivered in the products bucket
(``publications/deliveries/<sha256>.<json|csv>``, content-addressed, so a retry writes the same
object), then the papers and their links are written in one transaction. A paper already held
with the same content is ``unchanged``; with other content it needs ``replace`` and the team
that delivered it (or an operator).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, text

from services.ingest.refusal import DeliveryRefused
from shared.publications import SIMULATED_BIBSTEM
from shared.storage import ObjectStore

MAX_PAPERS = 100_000
"""Most papers one delivery may hold."""

MAX_TEXT = 2000
"""Longest title or author list (characters)."""

SIMULATED_PREFIX = "[simulated]"
"""Every simulated paper's title starts with this."""

"""The journal part of every simulated paper's bibcode (no real journal uses it)."""

PREFIX = "publications/deliveries/"
"""Where delivered documents are kept in the products bucket."""

BIBCODE = re.compile(r"^(\d{4})([A-Za-z&.]{5})([\w.]{4})([A-Za-z.])([\w.]{4})([A-Za-z.])$")
DOI = re.compile(r"^10\.\d{4,9}/\S{1,300}$")
OBSID = re.compile(r"^\d{11}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class PublicationsRefused(DeliveryRefused):
    """The delivery is refused; ``problems`` lists every reason."""


@dataclass
class Paper:
    """One paper as delivered."""

    bibcode: str
    title: str
    authors: list[str]
    year: int
    obsids: list[str]
    doi: str | None = None
    simulated: bool = False
    where: str = ""
    """Where it was in the document (for problems): ``paper 3`` or ``rows 2, 5``."""

    def content(self) -> tuple[Any, ...]:
        """What is compared to tell an unchanged paper."""
        return (self.doi, self.title, "; ".join(self.authors), self.year, self.simulated)


@dataclass
class PublicationsResult:
    """What one delivery did."""

    sha256: str
    object_key: str
    papers: int = 0
    created: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    links: int = 0
    unresolved: list[dict[str, str]] = field(default_factory=list)

    @property
    def status(self) -> str:
        """``unchanged`` when the delivery changed nothing, ``accepted`` otherwise."""
        return "unchanged" if not (self.created or self.replaced) else "accepted"

    def as_dict(self) -> dict[str, Any]:
        """JSON form of the report."""
        return {
            "status": self.status,
            "sha256": self.sha256,
            "object_key": self.object_key,
            "papers": self.papers,
            "created": len(self.created),
            "replaced": len(self.replaced),
            "unchanged": len(self.unchanged),
            "links": self.links,
            "unresolved": self.unresolved,
        }


def _problem(where: str, code: str, message: str) -> dict[str, str]:
    return {"where": where, "code": code, "message": message}


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if value is None or value == "":
        return False
    text_value = str(value).strip().lower()
    if text_value in ("true", "t", "1", "yes"):
        return True
    if text_value in ("false", "f", "0", "no"):
        return False
    return None


def _paper(item: Any, where: str, problems: list[dict[str, str]]) -> Paper | None:
    if not isinstance(item, dict):
        problems.append(_problem(where, "form", "a paper must be an object"))
        return None
    authors = item.get("authors")
    if isinstance(authors, str):
        authors = [a.strip() for a in authors.split(";")]
    obsids = item.get("obsids", item.get("obsid"))
    if isinstance(obsids, str):
        obsids = [obsids]
    simulated = _bool(item.get("simulated"))
    try:
        year = int(item.get("year"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        problems.append(_problem(where, "year", f"year {item.get('year')!r} is not a number"))
        return None
    if simulated is None:
        problems.append(_problem(where, "simulated", "simulated must be true or false"))
        return None
    return Paper(
        bibcode=str(item.get("bibcode") or "").strip(),
        title=str(item.get("title") or "").strip(),
        authors=[str(a).strip() for a in authors] if isinstance(authors, list) else [],
        year=year,
        obsids=[str(o).strip() for o in obsids] if isinstance(obsids, list) else [],
        doi=(str(item["doi"]).strip() or None) if item.get("doi") else None,
        simulated=simulated,
        where=where,
    )


def parse_json(data: bytes, problems: list[dict[str, str]]) -> list[Paper]:
    """The papers of a JSON delivery."""
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        problems.append(_problem("-", "json", f"not a JSON document: {exc}"))
        return []
    items = doc.get("papers") if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        problems.append(_problem("-", "form", 'expected {"papers": [...]} or a list'))
        return []
    papers = []
    for i, item in enumerate(items, 1):
        paper = _paper(item, f"paper {i}", problems)
        if paper is not None:
            papers.append(paper)
    return papers


CSV_REQUIRED = ("bibcode", "obsid", "title", "authors", "year")


def parse_csv(data: bytes, problems: list[dict[str, str]]) -> list[Paper]:
    """The papers of a CSV delivery (one row per paper and observation)."""
    try:
        reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig")))
        rows = list(reader)
    except (UnicodeDecodeError, csv.Error) as exc:
        problems.append(_problem("-", "csv", f"not a UTF-8 CSV table: {exc}"))
        return []
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in CSV_REQUIRED if c not in header]
    if missing:
        problems.append(_problem("header", "columns", f"missing columns: {', '.join(missing)}"))
        return []
    grouped: dict[str, tuple[dict[str, Any], list[str], list[int]]] = {}
    for number, raw in enumerate(rows, 2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items() if k}
        if None in raw:
            problems.append(_problem(f"row {number}", "csv", "more cells than columns"))
            continue
        bibcode = row["bibcode"]
        meta = {k: row.get(k, "") for k in ("title", "authors", "year", "doi", "simulated")}
        if bibcode in grouped:
            first, obsids, lines = grouped[bibcode]
            if first != meta:
                problems.append(
                    _problem(
                        f"row {number}",
                        "disagree",
                        f"{bibcode}: title, authors, year, doi or simulated differ from row "
                        f"{lines[0]}",
                    )
                )
            obsids.append(row["obsid"])
            lines.append(number)
        else:
            grouped[bibcode] = (meta, [row["obsid"]], [number])
    papers = []
    for bibcode, (meta, obsids, lines) in grouped.items():
        where = "rows " + ", ".join(str(n) for n in lines[:5]) + ("..." if len(lines) > 5 else "")
        paper = _paper({**meta, "bibcode": bibcode, "obsids": obsids}, where, problems)
        if paper is not None:
            papers.append(paper)
    return papers


def check(papers: list[Paper], problems: list[dict[str, str]]) -> None:
    """Quality control of every paper (problems appended; nothing raised)."""
    if not papers and not problems:
        problems.append(_problem("-", "empty", "the delivery holds no paper"))
    if len(papers) > MAX_PAPERS:
        problems.append(_problem("-", "size", f"more than {MAX_PAPERS} papers"))
    seen: dict[str, str] = {}
    for p in papers:
        w = p.where
        match = BIBCODE.match(p.bibcode)
        if not match:
            problems.append(_problem(w, "bibcode", f"{p.bibcode!r} is not a 19-character bibcode"))
        elif int(match.group(1)) != p.year:
            problems.append(_problem(w, "year", f"{p.bibcode}: the bibcode's year is not {p.year}"))
        if p.bibcode in seen:
            problems.append(_problem(w, "duplicate", f"{p.bibcode} also in {seen[p.bibcode]}"))
        seen.setdefault(p.bibcode, w)
        if not 1990 <= p.year <= 2100:
            problems.append(_problem(w, "year", f"year {p.year} is outside 1990-2100"))
        if not p.title:
            problems.append(_problem(w, "title", f"{p.bibcode}: the title is empty"))
        if not p.authors or any(not a for a in p.authors):
            problems.append(_problem(w, "authors", f"{p.bibcode}: an author is empty or missing"))
        for name, value in (("title", p.title), ("authors", "; ".join(p.authors))):
            if len(value) > MAX_TEXT:
                problems.append(_problem(w, name, f"{p.bibcode}: {name} longer than {MAX_TEXT}"))
            if _CONTROL.search(value):
                problems.append(_problem(w, name, f"{p.bibcode}: control characters in {name}"))
        if p.doi is not None and not DOI.match(p.doi):
            problems.append(_problem(w, "doi", f"{p.bibcode}: {p.doi!r} is not a DOI (10.x/...)"))
        if not p.obsids:
            problems.append(_problem(w, "obsid", f"{p.bibcode}: no observation id"))
        bad = [o for o in p.obsids if not OBSID.match(o)]
        if bad:
            problems.append(
                _problem(w, "obsid", f"{p.bibcode}: not 11-digit observation ids: {bad[:5]}")
            )
        looks_simulated = p.title.startswith(SIMULATED_PREFIX) or (
            match is not None and match.group(2) == SIMULATED_BIBSTEM
        )
        labelled = p.title.startswith(SIMULATED_PREFIX) and (
            match is not None and match.group(2) == SIMULATED_BIBSTEM
        )
        if p.simulated and not labelled:
            problems.append(
                _problem(
                    w,
                    "simulated",
                    f"{p.bibcode}: a simulated paper's title starts with {SIMULATED_PREFIX!r} "
                    f"and its bibstem is {SIMULATED_BIBSTEM!r}",
                )
            )
        if not p.simulated and looks_simulated:
            problems.append(
                _problem(w, "simulated", f"{p.bibcode}: looks simulated but simulated is false")
            )


def read_delivery(data: bytes, fmt: str) -> list[Paper]:
    """Parse and check a delivery (``fmt``: json or csv); raises :class:`PublicationsRefused`."""
    problems: list[dict[str, str]] = []
    if fmt == "json":
        papers = parse_json(data, problems)
    elif fmt == "csv":
        papers = parse_csv(data, problems)
    else:
        raise PublicationsRefused(
            415, "Unsupported media type", [_problem("-", "format", "send JSON or CSV")]
        )
    check(papers, problems)
    if problems:
        raise PublicationsRefused(422, "Quality control failed", problems)
    return papers


def ingest_publications(
    engine: Engine,
    store: ObjectStore,
    data: bytes,
    fmt: str,
    team: str,
    *,
    is_operator: bool = False,
    replace: bool = False,
) -> PublicationsResult:
    """QC a delivery and write it, all or nothing. Raises :class:`PublicationsRefused`."""
    papers = read_delivery(data, fmt)
    sha256 = hashlib.sha256(data).hexdigest()
    key = f"{PREFIX}{sha256}.{fmt}"
    result = PublicationsResult(sha256, key, papers=len(papers))
    bibcodes = [p.bibcode for p in papers]
    obsids = sorted({o for p in papers for o in p.obsids})
    with engine.connect() as conn:
        held = {
            r.bibcode: r
            for r in conn.execute(
                text(
                    "SELECT p.bibcode, p.doi, p.title, p.authors, p.pub_year AS year, p.simulated, "
                    "p.team, "
                    "coalesce((SELECT array_agg(l.obsid ORDER BY l.obsid) FROM "
                    "isla.publication_links l WHERE l.bibcode = p.bibcode), '{}') AS obsids, "
                    "p.unresolved_obsids FROM isla.publications p WHERE p.bibcode = ANY(:b)"
                ),
                {"b": bibcodes},
            )
        }
        known = set(
            conn.execute(
                text("SELECT obsid FROM isla.observations WHERE obsid = ANY(:o)"), {"o": obsids}
            ).scalars()
        )
    refusals: list[dict[str, str]] = []
    status = 422
    to_write: list[Paper] = []
    for p in papers:
        links = sorted({o for o in p.obsids if o in known})
        unresolved = sorted({o for o in p.obsids if o not in known})
        result.unresolved += [{"bibcode": p.bibcode, "obsid": o} for o in unresolved]
        old = held.get(p.bibcode)
        if old is None:
            result.created.append(p.bibcode)
            to_write.append(p)
            continue
        same = (old.doi, old.title, old.authors, old.year, old.simulated) == p.content() and (
            list(old.obsids) == links and (old.unresolved_obsids or "") == " ".join(unresolved)
        )
        if same:
            result.unchanged.append(p.bibcode)
            continue
        if not (is_operator or old.team == team):
            status = 403
            refusals.append(_problem(p.where, "owner", f"{p.bibcode} belongs to team {old.team!r}"))
        elif not replace:
            status = 409 if status != 403 else status
            refusals.append(
                _problem(p.where, "exists", f"{p.bibcode} is held with other content: replace")
            )
        result.replaced.append(p.bibcode)
        to_write.append(p)
    if refusals:
        title = "Forbidden" if status == 403 else "Conflict"
        raise PublicationsRefused(status, title, refusals)
    if not to_write:
        return result
    store.put_bytes(
        store.products_bucket,
        key,
        data,
        content_type="application/json" if fmt == "json" else "text/csv",
    )
    with engine.begin() as conn:
        for p in to_write:
            unresolved = sorted({o for o in p.obsids if o not in known})
            conn.execute(
                text(
                    "INSERT INTO isla.publications (bibcode, doi, title, authors, pub_year, "
                    "unresolved_obsids, team, delivery_sha256, simulated) VALUES (:b, :doi, :t, "
                    ":a, :y, :u, :team, :sha, :sim) ON CONFLICT (bibcode) DO UPDATE SET "
                    "doi = EXCLUDED.doi, title = EXCLUDED.title, authors = EXCLUDED.authors, "
                    "pub_year = EXCLUDED.pub_year, unresolved_obsids = EXCLUDED.unresolved_obsids, "
                    "team = EXCLUDED.team, delivery_sha256 = EXCLUDED.delivery_sha256, "
                    "simulated = EXCLUDED.simulated, created_at = timezone('UTC', now())"
                ),
                {
                    "b": p.bibcode,
                    "doi": p.doi,
                    "t": p.title,
                    "a": "; ".join(p.authors),
                    "y": p.year,
                    "u": " ".join(unresolved) or None,
                    "team": team,
                    "sha": sha256,
                    "sim": p.simulated,
                },
            )
            conn.execute(
                text("DELETE FROM isla.publication_links WHERE bibcode = :b"), {"b": p.bibcode}
            )
            links = sorted({o for o in p.obsids if o in known})
            if links:
                conn.execute(
                    text(
                        "INSERT INTO isla.publication_links (bibcode, obsid, simulated) "
                        "VALUES (:b, :o, :sim)"
                    ),
                    [{"b": p.bibcode, "o": o, "sim": p.simulated} for o in links],
                )
            result.links += len(links)
    return result
