"""The named sources' catalogue (``bright_sources.csv``) and the demo's variability model."""

from __future__ import annotations

import re

import numpy as np
import pytest

from shared.demo import bright_sources
from shared.demo import variability as v
from shared.demo.generator import flux_20_35

MISSION = np.arange(v.MISSION_IJD[0], v.MISSION_IJD[1], 0.1)
REFERENCE = re.compile(r"^(Bird\+2016|Krivonos\+2022|estimate: \S.*)$")


def test_every_named_source_has_flux_reference_and_class() -> None:
    sources = bright_sources()
    assert len(sources) > 50
    for source in sources:
        assert source.flux_20_40 > 0, source.name
        assert REFERENCE.match(source.reference), (source.name, source.reference)
        assert source.variability in v.CLASSES, source.name
    by_name = {s.name: s for s in sources}
    assert by_name["Crab"].flux_20_40 == 1000.0 and by_name["Crab"].variability == "steady"
    assert by_name["Sgr A*"].variability == "faint" and by_name["Sgr A*"].flux_20_40 < 30
    for name in ("Cyg X-1", "GX 301-2", "Vela X-1", "Her X-1", "Sco X-1", "GX 5-1"):
        assert by_name[name].variability == "persistent", name
    for name in ("V404 Cyg", "MAXI J1820+070", "Aql X-1", "GRO J1655-40", "XTE J1550-564"):
        assert by_name[name].variability == "transient", name
    for source in sources:
        if source.variability == "agn":
            assert source.flux_20_40 <= 60, source.name


def _factor(name: str) -> np.ndarray:
    source = next(s for s in bright_sources() if s.name == name)
    return v.flux_factor(v.variability_for(source.name, source.variability), MISSION)


@pytest.mark.parametrize("name", ["Crab", "Cyg X-1", "V404 Cyg", "Sgr A*", "Cen A", "Aql X-1"])
def test_factor_averages_to_one_over_the_mission(name: str) -> None:
    assert float(_factor(name).mean()) == pytest.approx(1.0, rel=0.02)


def test_crab_is_steady() -> None:
    factor = _factor("Crab")
    assert np.all(np.abs(factor - 1.0) < 0.02)


def test_persistent_sources_never_go_quiescent() -> None:
    for source in bright_sources():
        if source.variability != "persistent":
            continue
        factor = _factor(source.name)
        assert np.percentile(factor, 10) > np.median(factor) / 5, source.name
        assert factor.min() >= v.PERSISTENT_FLOOR / 1.2, source.name
        assert factor.std() > 0.05, source.name  # they do vary


def test_transients_have_outbursts_and_are_faint_otherwise() -> None:
    for source in bright_sources():
        if source.variability != "transient":
            continue
        factor = _factor(source.name)
        assert factor.max() > 10 * np.median(factor), source.name
        assert np.median(factor) < 0.5, source.name


def test_known_outbursts_are_at_their_dates() -> None:
    factor = _factor("V404 Cyg")
    peak = MISSION[np.argmax(factor)]
    assert 57199 - 51544 - 2 <= peak <= 57199 - 51544 + 2  # 2015 June
    maxi = _factor("MAXI J1820+070")
    assert abs(MISSION[np.argmax(maxi)] - (58201 - 51544)) < 10  # 2018 March


def test_agn_stay_within_a_few_times_their_mean() -> None:
    for source in bright_sources():
        if source.variability == "agn":
            assert _factor(source.name).max() < 3.0, source.name


def test_model_is_deterministic_and_constant_without_a_class() -> None:
    a = v.flux_factor(v.variability_for("Cyg X-1", "persistent"), MISSION[:100])
    v.variability_for.cache_clear()
    b = v.flux_factor(v.variability_for("Cyg X-1", "persistent"), MISSION[:100])
    assert np.array_equal(a, b)
    assert np.all(v.flux_factor(v.variability_for("IGR J0000+0000", None), MISSION) == 1.0)
    with pytest.raises(ValueError, match="unknown variability class"):
        v.variability_for("X", "sometimes")


def test_flux_20_35_keeps_the_20_40_flux_of_the_power_law() -> None:
    assert flux_20_35(100.0, 1.0) == pytest.approx(100.0)
    # A softer source (less flux at 35-60 keV) has more at 20-35 than at 20-40 keV.
    assert flux_20_35(100.0, 0.5) > 100.0
    assert flux_20_35(100.0, 1.5) < 100.0
