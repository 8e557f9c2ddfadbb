"""Loading a delivered ScW index (``scw_index/1``): good times and exposures of every ScW.

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

from sqlalchemy import Engine, text

from services.ingest.raw_index.exposures import SCW_INDEX_INTERFACE, read_scw_index
from services.ingest.raw_index.indexer import set_times


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
