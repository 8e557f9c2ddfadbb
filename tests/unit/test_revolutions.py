"""The revolution table against INTEGRAL's real files and the mission's known shape.

The anchors are read from the real files themselves: ISDC's orbit file of revolution 0789
(``tests/data/real``), and the real ISLA deliveries shipped in astroquery's wheel (the ISGRI
mosaic of observation 88601650001, the SMC X-1 spectrum of revolution 0745 and the JEM-X time
series of 1A 1742-289).
"""

from __future__ import annotations

import gzip
import io
import re
import tarfile
import zipfile
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.time import Time, TimeDelta

from shared.integral.revolutions import (
    DISPOSAL_REVOLUTION,
    MISSION_END,
    MISSION_START,
    OPERATIONAL_PERIOD_S,
    ends_ijd,
    last_revolution,
    revolution_at,
    revolution_bounds,
    revolution_bounds_ijd,
    revolution_end,
    revolution_start,
    revolutions_at_ijd,
    starts_ijd,
)
from shared.integral.time import ijd_to_time, time_to_ijd, times_to_ijd

ORBIT_FILE = Path(__file__).parents[1] / "data" / "real" / "sc_orbit_param.fits.gz"
LAST = last_revolution()
# The end of the disposal manoeuvres: the last of the four burns was in February 2015.
AFTER_MANOEUVRES = Time("2015-03-01T00:00:00", scale="utc")


def _reference(archive: str) -> dict[str, bytes]:
    """The members of one of astroquery's real ISLA archives, by file name."""
    blob = (resources.files("astroquery.esa.integral") / "tests" / "data" / archive).read_bytes()
    if zipfile.is_zipfile(io.BytesIO(blob)):
        with zipfile.ZipFile(io.BytesIO(blob)) as zipped:
            return {Path(n).name: zipped.read(n) for n in zipped.namelist()}
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        out = {}
        for member in tar.getmembers():
            handle = tar.extractfile(member)
            if handle is not None:
                out[Path(member.name).name] = handle.read()
        return out


def _header(data: bytes, ext: int) -> fits.Header:
    if data[:2] == b"\x1f\x8b":  # a .fits.gz member
        data = gzip.decompress(data)
    with fits.open(io.BytesIO(data)) as hdul:
        return hdul[ext].header.copy()


# --- Anchors from the real files --------------------------------------------------------------


def _orbit_rows() -> tuple[fits.Header, np.ndarray, np.ndarray]:
    """The orbit file's header, seconds of each row since the first (on-board time) and phase."""
    with fits.open(ORBIT_FILE) as hdul:
        header = hdul["INTL-ORBI-SCP"].header.copy()
        data = hdul["INTL-ORBI-SCP"].data
        words = data["OB_TIME"].astype(np.int64)
        phase = np.asarray(data["REVOL_PHASE"], dtype=np.float64)
        revol = np.asarray(data["REVOL"])
    assert set(revol.tolist()) == {header["REVOL"]} == {789}
    # On-board time: four 16-bit words, in units of 2**-20 s.
    ticks = ((words[:, 0] * 65536 + words[:, 1]) * 65536 + words[:, 2]) * 65536 + words[:, 3]
    return header, (ticks - ticks[0]) / 2.0**20, phase


def test_operational_period_is_the_orbit_files() -> None:
    """The period is the inverse of the rate of REVOL_PHASE against on-board time."""
    _, seconds, phase = _orbit_rows()
    rate, _start = np.polyfit(seconds, phase, 1)
    assert 1.0 / rate == pytest.approx(OPERATIONAL_PERIOD_S, abs=1.0)
    start, end = revolution_bounds(789)
    assert (end - start).to_value("sec") == pytest.approx(1.0 / rate, abs=1.0)


def test_orbit_file_lies_in_revolution_0789_at_its_phase() -> None:
    """Every row of the real orbit file is in revolution 789, at the phase the file gives."""
    header, seconds, phase = _orbit_rows()
    # The rows are received in real time: the first packet's Earth received time dates them.
    first = Time(header["ERTFIRST"], scale="utc")
    times = first + TimeDelta(seconds, format="sec")
    revs = revolutions_at_ijd(times_to_ijd(times))
    assert set(revs.tolist()) == {789}
    start, end = revolution_bounds_ijd(789)
    table_phase = (times_to_ijd(times) - start) / (end - start)
    # Within a minute of the file's phase (the received time lags the on-board time slightly).
    np.testing.assert_allclose(table_phase, phase, atol=60.0 / OPERATIONAL_PERIOD_S)
    last = Time(header["ERTLAST"], scale="utc")
    assert revolution_at(first) == revolution_at(last) == 789


def test_revolution_0727_contains_the_real_mosaic() -> None:
    """The real ISGRI mosaic of 88601650001 (DATE-OBS 2008-09-25) is in revolution 0727."""
    members = _reference("tar_gz_file.gz")
    name = next(n for n in members if n.startswith("ISGRI_0727_88601650001") and "original" in n)
    header = _header(members[name], 2)
    assert header["DATE-OBS"].startswith("2008-09-25")
    assert revolution_at(header["DATE-OBS"]) == 727
    assert revolution_at(header["DATE-END"]) == 727
    assert revolutions_at_ijd([header["TSTART"], header["TSTOP"]]).tolist() == [727, 727]
    assert revolution_start(727).utc.isot < header["DATE-OBS"]


def test_revolution_0745_starts_on_the_real_spectrums_day() -> None:
    """The real SMC X-1 spectrum (REVOL 745) lies in 0745, which starts on 2008-11-18."""
    members = _reference("tar_file.tar")
    name = next(n for n in members if n.startswith("SMC_X-1") and n.endswith("_spe.fits"))
    header = _header(members[name], 1)
    rev = header["REVOL"]
    assert rev == 745
    assert revolutions_at_ijd([header["TSTART"], header["TSTOP"]]).tolist() == [rev, rev]
    start_day = ijd_to_time(header["TSTART"]).utc.isot[:10]
    assert start_day == "2008-11-18"
    assert revolution_start(rev).utc.isot[:10] == start_day


def _jemx_series(unit: int) -> tuple[np.ndarray, list[int]]:
    """Times (IJD) of the real JEM-X time series of 1A 1742-289 and the revolutions of the
    files it was merged from (its IN_n keywords), in order."""
    members = _reference("zip_file.zip")
    data = members[f"1A_1742-289_JEMX{unit}_allmission_timeseries.fits"]
    with fits.open(io.BytesIO(data)) as hdul:
        header = hdul[1].header
        times = np.sort(np.asarray(hdul[1].data["TIME"], dtype=np.float64))
        inputs = [header[key] for key in header if re.fullmatch(r"IN_\d+", key)]
    revs = [int(re.match(r".*_JEMX\d_(\d{4})_\d{11}_", name).group(1)) for name in inputs]  # type: ignore[union-attr]
    assert revs[0] == header["REVFIRST"] and revs[-1] == header["REVLAST"]
    return times, revs


def test_real_jemx_points_fall_in_the_revolutions_they_came_from() -> None:
    """Every point of the real JEM-X time series (2007-2016, across the 2015 manoeuvres) is in
    one of the revolutions its files name; the four JEM-X2 points one by one in order."""
    times, revs = _jemx_series(1)
    assert len(times) > 800
    assert set(revolutions_at_ijd(times).tolist()) <= set(revs)
    # Each group of points (separated by gaps of more than 0.3 day) is in one revolution, and
    # the groups go through exactly the revolutions the files name, in order.
    groups = np.split(revolutions_at_ijd(times), np.where(np.diff(times) > 0.3)[0] + 1)
    assert all(len(set(group.tolist())) == 1 for group in groups)
    in_order = list(dict.fromkeys(int(group[0]) for group in groups))
    assert in_order == sorted(set(revs))
    assert in_order[0] < DISPOSAL_REVOLUTION < in_order[-1]
    times2, revs2 = _jemx_series(2)
    assert revolutions_at_ijd(times2).tolist() == revs2 == [1326, 1343, 1589, 1590]


# --- Shape of the mission ---------------------------------------------------------------------


def test_mission_bounds_and_count() -> None:
    assert MISSION_START.utc.isot.startswith("2002-10-17T04:41")
    assert revolution_start(0) == MISSION_START
    assert MISSION_END.utc.isot == "2025-02-28T00:00:00.000"
    # About 2,850 revolutions: the real post-2015 period (63.8 h) gives 2886.
    assert 2840 <= LAST <= 2900
    assert revolution_start(LAST) < MISSION_END <= revolution_end(LAST)
    assert revolution_at("2025-02-27T23:59:59") == LAST


def test_table_is_monotonic_and_contiguous() -> None:
    starts, ends = starts_ijd(), ends_ijd()
    assert len(starts) == len(ends) == LAST + 1
    assert np.all(np.diff(starts) > 0)
    np.testing.assert_array_equal(starts[1:], ends[:-1])
    assert not starts.flags.writeable


def test_durations_before_and_after_the_2015_manoeuvres() -> None:
    durations = ends_ijd() - starts_ijd()
    disposal = revolution_start(DISPOSAL_REVOLUTION)
    assert Time("2015-01-01", scale="utc") < disposal < AFTER_MANOEUVRES
    before, after = durations[:DISPOSAL_REVOLUTION], durations[DISPOSAL_REVOLUTION:]
    # About 2.985 days (71.6 h) from launch to 2015, three sidereal days on the final orbit.
    assert np.all((before > 2.98) & (before < 2.995))
    assert before.mean() == pytest.approx(2.988, abs=0.005)
    # About 2.7 days after the manoeuvres (2.66 days: 63.8 h).
    assert np.all((after > 2.6) & (after < 2.75))
    assert revolution_at(AFTER_MANOEUVRES) > DISPOSAL_REVOLUTION


@pytest.mark.parametrize("rev", [0, 1, 81, 534, 535, 727, 745, 789, 1500, 1501, 2000, LAST])
def test_revolution_boundaries_consistent(rev: int) -> None:
    start, end = revolution_bounds(rev)
    assert start == revolution_start(rev) and end == revolution_end(rev)
    assert revolution_bounds_ijd(rev) == (time_to_ijd(start), time_to_ijd(end))
    assert revolution_at(start) == rev
    assert revolution_at(start + (end - start) * 0.5) == rev
    last_instant = min(end, MISSION_END) - TimeDelta(1e-3, format="sec")
    assert revolution_at(last_instant) == rev
    if rev < LAST:
        assert end == revolution_start(rev + 1)
        assert revolution_at(end) == rev + 1


def test_every_revolution_start_maps_back() -> None:
    for rev in range(LAST + 1):
        assert revolution_at(revolution_start(rev)) == rev
    np.testing.assert_array_equal(revolutions_at_ijd(starts_ijd()), np.arange(LAST + 1))


def test_revolution_at_accepts_datetime_and_string() -> None:
    start = revolution_start(100)
    dt = start.utc.to_datetime(timezone=UTC) + timedelta(hours=1)
    assert revolution_at(dt) == 100
    assert revolution_at(dt.replace(tzinfo=None)) == 100
    assert revolution_at(dt.isoformat()) == 100


def test_vectorised_lookup_agrees_with_scalar() -> None:
    rng = np.random.default_rng(7)
    begin, end = time_to_ijd(MISSION_START), time_to_ijd(MISSION_END)
    ijds = rng.uniform(begin, end, 2_000_000)
    revs = revolutions_at_ijd(ijds)
    assert revs.shape == ijds.shape and revs.dtype == np.int64
    assert revs.min() >= 0 and revs.max() == LAST
    # Each time lies within its revolution's bounds.
    assert np.all(starts_ijd()[revs] <= ijds) and np.all(ijds < ends_ijd()[revs])
    for ijd, rev in zip(ijds[:50], revs[:50], strict=True):
        assert revolution_at(ijd_to_time(float(ijd))) == rev
    outside = revolutions_at_ijd([begin - 1e-6, end, end + 100.0, begin])
    assert outside.tolist() == [-1, -1, -1, 0]


@pytest.mark.parametrize(
    "t",
    [
        MISSION_START - TimeDelta(1e-3, format="sec"),
        MISSION_END,
        "2002-01-01T00:00:00",
        "2026-01-01T00:00:00",
        datetime(1999, 1, 1),
    ],
)
def test_revolution_at_outside_mission(t: Time | datetime | str) -> None:
    with pytest.raises(ValueError, match="outside the INTEGRAL mission"):
        revolution_at(t)


@pytest.mark.parametrize("rev", [-1, LAST + 1, 9999])
def test_revolution_bounds_outside_mission(rev: int) -> None:
    for function in (revolution_start, revolution_end, revolution_bounds, revolution_bounds_ijd):
        with pytest.raises(ValueError, match="outside the mission"):
            function(rev)


def test_old_import_paths_still_work() -> None:
    """Code importing the revolution functions from shared.integral(.time) gets the table."""
    from shared.integral import revolution_at as from_package
    from shared.integral.time import revolution_start as from_time

    assert from_package is revolution_at
    assert from_time is revolution_start
