"""Light-curve points of delivered light curves: matched to science windows with numpy and
written with one binary ``COPY`` (the points table is the data behind light-curve views).
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
from shared.db.models import LIGHTCURVE_COLUMNS

_POINT_COLUMNS = LIGHTCURVE_COLUMNS


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
    copy_points(conn, str(row["source_id"]), int(row["band_id"]), str(row["instrument"]), columns)
    return len(chosen)


_PG_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)


def _binary_rows(
    source_id: str,
    band_id: int,
    instrument: str,
    columns: dict[str, npt.NDArray[Any]],
    with_ul: bool,
) -> bytes:
    """Rows in Postgres binary COPY format, built as one numpy record array.

    Every row of one call has the same layout (fixed-width text columns: the source id,
    instrument and ScW ids of a file all have one length), so a record array holds them all
    and ``tobytes`` is the whole COPY body: no Python loop per row.
    """
    n = len(columns["rate"])
    src, ins = source_id.encode(), instrument.encode()
    scw_len = len(columns["scw_id"][0]) if n else 12
    fields: list[tuple[str, str]] = [("nfields", ">i2")]
    values: dict[str, Any] = {"nfields": len(_POINT_COLUMNS)}

    def add(name: str, dtype: str, size: int, value: Any) -> None:
        fields.append((f"{name}_len", ">i4"))
        values[f"{name}_len"] = size
        if dtype:
            fields.append((name, dtype))
            values[name] = value

    add("source_id", f"S{len(src)}", len(src), src)
    add("band_id", ">i2", 2, band_id)
    add("scw_id", f"S{scw_len}", scw_len, np.char.encode(columns["scw_id"].astype(str)))
    add("instrument", f"S{len(ins)}", len(ins), ins)
    add("revolution", ">i4", 4, columns["revolution"])
    for name in ("time_ijd", "duration", "exposure", "rate", "rate_err", "offaxis"):
        add(name, ">f8", 8, columns[name])
    add("significance", ">f8", 8, columns["significance"])
    add("upper_limit", "u1", 1, columns["upper_limit"].astype(np.uint8))
    if with_ul:
        add("rate_ul", ">f8", 8, columns["rate_ul"])
    else:
        add("rate_ul", "", -1, None)
    records = np.empty(n, dtype=np.dtype(fields))
    for name, value in values.items():
        records[name] = value
    return records.tobytes()


def copy_points(
    conn: Connection,
    source_id: str,
    band_id: int,
    instrument: str,
    columns: dict[str, npt.NDArray[Any]],
) -> None:
    """Binary ``COPY`` of light-curve points of one source and band into the points table."""
    ul = np.asarray(columns["upper_limit"], dtype=bool)
    body = [_PG_HEADER]
    for mask, with_ul in ((ul, True), (~ul, False)):
        if mask.any():
            part = {k: np.asarray(v)[mask] for k, v in columns.items()}
            body.append(_binary_rows(source_id, band_id, instrument, part, with_ul))
    body.append(struct.pack(">h", -1))
    raw = conn.connection.driver_connection
    assert raw is not None
    with (
        raw.cursor() as cursor,
        cursor.copy(
            f"COPY isla.lightcurve_points ({', '.join(_POINT_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
        ) as copy,
    ):
        copy.write(b"".join(body))
