"""GRB catalogues: a current version's entries written to their tables (``isla.grbs``,
``isla.grb_spectral_fits``).

A GRB catalogue is delivered like any catalogue (:mod:`services.ingest.catalogues`: the
interface, validation, versions, ownership, audit); its entries land in
``isla.catalogue_entries``. When a version becomes current (loaded with ``current=true`` or
switched to), :func:`publish` replaces that catalogue's rows in the GRB table of its kind, in
the same transaction. What the generic validation cannot check is checked here and refuses the
delivery (nothing written): trigger times that are no ISO 8601 UTC time, unknown alert types and
models, bins that end before they start. What refers to the rest of the archive is reported
and kept: a burst naming an observation or science window the archive does not hold, a fit of
a burst ``isla.grbs`` does not know, a burst another current catalogue already holds.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

import psycopg
from astropy.time import Time
from psycopg import sql

from shared.integral.time import utc_to_ijd

ALERT_TYPES = ("IBIS", "SPI-ACS", "external")
"""Alert types of ``ibas_grbs``: localised by IBAS in the IBIS field of view; a SPI-ACS trigger
(no localisation of INTEGRAL's own); found and localised by another mission."""

MODELS = {"band": "empirical", "cpl": "empirical", "synchrotron": "physical"}
"""Spectral models of ``spi_grb_fits`` and their class."""

REPORTED = 50
"""Names listed per kind of reference problem in a report (the count says the rest)."""

Refuse = Callable[[list[str]], Exception]


def _float(values: dict[str, Any], key: str) -> float | None:
    value = values.get(key)
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _trigger(text: str) -> datetime | None:
    try:
        return Time(text.strip().rstrip("Z"), format="isot", scale="utc").to_datetime()
    except ValueError:
        return None


def _listed(names: list[str]) -> dict[str, Any]:
    return {"count": len(names), "names": names[:REPORTED]}


def _entries(cur: psycopg.Cursor[Any], catalogue_id: int) -> list[tuple[Any, ...]]:
    return cur.execute(
        "SELECT entry_id, entry_name, ra, dec, pos_err, values FROM isla.catalogue_entries "
        "WHERE catalogue_id = %s ORDER BY entry_id",
        (catalogue_id,),
    ).fetchall()


def publish(
    cur: psycopg.Cursor[Any], catalogue_id: int, target: str, refuse: Refuse
) -> dict[str, Any]:
    """Replace the rows of ``catalogue_id``'s catalogue in ``target`` (``grbs`` or
    ``grb_spectral_fits``) by this version's; return the report (rows, reference problems).
    Raises ``refuse(problems)`` when an entry cannot be published."""
    name = cur.execute(
        "SELECT name FROM isla.catalogues WHERE catalogue_id = %s", (catalogue_id,)
    ).fetchone()[0]  # type: ignore[index]
    if target == "grbs":
        return _publish_grbs(cur, catalogue_id, str(name), refuse)
    if target == "grb_spectral_fits":
        return _publish_fits(cur, catalogue_id, str(name), refuse)
    raise ValueError(f"unknown GRB table {target!r}")


def _publish_grbs(
    cur: psycopg.Cursor[Any], catalogue_id: int, name: str, refuse: Refuse
) -> dict[str, Any]:
    problems: list[str] = []
    rows: list[tuple[Any, ...]] = []
    for entry_id, grb, ra, dec, pos_err, values in _entries(cur, catalogue_id):
        trigger = _trigger(str(values.get("trigger_time", "")))
        if trigger is None:
            problems.append(
                f"{grb}: trigger_time {values.get('trigger_time')!r} is no ISO 8601 UTC time"
            )
            continue
        alert = str(values.get("alert_type", ""))
        if alert not in ALERT_TYPES:
            problems.append(f"{grb}: alert_type {alert!r} is not one of {', '.join(ALERT_TYPES)}")
            continue
        t90 = _float(values, "t90")
        if t90 is not None and t90 <= 0:
            problems.append(f"{grb}: t90 must be positive")
            continue
        rows.append(
            (
                grb,
                trigger,
                utc_to_ijd(trigger),
                ra,
                dec,
                pos_err,
                alert,
                alert == "IBIS",
                _float(values, "peak_flux"),
                _float(values, "fluence"),
                t90,
                _float(values, "significance"),
                values.get("obsid"),
                values.get("scw_id"),
                values.get("position_ref"),
                values.get("time_ref"),
                values.get("notes"),
                catalogue_id,
                name,
                entry_id,
                bool(values.get("simulated", False)),
            )
        )
    if problems:
        raise refuse(problems[:REPORTED])
    cur.execute("DELETE FROM isla.grbs WHERE catalogue_name = %s", (name,))
    taken = {
        str(r[0]): str(r[1])
        for r in cur.execute(
            "SELECT grb_name, catalogue_name FROM isla.grbs WHERE grb_name = ANY(%s)",
            ([r[0] for r in rows],),
        ).fetchall()
    }
    fresh = [r for r in rows if r[0] not in taken]
    cur.executemany(
        "INSERT INTO isla.grbs (grb_name, trigger_time, trigger_ijd, ra, dec, pos_err, "
        "alert_type, ibis_localised, peak_flux, fluence, t90, significance, obsid, scw_id, "
        "position_ref, time_ref, notes, catalogue_id, catalogue_name, entry_id, simulated) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
        "%s, %s)",
        fresh,
    )
    # Bursts naming an observation or ScW the archive does not hold are kept and reported.
    cur.execute(
        "UPDATE isla.grbs g SET observation_known = CASE "
        "WHEN g.obsid IS NULL AND g.scw_id IS NULL THEN NULL "
        "ELSE (g.obsid IS NULL OR EXISTS (SELECT 1 FROM isla.observations o "
        "WHERE o.obsid = g.obsid)) AND (g.scw_id IS NULL OR EXISTS "
        "(SELECT 1 FROM isla.science_windows s WHERE s.scw_id = g.scw_id)) END "
        "WHERE g.catalogue_id = %s",
        (catalogue_id,),
    )
    unknown = cur.execute(
        "SELECT grb_name, obsid, scw_id FROM isla.grbs "
        "WHERE catalogue_id = %s AND observation_known = false ORDER BY grb_name",
        (catalogue_id,),
    ).fetchall()
    return {
        "table": "isla.grbs",
        "rows": len(fresh),
        "unknown_observations": _listed(
            [f"{g} (obsid {o or '-'}, scw {s or '-'})" for g, o, s in unknown]
        ),
        "held_by_other_catalogues": _listed([f"{g} (in {taken[g]!r})" for g in sorted(taken)]),
    }


def _publish_fits(
    cur: psycopg.Cursor[Any], catalogue_id: int, name: str, refuse: Refuse
) -> dict[str, Any]:
    problems: list[str] = []
    rows: list[tuple[Any, ...]] = []
    for entry_id, fit_id, _ra, _dec, _err, values in _entries(cur, catalogue_id):
        model = str(values.get("model", "")).lower()
        if model not in MODELS:
            problems.append(f"{fit_id}: model {model!r} is not one of {', '.join(MODELS)}")
            continue
        t_start, t_stop = _float(values, "t_start"), _float(values, "t_stop")
        if t_start is None or t_stop is None or t_stop <= t_start:
            problems.append(f"{fit_id}: the time bin must have t_start < t_stop")
            continue
        dof = _float(values, "dof")
        rows.append(
            (
                fit_id,
                values["grb_name"],
                model,
                MODELS[model],
                int(values["bin_index"]),
                t_start,
                t_stop,
                *(_float(values, k) for k in _FIT_NUMBERS),
                None if dof is None else int(dof),
                catalogue_id,
                name,
                entry_id,
                bool(values.get("simulated", False)),
            )
        )
    if problems:
        raise refuse(problems[:REPORTED])
    cur.execute("DELETE FROM isla.grb_spectral_fits WHERE catalogue_name = %s", (name,))
    cur.executemany(_FIT_INSERT, rows)
    cur.execute(
        "UPDATE isla.grb_spectral_fits f SET grb_known = EXISTS "
        "(SELECT 1 FROM isla.grbs g WHERE g.grb_name = f.grb_name) WHERE f.catalogue_id = %s",
        (catalogue_id,),
    )
    unknown = cur.execute(
        "SELECT DISTINCT grb_name FROM isla.grb_spectral_fits "
        "WHERE catalogue_id = %s AND NOT grb_known ORDER BY grb_name",
        (catalogue_id,),
    ).fetchall()
    return {
        "table": "isla.grb_spectral_fits",
        "rows": len(rows),
        "bursts": len({r[1] for r in rows}),
        "unknown_grbs": _listed([str(u[0]) for u in unknown]),
    }


_FIT_NUMBERS = (
    "e_peak",
    "e_peak_err",
    "alpha",
    "alpha_err",
    "beta",
    "beta_err",
    "energy_flux",
    "synch_b",
    "synch_index",
    "cstat",
)


_FIT_COLUMNS = (
    "fit_id",
    "grb_name",
    "model",
    "model_class",
    "bin_index",
    "t_start",
    "t_stop",
    *_FIT_NUMBERS,
    "dof",
    "catalogue_id",
    "catalogue_name",
    "entry_id",
    "simulated",
)
_FIT_INSERT = sql.SQL(
    "INSERT INTO isla.grb_spectral_fits ({}, grb_known) VALUES ({}, false)"
).format(
    sql.SQL(", ").join(map(sql.Identifier, _FIT_COLUMNS)),
    sql.SQL(", ").join(sql.Placeholder() * len(_FIT_COLUMNS)),
)


def refresh_fit_links(cur: psycopg.Cursor[Any]) -> None:
    """Re-check which fits' bursts ``isla.grbs`` knows (after the burst list changed)."""
    cur.execute(
        "UPDATE isla.grb_spectral_fits f SET grb_known = EXISTS "
        "(SELECT 1 FROM isla.grbs g WHERE g.grb_name = f.grb_name)"
    )
