"""The TAP request parameters as the OpenAPI document declares them (TAP 1.1 §2.3, DALI)."""

from __future__ import annotations

from shared.openapi import Param

SYNC_PARAMETERS = (
    Param("REQUEST", "doQuery (optional in TAP 1.1).", enum=("doQuery",)),
    Param("LANG", "Query language.", required=True, enum=("ADQL", "ADQL-2.0", "ADQL-2.1")),
    Param(
        "QUERY",
        "The ADQL query (bounded in length, nesting and parse time).",
        required=True,
        example="SELECT TOP 10 source_id, name, ra, dec FROM isla.sources",
    ),
    Param(
        "RESPONSEFORMAT",
        "Result format (FORMAT is accepted too).",
        enum=("votable", "votable/td", "fits", "csv", "tsv", "json"),
    ),
    Param("FORMAT", "Result format (TAP 1.0 name of RESPONSEFORMAT)."),
    Param("MAXREC", "Most rows returned (OVERFLOW is flagged beyond).", type="integer"),
    Param("UPLOAD", "TAP_UPLOAD tables: name,URL or name,param:part (multipart)."),
)
