"""Merge the current team catalogues into the archive's source list (``isla.sources``).

Each current catalogue version delivered through a declared interface is merged in turn
(reference catalogues first, then ISGRI, JEM-X, SPI and OMC results). For each of its
entries Postgres finds, with pgSphere, the nearest source whose separation is below
``max(floor, k·sqrt(err_entry² + err_source²))`` (position errors in arcmin), and the
sources that already carry one of the entry's names (name, identifier or ``alt_names``,
compared in the form of :func:`shared.integral.normalise_source_name`). Then:

* position and name agree, or only the position matches: the entry joins that source; its
  detection flags are added (``det_*`` become true), its fluxes are stored per band with
  their provenance, its names become aliases, a known class fills an 'unclassified' one;
* nothing matches: a new source is made at the entry's position, id ``JHHMMSS.s±DDMMSS``;
* disagreements are stored in ``isla_ops.merge_conflicts`` and listed in the report, never
  resolved silently: a position match whose names are all new to the source
  (``names_at_one_position``), a name known for a source beyond the position errors
  (``name_at_two_positions``: the entry keeps its own source, the name is not added as an
  alias), and classes that differ (``class_disagreement``: the existing class stays).

Sources made before (the demo generator's, earlier merges') are kept and only gain
information, so a merge can be re-run: flags only turn on, aliases and fluxes are upserted.
The whole merge is one transaction.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from services.ingest.interface import INSTRUMENT_FLAGS, INTERFACES, CatalogueInterface
from shared.db.models import SOURCE_LOAD_COLUMNS
from shared.integral import normalise_source_name, source_id_from_position

Progress = Callable[[float, str], None]

KIND_ORDER = ("reference", "isgri_results", "jemx_results", "spi_results", "omc_variables")
UNKNOWN_CLASSES = {"", "unknown", "unclassified", "unk", "?", "none"}


@dataclass
class MergeOptions:
    """Matching parameters."""

    k: float = 2.0
    """Multiple of the combined position error within which two positions match."""
    floor_arcmin: float = 0.2
    """Smallest match radius (positions given more precisely still match within it)."""
    default_err_arcmin: float = 0.1
    """Position error assumed for entries and sources that give none."""
    max_err_arcmin: float = 30.0
    """Largest position error used (bounds the search radius)."""

    def check(self) -> None:
        """Raise ValueError for parameters outside sensible ranges."""
        if not 0.5 <= self.k <= 10.0:
            raise ValueError(f"k must be within [0.5, 10], got {self.k}")
        if not 0.0 <= self.floor_arcmin <= 60.0:
            raise ValueError(f"floor_arcmin must be within [0, 60], got {self.floor_arcmin}")
        if not 0.0 < self.default_err_arcmin <= 60.0:
            raise ValueError("default_err_arcmin must be within (0, 60]")
        if not 0.0 < self.max_err_arcmin <= 120.0:
            raise ValueError("max_err_arcmin must be within (0, 120]")


def sql_normalised(expr: str) -> str:
    """SQL of :func:`shared.integral.normalise_source_name` applied to ``expr``."""
    return f"replace(replace(replace(lower({expr}), ' ', ''), '_', ''), '-', '')"


def normalise_class(value: str | None) -> str | None:
    """A class worth comparing, or None for unknown/empty ones."""
    if value is None or value.strip().lower() in UNKNOWN_CLASSES:
        return None
    return value.strip()


_MATCH = """
WITH e AS (
    SELECT entry_id, entry_name, values, source_class, pos, ra, dec,
           least(coalesce(pos_err, %(default)s), %(maxerr)s) AS err
    FROM isla.catalogue_entries WHERE catalogue_id = %(cid)s
)
SELECT e.entry_id, e.entry_name, e.values, e.source_class, e.ra, e.dec, e.err,
       p.source_id, p.sep, p.name, p.source_class, p.err
FROM e LEFT JOIN LATERAL (
    SELECT s.source_id, degrees(s.pos <-> e.pos) * 60.0 AS sep, s.name, s.source_class,
           least(coalesce(s.pos_err, %(default)s), %(maxerr)s) AS err
    FROM isla.sources s
    WHERE s.pos @ scircle(e.pos, radians(greatest(%(floor)s,
                %(k)s * sqrt(e.err ^ 2 + %(maxerr)s ^ 2)) / 60.0))
      AND degrees(s.pos <-> e.pos) * 60.0 < greatest(%(floor)s, %(k)s * sqrt(
                e.err ^ 2 + least(coalesce(s.pos_err, %(default)s), %(maxerr)s) ^ 2))
    ORDER BY s.pos <-> e.pos LIMIT 1
) p ON true
ORDER BY e.entry_id
"""

_NAMES = f"""
SELECT n.norm, a.source_id FROM unnest(%(names)s::text[]) AS n(norm)
JOIN isla.source_aliases a ON a.alias_norm = n.norm
UNION
SELECT n.norm, s.source_id FROM unnest(%(names)s::text[]) AS n(norm)
JOIN isla.sources s ON {sql_normalised("s.name")} = n.norm
"""  # noqa: S608 - built from a fixed expression, never from input


@dataclass
class _Entry:
    entry_id: int
    key: str
    name: str
    names: list[str]
    norms: set[str]
    values: dict[str, Any]
    cls: str | None
    ra: float
    dec: float
    err: float


class _Batch:
    """Everything one catalogue's merge writes."""

    def __init__(self) -> None:
        self.new_sources: dict[str, dict[str, Any]] = {}
        self.updates: dict[str, dict[str, Any]] = {}
        self.aliases: set[tuple[str, str, str]] = set()
        self.fluxes: dict[tuple[str, int], tuple[float | None, float | None, int]] = {}
        self.assign: list[tuple[int, str]] = []
        self.conflicts: list[tuple[str, str | None, dict[str, Any]]] = []


def _entry_names(entry_name: str, values: dict[str, Any]) -> list[str]:
    names = [str(values.get("name") or entry_name), entry_name]
    alt = values.get("alt_names")
    if alt:
        names.extend(a.strip() for a in str(alt).split(";") if a.strip())
    unique: list[str] = []
    for name in names:
        if name not in unique:
            unique.append(name)
    return unique


def _flags(interface: CatalogueInterface, values: dict[str, Any]) -> dict[str, bool]:
    flags = dict.fromkeys(INSTRUMENT_FLAGS, False)
    for flag in interface.detections:
        flags[flag] = True
    for column, flag in interface.flag_columns.items():
        if values.get(column) is True:
            flags[flag] = True
    return flags


def _band_ids(cur: psycopg.Cursor[Any]) -> dict[tuple[str, str], int]:
    rows = cur.execute("SELECT band_id, instrument, name FROM isla.energy_bands").fetchall()
    return {(inst, name): int(band) for band, inst, name in rows}


def _current_catalogues(cur: psycopg.Cursor[Any]) -> list[dict[str, Any]]:
    rows = cur.execute(
        "SELECT catalogue_id, name, version, team, kind, n_rows FROM isla.catalogues "
        "WHERE is_current ORDER BY catalogue_id"
    ).fetchall()
    found = [
        {
            "catalogue_id": r[0],
            "name": r[1],
            "version": r[2],
            "team": r[3],
            "kind": r[4],
            "rows": r[5],
        }
        for r in rows
        # GRB catalogues are no source lists: they are written to their own tables.
        if r[4] in INTERFACES and INTERFACES[r[4]].merges
    ]
    order = {kind: i for i, kind in enumerate(KIND_ORDER)}
    found.sort(key=lambda c: (order.get(INTERFACES[c["kind"]].kind, 99), c["catalogue_id"]))
    return found


def _provenance(cat: dict[str, Any], entry: _Entry) -> dict[str, Any]:
    return {
        "catalogue": cat["name"],
        "version": cat["version"],
        "catalogue_id": cat["catalogue_id"],
        "entry_id": entry.entry_id,
        "entry": entry.name,
    }


def _merge_catalogue(
    cur: psycopg.Cursor[Any],
    cat: dict[str, Any],
    options: MergeOptions,
    bands: dict[tuple[str, str], int],
) -> tuple[_Batch, dict[str, int]]:
    interface = INTERFACES[cat["kind"]]
    params = {
        "cid": cat["catalogue_id"],
        "default": options.default_err_arcmin,
        "maxerr": options.max_err_arcmin,
        "floor": options.floor_arcmin,
        "k": options.k,
    }
    rows = cur.execute(_MATCH, params).fetchall()
    entries: list[tuple[_Entry, tuple[Any, ...] | None]] = []
    all_names: set[str] = set()
    for r in rows:
        values = r[2] or {}
        names = _entry_names(r[1], values)
        norms = {normalise_source_name(n) for n in names}
        entry = _Entry(
            r[0], r[1], names[0], names, norms, values, normalise_class(r[3]), r[4], r[5], r[6]
        )
        all_names.update(norms)
        entries.append((entry, (r[7], r[8], r[9], r[10], r[11]) if r[7] else None))
    by_name: dict[str, set[str]] = defaultdict(set)
    for norm, source_id in cur.execute(_NAMES, {"names": sorted(all_names)}).fetchall():
        by_name[norm].add(source_id)
    known_names: dict[str, set[str]] = defaultdict(set)
    for norm, ids in by_name.items():
        for source_id in ids:
            known_names[source_id].add(norm)
    flux_columns = [c for c in interface.columns if c.band is not None]
    batch = _Batch()
    counts = {"entries": len(entries), "matched": 0, "new": 0, "conflicts": 0}
    taken: dict[str, int] = {}  # source -> first entry of this catalogue that joined it
    for entry, match in entries:
        prov = _provenance(cat, entry)
        norms = entry.norms
        # Most entries carry no known name: no sets are built for them.
        hits = [by_name[n] for n in norms if n in by_name]
        named: set[str] = set().union(*hits) if hits else set()
        target: str | None = None
        if match is not None:
            target = match[0]
            others = named - {target}
            if others:
                batch.conflicts.append(
                    (
                        "name_at_two_positions",
                        target,
                        {
                            "name": entry.name,
                            "entry": prov,
                            "name_belongs_to": sorted(others),
                            "position_matches": target,
                            "separation_arcmin": round(float(match[1]), 4),
                        },
                    )
                )
            elif not (norms & known_names.get(target, set())) and not named:
                batch.conflicts.append(
                    (
                        "names_at_one_position",
                        target,
                        {
                            "source_name": match[2],
                            "entry_names": entry.names,
                            "entry": prov,
                            "separation_arcmin": round(float(match[1]), 4),
                        },
                    )
                )
            if target in taken:
                batch.conflicts.append(
                    (
                        "names_at_one_position",
                        target,
                        {
                            "reason": "two entries of one catalogue match the same source",
                            "first_entry_id": taken[target],
                            "entry": prov,
                        },
                    )
                )
            if (
                entry.cls
                and normalise_class(match[3])
                and entry.cls.lower() != str(match[3]).lower()
            ):
                batch.conflicts.append(
                    (
                        "class_disagreement",
                        target,
                        {
                            "source_class": match[3],
                            "entry_class": entry.cls,
                            "entry": prov,
                        },
                    )
                )
            counts["matched"] += 1
        else:
            if named:
                batch.conflicts.append(
                    (
                        "name_at_two_positions",
                        None,
                        {
                            "name": entry.name,
                            "entry": prov,
                            "name_belongs_to": sorted(named),
                            "reason": "the name is known for a source beyond the position errors",
                        },
                    )
                )
            target = source_id_from_position(entry.ra, entry.dec)
            if target in batch.new_sources:
                batch.conflicts.append(
                    (
                        "names_at_one_position",
                        target,
                        {
                            "reason": "two entries of one catalogue at one position",
                            "entry": prov,
                        },
                    )
                )
            else:
                batch.new_sources[target] = {
                    "source_id": target,
                    "name": entry.name,
                    "ra": entry.ra,
                    "dec": entry.dec,
                    "pos_err": entry.err,
                    "class": entry.cls or "unclassified",
                    "entry_id": entry.entry_id,
                    "provenance": {"position": prov},
                }
                counts["new"] += 1
        taken.setdefault(target, entry.entry_id)
        batch.assign.append((entry.entry_id, target))
        flags = _flags(interface, entry.values)
        update = batch.updates.setdefault(
            target, {"flags": dict.fromkeys(INSTRUMENT_FLAGS, False), "class": None, "prov": {}}
        )
        for flag, on in flags.items():
            if on:
                update["flags"][flag] = True
                update["prov"].setdefault(f"det_{flag}", prov)
        if entry.cls and update["class"] is None:
            update["class"] = entry.cls
            update["prov"].setdefault("class", prov)
        # A name that also belongs to another source is not added: it would resolve twice.
        name_ok = not (named - {target})
        if name_ok:
            # A team's own identifiers (kinds keyed by id) are no source names.
            aliases = entry.names if interface.key == "name" else entry.names[:1]
            for name in aliases:
                batch.aliases.add((target, name, normalise_source_name(name)))
        for col in flux_columns:
            flux = entry.values.get(col.name)
            if flux is None or col.band is None:
                continue
            band = bands.get(col.band)
            if band is None:
                continue
            err = entry.values.get(f"{col.name}_err")
            batch.fluxes[(target, band)] = (float(flux), err, entry.entry_id)
    counts["conflicts"] = len(batch.conflicts)
    return batch, counts


def _copy(cur: psycopg.Cursor[Any], table: str, columns: tuple[str, ...], rows: Any) -> None:
    with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _write_batch(
    cur: psycopg.Cursor[Any], cat: dict[str, Any], batch: _Batch, merge_id: int
) -> None:
    cid = cat["catalogue_id"]
    # Ids already taken by sources outside this batch join them instead of failing.
    if batch.new_sources:
        existing = {
            r[0]
            for r in cur.execute(
                "SELECT source_id FROM isla.sources WHERE source_id = ANY(%s)",
                (list(batch.new_sources),),
            ).fetchall()
        }
        for source_id in existing:
            del batch.new_sources[source_id]
    # New sources are written with their flags, class and provenance at once: updating a
    # million rows just made would cost as much again.
    for source_id, new in batch.new_sources.items():
        update = batch.updates.pop(source_id, None)
        if update is None:
            continue
        new["flags"] = update["flags"]
        if update["class"]:
            new["class"] = update["class"]
        new["provenance"] = {**update["prov"], **new["provenance"]}
    _copy(
        cur,
        "isla.sources",
        (*SOURCE_LOAD_COLUMNS, "entry_id", "provenance"),
        (
            (
                s["source_id"],
                s["name"],
                s["ra"],
                s["dec"],
                s["pos_err"],
                s["class"],
                *(s.get("flags", {}).get(f, False) for f in INSTRUMENT_FLAGS),
                cid,
                s["entry_id"],
                json.dumps(s["provenance"]),
            )
            for s in batch.new_sources.values()
        ),
    )
    cur.execute(
        "CREATE TEMP TABLE IF NOT EXISTS merge_updates (source_id text, det_isgri bool, "
        "det_picsit bool, det_jemx bool, det_spi bool, det_omc bool, cls text, prov jsonb) "
        "ON COMMIT DROP"
    )
    cur.execute("TRUNCATE merge_updates")
    _copy(
        cur,
        "merge_updates",
        ("source_id", "det_isgri", "det_picsit", "det_jemx", "det_spi", "det_omc", "cls", "prov"),
        (
            (
                sid,
                *(u["flags"][f] for f in INSTRUMENT_FLAGS),
                u["class"],
                json.dumps(u["prov"]),
            )
            for sid, u in batch.updates.items()
        ),
    )
    cur.execute(
        "UPDATE isla.sources s SET det_isgri = s.det_isgri OR u.det_isgri, "
        "det_picsit = s.det_picsit OR u.det_picsit, det_jemx = s.det_jemx OR u.det_jemx, "
        "det_spi = s.det_spi OR u.det_spi, det_omc = s.det_omc OR u.det_omc, "
        "source_class = CASE WHEN s.source_class = 'unclassified' AND u.cls IS NOT NULL "
        "THEN u.cls ELSE s.source_class END, "
        "provenance = u.prov || coalesce(s.provenance, '{}'::jsonb) "
        "FROM merge_updates u WHERE s.source_id = u.source_id"
    )
    cur.execute(
        "CREATE TEMP TABLE IF NOT EXISTS merge_aliases (source_id text, alias text, norm text) "
        "ON COMMIT DROP"
    )
    cur.execute("TRUNCATE merge_aliases")
    _copy(cur, "merge_aliases", ("source_id", "alias", "norm"), sorted(batch.aliases))
    cur.execute(
        "INSERT INTO isla.source_aliases (source_id, alias, alias_norm, catalogue_id) "
        "SELECT source_id, alias, norm, %s FROM merge_aliases ON CONFLICT DO NOTHING",
        (cid,),
    )
    cur.execute(
        "CREATE TEMP TABLE IF NOT EXISTS merge_fluxes (source_id text, band_id smallint, "
        "flux float8, flux_err float8, entry_id bigint) ON COMMIT DROP"
    )
    cur.execute("TRUNCATE merge_fluxes")
    _copy(
        cur,
        "merge_fluxes",
        ("source_id", "band_id", "flux", "flux_err", "entry_id"),
        ((s, b, f, e, eid) for (s, b), (f, e, eid) in batch.fluxes.items()),
    )
    cur.execute(
        "INSERT INTO isla.source_fluxes "
        "(source_id, band_id, catalogue_id, flux, flux_err, detected, entry_id) "
        "SELECT source_id, band_id, %s, flux, flux_err, true, entry_id FROM merge_fluxes "
        "ON CONFLICT (source_id, band_id, catalogue_id) DO UPDATE SET flux = EXCLUDED.flux, "
        "flux_err = EXCLUDED.flux_err, entry_id = EXCLUDED.entry_id",
        (cid,),
    )
    cur.execute(
        "CREATE TEMP TABLE IF NOT EXISTS merge_assign (entry_id bigint, source_id text) "
        "ON COMMIT DROP"
    )
    cur.execute("TRUNCATE merge_assign")
    _copy(cur, "merge_assign", ("entry_id", "source_id"), batch.assign)
    cur.execute(
        "UPDATE isla.catalogue_entries e SET source_id = a.source_id FROM merge_assign a "
        "WHERE e.entry_id = a.entry_id AND e.source_id IS DISTINCT FROM a.source_id"
    )
    _copy(
        cur,
        "isla_ops.merge_conflicts",
        ("merge_id", "kind", "source_id", "detail"),
        ((merge_id, kind, sid, json.dumps(detail)) for kind, sid, detail in batch.conflicts),
    )


def merge_catalogues(
    conninfo: str,
    options: MergeOptions | None = None,
    team: str | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Merge every current catalogue version into the source list; returns the report."""
    options = options or MergeOptions()
    options.check()
    say: Progress = progress or (lambda _f, _m: None)
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        # One merge at a time: two would match against each other's half-written sources.
        cur.execute("SELECT pg_advisory_xact_lock(hashtext('isla.merge'))")
        catalogues = _current_catalogues(cur)
        bands = _band_ids(cur)
        merge_id = cur.execute(
            "INSERT INTO isla_ops.merge_runs (team, catalogues) VALUES (%s, %s) RETURNING merge_id",
            (team, json.dumps(catalogues)),
        ).fetchone()[0]  # type: ignore[index]
        # Fluxes of versions that are no longer current would mix with the current ones.
        cur.execute(
            "DELETE FROM isla.source_fluxes f USING isla.catalogues c "
            "WHERE f.catalogue_id = c.catalogue_id AND NOT c.is_current "
            "AND c.name IN (SELECT name FROM isla.catalogues WHERE is_current)"
        )
        per_catalogue = []
        total = {"entries": 0, "matched": 0, "new": 0, "conflicts": 0}
        for i, cat in enumerate(catalogues):
            say(i / max(1, len(catalogues)), f"merging {cat['name']}@{cat['version']}")
            batch, counts = _merge_catalogue(cur, cat, options, bands)
            _write_batch(cur, cat, batch, merge_id)
            per_catalogue.append({**cat, **counts})
            for key in total:
                total[key] += counts[key]
        conflicts = cur.execute(
            "SELECT kind, count(*) FROM isla_ops.merge_conflicts WHERE merge_id = %s "
            "GROUP BY kind ORDER BY kind",
            (merge_id,),
        ).fetchall()
        report = {
            "merge_id": merge_id,
            "options": options.__dict__,
            "catalogues": per_catalogue,
            "totals": total,
            "conflicts_by_kind": {k: int(n) for k, n in conflicts},
            "sources": cur.execute("SELECT count(*) FROM isla.sources").fetchone()[0],  # type: ignore[index]
        }
        cur.execute(
            "UPDATE isla_ops.merge_runs SET report = %s WHERE merge_id = %s",
            (json.dumps(report, default=str), merge_id),
        )
        conn.commit()
    say(1.0, "merged")
    return report
