"""SQL of the upper-limits room: the pixel-major sensitivity store, the catalogue source at a
position and its light-curve points."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text


def band_order(conn: Connection, band_id: int) -> int | None:
    """The HEALPix order of a band's stored sensitivity (None when none is stored)."""
    value = conn.execute(
        text("SELECT hpx_order FROM isla_ops.sensitivity WHERE band_id = :b LIMIT 1"),
        {"b": band_id},
    ).scalar()
    return None if value is None else int(value)


def curve(conn: Connection, band_id: int, binning: str, hpx: int) -> Any:
    """The stored sensitivity curve of one pixel (one primary-key read), or None."""
    return conn.execute(
        text(
            "SELECT bin_id, t_start, t_stop, exposure, rate_sigma, nscw, crab_count_rate, "
            "simulated "
            "FROM isla_ops.sensitivity WHERE band_id = :b AND binning = :g AND hpx = :p"
        ),
        {"b": band_id, "g": binning, "p": hpx},
    ).first()


def source_at(conn: Connection, ra: float, dec: float, radius_deg: float, band_id: int) -> Any:
    """The nearest catalogue source within ``radius_deg`` that has light-curve points in the
    band, with its distance (degrees), or None."""
    return conn.execute(
        text(
            "SELECT s.source_id, s.name, s.ra, s.dec, "
            "degrees(s.pos <-> spoint(radians(:ra), radians(:dec))) AS distance "
            "FROM isla.sources s "
            "WHERE s.pos <@ scircle(spoint(radians(:ra), radians(:dec)), radians(:r)) "
            "AND EXISTS (SELECT 1 FROM isla.lightcurve_points p "
            "            WHERE p.source_id = s.source_id AND p.band_id = :b) "
            "ORDER BY s.pos <-> spoint(radians(:ra), radians(:dec)) LIMIT 1"
        ),
        {"ra": ra, "dec": dec, "r": radius_deg, "b": band_id},
    ).first()


def points(conn: Connection, source_id: str, band_id: int) -> list[Any]:
    """A source's light-curve points in a band (ScW id, revolution, time, exposure, rate,
    error), in time order."""
    return list(
        conn.execute(
            text(
                "SELECT scw_id, revolution, time_ijd, exposure, rate, rate_err "
                "FROM isla.lightcurve_points WHERE source_id = :s AND band_id = :b "
                "ORDER BY time_ijd"
            ),
            {"s": source_id, "b": band_id},
        ).all()
    )
