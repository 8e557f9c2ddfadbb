"""VO metadata of published tables and columns: what TAP_SCHEMA, VOSI and results describe.

Kept apart from :mod:`shared.vo.tap_schema` (which lists the archive's tables) and
:mod:`shared.vo.obscore` (which describes the ObsCore view) so that both build on it without
importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.vo.types import VOType


@dataclass(frozen=True)
class ColumnDoc:
    """VO metadata of one column (its type comes from the database)."""

    description: str
    unit: str | None = None
    ucd: str | None = None
    utype: str | None = None
    principal: bool = False
    std: bool = False
    vo: VOType | None = None
    """How the column is written when not as its database type says (ObsCore's s_region)."""


@dataclass(frozen=True)
class TableDoc:
    """VO metadata of one published table or view."""

    schema: str
    name: str
    description: str
    table_type: str = "table"
    utype: str | None = None
    columns: dict[str, ColumnDoc] = field(default_factory=dict)
    required: bool = True
    """False for tables a later migration creates: skipped by :func:`refresh` until they exist."""
    hidden: frozenset[str] = frozenset()
    """Columns of the database table that are not published (reached through another view)."""

    @property
    def qualified(self) -> str:
        """``schema.table``, the name ADQL queries and TAP_SCHEMA use."""
        return f"{self.schema}.{self.name}"
