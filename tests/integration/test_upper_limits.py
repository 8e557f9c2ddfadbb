"""Upper limits anywhere (``/products/upper-limits``) on the served demo archive: the numbers
agree with the stored sensitivity data, a bright catalogue source reports its measured flux,
and bad input is refused in the request's format."""

from __future__ import annotations

import csv
import io
import math

import httpx
import numpy as np
import pytest
from astropy.io.votable import parse_single_table
from astropy_healpix import HEALPix

from shared.products import upperlimits as ul
from tests.conftest import Archive

pytestmark = pytest.mark.integration

CRAB = (83.6332, 22.0145)
URL = "/products/upper-limits"


@pytest.fixture(scope="module")
def quiet(archive: Archive) -> dict[str, object]:
    """A pixel of ISGRI 28-40 keV observed in many revolutions, far from every catalogue
    source, with its stored rows."""
    band = archive.scalar(
        "SELECT band_id FROM isla.energy_bands WHERE instrument = 'ISGRI' AND name = '28_40'"
    )
    rows = archive.rows(
        "SELECT hpx, hpx_order FROM isla_ops.sensitivity WHERE band_id = :b "
        "AND binning = 'revolution' ORDER BY cardinality(bin_id) DESC, hpx LIMIT 50",
        b=band,
    )
    assert rows, "the demo delivered no ISGRI sensitivity"
    for row in rows:
        hp = HEALPix(nside=2 ** int(row.hpx_order), order="nested")
        lon, lat = hp.healpix_to_lonlat(int(row.hpx))
        ra, dec = float(lon.deg), float(lat.deg)
        near = archive.scalar(
            "SELECT count(*) FROM isla.sources WHERE pos <@ scircle(spoint(radians(:ra), "
            "radians(:dec)), radians(0.5))",
            ra=ra,
            dec=dec,
        )
        if near == 0:
            stored = {
                binning: archive.rows(
                    "SELECT * FROM isla_ops.sensitivity WHERE band_id = :b AND binning = :g "
                    "AND hpx = :p",
                    b=band,
                    g=binning,
                    p=int(row.hpx),
                )[0]
                for binning in ("revolution", "scw")
            }
            return {"ra": ra, "dec": dec, "hpx": int(row.hpx), **stored}
    pytest.fail("no observed pixel away from the catalogue")


def _get(client: httpx.Client, **params: object) -> httpx.Response:
    return client.get(URL, params={k: str(v) for k, v in params.items()})


def test_revolution_limits_are_the_stored_sensitivity(
    client: httpx.Client, quiet: dict[str, object]
) -> None:
    stored = quiet["revolution"]
    r = _get(client, ra=quiet["ra"], dec=quiet["dec"], band="28_40", sigma=2)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["healpix"]["pixel"] == quiet["hpx"]
    assert body["source"] is None
    assert body["simulated"] is True
    bins = body["data"]
    assert [int(b["bin"]) for b in bins] == list(stored.bin_id)  # type: ignore[attr-defined]
    crab = float(stored.crab_count_rate)  # type: ignore[attr-defined]
    erg = ul.erg_per_mcrab(28.0, 40.0)
    for b, sigma, exposure in zip(bins, stored.rate_sigma, stored.exposure, strict=True):  # type: ignore[attr-defined]
        assert b["detected"] is False
        assert b["rate_ul"] == pytest.approx(2 * sigma)
        assert b["_ul"] == b["rate_ul"]
        assert b["flux_ul_mcrab"] == pytest.approx(2 * sigma / crab * 1000)
        assert b["_ul_flux"] == pytest.approx(2 * sigma / crab * 1000 * erg)
        assert b["exposure"] == pytest.approx(exposure) == b["_exptime"]
        assert b["_ulsig"] == 2 and b["_mission"] == "INTEGRAL" and b["_instrum"] == "ISGRI"
        assert (b["_elow"], b["_ehigh"]) == (28.0, 40.0)
        assert b["_start_date"] == b["start"] and b["start"] < b["end"]


def test_mission_and_scw_binning(client: httpx.Client, quiet: dict[str, object]) -> None:
    revs, scws = quiet["revolution"], quiet["scw"]
    mission = _get(client, ra=quiet["ra"], dec=quiet["dec"], binning="mission").json()["data"]
    assert len(mission) == 1
    assert mission[0]["rate_ul"] == pytest.approx(3 * ul.combined_sigma(revs.rate_sigma))  # type: ignore[attr-defined]
    assert mission[0]["exposure"] == pytest.approx(sum(scws.exposure))  # type: ignore[attr-defined]
    per_scw = _get(client, ra=quiet["ra"], dec=quiet["dec"], binning="scw").json()["data"]
    assert [b["bin"] for b in per_scw] == [f"{i:012d}" for i in scws.bin_id]  # type: ignore[attr-defined]
    # A time range keeps the bins that overlap it, and the mission bin combines exactly those.
    middle = len(per_scw) // 2
    start, end = per_scw[middle]["t_start_mjd"], per_scw[-1]["t_stop_mjd"]
    ranged = _get(
        client, ra=quiet["ra"], dec=quiet["dec"], binning="scw", start=start, end=end
    ).json()["data"]
    assert ranged and len(ranged) < len(per_scw)
    assert all(b["t_stop_mjd"] > start and b["t_start_mjd"] < end for b in ranged)
    one = _get(
        client, ra=quiet["ra"], dec=quiet["dec"], binning="mission", start=start, end=end
    ).json()["data"][0]
    expected = 3 * ul.combined_sigma([b["rate_sigma"] for b in ranged])
    assert one["rate_ul"] == pytest.approx(expected)
    assert one["nscw"] == len(ranged)


def test_csv_and_votable(client: httpx.Client, quiet: dict[str, object]) -> None:
    params = {"ra": quiet["ra"], "dec": quiet["dec"], "binning": "revolution"}
    text = _get(client, **params, format="csv").text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == len(quiet["revolution"].bin_id)  # type: ignore[attr-defined]
    assert {"_ul", "_ul_flux", "_exptime", "_start_date", "_end_date", "_ulsig"} <= set(rows[0])
    vot = _get(client, **params, format="votable")
    assert vot.headers["content-type"].startswith("application/x-votable+xml")
    table = parse_single_table(io.BytesIO(vot.content)).to_table()
    assert len(table) == len(rows)
    assert np.allclose(np.asarray(table["_ul"], dtype=float), [float(r["_ul"]) for r in rows])


def test_bright_source_reports_its_measured_flux(client: httpx.Client, archive: Archive) -> None:
    r = _get(client, ra=CRAB[0], dec=CRAB[1], binning="revolution")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["source"]["name"] == "Crab"
    detected = [b for b in body["data"] if b["detected"]]
    assert detected, "the Crab is detected in no revolution"
    for b in detected:
        assert b["rate_ul"] is None and b["_ul"] is None
        assert 500 < b["flux_mcrab"] < 1500
        assert b["flux_erg"] == pytest.approx(b["flux_mcrab"] * body["erg_per_mcrab"])
    # The measured rate of a revolution is the weighted mean of the stored points.
    first = detected[0]
    points = archive.rows(
        "SELECT rate, rate_err FROM isla.lightcurve_points p JOIN isla.energy_bands e "
        "USING (band_id) WHERE p.source_id = :s AND e.instrument = 'ISGRI' AND e.name = '28_40' "
        "AND p.revolution = :r",
        s=body["source"]["source_id"],
        r=int(first["bin"]),
    )
    weights = np.array([1 / p.rate_err**2 for p in points])
    mean = float(np.sum(weights * np.array([p.rate for p in points])) / weights.sum())
    assert first["rate"] == pytest.approx(mean)
    assert first["rate_err"] == pytest.approx(1 / math.sqrt(weights.sum()))


@pytest.mark.parametrize(
    "params",
    [
        {"dec": 10},
        {"ra": 400, "dec": 10},
        {"ra": 10, "dec": -95},
        {"ra": "abc", "dec": 10},
        {"ra": "nan", "dec": 10},
        {"ra": 10, "dec": 10, "band": "banana"},
        {"ra": 10, "dec": 10, "band": "5000-6000"},
        {"ra": 10, "dec": 10, "instrument": "SPI"},
        {"ra": 10, "dec": 10, "sigma": 4},
        {"ra": 10, "dec": 10, "binning": "daily"},
        {"ra": 10, "dec": 10, "start": "2010-01-01", "end": "2009-01-01"},
        {"ra": 10, "dec": 10, "start": "1990-01-01", "end": "1991-01-01"},
        {"ra": 10, "dec": 10, "start": "yesterday"},
        {"ra": 10, "dec": 10, "format": "xml"},
    ],
)
def test_bad_input_is_a_problem(client: httpx.Client, params: dict[str, object]) -> None:
    r = _get(client, **params)
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "UsageFault"


def test_bad_input_of_a_votable_request_is_a_votable_error(client: httpx.Client) -> None:
    r = _get(client, ra=10, dec=-95, format="votable")
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("application/x-votable+xml")
    assert b"QUERY_STATUS" in r.content and b"UsageFault" in r.content


def test_unobserved_position_has_no_bins(client: httpx.Client, archive: Archive) -> None:
    band = archive.scalar(
        "SELECT band_id FROM isla.energy_bands WHERE instrument = 'JEM-X' AND name = '3_20'"
    )
    order = archive.scalar(
        "SELECT hpx_order FROM isla_ops.sensitivity WHERE band_id = :b LIMIT 1", b=band
    )
    stored = {
        int(r.hpx)
        for r in archive.rows(
            "SELECT hpx FROM isla_ops.sensitivity WHERE band_id = :b AND binning = 'revolution'",
            b=band,
        )
    }
    hp = HEALPix(nside=2 ** int(order), order="nested")
    empty = next(p for p in range(hp.npix) if p not in stored)
    lon, lat = hp.healpix_to_lonlat(empty)
    r = _get(client, ra=float(lon.deg), dec=float(lat.deg), band="3_20")
    assert r.status_code == 200
    assert r.json()["data"] == []
