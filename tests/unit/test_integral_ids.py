"""Unit tests for shared.integral.ids: ScW ids, observation ids, epochs, revolutions, sources."""

from __future__ import annotations

import dataclasses
import pickle
from typing import Any

import pytest

from shared.integral import (
    Epoch,
    InvalidIdentifier,
    ObsId,
    ScwId,
    SourceId,
    format_revolution,
    parse_epoch,
    parse_obsid,
    parse_revolution,
    parse_scw_id,
    parse_source_id,
    source_id_from_position,
    validate_revolution,
)

# --- errors ----------------------------------------------------------------------------------


def test_invalid_identifier_message_and_attributes() -> None:
    with pytest.raises(InvalidIdentifier) as info:
        parse_scw_id("12ab")
    err = info.value
    assert isinstance(err, ValueError)
    assert err.kind == "ScW id"
    assert err.value == "12ab"
    assert "RRRRPPPPSSSF" in err.expected
    assert str(err).startswith("Invalid ScW id '12ab': expected 12 digits RRRRPPPPSSSF")


def test_invalid_identifier_bounds_echoed_input_and_pickles() -> None:
    err = InvalidIdentifier("ScW id", "9" * 500, "12 digits")
    assert len(str(err)) < 120
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.kind, copy.value, copy.expected, str(copy)) == (
        err.kind,
        err.value,
        err.expected,
        str(err),
    )


# --- ScW ids ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rev", "pointing", "sub", "scw_type", "version"),
    [
        ("008100430010", 81, 43, 1, "pointing", "001"),
        ("008100430010.001", 81, 43, 1, "pointing", "001"),
        ("  008100430010.001\n", 81, 43, 1, "pointing", "001"),
        ("072700210021.002", 727, 21, 2, "slew", "002"),
        ("000000000000", 0, 0, 0, "pointing", "001"),
        ("999999999991.999", 9999, 9999, 999, "slew", "999"),
    ],
)
def test_scw_parse_valid(
    text: str, rev: int, pointing: int, sub: int, scw_type: str, version: str
) -> None:
    scw = ScwId.parse(text)
    assert (scw.revolution, scw.pointing, scw.subpointing) == (rev, pointing, sub)
    assert (scw.scw_type, scw.version) == (scw_type, version)
    assert parse_scw_id(text) == scw
    assert ScwId.parse(scw.full) == scw
    assert ScwId.parse(scw.id) == dataclasses.replace(scw, version="001")


def test_scw_properties() -> None:
    scw = ScwId.parse("008100430010")
    assert scw.id == "008100430010"
    assert scw.full == str(scw) == "008100430010.001"
    assert scw.path == "scw/0081/008100430010.001/"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "12ab",
        "00810043001",  # 11 digits
        "0081004300100",  # 13 digits
        "00810043001a",
        "008100430010.",
        "008100430010.1",
        "008100430010.0001",
        "008100430010.000",
        "008100430010.abc",
        "008100430012",  # type digit must be 0 or 1
        "0081 00430010",
        "٠٠٨١٠٠٤٣٠٠١٠",  # Arabic-Indic digits
    ],
)
def test_scw_parse_invalid(text: str) -> None:
    with pytest.raises(InvalidIdentifier, match=r"expected 12 digits RRRRPPPPSSSF") as info:
        ScwId.parse(text)
    assert info.value.kind == "ScW id"


def test_scw_parse_non_string() -> None:
    with pytest.raises(InvalidIdentifier, match="not a string"):
        ScwId.parse(8100430010)  # type: ignore[arg-type]


def test_scw_make() -> None:
    assert ScwId.make(81, 43, 1).full == "008100430010.001"
    assert ScwId.make(727, 21, 2, slew=True, version=3).full == "072700210021.003"
    assert ScwId.make(81, 43, 1) == ScwId.parse("008100430010")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rev": 10000, "pointing": 0, "sub": 0},
        {"rev": -1, "pointing": 0, "sub": 0},
        {"rev": 1, "pointing": 10000, "sub": 0},
        {"rev": 1, "pointing": 0, "sub": 1000},
        {"rev": 1, "pointing": 0, "sub": 0, "version": 0},
        {"rev": 1, "pointing": 0, "sub": 0, "version": 1000},
    ],
)
def test_scw_make_invalid(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidIdentifier, match="RRRRPPPPSSSF"):
        ScwId.make(**kwargs)


def test_scw_is_frozen() -> None:
    scw = ScwId.make(81, 43, 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        scw.revolution = 82  # type: ignore[misc]


# --- Observation ids -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "proposal", "cycle", "sequence"),
    [
        ("06340000001", "0634000", 6, 1),
        ("88601650001", "8860165", 88, 1),
        (" 02200040012 ", "0220004", 2, 12),
    ],
)
def test_obsid_valid(text: str, proposal: str, cycle: int, sequence: int) -> None:
    obs = ObsId.parse(text)
    assert obs == parse_obsid(text)
    assert str(obs) == text.strip()
    assert (obs.proposal_id, obs.ao_cycle, obs.sequence) == (proposal, cycle, sequence)


@pytest.mark.parametrize(
    "text", ["", "0634000000", "063400000011", "0634000000a", "0634-000001", "06340000001.001"]
)
def test_obsid_invalid(text: str) -> None:
    with pytest.raises(InvalidIdentifier, match=r"expected 11 digits") as info:
        ObsId.parse(text)
    assert info.value.kind == "observation id"


def test_obsid_constructor_validates() -> None:
    with pytest.raises(InvalidIdentifier):
        ObsId("123")


# --- ISLA epochs -----------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["0745_06340000001", "0000_88601650001", " 0081_02200040012 "])
def test_epoch_round_trip(text: str) -> None:
    epoch = Epoch.parse(text)
    assert epoch == parse_epoch(text)
    assert str(epoch) == text.strip()


def test_epoch_parts_and_make() -> None:
    epoch = Epoch.parse("0745_06340000001")
    assert epoch.revolution == 745
    assert epoch.obsid == ObsId("06340000001")
    assert Epoch.make(745, "06340000001") == epoch
    assert Epoch.make(745, ObsId("06340000001")) == epoch
    assert str(Epoch.make(7, "06340000001")) == "0007_06340000001"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "745_06340000001",
        "0745-06340000001",
        "0745_0634000000",
        "0745_063400000011",
        "07450634000000_1",
        "0745_06340000001_",
    ],
)
def test_epoch_invalid(text: str) -> None:
    with pytest.raises(InvalidIdentifier, match=r"expected RRRR_OOOOOOOOOOO"):
        Epoch.parse(text)


def test_epoch_make_invalid() -> None:
    with pytest.raises(InvalidIdentifier, match="11 digits"):
        Epoch.make(745, "123")
    with pytest.raises(InvalidIdentifier, match="RRRR_OOOOOOOOOOO"):
        Epoch.make(10000, "06340000001")


# --- Revolutions -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"), [("0081", 81), ("81", 81), (81, 81), (" 0 ", 0), ("9999", 9999)]
)
def test_parse_revolution_valid(value: str | int, expected: int) -> None:
    assert parse_revolution(value) == expected


@pytest.mark.parametrize("value", ["", "00081", "-1", "8a", "1_0", "٨١", -1, 10000, True, 8.0])
def test_parse_revolution_invalid(value: object) -> None:
    with pytest.raises(InvalidIdentifier, match="revolution number from 0 to 9999"):
        parse_revolution(value)  # type: ignore[arg-type]


def test_format_and_validate_revolution() -> None:
    assert format_revolution(81) == "0081"
    assert format_revolution(2849) == "2849"
    assert validate_revolution(2849, max_rev=2849) == 2849
    with pytest.raises(InvalidIdentifier, match="from 0 to 2849"):
        validate_revolution(2850, max_rev=2849)
    with pytest.raises(InvalidIdentifier):
        format_revolution(10000)


# --- Source ids ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ra", "dec", "expected"),
    [
        (83.6332, 22.0145, "J053432.0+220052"),  # Crab
        (19.2714, -73.4433, "J011705.1-732636"),  # SMC X-1
        (266.4040, -29.0186, "J174537.0-290107"),  # 1A 1742-289
        (0.0, 0.0, "J000000.0+000000"),
        (360.0, 0.0, "J000000.0+000000"),
        (359.99999, 10.0, "J000000.0+100000"),  # 23h59m59.998s rounds up and wraps
        (359.999, 10.0, "J235959.8+100000"),
        (-15.0, 0.0, "J230000.0+000000"),
        (0.0, -0.0001, "J000000.0-000000"),
        (0.0, 90.0, "J000000.0+900000"),
        (0.0, -90.0, "J000000.0-900000"),
        (15.0, 1.0 / 3600.0, "J010000.0+000001"),
    ],
)
def test_source_id_from_position(ra: float, dec: float, expected: str) -> None:
    assert source_id_from_position(ra, dec) == expected


@pytest.mark.parametrize(
    ("ra", "dec"), [(0.0, 90.0001), (0.0, -91.0), (float("nan"), 0.0), (float("inf"), 0.0)]
)
def test_source_id_from_position_invalid(ra: float, dec: float) -> None:
    with pytest.raises(ValueError):
        source_id_from_position(ra, dec)


@pytest.mark.parametrize(
    "text",
    [
        "J053432.0+220052",
        "J011705.1-732636",
        "J174537.0-290107",
        "J235959.9+900000",
        # Not "J000000.0-000000": its position's Dec is 0, whose sign cannot survive.
    ],
)
def test_source_id_round_trip(text: str) -> None:
    source = SourceId.parse(text)
    assert source == parse_source_id(f"  {text} ")
    assert str(source) == text
    assert source_id_from_position(*source.position) == text


def test_source_id_position() -> None:
    ra, dec = SourceId.parse("J053432.0+220052").position
    assert ra == pytest.approx(83.63333, abs=1e-5)
    assert dec == pytest.approx(22.01444, abs=1e-5)
    ra, dec = SourceId.parse("J011705.1-732636").position
    assert ra == pytest.approx(19.27125, abs=1e-5)
    assert dec == pytest.approx(-73.44333, abs=1e-5)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "053432.0+220052",
        "J053432+220052",
        "J053432.0220052",
        "J053432.0+22005",
        "J053432.00+220052",
        "J243432.0+220052",  # hours >= 24
        "J056032.0+220052",  # minutes >= 60
        "J053460.0+220052",  # seconds >= 60
        "J053432.0+226052",  # arcmin >= 60
        "J053432.0+220060",  # arcsec >= 60
        "J053432.0+910000",  # |dec| > 90
        "J053432.0-900001",
        "j053432.0+220052",
    ],
)
def test_source_id_invalid(text: str) -> None:
    with pytest.raises(InvalidIdentifier, match=r"expected JHHMMSS\.s±DDMMSS") as info:
        SourceId.parse(text)
    assert info.value.kind == "source id"
