"""Policy of the DOI room: what a DOI resolves to in each representation, and what exists
near an unknown one."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from sqlalchemy import Connection

from services.products.common import NotFound
from services.products.doi import store
from shared import publications
from shared.doi import metadata
from shared.settings import doi_settings

DATACITE_XML = "application/vnd.datacite.datacite+xml"
DATACITE_JSON = "application/vnd.datacite.datacite+json"
JSON_LD = "application/ld+json"
HTML = "text/html"
FORMATS = {"xml": DATACITE_XML, "json": DATACITE_JSON, "jsonld": JSON_LD, "html": HTML}
"""``?format=`` values and the representation each names (for clients that cannot set
``Accept``)."""

NEARBY = 5
"""Suffixes suggested for an unknown DOI."""


@dataclass
class Resolved:
    """A DOI's record and its representations' ingredients."""

    record: metadata.Record
    attributes: dict[str, Any]

    @property
    def simulated(self) -> bool:
        """Whether the identified data are simulated."""
        return bool(self.record.row.simulated)


def negotiate(accept: str, fmt: str | None) -> str:
    """The representation to answer: ``?format=`` first, then the ``Accept`` header (DataCite
    XML or JSON, JSON-LD; HTML otherwise)."""
    if fmt:
        return FORMATS[fmt]
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate(accept.split(",")):
        media, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        ranked.append((-q, i, media.strip().lower()))
    for _, _, media in sorted(ranked):
        if media in (DATACITE_XML, DATACITE_JSON, JSON_LD, HTML):
            return media
        if media in ("application/xml", "text/xml"):
            return DATACITE_XML
        if media == "application/json":
            return DATACITE_JSON
    return HTML


def nearby(conn: Connection, suffix: str) -> list[str]:
    """The existing suffixes closest to ``suffix``."""
    pool = store.candidates(conn, suffix)
    close = difflib.get_close_matches(suffix, pool, n=NEARBY, cutoff=0.0)
    return close or pool[:NEARBY]


def resolve(conn: Connection, suffix: str, base_url: str) -> Resolved:
    """The record of ``suffix`` (case-insensitive); NotFound naming the nearest ones."""
    wanted = suffix.strip().lower()
    record = metadata.load(conn, wanted, base_url)
    if record is None:
        raise NotFound(
            f"no DOI with suffix {suffix!r} in this archive",
            {"nearby": nearby(conn, wanted), "listing": f"{base_url}/doi/"},
        )
    attrs = metadata.datacite_attributes(record, doi_settings(), base_url)
    return Resolved(record, attrs)


def listing(conn: Connection, base_url: str, kind: str | None) -> list[dict[str, Any]]:
    """Every DOI: doi, suffix, title, resource type, simulated, landing page."""
    return [
        {
            "doi": r.doi,
            "suffix": r.suffix,
            "title": r.title,
            "resource_type": r.resource_type,
            "resource_type_general": r.resource_type_general,
            "kind": r.kind,
            "simulated": r.simulated,
            "state": r.state,
            "url": metadata.landing_url(base_url, r.suffix),
        }
        for r in store.listing(conn, kind)
    ]


def json_ld_text(attrs: dict[str, Any]) -> str:
    """The JSON-LD block of a landing page, safe inside ``<script>``."""
    return json.dumps(metadata.schema_org(attrs), indent=1).replace("</", "<\\/")


def local_suffix(doi: str, prefixes: tuple[str, ...]) -> str | None:
    """The suffix of a DOI of this archive (to link its landing page), else None."""
    prefix, _, suffix = doi.partition("/")
    return suffix if prefix in prefixes else None


def page_data(resolved: Resolved, base_url: str) -> dict[str, Any]:
    """What the landing page shows."""
    attrs = resolved.attributes
    row = resolved.record.row
    prefixes = (doi_settings().doi_prefix, "10.5072")
    relations: dict[str, list[dict[str, Any]]] = {}
    for rel in attrs.get("relatedIdentifiers", []):
        item: dict[str, Any] = {
            "id": rel["relatedIdentifier"],
            "type": rel["relatedIdentifierType"],
        }
        if rel["relatedIdentifierType"] == "DOI":
            item["local"] = local_suffix(rel["relatedIdentifier"], prefixes)
        elif rel["relatedIdentifierType"] == "bibcode":
            item["ads"] = publications.ads_url(rel["relatedIdentifier"])
        relations.setdefault(rel["relationType"], []).append(item)
    access: list[tuple[str, str]] = []
    if row.kind == "product":
        access = [
            ("The file", f"{base_url}/products/files/{quote(row.target, safe='/')}"),
            (
                "DataLink (the file, its calibration, previews, progenitors)",
                f"{base_url}/datalink?{urlencode({'ID': row.target})}",
            ),
        ]
    elif row.kind == "revolution":
        access = [
            ("The revolution's page", f"{base_url}/revolutions/{row.target}"),
            ("All its raw data as one tar", f"{base_url}/raw/archive.tar?revolution={row.target}"),
            (
                "Its manifest (files, sizes, SHA-256)",
                f"{base_url}/raw/manifest.json?revolution={row.target}",
            ),
        ]
    return {
        "title": str(row.title),
        "doi": resolved.record.doi,
        "suffix": resolved.record.suffix,
        "attrs": attrs,
        "row": row,
        "citation": metadata.citation(attrs),
        "relations": relations,
        "access": access,
        "jsonld": json_ld_text(attrs),
        "is_simulated": resolved.simulated,
        "simulated_note": metadata.SIMULATED_NOTE,
    }
