"""Table views of stored product files (``/products/files/{id}?format=json|csv|votable``):
the same numbers as the file, in another format."""

from __future__ import annotations

import math
from typing import Any

from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from services.products.common import (
    BadRequest,
    simulated_of,
    table_response,
)
from services.products.files.service import read_product
from services.products.lightcurves.service import (
    OMC_FIELDS,
    SERIES_FIELDS,
    series_info,
    series_rows,
)
from services.products.spectra.service import SPECTRUM_FIELDS, read_table, spectrum_rows
from shared.integral.time import MJDREF
from shared.products import readers
from shared.service import ServiceContext

TABLE_KINDS = ("spectrum", "long_timeseries", "short_timeseries", "omc_lightcurve")
"""Kinds of products that have a table view."""


def _num(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


async def table_view(ctx: ServiceContext, row: Any, fmt: str) -> Response:
    """The stored file of ``row`` as JSON, CSV or VOTable; BadRequest for images."""
    if row.kind not in TABLE_KINDS:
        raise BadRequest(
            f"a {row.kind} is served as its file only; table views (format=json, csv, votable) "
            f"exist for {', '.join(TABLE_KINDS)}"
        )
    info: dict[str, Any] = {"product_id": row.product_id, "kind": row.kind}
    if row.kind == "spectrum":
        table, _ = await read_table(ctx, row)
        info |= {"exposure": table.exposure, "simulated": simulated_of(row)}
        return table_response(fmt, SPECTRUM_FIELDS, spectrum_rows(table), info)
    data = await read_product(ctx.require_store(), row)
    if row.kind == "omc_lightcurve":
        omc = await run_in_threadpool(readers.read_omc_lightcurve, data)
        rows = [
            (float(t), float(t) + MJDREF, _num(m), _num(e), _num(x), "")
            for t, m, e, x in zip(omc.time, omc.magnitude, omc.error, omc.exposure, strict=True)
        ]
        info |= {"simulated": simulated_of(row)}
        return table_response(fmt, OMC_FIELDS, rows, info)
    series = await run_in_threadpool(readers.read_timeseries, data)
    return table_response(fmt, SERIES_FIELDS, series_rows(series), series_info(row, series))
