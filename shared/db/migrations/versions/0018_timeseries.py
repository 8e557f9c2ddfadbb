"""SPI-ACS and IREM time series: indexes of delivered files and serving segments

Revision ID: 0018
Revises: 0013
Create Date: 2026-12-03

The samples stay in the object store: the delivered per-revolution FITS files and the serving
copy (gap-split segments with their multi-resolution pyramid). Postgres keeps only two
indexes: ``isla.timeseries_files`` (one row per dataset and revolution) and
``isla.timeseries_segments`` (one row per segment, with its byte layout and the summary of its
pyramid root). Both carry ``simulated``.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0018"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FILES = "Delivered SPI-ACS and IREM time-series files, one per dataset and revolution."
_SEGMENTS = (
    "Segments of the time-series serving copy (gap-free runs of samples with implicit "
    "time, with their multi-resolution pyramid) in the object store."
)


def _c(name: str, type_: Any, comment: str, **kw: Any) -> sa.Column[Any]:
    return sa.Column(name, type_, nullable=kw.pop("nullable", False), comment=comment, **kw)


# TAP_SCHEMA rows this revision changes, frozen as literal data (table -> column names,
# rows it removes, rows it adds): the migration never reads today's metadata.
TAP_SCHEMA_CHANGES: dict[str, dict[str, Any]] = {
    "tables": {
        "columns": (
            "schema_name",
            "table_name",
            "table_type",
            "utype",
            "description",
            "table_index",
        ),
        "removed": [
            (
                "TAP_SCHEMA",
                "TAP_SCHEMA.columns",
                "table",
                None,
                "Columns of the published tables.",
                23,
            ),
            (
                "TAP_SCHEMA",
                "TAP_SCHEMA.key_columns",
                "table",
                None,
                "Columns of the foreign keys.",
                25,
            ),
            (
                "TAP_SCHEMA",
                "TAP_SCHEMA.keys",
                "table",
                None,
                "Foreign keys between published tables.",
                24,
            ),
            (
                "TAP_SCHEMA",
                "TAP_SCHEMA.schemas",
                "table",
                None,
                "Schemas published by this service.",
                21,
            ),
            (
                "TAP_SCHEMA",
                "TAP_SCHEMA.tables",
                "table",
                None,
                "Tables published by this service.",
                22,
            ),
            (
                "ila",
                "ila.band",
                "view",
                None,
                "The ISLA default energy band of each instrument (one per instrument).",
                16,
            ),
            (
                "ila",
                "ila.cons_pub_obs",
                "view",
                None,
                "Public consolidated observations, with the columns ISLA clients query.",
                17,
            ),
            (
                "ila",
                "ila.epoch",
                "view",
                None,
                "Epochs (RRRR_OOOOOOOOOOO: revolution and observation) in which a "
                "source was in the field of view of an instrument, from products and "
                "from the observations' pointings.",
                19,
            ),
            (
                "ila",
                "ila.instrument",
                "view",
                None,
                "Instruments as ESA's ISLA names them, with their numeric identifiers.",
                15,
            ),
            (
                "ila",
                "ila.v_cat_source",
                "view",
                None,
                "The source catalogue as ISLA clients query it (name search and cone search).",
                18,
            ),
            (
                "ivoa",
                "ivoa.obscore",
                "view",
                "ivo://ivoa.net/std/ObsCore#table-1.1",
                "ObsCore 1.1: one row per INTEGRAL pointing science window (raw data, "
                "IBIS/ISGRI field of view) and one per science product (light curves, "
                "spectra, mosaics).",
                20,
            ),
        ],
        "added": [
            (
                "TAP_SCHEMA",
                "TAP_SCHEMA.columns",
                "table",
                None,
                "Columns of the published tables.",
                25,
            ),
            (
                "TAP_SCHEMA",
                "TAP_SCHEMA.key_columns",
                "table",
                None,
                "Columns of the foreign keys.",
                27,
            ),
            (
                "TAP_SCHEMA",
                "TAP_SCHEMA.keys",
                "table",
                None,
                "Foreign keys between published tables.",
                26,
            ),
            (
                "TAP_SCHEMA",
                "TAP_SCHEMA.schemas",
                "table",
                None,
                "Schemas published by this service.",
                23,
            ),
            (
                "TAP_SCHEMA",
                "TAP_SCHEMA.tables",
                "table",
                None,
                "Tables published by this service.",
                24,
            ),
            (
                "ila",
                "ila.band",
                "view",
                None,
                "The ISLA default energy band of each instrument (one per instrument).",
                18,
            ),
            (
                "ila",
                "ila.cons_pub_obs",
                "view",
                None,
                "Public consolidated observations, with the columns ISLA clients query.",
                19,
            ),
            (
                "ila",
                "ila.epoch",
                "view",
                None,
                "Epochs (RRRR_OOOOOOOOOOO: revolution and observation) in which a "
                "source was in the field of view of an instrument, from products and "
                "from the observations' pointings.",
                21,
            ),
            (
                "ila",
                "ila.instrument",
                "view",
                None,
                "Instruments as ESA's ISLA names them, with their numeric identifiers.",
                17,
            ),
            (
                "ila",
                "ila.v_cat_source",
                "view",
                None,
                "The source catalogue as ISLA clients query it (name search and cone search).",
                20,
            ),
            (
                "isla",
                "isla.timeseries_files",
                "table",
                None,
                "Delivered SPI-ACS and IREM time-series files, one per dataset and revolution.",
                15,
            ),
            (
                "isla",
                "isla.timeseries_segments",
                "table",
                None,
                "Segments of the time-series serving copy (gap-free runs of samples "
                "with implicit time, with their multi-resolution pyramid) in the object "
                "store.",
                16,
            ),
            (
                "ivoa",
                "ivoa.obscore",
                "view",
                "ivo://ivoa.net/std/ObsCore#table-1.1",
                "ObsCore 1.1: one row per INTEGRAL pointing science window (raw data, "
                "IBIS/ISGRI field of view) and one per science product (light curves, "
                "spectra, mosaics).",
                22,
            ),
        ],
    },
    "columns": {
        "columns": (
            "table_name",
            "column_name",
            "datatype",
            "arraysize",
            "xtype",
            "size",
            "utype",
            "unit",
            "ucd",
            "description",
            "indexed",
            "principal",
            "std",
            "column_index",
        ),
        "removed": [],
        "added": [
            (
                "isla.timeseries_files",
                '"size"',
                "long",
                None,
                None,
                None,
                None,
                "byte",
                "phys.size;meta.file",
                "File size.",
                0,
                0,
                0,
                11,
            ),
            (
                "isla.timeseries_files",
                "bucket",
                "unicodeChar",
                "*",
                None,
                None,
                None,
                None,
                "meta.ref",
                "Object-store bucket.",
                0,
                0,
                0,
                8,
            ),
            (
                "isla.timeseries_files",
                "created_at",
                "char",
                "*",
                "timestamp",
                None,
                None,
                None,
                "time.creation",
                "When the file entered the archive (UTC).",
                0,
                0,
                0,
                15,
            ),
            (
                "isla.timeseries_files",
                "dataset",
                "char",
                "*",
                None,
                None,
                None,
                None,
                "meta.id",
                "Time-series dataset (spiacs_50ms, irem).",
                1,
                1,
                0,
                1,
            ),
            (
                "isla.timeseries_files",
                "file_id",
                "unicodeChar",
                "*",
                None,
                None,
                None,
                None,
                "meta.id;meta.main",
                "File identifier (dataset and revolution).",
                1,
                0,
                0,
                0,
            ),
            (
                "isla.timeseries_files",
                "file_name",
                "unicodeChar",
                "*",
                None,
                None,
                None,
                None,
                "meta.id;meta.file",
                "File name offered on download.",
                0,
                0,
                0,
                10,
            ),
            (
                "isla.timeseries_files",
                "instrument",
                "char",
                "*",
                None,
                None,
                None,
                None,
                "meta.id;instr",
                "Instrument (SPI-ACS, IREM).",
                0,
                0,
                0,
                3,
            ),
            (
                "isla.timeseries_files",
                "meta",
                "char",
                "*",
                None,
                None,
                None,
                None,
                "meta.note",
                "Further file metadata (delivered keywords).",
                0,
                0,
                0,
                16,
            ),
            (
                "isla.timeseries_files",
                "n_samples",
                "long",
                None,
                None,
                None,
                None,
                None,
                "meta.number",
                "Rows of the file.",
                0,
                0,
                0,
                6,
            ),
            (
                "isla.timeseries_files",
                "object_key",
                "unicodeChar",
                "*",
                None,
                None,
                None,
                None,
                "meta.ref.url",
                "Object-store key.",
                0,
                0,
                0,
                9,
            ),
            (
                "isla.timeseries_files",
                "revolution",
                "int",
                None,
                None,
                None,
                None,
                None,
                "meta.id;obs.sequence",
                "Revolution the file covers.",
                0,
                1,
                0,
                2,
            ),
            (
                "isla.timeseries_files",
                "sha256",
                "char",
                "*",
                None,
                None,
                None,
                None,
                "meta.checksum",
                "SHA-256 checksum.",
                0,
                0,
                0,
                12,
            ),
            (
                "isla.timeseries_files",
                "simulated",
                "boolean",
                None,
                None,
                None,
                None,
                None,
                "meta.code",
                "True for simulated (demo) data, false for INTEGRAL measurements.",
                0,
                1,
                0,
                13,
            ),
            (
                "isla.timeseries_files",
                "t_start",
                "double",
                None,
                None,
                None,
                None,
                "d",
                "time.start",
                "First sample (IJD, TT).",
                0,
                1,
                0,
                4,
            ),
            (
                "isla.timeseries_files",
                "t_stop",
                "double",
                None,
                None,
                None,
                None,
                "d",
                "time.end",
                "Last sample (IJD, TT).",
                0,
                1,
                0,
                5,
            ),
            (
                "isla.timeseries_files",
                "team",
                "unicodeChar",
                "*",
                None,
                None,
                None,
                None,
                "meta.note",
                "Team that delivered the file.",
                0,
                0,
                0,
                14,
            ),
            (
                "isla.timeseries_files",
                "timedel",
                "double",
                None,
                None,
                None,
                None,
                "s",
                "time.resolution",
                "Time step of the file (TIMEDEL).",
                0,
                0,
                0,
                7,
            ),
            (
                "isla.timeseries_segments",
                "bucket",
                "unicodeChar",
                "*",
                None,
                None,
                None,
                None,
                "meta.ref",
                "Object-store bucket.",
                0,
                0,
                0,
                9,
            ),
            (
                "isla.timeseries_segments",
                "dataset",
                "char",
                "*",
                None,
                None,
                None,
                None,
                "meta.id",
                "Dataset (spiacs_50ms, spiacs_2s, spiacs_10s, irem).",
                1,
                0,
                0,
                1,
            ),
            (
                "isla.timeseries_segments",
                "dt",
                "double",
                None,
                None,
                None,
                None,
                "s",
                "time.resolution",
                "Time step.",
                0,
                0,
                0,
                5,
            ),
            (
                "isla.timeseries_segments",
                "file_id",
                "unicodeChar",
                "*",
                None,
                None,
                None,
                None,
                "meta.id",
                "Delivered file the segment was built from.",
                1,
                0,
                0,
                2,
            ),
            (
                "isla.timeseries_segments",
                "layout",
                "char",
                "*",
                None,
                None,
                None,
                None,
                "meta.note",
                "Arrays and pyramid levels of the segment object.",
                0,
                0,
                0,
                11,
            ),
            (
                "isla.timeseries_segments",
                "n_samples",
                "long",
                None,
                None,
                None,
                None,
                None,
                "meta.number",
                "Samples in the segment.",
                0,
                0,
                0,
                6,
            ),
            (
                "isla.timeseries_segments",
                "object_key",
                "unicodeChar",
                "*",
                None,
                None,
                None,
                None,
                "meta.ref.url",
                "Object-store key of the segment.",
                0,
                0,
                0,
                10,
            ),
            (
                "isla.timeseries_segments",
                "revolution",
                "int",
                None,
                None,
                None,
                None,
                None,
                "meta.id;obs.sequence",
                "Revolution.",
                0,
                0,
                0,
                3,
            ),
            (
                "isla.timeseries_segments",
                "segment_id",
                "long",
                None,
                None,
                None,
                None,
                None,
                "meta.id;meta.main",
                "Segment identifier.",
                1,
                0,
                0,
                0,
            ),
            (
                "isla.timeseries_segments",
                "simulated",
                "boolean",
                None,
                None,
                None,
                None,
                None,
                "meta.code",
                "True for simulated (demo) data.",
                0,
                0,
                0,
                13,
            ),
            (
                "isla.timeseries_segments",
                "summary",
                "char",
                "*",
                None,
                None,
                None,
                None,
                "meta.note",
                "Per plotted field: min, max, sum and count over the segment.",
                0,
                0,
                0,
                12,
            ),
            (
                "isla.timeseries_segments",
                "t0",
                "double",
                None,
                None,
                None,
                None,
                "s",
                "time.start",
                "Time of sample 0 (TT seconds since IJD 0).",
                0,
                0,
                0,
                4,
            ),
            (
                "isla.timeseries_segments",
                "t_start",
                "double",
                None,
                None,
                None,
                None,
                "d",
                "time.start",
                "First sample (IJD, TT).",
                0,
                0,
                0,
                7,
            ),
            (
                "isla.timeseries_segments",
                "t_stop",
                "double",
                None,
                None,
                None,
                None,
                "d",
                "time.end",
                "Last sample (IJD, TT).",
                0,
                0,
                0,
                8,
            ),
        ],
    },
    "keys": {
        "columns": ("key_id", "from_table", "target_table", "utype", "description"),
        "removed": [],
        "added": [
            (
                "fk_timeseries_segments_file_id_timeseries_files",
                "isla.timeseries_segments",
                "isla.timeseries_files",
                None,
                "timeseries_segments refers to timeseries_files.",
            )
        ],
    },
    "key_columns": {
        "columns": ("key_id", "from_column", "target_column"),
        "removed": [],
        "added": [("fk_timeseries_segments_file_id_timeseries_files", "file_id", "file_id")],
    },
}

TAP_SCHEMA_KEYS = {
    "columns": ("table_name", "column_name"),
    "key_columns": ("key_id", "from_column"),
    "keys": ("key_id",),
    "schemas": ("schema_name",),
    "tables": ("table_name",),
}
"""The columns that identify a row of each TAP_SCHEMA table."""


def _apply(removed: str, added: str) -> None:
    """Turn the ``removed`` rows of every changed table into the ``added`` ones: a row whose
    key is in both is updated in place (deleting a table's row would cascade to its
    columns), the others are deleted or inserted."""
    conn = op.get_bind()
    order = ("key_columns", "keys", "columns", "tables", "schemas")
    for table in order:
        change = TAP_SCHEMA_CHANGES.get(table)
        if change is None:
            continue
        names, keys = change["columns"], TAP_SCHEMA_KEYS[table]
        kept = {_key(names, keys, row) for row in change[added]}
        where = " AND ".join(f'"{k}" = :{k}' for k in keys)
        for row in change[removed]:
            values = dict(zip(names, row, strict=True))
            if _key(names, keys, row) not in kept:
                conn.execute(
                    sa.text(f"DELETE FROM tap_schema.{table} WHERE {where}"),  # noqa: S608
                    {k: values[k] for k in keys},
                )
    for table in reversed(order):
        change = TAP_SCHEMA_CHANGES.get(table)
        if change is None:
            continue
        names, keys = change["columns"], TAP_SCHEMA_KEYS[table]
        old = {_key(names, keys, row) for row in change[removed]}
        columns = ", ".join(f'"{n}"' for n in names)
        params = ", ".join(f":{n}" for n in names)
        where = " AND ".join(f'"{k}" = :{k}' for k in keys)
        sets = ", ".join(f'"{n}" = :{n}' for n in names if n not in keys)
        for row in change[added]:
            values = dict(zip(names, row, strict=True))
            if _key(names, keys, row) in old:
                sql = f"UPDATE tap_schema.{table} SET {sets} WHERE {where}"  # noqa: S608
            else:
                sql = f"INSERT INTO tap_schema.{table} ({columns}) VALUES ({params})"  # noqa: S608
            conn.execute(sa.text(sql), values)


def _key(names: tuple[str, ...], keys: tuple[str, ...], row: tuple[Any, ...]) -> tuple[Any, ...]:
    values = dict(zip(names, row, strict=True))
    return tuple(values[k] for k in keys)


def upgrade() -> None:
    """Create the two index tables and publish them."""
    op.create_table(
        "timeseries_files",
        _c("file_id", sa.Text(), "File identifier (dataset and revolution)."),
        _c("dataset", sa.String(32), "Time-series dataset (spiacs_50ms, irem)."),
        _c("revolution", sa.Integer(), "Revolution the file covers."),
        _c("instrument", sa.String(16), "Instrument (SPI-ACS, IREM)."),
        _c("t_start", sa.Double(), "First sample (IJD, TT)."),
        _c("t_stop", sa.Double(), "Last sample (IJD, TT)."),
        _c("n_samples", sa.BigInteger(), "Rows of the file."),
        _c("timedel", sa.Double(), "Time step of the file (TIMEDEL)."),
        _c("bucket", sa.Text(), "Object-store bucket."),
        _c("object_key", sa.Text(), "Object-store key."),
        _c("file_name", sa.Text(), "File name offered on download."),
        _c("size", sa.BigInteger(), "File size."),
        _c("sha256", sa.String(64), "SHA-256 checksum."),
        _c(
            "simulated",
            sa.Boolean(),
            "True for simulated (demo) data, false for INTEGRAL measurements.",
            server_default=sa.text("false"),
        ),
        _c("team", sa.Text(), "Team that delivered the file.", nullable=True),
        _c(
            "created_at",
            sa.DateTime(),
            "When the file entered the archive (UTC).",
            server_default=sa.text("timezone('UTC', now())"),
        ),
        _c("meta", postgresql.JSONB(), "Further file metadata (delivered keywords)."),
        sa.PrimaryKeyConstraint("file_id", name=op.f("pk_timeseries_files")),
        sa.UniqueConstraint(
            "dataset", "revolution", name=op.f("uq_timeseries_files_dataset_revolution")
        ),
        schema="isla",
        comment=_FILES,
    )
    op.create_table(
        "timeseries_segments",
        _c("segment_id", sa.BigInteger(), "Segment identifier.", autoincrement=True),
        _c("dataset", sa.String(32), "Dataset (spiacs_50ms, spiacs_2s, spiacs_10s, irem)."),
        _c("file_id", sa.Text(), "Delivered file the segment was built from."),
        _c("revolution", sa.Integer(), "Revolution."),
        _c("t0", sa.Double(), "Time of sample 0 (TT seconds since IJD 0)."),
        _c("dt", sa.Double(), "Time step."),
        _c("n_samples", sa.BigInteger(), "Samples in the segment."),
        _c("t_start", sa.Double(), "First sample (IJD, TT)."),
        _c("t_stop", sa.Double(), "Last sample (IJD, TT)."),
        _c("bucket", sa.Text(), "Object-store bucket."),
        _c("object_key", sa.Text(), "Object-store key of the segment."),
        _c("layout", postgresql.JSONB(), "Arrays and pyramid levels of the segment object."),
        _c(
            "summary",
            postgresql.JSONB(),
            "Per plotted field: min, max, sum and count over the segment.",
        ),
        _c(
            "simulated",
            sa.Boolean(),
            "True for simulated (demo) data.",
            server_default=sa.text("false"),
        ),
        sa.ForeignKeyConstraint(
            ["file_id"],
            ["isla.timeseries_files.file_id"],
            name=op.f("fk_timeseries_segments_file_id_timeseries_files"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("segment_id", name=op.f("pk_timeseries_segments")),
        schema="isla",
        comment=_SEGMENTS,
    )
    op.create_index(
        "ix_timeseries_segments_dataset_t_start",
        "timeseries_segments",
        ["dataset", "t_start"],
        schema="isla",
    )
    op.create_index(
        "ix_timeseries_segments_file_id", "timeseries_segments", ["file_id"], schema="isla"
    )
    _apply("removed", "added")


def downgrade() -> None:
    """Drop the time-series tables and their TAP_SCHEMA rows."""
    _apply("added", "removed")
    op.drop_table("timeseries_segments", schema="isla")
    op.drop_table("timeseries_files", schema="isla")
