"""Policy of the GRB room: the filtered, paged burst list and everything about one burst.

Everything answered is stored data: the bursts and fits of the current GRB catalogue versions
(``isla.grbs``, ``isla.grb_spectral_fits``), the products delivered for them (``meta.grb``), the
ScWs whose stored field-of-view footprints hold the burst (pgSphere, in SQL), and links to the
services that hold the rest: the raw-data selections (``/raw/...``) and the SPI-ACS time series
around the trigger (HAPI and the plot API), with whether the archive holds SPI-ACS data there.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from sqlalchemy import Connection

from services.products.common import BadRequest, NotFound
from services.products.grbs import store
from services.products.grbs.store import FOV_COLUMNS, GrbFilter
from services.products.sources.service import product_entry
from shared.integral.revolutions import revolutions_at_ijd

MAX_LIMIT = 1000
"""Most bursts one page of ``/products/grbs`` holds."""

MAX_OFFSET = 10_000_000
"""Largest ``offset`` (far beyond any burst catalogue; keeps the value a database integer)."""

DEFAULT_LIMIT = 100
"""Bursts per page when ``limit`` is not given."""

MAX_RADIUS = 180.0
"""Largest cone radius (degrees)."""

SPIACS_HALF_WIDTH = 300.0
"""Half width of the SPI-ACS window linked from a burst (seconds around the trigger)."""

SCWS_LISTED = 100
"""ScWs listed per instrument on a burst (nearest the trigger first; the count says all)."""

_NAME_DATE = re.compile(r"^\s*GRB\s*(\d{2})(\d{2})(\d{2})[A-Z]?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Page:
    """Paging of a list request."""

    limit: int
    offset: int


def check_filter(f: GrbFilter, limit: int | None, offset: int | None) -> tuple[GrbFilter, Page]:
    """The filter and page, checked; BadRequest naming what is wrong."""
    cone = (f.ra, f.dec, f.radius)
    if any(v is not None for v in cone) and not all(v is not None for v in cone):
        raise BadRequest("a position cone needs ra, dec and radius (degrees), all three")
    if f.ra is not None and not 0.0 <= f.ra <= 360.0:
        raise BadRequest(f"ra={f.ra} is outside [0, 360] degrees")
    if f.dec is not None and not -90.0 <= f.dec <= 90.0:
        raise BadRequest(f"dec={f.dec} is outside [-90, 90] degrees")
    if f.radius is not None and not 0.0 < f.radius <= MAX_RADIUS:
        raise BadRequest(f"radius={f.radius} is outside (0, {MAX_RADIUS:g}] degrees")
    for low, high, what in (
        (f.t90_min, f.t90_max, "t90"),
        (f.fluence_min, f.fluence_max, "fluence"),
        (f.start_ijd, f.end_ijd, "time"),
    ):
        for value in (low, high):
            if value is not None and not math.isfinite(value):
                raise BadRequest(f"{what} bounds must be finite numbers")
        if low is not None and high is not None and high < low:
            raise BadRequest(f"empty {what} range: the upper bound is below the lower one")
    if f.alert_type is not None and f.alert_type not in ("IBIS", "SPI-ACS", "external"):
        raise BadRequest("alert_type must be IBIS, SPI-ACS or external")
    limit = DEFAULT_LIMIT if limit is None else limit
    offset = 0 if offset is None else offset
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit={limit} is outside [1, {MAX_LIMIT}]")
    if not 0 <= offset <= MAX_OFFSET:
        raise BadRequest(f"offset={offset} is outside [0, {MAX_OFFSET}]")
    return f, Page(limit, offset)


def _utc(value: datetime) -> str:
    return value.isoformat() + "Z"


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _url_name(name: str) -> str:
    return quote(name.replace(" ", ""), safe="")


def summary(row: Any) -> dict[str, Any]:
    """One burst as the list shows it."""
    return {
        "name": row.grb_name,
        "trigger_time": _utc(row.trigger_time),
        "trigger_ijd": float(row.trigger_ijd),
        "ra": float(row.ra),
        "dec": float(row.dec),
        "error_radius_arcmin": _number(row.pos_err),
        "alert_type": row.alert_type,
        "ibis_localised": bool(row.ibis_localised),
        "t90_s": _number(row.t90),
        "fluence_erg_cm2": _number(row.fluence),
        "peak_flux_ph_cm2_s": _number(row.peak_flux),
        "significance": _number(row.significance),
        "simulated": bool(row.simulated),
        "catalogue": row.catalogue_name,
        "url": f"/products/grbs/{_url_name(row.grb_name)}",
    }


def list_grbs(conn: Connection, f: GrbFilter, page: Page, query: dict[str, str]) -> dict[str, Any]:
    """One page of the bursts matching ``f``, by trigger time, with the next page's URL."""
    total, rows = store.list_grbs(conn, f, page.limit, page.offset)
    following = page.offset + len(rows)
    next_url = None
    if following < total:
        next_url = "/products/grbs?" + urlencode(
            query | {"limit": str(page.limit), "offset": str(following)}
        )
    return {
        "total": total,
        "limit": page.limit,
        "offset": page.offset,
        "next": next_url,
        "includes_simulated": any(r.simulated for r in rows),
        "grbs": [summary(r) for r in rows],
    }


def _date_of_name(name: str) -> float | None:
    """The IJD of the day a burst name (GRB YYMMDD[X]) encodes, or None."""
    match = _NAME_DATE.match(name)
    if not match:
        return None
    yy, mm, dd = (int(g) for g in match.groups())
    try:
        day = datetime(2000 + yy, mm, dd)
    except ValueError:
        return None
    return (day - datetime(2000, 1, 1)).total_seconds() / 86400.0


def grb_or_404(conn: Connection, name: str) -> Any:
    """The burst ``name``; NotFound listing the bursts nearest in time to the name's date."""
    if len(name) > 64 or any(ord(c) < 32 for c in name):
        raise BadRequest("a burst name is at most 64 printable characters, e.g. GRB 230307A")
    row = store.fetch_grb(conn, name)
    if row is not None:
        return row
    nearby = store.nearby_names(conn, _date_of_name(name))
    raise NotFound(
        f"no burst {name!r} in the archive's GRB catalogues; nearest in time: "
        + (", ".join(n["name"] for n in nearby) or "none (no GRB catalogue is loaded)"),
        {"nearby": nearby, "hint": "list bursts with /products/grbs?start=...&end=..."},
    )


def _raw_links(row: Any, at_trigger: list[Any]) -> dict[str, Any]:
    t0: datetime = row.trigger_time
    window = {
        "start": (t0 - timedelta(seconds=SPIACS_HALF_WIDTH)).strftime("%Y-%m-%dT%H:%M:%S"),
        "end": (t0 + timedelta(seconds=SPIACS_HALF_WIDTH)).strftime("%Y-%m-%dT%H:%M:%S"),
    }
    position = {"ra": f"{float(row.ra):.5f}", "dec": f"{float(row.dec):.5f}"}
    in_view = urlencode(position | {"instrument": "isgri"})
    links: dict[str, Any] = {}
    revolution = int(revolutions_at_ijd(float(row.trigger_ijd)))
    if revolution >= 0:
        # The raw service selects by an id or a position; time narrows the trigger's revolution.
        around = urlencode({"revolution": f"{revolution:04d}"} | window)
        links["around_trigger"] = {
            "description": f"every science window within {SPIACS_HALF_WIDTH:g} s of the trigger",
            "manifest": f"/raw/manifest.json?{around}",
            "tarball": f"/raw/archive.tar?{around}",
            "script": f"/raw/download.sh?{around}",
        }
    links |= {
        "in_isgri_field_of_view": {
            "description": "every science window with the burst position in the ISGRI field",
            "manifest": f"/raw/manifest.json?{in_view}",
            "script": f"/raw/download.sh?{in_view}",
        },
        "scws_at_trigger": [
            {
                "scw_id": r.scw_id,
                "obsid": r.obsid,
                "type": r.scw_type,
                "url": f"/raw/scw/{r.scw_id}",
            }
            for r in at_trigger
        ],
    }
    return links


def _spiacs(conn: Connection, row: Any) -> dict[str, Any]:
    t0_ijd = float(row.trigger_ijd)
    half_days = SPIACS_HALF_WIDTH / 86400.0
    cover = store.spiacs_coverage(conn, t0_ijd - half_days, t0_ijd + half_days)
    t0: datetime = row.trigger_time
    start = (t0 - timedelta(seconds=SPIACS_HALF_WIDTH)).strftime("%Y-%m-%dT%H:%M:%SZ")
    stop = (t0 + timedelta(seconds=SPIACS_HALF_WIDTH)).strftime("%Y-%m-%dT%H:%M:%SZ")
    around = t0.strftime("%Y-%m-%dT%H:%M:%SZ")
    window = urlencode({"dataset": "spiacs_50ms", "start": start, "stop": stop})
    return {
        "dataset": "spiacs_50ms",
        "window": {"start": start, "stop": stop, "half_width_s": SPIACS_HALF_WIDTH},
        "held": int(cover.segments) > 0,
        "includes_real": bool(cover.real),
        "includes_simulated": bool(cover.simulated),
        "links": {
            "hapi_data": f"/hapi/data?{window}",
            "hapi_info": "/hapi/info?dataset=spiacs_50ms",
            "plot": "/products/timeseries/spiacs_50ms/plot?"
            + urlencode({"around": around, "half_width": f"{SPIACS_HALF_WIDTH:g}", "px": "2000"}),
            "view": "/products/timeseries/spiacs_50ms/view?"
            + urlencode(
                {"start": f"{t0_ijd - half_days:.8f}", "stop": f"{t0_ijd + half_days:.8f}"}
            ),
        },
    }


def _fit(row: Any) -> dict[str, Any]:
    return {
        "fit_id": row.fit_id,
        "model": row.model,
        "model_class": row.model_class,
        "bin_index": int(row.bin_index),
        "t_start_s": float(row.t_start),
        "t_stop_s": float(row.t_stop),
        "e_peak_kev": _number(row.e_peak),
        "e_peak_err_kev": _number(row.e_peak_err),
        "alpha": _number(row.alpha),
        "alpha_err": _number(row.alpha_err),
        "beta": _number(row.beta),
        "beta_err": _number(row.beta_err),
        "energy_flux_erg_cm2_s": _number(row.energy_flux),
        "synch_b_gauss": _number(row.synch_b),
        "synch_index": _number(row.synch_index),
        "cstat": _number(row.cstat),
        "dof": None if row.dof is None else int(row.dof),
        "catalogue": row.catalogue_name,
        "simulated": bool(row.simulated),
    }


def grb_page(conn: Connection, name: str) -> dict[str, Any]:
    """Everything about one burst: catalogue facts with their provenance, the error circle,
    the ScWs that had it in each instrument's field of view, raw-data selections, the SPI-ACS
    window around the trigger, the spectral fits and the stored products."""
    row = grb_or_404(conn, name)
    ra, dec, t0 = float(row.ra), float(row.dec), float(row.trigger_ijd)
    fields = {}
    for instrument in FOV_COLUMNS:
        count, scws = store.scws_in_view(conn, ra, dec, t0, instrument, SCWS_LISTED)
        fields[instrument] = {
            "scw_count": count,
            "listed": len(scws),
            "at_trigger": [r.scw_id for r in scws if r.at_trigger],
            "scws": [
                {
                    "scw_id": r.scw_id,
                    "obsid": r.obsid,
                    "revolution": int(r.revolution),
                    "start": _utc(r.start_time),
                    "end": _utc(r.end_time),
                    "offaxis_deg": round(float(r.offaxis), 3),
                    "at_trigger": bool(r.at_trigger),
                }
                for r in scws
            ],
        }
    products = [product_entry(p) for p in store.products_of(conn, row.grb_name)]
    return {
        **summary(row),
        "trigger": {"utc": _utc(row.trigger_time), "ijd": t0, "source": row.time_ref},
        "position": {
            "ra": ra,
            "dec": dec,
            "frame": "ICRS",
            "source": row.position_ref,
            "error_circle": {
                "ra": ra,
                "dec": dec,
                "radius_arcmin": _number(row.pos_err),
                "confidence": 0.9,
            },
        },
        "notes": row.notes,
        "catalogue": {
            "name": row.catalogue_name,
            "catalogue_id": int(row.catalogue_id),
            "entry_id": int(row.entry_id),
        },
        "observation": {
            "obsid": row.obsid,
            "scw_id": row.scw_id,
            "known": row.observation_known,
        },
        "fields_of_view": fields,
        "raw_data": _raw_links(row, store.scws_at(conn, t0)),
        "spiacs": _spiacs(conn, row),
        "spectral_fits": [_fit(f) for f in store.fits_of(conn, row.grb_name)],
        "light_curves": [p for p in products if p["kind"] == "grb_lightcurve"],
        "spectra": [p for p in products if p["kind"] in ("grb_spectrum", "arf", "rmf")],
        "products": products,
    }
