"""TAP: TAP_SCHEMA, the ila compatibility views, ADQL helper functions, read-only role

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25

Everything here lives outside the ``isla`` schema, which Alembic's autogenerate ignores
(see env.py): it is kept in step by hand, and TAP_SCHEMA's rows are generated from the schema
metadata by :func:`shared.vo.tap_schema.refresh`.

The role ``isla_reader`` (NOLOGIN) may only read the published schemas. The TAP service runs
every user query inside a read-only transaction with ``SET LOCAL ROLE isla_reader``, which
needs the service's own database role to be a member of it: granted here to the role running
the migration. In a deployment where the services log in as a role other than the migration
owner, grant it with ``GRANT isla_reader TO <service role>``. Roles are cluster-wide, so the
role is created only when missing and is left in place by the downgrade.
"""

from collections.abc import Sequence

from alembic import op

from shared.vo import tap_schema

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

READER = "isla_reader"

TAP_SCHEMA_DDL = [
    "CREATE SCHEMA IF NOT EXISTS tap_schema",
    """CREATE TABLE tap_schema.schemas (
        schema_name varchar(64) PRIMARY KEY,
        utype text,
        description text,
        schema_index integer
    )""",
    """CREATE TABLE tap_schema.tables (
        schema_name varchar(64) NOT NULL REFERENCES tap_schema.schemas,
        table_name varchar(128) PRIMARY KEY,
        table_type varchar(8) NOT NULL,
        utype text,
        description text,
        table_index integer
    )""",
    """CREATE TABLE tap_schema.columns (
        table_name varchar(128) NOT NULL REFERENCES tap_schema.tables ON DELETE CASCADE,
        column_name varchar(64) NOT NULL,
        datatype varchar(64) NOT NULL,
        arraysize varchar(16),
        xtype varchar(64),
        "size" integer,
        utype text,
        unit varchar(64),
        ucd varchar(128),
        description text,
        indexed integer NOT NULL,
        principal integer NOT NULL,
        std integer NOT NULL,
        column_index integer,
        PRIMARY KEY (table_name, column_name)
    )""",
    """CREATE TABLE tap_schema.keys (
        key_id varchar(128) PRIMARY KEY,
        from_table varchar(128) NOT NULL,
        target_table varchar(128) NOT NULL,
        utype text,
        description text
    )""",
    """CREATE TABLE tap_schema.key_columns (
        key_id varchar(128) NOT NULL REFERENCES tap_schema.keys ON DELETE CASCADE,
        from_column varchar(64) NOT NULL,
        target_column varchar(64) NOT NULL
    )""",
]

# Functions that queryparser's ADQL translation calls but pgSphere does not define. They live
# in their own schema, put on the search_path only for TAP queries.
ADQL_FUNCTIONS = [
    "CREATE SCHEMA IF NOT EXISTS isla_adql",
    """CREATE FUNCTION isla_adql.coord1(p spoint) RETURNS double precision
        LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS 'SELECT degrees(long(p))'""",
    """CREATE FUNCTION isla_adql.coord2(p spoint) RETURNS double precision
        LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS 'SELECT degrees(lat(p))'""",
    """CREATE FUNCTION isla_adql.square_degrees(steradians double precision)
        RETURNS double precision LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
        AS 'SELECT steradians * (180.0 / pi()) ^ 2'""",
    # DISTANCE(a, b) < r becomes spoint_dwithin(a, b, r), which pgSphere 1.2 lacks.
    """CREATE FUNCTION isla_adql.spoint_dwithin(a spoint, b spoint, r double precision)
        RETURNS boolean LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS 'SELECT a <-> b <= r'""",
    # INTERSECTS with a point is CONTAINS (ADQL 2.1 §4.2.11); pgSphere's && has no exact
    # point variant, and the casts it would need make the operator ambiguous.
    *[
        f"""CREATE FUNCTION isla_adql.point_in(p spoint, g {shape}) RETURNS boolean
            LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS 'SELECT p @ g'"""
        for shape in ("scircle", "spoly", "sbox")
    ],
    *[
        f"""CREATE FUNCTION isla_adql.point_in(g {shape}, p spoint) RETURNS boolean
            LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS 'SELECT p @ g'"""
        for shape in ("scircle", "spoly", "sbox")
    ],
    *[
        f"""CREATE OPERATOR isla_adql.&& (LEFTARG = {left}, RIGHTARG = {right},
            FUNCTION = isla_adql.point_in)"""
        for left, right in (
            ("spoint", "scircle"),
            ("spoint", "spoly"),
            ("spoint", "sbox"),
            ("scircle", "spoint"),
            ("spoly", "spoint"),
            ("sbox", "spoint"),
        )
    ],
]

# ESA's ISLA names instruments in lower case and calls ISGRI "ibis"; astroquery users pass
# these names (instrument='ibis', 'jem-x'). The numeric identifiers are this archive's own.
ILA_VIEWS = [
    "CREATE SCHEMA IF NOT EXISTS ila",
    """CREATE VIEW ila.instrument AS
        SELECT m.instrument_oid, m.isla_name::text AS name, i.name AS archive_name,
               i.telescope, i.description, i.e_min, i.e_max
        FROM (VALUES (1, 'ISGRI', 'ibis'), (2, 'JEM-X', 'jem-x'), (3, 'PICsIT', 'picsit'),
                     (4, 'SPI', 'spi'), (5, 'SPI-ACS', 'spi-acs'))
             AS m(instrument_oid, archive_name, isla_name)
        JOIN isla.instruments i ON i.name = m.archive_name""",
    """CREATE VIEW ila.band AS
        SELECT b.band_id::integer AS band_oid, b.name, ins.instrument_oid, b.e_min, b.e_max
        FROM isla.energy_bands b
        JOIN ila.instrument ins ON ins.archive_name = b.instrument
        WHERE b.isla_default""",
    """CREATE VIEW ila.cons_pub_obs AS
        SELECT o.obsid, o.proposal_id, o.pi_name, o.target_name, o.ra, o.dec,
               o.start_time AS starttime, o.end_time AS endtime,
               lpad(o.rev_start::text, 4, '0') AS start_revno,
               lpad(o.rev_end::text, 4, '0') AS end_revno,
               o.pattern, o.exposure
        FROM isla.observations o""",
    """CREATE VIEW ila.v_cat_source AS
        SELECT s.source_id, s.name, s.ra, s.dec, s.pos_err, s.source_class
        FROM isla.sources s""",
    # Epochs from products where there are some; otherwise every observation in which the
    # source lay within the field of view (ISGRI: 15 deg from the target, about the partially
    # coded field; JEM-X: 5 deg), so that epoch queries answer before products are ingested.
    """CREATE VIEW ila.epoch AS
        SELECT p.epoch::text AS epoch, p.source_id::text AS source_id, ins.instrument_oid,
               b.band_oid
        FROM isla.products p
        JOIN ila.instrument ins ON ins.archive_name = p.instrument
        JOIN ila.band b ON b.instrument_oid = ins.instrument_oid
        WHERE p.epoch IS NOT NULL AND p.source_id IS NOT NULL
        UNION
        SELECT lpad(o.rev_start::text, 4, '0') || '_' || o.obsid, s.source_id::text,
               ins.instrument_oid, b.band_oid
        FROM isla.observations o
        JOIN isla.sources s ON s.pos <@ scircle(o.pos, radians(15.0))
        JOIN ila.instrument ins ON ins.archive_name = 'ISGRI'
        JOIN ila.band b ON b.instrument_oid = ins.instrument_oid
        UNION
        SELECT lpad(o.rev_start::text, 4, '0') || '_' || o.obsid, s.source_id::text,
               ins.instrument_oid, b.band_oid
        FROM isla.observations o
        JOIN isla.sources s ON s.pos <@ scircle(o.pos, radians(5.0))
        JOIN ila.instrument ins ON ins.archive_name = 'JEM-X'
        JOIN ila.band b ON b.instrument_oid = ins.instrument_oid""",
]

PUBLISHED = "isla, ila, tap_schema"

READER_DDL = [
    # Concurrent migrations of two databases in one cluster may both try to create it.
    """DO $$ BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'isla_reader') THEN
            CREATE ROLE isla_reader NOLOGIN;
        END IF;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END $$""",
    f"GRANT USAGE ON SCHEMA {PUBLISHED}, isla_adql TO {READER}",
    f"GRANT SELECT ON ALL TABLES IN SCHEMA {PUBLISHED} TO {READER}",
    f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA isla_adql TO {READER}",
    f"ALTER DEFAULT PRIVILEGES IN SCHEMA {PUBLISHED} GRANT SELECT ON TABLES TO {READER}",
    # Lets the service (the role that runs migrations, by default) SET ROLE to the reader.
    f"GRANT {READER} TO CURRENT_USER",
]


def upgrade() -> None:
    """Apply this revision."""
    for statement in [*TAP_SCHEMA_DDL, *ADQL_FUNCTIONS, *ILA_VIEWS, *READER_DDL]:
        op.execute(statement)
    tap_schema.refresh(op.get_bind())


def downgrade() -> None:
    """Revert this revision (the cluster-wide role stays; its grants here are revoked)."""
    op.execute(
        "ALTER DEFAULT PRIVILEGES IN SCHEMA isla, ila, tap_schema "
        "REVOKE SELECT ON TABLES FROM isla_reader"
    )
    op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA isla FROM {READER}")
    op.execute(f"REVOKE USAGE ON SCHEMA isla FROM {READER}")
    op.execute("DROP SCHEMA ila CASCADE")
    op.execute("DROP SCHEMA tap_schema CASCADE")
    op.execute("DROP SCHEMA isla_adql CASCADE")
