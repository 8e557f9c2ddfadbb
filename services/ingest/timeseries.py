"""Ingestion of SPI-ACS and IREM time series: one FITS file per revolution and dataset.

A delivery is checked (:func:`shared.timeseries.fitsio.read_delivered`: extension ``RATE``,
``TIMESYS = 'TT'``, ``MJDREF = 51544``, strictly increasing ``TIME``, the dataset's columns; all
samples inside one revolution of the archive's revolution table), stored as delivered in the
products bucket, and registered in ``isla.timeseries_files``. Then its serving copy is built at
once: the samples are split into segments at every gap or change of time step, each segment is
written as one object with its pyramid, and ``isla.timeseries_segments`` indexes them. SPI-ACS
deliveries also produce the archive's 2 s and 10 s rebinned datasets.

Idempotent: the same file again is ``unchanged``; another file for a dataset and revolution
already held needs ``replace``. Database rows change in one transaction; segment objects of a
replaced file are removed after it commits. :func:`rebuild_serving` rebuilds every serving
copy from the stored files (the serving copy is a cache of them).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, Engine, text

from services.ingest.refusal import DeliveryRefused
from shared.integral.time import ijd_to_time, revolution_at
from shared.storage import ObjectStore
from shared.timeseries.datasets import DATASETS, Dataset
from shared.timeseries.fitsio import Delivered, read_delivered
from shared.timeseries.segments import build_segment, rebin, split_runs

log = logging.getLogger("isla.ingest.timeseries")

__all__ = [
    "INSTRUMENT_DATASET",
    "TimeseriesRefused",
    "TimeseriesResult",
    "ingest_file",
    "ingest_reference_timeseries",
    "load_timeseries",
    "rebuild_serving",
]

INSTRUMENT_DATASET = {"SPI-ACS": "spiacs_50ms", "IREM": "irem"}
"""The delivered dataset of each instrument."""

DERIVED = {"spiacs_50ms": ("spiacs_2s", "spiacs_10s")}
"""Datasets the archive derives from a delivered one."""

PREFIX = "timeseries"
"""Key prefix of delivered files and serving segments in the products bucket."""

TIME_TOLERANCE = 1e-3
"""Fraction of the time step by which a delivered time may differ from its segment's grid."""

MAX_ROWS = 20_000_000
"""Most rows one revolution file may hold (50 ms over 3 days is 5.2 million)."""

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,120}\.fits(\.gz)?")


class TimeseriesRefused(DeliveryRefused):
    """The delivery is refused; ``problems`` lists every reason."""


@dataclass
class TimeseriesResult:
    """What one delivery did."""

    file_id: str
    dataset: str
    revolution: int
    status: str
    """``created``, ``replaced`` or ``unchanged``."""
    simulated: bool
    sha256: str
    size: int
    segments: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON form of the result."""
        return {
            "file_id": self.file_id,
            "dataset": self.dataset,
            "revolution": self.revolution,
            "status": self.status,
            "simulated": self.simulated,
            "sha256": self.sha256,
            "size": self.size,
            "segments": self.segments,
        }


def _refuse(status: int, title: str, file_name: str, *problems: tuple[str, str]) -> None:
    raise TimeseriesRefused(
        status,
        title,
        [{"file": file_name, "code": code, "message": message} for code, message in problems],
    )


def file_id_of(dataset: str, revolution: int) -> str:
    """Identifier of the file of ``dataset`` for ``revolution``."""
    return f"{dataset}_{revolution:04d}"


def _revolution(delivered: Delivered, file_name: str) -> int:
    try:
        first = revolution_at(ijd_to_time(float(delivered.times[0]) / 86400.0))
        last = revolution_at(ijd_to_time(float(delivered.times[-1]) / 86400.0))
    except ValueError as exc:
        _refuse(422, "QC refused the delivery", file_name, ("time", str(exc)))
        raise AssertionError from exc  # unreachable: _refuse raises
    if first != last:
        _refuse(
            422,
            "QC refused the delivery",
            file_name,
            ("revolution", f"the samples span revolutions {first} to {last}; deliver one each"),
        )
    if delivered.revolution is not None and delivered.revolution != first:
        _refuse(
            422,
            "QC refused the delivery",
            file_name,
            ("revolution", f"REVOL = {delivered.revolution} but the samples are in {first}"),
        )
    return first


def check_delivery(
    data: bytes,
    file_name: str,
    dataset: str | None,
    instruments: frozenset[str] | None,
) -> tuple[Delivered, str, int]:
    """QC of one delivered file: its content, dataset and revolution (or TimeseriesRefused)."""
    if not _NAME.fullmatch(file_name or ""):
        _refuse(
            400,
            "Bad request",
            file_name or "-",
            ("file_name", "a plain file name ending in .fits or .fits.gz is required"),
        )
    delivered, problems = read_delivered(data)
    if delivered is None:
        raise TimeseriesRefused(
            422,
            "QC refused the delivery",
            [{"file": file_name, "code": c, "message": m} for c, m in problems],
        )
    target = INSTRUMENT_DATASET[delivered.instrument]
    if dataset is not None and dataset != target:
        _refuse(
            422,
            "QC refused the delivery",
            file_name,
            ("dataset", f"a {delivered.instrument} file belongs to {target}, not {dataset!r}"),
        )
    if instruments is not None and delivered.instrument not in instruments:
        _refuse(
            403,
            "Forbidden",
            file_name,
            ("role", f"this role may not deliver {delivered.instrument} data"),
        )
    if delivered.times.size > MAX_ROWS:
        _refuse(422, "QC refused the delivery", file_name, ("rows", f"more than {MAX_ROWS} rows"))
    return delivered, target, _revolution(delivered, file_name)


def _segment_arrays(
    delivered: Delivered, ds: Dataset
) -> list[tuple[float, float, dict[str, npt.NDArray[Any]]]]:
    """(t0, dt, arrays) of each segment of dataset ``ds`` built from the delivered samples."""
    out: list[tuple[float, float, dict[str, npt.NDArray[Any]]]] = []
    if ds.bin_s is None:
        times, dt, columns = delivered.times, delivered.timedel, delivered.columns
    else:
        centres, rate, error, count = rebin(
            delivered.times, delivered.columns["rate"], delivered.columns["error"], ds.bin_s
        )
        times, dt = centres, ds.bin_s
        columns = {"rate": rate, "error": error, "samples": count}
    for i0, i1 in split_runs(times, dt, dt * TIME_TOLERANCE):
        arrays = {name: np.ascontiguousarray(columns[name][i0:i1]) for name in ds.parameter_names}
        out.append((float(times[i0]), dt, arrays))
    return out


def _build_serving(
    store: ObjectStore, delivered: Delivered, dataset: str, revolution: int, sha256: str
) -> dict[str, list[dict[str, Any]]]:
    """Write the segment objects of ``dataset`` and its derived datasets; their index rows."""
    rows: dict[str, list[dict[str, Any]]] = {}
    for ds_id in (dataset, *DERIVED.get(dataset, ())):
        ds = DATASETS[ds_id]
        rows[ds_id] = []
        for k, (t0, dt, arrays) in enumerate(_segment_arrays(delivered, ds)):
            layout, chunks, summary = build_segment(arrays, ds.plot_parameters)
            key = f"{PREFIX}/serving/{ds_id}/{revolution:04d}/{sha256[:16]}-{k:05d}.seg"
            store.put_bytes(store.products_bucket, key, b"".join(chunks))
            n = layout.n
            rows[ds_id].append(
                {
                    "dataset": ds_id,
                    "revolution": revolution,
                    "t0": t0,
                    "dt": dt,
                    "n": n,
                    "t_start": t0 / 86400.0,
                    "t_stop": (t0 + (n - 1) * dt) / 86400.0,
                    "bucket": store.products_bucket,
                    "key": key,
                    "layout": layout.to_json(),
                    "summary": {p: list(v) for p, v in summary.items()},
                }
            )
    return rows


_INSERT_SEGMENT = text(
    "INSERT INTO isla.timeseries_segments (dataset, file_id, revolution, t0, dt, n_samples, "
    "t_start, t_stop, bucket, object_key, layout, summary, simulated) VALUES (:dataset, "
    ":file_id, :revolution, :t0, :dt, :n, :t_start, :t_stop, :bucket, :key, "
    "CAST(:layout AS jsonb), CAST(:summary AS jsonb), :simulated)"
)


def _register_segments(
    conn: Connection, file_id: str, simulated: bool, rows: dict[str, list[dict[str, Any]]]
) -> None:
    conn.execute(text("DELETE FROM isla.timeseries_segments WHERE file_id = :f"), {"f": file_id})
    params = [
        {
            **row,
            "file_id": file_id,
            "simulated": simulated,
            "layout": json.dumps(row["layout"]),
            "summary": json.dumps(row["summary"]),
        }
        for ds_rows in rows.values()
        for row in ds_rows
    ]
    if params:
        conn.execute(_INSERT_SEGMENT, params)


def _old_keys(conn: Connection, file_id: str) -> list[tuple[str, str]]:
    return [
        (r.bucket, r.object_key)
        for r in conn.execute(
            text("SELECT bucket, object_key FROM isla.timeseries_segments WHERE file_id = :f"),
            {"f": file_id},
        )
    ]


def ingest_file(
    engine: Engine,
    store: ObjectStore,
    data: bytes,
    file_name: str,
    team: str,
    *,
    dataset: str | None = None,
    replace: bool = False,
    instruments: frozenset[str] | None = None,
) -> TimeseriesResult:
    """Check, store, register one delivered file and build its serving copy.

    ``instruments`` limits what the caller may deliver (None: anything). Raises
    :class:`TimeseriesRefused` (400/403/409/422) without writing anything.
    """
    delivered, target, revolution = check_delivery(data, file_name, dataset, instruments)
    sha256 = hashlib.sha256(data).hexdigest()
    file_id = file_id_of(target, revolution)
    with engine.connect() as conn:
        existing = conn.execute(
            text("SELECT sha256, object_key FROM isla.timeseries_files WHERE file_id = :f"),
            {"f": file_id},
        ).first()
    result = TimeseriesResult(
        file_id, target, revolution, "created", delivered.simulated, sha256, len(data)
    )
    if existing is not None and existing.sha256 == sha256:
        result.status = "unchanged"
        return result
    if existing is not None and not replace:
        _refuse(
            409,
            "Conflict",
            file_name,
            ("exists", f"{file_id} is already held with another checksum; use replace"),
        )
    key = f"{PREFIX}/files/{target}/{revolution:04d}/{sha256[:16]}/{file_name}"
    store.put_bytes(store.products_bucket, key, data, "application/fits")
    serving = _build_serving(store, delivered, target, revolution, sha256)
    times = delivered.times
    stale: list[tuple[str, str]] = []
    with engine.begin() as conn:
        if existing is not None:
            stale = _old_keys(conn, file_id)
            stale.append((store.products_bucket, existing.object_key))
            result.status = "replaced"
        conn.execute(
            text(
                "INSERT INTO isla.timeseries_files (file_id, dataset, revolution, instrument, "
                "t_start, t_stop, n_samples, timedel, bucket, object_key, file_name, size, "
                "sha256, simulated, team, meta) VALUES (:f, :d, :r, :i, :a, :b, :n, :td, :bk, "
                ":k, :fn, :s, :h, :sim, :team, CAST(:meta AS jsonb)) "
                "ON CONFLICT (file_id) DO UPDATE SET t_start = EXCLUDED.t_start, "
                "t_stop = EXCLUDED.t_stop, n_samples = EXCLUDED.n_samples, "
                "timedel = EXCLUDED.timedel, object_key = EXCLUDED.object_key, "
                "file_name = EXCLUDED.file_name, size = EXCLUDED.size, "
                "sha256 = EXCLUDED.sha256, simulated = EXCLUDED.simulated, "
                "team = EXCLUDED.team, meta = EXCLUDED.meta, "
                "created_at = timezone('UTC', now())"
            ),
            {
                "f": file_id,
                "d": target,
                "r": revolution,
                "i": delivered.instrument,
                "a": float(times[0]) / 86400.0,
                "b": float(times[-1]) / 86400.0,
                "n": int(times.size),
                "td": delivered.timedel,
                "bk": store.products_bucket,
                "k": key,
                "fn": file_name,
                "s": len(data),
                "h": sha256,
                "sim": delivered.simulated,
                "team": team,
                "meta": _json(delivered.keywords),
            },
        )
        _register_segments(conn, file_id, delivered.simulated, serving)
    current = {row["key"] for rows in serving.values() for row in rows} | {key}
    for bucket, old in stale:
        if old not in current:
            try:
                store.delete(bucket, old)
            except Exception:  # a leftover object is harmless; the index no longer names it
                log.warning("could not delete replaced object %s", old)
    result.segments = {ds: len(rows) for ds, rows in serving.items()}
    return result


def _json(value: dict[str, Any]) -> str:
    return json.dumps(
        {k: (v if isinstance(v, str | int | float | bool) else str(v)) for k, v in value.items()}
    )


def rebuild_serving(engine: Engine, store: ObjectStore, dataset: str | None = None) -> int:
    """Rebuild the serving copy of every stored file (of ``dataset``); returns files rebuilt."""
    with engine.connect() as conn:
        files = conn.execute(
            text(
                "SELECT file_id, dataset, revolution, bucket, object_key, sha256, simulated "
                "FROM isla.timeseries_files WHERE CAST(:d AS text) IS NULL OR dataset = :d "
                "ORDER BY file_id"
            ),
            {"d": dataset},
        ).all()
    for row in files:
        data = store.read_bytes(row.bucket, row.object_key)
        delivered, problems = read_delivered(data)
        if delivered is None:
            log.error("stored file %s no longer reads: %s", row.file_id, problems)
            continue
        serving = _build_serving(store, delivered, row.dataset, row.revolution, row.sha256)
        with engine.begin() as conn:
            _register_segments(conn, row.file_id, row.simulated, serving)
    return len(files)


REAL_FILE = "spiacs_grb230307a.fits"
"""The real SPI-ACS light curve of GRB 230307A shipped with the archive."""


def real_data_file() -> Any:
    """The packaged real SPI-ACS file (see ``shared/data/real/README.md``)."""
    return resources.files("shared") / "data" / "real" / REAL_FILE


def ingest_reference_timeseries(engine: Engine, store: ObjectStore) -> TimeseriesResult:
    """Ingest the real GRB 230307A SPI-ACS file as delivered, real (unsimulated) data."""
    data = real_data_file().read_bytes()
    return ingest_file(engine, store, data, REAL_FILE, "isdc")


@dataclass
class LoadReport:
    """What :func:`load_timeseries` delivered."""

    results: list[TimeseriesResult] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the launcher."""
        done = [r for r in self.results if r.status != "unchanged"]
        real = [r.file_id for r in self.results if not r.simulated]
        return (
            f"time series: {len(self.results)} files ({len(done)} new), real: "
            f"{', '.join(real) or 'none'}"
        )


def load_timeseries(engine: Engine, store: ObjectStore) -> LoadReport:
    """Deliver the demo's simulated time-series files and the real GRB 230307A file."""
    from shared.demo.timeseries import demo_files

    report = LoadReport()
    for name, data in demo_files():
        report.results.append(ingest_file(engine, store, data, name, "isdc"))
    report.results.append(ingest_reference_timeseries(engine, store))
    return report
