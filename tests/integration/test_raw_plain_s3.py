"""ISDC's layout copied in by a plain S3 client, indexed by background jobs, served, verified.

The objects are written with the ``minio`` client's own ``put_object`` and no metadata, as
``mc mirror`` or ``aws s3 sync`` leave them: no ISLA checksum. The real orbit file of
revolution 0789 sits in the revolution's auxiliary folder. Indexing, verification and the
ScW index run as ingestion jobs in a real ``isla worker``; the raw service serves the result.
"""

from __future__ import annotations

import hashlib
import io
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

from deploy.ports import free_port
from services.ingest.raw_index.checksums import ObjectChangedError, checksum
from services.raw.app import compat_router, router
from shared import settings as cfg
from shared.integral.time import time_to_ijd
from shared.service import create_service
from shared.storage import ObjectStore
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

    def put(self, key: str, data: bytes) -> None:
        """Upload as any S3 client would: bytes, no metadata."""
        self.client.put_object(self.bucket, key, io.BytesIO(data), len(data))

    def headers(self) -> dict[str, str]:
        """The operator's bearer header."""
        return {"Authorization": f"Bearer {self.token}"}


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
        store = ObjectStore.from_settings(
            stack.storage(env["ISLA_S3_RAW_BUCKET"], env["ISLA_S3_PRODUCTS_BUCKET"])
        )
        try:
            yield Plain(server, client, env["ISLA_S3_RAW_BUCKET"], token, raw_url, store)
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

    # A ScW index delivered in HEASARC's column names replaces the GTI figures; the timeline
    # and ObsCore show them.
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
    ((timeline_exposure, spi),) = plain.server.query(
        "SELECT coalesce(w.isgri_exposure, 0), w.spi_exposure FROM isla.science_windows w "
        "JOIN isla.revolutions r USING (revolution) "
        "WHERE w.pos <@ scircle(spoint(radians(83.63), radians(22.01)), radians(10))"
    )
    assert timeline_exposure == pytest.approx(1750.25) and spi == pytest.approx(1900)

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
