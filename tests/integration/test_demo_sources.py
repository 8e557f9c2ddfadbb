"""The named sources of the demo archive behave like themselves in their light-curve points.

The points are the generated ones of the demo archive (the ``archive`` fixture): per science
window, in ISGRI's 28-40 keV band, rates in counts/s. One Crab is the rate the instrument model
gives the Crab in that band, which is how the generator normalises every source's flux.
"""

from __future__ import annotations

import numpy as np
import pytest

from shared.demo import bright_sources, model
from shared.integral.ids import source_id_from_position
from tests.conftest import Archive

pytestmark = pytest.mark.integration

CRAB_RATE = model.crab_rate("ISGRI", "28_40")
"""1 Crab in ISGRI 28-40 keV (counts/s)."""


def _ids() -> dict[str, str]:
    return {s.name: source_id_from_position(s.ra, s.dec) for s in bright_sources()}


def _points(archive: Archive, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(time, rate, exposure) of the source's ISGRI 28-40 keV points, in time order."""
    rows = archive.rows(
        "SELECT p.time_ijd, p.rate, p.exposure FROM isla.lightcurve_points p "
        "JOIN isla.energy_bands b USING (band_id) "
        "WHERE p.source_id = :s AND b.instrument = 'ISGRI' AND b.name = '28_40' "
        "ORDER BY p.time_ijd",
        s=_ids()[name],
    )
    data = np.array([tuple(r) for r in rows], dtype=np.float64).reshape(-1, 3)
    return data[:, 0], data[:, 1], data[:, 2]


def test_crab_is_one_crab(archive: Archive) -> None:
    """The Crab's exposure-weighted 28-40 keV mean is 1 Crab within 10 %, and it is steady."""
    _t, rate, exposure = _points(archive, "Crab")
    assert len(rate) > 50
    mean = float(np.average(rate, weights=exposure))
    assert mean == pytest.approx(CRAB_RATE, rel=0.10)
    # Well-exposed points scatter by their noise only: a few per cent.
    good = exposure > np.median(exposure)
    assert np.std(rate[good]) / mean < 0.1


def test_cyg_x1_never_goes_quiescent(archive: Archive) -> None:
    """Cyg X-1 is persistent: its 10th-percentile flux is above a fifth of its median."""
    _t, rate, _exposure = _points(archive, "Cyg X-1")
    assert len(rate) > 20
    median = float(np.median(rate))
    assert median > 0.3 * CRAB_RATE  # a bright source, hundreds of mCrab
    assert float(np.percentile(rate, 10)) > median / 5


def test_sgr_a_star_is_faint(archive: Archive) -> None:
    """Sgr A* is below 3 % of the Crab in hard X-rays."""
    _t, rate, exposure = _points(archive, "Sgr A*")
    assert len(rate) > 20
    assert float(np.average(rate, weights=exposure)) < 0.03 * CRAB_RATE


def test_agn_are_tens_of_mcrab_at_most(archive: Archive) -> None:
    """No AGN's exposure-weighted mean exceeds 100 mCrab."""
    for source in bright_sources():
        if source.variability != "agn":
            continue
        _t, rate, exposure = _points(archive, source.name)
        if len(rate):
            assert float(np.average(rate, weights=exposure)) < 0.1 * CRAB_RATE, source.name


def test_transients_have_outbursts(archive: Archive) -> None:
    """A transient seen both in outburst and in quiescence: its brightest points stand far
    above its usual (median) level, which is a few mCrab at most."""
    contrasts = {}
    for source in bright_sources():
        if source.variability != "transient":
            continue
        _t, rate, _exposure = _points(archive, source.name)
        if len(rate) < 20:
            continue
        median = float(np.median(rate))
        assert median < 0.02 * CRAB_RATE, source.name  # faint outside outbursts
        contrasts[source.name] = float(np.max(rate)) / CRAB_RATE
    assert contrasts
    # Peaks of at least 100 mCrab against medians of a few mCrab.
    assert max(contrasts.values()) > 0.1, contrasts


def test_generated_points_are_simulated_and_came_through_ingestion(archive: Archive) -> None:
    """Every generated point is flagged simulated and lies in a results table the demo team
    delivered; the only points that may not be simulated are the real 1A 1742-289 ones."""
    delivered = (
        "EXISTS (SELECT 1 FROM isla.products r WHERE r.kind = 'lc_results' "
        "AND r.instrument = {instrument} AND r.meta->>'team' = 'isla-demo' AND r.simulated "
        "AND p.revolution BETWEEN (r.meta->>'revfirst')::int AND (r.meta->>'revlast')::int)"
    )
    rows = archive.rows(
        "SELECT p.simulated, p.source_id, p.instrument, count(*) AS n, "
        f"bool_and({delivered.format(instrument='p.instrument')}) AS delivered "
        "FROM isla.lightcurve_points p GROUP BY 1, 2, 3"
    )
    # Real points exist where a pointing of the demo sees 1A 1742-289 at a real file's time.
    real = {(r.source_id, r.instrument) for r in rows if not r.simulated}
    assert real <= {(_ids()["1A 1742-289"], "JEM-X")}
    assert all(r.delivered for r in rows if r.simulated)
    assert sum(r.n for r in rows if r.simulated) > 100_000
    omc_delivered = delivered.format(instrument="'OMC'")
    omc = archive.rows(
        "SELECT bool_and(p.simulated) AS simulated, "
        f"bool_and({omc_delivered}) AS delivered, count(*) AS n FROM isla.omc_points p"
    )[0]
    assert omc.simulated and omc.delivered and omc.n > 100
