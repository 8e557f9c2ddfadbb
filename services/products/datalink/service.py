"""The links of DataLink 1.1 (``{links}``): the document, identifiers, and the links of a
science window or a product.

Every science window and every product has a links document: the files that make the dataset
(``#this``), packages of them (``#package``), previews (``#preview``), the ARF/RMF of a spectrum
(``#calibration``), the raw science windows a product was made from (``#progenitor``), the
products made from a science window (``#derivation``), and documentation (metadata, the source
page, sources in the field). Identifiers are the ObsCore ``obs_publisher_did``
(``ivo://isla.integral/isla?scw/<scw>.<version>``, ``...?product/<product id>``,
``...?timeseries/<file id>`` for a SPI-ACS or IREM file) or the plain
ScW id (``008100430010`` or ``008100430010.001``) or product id, any number per request
(``ID`` repeated, GET or POST). An identifier the archive does not know gets an error row
(``NotFoundFault: ...``), never an HTTP error, as DataLink §3.2.2 asks; only a request
without any ID is a usage error (DALI error document, 400).
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from astropy.io.votable.tree import Field, Info, Resource, TableElement, VOTableFile
from sqlalchemy.ext.asyncio import AsyncConnection

from services.products.datalink import store
from shared.settings import peer_settings
from shared.timeseries.datasets import DATASETS
from shared.timeseries.times import tt_of_ijd, utc_iso
from shared.vo.errors import NotFoundFault
from shared.vo.obscore import AUTHORITY

STANDARD_ID = "ivo://ivoa.net/std/DataLink#links-1.1"
DATALINK_TYPE = "application/x-votable+xml;content=datalink"
"""MIME type of a links document (what ObsCore's access_format says for products)."""
MAX_IDS = 500
"""Identifiers answered in one request."""
MAX_FIELD_SOURCES = 20
"""Sources in a science window's field linked from it (nearest to the pointing first)."""
DID_PREFIX = f"ivo://{AUTHORITY}/isla?"
SCW_ID = re.compile(r"^(\d{12})(?:\.(\d{3}))?$")
EPOCH_OBSID = re.compile(r"^\d{4}_(\d{11})$")

COLUMNS: tuple[tuple[str, str, str, str | None], ...] = (
    ("ID", "char", "meta.id;meta.main", None),
    ("access_url", "char", "meta.ref.url", None),
    ("service_def", "char", "meta.ref", None),
    ("error_message", "char", "meta.code.error", None),
    ("semantics", "char", "meta.code", None),
    ("description", "char", "meta.note", None),
    ("content_type", "char", "meta.code.mime", None),
    ("content_length", "long", "phys.size;meta.file", "byte"),
)
"""The DataLink 1.1 §3.2.4 columns: name, VOTable datatype, UCD, unit."""


@dataclass(frozen=True)
class Link:
    """One row of a links document."""

    id: str
    access_url: str | None = None
    semantics: str | None = None
    description: str | None = None
    content_type: str | None = None
    content_length: int | None = None
    error_message: str | None = None
    service_def: str | None = None


# --- the document -------------------------------------------------------------------------------


def links_votable(links: Sequence[Link]) -> bytes:
    """The links document: one VOTable 1.4 table with DataLink's columns, in TABLEDATA."""
    vot = VOTableFile(version="1.4")
    resource = Resource(type="results")
    vot.resources.append(resource)
    resource.infos.append(Info(name="standardID", value=STANDARD_ID))
    table = TableElement(vot, name="links")
    resource.tables.append(table)
    for name, datatype, ucd, unit in COLUMNS:
        arraysize = "*" if datatype == "char" else None
        table.fields.append(
            Field(
                vot, name=name, ID=name, datatype=datatype, arraysize=arraysize, ucd=ucd, unit=unit
            )
        )
    table.create_arrays(len(links))
    for i, link in enumerate(links):
        values = (
            link.id,
            link.access_url or "",
            link.service_def or "",
            link.error_message or "",
            link.semantics or "",
            link.description or "",
            link.content_type or "",
            link.content_length if link.content_length is not None else 0,
        )
        table.array[i] = values
        table.array.mask[i] = tuple(
            v is None
            for v in (
                link.id,
                link.access_url,
                link.service_def,
                link.error_message,
                link.semantics,
                link.description,
                link.content_type,
                link.content_length,
            )
        )
    out = io.BytesIO()
    vot.to_xml(out, tabledata_format="tabledata")
    return out.getvalue()


# --- identifiers --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """What an identifier designates: a science window or a product (or nothing known)."""

    kind: str  # "scw", "product", "timeseries" or "bad"
    value: str
    version: str | None = None


def parse_id(raw: str) -> Target:
    """Classify one identifier (publisher DID, plain ScW id or product id)."""
    value = raw.strip()
    if value.startswith(DID_PREFIX):
        rest = value[len(DID_PREFIX) :]
        if rest.startswith("scw/"):
            match = SCW_ID.match(rest[4:])
            if match:
                return Target("scw", match.group(1), match.group(2))
            return Target("bad", value)
        if rest.startswith("product/") and len(rest) > len("product/"):
            return Target("product", rest[len("product/") :])
        if rest.startswith("timeseries/") and len(rest) > len("timeseries/"):
            return Target("timeseries", rest[len("timeseries/") :])
        return Target("bad", value)
    match = SCW_ID.match(value)
    if match:
        return Target("scw", match.group(1), match.group(2))
    return Target("product", value) if value else Target("bad", value)


def not_found(raw: str, what: str) -> Link:
    """The error row of an identifier the archive does not know (``NotFoundFault: ...``)."""
    return Link(id=raw, error_message=NotFoundFault(what).text)


# --- links of a science window -------------------------------------------------------------------


async def scw_links(conn: AsyncConnection, raw: str, target: Target) -> list[Link]:
    """The links of one science window."""
    row = await store.science_window(conn, target.value, target.version)
    if row is None:
        shown = target.value + (f".{target.version}" if target.version else "")
        return [not_found(raw, f"science window {shown} is not in the archive")]
    raw_base = peer_settings().peer("raw")
    products_base = peer_settings().peer("products")
    scw = row.scw_id
    links = [
        Link(
            raw,
            f"{raw_base}/raw/scw/{scw}.tar",
            "#this",
            f"science window {scw}.{row.version}: all its raw files as a tar (with SHA256SUMS)",
            "application/x-tar",
        ),
        Link(
            raw,
            f"{raw_base}/raw/scw/{scw}.tar.gz",
            "#package",
            "the same tar, gzip-compressed",
            "application/gzip",
        ),
        Link(
            raw,
            f"{raw_base}/raw/scw/{scw}",
            "#documentation",
            "science window metadata: times, pointing, exposures, files and checksums",
            "application/json",
        ),
    ]
    files = await store.scw_files(conn, scw, row.version)
    links += [
        Link(
            raw,
            f"{raw_base}/raw/scw/{scw}/files/{quote(f.name)}",
            "#this",
            f"raw file {f.name} of science window {scw}",
            f.content_type,
            int(f.size),
        )
        for f in files
    ]
    if row.obsid:
        query = urlencode({"obsid": row.obsid})
        links.append(
            Link(
                raw,
                f"{raw_base}/raw/archive.tar?{query}",
                "#package",
                f"every science window of observation {row.obsid} as one tar",
                "application/x-tar",
            )
        )
        derived = await store.epoch_products(conn, f"{row.revolution:04d}_{row.obsid}")
        links += [
            Link(
                raw,
                _product_file_url(products_base, p.product_id),
                "#derivation",
                f"{p.kind} ({p.instrument}) made from observation {row.obsid}: {p.product_id}",
                p.content_type,
                int(p.size),
            )
            for p in derived
        ]
    sources = await store.field_sources(conn, scw, row.version, MAX_FIELD_SOURCES)
    links += [
        Link(
            raw,
            f"{products_base}/products/sources/{quote(s.source_id)}",
            "#auxiliary",
            f"source {s.name} ({s.source_id}) in the ISGRI field of view: its page",
            "application/json",
        )
        for s in sources
    ]
    return links


# --- links of a product --------------------------------------------------------------------------


def _product_file_url(base: str, product_id: str) -> str:
    """Where a product file is downloaded (the products service's native file route)."""
    return f"{base}/products/files/{quote(product_id, safe='/')}"


def _isla_package(base: str, row: Any) -> tuple[str, str, str] | None:
    """ISLA's package of a product (``data?RETRIEVAL_TYPE=...``): URL, type, description."""
    if row.kind == "spectrum":
        query = urlencode({"RETRIEVAL_TYPE": "spectras", "spectra_oid": row.product_id})
        return (
            f"{base}/data?{query}",
            "application/x-tar",
            "ISLA package: the spectrum with its ARF and RMF as a tar",
        )
    if row.kind == "mosaic":
        query = urlencode({"RETRIEVAL_TYPE": "mosaics", "mosaic_oid": row.product_id})
        return (
            f"{base}/data?{query}",
            "application/gzip",
            "ISLA package: the mosaic images of this epoch and band as a tar.gz",
        )
    return None


async def product_links(conn: AsyncConnection, raw: str, target: Target) -> list[Link]:
    """The links of one product."""
    row = await store.product(conn, target.value)
    if row is None:
        return [not_found(raw, f"product {target.value!r} is not in the archive")]
    peers = peer_settings()
    products_base, raw_base = peers.peer("products"), peers.peer("raw")
    meta: dict[str, Any] = dict(row.meta or {})
    links = [
        Link(
            raw,
            _product_file_url(products_base, row.product_id),
            "#this",
            f"{row.kind} {row.file_name} ({row.instrument})",
            row.content_type,
            int(row.size),
        ),
    ]
    package = _isla_package(peers.base_url.rstrip("/"), row)
    if package is not None:
        links.append(Link(raw, package[0], "#package", package[2], package[1]))
    related = await store.related(
        conn,
        row.product_id,
        [v for k, v in meta.items() if k in ("arf", "rmf", "of") and isinstance(v, str)],
    )
    for other in related:
        if other.kind == "preview" and row.kind == "mosaic":
            continue  # a mosaic's preview is rendered from the stored file (linked below)
        if other.kind == "preview":
            semantics, what = "#preview", f"preview image of {row.product_id}"
        elif other.kind in ("arf", "rmf"):
            semantics, what = "#calibration", f"{other.kind.upper()} of this spectrum"
        elif meta.get("of") == other.product_id:
            semantics, what = "#progenitor", f"the {other.kind} this {row.kind} shows"
        else:
            semantics, what = "#auxiliary", f"{other.kind} {other.file_name}"
        links.append(
            Link(
                raw,
                _product_file_url(products_base, other.product_id),
                semantics,
                what,
                other.content_type,
                int(other.size),
            )
        )
    if row.kind == "mosaic" and row.epoch and row.band:
        # Previews are views rendered from the stored mosaic, not stored files.
        query = urlencode({"instrument": row.instrument, "band": row.band, "format": "png"})
        links.append(
            Link(
                raw,
                f"{products_base}/products/mosaics/{row.epoch}?{query}",
                "#preview",
                f"preview image of {row.product_id}, rendered from the stored file",
                "image/png",
            )
        )
    if row.source_id:
        links.append(
            Link(
                raw,
                f"{products_base}/products/sources/{quote(row.source_id)}",
                "#documentation",
                f"source page of {row.source_name or row.source_id}: positions, fluxes, "
                "products, coverage",
                "application/json",
            )
        )
    links += _progenitors(raw, raw_base, row)
    if row.kind in CONTRIBUTED_KINDS:
        links += await _contributed(conn, raw, products_base, meta)
    return links


CONTRIBUTED_KINDS = frozenset({"contributed_table", "contributed_map"})
"""Product kinds of contributed collections (``services.ingest.contributed``)."""


async def _contributed(
    conn: AsyncConnection, raw: str, base: str, meta: dict[str, Any]
) -> list[Link]:
    """The documentation and software of a contributed product's collection version."""
    collection, version = meta.get("collection"), meta.get("version")
    if not isinstance(collection, str) or not isinstance(version, int):
        return []
    page = f"{base}/products/contributed/{quote(collection)}/{version}"
    links = [
        Link(
            raw,
            page,
            "#documentation",
            f"collection {collection} version {version}: authors, licence, every file",
            "application/json",
        )
    ]
    for f in await store.contributed_companions(conn, collection, version):
        if f.role == "documentation":
            semantics, what = "#documentation", f"documentation of {f.title}"
        else:
            semantics = "#auxiliary"
            what = f"software that made {f.title}" + (
                f", version {f.software_version}" if f.software_version else ""
            )
            what += f" (licence {f.software_licence})"
        links.append(
            Link(
                raw,
                f"{page}/files/{quote(f.file_name)}",
                semantics,
                what,
                f.content_type,
                int(f.size),
            )
        )
    return links


def _progenitors(raw: str, raw_base: str, row: Any) -> list[Link]:
    """The raw data a product was made from: its observation, or the source's ScWs."""
    obsid = row.obsid
    if not obsid and row.epoch:
        match = EPOCH_OBSID.match(row.epoch)
        obsid = match.group(1) if match else None
    if obsid:
        query = urlencode({"obsid": obsid})
        return [
            Link(
                raw,
                f"{raw_base}/raw/archive.tar?{query}",
                "#progenitor",
                f"raw science windows of observation {obsid} (tar)",
                "application/x-tar",
            ),
            Link(
                raw,
                f"{raw_base}/raw/manifest.json?{query}",
                "#progenitor",
                f"list of the raw science windows of observation {obsid}",
                "application/json",
            ),
        ]
    if row.source_id:
        instrument = {
            "ISGRI": "isgri",
            "JEM-X": "jemx",
            "JEM-X1": "jemx",
            "JEM-X2": "jemx",
            "SPI": "spi",
        }.get(row.instrument)
        params = {"source": row.source_id}
        if instrument:
            params["instrument"] = instrument
        return [
            Link(
                raw,
                f"{raw_base}/raw/manifest.json?{urlencode(params)}",
                "#progenitor",
                f"list of the raw science windows with {row.source_id} in the field",
                "application/json",
            )
        ]
    return []


# --- links of a time-series file ----------------------------------------------------------------


async def timeseries_links(conn: AsyncConnection, raw: str, target: Target) -> list[Link]:
    """The links of one delivered SPI-ACS or IREM file: the file, its samples through HAPI
    (and the 2 s / 10 s rebinned series of SPI-ACS), the interactive plot and the HAPI
    description."""
    row = await store.timeseries_file(conn, target.value)
    if row is None:
        return [not_found(raw, f"no time-series file {target.value!r}")]
    base = peer_settings().peer("products")
    label = "simulated" if row.simulated else "delivered"
    start = utc_iso(tt_of_ijd(float(row.t_start)))
    stop = utc_iso(tt_of_ijd(float(row.t_stop)) + 1.0)
    span = urlencode({"start": start, "stop": stop})
    links = [
        Link(
            id=raw,
            access_url=f"{base}/products/timeseries/{row.dataset}/files/{row.revolution}",
            semantics="#this",
            description=f"{row.instrument} file of revolution {row.revolution:04d} ({label})",
            content_type="application/fits",
            content_length=int(row.size),
        ),
        Link(
            id=raw,
            access_url=f"{base}/hapi/data?dataset={row.dataset}&{span}&format=csv",
            semantics="#auxiliary",
            description="The same samples through HAPI (CSV; binary and JSON by format=)",
            content_type="text/csv",
        ),
        Link(
            id=raw,
            access_url=f"{base}/products/timeseries/{row.dataset}/view?"
            + urlencode({"start": row.t_start, "stop": row.t_stop}),
            semantics="#preview",
            description="Interactive plot of the revolution, zoomable to single samples",
            content_type="text/html",
        ),
        Link(
            id=raw,
            access_url=f"{base}/hapi/info?dataset={row.dataset}",
            semantics="#documentation",
            description="HAPI description of the dataset (parameters, units, cadence)",
            content_type="application/json",
        ),
    ]
    for derived in DATASETS.values():
        if derived.derived_from == row.dataset:
            links.append(
                Link(
                    id=raw,
                    access_url=f"{base}/hapi/data?dataset={derived.id}&{span}&format=csv",
                    semantics="#derivation",
                    description=f"{derived.title}, over the same time range (HAPI CSV)",
                    content_type="text/csv",
                )
            )
    return links
