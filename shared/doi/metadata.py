"""A DOI's metadata: the DataCite record, schema.org JSON-LD and the citation line.

:func:`load` reads one ``isla.dois`` row and the archive's live relations of what it
identifies; :func:`datacite_attributes` turns that into DataCite metadata (the JSON
``attributes`` of DataCite's REST API, in the form the ``datacite`` package validates against
its kernel-4.5 schema), :func:`datacite_xml` into DataCite XML (the same package's writer, from
the same dictionary), :func:`schema_org` into a schema.org ``Dataset`` for the landing page.

Relations: ``IsPartOf`` the parent collection and ``HasPart`` its parts; ``IsDerivedFrom`` the
raw data a product was made from (the revolution bundle of its observation, or the
instrument's raw collection for a mission-scope product); ``IsCitedBy`` the bibcodes of the
papers of the literature survey that used the data; ``IsDocumentedBy`` the archive's help page
and, for catalogues, their reference paper. Lists of parts and papers are capped at
:data:`MAX_RELATED`, the description then says how many there are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from datacite import schema45
from sqlalchemy import Connection, text

from shared import publications
from shared.doi import identifiers as ids
from shared.settings import TEST_DOI_PREFIX, DoiSettings

MAX_RELATED = 500
"""Most parts (and most citing papers) listed in one record."""

SCHEMA_VERSION = "http://datacite.org/schema/kernel-4"
"""The DataCite kernel the records follow (validated against its 4.5 schema)."""

BIBCODE = re.compile(r"^\d{4}[A-Za-z&.]{5}[\w.]{4}[A-Za-z.][\w.]{4}[A-Z.]$")

SIMULATED_NOTE = (
    "SIMULATED DEMO DATA: made by the ISLA demonstration generator, with INTEGRAL's formats "
    "and timeline, not measured by INTEGRAL. This DOI uses DataCite's test prefix "
    f"{TEST_DOI_PREFIX} and is not registered."
)

HELP = {
    "archive": "/help",
    "raw_collection": "/help/integral",
    "revolution": "/help/integral",
    "product_collection": "/help/products",
    "product": "/help/products",
    "catalogues": "/help/products",
    "catalogue": "/help/products",
}
"""The page of the archive's help that documents each kind of record."""


@dataclass
class Record:
    """One DOI row with the relations of what it identifies."""

    row: Any
    parent_doi: str | None = None
    parts: list[str] = field(default_factory=list)
    n_parts: int = 0
    also_part_of: list[str] = field(default_factory=list)
    derived_from: list[str] = field(default_factory=list)
    cited_by: list[Any] = field(default_factory=list)
    documented_by: list[tuple[str, str]] = field(default_factory=list)
    alternate: list[tuple[str, str]] = field(default_factory=list)
    sizes: list[str] = field(default_factory=list)
    formats: list[str] = field(default_factory=list)
    subjects: list[str] = field(default_factory=list)
    described: str = ""

    @property
    def suffix(self) -> str:
        """The DOI suffix."""
        return str(self.row.suffix)

    @property
    def doi(self) -> str:
        """The DOI."""
        return str(self.row.doi)


def _dois(conn: Connection, sql: str, params: dict[str, Any]) -> list[str]:
    return [str(v) for v in conn.execute(text(sql), params).scalars()]


def _raw_collection(rec: Record, conn: Connection) -> None:
    target = rec.row.target
    if target == "all":
        rec.cited_by = publications.papers_of(conn, "all")
        rec.subjects = list(ids.RAW_INSTRUMENTS)
        rec.described = "Every science window of raw data of INTEGRAL, as delivered by ISDC."
        return
    expr = ids.RAW_INSTRUMENTS[target][1]
    revs = (
        f"SELECT DISTINCT to_char(revolution, 'FM0000') FROM isla.science_windows WHERE {expr} > 0"  # noqa: S608 - fixed expressions
    )
    rec.parts = _dois(
        conn,
        f"SELECT doi FROM isla.dois WHERE kind = 'revolution' AND target IN ({revs}) "  # noqa: S608 - fixed expressions
        "ORDER BY suffix LIMIT :n",
        {"n": MAX_RELATED},
    )
    rec.n_parts = len(rec.parts)
    rec.cited_by = publications.papers_of_instrument(conn, target)
    rec.subjects = [target]
    rec.described = (
        f"INTEGRAL {target} raw data: the science windows in which {target} took data, "
        "bundled per revolution."
    )


def _revolution(rec: Record, conn: Connection) -> None:
    rev = int(rec.row.target)
    facts = conn.execute(
        text(
            "SELECT count(*) AS n, sum(raw_size) AS size, min(start_time) AS t0, "
            "max(end_time) AS t1 FROM isla.science_windows WHERE revolution = :r"
        ),
        {"r": rev},
    ).one()
    for name, (_, expr) in ids.RAW_INSTRUMENTS.items():
        has = conn.execute(
            text(
                "SELECT EXISTS (SELECT 1 FROM isla.science_windows "  # noqa: S608 - fixed expressions
                f"WHERE revolution = :r AND {expr} > 0)"
            ),
            {"r": rev},
        ).scalar()
        if has:
            rec.also_part_of += _dois(
                conn, "SELECT doi FROM isla.dois WHERE suffix = :s", {"s": ids.raw_collection(name)}
            )
            rec.subjects.append(name)
    rec.cited_by = publications.papers_of(conn, "revolution", str(rev))
    rec.sizes = [f"{int(facts.n)} science windows", f"{int(facts.size or 0)} bytes"]
    rec.formats = ["application/fits"]
    rec.alternate = [(f"{rev:04d}", "INTEGRAL revolution")]
    span = f", {facts.t0:%Y-%m-%d} to {facts.t1:%Y-%m-%d}" if facts.t0 is not None else ""
    rec.described = (
        f"Raw data of INTEGRAL revolution {rev:04d}{span}: {int(facts.n)} science windows "
        "(pointings and slews) with every instrument's files, as one bundle."
    )


def _product(rec: Record, conn: Connection) -> None:
    p = conn.execute(
        text(
            "SELECT p.product_id, p.kind, p.instrument, p.epoch, p.source_id, p.size, "
            "p.content_type, p.file_name, s.name AS source FROM isla.products p "
            "LEFT JOIN isla.sources s ON s.source_id = p.source_id WHERE p.product_id = :p"
        ),
        {"p": rec.row.target},
    ).first()
    if p is None:  # the product was withdrawn: the DOI stays, with what is known
        rec.described = f"Product {rec.row.target}, no longer held by the archive."
        return
    epoch = p.epoch or ""
    if len(epoch) == 16 and epoch[4] == "_":
        rec.derived_from = _dois(
            conn, "SELECT doi FROM isla.dois WHERE suffix = :s", {"s": f"isla.rev.{epoch[:4]}"}
        )
    else:
        instrument = "JEM-X" if p.instrument.startswith("JEM-X") else p.instrument
        if instrument in ids.RAW_INSTRUMENTS:
            rec.derived_from = _dois(
                conn,
                "SELECT doi FROM isla.dois WHERE suffix = :s",
                {"s": ids.raw_collection(instrument)},
            )
    rec.cited_by = publications.papers_of_product(conn, p.product_id)
    rec.sizes = [f"{int(p.size)} bytes"]
    rec.formats = [p.content_type]
    rec.alternate = [(f"ivo://isla.integral/isla?product/{p.product_id}", "IVOA publisher DID")]
    rec.subjects = [p.instrument] + ([p.source] if p.source else [])
    rec.described = (
        f"INTEGRAL {p.instrument} {p.kind} {p.file_name}"
        + (f" of {p.source} ({p.source_id})" if p.source_id else "")
        + (f", epoch {p.epoch}" if p.epoch else ", whole mission")
        + "."
    )


def _product_collection(rec: Record, conn: Connection) -> None:
    if rec.row.target == "all":
        rec.cited_by = publications.papers_of(conn, "all")
        rec.derived_from = _dois(
            conn, "SELECT doi FROM isla.dois WHERE suffix = :s", {"s": ids.RAW}
        )
        rec.described = "Every science product of the archive: light curves, spectra, images."
        return
    rec.derived_from = _dois(conn, "SELECT doi FROM isla.dois WHERE suffix = :s", {"s": ids.RAW})
    rec.cited_by = publications.papers_of(conn, "product_kind", rec.row.target)
    rec.described = f"Every {rec.row.target} product of the archive, one DOI per file."


def _catalogue(rec: Record, conn: Connection) -> None:
    if rec.row.kind == "catalogues":
        rec.described = "Every version of every source catalogue delivered to the archive."
        return
    name, _, version = str(rec.row.target).rpartition("@")
    c = conn.execute(
        text(
            "SELECT name, version, kind, team, reference, description, n_rows, sha256 "
            "FROM isla.catalogues WHERE name = :n AND version = :v"
        ),
        {"n": name, "v": version},
    ).first()
    if c is None:
        return
    if c.reference and BIBCODE.match(c.reference):
        rec.documented_by.append((c.reference, "bibcode"))
    rec.sizes = [f"{int(c.n_rows)} entries"]
    rec.alternate = [(f"{c.name}@{c.version}", "ISLA catalogue version")]
    rec.described = (
        f"Source catalogue {c.name}, version {c.version} ({c.kind}), delivered by {c.team}: "
        f"{int(c.n_rows)} entries. {c.description or ''}"
    ).strip()


_BUILDERS = {
    "raw_collection": _raw_collection,
    "revolution": _revolution,
    "product": _product,
    "product_collection": _product_collection,
    "catalogue": _catalogue,
    "catalogues": _catalogue,
}


def load(conn: Connection, suffix: str, base_url: str) -> Record | None:
    """The record of ``suffix`` with its relations, or None."""
    row = conn.execute(text("SELECT * FROM isla.dois WHERE suffix = :s"), {"s": suffix}).first()
    if row is None:
        return None
    rec = Record(row)
    if row.parent:
        rec.parent_doi = conn.execute(
            text("SELECT doi FROM isla.dois WHERE suffix = :s"), {"s": row.parent}
        ).scalar()
    if row.kind != "raw_collection" or row.target == "all":
        rec.parts = _dois(
            conn,
            "SELECT doi FROM isla.dois WHERE parent = :s ORDER BY suffix LIMIT :n",
            {"s": suffix, "n": MAX_RELATED},
        )
        rec.n_parts = int(
            conn.execute(
                text("SELECT count(*) FROM isla.dois WHERE parent = :s"), {"s": suffix}
            ).scalar()
            or 0
        )
    if row.kind == "archive":
        rec.cited_by = publications.papers_of(conn, "all")
        rec.described = (
            "The final archive of ESA's INTEGRAL gamma-ray observatory (2002-10-17 to "
            "2025-02-28): raw data of every science window, source catalogues and science "
            "products."
        )
    builder = _BUILDERS.get(row.kind)
    if builder is not None:
        builder(rec, conn)
    page = HELP.get(row.kind)
    if page:
        rec.documented_by.append((f"{base_url}{page}", "URL"))
    return rec


def landing_url(base_url: str, suffix: str) -> str:
    """The landing page of a DOI in this archive."""
    return f"{base_url}/doi/{suffix}"


def datacite_attributes(rec: Record, settings: DoiSettings, base_url: str) -> dict[str, Any]:
    """The DataCite 4.5 metadata of ``rec`` (REST API ``attributes``; JSON-schema valid)."""
    row = rec.row
    related: list[dict[str, Any]] = []

    def add(identifier: str, id_type: str, relation: str, **extra: Any) -> None:
        related.append(
            {
                "relatedIdentifier": identifier,
                "relatedIdentifierType": id_type,
                "relationType": relation,
                **extra,
            }
        )

    for doi in ([rec.parent_doi] if rec.parent_doi else []) + rec.also_part_of:
        add(doi, "DOI", "IsPartOf")
    for doi in rec.parts:
        add(doi, "DOI", "HasPart")
    for doi in rec.derived_from:
        add(doi, "DOI", "IsDerivedFrom")
    for paper in rec.cited_by[:MAX_RELATED]:
        add(paper.bibcode, "bibcode", "IsCitedBy", resourceTypeGeneral="JournalArticle")
    for identifier, id_type in rec.documented_by:
        add(identifier, id_type, "IsDocumentedBy")
    descriptions = [{"description": rec.described or str(row.title), "descriptionType": "Abstract"}]
    notes = []
    if rec.n_parts > len(rec.parts):
        notes.append(f"{rec.n_parts} parts; the first {len(rec.parts)} are listed.")
    if len(rec.cited_by) > MAX_RELATED:
        notes.append(f"Cited by more papers than the {MAX_RELATED} listed.")
    if notes:
        descriptions.append({"description": " ".join(notes), "descriptionType": "Other"})
    if row.simulated:
        descriptions.insert(0, {"description": SIMULATED_NOTE, "descriptionType": "Other"})
    created = row.created_at
    attrs: dict[str, Any] = {
        "doi": rec.doi,
        "prefix": rec.doi.split("/", 1)[0],
        "suffix": rec.suffix,
        "url": landing_url(base_url, rec.suffix),
        "types": {
            "resourceTypeGeneral": row.resource_type_general,
            "resourceType": row.resource_type,
        },
        "creators": [{"name": settings.doi_creator, "nameType": "Organizational"}],
        "titles": [{"title": row.title}],
        "publisher": {"name": settings.doi_publisher},
        "publicationYear": str(row.publication_year),
        "subjects": [{"subject": s} for s in ["Gamma-ray astronomy", "INTEGRAL", *rec.subjects]],
        "dates": [{"date": f"{created:%Y-%m-%d}", "dateType": "Issued"}],
        "language": "en",
        "descriptions": descriptions,
        "schemaVersion": SCHEMA_VERSION,
    }
    if rec.alternate:
        attrs["alternateIdentifiers"] = [
            {"alternateIdentifier": v, "alternateIdentifierType": t} for v, t in rec.alternate
        ]
    if related:
        attrs["relatedIdentifiers"] = related
    if rec.sizes:
        attrs["sizes"] = rec.sizes
    if rec.formats:
        attrs["formats"] = rec.formats
    # The subject list may repeat an instrument (uniqueItems): keep the first of each.
    unique = dict.fromkeys(s["subject"] for s in attrs["subjects"])
    attrs["subjects"] = [{"subject": s} for s in unique]
    return attrs


def validation_errors(attrs: dict[str, Any]) -> list[str]:
    """What the DataCite 4.5 JSON schema (shipped by the ``datacite`` package) finds wrong."""
    return [
        f"{'/'.join(str(p) for p in e.absolute_path)}: {e.message}"
        for e in schema45.validator.iter_errors(attrs)
    ]


def datacite_xml(attrs: dict[str, Any]) -> bytes:
    """DataCite XML of the attributes (the ``datacite`` package's kernel-4.5 writer)."""
    out = schema45.tostring(attrs)
    return out.encode("utf-8") if isinstance(out, str) else bytes(out)


def citation(attrs: dict[str, Any]) -> str:
    """The citation line: creator (year): title. Publisher. https://doi.org/<doi>."""
    creator = attrs["creators"][0]["name"]
    return (
        f"{creator} ({attrs['publicationYear']}): {attrs['titles'][0]['title']}. "
        f"{attrs['publisher']['name']}. https://doi.org/{attrs['doi']}"
    )


def schema_org(attrs: dict[str, Any]) -> dict[str, Any]:
    """The schema.org JSON-LD of a landing page (Dataset or DataCatalog)."""
    collection = attrs["types"]["resourceTypeGeneral"] == "Collection"
    doc: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "DataCatalog" if collection else "Dataset",
        "@id": f"https://doi.org/{attrs['doi']}",
        "identifier": {
            "@type": "PropertyValue",
            "propertyID": "DOI",
            "value": attrs["doi"],
            "url": f"https://doi.org/{attrs['doi']}",
        },
        "url": attrs["url"],
        "name": attrs["titles"][0]["title"],
        "description": " ".join(d["description"] for d in attrs["descriptions"]),
        "creator": [{"@type": "Organization", "name": c["name"]} for c in attrs["creators"]],
        "publisher": {"@type": "Organization", "name": attrs["publisher"]["name"]},
        "datePublished": attrs["dates"][0]["date"],
        "keywords": [s["subject"] for s in attrs.get("subjects", [])],
        "inLanguage": attrs.get("language", "en"),
    }
    parts = [r for r in attrs.get("relatedIdentifiers", []) if r["relationType"] == "IsPartOf"]
    if parts:
        doc["isPartOf"] = [{"@id": f"https://doi.org/{r['relatedIdentifier']}"} for r in parts]
    cited = [
        r["relatedIdentifier"]
        for r in attrs.get("relatedIdentifiers", [])
        if r["relationType"] == "IsCitedBy"
    ]
    if cited:
        doc["citation"] = [
            {"@type": "ScholarlyArticle", "identifier": b}
            | ({"url": url} if (url := publications.ads_url(b)) else {})
            for b in cited
        ]
    if attrs.get("formats"):
        doc["encodingFormat"] = attrs["formats"]
    return doc
