"""Fuzzing from the OpenAPI documents: whatever the documents allow, no answer is a 5xx.

Bounded: a fixed, derandomised handful of examples per operation (valid and invalid ones),
so the run is repeatable and short. The documents declare the real inputs (VO and selection
parameters, bodies), so the fuzzer reaches the handlers, not only FastAPI's validation.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.result import Ok

from tests.conftest import Archive

pytestmark = pytest.mark.integration

EXAMPLES = 3
"""Examples per operation and generation mode (valid inputs, invalid inputs)."""

BOUNDED = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.mark.parametrize("service", ["tap", "raw", "ingest", "products"])
def test_no_operation_answers_a_5xx(archive: Archive, service: str) -> None:
    document = httpx.get(f"{archive.base_url}/{service}/openapi.json", timeout=30).json()
    schema = schemathesis.openapi.from_dict(document)
    calls: list[tuple[str, int]] = []
    failures: list[str] = []

    def check(case: Any) -> None:
        response = case.call(base_url=archive.base_url, timeout=60)
        calls.append((f"{case.method} {case.path}", response.status_code))
        if response.status_code >= 500:
            failures.append(
                f"{case.method} {case.formatted_path} {case.query} -> "
                f"{response.status_code}: {response.text[:200]}"
            )

    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"the document has an invalid operation: {result}"
        operations.append(result.ok())
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                strategy = operation.as_strategy(generation_mode=mode)
            except Exception:  # an operation with nothing to vary in this mode
                continue
            try:
                BOUNDED(given(case=strategy)(check))()
            except Unsatisfiable:  # e.g. no invalid input exists for an operation without inputs
                continue
    assert calls, "the document has no operation"
    assert not failures, "\n".join(failures)
    print(f"{service}: {len(operations)} operations, {len(calls)} requests, no 5xx")
