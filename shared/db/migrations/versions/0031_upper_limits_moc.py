"""Upper limits and coverage: the pixel-major sensitivity store and the coverage generations

Revision ID: 0031
Revises: 0024
Create Date: 2026-12-03

``isla_ops.sensitivity`` holds the delivered sensitivity tables (ingest kind ``sensitivity``)
pixel-major: one row of arrays per energy band, binning (``scw`` or ``revolution``) and
HEALPix pixel, so that a position's upper-limit curve over the mission is one primary-key read.

``isla_ops.coverage_state`` counts the committed transactions that changed
``isla.science_windows`` and ``isla.products``: a deferred constraint trigger on each bumps its
row once per transaction, at commit, so that the coverage MOCs the products service builds
from those tables are rebuilt once per state of the archive. Nothing is published through TAP.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0031"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCOPES = ("science_windows", "products")

BUMP_FUNCTION = """
CREATE OR REPLACE FUNCTION isla_ops.bump_coverage() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Once per transaction: the first row's call bumps, the others find it done.
    UPDATE isla_ops.coverage_state
       SET generation = generation + 1, xact = txid_current(), changed_at = now()
     WHERE scope = TG_ARGV[0] AND xact IS DISTINCT FROM txid_current();
    RETURN NULL;
END;
$$
"""


def upgrade() -> None:
    """Create the two tables, the function and the triggers."""
    op.create_table(
        "sensitivity",
        sa.Column(
            "band_id", sa.SmallInteger(), nullable=False, comment="Energy band (isla.energy_bands)."
        ),
        sa.Column(
            "binning",
            sa.String(10),
            nullable=False,
            comment="scw or revolution: what one array element is.",
        ),
        sa.Column(
            "hpx",
            sa.BigInteger(),
            nullable=False,
            comment="HEALPix pixel (ICRS, NESTED) at hpx_order.",
        ),
        sa.Column(
            "hpx_order",
            sa.SmallInteger(),
            nullable=False,
            comment="HEALPix order of the band's pixels.",
        ),
        sa.Column(
            "instrument", sa.String(16), nullable=False, comment="Instrument (ISGRI or JEM-X)."
        ),
        sa.Column(
            "bin_id",
            postgresql.ARRAY(sa.BigInteger()),
            nullable=False,
            comment="Science window ids (as integers) or revolution numbers, in time order.",
        ),
        sa.Column(
            "t_start",
            postgresql.ARRAY(sa.Double()),
            nullable=False,
            comment="Start of each bin (IJD, TT).",
        ),
        sa.Column(
            "t_stop",
            postgresql.ARRAY(sa.Double()),
            nullable=False,
            comment="End of each bin (IJD, TT).",
        ),
        sa.Column(
            "exposure",
            postgresql.ARRAY(sa.Double()),
            nullable=False,
            comment="Effective exposure at the pixel (s).",
        ),
        sa.Column(
            "rate_sigma",
            postgresql.ARRAY(sa.Double()),
            nullable=False,
            comment="1-sigma count-rate sensitivity (count/s).",
        ),
        sa.Column(
            "nscw",
            postgresql.ARRAY(sa.Integer()),
            nullable=False,
            comment="Science windows in each bin.",
        ),
        sa.Column(
            "crab_count_rate",
            sa.Double(),
            nullable=False,
            comment="Count rate of the Crab in the band (count/s).",
        ),
        sa.Column(
            "simulated",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=False,
            comment="True when made by the simulated pipeline (the demo archive).",
        ),
        sa.CheckConstraint("binning in ('scw', 'revolution')", name=op.f("ck_sensitivity_binning")),
        sa.CheckConstraint("hpx_order between 0 and 13", name=op.f("ck_sensitivity_hpx_order")),
        sa.CheckConstraint("hpx >= 0", name=op.f("ck_sensitivity_hpx")),
        sa.CheckConstraint("crab_count_rate > 0", name=op.f("ck_sensitivity_crab_count_rate")),
        sa.PrimaryKeyConstraint("band_id", "binning", "hpx", name=op.f("pk_sensitivity")),
        schema="isla_ops",
        comment=(
            "Delivered sensitivity tables, pixel-major (one row per band, binning and "
            "HEALPix pixel, arrays over time)."
        ),
    )
    op.create_table(
        "coverage_state",
        sa.Column("scope", sa.String(32), nullable=False, comment="science_windows or products."),
        sa.Column(
            "generation",
            sa.BigInteger(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Bumped once by every committed transaction that changes the table.",
        ),
        sa.Column(
            "xact", sa.BigInteger(), nullable=True, comment="The transaction that bumped it last."
        ),
        sa.Column(
            "changed_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
            comment="When it was bumped last.",
        ),
        sa.PrimaryKeyConstraint("scope", name=op.f("pk_coverage_state")),
        schema="isla_ops",
        comment="Generation numbers of the tables coverage MOCs come from.",
    )
    for scope in SCOPES:
        op.execute(
            sa.text("INSERT INTO isla_ops.coverage_state (scope) VALUES (:s)").bindparams(s=scope)
        )
    op.execute(BUMP_FUNCTION)
    for scope in SCOPES:
        op.execute(
            f"CREATE CONSTRAINT TRIGGER coverage_{scope} AFTER INSERT OR UPDATE OR DELETE "
            f"ON isla.{scope} DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
            f"EXECUTE FUNCTION isla_ops.bump_coverage('{scope}')"
        )


def downgrade() -> None:
    """Drop the triggers, the function and the tables."""
    for scope in SCOPES:
        op.execute(f"DROP TRIGGER IF EXISTS coverage_{scope} ON isla.{scope}")
    op.execute("DROP FUNCTION IF EXISTS isla_ops.bump_coverage()")
    op.drop_table("coverage_state", schema="isla_ops")
    op.drop_table("sensitivity", schema="isla_ops")
