"""The portal in a real browser: search to a source, the light curve's switches, from a time
range to the raw data, the basket's bundles, the query page, accessibility (axe-core) at phone
and desktop widths, and the screenshots of every page type (``make screenshots``)."""

from __future__ import annotations

import html
import io
import os
import re
import subprocess
import tarfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Page, Route, expect

from tests.browser.conftest import ROOT, Watch
from tests.conftest import Archive

CRAB = "J053432.0+220052"
CRAB_PAGE = f"/sources/{quote(CRAB)}"


@pytest.fixture(scope="module")
def ids(archive: Archive) -> dict[str, str]:
    """One real id of each kind from the demo archive."""
    obsid, rev = archive.rows(
        "SELECT obsid, rev_start FROM isla.observations WHERE target_name = 'Crab' "
        "ORDER BY start_time LIMIT 1"
    )[0]
    scw = archive.rows(
        "SELECT scw_id FROM isla.science_windows WHERE obsid = :o AND scw_type = 'pointing' "
        "ORDER BY start_time LIMIT 1",
        o=obsid,
    )[0][0]
    bibcode = archive.rows("SELECT bibcode FROM isla.publications ORDER BY bibcode LIMIT 1")[0][0]
    return {"obsid": obsid, "revolution": f"{rev:04d}", "scw": scw, "bibcode": bibcode}


def page_types(ids: dict[str, str]) -> dict[str, str]:
    """One URL of every page type."""
    return {
        "landing": "/",
        "search": "/search?q=Cyg",
        "source": CRAB_PAGE,
        "observation": f"/observations/{ids['obsid']}",
        "revolution": f"/revolutions/{ids['revolution']}",
        "scw": f"/scws/{ids['scw']}",
        "basket": "/basket",
        "query": "/query",
        "help-index": "/help",
        "help": "/help/first-steps",
        "sky": "/sky",
        "sky-hips": "/sky?hips=isgri_exposure",
        "timeseries-index": "/timeseries",
        "timeseries": "/timeseries/spiacs_50ms",
        "grbs": "/grbs",
        "grb": "/grbs/GRB230307A",
        "maps": "/maps?map=isgri_exposure&ra=266.4168&dec=-29.0078",
        "contributed-index": "/contributed",
        "contributed": "/contributed/crab-pulsar-timing-sim",
        "publications": "/publications",
        "publication": f"/publications/{quote(ids['bibcode'], safe='')}",
        "doi": "/doi/isla",
        "not-found": "/sources/J000000.0+000000",
    }


def plot_ready(page: Page) -> Any:
    """The light-curve plot, once its data have been drawn."""
    plot = page.locator("#lc-plot")
    expect(plot).to_have_attribute("data-points", re.compile(r"^\d+$"))
    return plot


def test_search_as_you_type_then_enter_opens_the_source_page(page: Page) -> None:
    page.goto("/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to the content"
    box = page.get_by_label("Search the archive")
    box.fill("Crab")
    expect(page.locator("#q-results a", has_text="Crab").first).to_be_visible()
    box.press("Enter")
    page.wait_for_url(f"**{CRAB_PAGE}")
    expect(page.locator("h1")).to_have_text("Crab")
    expect(page.locator("#simulated-banner")).to_be_visible()


def test_switching_band_and_binning_redraws_the_light_curve(
    page: Page, client: httpx.Client
) -> None:
    page.goto(CRAB_PAGE)
    plot = plot_ready(page)
    assert page.locator("#lc-plot canvas").count() == 1

    def api_points(band: str, binning: str, instrument: str = "ISGRI") -> int:
        params = {"instrument": instrument, "band": band, "binning": binning, "format": "json"}
        return len(client.get(f"/products/lightcurves/{CRAB}", params=params).json()["data"])

    scw_points = int(plot.get_attribute("data-points") or 0)
    assert scw_points == api_points("28_40", "scw")

    with page.expect_response(lambda r: "lightcurves" in r.url and "band=60_200" in r.url):
        page.get_by_label("ISGRI 60–200 keV").check()
    expect(plot).to_have_attribute("data-band", "60_200")

    with page.expect_response(lambda r: "lightcurves" in r.url and "binning=revolution" in r.url):
        page.get_by_label("revolution", exact=True).check()
    expect(plot).to_have_attribute("data-binning", "revolution")
    revolution_points = api_points("60_200", "revolution")
    expect(plot).to_have_attribute("data-points", str(revolution_points))
    assert revolution_points < scw_points

    # Sub-ScW bins are offered at the widths of the band's stored sub-ScW light curves.
    with page.expect_response(lambda r: "lightcurves" in r.url and "band=28_40" in r.url):
        page.get_by_label("ISGRI 28–40 keV").check()
    widths = [
        v
        for v in page.locator("input[name=binning]").evaluate_all("els => els.map(e => e.value)")
        if v not in ("scw", "revolution")
    ]
    assert widths, "the Crab has stored sub-ScW light curves in ISLA's band"
    with page.expect_response(lambda r: "lightcurves" in r.url and f"binning={widths[0]}" in r.url):
        page.get_by_label(f"{widths[0]} s", exact=True).check()
    expect(plot).to_have_attribute("data-points", str(api_points("28_40", widths[0])))

    # JEM-X has no sub-ScW choice for this band unless the source is bright in it; the
    # binning falls back to one that exists, and the table view follows the plot.
    with page.expect_response(lambda r: "lightcurves" in r.url and "JEM-X" in r.url):
        page.get_by_label("JEM-X 3–20 keV").check()
    expect(plot).to_have_attribute("data-band", "3_20")
    binning = plot.get_attribute("data-binning") or "scw"
    points = api_points("3_20", binning, "JEM-X")
    expect(plot).to_have_attribute("data-points", str(points))
    page.get_by_text("Table view of the light curve").click()
    expect(page.locator("#lc-table tbody tr")).to_have_count(min(points, 2000))
    expect(page.locator("#lc-summary")).to_contain_text("JEM-X 3–20 keV")

    # The stored spectra are drawn too (channels with counts, on log axes).
    expect(page.locator("#spec-plot")).to_have_attribute("data-points", re.compile(r"^[1-9]\d*$"))


def test_omc_light_curves_are_magnitudes(
    page: Page, client: httpx.Client, archive: Archive
) -> None:
    source = archive.rows("SELECT source_id FROM isla.omc_points LIMIT 1")[0][0]
    omc = client.get(f"/products/lightcurves/{source}", params={"instrument": "OMC"}).json()
    page.goto(f"/sources/{quote(source)}")
    plot = plot_ready(page)
    with page.expect_response(lambda r: "lightcurves" in r.url and "instrument=OMC" in r.url):
        page.get_by_label("OMC V band").check()
    expect(plot).to_have_attribute("data-points", str(len(omc["data"])))
    expect(page.locator("#lc-summary")).to_contain_text("mean V magnitude")


def test_a_time_range_on_the_plot_yields_its_science_windows(
    page: Page, client: httpx.Client
) -> None:
    page.goto(CRAB_PAGE)
    plot_ready(page)
    over = page.locator("#lc-plot .u-over")
    over.scroll_into_view_if_needed()
    box = over.bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.05, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.3, y, steps=8)
    page.mouse.up()
    table = page.locator("#raw-scws")
    expect(table).to_be_visible()
    start = page.locator("[data-raw-start]").input_value()
    end = page.locator("[data-raw-end]").input_value()
    assert start < end
    shown = page.locator("#raw-scws tbody tr td:first-child").all_text_contents()
    manifest = client.get(
        "/raw/manifest.json",
        params={"source": CRAB, "start": start, "end": end, "instrument": "isgri"},
    ).json()
    assert shown == [s["scw_id"] for s in manifest["scws"]]
    assert shown, "the selected range holds science windows"

    tar_url = page.locator("a[data-raw-tar]").get_attribute("href")
    assert tar_url
    head = client.head(tar_url)
    assert head.status_code == 200
    length = int(head.headers["content-length"])
    body = client.get(tar_url)
    assert body.status_code == 200 and len(body.content) == length
    with tarfile.open(fileobj=io.BytesIO(body.content)) as tar:
        names = tar.getnames()
    assert names[0] == "SHA256SUMS"
    for scw in shown:
        assert any(f"/{scw}." in n for n in names), scw


def test_the_basket_bundles_verify_their_checksums(
    page: Page, ids: dict[str, str], tmp_path: Path
) -> None:
    page.goto(f"/scws/{ids['scw']}")
    page.get_by_role("button", name="Add to the basket").click()
    expect(page.get_by_role("button", name="✓ in the basket")).to_be_visible()
    page.goto(CRAB_PAGE)
    adds = page.locator("button[data-basket-add]")
    adds.nth(0).click()
    adds.nth(1).click()
    expect(page.locator("[data-basket-count]")).to_have_text("(3)")

    page.goto("/basket")
    expect(page.locator("#basket-table tbody tr")).to_have_count(3)
    expect(page.locator("#basket-total")).not_to_be_empty()
    script = page.locator("#basket-script").text_content() or ""
    (tmp_path / "products").mkdir()
    (tmp_path / "products/isla-products.sh").write_text(script)
    run = subprocess.run(
        ["sh", "isla-products.sh"],
        cwd=tmp_path / "products",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count(": OK") == 2

    # The product files as one streamed tar, checksums first.
    with page.expect_download() as bundle_info:
        page.get_by_role("button", name="Products: one tarball").click()
    bundle_path = tmp_path / "products.tar"
    bundle_info.value.save_as(bundle_path)
    with tarfile.open(bundle_path) as tar:
        assert tar.getnames()[0] == "SHA256SUMS"
        tar.extractall(tmp_path / "bundle", filter="data")
    verify = subprocess.run(
        ["sha256sum", "-c", "SHA256SUMS"], cwd=tmp_path / "bundle", capture_output=True, text=True
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert verify.stdout.count(": OK") == 2

    with page.expect_download() as download_info:
        page.get_by_role("button", name="Raw data: one tarball").click()
    tar_path = tmp_path / "raw.tar"
    download_info.value.save_as(tar_path)
    with tarfile.open(tar_path) as tar:
        tar.extractall(tmp_path / "raw", filter="data")
    check = subprocess.run(
        ["sha256sum", "-c", "SHA256SUMS"], cwd=tmp_path / "raw", capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert ids["scw"] in check.stdout

    page.get_by_role("button", name="Empty the basket").click()
    expect(page.locator("#basket-empty")).to_be_visible()


def test_query_page_runs_an_example_and_offers_downloads(page: Page, client: httpx.Client) -> None:
    page.goto("/query")
    examples = page.get_by_label("Examples")
    expect(examples.locator("option")).not_to_have_count(1)
    examples.select_option(index=1)
    assert "SELECT" in page.get_by_label("ADQL query").input_value().upper()
    page.get_by_role("button", name="Run the query").click()
    expect(page.locator("#query-status")).to_contain_text("rows")
    expect(page.locator("#query-result tbody tr").first).to_be_visible()
    for fmt in ("votable", "csv", "fits"):
        href = page.locator(f"#query-downloads a[data-format={fmt}]").get_attribute("href")
        assert href and f"FORMAT={fmt}" in href
        assert client.get(href).status_code == 200, fmt


def test_sky_page_draws_the_catalogue_offline(page: Page, client: httpx.Client) -> None:
    sky = client.get("/api/sky").json()
    page.goto("/sky")
    viewer = page.locator("#aladin")
    expect(viewer).to_have_attribute("data-sources", str(len(sky["sources"])), timeout=20_000)
    expect(viewer).to_have_attribute("data-observations", str(len(sky["observations"])))
    assert viewer.locator("canvas").count() >= 1
    expect(page.locator("#sky-status")).to_contain_text(f"{len(sky['sources'])} sources")
    page.get_by_role("button", name="Zoom in").click()
    page.get_by_role("button", name="Zoom out").click()
    # The page fixture fails the test on console errors or requests outside the archive.


def sky_image(page: Page) -> Any:
    """The sky viewer's pixels as they are on screen (RGB array)."""
    box = page.locator("#aladin").bounding_box()
    assert box is not None
    shot = page.screenshot(clip=box, timeout=60_000)
    return np.asarray(Image.open(io.BytesIO(shot)).convert("RGB"), dtype=np.int16)


SKY_WAIT_MS = 120_000
"""How long the sky tests wait for the viewer: Chromium draws WebGL in software here
(SwiftShader), which on a busy machine keeps the page's thread busy for many seconds."""


def test_sky_page_draws_the_archives_hips(page: Page) -> None:
    page.set_default_timeout(SKY_WAIT_MS)
    hips: list[tuple[int, str]] = []
    page.on("response", lambda r: hips.append((r.status, r.url)) if "/hips/" in r.url else None)
    page.goto("/sky")
    choice = page.locator("select[name=hips]")
    expect(choice).to_have_value("")  # a blank sky until a map is chosen
    viewer = page.locator("#aladin")
    expect(viewer).to_have_attribute("data-sources", re.compile(r"^\d+$"), timeout=SKY_WAIT_MS)
    viewer.scroll_into_view_if_needed()
    blank = sky_image(page)
    # Choosing a map loads its HiPS from the archive: properties, coverage (Moc.fits, so that
    # no tile without data is asked for) and the Allsky of the low orders.
    with page.expect_response(lambda r: r.url.endswith("/Norder3/Allsky.png")):
        choice.select_option("isgri_exposure")
    expect(viewer).to_have_attribute("data-hips", "isgri_exposure", timeout=SKY_WAIT_MS)
    page.wait_for_load_state("networkidle")

    # The map is drawn: the sky behind the overlays changes over much of the view.
    def changed() -> float:
        return float((np.abs(sky_image(page) - blank).sum(axis=2) > 24).mean())

    for _ in range(40):
        if changed() > 0.2:
            break
        page.wait_for_timeout(250)
    assert changed() > 0.2, "the HiPS was not drawn"

    # Zoomed in, the viewer asks for the map's own tiles: each one exists (the coverage map
    # keeps it from asking where there is no data) and is drawn.
    for _ in range(4):
        page.get_by_role("button", name="Zoom in").click()
    page.wait_for_load_state("networkidle")
    viewer.scroll_into_view_if_needed()
    tiles = [u for _, u in hips if re.search(r"/Norder\d+/Dir\d+/Npix\d+\.png$", u)]
    assert tiles, "no tile was loaded"
    got = {u.rsplit("/hips/isgri_exposure/", 1)[-1] for _, u in hips}
    assert {"properties", "Moc.fits", "Norder3/Allsky.png"} <= got
    assert all(status == 200 for status, _ in hips), [h for h in hips if h[0] != 200]
    # The page fixture fails the test on console errors (Aladin Lite's 'unreachable' among them).


def sky_point_without_sources(page: Page) -> tuple[float, float]:
    """A point of the sky viewer (page coordinates) with no catalogue marker near it, so that
    a click there reads the map instead of opening a source's page."""
    box = page.locator("#aladin").bounding_box()
    assert box is not None
    image = sky_image(page)
    # The catalogue's markers are yellow (#f0c040).
    yellow = (image[..., 0] > 180) & (image[..., 1] > 130) & (image[..., 2] < 110)
    height, width = yellow.shape
    for fy in (0.5, 0.4, 0.6, 0.3, 0.7):
        for fx in (0.5, 0.45, 0.55, 0.4, 0.6, 0.35, 0.65):
            x, y = int(width * fx), int(height * fy)
            if not yellow[max(y - 25, 0) : y + 25, max(x - 25, 0) : x + 25].any():
                return box["x"] + x, box["y"] + y
    raise AssertionError("no point of the sky view is free of catalogue markers")


def test_clicking_the_sky_reads_the_maps_value_there(page: Page, client: httpx.Client) -> None:
    page.set_default_timeout(SKY_WAIT_MS)
    page.goto("/sky?hips=isgri_exposure")
    viewer = page.locator("#aladin")
    expect(viewer).to_have_attribute("data-sources", re.compile(r"^\d+$"), timeout=SKY_WAIT_MS)
    expect(viewer).to_have_attribute("data-hips", "isgri_exposure", timeout=SKY_WAIT_MS)
    page.wait_for_load_state("networkidle")
    viewer.scroll_into_view_if_needed()
    x, y = sky_point_without_sources(page)
    with page.expect_response(lambda r: "/products/maps/isgri_exposure/value?" in r.url):
        page.mouse.click(x, y)
    shown = page.locator("#sky-value")
    expect(shown).to_have_attribute("data-pixel", re.compile(r"^\d+$"), timeout=SKY_WAIT_MS)
    assert page.url.endswith("/sky?hips=isgri_exposure")  # no source page opened
    ra, dec = shown.get_attribute("data-ra"), shown.get_attribute("data-dec")
    answer = client.get("/products/maps/isgri_exposure/value", params={"ra": ra, "dec": dec}).json()
    # Near the Galactic centre (the view's centre), which INTEGRAL looked at often: the map
    # has a value there.
    assert answer["covered"]
    expect(shown).to_contain_text(f"HEALPix pixel {answer['healpix_pixel']}")
    expect(shown).to_contain_text(answer["unit"])
    value = float(shown.locator("strong").text_content() or "nan")
    assert value == pytest.approx(answer["value"], rel=1e-5)
    # The same position on the maps page (its form works without a pointer).
    page.get_by_role("link", name="on the maps page").click()
    expect(page.locator("#map-value")).to_contain_text(f"HEALPix pixel {answer['healpix_pixel']}")


def test_from_a_source_page_to_the_sky_and_back_by_clicking_the_source(page: Page) -> None:
    page.set_default_timeout(SKY_WAIT_MS)
    page.goto(CRAB_PAGE)
    page.get_by_role("link", name="On this archive's sky").click()
    page.wait_for_url(re.compile(r"/sky\?ra=83\.63\d*&dec=22\.01\d*&fov="))
    viewer = page.locator("#aladin")
    expect(viewer).to_have_attribute("data-sources", re.compile(r"^\d+$"), timeout=SKY_WAIT_MS)
    page.wait_for_load_state("networkidle")
    viewer.scroll_into_view_if_needed()
    # The view is centred on the Crab: its catalogue mark is under the middle of the viewer.
    box = viewer.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_url(f"**{CRAB_PAGE}")


def test_a_burst_is_found_by_name_and_its_error_circle_is_drawn(
    page: Page, client: httpx.Client
) -> None:
    page.goto("/")
    box = page.get_by_label("Search the archive")
    box.fill("GRB 2303")  # a beginning is enough
    expect(page.locator("#q-results a", has_text="GRB 230307A")).to_be_visible()
    box.fill("GRB 230307A")
    expect(page.locator("#q-results")).to_have_attribute("data-query", "GRB 230307A")
    box.press("Enter")
    page.wait_for_url("**/grbs/GRB230307A")
    api = client.get("/products/grbs/GRB230307A").json()
    radius_deg = api["position"]["error_circle"]["radius_arcmin"] / 60
    # The close-up draws the error circle at its true size (SVG units per degree)...
    circle = page.locator("#grb-error-plot [data-error-circle]")
    expect(circle).to_be_visible()
    scale = float(circle.get_attribute("data-scale") or 0)
    assert float(circle.get_attribute("r") or 0) == pytest.approx(radius_deg * scale, rel=1e-3)
    # ...large enough to see: most of the plot's width on screen.
    shown = circle.bounding_box()
    plot = page.locator("#grb-error-plot").bounding_box()
    assert shown is not None and plot is not None
    assert 0.4 * plot["width"] < shown["width"] < plot["width"]
    expect(page.locator("#grb-inside")).to_contain_text("error circle")


def test_from_the_grb_list_to_its_spiacs_light_curve(page: Page) -> None:
    page.goto("/grbs")
    page.locator("select[name=simulated]").select_option("false")
    page.get_by_role("button", name="Show bursts").click()
    expect(page.locator("#grb-table tbody tr")).to_have_count(1)
    page.get_by_role("link", name="GRB 230307A").click()
    expect(page.locator("h1")).to_have_text("GRB 230307A")
    expect(page.locator("#grb-spiacs")).to_contain_text("real data")
    # The burst page draws SPI-ACS at T0 +- 300 s with the explorer's own plot...
    plot = ts_ready(page)
    assert 599 <= float(plot.get_attribute("data-span") or 0) <= 601
    expect(page.locator("[data-ts-status]")).to_contain_text("real data")
    # ...and the explorer opens on the same window.
    page.get_by_role("link", name="Plot it in the time-series explorer").click()
    plot = ts_ready(page)
    span = float(plot.get_attribute("data-span") or 0)
    assert 590 <= span <= 610, span


def test_maps_value_form_answers(page: Page, client: httpx.Client) -> None:
    page.goto("/maps")
    page.locator("select[name=map]").select_option("isgri_exposure")
    page.get_by_label("RA (°, ICRS)").fill("83.6332")
    page.get_by_label("Dec (°)").fill("22.0145")
    page.get_by_role("button", name="Look up").click()
    api = client.get(
        "/products/maps/isgri_exposure/value", params={"ra": "83.6332", "dec": "22.0145"}
    ).json()
    shown = page.locator("#map-value")
    expect(shown).to_contain_text(f"HEALPix pixel {api['healpix_pixel']}")
    if api["covered"]:
        expect(shown).to_contain_text(f"{api['value']:.6g}")


def ts_ready(page: Page, **attrs: str) -> Any:
    """The time-series plot, once the answer to the latest zoom is drawn."""
    plot = page.locator("#ts-plot")
    expect(plot).to_have_attribute("data-mode", re.compile("."))
    for name, value in attrs.items():
        expect(plot).to_have_attribute(f"data-{name}", value)
    return plot


def test_timeseries_explorer_zooms_from_the_mission_to_the_real_grb_samples(
    page: Page, client: httpx.Client
) -> None:
    page.goto("/timeseries")
    page.get_by_role("link", name="GRB 230307A (real data)").click()
    page.wait_for_url("**/timeseries/spiacs_50ms?*")
    plot = ts_ready(page)
    status = page.locator("[data-ts-status]")
    expect(status).to_contain_text("real data")
    expect(status).to_have_attribute("data-content", "real data")

    # Each zoom asks the plot API again at the plot's width; what is drawn is what it answers.
    def zoom(button: str) -> dict[str, Any]:
        with page.expect_response(lambda r: "/plot?" in r.url) as info:
            page.get_by_role("button", name=button, exact=True).click()
        url = info.value.url.replace("format=binary", "format=json")
        answer = client.get(url).json()
        expect(plot).to_have_attribute("data-mode", answer["mode"])
        shown = answer["columns"]["count"] if answer["mode"] == "m4" else answer["samples"]["value"]
        expect(plot).to_have_attribute("data-columns", str(len(shown)))
        return answer

    first = float(plot.get_attribute("data-span") or 0)
    answer = zoom("Zoom in")
    while answer["mode"] != "samples":
        answer = zoom("Zoom in")
    assert float(plot.get_attribute("data-span") or 0) < first / 2
    assert answer["includes_real"] and not answer["includes_simulated"]

    # The table view lists exactly the drawn samples, and the links cut the same range.
    page.get_by_text("Table view of the plotted data").click()
    expect(page.locator("#ts-table tbody tr")).to_have_count(len(answer["samples"]["value"]))
    csv = client.get(page.locator("a[data-ts-link=csv]").get_attribute("href") or "")
    assert csv.status_code == 200
    assert len(csv.text.splitlines()) == answer["samples_in_range"]
    fits = client.get(page.locator("a[data-ts-link=fits]").get_attribute("href") or "")
    assert fits.status_code == 200 and fits.content[:6] == b"SIMPLE"

    # A dragged range zooms in too, and the pan buttons move the window.
    over = page.locator("#ts-plot .u-over")
    box = over.bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    before_text = plot.get_attribute("data-span") or ""
    before = float(before_text)
    with page.expect_response(lambda r: "/plot?" in r.url):
        page.mouse.move(box["x"] + box["width"] * 0.3, y)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.5, y, steps=6)
        page.mouse.up()
    expect(plot).not_to_have_attribute("data-span", before_text)
    assert float(plot.get_attribute("data-span") or 0) < before
    start = plot.get_attribute("data-start")
    with page.expect_response(lambda r: "/plot?" in r.url):
        page.get_by_role("button", name="Pan to later times").click()
    expect(plot).not_to_have_attribute("data-start", start or "")


def test_timeseries_explorer_reaches_single_50ms_samples_of_simulated_data(
    page: Page, archive: Archive
) -> None:
    t0, dt = archive.rows(
        "SELECT t0, dt FROM isla.timeseries_segments WHERE dataset = 'spiacs_50ms' "
        "AND simulated AND abs(dt - 0.05) < 1e-6 ORDER BY n_samples DESC LIMIT 1"
    )[0]
    centre = (t0 + 100_000 * dt) / 86400
    page.goto(f"/timeseries/spiacs_50ms?start={centre:.9f}&stop={centre + 1 / 86400:.9f}")
    plot = ts_ready(page, mode="samples")
    # One second of 50 ms samples, labelled simulated.
    assert 19 <= int(plot.get_attribute("data-columns") or 0) <= 21
    expect(page.locator("[data-ts-status]")).to_have_attribute("data-content", "simulated data")
    # Zooming in stops at half a second: ten 50 ms samples.
    page.get_by_role("button", name="Zoom in", exact=True).click()
    ts_ready(page, span="0.500")
    expect(plot).to_have_attribute("data-columns", re.compile(r"^(9|10|11)$"))


def test_source_spectrum_shows_the_stored_counts_with_its_responses(
    page: Page, client: httpx.Client
) -> None:
    page.goto(CRAB_PAGE)
    plot = page.locator("#spec-plot")
    expect(plot).to_have_attribute("data-points", re.compile(r"^[1-9]\d*$"))
    # Only stored data are drawn: the demo stores no fitted model, so none is drawn.
    expect(plot).to_have_attribute("data-model", "none")
    choice = page.get_by_label("Spectrum", exact=True)
    option = choice.locator("option:checked")
    params = {"instrument": option.get_attribute("data-instrument"), "scope": choice.input_value()}
    spec = client.get(f"/products/spectra/{CRAB}", params={**params, "format": "json"}).json()
    for part, key in (("arf", "arf_url"), ("rmf", "rmf_url"), ("file", "file_url")):
        href = page.locator(f"a[data-spec-link={part}]").get_attribute("href") or ""
        assert href == spec[key], part
        assert client.head(href).status_code == 200, part
    page.get_by_text("Table view of the spectrum").click()
    expect(page.locator("#spec-table tbody tr")).to_have_count(len(spec["data"]))


FAKE_HUB = "http://localhost:21012/"


def xmlrpc(value: str) -> str:
    """An XML-RPC method response carrying ``value`` (already XML)."""
    return (
        '<?xml version="1.0"?><methodResponse><params><param><value>'
        f"{value}</value></param></params></methodResponse>"
    )


def test_send_to_topcat_goes_through_a_samp_hub(page: Page, client: httpx.Client) -> None:
    calls: list[str] = []

    def hub(route: Route) -> None:
        cors = {
            "Access-Control-Allow-Origin": "*",
            "Access-Control-Allow-Headers": "Content-Type",
            "Access-Control-Allow-Methods": "POST, OPTIONS",
        }
        if route.request.method == "OPTIONS":
            route.fulfill(status=200, headers=cors, body="")
            return
        body = route.request.post_data or ""
        method = re.search(r"<methodName>([^<]+)</methodName>", body)
        calls.append(body)
        name = method[1] if method else ""
        if name.endswith(".register"):
            value = (
                "<struct>"
                + "".join(
                    f"<member><name>{k}</name><value><string>{v}</string></value></member>"
                    for k, v in (
                        ("samp.self-id", "c1"),
                        ("samp.private-key", "key-1"),
                        ("samp.hub-id", "hub"),
                    )
                )
                + "</struct>"
            )
        elif name.endswith(".notifyAll"):
            value = "<array><data><value><string>topcat</string></value></data></array>"
        else:
            value = "<string></string>"
        route.fulfill(status=200, headers=cors, content_type="text/xml", body=xmlrpc(value))

    page.route(f"{FAKE_HUB}**", hub)
    page.goto("/query")
    page.get_by_role("button", name="Run the query").click()
    expect(page.locator("#query-result tbody tr").first).to_be_visible()
    page.get_by_role("button", name="Send ISLA query result to TOPCAT (SAMP)").click()
    expect(page.locator("#samp-status")).to_contain_text("Sent ISLA query result")
    sent = html.unescape(next(c for c in calls if "notifyAll" in c))
    assert "table.load.votable" in sent and "key-1" in sent
    url = re.search(r"<name>url</name>\s*<value>\s*(?:<string>)?([^<]+)<", sent)
    assert url and "/tap/sync?" in url[1] and "FORMAT=votable" in url[1]
    assert client.get(url[1]).status_code == 200


def test_without_a_hub_samp_stays_quiet_then_disabled(page: Page, watch: Watch) -> None:
    # A browser that never met a hub does not look for one: no request, no console error.
    page.goto(CRAB_PAGE)
    expect(page.locator("button[data-samp-send]").first).to_be_enabled()
    assert not watch.foreign
    # One that has: the buttons say there is no hub now.
    page.evaluate("localStorage.setItem('isla-samp-hub-seen', '1')")
    page.route(f"{FAKE_HUB}**", lambda route: route.abort("connectionrefused"))
    page.goto(CRAB_PAGE)
    expect(page.locator("button[data-samp-send]").first).to_be_disabled()
    # The refused connection is the browser's own report, expected here.
    watch.errors[:] = [e for e in watch.errors if "ERR_CONNECTION_REFUSED" not in e]


def test_every_page_type_passes_axe_and_fits_a_phone(
    page: Page, watch: Watch, ids: dict[str, str], axe_source: str
) -> None:
    found: dict[str, Any] = {}
    for width in (360, 1280):
        page.set_viewport_size({"width": width, "height": 800})
        for name, url in page_types(ids).items():
            page.goto(url)
            page.wait_for_load_state("networkidle")
            if name.startswith("sky"):
                expect(page.locator("#aladin")).to_have_attribute(
                    "data-sources", re.compile(r"^\d+$"), timeout=20_000
                )
            if name == "timeseries":
                expect(page.locator("#ts-plot")).to_have_attribute("data-mode", re.compile("."))
                page.get_by_text("Table view of the plotted data").click()
            if name == "source":
                page.get_by_text("Table view of the spectrum").click()
            if name == "not-found":
                # The browser reports the page's own 404 status on the console: expected here.
                watch.errors[:] = [e for e in watch.errors if "404" not in e]
            page.evaluate(axe_source)
            violations = page.evaluate(
                """async () => (await axe.run(document, {resultTypes: ['violations']}))
                    .violations.map(v => ({id: v.id, impact: v.impact,
                        nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))"""
            )
            bad = [v for v in violations if v["impact"] in ("serious", "critical")]
            if bad:
                found[f"{name}@{width}"] = bad
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            if overflow > 1:
                found[f"{name}@{width}: scrolls sideways by {overflow}px"] = overflow
    assert not found, found


@pytest.mark.skipif(
    not os.environ.get("ISLA_SCREENSHOTS"), reason="screenshots are written by `make screenshots`"
)
def test_screenshots(page: Page, ids: dict[str, str], archive: Archive) -> None:
    page.set_default_timeout(SKY_WAIT_MS)
    folder = ROOT / os.environ["ISLA_SCREENSHOTS"]
    folder.mkdir(parents=True, exist_ok=True)
    shots = dict(page_types(ids))
    shots.pop("not-found")
    shots["search"] = "/search?q=83.63 22.01"
    shots.pop("basket")
    shots.pop("timeseries-index")  # taken below, then the GRB window it leads to
    for name, url in shots.items():
        page.goto(url)
        page.wait_for_load_state("networkidle")
        if name.startswith("sky"):
            expect(page.locator("#aladin")).to_have_attribute(
                "data-sources", re.compile(r"^\d+$"), timeout=20_000
            )
            page.locator("#aladin").scroll_into_view_if_needed()
            if name == "sky-hips":
                page.wait_for_timeout(3000)  # the Allsky is drawn some frames after it arrives
                x, y = sky_point_without_sources(page)
                page.mouse.click(x, y)
                expect(page.locator("#sky-value")).to_have_attribute(
                    "data-pixel", re.compile("."), timeout=SKY_WAIT_MS
                )
        if name == "timeseries":
            ts_ready(page)
        if name == "query":
            page.get_by_role("button", name="Run the query").click()
            expect(page.locator("#query-result tbody tr").first).to_be_visible()
        page.screenshot(path=folder / f"{name}.png")
    page.goto("/grbs/GRB230307A")
    page.evaluate("document.getElementById('h-sky').scrollIntoView()")
    page.screenshot(path=folder / "grb-position.png")
    page.goto(CRAB_PAGE)
    plot_ready(page)
    page.locator("button[data-basket-add]").nth(0).click()
    page.locator("button[data-basket-add]").nth(1).click()
    # The light curve of a variable source: detections and upper limits.
    variable = archive.rows(
        "SELECT p.source_id FROM isla.lightcurve_points p JOIN isla.energy_bands e "
        "USING (band_id) WHERE e.instrument = 'ISGRI' AND e.isla_default GROUP BY p.source_id "
        "ORDER BY least(count(*) FILTER (WHERE p.upper_limit), "
        "count(*) FILTER (WHERE NOT p.upper_limit)) DESC LIMIT 1"
    )[0][0]
    page.goto(f"/sources/{quote(variable)}")
    plot_ready(page)
    page.evaluate("document.getElementById('h-lc').scrollIntoView()")
    page.screenshot(path=folder / "source-lightcurve.png")
    page.goto(f"/observations/{ids['obsid']}")
    page.get_by_role("button", name="Add the observation to the basket").click()
    page.goto("/basket")
    expect(page.locator("#basket-table tbody tr")).to_have_count(3)
    page.screenshot(path=folder / "basket.png")
    page.goto("/timeseries")
    page.screenshot(path=folder / "timeseries-index.png")
    page.get_by_role("link", name="GRB 230307A (real data)").click()
    ts_ready(page)
    page.screenshot(path=folder / "timeseries-grb.png")
    page.goto(CRAB_PAGE)
    expect(page.locator("#spec-plot")).to_have_attribute("data-points", re.compile(r"^[1-9]"))
    page.evaluate("document.getElementById('h-spec').scrollIntoView()")
    page.screenshot(path=folder / "source-spectrum.png")
    page.set_viewport_size({"width": 360, "height": 780})
    page.goto("/timeseries/spiacs_10s")
    ts_ready(page)
    page.evaluate("document.getElementById('h-plot').scrollIntoView()")
    page.screenshot(path=folder / "timeseries-phone.png")

    page.goto(CRAB_PAGE)
    plot_ready(page)
    page.evaluate("document.getElementById('h-lc').scrollIntoView()")
    page.screenshot(path=folder / "source-phone.png")
