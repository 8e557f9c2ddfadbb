"""TAP_UPLOAD, FITS output and DataLink descriptors on the served demo archive, with pyvo,
astropy, STILTS and astroquery."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import socket
import subprocess
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import pyvo
from astropy.io import fits
from astropy.io.votable import parse as parse_votable
from astropy.table import Table
from sqlalchemy import create_engine, text

from shared import settings as cfg
from tests.conftest import Archive

pytestmark = pytest.mark.integration

CROSS_MATCH = (
    "SELECT u.label, s.source_id, s.name FROM TAP_UPLOAD.mine AS u "
    "JOIN isla.sources AS s "
    "ON 1=CONTAINS(POINT('ICRS', s.ra, s.dec), CIRCLE('ICRS', u.ra, u.dec, 0.2)) "
    "ORDER BY u.label, s.source_id"
)
DATALINK = "ivo://ivoa.net/std/DataLink#links-1.1"


@pytest.fixture(scope="module")
def bright(archive: Archive) -> list[tuple[str, float, float]]:
    """Three named sources of the demo catalogue, read with SQL."""
    engine = create_engine(archive.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT source_id, ra, dec FROM isla.sources WHERE name IN "
                    "('Crab', 'Cyg X-1', 'Vela X-1') ORDER BY source_id"
                )
            ).all()
    finally:
        engine.dispose()
    assert len(rows) == 3
    return [(str(r[0]), float(r[1]), float(r[2])) for r in rows]


def _user_table(bright: list[tuple[str, float, float]]) -> Table:
    table = Table(
        {
            "label": [f"src{i}" for i in range(len(bright))] + ["nowhere"],
            "ra": [ra for _, ra, _ in bright] + [0.5],
            "dec": [dec for _, _, dec in bright] + [-89.5],
            "mag": np.ma.masked_array([1.5, 2.5, 3.5, 9.0], mask=[False, True, False, False]),
        }
    )
    table["ra"].unit = "deg"
    table["ra"].meta["ucd"] = "pos.eq.ra"
    table["mag"].unit = "mag"
    table["mag"].description = "made-up magnitude"
    return table


def _votable_bytes(table: Table) -> bytes:
    out = io.BytesIO()
    table.write(out, format="votable")
    return out.getvalue()


def _error(response: httpx.Response) -> str:
    vot = parse_votable(io.BytesIO(response.content))
    info = next(i for i in vot.resources[0].infos if i.name == "QUERY_STATUS")
    assert info.value == "ERROR"
    return str(info.content)


def test_pyvo_sync_upload_cross_match(
    tap: pyvo.dal.TAPService, archive: Archive, bright: list[tuple[str, float, float]]
) -> None:
    table = _user_table(bright)
    result = tap.run_sync(CROSS_MATCH, uploads={"mine": table}).to_table()
    expected = sum(
        archive.scalar(
            "SELECT count(*) FROM isla.sources WHERE spoint(radians(ra), radians(dec)) "
            "@ scircle(spoint(radians(:ra), radians(:dec)), radians(0.2))",
            ra=ra,
            dec=dec,
        )
        for _, ra, dec in bright
    )
    assert len(result) == expected >= 3
    for i, (source_id, _, _) in enumerate(bright):
        assert source_id in set(result["source_id"][result["label"] == f"src{i}"])
    assert "nowhere" not in set(result["label"])


def test_pyvo_async_upload_cross_match(
    tap: pyvo.dal.TAPService, bright: list[tuple[str, float, float]]
) -> None:
    # The asynchronous service stores the table with the job; the worker creates it.
    table = _user_table(bright)
    synchronous = tap.run_sync(CROSS_MATCH, uploads={"mine": table}).to_table()
    asynchronous = tap.run_async(CROSS_MATCH, uploads={"mine": table}).to_table()
    assert list(asynchronous["source_id"]) == list(synchronous["source_id"])
    assert list(asynchronous["label"]) == list(synchronous["label"])


def test_uploaded_columns_keep_types_nulls_and_metadata(
    tap: pyvo.dal.TAPService, bright: list[tuple[str, float, float]]
) -> None:
    table = _user_table(bright)
    result = tap.run_sync(
        "SELECT label, ra, dec, mag FROM TAP_UPLOAD.mine ORDER BY label", uploads={"mine": table}
    )
    fields = {f.name: f for f in result.fielddescs}
    assert fields["ra"].datatype == "double" and str(fields["ra"].unit) == "deg"
    assert fields["ra"].ucd == "pos.eq.ra"
    assert str(fields["mag"].unit) == "mag" and fields["mag"].description == "made-up magnitude"
    out = result.to_table()
    assert list(out["label"]) == sorted(table["label"])
    mag = {row["label"]: row["mag"] for row in out}
    assert mag["src1"] is np.ma.masked and mag["src0"] == pytest.approx(1.5)


def test_upload_of_points_works_with_geometry(
    tap: pyvo.dal.TAPService, archive: Archive, bright: list[tuple[str, float, float]]
) -> None:
    # A DALI point column (xtype point, degrees) becomes a pgSphere point.
    crab = next(b for b in bright if b[0] == "J053432.0+220052")
    table = Table({"tag": ["crab"], "where": [[crab[1], crab[2]]]})
    table["where"].meta["xtype"] = "point"
    body = _votable_bytes(table)
    assert b'xtype="point"' in body
    result = tap.run_sync(
        "SELECT u.tag, s.source_id, DISTANCE(u.\"where\", POINT('ICRS', s.ra, s.dec)) AS d "
        "FROM TAP_UPLOAD.pts AS u JOIN isla.sources AS s "
        "ON 1=CONTAINS(u.\"where\", CIRCLE('ICRS', s.ra, s.dec, 0.05)) ORDER BY d",
        uploads={"pts": io.BytesIO(body)},
    ).to_table()
    assert result["source_id"][0] == crab[0] and result["d"][0] < 1e-6


def test_unknown_upload_columns_and_tables_are_named(
    http: httpx.Client, bright: list[tuple[str, float, float]]
) -> None:
    files = {"t1": ("t1.xml", _votable_bytes(_user_table(bright)), "application/x-votable+xml")}
    base = {"LANG": "ADQL", "UPLOAD": "mine,param:t1"}
    bad_column = http.post(
        "/sync", data={**base, "QUERY": "SELECT u.flux FROM TAP_UPLOAD.mine AS u"}, files=files
    )
    assert bad_column.status_code == 400
    assert "Unknown column 'flux' in table 'tap_upload.mine'" in _error(bad_column)
    bad_table = http.post(
        "/sync", data={**base, "QUERY": "SELECT * FROM TAP_UPLOAD.other"}, files=files
    )
    assert bad_table.status_code == 400 and "tap_upload.other" in _error(bad_table)
    missing_part = http.post(
        "/sync",
        data={
            "LANG": "ADQL",
            "UPLOAD": "mine,param:nope",
            "QUERY": "SELECT * FROM TAP_UPLOAD.mine",
        },
        files=files,
    )
    assert missing_part.status_code == 400 and "'nope'" in _error(missing_part)
    bad_name = http.post(
        "/sync", data={**base, "UPLOAD": "1x,param:t1", "QUERY": "SELECT 1 AS one"}, files=files
    )
    assert bad_name.status_code == 400 and "1x" in _error(bad_name)


def test_bad_votable_is_a_dali_error(http: httpx.Client) -> None:
    response = http.post(
        "/sync",
        data={"LANG": "ADQL", "UPLOAD": "t,param:f", "QUERY": "SELECT * FROM TAP_UPLOAD.t"},
        files={"f": ("f.xml", b"<VOTABLE><RESOURCE><TABLE><FIELD", "text/xml")},
    )
    assert response.status_code == 400
    assert "not a VOTable" in _error(response)
    assert "Traceback" not in response.text


def test_upload_by_url_from_this_service(
    http: httpx.Client, tap_url: str, archive: Archive
) -> None:
    # The result of one TAP query, fetched by URL, joined in the next one.
    inner = urllib.parse.urlencode(
        {
            "LANG": "ADQL",
            "QUERY": "SELECT TOP 3 source_id, ra, dec FROM isla.sources ORDER BY source_id",
        }
    )
    response = http.post(
        "/sync",
        data={
            "LANG": "ADQL",
            "UPLOAD": f"firsts,{tap_url}/sync?{inner}",
            "QUERY": "SELECT f.source_id, s.name FROM TAP_UPLOAD.firsts AS f "
            "JOIN isla.sources AS s USING (source_id) ORDER BY f.source_id",
        },
    )
    assert response.status_code == 200, response.text
    table = Table.read(io.BytesIO(response.content), format="votable")
    expected = archive.scalar("SELECT count(*) FROM isla.sources")
    assert len(table) == min(3, expected) == 3
    assert list(table["source_id"]) == sorted(table["source_id"])


@pytest.mark.parametrize(
    "url",
    [
        "http://192.0.2.1/table.xml",  # another host
        "file:///etc/passwd",  # another scheme
    ],
)
def test_upload_by_url_is_limited_to_allowed_hosts(http: httpx.Client, url: str) -> None:
    response = http.get(
        "/sync",
        params={"LANG": "ADQL", "UPLOAD": f"t,{url}", "QUERY": "SELECT * FROM TAP_UPLOAD.t"},
    )
    assert response.status_code == 400
    message = _error(response)
    assert "not allowed" in message or "must be param" in message


def test_upload_by_url_to_another_port_of_this_host_is_refused(http: httpx.Client) -> None:
    # Loopback is only allowed at the archive's own port: not the database or S3 server.
    response = http.get(
        "/sync",
        params={
            "LANG": "ADQL",
            "UPLOAD": "t,http://127.0.0.1:9/table.xml",
            "QUERY": "SELECT * FROM TAP_UPLOAD.t",
        },
    )
    assert response.status_code == 400 and "not allowed" in _error(response)


@pytest.fixture
def small_upload_limit() -> Iterator[int]:
    """The served archive with a 4 KiB upload limit (settings are read per request)."""
    saved = os.environ.get("ISLA_UPLOAD_MAX_BYTES")
    os.environ["ISLA_UPLOAD_MAX_BYTES"] = "4096"
    cfg.clear_caches()
    try:
        yield 4096
    finally:
        if saved is None:
            os.environ.pop("ISLA_UPLOAD_MAX_BYTES", None)
        else:
            os.environ["ISLA_UPLOAD_MAX_BYTES"] = saved
        cfg.clear_caches()


def _raw_request(base_url: str, head: str, body_parts: Iterator[bytes]) -> bytes:
    """Send a request head and (part of) a body while reading what the server answers.

    The body is sent from a thread: a server that answers early stops reading, and then
    closes the connection, so the answer must be read while the sender is still busy.
    """
    parts = urllib.parse.urlsplit(base_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=60) as sock:

        def send() -> None:
            with contextlib.suppress(OSError):
                sock.sendall(head.encode("ascii"))
                for chunk in body_parts:
                    sock.sendall(chunk)

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        answer = b""
        with contextlib.suppress(OSError):
            while chunk := sock.recv(65536):
                answer += chunk
                if b"</VOTABLE>" in answer:
                    break
        sock.close()
        sender.join(timeout=30)
    return answer


def _multipart_head(boundary: str) -> bytes:
    return (
        f'--{boundary}\r\nContent-Disposition: form-data; name="LANG"\r\n\r\nADQL\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="UPLOAD"\r\n\r\nt,param:f\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="QUERY"\r\n\r\n'
        "SELECT * FROM TAP_UPLOAD.t\r\n"
        f'--{boundary}\r\nContent-Disposition: form-data; name="f"; filename="f.xml"\r\n'
        "Content-Type: text/xml\r\n\r\n"
    ).encode("ascii")


def test_oversized_upload_is_refused_from_its_declared_length(
    archive: Archive, small_upload_limit: int
) -> None:
    boundary = "islaboundary"
    declared = 200 * 1024 * 1024
    head = (
        "POST /tap/sync HTTP/1.1\r\nHost: test\r\nConnection: close\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {declared}\r\n\r\n"
    )
    # Only the first few kilobytes of the 200 MB announced are ever sent.
    answer = _raw_request(archive.base_url, head, iter([_multipart_head(boundary), b"x" * 4096]))
    status, _, rest = answer.partition(b"\r\n")
    assert b" 413 " in status
    assert b'value="ERROR"' in rest and str(small_upload_limit).encode() in rest


def test_oversized_chunked_upload_stops_at_the_limit(
    archive: Archive, small_upload_limit: int
) -> None:
    boundary = "islaboundary"
    head = (
        "POST /tap/sync HTTP/1.1\r\nHost: test\r\nConnection: close\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    )

    def chunks() -> Iterator[bytes]:
        first = _multipart_head(boundary)
        yield f"{len(first):x}\r\n".encode() + first + b"\r\n"
        piece = b"y" * 65536
        # 2 MiB (above limit + form overhead), and the body is never finished: an answer
        # proves the server stopped reading at the limit.
        for _ in range(32):
            yield f"{len(piece):x}\r\n".encode() + piece + b"\r\n"

    answer = _raw_request(archive.base_url, head, chunks())
    status, _, rest = answer.partition(b"\r\n")
    assert b" 413 " in status and b'value="ERROR"' in rest


def test_upload_row_limit(
    http: httpx.Client, bright: list[tuple[str, float, float]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ISLA_UPLOAD_MAX_ROWS", "2")
    cfg.clear_caches()
    try:
        response = http.post(
            "/sync",
            data={"LANG": "ADQL", "UPLOAD": "t,param:f", "QUERY": "SELECT * FROM TAP_UPLOAD.t"},
            files={"f": ("f.xml", _votable_bytes(_user_table(bright)), "text/xml")},
        )
    finally:
        monkeypatch.delenv("ISLA_UPLOAD_MAX_ROWS")
        cfg.clear_caches()
    assert response.status_code == 413 and "at most 2" in _error(response)


def test_fits_output_reads_back_with_astropy(http: httpx.Client, tap: pyvo.dal.TAPService) -> None:
    query = "SELECT source_id, name, ra, dec, pos, det_isgri FROM isla.sources ORDER BY source_id"
    response = http.get(
        "/sync", params={"LANG": "ADQL", "QUERY": query, "FORMAT": "fits", "MAXREC": "50"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/fits")
    assert len(response.content) % 2880 == 0
    with fits.open(io.BytesIO(response.content)) as hdus:
        header = hdus[1].header
        assert header["QSTATUS"] == "OVERFLOW" and header["OVERFLOW"] is True
        ucds = {header[f"TTYPE{i}"]: header.get(f"TUCD{i}") for i in range(1, 7)}
        assert ucds["ra"] == "pos.eq.ra;meta.main"
    table = Table.read(io.BytesIO(response.content), format="fits")
    reference = tap.run_sync(query, maxrec=50).to_table()
    assert len(table) == len(reference) == 50
    assert list(table["source_id"]) == [str(s) for s in reference["source_id"]]
    assert np.allclose(table["ra"], reference["ra"]) and str(table["ra"].unit) == "deg"
    assert np.allclose(np.asarray(table["pos"]), np.asarray(reference["pos"]))
    assert list(table["det_isgri"]) == list(reference["det_isgri"])
    complete = http.get(
        "/sync",
        params={
            "LANG": "ADQL",
            "QUERY": "SELECT TOP 3 scw_id FROM isla.science_windows",
            "FORMAT": "application/fits",
        },
    )
    with fits.open(io.BytesIO(complete.content)) as hdus:
        assert hdus[1].header["QSTATUS"] == "OK" and len(hdus[1].data) == 3


def test_maxrec_overflow_warns_in_pyvo(
    tap: pyvo.dal.TAPService, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Truncated by the service's default MAXREC, which the client did not ask for: pyvo warns.
    monkeypatch.setenv("ISLA_MAXREC_DEFAULT", "3")
    cfg.clear_caches()
    try:
        with pytest.warns(pyvo.dal.exceptions.DALOverflowWarning):
            result = tap.search("SELECT source_id FROM isla.sources")
        requested = tap.search("SELECT source_id FROM isla.sources", maxrec=2)
    finally:
        monkeypatch.delenv("ISLA_MAXREC_DEFAULT")
        cfg.clear_caches()
    assert len(result) == 3 and result.query_status == "OVERFLOW"
    assert len(requested) == 2 and requested.query_status == "OVERFLOW"


def test_obscore_results_carry_a_datalink_descriptor(
    tap: pyvo.dal.TAPService, archive: Archive
) -> None:
    result = tap.run_sync("SELECT TOP 3 obs_publisher_did, obs_id, access_url FROM ivoa.obscore")
    service = result.get_adhocservice_by_ivoid(DATALINK)
    access = next(p for p in service.params if p.name == "accessURL")
    assert access.value == f"{archive.base_url}/datalink"
    group = next(g for g in service.groups if g.name == "inputParams")
    id_param = next(p for p in group.entries if p.name == "ID")
    field = next(f for f in result.fielddescs if f.name == "obs_publisher_did")
    assert id_param.ref == field.ID
    # pyvo follows the descriptor to the DataLink service, one links document per row.
    raw = tap.run_sync(
        "SELECT TOP 2 obs_publisher_did FROM ivoa.obscore "
        "WHERE dataproduct_type = 'event' ORDER BY obs_publisher_did"
    )
    links = list(raw.iter_datalinks())
    assert len(links) == 2
    for row, document in zip(raw, links, strict=True):
        assert {str(i) for i in document.to_table()["ID"]} == {row["obs_publisher_did"]}
        assert "#this" in {str(s) for s in document.to_table()["semantics"]}
    scws = tap.run_sync("SELECT TOP 1 scw_id FROM isla.science_windows")
    scw_service = scws.get_adhocservice_by_ivoid(DATALINK)
    scw_group = next(g for g in scw_service.groups if g.name == "inputParams")
    assert next(p for p in scw_group.entries if p.name == "ID").ref == "scw_id"
    plain = tap.run_sync("SELECT TOP 1 name FROM isla.sources")
    with pytest.raises(pyvo.dal.DALServiceError):
        plain.get_adhocservice_by_ivoid(DATALINK)


def test_stilts_tapquery_with_upload(
    tap_url: str, tmp_path: Path, bright: list[tuple[str, float, float]]
) -> None:
    # What TOPCAT's TAP window does, through STILTS (same library).
    stilts = shutil.which("stilts")
    assert stilts, "stilts is installed by `make install-system`"
    source = tmp_path / "mine.vot"
    source.write_bytes(_votable_bytes(_user_table(bright)))
    out = subprocess.run(
        [
            stilts,
            "tapquery",
            f"tapurl={tap_url}",
            "sync=true",
            f"adql={CROSS_MATCH.replace('TAP_UPLOAD.mine', 'TAP_UPLOAD.up1')}",
            "nupload=1",
            f"upload1={source}",
            "upname1=up1",
            "ofmt=csv",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert lines[0] == "label,source_id,name"
    assert {b[0] for b in bright} <= {line.split(",")[1] for line in lines[1:]}


def test_astroquery_tables_sources_and_observations(tap_url: str, archive: Archive) -> None:
    from astroquery.esa.integral import IntegralClass, conf

    with conf.set_temp("ISLA_TAP_SERVER", tap_url):
        isla = IntegralClass()
        names = {str(t) for t in isla.get_tables(only_names=True)}
        assert {"ila.cons_pub_obs", "ila.v_cat_source", "isla.sources"} <= names
        described = isla.get_table("ila.v_cat_source")
        assert {c.name for c in described.columns} >= {"source_id", "name", "ra", "dec"}
        sources = isla.get_sources("Cyg X-1")
        assert sources[0]["name"] == "Cyg X-1"
        observations = isla.get_observations(target_name="Cyg X-1", radius=8.0)
        expected = archive.scalar(
            "SELECT count(*) FROM ila.cons_pub_obs o, isla.sources s WHERE s.name = 'Cyg X-1' "
            "AND degrees(spoint(radians(o.ra), radians(o.dec)) "
            "<-> spoint(radians(s.ra), radians(s.dec))) < 8.0",
        )
        assert len(observations) == expected > 0
        result = isla.query_tap("SELECT TOP 2 * FROM ila.band")
        assert len(result) == 2
