"""The portal's pages and search over HTTP, on the demo archive (the browser tests drive the
same pages in Chromium; these run everywhere, also without a browser)."""

from __future__ import annotations

import hashlib
import html
import io
import json
import re
import tarfile
import zipfile
from urllib.parse import quote, unquote

import httpx
import pytest

from tests.conftest import Archive

CRAB = "J053432.0+220052"
MAX_PAGE_BYTES = 100_000


@pytest.fixture(scope="module")
def ids(archive: Archive) -> dict[str, str]:
    """One real id of each kind from the demo archive."""
    obsid, rev, start = archive.rows(
        "SELECT obsid, rev_start, start_time FROM isla.observations "
        "WHERE target_name = 'Crab' ORDER BY start_time LIMIT 1"
    )[0]
    scw = archive.rows(
        "SELECT scw_id FROM isla.science_windows WHERE obsid = :o AND scw_type = 'pointing' "
        "ORDER BY start_time LIMIT 1",
        o=obsid,
    )[0][0]
    bibcode = archive.rows("SELECT bibcode FROM isla.publications ORDER BY bibcode LIMIT 1")[0][0]
    return {
        "obsid": obsid,
        "revolution": f"{rev:04d}",
        "scw": scw,
        "date": start.date().isoformat(),
        "bibcode": bibcode,
    }


def page_urls(ids: dict[str, str]) -> dict[str, str]:
    """Every page type of the portal."""
    return {
        "landing": "/",
        "search": "/search?q=Cyg",
        "source": f"/sources/{quote(CRAB)}",
        "observation": f"/observations/{ids['obsid']}",
        "revolution": f"/revolutions/{ids['revolution']}",
        "scw": f"/scws/{ids['scw']}",
        "basket": "/basket",
        "query": "/query",
        "help": "/help",
        "help-first-steps": "/help/first-steps",
        "sky": "/sky",
        "sky-hips": "/sky?hips=isgri_exposure",
        "search-grb": "/search?q=GRB+2303&all=1",
        "timeseries-index": "/timeseries",
        "timeseries": "/timeseries/spiacs_50ms",
        "timeseries-irem": "/timeseries/irem?parameter=S32",
        "grbs": "/grbs",
        "grb": "/grbs/GRB230307A",
        "maps": "/maps",
        "maps-value": "/maps?map=isgri_exposure&ra=266.4168&dec=-29.0078",
        "contributed-index": "/contributed",
        "contributed": "/contributed/crab-pulsar-timing-sim",
        "publications": "/publications",
        "publication": f"/publications/{quote(ids['bibcode'], safe='')}",
        "doi": "/doi/isla",
    }


def test_every_page_type_is_small_safe_and_labelled(
    client: httpx.Client, archive: Archive, ids: dict[str, str]
) -> None:
    # Links out: the sky viewers; a DOI landing page's resolver link and its papers on ADS.
    outside = (
        "https://sky.esa.int/",
        "https://aladin.cds.unistra.fr/",
        "https://doi.org/",
        "https://ui.adsabs.harvard.edu/",
    )
    for name, url in page_urls(ids).items():
        page = client.get(url)
        assert page.status_code == 200, (name, page.text[:300])
        assert page.headers["content-type"].startswith("text/html")
        assert len(page.content) < MAX_PAGE_BYTES, (name, len(page.content))
        csp = page.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert page.headers["x-content-type-options"] == "nosniff"
        assert '<label for="q">Search the archive</label>' in page.text
        assert 'id="simulated-banner"' in page.text, name  # the demo archive is simulated
        # Nothing is loaded from another site; links out only to the sites named above.
        for link in re.findall(r'(?:src|href)="(https?://[^"]+)"', page.text):
            assert link.startswith((archive.base_url, *outside)), (name, link)


def test_unknown_things_are_404_pages(client: httpx.Client) -> None:
    for url in (
        "/sources/J000000.0+000000",
        "/observations/99999999999",
        "/observations/12",
        "/revolutions/9999",
        "/scws/999999999990",
        "/help/nothing",
        "/timeseries/nothing",
        "/grbs/GRB991231Z",
        "/contributed/no-such-collection",
        "/publications/2099NOPE...1..1X",
    ):
        page = client.get(url)
        assert page.status_code == 404, url
        assert page.headers["content-type"].startswith("text/html")
        assert "Search the archive" in page.text


def first_source(client: httpx.Client, q: str) -> str | None:
    result = client.get("/api/search", params={"q": q}).json()
    return result["sources"][0]["source_id"] if result["sources"] else None


def test_search_finds_the_crab_by_name_alias_id_and_position(client: httpx.Client) -> None:
    for q in (
        "Crab",
        "crab nebula",
        "M1",
        CRAB,
        "83.63 22.01",
        "05h34m31.9s +22d00m52s",
        "05:34:31.9 +22:00:52",
        "l=184.56 b=-5.78",
    ):
        assert first_source(client, q) == CRAB, q


def test_search_by_identifiers_and_time(client: httpx.Client, ids: dict[str, str]) -> None:
    scw = client.get("/api/search", params={"q": ids["scw"]}).json()
    assert [s["scw_id"] for s in scw["scws"]] == [ids["scw"]]
    assert scw["go"] == f"/scws/{ids['scw']}"
    obs = client.get("/api/search", params={"q": ids["obsid"]}).json()
    assert obs["observations"][0]["obsid"] == ids["obsid"]
    assert obs["go"] == f"/observations/{ids['obsid']}"
    rev = client.get("/api/search", params={"q": ids["revolution"]}).json()
    assert [r["revolution"] for r in rev["revolutions"]] == [int(ids["revolution"])]
    day = client.get("/api/search", params={"q": ids["date"]}).json()
    assert int(ids["revolution"]) in [r["revolution"] for r in day["revolutions"]]
    assert ids["obsid"] in [o["obsid"] for o in day["observations"]]
    assert day["scws"], "a date lists the science windows of that day"


def test_search_finds_bursts_by_name_its_beginning_and_their_day(
    client: httpx.Client, archive: Archive
) -> None:
    name, trigger = archive.rows(
        "SELECT grb_name, trigger_time FROM isla.grbs WHERE NOT simulated ORDER BY grb_name LIMIT 1"
    )[0]
    page = f"/grbs/{quote(name.replace(' ', ''), safe='')}"
    for entry in (name, name.replace(" ", "").lower(), name.removeprefix("GRB ")):
        found = client.get("/api/search", params={"q": entry}).json()
        assert [g["grb_name"] for g in found["grbs"]] == [name], entry
        assert found["go"] == page, entry
    typing = client.get("/api/search", params={"q": name[:8]}).json()
    assert name in [g["grb_name"] for g in typing["grbs"]] and typing["go"] is None
    day = client.get("/api/search", params={"q": trigger.date().isoformat()}).json()
    assert name in [g["grb_name"] for g in day["grbs"]]
    # The search form goes straight to the burst's page.
    redirect = client.get("/search", params={"q": name}, follow_redirects=False)
    assert redirect.status_code == 303 and redirect.headers["location"].endswith(page)


def test_search_says_nothing_found_and_suggests_names(client: httpx.Client) -> None:
    result = client.get("/api/search", params={"q": "Crabb"}).json()
    assert not result["sources"] and not result["observations"]
    assert "Crab" in result["did_you_mean"]
    page = client.get("/search", params={"q": "Crabb"})
    assert page.status_code == 200
    assert "Nothing found" in page.text and "Did you mean" in page.text
    assert 'href="/search?q=Crab"' in page.text
    assert client.get("/api/search", params={"q": "x" * 201}).status_code == 400
    assert client.get("/search", params={"q": "x" * 201, "all": "1"}).status_code == 200


def test_search_form_goes_straight_to_an_obvious_answer(client: httpx.Client) -> None:
    answer = client.get("/search", params={"q": "Crab"})
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/sources/{quote(CRAB)}"
    listing = client.get("/search", params={"q": "Crab", "all": "true"})
    assert listing.status_code == 200 and CRAB in listing.text


def test_source_page_lists_its_stored_products_with_working_links(
    client: httpx.Client, archive: Archive
) -> None:
    from services.products.portal.store import SOURCE_PAGE_ROWS

    page = client.get(f"/sources/{quote(CRAB)}").text
    assert "<h1>Crab</h1>" in page
    assert "Open in ESASky" in page and "Open in Aladin" in page
    products = dict(
        archive.rows("SELECT product_id, file_name FROM isla.products WHERE source_id = :s", s=CRAB)
    )
    listed = {
        unquote(m) for m in re.findall(r'<td><a href="/products/files/([^"]+)"[^>]*download>', page)
    }
    # The first products of the source are listed (mission and epoch spectra, time series and
    # images before time-resolved spectra); the page points to all of them.
    assert len(listed) == min(len(products), SOURCE_PAGE_ROWS)
    assert listed <= set(products)
    assert any("mission" in p and p.startswith("spectrum/") for p in listed)
    for product_id in listed:
        assert products[product_id] in page
    if len(products) > SOURCE_PAGE_ROWS:
        assert f'href="/products/sources/{quote(CRAB)}"' in page
    head = client.head(f"/products/files/{quote(sorted(listed)[0])}")
    assert head.status_code == 200 and int(head.headers["content-length"]) > 0
    # Each listed product with a registered DOI shows it, linked to its landing page.
    dois = dict(
        archive.rows(
            "SELECT target, doi FROM isla.dois WHERE kind = 'product' AND target = ANY(:ids)",
            ids=sorted(listed),
        )
    )
    assert dois, "the demo registers a DOI for every product"
    shown = re.findall(r'<a href="(/doi/[^"]+)" data-doi="([^"]+)"', page)
    assert sorted(d for _, d in shown) == sorted(dois.values())
    landing, doi = shown[0]
    answer = client.get(landing)
    assert answer.status_code == 200 and doi in answer.text
    # Light-curve downloads that work without JavaScript.
    for fmt in ("fits", "votable", "csv"):
        match = re.search(rf'href="([^"]*lightcurves[^"]*format={fmt})"', page)
        assert match, fmt
        assert client.get(match[1].replace("&amp;", "&")).status_code == 200


def test_scw_page_lists_its_raw_files(client: httpx.Client, ids: dict[str, str]) -> None:
    page = client.get(f"/scws/{ids['scw']}").text
    files = client.get(f"/raw/scw/{ids['scw']}").json()["files"]
    for entry in files:
        assert f"/raw/scw/{ids['scw']}/files/{entry['name']}" in page
        assert entry["sha256"][:12] in page
    assert f'href="/raw/scw/{ids["scw"]}.tar"' in page


def test_static_bundle_is_served_and_confined(client: httpx.Client) -> None:
    script = client.get("/static/portal.js")
    assert script.status_code == 200, "run `make install` to build the portal's scripts"
    assert "javascript" in script.headers["content-type"]
    assert client.get("/static/portal.css").headers["content-type"].startswith("text/css")
    assert client.get("/static/../routes.py").status_code == 404
    assert client.get("/static/%2e%2e/routes.py").status_code == 404


def test_observation_page_offers_all_its_science_windows(
    client: httpx.Client, archive: Archive, ids: dict[str, str]
) -> None:
    page = client.get(f"/observations/{ids['obsid']}").text
    match = re.search(r"data-basket-add='([^']+)'", page)
    assert match
    item = json.loads(html.unescape(match[1]))
    rows = archive.rows(
        "SELECT scw_id, raw_size FROM isla.science_windows WHERE obsid = :o ORDER BY start_time",
        o=ids["obsid"],
    )
    assert item["scws"] == [r[0] for r in rows]
    assert item["size"] == sum(r[1] for r in rows)
    assert f"/raw/archive.tar?obsid={ids['obsid']}" in page


def test_sky_page_and_its_data(client: httpx.Client, archive: Archive) -> None:
    page = client.get("/sky")
    assert page.status_code == 200
    # Only the sky page lets the browser compile Aladin Lite's WebAssembly.
    assert "'wasm-unsafe-eval'" in page.headers["content-security-policy"]
    assert "'wasm-unsafe-eval'" not in client.get("/").headers["content-security-policy"]
    assert '<script type="module" src="/static/sky.js">' in page.text
    data = client.get("/api/sky").json()
    detected = archive.scalar(
        "SELECT count(*) FROM isla.sources WHERE det_isgri OR det_jemx OR det_spi OR det_picsit"
    )
    assert len(data["sources"]) == min(detected, 5000)
    assert len(data["observations"]) == archive.scalar("SELECT count(*) FROM isla.observations")
    assert CRAB in {s["source_id"] for s in data["sources"]}
    assert client.get("/static/sky.js").status_code == 200


def _attr(page: str, name: str) -> str:
    match = re.search(rf'{name}="([^"]*)"', page)
    assert match, name
    return html.unescape(match[1])


def test_timeseries_index_finds_the_real_grb_file(client: httpx.Client, archive: Archive) -> None:
    from shared.timeseries.datasets import DATASETS

    index = client.get("/timeseries").text
    for ds in DATASETS:
        assert f'href="/timeseries/{ds}"' in index, ds
    match = re.search(r'<a href="([^"]+)">GRB 230307A \(real data\)</a>', index)
    assert match, "the real GRB 230307A file is findable from the index"
    t_start, t_stop = archive.rows(
        "SELECT t_start, t_stop FROM isla.timeseries_files WHERE NOT simulated "
        "AND dataset = 'spiacs_50ms'"
    )[0]
    window = client.get(html.unescape(match[1]))
    assert window.status_code == 200
    start, stop = float(_attr(window.text, "data-start")), float(_attr(window.text, "data-stop"))
    # The window opens on the real file, with a small margin either side.
    assert start < t_start < t_stop < stop
    assert (stop - start) < 2 * (t_stop - t_start)


def test_timeseries_page_labels_stretches_and_downloads_its_window(
    client: httpx.Client, archive: Archive
) -> None:
    files = archive.rows(
        "SELECT revolution, simulated, file_name FROM isla.timeseries_files "
        "WHERE dataset = 'spiacs_50ms' ORDER BY t_start"
    )
    page = client.get("/timeseries/spiacs_50ms").text
    rows = re.findall(r'<tr data-t-start="[^"]+" data-t-stop="[^"]+" data-simulated="(\w+)"', page)
    assert rows == ["true" if sim else "false" for _, sim, _ in files]
    assert page.count('class="tag sim"') == sum(1 for _, sim, _ in files if sim)
    assert page.count('class="tag real"') == sum(1 for _, sim, _ in files if not sim)
    # The derived datasets label the same stretches and link the delivered files.
    derived = client.get("/timeseries/spiacs_10s").text
    assert "/products/timeseries/spiacs_50ms/files/" in derived
    # A window given in UTC: its HAPI CSV and FITS cut answer with exactly that range.
    page = client.get(
        "/timeseries/spiacs_50ms",
        params={"start": "2023-03-07T15:44:00Z", "stop": "2023-03-07T15:44:10Z"},
    ).text
    csv_url = html.unescape(re.search(r'data-ts-link="csv" href="([^"]+)"', page)[1])  # type: ignore[index]
    fits_url = html.unescape(re.search(r'data-ts-link="fits"[^>]* href="([^"]+)"', page)[1])  # type: ignore[index]
    lines = client.get(csv_url).text.splitlines()
    assert lines and all("2023-03-07T15:44:0" in line[:20] for line in lines)
    assert 95 <= len(lines) <= 105  # the real file's ~0.1 s samples over 10 s
    fits = client.get(fits_url)
    assert fits.status_code == 200 and fits.content[:6] == b"SIMPLE"
    assert b"SIMDATA =                    T" not in fits.content[:28800]
    assert 'data-samp="fits-table"' in page


def test_timeseries_page_refuses_bad_windows(client: httpx.Client) -> None:
    for params in (
        {"start": "yesterday"},
        {"start": "2023-03-08", "stop": "2023-03-07"},
        {"parameter": "nothing"},
    ):
        page = client.get("/timeseries/spiacs_50ms", params=params)
        assert page.status_code == 400, params
        assert "Search the archive" in page.text


def test_navigation_lists_the_families_and_each_answers(client: httpx.Client) -> None:
    from services.products.portal.routes import NAV, NAV_END

    page = client.get("/timeseries").text
    for path, label in NAV + NAV_END:
        assert f'href="{path}"' in page, label
        assert client.get(path).status_code == 200, path
    assert 'href="/timeseries" aria-current="page"' in page


def test_samp_is_offered_on_downloads_and_only_the_local_hub_is_reachable(
    client: httpx.Client,
) -> None:
    source = client.get(f"/sources/{quote(CRAB)}")
    assert 'data-samp="fits-table"' in source.text  # spectra, light curves
    assert 'data-samp="votable"' in source.text
    assert 'data-samp="votable"' in client.get("/query").text
    csp = source.headers["content-security-policy"]
    assert "connect-src 'self' http://localhost:21012;" in csp


def test_grb_list_filters_with_a_plain_form(client: httpx.Client, archive: Archive) -> None:
    every = client.get("/grbs").text
    (total,) = archive.rows("SELECT count(*) FROM isla.grbs")[0]
    names = [n for (n,) in archive.rows("SELECT grb_name FROM isla.grbs")]
    assert f"{total} bursts" in every
    for name in names[:100]:
        assert f">{name}</a>" in every, name
    assert 'href="/grbs/GRB230307A"' in every
    # The form's fields are the API's parameters; empty fields are no bounds.
    empty = dict.fromkeys(("ra", "dec", "radius", "t90_min", "t90_max", "alert_type"), "")
    march = client.get("/grbs", params={"start": "2023-03-07", "end": "2023-03-08", **empty})
    assert march.status_code == 200
    assert "1 burst." in march.text and ">GRB 230307A</a>" in march.text
    assert "real data" in march.text
    real = client.get("/grbs", params={"simulated": "false"}).text
    assert ">GRB 230307A</a>" in real and 'class="tag sim"' not in real
    cone = client.get("/grbs", params={"ra": "60.8", "dec": "-75.4", "radius": "1"}).text
    assert ">GRB 230307A</a>" in cone
    for bad in ({"ra": "60"}, {"t90_min": "abc"}, {"start": "yesterday"}, {"alert_type": "x"}):
        page = client.get("/grbs", params=bad)
        assert page.status_code == 400, bad
        assert "Search the archive" in page.text


def test_grb_page_shows_the_real_burst_with_its_provenance_and_data(
    client: httpx.Client,
) -> None:
    api = client.get("/products/grbs/GRB230307A").json()
    page = client.get("/grbs/GRB%20230307A")
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert "real data" in text
    assert api["position"]["source"] in text and api["trigger"]["source"] in text
    assert "60.85935" in text and "-75.37880" in text
    assert 'id="grb-error"' in text and "3.4″" in text
    # The SPI-ACS window: the explorer opened on T0 +- 300 s, and the HAPI cut.
    window = "start=2023-03-07T15%3A39%3A06Z&amp;stop=2023-03-07T15%3A49%3A06Z"
    assert f"/timeseries/spiacs_50ms?{window}" in page.text
    assert "real data" in text.split('id="grb-spiacs"')[1].split("</p>")[0]
    assert 'data-timeseries="spiacs_50ms"' in page.text  # the explorer's plot, on this window
    assert client.get(html.unescape(api["spiacs"]["links"]["hapi_data"])).status_code == 200
    # The raw data selections are the API's links, and they answer.
    for link in api["raw_data"]["in_isgri_field_of_view"].values():
        if link.startswith("/raw/"):
            assert html.escape(link) in page.text, link
    for scws in api["fields_of_view"].values():
        for scw in scws["scws"][:3]:
            assert f'href="/scws/{scw["scw_id"]}"' in page.text


def test_simulated_grb_page_lists_its_fits_and_products(
    client: httpx.Client, archive: Archive
) -> None:
    rows = archive.rows(
        "SELECT g.grb_name FROM isla.grbs g WHERE g.simulated AND EXISTS "
        "(SELECT 1 FROM isla.grb_spectral_fits f WHERE f.grb_name = g.grb_name) LIMIT 1"
    )
    if not rows:
        pytest.skip("the demo drew no burst bright enough for spectral fits")
    name = rows[0][0]
    api = client.get(f"/products/grbs/{quote(name)}").json()
    page = client.get(f"/grbs/{quote(name.replace(' ', ''))}").text
    assert 'class="tag sim">simulated' in page
    assert page.count('<tr><td class="n">') >= len(api["spectral_fits"])
    for product in api["products"]:
        assert f'href="{product["url"]}"' in page
        assert client.head(product["url"]).status_code == 200


def test_maps_page_lists_every_map_with_its_hips_and_looks_up_values(
    client: httpx.Client,
) -> None:
    described = client.get("/products/maps").json()["maps"]
    assert described
    page = client.get("/maps").text
    for m in described:
        assert f"<td>{m['map_id']}</td>" in page, m["map_id"]
        assert html.escape(m["hips_url"]) in page
        assert f"/sky?hips={m['map_id']}" in page
    assert page.count("Open in ESASky") >= len(described)
    assert page.count("Open in Aladin") >= len(described)
    assert 'class="tag sim">simulated' in page  # the demo's maps are simulated
    # The value form, answered on the server: the same value as the API's.
    where = {"map": "isgri_exposure", "ra": "266.4168", "dec": "-29.0078"}
    api = client.get(
        "/products/maps/isgri_exposure/value", params={"ra": where["ra"], "dec": where["dec"]}
    ).json()
    answer = client.get("/maps", params=where).text
    shown = answer.split('id="map-value"')[1].split("</p>")[0]
    if api["covered"]:
        assert f"<strong>{api['value']:.6g}</strong>" in shown
    else:
        assert "no value" in shown
    assert f"HEALPix pixel {api['healpix_pixel']}" in shown
    assert client.get("/maps", params={**where, "map": "nothing"}).status_code == 404
    for bad in ({"dec": "100"}, {"ra": "x"}):
        assert client.get("/maps", params={**where, **bad}).status_code == 400, bad


def test_sky_page_offers_the_archives_hips(client: httpx.Client) -> None:
    described = client.get("/products/maps").json()["maps"]
    page = client.get("/sky").text
    for m in described:
        assert f'<option value="{m["map_id"]}" data-url="/hips/{m["map_id"]}"' in page
    chosen = client.get("/sky", params={"hips": "isgri_exposure"}).text
    assert 'value="isgri_exposure" data-url="/hips/isgri_exposure" selected' in chosen
    assert client.get("/hips/isgri_exposure/properties").status_code == 200


def test_contributed_pages_list_collections_and_their_files(client: httpx.Client) -> None:
    listed = client.get("/products/contributed").json()
    assert listed["count"] >= 1
    index = client.get("/contributed").text
    for c in listed["collections"]:
        assert f'href="/contributed/{c["collection"]}"' in index
        assert html.escape(c["title"]) in index and c["licence"] in index
        one = client.get(f"/products/contributed/{c['collection']}").json()
        page = client.get(f"/contributed/{c['collection']}")
        assert page.status_code == 200
        text = page.text
        for author in one["authors"]:
            assert html.escape(author) in text
        assert f'id="contributed-licence">{one["licence"]}<' in text
        assert ('class="tag sim">simulated' in text) == one["simulated"]
        for f in one["files"]:
            assert f'href="{html.escape(f["url"])}"' in text, f["file_name"]
        assert client.get(one["files"][0]["url"]).status_code == 200
        if one["documentation"]:
            assert f'href="{html.escape(one["documentation"]["url"])}"' in text
        if one["software"]:
            assert f'href="{html.escape(one["software"]["url"])}"' in text
            assert one["software"]["licence"] in text


def test_papers_pages_and_the_papers_of_an_observation_and_a_source(
    client: httpx.Client,
) -> None:
    listed = client.get("/products/publications").json()["papers"]
    assert listed
    index = client.get("/publications").text
    for paper in listed:
        assert f'href="/publications/{quote(paper["bibcode"], safe="")}"' in index
        assert html.escape(paper["title"]) in index
    # Observation 06340000001 always has a paper in the demo.
    used = client.get("/products/publications/observations/06340000001").json()["papers"]
    assert used
    obs_page = client.get("/observations/06340000001").text
    assert "Papers that used these data" in obs_page
    for paper in used:
        assert f'href="/publications/{quote(paper["bibcode"], safe="")}"' in obs_page
    one = client.get(f"/publications/{quote(used[0]['bibcode'], safe='')}")
    assert one.status_code == 200
    data = client.get(f"/products/publications/{quote(used[0]['bibcode'], safe='')}").json()
    assert 'href="/observations/06340000001"' in one.text
    for rev in data["revolutions"]:
        assert f'href="/revolutions/{rev["revolution"]}"' in one.text
        if rev["landing"]:
            landing = "/doi/" + rev["landing"].split("/doi/", 1)[1]
            assert f'href="{landing}"' in one.text
            assert client.get(landing).status_code == 200
    source = data["sources"][0]["source_id"] if data["sources"] else CRAB
    by_source = client.get(f"/products/publications/sources/{quote(source)}").json()["papers"]
    src_page = client.get(f"/sources/{quote(source)}").text
    assert "Papers that used these data" in src_page
    for paper in by_source[:50]:
        assert f'href="/publications/{quote(paper["bibcode"], safe="")}"' in src_page


def test_a_bundle_of_product_files_verifies_its_checksums(
    client: httpx.Client, archive: Archive
) -> None:
    rows = archive.rows(
        "SELECT product_id, file_name, sha256 FROM isla.products WHERE source_id = :s "
        "AND kind IN ('spectrum', 'long_timeseries') ORDER BY product_id LIMIT 3",
        s=CRAB,
    )
    ids = [r[0] for r in rows]
    answer = client.post("/products/bundle", data={"id": ids})
    assert answer.status_code == 200
    assert int(answer.headers["content-length"]) == len(answer.content)  # progress can show
    with tarfile.open(fileobj=io.BytesIO(answer.content)) as tar:
        names = tar.getnames()
        assert names[0] == "SHA256SUMS" and len(names) == len(ids) + 1
        sums = (tar.extractfile("SHA256SUMS") or io.BytesIO()).read().decode().splitlines()
        for line in sums:
            digest, name = line.split("  ", 1)
            data = (tar.extractfile(name) or io.BytesIO()).read()
            assert hashlib.sha256(data).hexdigest() == digest, name
    assert sorted(d for d, _ in (line.split("  ", 1) for line in sums)) == sorted(
        r[2] for r in rows
    )
    zipped = client.post("/products/bundle", data={"id": ids, "format": "zip"})
    with zipfile.ZipFile(io.BytesIO(zipped.content)) as z:
        assert z.namelist()[0] == "SHA256SUMS" and len(z.namelist()) == len(ids) + 1
    unknown = client.post("/products/bundle", data={"id": [ids[0], "spectrum/NOPE"]})
    assert unknown.status_code == 400 and "spectrum/NOPE" in unknown.json()["detail"]
    assert client.post("/products/bundle", data={}).status_code == 400
