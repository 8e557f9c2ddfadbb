"""/tap/examples (DALI 1.1 examples): the document parses, and every example runs."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import httpx
import pytest
import pyvo

from services.tap.examples import EXAMPLES, Example
from tests.conftest import Archive

pytestmark = pytest.mark.integration

XHTML = "{http://www.w3.org/1999/xhtml}"


def test_document_is_dali_examples(archive: Archive) -> None:
    response = httpx.get(f"{archive.base_url}/tap/examples", timeout=30)
    assert response.status_code == 200
    root = ET.fromstring(response.content)
    body = root.find(f"{XHTML}body")
    assert body is not None
    assert body.get("vocab") == "http://www.ivoa.net/rdf/examples#"
    found = [e for e in root.iter() if e.get("typeof") == "example"]
    assert len(found) == len(EXAMPLES) >= 10
    for element, example in zip(found, EXAMPLES, strict=True):
        assert element.get("id") == example.id
        assert element.get("resource") == f"#{example.id}"
        props = {e.get("property"): (e.text or "") for e in element.iter() if e.get("property")}
        assert props["name"] == example.name
        assert props["query"] == example.query


def test_capabilities_advertise_examples(archive: Archive) -> None:
    body = httpx.get(f"{archive.base_url}/tap/capabilities", timeout=30).text
    assert 'standardID="ivo://ivoa.net/std/DALI#examples"' in body
    assert f"{archive.base_url}/tap/examples</accessURL>" in body


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.id for e in EXAMPLES])
def test_every_example_runs(archive: Archive, example: Example) -> None:
    tap = pyvo.dal.TAPService(f"{archive.base_url}/tap")
    table = tap.run_sync(example.query).to_table()
    # Each is a question the demo archive can answer: an empty result means a broken example.
    assert len(table) >= 1, example.id
