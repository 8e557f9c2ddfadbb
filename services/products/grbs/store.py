"""SQL of the GRB room: bursts, their fits and products, the ScWs that saw them, SPI-ACS."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

GRB_COLUMNS = (
    "grb_name, trigger_time, trigger_ijd, ra, dec, pos_err, alert_type, ibis_localised, "
    "peak_flux, fluence, t90, significance, obsid, scw_id, observation_known, position_ref, "
    "time_ref, notes, catalogue_id, catalogue_name, entry_id, simulated"
)

FOV_COLUMNS = {"ISGRI": "fov_isgri", "JEM-X": "fov_jemx", "SPI": "fov_spi"}
"""Field-of-view footprint column of each instrument in ``isla.science_windows``."""


@dataclass(frozen=True)
class GrbFilter:
    """A parsed list request: every given criterion must hold (bound parameters only)."""

    start_ijd: float | None = None
    end_ijd: float | None = None
    ra: float | None = None
    dec: float | None = None
    radius: float | None = None
    t90_min: float | None = None
    t90_max: float | None = None
    fluence_min: float | None = None
    fluence_max: float | None = None
    alert_type: str | None = None
    simulated: bool | None = None


def _where(f: GrbFilter) -> tuple[str, dict[str, Any]]:
    clauses: list[str] = []
    binds: dict[str, Any] = {}
    for column, op, name, value in (
        ("trigger_ijd", ">=", "t0", f.start_ijd),
        ("trigger_ijd", "<", "t1", f.end_ijd),
        ("t90", ">=", "d0", f.t90_min),
        ("t90", "<=", "d1", f.t90_max),
        ("fluence", ">=", "f0", f.fluence_min),
        ("fluence", "<=", "f1", f.fluence_max),
        ("alert_type", "=", "alert", f.alert_type),
        ("simulated", "=", "sim", f.simulated),
    ):
        if value is not None:
            clauses.append(f"{column} {op} :{name}")
            binds[name] = value
    if f.ra is not None and f.dec is not None and f.radius is not None:
        # The expression of the GiST index ix_grbs_radec.
        clauses.append(
            'spoint(radians(ra), radians("dec")) <@ '
            "scircle(spoint(radians(:ra), radians(:dec)), radians(:radius))"
        )
        binds |= {"ra": f.ra, "dec": f.dec, "radius": f.radius}
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", binds


def list_grbs(conn: Connection, f: GrbFilter, limit: int, offset: int) -> tuple[int, list[Any]]:
    """(total matching, one page of bursts by trigger time)."""
    where, binds = _where(f)
    total = conn.execute(text(f"SELECT count(*) FROM isla.grbs{where}"), binds).scalar_one()  # noqa: S608 - clauses are fixed text
    rows = conn.execute(
        text(
            f"SELECT {GRB_COLUMNS} FROM isla.grbs{where} "  # noqa: S608 - fixed text
            "ORDER BY trigger_ijd, grb_name LIMIT :limit OFFSET :offset"
        ),
        binds | {"limit": limit, "offset": offset},
    ).all()
    return int(total), list(rows)


def fetch_grb(conn: Connection, name: str) -> Any | None:
    """The burst ``name`` (case and spaces ignored: ``GRB230307A`` is ``GRB 230307A``)."""
    return conn.execute(
        text(
            f"SELECT {GRB_COLUMNS} FROM isla.grbs "  # noqa: S608 - fixed text
            "WHERE replace(upper(grb_name), ' ', '') = replace(upper(:n), ' ', '')"
        ),
        {"n": name},
    ).first()


def nearby_names(conn: Connection, ijd: float | None, limit: int = 5) -> list[dict[str, Any]]:
    """Bursts nearest in time to ``ijd`` (or the latest ones), for 404 answers."""
    order = "abs(trigger_ijd - :t)" if ijd is not None else "trigger_ijd DESC"
    rows = conn.execute(
        text(
            "SELECT grb_name, trigger_time FROM isla.grbs "  # noqa: S608 - fixed text
            f"ORDER BY {order}, grb_name LIMIT :n"
        ),
        {"t": ijd, "n": limit},
    ).all()
    return [{"name": r[0], "trigger_time": r[1].isoformat() + "Z"} for r in rows]


def scws_in_view(
    conn: Connection, ra: float, dec: float, trigger_ijd: float, instrument: str, limit: int
) -> tuple[int, list[Any]]:
    """(count, nearest in time first) of the pointings whose ``instrument`` field of view
    holds the position; each row says whether it contains the trigger time."""
    column = FOV_COLUMNS[instrument]
    binds = {"ra": ra, "dec": dec, "t": trigger_ijd, "n": limit}
    where = f"{column} @> spoint(radians(:ra), radians(:dec))"
    count = conn.execute(
        text(f"SELECT count(*) FROM isla.science_windows WHERE {where}"),  # noqa: S608 - fixed
        binds,
    ).scalar_one()
    rows = conn.execute(
        text(
            "SELECT scw_id, obsid, revolution, start_time, end_time, "  # noqa: S608 - fixed
            "(start_ijd <= :t AND end_ijd > :t) AS at_trigger, "
            "degrees(pos <-> spoint(radians(:ra), radians(:dec))) AS offaxis "
            f"FROM isla.science_windows WHERE {where} "
            "ORDER BY abs((start_ijd + end_ijd) / 2 - :t) LIMIT :n"
        ),
        binds,
    ).all()
    return int(count), list(rows)


def scws_at(conn: Connection, ijd: float) -> list[Any]:
    """The science windows (any pointing or slew) running at ``ijd``."""
    return list(
        conn.execute(
            text(
                "SELECT scw_id, obsid, scw_type FROM isla.science_windows "
                "WHERE start_ijd <= :t AND end_ijd > :t ORDER BY scw_id"
            ),
            {"t": ijd},
        ).all()
    )


def fits_of(conn: Connection, name: str) -> list[Any]:
    """The spectral fits of a burst, by time bin and model."""
    return list(
        conn.execute(
            text(
                "SELECT fit_id, model, model_class, bin_index, t_start, t_stop, e_peak, "
                "e_peak_err, alpha, alpha_err, beta, beta_err, energy_flux, synch_b, "
                "synch_index, cstat, dof, catalogue_name, simulated "
                "FROM isla.grb_spectral_fits WHERE grb_name = :n "
                "ORDER BY bin_index, model, catalogue_name"
            ),
            {"n": name},
        ).all()
    )


def products_of(conn: Connection, name: str) -> list[Any]:
    """The stored products of a burst (``meta.grb``)."""
    return list(
        conn.execute(
            text(
                "SELECT product_id, kind, instrument, epoch, file_name, size, sha256, "
                "content_type, meta, simulated FROM isla.products "
                "WHERE meta->>'grb' = :n ORDER BY kind, product_id"
            ),
            {"n": name},
        ).all()
    )


def spiacs_coverage(conn: Connection, start_ijd: float, stop_ijd: float) -> Any:
    """Segments of SPI-ACS (50 ms) over a window: count, and whether real/simulated."""
    return conn.execute(
        text(
            "SELECT count(*) AS segments, coalesce(bool_or(NOT simulated), false) AS real, "
            "coalesce(bool_or(simulated), false) AS simulated FROM isla.timeseries_segments "
            "WHERE dataset = 'spiacs_50ms' AND t_start < :b AND t_stop > :a"
        ),
        {"a": start_ijd, "b": stop_ijd},
    ).one()
