"""The shapes of the demo's simulated bursts: T90 bimodal, positions uniform in the field."""

from __future__ import annotations

import math

import numpy as np

from shared.demo import grbs
from shared.demo.generator import _frame


def test_t90_is_bimodal_with_a_short_class() -> None:
    rng = np.random.default_rng(1)
    t90 = np.array([grbs.draw_t90(rng) for _ in range(20_000)])
    short = float(np.mean(t90 < 2.0))
    assert abs(short - grbs.SHORT_FRACTION) < 0.03
    counts, edges = np.histogram(np.log10(t90), bins=np.arange(-2.0, 3.01, 0.25))
    centres = (edges[:-1] + edges[1:]) / 2

    def peak(lo: float, hi: float) -> int:
        return int(counts[(centres > lo) & (centres < hi)].max())

    dip = int(counts[(centres > 0.1) & (centres < 0.4)].min())  # 1.3 to 2.5 s
    assert dip < peak(-1.0, 0.0) and dip < peak(1.0, 2.0)  # two humps, a valley between


def test_positions_are_uniform_within_the_isgri_field() -> None:
    rng = np.random.default_rng(2)
    ra0, dec0, pa = 266.4, -29.0, 30.0
    frame = _frame(ra0, dec0, pa)
    along: list[tuple[float, float]] = []
    for _ in range(4000):
        ra, dec, offaxis = grbs.position_in_field(rng, ra0, dec0, pa)
        a, d = math.radians(ra), math.radians(dec)
        v = np.array([math.cos(d) * math.cos(a), math.cos(d) * math.sin(a), math.sin(d)])
        x, y, z = frame @ v
        assert x > 0 and offaxis < 21.0
        along.append((math.degrees(math.atan2(y, x)), math.degrees(math.atan2(z, x))))
    ys, zs = np.array(along).T
    assert np.abs(ys).max() <= 14.5 + 1e-9 and np.abs(zs).max() <= 14.5 + 1e-9
    # Uniform on the sphere: the inner half-width square holds about a quarter of the bursts
    # (slightly more than in the tangent plane, whose outer parts cover less sky).
    inner = float(np.mean((np.abs(ys) < 7.25) & (np.abs(zs) < 7.25)))
    assert 0.22 < inner < 0.32
