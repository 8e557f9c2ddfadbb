"""The science-product model and writers: responses, rates, intervals, OGIP files, PNG."""

from __future__ import annotations

import io
import struct
import zlib
from datetime import UTC, datetime

import numpy as np
import pytest
from astropy.io import fits

from services.products.common import BadRequest
from services.products.lightcurves.service import parse_binning
from shared.demo import model
from shared.demo import simulate as compute
from shared.products import ogip
from shared.products.views import png

PROV = ogip.Provenance(["072700010010", "072700020010"], datetime(2025, 3, 1, tzinfo=UTC))
TARGET = ogip.Target("J053432.0+220052", "Crab", 83.6332, 22.0145)


def _open(data: bytes) -> fits.HDUList:
    hdul = fits.open(io.BytesIO(data))
    hdul.verify("exception")
    return hdul


def test_crab_rates_follow_from_the_responses() -> None:
    # Folding the Crab through ARF and RMF gives each band's rate; a softer source gives
    # relatively more counts at low energies.
    for instrument, bands in model.BANDS.items():
        for band in bands:
            assert model.crab_rate(instrument, band) > 1.0
    soft = model.band_rate("ISGRI", (20.0, 35.0), 1.0, 3.0) / model.band_rate(
        "ISGRI", (35.0, 60.0), 1.0, 3.0
    )
    hard = model.band_rate("ISGRI", (20.0, 35.0), 1.0, 1.5) / model.band_rate(
        "ISGRI", (35.0, 60.0), 1.0, 1.5
    )
    assert soft > hard
    norm = model.power_law_for("ISGRI", "28_40", 42.0, 2.5)
    assert model.band_rate("ISGRI", (28.0, 40.0), norm, 2.5) == pytest.approx(42.0)


def test_coded_fraction_and_errors() -> None:
    fractions = model.coded_fraction("ISGRI", [0.0, 4.5, 10.0, 19.0, 25.0])
    assert fractions[0] == fractions[1] == 1.0
    assert 0.0 < fractions[2] < 1.0
    assert fractions[3] == fractions[4] == 0.0
    short, long = model.rate_error("ISGRI", "28_40", [1000.0, 4000.0])
    assert short == pytest.approx(2 * long)


def test_index_from_hardness_is_crab_like_for_crab_ratios() -> None:
    assert model.index_from_hardness(1.0) == pytest.approx(model.CRAB_INDEX)
    assert model.index_from_hardness(0.5) > model.CRAB_INDEX


def test_random_streams_are_keyed() -> None:
    a = model.rng_for("x", 1).random(3)
    assert np.array_equal(a, model.rng_for("x", 1).random(3))
    assert not np.array_equal(a, model.rng_for("x", 2).random(3))


def test_binning_parser() -> None:
    assert parse_binning(None).kind == "scw"
    assert parse_binning("Revolution").kind == "revolution"
    assert parse_binning("600").seconds == 600.0
    for bad in ("1", "nan", "inf", "daily"):
        with pytest.raises(BadRequest):
            parse_binning(bad)


def _rows(significances: list[float]) -> list[tuple[float, ...]]:
    # time ijd, duration s, exposure s, rate, error, significance, upper limit, limit, nscw
    return [
        (8000.0 + i * 0.05, 2000.0, 1500.0, s * 0.5, 0.5, s, float(s < 3), float("nan"), 1)
        for i, s in enumerate(significances)
    ]


def test_snr_intervals_group_detected_windows() -> None:
    # The undetected scw2 is left out; the short remainder (scw7) joins the last interval.
    rows = _rows([30.0, 30.0, 1.0, 30.0, 30.0, 30.0, 30.0, 5.0])
    intervals = compute.snr_intervals(rows, [f"scw{i}" for i in range(len(rows))], 50.0)
    assert [i.scws for i in intervals] == [
        ("scw0", "scw1", "scw3"),
        ("scw4", "scw5", "scw6", "scw7"),
    ]
    assert intervals[0].snr == pytest.approx(np.sqrt(3 * 900.0))
    assert intervals[0].start < intervals[0].stop <= intervals[1].start


def test_fast_light_curve_keeps_detected_windows_only() -> None:
    rows = _rows([20.0, 2.0, 8.0])
    lc = compute.fast_lightcurve(rows, ["a", "b", "c"], bin_s=100.0, key="k")
    assert len(lc.time) == 2 * 20  # 2000 s windows in 100 s bins; the 2-sigma one left out
    assert np.allclose(lc.timedel * 86400.0, 100.0)
    assert np.allclose(lc.exposure, 75.0)
    assert np.allclose(lc.error, 0.5 * np.sqrt(20.0))
    again = compute.fast_lightcurve(rows, ["a", "b", "c"], bin_s=100.0, key="k")
    assert np.array_equal(lc.rate, again.rate)


def test_light_curve_file() -> None:
    lc = compute.lightcurve_from_rows(_rows([10.0, 1.0]))
    hdul = _open(
        ogip.lightcurve_fits(
            lc, instrument="ISGRI", band=(28.0, 40.0), target=TARGET, prov=PROV, binning="scw"
        )
    )
    h = hdul["RATE"].header
    assert h["HDUCLAS1"] == "LIGHTCURVE" and h["MJDREFI"] == 51544
    assert h["SCW_LIST"] == "072700010010 072700020010" and h["NSCW"] == 2
    assert list(hdul["RATE"].data["FRACEXP"]) == pytest.approx([0.75, 0.75])
    assert hdul["RATE"].data["UPPER_LIMIT"].tolist() == [False, True]
    assert h["DATE"] == "2025-03-01T00:00:00"


def test_spectrum_and_responses_are_consistent() -> None:
    spec = compute.spectrum(
        "JEM-X", reference_rate=50.0, exposure=1e5, index=2.0, key="k", tstart=1.0, tstop=2.0
    )
    hdul = _open(
        ogip.spectrum_fits(
            spec, instrument="JEM-X", target=TARGET, prov=PROV, respfile="r", ancrfile="a"
        )
    )
    energies = model.energy_grid("JEM-X")
    rmf = _open(
        ogip.rmf_fits(
            "JEM-X", energies, model.channel_grid("JEM-X"), model.redistribution("JEM-X"), PROV
        )
    )
    arf = _open(ogip.arf_fits("JEM-X", energies, model.effective_area("JEM-X"), PROV))
    detchans = hdul["SPECTRUM"].header["DETCHANS"]
    assert detchans == rmf["MATRIX"].header["DETCHANS"] == len(rmf["EBOUNDS"].data)
    assert len(arf["SPECRESP"].data) == len(rmf["MATRIX"].data)
    lo, hi = model.channel_grid("JEM-X")
    centre = np.sqrt(lo * hi)
    in_band = (centre >= 3.0) & (centre < 20.0)
    assert spec.rate[in_band].sum() == pytest.approx(50.0, rel=0.05)


def test_mosaic_has_four_images_with_wcs() -> None:
    image = compute.mosaic(
        "JEM-X",
        "3_20",
        centre=(83.63, 22.01),
        pointings=[compute.Pointing(83.63, 22.01, 2000.0), compute.Pointing(85.0, 22.0, 2000.0)],
        sources=[compute.SkySource(83.63, 22.01, 100.0)],
        key="k",
        tstart=1.0,
        tstop=2.0,
    )
    hdul = _open(
        ogip.mosaic_fits(image, instrument="JEM-X", band=(3.0, 20.0), prov=PROV, epoch="0727_1")
    )
    assert [h.name for h in hdul[1:]] == ["INTENSITY", "VARIANCE", "SIGNIFICANCE", "EXPOSURE"]
    peak = np.unravel_index(np.argmax(image.significance), image.significance.shape)
    x, y = image.wcs.wcs_pix2world([[peak[1], peak[0]]], 0)[0]
    assert abs(x - 83.63) < 0.1 and abs(y - 22.01) < 0.1
    assert image.exposure.max() == pytest.approx(4000.0, rel=0.01)


def test_png_writer() -> None:
    data = png(np.arange(12.0).reshape(3, 4))
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    assert (width, height, depth, colour) == (4, 3, 8, 0)
    idat_len = struct.unpack(">I", data[33:37])[0]
    assert data[37:41] == b"IDAT"
    raw = zlib.decompress(data[41 : 41 + idat_len])
    rows = [raw[i * 5 : (i + 1) * 5] for i in range(3)]
    assert all(r[0] == 0 for r in rows)
    # Flipped for display: the image's last row (brightest) is the first PNG row.
    assert rows[0][4] == 255 and rows[2][1] == 0
    assert data.endswith(b"IEND\xaeB`\x82")


def test_small_object_cache_is_bounded_and_keyed_by_checksum() -> None:
    from services.products.files.service import SmallObjectCache

    cache = SmallObjectCache(max_bytes=10, max_item=6)
    cache.put("a", b"aaaa")
    cache.put("b", b"bbbb")
    cache.put("big", b"x" * 7)  # larger than an item may be: not kept
    assert cache.get("big") is None
    assert cache.get("a") == b"aaaa"  # now the most recently used
    cache.put("c", b"cccc")  # over 10 bytes: the least recently used ("b") goes
    assert cache.get("b") is None
    assert (cache.get("a"), cache.get("c")) == (b"aaaa", b"cccc")
