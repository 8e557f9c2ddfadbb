"""The schema on a real Postgres + pgSphere: migrations, metadata, spherical queries."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Connection, create_engine, inspect, select, text
from sqlalchemy.orm import Session

from shared.db import migrate
from shared.db.models import Base, Observation, Revolution
from shared.vo import tap_schema
from tests.conftest import StackInfo

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def scratch(stack: StackInfo) -> str:
    return stack.new_database("isla_schema")


def test_migrations_are_idempotent_and_match_the_models(scratch: str) -> None:
    migrate.upgrade(scratch)  # a second run changes nothing
    migrate.check(scratch)  # raises if models and migrations drift apart


def test_core_tables_exist_with_pgsphere_columns(scratch: str) -> None:
    engine = create_engine(scratch)
    insp = inspect(engine)
    tables = set(insp.get_table_names(schema="isla"))
    assert {
        "instruments",
        "energy_bands",
        "revolutions",
        "observations",
        "science_windows",
        "scw_files",
        "sources",
        "source_aliases",
        "source_fluxes",
        "catalogues",
        "catalogue_entries",
        "products",
    } <= tables
    with engine.connect() as conn:
        types: dict[str, str] = dict(
            conn.execute(
                text(
                    "SELECT column_name, udt_name FROM information_schema.columns "
                    "WHERE table_schema = 'isla' AND table_name = 'science_windows'"
                )
            ).all()
        )
        gist = conn.execute(
            text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_science_windows_pos'")
        ).scalar()
    assert types["pos"] == "spoint" and types["fov_isgri"] == "spoly"
    assert gist is not None and "USING gist" in gist
    engine.dispose()


def test_every_column_is_documented_for_tap_schema() -> None:
    for table in Base.metadata.sorted_tables:
        assert table.info.get("description"), table.name
        for column in table.columns:
            info = column.info
            assert info.get("description"), f"{table.name}.{column.name}"
            assert info.get("ucd"), f"{table.name}.{column.name} has no UCD"
            if column.name in {"ra", "dec"}:
                assert info["unit"] == "deg"


def test_reference_data_holds_isla_bands(scratch: str) -> None:
    engine = create_engine(scratch)
    with engine.connect() as conn:
        bands = set(
            conn.execute(text("SELECT instrument || ':' || name FROM isla.energy_bands")).scalars()
        )
        instruments = set(conn.execute(text("SELECT name FROM isla.instruments")).scalars())
    engine.dispose()
    assert {"ISGRI:28_40", "ISGRI:20_35", "ISGRI:35_60", "ISGRI:60_200"} <= bands
    assert {"JEM-X:3_20", "JEM-X:3_10", "JEM-X:10_20"} <= bands
    assert {"ISGRI", "PICsIT", "JEM-X1", "JEM-X2", "SPI", "OMC", "IREM", "SPI-ACS"} <= instruments


def test_spoint_round_trip_and_cone_query(scratch: str) -> None:
    engine = create_engine(scratch)
    start = dt.datetime(2003, 3, 1)
    with Session(engine) as session, session.begin():
        session.add(
            Revolution(
                revolution=51,
                start_time=start,
                end_time=start + dt.timedelta(days=3),
                start_ijd=1155.0,
                end_ijd=1158.0,
            )
        )
        session.add(
            Observation(
                obsid="00200010001",
                proposal_id="0020001",
                pi_name="Test",
                target_name="Crab",
                start_time=start,
                end_time=start + dt.timedelta(hours=5),
                rev_start=51,
                rev_end=51,
                ra=83.6332,
                dec=22.0145,
                pos=(83.6332, 22.0145),
                pattern="hex",
                exposure=18000.0,
            )
        )
    with Session(engine) as session:
        obs = session.scalars(select(Observation)).one()
        assert obs.pos[0] == pytest.approx(83.6332, abs=1e-9)
        assert obs.pos[1] == pytest.approx(22.0145, abs=1e-9)
        inside = (
            session.execute(
                text(
                    "SELECT obsid FROM isla.observations WHERE pos <@ "
                    "scircle(spoint(radians(83.5), radians(22.0)), radians(0.5))"
                )
            )
            .scalars()
            .all()
        )
        outside = (
            session.execute(
                text(
                    "SELECT obsid FROM isla.observations WHERE pos <@ "
                    "scircle(spoint(radians(90.0), radians(22.0)), radians(0.5))"
                )
            )
            .scalars()
            .all()
        )
    engine.dispose()
    assert inside == ["00200010001"]
    assert outside == []


def test_constraints_refuse_malformed_identifiers(scratch: str) -> None:
    engine = create_engine(scratch)
    with engine.connect() as conn, pytest.raises(Exception, match="obsid_form"):
        conn.execute(
            text(
                "INSERT INTO isla.observations (obsid, proposal_id, target_name, start_time, "
                "end_time, rev_start, rev_end, ra, dec, pos, pattern, exposure) VALUES "
                "('12ab', 'p', 't', now(), now(), 1, 1, 0, 0, spoint(0, 0), 'hex', 0)"
            )
        )
    engine.dispose()


def test_positions_follow_ra_dec_whatever_the_writer_says(scratch: str) -> None:
    """``pos`` is kept by the schema (migration 0012), not by each loader's convention."""
    engine = create_engine(scratch)
    offset = text(
        "SELECT degrees(pos <-> spoint(radians(ra), radians(dec))) FROM isla.sources "
        "WHERE source_id = 'J004000.0-200000'"
    )
    with engine.connect() as conn, conn.begin() as transaction:
        # No pos at all: the trigger fills it before the NOT NULL check.
        conn.execute(
            text(
                "INSERT INTO isla.sources (source_id, name, ra, dec, source_class, det_isgri, "
                "det_picsit, det_jemx, det_spi, det_omc) VALUES ('J004000.0-200000', 'Pos test', "
                "10.0, -20.0, 'test', false, false, false, false, false)"
            )
        )
        assert conn.execute(offset).scalar() == pytest.approx(0.0, abs=1e-9)
        # A wrong pos is corrected, and so is a position moved through ra/dec alone.
        conn.execute(
            text(
                "UPDATE isla.sources SET pos = spoint(0, 0), ra = 200.0 "
                "WHERE source_id = 'J004000.0-200000'"
            )
        )
        assert conn.execute(offset).scalar() == pytest.approx(0.0, abs=1e-9)
        conn.execute(text("UPDATE isla.sources SET pos = spoint(0, 0) WHERE name = 'Pos test'"))
        assert conn.execute(offset).scalar() == pytest.approx(0.0, abs=1e-9)
        transaction.rollback()  # the scratch database stays as it was
    engine.dispose()


def test_tap_schema_rows_frozen_in_the_migrations_match_the_metadata(scratch: str) -> None:
    """The migrations carry their TAP_SCHEMA rows as literal data; today's metadata
    (shared.vo.tap_schema) must still describe the schema they build: a change to the
    published metadata needs a migration with the new rows."""
    engine = create_engine(scratch)
    tables = ("schemas", "tables", "columns", "keys", "key_columns")
    try:
        with engine.connect() as conn, conn.begin() as transaction:
            frozen = {t: _rows(conn, t) for t in tables}
            tap_schema.refresh(conn)
            live = {t: _rows(conn, t) for t in tables}
            transaction.rollback()
    finally:
        engine.dispose()
    for table in tables:
        assert frozen[table] == live[table], f"TAP_SCHEMA.{table} differs from the metadata"


def _rows(conn: Connection, table: str) -> list[tuple[object, ...]]:
    rows = conn.execute(text(f"SELECT * FROM tap_schema.{table}")).all()
    return sorted((tuple(r) for r in rows), key=repr)
