"""Every view of a product agrees with the product: for spectra, responses, long and short time
series, mosaics and OMC products, the JSON, VOTable and CSV answers carry the numbers of the
stored FITS file, and the FITS answers are the stored file. The real ISLA deliveries (the SMC
X-1 spectrum of 0745_06340000001, the 0727_88601650001 mosaic, the 1A 1742-289 JEM-X time
series) are compared with the files in astroquery's wheel, through the native endpoints and
the astroquery ones.

The reference reader here is deliberately separate from the service's: astropy.io.fits on the
file, astropy's VOTable parser and the csv module on the answers.
"""

from __future__ import annotations

import csv
import gzip
import io
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt
import pytest
from astropy.io import fits
from astropy.io.votable import parse_single_table

from tests.conftest import Archive

pytestmark = pytest.mark.integration

CRAB = "J053432.0+220052"
SMC_X1 = "J011705.1-732636"
SMC_EPOCH = "0745_06340000001"
GC_SOURCE = "J174537.0-290107"
MOSAIC_EPOCH = "0727_88601650001"

Array = npt.NDArray[np.float64]


# --- the reference reader ---------------------------------------------------------------------


def _real(archive_name: str) -> dict[str, bytes]:
    """The files of one of ESA's real ISLA packages in astroquery's wheel, by name."""
    import astroquery.esa.integral as integral

    path = Path(integral.__file__).parent / "tests" / "data" / archive_name
    blob = path.read_bytes()
    if zipfile.is_zipfile(io.BytesIO(blob)):
        with zipfile.ZipFile(io.BytesIO(blob)) as z:
            return {n: z.read(n) for n in z.namelist()}
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        return {
            m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile()
        }


def _hdul(data: bytes) -> fits.HDUList:
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return fits.open(io.BytesIO(data))


def _table_with(hdul: fits.HDUList, column: str) -> Any:
    return next(
        h for h in hdul[1:] if isinstance(h, fits.BinTableHDU) and column in h.columns.names
    )


def _reference_spectrum(pha: bytes, rmf: bytes) -> dict[str, Array]:
    with _hdul(pha) as spe, _hdul(rmf) as resp:
        table = _table_with(spe, "CHANNEL")
        bounds = resp["EBOUNDS"].data
        edges = {
            int(c): (lo, hi)
            for c, lo, hi in zip(bounds["CHANNEL"], bounds["E_MIN"], bounds["E_MAX"], strict=True)
        }
        channel = np.asarray(table.data["CHANNEL"], dtype=np.int64)
        error = np.asarray(table.data["STAT_ERR"], dtype=np.float64)
        return {
            "channel": channel.astype(np.float64),
            "rate": np.asarray(table.data["RATE"], dtype=np.float64),
            # Non-finite values (the real file has infinite errors) are null in the answers.
            "error": np.where(np.isfinite(error), error, np.nan),
            "e_min": np.array([edges[int(c)][0] for c in channel], dtype=np.float64),
            "e_max": np.array([edges[int(c)][1] for c in channel], dtype=np.float64),
        }


def _column(values: list[Any]) -> Array:
    return np.array([np.nan if v in (None, "") else float(v) for v in values], dtype=np.float64)


def _json_columns(response: httpx.Response) -> dict[str, Array]:
    assert response.status_code == 200, response.text[:300]
    doc = response.json()
    names = [c["name"] for c in doc["columns"]]
    return {
        n: _column([row[i] for row in doc["data"]])
        for i, n in enumerate(names)
        if n not in ("bin", "upper_limit")
    }


def _csv_columns(response: httpx.Response) -> dict[str, Array]:
    assert response.status_code == 200, response.text[:300]
    rows = list(csv.reader(io.StringIO(response.text)))
    header, body = rows[0], rows[1:]
    return {
        n: _column([r[i] for r in body])
        for i, n in enumerate(header)
        if n not in ("bin", "upper_limit")
    }


def _votable_columns(response: httpx.Response) -> dict[str, Array]:
    assert response.status_code == 200, response.text[:300]
    table = parse_single_table(io.BytesIO(response.content)).to_table()
    return {
        n: np.asarray(np.ma.filled(np.ma.asarray(table[n], dtype=np.float64), np.nan))
        for n in table.colnames
        if n not in ("bin", "upper_limit")
    }


def _all_formats(client: httpx.Client, url: str, params: dict[str, Any]) -> list[dict[str, Array]]:
    return [
        _json_columns(client.get(url, params={**params, "format": "json"})),
        _csv_columns(client.get(url, params={**params, "format": "csv"})),
        _votable_columns(client.get(url, params={**params, "format": "votable"})),
    ]


def _same(got: Array, want: Array, rtol: float = 1e-6) -> None:
    assert got.shape == want.shape
    assert np.allclose(got, want, rtol=rtol, atol=0, equal_nan=True)


# --- spectra -------------------------------------------------------------------------------------


def test_real_smc_x1_spectrum_in_every_format_through_the_native_endpoint(
    client: httpx.Client,
) -> None:
    real = _real("tar_file.tar")
    pha = real["SMC_X-1_ISGRI_0745_06340000001_spectrum_spe.fits"]
    rmf = real["SMC_X-1_ISGRI_0745_06340000001_spectrum_rmf.fits"]
    want = _reference_spectrum(pha, rmf)
    url = f"/products/spectra/{SMC_X1}"
    served = client.get(url, params={"epoch": SMC_EPOCH})
    assert served.status_code == 200 and served.content == pha  # the file as delivered
    for got in _all_formats(client, url, {"epoch": SMC_EPOCH}):
        for name in ("channel", "rate", "error", "e_min", "e_max"):
            _same(got[name], want[name])
    doc = client.get(url, params={"epoch": SMC_EPOCH, "format": "json"}).json()
    assert doc["exposure"] == pytest.approx(42904.44577497381)
    rmf_file = client.get(doc["rmf_url"])
    assert rmf_file.status_code == 200 and rmf_file.content == rmf


def test_real_smc_x1_spectrum_through_the_astroquery_endpoints(client: httpx.Client) -> None:
    real = _real("tar_file.tar")
    want = _reference_spectrum(
        real["SMC_X-1_ISGRI_0745_06340000001_spectrum_spe.fits"],
        real["SMC_X-1_ISGRI_0745_06340000001_spectrum_rmf.fits"],
    )
    answer = client.get(
        "/tap/sync",
        params={"REQUEST": "spectra", "source": SMC_X1, "instrument_oid": 1, "epoch": SMC_EPOCH},
    ).json()
    real_entry = next(e for e in answer if e["spectraOid"].endswith(f"{SMC_EPOCH}/{SMC_X1}"))
    # ISLA's servlet sends the channels with a finite rate (the file's NaN channels are left out).
    keep = np.isfinite(want["rate"]) & np.isfinite(want["e_min"])
    assert 100 < keep.sum() < len(keep)
    _same(np.array(real_entry["rate"]), want["rate"][keep])
    _same(np.array(real_entry["energy"]), ((want["e_min"] + want["e_max"]) / 2)[keep])
    _same(np.array(real_entry["energyError"]), ((want["e_max"] - want["e_min"]) / 2)[keep])
    _same(_column(real_entry["rateError"]), want["error"][keep])
    package = client.get(
        "/data", params={"RETRIEVAL_TYPE": "spectras", "spectra_oid": real_entry["spectraOid"]}
    )
    with tarfile.open(fileobj=io.BytesIO(package.content)) as tar:
        got = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]
    assert got == real


def test_demo_spectra_agree_with_their_files(client: httpx.Client, archive: Archive) -> None:
    rows = archive.rows(
        "SELECT DISTINCT ON (meta->>'scope', instrument) product_id, source_id, instrument, "
        "epoch, meta FROM isla.products WHERE kind = 'spectrum' AND source_id = :s "
        "ORDER BY meta->>'scope', instrument, product_id",
        s=CRAB,
    )
    assert {r.meta["scope"] for r in rows} >= {"mission", "epoch", "time_resolved"}
    for pid, source, instrument, epoch, meta in rows:
        stored = client.get(f"/products/files/{pid}")
        rmf = client.get(f"/products/files/{meta['rmf']}")
        want = _reference_spectrum(stored.content, rmf.content)
        scope = {"epoch": epoch, "mission": "mission"}.get(meta["scope"]) or (
            f"interval{meta['interval']:02d}" if "interval" in meta else pid.split("/")[2]
        )
        params = {"instrument": instrument, "scope": scope}
        fits_view = client.get(f"/products/spectra/{source}", params=params)
        assert fits_view.content == stored.content, pid
        views = [
            *_all_formats(client, f"/products/spectra/{source}", params),
            *_all_formats(client, f"/products/files/{pid}", {}),
        ]
        for got in views:
            for name in ("channel", "rate", "error", "e_min", "e_max"):
                _same(got[name], want[name])


def test_responses_are_the_stored_files(client: httpx.Client, archive: Archive) -> None:
    for kind in ("arf", "rmf"):
        for instrument in ("ISGRI", "JEM-X"):
            pid = archive.rows(
                "SELECT product_id FROM isla.products WHERE kind = :k AND instrument = :i "
                "ORDER BY source_id IS NOT NULL, product_id LIMIT 1",
                k=kind,
                i=instrument,
            )[0][0]
            served = client.get(f"/products/responses/{instrument}/{kind}")
            assert served.status_code == 200
            assert served.content == client.get(f"/products/files/{pid}").content
            assert served.headers["x-product-id"] == pid


# --- time series ---------------------------------------------------------------------------------


def _series(data: bytes) -> dict[str, Array]:
    with _hdul(data) as hdul:
        table = _table_with(hdul, "RATE")
        return {
            "time": np.asarray(table.data["TIME"], dtype=np.float64),
            "rate": np.asarray(table.data["RATE"], dtype=np.float64),
            "error": np.asarray(table.data["ERROR"], dtype=np.float64),
        }


def test_real_jemx_time_series_views_agree_with_the_files(
    client: httpx.Client, archive: Archive
) -> None:
    real = _real("zip_file.zip")
    rows = archive.rows(
        "SELECT product_id, file_name FROM isla.products WHERE kind = 'long_timeseries' "
        "AND source_id = :s AND instrument LIKE 'JEM-X%' ORDER BY file_name",
        s=GC_SOURCE,
    )
    assert sorted(r.file_name for r in rows) == sorted(real)
    for pid, name in rows:
        stored = client.get(f"/products/files/{pid}")
        assert stored.content == real[name]  # served as delivered
        want = _series(real[name])
        for got in _all_formats(client, f"/products/files/{pid}", {}):
            _same(got["time"], want["time"])
            _same(got["rate"], want["rate"])
            _same(got["error"], want["error"])
    # astroquery's JSON carries the same rates, file by file.
    answer = client.get(
        "/tap/sync",
        params={"REQUEST": "long_timeseries", "source": GC_SOURCE, "instrument_oid": 2},
    ).json()
    for rates in answer["rates"]:
        assert any(
            len(rates) == len(_series(data)["rate"])
            and np.allclose(_column(rates), _series(data)["rate"], rtol=1e-6)
            for data in real.values()
        )


def test_demo_long_time_series_views_agree_with_the_file(
    client: httpx.Client, archive: Archive
) -> None:
    pid = archive.rows(
        "SELECT product_id FROM isla.products WHERE kind = 'long_timeseries' AND source_id = :s "
        "ORDER BY product_id LIMIT 1",
        s=CRAB,
    )[0][0]
    want = _series(client.get(f"/products/files/{pid}").content)
    for got in _all_formats(client, f"/products/files/{pid}", {}):
        for name in ("time", "rate", "error"):
            _same(got[name], want[name])


def test_sub_scw_light_curves_are_the_stored_bins(client: httpx.Client, archive: Archive) -> None:
    pid, source, epoch, t_min, t_max, meta = archive.rows(
        "SELECT p.product_id, p.source_id, p.epoch, p.t_min, p.t_max, p.meta "
        "FROM isla.products p JOIN isla.energy_bands e ON e.band_id = p.band_id "
        "WHERE p.kind = 'short_timeseries' AND p.source_id = :s AND p.instrument = 'ISGRI' "
        "AND e.name = '28_40' ORDER BY p.product_id LIMIT 1",
        s=CRAB,
    )[0]
    stored = _series(client.get(f"/products/files/{pid}").content)
    with _hdul(client.get(f"/products/files/{pid}").content) as hdul:
        width = float(np.median(hdul["TIMESERIES"].data["TIMEDEL"])) * 86400.0
    assert width == pytest.approx(meta["bin_s"], rel=1e-6)
    params = {"binning": f"{width:g}", "start": t_min - 0.01, "end": t_max + 0.01}
    url = f"/products/lightcurves/{source}"
    for got in _all_formats(client, url, params):
        _same(got["time"], stored["time"], rtol=1e-9)
        _same(got["rate"], stored["rate"])
        _same(got["rate_err"], stored["error"])
        assert np.allclose(got["timedel"], width)
    served = client.get(url, params={**params, "format": "fits"})
    with _hdul(served.content) as hdul:
        _same(np.asarray(hdul["RATE"].data["RATE"], dtype=np.float64), stored["rate"])
        assert hdul["RATE"].header["BINNING"] == f"{width:g}"
    # Twice the stored width joins neighbouring stored bins (exposure-weighted means).
    doubled = _json_columns(client.get(url, params={**params, "binning": f"{2 * width:g}"}))
    assert 0 < len(doubled["rate"]) <= len(stored["rate"]) // 2
    assert np.all(np.isclose(doubled["timedel"], 2 * width))
    lo, hi = float(stored["rate"].min()), float(stored["rate"].max())
    assert np.all((doubled["rate"] >= lo - 1e-6) & (doubled["rate"] <= hi + 1e-6))
    # A width that is no multiple of the stored one is refused, naming the allowed widths.
    odd = client.get(url, params={**params, "binning": f"{1.5 * width:g}"})
    assert odd.status_code == 400 and f"{width:g}" in odd.json()["detail"]
    assert epoch


def test_sub_scw_bins_exist_only_where_a_series_is_stored(
    client: httpx.Client, archive: Archive
) -> None:
    faint = archive.rows(
        "SELECT s.source_id FROM isla.sources s WHERE NOT EXISTS (SELECT 1 FROM isla.products p "
        "WHERE p.source_id = s.source_id AND p.kind = 'short_timeseries') AND EXISTS (SELECT 1 "
        "FROM isla.lightcurve_points l WHERE l.source_id = s.source_id) ORDER BY s.source_id "
        "LIMIT 1"
    )[0][0]
    response = client.get(f"/products/lightcurves/{faint}", params={"binning": "120"})
    assert response.status_code == 404
    body = response.json()
    assert body["short_timeseries"] == [] and "scw" in body["binnings"]
    crab = client.get(
        f"/products/lightcurves/{CRAB}", params={"binning": "120", "band": "60_200", "end": "52700"}
    )
    assert crab.status_code == 404 and crab.json()["short_timeseries"]


# --- mosaics -------------------------------------------------------------------------------------


def test_real_mosaic_from_the_native_endpoint(client: httpx.Client) -> None:
    real = _real("tar_gz_file.gz")
    original = real["ISGRI_0727_88601650001_28_40_mosaic_original.fits.gz"]
    url = f"/products/mosaics/{MOSAIC_EPOCH}"
    served = client.get(url, params={"instrument": "ISGRI", "band": "28_40"})
    assert served.status_code == 200 and served.content == original
    with _hdul(served.content) as hdul:
        images = [h for h in hdul if isinstance(h, fits.ImageHDU)]
        assert images and all(h.header["DATE-OBS"].startswith("2008-09-25") for h in images)
        significance = next(h.data for h in images if h.header.get("IMATYPE") == "SIGNIFICANCE")
        exposure = next(h.data for h in images if h.header.get("IMATYPE") == "EXPOSURE")
        shape = significance.shape
    summary = client.get(url, params={"band": "28_40", "format": "json"}).json()
    assert summary["date_obs"].startswith("2008-09-25")
    assert tuple(summary["shape"]) == shape
    assert summary["max_significance"] == pytest.approx(float(np.nanmax(significance)), rel=1e-6)
    assert summary["max_exposure"] == pytest.approx(float(np.nanmax(exposure)), rel=1e-6)
    png = client.get(url, params={"band": "28_40", "format": "png"})
    assert png.headers["content-type"] == "image/png"
    width = int.from_bytes(png.content[16:20], "big")
    height = int.from_bytes(png.content[20:24], "big")
    assert (height, width) == shape


def test_demo_mosaic_views_agree_with_the_file(client: httpx.Client, archive: Archive) -> None:
    pid, epoch, band = archive.rows(
        "SELECT p.product_id, p.epoch, e.name FROM isla.products p "
        "JOIN isla.energy_bands e ON e.band_id = p.band_id WHERE p.kind = 'mosaic' "
        "AND p.instrument = 'ISGRI' AND e.name <> '28_40' ORDER BY p.product_id LIMIT 1"
    )[0]
    stored = client.get(f"/products/files/{pid}").content
    url = f"/products/mosaics/{epoch}"
    assert client.get(url, params={"band": band}).content == stored
    with _hdul(stored) as hdul:
        exposure = hdul["EXPOSURE"].data
        significance = hdul["SIGNIFICANCE"].data
    summary = client.get(url, params={"band": band, "format": "json"}).json()
    assert summary["product_id"] == pid
    assert tuple(summary["shape"]) == significance.shape
    assert summary["max_exposure"] == pytest.approx(float(exposure.max()), rel=1e-6)
    assert summary["max_significance"] == pytest.approx(float(significance.max()), rel=1e-6)
    refused = client.get(f"/products/files/{pid}", params={"format": "json"})
    assert refused.status_code == 400


# --- OMC ----------------------------------------------------------------------------------------


def test_omc_light_curve_views_agree(client: httpx.Client, archive: Archive) -> None:
    pid, source = archive.rows(
        "SELECT product_id, source_id FROM isla.products WHERE kind = 'omc_lightcurve' "
        "ORDER BY product_id LIMIT 1"
    )[0]
    stored = client.get(f"/products/files/{pid}").content
    with _hdul(stored) as hdul:
        table = hdul["OMC_LC"].data
        want = {
            "time": np.asarray(table["TIME"], dtype=np.float64),
            "magnitude": np.asarray(table["MAG_V"], dtype=np.float64),
            "magnitude_err": np.asarray(table["ERR_MAG_V"], dtype=np.float64),
        }
    # The stored file's table views, and the light curve of the stored OMC points.
    for got in [
        *_all_formats(client, f"/products/files/{pid}", {}),
        *_all_formats(client, f"/products/lightcurves/{source}", {"instrument": "OMC"}),
    ]:
        order = np.argsort(got["time"])
        for name, values in want.items():
            _same(got[name][order], values[np.argsort(want["time"])])
    image_pid = archive.rows(
        "SELECT product_id FROM isla.products WHERE kind = 'omc_image' ORDER BY product_id LIMIT 1"
    )[0][0]
    image = client.get(f"/products/files/{image_pid}")
    with _hdul(image.content) as hdul:
        assert hdul["IMAGE"].data.shape == (11, 11)
