"""SQL of the time-series room: the revolution (file) and segment indexes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.timeseries.segments import Layout, SegmentRef

__all__ = ["Extent", "TimeseriesStore"]


@dataclass(frozen=True)
class Extent:
    """What a dataset holds: its time span and how many real and simulated files."""

    t_first: float | None
    """TT seconds since IJD 0 of the first sample (None: no data)."""
    t_last: float | None
    segments: int
    simulated_segments: int


_SEGMENTS = text(
    "SELECT segment_id, object_key, t0, dt, layout, summary, simulated, revolution, file_id "
    "FROM isla.timeseries_segments WHERE dataset = :d AND t_stop >= :a AND t_start < :b "
    "ORDER BY t_start"
)


class TimeseriesStore:
    """Reads of ``isla.timeseries_files`` and ``isla.timeseries_segments``."""

    def __init__(self, engine: AsyncEngine) -> None:
        """Query through ``engine``."""
        self.engine = engine

    async def segments(self, dataset: str, start: float, stop: float) -> list[SegmentRef]:
        """Segments of ``dataset`` with samples in ``[start, stop)`` (TT s), in time order."""
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    _SEGMENTS, {"d": dataset, "a": start / 86400.0, "b": stop / 86400.0}
                )
            ).all()
        return [
            SegmentRef(
                key=r.object_key,
                t0=float(r.t0),
                dt=float(r.dt),
                layout=Layout.from_json(r.layout),
                summary={k: (v[0], v[1], v[2], int(v[3])) for k, v in (r.summary or {}).items()},
                simulated=bool(r.simulated),
                revolution=int(r.revolution),
                file_id=r.file_id,
            )
            for r in rows
        ]

    async def bucket(self, dataset: str) -> str | None:
        """The bucket of the dataset's segments (one per archive)."""
        async with self.engine.connect() as conn:
            return (
                await conn.execute(
                    text("SELECT bucket FROM isla.timeseries_segments WHERE dataset = :d LIMIT 1"),
                    {"d": dataset},
                )
            ).scalar()

    async def extent(self, dataset: str) -> Extent:
        """Time span and segment counts of ``dataset``."""
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    text(
                        "SELECT min(t0) AS a, max(t0 + (n_samples - 1) * dt) AS b, count(*) AS n, "
                        "count(*) FILTER (WHERE simulated) AS s "
                        "FROM isla.timeseries_segments WHERE dataset = :d"
                    ),
                    {"d": dataset},
                )
            ).one()
        return Extent(
            float(row.a) if row.a is not None else None,
            float(row.b) if row.b is not None else None,
            int(row.n),
            int(row.s),
        )

    async def files(self, dataset: str) -> list[Any]:
        """The delivered files of ``dataset`` in revolution order."""
        async with self.engine.connect() as conn:
            return list(
                (
                    await conn.execute(
                        text(
                            "SELECT file_id, dataset, revolution, instrument, t_start, t_stop, "
                            "n_samples, timedel, bucket, object_key, file_name, size, sha256, "
                            "simulated FROM isla.timeseries_files WHERE dataset = :d "
                            "ORDER BY revolution"
                        ),
                        {"d": dataset},
                    )
                ).all()
            )

    async def file(self, dataset: str, revolution: int) -> Any | None:
        """The delivered file of ``dataset`` for ``revolution``, if held."""
        async with self.engine.connect() as conn:
            return (
                await conn.execute(
                    text(
                        "SELECT file_id, revolution, bucket, object_key, file_name, size, "
                        "sha256, simulated FROM isla.timeseries_files "
                        "WHERE dataset = :d AND revolution = :r"
                    ),
                    {"d": dataset, "r": revolution},
                )
            ).first()

    async def science_window(self, scw_id: str) -> Any | None:
        """Start and end (IJD) of a science window."""
        async with self.engine.connect() as conn:
            return (
                await conn.execute(
                    text(
                        "SELECT scw_id, revolution, start_ijd, end_ijd FROM "
                        "isla.science_windows WHERE scw_id = :s ORDER BY version DESC LIMIT 1"
                    ),
                    {"s": scw_id},
                )
            ).first()
