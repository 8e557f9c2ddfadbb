"""What every room of the products service shares: errors, running store functions on the
database (503s come from :mod:`shared.service`), request parsing (formats, times, instruments,
bands) and response helpers.

Rooms (``lightcurves/``, ``spectra/``, ``mosaics/``, ``sources/``, ``files/``, ``compat/``,
``datalink/``) each have thin ``routes.py``, the policy in ``service.py`` and their SQL in
``store.py``; nothing here runs SQL.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
from astropy.time import Time
from fastapi import HTTPException
from fastapi.responses import Response

from shared.integral.time import MJDREF
from shared.products import bands as facts
from shared.products import ogip
from shared.service import ServiceContext
from shared.vo.results import DelimitedWriter, ResultField, VOTableWriter

T = TypeVar("T")

FORMATS = ("json", "csv", "votable", "fits")
FITS = "application/fits"
MEDIA = {
    "json": "application/json",
    "csv": "text/csv",
    "votable": "application/x-votable+xml",
    "fits": FITS,
}
EPOCH_RE = re.compile(r"^(\d{4})_(\d{11})$")


class NotFound(LookupError):  # noqa: N818 - maps to HTTP 404 Not Found
    """Something named in a request does not exist; ``nearby`` lists what does."""

    def __init__(self, message: str, nearby: dict[str, Any] | None = None) -> None:
        """Keep the message and the alternatives for the problem document."""
        super().__init__(message)
        self.nearby = nearby or {}


class BadRequest(ValueError):  # noqa: N818 - maps to HTTP 400 Bad Request
    """A request that cannot be satisfied as asked (impossible range, bad binning)."""


def problem(exc: NotFound | BadRequest) -> HTTPException:
    """The problem document of a lookup error: 404 naming what exists, or 400 with the reason."""
    if isinstance(exc, NotFound):
        return HTTPException(404, {"detail": str(exc), **exc.nearby})
    return HTTPException(400, str(exc))


# --- dependencies ------------------------------------------------------------------------------


async def run_db(ctx: ServiceContext, fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn(sync_connection, *args)`` on a pooled connection (released on return); map
    lookup errors to problem documents. Without a database: 503 (the shared
    :class:`~shared.service.ServiceUnavailable`, with Retry-After)."""
    async with ctx.require_engine().connect() as conn:
        try:
            return await conn.run_sync(fn, *args)
        except (NotFound, BadRequest) as exc:
            raise problem(exc) from None


# --- request parsing ---------------------------------------------------------------------------


def check_format(fmt: str, allowed: tuple[str, ...] = FORMATS) -> str:
    """The output format, lower case; 400 naming the allowed ones."""
    value = fmt.lower()
    if value not in allowed:
        raise HTTPException(400, f"format {fmt!r} is not one of {', '.join(allowed)}")
    return value


def parse_time(value: str | None, name: str) -> float | None:
    """An ISO 8601 UTC date/time or an MJD number, as IJD (TT); 400 when unreadable."""
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except ValueError:
        try:
            t = (
                Time(value, format="isot", scale="utc")
                if "T" in value
                else Time(value, scale="utc")
            )
        except ValueError:
            raise HTTPException(
                400, f"{name}={value!r} is neither an ISO 8601 date/time (UTC) nor an MJD"
            ) from None
        return float(t.tt.mjd) - MJDREF
    if not math.isfinite(number):
        raise HTTPException(400, f"{name}={value!r} is not a finite MJD")
    return number - MJDREF


def time_range(start: str | None, end: str | None) -> tuple[float, float]:
    """[start, end) as IJD; 400 when the range is empty or reversed."""
    t0 = parse_time(start, "start")
    t1 = parse_time(end, "end")
    if t0 is not None and t1 is not None and t1 <= t0:
        raise HTTPException(400, f"empty time range: end ({end}) is not after start ({start})")
    return (-1e9 if t0 is None else t0), (1e9 if t1 is None else t1)


def parse_epoch(value: str) -> tuple[int, str]:
    """(revolution, obsid) of ``RRRR_OOOOOOOOOOO``; BadRequest otherwise."""
    match = EPOCH_RE.match(value)
    if not match:
        raise BadRequest(
            f"epoch {value!r} is not of the form RRRR_OOOOOOOOOOO (e.g. 0727_88601650001)"
        )
    return int(match.group(1)), match.group(2)


_INSTRUMENT_NAMES = {"isgri": "ISGRI", "ibis": "ISGRI", "jem-x": "JEM-X", "jemx": "JEM-X"}


def normalise_instrument(name: str) -> str:
    """ISGRI or JEM-X from the usual spellings; NotFound for other instruments."""
    inst = _INSTRUMENT_NAMES.get(name.strip().lower())
    if inst is None:
        raise NotFound(
            f"no light curves, spectra or mosaics for instrument {name!r}",
            {"instruments": list(facts.INSTRUMENTS)},
        )
    return inst


@dataclass(frozen=True)
class Band:
    """An energy band of ``isla.energy_bands``."""

    band_id: int
    instrument: str
    name: str
    e_min: float
    e_max: float


Bands = dict[tuple[str, str], Band]


def resolve_band(bands: Bands, instrument: str, band: str | None) -> Band:
    """The band asked for (default: ISLA's band of the instrument); NotFound lists the others."""
    name = band or facts.DEFAULT_BAND[instrument]
    found = bands.get((instrument, name))
    if found is None:
        known = [b.name for b in bands.values() if b.instrument == instrument]
        raise NotFound(
            f"{instrument} has no band {name!r}", {"bands": known, "instrument": instrument}
        )
    return found


@dataclass
class SourceRecord:
    """A source of the catalogue with what products need of it."""

    source_id: str
    name: str
    ra: float
    dec: float
    source_class: str
    pos_err: float | None
    detected: dict[str, bool]

    @property
    def target(self) -> ogip.Target:
        """The source as FITS headers name it."""
        return ogip.Target(self.source_id, self.name, self.ra, self.dec)


def file_stem(name: str) -> str:
    """A source name usable in file names (as ISLA writes them: spaces to underscores)."""
    return re.sub(r"[^A-Za-z0-9+.\-]+", "_", name).strip("_") or "source"


# --- product rows ------------------------------------------------------------------------------


def meta_of(row: Any) -> dict[str, Any]:
    """The ``meta`` of an ``isla.products`` row (a dict, never None)."""
    return dict(getattr(row, "meta", None) or {})


def simulated_of(row: Any) -> bool | None:
    """Whether a stored product is simulated: the row's ``simulated`` column where the schema
    has it, else what the product's meta says, else unknown (None)."""
    mapping = getattr(row, "_mapping", {})
    if "simulated" in mapping and mapping["simulated"] is not None:
        return bool(mapping["simulated"])
    value = meta_of(row).get("simulated")
    return bool(value) if isinstance(value, bool) else None


def view_provenance(scws: list[str], nscw: int | None, simulated: bool | None) -> ogip.Provenance:
    """Provenance of a view made now from stored data; a view of simulated products says so
    (when the writers know the simulation label)."""
    extra: dict[str, Any] = {}
    if simulated and "simulated" in {f.name for f in fields(ogip.Provenance)}:
        extra["simulated"] = True
    return ogip.Provenance(list(scws), datetime.now(UTC), nscw=nscw, **extra)


# --- responses ---------------------------------------------------------------------------------


def json_response(content: Any, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer written by orjson (NaN becomes null), an order of magnitude faster than
    the standard library on light curves of tens of thousands of rows."""
    return Response(
        orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY),
        media_type="application/json",
        headers=headers,
    )


def columns_meta(fields_: list[ResultField]) -> list[dict[str, Any]]:
    """The ``columns`` member of the JSON answers: name, unit, UCD and description."""
    return [
        {"name": f.name, "unit": f.unit, "ucd": f.ucd, "description": f.description}
        for f in fields_
    ]


def disposition(name: str) -> dict[str, str]:
    """An inline Content-Disposition naming the file."""
    return {"Content-Disposition": f'inline; filename="{name}"'}


def fits_response(data: bytes, file_name: str, headers: dict[str, str] | None = None) -> Response:
    """A FITS file made for this request, as an attachment."""
    return Response(
        data,
        media_type=FITS,
        headers={"Content-Disposition": f'attachment; filename="{file_name}"', **(headers or {})},
    )


def finite(value: float) -> float | None:
    """A float for JSON, None for NaN and infinities."""
    return float(value) if math.isfinite(value) else None


def same_instrument(stored: str | None, instrument: str) -> bool:
    """Whether a product's instrument is ``instrument`` (JEM-X products may be per unit)."""
    return stored is not None and (stored == instrument or stored.startswith(instrument))


def result_writer(fmt: str, fields: list[ResultField]) -> DelimitedWriter | VOTableWriter:
    """The CSV or VOTable writer of ``fields``."""
    return DelimitedWriter(fields) if fmt == "csv" else VOTableWriter(fields)


def table_response(
    fmt: str,
    fields: list[ResultField],
    rows: list[tuple[Any, ...]],
    info: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> Response:
    """Rows as JSON (with ``info`` and the column descriptions), CSV or VOTable."""
    if fmt == "json":
        return json_response(
            {**info, "columns": columns_meta(fields), "data": rows}, headers=headers
        )
    writer = result_writer(fmt, fields)
    return Response(
        writer.head() + writer.rows(rows) + writer.tail(False),
        media_type=writer.media_type,
        headers=headers,
    )
