"""The published tables as TAP_SCHEMA describes them, cached in memory for the ADQL checks."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.vo.results import ResultField
from shared.vo.types import VOType


@dataclass(frozen=True)
class PublishedColumn:
    """One row of TAP_SCHEMA.columns."""

    name: str
    vo: VOType
    unit: str | None
    ucd: str | None
    utype: str | None
    description: str | None
    indexed: bool
    principal: bool
    std: bool

    def field(self, name: str | None = None) -> ResultField:
        """This column as a result FIELD (optionally renamed)."""
        return ResultField(
            name or self.name, self.vo, self.unit, self.ucd, self.utype, self.description
        )


@dataclass(frozen=True)
class PublishedTable:
    """One row of TAP_SCHEMA.tables with its columns in display order."""

    schema: str
    name: str
    table_type: str
    description: str | None
    columns: dict[str, PublishedColumn]


@dataclass(frozen=True)
class ForeignKeyInfo:
    """One TAP_SCHEMA key with its column pairs."""

    key_id: str
    from_table: str
    target_table: str
    description: str | None
    columns: list[tuple[str, str]]


@dataclass
class Metadata:
    """Everything TAP_SCHEMA says, keyed the way ADQL names tables (lower case)."""

    schemas: dict[str, str | None] = field(default_factory=dict)
    tables: dict[str, PublishedTable] = field(default_factory=dict)
    keys: list[ForeignKeyInfo] = field(default_factory=list)

    def catalog(self) -> dict[str, dict[str, PublishedColumn]]:
        """Qualified lower-case table name → columns (what the ADQL checks take)."""
        return {name: t.columns for name, t in self.tables.items()}


async def load_metadata(engine: AsyncEngine) -> Metadata:
    """Read TAP_SCHEMA."""
    meta = Metadata()
    async with engine.connect() as conn:
        for name, description in await conn.execute(
            text("SELECT schema_name, description FROM tap_schema.schemas ORDER BY schema_index")
        ):
            meta.schemas[name] = description
        tables = (
            await conn.execute(
                text(
                    "SELECT schema_name, table_name, table_type, description "
                    "FROM tap_schema.tables ORDER BY table_index"
                )
            )
        ).all()
        columns = (
            await conn.execute(
                text(
                    "SELECT table_name, column_name, datatype, arraysize, xtype, unit, ucd, "
                    "utype, description, indexed, principal, std "
                    "FROM tap_schema.columns ORDER BY table_name, column_index"
                )
            )
        ).all()
        keys = (
            await conn.execute(
                text(
                    "SELECT k.key_id, k.from_table, k.target_table, k.description, "
                    "c.from_column, c.target_column FROM tap_schema.keys k "
                    "JOIN tap_schema.key_columns c USING (key_id) ORDER BY k.key_id, c.ctid"
                )
            )
        ).all()
    by_table: dict[str, dict[str, PublishedColumn]] = {}
    for row in columns:
        # Keyed as Postgres names the column: TAP_SCHEMA delimits reserved words ("size").
        by_table.setdefault(row[0], {})[row[1].strip('"')] = PublishedColumn(
            name=row[1],
            vo=VOType(row[2], row[3], row[4]),
            unit=row[5],
            ucd=row[6],
            utype=row[7],
            description=row[8],
            indexed=bool(row[9]),
            principal=bool(row[10]),
            std=bool(row[11]),
        )
    for schema, name, table_type, description in tables:
        meta.tables[name.lower()] = PublishedTable(
            schema, name, table_type, description, by_table.get(name, {})
        )
    # Key columns in stored order (ctid): what a plain query of TAP_SCHEMA.key_columns
    # returns, so that /tables and TAP_SCHEMA list a composite key alike (taplint's TMC).
    grouped: dict[str, ForeignKeyInfo] = {}
    for key_id, from_table, target_table, description, from_col, target_col in keys:
        fk = grouped.setdefault(
            key_id, ForeignKeyInfo(key_id, from_table, target_table, description, [])
        )
        fk.columns.append((from_col, target_col))
    meta.keys = list(grouped.values())
    return meta


class MetadataCache:
    """TAP_SCHEMA in memory, re-read after ``ttl`` seconds (it changes only with migrations)."""

    def __init__(self, ttl: float) -> None:
        """An empty cache."""
        self.ttl = ttl
        self._value: Metadata | None = None
        self._loaded = 0.0
        self._lock = asyncio.Lock()

    async def get(self, engine: AsyncEngine) -> Metadata:
        """The metadata, loading it when missing or stale."""
        async with self._lock:
            if self._value is None or time.monotonic() - self._loaded > self.ttl:
                self._value = await load_metadata(engine)
                self._loaded = time.monotonic()
            return self._value
