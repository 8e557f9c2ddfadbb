"""VOSI documents (availability, capabilities with TAPRegExt, tables), built from vo-models."""

from __future__ import annotations

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
from vo_models.vosi.availability.models import Availability
from vo_models.vosi.capabilities.models import VOSICapabilities
from vo_models.vosi.tables.models import VOSITable, VOSITableSet

from services.tap.metadata import Metadata, PublishedTable
from shared.settings import LimitSettings

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
    ("application/x-votable+xml", ["votable", "votable/b2"]),
    ("application/x-votable+xml;serialization=TABLEDATA", ["votable/td"]),
    ("text/csv", ["csv"]),
    ("text/tab-separated-values", ["tsv"]),
    ("application/json", ["json"]),
]
"""Result formats (MIME type and the short FORMAT aliases)."""

_GEO = "ivo://ivoa.net/std/TAPRegExt#features-adqlgeo"
_STRING = "ivo://ivoa.net/std/TAPRegExt#features-adql-string"
_OFFSET = "ivo://ivoa.net/std/TAPRegExt#features-adql-offset"
OBSCORE_DM = "ivo://ivoa.net/std/ObsCore#core-1.1"
"""The data model ivoa.obscore implements (ESASky and taplint look for it)."""
EXAMPLES = "ivo://ivoa.net/std/DALI#examples"
"""The DALI 1.1 examples capability (served at ``<tap>/examples``)."""


def _xml(model: BaseXmlModel) -> bytes:
    out = model.to_xml(skip_empty=True)
    return out if isinstance(out, bytes) else out.encode("utf-8")


def availability(available: bool, note: str) -> bytes:
    """The VOSI availability document."""
    return _xml(Availability(available=available, note=[note]))


def _vosi(standard: str, url: str) -> Capability:
    return Capability(
        standard_id=AnyUrl(f"ivo://ivoa.net/std/VOSI#{standard}"),
        interface=[ParamHTTP(access_url=[AccessURL(value=AnyUrl(url), use="full")])],
    )


def capabilities(base: str, limits: LimitSettings, timeout: float) -> bytes:
    """The VOSI capabilities document with the TAPRegExt description of this service."""
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
                ],
            )
        ],
        output_format=[OutputFormat(mime=m, alias=a) for m, a in OUTPUT_FORMATS],
        execution_duration=TimeLimits(default=round(timeout), hard=round(timeout)),
        output_limit=DataLimits(
            default=DataLimit(value=limits.maxrec_default, unit="row"),
            hard=DataLimit(value=limits.maxrec_hard, unit="row"),
        ),
    )
    caps = VOSICapabilities(
        capability=[
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
        ]
    )
    return _xml(caps)


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
