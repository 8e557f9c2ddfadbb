"""SPI-ACS and IREM time series served from the demo archive: HAPI (read with hapiclient),
plots at every zoom, the real GRB 230307A file, per-revolution files, bad input."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from astropy.io import fits
from hapiclient import hapi as hapi_client
from sqlalchemy import create_engine

from services.ingest.auth import create_token
from services.products.timeseries.service import decode_binary
from shared.timeseries.datasets import DATASETS
from shared.timeseries.segments import rebin
from shared.timeseries.times import format_utc, parse_iso, utc_iso
from tests.conftest import Archive

pytestmark = pytest.mark.integration

GRB_PEAK_UTC = "2023-03-07T15:44:06Z"
REAL_PEAK = 1743640.0
REAL = Path(__file__).parents[2] / "shared" / "data" / "real" / "spiacs_grb230307a.fits"


def _delivered(client: httpx.Client, dataset: str, revolution: int) -> dict[str, np.ndarray]:
    """Times (TT s) and columns of a delivered file, downloaded from the archive."""
    response = client.get(f"/products/timeseries/{dataset}/files/{revolution}")
    assert response.status_code == 200
    assert hashlib.sha256(response.content).hexdigest() == response.headers["ETag"].strip('"')
    with fits.open(io.BytesIO(response.content)) as hdul:
        table = hdul["RATE"].data
        out = {"time": table["TIME"] + hdul["RATE"].header.get("TIMEZERO", 0.0)}
        for name in table.columns.names:
            out[name] = np.asarray(table[name])
        out["simulated"] = np.array(bool(hdul[0].header.get("SIMDATA", False)))
    return out


@pytest.fixture(scope="module")
def files(archive: Archive) -> Iterator[dict[str, list[dict]]]:
    with httpx.Client(base_url=archive.base_url, timeout=60) as c:
        yield {
            ds: c.get(f"/products/timeseries/{ds}/files").json()["files"]
            for ds in ("spiacs_50ms", "irem")
        }


def _window(client: httpx.Client, dataset: str, revolution: int, seconds: float) -> tuple[str, str]:
    row = client.get(f"/products/timeseries/{dataset}/files").json()["files"]
    row = next(r for r in row if r["revolution"] == revolution)
    start = row["start"]["ijd"] * 86400.0 + 3600.0
    return utc_iso(start), utc_iso(start + seconds)


def test_catalogue_and_info(client: httpx.Client) -> None:
    cat = client.get("/hapi/catalog").json()
    assert cat["HAPI"] == "3.1" and cat["status"]["code"] == 1200
    assert [d["id"] for d in cat["catalog"]] == ["spiacs_50ms", "spiacs_2s", "spiacs_10s", "irem"]
    assert "binary" in client.get("/hapi/capabilities").json()["outputFormats"]
    assert client.get("/hapi/about").json()["id"] == "ESA/ISLA"
    info = client.get("/hapi/info", params={"dataset": "irem"}).json()
    assert [p["name"] for p in info["parameters"]][:3] == ["Time", "TC1", "S12"]
    assert len(info["parameters"]) == 16
    full = client.get("/hapi/info", params={"dataset": "spiacs_50ms"}).json()
    assert full["x_simulated"] == "some"  # demo revolutions plus the real GRB 230307A file


@pytest.mark.parametrize("dataset", ["spiacs_50ms", "irem"])
@pytest.mark.parametrize("fmt", ["csv", "binary"])
def test_hapiclient_reads_delivered_datasets(
    archive: Archive, client: httpx.Client, dataset: str, fmt: str, tmp_path: Path
) -> None:
    revolution = 745
    start, stop = _window(client, dataset, revolution, 600.0 if dataset == "irem" else 60.0)
    data, _ = hapi_client(
        f"{archive.base_url}/hapi",
        dataset,
        "",
        start,
        stop,
        format=fmt,
        cache=False,
        usecache=False,
        cachedir=str(tmp_path),
        logging=False,
    )
    stored = _delivered(client, dataset, revolution)
    t = stored["time"]
    sel = (t >= parse_iso(start)) & (t < parse_iso(stop))
    assert data.size == sel.sum() > 0
    assert [s.decode() if isinstance(s, bytes) else s for s in data["Time"]] == format_utc(
        t[sel]
    ).tolist()
    names = DATASETS[dataset].parameter_names
    columns = {"rate": "RATE", "error": "ERROR"} if dataset != "irem" else {n: n for n in names}
    for name in names:
        assert np.array_equal(data[name], stored[columns[name]][sel].astype(np.float64))


@pytest.mark.parametrize("dataset", ["spiacs_2s", "spiacs_10s"])
def test_hapiclient_reads_rebinned_datasets(
    archive: Archive, client: httpx.Client, dataset: str, tmp_path: Path
) -> None:
    start, stop = _window(client, "spiacs_50ms", 727, 1800.0)
    data, _ = hapi_client(
        f"{archive.base_url}/hapi",
        dataset,
        "rate,samples",
        start,
        stop,
        format="binary",
        cache=False,
        usecache=False,
        cachedir=str(tmp_path),
        logging=False,
    )
    stored = _delivered(client, "spiacs_50ms", 727)
    centres, rate, _, count = rebin(
        stored["time"], stored["RATE"], stored["ERROR"], DATASETS[dataset].bin_s or 0
    )
    sel = (centres >= parse_iso(start)) & (centres < parse_iso(stop))
    assert np.array_equal(data["samples"], count[sel])
    assert np.allclose(data["rate"], rate[sel], rtol=1e-12)


def test_json_and_fits_match_csv(client: httpx.Client) -> None:
    start, stop = _window(client, "irem", 81, 400.0)
    params = {"dataset": "irem", "start": start, "stop": stop, "parameters": "TC1,S34"}
    csv_rows = client.get("/hapi/data", params=params).text.strip().splitlines()
    body = client.get("/hapi/data", params={**params, "format": "json"}).json()
    assert body["status"]["code"] == 1200 and body["format"] == "json"
    assert len(body["data"]) == len(csv_rows) == 50
    for row, line in zip(body["data"], csv_rows, strict=True):
        t, tc1, s34 = line.split(",")
        assert row == [t, float(tc1), float(s34)]
    fits_bytes = client.get("/hapi/data", params={**params, "format": "x_fits"}).content
    with fits.open(io.BytesIO(fits_bytes)) as hdul:
        assert hdul[0].header["SIMDATA"] is True
        table = hdul["RATE"].data
        assert len(table) == 50
        assert table["TC1"].tolist() == [r[1] for r in body["data"]]
        assert format_utc(table["TIME"]).tolist() == [r[0] for r in body["data"]]


def test_header_and_no_data(client: httpx.Client) -> None:
    start, stop = _window(client, "irem", 81, 16.0)
    text = client.get(
        "/hapi/data", params={"dataset": "irem", "start": start, "stop": stop, "include": "header"}
    ).text
    assert text.startswith("#{") and '"format": "csv"' in text
    params = {"dataset": "irem", "start": start, "stop": stop, "format": "binary"}
    head = client.head("/hapi/data", params=params)
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["Content-Length"]) == 2 * (27 + 15 * 8)
    assert len(client.get("/hapi/data", params=params).content) == 2 * (27 + 15 * 8)
    # A time inside the mission without data: 200, no records, HAPI 1201.
    empty = client.get(
        "/hapi/data",
        params={
            "dataset": "spiacs_50ms",
            "start": "2010-01-01",
            "stop": "2010-01-02",
            "format": "json",
        },
    )
    assert empty.status_code == 200
    assert empty.json()["status"]["code"] == 1201 and empty.json()["data"] == []


def test_real_grb_served_as_delivered(client: httpx.Client, files: dict) -> None:
    real = [f for f in files["spiacs_50ms"] if not f["simulated"]]
    assert [f["file_name"] for f in real] == ["spiacs_grb230307a.fits"]
    response = client.get(real[0]["url"])
    assert response.content == REAL.read_bytes()
    with fits.open(REAL) as hdul:
        table = hdul["RATE"].data
        times = table["TIME"] + hdul["RATE"].header["TIMEZERO"]
        rate = table["RATE"]
    body = client.get(
        "/hapi/data",
        params={
            "dataset": "spiacs_50ms",
            "start": utc_iso(times[0] - 1),
            "stop": utc_iso(times[-1] + 1),
            "format": "json",
        },
    ).json()
    served = np.array([r[1] for r in body["data"]])
    assert np.array_equal(served, rate)  # values as delivered, bit for bit
    served_t = np.array([parse_iso(r[0]) for r in body["data"]])
    assert np.abs(served_t - times).max() < 2e-4  # on the segment grid (1e-3 of TIMEDEL)
    # Full resolution: the peak bin itself.
    plot = client.get(
        "/products/timeseries/spiacs_50ms/plot",
        params={"around": GRB_PEAK_UTC, "half_width": "20", "px": "1000"},
    ).json()
    assert plot["mode"] == "samples" and max(plot["samples"]["value"]) == REAL_PEAK
    assert plot["includes_real"] and not plot["includes_simulated"]
    # The whole mission: a spike of the same height in one pixel column.
    whole = client.get(
        "/products/timeseries/spiacs_50ms/plot",
        params={"start": "2002-10-17", "stop": "2025-02-28", "px": "2000"},
    )
    cols = whole.json()["columns"]
    assert REAL_PEAK in cols["max"]
    assert whole.json()["includes_real"] and whole.json()["includes_simulated"]
    assert int(whole.headers["X-Bytes-Read"]) < 200_000


@pytest.mark.parametrize("span", [5.0, 120.0, 3600.0, 86400.0, 3 * 86400.0])
def test_plot_zooms_agree_with_brute_force(client: httpx.Client, span: float) -> None:
    stored = _delivered(client, "spiacs_50ms", 727)
    t, v = stored["time"], stored["RATE"].astype(np.float64)
    centre = t[np.argmax(v)]  # the demo's brightest burst
    start = max(centre - span / 3, t[0] - 600)
    r = client.get(
        "/products/timeseries/spiacs_50ms/plot",
        params={"start": str(start / 86400), "stop": str((start + span) / 86400), "px": "800"},
    )
    body = r.json()
    assert body["includes_simulated"] and not body["includes_real"]
    if body["mode"] == "samples":
        assert max(body["samples"]["value"]) == v.max()
        return
    cols = body["columns"]
    assert max(cols["max"]) == v.max()
    for first, last, lo, hi, n in zip(
        cols["first_ijd"], cols["last_ijd"], cols["min"], cols["max"], cols["count"], strict=True
    ):
        sel = v[(t >= first * 86400 - 1e-4) & (t <= last * 86400 + 1e-4)]
        assert (lo, hi, n) == (sel.min(), sel.max(), sel.size)
    binary = client.get(r.url, params={**dict(r.url.params), "format": "binary"})
    head, arrays = decode_binary(binary.content)
    assert head["mode"] == "m4" and arrays["max"].max() == np.float32(v.max())
    assert len(binary.content) <= 40_000


@pytest.mark.parametrize(
    ("params", "code", "http"),
    [
        ({"dataset": "nope", "start": "2008-01-01", "stop": "2008-01-02"}, 1406, 404),
        ({"dataset": "irem", "parameters": "XYZ", "start": "2008", "stop": "2009"}, 1407, 404),
        ({"dataset": "irem", "start": "2008-01-02", "stop": "2008-01-01"}, 1404, 400),
        ({"dataset": "irem", "start": "1970-01-01", "stop": "1971-01-01"}, 1405, 400),
        ({"dataset": "irem", "start": "2008-02-30", "stop": "2008-03-01"}, 1402, 400),
        ({"dataset": "irem", "start": "2008", "stop": "2009", "averaging": "5s"}, 1401, 400),
        ({"dataset": "irem", "start": "2008", "stop": "2009", "format": "xml"}, 1409, 400),
    ],
)
def test_hapi_errors(client: httpx.Client, params: dict, code: int, http: int) -> None:
    r = client.get("/hapi/data", params=params)
    assert r.status_code == http
    assert r.json()["status"]["code"] == code
    assert params["start"] not in r.text  # input is never echoed


@pytest.mark.parametrize(
    "params",
    [
        {"start": "2008-01-02", "stop": "2008-01-01"},
        {"start": "1800-01-01", "stop": "2100-01-01"},
        {"start": "2008-01-01", "stop": "2008-01-02", "px": "100001"},
        {"start": "2008-01-01", "stop": "2008-01-02", "parameter": "nope"},
    ],
)
def test_plot_errors_are_problem_documents(client: httpx.Client, params: dict) -> None:
    r = client.get("/products/timeseries/spiacs_50ms/plot", params=params)
    assert r.status_code == 400
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["detail"]
    assert client.get("/products/timeseries/nope/plot", params=params).status_code == 404


def test_files_ranges_checksums_and_script(client: httpx.Client, files: dict) -> None:
    row = files["irem"][0]
    whole = client.get(row["url"]).content
    assert hashlib.sha256(whole).hexdigest() == row["sha256"] and len(whole) == row["size"]
    part = client.get(row["url"], headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == whole[100:200]
    assert part.headers["Content-Range"] == f"bytes 100-199/{row['size']}"
    sums = client.get("/products/timeseries/irem/files.sha256").text
    assert f"{row['sha256']}  {row['file_name']}" in sums
    script = client.get("/products/timeseries/irem/download.sh").text
    assert script.count("curl -fL -C - ") == len(files["irem"])
    assert "sha256sum -c" in script
    wget = client.get("/products/timeseries/spiacs_50ms/download.sh", params={"tool": "wget"})
    assert wget.text.count("wget -c ") == len(files["spiacs_50ms"])
    assert client.get("/products/timeseries/spiacs_2s/files").status_code == 404


def test_science_window_links(archive: Archive, client: httpx.Client) -> None:
    scw = archive.rows(
        "SELECT scw_id FROM isla.science_windows WHERE revolution = 745 ORDER BY scw_id LIMIT 1"
    )[0][0]
    links = client.get(f"/products/timeseries/scw/{scw}").json()
    plot = client.get(links["timeseries"]["spiacs_50ms"]["plot"].replace(archive.base_url, ""))
    assert plot.status_code == 200 and plot.json()["samples_in_range"] > 0
    irem = client.get(links["timeseries"]["irem"]["hapi"].replace(archive.base_url, ""))
    assert irem.status_code == 200 and irem.text.count("\n") > 10


def test_ingest_route_checks_tokens_roles_and_is_idempotent(archive: Archive) -> None:
    engine = create_engine(archive.database_url)
    with engine.begin() as conn:
        spi = create_token(conn, "spi-team", "spi").token
        isdc = create_token(conn, "isdc", "isdc").token
    engine.dispose()
    url = f"{archive.base_url}/ingest/timeseries"
    data = REAL.read_bytes()
    with httpx.Client(timeout=120) as c:
        anonymous = c.post(url, content=data, params={"file_name": REAL.name})
        assert anonymous.status_code == 401
        again = c.post(
            url,
            content=data,
            params={"file_name": REAL.name},
            headers={"Authorization": f"Bearer {spi}", "Content-Type": "application/fits"},
        )
        assert again.status_code == 200 and again.json()["status"] == "unchanged"
        assert again.json()["simulated"] is False
        irem = c.get(f"{archive.base_url}/products/timeseries/irem/files/81").content
        refused = c.post(
            url,
            content=irem,
            params={"file_name": "irem_0081.fits"},
            headers={"Authorization": f"Bearer {spi}"},
        )
        assert refused.status_code == 403
        broken = c.post(
            url,
            content=data[:5000],
            params={"file_name": "broken.fits"},
            headers={"Authorization": f"Bearer {isdc}"},
        )
        assert broken.status_code == 422 and broken.json()["problems"]
        audit = archive.scalar(
            "SELECT count(*) FROM isla_ops.ingest_audit WHERE action = 'timeseries.ingest'"
        )
        assert audit >= 3


def test_viewer_page_draws_in_a_browser(archive: Archive, client: httpx.Client) -> None:
    """The interactive page in a real browser: it draws, says real or simulated, zooms."""
    import shutil

    sync_api = pytest.importorskip("playwright.sync_api")
    browser_path = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser_path is None:
        pytest.skip("no chromium binary")
    peak = parse_iso(GRB_PEAK_UTC) / 86400
    page_url = (
        f"{archive.base_url}/products/timeseries/spiacs_50ms/view"
        f"?start={peak - 0.002}&stop={peak + 0.002}"
    )
    assert "<canvas" in client.get(page_url.replace(archive.base_url, "")).text
    errors: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=browser_path, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(page_url)
            status = page.locator("#status")
            sync_api.expect(status).to_contain_text("samples", timeout=20_000)
            assert "real data" in status.inner_text()
            first = page.locator("#start").input_value()
            page.click("#zout")
            sync_api.expect(page.locator("#start")).not_to_have_value(first, timeout=20_000)
        finally:
            browser.close()
    assert errors == []


def test_time_series_are_in_obscore(archive: Archive) -> None:
    """Every delivered file is an ObsCore ``timeseries`` row, labelled simulated or not."""
    rows = archive.rows(
        "SELECT dataproduct_type, obs_collection, obs_id, access_url, access_format, t_min, "
        "t_max, instrument_name, isla_simulated FROM ivoa.obscore "
        "WHERE obs_publisher_did LIKE 'ivo://isla.integral/isla?timeseries/%' ORDER BY obs_id"
    )
    files = archive.rows("SELECT file_id, simulated FROM isla.timeseries_files")
    assert {r.obs_id for r in rows} == {f.file_id for f in files}
    assert {r.dataproduct_type for r in rows} == {"timeseries"}
    assert all(r.t_min < r.t_max and "/datalink?ID=" in r.access_url for r in rows)
    assert {r.access_format for r in rows} == {"application/x-votable+xml;content=datalink"}
    simulated = {f.file_id: f.simulated for f in files}
    for r in rows:
        assert r.isla_simulated == int(simulated[r.obs_id])
        assert r.obs_collection.endswith("(simulated demo)") == simulated[r.obs_id]
    # The real GRB 230307A file is delivered data.
    assert any(r.isla_simulated == 0 and r.instrument_name == "SPI-ACS" for r in rows)


def test_time_series_datalink_gives_the_file_and_its_samples(archive: Archive) -> None:
    """ObsCore's access_url of a time-series file is a DataLink document whose #this is the
    delivered file (same SHA-256 as registered) and whose HAPI link serves its samples."""
    from astropy.io.votable import parse_single_table

    row = archive.rows(
        "SELECT o.access_url, f.sha256, f.dataset FROM ivoa.obscore o "
        "JOIN isla.timeseries_files f ON f.file_id = o.obs_id "
        "WHERE o.obs_publisher_did LIKE 'ivo://isla.integral/isla?timeseries/%' "
        "AND NOT f.simulated LIMIT 1"
    )[0]
    with httpx.Client(base_url=archive.base_url, timeout=60) as http:
        # Queried without TAP's settings the URL is relative to the archive.
        doc = http.get(row.access_url)
        assert doc.status_code == 200
        links = parse_single_table(io.BytesIO(doc.content)).to_table()
        pairs = zip(links["semantics"], links["access_url"], strict=True)
        by_semantics = {str(s): str(u) for s, u in pairs}
        this = http.get(by_semantics["#this"])
        assert this.status_code == 200
        assert hashlib.sha256(this.content).hexdigest() == row.sha256
        samples = http.get(by_semantics["#auxiliary"])
        assert samples.status_code == 200 and samples.text.count("\n") > 100
        bad = http.get("/datalink", params={"ID": "ivo://isla.integral/isla?timeseries/nope"})
        errors = parse_single_table(io.BytesIO(bad.content)).to_table()
        assert str(errors["error_message"][0]).startswith("NotFoundFault")
