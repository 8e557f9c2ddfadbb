"""The demo archive on INTEGRAL's timeline: its revolutions are the table's, its science
windows lie inside them, and every pointing obeys the solar aspect constraint.

Uses the session's demo archive (the ``archive`` fixture) and astropy's Sun as the referee.
"""

from __future__ import annotations

import io
from typing import Any

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord, get_sun
from astropy.io import fits

from shared.integral.revolutions import ends_ijd, revolutions_at_ijd, starts_ijd
from shared.integral.sun import SOLAR_ASPECT_MAX, SOLAR_ASPECT_MIN
from shared.integral.time import ijd_to_time, time_to_ijd
from shared.storage import ObjectStore

pytestmark = pytest.mark.integration


def test_revolutions_are_the_tables(archive: Any) -> None:
    """Each revolution row has the table's start and end, in IJD and in UTC."""
    revolutions = archive.rows(
        "SELECT revolution, start_time, end_time, start_ijd, end_ijd FROM isla.revolutions "
        "ORDER BY revolution"
    )
    assert len(revolutions) > 90
    revs = np.array([r.revolution for r in revolutions])
    np.testing.assert_allclose([r.start_ijd for r in revolutions], starts_ijd()[revs], atol=1e-9)
    np.testing.assert_allclose([r.end_ijd for r in revolutions], ends_ijd()[revs], atol=1e-9)
    for r in revolutions[::10]:
        assert abs(time_to_ijd(r.start_time) - r.start_ijd) < 1e-8
        assert abs(time_to_ijd(r.end_time) - r.end_ijd) < 1e-8


def test_science_windows_lie_in_their_revolution(archive: Any) -> None:
    windows = archive.rows(
        "SELECT w.scw_id, w.revolution, w.start_ijd, w.end_ijd, r.start_ijd AS rev_start, "
        "r.end_ijd AS rev_end FROM isla.science_windows w JOIN isla.revolutions r "
        "USING (revolution)"
    )
    assert len(windows) > 1000
    for w in windows:
        assert w.rev_start < w.start_ijd < w.end_ijd < w.rev_end, w.scw_id
        assert int(w.scw_id[:4]) == w.revolution
    starts = np.array([w.start_ijd for w in windows])
    np.testing.assert_array_equal(
        revolutions_at_ijd(starts), np.array([w.revolution for w in windows])
    )


def test_every_pointing_obeys_the_solar_aspect_constraint(archive: Any) -> None:
    """50° to 130° from the Sun at the start and the end of every pointing, fixed content too."""
    pointings = archive.rows(
        "SELECT scw_id, ra, dec, start_ijd, end_ijd FROM isla.science_windows "
        "WHERE scw_type = 'pointing'"
    )
    ids = {p.scw_id for p in pointings}
    assert "008100430010" in ids
    assert {"0727", "0745"} <= {scw[:4] for scw in ids}
    axis = SkyCoord([p.ra for p in pointings] * u.deg, [p.dec for p in pointings] * u.deg)
    for column in ("start_ijd", "end_ijd"):
        sun = get_sun(ijd_to_time(np.array([getattr(p, column) for p in pointings])))
        aspect = axis.separation(SkyCoord(sun.ra, sun.dec)).deg
        assert aspect.min() >= SOLAR_ASPECT_MIN
        assert aspect.max() <= SOLAR_ASPECT_MAX


def test_orbit_files_follow_the_revolution(archive: Any) -> None:
    """The auxiliary orbit file of a revolution spans that revolution, perigee to perigee."""
    store = ObjectStore.from_settings(archive.storage_settings)
    for rev in (81, 745):
        (row,) = archive.rows(
            "SELECT a.object_key, r.start_ijd, r.end_ijd FROM isla.aux_files a "
            "JOIN isla.revolutions r USING (revolution) "
            "WHERE a.revolution = :rev AND a.name = 'orbit_historic.fits'",
            rev=rev,
        )
        data = store.read_bytes(store.raw_bucket, row.object_key)
        with fits.open(io.BytesIO(data)) as hdul:
            table = hdul["INTL-ORBI-HIS"].data
            times = np.asarray(table["TIME"], dtype=np.float64)
            assert hdul["INTL-ORBI-HIS"].header["REVOL"] == rev
        assert times[0] == pytest.approx(row.start_ijd, abs=1e-9)
        assert row.start_ijd <= times.max() < row.end_ijd
        distance = np.hypot(np.hypot(table["XPOS"], table["YPOS"]), table["ZPOS"])
        # Perigee at the start of the revolution, apogee half-way through.
        assert distance[0] == distance.min()
        half = np.argmax(distance) / len(distance)
        assert 0.45 < half < 0.55
