"""SQL of the coverage room: the footprints and times the MOCs are made of, and the
generation of the tables they come from."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, column, text

from shared.db.pgsphere import SPoly

FOOTPRINTS = {
    "isgri": ("fov_isgri", "isgri_exposure"),
    "jemx": ("fov_jemx", "coalesce(jemx1_exposure, 0) + coalesce(jemx2_exposure, 0)"),
    "spi": ("fov_spi", "spi_exposure"),
}
"""Per instrument: the footprint column of ``isla.science_windows`` and its exposure."""


def generations(conn: Connection) -> dict[str, int]:
    """The generation of each table the MOCs come from (bumped by every committed change)."""
    rows = conn.execute(text("SELECT scope, generation FROM isla_ops.coverage_state"))
    return {str(r.scope): int(r.generation) for r in rows}


def footprints(conn: Connection, instrument: str) -> list[Any]:
    """(start_ijd, end_ijd, footprint) of every pointing with the instrument's exposure."""
    fov, exposure = FOOTPRINTS[instrument]  # constants of this module, never user input
    query = text(
        f"SELECT start_ijd, end_ijd, {fov} AS fov FROM isla.science_windows "  # noqa: S608
        f"WHERE scw_type = 'pointing' AND {fov} IS NOT NULL AND coalesce({exposure}, 0) > 0 "
        "ORDER BY start_ijd"
    ).columns(column("start_ijd"), column("end_ijd"), column("fov", SPoly()))
    return list(conn.execute(query).all())


def omc_pointings(conn: Connection) -> list[Any]:
    """(start_ijd, end_ijd, ra, dec) of every pointing with OMC exposure."""
    return list(
        conn.execute(
            text(
                "SELECT start_ijd, end_ijd, ra, dec FROM isla.science_windows "
                "WHERE scw_type = 'pointing' AND coalesce(omc_exposure, 0) > 0 "
                "ORDER BY start_ijd"
            )
        ).all()
    )


def product_regions(conn: Connection) -> list[Any]:
    """(t_min, t_max MJD, s_region) of ObsCore's product rows that have a footprint, but the
    all-sky maps (whose coverage is the instruments')."""
    query = text(
        "SELECT o.t_min, o.t_max, o.s_region FROM ivoa.obscore o "
        "WHERE o.s_region IS NOT NULL "
        "AND o.obs_publisher_did LIKE 'ivo://isla.integral/isla?product/%' "
        "AND NOT EXISTS (SELECT 1 FROM isla.products p WHERE p.kind = 'allsky_map' "
        "AND o.obs_publisher_did = 'ivo://isla.integral/isla?product/' || p.product_id)"
    ).columns(column("t_min"), column("t_max"), column("s_region", SPoly()))
    return list(conn.execute(query).all())
