"""Science products: light-curve points and product tables

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25

``isla.lightcurve_points`` (ISGRI and JEM-X, per source, science window and band) and
``isla.omc_points`` (OMC V band) hold the data the products service builds light curves,
spectra and mosaics from; both are published through TAP, so TAP_SCHEMA is refreshed.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.vo import tap_schema

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LC = (
    "Light-curve points of ISGRI and JEM-X: one per source, science window and band, "
    "for every pointing with the source in the field of view."
)
_OMC = (
    "OMC V-band light-curve points of sources with an optical counterpart, one per "
    "science window with the source in the OMC field of view."
)


def upgrade() -> None:
    """Create the light-curve tables and publish them."""
    op.create_table(
        "lightcurve_points",
        sa.Column("source_id", sa.String(16), nullable=False, comment="Source identifier."),
        sa.Column(
            "band_id",
            sa.SmallInteger(),
            nullable=False,
            comment="Energy band of the point (isla.energy_bands).",
        ),
        sa.Column(
            "scw_id",
            sa.String(12),
            nullable=False,
            comment="Science window of the point (ids sort in time order).",
        ),
        sa.Column(
            "instrument", sa.String(16), nullable=False, comment="Instrument (ISGRI or JEM-X)."
        ),
        sa.Column("revolution", sa.Integer(), nullable=False, comment="Revolution of the point."),
        sa.Column(
            "time_ijd",
            sa.Double(),
            nullable=False,
            comment="Middle of the science window as INTEGRAL Julian Date (MJD - 51544, TT).",
        ),
        sa.Column(
            "duration",
            sa.Double(),
            nullable=False,
            comment="Length of the science window (time bin width).",
        ),
        sa.Column(
            "exposure",
            sa.Double(),
            nullable=False,
            comment="Dead-time corrected exposure on the source.",
        ),
        sa.Column(
            "rate",
            sa.Double(),
            nullable=False,
            comment="Source count rate in the band (corrected to on-axis).",
        ),
        sa.Column("rate_err", sa.Double(), nullable=False, comment="1-sigma error of the rate."),
        sa.Column(
            "offaxis",
            sa.Double(),
            nullable=False,
            comment="Angle between the pointing axis and the source.",
        ),
        sa.Column(
            "significance",
            sa.Double(),
            nullable=False,
            comment="Detection significance (rate / error).",
        ),
        sa.Column(
            "upper_limit",
            sa.Boolean(),
            nullable=False,
            comment="True when the source is not detected (significance < 3): use rate_ul.",
        ),
        sa.Column(
            "rate_ul",
            sa.Double(),
            nullable=True,
            comment="3-sigma upper limit of the rate when not detected (NULL when detected).",
        ),
        sa.CheckConstraint("exposure >= 0", name=op.f("ck_lightcurve_points_exposure")),
        sa.CheckConstraint("rate_err > 0", name=op.f("ck_lightcurve_points_rate_err")),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["isla.sources.source_id"],
            name=op.f("fk_lightcurve_points_source_id_sources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "source_id", "band_id", "scw_id", name=op.f("pk_lightcurve_points")
        ),
        schema="isla",
        comment=_LC,
    )
    op.create_index("ix_lightcurve_points_scw_id", "lightcurve_points", ["scw_id"], schema="isla")
    op.create_table(
        "omc_points",
        sa.Column("source_id", sa.String(16), nullable=False, comment="Source identifier."),
        sa.Column("scw_id", sa.String(12), nullable=False, comment="Science window of the point."),
        sa.Column("revolution", sa.Integer(), nullable=False, comment="Revolution of the point."),
        sa.Column(
            "time_ijd",
            sa.Double(),
            nullable=False,
            comment="Middle of the science window as INTEGRAL Julian Date (TT).",
        ),
        sa.Column(
            "exposure", sa.Double(), nullable=False, comment="OMC exposure (sum of the shots)."
        ),
        sa.Column("magnitude", sa.Double(), nullable=False, comment="Johnson V magnitude."),
        sa.Column(
            "magnitude_err",
            sa.Double(),
            nullable=False,
            comment="1-sigma error of the magnitude.",
        ),
        sa.Column(
            "offaxis",
            sa.Double(),
            nullable=False,
            comment="Angle between the pointing axis and the source.",
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["isla.sources.source_id"],
            name=op.f("fk_omc_points_source_id_sources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("source_id", "scw_id", name=op.f("pk_omc_points")),
        schema="isla",
        comment=_OMC,
    )
    tap_schema.refresh(op.get_bind())


def downgrade() -> None:
    """Drop the light-curve tables."""
    op.drop_table("omc_points", schema="isla")
    op.drop_index("ix_lightcurve_points_scw_id", table_name="lightcurve_points", schema="isla")
    op.drop_table("lightcurve_points", schema="isla")
    tap_schema.refresh(op.get_bind())
