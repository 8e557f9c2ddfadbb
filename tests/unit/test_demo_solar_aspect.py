"""INTEGRAL's solar aspect constraint in the demo plans, checked with astropy's Sun.

Every pointing the generator plans, at demo and at bench scale, keeps its axis between 50°
and 130° from the Sun from its start to its end. The check uses astropy's ``get_sun``, not
the almanac formula the planner uses, so the two keep each other honest.
"""

from __future__ import annotations

from collections import defaultdict

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord, get_sun

from shared.demo import FIXED_CONTENT, PlannedPointing, planned_pointings
from shared.integral.revolutions import revolution_bounds_ijd
from shared.integral.sun import SOLAR_ASPECT_MAX, SOLAR_ASPECT_MIN, solar_aspect, sun_radec
from shared.integral.time import ijd_to_time


def _astropy_aspect(ra: np.ndarray, dec: np.ndarray, ijd: np.ndarray) -> np.ndarray:
    sun = get_sun(ijd_to_time(ijd))
    axis = SkyCoord(ra * u.deg, dec * u.deg)
    return np.asarray(axis.separation(SkyCoord(sun.ra, sun.dec)).deg)


def test_sun_position_matches_astropy() -> None:
    ijd = np.linspace(1000.0, 9200.0, 3000)  # 2002 to 2025
    ra, dec = sun_radec(ijd)
    sun = get_sun(ijd_to_time(ijd))
    error = SkyCoord(ra * u.deg, dec * u.deg).separation(SkyCoord(sun.ra, sun.dec)).deg
    assert error.max() < 0.02


def test_solar_aspect_broadcasts_and_matches_astropy() -> None:
    rng = np.random.default_rng(3)
    ra, dec = rng.uniform(0, 360, 500), np.degrees(np.arcsin(rng.uniform(-1, 1, 500)))
    ijd = rng.uniform(1000.0, 9200.0, 500)
    np.testing.assert_allclose(solar_aspect(ra, dec, ijd), _astropy_aspect(ra, dec, ijd), atol=0.02)
    assert solar_aspect(ra[:, None], dec[:, None], ijd[:2]).shape == (500, 2)


@pytest.fixture(scope="module", params=["demo", "bench"])
def plan(request: pytest.FixtureRequest) -> tuple[str, list[PlannedPointing]]:
    """Every pointing of one scale's plan (bench: ~9,000 pointings in a few seconds)."""
    return request.param, list(planned_pointings(request.param))


def test_every_pointing_obeys_the_solar_aspect_constraint(
    plan: tuple[str, list[PlannedPointing]],
) -> None:
    scale, pointings = plan
    assert len(pointings) > (800 if scale == "demo" else 8000)
    ra = np.array([p.ra for p in pointings])
    dec = np.array([p.dec for p in pointings])
    for ijd in (
        np.array([p.start_ijd for p in pointings]),
        np.array([p.end_ijd for p in pointings]),
    ):
        aspect = _astropy_aspect(ra, dec, ijd)
        worst = pointings[int(np.argmin(np.minimum(aspect - 50.0, 130.0 - aspect)))]
        assert aspect.min() >= SOLAR_ASPECT_MIN, worst
        assert aspect.max() <= SOLAR_ASPECT_MAX, worst


def test_pointings_lie_in_their_revolution(plan: tuple[str, list[PlannedPointing]]) -> None:
    """Science windows fit inside their revolution, clear of the perigee passage."""
    _scale, pointings = plan
    for p in pointings:
        start, end = revolution_bounds_ijd(p.revolution)
        assert start + 4 / 24 < p.start_ijd < p.end_ijd < end - 2 / 24, p
        assert int(p.scw_id[:4]) == p.revolution


def test_fixed_content_is_planned(plan: tuple[str, list[PlannedPointing]]) -> None:
    _scale, pointings = plan
    by_obsid: dict[str, list[PlannedPointing]] = defaultdict(list)
    for p in pointings:
        by_obsid[p.obsid].append(p)
    assert FIXED_CONTENT.scw in {p.scw_id for p in pointings}
    crab = by_obsid[FIXED_CONTENT.crab_obsid]
    assert crab and {p.revolution for p in crab} == {FIXED_CONTENT.crab_revolution}
    assert {p.target for p in crab} == {"Crab"}
    smc = by_obsid[FIXED_CONTENT.smc_x1_obsid]
    assert smc and {p.revolution for p in smc} == {FIXED_CONTENT.smc_x1_revolution}
    assert {p.target for p in smc} == {"SMC X-1"}


def test_crab_is_observed_in_spring_and_autumn(plan: tuple[str, list[PlannedPointing]]) -> None:
    _scale, pointings = plan
    months = {
        int(ijd_to_time(p.start_ijd).utc.ymdhms["month"])
        for p in pointings
        if p.target == "Crab" and p.scw_id.endswith("0")
    }
    # The Sun is too close to the Crab in June and too far (opposite) in December.
    assert months
    assert months <= {2, 3, 4, 8, 9, 10}
    assert months & {2, 3, 4} and months & {8, 9, 10}
