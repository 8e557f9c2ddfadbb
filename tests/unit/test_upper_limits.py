"""Upper-limit arithmetic and the QC of sensitivity tables (no database)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from services.ingest import qc
from shared.demo.sensitivity import sensitivity_table
from shared.products import upperlimits as ul


def test_erg_per_mcrab_is_the_documented_power_law() -> None:
    centre = math.sqrt(28.0 * 40.0)
    expected = 1e-3 * 10.0 * centre ** (2.0 - 2.1) * math.log(40.0 / 28.0) * 1.602176634e-9
    assert ul.erg_per_mcrab(28.0, 40.0) == pytest.approx(expected)
    # A Crab-like spectrum: 1000 mCrab is about the Crab's own flux in the band.
    crab = 10.0 * (28.0**-0.1 - 40.0**-0.1) / 0.1 * 1.602176634e-9
    assert 1000 * ul.erg_per_mcrab(28.0, 40.0) == pytest.approx(crab, rel=0.01)
    with pytest.raises(ValueError):
        ul.erg_per_mcrab(40.0, 28.0)


def test_inverse_variance_combination() -> None:
    assert ul.combined_sigma([1.0, 1.0, 1.0, 1.0]) == pytest.approx(0.5)
    assert math.isnan(ul.combined_sigma([]))
    bins = ul.by_revolution(
        np.array([7, 5, 7, 5], dtype=np.int64),
        np.array([30.0, 10.0, 20.0, 11.0]),
        np.array([31.0, 10.5, 21.0, 11.5]),
        np.array([100.0, 200.0, 300.0, 400.0]),
        np.array([2.0, 1.0, 2.0, 1.0]),
    )
    assert bins.ids.tolist() == [5, 7]
    assert bins.t_start.tolist() == [10.0, 20.0] and bins.t_stop.tolist() == [11.5, 31.0]
    assert bins.exposure.tolist() == [600.0, 400.0]
    assert bins.rate_sigma == pytest.approx([1 / math.sqrt(2), math.sqrt(2)])
    assert bins.nscw.tolist() == [2, 2]
    total = bins.total()
    assert total.rate_sigma[0] == pytest.approx(ul.combined_sigma([2.0, 1.0, 2.0, 1.0]))
    assert len(bins.within(21.5, 40.0)) == 1


def _columns(**change: object) -> dict[str, np.ndarray]:
    columns = {
        "hpx": np.array([1, 2, 2], dtype=np.int64),
        "scw_id": np.array(["008100430010", "008100430010", "008100440010"]),
        "revolution": np.array([81, 81, 81], dtype=np.int64),
        "t_start": np.array([1000.0, 1000.0, 1000.1]),
        "t_stop": np.array([1000.05, 1000.05, 1000.15]),
        "exposure": np.array([1800.0, 900.0, 1700.0]),
        "rate_sigma": np.array([0.1, 0.2, 0.1]),
    }
    columns.update({k: np.asarray(v) for k, v in change.items()})
    return columns


def test_a_good_table_passes_qc_with_its_rows() -> None:
    data = sensitivity_table("ISGRI", "28_40", 5, _columns(), 60.0)
    facts, problems, _warnings = qc.inspect_file("isgri_sens.fits", data, 10**8)
    assert problems == []
    assert facts.kind == ul.SENSITIVITY_KIND
    assert facts.simulated
    rows = facts.sensitivity
    assert rows is not None and rows.order == 5 and rows.crab_count_rate == 60.0
    assert rows.t_start.tolist() == [1000.0, 1000.0, 1000.1]  # IJD (MJDREF 51544)
    assert rows.scw_id.tolist()[2] == "008100440010"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"hpx": [1, 2, 12 * 4**5]}, "healpix"),
        ({"rate_sigma": [0.1, 0.0, 0.1]}, "rate_sig"),
        ({"exposure": [1800.0, -1.0, 1700.0]}, "exposure"),
        ({"t_stop": [999.0, 1000.05, 1000.15]}, "time"),
        ({"scw_id": ["0081004300", "008100430010", "008100440010"]}, "scw_id"),
        ({"hpx": [2, 2, 2], "scw_id": ["008100430010"] * 3}, "duplicate"),
    ],
)
def test_bad_rows_are_refused(change: dict[str, object], code: str) -> None:
    data = sensitivity_table("ISGRI", "28_40", 5, _columns(**change), 60.0)
    _facts, problems, _warnings = qc.inspect_file("isgri_sens.fits", data, 10**8)
    assert code in {p.code for p in problems}


def test_bad_header_is_refused() -> None:
    data = sensitivity_table("ISGRI", "28_40", 5, _columns(), -1.0)
    _facts, problems, _warnings = qc.inspect_file("isgri_sens.fits", data, 10**8)
    assert any(p.code == "keyword" and "CRABRATE" in p.message for p in problems)
