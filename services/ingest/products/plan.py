"""Planning a product delivery: who delivers, what, and which product each file becomes.

After QC (:mod:`services.ingest.qc`), :func:`plan_delivery` resolves every file's source, band
and epoch against the archive and gives it its product id and ``isla.products`` row; the
problems found on the way refuse the delivery (:class:`IngestRefused`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from astropy.coordinates import angular_separation
from sqlalchemy import Connection, text

from services.ingest import qc
from shared.integral.ids import InvalidIdentifier, parse_epoch
from shared.maps import healpix
from shared.sources import find_sources_sync

SOURCE_MATCH_DEG = 0.25
"""Largest distance between a file's RA_OBJ/DEC_OBJ and the archive source it names."""

_KIND_SCOPE = {
    "long_timeseries": "mission",
    "omc_lightcurve": "mission",
    "allsky_map": "mission",
}
_EPOCH_KINDS = frozenset({"spectrum", "arf", "rmf", "short_timeseries", "mosaic", "omc_image"})
_POINT_KINDS = frozenset({"long_timeseries", "short_timeseries"})
_POINT_INSTRUMENTS = frozenset({"ISGRI", "JEM-X"})
_SOURCE_IF_NAMED = frozenset({"omc_image"})
"""Kinds that belong to a source when the file names one (OMC postage stamps)."""
SCOPES = ("epoch", "mission", "time_resolved", "grb")
"""What a delivery may say its files cover (``scope``); ``grb``: the products of one burst of
``isla.grbs``, named by the files' ``OBJECT``/``NAME`` (IBAS light curves, SPI spectra)."""
GRB_KINDS = {
    "short_timeseries": "grb_lightcurve",
    "long_timeseries": "grb_lightcurve",
    "spectrum": "grb_spectrum",
    "arf": "arf",
    "rmf": "rmf",
}
"""Product kind of each file kind a GRB delivery may hold."""
SUB_SCW_BIN_S = 600.0
"""Light curves with bins shorter than this cut science windows into pieces (sub-ScW light
curves): they are stored as products, but are not per-ScW points and load none."""


class IngestRefused(Exception):  # noqa: N818 - a refusal, not a crash; carries its HTTP status
    """The delivery is refused; nothing was written."""

    def __init__(self, status: int, title: str, problems: Sequence[qc.Problem]) -> None:
        super().__init__(title)
        self.status = status
        self.title = title
        self.problems = list(problems)


@dataclass(frozen=True)
class DeliveryParams:
    """Metadata sent with a delivery (all optional: most come from the FITS headers)."""

    kind: str | None = None
    source_id: str | None = None
    epoch: str | None = None
    band: str | None = None
    scope: str | None = None
    arf: str | None = None
    rmf: str | None = None
    replace: bool = False
    points: bool = True
    """Load the points of delivered ISGRI/JEM-X light curves and of source-results tables
    (``lc_results``) into the points tables. False
    when the points are the archive's already and the files were made from them (the demo
    pipeline's time series): the files are then stored without touching the points."""


@dataclass(frozen=True)
class Caller:
    """Who delivers: team (recorded as the products' owner) and whether an operator."""

    team: str
    is_operator: bool = False
    instruments: frozenset[str] | None = None  # None: every instrument (isdc, operator)


@dataclass
class PlannedFile:
    """One file of an accepted delivery, ready to be written."""

    facts: qc.FileFacts
    data: bytes
    sha256: str
    row: dict[str, Any]
    status: str = "created"  # created | replaced | restored | unchanged
    load_points: bool = False

    @property
    def product_id(self) -> str:
        """The product this file becomes."""
        return str(self.row["product_id"])


@dataclass
class IngestResult:
    """What a delivery did: one entry per file, and QC's warnings."""

    ingestion: str
    products: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, str]] = field(default_factory=list)
    points: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON form (the API's answer)."""
        return {
            "ingestion": self.ingestion,
            "products": self.products,
            "warnings": self.warnings,
            "points": self.points,
        }


# --- Resolution against the archive ----------------------------------------------------------


def product_id(
    kind: str,
    instrument: str,
    scope: str,
    subject: str,
    *extra: str | None,
) -> str:
    """The stable product id ``kind/instrument/scope/subject[/extra...]``.

    ``scope`` is an epoch ``RRRR_OOOOOOOOOOO`` or ``mission``; ``subject`` a source id (band
    name for mosaics and maps); ``extra`` parts tell apart the files of one product set (the
    JEM-X unit, a non-default band, a mosaic variant).
    """
    return "/".join([kind, instrument, scope, subject, *(e for e in extra if e)])


def _bands(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(
        text("SELECT band_id, instrument, name, e_min, e_max, isla_default FROM isla.energy_bands")
    ).mappings()
    return [dict(r) for r in rows]


def _match_band(
    bands: list[dict[str, Any]], instrument: str, facts: qc.FileFacts, name: str | None
) -> dict[str, Any] | None:
    own = [b for b in bands if b["instrument"] == instrument]
    if name is not None:
        return next((b for b in own if b["name"] == name), None)
    if facts.e_min is None or facts.e_max is None:
        return next((b for b in own if b["isla_default"]), None)
    for band in own:
        tol_lo = max(0.5, 0.05 * band["e_min"])
        tol_hi = max(0.5, 0.05 * band["e_max"])
        if (
            abs(band["e_min"] - facts.e_min) <= tol_lo
            and abs(band["e_max"] - facts.e_max) <= tol_hi
        ):
            return band
    return None


def _map_band(
    bands: list[dict[str, Any]], facts: qc.FileFacts, name: str | None
) -> dict[str, Any] | None:
    """The archive band of a map: named, or matching its E_MIN/E_MAX; None without edges."""
    if name is None and (facts.e_min is None or facts.e_max is None):
        return None
    assert facts.instrument is not None
    return _match_band(bands, facts.instrument, facts, name)


def _band_words(facts: qc.FileFacts) -> str:
    """A band's name from its edges (``508_514``), or ``all`` without them."""
    if facts.e_min is None or facts.e_max is None:
        return "all"
    return "_".join(f"{e:g}".replace(".", "p") for e in (facts.e_min, facts.e_max))


def _resolve_source(
    conn: Connection, facts: qc.FileFacts, given: str | None
) -> tuple[str | None, str | None]:
    """(source_id, problem) from the parameter, the name in the file or its position."""
    if given is not None:
        found = conn.execute(
            text("SELECT source_id FROM isla.sources WHERE source_id = :s"), {"s": given}
        ).scalar()
        return (given, None) if found else (None, f"unknown source_id {given!r}")
    if facts.source_name:
        matches = find_sources_sync(conn, facts.source_name)
        # Only an unambiguous name is trusted: two sources found at the best rank of the
        # precedence (e.g. an alias shared by two entries) leave the position to decide.
        best = [m for m in matches if m.matched_by == matches[0].matched_by] if matches else []
        if len(best) == 1:
            match = best[0]
            if facts.ra is not None and facts.dec is not None:
                distance = math.degrees(
                    angular_separation(
                        *map(math.radians, (match.ra, match.dec, facts.ra, facts.dec))
                    )
                )
                if distance > SOURCE_MATCH_DEG:
                    return None, (
                        f"{facts.source_name!r} is {distance:.2f} deg from the file's "
                        f"RA_OBJ/DEC_OBJ (more than {SOURCE_MATCH_DEG} deg)"
                    )
            return match.source_id, None
    if facts.ra is not None and facts.dec is not None:
        source = conn.execute(
            text(
                "SELECT source_id FROM isla.sources "
                "WHERE pos <@ scircle(spoint(radians(:ra), radians(:dec)), radians(:r)) "
                "ORDER BY pos <-> spoint(radians(:ra), radians(:dec)) LIMIT 1"
            ),
            {"ra": facts.ra, "dec": facts.dec, "r": SOURCE_MATCH_DEG},
        ).scalar()
        if source:
            return str(source), None
    return None, (
        f"no archive source matches {facts.source_name!r} at RA_OBJ/DEC_OBJ: give source_id"
    )


def _content_type(name: str) -> str:
    return "application/gzip" if name.lower().endswith(".gz") else "application/fits"


def plan_delivery(
    conn: Connection,
    report: qc.QcReport,
    files: Sequence[tuple[str, bytes]],
    params: DeliveryParams,
    caller: Caller,
    bucket: str,
) -> tuple[list[PlannedFile], list[qc.Problem]]:
    """Product ids and rows for every file, with the problems found on the way."""
    problems: list[qc.Problem] = []
    bands = _bands(conn)
    data = dict(files)
    planned: list[PlannedFile] = []
    spectrum_sources: dict[str | None, str] = {}
    ordered = sorted(report.files, key=lambda f: f.kind != "spectrum")  # spectra first
    resolved: dict[tuple[Any, ...], tuple[str | None, str | None]] = {}
    bursts: list[str] = []  # the burst a GRB delivery's spectra name, for their responses

    def resolve(facts: qc.FileFacts) -> tuple[str | None, str | None]:
        # The files of a delivery mostly name one source: resolved once.
        key = (facts.source_name, facts.ra, facts.dec)
        if key not in resolved:
            resolved[key] = _resolve_source(conn, facts, params.source_id)
        return resolved[key]

    epoch_param = None
    if params.epoch is not None:
        try:
            epoch_param = str(parse_epoch(params.epoch))
        except InvalidIdentifier as exc:
            problems.append(qc.Problem("-", "epoch", str(exc)))
    for facts in ordered:
        name = facts.file_name
        kind = facts.kind
        if kind is None or facts.instrument is None:
            continue
        if kind == qc.RESULTS_KIND:
            plan, refused = _plan_results(conn, facts, data[name], params, caller, bucket, report)
            problems += refused
            if plan is not None:
                planned.append(plan)
            continue
        if kind == qc.SENSITIVITY_KIND:
            plan, refused = _plan_sensitivity(
                conn, facts, data[name], params, caller, bucket, report, bands
            )
            problems += refused
            if plan is not None:
                planned.append(plan)
            continue
        if params.scope == "grb":
            plan, refused = _plan_grb(conn, facts, data[name], caller, bucket, report, bursts)
            problems += refused
            if plan is not None:
                planned.append(plan)
            continue
        epoch = facts.epoch
        if epoch_param is not None:
            if epoch is not None and epoch != epoch_param:
                problems.append(
                    qc.Problem(name, "epoch", f"file is of epoch {epoch}, not {epoch_param}")
                )
            epoch = epoch_param
        if (
            kind in _EPOCH_KINDS
            and epoch is None
            and params.scope not in ("mission", "time_resolved")
        ):
            problems.append(
                qc.Problem(name, "epoch", "no epoch (REVOL + OBS_ID, file name or epoch=...)")
            )
            continue
        band = None
        map_band: str | None = None
        if kind == "allsky_map":
            # A map's band: one of the archive's when it matches, else its own edges (SPI's
            # line maps, an instrument without light-curve bands); none for an exposure map.
            band = _map_band(bands, facts, params.band)
            map_band = _band_words(facts) if band is None else band["name"]
            if band is None and params.band is not None:
                problems.append(
                    qc.Problem(name, "band", f"no {facts.instrument} band named {params.band!r}")
                )
                continue
        elif kind != "omc_lightcurve" and kind != "omc_image":
            band = _match_band(bands, facts.instrument, facts, params.band)
            if band is None:
                problems.append(
                    qc.Problem(
                        name,
                        "band",
                        f"no {facts.instrument} band matches "
                        f"{params.band or f'{facts.e_min}-{facts.e_max} keV'}",
                    )
                )
                continue
        source_id: str | None = None
        if kind in qc.SOURCE_KINDS:
            source_id, why = resolve(facts)
            if why:
                problems.append(qc.Problem(name, "source", why))
                continue
            if kind == "spectrum" and source_id is not None:
                spectrum_sources[epoch] = source_id
        elif kind in _SOURCE_IF_NAMED and (facts.source_name or facts.ra is not None):
            source_id, why = resolve(facts)
            if why:
                problems.append(qc.Problem(name, "source", why))
                continue
        elif kind in ("arf", "rmf"):
            source_id = params.source_id or spectrum_sources.get(epoch)
            # Without a source, a mission-scope response is the instrument's own (one RMF for
            # every ISGRI spectrum, as INTEGRAL's); any other needs its spectrum.
            if source_id is None and params.scope != "mission":
                problems.append(
                    qc.Problem(
                        name,
                        "source",
                        "a response needs its spectrum or source_id, or scope=mission for "
                        "the instrument's own",
                    )
                )
                continue
        scope = "mission" if params.scope == "mission" or kind in _KIND_SCOPE else epoch
        scope = scope or "mission"
        interval = None
        if params.scope == "time_resolved" and kind == "spectrum":
            # Spectra of one source over consecutive intervals: the interval number (1-based,
            # keyword INTERVAL) is their scope, so that each is a product of its own.
            number = qc._number(facts.keywords.get("INTERVAL"))
            if number is None or number < 1 or number != int(number):
                problems.append(
                    qc.Problem(name, "interval", "a time-resolved spectrum needs INTERVAL >= 1")
                )
                continue
            interval = int(number)
            scope = f"interval{interval:02d}"
        default_band = band is not None and band["isla_default"]
        subject = source_id if source_id is not None else (band["name"] if band else "all")
        if map_band is not None:
            subject = map_band
        if kind in ("arf", "rmf") and source_id is None:
            subject = "instrument"  # the instrument's own response, for every source
        extra_band = (
            None if default_band or band is None or subject == band["name"] else band["name"]
        )
        pid = product_id(
            kind, facts.instrument, scope, subject, facts.unit, extra_band, facts.variant
        )
        meta = facts.meta()
        meta["team"] = caller.team
        meta["qc_warnings"] = sorted({w.code for w in report.warnings if w.file == name})
        if kind == "spectrum":
            meta["scope"] = params.scope or ("epoch" if epoch else "mission")
            for key, word in (("exposure", "EXPOSURE"), ("snr", "SNR")):
                value = qc._number(facts.keywords.get(word))
                if value is not None:
                    meta[key] = value
            if interval is not None:
                meta["interval"] = interval
        if kind == "allsky_map" and facts.healpix is not None:
            meta["maps"] = [
                {
                    "map_id": m.map_id,
                    "column": m.column,
                    "unit": m.unit,
                    "error_column": m.error_column,
                }
                for m in healpix.map_columns(
                    pid, [(str(c), u) for c, u in facts.healpix["columns"]]
                )
            ]
        nscw = qc._number(facts.keywords.get("NSCW"))
        if nscw is not None:
            meta["nscw"] = int(nscw)
        if kind in _POINT_KINDS and facts.timedel_s is not None:
            meta["bin_s"] = round(facts.timedel_s, 3)
        revolution = facts.revolution
        obsid = facts.obsid
        if epoch is not None:
            revolution, obsid = int(epoch[:4]), epoch[5:]
        row = {
            "product_id": pid,
            "kind": kind,
            "instrument": facts.instrument,
            "band_id": band["band_id"] if band else None,
            "source_id": source_id,
            "epoch": epoch if kind in _EPOCH_KINDS else None,
            "revolution": revolution,
            "obsid": obsid,
            "t_min": facts.t_min_mjd,
            "t_max": facts.t_max_mjd,
            "bucket": bucket,
            "object_key": f"products/{pid}/{name}",
            "file_name": name,
            "size": len(data[name]),
            "sha256": "",
            "content_type": _content_type(name),
            "meta": meta,
            "simulated": facts.simulated,
        }
        planned.append(
            PlannedFile(
                facts=facts,
                data=data[name],
                sha256="",
                row=row,
                load_points=params.points
                and kind in _POINT_KINDS
                and facts.instrument in _POINT_INSTRUMENTS
                and not (facts.timedel_s is not None and facts.timedel_s < SUB_SCW_BIN_S),
            )
        )
    ids = [p.product_id for p in planned]
    for dup in sorted({i for i in ids if ids.count(i) > 1}):
        problems.append(qc.Problem(dup, "duplicate", "two files of the delivery are one product"))
    # A spectrum points to its responses by product id (the contract's meta arf/rmf).
    for plan in planned:
        if plan.row["kind"] not in ("spectrum", "grb_spectrum"):
            continue
        for part in ("arf", "rmf"):
            given = getattr(params, part)
            sibling = next(
                (
                    p.product_id
                    for p in planned
                    if p.row["kind"] == part
                    and p.row["epoch"] == plan.row["epoch"]
                    and p.row["source_id"] == plan.row["source_id"]
                ),
                None,
            )
            if sibling or given:
                plan.row["meta"][part] = sibling or given
    return planned, problems


def _find_grb(conn: Connection, name: str | None) -> tuple[Any, str | None]:
    """The ``isla.grbs`` row a GRB product names (spaces ignored), or the problem."""
    if not name:
        return None, "a GRB product names its burst in OBJECT (or NAME)"
    row = conn.execute(
        text(
            "SELECT grb_name, ra, dec, obsid, revolution, observation_known FROM isla.grbs g "
            "LEFT JOIN LATERAL (SELECT revolution FROM isla.science_windows s "
            "WHERE s.scw_id = g.scw_id LIMIT 1) s ON true "
            "WHERE replace(upper(grb_name), ' ', '') = replace(upper(:n), ' ', '')"
        ),
        {"n": name},
    ).first()
    if row is None:
        return None, f"no burst {name!r} in isla.grbs: deliver its catalogue row first"
    return row, None


def _plan_grb(
    conn: Connection,
    facts: qc.FileFacts,
    data: bytes,
    caller: Caller,
    bucket: str,
    report: qc.QcReport,
    bursts: list[str],
) -> tuple[PlannedFile | None, list[qc.Problem]]:
    """A file of one burst's products: ``grb_lightcurve/<instrument>/<burst>/<band>``,
    ``grb_spectrum/<instrument>/<burst>/<interval or integrated>`` and the spectra's
    responses (``rmf/<instrument>/<burst>``), with the burst in ``meta.grb``."""
    name = facts.file_name
    assert facts.kind is not None and facts.instrument is not None
    kind = GRB_KINDS.get(facts.kind)
    if kind is None:
        return None, [
            qc.Problem(
                name,
                "kind",
                f"a GRB delivery holds light curves, spectra and responses, not a {facts.kind}",
            )
        ]
    named = facts.source_name or facts.keywords.get("GRBNAME")
    if named is None and kind in ("arf", "rmf") and bursts:
        named = bursts[0]  # a response belongs to the burst its spectrum names
    grb, why = _find_grb(conn, named)
    if why:
        return None, [qc.Problem(name, "grb", why)]
    if kind == "grb_spectrum":
        bursts.append(str(grb.grb_name))
    subject = str(grb.grb_name).replace(" ", "")
    if kind == "grb_lightcurve":
        extra = f"{facts.e_min:g}-{facts.e_max:g}keV" if facts.e_min and facts.e_max else None
    elif kind == "grb_spectrum":
        number = qc._number(facts.keywords.get("INTERVAL"))
        extra = f"interval{int(number):02d}" if number else "integrated"
    else:
        extra = None
    pid = product_id(kind, facts.instrument, "grb", subject, extra)
    meta = facts.meta()
    meta["team"] = caller.team
    meta["grb"] = grb.grb_name
    # The burst's position (ObsCore takes a product's position from meta when it has no source).
    meta["ra"], meta["dec"] = float(grb.ra), float(grb.dec)
    meta["qc_warnings"] = sorted({w.code for w in report.warnings if w.file == name})
    if facts.timedel_s is not None and kind == "grb_lightcurve":
        meta["bin_s"] = round(facts.timedel_s, 3)
    if kind == "grb_spectrum":
        exposure = qc._number(facts.keywords.get("EXPOSURE"))
        if exposure is not None:
            meta["exposure"] = exposure
    row = {
        "product_id": pid,
        "kind": kind,
        "instrument": facts.instrument,
        "band_id": None,
        "source_id": None,
        "epoch": None,
        "revolution": grb.revolution,
        "obsid": grb.obsid if grb.observation_known else None,
        "t_min": facts.t_min_mjd,
        "t_max": facts.t_max_mjd,
        "bucket": bucket,
        "object_key": f"products/{pid}/{name}",
        "file_name": name,
        "size": len(data),
        "sha256": "",
        "content_type": _content_type(name),
        "meta": meta,
        "simulated": facts.simulated,
    }
    return PlannedFile(facts, data, "", row, load_points=False), []


def results_lookups(
    conn: Connection, facts: qc.FileFacts
) -> tuple[dict[str, qc.ScwSpan], set[str], list[dict[str, Any]]]:
    """The archive facts a results table's rows are checked against: its science windows,
    its sources (only those it names) and the energy bands."""
    rows = facts.results
    if rows is None:
        return {}, set(), []
    scws = {
        str(r.scw_id): qc.ScwSpan(float(r.start_ijd), float(r.end_ijd), int(r.revolution))
        for r in conn.execute(
            text(
                "SELECT scw_id, start_ijd, end_ijd, revolution FROM isla.science_windows "
                "WHERE scw_id = ANY(:ids)"
            ),
            {"ids": np.unique(rows.scw_id).tolist()},
        )
    }
    sources = set(
        conn.execute(
            text("SELECT source_id FROM isla.sources WHERE source_id = ANY(:ids)"),
            {"ids": np.unique(rows.source_id).tolist()},
        ).scalars()
    )
    return scws, sources, _bands(conn)


def results_problems(conn: Connection, report: qc.QcReport) -> list[qc.Problem]:
    """The rows of every readable results table of a delivery checked against the archive
    (unknown sources and ScWs, times outside their ScW, unknown bands)."""
    problems: list[qc.Problem] = []
    for facts in report.files:
        if facts.kind == qc.RESULTS_KIND and facts.results is not None and facts.instrument:
            scws, sources, bands = results_lookups(conn, facts)
            problems += qc.resolve_results(facts, scws, sources, bands)[1]
    return problems


def _plan_results(
    conn: Connection,
    facts: qc.FileFacts,
    data: bytes,
    params: DeliveryParams,
    caller: Caller,
    bucket: str,
    report: qc.QcReport,
) -> tuple[PlannedFile | None, list[qc.Problem]]:
    """A source-results table: every row checked against the archive (the delivery is refused
    with the list of bad rows), then one product of its own, named by instrument and the
    revolutions it covers (``lc_results/<instrument>/revolutions/<first>-<last>``)."""
    rows = facts.results
    assert rows is not None and facts.instrument is not None
    scws, sources, bands = results_lookups(conn, facts)
    band_ids, problems = qc.resolve_results(facts, scws, sources, bands)
    if problems:
        return None, problems
    revolutions = sorted({scws[str(s)].revolution for s in np.unique(rows.scw_id)})
    first, last = revolutions[0], revolutions[-1]
    for key, value in (("REVFIRST", first), ("REVLAST", last)):
        stated = qc._number(facts.keywords.get(key))
        if stated is not None and int(stated) != value:
            problems.append(
                qc.Problem(
                    facts.file_name,
                    "revolution",
                    f"{key} is {int(stated)} but the rows' science windows give {value}",
                )
            )
    if problems:
        return None, problems
    pid = product_id(
        qc.RESULTS_KIND, facts.instrument, "revolutions", f"{first:04d}-{last:04d}", facts.unit
    )
    meta = facts.meta()
    meta["team"] = caller.team
    meta["qc_warnings"] = sorted({w.code for w in report.warnings if w.file == facts.file_name})
    meta["revfirst"], meta["revlast"] = first, last
    if not rows.magnitudes:
        names = {int(b["band_id"]): str(b["name"]) for b in bands}
        meta["bands"] = [names[int(b)] for b in np.unique(band_ids)]
    row = {
        "product_id": pid,
        "kind": qc.RESULTS_KIND,
        "instrument": facts.instrument,
        "band_id": None,
        "source_id": None,
        "epoch": None,
        "revolution": first if first == last else None,
        "obsid": None,
        "t_min": facts.t_min_mjd,
        "t_max": facts.t_max_mjd,
        "bucket": bucket,
        "object_key": f"products/{pid}/{facts.file_name}",
        "file_name": facts.file_name,
        "size": len(data),
        "sha256": "",
        "content_type": _content_type(facts.file_name),
        "meta": meta,
        "simulated": facts.simulated,
    }
    return PlannedFile(facts, data, "", row, load_points=params.points), []


def sensitivity_order(conn: Connection, band_id: int) -> int | None:
    """The HEALPix order of the sensitivity data stored for a band (None when none is)."""
    value = conn.execute(
        text("SELECT hpx_order FROM isla_ops.sensitivity WHERE band_id = :b LIMIT 1"),
        {"b": band_id},
    ).scalar()
    return None if value is None else int(value)


def _plan_sensitivity(
    conn: Connection,
    facts: qc.FileFacts,
    data: bytes,
    params: DeliveryParams,
    caller: Caller,
    bucket: str,
    report: qc.QcReport,
    bands: list[dict[str, Any]],
) -> tuple[PlannedFile | None, list[qc.Problem]]:
    """A sensitivity table: its band, every science window it names checked against the
    archive (revolution too), its HEALPix order the band's (one order per band, so that a
    position is one pixel); one product per instrument, band and revolution span
    (``sensitivity/<instrument>/revolutions/<first>-<last>/<band>``)."""
    rows = facts.sensitivity
    assert rows is not None and facts.instrument is not None
    name = facts.file_name
    band = _match_band(bands, facts.instrument, facts, params.band)
    if band is None:
        return None, [
            qc.Problem(
                name,
                "band",
                f"no {facts.instrument} band matches "
                f"{params.band or f'{facts.e_min}-{facts.e_max} keV'}",
            )
        ]
    problems: list[qc.Problem] = []
    stored = sensitivity_order(conn, int(band["band_id"]))
    if stored is not None and stored != rows.order:
        problems.append(
            qc.Problem(
                name,
                "healpix",
                f"the archive holds {facts.instrument} {band['name']} sensitivity at HEALPix "
                f"order {stored}, not {rows.order}",
            )
        )
    ids = np.unique(rows.scw_id).tolist()
    known = {
        str(r.scw_id): int(r.revolution)
        for r in conn.execute(
            text("SELECT scw_id, revolution FROM isla.science_windows WHERE scw_id = ANY(:ids)"),
            {"ids": ids},
        )
    }
    unknown = [s for s in ids if s not in known]
    if unknown:
        listed = ", ".join(unknown[:10]) + (
            f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        )
        problems.append(qc.Problem(name, "scw", f"science windows not in the archive: {listed}"))
    else:
        wrong = [s for s, r in zip(rows.scw_id, rows.revolution, strict=True) if known[str(s)] != r]
        if wrong:
            problems.append(
                qc.Problem(
                    name, "revolution", f"REVOL disagrees with the archive for ScW {wrong[0]}"
                )
            )
    if problems:
        return None, problems
    first, last = int(rows.revolution.min()), int(rows.revolution.max())
    pid = product_id(
        qc.SENSITIVITY_KIND,
        facts.instrument,
        "revolutions",
        f"{first:04d}-{last:04d}",
        band["name"],
        facts.unit,
    )
    meta = facts.meta()
    meta["team"] = caller.team
    meta["qc_warnings"] = sorted({w.code for w in report.warnings if w.file == name})
    meta["revfirst"], meta["revlast"] = first, last
    row = {
        "product_id": pid,
        "kind": qc.SENSITIVITY_KIND,
        "instrument": facts.instrument,
        "band_id": band["band_id"],
        "source_id": None,
        "epoch": None,
        "revolution": first if first == last else None,
        "obsid": None,
        "t_min": facts.t_min_mjd,
        "t_max": facts.t_max_mjd,
        "bucket": bucket,
        "object_key": f"products/{pid}/{name}",
        "file_name": name,
        "size": len(data),
        "sha256": "",
        "content_type": _content_type(name),
        "meta": meta,
        "simulated": facts.simulated,
    }
    return PlannedFile(facts, data, "", row, load_points=True), []


def existing_responses(conn: Connection, params: DeliveryParams) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for part in ("arf", "rmf"):
        pid = getattr(params, part)
        if pid is None:
            continue
        row = conn.execute(
            text("SELECT kind, meta FROM isla.products WHERE product_id = :p"), {"p": pid}
        ).first()
        if row is None or row.kind != part:
            raise IngestRefused(
                422,
                "Quality control failed",
                [qc.Problem("-", "response", f"no {part} product {pid!r} in the archive")],
            )
        out[part] = dict(row.meta or {})
    return out
