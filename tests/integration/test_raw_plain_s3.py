"""ISDC's layout copied in by a plain S3 client, indexed by background jobs, served, verified.

The objects are written with the ``minio`` client's own ``put_object`` and no metadata, as
``mc mirror`` or ``aws s3 sync`` leave them: no ISLA checksum. The real orbit file of
revolution 0789 sits in the revolution's auxiliary folder. Indexing, verification and the
ScW index run as ingestion jobs in a real ``isla worker``; the raw service serves the result.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import uvicorn
from astropy import units as u
from astropy.io import fits
from astropy.time import Time
from minio import Minio
from minio.error import S3Error
from sqlalchemy import Engine

from deploy.ports import free_port
from services.ingest.raw_index import index_raw
from services.ingest.raw_index.checksums import SMALL_OBJECT, ObjectChangedError, checksum
from services.products.compat import store as compat_store
from services.raw.app import compat_router, router
from shared import settings as cfg
from shared.db.engine import make_async_engine, make_sync_engine
from shared.integral.time import time_to_ijd
from shared.service import create_service
from shared.settings import StorageSettings
from shared.storage import ListedObject, ObjectStore
from tests.conftest import ACCESS_KEY, SECRET_KEY, StackInfo
from tests.integration.ingest_support import IngestServer, serve_ingest

pytestmark = pytest.mark.integration

REAL_ORBIT = Path(__file__).parents[2] / "shared" / "data" / "real" / "sc_orbit_param.fits.gz"
SCW = "078900560010"
OTHER = "078900600010"
START = Time("2009-04-01T02:11:24", scale="utc")


def _swg(scw_id: str, start: Time, minutes: float, *, ra: float = 83.63) -> bytes:
    """A group file with the keywords ISDC writes (no ISLA marker)."""
    end = start + minutes * u.min
    header = fits.Header()
    for key, value in (
        ("SWID", scw_id),
        ("SW_VER", "001"),
        ("REVOL", int(scw_id[:4])),
        ("SW_TYPE", "POINTING"),
        ("OBS_ID", "06200070001"),
        ("OBJECT", "Crab"),
        ("RA_SCX", ra),
        ("DEC_SCX", 22.01),
        ("POSANGLE", 120.0),
        ("TSTART", time_to_ijd(start)),
        ("TSTOP", time_to_ijd(end)),
        ("DATE-OBS", start.utc.isot),
        ("DATE-END", end.utc.isot),
    ):
        header[key] = value
    buffer = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(header=header)]).writeto(buffer)
    return buffer.getvalue()


def _gti(start: Time, seconds: float) -> bytes:
    """An IBIS GTI file: one interval of ``seconds`` from ``start``, dead time 10 %."""
    t0 = time_to_ijd(start)
    hdu = fits.BinTableHDU.from_columns(
        [
            fits.Column("START", "D", array=np.array([t0])),
            fits.Column("STOP", "D", array=np.array([t0 + seconds / 86400.0])),
        ],
        name="IBIS-GNRL-GTI",
    )
    hdu.header["DEADC"] = 0.9
    buffer = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(buffer)
    return buffer.getvalue()


def _synthetic(seed: int, size: int) -> bytes:
    return np.random.default_rng(seed).bytes(size)


@dataclass
class Plain:
    """The test's archive: its ingest server, a plain S3 client, an operator token."""

    server: IngestServer
    client: Minio
    bucket: str
    token: str
    raw_url: str
    store: ObjectStore
    store_settings: StorageSettings

    def put(self, key: str, data: bytes) -> None:
        """Upload as any S3 client would: bytes, no metadata."""
        self.client.put_object(self.bucket, key, io.BytesIO(data), len(data))

    def put_with_s3_checksum(self, key: str, data: bytes) -> None:
        """Upload as ``aws s3 cp --checksum-algorithm SHA256`` does: the client sends the
        SHA-256 of the bytes in ``x-amz-checksum-sha256`` and the server checks it."""
        digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
        headers: dict[str, str | list[str] | tuple[str]] = {
            "x-amz-checksum-sha256": digest,
            "x-amz-sdk-checksum-algorithm": "SHA256",
        }
        self.client.put_object(self.bucket, key, io.BytesIO(data), len(data), metadata=headers)

    def headers(self) -> dict[str, str]:
        """The operator's bearer header."""
        return {"Authorization": f"Bearer {self.token}"}

    def engine(self) -> Engine:
        """An engine on the test's database (for the indexer run in this process)."""
        return make_sync_engine(cfg.DatabaseSettings(database_url=self.server.database_url))


def _serve_raw() -> tuple[uvicorn.Server, threading.Thread, str]:
    """A raw service of its own (a new app from the raw routers) on the test's settings."""
    port = free_port()
    app = create_service(
        "raw", "/raw", title="raw (test)", description="raw", routers=[router, compat_router]
    )
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "raw server did not start"
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def plain(stack: StackInfo) -> Iterator[Plain]:
    with serve_ingest(stack, "isla_raw_plain") as server:
        env = server.env
        host = stack.s3_endpoint.split("://", 1)[1]
        client = Minio(host, access_key=ACCESS_KEY, secret_key=SECRET_KEY, secure=False)
        token = server.token("isdc", "operator")
        # The raw service reads its buckets from the settings while it serves: this module's
        # settings hold until its end.
        patch = pytest.MonkeyPatch()
        for key, value in env.items():
            patch.setenv(key, value)
        cfg.clear_caches()
        raw, thread, raw_url = _serve_raw()
        worker_env = server.subprocess_env()
        worker_env.update({"ISLA_WORKER_HEARTBEAT": "0.5", "ISLA_WORKER_POLL_INTERVAL": "0.5"})
        worker = subprocess.Popen(
            [sys.executable, "-m", "deploy.cli", "worker"],
            env=worker_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        storage = stack.storage(env["ISLA_S3_RAW_BUCKET"], env["ISLA_S3_PRODUCTS_BUCKET"])
        store = ObjectStore.from_settings(storage)
        try:
            yield Plain(server, client, env["ISLA_S3_RAW_BUCKET"], token, raw_url, store, storage)
        finally:
            worker.terminate()
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
            raw.should_exit = True
            thread.join(timeout=10)
            patch.undo()
            cfg.clear_caches()


def _run_job(plain: Plain, path: str, **kwargs: Any) -> dict[str, Any]:
    """POST a job route (202 + job URL), then follow the job until it ends."""
    with httpx.Client(timeout=30) as http:
        headers = {**plain.headers(), **kwargs.pop("headers", {})}
        queued = http.post(f"{plain.server.base_url}{path}", headers=headers, **kwargs)
        assert queued.status_code == 202, queued.text
        url = queued.json()["url"]
        assert queued.headers["location"] == url
        deadline = time.monotonic() + 180
        while True:
            job: dict[str, Any] = http.get(url, headers=plain.headers()).json()
            if job["status"] in ("done", "failed", "refused"):
                return job
            assert time.monotonic() < deadline, f"job still {job['status']}: {job['message']}"
            time.sleep(0.3)


def _upload_revolution(plain: Plain) -> dict[str, bytes]:
    files = {
        f"scw/0789/{SCW}.001/swg.fits": _swg(SCW, START, 40),
        f"scw/0789/{SCW}.001/isgri_events.fits.gz": _synthetic(1, 300_000),
        f"scw/0789/{SCW}.001/jmx1_events.fits.gz": _synthetic(2, 50_000),
        f"scw/0789/{SCW}.001/ibis_gti.fits": _gti(START + 60 * u.s, 1800.0),
        "aux/adp/0789.001/sc_orbit_param.fits.gz": REAL_ORBIT.read_bytes(),
        "aux/adp/0789.001/attitude_historic.fits": _synthetic(3, 20_000),
        "aux/adp/0789.001/time_correlation.fits.gz": _synthetic(4, 5_000),
        # Bad input: a folder without a group file, a malformed group file, a revolution
        # the mission never had.
        "scw/0789/078900570010.001/isgri_events.fits.gz": _synthetic(5, 1000),
        "scw/0789/078900580010.001/swg.fits": b"SIMPLE  = not a FITS file",
        "scw/9999/999900010010.001/swg.fits": _swg("999900010010", START, 10),
    }
    for key, data in files.items():
        plain.put(key, data)
    return files


def test_a_plain_upload_is_indexed_served_exposed_and_verified(plain: Plain) -> None:
    files = _upload_revolution(plain)
    job = _run_job(plain, "/ingest/raw-index")
    assert job["status"] == "done", job
    report = job["report"]
    assert report["scws"] == 1 and report["aux_files"] == 3
    assert report["hashed_files"] == 7 and report["revolutions_from_orbit"] == 1
    problems = {p["object"]: p["problem"] for p in report["problems"]}
    assert "swg.fits" in problems["scw/0789/078900570010.001/"]
    assert "malformed group file" in problems["scw/0789/078900580010.001/"]
    assert "unknown revolution" in problems["scw/9999/999900010010.001/"]
    # Nothing of the bad folders was written.
    rows = plain.server.query("SELECT scw_id FROM isla.science_windows ORDER BY 1")
    assert rows == [(SCW,)]
    # The revolution's span comes from its real orbit file (revolution 789 starts
    # 2009-03-30T04:50:35.9 UTC, ends 2009-04-02T04:37:34.7 UTC).
    ((start, end, source),) = plain.server.query(
        "SELECT start_time, end_time, bounds_source FROM isla.revolutions WHERE revolution = 789"
    )
    assert source == "orbit_file"
    assert abs((start - Time("2009-03-30T04:50:35.9").datetime).total_seconds()) < 1
    assert abs((end - Time("2009-04-02T04:37:34.7").datetime).total_seconds()) < 1
    # Checksums computed by streaming each object, every file verified.
    states = plain.server.query(
        "SELECT name, sha256, state, checksum_source FROM isla.scw_files ORDER BY name"
    )
    for name, sha, state, source in states:
        assert state == "verified" and source == "streamed"
        assert sha == hashlib.sha256(files[f"scw/0789/{SCW}.001/{name}"]).hexdigest()
    # Good time and exposure from the ScW's GTI file (1800 s, dead time 10 %).
    ((good, exposure),) = plain.server.query(
        "SELECT isgri_good_time, isgri_exposure FROM isla.science_windows"
    )
    assert good == pytest.approx(1800.0) and exposure == pytest.approx(1620.0)

    with httpx.Client(base_url=plain.raw_url, timeout=30) as http:
        listing = http.get("/raw/revolutions/0789").json()
        assert listing["bounds_source"] == "orbit_file"
        assert {f["name"] for f in listing["aux_files"]} == {
            "sc_orbit_param.fits.gz",
            "attitude_historic.fits",
            "time_correlation.fits.gz",
        }
        aux = http.get(listing["aux_tar_url"].replace(plain.raw_url, ""))
        assert aux.status_code == 200
        with tarfile.open(fileobj=io.BytesIO(aux.content)) as tar:
            assert "aux/adp/0789.001/sc_orbit_param.fits.gz" in tar.getnames()
        # The ScW's tarball with its revolution's auxiliary data: SHA256SUMS verifies all.
        tarball = http.get(f"/raw/scw/{SCW}.tar", params={"aux": "true"})
        assert tarball.status_code == 200
        with tarfile.open(fileobj=io.BytesIO(tarball.content)) as tar:
            members = {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}  # type: ignore[union-attr]
        sums = members.pop("SHA256SUMS").decode().splitlines()
        assert len(sums) == len(members) == 7
        for line in sums:
            digest, path = line.split("  ", 1)
            assert hashlib.sha256(members[path]).hexdigest() == digest
            assert members[path] == files[path]
        plain_tar = http.get(f"/raw/scw/{SCW}.tar")
        assert len(plain_tar.content) < len(tarball.content)

    # The epochs follow the exposures: with the GTI file's, the Crab was seen by ISGRI alone.
    plain.server.query(
        "INSERT INTO isla.sources (source_id, name, ra, dec, pos, source_class, det_isgri, "
        "det_picsit, det_jemx, det_spi, det_omc) VALUES ('J053432.0+220052', 'Crab', 83.633, "
        "22.0145, spoint(radians(83.633), radians(22.0145)), 'PSR', true, false, false, false, "
        "false) RETURNING 1"
    )
    assert _epochs(plain) == [("0789_06200070001", 1)]

    # A ScW index delivered in HEASARC's column names replaces the GTI figures; the timeline,
    # the epochs, ObsCore and the raw selections by instrument show them.
    index = "scw_id,scw_ver,scw_type,ra_x,dec_x,good_isgri,exp_isgri,good_spi,exp_spi\n"
    index += f"{SCW},001,pointing,83.63,22.01,2000.5,1750.25,2100,1900\n"
    index += "123,001,pointing,0,0,1,1,1,1\n"
    job = _run_job(
        plain,
        "/ingest/scw-index",
        params={"name": "heasarc_intscw", "version": "2024-01", "file_name": "intscw.csv"},
        content=index.encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert job["status"] == "done", job
    assert job["report"]["rows"] == 1 and job["report"]["applied"] == 1
    assert job["report"]["problems"][0]["problem"].startswith("row 2: Invalid ScW id")
    ((t_exptime,),) = plain.server.query(
        "SELECT t_exptime FROM ivoa.obscore WHERE obs_id = %s", SCW
    )
    assert t_exptime == pytest.approx(1750.25)
    ((scw_id, exposure),) = asyncio.run(_timeline(plain, 83.633, 22.0145))
    assert scw_id == SCW and exposure == pytest.approx(1750.25)
    assert _epochs(plain) == [("0789_06200070001", 1), ("0789_06200070001", 4)]  # + SPI
    with httpx.Client(base_url=plain.raw_url, timeout=30) as http:
        for instrument, found in (("isgri", True), ("spi", True), ("jemx1", False)):
            selected = http.get(
                "/raw/manifest.json", params={"revolution": "789", "instrument": instrument}
            )
            assert selected.status_code == (200 if found else 404), instrument
            if found:
                assert [s["scw_id"] for s in selected.json()["scws"]] == [SCW]

    # A second ScW indexed without hashing is served with its size, flagged unverified.
    plain.put(f"scw/0789/{OTHER}.001/swg.fits", _swg(OTHER, START + 0.05 * u.day, 30, ra=84.0))
    plain.put(f"scw/0789/{OTHER}.001/spi_oper.fits.gz", _synthetic(6, 40_000))
    job = _run_job(plain, "/ingest/raw-index", params={"revolution": 789, "hash": "false"})
    assert job["status"] == "done" and job["report"]["unverified_files"] == 2, job
    assert job["report"]["hashed_files"] == 0  # the first ScW's files were not read again
    with httpx.Client(base_url=plain.raw_url, timeout=30) as http:
        manifest = http.get("/raw/manifest.json", params={"scw": OTHER}).json()
        assert manifest["unverified_files"] == 2
        assert {(f["verified"], f["sha256"]) for f in manifest["scws"][0]["files"]} == {
            (False, None)
        }
        assert http.get(f"/raw/SHA256SUMS?scw={OTHER}").text == ""
        single = http.get(f"/raw/scw/{OTHER}/files/spi_oper.fits.gz")
        assert single.status_code == 200 and len(single.content) == 40_000

    # Verification hashes the unverified files and finds a corrupted one: it stops serving it.
    plain.put(f"scw/0789/{SCW}.001/jmx1_events.fits.gz", _synthetic(99, 50_000))
    job = _run_job(plain, "/ingest/raw-verify")
    assert job["status"] == "done", job
    report = job["report"]
    assert report["newly_verified"] == 2
    assert [c["object"] for c in report["corrupt"]] == [f"scw/0789/{SCW}.001/jmx1_events.fits.gz"]
    with httpx.Client(base_url=plain.raw_url, timeout=30) as http:
        gone = http.get(f"/raw/scw/{SCW}/files/jmx1_events.fits.gz")
        assert gone.status_code == 410 and "corrupt" in gone.json()["detail"]
        sums = http.get(f"/raw/SHA256SUMS?scw={SCW}").text
        assert "jmx1_events" not in sums and "isgri_events" in sums
        assert len(http.get(f"/raw/SHA256SUMS?scw={OTHER}").text.splitlines()) == 2


IC_FILES = {
    "ic/ibis/rsp/isgr_rmf_grp_0027.fits": 30_000,
    "ic/ibis/mod/isgr_back_bkg_0010.fits": 20_000,
    "ic/jemx/rsp/jmx1_rmf_grp_0025.fits": 15_000,
    "ic/spi/rsp/spi_rmf_grp_0004.fits.gz": 25_000,
    "idx/ic/ic_master_file.fits": 8_000,
    "idx/ic/ISGR-RMF.-RSP-IDX.fits": 4_000,
}


def _tar_members(content: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(content)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}  # type: ignore[union-attr]


def _sums_verify(members: dict[str, bytes]) -> list[str]:
    """The paths SHA256SUMS lists, each checked against its member's bytes."""
    lines = members["SHA256SUMS"].decode().splitlines()
    for line in lines:
        digest, path = line.split("  ", 1)
        assert hashlib.sha256(members[path]).hexdigest() == digest, path
    return [line.split("  ", 1)[1] for line in lines]


def test_the_instrument_characteristics_tree_is_indexed_served_and_verified(
    plain: Plain,
) -> None:
    files = {key: _synthetic(100 + i, size) for i, (key, size) in enumerate(IC_FILES.items())}
    for key, data in files.items():
        plain.put(key, data)
    job = _run_job(plain, "/ingest/raw-index", params={"ic_only": "true"})
    assert job["status"] == "done", job
    report = job["report"]
    assert report["scope"] == "ic" and report["revolutions"] == 0
    assert report["ic_files"] == 6 and report["ic_folders"] == 4  # ibis, jemx, spi, idx/ic
    assert report["hashed_files"] == 6 and not report["problems"]
    rows = plain.server.query(
        "SELECT path, tree, instrument, sha256, state, checksum_source FROM isla.ic_files"
    )
    assert {r[0] for r in rows} == set(files)
    for path, tree, instrument, sha, state, source in rows:
        assert (state, source) == ("verified", "streamed")
        assert sha == hashlib.sha256(files[str(path)]).hexdigest()
        assert tree == ("idx" if str(path).startswith("idx/") else "ic")
        assert instrument == (None if tree == "idx" else str(path).split("/")[1])

    with httpx.Client(base_url=plain.raw_url, timeout=30) as http:
        listing = http.get("/raw/ic").json()
        assert listing["file_count"] == 6 and listing["unverified_files"] == 0
        assert {(f["tree"], f["instrument"], f["files"]) for f in listing["folders"]} == {
            ("ic", "ibis", 2),
            ("ic", "jemx", 1),
            ("ic", "spi", 1),
            ("idx", None, 2),
        }
        ibis = http.get("/raw/ic", params={"instrument": "ibis"}).json()
        assert [f["path"] for f in ibis["files"]] == sorted(k for k in files if "/ibis/" in k)
        rsp = http.get("/raw/ic", params={"path": "ic/spi/rsp"}).json()
        assert [f["path"] for f in rsp["files"]] == ["ic/spi/rsp/spi_rmf_grp_0004.fits.gz"]
        outside = http.get("/raw/ic", params={"path": "scw/0789/"})
        assert outside.status_code == 400
        assert outside.headers["content-type"].startswith("application/problem+json")
        assert http.get("/raw/ic", params={"instrument": "irem"}).status_code == 404
        # The whole tree as one tarball, in ISDC's layout, SHA256SUMS first and verifying.
        whole = http.get(listing["tar_url"].replace(plain.raw_url, ""))
        assert whole.status_code == 200 and whole.headers["etag"]
        members = _tar_members(whole.content)
        assert sorted(_sums_verify(members)) == sorted(files)
        assert all(members[k] == v for k, v in files.items())
        # Resumable: a range of the tarball is the same bytes.
        part = http.get("/raw/ic.tar", headers={"Range": "bytes=1000-4999"})
        assert part.status_code == 206 and part.content == whole.content[1000:5000]
        one = http.get("/raw/ic.tar", params={"instrument": "ibis"})
        assert sorted(_sums_verify(_tar_members(one.content))) == sorted(
            k for k in files if "/ibis/" in k
        )
        key = "idx/ic/ic_master_file.fits"
        single = http.get(f"/raw/ic/files/{key}", headers={"Range": "bytes=0-99"})
        assert single.status_code == 206 and single.content == files[key][:100]
        assert http.get("/raw/ic/files/ic/../scw/x").status_code == 404

    # Again: nothing is read; a file removed from the store is no longer registered.
    plain.client.remove_object(plain.bucket, "ic/ibis/mod/isgr_back_bkg_0010.fits")
    job = _run_job(plain, "/ingest/raw-index", params={"ic_only": "true"})
    assert job["status"] == "done", job
    assert job["report"]["hashed_files"] == 0 and job["report"]["ic_files"] == 5
    assert plain.server.query(
        "SELECT count(*) FROM isla.ic_files WHERE path = 'ic/ibis/mod/isgr_back_bkg_0010.fits'"
    ) == [(0,)]

    # A verification that reads other bytes stops serving the file (410), and the
    # tarballs leave it out.
    bad = "ic/jemx/rsp/jmx1_rmf_grp_0025.fits"
    plain.put(bad, _synthetic(199, 15_000))
    job = _run_job(plain, "/ingest/raw-verify")
    assert job["status"] == "done", job
    assert bad in [c["object"] for c in job["report"]["corrupt"]]
    with httpx.Client(base_url=plain.raw_url, timeout=30) as http:
        gone = http.get(f"/raw/ic/files/{bad}")
        assert gone.status_code == 410 and "corrupt" in gone.json()["detail"]
        listing = http.get("/raw/ic").json()
        assert bad not in [f["path"] for f in listing["files"]]
        assert bad not in _sums_verify(_tar_members(http.get("/raw/ic.tar").content))
    # Uploaded anew (another ETag), the next index takes it back.
    plain.put(bad, files[bad])
    job = _run_job(plain, "/ingest/raw-index", params={"ic_only": "true"})
    assert job["status"] == "done" and job["report"]["hashed_files"] == 1, job
    assert plain.server.query("SELECT state FROM isla.ic_files WHERE path = %s", bad) == [
        ("verified",)
    ]


def _epochs(plain: Plain) -> list[tuple[object, ...]]:
    """The Crab's epochs (ila.epoch, what ISLA's clients ask for) and their instruments."""
    return plain.server.query(
        "SELECT epoch, instrument_oid FROM ila.epoch WHERE source_id = 'J053432.0+220052' "
        "ORDER BY 1, 2"
    )


async def _timeline(plain: Plain, ra: float, dec: float) -> list[tuple[str, float]]:
    """The (ScW id, exposure) pairs of ISLA's REQUEST=timelines call, from the products
    service's own SQL."""
    engine = make_async_engine(cfg.DatabaseSettings(database_url=plain.server.database_url))
    try:
        async with engine.connect() as conn:
            row = await compat_store.timeline(conn, ra, dec, 10.0, 10.0)
            return list(zip(row.scws, row.expo, strict=True))
    finally:
        await engine.dispose()


def test_an_object_replaced_between_listing_and_hashing_is_refused(plain: Plain) -> None:
    key = "scw/0790/079000010010.001/isgri_events.fits.gz"
    plain.put(key, _synthetic(7, 10_000))
    (listed,) = list(plain.store.list(plain.bucket, "scw/0790/", recursive=True))
    plain.put(key, _synthetic(8, 10_000))  # same size, other bytes
    with pytest.raises(ObjectChangedError):
        checksum(plain.store, plain.bucket, "isgri_events.fits.gz", listed, None)


def test_the_raw_index_route_answers_202_and_never_indexes_in_the_request(plain: Plain) -> None:
    with httpx.Client(timeout=30) as http:
        anonymous = http.post(f"{plain.server.base_url}/ingest/raw-index")
        assert anonymous.status_code == 401
        bad = http.post(
            f"{plain.server.base_url}/ingest/raw-verify",
            params={"sample": "0"},
            headers=plain.headers(),
        )
        assert bad.status_code in (400, 422)


def test_a_delivered_revolution_table_replaces_model_and_orbit_bounds(plain: Plain) -> None:
    table = (
        "revolution,start_time,end_time\n"
        "0789,2009-03-30T04:50:36,2009-04-02T04:37:35\n"
        "0790,2009-04-02T04:37:35,2009-04-05T04:24:34\n"
        "0791,2009-04-06T00:00:00,2009-04-05T00:00:00\n"
    )
    job = _run_job(
        plain,
        "/ingest/revolution-table",
        params={"version": "2025-03", "file_name": "revolutions.csv"},
        content=table.encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert job["status"] == "done", job
    assert job["report"]["rows"] == 2
    assert job["report"]["problems"][0]["problem"].startswith("row 3")
    rows = plain.server.query(
        "SELECT revolution, bounds_source, start_time FROM isla.revolutions "
        "WHERE revolution IN (789, 790, 791) ORDER BY 1"
    )
    assert [(r[0], r[1]) for r in rows] == [(789, "revolution_table"), (790, "revolution_table")]
    assert str(rows[0][2]) == "2009-03-30 04:50:36"
    # A later index keeps the delivered bounds (an orbit file does not replace them).
    job = _run_job(plain, "/ingest/raw-index", params={"revolution": 789})
    assert job["status"] == "done", job
    ((source,),) = plain.server.query(
        "SELECT bounds_source FROM isla.revolutions WHERE revolution = 789"
    )
    assert source == "revolution_table"


class ConcurrentWriter(ObjectStore):
    """The real store, with another client writing while the indexer works: right after the
    listing of ``prefix`` has been read, each object of ``replace`` gets new bytes (as an
    operator's ``mc mirror`` still running would write them)."""

    prefix: str
    replace: dict[str, bytes]
    writer: Plain | None

    def list(self, bucket: str, prefix: str = "", recursive: bool = True) -> Iterator[ListedObject]:
        listed = list(super().list(bucket, prefix, recursive))
        if recursive and prefix == self.prefix and self.writer is not None:
            for key, data in self.replace.items():
                self.writer.put(key, data)
        return iter(listed)


def test_bytes_changed_between_listing_and_hashing_are_reported_and_nothing_half_written(
    plain: Plain,
) -> None:
    scw, start = "079100010010", START + 6 * u.day
    good = "079100020010"
    plain.put(f"scw/0791/{scw}.001/swg.fits", _swg(scw, start, 30))
    plain.put(f"scw/0791/{scw}.001/isgri_events.fits.gz", _synthetic(20, 30_000))
    plain.put(f"scw/0791/{good}.001/swg.fits", _swg(good, start + 0.05 * u.day, 30))
    plain.put(f"scw/0791/{good}.001/isgri_events.fits.gz", _synthetic(21, 30_000))
    # Any version of a ScW is registered; of the auxiliary folders, the highest.
    plain.put(f"scw/0791/{good}.002/swg.fits", _swg(good, start + 0.05 * u.day, 30))
    plain.put("aux/adp/0791.001/attitude_historic.fits", _synthetic(23, 3_000))
    plain.put("aux/adp/0791.002/attitude_historic.fits", _synthetic(24, 3_000))
    plain.put("aux/adp/0791.002/time_correlation.fits", _synthetic(25, 3_000))
    store = ConcurrentWriter.from_settings(plain.store_settings)
    store.prefix, store.writer = "scw/0791/", plain
    # Same size, other bytes: only the ETag tells.
    store.replace = {f"scw/0791/{scw}.001/isgri_events.fits.gz": _synthetic(22, 30_000)}
    engine = plain.engine()
    try:
        report = index_raw(engine, store, 791)
    finally:
        engine.dispose()
    (problem,) = report.problems
    assert problem["object"] == f"scw/0791/{scw}.001/"
    assert "changed since it was listed" in problem["problem"]
    # The changed ScW has no row and no file; the other one of the revolution is indexed.
    assert plain.server.query(
        "SELECT scw_id, version FROM isla.science_windows WHERE revolution = 791 ORDER BY 2"
    ) == [(good, "001"), (good, "002")]
    assert plain.server.query(
        "SELECT name, version, sha256 FROM isla.aux_files WHERE revolution = 791 ORDER BY 1"
    ) == [
        ("attitude_historic.fits", "002", hashlib.sha256(_synthetic(24, 3_000)).hexdigest()),
        ("time_correlation.fits", "002", hashlib.sha256(_synthetic(25, 3_000)).hexdigest()),
    ]
    assert plain.server.query("SELECT count(*) FROM isla.scw_files WHERE scw_id = %s", scw) == [
        (0,)
    ]
    # The next run reads the object as it now is and registers the ScW.
    engine = plain.engine()
    try:
        again = index_raw(engine, plain.store, 791)
    finally:
        engine.dispose()
    assert not again.problems and again.scws == 3


def test_an_s3_native_sha256_is_taken_from_the_store_and_otherwise_the_object_is_streamed(
    plain: Plain,
) -> None:
    """SeaweedFS (as AWS S3 and MinIO) keeps the SHA-256 a client sent with its upload, checks
    it against the bytes, and returns it (HEAD/GET with x-amz-checksum-mode: ENABLED)."""
    scw, start = "079200010010", START + 9 * u.day
    folder = f"scw/0792/{scw}.001/"
    big = SMALL_OBJECT + 512 * 1024  # above the size read at once, below a multipart upload
    with_sum, without = _synthetic(30, big), _synthetic(31, big)
    small = _synthetic(32, 20_000)
    plain.put(folder + "swg.fits", _swg(scw, start, 30))
    plain.put_with_s3_checksum(folder + "isgri_events.fits.gz", with_sum)
    plain.put(folder + "spi_oper.fits.gz", without)
    plain.put_with_s3_checksum(folder + "jmx1_events.fits.gz", small)
    # The server holds the checksum and checks it: one that does not match is refused.
    stored = plain.store.stat(plain.bucket, folder + "isgri_events.fits.gz")
    assert stored.s3_sha256 == hashlib.sha256(with_sum).hexdigest()
    assert plain.store.stat(plain.bucket, folder + "spi_oper.fits.gz").s3_sha256 is None
    wrong: dict[str, str | list[str] | tuple[str]] = {
        "x-amz-checksum-sha256": base64.b64encode(bytes(32)).decode()
    }
    with pytest.raises(S3Error):
        plain.client.put_object(
            plain.bucket, folder + "x.fits", io.BytesIO(small), len(small), metadata=wrong
        )

    engine = plain.engine()
    try:
        report = index_raw(engine, plain.store, 792)
    finally:
        engine.dispose()
    assert not report.problems and report.scws == 1
    rows = {
        str(r[0]): (r[1], r[2])
        for r in plain.server.query(
            "SELECT name, checksum_source, sha256 FROM isla.scw_files WHERE scw_id = %s", scw
        )
    }
    # The large object with a native checksum is not read: its checksum comes from S3.
    assert rows["isgri_events.fits.gz"] == ("s3", hashlib.sha256(with_sum).hexdigest())
    # Without one, it is streamed and hashed (the fallback); small objects are read at once.
    assert rows["spi_oper.fits.gz"] == ("streamed", hashlib.sha256(without).hexdigest())
    assert rows["jmx1_events.fits.gz"][0] == "streamed"
    assert report.hashed_bytes == big + len(small) + len(_swg(scw, start, 30))

    # Without hashing, every object the store holds a checksum for is still verified.
    plain.put_with_s3_checksum(folder + "jmx2_events.fits.gz", small)
    plain.put(folder + "omc_events.fits.gz", small)
    engine = plain.engine()
    try:
        quick = index_raw(engine, plain.store, 792, hash_files=False)
    finally:
        engine.dispose()
    assert quick.hashed_files == 0
    states = {
        str(r[0]): (r[1], r[2])
        for r in plain.server.query(
            "SELECT name, state, checksum_source FROM isla.scw_files WHERE scw_id = %s", scw
        )
    }
    assert states["jmx2_events.fits.gz"] == ("verified", "s3")
    assert states["omc_events.fits.gz"] == ("unverified", None)


def _isla_raw(plain: Plain, *args: str) -> subprocess.CompletedProcess[str]:
    """``isla raw ...`` as an operator runs it: queues a job for the module's worker."""
    return subprocess.run(
        [sys.executable, "-m", "deploy.cli", "raw", *args],
        env=plain.server.subprocess_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_commands_queue_jobs_and_a_short_or_missing_object_stops_being_served(
    plain: Plain,
) -> None:
    short, gone = "ic/omc/omc_psf_0001.fits", "ic/omc/omc_flat_0002.fits"
    plain.put(short, _synthetic(40, 20_000))
    plain.put(gone, _synthetic(41, 6_000))
    indexed = _isla_raw(plain, "index", "--ic-only", "--no-hash", "--wait")
    assert indexed.returncode == 0, indexed.stderr[-2000:]
    assert "100.0%" in indexed.stderr  # the job's progress, followed to its end
    report = json.loads(indexed.stdout)
    assert report["scope"] == "ic" and report["unverified_files"] == 2
    # Shortened behind the archive's back (before any verification): the download of the
    # unverified file breaks off short of its Content-Length, never a silently short file.
    plain.put(short, _synthetic(40, 10_000))
    plain.client.remove_object(plain.bucket, gone)
    with (
        httpx.Client(base_url=plain.raw_url, timeout=30) as http,
        pytest.raises(httpx.RemoteProtocolError),
    ):
        http.get(f"/raw/ic/files/{short}")
    verified = _isla_raw(plain, "verify", "--all", "--wait")
    assert verified.returncode == 1, verified.stderr[-2000:]  # it found bad objects
    report = json.loads(verified.stdout)
    assert [c["object"] for c in report["corrupt"]] == [short]
    assert report["corrupt"][0]["size"] == 10_000
    assert report["missing"] == [gone]
    with httpx.Client(base_url=plain.raw_url, timeout=30) as http:
        for path, state in ((short, "corrupt"), (gone, "missing")):
            answer = http.get(f"/raw/ic/files/{path}")
            assert answer.status_code == 410 and state in answer.json()["detail"]
        listing = http.get("/raw/ic", params={"instrument": "omc"})
        assert listing.status_code == 404  # nothing of the folder is served any more
    # The indexer does not take the corrupt object back while it is the same object.
    again = _isla_raw(plain, "index", "--ic-only", "--wait")
    assert again.returncode == 1, again.stderr[-2000:]
    (problem,) = json.loads(again.stdout)["problems"]
    assert problem["object"] == short and "stays withheld" in problem["problem"]
    assert plain.server.query("SELECT state FROM isla.ic_files WHERE path = %s", short) == [
        ("corrupt",)
    ]
