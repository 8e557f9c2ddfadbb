"""The portal's policy: what a search box entry means, and what each page shows.

A search entry is read every way it can be read at once (a name, a position, a ScW id, an
observation id, a revolution, a date); each reading that parses is looked up, and the answer
lists the matching sources, observations, revolutions and science windows. When nothing is
found the answer offers the closest source names.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import difflib
import math
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from astropy import units as u
from astropy.coordinates import SkyCoord
from sqlalchemy.ext.asyncio import AsyncConnection

from services.products.portal import store
from shared.integral import InvalidIdentifier, normalise_source_name, parse_scw_id
from shared.integral.time import MISSION_END, MISSION_START
from shared.service import ServiceContext
from shared.timeseries.times import parse_iso, tt_of_time, utc_iso
from shared.vo.errors import UsageFault

MAX_QUERY = 200
"""Longest accepted search entry."""

SUGGESTIONS = 5
"""How many "did you mean" names a failed search offers."""

ESASKY_HIPS = "INTEGRAL-IBIS 25-40 keV"
"""The ESASky hard X-ray survey a source opens in."""

MISSION_FIRST_IJD = tt_of_time(MISSION_START) / 86400.0
MISSION_LAST_IJD = tt_of_time(MISSION_END) / 86400.0
"""The mission's span (IJD, TT): a time-series page of an empty dataset opens on it."""


@dataclass
class Reading:
    """What a search entry can mean (several at once: ``0081`` is a revolution and a name)."""

    text: str
    position: SkyCoord | None = None
    position_note: str | None = None
    scw_ids: list[str] = field(default_factory=list)
    obsid: str | None = None
    revolutions: list[int] = field(default_factory=list)
    day: tuple[dt.datetime, dt.datetime] | None = None
    grb: str | None = None
    """The start of a burst name, upper case without spaces (``GRB2303`` while typing)."""


_GRB = re.compile(r"^\s*(?:GRB\s*(\d{0,6}[A-Z]?)|(\d{6}[A-Z]))\s*$", re.IGNORECASE)
"""A burst name or its start (``GRB 230307A``, ``grb2303``), or a bare ``230307A``."""

_DECIMAL_PAIR = re.compile(r"^\s*([+-]?\d+(?:\.\d*)?)\s*[,\s]\s*([+-]?\d+(?:\.\d*)?)\s*$")
_GALACTIC = re.compile(
    r"^\s*(?:l\s*=?\s*)?([+-]?\d+(?:\.\d*)?)\s*[,\s]\s*(?:b\s*=?\s*)?([+-]?\d+(?:\.\d*)?)"
    r"\s*(?:gal(?:actic)?)?\s*$",
    re.IGNORECASE,
)
_SEXAGESIMAL = re.compile(r"^[\d\s:hmsd°'\"+\-.,]+$", re.IGNORECASE)
_DATE = re.compile(r"^\s*(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d*)?)?))?Z?\s*$")
_REVOLUTION = re.compile(r"^\s*(?:rev(?:olution)?\.?\s*)?(\d{1,4})\s*$", re.IGNORECASE)


def _coordinates(entry: str) -> tuple[SkyCoord, str] | None:
    """A position from decimal degrees, sexagesimal, or galactic l/b; None if not one."""
    lowered = entry.lower()
    if "l=" in lowered.replace(" ", "") or "gal" in lowered:
        match = _GALACTIC.match(entry)
        if match:
            lon, lat = float(match[1]), float(match[2])
            if 0 <= lon <= 360 and -90 <= lat <= 90:
                coord = SkyCoord(l=lon * u.deg, b=lat * u.deg, frame="galactic").icrs
                return coord, f"galactic l={lon:g}°, b={lat:g}°"
        return None
    match = _DECIMAL_PAIR.match(entry)
    if match:
        ra, dec = float(match[1]), float(match[2])
        if 0 <= ra < 360 and -90 <= dec <= 90:
            return SkyCoord(ra * u.deg, dec * u.deg), f"RA {ra:g}°, Dec {dec:g}°"
        return None
    if not _SEXAGESIMAL.match(entry) or not re.search(r"[hms:]|\d\s+\d", entry, re.IGNORECASE):
        return None
    try:
        coord = SkyCoord(entry.replace(",", " "), unit=(u.hourangle, u.deg))
    except (ValueError, u.UnitsError):
        return None
    return coord, "RA/Dec " + coord.to_string("hmsdms", precision=1)


def read_entry(entry: str) -> Reading:
    """Every meaning of a search entry that parses."""
    cleaned = " ".join(entry.split())[:MAX_QUERY]
    reading = Reading(cleaned)
    if not cleaned:
        return reading
    found = _coordinates(cleaned)
    if found:
        reading.position, reading.position_note = found
    compact = cleaned.replace(" ", "")
    if re.fullmatch(r"\d{12}(\.\d{3})?", compact):
        with contextlib.suppress(InvalidIdentifier):
            reading.scw_ids = [parse_scw_id(compact).id]
    if re.fullmatch(r"\d{11}", compact):
        reading.obsid = compact
    match = _REVOLUTION.match(cleaned)
    if match:
        reading.revolutions = [int(match[1])]
    elif reading.scw_ids:
        reading.revolutions = [int(compact[:4])]
    match = _DATE.match(cleaned)
    if match:
        try:
            start = dt.datetime.fromisoformat(
                match[1] + ("T" + match[2] if match[2] else "T00:00:00")
            )
        except ValueError:
            pass
        else:
            length = dt.timedelta(seconds=1) if match[2] else dt.timedelta(days=1)
            reading.day = (start, start + length)
    match = _GRB.match(cleaned)
    if match:
        reading.grb = "GRB" + (match[1] if match[1] is not None else match[2]).upper()
    return reading


def _iso(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.replace(microsecond=0).isoformat()
    return value


def _clean(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: _iso(v) for k, v in row.items()} for row in rows]


async def did_you_mean(conn: AsyncConnection, entry: str) -> list[str]:
    """The source names closest to ``entry`` (trigram similarity if available, else difflib)."""
    if not entry:
        return []
    if await store.has_trigram(conn):
        return await store.closest_names_trigram(conn, entry, SUGGESTIONS)
    names = await store.all_names(conn)
    by_lower: dict[str, str] = {}
    for name in names:
        by_lower.setdefault(name.lower(), name)
    close = difflib.get_close_matches(entry.lower(), list(by_lower), n=SUGGESTIONS, cutoff=0.6)
    return [by_lower[c] for c in close]


async def search(conn: AsyncConnection, entry: str) -> dict[str, Any]:
    """Sources, observations, revolutions and science windows matching a search entry."""
    reading = read_entry(entry)
    result: dict[str, Any] = {
        "query": reading.text,
        "interpreted_as": [],
        "sources": [],
        "observations": [],
        "revolutions": [],
        "scws": [],
        "grbs": [],
        "did_you_mean": [],
    }
    if not reading.text:
        return result
    notes: list[str] = result["interpreted_as"]
    sources: dict[str, dict[str, Any]] = {}
    observations: dict[str, dict[str, Any]] = {}
    if reading.position is not None:
        ra, dec = float(reading.position.ra.deg), float(reading.position.dec.deg)
        notes.append(f"a position: {reading.position_note}")
        result["position"] = {"ra": round(ra, 6), "dec": round(dec, 6)}
        for row in await store.sources_near(conn, ra, dec):
            sources.setdefault(row["source_id"], row)
        for row in await store.observations_near(conn, ra, dec):
            observations.setdefault(row["obsid"], row)
    else:
        for row in await store.sources_by_text(
            conn, reading.text, normalise_source_name(reading.text)
        ):
            sources.setdefault(row["source_id"], row)
        if sources:
            notes.append("a source name, alias or id")
        for row in await store.observations_by_text(conn, reading.text, reading.obsid):
            observations.setdefault(row["obsid"], row)
    if reading.obsid and reading.obsid in observations:
        notes.append(f"observation {reading.obsid}")
    if reading.scw_ids:
        result["scws"] = await store.scws_by_id(conn, reading.scw_ids)
        if result["scws"]:
            notes.append(f"science window {reading.scw_ids[0]}")
    if reading.revolutions:
        result["revolutions"] = await store.revolutions(conn, reading.revolutions)
        if result["revolutions"]:
            notes.append(f"revolution {reading.revolutions[0]:04d}")
    if reading.day:
        t0, t1 = reading.day
        notes.append(f"a time: {t0.isoformat()}")
        result["revolutions"] = await store.revolutions_at(conn, t0, t1)
        result["scws"] = await store.scws_at(conn, t0, t1)
        for row in await store.observations_at(conn, t0, t1):
            observations.setdefault(row["obsid"], row)
        result["grbs"] = await store.grbs_at(conn, t0, t1)
    if reading.grb:
        result["grbs"] = await store.grbs_by_name(conn, reading.grb)
        if result["grbs"]:
            notes.append("a gamma-ray burst name")
    result["sources"] = _clean(list(sources.values()))
    result["observations"] = _clean(list(observations.values()))
    result["revolutions"] = _clean(result["revolutions"])
    result["scws"] = _clean(result["scws"])
    result["grbs"] = _clean(result["grbs"])
    if not any(result[k] for k in ("sources", "observations", "revolutions", "scws", "grbs")):
        result["did_you_mean"] = await did_you_mean(conn, reading.text)
    return result


def only_match(result: dict[str, Any]) -> str | None:
    """The page to go to when a search has exactly one obvious answer (an id or exact name)."""
    sources, obs = result["sources"], result["observations"]
    revs, scws = result["revolutions"], result["scws"]
    query = result["query"]
    grbs = result.get("grbs") or []
    if len(grbs) == 1 and grbs[0]["grb_name"].replace(" ", "").upper() == read_entry(query).grb:
        return "/grbs/" + quote(grbs[0]["grb_name"].replace(" ", ""), safe="")
    if scws and len(scws) == 1 and query.replace(" ", "").startswith(scws[0]["scw_id"]):
        return f"/scws/{scws[0]['scw_id']}"
    if obs and obs[0]["obsid"] == query:
        return f"/observations/{query}"
    if sources:
        first = sources[0]
        aliases = (first.get("aliases") or "").lower().split(", ")
        if query.lower() in (first["name"].lower(), first["source_id"].lower(), *aliases):
            return f"/sources/{quote(first['source_id'])}"
    if len(revs) == 1 and not sources and not obs and not scws:
        return f"/revolutions/{revs[0]['revolution']:04d}"
    return None


# --- source pages ------------------------------------------------------------------------------

BINNINGS = (("scw", "science window"), ("revolution", "revolution"))
"""Light-curve binnings every source has; sub-ScW bins are offered where they are stored."""


def sky_links(ra: float, dec: float, fov: float = 10.0) -> dict[str, str]:
    """ "Open in ESASky" and "Open in Aladin" links for a position, and this archive's own
    sky page centred there."""
    target = f"{ra:.5f} {dec:+.5f}"
    return {
        "here": f"/sky?{urlencode({'ra': f'{ra:.5f}', 'dec': f'{dec:.5f}', 'fov': f'{fov:g}'})}",
        "esasky": (
            f"https://sky.esa.int/esasky/?target={quote(target)}"
            f"&hips={quote(ESASKY_HIPS)}&fov={fov:g}&cooframe=J2000&sci=true"
        ),
        "aladin": f"https://aladin.cds.unistra.fr/AladinLite/?target={quote(target)}&fov={fov:g}",
    }


def sexagesimal(ra: float, dec: float) -> str:
    """A position as ``hh:mm:ss.s ±dd:mm:ss``."""
    coord = SkyCoord(ra * u.deg, dec * u.deg)
    return str(coord.to_string("hmsdms", sep=":", precision=1))


def galactic(ra: float, dec: float) -> tuple[float, float]:
    """Galactic longitude and latitude of an ICRS position (deg)."""
    gal = SkyCoord(ra * u.deg, dec * u.deg).galactic
    return round(float(gal.l.deg), 4), round(float(gal.b.deg), 4)


def lightcurve_choices(bands: list[dict[str, Any]], omc: int) -> list[dict[str, Any]]:
    """The instrument/band/binning choices of a source's light-curve viewer."""
    choices = []
    for band in bands:
        binnings = [{"value": v, "label": label} for v, label in BINNINGS]
        # Sub-ScW light curves are stored products: their own bin widths, none where none is.
        for width in sorted(band.get("sub_scw_widths") or []):
            binnings.append({"value": f"{width:g}", "label": f"{width:g} s"})
        choices.append(
            {
                "instrument": band["instrument"],
                "band": band["band"],
                "label": f"{band['instrument']} {band['e_min']:g}–{band['e_max']:g} keV",
                "points": band["points"],
                "detections": band["detections"],
                "default": bool(band["isla_default"]),
                "binnings": binnings,
            }
        )
    if omc:
        choices.append(
            {
                "instrument": "OMC",
                "band": "V",
                "label": "OMC V band",
                "points": omc,
                "detections": omc,
                "default": False,
                "binnings": [{"value": "scw", "label": "science window"}],
            }
        )
    # The ISGRI default band first: it is the one every source observed by IBIS has.
    choices.sort(key=lambda c: (c["instrument"] != "ISGRI", not c["default"], c["label"]))
    return choices


def product_groups(products: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Products grouped by kind, each with its download URL."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for product in products:
        item = dict(product)
        item["url"] = f"/products/files/{quote(product['product_id'])}"
        # Product ids read kind/instrument/<scope or epoch>/<source or band>.
        parts = str(product["product_id"]).split("/")
        item["scope"] = parts[2] if len(parts) > 3 else None
        item["band"] = parts[3] if product["kind"] == "mosaic" and len(parts) > 3 else None
        # A spectrum's own responses (the ids its delivery recorded), as file URLs.
        meta = product.get("meta") or {}
        for part in ("arf", "rmf"):
            ref = meta.get(part) if isinstance(meta, dict) else None
            item[f"{part}_url"] = f"/products/files/{quote(str(ref))}" if ref else None
        item["samp"] = samp_kind(product["kind"], str(product.get("file_name") or ""))
        doi = product.get("doi")
        item["doi_landing"] = f"/doi/{quote(str(doi).split('/', 1)[1])}" if doi else None
        groups.setdefault(product["kind"], []).append(item)
    return groups


SAMP_IMAGES = frozenset({"mosaic", "allsky_map"})
"""Product kinds that are FITS images (SAMP ``image.load.fits``); other FITS are tables."""


def samp_kind(kind: str, file_name: str) -> str | None:
    """How a product file is sent over SAMP (the portal's ``data-samp``): ``fits-image``,
    ``fits-table``, or None when it is not FITS."""
    if not file_name.lower().endswith((".fits", ".fits.gz", ".fit", ".fts")):
        return None
    return "fits-image" if kind in SAMP_IMAGES else "fits-table"


def human_size(size: float | None) -> str:
    """A byte count for people (binary prefixes)."""
    if size is None:
        return "–"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


# --- sky plots ---------------------------------------------------------------------------------


PLOT_SIZE = 320.0
"""Side of the sky plots (SVG user units)."""


def _tangent(ra_d: float, dec_d: float, centre: tuple[float, float]) -> tuple[float, float] | None:
    """Gnomonic (tangent-plane) offsets in degrees of (ra, dec) from ``centre`` (xi to the
    east, eta to the north); None on the far hemisphere."""
    ra0, dec0 = math.radians(centre[0]), math.radians(centre[1])
    ra, dec = math.radians(ra_d), math.radians(dec_d)
    cos_c = math.sin(dec0) * math.sin(dec) + math.cos(dec0) * math.cos(dec) * math.cos(ra - ra0)
    if cos_c <= 0:
        return None
    xi = math.cos(dec) * math.sin(ra - ra0) / cos_c
    eta = (
        math.cos(dec0) * math.sin(dec) - math.sin(dec0) * math.cos(dec) * math.cos(ra - ra0)
    ) / cos_c
    return math.degrees(xi), math.degrees(eta)


def _marks(
    points: list[tuple[float, float, str]], centre: tuple[float, float], scale: float
) -> list[dict[str, Any]]:
    """SVG positions (east to the left, north up) of the points inside the plot."""
    size = PLOT_SIZE
    marks = []
    for ra_d, dec_d, label in points:
        offset = _tangent(ra_d, dec_d, centre)
        if offset is None:
            continue
        x = size / 2 - offset[0] * scale
        y = size / 2 - offset[1] * scale
        if 0 <= x <= size and 0 <= y <= size:
            marks.append({"x": round(x, 1), "y": round(y, 1), "label": label})
    return marks


def pointing_plot(
    points: list[tuple[float, float, str]],
    centre: tuple[float, float],
    radius: float,
    error_deg: float | None = None,
) -> dict[str, Any]:
    """Pointings as SVG coordinates on a tangent-plane view around ``centre``, with rings at 5°
    and 10° and, when given, an error circle of ``error_deg`` around the centre.

    Returns the SVG's size, the scale (units per degree), the marks (x, y, label) and the error
    circle's radius in SVG units; x grows to the east (left), as on the sky seen from Earth.
    """
    scale = (PLOT_SIZE / 2 - 20) / max(radius, 1.0)
    return {
        "size": int(PLOT_SIZE),
        "marks": _marks(points, centre, scale),
        "scale": scale,
        "radius": radius,
        "error_r": None if error_deg is None else error_deg * scale,
    }


SCALE_BARS_DEG = (
    [v / 3600 for v in (1, 2, 5, 10, 20, 30)]
    + [v / 60 for v in (1, 2, 5, 10, 20, 30)]
    + [1.0, 2.0, 5.0, 10.0, 20.0, 45.0]
)
"""Lengths a plot's scale bar may have: round numbers of arcseconds, arcminutes, degrees."""


def angle_text(deg: float) -> str:
    """An angle for people: arcseconds, arcminutes or degrees, whichever reads best."""
    if deg < 1 / 60:
        return f"{deg * 3600:.3g}″"
    if deg < 1:
        return f"{deg * 60:.3g}′"
    return f"{deg:.3g}°"


def error_circle_plot(
    centre: tuple[float, float],
    error_deg: float,
    sources: list[tuple[float, float, str]],
) -> dict[str, Any]:
    """A close-up of a position and its error circle: the circle at its true size (filling
    about two thirds of the plot), a scale bar, and the catalogue ``sources`` in the field."""
    half = max(error_deg * 1.5, 1 / 3600)
    scale = (PLOT_SIZE / 2 - 10) / half
    bar = max((b for b in SCALE_BARS_DEG if b <= half * 0.8), default=SCALE_BARS_DEG[0])
    return {
        "size": int(PLOT_SIZE),
        "scale": scale,
        "half_width_deg": half,
        "error_r": error_deg * scale,
        "error_text": angle_text(error_deg),
        "bar": {"length": bar * scale, "text": angle_text(bar)},
        "marks": _marks(sources, centre, scale),
    }


@asynccontextmanager
async def connection(ctx: ServiceContext) -> AsyncIterator[AsyncConnection]:
    """A database connection for one page; 503 when the database is not configured."""
    async with ctx.require_engine().connect() as conn:
        yield conn


# --- SPI-ACS and IREM time series --------------------------------------------------------------

_EVENT_IN_NAME = re.compile(r"grb_?(\d{6})([a-z]?)", re.IGNORECASE)


def stretch_label(file_name: str, revolution: int) -> str:
    """What a delivered time-series file is about, for a link: the GRB its file name names
    (``spiacs_grb230307a.fits`` → ``GRB 230307A``), else its revolution."""
    match = _EVENT_IN_NAME.search(file_name)
    if match:
        return f"GRB {match.group(1)}{match.group(2).upper()}"
    return f"Revolution {revolution:04d}"


def timeseries_instant(value: str, what: str) -> float:
    """IJD of a page's ``start``/``stop``: an ISO 8601 UTC time or an IJD number."""
    try:
        number = float(value)
    except ValueError:
        pass
    else:
        if math.isfinite(number):
            return number
    try:
        return parse_iso(value.strip()) / 86400.0
    except ValueError:
        raise UsageFault(f"{what} must be an ISO 8601 UTC time or an IJD number") from None


def whole_mission(first: float | None, last: float | None) -> tuple[float, float]:
    """The span (IJD) "the whole mission" shows: the mission, widened to the dataset's data."""
    lo = min(MISSION_FIRST_IJD, first) if first is not None else MISSION_FIRST_IJD
    hi = max(MISSION_LAST_IJD, last) if last is not None else MISSION_LAST_IJD
    return lo, hi


def timeseries_window(
    start: str | None, stop: str | None, first: float | None, last: float | None
) -> tuple[float, float]:
    """The window (IJD) a time-series page opens on: the given one, else the whole mission."""
    lo, hi = whole_mission(first, last)
    a = timeseries_instant(start, "start") if start else lo
    b = timeseries_instant(stop, "stop") if stop else hi
    if not b > a:
        raise UsageFault("stop must be after start")
    return a, b


def timeseries_links(dataset: str, parameter: str, a: float, b: float) -> dict[str, str]:
    """Downloads of a window of a dataset: HAPI CSV and the FITS cut (``x_fits``)."""
    common = {"dataset": dataset, "start": utc_iso(a * 86400.0), "stop": utc_iso(b * 86400.0)}
    csv = urlencode({**common, "parameters": parameter})
    return {
        "csv": f"/hapi/data?{csv}",
        "fits": f"/hapi/data?{urlencode({**common, 'format': 'x_fits'})}",
        "json": f"/hapi/data?{urlencode({**common, 'parameters': parameter, 'format': 'json'})}",
    }


def stretches(rows: list[dict[str, Any]], dataset: str) -> list[dict[str, Any]]:
    """A dataset's stretches (one per delivered file) for a page: label, UTC span, the window
    link and the delivered file's URL."""
    out = []
    for r in rows:
        a, b = float(r["t_start"]), float(r["t_stop"])
        pad = max((b - a) * 0.02, 1.0 / 86400.0)
        out.append(
            {
                **r,
                "label": stretch_label(r["file_name"], int(r["revolution"])),
                "start_utc": utc_iso(a * 86400.0)[:19],
                "stop_utc": utc_iso(b * 86400.0)[:19],
                "view": f"/timeseries/{quote(dataset)}?"
                + urlencode({"start": f"{a - pad:.9f}", "stop": f"{b + pad:.9f}"}),
                "file_url": f"/products/timeseries/{r['delivered']}/files/{r['revolution']}",
            }
        )
    return out
