"""Catalogue interfaces, units, readers and validation, without a database."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

from services.ingest.auth import generate_token, hash_token, token_prefix
from services.ingest.catalogues import (
    CatalogueDelivery,
    Validator,
    check_delivery,
    map_columns,
)
from services.ingest.interface import INTERFACES, get_interface, unit_factor
from services.ingest.readers import MalformedFileError, detect_format, open_table


def test_every_interface_is_consistent() -> None:
    for name, interface in INTERFACES.items():
        assert name == f"{interface.kind}/{interface.version}"
        columns = [c.name for c in interface.columns]
        assert len(columns) == len(set(columns)), name
        assert interface.key in columns and interface.column(interface.key).required
        assert {"ra", "dec"} <= set(columns)
        every_alias = [a.lower() for c in interface.columns for a in c.names()]
        assert len(every_alias) == len(set(every_alias)), f"{name}: an alias is ambiguous"
        bands: dict[str, int] = {}
        for col in interface.columns:
            if col.band:
                bands[col.band[0]] = bands.get(col.band[0], 0) + 1
            if col.error_of:
                assert interface.column(col.error_of).band is not None
        assert all(n >= 2 for n in bands.values()), f"{name}: fewer than 2 bands"
    assert get_interface("isgri_results").name == "isgri_results/1"
    with pytest.raises(KeyError, match="declared kinds"):
        get_interface("nope/1")


@pytest.mark.parametrize(
    ("column", "unit", "factor"),
    [
        ("pos_err", "arcsec", 1 / 60),
        ("pos_err", "arcmin", 1.0),
        ("pos_err", "deg", 60.0),
        ("pos_err", None, 1.0),
        ("ra", "deg", 1.0),
        ("ra", "degree", 1.0),
        ("flux_20_35", "Crab", 1000.0),
        ("flux_20_35", "mCrab", 1.0),
    ],
)
def test_declared_and_convertible_units_are_accepted(
    column: str, unit: str | None, factor: float
) -> None:
    got, problem = unit_factor(get_interface("isgri_results/1").column(column), unit)
    assert problem is None and got == pytest.approx(factor)


@pytest.mark.parametrize(
    ("column", "unit", "message"),
    [
        ("ra", "arcmin", "not accepted"),
        ("ra", "rad", "not accepted"),
        ("pos_err", "s", "not accepted"),
        ("dec", "furlongs-ish", "not a unit"),
    ],
)
def test_other_units_are_refused(column: str, unit: str, message: str) -> None:
    got, problem = unit_factor(get_interface("isgri_results/1").column(column), unit)
    assert got is None and problem is not None and message in problem


def test_format_detection() -> None:
    assert detect_format(b"SIMPLE  =                    T") == "fits"
    assert detect_format(b'<?xml version="1.0"?><VOTABLE>') == "votable"
    assert detect_format(b"\xef\xbb\xbf<VOTABLE version='1.4'>") == "votable"
    assert detect_format(b"name,ra,dec\n") == "csv"


@pytest.mark.parametrize(
    ("field", "value"),
    [("name", "../x"), ("name", "a/b"), ("version", ".hidden"), ("filename", "dir\\x.csv")],
)
def test_path_like_names_are_refused(field: str, value: str) -> None:
    delivery = CatalogueDelivery(name="Good", version="1", kind="isgri_results/1", team="t")
    setattr(delivery, field, value)
    assert check_delivery(delivery)


def _validate(tmp_path: Path, text: str, kind: str = "isgri_results/1") -> list[str]:
    path = tmp_path / "c.csv"
    path.write_text(text)
    reader = open_table(path)
    mapping, problems = map_columns(get_interface(kind), reader)
    if problems:
        return problems
    validator = Validator(mapping)
    for chunk in reader.chunks:
        validator.convert(chunk)
    return validator.all_problems()


def test_csv_with_units_in_the_header_validates(tmp_path: Path) -> None:
    text = "name,ra [deg],dec,pos_err [arcsec],flux_20_35,flux_35_60\nA,1,2,30,1,\nB,3,4,60,2,1\n"
    assert _validate(tmp_path, text) == []


def test_problems_name_columns_and_rows(tmp_path: Path) -> None:
    text = "name,ra,dec,pos_err,flux_20_35,flux_35_60\nA,1,2,1,1,1\nA,400,2,-1,x,1\nB,nan,2,1,1,1\n"
    problems = _validate(tmp_path, text)
    joined = "\n".join(problems)
    assert "'ra': row 2 are outside [0, 360] deg" in joined
    assert "'ra': row 3 are empty or NaN" in joined
    assert "'pos_err': row 2 are outside" in joined
    assert "'flux_20_35': row 2 hold no number (e.g. 'x')" in joined
    assert "duplicate name values (1): 'A' in rows 1 and 2" in joined


def test_duplicates_across_chunks_are_found(tmp_path: Path) -> None:
    rows = [f"S{i},1,2,1,1,1" for i in range(120_000)] + ["S7,1,2,1,1,1"]
    problems = _validate(tmp_path, "name,ra,dec,pos_err,flux_20_35,flux_35_60\n" + "\n".join(rows))
    assert problems == ["duplicate name values (1): 'S7' in rows 8 and 120001"]


def test_fits_and_votable_readers_give_units(tmp_path: Path) -> None:
    table = Table({"name": ["A", "B"], "ra": [1.0, 2.0], "dec": [3.0, np.nan]})
    table["ra"].unit = "deg"
    for fmt, suffix in (("fits", "fits"), ("votable", "xml")):
        path = tmp_path / f"t.{suffix}"
        table.write(path, format=fmt)
        reader = open_table(path)
        assert reader.format == fmt and reader.n_rows == 2
        assert reader.units["ra"] == "deg"
        chunk = next(reader.chunks)
        assert np.isnan(np.asarray(chunk.columns["dec"], dtype=float)[1])


def test_a_broken_fits_file_is_malformed(tmp_path: Path) -> None:
    path = tmp_path / "broken.fits"
    path.write_bytes(b"SIMPLE  =                    T" + b"\x00" * 100)
    with pytest.raises(MalformedFileError):
        open_table(path)


def test_tokens_are_random_and_only_their_hash_is_kept() -> None:
    first, second = generate_token(), generate_token()
    assert first.token != second.token and first.prefix != second.prefix
    assert token_prefix(first.token) == first.prefix
    assert first.sha256 == hash_token(first.token) and first.token not in first.sha256
    assert token_prefix("isla_zzzz_" + "a" * 43) is None
    assert token_prefix(first.token + "x") is None
