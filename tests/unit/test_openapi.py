"""Each service's OpenAPI document names every operation once (code generators need it)."""

from __future__ import annotations

import importlib
import warnings
from typing import Any

import pytest


@pytest.mark.parametrize("service", ["tap", "raw", "products", "ingest"])
def test_operation_ids_are_unique(service: str) -> None:
    app = importlib.import_module(f"services.{service}.app").app
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        schema = app.openapi()
    operations = [
        (path, method, operation["operationId"])
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    ]
    ids = [op_id for _, _, op_id in operations]
    assert len(ids) == len(set(ids))
    # Routes with several methods (VO protocols take GET and POST) get one id per method.
    if service == "tap":
        sync = {method: op_id for path, method, op_id in operations if path == "/tap/sync"}
        assert set(sync) >= {"get", "post"} and sync["get"] != sync["post"]


def _schema(service: str) -> dict[str, Any]:
    app = importlib.import_module(f"services.{service}.app").app
    schema: dict[str, Any] = app.openapi()
    return schema


def _names(operation: dict[str, Any]) -> set[str]:
    return {p["name"] for p in operation.get("parameters", [])}


def test_tap_declares_its_vo_parameters_and_media_types() -> None:
    paths = _schema("tap")["paths"]
    sync = paths["/tap/sync"]
    assert {"LANG", "QUERY", "MAXREC", "RESPONSEFORMAT", "UPLOAD"} <= _names(sync["get"])
    form = sync["post"]["requestBody"]["content"]["application/x-www-form-urlencoded"]
    assert {"LANG", "QUERY"} <= set(form["schema"]["properties"])
    assert "application/x-votable+xml" in sync["get"]["responses"]["200"]["content"]
    assert "application/x-votable+xml" in sync["get"]["responses"]["400"]["content"]
    for path in ("/tap/tables", "/tap/capabilities", "/tap/availability"):
        assert "application/xml" in paths[path]["get"]["responses"]["200"]["content"]
        assert "application/json" not in paths[path]["get"]["responses"]["200"]["content"]
    assert {"RA", "DEC", "SR"} <= _names(paths["/scs"]["get"])


def test_raw_declares_selection_parameters_and_media_types() -> None:
    paths = _schema("raw")["paths"]
    for path in ("/raw/manifest.json", "/raw/manifest.csv", "/raw/archive.tar", "/raw/download.sh"):
        get = paths[path]["get"]
        assert {"scw", "obsid", "revolution", "source", "ra", "dec"} <= _names(get)
        assert "requestBody" not in get  # bodies belong to POST only
        bodies = paths[path]["post"]["requestBody"]["content"]
        assert {"multipart/form-data", "application/json", "text/csv"} <= set(bodies)
    assert "tool" in _names(paths["/raw/download.sh"]["get"])
    assert "application/x-tar" in paths["/raw/archive.tar"]["get"]["responses"]["200"]["content"]
    assert "text/csv" in paths["/raw/manifest.csv"]["get"]["responses"]["200"]["content"]
    assert "RETRIEVAL_TYPE" in _names(paths["/data"]["get"])


@pytest.mark.parametrize("service", ["tap", "raw", "ingest"])
def test_no_get_operation_takes_a_body(service: str) -> None:
    for item in _schema(service)["paths"].values():
        for method in ("get", "head"):
            assert "requestBody" not in item.get(method, {})
