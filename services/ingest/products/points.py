"""Light-curve points from deliveries, written with binary ``COPY`` (the points tables are the
data behind light-curve views).

Two deliveries bring points: a light curve of one source and band (:func:`load_points`, its
points matched to science windows with numpy), and a pipeline's per-ScW source-results table
(kind ``lc_results``, :func:`load_results`: rows already named by source and ScW, checked
by :func:`services.ingest.qc.resolve_results`). Either replaces the points of the sources,
bands and ScWs it brings, and the points are flagged ``simulated`` as the delivered file is.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np
import numpy.typing as npt
from astropy.coordinates import angular_separation
from sqlalchemy import Connection, text

from services.ingest import qc
from services.ingest.products.plan import IngestRefused, results_lookups
from shared.db.models import LIGHTCURVE_COLUMNS, OmcPoint

_POINT_COLUMNS = LIGHTCURVE_COLUMNS
UL_SIGMA = 3.0
"""Significance below which a loaded point is an upper limit (``rate_ul`` is then given)."""
_OMC_COLUMNS = tuple(c.name for c in OmcPoint.__table__.columns)


def lock_sources(conn: Connection, source_ids: npt.NDArray[Any], file_name: str) -> None:
    """The points' foreign key, checked once per delivered file: every source the file names
    must exist, and stays so until the delivery commits (``FOR KEY SHARE``, the lock a
    foreign-key check takes per row). Refuses the delivery (409) when one has vanished since
    quality control: nothing of it is written then."""
    wanted = np.unique(np.asarray(source_ids).astype(str))
    found = set(
        conn.execute(
            text(
                "SELECT source_id FROM isla.sources WHERE source_id = "
                "ANY(string_to_array(:ids, :sep)) ORDER BY source_id FOR KEY SHARE"
            ),
            {"ids": _SEP.join(wanted.tolist()), "sep": _SEP},
        ).scalars()
    )
    missing = [str(s) for s in wanted if str(s) not in found]
    if missing:
        raise IngestRefused(
            409,
            "Conflict",
            [
                qc.Problem(
                    file_name,
                    "source",
                    f"{len(missing)} source(s) of the file are no longer in the archive "
                    f"(e.g. {missing[0]!r}); nothing was written",
                )
            ],
        )


_SEP = "\x1f"
"""Separator of the ids sent to Postgres as one string (ASCII unit separator, which no id
holds: QC refuses control characters): one parameter, split by ``string_to_array``, costs a
fraction of an array of Python strings."""


def _points_table_exists(conn: Connection) -> bool:
    return bool(conn.execute(text("SELECT to_regclass('isla.lightcurve_points')")).scalar())


_FIELD_OF_VIEW = {"JEM-X": ("fov_jemx", 6.6), "ISGRI": ("fov_isgri", 20.3)}
"""Per instrument: the ScW footprint column, and the radius (degrees) of the circle that stands
in for it when a ScW has no footprint (JEM-X's field; the circle around ISGRI's square)."""


def _pointings_seeing(
    conn: Connection, instrument: str, ra: float, dec: float, t0: float, t1: float
) -> list[Any]:
    """Pointing ScWs overlapping ``[t0, t1]`` (IJD) whose ``instrument`` field of view holds
    the position, in time order: its footprint contains it or, without a footprint, the
    position is within the field's radius of the pointing axis."""
    column, radius = _FIELD_OF_VIEW[instrument]
    # ``column`` comes from the constant table above, never from the request.
    return list(
        conn.execute(
            text(
                "SELECT scw_id, revolution, start_ijd, end_ijd, ra, dec "  # noqa: S608
                "FROM isla.science_windows WHERE end_ijd >= :t0 AND start_ijd <= :t1 "
                f"AND scw_type = 'pointing' AND CASE WHEN {column} IS NULL "
                "THEN pos <-> spoint(radians(:ra), radians(:dec)) <= radians(:radius) "
                f"ELSE {column} @> spoint(radians(:ra), radians(:dec)) END "
                "ORDER BY start_ijd"
            ),
            {"t0": t0, "t1": t1, "ra": ra, "dec": dec, "radius": radius},
        ).all()
    )


def load_points(conn: Connection, facts: qc.FileFacts, row: dict[str, Any]) -> int:
    """Replace the native light-curve points of the file's source, band and ScWs.

    Each point goes to the pointing ScW whose time span contains it and whose field of view
    (of the file's instrument) holds the source: a point taken while the instrument looked
    elsewhere belongs to no ScW of the archive, and points outside every such ScW are not
    loaded (the file stays a product of its own, on its own time axis). Several points in one
    ScW keep the first. Rows are sent with one binary ``COPY`` built with numpy. Returns the
    number of points loaded.
    """
    if facts.time_ijd is None or facts.rate is None or facts.rate_err is None:
        return 0
    if row.get("source_id") is None or row.get("band_id") is None:
        return 0
    if not _points_table_exists(conn):
        return 0
    lock_sources(conn, np.array([str(row["source_id"])]), facts.file_name)
    times = np.asarray(facts.time_ijd, dtype=np.float64)
    ra_deg = float(row["meta"].get("ra", facts.ra or 0.0))
    dec_deg = float(row["meta"].get("dec", facts.dec or 0.0))
    scws = _pointings_seeing(
        conn,
        str(row["instrument"]),
        ra_deg,
        dec_deg,
        float(times.min()),
        float(times.max()),
    )
    if not scws:
        return 0
    starts = np.array([s.start_ijd for s in scws])
    ends = np.array([s.end_ijd for s in scws])
    index = np.searchsorted(starts, times, side="right") - 1
    inside = (index >= 0) & (times <= ends[np.clip(index, 0, None)])
    chosen = np.flatnonzero(inside)
    chosen = chosen[np.unique(index[chosen], return_index=True)[1]]
    if len(chosen) == 0:
        return 0
    which = index[chosen]
    scw_ids = np.array([s.scw_id for s in scws])[which]
    duration = (ends - starts)[which] * 86400.0
    fracexp = facts.fracexp[chosen] if facts.fracexp is not None else 1.0
    ra_s = np.radians(np.array([s.ra for s in scws])[which])
    dec_s = np.radians(np.array([s.dec for s in scws])[which])
    ra0 = math.radians(ra_deg)
    dec0 = math.radians(dec_deg)
    offaxis = np.degrees(angular_separation(ra_s, dec_s, ra0, dec0))
    rate = facts.rate[chosen]
    err = facts.rate_err[chosen]
    significance = rate / err
    columns = {
        "scw_id": scw_ids,
        "revolution": np.array([s.revolution for s in scws])[which],
        "time_ijd": times[chosen],
        "duration": duration,
        "exposure": duration * fracexp,
        "rate": rate,
        "rate_err": err,
        "offaxis": offaxis,
        "significance": significance,
        "upper_limit": significance < 3.0,
        "rate_ul": np.maximum(rate, 0.0) + 3.0 * err,
    }
    conn.execute(
        text(
            "DELETE FROM isla.lightcurve_points WHERE source_id = :s AND band_id = :b "
            "AND scw_id = ANY(:ids)"
        ),
        {"s": row["source_id"], "b": row["band_id"], "ids": list(map(str, scw_ids))},
    )
    copy_points(
        conn,
        str(row["source_id"]),
        int(row["band_id"]),
        str(row["instrument"]),
        columns,
        simulated=bool(row.get("simulated")),
    )
    return len(chosen)


def load_results(conn: Connection, facts: qc.FileFacts, row: dict[str, Any]) -> int:
    """Replace the points of the sources, bands and ScWs of a source-results table with its
    rows (ISGRI/JEM-X rates into ``lightcurve_points``, OMC magnitudes into ``omc_points``);
    return how many were loaded.

    The rows are resolved against the archive again (science windows, bands): recovery loads
    a staged table without the planning step's answers, and QC has accepted every row.
    """
    rows = facts.results
    if rows is None or not len(rows.source_id):
        return 0
    lock_sources(conn, rows.source_id, facts.file_name)
    scws, sources, bands = results_lookups(conn, facts)
    band_ids, problems = qc.resolve_results(facts, scws, sources, bands)
    if problems:
        # Only when the archive changed between QC and the commit (a ScW removed).
        raise IngestRefused(409, "Conflict", problems)
    ids, where = np.unique(rows.scw_id, return_inverse=True)
    revolution = np.array([scws[str(s)].revolution for s in ids], dtype=np.int32)[where]
    simulated = bool(row.get("simulated"))
    if rows.magnitudes:
        _replace(
            conn,
            "omc_points",
            {"source_id": rows.source_id, "scw_id": rows.scw_id},
        )
        columns: dict[str, npt.NDArray[Any]] = {
            "source_id": rows.source_id,
            "scw_id": rows.scw_id,
            "revolution": revolution,
            "time_ijd": rows.time,
            "exposure": rows.exposure,
            "magnitude": rows.value,
            "magnitude_err": rows.error,
            "offaxis": rows.offaxis,
            "simulated": np.full(len(revolution), simulated),
        }
        _copy_binary(conn, "omc_points", _OMC_COLUMNS, columns)
        return len(revolution)
    _replace(
        conn,
        "lightcurve_points",
        {"source_id": rows.source_id, "band_id": band_ids, "scw_id": rows.scw_id},
    )
    significance = rows.value / rows.error
    upper = significance < UL_SIGMA
    columns = {
        "source_id": rows.source_id,
        "band_id": band_ids.astype(np.int16),
        "scw_id": rows.scw_id,
        "instrument": np.full(len(revolution), str(row["instrument"])),
        "revolution": revolution,
        "time_ijd": rows.time,
        "duration": rows.timedel_s,
        "exposure": rows.exposure,
        "rate": rows.value,
        "rate_err": rows.error,
        "offaxis": rows.offaxis,
        "significance": significance,
        "upper_limit": upper,
        "rate_ul": np.where(upper, np.maximum(rows.value, 0.0) + UL_SIGMA * rows.error, np.nan),
        "simulated": np.full(len(revolution), simulated),
    }
    # Rows in primary-key order: the index is then filled page after page rather than at
    # random places.
    order = np.lexsort((rows.scw_id, band_ids, rows.source_id))
    columns = {k: np.asarray(v)[order] for k, v in columns.items()}
    _copy_binary(conn, "lightcurve_points", _POINT_COLUMNS, columns)
    return len(revolution)


def _replace(conn: Connection, table: str, keys: dict[str, npt.NDArray[Any]]) -> None:
    """Delete the rows of ``table`` a delivery brings again (matched on ``keys``). Skipped
    when the table holds nothing in those ScWs: the usual case of a first delivery, where
    the join would only cost time."""
    scws = np.unique(keys["scw_id"]).tolist()
    # ``table`` and the key names are this module's constants, never the request's.
    present = conn.execute(
        text(f"SELECT EXISTS (SELECT 1 FROM isla.{table} WHERE scw_id = ANY(:w))"),  # noqa: S608
        {"w": scws},
    ).scalar()
    if not present:
        return
    names = list(keys)
    casts = {"source_id": "text[]", "scw_id": "text[]", "band_id": "int[]"}
    unnest = ", ".join(f"CAST(string_to_array(:{k}, :sep) AS {casts[k]})" for k in names)
    match = " AND ".join(f"p.{k} = d.{k}" for k in names)
    conn.execute(
        text(
            f"DELETE FROM isla.{table} p USING unnest({unnest}) AS d({', '.join(names)}) "  # noqa: S608
            f"WHERE {match}"
        ),
        {
            "sep": _SEP,
            **{k: _SEP.join(np.asarray(v).astype(str).tolist()) for k, v in keys.items()},
        },
    )


_PG_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)

# Binary COPY field layouts per column type of the points tables.
_FIXED = {"int2": ">i2", "int4": ">i4", "float8": ">f8", "bool": "u1"}
_TYPES = {
    "source_id": "text",
    "scw_id": "text",
    "instrument": "text",
    "band_id": "int2",
    "revolution": "int4",
    "upper_limit": "bool",
    "simulated": "bool",
}
"""Postgres types of the points tables' columns (every other column is float8)."""


def _binary_rows(
    names: tuple[str, ...], columns: dict[str, npt.NDArray[Any]], nulls: set[str]
) -> bytes:
    """Rows in Postgres binary COPY format, built as one numpy record array.

    Every row of one call has the same layout (text columns of one length, the same columns
    NULL), so a record array holds them all and ``tobytes`` is the whole body: no Python
    loop per row.
    """
    n = len(columns[names[0]])
    fields: list[tuple[str, str]] = [("nfields", ">i2")]
    values: dict[str, Any] = {"nfields": len(names)}
    for name in names:
        kind = _TYPES.get(name, "float8")
        if name in nulls:
            fields.append((f"{name}_len", ">i4"))
            values[f"{name}_len"] = -1
            continue
        if kind == "text":
            encoded = _utf8(columns[name])
            # One length in a call: the column's width may be that of longer values elsewhere.
            size = int(np.strings.str_len(encoded[0])) if n else 0
            encoded = encoded.astype(f"S{max(size, 1)}")
            fields += [(f"{name}_len", ">i4"), (name, f"S{max(size, 1)}")]
            values[f"{name}_len"], values[name] = size, encoded
        else:
            width = np.dtype(_FIXED[kind]).itemsize
            fields += [(f"{name}_len", ">i4"), (name, _FIXED[kind])]
            values[f"{name}_len"] = width
            values[name] = np.asarray(columns[name]).astype(_FIXED[kind])
    records = np.empty(n, dtype=np.dtype(fields))
    for name, value in values.items():
        records[name] = value
    return records.tobytes()


def _utf8(values: Any) -> npt.NDArray[np.bytes_]:
    """Text values as UTF-8 bytes: ASCII (every id) converted in C, anything else encoded."""
    array = np.asarray(values)
    if array.dtype.kind == "S":
        return array
    array = array.astype(str)
    try:
        return array.astype(f"S{max(array.dtype.itemsize // 4, 1)}")
    except UnicodeEncodeError:
        return np.char.encode(array, "utf-8")


def _copy_binary(
    conn: Connection, table: str, names: tuple[str, ...], columns: dict[str, npt.NDArray[Any]]
) -> None:
    """Binary ``COPY`` of ``columns`` (every one of ``names``; NaN in a float column is
    NULL) into ``isla.<table>``, the rows grouped by layout."""
    n = len(columns[names[0]])
    if n == 0:
        return
    nullable = [k for k in names if _TYPES.get(k, "float8") == "float8"]
    texts = [k for k in names if _TYPES.get(k) == "text"]
    encoded = {k: _utf8(columns[k]) for k in texts}
    # One integer per row says its layout (which floats are NULL, how long each text is):
    # a bit per nullable column, then the text lengths in mixed radix.
    parts = [np.isnan(np.asarray(columns[k], dtype=np.float64)) for k in nullable]
    parts += [np.strings.str_len(encoded[k]) for k in texts]
    radices = [2] * len(nullable) + [encoded[k].dtype.itemsize + 1 for k in texts]
    if math.prod(radices) < 2**62:
        layout = np.zeros(n, dtype=np.int64)
        for digit, radix in zip(parts, radices, strict=True):
            layout = layout * radix + digit
    else:  # too many combinations for one integer: rows compared column by column
        layout = np.column_stack(parts).astype(np.int64)
    columns = {**columns, **encoded}
    values_, layout = np.unique(layout, axis=0 if layout.ndim > 1 else None, return_inverse=True)
    layout = layout.reshape(-1)
    body = [_PG_HEADER]
    for value in range(len(values_)):
        mask = layout == value if len(values_) > 1 else np.ones(n, dtype=bool)
        first = int(np.argmax(mask))
        nulls = {k for k in nullable if np.isnan(float(columns[k][first]))}
        part = {k: np.asarray(v)[mask] for k, v in columns.items()}
        body.append(_binary_rows(names, part, nulls))
    body.append(struct.pack(">h", -1))
    raw = conn.connection.driver_connection
    assert raw is not None
    # ``table`` and ``names`` are this module's constants.
    statement = f"COPY isla.{table} ({', '.join(names)}) FROM STDIN (FORMAT BINARY)"
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        copy.write(b"".join(body))


def copy_rows(conn: Connection, table: str, columns: dict[str, npt.NDArray[Any]]) -> None:
    """Binary ``COPY`` of points (every column of ``isla.lightcurve_points``; NaN is NULL)
    into ``isla.<table>``, a table of that layout."""
    _copy_binary(conn, table, _POINT_COLUMNS, columns)


def copy_points(
    conn: Connection,
    source_id: str,
    band_id: int,
    instrument: str,
    columns: dict[str, npt.NDArray[Any]],
    simulated: bool = False,
) -> None:
    """Binary ``COPY`` of light-curve points of one source and band into the points table
    (``columns``: every other column of it; ``rate_ul`` is NULL where not an upper limit)."""
    n = len(columns["rate"])
    full = {
        **{k: np.asarray(v) for k, v in columns.items()},
        "source_id": np.full(n, source_id),
        "band_id": np.full(n, band_id, dtype=np.int16),
        "instrument": np.full(n, instrument),
        "simulated": np.full(n, simulated),
    }
    ul = np.asarray(full["upper_limit"], dtype=bool)
    full["rate_ul"] = np.where(ul, np.asarray(full["rate_ul"], dtype=np.float64), np.nan)
    _copy_binary(conn, "lightcurve_points", _POINT_COLUMNS, full)
