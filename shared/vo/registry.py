"""VOResource 1.1 records for the IVOA Registry: the parts every ISLA record shares.

The TAP service (``/tap/resource.xml``) and each HiPS of the all-sky maps
(``/hips/<map-id>/resource.xml``) are described as ``ri:Resource`` elements of ``xsi:type``
``vs:CatalogService``. vo-models has no whole-record class (only capabilities and tablesets),
so the record's head (title, identifier, curation, content, rights) is written here with lxml,
once, and each service appends its capabilities and what follows them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from lxml import etree

RI = "http://www.ivoa.net/xml/RegistryInterface/v1.0"
VR = "http://www.ivoa.net/xml/VOResource/v1.0"
VS = "http://www.ivoa.net/xml/VODataService/v1.1"
TR = "http://www.ivoa.net/xml/TAPRegExt/v1.0"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
NSMAP = {"ri": RI, "vr": VR, "vs": VS, "tr": TR, "xsi": XSI}


@dataclass(frozen=True)
class Curation:
    """Who publishes the archive's resources (a data centre running its own copy changes it)."""

    publisher: str = "INTEGRAL Science Legacy Archive"
    creator: str = "INTEGRAL Science Legacy Archive"
    contact_name: str = "ISLA helpdesk"
    contact_email: str | None = None


def sub(parent: etree._Element, tag: str, value: str | None = None, **attrs: str) -> etree._Element:
    """Append element ``tag`` (text ``value``, attributes ``attrs``) to ``parent``."""
    element = etree.SubElement(parent, tag, attrib=attrs)
    if value is not None:
        element.text = value
    return element


def catalog_service(
    *,
    identifier: str,
    title: str,
    short_name: str,
    created: str,
    updated: dt.datetime,
    curation: Curation,
    subjects: tuple[str, ...],
    description: str,
    reference_url: str,
    types: tuple[str, ...],
) -> etree._Element:
    """A ``vs:CatalogService`` record up to its ``rights``: the caller appends capabilities,
    then facility, instruments, coverage and tableset in the schema's order."""
    stamp = updated.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    root = etree.Element(
        f"{{{RI}}}Resource",
        nsmap=NSMAP,
        attrib={
            f"{{{XSI}}}type": "vs:CatalogService",
            "created": created,
            "updated": stamp,
            "status": "active",
        },
    )
    sub(root, "title", title)
    sub(root, "shortName", short_name)
    sub(root, "identifier", identifier)
    cur = sub(root, "curation")
    sub(cur, "publisher", curation.publisher)
    sub(sub(cur, "creator"), "name", curation.creator)
    sub(cur, "date", stamp[:10], role="Updated")
    contact = sub(cur, "contact")
    sub(contact, "name", curation.contact_name)
    if curation.contact_email:
        sub(contact, "email", curation.contact_email)
    content = sub(root, "content")
    for subject in subjects:
        sub(content, "subject", subject)
    sub(content, "description", description)
    sub(content, "referenceURL", reference_url)
    for kind in types:
        sub(content, "type", kind)
    sub(content, "contentLevel", "Research")
    sub(root, "rights", "public")
    return root


def serialise(root: etree._Element) -> bytes:
    """The record as an XML document."""
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
