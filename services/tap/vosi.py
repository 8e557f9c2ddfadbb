"""VOSI documents (capabilities with TAPRegExt, tables), built from vo-models,
and the service's VOResource record (``vs:CatalogService``) for the IVOA Registry."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from lxml import etree
from pydantic import AnyUrl
from pydantic_xml import BaseXmlModel
from vo_models.tapregext.models import (
    DataLimit,
    DataLimits,
    DataModelType,
    Language,
    LanguageFeature,
    LanguageFeatureList,
    OutputFormat,
    TableAccess,
    TimeLimits,
    UploadMethod,
    Version,
)
from vo_models.vodataservice.models import (
    DataType,
    FKColumn,
    ForeignKey,
    ParamHTTP,
    Table,
    TableParam,
    TableSchema,
)
from vo_models.voresource.models import AccessURL, Capability, WebBrowser
from vo_models.vosi.capabilities.models import VOSICapabilities
from vo_models.vosi.tables.models import VOSITable, VOSITableSet

from services.tap.metadata import Metadata, PublishedTable
from shared.settings import LimitSettings, TapSettings, peer_settings, tap_settings
from shared.vo import registry
from shared.vo.obscore import AUTHORITY
from shared.vo.registry import Curation

AVAILABILITY_PROBE = "SELECT 1 FROM tap_schema.schemas LIMIT 1"
"""The query VOSI availability runs: the service answers when TAP_SCHEMA is readable."""

GEOMETRY_FEATURES = [
    "POINT",
    "CIRCLE",
    "BOX",
    "POLYGON",
    "CONTAINS",
    "INTERSECTS",
    "DISTANCE",
    "AREA",
    "COORD1",
    "COORD2",
]
"""ADQL geometry functions the translation supports (TAPRegExt features-adqlgeo)."""

OUTPUT_FORMATS = [
    ("application/x-votable+xml", ["votable"]),
    ("application/x-votable+xml;serialization=BINARY2", ["votable/b2"]),
    ("application/x-votable+xml;serialization=TABLEDATA", ["votable/td", "votable_plain"]),
    ("application/fits", ["fits"]),
    ("text/csv", ["csv"]),
    ("text/tab-separated-values", ["tsv"]),
    ("application/json", ["json"]),
]
"""Result formats (MIME type and the short FORMAT aliases; ``shared.vo.results.FORMATS``)."""

UPLOAD_METHODS = [
    "ivo://ivoa.net/std/TAPRegExt#upload-inline",
    "ivo://ivoa.net/std/TAPRegExt#upload-http",
    "ivo://ivoa.net/std/TAPRegExt#upload-https",
]
"""TAP_UPLOAD: multipart parts (``param:``) and URLs (of the allowed hosts only)."""

_GEO = "ivo://ivoa.net/std/TAPRegExt#features-adqlgeo"
_STRING = "ivo://ivoa.net/std/TAPRegExt#features-adql-string"
_OFFSET = "ivo://ivoa.net/std/TAPRegExt#features-adql-offset"
_SETS = "ivo://ivoa.net/std/TAPRegExt#features-adql-sets"
DATALINK = "ivo://ivoa.net/std/DataLink#links-1.1"
"""The DataLink service that VOTable results' service descriptors point to."""
OBSCORE_DM = "ivo://ivoa.net/std/ObsCore#core-1.1"
"""The data model ivoa.obscore implements (ESASky and taplint look for it)."""
EXAMPLES = "ivo://ivoa.net/std/DALI#examples"
"""The DALI 1.1 examples capability (served at ``<tap>/examples``)."""


def _xml(model: BaseXmlModel) -> bytes:
    out = model.to_xml(skip_empty=True)
    return out if isinstance(out, bytes) else out.encode("utf-8")


def _vosi(standard: str, url: str) -> Capability:
    return Capability(
        standard_id=AnyUrl(f"ivo://ivoa.net/std/VOSI#{standard}"),
        interface=[ParamHTTP(access_url=[AccessURL(value=AnyUrl(url), use="full")])],
    )


def capabilities(
    base: str,
    limits: LimitSettings,
    timeout: float,
    settings: TapSettings | None = None,
    datalink_url: str | None = None,
) -> bytes:
    """The VOSI capabilities document with the TAPRegExt description of this service.

    ``timeout`` is the synchronous limit; executionDuration and retentionPeriod describe
    asynchronous jobs (``settings``, default the environment's). ``datalink_url`` (default
    the products service's ``/datalink``) is declared as a DataLink capability.
    """
    return _xml(
        VOSICapabilities(capability=capability_list(base, limits, timeout, settings, datalink_url))
    )


def capability_list(
    base: str,
    limits: LimitSettings,
    timeout: float,
    settings: TapSettings | None = None,
    datalink_url: str | None = None,
) -> list[Capability]:
    """The capabilities of the service (for VOSI and for its VOResource record)."""
    settings = settings or tap_settings()
    datalink_url = datalink_url or f"{peer_settings().peer('products')}/datalink"
    features = [LanguageFeature(form=f"{name}") for name in GEOMETRY_FEATURES]
    versions = [
        Version(value="2.0", ivo_id="ivo://ivoa.net/std/ADQL#v2.0"),
        Version(value="2.1", ivo_id="ivo://ivoa.net/std/ADQL#v2.1"),
    ]
    access = [AccessURL(value=AnyUrl(base), use="base")]
    tap = TableAccess(
        interface=[ParamHTTP(role="std", version="1.1", access_url=access)],
        data_model=[DataModelType(value="ObsCore-1.1", ivo_id=OBSCORE_DM)],
        language=[
            Language(
                name="ADQL",
                version=versions,
                description="ADQL 2.1 translated to PostgreSQL + pgSphere.",
                language_features=[
                    LanguageFeatureList(type=_GEO, feature=features),
                    LanguageFeatureList(type=_STRING, feature=[LanguageFeature(form="ILIKE")]),
                    LanguageFeatureList(type=_OFFSET, feature=[LanguageFeature(form="OFFSET")]),
                    LanguageFeatureList(type=_SETS, feature=[LanguageFeature(form="UNION")]),
                ],
            )
        ],
        output_format=[OutputFormat(mime=m, alias=a) for m, a in OUTPUT_FORMATS],
        upload_method=[UploadMethod(ivo_id=m) for m in UPLOAD_METHODS],
        retention_period=TimeLimits(
            default=settings.async_destruction, hard=settings.async_max_destruction
        ),
        # Asynchronous jobs' limits (sync queries stop after ISLA_TAP_QUERY_TIMEOUT).
        execution_duration=TimeLimits(
            default=settings.async_execution_duration,
            hard=max(settings.async_max_execution_duration, round(timeout)),
        ),
        output_limit=DataLimits(
            default=DataLimit(value=limits.maxrec_default, unit="row"),
            hard=DataLimit(value=limits.maxrec_hard, unit="row"),
        ),
        upload_limit=DataLimits(
            default=DataLimit(value=limits.upload_max_bytes, unit="byte"),
            hard=DataLimit(value=limits.upload_max_bytes, unit="byte"),
        ),
    )
    return [
        tap,
        _vosi("capabilities", f"{base}/capabilities"),
        _vosi("availability", f"{base}/availability"),
        _vosi("tables", f"{base}/tables"),
        Capability(
            standard_id=AnyUrl(EXAMPLES),
            interface=[
                WebBrowser(access_url=[AccessURL(value=AnyUrl(f"{base}/examples"), use="full")])
            ],
        ),
        Capability(
            standard_id=AnyUrl(DATALINK),
            interface=[
                ParamHTTP(
                    role="std",
                    version="1.1",
                    access_url=[AccessURL(value=AnyUrl(datalink_url), use="full")],
                )
            ],
        ),
    ]


def _table(table: PublishedTable, meta: Metadata, detail: bool, cls: type[Table]) -> Table:
    columns = []
    keys = []
    if detail:
        for c in table.columns.values():
            flags = [f for f, on in (("indexed", c.indexed), ("principal", c.principal)) if on]
            columns.append(
                TableParam(
                    column_name=c.name,
                    description=c.description or None,
                    unit=c.unit,
                    ucd=c.ucd,
                    utype=c.utype,
                    # No xtype element: VODataService 1.1 (what validators check) has none.
                    datatype=DataType(value=c.vo.datatype, arraysize=c.vo.arraysize),
                    flag=flags,
                )
            )
        for key in meta.keys:
            if key.from_table == table.name:
                keys.append(
                    ForeignKey(
                        target_table=key.target_table,
                        description=key.description,
                        fk_column=[
                            FKColumn(from_column=f, target_column=t) for f, t in key.columns
                        ],
                    )
                )
    return cls(
        table_name=table.name,
        table_type=table.table_type,
        description=table.description or None,
        column=columns,
        foreign_key=keys,
    )


def tableset(meta: Metadata, detail: bool = True) -> bytes:
    """The VOSI tables document; ``detail=False`` lists tables without their columns."""
    schemas = []
    for schema, description in meta.schemas.items():
        tables = [
            _table(t, meta, detail, Table) for t in meta.tables.values() if t.schema == schema
        ]
        schemas.append(TableSchema(schema_name=schema, description=description, table=tables))
    return _xml(VOSITableSet(tableset_schema=schemas))


def single_table(meta: Metadata, name: str) -> bytes | None:
    """The VOSI document of one table (``/tables/<name>``), or None when unknown."""
    table = meta.tables.get(name.lower())
    if table is None:
        return None
    return _xml(_table(table, meta, True, VOSITable))


@dataclass(frozen=True)
class RecordInfo:
    """What a data centre says about its TAP service in the Registry (curation, content).

    The defaults describe ISLA itself; a data centre that registers its own copy changes the
    identifier (its registered authority) and the curation.
    """

    identifier: str = f"ivo://{AUTHORITY}/tap"
    created: str = "2026-11-25T00:00:00Z"
    title: str = "INTEGRAL Science Legacy Archive (ISLA) TAP service"
    short_name: str = "ISLA TAP"
    curation: Curation = field(default_factory=Curation)
    reference_url: str | None = None
    subjects: tuple[str, ...] = ("gamma-ray-astronomy", "x-ray-astronomy", "space-observatories")
    description: str = (
        "ADQL access to the final archive of ESA's INTEGRAL gamma-ray observatory "
        "(2002-10-17 to 2025-02-28): science windows and pointings of IBIS/ISGRI, PICsIT, "
        "JEM-X, SPI and OMC, observations and proposals, the source catalogue with fluxes per "
        "energy band, science products (light curves, spectra, mosaics) and ObsCore "
        "(ivoa.obscore) with links to the raw data and products. Supports TAP_UPLOAD for "
        "cross-matches with user tables and DataLink service descriptors in the results."
    )
    facility: str = "INTEGRAL"
    instruments: tuple[str, ...] = ("IBIS", "SPI", "JEM-X", "OMC")


def resource_record(
    base: str,
    meta: Metadata,
    limits: LimitSettings,
    timeout: float,
    updated: dt.datetime,
    info: RecordInfo | None = None,
    simulation_note: str = "",
) -> bytes:
    """The VOResource 1.1 record of this TAP service (``ri:Resource``, ``vs:CatalogService``).

    Its capabilities are those of ``/tap/capabilities`` and its tableset that of
    ``/tap/tables`` (the same vo-models documents, re-parented into the record).
    ``simulation_note`` (:meth:`shared.simulation.Holdings.sentence`) says what of the archive
    is simulated; it leads the description when the archive holds simulated data.
    """
    info = info or RecordInfo()
    description = info.description
    if simulation_note:
        description = f"{simulation_note} {description.replace('the final archive', 'an archive')}"
    root = registry.catalog_service(
        identifier=info.identifier,
        title=info.title,
        short_name=info.short_name,
        created=info.created,
        updated=updated,
        curation=info.curation,
        subjects=info.subjects,
        description=description,
        reference_url=info.reference_url or f"{base}/examples",
        types=("Archive", "Catalog"),
    )
    sub = registry.sub
    capabilities_doc = etree.fromstring(capabilities(base, limits, timeout))
    for capability in capabilities_doc:
        root.append(capability)
    sub(root, "facility", info.facility)
    for instrument in info.instruments:
        sub(root, "instrument", instrument)
    tables_doc = etree.fromstring(tableset(meta, detail=True))
    tables = sub(root, "tableset")
    for schema in tables_doc:
        tables.append(schema)
    return registry.serialise(root)
