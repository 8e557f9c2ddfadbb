"""OpenAPI declarations of inputs FastAPI cannot see: VO parameters and real media types.

VO endpoints read their parameters through one case-insensitive reader
(:func:`shared.vo.params.ivoa_params`) and answer XML, FITS or CSV documents, none of which
FastAPI learns from a handler's signature. These helpers declare them (``openapi_extra`` and
``responses`` of a route), so that generated clients and API fuzzers reach every input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

VOTABLE = "application/x-votable+xml"
"""VOTable documents (results and DALI errors)."""
XML = "application/xml"
"""VOSI and registry documents."""


@dataclass(frozen=True)
class Param:
    """One request parameter: its name, a description, and optionally its type and values."""

    name: str
    description: str
    type: str = "string"
    required: bool = False
    enum: tuple[str, ...] = ()
    example: str | None = None

    def schema(self) -> dict[str, Any]:
        """The JSON schema of the parameter's value."""
        schema: dict[str, Any] = {"type": self.type}
        if self.enum:
            schema["enum"] = list(self.enum)
        if self.example is not None:
            schema["examples"] = [self.example]
        return schema


def query_parameters(params: tuple[Param, ...]) -> list[dict[str, Any]]:
    """OpenAPI ``parameters`` in the query string (VO names are case-insensitive)."""
    return [
        {
            "name": p.name,
            "in": "query",
            "required": p.required,
            "description": p.description,
            "schema": p.schema(),
        }
        for p in params
    ]


def form_body(params: tuple[Param, ...], *extra_types: str) -> dict[str, Any]:
    """An OpenAPI ``requestBody`` of the same parameters as a form (POST), plus other types.

    ``extra_types``: further body media types accepted as they are (JSON, text lists).
    """
    schema = {
        "type": "object",
        "properties": {p.name: p.schema() | {"description": p.description} for p in params},
    }
    content: dict[str, Any] = {
        "application/x-www-form-urlencoded": {"schema": schema},
        "multipart/form-data": {"schema": schema},
    }
    for media in extra_types:
        content[media] = {"schema": {"type": "string"}}
    return {"required": False, "content": content}


def inputs(params: tuple[Param, ...], *extra_types: str) -> dict[str, Any]:
    """``openapi_extra`` of a GET/POST route: query parameters, and the form body of POST.

    The service's document drops the body from GET and HEAD operations (see
    :func:`shared.service.create_service`), so one declaration serves both methods.
    """
    return {"parameters": query_parameters(params), "requestBody": form_body(params, *extra_types)}


def answers(
    *media_types: str, description: str = "The document.", errors: str | None = None
) -> dict[int | str, dict[str, Any]]:
    """``responses`` of a route answering ``media_types`` (200), errors in ``errors``' type."""
    responses: dict[int | str, dict[str, Any]] = {
        200: {"description": description, "content": {m: {} for m in media_types}}
    }
    if errors is not None:
        responses[400] = {"description": "Bad request", "content": {errors: {}}}
    return responses
