"""Fuzzing from the OpenAPI documents: whatever the documents allow, no answer is a 5xx.

Bounded: a fixed, derandomised handful of examples per operation, so the run is repeatable
and short. The documents declare the real inputs (VO and selection parameters, bodies), so
the fuzzer reaches the handlers, not only FastAPI's validation.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.conftest import Archive

pytestmark = pytest.mark.integration

EXAMPLES = 4
"""Examples per operation."""


def _schema(archive: Archive, service: str) -> Any:
    return schemathesis.openapi.from_url(f"{archive.base_url}/{service}/openapi.json")


@pytest.fixture(scope="module")
def tap_schema(archive: Archive) -> Any:
    return _schema(archive, "tap")


@pytest.fixture(scope="module")
def raw_schema(archive: Archive) -> Any:
    return _schema(archive, "raw")


@pytest.fixture(scope="module")
def ingest_schema(archive: Archive) -> Any:
    return _schema(archive, "ingest")


BOUNDED = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def _no_server_error(case: Any) -> None:
    response = case.call(timeout=60)
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
    )


tap = schemathesis.pytest.from_fixture("tap_schema")
raw = schemathesis.pytest.from_fixture("raw_schema")
ingest = schemathesis.pytest.from_fixture("ingest_schema")


@tap.parametrize()
@BOUNDED
def test_tap_answers_no_5xx(case: Any) -> None:
    _no_server_error(case)


@raw.parametrize()
@BOUNDED
def test_raw_answers_no_5xx(case: Any) -> None:
    _no_server_error(case)


@ingest.parametrize()
@BOUNDED
def test_ingest_answers_no_5xx(case: Any) -> None:
    _no_server_error(case)
