"""Query paths at full scale: epochs by circles and a maintained epoch list, exact archive counts

Revision ID: 0042
Revises: 0041
Create Date: 2026-12-03

At the full mission (~370,000 science windows, 10^6 sources) three reads were slow:

- ``ila.epoch`` tested each candidate science window's JEM-X and SPI polygons per source
  (16 and 6 vertices), and found the candidates through the GiST index of the ISGRI polygons.
  The coverage branches now find them through the pointing axes (``science_windows.pos`` for a
  source, ``sources.pos`` for a pointing) within each field's circumscribed circle (ISGRI
  20.1°, JEM-X 6.601°, SPI 8.001°: the footprints are the archive's own, see
  ``shared.demo.generator``), then keep the exact polygon test for the few left. The rows are
  the same as before.
- without a target, ``select distinct epoch from ila.epoch where ...`` (astroquery's
  ``get_epochs(instrument=...)``) joined every pointing with every source in its field, then
  deduplicated: billions of rows at full scale. ``isla_ops.epoch_coverage`` keeps, per
  instrument and epoch, whether any source lies in a field of the epoch's pointings; the view
  ``isla_ops.epoch_list`` (product epochs and covered epochs) is exactly the distinct
  ``(epoch, instrument_oid, band_oid)`` of ``ila.epoch``, and the TAP service reads it for
  queries that ask only for distinct values of those columns (``services.tap.adql``).
  Triggers keep it current for every writer: a statement that changes science windows
  recomputes the epochs of the revolutions it touched; new sources are tested against the
  epochs that had none; moved or deleted sources re-test every epoch.
- names were searched by substring (astroquery's ``name ilike '%crab%'``, the portal's search
  box) through every source: trigram GIN indexes (pg_trgm) on source names and aliases serve
  ``ILIKE`` in any case.
- the portal's landing page counted whole tables on every request. The sums of
  ``isla_ops.archive_counts`` per table are the exact rows (and simulated rows and bytes where
  the page shows them) of the counted tables: statement triggers with transition tables add a
  row of differences per statement (never one row updated by every writer, which would make
  parallel ingestion wait), folded into one now and then.

Nothing published changes: ``ila.epoch`` keeps its columns, the new relations live in
``isla_ops`` (TAP_SCHEMA does not list them; the reader may select the epoch list only).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0042"
down_revision: str | None = "0041"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

READER = "isla_reader"

_UNIT_OF = "CASE WHEN p.instrument IN ('JEM-X1', 'JEM-X2') THEN 'JEM-X' ELSE p.instrument END"

# (ila instrument_oid, isla.instruments name, field polygon, circumscribed radius in degrees,
# exposure condition). As in revision 0008; the ISGRI field is tested by its polygon as well.
_COVERAGE = (
    (1, "ISGRI", "fov_isgri", 20.1, "w.isgri_exposure > 0"),
    (3, "PICsIT", "fov_isgri", 20.1, "w.picsit_exposure > 0"),
    (
        2,
        "JEM-X",
        "fov_jemx",
        6.601,
        "(coalesce(w.jemx1_exposure, 0) > 0 OR coalesce(w.jemx2_exposure, 0) > 0)",
    ),
    (4, "SPI", "fov_spi", 8.001, "w.spi_exposure > 0"),
)


def _pointings(oid: int, name: str, exposure: str) -> str:
    """The WHERE of an instrument's pointings with exposure."""
    return (
        f"w.scw_type = 'pointing' AND w.obsid IS NOT NULL AND {exposure} "  # noqa: S608 - constants
        f"AND EXISTS (SELECT 1 FROM isla.instruments i WHERE i.name = '{name}')"
    )


def _in_field(fov: str, radius: float) -> str:
    """A source ``s`` in the field of pointing ``w``: the circle both ways (whichever index
    the planner drives the join from), then the exact polygon, as a function call so that the
    planner does not try it as an index condition."""
    return (
        f"s.pos <@ scircle(w.pos, radians({radius})) "
        f"AND w.pos <@ scircle(s.pos, radians({radius})) "
        f"AND spoly_contains_point(w.{fov}, s.pos)"
    )


def _band(oid: str) -> str:
    return f"(SELECT b.band_oid FROM ila.band b WHERE b.instrument_oid = {oid})"  # noqa: S608 - constants


def _epoch_text() -> str:
    return "lpad(w.revolution::text, 4, '0') || '_' || w.obsid"


_PRODUCT_BRANCH = f"""
SELECT p.epoch::text AS epoch, p.source_id::text AS source_id, ins.instrument_oid, b.band_oid
FROM isla.products p
JOIN ila.instrument ins ON ins.archive_name = {_UNIT_OF}
JOIN ila.band b ON b.instrument_oid = ins.instrument_oid
WHERE p.epoch IS NOT NULL AND p.kind <> 'preview'"""  # noqa: S608 - constants only


def _coverage_branch(oid: int, name: str, fov: str, radius: float, exposure: str) -> str:
    return f"""
SELECT {_epoch_text()}, s.source_id::text, {oid}, {_band(str(oid))}
FROM isla.science_windows w
JOIN isla.sources s ON {_in_field(fov, radius)}
WHERE {_pointings(oid, name, exposure)}"""  # noqa: S608 - built from this module's constants


EPOCH_VIEW = f"""
CREATE OR REPLACE VIEW ila.epoch AS
{_PRODUCT_BRANCH}
UNION
{"UNION".join(_coverage_branch(*c) for c in _COVERAGE)}
"""


def _candidates(oid: int, name: str, fov: str, radius: float, exposure: str) -> str:
    return f"""
SELECT DISTINCT {oid}::smallint, {_epoch_text()}, w.revolution, false
FROM isla.science_windows w
WHERE {_pointings(oid, name, exposure)} AND (revs IS NULL OR w.revolution = ANY (revs))"""  # noqa: S608 - constants


def _verify(oid: int, name: str, fov: str, radius: float, exposure: str) -> str:
    return f"""
    UPDATE isla_ops.epoch_coverage c
       SET has_source = EXISTS (
               SELECT 1 FROM isla.science_windows w
               JOIN isla.sources s ON {_in_field(fov, radius)}
               WHERE w.revolution = c.revolution AND w.obsid = substr(c.epoch, 6)
                 AND {_pointings(oid, name, exposure)})
     WHERE c.instrument_oid = {oid} AND (revs IS NULL OR c.revolution = ANY (revs))
       AND (NOT only_missing OR NOT c.has_source);"""  # noqa: S608 - constants


FUNCTIONS = [
    f"""
CREATE FUNCTION isla_ops.verify_epoch_sources(revs integer[], only_missing boolean)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    -- Whether any source lies in the field of one of the epoch's pointings: the first hit
    -- answers, so an epoch costs a few index probes.
{"".join(_verify(*c) for c in _COVERAGE)}
END;
$$""",
    f"""
CREATE FUNCTION isla_ops.refresh_epoch_coverage(revs integer[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    -- revs NULL: every revolution.
    DELETE FROM isla_ops.epoch_coverage WHERE revs IS NULL OR revolution = ANY (revs);
    INSERT INTO isla_ops.epoch_coverage (instrument_oid, epoch, revolution, has_source)
    {"UNION ALL".join(_candidates(*c) for c in _COVERAGE)};
    PERFORM isla_ops.verify_epoch_sources(revs, false);
END;
$$""",  # noqa: S608 - built from this module's constants
    """
CREATE FUNCTION isla_ops.science_windows_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    revs integer[];
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        DELETE FROM isla_ops.epoch_coverage;
        RETURN NULL;
    ELSIF TG_OP = 'INSERT' THEN
        SELECT array_agg(DISTINCT revolution) INTO revs FROM new_rows;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(DISTINCT revolution) INTO revs FROM old_rows;
    ELSE
        -- Only rows whose epoch, pointing, fields or exposures changed (the raw index updates
        -- file counts and sizes, which change no epoch).
        SELECT array_agg(DISTINCT r.revolution) INTO revs
          FROM old_rows o JOIN new_rows n USING (scw_id, version)
         CROSS JOIN LATERAL (VALUES (o.revolution), (n.revolution)) AS r(revolution)
         WHERE (o.revolution, o.obsid, o.scw_type, o.pos::text, o.fov_isgri::text,
                o.fov_jemx::text, o.fov_spi::text, o.isgri_exposure, o.picsit_exposure,
                o.jemx1_exposure, o.jemx2_exposure, o.spi_exposure)
               IS DISTINCT FROM
               (n.revolution, n.obsid, n.scw_type, n.pos::text, n.fov_isgri::text,
                n.fov_jemx::text, n.fov_spi::text, n.isgri_exposure, n.picsit_exposure,
                n.jemx1_exposure, n.jemx2_exposure, n.spi_exposure);
    END IF;
    IF revs IS NOT NULL THEN
        PERFORM isla_ops.refresh_epoch_coverage(revs);
    END IF;
    RETURN NULL;
END;
$$""",
    """
CREATE FUNCTION isla_ops.sources_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        UPDATE isla_ops.epoch_coverage SET has_source = false WHERE has_source;
    ELSE
        -- New sources can only give an epoch its first source; moved or deleted ones may
        -- take an epoch's last.
        PERFORM isla_ops.verify_epoch_sources(NULL, TG_OP = 'INSERT');
    END IF;
    RETURN NULL;
END;
$$""",
    """
CREATE FUNCTION isla_ops.count_rows() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    -- TG_ARGV: the table's "simulated" and "bytes" expressions ('false' and '0' when the page
    -- shows neither).
    counted text := format(
        'SELECT count(*), count(*) FILTER (WHERE %s), coalesce(sum(%s), 0) FROM ',
        TG_ARGV[0], TG_ARGV[1]);
    n bigint := 0; sim bigint := 0; bytes numeric := 0;
    n2 bigint; sim2 bigint; bytes2 numeric;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        DELETE FROM isla_ops.archive_counts WHERE table_name = TG_TABLE_NAME;
        INSERT INTO isla_ops.archive_counts VALUES (TG_TABLE_NAME, 0, 0, 0);
        RETURN NULL;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        EXECUTE counted || 'new_rows' INTO n, sim, bytes;
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        EXECUTE counted || 'old_rows' INTO n2, sim2, bytes2;
        n := n - n2; sim := sim - sim2; bytes := bytes - bytes2;
    END IF;
    IF n = 0 AND sim = 0 AND bytes = 0 THEN
        RETURN NULL;
    END IF;
    -- A row per change, summed by readers: concurrent writers never wait for each other
    -- (one row updated by all would serialise parallel ingestion). Now and then, one writer
    -- at a time folds a table's rows into one; only under READ COMMITTED, where its DELETE
    -- sees what other folders committed.
    INSERT INTO isla_ops.archive_counts VALUES (TG_TABLE_NAME, n, sim, bytes);
    IF current_setting('transaction_isolation') = 'read committed'
       AND (SELECT count(*) FROM isla_ops.archive_counts WHERE table_name = TG_TABLE_NAME) > 64
       AND pg_try_advisory_xact_lock(hashtext('isla_ops.archive_counts'), 0) THEN
        WITH gone AS (
            DELETE FROM isla_ops.archive_counts WHERE table_name = TG_TABLE_NAME
            RETURNING row_count, simulated_count, total_bytes)
        INSERT INTO isla_ops.archive_counts
        SELECT TG_TABLE_NAME, coalesce(sum(row_count), 0), coalesce(sum(simulated_count), 0),
               coalesce(sum(total_bytes), 0)
        FROM gone;
    END IF;
    RETURN NULL;
END;
$$""",
]

EPOCH_LIST_VIEW = f"""
CREATE VIEW isla_ops.epoch_list AS
SELECT epoch, instrument_oid, band_oid FROM ({_PRODUCT_BRANCH}) AS p
UNION
SELECT c.epoch::text, c.instrument_oid::integer, {_band("c.instrument_oid")}
FROM isla_ops.epoch_coverage c
WHERE c.has_source"""  # noqa: S608 - constants only

COUNTED: dict[str, tuple[str, str, bool]] = {
    "revolutions": ("false", "0", False),
    "observations": ("false", "0", False),
    "science_windows": ("false", "0", False),
    "sources": ("false", "0", False),
    "products": ("simulated", "0", True),
    "scw_files": ("simulated", "size", True),
    "aux_files": ("simulated", "size", True),
}
"""The tables the landing page counts: (simulated expression, bytes expression, whether an
update can change them)."""


def _count_triggers(table: str, simulated: str, size: str, updates: bool) -> list[str]:
    call = f"EXECUTE FUNCTION isla_ops.count_rows('{simulated}', '{size}')"
    out = [
        f"CREATE TRIGGER count_insert AFTER INSERT ON isla.{table} "
        f"REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT {call}",
        f"CREATE TRIGGER count_delete AFTER DELETE ON isla.{table} "
        f"REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT {call}",
        f"CREATE TRIGGER count_truncate AFTER TRUNCATE ON isla.{table} FOR EACH STATEMENT {call}",
    ]
    if updates:
        out.append(
            f"CREATE TRIGGER count_update AFTER UPDATE ON isla.{table} "
            f"REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT {call}"
        )
    return out


EPOCH_TRIGGERS = [
    "CREATE TRIGGER epochs_insert AFTER INSERT ON isla.science_windows "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION isla_ops.science_windows_changed()",
    "CREATE TRIGGER epochs_update AFTER UPDATE ON isla.science_windows "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION isla_ops.science_windows_changed()",
    "CREATE TRIGGER epochs_delete AFTER DELETE ON isla.science_windows "
    "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION isla_ops.science_windows_changed()",
    "CREATE TRIGGER epochs_truncate AFTER TRUNCATE ON isla.science_windows "
    "FOR EACH STATEMENT EXECUTE FUNCTION isla_ops.science_windows_changed()",
    "CREATE TRIGGER epochs_insert AFTER INSERT ON isla.sources "
    "FOR EACH STATEMENT EXECUTE FUNCTION isla_ops.sources_changed()",
    'CREATE TRIGGER epochs_move AFTER UPDATE OF ra, "dec", pos OR DELETE ON isla.sources '
    "FOR EACH STATEMENT EXECUTE FUNCTION isla_ops.sources_changed()",
    "CREATE TRIGGER epochs_truncate AFTER TRUNCATE ON isla.sources "
    "FOR EACH STATEMENT EXECUTE FUNCTION isla_ops.sources_changed()",
]


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "epoch_coverage",
        sa.Column(
            "instrument_oid", sa.SmallInteger(), nullable=False, comment="ila instrument_oid."
        ),
        sa.Column("epoch", sa.String(16), nullable=False, comment="ISLA epoch RRRR_OOOOOOOOOOO."),
        sa.Column("revolution", sa.Integer(), nullable=False, comment="Revolution of the epoch."),
        sa.Column(
            "has_source",
            sa.Boolean(),
            nullable=False,
            comment="True when a source lies in the field of one of the epoch's pointings.",
        ),
        sa.PrimaryKeyConstraint("instrument_oid", "epoch", name=op.f("pk_epoch_coverage")),
        schema="isla_ops",
        comment="Per instrument, the epochs with pointing exposure (ila.epoch without target).",
    )
    op.create_index(
        "ix_epoch_coverage_revolution", "epoch_coverage", ["revolution"], schema="isla_ops"
    )
    op.create_table(
        "archive_counts",
        sa.Column("table_name", sa.String(64), nullable=False, comment="A table of isla."),
        sa.Column("row_count", sa.BigInteger(), nullable=False, comment="Its rows."),
        sa.Column(
            "simulated_count", sa.BigInteger(), nullable=False, comment="Its simulated rows."
        ),
        sa.Column(
            "total_bytes", sa.Numeric(), nullable=False, comment="Bytes of the files it lists."
        ),
        schema="isla_ops",
        comment="Exact counts of the archive's tables: the sums of its rows per table, one "
        "row added by each statement that changes a table.",
    )
    op.create_index(
        "ix_archive_counts_table_name", "archive_counts", ["table_name"], schema="isla_ops"
    )
    for statement in FUNCTIONS:
        op.execute(statement)
    for table, (simulated, size, _updates) in COUNTED.items():
        op.execute(
            f"INSERT INTO isla_ops.archive_counts "  # noqa: S608 - constants
            f"SELECT '{table}', count(*), count(*) FILTER (WHERE {simulated}), "
            f"coalesce(sum({size}), 0) FROM isla.{table}"
        )
    for table, spec in COUNTED.items():
        for statement in _count_triggers(table, *spec):
            op.execute(statement)
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_index(
        "ix_sources_name_trgm",
        "sources",
        ["name"],
        schema="isla",
        postgresql_using="gin",
        postgresql_ops={"name": "gin_trgm_ops"},
    )
    op.create_index(
        "ix_source_aliases_alias_trgm",
        "source_aliases",
        ["alias"],
        schema="isla",
        postgresql_using="gin",
        postgresql_ops={"alias": "gin_trgm_ops"},
    )
    op.create_index(
        "ix_science_windows_with_raw",
        "science_windows",
        ["scw_id"],
        schema="isla",
        postgresql_where=sa.text("scw_type = 'pointing' AND raw_files > 0"),
    )
    op.execute(EPOCH_VIEW)
    op.execute("SELECT isla_ops.refresh_epoch_coverage(NULL)")
    for statement in EPOCH_TRIGGERS:
        op.execute(statement)
    op.execute(EPOCH_LIST_VIEW)
    op.execute(f"GRANT USAGE ON SCHEMA isla_ops TO {READER}")
    op.execute(f"GRANT SELECT ON isla_ops.epoch_list, isla_ops.epoch_coverage TO {READER}")


def downgrade() -> None:
    """Revert this revision: the view of 0008, no maintained tables."""
    from importlib import util
    from pathlib import Path

    op.execute("DROP VIEW isla_ops.epoch_list")
    for table in ("science_windows", "sources"):
        for event in ("insert", "update", "delete", "truncate", "move"):
            op.execute(f"DROP TRIGGER IF EXISTS epochs_{event} ON isla.{table}")
    for table in COUNTED:
        for event in ("insert", "update", "delete", "truncate"):
            op.execute(f"DROP TRIGGER IF EXISTS count_{event} ON isla.{table}")
    for function in (
        "sources_changed()",
        "science_windows_changed()",
        "refresh_epoch_coverage(integer[])",
        "verify_epoch_sources(integer[], boolean)",
        "count_rows()",
    ):
        op.execute(f"DROP FUNCTION isla_ops.{function}")
    op.drop_index("ix_science_windows_with_raw", "science_windows", schema="isla")
    op.drop_index("ix_source_aliases_alias_trgm", "source_aliases", schema="isla")
    op.drop_index("ix_sources_name_trgm", "sources", schema="isla")
    op.drop_table("archive_counts", schema="isla_ops")
    op.drop_table("epoch_coverage", schema="isla_ops")
    op.execute(f"REVOKE USAGE ON SCHEMA isla_ops FROM {READER}")
    path = Path(__file__).with_name("0008_isla_compat.py")
    spec = util.spec_from_file_location("isla_migration_0008", path)
    assert spec is not None and spec.loader is not None
    module = util.module_from_spec(spec)
    spec.loader.exec_module(module)
    op.execute(str(module.EPOCH_VIEW).replace("CREATE VIEW", "CREATE OR REPLACE VIEW", 1))
