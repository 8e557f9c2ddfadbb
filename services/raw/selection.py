"""Selections of science windows, resolved to manifests with bound SQL (never user text).

A selection names ScWs by one or more criteria, all of which must hold: explicit ScW ids, an
observation, a revolution or range of revolutions, a proposal, a source (by name or position)
with a maximum off-axis angle, a time range, an instrument. Malformed values are refused with
the expected form named; explicit ids that do not exist are listed.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.raw.manifest import Manifest, ManifestFile
from shared.integral import (
    InvalidIdentifier,
    format_revolution,
    parse_obsid,
    parse_revolution,
    parse_scw_id,
)
from shared.sources import find_source

MAX_IDS = 100_000
"""Most ScW ids one request may list (a whole-mission TAP result is ~300,000 pointings)."""

SHOWN_IDS = 20
"""Explicit ids repeated in a manifest's description of its selection (the rest counted)."""

DEFAULT_RADIUS = 15.0
"""Default largest angle between a source and the pointing axis (deg): the ISGRI field."""

FOV_COLUMN = {
    "isgri": "fov_isgri",
    "picsit": "fov_isgri",
    "jemx": "fov_jemx",
    "jemx1": "fov_jemx",
    "jemx2": "fov_jemx",
    "spi": "fov_spi",
    "omc": "fov_jemx",
}
"""Field of view that must hold a selected position, per instrument (PICsIT shares ISGRI's
mask; OMC's 5 deg field lies inside JEM-X's, the nearest footprint the archive keeps)."""
EXPOSURE = {
    "isgri": "isgri_exposure",
    "picsit": "picsit_exposure",
    "jemx": "coalesce(jemx1_exposure, 0) + coalesce(jemx2_exposure, 0)",
    "jemx1": "jemx1_exposure",
    "jemx2": "jemx2_exposure",
    "spi": "spi_exposure",
    "omc": "omc_exposure",
}
"""An instrument selection keeps the ScWs with exposure of that instrument (from the ScW
index or the ScW's GTI files; a ScW without any is not selected)."""


class SelectionError(ValueError):
    """The selection is malformed (HTTP 400); the message says what is expected."""


class NothingSelectedError(LookupError):
    """The selection is valid but names nothing that exists (HTTP 404)."""


@dataclass
class Selection:
    """Criteria naming science windows; every given criterion must hold."""

    scw: list[str] = field(default_factory=list)
    obsid: str | None = None
    revolution: tuple[int, int] | None = None
    proposal: str | None = None
    source: str | None = None
    ra: float | None = None
    dec: float | None = None
    radius: float | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    instrument: str | None = None
    scw_type: str | None = None

    @property
    def positional(self) -> bool:
        """True when the selection is around a sky position (source name or ra/dec)."""
        return self.source is not None or self.ra is not None

    def describe(self) -> dict[str, Any]:
        """The criteria that were given, for manifests."""
        data = asdict(self)
        if len(self.scw) > SHOWN_IDS:  # a posted TAP result: its ids are the manifest's own
            data["scw"] = [*self.scw[:SHOWN_IDS], f"... ({len(self.scw)} ids in all)"]
        if self.revolution:
            data["revolution"] = [format_revolution(r) for r in self.revolution]
        for key in ("start", "end"):
            if data[key] is not None:
                data[key] = data[key].isoformat()
        return {k: v for k, v in data.items() if v not in (None, [])}

    def label(self) -> str:
        """A short name for files: the main criterion."""
        if len(self.scw) == 1 and not self.positional:
            return self.scw[0].split(".")[0]
        if self.obsid:
            return f"obsid_{self.obsid}"
        if self.proposal:
            return f"proposal_{self.proposal}"
        if self.source:
            return "source_" + re.sub(r"[^A-Za-z0-9+.-]+", "_", self.source).strip("_")
        if self.ra is not None:
            return f"cone_{self.ra:.3f}_{self.dec:+.3f}"
        if self.revolution:
            first, last = self.revolution
            if first == last:
                return f"rev_{format_revolution(first)}"
            return f"rev_{format_revolution(first)}-{format_revolution(last)}"
        return "selection"


def _one(params: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = [v.strip() for v in params.get(name, ()) if v.strip()]
    if len(values) > 1:
        raise SelectionError(f"give {name} once, not {len(values)} times")
    return values[0] if values else None


def _float(value: str | None, name: str, lo: float, hi: float) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        raise SelectionError(f"{name} must be a number in degrees, got {value!r}") from None
    if not lo <= number <= hi:
        raise SelectionError(f"{name} must lie in [{lo:g}, {hi:g}], got {number:g}")
    return number


def _time(value: str | None, name: str) -> dt.datetime | None:
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise SelectionError(
            f"{name} must be an ISO 8601 UTC time such as 2005-03-01T00:00:00, got {value!r}"
        ) from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    return parsed


def _revolutions(value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    try:
        if "-" in value.strip("-"):
            first_s, last_s = value.split("-", 1)
            first, last = parse_revolution(first_s), parse_revolution(last_s)
        else:
            first = last = parse_revolution(value)
    except InvalidIdentifier as exc:
        raise SelectionError(f"{exc} (a range is written 0081-0085)") from exc
    if first > last:
        raise SelectionError(f"revolution range {value!r} is reversed")
    return first, last


def split_ids(values: Sequence[str]) -> list[str]:
    """ScW ids from repeated values, comma/space separated lists or lines of a posted file."""
    ids: list[str] = []
    for value in values:
        for token in re.split(r"[\s,;]+", value):
            token = token.strip().strip('"')
            if token:
                ids.append(token)
    return ids


def parse_selection(params: Mapping[str, Sequence[str]]) -> Selection:
    """Build and validate a selection from request parameters (lists of strings per name)."""
    known = {
        "scw",
        "obsid",
        "revolution",
        "proposal",
        "source",
        "ra",
        "dec",
        "radius",
        "max_offaxis",
        "start",
        "end",
        "instrument",
        "type",
    }
    unknown = sorted(set(params) - known)
    if unknown:
        raise SelectionError(
            f"unknown parameter(s) {', '.join(unknown)}; "
            f"selections take: {', '.join(sorted(known))}"
        )
    sel = Selection()
    raw_ids = split_ids(params.get("scw", ()))
    if len(raw_ids) > MAX_IDS:
        raise SelectionError(f"at most {MAX_IDS} ScW ids per request, got {len(raw_ids)}")
    try:
        sel.scw = list(dict.fromkeys(parse_scw_id(i).full for i in raw_ids))
        obsid = _one(params, "obsid")
        sel.obsid = parse_obsid(obsid).value if obsid else None
    except InvalidIdentifier as exc:
        raise SelectionError(str(exc)) from exc
    sel.revolution = _revolutions(_one(params, "revolution"))
    proposal = _one(params, "proposal")
    if proposal is not None and not re.fullmatch(r"\d{1,16}", proposal):
        raise SelectionError(
            f"proposal must be a proposal id of digits (e.g. 0634000), got {proposal!r}"
        )
    sel.proposal = proposal
    sel.source = _one(params, "source")
    sel.ra = _float(_one(params, "ra"), "ra", 0.0, 360.0)
    sel.dec = _float(_one(params, "dec"), "dec", -90.0, 90.0)
    if (sel.ra is None) != (sel.dec is None):
        raise SelectionError("give both ra and dec (degrees, ICRS)")
    if sel.source and sel.ra is not None:
        raise SelectionError("give a source name or a position (ra, dec), not both")
    radius = _float(_one(params, "radius"), "radius", 0.0, 180.0)
    max_offaxis = _float(_one(params, "max_offaxis"), "max_offaxis", 0.0, 180.0)
    limits = [r for r in (radius, max_offaxis) if r is not None]
    if limits and not sel.positional:
        raise SelectionError("radius and max_offaxis need a source or a position (ra, dec)")
    sel.radius = min(limits) if limits else (DEFAULT_RADIUS if sel.positional else None)
    sel.start = _time(_one(params, "start"), "start")
    sel.end = _time(_one(params, "end"), "end")
    if sel.start and sel.end and sel.start >= sel.end:
        raise SelectionError("start must be before end")
    instrument = _one(params, "instrument")
    if instrument is not None:
        instrument = instrument.lower().replace("-", "")
        if instrument not in FOV_COLUMN:
            raise SelectionError(f"instrument must be one of {', '.join(FOV_COLUMN)}")
    sel.instrument = instrument
    scw_type = _one(params, "type")
    if scw_type is not None and scw_type not in ("pointing", "slew"):
        raise SelectionError("type must be pointing or slew")
    # Slews look at no source: a positional selection means pointings.
    sel.scw_type = scw_type or ("pointing" if sel.positional or instrument else None)
    if not (sel.scw or sel.obsid or sel.revolution or sel.proposal or sel.positional):
        raise SelectionError(
            "select science windows by scw, obsid, revolution, proposal, source or ra/dec"
        )
    return sel


async def resolve_source(conn: AsyncConnection, name: str) -> tuple[str, float, float]:
    """Source id and position for a name, alias or source id; NothingSelectedError if none."""
    match = await find_source(conn, name)
    if match is None:
        raise NothingSelectedError(f"unknown source {name!r}: no name, alias or source id matches")
    return match.source_id, match.ra, match.dec


async def resolve(conn: AsyncConnection, sel: Selection) -> Manifest:
    """The manifest of a selection: its ScWs in time order and all their files."""
    where: list[str] = []
    binds: dict[str, Any] = {}
    join = ""
    if sel.scw:
        # The wanted ids as a relation joined on (scw_id, version): a hash or index join,
        # linear in the number of ids (an "= ANY(array)" test per row would be quadratic).
        binds["ids"] = [s.split(".")[0] for s in sel.scw]
        binds["versions"] = [s.split(".")[1] for s in sel.scw]
        join = (
            "JOIN unnest(CAST(:ids AS text[]), CAST(:versions AS text[])) AS wanted(id, ver) "
            "ON wanted.id = sw.scw_id AND wanted.ver = sw.version "
        )
    if sel.obsid:
        where.append("sw.obsid = :obsid")
        binds["obsid"] = sel.obsid
    if sel.revolution:
        where.append("sw.revolution BETWEEN :rev_first AND :rev_last")
        binds["rev_first"], binds["rev_last"] = sel.revolution
    if sel.proposal:
        where.append("sw.obsid IN (SELECT obsid FROM isla.observations WHERE proposal_id = :prop)")
        binds["prop"] = sel.proposal
    ra, dec = sel.ra, sel.dec
    if sel.source:
        _, ra, dec = await resolve_source(conn, sel.source)
    if ra is not None and dec is not None:
        binds.update(ra=ra, dec=dec, radius=sel.radius)
        # The cone on the pointing axis uses the GiST index on science_windows.pos.
        where.append("sw.pos <@ scircle(spoint(radians(:ra), radians(:dec)), radians(:radius))")
        if sel.instrument:
            where.append(f"sw.{FOV_COLUMN[sel.instrument]} @> spoint(radians(:ra), radians(:dec))")
    if sel.instrument:
        where.append(f"({EXPOSURE[sel.instrument]}) > 0")
    if sel.start:
        where.append("sw.end_time > :start")
        binds["start"] = sel.start
    if sel.end:
        where.append("sw.start_time < :end")
        binds["end"] = sel.end
    if sel.scw_type:
        where.append("sw.scw_type = :scw_type")
        binds["scw_type"] = sel.scw_type
    # Only fixed SQL fragments are joined here; every value travels as a bound parameter.
    sql = (
        "SELECT sw.scw_id, sw.version, f.name, f.object_key, f.size, f.sha256, f.etag, "  # noqa: S608
        "extract(epoch FROM sw.end_time)::bigint AS mtime "
        "FROM isla.science_windows sw "
        f"{join}"
        # Files a verification found corrupt or missing are not served.
        "LEFT JOIN isla.scw_files f ON f.scw_id = sw.scw_id AND f.version = sw.version "
        "AND f.state IN ('verified', 'unverified') "
        f"WHERE {' AND '.join(where) or 'true'} "
        "ORDER BY sw.start_time, sw.scw_id, f.name"
    )
    rows = (await conn.execute(text(sql), binds)).all()
    scws = tuple(dict.fromkeys(f"{r.scw_id}.{r.version}" for r in rows))
    if sel.scw:
        found = set(scws)  # once: a set per id made 100,000 ids a matter of minutes
        missing = [s for s in sel.scw if s not in found]
        if missing:
            shown = ", ".join(missing[:20]) + (" ..." if len(missing) > 20 else "")
            raise NothingSelectedError(f"unknown ScW(s): {shown}")
    if not scws:
        raise NothingSelectedError(f"no science windows match {sel.describe()}")
    files = tuple(
        ManifestFile(r.scw_id, r.version, r.name, r.object_key, r.size, r.sha256, r.mtime, r.etag)
        for r in rows
        if r.name is not None
    )
    return Manifest(sel.label(), scws, files, sel.describe())
