"""pgSphere literals: degrees in, validated, and radian output parsed back."""

from __future__ import annotations

import math

import pytest

from deploy.pgsphere_fix import patched
from shared.db.pgsphere import SPoint, SPoly, spoint_literal, spoly_literal


def test_spoint_literal_wraps_ra() -> None:
    assert spoint_literal(-10.0, 5.0) == "(350.0d, 5.0d)"


@pytest.mark.parametrize("ra,dec", [(0.0, 91.0), (math.nan, 0.0), (0.0, math.inf)])
def test_spoint_literal_rejects_impossible_positions(ra: float, dec: float) -> None:
    with pytest.raises(ValueError):
        spoint_literal(ra, dec)


def test_spoly_needs_three_vertices() -> None:
    with pytest.raises(ValueError, match="three"):
        spoly_literal([(0.0, 0.0), (1.0, 0.0)])


def test_results_are_read_back_in_degrees() -> None:
    point = SPoint().result_processor(None, None)("(1.45967 , 0.384222)")
    assert point is not None
    assert point[0] == pytest.approx(83.633, abs=1e-3)
    assert point[1] == pytest.approx(22.0143, abs=1e-3)
    poly = SPoly().result_processor(None, None)("{(0 , 0),(0.1 , 0),(0.1 , 0.1)}")
    assert poly is not None and len(poly) == 3


def test_pgsphere_script_fix_is_targeted_and_idempotent() -> None:
    script = (
        "CREATE OPERATOR <@ (\n   LEFTARG = spoint,\n   COMMUTATOR = '@>',\n"
        "   NEGATOR = '!<@',\n   PROCEDURE = f\n);\n"
        "CREATE OPERATOR @ (\n   LEFTARG = spoint,\n   RIGHTARG = smoc,\n"
        "   COMMUTATOR = '@>',\n   NEGATOR    = '!<@',\n   PROCEDURE = g\n);\n"
    )
    fixed = patched(script)
    assert fixed.count("COMMUTATOR = '@>'") == 1  # the <@ operator keeps its own
    assert "NEGATOR    = '!<@'" not in fixed
    assert patched(fixed) == fixed
