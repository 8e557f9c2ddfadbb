"""DOI suffixes, content negotiation, DataCite records and the QC of literature deliveries
(no database): what a delivery must look like, what a record must hold."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from lxml import etree
from pydantic import ValidationError

from services.ingest.publications import PublicationsRefused, read_delivery
from services.products.doi.service import (
    DATACITE_JSON,
    DATACITE_XML,
    HTML,
    JSON_LD,
    negotiate,
)
from shared import publications
from shared.demo.publications import as_csv, bibcode
from shared.doi import identifiers as ids
from shared.doi import metadata, minting
from shared.settings import DoiSettings

KERNEL = "{http://datacite.org/schema/kernel-4}"


def test_suffixes_are_lower_case_and_use_datacites_characters() -> None:
    suffix = ids.product("spectrum/ISGRI/0727_88601650001/J053432.0+220052")
    assert suffix == "isla.product/spectrum/isgri/0727_88601650001/j053432.0p220052"
    assert ids.product("spectrum/ISGRI/0727_88601650001/J053432.0-220052") != suffix
    assert ids.revolution(81) == "isla.rev.0081"
    assert ids.raw_collection("JEM-X") == "isla.raw.jem-x"
    assert ids.catalogue("ISGRI 1000 orbits", "43") == "isla.catalogue.isgri-1000-orbits.v43"
    assert ids.doi_of("10.1234", "isla.rev.0081", simulated=True) == "10.5072/isla.rev.0081"
    assert ids.doi_of("10.1234", "isla.rev.0081", simulated=False) == "10.1234/isla.rev.0081"


@pytest.mark.parametrize(
    ("accept", "fmt", "media"),
    [
        (DATACITE_XML, None, DATACITE_XML),
        (DATACITE_JSON, None, DATACITE_JSON),
        ("text/html,application/xhtml+xml,*/*;q=0.8", None, HTML),
        (f"{DATACITE_JSON};q=0.5, {DATACITE_XML}", None, DATACITE_XML),
        ("application/ld+json", None, JSON_LD),
        ("*/*", None, HTML),
        (DATACITE_XML, "json", DATACITE_JSON),
    ],
)
def test_content_negotiation(accept: str, fmt: str | None, media: str) -> None:
    assert negotiate(accept, fmt) == media


def _record(simulated: bool) -> metadata.Record:
    row = SimpleNamespace(
        suffix="isla.product/spectrum/isgri/0745_06340000001/j011705.1-732636",
        doi="10.5072/isla.product/spectrum/isgri/0745_06340000001/j011705.1-732636",
        kind="product",
        target="spectrum/ISGRI/0745_06340000001/J011705.1-732636",
        parent="isla.products.spectrum",
        title="INTEGRAL ISGRI spectrum of SMC X-1 (0745_06340000001)",
        resource_type_general="Dataset",
        resource_type="spectrum",
        publication_year=2026,
        simulated=simulated,
        state="local",
        created_at=datetime(2026, 12, 3),
    )
    return metadata.Record(
        row,
        parent_doi="10.5072/isla.products.spectrum",
        derived_from=["10.5072/isla.rev.0745"],
        cited_by=[SimpleNamespace(bibcode="2024SIMUL...1..100D")],
        documented_by=[("http://x/help/products", "URL")],
        alternate=[("ivo://isla.integral/isla?product/x", "IVOA publisher DID")],
        sizes=["123 bytes"],
        formats=["application/fits"],
        subjects=["ISGRI", "SMC X-1", "ISGRI"],
        described="A spectrum.",
    )


def test_a_product_record_is_valid_datacite_with_its_relations() -> None:
    attrs = metadata.datacite_attributes(_record(True), DoiSettings(), "http://x")
    assert metadata.validation_errors(attrs) == []
    relations = {(r["relationType"], r["relatedIdentifier"]) for r in attrs["relatedIdentifiers"]}
    assert ("IsPartOf", "10.5072/isla.products.spectrum") in relations
    assert ("IsDerivedFrom", "10.5072/isla.rev.0745") in relations
    assert ("IsCitedBy", "2024SIMUL...1..100D") in relations
    assert ("IsDocumentedBy", "http://x/help/products") in relations
    assert attrs["descriptions"][0]["description"].startswith("SIMULATED DEMO DATA")
    root = etree.fromstring(metadata.datacite_xml(attrs))
    assert root.tag == f"{KERNEL}resource"
    assert root.findtext(f"{KERNEL}identifier") == attrs["doi"]
    types = {e.get("relationType") for e in root.iter(f"{KERNEL}relatedIdentifier")}
    assert {"IsPartOf", "IsDerivedFrom", "IsCitedBy", "IsDocumentedBy"} <= types
    assert metadata.citation(attrs).endswith(f"https://doi.org/{attrs['doi']}")
    assert metadata.schema_org(attrs)["@type"] == "Dataset"
    # A made-up paper of the demo is named, but never sent to ADS as if it were real.
    (cited,) = metadata.schema_org(attrs)["citation"]
    assert cited == {"@type": "ScholarlyArticle", "identifier": "2024SIMUL...1..100D"}


def test_only_real_bibcodes_link_to_ads() -> None:
    assert publications.ads_url("2024SIMUL...1..100D") is None
    assert publications.ads_url("2023Natur.626..737L") == (
        "https://ui.adsabs.harvard.edu/abs/2023Natur.626..737L"
    )


def test_a_broken_record_is_caught_by_the_schema() -> None:
    attrs = metadata.datacite_attributes(_record(False), DoiSettings(), "http://x")
    del attrs["publisher"]
    attrs["relatedIdentifiers"][0]["relationType"] = "IsFriendOf"
    errors = metadata.validation_errors(attrs)
    assert any("publisher" in e for e in errors) and any("IsFriendOf" in e for e in errors)


def test_dry_run_writes_the_request_and_datacite_client_sends_it(tmp_path: Path) -> None:
    attrs = metadata.datacite_attributes(_record(False), DoiSettings(), "http://x")
    assert minting.DryRunClient(tmp_path).send(attrs) == "dry-run"
    written = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert (
        written["data"]["type"] == "dois" and written["data"]["attributes"]["doi"] == attrs["doi"]
    )
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"data": {"attributes": {"state": "findable"}}})

    settings = DoiSettings(
        doi_mint_mode="publish", datacite_username="ESA.ISLA", datacite_password="secret"
    )
    client = httpx.Client(
        base_url="https://api.test.datacite.org", transport=httpx.MockTransport(answer)
    )
    assert minting.DataCiteClient(settings, client).send(attrs) == "findable"
    body = json.loads(seen[0].content)
    assert seen[0].method == "PUT" and seen[0].url.path == f"/dois/{attrs['doi']}"
    assert body["data"]["attributes"]["event"] == "publish"
    assert minting.DataCiteClient.sends_simulated is False


def test_sending_needs_the_datacite_account() -> None:
    with pytest.raises(ValidationError, match="ISLA_DATACITE_USERNAME"):
        DoiSettings(doi_mint_mode="draft")
    with pytest.raises(ValidationError):
        DoiSettings(doi_prefix="11.1234")


def test_simulated_bibcodes_have_19_characters_and_the_simul_bibstem() -> None:
    code = bibcode(2009, 1, 105, "D")
    assert code == "2009SIMUL...1..105D" and len(code) == 19


def _paper(**changes: Any) -> dict[str, Any]:
    paper = {
        "bibcode": "2021TEST...12..345X",
        "title": "Hard X-rays of SMC X-1",
        "authors": ["Xavier, A.", "Young, B."],
        "year": 2021,
        "doi": "10.9999/test.2021.345",
        "obsids": ["06340000001"],
    }
    return {**paper, **changes}


def _refused(papers: list[dict[str, Any]]) -> set[str]:
    with pytest.raises(PublicationsRefused) as info:
        read_delivery(json.dumps({"papers": papers}).encode(), "json")
    assert info.value.status == 422
    return {p["code"] for p in info.value.problems}


def test_a_good_delivery_reads_in_both_forms() -> None:
    papers = read_delivery(json.dumps({"papers": [_paper()]}).encode(), "json")
    assert papers[0].authors == ["Xavier, A.", "Young, B."] and papers[0].simulated is False
    table = (
        "bibcode,obsid,title,authors,year,doi\n"
        '2021TEST...12..345X,06340000001,Hard X-rays,"Xavier, A.; Young, B.",2021,\n'
        '2021TEST...12..345X,88601650001,Hard X-rays,"Xavier, A.; Young, B.",2021,\n'
    )
    (paper,) = read_delivery(table.encode(), "csv")
    assert paper.obsids == ["06340000001", "88601650001"] and paper.doi is None


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"bibcode": "2021TEST"}, "bibcode"),
        ({"year": 2020}, "year"),
        ({"doi": "doi:nope"}, "doi"),
        ({"obsids": ["634"]}, "obsid"),
        ({"obsids": []}, "obsid"),
        ({"title": ""}, "title"),
        ({"authors": []}, "authors"),
        ({"title": "bad\x00title"}, "title"),
        ({"simulated": True}, "simulated"),
        ({"title": "[simulated] fake"}, "simulated"),
    ],
)
def test_qc_refuses_bad_papers(change: dict[str, Any], code: str) -> None:
    assert code in _refused([_paper(**change)])


def test_qc_refuses_duplicates_and_disagreeing_rows() -> None:
    assert "duplicate" in _refused([_paper(), _paper()])
    table = (
        "bibcode,obsid,title,authors,year\n"
        '2021TEST...12..345X,06340000001,One title,"A, B.",2021\n'
        '2021TEST...12..345X,88601650001,Another title,"A, B.",2021\n'
    )
    with pytest.raises(PublicationsRefused) as info:
        read_delivery(table.encode(), "csv")
    assert {p["code"] for p in info.value.problems} == {"disagree"}


def test_the_demo_csv_form_passes_qc_as_simulated() -> None:
    papers: list[dict[str, object]] = [
        {
            "bibcode": bibcode(2009, 1, 100, "D"),
            "doi": None,
            "title": "[simulated] Timing analysis of SMC X-1 with INTEGRAL JEM-X",
            "authors": ["Demo, A.", "Sample, B."],
            "year": 2009,
            "obsids": ["06340000001", "06340000002"],
            "simulated": True,
        }
    ]
    (paper,) = read_delivery(as_csv(papers), "csv")
    assert paper.simulated and paper.obsids == ["06340000001", "06340000002"]
    assert paper.authors == ["Demo, A.", "Sample, B."]
