"""Contributed collections end to end on the served demo archive: a team delivers through the
real ingest API, an operator reviews it to published, and the collection is found in
``/products/contributed``, TAP, ObsCore and DataLink; refusals write nothing."""

from __future__ import annotations

import hashlib
import io
import uuid
import zipfile
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
import pyvo
from astropy.io import fits
from astropy.io.votable import parse
from pyvo.dal.adhoc import DatalinkResults
from sqlalchemy import create_engine

from services.ingest.auth import create_token
from services.ingest.contributed import store as journal
from shared.storage import ObjectStore
from shared.vo.obscore import AUTHORITY
from tests.conftest import Archive

pytestmark = pytest.mark.integration

NAME = "xray-bursts-test"
README = b"# X-ray bursts of GS 1826-24 (test collection)\n\nOne row per burst.\n"


def _token(archive: Archive, team: str, role: str) -> dict[str, str]:
    engine = create_engine(archive.database_url)
    try:
        with engine.begin() as conn:
            token = create_token(conn, team, role).token
    finally:
        engine.dispose()
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def team(archive: Archive) -> dict[str, str]:
    """A JEM-X team's token (owner of the test collection)."""
    return _token(archive, "burst-team", "jemx")


@pytest.fixture(scope="module")
def operator(archive: Archive) -> dict[str, str]:
    """An operator's token."""
    return _token(archive, "ops", "operator")


@pytest.fixture(scope="module")
def http(archive: Archive) -> Iterator[httpx.Client]:
    """A client on the served archive."""
    with httpx.Client(base_url=archive.base_url, timeout=60) as c:
        yield c


def _catalogue(rows: int = 3) -> bytes:
    lines = ["burst_id,mjd [d],peak_flux [mCrab],simulated"]
    lines += [f"B{i},{58000 + 7.5 * i},{900 + 10 * i},true" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def _image() -> bytes:
    hdu = fits.PrimaryHDU(np.arange(64, dtype=np.float32).reshape(8, 8))
    hdu.header["SIMDATA"] = True
    out = io.BytesIO()
    hdu.writeto(out)
    return out.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


FIELDS = {
    "collection": NAME,
    "title": "GS 1826-24 burst catalogue",
    "authors": "A. Author; B. Author",
    "description": "Type-I X-ray bursts seen by JEM-X (test data, simulated).",
    "licence": "CC-BY-4.0",
    "instrument": "JEM-X",
    "software_licence": "BSD-3-Clause",
    "software_version": "0.3",
}


def _deliver(
    http: httpx.Client,
    headers: dict[str, str],
    fields: dict[str, str] | None = None,
    products: list[tuple[str, bytes]] | None = None,
    documentation: list[tuple[str, bytes]] | None = None,
    software: list[tuple[str, bytes]] | None = None,
) -> httpx.Response:
    files: list[tuple[str, tuple[str, bytes]]] = []
    for part, entries in (
        ("file", products if products is not None else [("bursts.csv", _catalogue())]),
        ("documentation", documentation if documentation is not None else [("README.md", README)]),
        (
            "software",
            software
            if software is not None
            else [("burstfind-0.3.zip", _zip({"burstfind/find.py": b"print('bursts')\n"}))],
        ),
    ):
        files += [(part, entry) for entry in entries]
    return http.post("/ingest/contributed", headers=headers, data=fields or FIELDS, files=files)


def _state(
    http: httpx.Client, headers: dict[str, str], version: int, state: str, name: str = NAME
) -> httpx.Response:
    return http.post(
        f"/ingest/contributed/{name}/{version}/state", headers=headers, data={"state": state}
    )


def _counts(archive: Archive) -> tuple[int, int]:
    return (
        archive.scalar("SELECT count(*) FROM isla_ops.contributed_deliveries"),
        archive.scalar("SELECT count(*) FROM isla_ops.contributed_staging"),
    )


def _objects(archive: Archive, prefix: str) -> list[str]:
    store = ObjectStore.from_settings(archive.storage_settings)
    return [o.key for o in store.list(store.products_bucket, prefix)]


@pytest.fixture(scope="module")
def published(http: httpx.Client, team: dict[str, str], operator: dict[str, str]) -> dict[str, Any]:
    """The test collection delivered by its team and reviewed to published by an operator."""
    made = _deliver(http, team, products=[("bursts.csv", _catalogue()), ("map.fits", _image())])
    assert made.status_code == 201, made.text
    version = made.json()["version"]
    assert made.json()["state"] == "submitted"
    for state in ("accepted", "published"):
        answer = _state(http, operator, version, state)
        assert answer.status_code == 200, answer.text
        assert answer.json()["state"] == state
    page = http.get(f"/products/contributed/{NAME}")
    assert page.status_code == 200, page.text
    return dict(page.json())


def test_a_delivered_collection_is_served_once_published(
    http: httpx.Client, published: dict[str, Any]
) -> None:
    assert published["title"] == FIELDS["title"]
    assert published["team"] == "burst-team"
    assert published["authors"] == ["A. Author", "B. Author"]
    assert published["licence"] == "CC-BY-4.0"
    assert published["state"] == "published"
    assert published["simulated"] is True
    names = {f["file_name"]: f for f in published["files"]}
    assert set(names) == {"bursts.csv", "map.fits"}
    assert published["documentation"]["file_name"] == "README.md"
    assert published["software"]["licence"] == "BSD-3-Clause"
    assert published["software"]["version"] == "0.3"
    listing = http.get("/products/contributed").json()
    assert NAME in {c["collection"] for c in listing["collections"]}
    # Every file downloads as delivered, with its checksum as ETag, and in ranges.
    csv = names["bursts.csv"]
    got = http.get(csv["url"])
    assert got.status_code == 200
    assert hashlib.sha256(got.content).hexdigest() == csv["sha256"]
    assert len(got.content) == csv["size"] == len(_catalogue())
    assert got.headers["etag"] == f'"{csv["sha256"]}"'
    part = http.get(csv["url"], headers={"Range": "bytes=0-9"})
    assert part.status_code == 206
    assert part.content == _catalogue()[:10]
    doc = http.get(published["documentation"]["url"])
    assert doc.content == README


def test_published_collection_is_in_tap_and_obscore(
    http: httpx.Client, published: dict[str, Any], archive: Archive
) -> None:
    tap = pyvo.dal.TAPService(f"{archive.base_url}/tap")
    version = published["version"]
    rows = tap.run_sync(
        "SELECT collection, version, team, licence, software_licence, latest "
        f"FROM isla.contributed_collections WHERE collection = '{NAME}'"
    ).to_table()
    assert len(rows) == 1
    assert rows["team"][0] == "burst-team"
    assert rows["software_licence"][0] == "BSD-3-Clause"
    files = tap.run_sync(
        "SELECT file_name, role, sha256 FROM isla.contributed_files "
        f"WHERE collection = '{NAME}' ORDER BY file_name"
    ).to_table()
    assert {(str(n), str(r)) for n, r in zip(files["file_name"], files["role"], strict=True)} == {
        ("README.md", "documentation"),
        ("bursts.csv", "product"),
        ("burstfind-0.3.zip", "software"),
        ("map.fits", "product"),
    }
    obscore = tap.run_sync(
        "SELECT obs_publisher_did, dataproduct_type, calib_level, access_url, instrument_name "
        f"FROM ivoa.obscore WHERE obs_publisher_did LIKE '%/{NAME}/{version}/%' "
        "ORDER BY obs_publisher_did"
    ).to_table()
    # Ordered by DID, which starts with the kind: the map, then the table.
    assert list(obscore["dataproduct_type"]) == ["image", "measurements"]
    assert set(obscore["calib_level"]) == {4}
    assert set(obscore["instrument_name"]) == {"JEM-X"}
    # The access URL is the product's DataLink document: documentation and software linked.
    links = DatalinkResults(parse(io.BytesIO(http.get(str(obscore["access_url"][0])).content)))
    table = links.to_table()
    by_semantics: dict[str, list[str]] = {}
    for row in table:
        by_semantics.setdefault(str(row["semantics"]), []).append(str(row["access_url"]))
    files_of = {f["role"]: f for f in [published["documentation"], published["software"]]}
    assert files_of["documentation"]["url"] in by_semantics["#documentation"]
    assert files_of["software"]["url"] in by_semantics["#auxiliary"]
    assert len(by_semantics["#this"]) == 1
    software = http.get(files_of["software"]["url"])
    assert zipfile.ZipFile(io.BytesIO(software.content)).namelist() == ["burstfind/find.py"]


def test_a_new_delivery_is_a_new_version_and_old_ones_stay(
    http: httpx.Client,
    published: dict[str, Any],
    team: dict[str, str],
    operator: dict[str, str],
) -> None:
    made = _deliver(http, team, products=[("bursts.csv", _catalogue(5))])
    assert made.status_code == 201, made.text
    version = made.json()["version"]
    assert version == published["version"] + 1
    # Not served before it is published.
    assert http.get(f"/products/contributed/{NAME}").json()["version"] == published["version"]
    assert http.get(f"/products/contributed/{NAME}/{version}").status_code == 404
    assert _state(http, operator, version, "accepted").status_code == 200
    assert _state(http, operator, version, "published").status_code == 200
    page = http.get(f"/products/contributed/{NAME}").json()
    assert page["version"] == version
    assert [v["version"] for v in page["versions"]] == [version, published["version"]]
    old = http.get(f"/products/contributed/{NAME}/{published['version']}")
    assert old.status_code == 200
    assert old.json()["latest"] is False
    assert {f["file_name"] for f in old.json()["files"]} == {"bursts.csv", "map.fits"}
    assert http.get(old.json()["files"][0]["url"]).status_code == 200


def test_review_moves_only_along_allowed_edges_by_operators(
    http: httpx.Client, team: dict[str, str], operator: dict[str, str], archive: Archive
) -> None:
    made = _deliver(http, team, fields={**FIELDS, "collection": "edges-test"})
    assert made.status_code == 201, made.text
    assert _state(http, team, 1, "accepted", "edges-test").status_code == 403
    skipped = _state(http, operator, 1, "published", "edges-test")
    assert skipped.status_code == 409
    assert "submitted" in skipped.json()["detail"]
    assert _state(http, operator, 1, "rejected", "edges-test").status_code == 200
    assert _state(http, operator, 1, "accepted", "edges-test").status_code == 409
    assert _state(http, operator, 1, "bogus", "edges-test").status_code == 422
    assert http.get("/products/contributed/edges-test").status_code == 404
    audit = archive.rows(
        "SELECT outcome FROM isla_ops.ingest_audit WHERE action = 'contributed.review' "
        "AND target = 'edges-test@1' ORDER BY audit_id"
    )
    assert [r.outcome for r in audit] == ["forbidden", "refused", "done", "refused", "refused"]


def test_unknown_collections_are_404_with_nearby_names(
    http: httpx.Client, published: dict[str, Any], operator: dict[str, str]
) -> None:
    missing = http.get("/products/contributed/xray-burst-test")
    assert missing.status_code == 404
    assert NAME in missing.json()["nearby"]
    assert http.get(f"/products/contributed/{NAME}/99").status_code == 404
    assert http.get(f"/products/contributed/{NAME}/1/files/nope.csv").status_code == 404
    review = _state(http, operator, 1, "accepted", "xray-burst-test")
    assert review.status_code == 404
    assert NAME in review.json()["nearby"]


def test_refusals_list_every_problem_and_write_nothing(
    http: httpx.Client, team: dict[str, str], archive: Archive
) -> None:
    before = _counts(archive)
    bad = _deliver(
        http,
        team,
        fields={**FIELDS, "collection": "refused-test", "licence": "CC-BY"},
        products=[
            ("broken.fits", b"SIMPLE  =                    T" + b" " * 50),
            ("empty.csv", b"a,b\n"),
            ("../escape.csv", _catalogue()),
        ],
        documentation=[("README.md", b"\xff\xfe not utf-8")],
        software=[("tool.zip", _zip({"../../etc/evil": b"x"}))],
    )
    assert bad.status_code == 422
    problems = {(p["file"], p["code"]) for p in bad.json()["problems"]}
    assert ("-", "licence") in problems
    assert ("broken.fits", "not_fits") in problems
    assert ("empty.csv", "empty_table") in problems
    assert ("../escape.csv", "file_name") in problems
    assert ("README.md", "encoding") in problems
    assert ("tool.zip", "unsafe_member") in problems
    assert "CC-BY-4.0" in next(
        p["message"] for p in bad.json()["problems"] if p["code"] == "licence"
    )
    no_doc = _deliver(http, team, fields={**FIELDS, "collection": "refused-test"}, documentation=[])
    assert no_doc.status_code == 422
    assert _counts(archive) == before
    assert _objects(archive, "contributed/refused-test/") == []


def test_wrong_token_role_or_team_is_refused(
    http: httpx.Client, published: dict[str, Any], archive: Archive
) -> None:
    assert _deliver(http, {}).status_code == 401
    assert _deliver(http, {"Authorization": "Bearer isla_00000000_" + "x" * 43}).status_code == 401
    # An ISGRI team may not deliver a JEM-X collection; another JEM-X team may not deliver a
    # new version of this team's collection.
    ibis = _token(archive, "ibis-team", "ibis")
    wrong_role = _deliver(http, ibis, fields={**FIELDS, "collection": "role-test"})
    assert wrong_role.status_code == 403
    other = _token(archive, "other-jemx", "jemx")
    assert _deliver(http, other).status_code == 403
    assert http.get(f"/ingest/contributed/{NAME}/1", headers=other).status_code == 403
    audit = archive.rows(
        "SELECT outcome FROM isla_ops.ingest_audit WHERE action = 'contributed.deliver' "
        "AND team IN ('ibis-team', 'other-jemx')"
    )
    assert {r.outcome for r in audit} == {"forbidden"}


def test_the_demo_collections_are_published_and_labelled_simulated(http: httpx.Client) -> None:
    listing = {c["collection"]: c for c in http.get("/products/contributed").json()["collections"]}
    for name in ("crab-pulsar-timing-sim", "spi-511kev-line-map-sim"):
        assert listing[name]["simulated"] is True
        assert "simulated" in listing[name]["title"]
    line_map = http.get("/products/contributed/spi-511kev-line-map-sim").json()
    fits_file = http.get(line_map["files"][0]["url"]).content
    with fits.open(io.BytesIO(fits_file)) as hdul:
        assert hdul[1].header["PIXTYPE"] == "HEALPIX"
        assert all(hdu.header["SIMDATA"] is True for hdu in hdul)
    timing = http.get("/products/contributed/crab-pulsar-timing-sim").json()
    assert timing["software"]["licence"] == "MIT"
    assert timing["software"]["file_name"].endswith(".tar.gz")
    did = timing["files"][0]["obs_publisher_did"]
    assert did.startswith(
        f"ivo://{AUTHORITY}/isla?product/contributed_table/ISGRI/crab-pulsar-timing-sim/"
    )


def test_recovery_removes_what_a_dead_delivery_left(
    http: httpx.Client, operator: dict[str, str], team: dict[str, str], archive: Archive
) -> None:
    """A delivery that died after putting its objects, before its commit, leaves journaled
    objects only: recovery deletes them and the journal entries, and the archive is as before."""
    store = ObjectStore.from_settings(archive.storage_settings)
    dead = str(uuid.uuid4())
    key = f"contributed/crash-test/{dead}/bursts.csv"
    engine = create_engine(archive.database_url)
    try:
        with engine.begin() as conn:
            journal.journal(conn, dead, store.products_bucket, [key])
    finally:
        engine.dispose()
    store.put_bytes(store.products_bucket, key, _catalogue(), content_type="text/csv")
    assert http.post("/ingest/contributed/recover", headers=team).status_code == 403
    answer = http.post("/ingest/contributed/recover", headers=operator)
    assert answer.status_code == 200, answer.text
    assert dead in answer.json()["removed"]
    assert _objects(archive, "contributed/crash-test/") == []
    assert _counts(archive)[1] == 0
    assert http.get("/products/contributed/crash-test").status_code == 404
