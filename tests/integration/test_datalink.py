"""DataLink 1.1 on the served demo archive: links documents read by astropy, pyvo and STILTS."""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import httpx
import pytest
import pyvo
from astropy.io.votable import parse, parse_single_table
from pyvo.dal.adhoc import DatalinkResults

from shared.vo.obscore import AUTHORITY
from tests.conftest import Archive

pytestmark = pytest.mark.integration

COLUMNS = [
    "ID",
    "access_url",
    "service_def",
    "error_message",
    "semantics",
    "description",
    "content_type",
    "content_length",
]
SCW = "008100430010"
SMC_SPECTRUM = "spectrum/ISGRI/0745_06340000001/J011705.1-732636"
DID = f"ivo://{AUTHORITY}/isla?"
DATALINK_TYPE = "application/x-votable+xml;content=datalink"


def _links(client: httpx.Client, *ids: str, method: str = "GET") -> DatalinkResults:
    if method == "GET":
        response = client.get("/datalink", params=[("ID", i) for i in ids])
    else:
        response = client.post("/datalink/links", data={"ID": list(ids)})
    assert response.status_code == 200
    assert response.headers["content-type"] == DATALINK_TYPE
    return DatalinkResults(parse(io.BytesIO(response.content)))


def _rows(results: DatalinkResults) -> list[dict[str, Any]]:
    table = results.to_table()
    return [{name: row[name] for name in table.colnames} for row in table]


def test_columns_are_datalink_11(client: httpx.Client) -> None:
    response = client.get("/datalink", params={"ID": SCW})
    table = parse_single_table(io.BytesIO(response.content))
    assert [f.name for f in table.fields] == COLUMNS
    assert table.get_field_by_id("content_length").datatype == "long"
    assert table.get_field_by_id("content_length").unit == "byte"


def test_science_window_links(client: httpx.Client, archive: Archive) -> None:
    rows = _rows(_links(client, f"{DID}scw/{SCW}.001"))
    by_semantics: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_semantics.setdefault(str(row["semantics"]), []).append(row)
        assert row["ID"] == f"{DID}scw/{SCW}.001"
    tarball = next(r for r in by_semantics["#this"] if str(r["access_url"]).endswith(".tar"))
    assert tarball["access_url"] == f"{archive.base_url}/raw/scw/{SCW}.tar"
    files = {
        str(r["access_url"]).rsplit("/", 1)[-1]: int(r["content_length"])
        for r in by_semantics["#this"]
        if "/files/" in str(r["access_url"])
    }
    stored = dict(archive.rows("SELECT name, size FROM isla.scw_files WHERE scw_id = :s", s=SCW))
    assert files == stored
    assert any(
        str(r["access_url"]).endswith(f"/raw/scw/{SCW}") for r in by_semantics["#documentation"]
    )
    assert any("obsid=" in str(r["access_url"]) for r in by_semantics["#package"])
    assert by_semantics["#auxiliary"], "sources in the field of view"
    one = httpx.get(str(tarball["access_url"]), timeout=60)
    assert one.status_code == 200 and one.headers["content-type"].startswith("application/x-tar")


def test_product_links_with_calibration_source_and_progenitors(
    client: httpx.Client, archive: Archive
) -> None:
    rows = _rows(_links(client, f"{DID}product/{SMC_SPECTRUM}"))
    semantics = [str(r["semantics"]) for r in rows]
    assert semantics.count("#this") == 1 and semantics.count("#calibration") == 2
    assert {"#documentation", "#progenitor", "#package"} <= set(semantics)
    this = next(r for r in rows if r["semantics"] == "#this")
    size, sha = archive.rows(
        "SELECT size, sha256 FROM isla.products WHERE product_id = :p", p=SMC_SPECTRUM
    )[0]
    assert int(this["content_length"]) == size
    body = httpx.get(str(this["access_url"]), timeout=60).content
    assert hashlib.sha256(body).hexdigest() == sha
    calibration = " ".join(str(r["description"]) for r in rows if r["semantics"] == "#calibration")
    assert "ARF" in calibration and "RMF" in calibration
    progenitor = [str(r["access_url"]) for r in rows if r["semantics"] == "#progenitor"]
    assert any(u.endswith("/raw/archive.tar?obsid=06340000001") for u in progenitor)


def test_mosaic_links_to_its_preview(client: httpx.Client, archive: Archive) -> None:
    mosaics = archive.rows(
        "SELECT product_id FROM isla.products WHERE kind = 'mosaic' ORDER BY product_id"
    )
    assert mosaics, "the demo archive stores mosaics"
    # The real ISLA mosaic of 0727 and a demo one: the preview is rendered from the stored file.
    for (pid,) in (mosaics[0], *[m for m in mosaics if "0727" in m[0] and "28_40" in m[0]][:1]):
        rows = _rows(_links(client, pid))
        preview = [r for r in rows if r["semantics"] == "#preview"]
        assert len(preview) == 1 and preview[0]["content_type"] == "image/png", pid
        png = httpx.get(str(preview[0]["access_url"]), timeout=30)
        assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"


def test_many_ids_by_post_with_an_unknown_one(client: httpx.Client) -> None:
    ids = [SCW, SMC_SPECTRUM, f"{DID}scw/999999999999.001", "no/such/product", f"{DID}bogus"]
    rows = _rows(_links(client, *ids, method="POST"))
    assert list(dict.fromkeys(str(r["ID"]) for r in rows)) == ids
    errors = {str(r["ID"]): str(r["error_message"]) for r in rows if r["error_message"]}
    assert set(errors) == set(ids[2:])
    assert all(m.startswith("NotFoundFault: ") for m in errors.values())
    assert all(r["access_url"] for r in rows if str(r["ID"]) in ids[:2])


def test_no_id_is_a_usage_error(client: httpx.Client) -> None:
    response = client.get("/datalink")
    assert response.status_code == 400
    assert 'value="ERROR"' in response.text and "UsageFault" in response.text


def test_votlint_accepts_the_document(client: httpx.Client, tmp_path: Path) -> None:
    stilts = shutil.which("stilts")
    assert stilts, "stilts is installed by `make install-system`"
    body = client.get("/datalink", params=[("ID", SCW), ("ID", SMC_SPECTRUM), ("ID", "x/y")])
    path = tmp_path / "links.vot"
    path.write_bytes(body.content)
    out = subprocess.run(
        [stilts, "votlint", "validate=true", f"votable={path}"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    report = (out.stdout + out.stderr).strip()
    assert out.returncode == 0 and "ERROR" not in report.upper(), report


def test_pyvo_follows_obscore_rows_to_their_links(archive: Archive) -> None:
    tap = pyvo.dal.TAPService(f"{archive.base_url}/tap")
    result = tap.run_sync(
        "SELECT TOP 3 obs_publisher_did, access_url, access_format, dataproduct_type "
        "FROM ivoa.obscore WHERE obs_collection LIKE 'INTEGRAL/ISLA products%' "
        "AND target_name = 'SMC X-1' ORDER BY obs_publisher_did"
    )
    assert len(result) == 3
    seen = 0
    for row, links in zip(result, result.iter_datalinks(), strict=True):
        assert row["access_format"] == DATALINK_TYPE
        this = list(links.bysemantics("#this", include_narrower=False))
        assert len(this) == 1
        assert str(this[0]["ID"]) == str(row["obs_publisher_did"])
        seen += 1
    assert seen == 3


def test_vosi_resources(client: httpx.Client, archive: Archive) -> None:
    caps = client.get("/datalink/capabilities")
    assert caps.status_code == 200
    standards = {
        c.get("standardID"): c.find(".//accessURL")
        for c in ElementTree.fromstring(caps.content).iter("capability")
    }
    links = standards["ivo://ivoa.net/std/DataLink#links-1.1"]
    assert links is not None and links.text == f"{archive.base_url}/datalink"
    assert "ivo://ivoa.net/std/VOSI#availability" in standards
    available = client.get("/datalink/availability")
    assert available.status_code == 200
    root = ElementTree.fromstring(available.content)
    flag = root.find("{http://www.ivoa.net/xml/VOSIAvailability/v1.0}available")
    assert flag is not None and flag.text == "true"


def _dali_error(response: httpx.Response) -> str:
    """The text of a DALI error document (``INFO name=QUERY_STATUS value=ERROR``)."""
    assert response.headers["content-type"].startswith("application/x-votable+xml")
    infos = [
        info
        for resource in parse(io.BytesIO(response.content)).resources
        for info in resource.infos
        if info.name == "QUERY_STATUS"
    ]
    assert [info.value for info in infos] == ["ERROR"]
    return str(infos[0].content)


@pytest.mark.parametrize(
    ("params", "code", "words"),
    [
        ({}, "UsageFault", "ID is required"),
        ({"ID": SCW, "RESPONSEFORMAT": "csv"}, "UsageFault", "RESPONSEFORMAT"),
    ],
)
def test_errors_are_dali_documents_with_their_code(
    client: httpx.Client, params: dict[str, str], code: str, words: str
) -> None:
    response = client.get("/datalink", params=params)
    assert response.status_code == 400
    text = _dali_error(response)
    assert text.startswith(f"{code}: ") and words in text


def test_too_many_ids_is_an_overflow(client: httpx.Client) -> None:
    response = client.post("/datalink", data={"ID": [SCW] * 501})
    assert response.status_code == 400
    assert _dali_error(response).startswith("Overflow: at most 500 IDs")


def test_parameter_names_are_case_insensitive(client: httpx.Client) -> None:
    response = client.get("/datalink", params={"id": SCW, "responseFormat": "votable"})
    assert response.status_code == 200
    rows = _rows(DatalinkResults(parse(io.BytesIO(response.content))))
    assert rows and all(str(r["ID"]) == SCW for r in rows)
