"""The gateway routes each public path to the service that owns it (DESIGN.md's layout)."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from deploy.gateway import owner
from services.ingest.app import app as ingest
from services.products.app import app as products
from services.raw.app import app as raw
from services.tap.app import app as tap


@pytest.mark.parametrize(
    "path,expected",
    [
        ("/tap", tap),
        ("/tap/sync", tap),
        ("/scs", tap),
        ("/login", tap),
        ("/logout", tap),
        ("/raw/scw/008100430010", raw),
        ("/data", raw),
        ("/ingest/catalogues", ingest),
        ("/", products),
        ("/products/docs", products),
        ("/datalink", products),
        ("/servlet/target-resolver", products),
        ("/hips/x", products),
        ("/tapestry", products),
        ("/rawdata", products),
    ],
)
def test_owner(path: str, expected: object) -> None:
    assert owner(path) is expected


@pytest.mark.parametrize(
    "app,prefix", [(tap, "/tap"), (raw, "/raw"), (products, "/products"), (ingest, "/ingest")]
)
def test_each_service_publishes_docs_under_its_prefix(app: FastAPI, prefix: str) -> None:
    assert app.openapi_url == f"{prefix}/openapi.json"
    assert app.docs_url == f"{prefix}/docs"
    paths = set(app.openapi()["paths"])
    assert {"/health", "/ready", f"{prefix}/health", f"{prefix}/ready"} <= paths
