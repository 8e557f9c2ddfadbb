"""Simple Cone Search 1.03 at /scs on the served demo archive, through pyvo's SCS client."""

from __future__ import annotations

import io

import httpx
import pytest
import pyvo
from astropy.io.votable import parse as parse_votable
from sqlalchemy import create_engine, text

from tests.conftest import Archive

pytestmark = pytest.mark.integration

CRAB = (83.63, 22.01)


@pytest.fixture(scope="module")
def scs_url(archive: Archive) -> str:
    return f"{archive.base_url}/scs"


def _error_info(response: httpx.Response) -> str:
    """The SCS 1.03 error message (``<INFO name="Error" value=...>``)."""
    assert response.status_code == 200
    vot = parse_votable(io.BytesIO(response.content))
    infos = {i.name: i for i in vot.resources[0].infos}
    assert infos["QUERY_STATUS"].value == "ERROR"
    return str(infos["Error"].value)


def test_pyvo_finds_the_crab(scs_url: str) -> None:
    result = pyvo.dal.SCSService(scs_url).search(pos=CRAB, radius=1)
    table = result.to_table()
    assert "J053432.0+220052" in [str(s) for s in table["source_id"]]
    # Nearest first: the Crab is 0.01 deg from the centre.
    assert str(table["source_id"][0]) == "J053432.0+220052"
    assert str(table["name"][0]).lower().startswith("crab")
    assert all(d <= 1.0 for d in table["distance"])
    ucds = {f.ucd for f in result.fielddescs}
    assert {"ID_MAIN", "POS_EQ_RA_MAIN", "POS_EQ_DEC_MAIN"} <= ucds


def test_count_matches_direct_sql(scs_url: str, archive: Archive) -> None:
    engine = create_engine(archive.database_url)
    try:
        with engine.connect() as conn:
            expected = conn.execute(
                text(
                    "SELECT count(*) FROM isla.sources WHERE pos <@ "
                    "scircle(spoint(radians(83.63), radians(22.01)), radians(5))"
                )
            ).scalar_one()
    finally:
        engine.dispose()
    got = pyvo.dal.SCSService(scs_url).search(pos=CRAB, radius=5)
    assert expected > 1
    assert len(got) == expected


@pytest.mark.parametrize(("verb", "columns"), [(1, 3), (2, 7), (3, 13)])
def test_verb_chooses_the_columns(scs_url: str, verb: int, columns: int) -> None:
    result = pyvo.dal.SCSService(scs_url).search(pos=CRAB, radius=1, verbosity=verb)
    assert len(result.fieldnames) == columns


def test_sr_zero_returns_the_columns_only(scs_url: str) -> None:
    response = httpx.get(scs_url, params={"RA": 83.63, "DEC": 22.01, "SR": 0}, timeout=30)
    assert response.status_code == 200
    table = parse_votable(io.BytesIO(response.content)).get_first_table()
    assert len(table.array) == 0
    assert [f.ucd for f in table.fields][:3] == ["ID_MAIN", "POS_EQ_RA_MAIN", "POS_EQ_DEC_MAIN"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"DEC": 22.0, "SR": 1}, "RA is missing"),
        ({"RA": 83.6, "DEC": 22.0, "SR": 30}, "SR must be between 0 and 10"),
        ({"RA": 83.6, "DEC": 22.0, "SR": -1}, "SR must be between"),
        ({"RA": 83.6, "DEC": 95.0, "SR": 1}, "DEC must be between"),
        ({"RA": "crab", "DEC": 22.0, "SR": 1}, "RA must be a number"),
        ({"RA": 83.6, "DEC": 22.0, "SR": 1, "VERB": 7}, "VERB must be 1, 2 or 3"),
    ],
)
def test_errors_are_scs_error_documents(
    scs_url: str, params: dict[str, str | float], message: str
) -> None:
    response = httpx.get(scs_url, params=params, timeout=30)
    assert message in _error_info(response)


def test_pyvo_reports_the_error(scs_url: str) -> None:
    with pytest.raises(pyvo.dal.DALQueryError, match="SR must be between"):
        pyvo.dal.SCSService(scs_url).search(pos=CRAB, radius=45)
