"""SQL of the ISLA compatibility room."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

_PRODUCTS = "SELECT p.* FROM isla.products p"


async def _rows(conn: AsyncConnection, sql: str, params: dict[str, Any] | None = None) -> list[Any]:
    """Every row of one statement."""
    return list((await conn.execute(text(sql), params or {})).all())


async def _scalars(
    conn: AsyncConnection, sql: str, params: dict[str, Any] | None = None
) -> list[Any]:
    """The first column of every row of one statement."""
    return list((await conn.execute(text(sql), params or {})).scalars())


async def instruments(conn: AsyncConnection) -> list[Any]:
    """``ila.instrument`` rows with their default band."""
    return await _rows(
        conn,
        "SELECT i.instrument_oid, i.name, i.archive_name, b.band_oid, b.name AS band "
        "FROM ila.instrument i JOIN ila.band b USING (instrument_oid) "
        "ORDER BY i.instrument_oid",
    )


_TIMELINE = text(
    """
    WITH w AS (
        SELECT w.scw_id, coalesce(w.isgri_exposure, 0)::float8 AS exposure,
               degrees(w.pos <-> spoint(radians(:ra), radians(:dec))) AS offaxis,
               w.start_time + (w.end_time - w.start_time) / 2 AS middle,
               w.start_time, w.revolution, r.start_time AS rev_start, r.end_time AS rev_end
        FROM isla.science_windows w
        JOIN isla.revolutions r ON r.revolution = w.revolution
        WHERE w.scw_type = 'pointing'
          AND w.pos <@ scircle(spoint(radians(:ra), radians(:dec)), radians(:radius))
    )
    SELECT count(*) AS total,
           count(*) FILTER (WHERE offaxis <= :fully_coded) AS fully_coded,
           coalesce(sum(exposure), 0) AS total_exposure,
           coalesce(json_agg(exposure ORDER BY start_time, scw_id), '[]') AS expo,
           coalesce(json_agg(
               revolution + CASE WHEN rev_end > rev_start
                   THEN least(greatest(extract(epoch FROM middle - rev_start)::float8
                                       / extract(epoch FROM rev_end - rev_start)::float8, 0),
                              0.999999)
                   ELSE 0 END
               ORDER BY start_time, scw_id), '[]') AS revs,
           coalesce(json_agg(extract(epoch FROM middle)::float8 * 1000.0
                             ORDER BY start_time, scw_id), '[]') AS times,
           coalesce(json_agg(offaxis ORDER BY start_time, scw_id), '[]') AS offaxis,
           coalesce(json_agg(scw_id ORDER BY start_time, scw_id), '[]') AS scws
    FROM w
    """
)


async def timeline(
    conn: AsyncConnection, ra: float, dec: float, radius: float, fully_coded: float
) -> Any:
    """The pointings within ``radius`` degrees of (ra, dec), in time order, as one row: their
    count, how many are within ``fully_coded`` degrees, the summed exposure, and JSON arrays
    of exposure, revolution and phase, middle time (ms since 1970, UTC), offset and ScW id.

    Built by Postgres in one statement: a whole-mission timeline is thousands of pointings,
    which cost a Python object per value when fetched as rows.
    """
    params = {"ra": ra, "dec": dec, "radius": radius, "fully_coded": fully_coded}
    return (await conn.execute(_TIMELINE, params)).one()


async def source(conn: AsyncConnection, source_id: str) -> Any:
    """The catalogue row of a source."""
    return (
        await conn.execute(
            text(
                "SELECT source_id, name, ra, dec, pos_err, source_class, det_isgri, det_picsit, "
                "det_jemx, det_spi, det_omc FROM isla.sources WHERE source_id = :sid"
            ),
            {"sid": source_id},
        )
    ).one()


async def fluxes(conn: AsyncConnection, source_id: str) -> list[Any]:
    """The source's catalogue fluxes by band."""
    return await _rows(
        conn,
        "SELECT b.instrument, b.name, f.flux, f.flux_err FROM isla.source_fluxes f "
        "JOIN isla.energy_bands b ON b.band_id = f.band_id "
        "WHERE f.source_id = :sid ORDER BY b.band_id",
        {"sid": source_id},
    )


async def aliases(conn: AsyncConnection, source_id: str) -> list[str]:
    """The source's aliases other than its id."""
    return await _scalars(
        conn,
        "SELECT alias FROM isla.source_aliases WHERE source_id = :sid "
        "AND alias <> :sid ORDER BY alias",
        {"sid": source_id},
    )


async def source_products(conn: AsyncConnection, source_id: str) -> list[Any]:
    """The stored products of a source (previews aside)."""
    return await _rows(
        conn,
        "SELECT product_id, kind, instrument, epoch FROM isla.products "
        "WHERE source_id = :sid AND kind <> 'preview' ORDER BY kind, product_id",
        {"sid": source_id},
    )


async def spectra(
    conn: AsyncConnection, source_id: str, epoch: str, instruments_: Sequence[str]
) -> list[Any]:
    """The stored spectra of a source in an epoch."""
    return await _rows(
        conn,
        f"{_PRODUCTS} WHERE p.kind = 'spectrum' AND p.source_id = :sid "
        "AND p.epoch = :epoch AND p.instrument = ANY(:instruments) "
        "ORDER BY p.product_id",
        {"sid": source_id, "epoch": epoch, "instruments": list(instruments_)},
    )


async def product(conn: AsyncConnection, product_id: str, kind: str | None = None) -> Any:
    """The row of a product (of a kind), or None."""
    return (
        await conn.execute(
            text(
                f"{_PRODUCTS} WHERE p.product_id = :pid "
                "AND (CAST(:kind AS text) IS NULL OR p.kind = :kind)"
            ),
            {"pid": product_id, "kind": kind},
        )
    ).first()


async def mosaics(
    conn: AsyncConnection, epoch: str, band_id: int, instruments_: Sequence[str]
) -> list[Any]:
    """The stored mosaics of an epoch in a band."""
    return await _rows(
        conn,
        f"{_PRODUCTS} WHERE p.kind = 'mosaic' AND p.epoch = :epoch "
        "AND p.band_id = :band AND p.instrument = ANY(:instruments) "
        "ORDER BY p.product_id",
        {"epoch": epoch, "band": band_id, "instruments": list(instruments_)},
    )


async def mosaic_set(conn: AsyncConnection, mosaic: Any) -> list[Any]:
    """Every file of a mosaic's set: its variants and the files made of it."""
    return await _rows(
        conn,
        f"{_PRODUCTS} WHERE (p.kind = 'mosaic' AND p.instrument = :ins "
        "AND p.epoch IS NOT DISTINCT FROM :epoch "
        "AND p.band_id IS NOT DISTINCT FROM :band) "
        "OR (p.kind NOT IN ('preview', 'mosaic') AND p.meta->>'of' = :pid) "
        "ORDER BY p.product_id",
        {
            "ins": mosaic.instrument,
            "epoch": mosaic.epoch,
            "band": mosaic.band_id,
            "pid": mosaic.product_id,
        },
    )


async def band_name(conn: AsyncConnection, band_id: int | None) -> str | None:
    """The name of a band."""
    if band_id is None:
        return None
    return (
        await conn.execute(
            text("SELECT name FROM isla.energy_bands WHERE band_id = :b"), {"b": band_id}
        )
    ).scalar()


async def timeseries(
    conn: AsyncConnection,
    kind: str,
    source_id: str,
    instruments_: Sequence[str],
    epoch: str | None,
    band_id: int | None,
) -> list[Any]:
    """Stored time series of a source (in an epoch, in a band or with no band)."""
    return await _rows(
        conn,
        f"{_PRODUCTS} WHERE p.kind = :kind AND p.source_id = :sid "
        "AND p.instrument = ANY(:instruments) "
        "AND (CAST(:epoch AS text) IS NULL OR p.epoch = :epoch) "
        "AND (CAST(:band AS int) IS NULL OR p.band_id = :band OR p.band_id IS NULL) "
        "ORDER BY p.product_id",
        {
            "kind": kind,
            "sid": source_id,
            "instruments": list(instruments_),
            "epoch": epoch,
            "band": band_id,
        },
    )


async def epoch_span(conn: AsyncConnection, epoch: str) -> tuple[float | None, float | None]:
    """(start, end) IJD of an epoch's pointings, or Nones when the archive has none."""
    row = (
        await conn.execute(
            text(
                "SELECT min(start_ijd), max(end_ijd) FROM isla.science_windows "
                "WHERE obsid = :obsid AND revolution = :rev AND scw_type = 'pointing'"
            ),
            {"obsid": epoch[5:], "rev": int(epoch[:4])},
        )
    ).one()
    return (None if row[0] is None else float(row[0]), None if row[1] is None else float(row[1]))
