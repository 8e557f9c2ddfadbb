"""Unit tests for the portal's reading of search entries and its small page helpers."""

from __future__ import annotations

import datetime as dt

import pytest

from services.products.portal.service import (
    MISSION_FIRST_IJD,
    MISSION_LAST_IJD,
    angle_text,
    error_circle_plot,
    human_size,
    lightcurve_choices,
    pointing_plot,
    read_entry,
    samp_kind,
    sky_links,
    stretch_label,
    timeseries_links,
    timeseries_window,
    whole_mission,
)
from shared.vo.errors import UsageFault

CRAB = (83.6332, 22.0145)


@pytest.mark.parametrize(
    "entry",
    [
        "83.63 22.01",
        "83.63, 22.01",
        "05h34m31.9s +22d00m52s",
        "05:34:31.9 +22:00:52",
        "05 34 31.9 +22 00 52",
        "l=184.56 b=-5.78",
        "184.56 -5.78 gal",
    ],
)
def test_coordinates_in_every_common_form_land_on_the_crab(entry: str) -> None:
    reading = read_entry(entry)
    assert reading.position is not None, entry
    assert abs(reading.position.ra.deg - CRAB[0]) < 0.05
    assert abs(reading.position.dec.deg - CRAB[1]) < 0.05
    assert not reading.scw_ids and reading.obsid is None


def test_names_are_not_positions() -> None:
    for entry in ("Crab", "Cyg X-1", "GX 301-2", "4U 0531+21", "J053432.0+220052"):
        assert read_entry(entry).position is None, entry


def test_out_of_range_pairs_are_not_positions() -> None:
    assert read_entry("400 22").position is None
    assert read_entry("83 95").position is None


def test_identifiers() -> None:
    scw = read_entry("008100430010")
    assert scw.scw_ids == ["008100430010"] and scw.revolutions == [81]
    assert read_entry("008100430010.001").scw_ids == ["008100430010"]
    assert read_entry("06340000001").obsid == "06340000001"
    assert read_entry("0081").revolutions == [81]
    assert read_entry("rev 81").revolutions == [81]
    assert read_entry("81").revolutions == [81]


def test_burst_names_and_their_beginnings() -> None:
    assert read_entry("GRB 230307A").grb == "GRB230307A"
    assert read_entry("grb230307a").grb == "GRB230307A"
    assert read_entry("230307A").grb == "GRB230307A"
    assert read_entry("GRB 2303").grb == "GRB2303"  # as it is being typed
    assert read_entry("Crab").grb is None and read_entry("230307").grb is None


def test_dates_cover_a_day_and_times_a_moment() -> None:
    day = read_entry("2008-09-25")
    assert day.day == (dt.datetime(2008, 9, 25), dt.datetime(2008, 9, 26))
    moment = read_entry("2008-09-25T12:30:00")
    assert moment.day is not None
    assert moment.day[0] == dt.datetime(2008, 9, 25, 12, 30)
    assert read_entry("2008-13-45").day is None


def test_empty_and_overlong_entries() -> None:
    assert read_entry("   ").text == ""
    assert len(read_entry("x" * 1000).text) == 200


def test_sky_links_point_at_the_position() -> None:
    links = sky_links(*CRAB)
    assert links["esasky"].startswith("https://sky.esa.int/esasky/?target=83.63320%20%2B22.01450")
    assert "hips=" in links["esasky"] and "fov=" in links["esasky"]
    assert links["aladin"].startswith("https://aladin.cds.unistra.fr/AladinLite/?target=83.63320")


def test_sub_scw_binning_only_at_the_stored_widths() -> None:
    bands = [
        {"instrument": "JEM-X", "band": "3_20", "e_min": 3, "e_max": 20, "isla_default": True,
         "points": 5, "detections": 1, "sub_scw_widths": None},
        {"instrument": "ISGRI", "band": "28_40", "e_min": 28, "e_max": 40, "isla_default": True,
         "points": 9, "detections": 9, "sub_scw_widths": [600.0, 120.0]},
    ]  # fmt: skip
    choices = lightcurve_choices(bands, omc=0)
    assert [c["instrument"] for c in choices] == ["ISGRI", "JEM-X"]
    assert [b["value"] for b in choices[0]["binnings"]] == ["scw", "revolution", "120", "600"]
    assert [b["value"] for b in choices[1]["binnings"]] == ["scw", "revolution"]
    assert lightcurve_choices([], omc=3)[0]["instrument"] == "OMC"


def test_pointing_plot_puts_the_centre_in_the_middle_and_east_left() -> None:
    plot = pointing_plot([(*CRAB, "c"), (CRAB[0] + 5, CRAB[1], "east")], CRAB, 15)
    centre, east = plot["marks"]
    assert (centre["x"], centre["y"]) == (plot["size"] / 2, plot["size"] / 2)
    assert east["x"] < centre["x"]


def test_error_circle_drawn_at_its_true_size_in_both_plots() -> None:
    radius = 2.5 / 60  # 2.5 arcmin
    wide = pointing_plot([], CRAB, 15, radius)
    assert wide["error_r"] == pytest.approx(radius * wide["scale"])
    close = error_circle_plot(CRAB, radius, [(CRAB[0], CRAB[1] + radius / 2, "inside")])
    assert close["error_r"] == pytest.approx(radius * close["scale"])
    # The circle fills two thirds of the close-up; the scale bar is a round angle inside it.
    assert close["error_r"] == pytest.approx((close["size"] / 2 - 10) / 1.5)
    assert close["bar"]["text"] == "2′" and close["bar"]["length"] <= close["size"] / 2
    (mark,) = close["marks"]
    assert mark["x"] == pytest.approx(close["size"] / 2)
    assert close["size"] / 2 - mark["y"] == pytest.approx(close["error_r"] / 2, rel=1e-3)
    assert pointing_plot([], CRAB, 15)["error_r"] is None
    assert (angle_text(2 / 3600), angle_text(0.5), angle_text(3.0)) == ("2″", "30′", "3°")


def test_human_size() -> None:
    assert human_size(512) == "512 B"
    assert human_size(2048) == "2.0 KiB"
    assert human_size(None) == "–"


def test_time_series_stretches_are_named_after_the_burst_in_their_file() -> None:
    assert stretch_label("spiacs_grb230307a.fits", 2618) == "GRB 230307A"
    assert stretch_label("SPIACS_GRB_221009A.fits", 2562) == "GRB 221009A"
    assert stretch_label("spiacs_50ms_0727.fits", 727) == "Revolution 0727"


def test_time_series_windows() -> None:
    lo, hi = whole_mission(None, None)
    assert lo == MISSION_FIRST_IJD and hi == MISSION_LAST_IJD
    # A dataset reaching beyond the mission widens "the whole mission".
    assert whole_mission(MISSION_FIRST_IJD - 5, None)[0] == MISSION_FIRST_IJD - 5
    assert timeseries_window(None, None, 8000.0, 8100.0) == (lo, hi)
    a, b = timeseries_window("8466.6", "2023-03-07T16:00:00Z", None, None)
    assert a == 8466.6 and 8466.66 < b < 8466.67
    for start, stop in (("yesterday", None), ("8466.7", "8466.6"), ("nan", None)):
        with pytest.raises(UsageFault):
            timeseries_window(start, stop, None, None)


def test_time_series_downloads_cut_the_window() -> None:
    links = timeseries_links("spiacs_50ms", "rate", 8466.6, 8466.7)
    assert links["csv"].startswith("/hapi/data?dataset=spiacs_50ms&start=2023-03-07T14%3A")
    assert "parameters=rate" in links["csv"] and "format=x_fits" in links["fits"]


def test_samp_kinds_of_product_files() -> None:
    assert samp_kind("mosaic", "ISGRI_mosaic.fits.gz") == "fits-image"
    assert samp_kind("spectrum", "Crab_spectrum.fits") == "fits-table"
    assert samp_kind("preview", "Crab.png") is None
