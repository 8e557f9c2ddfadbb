"""The time-series serving copy: segments, pyramid, plot reduction, times, HAPI checks."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from services.ingest.timeseries import TimeseriesRefused, check_delivery
from services.products.timeseries import hapi
from services.products.timeseries.service import (
    PlotError,
    decode_binary,
    encode_binary,
    encode_json,
    parse_plot_request,
)
from shared.integral.time import ijd_to_time, revolution_at
from shared.timeseries.fitsio import read_delivered
from shared.timeseries.plot import PlotResult, reduce_plot
from shared.timeseries.reader import CountingSource, DirSource
from shared.timeseries.segments import SegmentRef, bucket_dtype, build_segment, rebin, split_runs
from shared.timeseries.times import format_utc, parse_iso, utc_iso

Series = tuple[Path, list[SegmentRef], dict[str, Any]]
REAL = Path(__file__).parents[2] / "shared" / "data" / "real" / "spiacs_grb230307a.fits"


def _write(folder: Path, name: str, t0: float, dt: float, values: np.ndarray) -> SegmentRef:
    layout, chunks, summary = build_segment(
        {"rate": values, "error": np.sqrt(np.abs(values))}, ("rate",)
    )
    data = b"".join(chunks)
    assert len(data) == layout.size
    (folder / name).write_bytes(data)
    return SegmentRef(name, t0, dt, layout, summary)


@pytest.fixture(scope="module")
def series(tmp_path_factory: pytest.TempPathFactory) -> Series:
    """Three segments with gaps, NaNs and one 50 ms spike; the raw samples for brute force."""
    folder = tmp_path_factory.mktemp("segments")
    rng = np.random.default_rng(7)
    segs, raw_t, raw_v = [], [], []
    t0 = parse_iso("2008-01-01T00:00:00")
    for k, n in enumerate((300_000, 5, 700_001)):
        v = rng.normal(1000.0, 30.0, n).astype(np.float32)
        if n > 10:
            v[rng.integers(0, n, 500)] = np.nan
        segs.append(_write(folder, f"s{k}.seg", t0, 0.05, v))
        raw_t.append(t0 + np.arange(n) * 0.05)
        raw_v.append(v.astype(np.float64))
        t0 += n * 0.05 + 3600.0 * (k + 1)
    spike_index = 123_457
    spike_value = 5000.0
    spiked = raw_v[2].copy()
    spiked[spike_index] = spike_value
    segs[2] = _write(folder, "s2.seg", segs[2].t0, 0.05, spiked.astype(np.float32))
    raw_v[2] = spiked
    raw = {
        "t": np.concatenate(raw_t),
        "v": np.concatenate(raw_v),
        "spike_t": segs[2].t0 + spike_index * 0.05,
        "spike": spike_value,
    }
    return folder, segs, raw


def _check_against_brute_force(result: PlotResult, raw: dict[str, Any]) -> None:
    t, v = raw["t"], raw["v"]
    cols = np.flatnonzero(result.col_count > 0)
    previous_last = -np.inf
    for c in cols:
        first, last = result.col_first[c], result.col_last[c]
        assert first > previous_last  # columns never share a sample
        previous_last = last
        sel = v[(t >= first - 1e-9) & (t <= last + 1e-9)]
        valid = sel[~np.isnan(sel)]
        assert result.col_count[c] == valid.size
        assert result.col_min[c] == valid.min()
        assert result.col_max[c] == valid.max()
        assert result.col_sum[c] == pytest.approx(valid.sum(), rel=1e-9)


ZOOMS = (5.0, 60.0, 600.0, 3600.0, 6 * 3600.0, 86400.0, 10 * 86400.0, 10 * 365.25 * 86400)


@pytest.mark.parametrize("span", ZOOMS)
@pytest.mark.parametrize("px", [1, 7, 2000])
def test_plot_agrees_with_brute_force(series: Series, span: float, px: int) -> None:
    folder, segs, raw = series
    start = raw["spike_t"] - span * 0.37
    result = reduce_plot(DirSource(folder), segs, "rate", start, start + span, px)
    if result.mode == "samples":
        t, v = raw["t"], raw["v"]
        sel = (t >= start) & (t < start + span)
        assert np.array_equal(result.sample_time, t[sel])
        assert np.array_equal(result.sample_value, v[sel], equal_nan=True)
    else:
        _check_against_brute_force(result, raw)


@pytest.mark.parametrize("span", ZOOMS)
def test_single_50ms_spike_is_visible_at_every_zoom(series: Series, span: float) -> None:
    folder, segs, raw = series
    start = raw["spike_t"] - span * 0.61
    result = reduce_plot(DirSource(folder), segs, "rate", start, start + span, 2000)
    peak = result.sample_value if result.mode == "samples" else result.col_max
    assert np.nanmax(peak) == raw["spike"]


def test_every_level_is_used_and_reads_only_that_level(series: Series) -> None:
    folder, segs, _ = series
    seg = segs[2]
    seen = set()
    for px in (500, 20, 2, 1):
        for span in np.geomspace(5.0, seg.n * seg.dt, 30):
            source = CountingSource(DirSource(folder))
            start = seg.t0 + 1.0
            result = reduce_plot(source, [seg], "rate", start, start + span, px)
            if result.mode == "samples":
                continue
            seen.add(result.level)
            i0, i1 = seg.index_range(start, start + span)
            if result.level == 0:
                expected = (i1 - i0) * 4
            else:
                b = seg.layout.bucket(result.level)
                expected = (-(-i1 // b) - i0 // b) * bucket_dtype("<f4").itemsize
            assert source.bytes_read == expected
            assert source.reads == 1
            # At most 128 raw samples or 16 buckets per column: bounded by px, not by span.
            assert source.bytes_read <= max(px * 128 * 4, (16 * px + 2) * 20)
    wanted = {lev for lev in seg.layout.levels if seg.layout.bucket(lev) <= seg.n / 2}
    assert seen >= {0} | wanted


def test_whole_segments_come_from_the_index_without_reading(series: Series) -> None:
    folder, segs, _ = series
    source = CountingSource(DirSource(folder))
    start, stop = segs[0].t0 - 1e6, segs[-1].t_last + 1e8
    result = reduce_plot(source, segs, "rate", start, stop, 100)
    assert source.bytes_read == 0
    assert np.nanmax(result.col_max) == 5000.0


def test_pyramid_is_small() -> None:
    values = np.ones(1_000_000, dtype=np.float32)
    layout, _, _ = build_segment({"rate": values}, ("rate",))
    assert (layout.size - layout.raw_size) / layout.raw_size < 0.15


def test_split_runs_keeps_every_time_within_tolerance() -> None:
    t = 100.0 + np.arange(1000) * 0.1
    t[500:] += 0.025  # a clock step
    t[800:] += 50.0  # a gap
    runs = list(split_runs(t, 0.1, 1e-4))
    assert runs == [(0, 500), (500, 800), (800, 1000)]
    for i0, i1 in runs:
        grid = t[i0] + np.arange(i1 - i0) * 0.1
        assert np.abs(grid - t[i0:i1]).max() < 1e-4


def test_rebin_means_and_counts() -> None:
    t = 10.0 + np.arange(100) * 0.05  # 10.0 .. 14.95: bins [10,12) [12,14) [14,16)
    r = np.arange(100, dtype=np.float64)
    r[3] = np.nan
    centres, mean, err, count = rebin(t, r, np.ones(100), 2.0)
    assert centres.tolist() == [11.0, 13.0, 15.0]
    assert count.tolist() == [39, 40, 20]
    assert mean[0] == pytest.approx(np.nanmean(r[:40]))
    assert err[1] == pytest.approx(np.sqrt(40) / 40)


def test_times_iso_ijd_and_leap_seconds() -> None:
    assert utc_iso(0.0) == "1999-12-31T23:58:55.816000Z"
    leap = parse_iso("2016-12-31T23:59:60.5Z")
    assert utc_iso(leap) == "2016-12-31T23:59:60.500000Z"
    assert parse_iso("2017-01-01T00:00:00Z") - leap == pytest.approx(0.5)
    assert parse_iso("2023-066T15:44:06.123456Z") == parse_iso("2023-03-07T15:44:06.123456")
    assert parse_iso("2023-03Z") == parse_iso("2023-03-01T00:00:00.000Z")
    stamps = format_utc(parse_iso("2016-12-31T23:59:59") + np.arange(3.0))
    assert stamps.tolist() == [
        "2016-12-31T23:59:59.000000Z",
        "2016-12-31T23:59:60.000000Z",
        "2017-01-01T00:00:00.000000Z",
    ]
    for bad in (
        "2023-13-01",
        "2023-02-30",
        "2023-367",
        "yesterday",
        "2015-06-30T23:59:61",
        "2016-06-30T23:59:60",
    ):
        with pytest.raises(ValueError):
            parse_iso(bad)


def test_real_file_reads_as_delivered_and_real() -> None:
    from astropy.io import fits

    delivered, problems = read_delivered(REAL.read_bytes())
    assert problems == [] and delivered is not None
    assert delivered.simulated is False
    with fits.open(REAL) as hdul:
        table = hdul["RATE"].data
        assert np.array_equal(delivered.columns["rate"], table["RATE"])
        times = table["TIME"] + hdul["RATE"].header["TIMEZERO"]
        assert np.array_equal(delivered.times, times)
    assert delivered.columns["rate"].max() == 1743640.0


def test_bad_files_are_refused() -> None:
    assert read_delivered(b"not fits")[1][0][0] == "fits"


Q = list[tuple[str, str]]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ([("dataset", "irem"), ("start", "2008-01-01"), ("stop", "2008-01-02"), ("x", "1")], 1401),
        ([("start", "2008-01-01"), ("stop", "2008-01-02")], 1400),
        ([("dataset", "irem"), ("id", "irem"), ("start", "2008"), ("stop", "2009")], 1400),
        ([("dataset", "irem"), ("start", "2008-01-41"), ("stop", "2008-01-02")], 1402),
        ([("dataset", "irem"), ("start", "2008-01-01"), ("stop", "tomorrow")], 1403),
        ([("dataset", "irem"), ("start", "2008-01-02"), ("stop", "2008-01-01")], 1404),
        ([("dataset", "nope"), ("start", "2008-01-01"), ("stop", "2008-01-02")], 1406),
        ([("dataset", "irem"), ("parameters", "XX"), ("start", "2008"), ("stop", "2009")], 1407),
        (
            [("dataset", "irem"), ("parameters", "S12,TC1"), ("start", "2008"), ("stop", "2009")],
            1400,
        ),
        ([("dataset", "irem"), ("start", "2008"), ("stop", "2009"), ("format", "xml")], 1409),
        ([("dataset", "irem"), ("start", "2008"), ("stop", "2009"), ("include", "all")], 1410),
    ],
)
def test_hapi_bad_requests(query: Q, code: int) -> None:
    with pytest.raises(hapi.HapiError) as err:
        hapi.parse_data_request(query)
    assert err.value.code == code
    body = hapi.hapi_error(err.value)
    assert body.status_code == hapi.STATUS[code][0]


def test_hapi2_aliases() -> None:
    req = hapi.parse_data_request(
        [
            ("id", "spiacs_2s"),
            ("time.min", "2008-01-01"),
            ("time.max", "2008-01-02T00Z"),
            ("parameters", "Time,rate"),
        ]
    )
    assert req.dataset.id == "spiacs_2s" and req.parameters == ("rate",)
    assert req.stop - req.start == 86400.0


@pytest.mark.parametrize(
    ("args", "status"),
    [
        (("nope", "2008-01-01", "2008-01-02", None), 404),
        (("spiacs_50ms", "2008-01-02", "2008-01-01", None), 400),
        (("spiacs_50ms", "2008-01-01", "2008-01-02", "100000"), 400),
        (("spiacs_50ms", "2008-01-01", "2008-01-02", "0"), 400),
        (("spiacs_50ms", "1950-01-01", "1960-01-02", None), 400),
        (("spiacs_50ms", "1900-01-01", "2090-01-02", None), 400),
        (("spiacs_50ms", "soon", "2008-01-02", None), 400),
    ],
)
def test_plot_bad_requests(args: tuple[str, str, str, str | None], status: int) -> None:
    with pytest.raises(PlotError) as err:
        parse_plot_request(*args, None, None)
    assert err.value.status == status


def test_plot_encodings(series: Series) -> None:
    folder, segs, raw = series
    start = raw["spike_t"] - 3000.0
    req = parse_plot_request(
        "spiacs_50ms", str(start / 86400), str((start + 6000) / 86400), "2000", None, "binary"
    )
    result = reduce_plot(DirSource(folder), segs, "rate", req.start, req.stop, req.px)
    data = encode_binary(req, result, 123)
    assert len(data) <= 40_000
    head, arrays = decode_binary(data)
    assert head["mode"] == "m4" and head["bytes_read"] == 123
    assert arrays["max"].max() == raw["spike"]
    body = encode_json(req, result, 123)
    assert max(body["columns"]["max"]) == raw["spike"]
    assert body["columns"]["time_utc"][0].endswith("Z")


def _acs_file(times: np.ndarray, **cards: Any) -> bytes:
    from astropy.io import fits

    table = fits.BinTableHDU.from_columns(
        [
            fits.Column(name="TIME", format="D", array=times),
            fits.Column(name="RATE", format="E", array=np.full(times.size, 100.0)),
            fits.Column(name="ERROR", format="E", array=np.full(times.size, 10.0)),
        ],
        name="RATE",
    )
    base = {"INSTRUME": "SPI-ACS", "TIMESYS": "TT", "MJDREF": 51544.0, "TIMEDEL": 0.05}
    for key, value in {**base, **cards}.items():
        if value is not None:
            table.header[key] = value
    buffer = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(buffer)
    return buffer.getvalue()


GOOD_T = parse_iso("2008-09-25T12:00:00") + np.arange(100) * 0.05


@pytest.mark.parametrize(
    ("data", "code", "status"),
    [
        (_acs_file(GOOD_T, TIMESYS="UTC"), "timesys", 422),
        (_acs_file(GOOD_T, MJDREF=50000.0), "mjdref", 422),
        (_acs_file(GOOD_T, TIMEDEL=None), "timedel", 422),
        (_acs_file(GOOD_T, INSTRUME="ISGRI"), "instrument", 422),
        (_acs_file(GOOD_T[::-1]), "time", 422),
        (_acs_file(GOOD_T, REVOL=100), "revolution", 422),
        (_acs_file(GOOD_T - 3e9), "time", 422),
        (_acs_file(np.r_[GOOD_T, GOOD_T[-1] + 5 * 86400]), "revolution", 422),
    ],
)
def test_delivery_qc(data: bytes, code: str, status: int) -> None:
    with pytest.raises(TimeseriesRefused) as err:
        check_delivery(data, "acs.fits", None, None)
    assert err.value.status == status
    assert code in [p["code"] for p in err.value.problems]


def test_delivery_dataset_role_and_name() -> None:
    good = _acs_file(GOOD_T)
    delivered, dataset, revolution = check_delivery(good, "acs.fits", None, None)
    expected = revolution_at(ijd_to_time(GOOD_T[0] / 86400))
    assert (dataset, revolution, delivered.simulated) == ("spiacs_50ms", expected, False)
    for kwargs, status in (
        ({"dataset": "irem"}, 422),
        ({"instruments": frozenset({"IREM"})}, 403),
        ({"file_name": "../acs.fits"}, 400),
    ):
        args = {"dataset": None, "instruments": None, "file_name": "acs.fits", **kwargs}
        with pytest.raises(TimeseriesRefused) as err:
            check_delivery(good, args.pop("file_name"), **args)  # type: ignore[arg-type]
        assert err.value.status == status


def test_parallel_reads_give_the_same_answer(series: Series) -> None:
    folder, segs, raw = series
    for span in (30.0, 86400.0, 30 * 86400.0):
        start = raw["spike_t"] - span / 2
        answers = []
        for parallel in (1, 4):
            source = CountingSource(DirSource(folder))
            r = reduce_plot(source, segs, "rate", start, start + span, 300, parallel)
            answers.append(
                (np.nan_to_num(r.col_max).tolist(), r.col_count.tolist(), source.bytes_read)
            )
        assert answers[0] == answers[1]
