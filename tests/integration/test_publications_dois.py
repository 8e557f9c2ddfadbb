"""The literature survey and the DOIs on the demo archive: a delivery through the real ingest
API, the walk from a paper to its data and back, the ADS export, every DataCite record
validated against the schema, landing pages in every representation, bad input."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from astropy.io import fits
from lxml import etree
from sqlalchemy import create_engine, text

from services.ingest.auth import create_token
from shared.doi import metadata
from shared.settings import DoiSettings
from tests.conftest import Archive

pytestmark = pytest.mark.integration

KERNEL = "{http://datacite.org/schema/kernel-4}"
BIBCODE = "2021TEST...12..345X"
OTHER = "2022TEST...13..100Y"
OBSID = "06340000001"
SPECTRUM = "spectrum/ISGRI/0745_06340000001/J011705.1-732636"
SPECTRUM_SUFFIX = "isla.product/spectrum/isgri/0745_06340000001/j011705.1-732636"


@pytest.fixture(scope="module")
def tokens(archive: Archive) -> dict[str, str]:
    engine = create_engine(archive.database_url)
    with engine.begin() as conn:
        out = {
            "isdc": create_token(conn, "literature", "isdc").token,
            "other": create_token(conn, "other-isdc", "isdc").token,
            "ibis": create_token(conn, "ibis-team", "ibis").token,
            "operator": create_token(conn, "ops", "operator").token,
        }
    engine.dispose()
    return out


def _h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _paper(**changes: Any) -> dict[str, Any]:
    return {
        "bibcode": BIBCODE,
        "title": "Hard X-ray pulses of SMC X-1 (test paper)",
        "authors": ["Xavier, A.", "Young, B."],
        "year": 2021,
        "doi": "10.9999/test.2021.345",
        "obsids": [OBSID, "99999999999"],
        **changes,
    }


@pytest.fixture(scope="module")
def delivered(archive: Archive, tokens: dict[str, str]) -> Iterator[dict[str, Any]]:
    """One JSON and one CSV delivery of test papers, removed again at the end."""
    with httpx.Client(base_url=archive.base_url, timeout=120) as c:
        first = c.post(
            "/ingest/publications", json={"papers": [_paper()]}, headers=_h(tokens["isdc"])
        )
        table = (
            "bibcode,obsid,title,authors,year\n"
            f'{OTHER},88601650001,Crab monitoring (test paper),"Young, B.",2022\n'
        )
        second = c.post(
            "/ingest/publications",
            content=table,
            headers={**_h(tokens["isdc"]), "Content-Type": "text/csv"},
        )
        assigned = c.post("/ingest/dois/assign", headers=_h(tokens["isdc"]))
    assert assigned.status_code == 200, assigned.text
    yield {"json": first, "csv": second, "assign": assigned.json()}
    engine = create_engine(archive.database_url)
    with engine.begin() as conn:
        conn.execute(
            text("DELETE FROM isla.publications WHERE bibcode = ANY(:b)"), {"b": [BIBCODE, OTHER]}
        )
    engine.dispose()


def test_demo_papers_are_simulated_and_say_so(client: httpx.Client) -> None:
    listing = client.get("/products/publications", params={"simulated": "true"}).json()
    assert listing["papers"]
    for paper in listing["papers"]:
        assert paper["simulated"] is True and paper["doi"] is None
        assert paper["title"].startswith("[simulated]")
        assert paper["bibcode"][4:9] == "SIMUL" and len(paper["bibcode"]) == 19
    demo = client.get(f"/products/publications/observations/{OBSID}").json()
    assert any(p["simulated"] for p in demo["papers"])


def test_delivery_reports_unknown_observations_and_is_audited(
    archive: Archive, delivered: dict[str, Any]
) -> None:
    report = delivered["json"]
    assert report.status_code == 201, report.text
    body = report.json()
    assert body["created"] == 1 and body["links"] == 1
    assert body["unresolved"] == [{"bibcode": BIBCODE, "obsid": "99999999999"}]
    assert delivered["csv"].status_code == 201, delivered["csv"].text
    stored = archive.rows(
        "SELECT unresolved_obsids, team, simulated FROM isla.publications WHERE bibcode = :b",
        b=BIBCODE,
    )
    assert stored == [("99999999999", "literature", False)]
    audited = archive.rows(
        "SELECT outcome, detail FROM isla_ops.ingest_audit WHERE action = 'publications.ingest' "
        "AND checksum = :c",
        c=body["sha256"],
    )
    assert audited and audited[0][0] == "accepted"
    assert audited[0][1]["unresolved"][0]["obsid"] == "99999999999"


def test_walk_from_a_paper_to_its_data_and_back(client: httpx.Client, delivered: Any) -> None:
    paper = client.get(f"/products/publications/{BIBCODE}").json()
    assert paper["authors"] == ["Xavier, A.", "Young, B."]
    assert paper["unresolved_obsids"] == ["99999999999"]
    assert [o["obsid"] for o in paper["observations"]] == [OBSID]
    assert paper["science_windows"] and all(w["obsid"] == OBSID for w in paper["science_windows"])
    assert {r["revolution"] for r in paper["revolutions"]} == {"0745"}
    assert paper["revolutions"][0]["doi"] == "10.5072/isla.rev.0745"
    sources = {s["source_id"] for s in paper["sources"]}
    assert "J011705.1-732636" in sources
    products = {p["product_id"]: p for p in paper["products"]}
    assert SPECTRUM in products
    assert products[SPECTRUM]["doi"] == f"10.5072/{SPECTRUM_SUFFIX}"
    # ... and back: the observation, a source and a product each list the paper.
    for url in (
        f"/products/publications/observations/{OBSID}",
        "/products/publications/sources/J011705.1-732636",
        f"/products/publications/products/{SPECTRUM}",
    ):
        back = client.get(url)
        assert back.status_code == 200, url
        assert BIBCODE in {p["bibcode"] for p in back.json()["papers"]}, url
    # and the product's DOI record says the paper cites it.
    record = client.get(f"/doi/{SPECTRUM_SUFFIX}", params={"format": "json"}).json()
    cited = {
        r["relatedIdentifier"]
        for r in record["relatedIdentifiers"]
        if r["relationType"] == "IsCitedBy"
    }
    assert BIBCODE in cited


def test_redelivery_replacement_ownership_and_refusals(
    archive: Archive, tokens: dict[str, str], delivered: Any
) -> None:
    with httpx.Client(base_url=archive.base_url, timeout=60) as c:
        url = "/ingest/publications"
        same = c.post(url, json={"papers": [_paper()]}, headers=_h(tokens["isdc"]))
        assert same.status_code == 200 and same.json()["status"] == "unchanged"
        changed = {"papers": [_paper(title="A corrected title (test paper)")]}
        assert c.post(url, json=changed, headers=_h(tokens["isdc"])).status_code == 409
        assert c.post(url, json=changed, headers=_h(tokens["other"])).status_code == 403
        assert c.post(url, json=changed, headers=_h(tokens["ibis"])).status_code == 403
        assert c.post(url, json=changed).status_code == 401
        replaced = c.post(url, json=changed, params={"replace": "true"}, headers=_h(tokens["isdc"]))
        assert replaced.status_code == 201 and replaced.json()["replaced"] == 1
        bad = c.post(
            url,
            json={"papers": [_paper(bibcode="2020BAD", year=1800), _paper(simulated=True)]},
            headers=_h(tokens["isdc"]),
        )
        assert bad.status_code == 422
        codes = {p["code"] for p in bad.json()["problems"]}
        assert {"bibcode", "year", "simulated"} <= codes
        assert (
            c.post(
                url, content=b"x", headers={**_h(tokens["isdc"]), "Content-Type": "image/png"}
            ).status_code
            == 415
        )
        assert c.get("/products/publications/2099NOPE...1....1Z").status_code == 404
        assert c.get("/products/publications/observations/99999999999").status_code == 404
    assert archive.scalar("SELECT count(*) FROM isla.publications WHERE bibcode = '2020BAD'") == 0


def test_publications_are_in_tap(client: httpx.Client, delivered: Any) -> None:
    query = (
        "SELECT p.bibcode, l.obsid FROM isla.publications AS p JOIN isla.publication_links AS l "
        f"ON l.bibcode = p.bibcode WHERE p.bibcode = '{BIBCODE}'"
    )
    answer = client.get("/tap/sync", params={"LANG": "ADQL", "FORMAT": "csv", "QUERY": query})
    assert answer.status_code == 200
    assert answer.text.strip().splitlines()[1:] == [f"{BIBCODE},{OBSID}"]
    dois = client.get(
        "/tap/sync",
        params={
            "LANG": "ADQL",
            "FORMAT": "csv",
            "QUERY": "SELECT doi FROM isla.dois WHERE kind = 'archive'",
        },
    )
    assert dois.text.strip().splitlines()[1:] == ["10.5072/isla"]


def test_ads_export(client: httpx.Client, archive: Archive, delivered: Any) -> None:
    export = client.get("/products/publications/ads-links.txt")
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/plain")
    lines = export.text.splitlines()
    assert f"{BIBCODE}\t{archive.base_url}/observations/{OBSID}\t" in "\n".join(lines)
    for line in lines:
        bib, url, title = line.split("\t")
        assert len(bib) == 19 and "SIMUL" not in bib  # simulated papers never go to ADS
        assert url.startswith("http") and title.startswith("INTEGRAL observation ")
    everything = client.get(
        "/products/publications/ads-links.json", params={"include_simulated": "true"}
    ).json()
    assert any("SIMUL" in entry["bibcode"] for entry in everything)


def test_every_datacite_record_is_valid(archive: Archive, delivered: dict[str, Any]) -> None:
    """Every DOI of the archive, as the service builds it, against the DataCite schema that
    the ``datacite`` package ships (kernel 4.5: the package has no 4.6)."""
    assert delivered["assign"]["product"] > 0 and delivered["assign"]["revolution"] > 0
    engine = create_engine(archive.database_url)
    settings = DoiSettings()
    kinds: set[str] = set()
    with engine.connect() as conn:
        suffixes = list(conn.execute(text("SELECT suffix FROM isla.dois")).scalars())
        for suffix in suffixes:
            rec = metadata.load(conn, suffix, archive.base_url)
            assert rec is not None
            attrs = metadata.datacite_attributes(rec, settings, archive.base_url)
            assert metadata.validation_errors(attrs) == [], suffix
            assert attrs["doi"].startswith("10.5072/")  # the test prefix, by default
            if rec.row.simulated:
                assert attrs["descriptions"][0]["description"].startswith("SIMULATED")
            kinds.add(rec.row.kind)
    engine.dispose()
    assert {"archive", "raw_collection", "revolution", "product_collection", "product"} <= kinds
    assert len(suffixes) > 100


def test_listing_and_both_datacite_content_types(client: httpx.Client, delivered: Any) -> None:
    listing = client.get("/doi/").json()
    assert listing["count"] == len(listing["dois"]) > 100
    entry = next(d for d in listing["dois"] if d["suffix"] == SPECTRUM_SUFFIX)
    assert {"doi", "suffix", "title", "resource_type"} <= set(entry)
    assert entry["simulated"] is False  # a real ISLA file
    as_json = client.get(
        f"/doi/{SPECTRUM_SUFFIX}", headers={"Accept": "application/vnd.datacite.datacite+json"}
    )
    assert as_json.headers["content-type"].startswith("application/vnd.datacite.datacite+json")
    assert as_json.headers["link"] == f'<https://doi.org/{entry["doi"]}>; rel="cite-as"'
    attrs = as_json.json()
    assert metadata.validation_errors(attrs) == []
    relations = {(r["relationType"], r["relatedIdentifier"]) for r in attrs["relatedIdentifiers"]}
    assert ("IsPartOf", "10.5072/isla.products.spectrum") in relations
    assert ("IsDerivedFrom", "10.5072/isla.rev.0745") in relations
    assert any(rel == "IsDocumentedBy" for rel, _ in relations)
    as_xml = client.get(
        f"/doi/{SPECTRUM_SUFFIX.upper()}",  # DOIs are case-insensitive
        headers={"Accept": "application/vnd.datacite.datacite+xml"},
    )
    assert as_xml.headers["content-type"].startswith("application/vnd.datacite.datacite+xml")
    root = etree.fromstring(as_xml.content)
    assert root.findtext(f"{KERNEL}identifier") == entry["doi"]
    xml_relations = {
        (e.get("relationType"), e.text) for e in root.iter(f"{KERNEL}relatedIdentifier")
    }
    assert xml_relations == relations
    collection = client.get("/doi/isla.products.spectrum", params={"format": "json"}).json()
    parts = {
        r["relatedIdentifier"]
        for r in collection["relatedIdentifiers"]
        if r["relationType"] == "HasPart"
    }
    assert entry["doi"] in parts


def test_landing_page(client: httpx.Client, delivered: Any) -> None:
    page = client.get("/doi/isla.rev.0745", headers={"Accept": "text/html"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert '<link rel="cite-as" href="https://doi.org/10.5072/isla.rev.0745">' in html
    start = html.index('<script type="application/ld+json">') + len(
        '<script type="application/ld+json">'
    )
    ld = json.loads(html[start : html.index("</script>", start)])
    assert ld["@type"] == "Dataset" and ld["identifier"]["value"] == "10.5072/isla.rev.0745"
    assert "https://doi.org/10.5072/isla.rev.0745" in html  # the citation line
    assert 'id="simulated-doi"' in html  # the demo's raw data are simulated
    assert "/raw/archive.tar?revolution=0745" in html
    # The demo's papers that used revolution 745 are simulated: listed, never linked to ADS
    # (the papers this module delivers have real-shaped bibcodes, and are).
    assert "(simulated paper)" in html and re.search(r"abs/\d{4}SIMUL", html) is None
    assert re.search(r"abs/\d{4}TEST", html) is not None
    real = client.get(f"/doi/{SPECTRUM_SUFFIX}").text
    assert 'id="simulated-doi"' not in real and "ISLA" in real


def test_unknown_dois_name_the_nearest(client: httpx.Client, delivered: Any) -> None:
    missing = client.get("/doi/isla.rev.07455", headers={"Accept": "application/json"})
    assert missing.status_code == 404
    body = missing.json()
    assert "isla.rev.0745" in body["nearby"]
    page = client.get("/doi/isla.rev.07455", headers={"Accept": "text/html"})
    assert page.status_code == 404 and 'href="/doi/isla.rev.0745"' in page.text


def test_demo_files_carry_their_collection_doi(client: httpx.Client, archive: Archive) -> None:
    pid = archive.rows(
        "SELECT product_id FROM isla.products WHERE kind = 'mosaic' AND simulated LIMIT 1"
    )[0][0]
    data = client.get(f"/products/files/{pid}").content
    with fits.open(io.BytesIO(data)) as hdul:
        header = hdul[0].header
        assert header["DOI"] == "10.5072/isla.products.mosaic"
        assert header["DS_IDENT"] == "doi:10.5072/isla.products.mosaic"


def test_datalink_points_to_the_doi_landing_page(client: httpx.Client, delivered: Any) -> None:
    links = client.get("/datalink", params={"ID": SPECTRUM}).text
    assert f"/doi/{SPECTRUM_SUFFIX}" in links


def test_minting_is_for_operators(archive: Archive, tokens: dict[str, str]) -> None:
    with httpx.Client(base_url=archive.base_url, timeout=60) as c:
        refused = c.post("/ingest/dois/mint", headers=_h(tokens["isdc"]))
        assert refused.status_code == 403


def test_minting_sends_valid_records_and_never_simulated_ones(
    archive: Archive, delivered: Any, tmp_path: Any
) -> None:
    """The DataCite client (its HTTP answered here) gets the real product's record and never
    a simulated one; the dry run writes what it would send; states are recorded."""
    from shared.doi import minting

    sent: list[dict[str, Any]] = []

    def datacite(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return httpx.Response(201, json={"data": {"attributes": {"state": "draft"}}})

    settings = DoiSettings(
        doi_mint_mode="draft", datacite_username="ESA.ISLA", datacite_password="secret"
    )
    http = httpx.Client(
        base_url="https://datacite.invalid", transport=httpx.MockTransport(datacite)
    )
    engine = create_engine(archive.database_url)
    try:
        report = minting.mint(
            engine,
            minting.DataCiteClient(settings, http),
            settings,
            archive.base_url,
            [SPECTRUM_SUFFIX, "isla.rev.0745"],
        )
        assert report.sent == [SPECTRUM_SUFFIX] and report.skipped_simulated == ["isla.rev.0745"]
        assert [s["data"]["attributes"]["suffix"] for s in sent] == [SPECTRUM_SUFFIX]
        dry = minting.mint(
            engine,
            minting.DryRunClient(tmp_path),
            DoiSettings(),
            archive.base_url,
            ["isla.rev.0745"],
        )
        assert dry.sent == ["isla.rev.0745"] and (tmp_path / "isla.rev.0745.json").exists()
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT suffix, state FROM isla.dois WHERE suffix = ANY(:s)"),
                {"s": [SPECTRUM_SUFFIX, "isla.rev.0745"]},
            ).all()
        states: dict[str, str] = {str(r[0]): str(r[1]) for r in rows}
        assert states == {SPECTRUM_SUFFIX: "draft", "isla.rev.0745": "dry-run"}
    finally:
        engine.dispose()
