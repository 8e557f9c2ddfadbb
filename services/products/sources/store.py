"""SQL of the sources room, and the catalogue look-ups every room shares (sources, bands)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text

from services.products.common import Band, Bands, SourceRecord
from shared.integral.ids import parse_source_id


def fetch_source(conn: Connection, source_id: str) -> SourceRecord | None:
    """The source ``source_id``, or None."""
    row = conn.execute(
        text(
            "SELECT source_id, name, ra, dec, source_class, pos_err, det_isgri, det_picsit, "
            "det_jemx, det_spi, det_omc FROM isla.sources WHERE source_id = :s"
        ),
        {"s": source_id},
    ).first()
    if row is None:
        return None
    detected = dict(
        zip(("ISGRI", "PICsIT", "JEM-X", "SPI", "OMC"), (bool(v) for v in row[6:11]), strict=True)
    )
    return SourceRecord(row[0], row[1], float(row[2]), float(row[3]), row[4], row[5], detected)


def nearby_sources(conn: Connection, ra: float, dec: float, limit: int = 5) -> list[dict[str, Any]]:
    """The sources nearest to a position (for 404 hints)."""
    rows = conn.execute(
        text(
            "SELECT source_id, name, degrees(pos <-> spoint(radians(:ra), radians(:dec))) AS d "
            "FROM isla.sources ORDER BY pos <-> spoint(radians(:ra), radians(:dec)) LIMIT :n"
        ),
        {"ra": ra, "dec": dec, "n": limit},
    ).all()
    return [{"source_id": r[0], "name": r[1], "distance_deg": round(float(r[2]), 4)} for r in rows]


def position_of_id(text_id: str) -> tuple[float, float]:
    """The position a source id encodes; ValueError when it is no source id."""
    return parse_source_id(text_id).position


def fetch_bands(conn: Connection) -> Bands:
    """The ISGRI and JEM-X bands, by (instrument, name)."""
    rows = conn.execute(
        text(
            "SELECT band_id, instrument, name, e_min, e_max FROM isla.energy_bands "
            "WHERE instrument IN ('ISGRI', 'JEM-X') ORDER BY band_id"
        )
    ).all()
    return {(r[1], r[2]): Band(int(r[0]), r[1], r[2], float(r[3]), float(r[4])) for r in rows}


def aliases(conn: Connection, source_id: str) -> list[str]:
    """The source's aliases."""
    return [
        r[0]
        for r in conn.execute(
            text("SELECT alias FROM isla.source_aliases WHERE source_id = :s ORDER BY alias"),
            {"s": source_id},
        )
    ]


def fluxes(conn: Connection, source_id: str) -> list[dict[str, Any]]:
    """The source's catalogue fluxes per band and catalogue."""
    return [
        dict(r._mapping)
        for r in conn.execute(
            text(
                "SELECT e.instrument, e.name AS band, e.e_min, e.e_max, f.flux, f.flux_err, "
                "f.detected, c.name AS catalogue, c.version AS catalogue_version "
                "FROM isla.source_fluxes f JOIN isla.energy_bands e USING (band_id) "
                "JOIN isla.catalogues c USING (catalogue_id) WHERE f.source_id = :s "
                "ORDER BY e.band_id, c.catalogue_id"
            ),
            {"s": source_id},
        )
    ]


def point_coverage(conn: Connection, source_id: str, instrument: str, band: str) -> Any:
    """(count, exposure, first, last, detections) of the source's points in a band."""
    return conn.execute(
        text(
            "SELECT count(*), coalesce(sum(p.exposure), 0), "
            "min(p.time_ijd - p.duration / 172800.0), "
            "max(p.time_ijd + p.duration / 172800.0), "
            "count(*) FILTER (WHERE NOT p.upper_limit) "
            "FROM isla.lightcurve_points p "
            "JOIN isla.energy_bands e ON e.band_id = p.band_id "
            "WHERE p.source_id = :s AND e.instrument = :i AND e.name = :b"
        ),
        {"s": source_id, "i": instrument, "b": band},
    ).one()


def omc_coverage(conn: Connection, source_id: str) -> Any:
    """(count, exposure, first, last, count) of the source's OMC points."""
    return conn.execute(
        text(
            "SELECT count(*), coalesce(sum(exposure), 0), min(time_ijd), max(time_ijd), count(*) "
            "FROM isla.omc_points WHERE source_id = :s"
        ),
        {"s": source_id},
    ).one()


def products(conn: Connection, source_id: str) -> list[Any]:
    """Every stored product of the source (all columns: ``simulated`` where the schema has it)."""
    return list(
        conn.execute(
            text(
                "SELECT p.* FROM isla.products p WHERE p.source_id = :s ORDER BY kind, product_id"
            ),
            {"s": source_id},
        ).all()
    )
