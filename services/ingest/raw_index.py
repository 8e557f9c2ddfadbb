"""Raw-data index: register the science windows found in the object store.

The raw bucket holds each ScW in the archive's layout ``scw/RRRR/RRRRPPPPSSSF.VVV/<file>``
(what ISDC delivers and what the demo generator writes). :func:`index_raw` walks it one
revolution at a time and registers, per revolution and in **one transaction**:

- the revolution (``isla.revolutions``) when missing, from the revolution table;
- the observations the ScWs belong to (``isla.observations``) when missing (target, PI and
  pointing from the group file; an existing observation only has its time span widened);
- every ScW (``isla.science_windows``, upsert) from the keywords of its group file
  ``swg.fits`` (SWID, SW_VER, REVOL, SW_TYPE, OBS_ID, OBJECT, PI_NAME, RA_SCX, DEC_SCX,
  POSANGLE, TSTART, TSTOP in IJD, DATE-OBS, DATE-END in UTC) and the instrument fields of view
  computed from the pointing; per-instrument good times and exposures are not in the group
  file, so values already registered are kept (new ScWs get none);
- its files (``isla.scw_files``, upsert; rows of files no longer in the store are removed)
  with sizes from the listing and SHA-256 from the objects' metadata;
- the run's progress (``isla_ops.raw_index_progress``).

Re-running is safe (upserts), and a run that was killed is resumed by the next run of the same
scope: the revolutions it committed are skipped, the others done, and no row is duplicated.
A session advisory lock on the run keeps two processes from working on one run.
"""

from __future__ import annotations

import io
import logging
import re
import struct
import time as _time
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from astropy.io import fits
from astropy.utils.exceptions import AstropyWarning
from sqlalchemy import Connection, Engine, text

from shared import simulation
from shared.demo.generator import (  # the same footprint geometry as the generated archive
    _ISGRI_SHAPE,
    _JEMX_SHAPE,
    _SPI_SHAPE,
    _footprint,
    _frame,
)
from shared.integral.ids import InvalidIdentifier, ObsId, ScwId
from shared.integral.revolutions import revolution_end, revolution_start
from shared.integral.time import ijd_to_utc, time_to_ijd
from shared.storage import ObjectStore

log = logging.getLogger("isla.ingest.raw_index")

_SCW_DIR = re.compile(r"^scw/(\d{4})/(\d{12})\.(\d{3})/([^/]+)$")
_REV_DIR = re.compile(r"^scw/(\d{4})/$")
_STAT_THREADS = 8
_LOCK_SPACE = 0x5241_5749  # "RAWI": advisory keys of raw-index runs


class RawIndexError(RuntimeError):
    """The store holds something the indexer cannot register (reported per ScW)."""


@dataclass
class RawIndexReport:
    """What one call of :func:`index_raw` did."""

    run_id: int
    scope: str
    resumed: bool = False
    revolutions: int = 0
    revolutions_skipped: int = 0
    scws: int = 0
    files: int = 0
    observations_created: int = 0
    revolutions_created: int = 0
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return dict(self.__dict__)


@dataclass
class _ScwFiles:
    scw: ScwId
    files: dict[str, tuple[str, int]] = field(default_factory=dict)  # name -> (key, size)


def _revolutions(store: ObjectStore, revolution: int | None) -> list[int]:
    if revolution is not None:
        return [revolution]
    found = []
    for entry in store.list(store.raw_bucket, "scw/", recursive=False):
        match = _REV_DIR.match(entry.key)
        if entry.is_dir and match:
            found.append(int(match.group(1)))
    return sorted(found)


def _scws_of(store: ObjectStore, revolution: int) -> list[_ScwFiles]:
    groups: dict[str, _ScwFiles] = {}
    for entry in store.list(store.raw_bucket, f"scw/{revolution:04d}/", recursive=True):
        match = _SCW_DIR.match(entry.key)
        if match is None or entry.is_dir:
            continue
        full = f"{match.group(2)}.{match.group(3)}"
        if full not in groups:
            groups[full] = _ScwFiles(ScwId.parse(full))
        groups[full].files[match.group(4)] = (entry.key, entry.size)
    return [groups[k] for k in sorted(groups)]


def _header(store: ObjectStore, key: str) -> fits.Header:
    data = store.read_bytes(store.raw_bucket, key)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AstropyWarning)
        return fits.getheader(io.BytesIO(data), 0)


def _utc(value: Any) -> datetime:
    return datetime.fromisoformat(str(value).strip()).replace(tzinfo=None)


def _scw_row(
    meta: _ScwFiles, header: fits.Header, files: list[tuple[str, str, int, str]]
) -> dict[str, Any]:
    """The science_windows row of one ScW from its group-file keywords."""
    scw = meta.scw
    if str(header.get("SWID", scw.id)).strip() != scw.id:
        raise RawIndexError(f"{scw.full}: swg.fits says SWID {header.get('SWID')!r}")
    revolution = int(header.get("REVOL", scw.revolution))
    if revolution != scw.revolution:
        raise RawIndexError(f"{scw.full}: swg.fits says REVOL {revolution}")
    sw_type = str(header.get("SW_TYPE", "")).strip().lower() or scw.scw_type
    if sw_type not in ("pointing", "slew"):
        raise RawIndexError(f"{scw.full}: SW_TYPE {header.get('SW_TYPE')!r}")
    obsid = str(header.get("OBS_ID", "")).strip() or None
    if obsid is not None:
        ObsId.parse(obsid)
    ra, dec = float(header["RA_SCX"]), float(header["DEC_SCX"])
    posangle = float(header.get("POSANGLE", 0.0))
    fovs: tuple[str | None, ...] = (None, None, None)
    if sw_type == "pointing":
        frame = _frame(ra, dec, posangle)
        fovs = tuple(_footprint(frame, shape) for shape in (_ISGRI_SHAPE, _JEMX_SHAPE, _SPI_SHAPE))
    start_ijd, end_ijd = float(header["TSTART"]), float(header["TSTOP"])
    # IJD keeps the full precision (DATE-OBS/DATE-END are written to the millisecond); the
    # UTC strings only check that the two agree.
    start_utc = ijd_to_utc(start_ijd).replace(tzinfo=None)
    end_utc = ijd_to_utc(end_ijd).replace(tzinfo=None)
    if abs((start_utc - _utc(header["DATE-OBS"])).total_seconds()) > 1.0:
        raise RawIndexError(f"{scw.full}: DATE-OBS disagrees with TSTART")
    return {
        "scw_id": scw.id,
        "version": scw.version,
        "revolution": revolution,
        "obsid": obsid,
        "scw_type": sw_type,
        "start_time": start_utc,
        "end_time": end_utc,
        "start_ijd": start_ijd,
        "end_ijd": end_ijd,
        "ra": ra,
        "dec": dec,
        "posangle": posangle,
        "fov_isgri": fovs[0],
        "fov_jemx": fovs[1],
        "fov_spi": fovs[2],
        "raw_files": len(files),
        "raw_size": sum(f[2] for f in files),
        "target": str(header.get("OBJECT", "")).strip() or None,
        "pi_name": str(header.get("PI_NAME", "")).strip() or None,
        # The group file speaks for the science window's files: the demo's say SIMDATA = T.
        "simulated": simulation.is_simulated(header.get(simulation.SIMDATA)),
    }


def _read_scw(
    store: ObjectStore, meta: _ScwFiles
) -> tuple[dict[str, Any], list[tuple[str, str, int, str]]]:
    """Group-file keywords and the files' SHA-256 of one ScW (runs in a worker thread)."""
    if "swg.fits" not in meta.files:
        raise RawIndexError(f"{meta.scw.full}: no swg.fits")
    files = []
    for name, (key, size) in sorted(meta.files.items()):
        stored = store.stat(store.raw_bucket, key)
        if stored.sha256 is None:
            raise RawIndexError(f"{key}: no SHA-256 recorded with the object")
        files.append((name, key, size, stored.sha256))
    header = _header(store, meta.files["swg.fits"][0])
    return _scw_row(meta, header, files), files


_SCW_UPSERT = text(
    "INSERT INTO isla.science_windows (scw_id, version, revolution, obsid, scw_type, "
    "start_time, end_time, start_ijd, end_ijd, ra, dec, posangle, fov_isgri, fov_jemx, "
    "fov_spi, raw_files, raw_size) VALUES (:scw_id, :version, :revolution, :obsid, :scw_type, "
    ":start_time, :end_time, :start_ijd, :end_ijd, :ra, :dec, :posangle, "
    "CAST(:fov_isgri AS spoly), CAST(:fov_jemx AS spoly), CAST(:fov_spi AS spoly), :raw_files, "
    ":raw_size) ON CONFLICT (scw_id, version) DO UPDATE SET revolution = EXCLUDED.revolution, "
    "obsid = EXCLUDED.obsid, scw_type = EXCLUDED.scw_type, start_time = EXCLUDED.start_time, "
    "end_time = EXCLUDED.end_time, start_ijd = EXCLUDED.start_ijd, end_ijd = EXCLUDED.end_ijd, "
    "ra = EXCLUDED.ra, dec = EXCLUDED.dec, posangle = EXCLUDED.posangle, "
    "fov_isgri = EXCLUDED.fov_isgri, fov_jemx = EXCLUDED.fov_jemx, fov_spi = EXCLUDED.fov_spi, "
    "raw_files = EXCLUDED.raw_files, raw_size = EXCLUDED.raw_size"
)

_FILE_UPSERT = text(
    "INSERT INTO isla.scw_files (scw_id, version, name, object_key, size, sha256, content_type, "
    "simulated) VALUES (:scw_id, :version, :name, :key, :size, :sha256, :ctype, :simulated) "
    "ON CONFLICT (scw_id, version, name) DO UPDATE SET object_key = EXCLUDED.object_key, "
    "size = EXCLUDED.size, sha256 = EXCLUDED.sha256, content_type = EXCLUDED.content_type, "
    "simulated = EXCLUDED.simulated"
)

_OBS_UPSERT = text(
    "INSERT INTO isla.observations (obsid, proposal_id, pi_name, target_name, start_time, "
    "end_time, rev_start, rev_end, ra, dec, pattern, exposure) VALUES (:obsid, :proposal, "
    ":pi, :target, :start, :end, :rev, :rev, :ra, :dec, 'unknown', "
    ":exposure) ON CONFLICT (obsid) DO UPDATE SET "
    "start_time = LEAST(observations.start_time, EXCLUDED.start_time), "
    "end_time = GREATEST(observations.end_time, EXCLUDED.end_time), "
    "rev_start = LEAST(observations.rev_start, EXCLUDED.rev_start), "
    "rev_end = GREATEST(observations.rev_end, EXCLUDED.rev_end) "
    "RETURNING (xmax = 0) AS created"
)


def _ensure_revolution(conn: Connection, revolution: int) -> bool:
    start, end = revolution_start(revolution), revolution_end(revolution)
    created = conn.execute(
        text(
            "INSERT INTO isla.revolutions (revolution, start_time, end_time, start_ijd, end_ijd) "
            "VALUES (:r, :s, :e, :si, :ei) ON CONFLICT (revolution) DO NOTHING RETURNING 1"
        ),
        {
            "r": revolution,
            "s": start.utc.to_datetime(),
            "e": end.utc.to_datetime(),
            "si": time_to_ijd(start),
            "ei": time_to_ijd(end),
        },
    ).first()
    return created is not None


def _observations(conn: Connection, rows: list[dict[str, Any]]) -> int:
    by_obs: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if row["obsid"]:
            by_obs[row["obsid"]].append(row)
    created = 0
    for obsid, scws in sorted(by_obs.items()):
        pointings = [r for r in scws if r["scw_type"] == "pointing"] or scws
        first = pointings[0]
        result = conn.execute(
            _OBS_UPSERT,
            {
                "obsid": obsid,
                "proposal": ObsId.parse(obsid).proposal_id,
                "pi": first["pi_name"],
                "target": first["target"] or "unknown",
                "start": min(r["start_time"] for r in scws),
                "end": max(r["end_time"] for r in scws),
                "rev": first["revolution"],
                # The group file has no target position; the first pointing stands for it.
                "ra": first["ra"],
                "dec": first["dec"],
                "exposure": round(
                    sum((r["end_ijd"] - r["start_ijd"]) * 86400.0 for r in pointings), 3
                ),
            },
        ).scalar()
        created += int(bool(result))
    return created


def _content_type(name: str) -> str:
    return "application/gzip" if name.endswith(".gz") else "application/fits"


def _index_revolution(
    engine: Engine,
    store: ObjectStore,
    pool: ThreadPoolExecutor,
    run_id: int,
    revolution: int,
    report: RawIndexReport,
) -> None:
    metas = _scws_of(store, revolution)
    results: list[tuple[dict[str, Any], list[tuple[str, str, int, str]]]] = []
    for meta, future in [(m, pool.submit(_read_scw, store, m)) for m in metas]:
        try:
            results.append(future.result())
        except (RawIndexError, InvalidIdentifier, KeyError, ValueError, OSError) as exc:
            report.problems.append(f"{meta.scw.full}: {exc}")
    rows = [r for r, _ in results]
    with engine.begin() as conn:
        report.revolutions_created += int(_ensure_revolution(conn, revolution))
        report.observations_created += _observations(conn, rows)
        n_files = 0
        for row, files in results:
            conn.execute(_SCW_UPSERT, row)
            for name, key, size, sha in files:
                conn.execute(
                    _FILE_UPSERT,
                    {
                        "scw_id": row["scw_id"],
                        "version": row["version"],
                        "name": name,
                        "key": key,
                        "size": size,
                        "sha256": sha,
                        "ctype": _content_type(name),
                        "simulated": row["simulated"],
                    },
                )
            conn.execute(
                text(
                    "DELETE FROM isla.scw_files WHERE scw_id = :s AND version = :v "
                    "AND NOT (name = ANY(:names))"
                ),
                {"s": row["scw_id"], "v": row["version"], "names": [f[0] for f in files]},
            )
            n_files += len(files)
        conn.execute(
            text(
                "INSERT INTO isla_ops.raw_index_progress (run_id, revolution, scws, files) "
                "VALUES (:run, :rev, :scws, :files)"
            ),
            {"run": run_id, "rev": revolution, "scws": len(rows), "files": n_files},
        )
        conn.execute(
            text(
                "UPDATE isla_ops.raw_index_runs SET revolutions_done = revolutions_done + 1, "
                "scws = scws + :scws, files = files + :files WHERE run_id = :run"
            ),
            {"run": run_id, "scws": len(rows), "files": n_files},
        )
    report.revolutions += 1
    report.scws += len(rows)
    report.files += n_files


def _lock_key(run_id: int) -> int:
    return struct.unpack(">q", struct.pack(">ii", _LOCK_SPACE, run_id))[0]


def _claim_run(engine: Engine, lock_conn: Connection, scope: str) -> tuple[int, bool]:
    """An unfinished run of ``scope`` nobody works on (resumed), or a new one."""
    with engine.connect() as conn:
        candidates = list(
            conn.execute(
                text(
                    "SELECT run_id FROM isla_ops.raw_index_runs WHERE scope = :s "
                    "AND status = 'running' ORDER BY run_id"
                ),
                {"s": scope},
            ).scalars()
        )
    for run_id in candidates:
        if lock_conn.execute(
            text("SELECT pg_try_advisory_lock(:k)"), {"k": _lock_key(run_id)}
        ).scalar():
            lock_conn.commit()
            return int(run_id), True
    with engine.begin() as conn:
        run_id = int(
            conn.execute(
                text(
                    "INSERT INTO isla_ops.raw_index_runs (scope, status) VALUES (:s, 'running') "
                    "RETURNING run_id"
                ),
                {"s": scope},
            ).scalar_one()
        )
    lock_conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _lock_key(run_id)})
    lock_conn.commit()
    return run_id, False


def index_raw(
    engine: Engine,
    store: ObjectStore,
    revolution: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> RawIndexReport:
    """Register the ScWs of the raw bucket (all revolutions, or one) in the archive tables.

    Idempotent, batched per revolution (one transaction each), resumable after a crash (see
    the module docstring). Problems with single ScWs (no group file, inconsistent keywords)
    are reported and those ScWs skipped; the rest is registered.
    """
    say = progress or (lambda _m: None)
    began = _time.monotonic()
    scope = "all" if revolution is None else f"{revolution:04d}"
    with engine.connect() as lock_conn:
        run_id, resumed = _claim_run(engine, lock_conn, scope)
        report = RawIndexReport(run_id=run_id, scope=scope, resumed=resumed)
        try:
            revolutions = _revolutions(store, revolution)
            with engine.begin() as conn:
                done = set(
                    conn.execute(
                        text(
                            "SELECT revolution FROM isla_ops.raw_index_progress WHERE run_id = :r"
                        ),
                        {"r": run_id},
                    ).scalars()
                )
                conn.execute(
                    text(
                        "UPDATE isla_ops.raw_index_runs SET revolutions_total = :n "
                        "WHERE run_id = :r"
                    ),
                    {"n": len(revolutions), "r": run_id},
                )
            with ThreadPoolExecutor(_STAT_THREADS, thread_name_prefix="isla-rawidx") as pool:
                for rev in revolutions:
                    if rev in done:
                        report.revolutions_skipped += 1
                        continue
                    _index_revolution(engine, store, pool, run_id, rev, report)
                    say(f"revolution {rev:04d}: {report.scws} science windows so far")
            status = "done"
        except BaseException:
            status = "failed"
            raise
        finally:
            # A run killed outright stays 'running' and is resumed; one that failed on an
            # error is closed as failed (the next run starts afresh, upserting again).
            with engine.begin() as conn:
                conn.execute(
                    text(
                        "UPDATE isla_ops.raw_index_runs SET status = :st, "
                        "finished_at = timezone('UTC', now()) WHERE run_id = :r"
                    ),
                    {"st": status, "r": run_id},
                )
            lock_conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _lock_key(run_id)})
            lock_conn.commit()
    report.seconds = round(_time.monotonic() - began, 3)
    say(
        f"indexed {report.scws} science windows and {report.files} files in "
        f"{report.revolutions} revolutions ({report.revolutions_skipped} already done)"
    )
    return report


def iter_runs(engine: Engine, limit: int = 20) -> Iterator[dict[str, Any]]:
    """The latest raw-index runs, newest first."""
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT * FROM isla_ops.raw_index_runs ORDER BY run_id DESC LIMIT :n"),
            {"n": limit},
        ).mappings()
        for row in rows:
            yield dict(row)
