"""The native products API on the demo archive: light curves, spectra, responses, mosaics,
source pages and product files, in every format, checked with astropy (FITS verification,
OGIP keywords, WCS) and the VOTable parser; and the bad requests each endpoint refuses.

Spectra, responses, mosaics and sub-ScW series are stored products: the tests ask for what the
demo stores, and check that what is never stored answers 404 naming what is
(``test_product_views.py`` compares every view with its stored file).
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import math
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import psycopg
import pytest
from astropy.io import fits
from astropy.io.votable import parse_single_table
from astropy.wcs import WCS

from tests.conftest import Archive

CRAB = "J053432.0+220052"
CRAB_EPOCH = "0727_88601650001"
PROVENANCE = ("CREATOR", "ISLAVER", "DATE", "NSCW", "DOI")


@pytest.fixture(scope="module")
def db(archive: Archive) -> Iterator[psycopg.Connection[Any]]:
    """A read-only look at the demo database, to choose test subjects."""
    url = archive.database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as conn:
        yield conn


def _fits(response: httpx.Response) -> fits.HDUList:
    assert response.status_code == 200, response.text[:300]
    assert response.headers["content-type"] == "application/fits"
    hdul = fits.open(io.BytesIO(response.content))
    hdul.verify("exception")
    return hdul


def _has_provenance(header: fits.Header) -> None:
    for key in PROVENANCE:
        assert key in header, key
    # Stored demo products name the demo pipeline that simulated them.
    assert header["CREATOR"].startswith(("ISLA products ", "ISLA demo pipeline "))
    # Views made on request have no DOI; the demo's stored files name their collection's.
    assert header["DOI"] == "none" or header["DOI"].startswith("10.5072/isla.products.")


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text[:300]
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def _columns(doc: dict[str, Any]) -> list[str]:
    return [c["name"] for c in doc["columns"]]


def _rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    names = _columns(doc)
    return [dict(zip(names, row, strict=True)) for row in doc["data"]]


# --- light curves ------------------------------------------------------------------------------


def test_scw_light_curve_json_matches_the_database(
    client: httpx.Client, db: psycopg.Connection[Any]
) -> None:
    doc = client.get(f"/products/lightcurves/{CRAB}").json()
    assert (doc["instrument"], doc["band"], doc["binning"]) == ("ISGRI", "28_40", "scw")
    rows = _rows(doc)
    count, first = db.execute(
        "SELECT count(*), min(scw_id) FROM isla.lightcurve_points p JOIN isla.energy_bands e "
        "USING (band_id) WHERE source_id = %s AND e.instrument = 'ISGRI' AND e.name = '28_40'",
        (CRAB,),
    ).fetchone()  # type: ignore[misc]
    assert len(rows) == count > 20
    assert rows[0]["bin"] == first
    times = [r["time"] for r in rows]
    assert times == sorted(times)
    assert all(abs(r["time_mjd"] - r["time"] - 51544.0) < 1e-9 for r in rows)
    # The Crab is the calibrator: steady, and detected in every science window.
    rates = np.array([r["rate"] for r in rows])
    assert np.std(rates) / np.mean(rates) < 0.1
    assert not any(r["upper_limit"] for r in rows)


def test_upper_limits_are_marked(client: httpx.Client, db: psycopg.Connection[Any]) -> None:
    source = db.execute(
        "SELECT source_id FROM isla.lightcurve_points WHERE band_id = ("
        "SELECT band_id FROM isla.energy_bands WHERE instrument = 'ISGRI' AND name = '28_40') "
        "GROUP BY source_id HAVING bool_or(upper_limit) AND bool_or(NOT upper_limit) "
        "ORDER BY count(*) DESC LIMIT 1"
    ).fetchone()
    assert source is not None
    rows = _rows(client.get(f"/products/lightcurves/{source[0]}").json())
    limits = [r for r in rows if r["upper_limit"]]
    detections = [r for r in rows if not r["upper_limit"]]
    assert limits and detections
    for r in limits:
        assert r["significance"] < 3.0
        assert r["rate_ul"] == pytest.approx(max(r["rate"], 0.0) + 3.0 * r["rate_err"], rel=1e-4)
    assert all(r["rate_ul"] is None and r["significance"] >= 3.0 for r in detections)
    hdul = _fits(client.get(f"/products/lightcurves/{source[0]}", params={"format": "fits"}))
    data = hdul["RATE"].data
    assert data["UPPER_LIMIT"].sum() == len(limits)
    assert hdul["RATE"].header["ULSIGMA"] == 3.0


def test_light_curve_fits_is_ogip(client: httpx.Client) -> None:
    doc = client.get(f"/products/lightcurves/{CRAB}", params={"instrument": "JEM-X"}).json()
    hdul = _fits(
        client.get(
            f"/products/lightcurves/{CRAB}", params={"instrument": "JEM-X", "format": "fits"}
        )
    )
    rate = hdul["RATE"]
    h = rate.header
    assert (h["HDUCLASS"], h["HDUCLAS1"], h["HDUCLAS3"]) == ("OGIP", "LIGHTCURVE", "RATE")
    assert (h["TIMESYS"], h["TIMEUNIT"], h["MJDREFI"], h["MJDREFF"]) == ("TT", "d", 51544, 0.0)
    assert h["TSTART"] < h["TSTOP"]
    assert h["TIMEDEL"] > 0
    assert (h["E_MIN"], h["E_MAX"]) == (3.0, 20.0)
    assert h["INSTRUME"] == "JEM-X"
    for name in ("TIME", "RATE", "ERROR", "FRACEXP", "TIMEDEL"):
        assert name in rate.columns.names
    assert len(rate.data) == len(doc["data"]) == h["NSCW"]
    assert np.all((rate.data["FRACEXP"] > 0) & (rate.data["FRACEXP"] <= 1))
    assert h["TSTART"] <= rate.data["TIME"].min() <= rate.data["TIME"].max() <= h["TSTOP"]
    _has_provenance(h)
    _has_provenance(hdul[0].header)
    assert hdul["GTI"].header["HDUCLAS1"] == "GTI"


def test_revolution_binning_is_exposure_weighted(client: httpx.Client) -> None:
    scw = _rows(client.get(f"/products/lightcurves/{CRAB}").json())
    binned = _rows(
        client.get(f"/products/lightcurves/{CRAB}", params={"binning": "revolution"}).json()
    )
    assert 1 < len(binned) < len(scw)
    first = binned[0]
    members = [r for r in scw if int(r["bin"][:4]) == int(first["bin"])]
    exposure = sum(r["exposure"] for r in members)
    assert first["nscw"] == len(members)
    assert first["exposure"] == pytest.approx(exposure)
    assert first["rate"] == pytest.approx(
        sum(r["rate"] * r["exposure"] for r in members) / exposure, rel=1e-6
    )
    err = math.sqrt(sum((r["rate_err"] * r["exposure"]) ** 2 for r in members)) / exposure
    assert first["rate_err"] == pytest.approx(err, rel=1e-6)
    assert sum(r["nscw"] for r in binned) == len(scw)


def test_formats_agree(client: httpx.Client) -> None:
    params = {"binning": "86400"}
    doc = client.get(f"/products/lightcurves/{CRAB}", params=params).json()
    votable = client.get(f"/products/lightcurves/{CRAB}", params={**params, "format": "votable"})
    assert votable.headers["content-type"].startswith("application/x-votable+xml")
    table = parse_single_table(io.BytesIO(votable.content)).to_table()
    text = client.get(f"/products/lightcurves/{CRAB}", params={**params, "format": "csv"}).text
    lines = list(csv.DictReader(io.StringIO(text)))
    assert len(table) == len(lines) == len(doc["data"]) > 0
    assert table["rate"].unit == "ct / s"
    assert list(table.colnames) == _columns(doc)
    assert float(lines[0]["rate"]) == pytest.approx(float(table["rate"][0]))
    assert doc["data"][0][3] == pytest.approx(float(table["rate"][0]))


def test_time_range_selects_points(client: httpx.Client) -> None:
    rows = _rows(client.get(f"/products/lightcurves/{CRAB}").json())
    middle = rows[len(rows) // 2]["time_mjd"]
    after = _rows(client.get(f"/products/lightcurves/{CRAB}", params={"start": middle}).json())
    before = _rows(client.get(f"/products/lightcurves/{CRAB}", params={"end": middle}).json())
    assert len(after) + len(before) == len(rows)
    assert all(r["time_mjd"] >= middle for r in after)
    iso = client.get(
        f"/products/lightcurves/{CRAB}", params={"start": "2010-01-01", "end": "2012-01-01T00:00"}
    ).json()
    assert all(55197 <= r["time_mjd"] < 55928 for r in _rows(iso))


def test_sub_scw_light_curve_only_from_stored_series(client: httpx.Client) -> None:
    scw = _rows(client.get(f"/products/lightcurves/{CRAB}").json())
    # The Crab's first science windows are not in an epoch with a stored sub-ScW series.
    start, end = scw[0]["time_mjd"] - 0.1, scw[2]["time_mjd"] + 0.1
    params = {"binning": "120", "start": start, "end": end}
    body = _problem(client.get(f"/products/lightcurves/{CRAB}", params=params), 404)
    stored = body["short_timeseries"]
    assert CRAB_EPOCH in {s["epoch"] for s in stored}
    assert all(s["bin_s"] > 0 and s["start_mjd"] < s["stop_mjd"] for s in stored)
    # Bins of an hour or more are means of the stored points, wherever they are.
    hourly = _rows(
        client.get(f"/products/lightcurves/{CRAB}", params={**params, "binning": "3600"}).json()
    )
    assert hourly and all(r["nscw"] >= 1 for r in hourly)


def test_omc_light_curve(client: httpx.Client, db: psycopg.Connection[Any]) -> None:
    row = db.execute(
        "SELECT source_id, count(*) FROM isla.omc_points GROUP BY source_id "
        "ORDER BY count(*) DESC, source_id LIMIT 1"
    ).fetchone()
    assert row is not None
    doc = client.get(f"/products/lightcurves/{row[0]}", params={"instrument": "OMC"}).json()
    assert doc["band"] == "V"
    assert len(doc["data"]) == row[1]
    hdul = _fits(
        client.get(
            f"/products/lightcurves/{row[0]}", params={"instrument": "OMC", "format": "fits"}
        )
    )
    assert len(hdul["OMC_LC"].data) == row[1]
    # The demo's OMC points are simulated, and their views say so.
    assert doc["simulated"] is True
    assert all(hdu.header.get("SIMDATA") is True for hdu in hdul)


def test_light_curve_of_simulated_points_says_so(client: httpx.Client) -> None:
    """The Crab's points are the demo pipeline's: the JSON answer says ``simulated`` and
    every HDU of the FITS view carries SIMDATA = T, per ScW and binned alike."""
    for binning in ("scw", "revolution"):
        params = {"binning": binning}
        doc = client.get(f"/products/lightcurves/{CRAB}", params=params).json()
        assert doc["simulated"] is True, binning
        hdul = _fits(
            client.get(f"/products/lightcurves/{CRAB}", params={**params, "format": "fits"})
        )
        assert all(hdu.header.get("SIMDATA") is True for hdu in hdul), binning
        assert "SIMULATED DATA" in str(hdul[0].header["COMMENT"])


# --- spectra -----------------------------------------------------------------------------------


def test_mission_spectrum_with_its_responses(client: httpx.Client) -> None:
    hdul = _fits(client.get(f"/products/spectra/{CRAB}"))
    spec = hdul["SPECTRUM"]
    h = spec.header
    assert (h["HDUCLASS"], h["HDUCLAS1"], h["HDUCLAS4"]) == ("OGIP", "SPECTRUM", "TYPE:I")
    assert h["CHANTYPE"] == "PI"
    assert h["DETCHANS"] == len(spec.data)
    assert h["EXPOSURE"] > 0
    _has_provenance(h)
    rmf = _fits(client.get("/products/responses/ISGRI/rmf"))
    arf = _fits(client.get("/products/responses/ISGRI/arf"))
    # The demo delivers one ARF and one RMF per instrument, named by every spectrum, and
    # /products/responses serves that instrument's own.
    assert h["RESPFILE"] == "ISGRI_rmf.fits" and h["ANCRFILE"] == "ISGRI_arf.fits"
    matrix, ebounds = rmf["MATRIX"], rmf["EBOUNDS"]
    assert matrix.header["HDUCLAS2"] == "RSP_MATRIX" and ebounds.header["HDUCLAS2"] == "EBOUNDS"
    assert matrix.header["DETCHANS"] == ebounds.header["DETCHANS"] == h["DETCHANS"]
    assert len(ebounds.data) == h["DETCHANS"]
    # Energies inside the channel range are redistributed completely over the channels.
    sums = matrix.data["MATRIX"].sum(axis=1)
    inside = (matrix.data["ENERG_LO"] >= ebounds.data["E_MIN"][0]) & (
        matrix.data["ENERG_HI"] <= ebounds.data["E_MAX"][-1]
    )
    assert inside.sum() > 100
    assert np.allclose(sums[inside], 1.0, atol=1e-3)
    assert np.all(sums <= 1.0 + 1e-3)
    assert np.array_equal(arf["SPECRESP"].data["ENERG_LO"], matrix.data["ENERG_LO"])
    assert arf["SPECRESP"].header["HDUCLAS2"] == "SPECRESP"
    summary = client.get(f"/products/spectra/{CRAB}", params={"format": "json"}).json()
    assert _columns(summary) == ["channel", "e_min", "e_max", "energy", "width", "rate", "error"]
    assert summary["scope"] == "mission" and summary["exposure"] == pytest.approx(h["EXPOSURE"])
    rows = _rows(summary)
    assert len(rows) == h["DETCHANS"]
    # Channel energies are the EBOUNDS of the spectrum's own stored RMF.
    own_rmf = _fits(client.get(summary["rmf_url"]))
    assert [r["e_min"] for r in rows] == pytest.approx(
        own_rmf["EBOUNDS"].data["E_MIN"].astype(float).tolist()
    )
    assert summary["product_id"] == f"spectrum/ISGRI/mission/{CRAB}"


def test_epoch_spectrum_is_the_stored_file(client: httpx.Client) -> None:
    pid = f"spectrum/ISGRI/{CRAB_EPOCH}/{CRAB}"
    served = client.get(f"/products/spectra/{CRAB}", params={"epoch": CRAB_EPOCH})
    stored = client.get(f"/products/files/{pid}")
    assert stored.status_code == 200
    assert served.content == stored.content
    hdul = _fits(served)
    assert hdul["SPECTRUM"].header["REVOL"] == 727
    votable = client.get(
        f"/products/spectra/{CRAB}", params={"epoch": CRAB_EPOCH, "format": "votable"}
    )
    table = parse_single_table(io.BytesIO(votable.content)).to_table()
    assert len(table) == hdul["SPECTRUM"].header["DETCHANS"]
    assert np.allclose(np.asarray(table["rate"]), hdul["SPECTRUM"].data["RATE"], rtol=1e-5)


def test_time_resolved_spectra(client: httpx.Client, db: psycopg.Connection[Any]) -> None:
    doc = client.get(f"/products/spectra/{CRAB}/intervals").json()
    intervals = doc["intervals"]
    stored = db.execute(
        "SELECT count(*) FROM isla.products WHERE kind = 'spectrum' AND source_id = %s "
        "AND instrument = 'ISGRI' AND meta->>'scope' = 'time_resolved'",
        (CRAB,),
    ).fetchone()
    assert stored is not None and len(intervals) == stored[0] >= 2
    assert [i["interval"] for i in intervals] == sorted(i["interval"] for i in intervals)
    assert all(a["stop_mjd"] <= b["start_mjd"] for a, b in itertools.pairwise(intervals))
    last = intervals[-1]
    hdul = _fits(client.get(last["spectrum"]))
    assert hdul["SPECTRUM"].header["NSCW"] == last["nscw"]
    # A source without time-resolved spectra: 404 naming the spectra it has.
    body = _problem(
        client.get(f"/products/spectra/{CRAB}/intervals", params={"instrument": "JEM-X"}), 404
    )
    assert "ISGRI" in body["instruments"] and body["spectra"]["JEM-X"]["scopes"] == ["mission"]


def test_jemx_spectrum(client: httpx.Client) -> None:
    hdul = _fits(client.get(f"/products/spectra/{CRAB}", params={"instrument": "JEM-X"}))
    assert hdul["SPECTRUM"].header["RESPFILE"] == "JEMX_rmf.fits"
    rmf = _fits(client.get("/products/responses/JEM-X/rmf"))
    assert rmf["MATRIX"].header["DETCHANS"] == hdul["SPECTRUM"].header["DETCHANS"]


# --- mosaics -------------------------------------------------------------------------------------


def test_mosaic_fits_png_and_json(client: httpx.Client) -> None:
    response = client.get(f"/products/mosaics/{CRAB_EPOCH}", params={"band": "20_35"})
    hdul = _fits(response)
    assert [h.name for h in hdul[1:]] == ["INTENSITY", "VARIANCE", "SIGNIFICANCE", "EXPOSURE"]
    for hdu in hdul[1:]:
        _has_provenance(hdu.header)
        assert hdu.header["TIMESYS"] == "TT"
    wcs = WCS(hdul["SIGNIFICANCE"].header)
    assert wcs.is_celestial
    assert wcs.wcs.ctype[0] == "RA---TAN"
    # The Crab, the epoch's target, is the brightest thing in its mosaic.
    x, y = wcs.world_to_pixel_values(83.6332, 22.0145)
    sig = hdul["SIGNIFICANCE"].data
    assert sig[round(float(y)), round(float(x))] > 50
    assert np.all(hdul["VARIANCE"].data >= 0)
    png = client.get(f"/products/mosaics/{CRAB_EPOCH}", params={"band": "20_35", "format": "png"})
    assert png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG\r\n\x1a\n")
    doc = client.get(f"/products/mosaics/{CRAB_EPOCH}", params={"format": "json"}).json()
    # ISLA's default band of this epoch is the real ISLA mosaic, with its own date.
    assert doc["band"] == "28_40" and doc["date_obs"].startswith("2008-09-25")
    listing = client.get("/products/mosaics", params={"revolution": 727}).json()
    assert [e["epoch"] for e in listing["epochs"]] == [CRAB_EPOCH]
    assert set(listing["epochs"][0]["mosaics"]["ISGRI"]) >= {"28_40", "20_35"}
    for urls in listing["epochs"][0]["mosaics"].values():
        for url in urls.values():
            assert client.get(url).status_code == 200, url


def test_mosaic_previews_are_rendered_from_the_stored_file(
    client: httpx.Client, db: psycopg.Connection[Any]
) -> None:
    row = db.execute(
        "SELECT p.product_id, p.epoch, e.name FROM isla.products p JOIN isla.energy_bands e "
        "USING (band_id) WHERE p.kind = 'mosaic' AND p.instrument = 'JEM-X' AND p.simulated "
        "ORDER BY p.product_id LIMIT 1"
    ).fetchone()
    assert row is not None
    hdul = _fits(client.get(f"/products/files/{row[0]}"))
    assert WCS(hdul["INTENSITY"].header).is_celestial
    assert all(hdu.header["SIMDATA"] is True for hdu in hdul)
    preview = client.get(
        f"/products/mosaics/{row[1]}",
        params={"instrument": "JEM-X", "band": row[2], "format": "png"},
    )
    assert preview.headers["content-type"] == "image/png"
    width, height = (
        int.from_bytes(preview.content[16:20], "big"),
        int.from_bytes(preview.content[20:24], "big"),
    )
    assert (height, width) == hdul["SIGNIFICANCE"].data.shape


# --- the demo's product files ----------------------------------------------------------------


def test_demo_products_follow_the_contract(db: psycopg.Connection[Any]) -> None:
    kinds = dict(db.execute("SELECT kind, count(*) FROM isla.products GROUP BY kind").fetchall())
    for kind in (
        "long_timeseries",
        "short_timeseries",
        "spectrum",
        "arf",
        "rmf",
        "mosaic",
        "omc_lightcurve",
        "omc_image",
    ):
        assert kinds.get(kind, 0) > 0, kind
    assert "preview" not in kinds  # previews are views of the stored mosaics
    for pid, kind, instrument, key, meta in db.execute(
        "SELECT product_id, kind, instrument, object_key, meta FROM isla.products"
    ):
        assert pid.split("/")[:2] == [kind, instrument]
        if kind.startswith("contributed_"):
            # Stored once, where its collection's delivery put it (docs/CONTRIBUTED.md).
            assert key.startswith(f"contributed/{meta['collection']}/")
        else:
            assert key.startswith(f"products/{pid}/")
        if kind == "spectrum":
            assert meta.get("scope") in ("epoch", "mission", "time_resolved"), (pid, meta)
            assert {meta.get("arf"), meta.get("rmf")} <= {
                p
                for (p,) in db.execute(
                    "SELECT product_id FROM isla.products WHERE kind IN ('arf', 'rmf')"
                )
            }


def test_timeseries_files_use_the_isla_layout(
    client: httpx.Client, db: psycopg.Connection[Any]
) -> None:
    for kind in ("long_timeseries", "short_timeseries"):
        pid, nscw = db.execute(
            "SELECT product_id, (meta->>'nscw')::int FROM isla.products WHERE kind = %s "
            "AND source_id = %s ORDER BY product_id LIMIT 1",
            (kind, CRAB),
        ).fetchone()  # type: ignore[misc]
        hdul = _fits(client.get(f"/products/files/{pid}"))
        table = hdul["TIMESERIES"]
        assert table.columns.names[:3] == ["TIME", "RATE", "ERROR"]
        assert table.header["NAME"] == "Crab"
        assert table.header["REVFIRST"] <= table.header["REVLAST"]
        assert table.header["NSCW"] == nscw
        _has_provenance(table.header)


def test_file_download_range_and_etag(client: httpx.Client, db: psycopg.Connection[Any]) -> None:
    pid, size, sha256 = db.execute(
        "SELECT product_id, size, sha256 FROM isla.products WHERE kind = 'rmf' "
        "ORDER BY product_id LIMIT 1"
    ).fetchone()  # type: ignore[misc]
    whole = client.get(f"/products/files/{pid}")
    assert whole.headers["etag"] == f'"{sha256}"'
    assert int(whole.headers["content-length"]) == size == len(whole.content)
    assert hashlib.sha256(whole.content).hexdigest() == sha256
    part = client.get(f"/products/files/{pid}", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.content == whole.content[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{size}"
    assert (
        client.get(f"/products/files/{pid}", headers={"If-None-Match": f'"{sha256}"'}).status_code
        == 304
    )
    head = client.head(f"/products/files/{pid}")
    assert head.status_code == 200 and int(head.headers["content-length"]) == size
    _problem(client.get(f"/products/files/{pid}", headers={"Range": f"bytes={size}-"}), 416)


# --- source pages ------------------------------------------------------------------------------


def test_source_page(client: httpx.Client, db: psycopg.Connection[Any]) -> None:
    page = client.get(f"/products/sources/{CRAB}").json()
    assert page["name"] == "Crab"
    assert "Crab Nebula" in page["aliases"]
    assert "ISGRI" in page["detected_by"]
    assert {f["band"] for f in page["fluxes"]} >= {"20_35", "28_40", "35_60"}
    coverage = {c["instrument"]: c for c in page["coverage"]}
    isgri = coverage["ISGRI"]
    assert isgri["scw_count"] == len(client.get(f"/products/lightcurves/{CRAB}").json()["data"])
    assert isgri["exposure_s"] > 0 and isgri["first"] < isgri["last"]
    count = db.execute(
        "SELECT count(*) FROM isla.products WHERE source_id = %s", (CRAB,)
    ).fetchone()
    assert count is not None and len(page["products"]) == count[0] > 0
    assert all(p["simulated"] in (True, False, None) for p in page["products"])
    assert {"spectrum_isgri", "intervals_isgri", "lightcurve_isgri"} <= set(page["links"])
    link = page["products"][0]
    assert client.head(link["url"]).headers["etag"] == f'"{link["sha256"]}"'
    for url in page["links"].values():
        assert client.get(url).status_code == 200, url


# --- bad input -----------------------------------------------------------------------------


def test_unknown_things_answer_404_naming_what_exists(client: httpx.Client) -> None:
    body = _problem(client.get("/products/lightcurves/J053430.0+220000"), 404)
    assert CRAB in [s["source_id"] for s in body["nearby"]]
    body = _problem(client.get(f"/products/lightcurves/{CRAB}", params={"band": "15_20"}), 404)
    assert body["bands"] == ["28_40", "20_35", "35_60", "60_200"]
    body = _problem(client.get(f"/products/lightcurves/{CRAB}", params={"instrument": "SPI"}), 404)
    assert "JEM-X" in body["instruments"]
    body = _problem(
        client.get(
            f"/products/mosaics/{CRAB_EPOCH}", params={"instrument": "JEM-X", "band": "28_40"}
        ),
        404,
    )
    assert body["bands"] == ["3_20", "3_10", "10_20"]
    body = _problem(client.get("/products/mosaics/0727_00000000001"), 404)
    assert CRAB_EPOCH in body["epochs"]
    body = _problem(client.get(f"/products/spectra/{CRAB}", params={"scope": "interval99"}), 404)
    assert "interval01" in body["intervals"]
    body = _problem(client.get("/products/files/spectrum/ISGRI/nothing/here"), 404)
    assert body["nearby"] and all(p.startswith("spectrum/ISGRI/") for p in body["nearby"])
    _problem(client.get("/products/responses/ISGRI/pha"), 404)
    body = _problem(client.get("/products/mosaics", params={"revolution": 3}), 404)
    assert 727 in body["revolutions"]


def test_what_is_never_stored_answers_404_naming_what_is(
    client: httpx.Client, db: psycopg.Connection[Any]
) -> None:
    # Every source with points has products: a catalogue source that was never seen has none.
    unseen = db.execute(
        "SELECT s.source_id FROM isla.sources s WHERE NOT EXISTS (SELECT 1 FROM isla.products p "
        "WHERE p.source_id = s.source_id) AND NOT EXISTS (SELECT 1 FROM isla.lightcurve_points "
        "l WHERE l.source_id = s.source_id) ORDER BY s.source_id LIMIT 1"
    ).fetchone()
    assert unseen is not None
    body = _problem(client.get(f"/products/spectra/{unseen[0]}"), 404)
    assert body["instruments"] == [] and body["scopes"] == []
    page = client.get(f"/products/sources/{unseen[0]}").json()
    assert page["products"] == [] and "spectrum_isgri" not in page["links"]
    assert not db.execute(
        "SELECT 1 FROM isla.lightcurve_points l WHERE NOT EXISTS (SELECT 1 FROM isla.products p "
        "WHERE p.source_id = l.source_id AND p.kind = 'long_timeseries') LIMIT 1"
    ).fetchone()
    # An epoch of the Crab without a stored spectrum names the epochs that have one.
    body = _problem(
        client.get(f"/products/spectra/{CRAB}", params={"epoch": "0081_00000000001"}), 404
    )
    assert CRAB_EPOCH in body["epochs"] and "mission" in body["scopes"]
    # An observed epoch without mosaics names the epochs that have them.
    epoch = db.execute(
        "SELECT DISTINCT lpad(revolution::text, 4, '0') || '_' || obsid FROM "
        "isla.science_windows WHERE scw_type = 'pointing' AND obsid IS NOT NULL AND revolution "
        "NOT IN (SELECT revolution FROM isla.products WHERE kind = 'mosaic' AND revolution IS "
        "NOT NULL) ORDER BY 1 LIMIT 1"
    ).fetchone()
    assert epoch is not None
    body = _problem(client.get(f"/products/mosaics/{epoch[0]}"), 404)
    assert CRAB_EPOCH in body["epochs"]


@pytest.mark.parametrize(
    ("path", "params", "reason"),
    [
        (f"/products/lightcurves/{CRAB}", {"start": "2012-01-01", "end": "2011-01-01"}, "empty"),
        (f"/products/lightcurves/{CRAB}", {"start": "yesterday"}, "ISO 8601"),
        (f"/products/lightcurves/{CRAB}", {"binning": "2"}, "at least"),
        (f"/products/lightcurves/{CRAB}", {"binning": "weekly"}, "number of seconds"),
        (f"/products/lightcurves/{CRAB}", {"format": "xml"}, "json, csv"),
        (f"/products/lightcurves/{CRAB}", {"instrument": "OMC", "binning": "revolution"}, "OMC"),
        ("/products/lightcurves/crab", {}, "source id"),
        (f"/products/spectra/{CRAB}", {"epoch": "727_1"}, "RRRR_OOOOOOOOOOO"),
        (f"/products/mosaics/{CRAB_EPOCH}", {"format": "jpeg"}, "fits, png"),
        (f"/products/files/spectrum/ISGRI/mission/{CRAB}", {"format": "xml"}, "json, csv"),
    ],
)
def test_impossible_requests_answer_400(
    client: httpx.Client, path: str, params: dict[str, str], reason: str
) -> None:
    body = _problem(client.get(path, params=params), 400)
    assert reason in body["detail"]


def test_light_curve_tables_are_published_through_tap(
    client: httpx.Client, db: psycopg.Connection[Any]
) -> None:
    response = client.get(
        "/tap/sync",
        params={
            "LANG": "ADQL",
            "FORMAT": "csv",
            "QUERY": "SELECT column_name, unit, ucd FROM TAP_SCHEMA.columns "
            "WHERE table_name = 'isla.lightcurve_points' ORDER BY column_name",
        },
    )
    assert response.status_code == 200
    columns = {r["column_name"]: r for r in csv.DictReader(io.StringIO(response.text))}
    assert columns["rate"]["unit"] == "ct/s"
    assert columns["upper_limit"]["ucd"] == "meta.code;stat.max"
    assert {"rate_ul", "significance", "offaxis", "exposure"} <= set(columns)
    assert columns["simulated"]["ucd"] == "meta.code.qual"
    # The flag tells the demo's points from delivered ones, through ADQL too.
    counts = {}
    for table in ("isla.lightcurve_points", "isla.omc_points"):
        response = client.get(
            "/tap/sync",
            params={
                "LANG": "ADQL",
                "FORMAT": "csv",
                "QUERY": f"SELECT simulated, COUNT(*) AS n FROM {table} GROUP BY simulated",
            },
        )
        assert response.status_code == 200, response.text
        rows = list(csv.DictReader(io.StringIO(response.text)))
        counts[table] = {r["simulated"].lower() in ("true", "t", "1"): int(r["n"]) for r in rows}
    for table, got in counts.items():
        expected = dict(
            db.execute(f"SELECT simulated, count(*) FROM {table} GROUP BY simulated").fetchall()
        )
        assert got == expected, table
    assert counts["isla.lightcurve_points"][True] > 100_000
    assert set(counts["isla.omc_points"]) == {True}


def test_same_seed_same_light_curves(archive: Archive, db: psycopg.Connection[Any]) -> None:
    """The demo's light-curve points are determined by the seed: the pipeline's results
    tables, made again from the archive's sources and science windows, are the delivered
    ones byte for byte (so are the points loaded from them)."""
    from sqlalchemy import create_engine

    from shared.demo import DEFAULT_SEED
    from shared.demo.generator import bright_source_ids
    from shared.demo.lightcurves import results_deliveries

    stored = dict(
        db.execute(
            "SELECT file_name, sha256 FROM isla.products WHERE kind = 'lc_results'"
        ).fetchall()
    )
    engine = create_engine(archive.database_url)
    try:
        with engine.connect() as conn:
            again = {
                name: hashlib.sha256(data).hexdigest()
                for batch in results_deliveries(
                    conn, "demo", DEFAULT_SEED, set(bright_source_ids().values())
                )
                for name, data in batch.files
            }
    finally:
        engine.dispose()
    assert again == stored
    assert len(stored) >= 3
