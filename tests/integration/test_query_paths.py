"""The query paths made for the full mission (migrations 0042 and 0046), on the demo archive:
the epoch list astroquery reads without a target, kept by triggers as science windows and
sources change; the archive counts kept by triggers; name searches through the trigram
indexes; ObsCore's product footprints, stored and kept by triggers."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import pytest

from shared.db.revisions import revision_module
from tests.conftest import Archive

COUNTED = (
    "revolutions",
    "observations",
    "science_windows",
    "sources",
    "products",
    "scw_files",
    "aux_files",
)

# Per instrument: ila instrument_oid, the name astroquery uses, the ScW exposure condition and
# field polygon; the expected epochs are computed here through the ISGRI polygon index, not
# through the view's circles.
INSTRUMENTS = (
    (1, "ibis", "w.isgri_exposure > 0", "fov_isgri"),
    (
        2,
        "jem-x",
        "(coalesce(w.jemx1_exposure, 0) > 0 OR coalesce(w.jemx2_exposure, 0) > 0)",
        "fov_jemx",
    ),
)


def _expected_epochs(archive: Archive, oid: int, exposure: str, fov: str) -> set[str]:
    rows = archive.rows(
        "SELECT DISTINCT lpad(w.revolution::text, 4, '0') || '_' || w.obsid "
        "FROM isla.science_windows w "
        f"WHERE w.scw_type = 'pointing' AND w.obsid IS NOT NULL AND {exposure} "
        "  AND EXISTS (SELECT 1 FROM isla.sources s "
        f"              WHERE s.pos <@ w.fov_isgri AND s.pos <@ w.{fov}) "
        "UNION SELECT p.epoch FROM isla.products p JOIN ila.instrument i "
        "  ON i.archive_name = CASE WHEN p.instrument IN ('JEM-X1', 'JEM-X2') THEN 'JEM-X' "
        "                          ELSE p.instrument END "
        "WHERE p.epoch IS NOT NULL AND p.kind <> 'preview' AND i.instrument_oid = :oid",
        oid=oid,
    )
    return {r[0] for r in rows}


@pytest.mark.parametrize(("oid", "name", "exposure", "fov"), INSTRUMENTS)
def test_epochs_without_target_are_every_epoch_of_the_instrument(
    isla: Any, archive: Archive, oid: int, name: str, exposure: str, fov: str
) -> None:
    got = [str(e) for e in isla.get_epochs(instrument=name)["epoch"]]
    assert len(got) == len(set(got))
    expected = _expected_epochs(archive, oid, exposure, fov)
    assert len(expected) > 10
    assert set(got) == expected


def test_epochs_of_a_target_are_those_of_the_view(isla: Any, archive: Archive) -> None:
    crab = "J053432.0+220052"
    got = {str(e) for e in isla.get_epochs(target_name=crab, instrument="jem-x")["epoch"]}
    # The JEM-X field is its 16-vertex polygon, tested directly.
    expected = {
        r[0]
        for r in archive.rows(
            "SELECT DISTINCT lpad(w.revolution::text, 4, '0') || '_' || w.obsid "
            "FROM isla.science_windows w JOIN isla.sources s ON s.source_id = :s "
            "WHERE w.scw_type = 'pointing' AND w.obsid IS NOT NULL "
            "  AND (coalesce(w.jemx1_exposure, 0) > 0 OR coalesce(w.jemx2_exposure, 0) > 0) "
            "  AND spoly_contains_point(w.fov_jemx, s.pos) "
            "UNION SELECT epoch FROM isla.products WHERE source_id = :s AND epoch IS NOT NULL "
            "  AND instrument IN ('JEM-X', 'JEM-X1', 'JEM-X2') AND kind <> 'preview'",
            s=crab,
        )
    }
    assert expected and got == expected


def _connect(archive: Archive) -> psycopg.Connection[Any]:
    return psycopg.connect(archive.database_url.replace("+psycopg", ""))


FIELDS = {
    1: ("w.isgri_exposure > 0", "fov_isgri"),
    2: ("(coalesce(w.jemx1_exposure, 0) > 0 OR coalesce(w.jemx2_exposure, 0) > 0)", "fov_jemx"),
    3: ("w.picsit_exposure > 0", "fov_isgri"),
    4: ("w.spi_exposure > 0", "fov_spi"),
}


def _covered(conn: psycopg.Connection[Any], revolution: int, obsid: str) -> set[int]:
    """Instruments for which a source lies in a field of the epoch's pointings, by polygon."""
    found = set()
    for oid, (exposure, fov) in FIELDS.items():
        row = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM isla.science_windows w JOIN isla.sources s "
            f"ON s.pos <@ w.fov_isgri AND s.pos <@ w.{fov} "
            "WHERE w.revolution = %s AND w.obsid = %s AND w.scw_type = 'pointing' "
            f"AND {exposure})",
            (revolution, obsid),
        ).fetchone()
        if row and row[0]:
            found.add(oid)
    return found


def test_a_new_science_window_adds_its_epoch_and_leaves_with_it(archive: Archive) -> None:
    """The triggers every writer of science windows goes through (raw-index ingestion, the
    demo loader): checked inside a transaction that is rolled back."""
    with _connect(archive) as conn:
        scw, obsid = conn.execute(
            "SELECT scw_id, obsid FROM isla.science_windows "
            "WHERE scw_type = 'pointing' AND obsid IS NOT NULL AND jemx1_exposure > 0 "
            "AND isgri_exposure > 0 ORDER BY scw_id LIMIT 1"
        ).fetchone()  # type: ignore[misc]
        (other,) = conn.execute(
            "SELECT max(revolution) FROM isla.revolutions r WHERE NOT EXISTS ("
            "SELECT 1 FROM isla.science_windows w "
            "WHERE w.revolution = r.revolution AND w.obsid = %s)",
            (obsid,),
        ).fetchone()  # type: ignore[misc]
        epoch = f"{other:04d}_{obsid}"
        new_id = f"{other:04d}99990010"

        def listed() -> set[int]:
            rows = conn.execute(
                "SELECT instrument_oid FROM isla_ops.epoch_list WHERE epoch = %s", (epoch,)
            )
            return {r[0] for r in rows}

        def counted() -> int:
            row = conn.execute(
                "SELECT sum(row_count) FROM isla_ops.archive_counts "
                "WHERE table_name = 'science_windows'"
            ).fetchone()
            assert row is not None
            return int(row[0])

        before = counted()
        assert listed() == set()
        conn.execute(
            "CREATE TEMPORARY TABLE new_scw ON COMMIT DROP AS "
            "SELECT * FROM isla.science_windows WHERE scw_id = %s",
            (scw,),
        )
        conn.execute("UPDATE new_scw SET scw_id = %s, revolution = %s", (new_id, other))
        conn.execute("INSERT INTO isla.science_windows SELECT * FROM new_scw")
        assert {1, 2} <= listed() == _covered(conn, other, obsid)
        assert counted() == before + 1
        conn.execute("DELETE FROM isla.science_windows WHERE scw_id = %s", (new_id,))
        assert listed() == set()
        assert counted() == before
        conn.rollback()


def test_new_and_moved_sources_give_epochs_their_sources(archive: Archive) -> None:
    with _connect(archive) as conn:

        def covered() -> int:
            row = conn.execute(
                "SELECT count(*) FROM isla_ops.epoch_coverage WHERE has_source"
            ).fetchone()
            assert row is not None
            return int(row[0])

        total = covered()
        assert total > 0
        # As if the catalogue came after the observations: no epoch has a source yet.
        conn.execute("UPDATE isla_ops.epoch_coverage SET has_source = false")
        conn.execute(
            "INSERT INTO isla.sources (source_id, name, ra, dec, source_class, det_isgri, "
            "det_picsit, det_jemx, det_spi, det_omc) "
            "VALUES ('J000000.0+000000', 'a test source', 0, 0, 'unclassified', "
            "false, false, false, false, false)"
        )
        assert covered() == total
        # A moved source can take an epoch's last source away: every epoch is tested again.
        conn.execute("UPDATE isla_ops.epoch_coverage SET has_source = NOT has_source")
        conn.execute("UPDATE isla.sources SET ra = 1 WHERE source_id = 'J000000.0+000000'")
        assert covered() == total
        conn.rollback()


def test_archive_counts_equal_the_tables(archive: Archive) -> None:
    # The demo archive was loaded through every ingestion path: the counts kept on the way
    # are the tables' own.
    for table in COUNTED:
        kept = archive.rows(
            "SELECT sum(row_count), sum(simulated_count), sum(total_bytes) "
            "FROM isla_ops.archive_counts WHERE table_name = :t",
            t=table,
        )[0]
        simulated = "simulated" if table in ("products", "scw_files", "aux_files") else "false"
        size = "size" if table in ("scw_files", "aux_files") else "0"
        actual = archive.rows(
            f"SELECT count(*), count(*) FILTER (WHERE {simulated}), "
            f"coalesce(sum({size}), 0) FROM isla.{table}"
        )[0]
        assert tuple(kept) == tuple(actual), table
    assert (
        archive.scalar(
            "SELECT sum(row_count) FROM isla_ops.archive_counts WHERE table_name = 'sources'"
        )
        > 1000
    )


def test_landing_page_says_the_kept_counts(client: httpx.Client, archive: Archive) -> None:
    summary = client.get("/api/summary").json()
    assert summary["science_windows"] == archive.scalar("SELECT count(*) FROM isla.science_windows")
    assert summary["sources"] == archive.scalar("SELECT count(*) FROM isla.sources")
    assert summary["raw_files"] == archive.scalar(
        "SELECT (SELECT count(*) FROM isla.scw_files) + (SELECT count(*) FROM isla.aux_files)"
    )


OLD_SEARCH = """
    SELECT s.source_id FROM isla.sources s
     WHERE s.source_id = :upper OR lower(s.name) LIKE :like
        OR s.source_id IN (SELECT a.source_id FROM isla.source_aliases a
                            WHERE a.alias_norm = :norm OR lower(a.alias) LIKE :like)
"""


@pytest.mark.parametrize("entry", ["crab", "CRAB", "Crab", "x-1", "GX", "tau a"])
def test_name_search_in_any_case_gives_the_answer_of_a_full_scan(
    client: httpx.Client, archive: Archive, entry: str
) -> None:
    from services.products.portal.store import SEARCH_LIMIT
    from shared.integral import normalise_source_name

    result = client.get("/api/search", params={"q": entry}).json()
    got = {s["source_id"] for s in result["sources"]}
    lower = entry.lower()
    full = {
        r[0]
        for r in archive.rows(
            OLD_SEARCH,
            upper=entry.upper(),
            like=f"%{lower}%",
            norm=normalise_source_name(entry),
        )
    }
    assert got, entry
    assert got <= full
    assert got == full or len(got) == SEARCH_LIMIT
    same = client.get("/api/search", params={"q": entry.swapcase()}).json()
    assert [s["source_id"] for s in same["sources"]] == [s["source_id"] for s in result["sources"]]


def _footprints_computed(conn: psycopg.Connection[Any]) -> dict[str, tuple[Any, ...]]:
    """Each product's position and region by the view's former expression, computed now."""
    m = revision_module("0046_obscore_product_footprints.py")
    rows = conn.execute(
        f"SELECT p.product_id, {m.RA}, {m.DEC}, ({m.REGION})::text "
        "FROM isla.products p JOIN isla.product_kinds k ON k.kind = p.kind "
        f"LEFT JOIN isla.sources s ON s.source_id = p.source_id {m.OBSERVATION_JOIN}"
    )
    return {r[0]: tuple(r[1:]) for r in rows}


def _footprints_kept(conn: psycopg.Connection[Any]) -> dict[str, tuple[Any, ...]]:
    rows = conn.execute(
        "SELECT product_id, ra, dec, s_region::text FROM isla_ops.product_footprints"
    )
    return {r[0]: tuple(r[1:]) for r in rows}


def test_obscore_product_footprints_are_the_former_computation(archive: Archive) -> None:
    # Every product of the demo archive arrived through ingestion, so through the triggers.
    with _connect(archive) as conn:
        computed = _footprints_computed(conn)
        assert len(computed) > 100
        assert sum(1 for v in computed.values() if v[2] is not None) > 100
        assert _footprints_kept(conn) == computed


def test_obscore_footprints_follow_sources_and_late_observations(archive: Archive) -> None:
    with _connect(archive) as conn:
        cone = (
            "SELECT obs_id FROM ivoa.obscore WHERE dataproduct_type <> 'event' AND "
            "s_region && scircle(spoint(radians(%s), radians(%s)), radians(1))"
        )
        product, source, epoch = conn.execute(
            "SELECT p.product_id, p.source_id, coalesce(p.epoch, p.product_id) "
            # ObsCore publishes the kinds of isla.product_kinds (not the responses beside
            # the spectra, for instance).
            "FROM isla.products p JOIN isla.product_kinds USING (kind) "
            "WHERE p.source_id IS NOT NULL "
            "AND p.meta->'footprint' IS NULL ORDER BY p.product_id LIMIT 1"
        ).fetchone()  # type: ignore[misc]
        # A source moved (a catalogue correction): its products' regions go with it.
        conn.execute("UPDATE isla.sources SET ra = 123, dec = -45 WHERE source_id = %s", (source,))
        assert epoch in {r[0] for r in conn.execute(cone, (123.0, -45.0))}
        assert conn.execute(
            "SELECT ra, dec FROM isla_ops.product_footprints WHERE product_id = %s", (product,)
        ).fetchone() == (123.0, -45.0)
        # An image of an observation's field delivered before the observation is indexed: no
        # region until the observation comes, then the observation's field.
        conn.execute(
            "CREATE TEMPORARY TABLE early ON COMMIT DROP AS SELECT * FROM isla.products "
            "WHERE kind = 'mosaic' ORDER BY product_id LIMIT 1"
        )
        conn.execute(
            "UPDATE early SET product_id = 'early-image', source_id = NULL, "
            "epoch = '0001_99999990001', obsid = NULL, object_key = object_key || '.early', "
            "meta = meta - 'ra' - 'dec' - 'footprint'"
        )
        conn.execute("INSERT INTO isla.products SELECT * FROM early")
        assert conn.execute(
            "SELECT s_region FROM isla_ops.product_footprints WHERE product_id = 'early-image'"
        ).fetchone() == (None,)
        conn.execute(
            "CREATE TEMPORARY TABLE late ON COMMIT DROP AS SELECT * FROM isla.observations "
            "ORDER BY obsid LIMIT 1"
        )
        conn.execute(
            "UPDATE late SET obsid = '99999990001', ra = 10, dec = 20, rev_start = 1, rev_end = 1"
        )
        conn.execute("INSERT INTO isla.observations SELECT * FROM late")
        assert "0001_99999990001" in {r[0] for r in conn.execute(cone, (10.0, 20.0))}
        assert _footprints_kept(conn) == _footprints_computed(conn)
        conn.execute("DELETE FROM isla.products WHERE product_id = 'early-image'")
        assert "early-image" not in _footprints_kept(conn)
        conn.rollback()
