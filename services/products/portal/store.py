"""The portal's SQL: every query the pages run, with bound parameters (never user text).

The pages read the archive's tables directly (one connection per page, no HTTP calls back into
the archive); the browser then calls the public JSON APIs (light curves, raw manifests, TAP)
for the interactive parts.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.simulation import Holdings

SEARCH_LIMIT = 25
"""Most rows of each kind a search answers with."""

CONE_RADIUS_DEG = 0.5
"""Radius of the source cone around searched coordinates (deg)."""

POINTING_RADIUS_DEG = 10.0
"""Radius of the observation cone around searched coordinates (deg): about the ISGRI field."""


PAGE_ROWS = 150
"""Most rows of one kind a page lists (the HTML stays small); the rest are in the JSON APIs."""


def _rows(result: Any) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in result]


# --- the archive as a whole --------------------------------------------------------------------

_SUMMARY = text(
    """
    WITH n AS (
        SELECT table_name, sum(row_count)::bigint AS row_count,
               sum(simulated_count)::bigint AS simulated_count, sum(total_bytes) AS total_bytes
          FROM isla_ops.archive_counts GROUP BY table_name
    )
    SELECT (SELECT row_count FROM n WHERE table_name = 'revolutions') AS revolutions,
           (SELECT row_count FROM n WHERE table_name = 'observations') AS observations,
           (SELECT row_count FROM n WHERE table_name = 'science_windows') AS science_windows,
           (SELECT row_count FROM n WHERE table_name = 'sources') AS sources,
           (SELECT row_count FROM n WHERE table_name = 'products') AS products,
           (SELECT simulated_count FROM n WHERE table_name = 'products') AS simulated_products,
           (SELECT sum(row_count) FROM n WHERE table_name IN ('scw_files', 'aux_files'))::bigint
               AS raw_files,
           (SELECT sum(simulated_count) FROM n
             WHERE table_name IN ('scw_files', 'aux_files'))::bigint AS simulated_raw_files,
           (SELECT sum(total_bytes) FROM n
             WHERE table_name IN ('scw_files', 'aux_files'))::bigint AS raw_bytes,
           (SELECT min(start_time) FROM isla.revolutions) AS first_time,
           (SELECT max(end_time) FROM isla.revolutions) AS last_time,
           example.scw_id AS example_scw,
           example.revolution AS example_rev,
           example.obsid AS example_obsid
      FROM (SELECT NULL) AS one
      LEFT JOIN LATERAL (
            -- The tour's ScW when it has raw data, else the first one that has: each an
            -- index probe (ordering by "is it the tour's" would sort the whole table).
            SELECT * FROM (
                (SELECT scw_id, revolution, obsid, 0 AS rank FROM isla.science_windows
                  WHERE scw_id = '008100430010' AND scw_type = 'pointing' AND raw_files > 0)
                UNION ALL
                (SELECT scw_id, revolution, obsid, 1 FROM isla.science_windows
                  WHERE scw_type = 'pointing' AND raw_files > 0 ORDER BY scw_id LIMIT 1)
            ) AS candidates ORDER BY rank LIMIT 1) AS example ON true
    """
)
"""Counts summed from ``isla_ops.archive_counts``, exact and kept by triggers (migration
0042), so that the landing page does not count whole tables on every hit."""


async def summary(conn: AsyncConnection) -> dict[str, Any]:
    """Counts of what the archive holds, its time span and one example ScW (one round trip)."""
    data = dict((await conn.execute(_SUMMARY)).one()._mapping)
    # Said on the page and in the JSON: what of the archive is simulated (the demo's data).
    data["simulation_note"] = Holdings(
        data["products"],
        data["simulated_products"],
        data["raw_files"],
        data["simulated_raw_files"],
    ).sentence()
    return data


_SIMULATED = text(
    "SELECT EXISTS (SELECT 1 FROM isla.scw_files WHERE simulated) "
    "OR EXISTS (SELECT 1 FROM isla.aux_files WHERE simulated) AS raw, "
    "EXISTS (SELECT 1 FROM isla.products WHERE simulated) AS products"
)


async def simulated(conn: AsyncConnection) -> dict[str, bool]:
    """Whether the archive holds simulated raw data and simulated products (the flags the
    ingest and the demo pipeline set)."""
    row = (await conn.execute(_SIMULATED)).one()
    return {"raw": bool(row.raw), "products": bool(row.products)}


# --- search ------------------------------------------------------------------------------------

_SOURCE_COLUMNS = "s.source_id, s.name, s.ra, s.dec, s.source_class"

_SOURCES_BY_TEXT = text(
    f"""
    SELECT {_SOURCE_COLUMNS},
           (SELECT string_agg(a.alias, ', ' ORDER BY a.alias) FROM isla.source_aliases a
             WHERE a.source_id = s.source_id) AS aliases
      FROM isla.sources s
     WHERE s.source_id IN (
            -- Three indexed look-ups (primary key, name and alias trigrams); as one OR with
            -- a subquery, Postgres would test every source of the catalogue.
            SELECT source_id FROM isla.sources WHERE source_id = :upper
            UNION SELECT source_id FROM isla.sources WHERE name ILIKE :like
            UNION SELECT a.source_id FROM isla.source_aliases a
                   WHERE a.alias_norm = :norm OR a.alias ILIKE :like)
     ORDER BY (s.source_id = :upper) DESC,
              (lower(s.name) = :lower) DESC,
              (lower(s.name) LIKE :prefix) DESC,
              length(s.name), s.name
     LIMIT :limit
    """  # noqa: S608
)


async def sources_by_text(conn: AsyncConnection, query: str, norm: str) -> list[dict[str, Any]]:
    """Sources whose id, name or alias matches ``query`` (exact first, then substrings)."""
    lower = query.lower()
    escaped = lower.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return _rows(
        await conn.execute(
            _SOURCES_BY_TEXT,
            {
                "upper": query.upper(),
                "lower": lower,
                "like": f"%{escaped}%",
                "prefix": f"{escaped}%",
                "norm": norm,
                "limit": SEARCH_LIMIT,
            },
        )
    )


_SOURCES_NEAR = text(
    f"""
    SELECT {_SOURCE_COLUMNS}, NULL AS aliases,
           degrees(s.pos <-> spoint(radians(:ra), radians(:dec))) AS distance
      FROM isla.sources s
     WHERE s.pos <@ scircle(spoint(radians(:ra), radians(:dec)), radians(:radius))
     ORDER BY distance
     LIMIT :limit
    """  # noqa: S608
)


async def sources_near(
    conn: AsyncConnection, ra: float, dec: float, radius: float = CONE_RADIUS_DEG
) -> list[dict[str, Any]]:
    """Sources within ``radius`` degrees of (ra, dec), nearest first."""
    return _rows(
        await conn.execute(
            _SOURCES_NEAR, {"ra": ra, "dec": dec, "radius": radius, "limit": SEARCH_LIMIT}
        )
    )


_OBS_COLUMNS = (
    "o.obsid, o.target_name, o.proposal_id, o.start_time, o.end_time, o.rev_start, o.rev_end, "
    "o.ra, o.dec, o.exposure"
)

_OBSERVATIONS_NEAR = text(
    f"""
    SELECT {_OBS_COLUMNS}, degrees(o.pos <-> spoint(radians(:ra), radians(:dec))) AS distance
      FROM isla.observations o
     WHERE o.pos <@ scircle(spoint(radians(:ra), radians(:dec)), radians(:radius))
     ORDER BY distance, o.start_time
     LIMIT :limit
    """  # noqa: S608
)


async def observations_near(conn: AsyncConnection, ra: float, dec: float) -> list[dict[str, Any]]:
    """Observations whose target lies within an ISGRI field of (ra, dec), nearest first."""
    return _rows(
        await conn.execute(
            _OBSERVATIONS_NEAR,
            {"ra": ra, "dec": dec, "radius": POINTING_RADIUS_DEG, "limit": SEARCH_LIMIT},
        )
    )


_OBSERVATIONS_BY_TEXT = text(
    f"""
    SELECT {_OBS_COLUMNS} FROM isla.observations o
     WHERE o.obsid = :obsid OR lower(o.target_name) LIKE :like
     ORDER BY (o.obsid = :obsid) DESC, o.start_time
     LIMIT :limit
    """  # noqa: S608
)


async def observations_by_text(
    conn: AsyncConnection, query: str, obsid: str | None
) -> list[dict[str, Any]]:
    """Observations with this id, or whose target name contains ``query``."""
    escaped = query.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return _rows(
        await conn.execute(
            _OBSERVATIONS_BY_TEXT,
            {"obsid": obsid or "", "like": f"%{escaped}%", "limit": SEARCH_LIMIT},
        )
    )


_OBSERVATIONS_AT = text(
    f"""
    SELECT {_OBS_COLUMNS} FROM isla.observations o
     WHERE o.start_time < :t1 AND o.end_time > :t0
     ORDER BY o.start_time LIMIT :limit
    """  # noqa: S608
)


async def observations_at(
    conn: AsyncConnection, t0: dt.datetime, t1: dt.datetime
) -> list[dict[str, Any]]:
    """Observations overlapping [t0, t1)."""
    return _rows(await conn.execute(_OBSERVATIONS_AT, {"t0": t0, "t1": t1, "limit": SEARCH_LIMIT}))


_REVOLUTION_COLUMNS = (
    "r.revolution, r.start_time, r.end_time, "
    "(SELECT count(*) FROM isla.science_windows w WHERE w.revolution = r.revolution) AS scws"
)


async def revolutions(conn: AsyncConnection, numbers: list[int]) -> list[dict[str, Any]]:
    """The revolutions with these numbers that the archive holds."""
    if not numbers:
        return []
    return _rows(
        await conn.execute(
            text(
                f"SELECT {_REVOLUTION_COLUMNS} FROM isla.revolutions r "  # noqa: S608
                "WHERE r.revolution = ANY(:n) ORDER BY r.revolution"
            ),
            {"n": numbers},
        )
    )


async def revolutions_at(
    conn: AsyncConnection, t0: dt.datetime, t1: dt.datetime
) -> list[dict[str, Any]]:
    """Revolutions overlapping [t0, t1)."""
    return _rows(
        await conn.execute(
            text(
                f"SELECT {_REVOLUTION_COLUMNS} FROM isla.revolutions r "  # noqa: S608
                "WHERE r.start_time < :t1 AND r.end_time > :t0 ORDER BY r.revolution"
            ),
            {"t0": t0, "t1": t1},
        )
    )


_SCW_COLUMNS = (
    "w.scw_id, w.version, w.revolution, w.obsid, w.scw_type, w.start_time, w.end_time, "
    "w.ra, w.dec, w.isgri_exposure, w.raw_files, w.raw_size"
)


async def scws_by_id(conn: AsyncConnection, scw_ids: list[str]) -> list[dict[str, Any]]:
    """Science windows with these 12-digit ids."""
    return _rows(
        await conn.execute(
            text(
                f"SELECT {_SCW_COLUMNS} FROM isla.science_windows w "  # noqa: S608
                "WHERE w.scw_id = ANY(:ids) ORDER BY w.start_time"
            ),
            {"ids": scw_ids},
        )
    )


async def scws_at(conn: AsyncConnection, t0: dt.datetime, t1: dt.datetime) -> list[dict[str, Any]]:
    """Science windows overlapping [t0, t1)."""
    return _rows(
        await conn.execute(
            text(
                f"SELECT {_SCW_COLUMNS} FROM isla.science_windows w "  # noqa: S608
                "WHERE w.start_time < :t1 AND w.end_time > :t0 "
                "ORDER BY w.start_time LIMIT :limit"
            ),
            {"t0": t0, "t1": t1, "limit": SEARCH_LIMIT},
        )
    )


_GRB_COLUMNS = "grb_name, trigger_time, ra, dec, alert_type, simulated"


async def grbs_by_name(conn: AsyncConnection, prefix: str) -> list[dict[str, Any]]:
    """Bursts whose name (upper case, without spaces) starts with ``prefix``, newest first."""
    return _rows(
        await conn.execute(
            text(
                f"SELECT {_GRB_COLUMNS} FROM isla.grbs "  # noqa: S608 - fixed text
                "WHERE replace(upper(grb_name), ' ', '') LIKE :p || '%' "
                "ORDER BY trigger_time DESC LIMIT :limit"
            ),
            {"p": prefix.replace("%", "").replace("_", ""), "limit": SEARCH_LIMIT},
        )
    )


async def grbs_at(conn: AsyncConnection, t0: dt.datetime, t1: dt.datetime) -> list[dict[str, Any]]:
    """Bursts triggered in [t0, t1)."""
    return _rows(
        await conn.execute(
            text(
                f"SELECT {_GRB_COLUMNS} FROM isla.grbs "  # noqa: S608 - fixed text
                "WHERE trigger_time >= :t0 AND trigger_time < :t1 "
                "ORDER BY trigger_time LIMIT :limit"
            ),
            {"t0": t0, "t1": t1, "limit": SEARCH_LIMIT},
        )
    )


async def has_trigram(conn: AsyncConnection) -> bool:
    """Whether Postgres's pg_trgm extension is installed in this database."""
    return bool(
        (
            await conn.execute(
                text("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm')")
            )
        ).scalar()
    )


async def closest_names_trigram(conn: AsyncConnection, query: str, limit: int) -> list[str]:
    """Source names and aliases most similar to ``query`` by trigram similarity."""
    # The % operator (similarity above pg_trgm.similarity_threshold, here 0.2 for this
    # transaction) is what the trigram indexes serve; similarity() alone reads every name.
    await conn.execute(text("SELECT set_config('pg_trgm.similarity_threshold', '0.2', true)"))
    rows = await conn.execute(
        text(
            "SELECT n FROM (SELECT name AS n FROM isla.sources WHERE name % :q "
            "UNION SELECT alias FROM isla.source_aliases WHERE alias % :q) names "
            "ORDER BY similarity(n, :q) DESC, n LIMIT :limit"
        ),
        {"q": query, "limit": limit},
    )
    return [r[0] for r in rows]


async def all_names(conn: AsyncConnection) -> list[str]:
    """Every source name and alias (for "did you mean" without pg_trgm)."""
    rows = await conn.execute(
        text("SELECT name FROM isla.sources UNION SELECT alias FROM isla.source_aliases")
    )
    return [r[0] for r in rows]


# --- source pages ------------------------------------------------------------------------------


async def source(conn: AsyncConnection, source_id: str) -> dict[str, Any] | None:
    """One source's catalogue row with its aliases and detection flags."""
    row = (
        await conn.execute(
            text(
                "SELECT s.source_id, s.name, s.ra, s.dec, s.pos_err, s.source_class, "
                "s.det_isgri, s.det_picsit, s.det_jemx, s.det_spi, s.det_omc, "
                "c.name AS catalogue, c.version AS catalogue_version, "
                "ARRAY(SELECT a.alias FROM isla.source_aliases a "
                "      WHERE a.source_id = s.source_id ORDER BY a.alias) AS aliases "
                "FROM isla.sources s LEFT JOIN isla.catalogues c USING (catalogue_id) "
                "WHERE s.source_id = :s"
            ),
            {"s": source_id},
        )
    ).first()
    return None if row is None else dict(row._mapping)


async def source_fluxes(conn: AsyncConnection, source_id: str) -> list[dict[str, Any]]:
    """Catalogue fluxes of a source per band."""
    return _rows(
        await conn.execute(
            text(
                "SELECT e.instrument, e.name AS band, e.e_min, e.e_max, f.flux, f.flux_err, "
                "f.detected, c.name AS catalogue, c.version AS catalogue_version "
                "FROM isla.source_fluxes f JOIN isla.energy_bands e USING (band_id) "
                "JOIN isla.catalogues c USING (catalogue_id) WHERE f.source_id = :s "
                "ORDER BY e.band_id, c.catalogue_id"
            ),
            {"s": source_id},
        )
    )


async def lightcurve_bands(conn: AsyncConnection, source_id: str) -> list[dict[str, Any]]:
    """The bands in which a source has light-curve points, with counts and time span."""
    return _rows(
        await conn.execute(
            text(
                "SELECT e.instrument, e.name AS band, e.e_min, e.e_max, e.isla_default, "
                "count(*) AS points, count(*) FILTER (WHERE NOT p.upper_limit) AS detections, "
                "coalesce(sum(p.exposure), 0) AS exposure, "
                "count(*) FILTER (WHERE p.significance >= 5) AS bright, "
                "min(p.time_ijd) AS first_ijd, max(p.time_ijd) AS last_ijd, "
                # The bin widths of the band's stored sub-ScW light curves (the only ones
                # the archive serves): the page offers those.
                "(SELECT array_agg(DISTINCT (s.meta->>'bin_s')::float8) FROM isla.products s "
                "WHERE s.kind = 'short_timeseries' AND s.source_id = :s "
                "AND s.band_id = e.band_id AND s.meta ? 'bin_s') AS sub_scw_widths "
                "FROM isla.lightcurve_points p JOIN isla.energy_bands e USING (band_id) "
                "WHERE p.source_id = :s GROUP BY e.band_id, e.instrument, e.name, e.e_min, "
                "e.e_max, e.isla_default ORDER BY e.instrument, e.e_min"
            ),
            {"s": source_id},
        )
    )


async def omc_points(conn: AsyncConnection, source_id: str) -> int:
    """Number of OMC points of a source."""
    return int(
        (
            await conn.execute(
                text("SELECT count(*) FROM isla.omc_points WHERE source_id = :s"), {"s": source_id}
            )
        ).scalar()
        or 0
    )


_PRODUCT_COLUMNS = (
    "p.product_id, p.kind, p.instrument, p.source_id, p.epoch, p.revolution, p.obsid, "
    "p.file_name, p.size, p.sha256, p.content_type, p.meta, "
    # The product's own DOI, where one is registered (isla.dois, indexed on kind and target).
    "(SELECT d.doi FROM isla.dois d WHERE d.kind = 'product' AND d.target = p.product_id "
    "LIMIT 1) AS doi"
)


SOURCE_PAGE_ROWS = 30
"""Products listed on a source page (the rest: its JSON); keeps the page under 100 kB."""


async def products_of_source(conn: AsyncConnection, source_id: str) -> list[dict[str, Any]]:
    """The stored products of a source, the ones people open first first: spectra of the
    mission and of epochs, time series and images before time-resolved spectra and the
    responses (each spectrum links its own)."""
    return _rows(
        await conn.execute(
            text(
                f"SELECT {_PRODUCT_COLUMNS}, count(*) OVER () AS total "  # noqa: S608
                "FROM isla.products p WHERE p.source_id = :s "
                "ORDER BY p.kind IN ('arf', 'rmf'), "
                "coalesce(p.meta->>'scope', '') = 'time_resolved', "
                "p.kind, p.instrument, p.epoch, p.product_id LIMIT :limit"
            ),
            {"s": source_id, "limit": SOURCE_PAGE_ROWS},
        )
    )


async def mosaics_over(
    conn: AsyncConnection, ra: float, dec: float, revolutions: list[int] | None = None
) -> list[dict[str, Any]]:
    """Stored mosaics of the revolutions in which a position was observed (newest first)."""
    where = "p.kind = 'mosaic'"
    binds: dict[str, Any] = {"ra": ra, "dec": dec, "r": POINTING_RADIUS_DEG}
    if revolutions is not None:
        where += " AND p.revolution = ANY(:revs)"
        binds["revs"] = revolutions
    else:
        where += (
            " AND p.revolution IN (SELECT w.revolution FROM isla.science_windows w WHERE "
            "w.pos <@ scircle(spoint(radians(:ra), radians(:dec)), radians(:r)))"
        )
    return _rows(
        await conn.execute(
            text(
                f"SELECT {_PRODUCT_COLUMNS} FROM isla.products p WHERE {where} "  # noqa: S608
                "ORDER BY p.revolution DESC, p.product_id LIMIT 12"
            ),
            binds,
        )
    )


async def observations_of_source(
    conn: AsyncConnection, ra: float, dec: float
) -> list[dict[str, Any]]:
    """Observations with a pointing within an ISGRI field of a position (the coverage)."""
    return _rows(
        await conn.execute(
            text(
                f"SELECT {_OBS_COLUMNS}, count(w.scw_id) AS scws, "  # noqa: S608
                "sum(w.raw_size) AS raw_size, count(*) OVER () AS total, "
                "sum(count(w.scw_id)) OVER () AS total_scws, "
                "sum(sum(w.raw_size)) OVER () AS total_size "
                "FROM isla.observations o JOIN isla.science_windows w USING (obsid) "
                "WHERE w.pos <@ scircle(spoint(radians(:ra), radians(:dec)), radians(:r)) "
                "GROUP BY o.obsid ORDER BY o.start_time LIMIT :limit"
            ),
            {"ra": ra, "dec": dec, "r": POINTING_RADIUS_DEG, "limit": PAGE_ROWS},
        )
    )


# --- observations, revolutions, science windows ------------------------------------------------


async def observation(conn: AsyncConnection, obsid: str) -> dict[str, Any] | None:
    """One observation's row."""
    row = (
        await conn.execute(
            text(
                f"SELECT {_OBS_COLUMNS}, o.pi_name, o.pattern "  # noqa: S608
                "FROM isla.observations o WHERE o.obsid = :o"
            ),
            {"o": obsid},
        )
    ).first()
    return None if row is None else dict(row._mapping)


async def scws_where(conn: AsyncConnection, column: str, value: Any) -> list[dict[str, Any]]:
    """Science windows of an observation (``obsid``) or a revolution (``revolution``)."""
    if column not in ("obsid", "revolution"):
        raise ValueError(f"no science-window listing by {column}")
    return _rows(
        await conn.execute(
            text(
                f"SELECT {_SCW_COLUMNS} FROM isla.science_windows w "  # noqa: S608
                f"WHERE w.{column} = :v ORDER BY w.start_time LIMIT :limit"
            ),
            {"v": value, "limit": PAGE_ROWS},
        )
    )


async def scw_totals(conn: AsyncConnection, column: str, value: Any) -> dict[str, Any]:
    """Count, raw size and ids (in time order) of all science windows of an observation or
    revolution, also those beyond the page's listing (the basket needs every id)."""
    if column not in ("obsid", "revolution"):
        raise ValueError(f"no science-window listing by {column}")
    row = (
        await conn.execute(
            text(
                "SELECT count(*) AS count, coalesce(sum(raw_size), 0)::bigint AS size, "  # noqa: S608
                "coalesce(array_agg(scw_id ORDER BY start_time), '{}') AS ids "
                f"FROM isla.science_windows WHERE {column} = :v"
            ),
            {"v": value},
        )
    ).one()
    return dict(row._mapping)


async def observations_in_revolution(conn: AsyncConnection, rev: int) -> list[dict[str, Any]]:
    """Observations with science windows in a revolution."""
    return _rows(
        await conn.execute(
            text(
                f"SELECT {_OBS_COLUMNS} FROM isla.observations o "  # noqa: S608
                "WHERE o.obsid IN (SELECT w.obsid FROM isla.science_windows w "
                "WHERE w.revolution = :r) ORDER BY o.start_time"
            ),
            {"r": rev},
        )
    )


async def products_where(conn: AsyncConnection, column: str, value: Any) -> list[dict[str, Any]]:
    """Stored products of an observation (``obsid``) or revolution (``revolution``)."""
    if column not in ("obsid", "revolution"):
        raise ValueError(f"no product listing by {column}")
    return _rows(
        await conn.execute(
            text(
                f"SELECT {_PRODUCT_COLUMNS}, count(*) OVER () AS total "  # noqa: S608
                f"FROM isla.products p WHERE p.{column} = :v "
                "ORDER BY p.kind, p.product_id LIMIT :limit"
            ),
            {"v": value, "limit": PAGE_ROWS},
        )
    )


async def scw(conn: AsyncConnection, scw_id: str) -> dict[str, Any] | None:
    """One science window with its exposures per instrument."""
    row = (
        await conn.execute(
            text(
                f"SELECT {_SCW_COLUMNS}, w.posangle, w.jemx1_exposure, "  # noqa: S608
                "w.jemx2_exposure, w.spi_exposure, w.omc_exposure, w.picsit_exposure "
                "FROM isla.science_windows w WHERE w.scw_id = :s"
            ),
            {"s": scw_id},
        )
    ).first()
    return None if row is None else dict(row._mapping)


async def scw_files(conn: AsyncConnection, scw_id: str) -> list[dict[str, Any]]:
    """The raw files of a science window."""
    return _rows(
        await conn.execute(
            text(
                "SELECT name, size, sha256, content_type FROM isla.scw_files "
                "WHERE scw_id = :s ORDER BY name"
            ),
            {"s": scw_id},
        )
    )


async def sources_in_field(
    conn: AsyncConnection, ra: float, dec: float, radius: float
) -> list[dict[str, Any]]:
    """Catalogue sources detected by ISGRI within ``radius`` of a pointing (brightest known)."""
    return _rows(
        await conn.execute(
            text(
                f"SELECT {_SOURCE_COLUMNS}, "  # noqa: S608
                "degrees(s.pos <-> spoint(radians(:ra), radians(:dec))) AS distance "
                "FROM isla.sources s "
                "WHERE s.pos <@ scircle(spoint(radians(:ra), radians(:dec)), radians(:r)) "
                "AND s.det_isgri ORDER BY distance LIMIT 30"
            ),
            {"ra": ra, "dec": dec, "r": radius},
        )
    )


# --- the sky -----------------------------------------------------------------------------------

SKY_SOURCES = 5000
"""Most catalogue sources drawn on the sky page (detected ones, brightest known first)."""


async def sky(conn: AsyncConnection) -> dict[str, list[dict[str, Any]]]:
    """Sources detected by an INTEGRAL instrument and the observations' target positions."""
    sources = _rows(
        await conn.execute(
            text(
                "SELECT source_id, name, ra, dec, source_class FROM isla.sources "
                "WHERE det_isgri OR det_jemx OR det_spi OR det_picsit "
                "ORDER BY (name NOT LIKE 'J%' AND name NOT LIKE 'IGR%') DESC, name LIMIT :n"
            ),
            {"n": SKY_SOURCES},
        )
    )
    observations = _rows(
        await conn.execute(
            text(
                "SELECT obsid, target_name, ra, dec FROM isla.observations "
                "ORDER BY start_time LIMIT :n"
            ),
            {"n": SKY_SOURCES},
        )
    )
    return {"sources": sources, "observations": observations}


# --- SPI-ACS and IREM time series --------------------------------------------------------------

_TIMESERIES_EXTENTS = text(
    """
    SELECT dataset, min(t_start) AS t_first, max(t_stop) AS t_last, count(*) AS segments,
           count(*) FILTER (WHERE simulated) AS simulated_segments,
           count(DISTINCT file_id) AS files
      FROM isla.timeseries_segments GROUP BY dataset
    """
)


async def timeseries_extents(conn: AsyncConnection) -> dict[str, dict[str, Any]]:
    """Per time-series dataset: first and last sample (IJD), segments (real and simulated)."""
    return {r["dataset"]: r for r in _rows(await conn.execute(_TIMESERIES_EXTENTS))}


_TIMESERIES_STRETCHES = text(
    """
    SELECT s.file_id, s.revolution, min(s.t_start) AS t_start, max(s.t_stop) AS t_stop,
           count(*) AS segments, bool_or(s.simulated) AS simulated,
           f.dataset AS delivered, f.file_name, f.size, f.timedel,
           count(*) OVER () AS total
      FROM isla.timeseries_segments s JOIN isla.timeseries_files f USING (file_id)
     WHERE s.dataset = :d AND (:real_only = false OR NOT s.simulated)
     GROUP BY s.file_id, s.revolution, f.dataset, f.file_name, f.size, f.timedel
     ORDER BY min(s.t_start)
     LIMIT :n
    """
)


async def timeseries_stretches(
    conn: AsyncConnection, dataset: str, real_only: bool = False, limit: int = PAGE_ROWS
) -> list[dict[str, Any]]:
    """The stretches of a time-series dataset, one per delivered file (revolution): its span
    (IJD), segments, whether simulated, and the delivered file; the total in ``total``."""
    result = await conn.execute(
        _TIMESERIES_STRETCHES, {"d": dataset, "real_only": real_only, "n": limit}
    )
    return _rows(result)


async def scw_positions(conn: AsyncConnection, scw_ids: list[str]) -> list[dict[str, Any]]:
    """The pointing axes of the named science windows (for the sky plot of a GRB page)."""
    return _rows(
        await conn.execute(
            text(
                "SELECT scw_id, ra, dec FROM isla.science_windows "
                "WHERE scw_id = ANY(:ids) AND ra IS NOT NULL ORDER BY scw_id"
            ),
            {"ids": list(scw_ids)},
        )
    )
