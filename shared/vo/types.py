"""How Postgres column types appear in VO documents (VOTable datatype, arraysize, xtype).

One table serves both TAP_SCHEMA (built from the catalog at migration time) and query results
(built from the result's type OIDs at run time), so that a column is described the same way in
``/tap/tables`` and in the FIELD of a result.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class VOType:
    """VOTable representation of one database type."""

    datatype: str
    arraysize: str | None = None
    xtype: str | None = None

    @property
    def variable(self) -> bool:
        """True when values have a variable length (a length prefix in BINARY2)."""
        return self.arraysize is not None and self.arraysize.endswith("*")


TEXT = VOType("char", "*")
"""Any value shown as text (unknown types fall back to it): ASCII in binary serialisations."""

UNICODE = VOType("unicodeChar", "*")
"""Free text that may hold any character (names, descriptions)."""

REGION = VOType("char", "*", "adql:REGION")
"""A pgSphere shape written as an STC-S string (``Polygon ICRS ra1 dec1 ...``, degrees).

ObsCore 1.1 types ``s_region`` as an ADQL region in a ``char`` column (what taplint checks,
and what ESASky and Aladin draw footprints from); the column stays a pgSphere ``spoly`` in
the database, so that ``CONTAINS``/``INTERSECTS`` on it use the GiST index. Elsewhere shapes
are DALI arrays (xtype polygon, circle, point).
"""

# Keyed by pg_type.typname. pgSphere values are sent as degrees in the DALI xtypes (point is
# [ra, dec], circle [ra, dec, radius], polygon the flat vertex list), as DALI 1.1 says.
BY_TYPNAME: dict[str, VOType] = {
    "bool": VOType("boolean"),
    "int2": VOType("short"),
    "int4": VOType("int"),
    "int8": VOType("long"),
    "float4": VOType("float"),
    "float8": VOType("double"),
    "numeric": VOType("double"),
    # Free text may hold accents (names of people and sources); VOTable's char is ASCII in
    # binary serialisations, so it goes as unicodeChar. Identifiers (varchar) stay char.
    "text": UNICODE,
    "varchar": TEXT,
    "bpchar": TEXT,
    "name": TEXT,
    "json": TEXT,
    "jsonb": TEXT,
    "date": VOType("char", "*", "timestamp"),
    "timestamp": VOType("char", "*", "timestamp"),
    "timestamptz": VOType("char", "*", "timestamp"),
    "spoint": VOType("double", "2", "point"),
    "scircle": VOType("double", "3", "circle"),
    "spoly": VOType("double", "*", "polygon"),
}


def vo_type(typname: str) -> VOType:
    """The VO representation of Postgres type ``typname`` (text when unknown)."""
    return BY_TYPNAME.get(typname, TEXT)
