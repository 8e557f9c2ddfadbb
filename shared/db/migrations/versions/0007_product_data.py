"""Science products: light-curve points and product tables

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25

``isla.lightcurve_points`` (ISGRI and JEM-X, per source, science window and band) and
``isla.omc_points`` (OMC V band) hold the data the products service builds light curves,
spectra and mosaics from; both are published through TAP, so TAP_SCHEMA is refreshed.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

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


# TAP_SCHEMA rows are frozen in the revisions that write them, as they wrote them: a migration
# keeps its meaning whatever today's metadata (shared.vo.tap_schema) says.
_TAP_SCHEMA_COLUMNS: dict[str, tuple[str, ...]] = {
    "schemas": ("schema_name", "utype", "description", "schema_index"),
    "tables": ("schema_name", "table_name", "table_type", "utype", "description", "table_index"),
    "columns": (
        "table_name",
        "column_name",
        "datatype",
        "arraysize",
        '"size"',
        "xtype",
        "utype",
        "unit",
        "ucd",
        "description",
        "indexed",
        "principal",
        "std",
        "column_index",
    ),
    "keys": ("key_id", "from_table", "target_table", "utype", "description"),
    "key_columns": ("key_id", "from_column", "target_column"),
}
_TAP_SCHEMA_KEY: dict[str, tuple[str, ...]] = {
    "schemas": ("schema_name",),
    "tables": ("table_name",),
    "columns": ("table_name", "column_name"),
    "keys": ("key_id",),
    "key_columns": ("key_id", "from_column", "target_column"),
}
"""The columns that identify a row of each TAP_SCHEMA table (its primary key, if any)."""


def _change_tap_schema(
    rows: dict[str, list[tuple[Any, ...]]], gone: dict[str, list[tuple[Any, ...]]]
) -> None:
    """Delete the ``gone`` rows (given by key), then insert or update ``rows``."""
    conn = op.get_bind()
    for table in ("key_columns", "keys", "columns", "tables", "schemas"):
        where = " AND ".join(f"{n} = :k{i}" for i, n in enumerate(_TAP_SCHEMA_KEY[table]))
        for key in gone.get(table, ()):
            conn.execute(
                sa.text(f"DELETE FROM tap_schema.{table} WHERE {where}"),  # noqa: S608 - fixed names
                {f"k{i}": v for i, v in enumerate(key)},
            )
    for table in ("schemas", "tables", "columns", "keys", "key_columns"):
        names = _TAP_SCHEMA_COLUMNS[table]
        key = _TAP_SCHEMA_KEY[table]
        values = ", ".join(f":v{i}" for i in range(len(names)))
        sql = f"INSERT INTO tap_schema.{table} ({', '.join(names)}) VALUES ({values})"  # noqa: S608 - fixed names
        if len(key) < len(names):  # key_columns has no key: its rows are never updated
            update = ", ".join(f"{n} = excluded.{n}" for n in names if n not in key)
            sql += f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET {update}"
        if rows.get(table):
            conn.execute(
                sa.text(sql), [{f"v{i}": v for i, v in enumerate(row)} for row in rows[table]]
            )


UPGRADE_ROWS: dict[str, list[tuple[Any, ...]]] = {
    "tables": [
        (
            "isla",
            "isla.lightcurve_points",
            "table",
            None,
            (
                "Light-curve points of ISGRI and JEM-X: one per source, "
                "science window and band, for every pointing with the source "
                "in the field of view."
            ),
            5,
        ),
        (
            "isla",
            "isla.observations",
            "table",
            None,
            ("Observations: sequences of science windows of one proposal and target."),
            6,
        ),
        (
            "isla",
            "isla.omc_points",
            "table",
            None,
            (
                "OMC V-band light-curve points of sources with an optical "
                "counterpart, one per science window with the source in the "
                "OMC field of view."
            ),
            7,
        ),
        ("isla", "isla.products", "table", None, "Science products held in the object store.", 8),
        (
            "isla",
            "isla.revolutions",
            "table",
            None,
            "INTEGRAL revolutions (orbits of about three days).",
            9,
        ),
        (
            "isla",
            "isla.science_windows",
            "table",
            None,
            ("Science windows: the pointings and slews that make up all raw data."),
            10,
        ),
        (
            "isla",
            "isla.scw_files",
            "table",
            None,
            ("Raw data files of each science window, with sizes and checksums."),
            11,
        ),
        (
            "isla",
            "isla.source_aliases",
            "table",
            None,
            "Alternative names of sources (used by the target resolver).",
            12,
        ),
        (
            "isla",
            "isla.source_fluxes",
            "table",
            None,
            "Fluxes of sources per instrument band, with provenance.",
            13,
        ),
        (
            "isla",
            "isla.sources",
            "table",
            None,
            ("The archive's merged source list: every known INTEGRAL source."),
            14,
        ),
        (
            "ila",
            "ila.instrument",
            "view",
            None,
            ("Instruments as ESA's ISLA names them, with their numeric identifiers."),
            15,
        ),
        (
            "ila",
            "ila.band",
            "view",
            None,
            ("The ISLA default energy band of each instrument (one per instrument)."),
            16,
        ),
        (
            "ila",
            "ila.cons_pub_obs",
            "view",
            None,
            ("Public consolidated observations, with the columns ISLA clients query."),
            17,
        ),
        (
            "ila",
            "ila.v_cat_source",
            "view",
            None,
            ("The source catalogue as ISLA clients query it (name search and cone search)."),
            18,
        ),
        (
            "ila",
            "ila.epoch",
            "view",
            None,
            (
                "Epochs (RRRR_OOOOOOOOOOO: revolution and observation) in "
                "which a source was in the field of view of an instrument, "
                "from products and from the observations' pointings."
            ),
            19,
        ),
        (
            "ivoa",
            "ivoa.obscore",
            "view",
            "ivo://ivoa.net/std/ObsCore#table-1.1",
            (
                "ObsCore 1.1: one row per INTEGRAL pointing science window "
                "(raw data, IBIS/ISGRI field of view) and one per science "
                "product (light curves, spectra, mosaics)."
            ),
            20,
        ),
        (
            "TAP_SCHEMA",
            "TAP_SCHEMA.schemas",
            "table",
            None,
            "Schemas published by this service.",
            21,
        ),
        ("TAP_SCHEMA", "TAP_SCHEMA.tables", "table", None, "Tables published by this service.", 22),
        ("TAP_SCHEMA", "TAP_SCHEMA.columns", "table", None, "Columns of the published tables.", 23),
        (
            "TAP_SCHEMA",
            "TAP_SCHEMA.keys",
            "table",
            None,
            "Foreign keys between published tables.",
            24,
        ),
        ("TAP_SCHEMA", "TAP_SCHEMA.key_columns", "table", None, "Columns of the foreign keys.", 25),
    ],
    "columns": [
        (
            "isla.lightcurve_points",
            "source_id",
            "char",
            "*",
            None,
            None,
            None,
            None,
            "meta.id;src",
            "Source identifier.",
            1,
            1,
            0,
            0,
        ),
        (
            "isla.lightcurve_points",
            "band_id",
            "short",
            None,
            None,
            None,
            None,
            None,
            "meta.id",
            "Energy band of the point (isla.energy_bands).",
            0,
            1,
            0,
            1,
        ),
        (
            "isla.lightcurve_points",
            "scw_id",
            "char",
            "*",
            None,
            None,
            None,
            None,
            "meta.id;obs",
            "Science window of the point (ids sort in time order).",
            1,
            1,
            0,
            2,
        ),
        (
            "isla.lightcurve_points",
            "instrument",
            "char",
            "*",
            None,
            None,
            None,
            None,
            "meta.id;instr",
            "Instrument (ISGRI or JEM-X).",
            0,
            1,
            0,
            3,
        ),
        (
            "isla.lightcurve_points",
            "revolution",
            "int",
            None,
            None,
            None,
            None,
            None,
            "meta.id;obs.sequence",
            "Revolution of the point.",
            0,
            0,
            0,
            4,
        ),
        (
            "isla.lightcurve_points",
            "time_ijd",
            "double",
            None,
            None,
            None,
            None,
            "d",
            "time.epoch",
            ("Middle of the science window as INTEGRAL Julian Date (MJD - 51544, TT)."),
            0,
            1,
            0,
            5,
        ),
        (
            "isla.lightcurve_points",
            "duration",
            "double",
            None,
            None,
            None,
            None,
            "s",
            "time.duration",
            "Length of the science window (time bin width).",
            0,
            0,
            0,
            6,
        ),
        (
            "isla.lightcurve_points",
            "exposure",
            "double",
            None,
            None,
            None,
            None,
            "s",
            "time.duration;obs.exposure",
            "Dead-time corrected exposure on the source.",
            0,
            0,
            0,
            7,
        ),
        (
            "isla.lightcurve_points",
            "rate",
            "double",
            None,
            None,
            None,
            None,
            "ct/s",
            "phot.count;em.X-ray",
            "Source count rate in the band (corrected to on-axis).",
            0,
            1,
            0,
            8,
        ),
        (
            "isla.lightcurve_points",
            "rate_err",
            "double",
            None,
            None,
            None,
            None,
            "ct/s",
            "stat.error;phot.count",
            "1-sigma error of the rate.",
            0,
            0,
            0,
            9,
        ),
        (
            "isla.lightcurve_points",
            "offaxis",
            "double",
            None,
            None,
            None,
            None,
            "deg",
            "pos.angDistance;instr.fov",
            "Angle between the pointing axis and the source.",
            0,
            0,
            0,
            10,
        ),
        (
            "isla.lightcurve_points",
            "significance",
            "double",
            None,
            None,
            None,
            None,
            None,
            "stat.snr",
            "Detection significance (rate / error).",
            0,
            1,
            0,
            11,
        ),
        (
            "isla.lightcurve_points",
            "upper_limit",
            "boolean",
            None,
            None,
            None,
            None,
            None,
            "meta.code;stat.max",
            ("True when the source is not detected (significance < 3): use rate_ul."),
            0,
            1,
            0,
            12,
        ),
        (
            "isla.lightcurve_points",
            "rate_ul",
            "double",
            None,
            None,
            None,
            None,
            "ct/s",
            "phot.count;stat.max",
            ("3-sigma upper limit of the rate when not detected (NULL when detected)."),
            0,
            0,
            0,
            13,
        ),
        (
            "isla.omc_points",
            "source_id",
            "char",
            "*",
            None,
            None,
            None,
            None,
            "meta.id;src",
            "Source identifier.",
            1,
            1,
            0,
            0,
        ),
        (
            "isla.omc_points",
            "scw_id",
            "char",
            "*",
            None,
            None,
            None,
            None,
            "meta.id;obs",
            "Science window of the point.",
            0,
            0,
            0,
            1,
        ),
        (
            "isla.omc_points",
            "revolution",
            "int",
            None,
            None,
            None,
            None,
            None,
            "meta.id;obs.sequence",
            "Revolution of the point.",
            0,
            0,
            0,
            2,
        ),
        (
            "isla.omc_points",
            "time_ijd",
            "double",
            None,
            None,
            None,
            None,
            "d",
            "time.epoch",
            "Middle of the science window as INTEGRAL Julian Date (TT).",
            0,
            1,
            0,
            3,
        ),
        (
            "isla.omc_points",
            "exposure",
            "double",
            None,
            None,
            None,
            None,
            "s",
            "time.duration;obs.exposure",
            "OMC exposure (sum of the shots).",
            0,
            0,
            0,
            4,
        ),
        (
            "isla.omc_points",
            "magnitude",
            "double",
            None,
            None,
            None,
            None,
            "mag",
            "phot.mag;em.opt.V",
            "Johnson V magnitude.",
            0,
            1,
            0,
            5,
        ),
        (
            "isla.omc_points",
            "magnitude_err",
            "double",
            None,
            None,
            None,
            None,
            "mag",
            "stat.error;phot.mag",
            "1-sigma error of the magnitude.",
            0,
            0,
            0,
            6,
        ),
        (
            "isla.omc_points",
            "offaxis",
            "double",
            None,
            None,
            None,
            None,
            "deg",
            "pos.angDistance;instr.fov",
            "Angle between the pointing axis and the source.",
            0,
            0,
            0,
            7,
        ),
    ],
}

UPGRADE_GONE: dict[str, list[tuple[Any, ...]]] = {}

DOWNGRADE_ROWS: dict[str, list[tuple[Any, ...]]] = {
    "tables": [
        (
            "isla",
            "isla.observations",
            "table",
            None,
            ("Observations: sequences of science windows of one proposal and target."),
            5,
        ),
        ("isla", "isla.products", "table", None, "Science products held in the object store.", 6),
        (
            "isla",
            "isla.revolutions",
            "table",
            None,
            "INTEGRAL revolutions (orbits of about three days).",
            7,
        ),
        (
            "isla",
            "isla.science_windows",
            "table",
            None,
            ("Science windows: the pointings and slews that make up all raw data."),
            8,
        ),
        (
            "isla",
            "isla.scw_files",
            "table",
            None,
            ("Raw data files of each science window, with sizes and checksums."),
            9,
        ),
        (
            "isla",
            "isla.source_aliases",
            "table",
            None,
            "Alternative names of sources (used by the target resolver).",
            10,
        ),
        (
            "isla",
            "isla.source_fluxes",
            "table",
            None,
            "Fluxes of sources per instrument band, with provenance.",
            11,
        ),
        (
            "isla",
            "isla.sources",
            "table",
            None,
            ("The archive's merged source list: every known INTEGRAL source."),
            12,
        ),
        (
            "ila",
            "ila.instrument",
            "view",
            None,
            ("Instruments as ESA's ISLA names them, with their numeric identifiers."),
            13,
        ),
        (
            "ila",
            "ila.band",
            "view",
            None,
            ("The ISLA default energy band of each instrument (one per instrument)."),
            14,
        ),
        (
            "ila",
            "ila.cons_pub_obs",
            "view",
            None,
            ("Public consolidated observations, with the columns ISLA clients query."),
            15,
        ),
        (
            "ila",
            "ila.v_cat_source",
            "view",
            None,
            ("The source catalogue as ISLA clients query it (name search and cone search)."),
            16,
        ),
        (
            "ila",
            "ila.epoch",
            "view",
            None,
            (
                "Epochs (RRRR_OOOOOOOOOOO: revolution and observation) in "
                "which a source was in the field of view of an instrument, "
                "from products and from the observations' pointings."
            ),
            17,
        ),
        (
            "ivoa",
            "ivoa.obscore",
            "view",
            "ivo://ivoa.net/std/ObsCore#table-1.1",
            (
                "ObsCore 1.1: one row per INTEGRAL pointing science window "
                "(raw data, IBIS/ISGRI field of view) and one per science "
                "product (light curves, spectra, mosaics)."
            ),
            18,
        ),
        (
            "TAP_SCHEMA",
            "TAP_SCHEMA.schemas",
            "table",
            None,
            "Schemas published by this service.",
            19,
        ),
        ("TAP_SCHEMA", "TAP_SCHEMA.tables", "table", None, "Tables published by this service.", 20),
        ("TAP_SCHEMA", "TAP_SCHEMA.columns", "table", None, "Columns of the published tables.", 21),
        (
            "TAP_SCHEMA",
            "TAP_SCHEMA.keys",
            "table",
            None,
            "Foreign keys between published tables.",
            22,
        ),
        ("TAP_SCHEMA", "TAP_SCHEMA.key_columns", "table", None, "Columns of the foreign keys.", 23),
    ],
}

DOWNGRADE_GONE: dict[str, list[tuple[Any, ...]]] = {
    "tables": [
        ("isla.lightcurve_points",),
        ("isla.omc_points",),
    ],
    "columns": [
        ("isla.lightcurve_points", "source_id"),
        ("isla.lightcurve_points", "band_id"),
        ("isla.lightcurve_points", "scw_id"),
        ("isla.lightcurve_points", "instrument"),
        ("isla.lightcurve_points", "revolution"),
        ("isla.lightcurve_points", "time_ijd"),
        ("isla.lightcurve_points", "duration"),
        ("isla.lightcurve_points", "exposure"),
        ("isla.lightcurve_points", "rate"),
        ("isla.lightcurve_points", "rate_err"),
        ("isla.lightcurve_points", "offaxis"),
        ("isla.lightcurve_points", "significance"),
        ("isla.lightcurve_points", "upper_limit"),
        ("isla.lightcurve_points", "rate_ul"),
        ("isla.omc_points", "source_id"),
        ("isla.omc_points", "scw_id"),
        ("isla.omc_points", "revolution"),
        ("isla.omc_points", "time_ijd"),
        ("isla.omc_points", "exposure"),
        ("isla.omc_points", "magnitude"),
        ("isla.omc_points", "magnitude_err"),
        ("isla.omc_points", "offaxis"),
    ],
}


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
    _change_tap_schema(UPGRADE_ROWS, UPGRADE_GONE)


def downgrade() -> None:
    """Drop the light-curve tables."""
    op.drop_table("omc_points", schema="isla")
    op.drop_index("ix_lightcurve_points_scw_id", table_name="lightcurve_points", schema="isla")
    op.drop_table("lightcurve_points", schema="isla")
    _change_tap_schema(DOWNGRADE_ROWS, DOWNGRADE_GONE)
