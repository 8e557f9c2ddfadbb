"""Each service's OpenAPI document names every operation once (code generators need it)."""

from __future__ import annotations

import importlib
import warnings

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
