"""The raw data service as users drive it: curl, wget, tar, sha256sum, scripts, astroquery."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from deploy.ports import free_port
from deploy.serve import service_process
from shared import settings as cfg
from shared.storage import ObjectStore
from tests.conftest import Archive

pytestmark = pytest.mark.integration

OBSID = "06340000001"  # SMC X-1, revolution 745


@pytest.fixture(scope="module")
def db(archive: Archive) -> Iterator[object]:
    engine = create_engine(archive.database_url)
    yield engine
    engine.dispose()


def scalars(engine: object, sql: str, **binds: object) -> list[object]:
    with engine.connect() as conn:  # type: ignore[attr-defined]
        return list(conn.execute(text(sql), binds).scalars())


def tar_members(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- selections ------------------------------------------------------------------------------


def test_every_selection_kind_resolves_like_sql(client: httpx.Client, db: object) -> None:
    cases = {
        "obsid": (
            {"obsid": OBSID},
            "SELECT scw_id FROM isla.science_windows WHERE obsid = :o",
            {"o": OBSID},
        ),
        "revolution": (
            {"revolution": "0081"},
            "SELECT scw_id FROM isla.science_windows WHERE revolution = 81",
            {},
        ),
        "range": (
            {"revolution": "745-800"},
            "SELECT scw_id FROM isla.science_windows WHERE revolution BETWEEN 745 AND 800",
            {},
        ),
        "proposal": (
            {"proposal": OBSID[:7]},
            "SELECT scw_id FROM isla.science_windows JOIN isla.observations USING (obsid) "
            "WHERE proposal_id = :p",
            {"p": OBSID[:7]},
        ),
        "source": (
            {"source": "smc x-1", "max_offaxis": "10"},
            "SELECT scw_id FROM isla.science_windows WHERE scw_type = 'pointing' AND "
            "degrees(pos <-> spoint(radians(19.2714), radians(-73.4433))) <= 10",
            {},
        ),
        "position": (
            {
                "ra": "83.6332",
                "dec": "22.0145",
                "radius": "5",
                "start": "2005-01-01",
                "end": "2015-01-01T00:00:00Z",
                "instrument": "jemx",
            },
            "SELECT scw_id FROM isla.science_windows WHERE scw_type = 'pointing' AND "
            "degrees(pos <-> spoint(radians(83.6332), radians(22.0145))) <= 5 AND "
            "end_time > '2005-01-01' AND start_time < '2015-01-01' AND "
            "fov_jemx @> spoint(radians(83.6332), radians(22.0145)) AND "
            "coalesce(jemx1_exposure, 0) + coalesce(jemx2_exposure, 0) > 0",
            {},
        ),
    }
    for name, (params, sql, binds) in cases.items():
        expected = set(scalars(db, sql, **binds))
        assert expected, f"{name}: the demo archive should hold data for this case"
        response = client.get("/raw/manifest.json", params=params)
        assert response.status_code == 200, (name, response.text)
        got = {s["scw_id"] for s in response.json()["scws"]}
        assert got == expected, name


def test_scw_lists_by_get_post_form_json_and_tap_csv(client: httpx.Client, db: object) -> None:
    ids = [
        str(i)
        for i in scalars(
            db,
            "SELECT scw_id FROM isla.science_windows "
            "WHERE revolution = 81 ORDER BY start_time LIMIT 4",
        )
    ]
    queries = [
        client.get("/raw/manifest.json", params={"scw": ",".join(ids)}),
        client.get("/raw/manifest.json", params=[("scw", i) for i in ids]),
        client.post("/raw/manifest.json", data={"scw": " ".join(ids)}),
        client.post("/raw/manifest.json", json={"scw": ids}),
        # A TAP result saved as CSV, posted back as it is.
        client.post(
            "/raw/manifest.json",
            content="scw_id\n" + "\n".join(ids) + "\n",
            headers={"Content-Type": "text/csv"},
        ),
    ]
    for response in queries:
        assert response.status_code == 200, response.text
        assert [s["scw_id"] for s in response.json()["scws"]] == ids


def test_manifest_formats_agree(client: httpx.Client) -> None:
    params = {"obsid": OBSID}
    doc = client.get("/raw/manifest.json", params=params).json()
    files = [f for s in doc["scws"] for f in s["files"]]
    assert doc["file_count"] == len(files) and doc["total_size"] == sum(f["size"] for f in files)
    rows = client.get("/raw/manifest.csv", params=params).text.splitlines()
    assert rows[0] == "scw_id,version,name,path,size,sha256,url,verified"
    assert all(row.endswith(",True") for row in rows[1:])
    assert len(rows) == len(files) + 1
    sums = client.get("/raw/SHA256SUMS", params=params).text.splitlines()
    assert sums == [f"{f['sha256']}  {f['path']}" for f in files]
    some = files[0]
    assert sha(client.get(some["url"]).content) == some["sha256"]


# --- tarballs ----------------------------------------------------------------------------------


def test_tarball_is_exact_deterministic_and_verifies(client: httpx.Client, tmp_path: Path) -> None:
    params = {"obsid": OBSID}
    first = client.get("/raw/archive.tar", params=params)
    assert first.status_code == 200
    assert first.headers["content-type"] == "application/x-tar"
    assert int(first.headers["content-length"]) == len(first.content)
    assert first.headers["content-disposition"] == f'attachment; filename="obsid_{OBSID}.tar"'
    again = client.get("/raw/archive.tar", params=params)
    assert again.content == first.content and again.headers["etag"] == first.headers["etag"]
    head = client.head("/raw/archive.tar", params=params)
    assert head.headers["content-length"] == first.headers["content-length"]
    members = tar_members(first.content)
    manifest = client.get("/raw/manifest.json", params=params).json()
    for scw in manifest["scws"]:
        for f in scw["files"]:
            assert sha(members[f["path"]]) == f["sha256"]
    # As a user checks it: extract with tar, verify with sha256sum -c.
    (tmp_path / "a.tar").write_bytes(first.content)
    subprocess.run(["tar", "-xf", "a.tar"], cwd=tmp_path, check=True)
    check = subprocess.run(
        ["sha256sum", "-c", "SHA256SUMS"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.count(": OK") == manifest["file_count"]


def test_any_byte_range_matches_the_whole(client: httpx.Client) -> None:
    url = "/raw/scw/008100430010.tar"
    whole = client.get(url).content
    size = len(whole)
    for first, last in [
        (0, 0),
        (0, 511),
        (511, 513),
        (1000, size - 2000),
        (size - 1024, size - 1),
        (size // 3, size // 2),
    ]:
        part = client.get(url, headers={"Range": f"bytes={first}-{last}"})
        assert part.status_code == 206
        assert part.content == whole[first : last + 1]
        assert part.headers["content-range"] == f"bytes {first}-{last}/{size}"
    stale = client.get(url, headers={"Range": "bytes=10-", "If-Range": '"another-version"'})
    assert stale.status_code == 200 and stale.content == whole


def test_if_none_match_is_304_for_files_and_tarballs(client: httpx.Client) -> None:
    """A client holding the current version gets 304 Not Modified, without a body."""
    manifest = client.get("/raw/manifest.json", params={"scw": "008100430010"}).json()
    one = manifest["scws"][0]["files"][0]
    file_url = f"/raw/scw/008100430010/files/{one['name']}"
    for url in (file_url, "/raw/scw/008100430010.tar", f"/raw/archive.tar?obsid={OBSID}"):
        first = client.get(url)
        etag = first.headers["etag"]
        cached = client.get(url, headers={"If-None-Match": etag})
        assert cached.status_code == 304, url
        assert cached.content == b"" and cached.headers["etag"] == etag
        changed = client.get(url, headers={"If-None-Match": '"another-version"'})
        assert changed.status_code == 200 and changed.content == first.content
    # A raw file's entity tag is its recorded SHA-256.
    assert client.head(file_url).headers["etag"] == f'"{one["sha256"]}"'


def test_curl_and_wget_resume_to_an_identical_file(
    client: httpx.Client, archive: Archive, tmp_path: Path
) -> None:
    url = f"{archive.base_url}/raw/archive.tar?revolution=0081"
    whole = client.get(url).content
    for tool in ("curl", "wget"):
        target = tmp_path / f"{tool}.tar"
        target.write_bytes(whole[: len(whole) // 3])  # an interrupted download
        command = (
            ["curl", "-sSf", "-C", "-", "-o", str(target), url]
            if tool == "curl"
            else ["wget", "-q", "-c", "-O", str(target), url]
        )
        subprocess.run(command, check=True, timeout=60)
        assert sha(target.read_bytes()) == sha(whole), tool


def test_single_scw_tar_and_gzip(client: httpx.Client) -> None:
    plain = client.get("/raw/scw/008100430010.tar")
    assert plain.headers["content-disposition"] == 'attachment; filename="008100430010.tar"'
    members = tar_members(plain.content)
    assert "scw/0081/008100430010.001/swg.fits" in members and "SHA256SUMS" in members
    packed = client.get("/raw/scw/008100430010.tar.gz")
    assert packed.status_code == 200 and packed.content[:2] == b"\x1f\x8b"
    with tarfile.open(fileobj=io.BytesIO(packed.content), mode="r:gz") as tar:
        assert {m.name for m in tar.getmembers()} == set(members)


def test_download_script_fetches_and_verifies(client: httpx.Client, tmp_path: Path) -> None:
    for tool in ("curl", "wget"):
        script = client.get("/raw/download.sh", params={"obsid": OBSID, "tool": tool})
        assert script.status_code == 200
        path = tmp_path / f"{tool}.sh"
        path.write_text(script.text)
        folder = tmp_path / tool
        folder.mkdir()
        run = subprocess.run(
            ["bash", str(path), "-j", "3", "-x"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert run.returncode == 0, run.stdout + run.stderr
        scws = client.get("/raw/manifest.json", params={"obsid": OBSID}).json()["scws"]
        assert sorted(p.name for p in folder.glob("*.tar")) == sorted(
            f"{s['scw_id']}.tar" for s in scws
        )
        # Running it again resumes: nothing is fetched twice, all still verifies.
        again = subprocess.run(
            ["bash", str(path), "-x"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert again.returncode == 0, again.stderr
        assert again.stderr == "", again.stderr  # complete files are not requested again


# --- ISLA compatibility ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params,filename",
    [
        ({"scwid": "008100430010"}, "008100430010.tar"),
        ({"obsid": OBSID}, f"obsid_{OBSID}.tar"),
        ({"REVID": "0081"}, "rev_0081.tar"),
        ({"PROPID": OBSID[:7]}, f"proposal_{OBSID[:7]}.tar"),
    ],
)
def test_isla_data_scw(client: httpx.Client, params: dict[str, str], filename: str) -> None:
    response = client.get(
        "/data", params={"RETRIEVAL_TYPE": "SCW", "TAPCLIENT": "ASTROQUERY", **params}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-disposition"] == f'attachment; filename="{filename}"'
    assert "SHA256SUMS" in tar_members(response.content)


@pytest.mark.parametrize(
    "params,status,needle",
    [
        ({}, 400, "RETRIEVAL_TYPE is required"),
        ({"RETRIEVAL_TYPE": "SCW"}, 400, "exactly one of"),
        ({"RETRIEVAL_TYPE": "SCW", "obsid": OBSID, "REVID": "81"}, 400, "exactly one of"),
        ({"RETRIEVAL_TYPE": "SCW", "scwid": "0081"}, 400, "RRRRPPPPSSSF"),
        ({"RETRIEVAL_TYPE": "SCW", "obsid": "99999999999"}, 404, "no science windows"),
        ({"RETRIEVAL_TYPE": "SCW", "scwid": "008100430010,999900010010"}, 404, "999900010010"),
        ({"RETRIEVAL_TYPE": "SCW", "colour": "red", "obsid": OBSID}, 400, "colour"),
    ],
)
def test_isla_data_errors_are_never_files(
    client: httpx.Client, params: dict[str, str], status: int, needle: str
) -> None:
    response = client.get("/data", params=params)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert needle in response.json()["detail"]


def test_product_retrievals_are_handed_to_products(client: httpx.Client) -> None:
    # The products service answers (it owns these types); the raw service passes it through,
    # errors included.
    params = {"RETRIEVAL_TYPE": "long_timeseries", "source": "Nowhere", "instrument_oid": "1"}
    response = client.get("/data", params=params)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    params["source"] = "J053432.0+220052"  # the Crab's ISGRI all-mission time series
    response = client.get("/data", params=params)
    assert response.status_code == 200, response.text
    assert response.content[:2] == b"PK"  # packaged as ESA's archive does: a zip


# --- bad input and faults ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "params,status,needle",
    [
        ({}, 400, "select science windows by"),
        ({"scw": "12ab"}, 400, "RRRRPPPPSSSF"),
        ({"obsid": "123"}, 400, "11 digits"),
        ({"revolution": "81-70"}, 400, "reversed"),
        ({"revolution": "x"}, 400, "revolution"),
        ({"ra": "400", "dec": "0"}, 400, "[0, 360]"),
        ({"ra": "10"}, 400, "both ra and dec"),
        ({"source": "No Such Source"}, 404, "unknown source"),
        ({"obsid": OBSID, "instrument": "xray"}, 400, "isgri"),
        ({"obsid": OBSID, "start": "yesterday"}, 400, "ISO 8601"),
        ({"scw": "999900010010"}, 404, "999900010010"),
        ({"obsid": OBSID, "sql": "drop table x"}, 400, "unknown parameter"),
    ],
)
def test_bad_selections(
    client: httpx.Client, params: dict[str, str], status: int, needle: str
) -> None:
    for path in ("/raw/manifest.json", "/raw/archive.tar"):
        response = client.get(path, params=params)
        assert response.status_code == status, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert needle in response.json()["detail"]


def test_oversized_post_is_refused(client: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ISLA_SELECTION_MAX_BYTES", "2048")
    cfg.clear_caches()
    try:
        response = client.post(
            "/raw/manifest.json",
            content="008100430010\n" * 1000,
            headers={"Content-Type": "text/plain"},
        )
    finally:
        monkeypatch.undo()
        cfg.clear_caches()
    assert response.status_code == 413


def test_tarball_cap_points_to_the_script(
    client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ISLA_TARBALL_MAX_SCWS", "3")
    cfg.clear_caches()
    try:
        response = client.get("/raw/archive.tar", params={"obsid": OBSID})
    finally:
        monkeypatch.undo()
        cfg.clear_caches()
    assert response.status_code == 413
    body = response.json()
    assert "download script" in body["detail"]
    assert body["script"].endswith(f"/raw/download.sh?obsid={OBSID}")
    assert client.get(body["script"]).status_code == 200


def test_per_client_bulk_stream_limit(
    client: httpx.Client, archive: Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ISLA_BULK_STREAMS_PER_CLIENT", "1")
    monkeypatch.setenv("ISLA_TARBALL_MAX_SCWS", "100000")
    cfg.clear_caches()
    try:
        with (
            httpx.Client(base_url=archive.base_url, timeout=30) as other,
            other.stream(
                "GET", "/raw/archive.tar", params={"revolution": "0-9999"}
            ) as running,  # > buffers
        ):
            assert running.status_code == 200
            chunks = running.iter_bytes()  # kept: dropping it would close the stream
            next(chunks)  # the first stream is under way
            refused = client.get("/raw/archive.tar", params={"obsid": OBSID})
            assert refused.status_code == 429
            assert "Retry-After" in refused.headers
        deadline = time.monotonic() + 10  # the server notices the closed stream
        while (ok := client.get("/raw/archive.tar", params={"obsid": OBSID})).status_code == 429:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert ok.status_code == 200
    finally:
        monkeypatch.undo()
        cfg.clear_caches()


def test_a_store_fault_mid_stream_leaves_an_incomplete_file_that_resumes(
    client: httpx.Client, archive: Archive, tmp_path: Path
) -> None:
    manifest = client.get("/raw/manifest.json", params={"scw": "008100430010"}).json()
    victim = max(manifest["scws"][0]["files"], key=lambda f: f["size"])
    store = ObjectStore.from_settings(archive.storage_settings)
    original = store.read_bytes(store.raw_bucket, victim["path"])
    url = f"{archive.base_url}/raw/scw/008100430010.tar"
    whole = client.get(url).content
    target = tmp_path / "scw.tar"
    # The stored object loses its tail: the server must break off, not deliver a short tar.
    store.put_bytes(store.raw_bucket, victim["path"], original[: len(original) // 2])
    try:
        broken = subprocess.run(
            ["curl", "-sS", "-o", str(target), url], capture_output=True, timeout=60, check=False
        )
        assert broken.returncode != 0  # curl reports the transfer as incomplete
        assert 0 < target.stat().st_size < len(whole)
    finally:
        store.put_bytes(store.raw_bucket, victim["path"], original)
    subprocess.run(["curl", "-sSf", "-C", "-", "-o", str(target), url], check=True, timeout=60)
    assert sha(target.read_bytes()) == sha(whole)


def test_object_store_outage_is_503_with_retry_after(archive: Archive) -> None:
    dead = free_port()
    env = {**os.environ, "ISLA_S3_ENDPOINT": f"http://127.0.0.1:{dead}", "ISLA_S3_TIMEOUT": "1"}
    with service_process("services.raw.app:app", env) as (_, base):
        response = httpx.get(f"{base}/raw/scw/008100430010.tar", timeout=20)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "30"
    assert response.headers["content-type"] == "application/problem+json"


def test_database_outage_is_503_with_retry_after(archive: Archive) -> None:
    """With Postgres unreachable, every database-backed answer is a 503 problem, never a 500."""
    dead = free_port()
    env = {
        **os.environ,
        "ISLA_DATABASE_URL": f"postgresql+psycopg://isla@127.0.0.1:{dead}/isla",
        "ISLA_DATABASE_CONNECT_TIMEOUT": "1",
    }
    paths = (
        "/raw/scw/008100430010",
        "/raw/scw/008100430010.tar",
        "/raw/revolutions/0081",
        f"/raw/manifest.json?obsid={OBSID}",
        "/data?RETRIEVAL_TYPE=SCW&scwid=008100430010",
    )
    with service_process("services.raw.app:app", env) as (_, base):
        for path in paths:
            response = httpx.get(f"{base}{path}", timeout=20)
            assert response.status_code == 503, (path, response.text)
            assert response.headers["retry-after"] == "30"
            assert response.headers["content-type"] == "application/problem+json"
            assert "database" in response.json()["detail"]


def test_astroquery_downloads_and_opens_science_windows(
    archive: Archive, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """astroquery's ESA INTEGRAL client, unmodified, pointed at this archive by its conf."""
    from astroquery.esa.integral import IntegralClass, conf

    tap_url = f"{archive.base_url}/tap"
    with (
        conf.set_temp("ISLA_TAP_SERVER", tap_url),
        conf.set_temp("ISLA_DATA_SERVER", f"{archive.base_url}/data?"),
        conf.set_temp("ISLA_SERVLET", f"{tap_url}/sync/?PHASE=RUN"),
    ):
        isla = IntegralClass()
        opened = isla.download_science_windows(
            science_windows="008100430010", output_file=str(tmp_path / "one.tar")
        )
        assert opened, "the client found no FITS files in the download"
        swg = next(f for f in opened if f["filename"] == "swg.fits")
        assert swg["fits"][0].header["SWID"] == "008100430010"
        assert {f["filename"] for f in opened} >= {"swg.fits", "isgri_events.fits.gz"}
        by_obs = isla.download_science_windows(
            observation_id=OBSID, output_file=str(tmp_path / "obs.tar"), read_fits=False
        )
        with tarfile.open(by_obs) as tar:
            names = tar.getnames()
        assert "SHA256SUMS" in names and any(n.endswith("/swg.fits") for n in names)
        # The client's own error path: a 404 it reports as "No science windows have been found".
        assert (
            isla.download_science_windows(revolution="9999", output_file=str(tmp_path / "none.tar"))
            is None
        )
        assert "No science windows have been found" in caplog.text
