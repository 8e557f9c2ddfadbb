"""The field-of-view tests of the demo's light-curve points against the ScW footprints."""

from __future__ import annotations

import math

import numpy as np

from shared.demo.generator import _JEMX_SHAPE, _frame, _radec
from shared.demo.lightcurves import JEMX_SIDES, _in_jemx_polygon


def test_jemx_polygon_matches_the_footprint() -> None:
    """Just inside and just outside the footprint's vertices and edge middles."""
    assert len(_JEMX_SHAPE) == JEMX_SIDES
    ra, dec, posangle = 266.4, -29.0, 37.0
    frame = _frame(ra, dec, posangle)
    corners = _JEMX_SHAPE
    middles = (corners + np.roll(corners, -1, axis=0)) / 2
    for scale, inside in ((0.999, True), (1.001, False)):
        for shape in (corners, middles):
            vectors = frame[0] + scale * shape[:, :1] * frame[1] + scale * shape[:, 1:] * frame[2]
            sky = _radec(vectors)
            n = len(sky)
            got = _in_jemx_polygon(
                sky[:, 0], sky[:, 1], np.full(n, ra), np.full(n, dec), np.full(n, posangle)
            )
            assert got.tolist() == [inside] * n, (scale, inside)
    # The pointing axis is inside; the antipode is not.
    centre = _in_jemx_polygon(
        np.array([ra, (ra + 180) % 360]),
        np.array([dec, -dec]),
        np.full(2, ra),
        np.full(2, dec),
        np.full(2, posangle),
    )
    assert centre.tolist() == [True, False]
    assert math.isclose(float(np.hypot(*_JEMX_SHAPE[0])), math.tan(math.radians(6.6)))
