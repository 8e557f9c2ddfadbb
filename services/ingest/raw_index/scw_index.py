"""Loading a delivered ScW index (``scw_index/1``): good times and exposures of every ScW;
and ISDC's revolution table (:func:`load_revolution_table`).

The rows are read and checked first (:func:`.exposures.read_scw_index`); then, in **one
transaction**, they are upserted into ``isla_ops.scw_index_entries`` and written into the
science windows already indexed (``isla.science_windows``); ScWs indexed later take theirs when
the indexer registers them. Rows that do not read are reported one by one and left out; a file
without a ScW id column is refused whole, writing nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from astropy.time import Time
from sqlalchemy import Engine, text

from services.ingest.raw_index.exposures import (
    SCW_INDEX_INTERFACE,
    ScwIndexError,
    cell,
    read_scw_index,
)
from services.ingest.raw_index.indexer import set_times
from services.ingest.readers import MalformedFileError, open_table
from shared.integral.time import ijd_to_time, time_to_ijd


@dataclass(frozen=True)
class ScwIndexDelivery:
    """Who delivered which version of the ScW index."""

    name: str
    version: str
    filename: str | None = None
    interface: str = SCW_INDEX_INTERFACE.name

    def label(self) -> str:
        """``interface:name@version``, as recorded with each entry."""
        return f"{self.interface}:{self.name}@{self.version}"


@dataclass
class ScwIndexReport:
    """What one load did."""

    delivery: str
    rows: int = 0
    applied: int = 0
    """Indexed science windows whose good times and exposures were written."""
    problems: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return dict(self.__dict__)


_UPSERT = text(
    "INSERT INTO isla_ops.scw_index_entries (scw_id, version, delivery, scw_type, ra, dec, "
    "times, modes) VALUES (:scw_id, :version, :delivery, :scw_type, :ra, :dec, "
    "CAST(:times AS jsonb), CAST(:modes AS jsonb)) ON CONFLICT (scw_id, version) DO UPDATE SET "
    "delivery = EXCLUDED.delivery, scw_type = EXCLUDED.scw_type, ra = EXCLUDED.ra, "
    "dec = EXCLUDED.dec, times = EXCLUDED.times, modes = EXCLUDED.modes, "
    "delivered_at = timezone('UTC', now())"
)


def load_scw_index(engine: Engine, path: Path, delivery: ScwIndexDelivery) -> ScwIndexReport:
    """Load the ScW index at ``path`` and apply it (see the module text)."""
    rows, problems = read_scw_index(path, delivery.filename)
    report = ScwIndexReport(delivery.label(), rows=len(rows))
    report.problems = [{"object": delivery.filename or "upload", "problem": p} for p in problems]
    with engine.begin() as conn:
        for row in rows:
            conn.execute(
                _UPSERT,
                {
                    "scw_id": row.scw_id,
                    "version": row.version,
                    "delivery": delivery.label(),
                    "scw_type": row.scw_type,
                    "ra": row.ra,
                    "dec": row.dec,
                    "times": json.dumps(row.times),
                    "modes": json.dumps(row.modes),
                },
            )
            report.applied += set_times(conn, row.scw_id, row.version, row.times)
    return report


# --- a delivered revolution table ---------------------------------------------------------------

_REV_NAMES = ("revolution", "revol", "rev", "rev_num")
_START_UTC = ("start_time", "start_utc", "start_date", "date_start")
_END_UTC = ("end_time", "end_utc", "end_date", "date_end")
_START_IJD = ("start_ijd", "tstart", "ijd_start")
_END_IJD = ("end_ijd", "tstop", "ijd_end")

_REVOLUTION_UPSERT = text(
    "INSERT INTO isla.revolutions (revolution, start_time, end_time, start_ijd, end_ijd, "
    "bounds_source) VALUES (:r, :s, :e, :si, :ei, 'revolution_table') "
    "ON CONFLICT (revolution) DO UPDATE SET start_time = EXCLUDED.start_time, "
    "end_time = EXCLUDED.end_time, start_ijd = EXCLUDED.start_ijd, end_ijd = EXCLUDED.end_ijd, "
    "bounds_source = 'revolution_table'"
)


@dataclass
class RevolutionTableReport:
    """What one load of a revolution table did."""

    rows: int = 0
    problems: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return dict(self.__dict__)


def _pick(columns: list[str], names: tuple[str, ...]) -> str | None:
    by_lower = {c.lower(): c for c in columns}
    return next((by_lower[n] for n in names if n in by_lower), None)


def load_revolution_table(
    engine: Engine, path: Path, filename: str | None = None
) -> RevolutionTableReport:
    """Load ISDC's revolution table (revolution, start and end as UTC or IJD) into
    ``isla.revolutions`` with ``bounds_source = 'revolution_table'``, in one transaction.

    Rows that do not read are reported by row number and left out; a table without a
    revolution column or without start and end is refused whole (ScwIndexError).
    """
    try:
        table = open_table(path, filename=filename)
    except (MalformedFileError, OSError, ValueError) as exc:
        raise ScwIndexError(f"the revolution table does not read: {exc}") from exc
    rev_col = _pick(table.columns, _REV_NAMES)
    utc = (_pick(table.columns, _START_UTC), _pick(table.columns, _END_UTC))
    ijd = (_pick(table.columns, _START_IJD), _pick(table.columns, _END_IJD))
    columns = ijd if all(ijd) else utc
    start_col, end_col = columns
    if rev_col is None or start_col is None or end_col is None:
        raise ScwIndexError(
            "a revolution table needs a revolution column and start/end as UTC "
            "(start_time, end_time) or IJD (start_ijd, end_ijd); found: " + ", ".join(table.columns)
        )
    report = RevolutionTableReport()
    params: list[dict[str, Any]] = []
    for chunk in table.chunks:
        for i in range(chunk.size):
            try:
                rev = int(cell(chunk.columns[rev_col][i]))
                first, last = cell(chunk.columns[start_col][i]), cell(chunk.columns[end_col][i])
                if columns is ijd:
                    start, end = ijd_to_time(float(first)).utc, ijd_to_time(float(last)).utc
                else:
                    start, end = Time(str(first), scale="utc"), Time(str(last), scale="utc")
                if not 0 <= rev <= 9999 or not start < end:
                    raise ValueError("revolution out of range or start not before end")
            except (TypeError, ValueError) as exc:
                report.problems.append(
                    {"object": filename or "upload", "problem": f"row {chunk.first_row + i}: {exc}"}
                )
                continue
            params.append(
                {
                    "r": rev,
                    "s": start.to_datetime(),
                    "e": end.to_datetime(),
                    "si": time_to_ijd(start),
                    "ei": time_to_ijd(end),
                }
            )
    if params:
        with engine.begin() as conn:
            conn.execute(_REVOLUTION_UPSERT, params)
    report.rows = len(params)
    return report
