"""Gamma-ray bursts: both GRB catalogue kinds and burst products through the real ingest API,
the demo's bursts and the real GRB 230307A through TAP and ``/products/grbs``."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from astropy.table import Table

from shared.demo import grbs as demo_grbs
from tests.conftest import Archive, StackInfo
from tests.integration.ingest_support import IngestServer, serve_ingest

pytestmark = pytest.mark.integration


# --- the demo archive: GRB 230307A, the simulated bursts, the API and TAP ---------------------


def _tap(archive: Archive, query: str) -> Table:
    response = httpx.post(
        f"{archive.base_url}/tap/sync",
        data={"LANG": "ADQL", "FORMAT": "votable", "QUERY": query},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    return Table.read(io.BytesIO(response.content), format="votable")


def test_grb_230307a_is_found_through_tap_with_its_real_spiacs_data(archive: Archive) -> None:
    table = _tap(
        archive,
        "SELECT grb_name, trigger_time, ra, dec, alert_type, ibis_localised, simulated, "
        "position_ref, time_ref FROM isla.grbs WHERE grb_name = 'GRB 230307A'",
    )
    assert len(table) == 1
    row = table[0]
    assert row["alert_type"] == "external" and not row["ibis_localised"]
    assert not row["simulated"]
    assert abs(row["ra"] - 60.86) < 0.1 and abs(row["dec"] + 75.38) < 0.1
    assert "GCN Circ. 33429" in row["position_ref"] and "APPROXIMATE" in row["time_ref"]
    # The burst's INTEGRAL data: the real SPI-ACS file covers its trigger, found in TAP too.
    files = _tap(
        archive,
        "SELECT f.file_id, f.simulated FROM isla.timeseries_files AS f, isla.grbs AS g "
        "WHERE g.grb_name = 'GRB 230307A' AND f.dataset = 'spiacs_50ms' "
        "AND f.t_start <= g.trigger_ijd AND f.t_stop >= g.trigger_ijd",
    )
    assert len(files) == 1 and not files[0]["simulated"]


def test_grb_230307a_page_links_its_real_spiacs_light_curve(archive: Archive) -> None:
    with httpx.Client(base_url=archive.base_url, timeout=60) as client:
        listed = client.get(
            "/products/grbs", params={"start": "2023-03-07", "end": "2023-03-08"}
        ).json()
        assert [g["name"] for g in listed["grbs"]] == ["GRB 230307A"]
        page = client.get(listed["grbs"][0]["url"]).json()
        assert page["name"] == "GRB 230307A" and page["simulated"] is False
        assert page["position"]["error_circle"]["radius_arcmin"] == pytest.approx(3.4 / 60)
        assert page["observation"]["known"] is None  # the row names no INTEGRAL pointing
        spiacs = page["spiacs"]
        assert spiacs["held"] and spiacs["includes_real"] and not spiacs["includes_simulated"]
        plot = client.get(spiacs["links"]["plot"])
        assert plot.status_code == 200
        body = plot.json()
        assert body["includes_real"] and not body["includes_simulated"]
        assert body["samples_in_range"] > 4000  # the real 0.1 s bins within T0 +- 300 s
        hapi = client.get(spiacs["links"]["hapi_data"])
        assert hapi.status_code == 200 and hapi.text.count("\n") > 4000
        # The raw selection around the trigger is a working manifest request.
        raw = client.get(page["raw_data"]["around_trigger"]["manifest"])
        assert raw.status_code in (200, 404)  # no demo pointing in March 2023 is fine
        # Spaces and case in the name do not matter.
        assert client.get("/products/grbs/grb230307a").json()["name"] == "GRB 230307A"


def test_simulated_bursts_lie_in_the_field_of_view_at_their_trigger(archive: Archive) -> None:
    rows = archive.rows(
        "SELECT g.grb_name, g.simulated, g.alert_type, g.observation_known, "
        "s.fov_isgri @> spoint(radians(g.ra), radians(g.dec)) AS in_view, "
        "g.trigger_ijd >= s.start_ijd AND g.trigger_ijd < s.end_ijd AS during "
        "FROM isla.grbs g JOIN isla.science_windows s ON s.scw_id = g.scw_id "
        "WHERE g.simulated"
    )
    days = archive.scalar(
        "SELECT sum(end_ijd - start_ijd) FROM isla.revolutions WHERE revolution IN "
        "(SELECT DISTINCT revolution FROM isla.science_windows)"
    )
    assert rows, "the demo has simulated bursts"
    # About one a month of observing time (Poisson: within 4 sigma).
    expected = days * demo_grbs.BURSTS_PER_DAY
    assert abs(len(rows) - expected) < 4 * expected**0.5 + 1
    for name, simulated, alert, known, in_view, during in rows:
        assert simulated and alert == "IBIS" and known, name
        assert in_view and during, f"{name} is not in the ISGRI field at its trigger"


def test_simulated_burst_page_has_fields_of_view_products_and_fits(archive: Archive) -> None:
    name = archive.rows("SELECT grb_name FROM isla.grb_spectral_fits ORDER BY grb_name LIMIT 1")[0][
        0
    ]
    with httpx.Client(base_url=archive.base_url, timeout=60) as client:
        page = client.get(f"/products/grbs/{name}").json()
        assert page["simulated"] is True
        isgri = page["fields_of_view"]["ISGRI"]
        assert page["observation"]["scw_id"] in isgri["at_trigger"]
        assert isgri["scw_count"] >= 1
        # Every instrument's count is the SQL answer over the stored footprints.
        for instrument, column in (
            ("ISGRI", "fov_isgri"),
            ("JEM-X", "fov_jemx"),
            ("SPI", "fov_spi"),
        ):
            expected = archive.scalar(
                f"SELECT count(*) FROM isla.science_windows WHERE {column} @> "
                "spoint(radians(:ra), radians(:dec))",
                ra=page["ra"],
                dec=page["dec"],
            )
            assert page["fields_of_view"][instrument]["scw_count"] == expected
        models = {f["model"] for f in page["spectral_fits"]}
        assert models == {"band", "cpl", "synchrotron"}
        band = [f for f in page["spectral_fits"] if f["model"] == "band"]
        assert all(f["beta"] is not None and f["e_peak_kev"] > 0 for f in band)
        kinds = {p["kind"] for p in page["products"]}
        assert {"grb_lightcurve", "grb_spectrum", "rmf", "arf"} <= kinds
        lc = client.get(page["light_curves"][0]["url"])
        assert lc.status_code == 200 and lc.content[:6] == b"SIMPLE"
        assert b"SIMDATA =                    T" in lc.content[:20000]
        for selection in ("in_isgri_field_of_view", "around_trigger"):
            manifest = client.get(page["raw_data"][selection]["manifest"])
            assert manifest.status_code == 200, manifest.text
            listed = {s["scw_id"] for s in manifest.json()["scws"]}
            assert page["observation"]["scw_id"] in listed, selection
    fits = _tap(
        archive,
        f"SELECT model, bin_index, e_peak, alpha, beta FROM isla.grb_spectral_fits "
        f"WHERE grb_name = '{name}' AND model = 'band'",
    )
    assert len(fits) == len(band)
    # The burst's light curve and spectrum are in ObsCore, at the burst's position.
    stem = name.replace(" ", "")
    obscore = _tap(
        archive,
        "SELECT obs_id, dataproduct_type, calib_level, s_ra, s_dec FROM ivoa.obscore "
        f"WHERE obs_id LIKE 'grb_%/{stem}%' ORDER BY obs_id",
    )
    assert sorted(obscore["dataproduct_type"]) == ["spectrum", "timeseries"]
    for row in obscore:
        assert row["calib_level"] == 3
        assert abs(row["s_ra"] - page["ra"]) < 1e-6 and abs(row["s_dec"] - page["dec"]) < 1e-6


def test_grb_list_filters_and_paging(archive: Archive) -> None:
    every = archive.rows("SELECT grb_name, t90, fluence, ra, dec FROM isla.grbs")
    with httpx.Client(base_url=archive.base_url, timeout=60) as client:

        def names(**params: Any) -> set[str]:
            body = client.get("/products/grbs", params=params).json()
            return {g["name"] for g in body["grbs"]}

        assert names() == {r[0] for r in every}
        short = {r[0] for r in every if r[1] is not None and r[1] <= 2.0}
        assert names(t90_max=2.0) == short
        assert names(t90_min=2.0) == {r[0] for r in every if r[1] is not None and r[1] >= 2.0}
        bright = {r[0] for r in every if r[2] is not None and r[2] >= 1e-6}
        assert names(fluence_min=1e-6) == bright
        assert names(simulated="false") == {"GRB 230307A"}
        # A 1-degree cone around one burst finds it (and bursts that close only).
        name, _t90, _f, ra, dec = every[0]
        assert name in names(ra=ra, dec=dec, radius=1.0)
        assert "GRB 230307A" in names(ra=60.8, dec=-75.4, radius=0.5)
        assert "GRB 230307A" not in names(ra=240.8, dec=75.4, radius=10)
        # Paging: bounded, with a link to the next page.
        first = client.get("/products/grbs", params={"limit": 2}).json()
        assert len(first["grbs"]) == min(2, len(every)) and first["total"] == len(every)
        if len(every) > 2:
            second = client.get(first["next"]).json()
            assert second["offset"] == 2
            assert not {g["name"] for g in first["grbs"]} & {g["name"] for g in second["grbs"]}
        for bad in (
            {"limit": 0},
            {"limit": 5000},
            {"ra": 10.0},
            {"ra": 10, "dec": 95, "radius": 1},
            {"t90_min": 5, "t90_max": 1},
            {"start": "not a date"},
            {"alert_type": "gamma"},
        ):
            answer = client.get("/products/grbs", params=bad)
            assert answer.status_code == 400, bad
            assert answer.headers["content-type"].startswith("application/")


def test_unknown_burst_is_404_listing_nearby_names(archive: Archive) -> None:
    answer = httpx.get(f"{archive.base_url}/products/grbs/GRB%20230309A", timeout=30)
    assert answer.status_code == 404
    body = answer.json()
    text = str(body)
    assert "GRB 230307A" in text  # the nearest in time to 2023-03-09
    assert httpx.get(f"{archive.base_url}/products/grbs/{'x' * 80}", timeout=30).status_code == 400


# --- the real ingest API: both catalogue kinds, refusals, burst products ---------------------


def _csv(table: Table) -> bytes:
    out = io.StringIO()
    table.write(out, format="ascii.csv")
    return out.getvalue().encode()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


IBAS_ROWS = Table(
    {
        "grb_name": ["GRB 120711A", "GRB 041219A"],
        "trigger_time": ["2012-07-11T02:44:53", "2004-12-19T01:42:18"],
        "ra": [94.68, 6.12],
        "dec": [-71.0, 62.84],
        "pos_err": [1.5, 2.0],
        "alert_type": ["IBIS", "IBIS"],
        "t90": [115.0, 186.0],
        "fluence": [2.0e-4, 1.5e-4],
        "obsid": ["99999999999", ""],
        "scw_id": ["", ""],
    }
)
SPI_ROWS = Table(
    {
        "fit_id": ["a/band/01", "a/cpl/01", "b/band/01"],
        "grb_name": ["GRB 120711A", "GRB 120711A", "GRB 999999Z"],
        "ra": [94.68, 94.68, 10.0],
        "dec": [-71.0, -71.0, 10.0],
        "model": ["band", "cpl", "band"],
        "bin_index": [1, 1, 1],
        "t_start": [0.0, 0.0, 0.0],
        "t_stop": [10.0, 10.0, 2.0],
        "e_peak": [1.2, 1.1, 300.0],
        "alpha": [-0.9, -1.0, -0.5],
        "beta": [-2.3, float("nan"), -2.5],
    }
)
SPI_ROWS.rename_column("e_peak", "e_peak [MeV]")  # a CSV states units in its header


@pytest.fixture(scope="module")
def server(stack: StackInfo) -> Iterator[IngestServer]:
    with serve_ingest(stack, "isla_ingest_grbs") as srv:
        yield srv


def _deliver(
    server: IngestServer, token: str, kind: str, name: str, version: str, data: bytes
) -> httpx.Response:
    return httpx.post(
        f"{server.base_url}/ingest/catalogues",
        headers=_bearer(token),
        data={"kind": kind, "name": name, "version": version},
        files={"file": ("cat.csv", data, "text/csv")},
        timeout=60,
    )


def test_both_grb_catalogue_kinds_through_the_ingest_api(server: IngestServer) -> None:
    ibis = server.token("ibis-team", "ibis")
    spi = server.token("spi-team", "spi")
    interfaces = httpx.get(f"{server.base_url}/ingest/interfaces", timeout=30).json()
    text = str(interfaces)
    assert "ibas_grbs/1" in text and "spi_grb_fits/1" in text  # declared and served
    # The SPI team may not deliver the IBAS catalogue.
    assert _deliver(server, spi, "ibas_grbs/1", "IBAS", "1", _csv(IBAS_ROWS)).status_code == 403
    answer = _deliver(server, ibis, "ibas_grbs/1", "IBAS", "1", _csv(IBAS_ROWS))
    assert answer.status_code == 201, answer.text
    published = answer.json()["report"]["published"]
    assert published["rows"] == 2
    # The burst naming an observation the archive does not hold is reported, and kept.
    unknown = published["unknown_observations"]
    assert unknown["count"] == 1 and "GRB 120711A" in unknown["names"][0]
    rows = server.query(
        "SELECT grb_name, observation_known, ibis_localised FROM isla.grbs ORDER BY grb_name"
    )
    assert rows == [("GRB 041219A", None, True), ("GRB 120711A", False, True)]
    answer = _deliver(server, spi, "spi_grb_fits/1", "SPI GRBs", "1", _csv(SPI_ROWS))
    assert answer.status_code == 201, answer.text
    published = answer.json()["report"]["published"]
    assert published["rows"] == 3 and published["unknown_grbs"]["names"] == ["GRB 999999Z"]
    fits = server.query(
        "SELECT fit_id, model_class, e_peak, beta, grb_known FROM isla.grb_spectral_fits "
        "ORDER BY fit_id"
    )
    # MeV converted to keV on load; the cutoff power law has no beta.
    assert fits[0] == ("a/band/01", "empirical", pytest.approx(1200.0), -2.3, True)
    assert fits[1][3] is None and fits[2][4] is False
    # A new version replaces the catalogue's rows; GRB catalogues are never merged as sources.
    again = IBAS_ROWS[:1]
    assert _deliver(server, ibis, "ibas_grbs/1", "IBAS", "2", _csv(again)).status_code == 201
    assert server.query("SELECT count(*) FROM isla.grbs") == [(1,)]
    assert server.query("SELECT count(*) FROM isla.sources") == [(0,)]
    # Switching back to version 1 publishes it again.
    back = httpx.post(
        f"{server.base_url}/ingest/catalogues/IBAS/current",
        headers=_bearer(ibis),
        data={"version": "1"},
        timeout=30,
    )
    assert back.status_code == 200 and back.json()["published"]["rows"] == 2


def test_bad_grb_rows_are_refused_and_nothing_is_written(server: IngestServer) -> None:
    ibis = server.token("ibis-team", "ibis")
    before = server.query("SELECT count(*) FROM isla.catalogues")
    bad = IBAS_ROWS.copy()
    bad["alert_type"] = ["IBIS", "gamma"]
    bad["trigger_time"] = ["yesterday", "2004-12-19T01:42:18"]
    answer = _deliver(server, ibis, "ibas_grbs/1", "IBAS bad", "1", _csv(bad))
    assert answer.status_code == 422, answer.text
    text = str(answer.json())
    assert "yesterday" in text and "gamma" in text
    assert server.query("SELECT count(*) FROM isla.catalogues") == before


def test_burst_products_through_the_ingest_api(server: IngestServer) -> None:
    isdc = server.token("isdc", "isdc")
    table = Table(
        {
            "grb_name": ["GRB 120711A"],
            "trigger_time": ["2012-07-11T02:44:53"],
            "ra": [94.68],
            "dec": [-71.0],
            "pos_err": [1.5],
            "alert_type": ["IBIS"],
        }
    )
    _deliver(server, isdc, "ibas_grbs/1", "IBAS products test", "1", _csv(table))
    burst = _burst("GRB 120711A")
    fits = demo_grbs.make_fits(burst, 1)
    files = [demo_grbs.lightcurve_file(burst, 1), *demo_grbs.spectrum_files(burst, fits, 1)]
    answer = httpx.post(
        f"{server.base_url}/ingest/products",
        headers=_bearer(isdc),
        files=[("file", (n, d, "application/fits")) for n, d in files],
        data={"scope": "grb"},
        timeout=60,
    )
    assert answer.status_code == 201, answer.text
    ids = sorted(p["product_id"] for p in answer.json()["products"])
    assert ids == [
        "arf/SPI/grb/GRB120711A",
        "grb_lightcurve/ISGRI/grb/GRB120711A/20-200keV",
        "grb_spectrum/SPI/grb/GRB120711A/integrated",
        "rmf/SPI/grb/GRB120711A",
    ]
    meta = server.query(
        "SELECT meta->>'grb', meta->>'rmf', simulated FROM isla.products "
        "WHERE kind = 'grb_spectrum'"
    )
    assert meta == [("GRB 120711A", "rmf/SPI/grb/GRB120711A", True)]
    # A burst the archive does not know: refused, naming it.
    other = _burst("GRB 010101A")
    answer = httpx.post(
        f"{server.base_url}/ingest/products",
        headers=_bearer(isdc),
        files=[("file", (*demo_grbs.lightcurve_file(other, 1), "application/fits"))],
        data={"scope": "grb"},
        timeout=60,
    )
    assert answer.status_code == 422 and "GRB 010101A" in answer.text


def _burst(name: str) -> demo_grbs.Burst:
    from datetime import datetime

    from shared.integral.time import utc_to_ijd

    trigger = datetime(2012, 7, 11, 2, 44, 53)
    return demo_grbs.Burst(
        name,
        trigger,
        utc_to_ijd(trigger),
        94.68,
        -71.0,
        1.5,
        3.0,
        2e-4,
        40.0,
        20.0,
        None,
        "000000000000",
        3.0,
    )
