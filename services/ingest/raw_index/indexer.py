"""Raw-data index: register what operators copied into the raw bucket, as ISDC lays it out.

The raw bucket holds ISDC's archive as it is, copied in by any S3 client (``mc mirror``,
``aws s3 sync``, ``rclone``: no ISLA metadata needed):

- ``scw/RRRR/RRRRPPPPSSSF.VVV/<file>``: every file of every science window, any version;
- ``aux/adp/RRRR.VVV/<path>``: the revolution's auxiliary data (orbit, attitude, time
  correlation); the highest version of each revolution is registered;
- ``ic/<instrument>/...`` and ``idx/ic/...``: the instrument-characteristics tree and its
  index, when present (:mod:`.ic`: registered after the revolutions, one folder per
  transaction).

:func:`index_raw` walks it one revolution at a time and registers, per revolution and in **one
transaction**:

- the revolution (``isla.revolutions``), its start and end from its orbit file
  (:mod:`shared.integral.orbit`: the auxiliary orbit file, else a ScW's ``sc_orbit_param``
  table) when there is one, else from the archive's revolution table (``bounds_source``
  ``model``, replaced once the mission's data arrive; a delivered revolution table wins);
- the observations the ScWs belong to (``isla.observations``) when missing;
- every ScW (``isla.science_windows``, upsert) from the keywords of its group file
  ``swg.fits``, with good times and exposures from the delivered ScW index or the ScW's GTI
  files (:mod:`.exposures`);
- its files (``isla.scw_files``) and the revolution's auxiliary files (``isla.aux_files``),
  each with its size, ETag and checksum (:mod:`.checksums`: computed by streaming the object
  in the worker threads, or taken from the store), ``verified`` or ``unverified``;
- the run's progress (``isla_ops.raw_index_progress``).

Bad input is reported per object (:attr:`RawIndexReport.problems`) and leaves nothing half
written: a ScW folder without ``swg.fits``, a malformed group file, an object whose bytes
changed between listing and hashing, or a revolution outside the mission skips that ScW (or
revolution); the rest is indexed. Re-running is safe (upserts; files whose size and ETag are
unchanged are not read again), and a killed run is resumed by the next run of the same scope:
the revolutions it committed are skipped. A session advisory lock keeps two processes from
working on one run.
"""

from __future__ import annotations

import datetime as dt
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
from typing import Any

from astropy.io import fits
from astropy.utils.exceptions import AstropyWarning
from sqlalchemy import Connection, Engine, text

from services.ingest.raw_index.checksums import FileSum, Known, ObjectChangedError, checksum
from services.ingest.raw_index.exposures import TIME_COLUMNS, gti_times, is_gti_file
from services.ingest.raw_index.ic import index_ic
from shared import simulation
from shared.demo.generator import (  # the same footprint geometry as the generated archive
    _ISGRI_SHAPE,
    _JEMX_SHAPE,
    _SPI_SHAPE,
    _footprint,
    _frame,
)
from shared.integral.ids import InvalidIdentifier, ObsId, ScwId
from shared.integral.orbit import OrbitBounds, OrbitFileError, revolution_bounds_from_fits
from shared.integral.revolutions import last_revolution, revolution_end, revolution_start
from shared.integral.time import ijd_to_utc, time_to_ijd
from shared.storage import ListedObject, ObjectNotFound, ObjectStore

log = logging.getLogger("isla.ingest.raw_index")

_SCW_KEY = re.compile(r"^scw/(\d{4})/(\d{12})\.(\d{3})/([^/]+)$")
_AUX_KEY = re.compile(r"^aux/adp/(\d{4})\.(\d{3})/(.+)$")
_REV_DIR = re.compile(r"^scw/(\d{4})/$")
_AUX_DIR = re.compile(r"^aux/adp/(\d{4})\.(\d{3})/$")
_ORBIT_NAME = re.compile(r"orbi", re.IGNORECASE)
DEFAULT_WORKERS = 8
"""Threads that hash objects and read group files (S3 reads wait on the network)."""
_LOCK_SPACE = 0x5241_5749  # "RAWI": advisory keys of raw-index runs

Progress = Callable[[float, str], None]
"""Called with the fraction done (0-1) and a message."""


class RawIndexError(RuntimeError):
    """The store holds something the indexer cannot register (reported per object)."""


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
    aux_files: int = 0
    objects: int = 0
    """Objects listed in the revolutions done."""
    hashed_files: int = 0
    hashed_bytes: int = 0
    """Files and bytes read and hashed in this run (the rest came from the store or an
    earlier run)."""
    unverified_files: int = 0
    observations_created: int = 0
    revolutions_created: int = 0
    revolutions_from_orbit: int = 0
    ic_files: int = 0
    """Files of the instrument-characteristics tree (ic/, idx/ic/) registered."""
    ic_folders: int = 0
    problems: list[dict[str, str]] = field(default_factory=list)
    """One entry per object (or folder) that was not registered: ``object`` and ``problem``."""
    seconds: float = 0.0

    def problem(self, where: str, message: str) -> None:
        """Record a problem with one object or folder."""
        log.warning("raw index: %s: %s", where, message)
        self.problems.append({"object": where, "problem": message})

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return dict(self.__dict__)


@dataclass
class _ScwFiles:
    scw: ScwId
    folder: str
    files: dict[str, ListedObject] = field(default_factory=dict)


@dataclass
class _ScwResult:
    row: dict[str, Any]
    files: list[FileSum]
    times: dict[str, float]
    orbit: OrbitBounds | None = None


@dataclass
class _Context:
    engine: Engine
    store: ObjectStore
    pool: ThreadPoolExecutor
    run_id: int
    hash_files: bool
    report: RawIndexReport


# --- listing ------------------------------------------------------------------------------------


def _revolutions(store: ObjectStore, revolution: int | None, report: RawIndexReport) -> list[int]:
    if revolution is not None:
        return [revolution]
    found: set[int] = set()
    bucket = store.raw_bucket
    for entry in store.list(bucket, "scw/", recursive=False):
        match = _REV_DIR.match(entry.key)
        if entry.is_dir and match:
            found.add(int(match.group(1)))
        else:
            report.problem(entry.key, "not in ISDC's layout scw/RRRR/RRRRPPPPSSSF.VVV/")
    for entry in store.list(bucket, "aux/adp/", recursive=False):
        match = _AUX_DIR.match(entry.key)
        if entry.is_dir and match:
            found.add(int(match.group(1)))
    return sorted(found)


def _scws_of(store: ObjectStore, revolution: int, report: RawIndexReport) -> list[_ScwFiles]:
    groups: dict[str, _ScwFiles] = {}
    for entry in store.list(store.raw_bucket, f"scw/{revolution:04d}/", recursive=True):
        if entry.is_dir:
            continue
        match = _SCW_KEY.match(entry.key)
        if match is None:
            report.problem(entry.key, "not in ISDC's layout scw/RRRR/RRRRPPPPSSSF.VVV/<file>")
            continue
        full = f"{match.group(2)}.{match.group(3)}"
        if full not in groups:
            try:
                scw = ScwId.parse(full)
            except InvalidIdentifier as exc:
                report.problem(entry.key, str(exc))
                continue
            groups[full] = _ScwFiles(scw, f"scw/{revolution:04d}/{full}/")
        groups[full].files[match.group(4)] = entry
    return [groups[k] for k in sorted(groups)]


def _aux_of(store: ObjectStore, revolution: int) -> tuple[str | None, dict[str, ListedObject]]:
    """The highest version of the revolution's auxiliary folder and its files (path -> entry)."""
    versions: dict[str, dict[str, ListedObject]] = defaultdict(dict)
    for entry in store.list(store.raw_bucket, f"aux/adp/{revolution:04d}.", recursive=True):
        match = _AUX_KEY.match(entry.key)
        if entry.is_dir or match is None or int(match.group(1)) != revolution:
            continue
        versions[match.group(2)][match.group(3)] = entry
    if not versions:
        return None, {}
    latest = max(versions)
    return latest, versions[latest]


# --- reading one science window (in a worker thread) --------------------------------------------


def _header(store: ObjectStore, key: str, data: bytes | None = None) -> fits.Header:
    if data is None:
        data = store.read_bytes(store.raw_bucket, key)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AstropyWarning)
            return fits.getheader(io.BytesIO(data), 0)
    except (OSError, ValueError, TypeError) as exc:
        raise RawIndexError(f"malformed group file: {exc}") from exc


def _utc(value: Any) -> dt.datetime:
    return dt.datetime.fromisoformat(str(value).strip()).replace(tzinfo=None)


def _scw_row(meta: _ScwFiles, header: fits.Header, files: list[FileSum]) -> dict[str, Any]:
    """The science_windows row of one ScW from its group-file keywords."""
    scw = meta.scw
    if str(header.get("SWID", scw.id)).strip() != scw.id:
        raise RawIndexError(f"swg.fits says SWID {header.get('SWID')!r}")
    revolution = int(header.get("REVOL", scw.revolution))
    if revolution != scw.revolution:
        raise RawIndexError(f"swg.fits says REVOL {revolution}")
    sw_type = str(header.get("SW_TYPE", "")).strip().lower() or scw.scw_type
    if sw_type not in ("pointing", "slew"):
        raise RawIndexError(f"swg.fits: SW_TYPE {header.get('SW_TYPE')!r}")
    obsid = str(header.get("OBS_ID", "")).strip() or None
    if obsid is not None:
        ObsId.parse(obsid)
    try:
        ra, dec = float(header["RA_SCX"]), float(header["DEC_SCX"])
        posangle = float(header.get("POSANGLE", 0.0))
        start_ijd, end_ijd = float(header["TSTART"]), float(header["TSTOP"])
    except KeyError as exc:
        raise RawIndexError(f"swg.fits lacks the keyword {exc}") from exc
    if not (0.0 <= ra <= 360.0 and -90.0 <= dec <= 90.0) or not start_ijd < end_ijd:
        raise RawIndexError("swg.fits: pointing or times out of range")
    fovs: tuple[str | None, ...] = (None, None, None)
    if sw_type == "pointing":
        frame = _frame(ra, dec, posangle)
        fovs = tuple(_footprint(frame, shape) for shape in (_ISGRI_SHAPE, _JEMX_SHAPE, _SPI_SHAPE))
    # IJD keeps the full precision (DATE-OBS/DATE-END are written to the millisecond); the
    # UTC strings only check that the two agree.
    start_utc = ijd_to_utc(start_ijd).replace(tzinfo=None)
    end_utc = ijd_to_utc(end_ijd).replace(tzinfo=None)
    if "DATE-OBS" in header and abs((start_utc - _utc(header["DATE-OBS"])).total_seconds()) > 1.0:
        raise RawIndexError("swg.fits: DATE-OBS disagrees with TSTART")
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
        "raw_size": sum(f.size for f in files),
        "target": str(header.get("OBJECT", "")).strip() or None,
        "pi_name": str(header.get("PI_NAME", "")).strip() or None,
        # The group file speaks for the science window's files: the demo's say SIMDATA = T.
        "simulated": simulation.is_simulated(header.get(simulation.SIMDATA)),
    }


def _read_scw(
    store: ObjectStore, meta: _ScwFiles, known: dict[str, Known], hash_files: bool
) -> _ScwResult:
    """Checksums, group-file keywords and GTI times of one ScW (runs in a worker thread)."""
    if "swg.fits" not in meta.files:
        raise RawIndexError("no swg.fits: not a complete science window")
    bucket = store.raw_bucket
    files = []
    for name, entry in sorted(meta.files.items()):
        before = known.get(entry.key)
        # The group file's bytes are kept when they are read for hashing: parsed, not re-read.
        files.append(checksum(store, bucket, name, entry, before, hash_files, name == "swg.fits"))
    group = next(f for f in files if f.name == "swg.fits")
    header = _header(store, group.key, group.data)
    row = _scw_row(meta, header, files)
    times: dict[str, float] = {}
    orbit = None
    for name, entry in sorted(meta.files.items()):
        data = None
        if is_gti_file(name):
            data = store.read_bytes(bucket, entry.key)
            try:
                times.update(gti_times(data, row["start_ijd"], row["end_ijd"]))
            except (OSError, ValueError, KeyError, EOFError) as exc:
                raise RawIndexError(f"{name}: malformed GTI file: {exc}") from exc
        elif name.startswith("sc_orbit_param"):
            data = store.read_bytes(bucket, entry.key)
            try:
                orbit = revolution_bounds_from_fits(data)
            except OrbitFileError as exc:
                log.info("%s: %s", entry.key, exc)
    return _ScwResult(row, files, times, orbit)


# --- SQL ----------------------------------------------------------------------------------------

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

# A checksum (re)computed now moves verified_at; one kept from an earlier run does not.
_FILE_COLUMNS = (
    "object_key = EXCLUDED.object_key, size = EXCLUDED.size, sha256 = EXCLUDED.sha256, "
    "state = EXCLUDED.state, checksum_source = EXCLUDED.checksum_source, etag = EXCLUDED.etag, "
    "simulated = EXCLUDED.simulated, verified_at = CASE WHEN {t}.sha256 IS NOT DISTINCT FROM "
    "EXCLUDED.sha256 AND {t}.state = EXCLUDED.state THEN {t}.verified_at "
    "ELSE EXCLUDED.verified_at END"
)
_FILE_UPSERT = text(
    "INSERT INTO isla.scw_files (scw_id, version, name, object_key, size, sha256, state, "  # noqa: S608
    "checksum_source, verified_at, etag, content_type, simulated) VALUES (:scw_id, :version, "
    ":name, :key, :size, :sha256, :state, :source, :verified_at, :etag, :ctype, :simulated) "
    "ON CONFLICT (scw_id, version, name) DO UPDATE SET content_type = EXCLUDED.content_type, "
    + _FILE_COLUMNS.format(t="scw_files")
)
_AUX_UPSERT = text(
    "INSERT INTO isla.aux_files (revolution, name, version, object_key, size, sha256, state, "  # noqa: S608
    "checksum_source, verified_at, etag, simulated) VALUES (:revolution, :name, :version, :key, "
    ":size, :sha256, :state, :source, :verified_at, :etag, :simulated) "
    "ON CONFLICT (revolution, name) DO UPDATE SET version = EXCLUDED.version, "
    + _FILE_COLUMNS.format(t="aux_files")
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

# Bounds from the mission's data replace the model's; a delivered revolution table is ISDC's
# own word and is replaced by nothing but another delivery.
_REVOLUTION_UPSERT = text(
    "INSERT INTO isla.revolutions (revolution, start_time, end_time, start_ijd, end_ijd, "
    "bounds_source) VALUES (:r, :s, :e, :si, :ei, :src) ON CONFLICT (revolution) DO UPDATE SET "
    "start_time = EXCLUDED.start_time, end_time = EXCLUDED.end_time, "
    "start_ijd = EXCLUDED.start_ijd, end_ijd = EXCLUDED.end_ijd, "
    "bounds_source = EXCLUDED.bounds_source "
    "WHERE (revolutions.bounds_source = 'model' AND EXCLUDED.bounds_source <> 'model') "
    "OR (revolutions.bounds_source = EXCLUDED.bounds_source "
    "AND EXCLUDED.bounds_source <> 'model') "
    "RETURNING (xmax = 0) AS created"
)


def ensure_revolution(conn: Connection, revolution: int, bounds: OrbitBounds | None = None) -> bool:
    """Register ``revolution`` (from ``bounds`` when given, else the revolution table); True
    when the row was created. Bounds from an orbit file replace the table's."""
    if bounds is not None:
        start, end, source = bounds.start, bounds.end, "orbit_file"
    else:
        start, end, source = revolution_start(revolution), revolution_end(revolution), "model"
    row = conn.execute(
        _REVOLUTION_UPSERT,
        {
            "r": revolution,
            "s": start.utc.to_datetime(),
            "e": end.utc.to_datetime(),
            "si": time_to_ijd(start),
            "ei": time_to_ijd(end),
            "src": source,
        },
    ).first()
    return bool(row is not None and row[0])


_ensure_revolution = ensure_revolution  # the name other modules and benchmarks import


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


def _known(conn: Connection, revolution: int) -> tuple[dict[str, Known], dict[str, Known]]:
    """The registered files and auxiliary files of a revolution, by object key (found
    through the primary keys: a revolution's ScW ids are the range RRRR00000000-RRRR99999999)."""
    columns = "object_key, size, etag, sha256, state, checksum_source"
    scw = conn.execute(
        text(
            f"SELECT {columns} FROM isla.scw_files "  # noqa: S608 - fixed column names
            "WHERE scw_id >= :lo AND scw_id < :hi"
        ),
        {"lo": f"{revolution:04d}", "hi": f"{revolution + 1:04d}"},
    )
    aux = conn.execute(
        text(f"SELECT {columns} FROM isla.aux_files WHERE revolution = :r"),  # noqa: S608
        {"r": revolution},
    )

    def by_key(rows: Any) -> dict[str, Known]:
        return {r[0]: Known(int(r[1]), r[2], r[3], r[4], r[5]) for r in rows}

    return by_key(scw), by_key(aux)


def index_times(conn: Connection, scws: list[tuple[str, str]]) -> dict[tuple[str, str], Any]:
    """Good times and exposures of the delivered ScW index for ``scws`` ((id, version))."""
    if not scws:
        return {}
    rows = conn.execute(
        text(
            "SELECT e.scw_id, e.version, e.times FROM isla_ops.scw_index_entries e "
            "JOIN unnest(CAST(:ids AS text[]), CAST(:vers AS text[])) AS w(id, ver) "
            "ON w.id = e.scw_id AND w.ver = e.version"
        ),
        {"ids": [s for s, _ in scws], "vers": [v for _, v in scws]},
    )
    return {(r[0], r[1]): dict(r[2]) for r in rows}


def set_times(conn: Connection, scw_id: str, version: str, times: dict[str, Any]) -> int:
    """Write good times and exposures (only the columns given) of one ScW; rows changed."""
    names = [n for n in TIME_COLUMNS if n in times]
    if not names:
        return 0
    assignments = ", ".join(f"{n} = :{n}" for n in names)  # fixed column names only
    result = conn.execute(
        text(
            f"UPDATE isla.science_windows SET {assignments} "  # noqa: S608
            "WHERE scw_id = :scw_id AND version = :version"
        ),
        {**{n: times[n] for n in names}, "scw_id": scw_id, "version": version},
    )
    return int(result.rowcount or 0)


def _file_params(f: FileSum, now: dt.datetime) -> dict[str, Any]:
    return {
        "key": f.key,
        "size": f.size,
        "sha256": f.sha256,
        "state": f.state,
        "source": f.source,
        "verified_at": now if f.sha256 else None,
        "etag": f.etag,
    }


# --- one revolution -----------------------------------------------------------------------------


def _index_revolution(ctx: _Context, revolution: int) -> None:
    store, report = ctx.store, ctx.report
    metas = _scws_of(store, revolution, report)
    aux_version, aux_listed = _aux_of(store, revolution)
    report.objects += sum(len(m.files) for m in metas) + len(aux_listed)
    if not 0 <= revolution <= last_revolution():
        for meta in metas:
            report.problem(meta.folder, f"unknown revolution {revolution:04d}")
        if aux_listed:
            report.problem(f"aux/adp/{revolution:04d}.{aux_version}/", "unknown revolution")
        _commit_progress(ctx, revolution, [], [], None, None, {})
        return
    with ctx.engine.connect() as conn:
        known, known_aux = _known(conn, revolution)
    aux_jobs = [
        (
            path,
            ctx.pool.submit(
                checksum,
                store,
                store.raw_bucket,
                path,
                entry,
                known_aux.get(entry.key),
                ctx.hash_files,
            ),
        )
        for path, entry in sorted(aux_listed.items())
    ]
    scw_jobs = [(m, ctx.pool.submit(_read_scw, store, m, known, ctx.hash_files)) for m in metas]
    aux_sums: list[FileSum] = []
    for path, future in aux_jobs:
        try:
            aux_sums.append(future.result())
        except (ObjectChangedError, ValueError) as exc:
            # StorageUnavailable is not caught: the store went away, the job fails (transient).
            report.problem(aux_listed[path].key, str(exc))
    results: list[_ScwResult] = []
    for meta, scw_future in scw_jobs:
        try:
            results.append(scw_future.result())
        except (
            RawIndexError,
            ObjectChangedError,
            InvalidIdentifier,
            LookupError,
            ValueError,
        ) as exc:
            # KeyError and ObjectNotFound (a GTI or orbit file deleted meanwhile) are lookups.
            report.problem(meta.folder, str(exc))
    bounds = _orbit_bounds(store, revolution, aux_version, aux_sums, results, report)
    _commit_progress(ctx, revolution, results, aux_sums, aux_version, bounds, known_aux)


def _orbit_bounds(
    store: ObjectStore,
    revolution: int,
    aux_version: str | None,
    aux_sums: list[FileSum],
    results: list[_ScwResult],
    report: RawIndexReport,
) -> OrbitBounds | None:
    """The revolution's span from its auxiliary orbit file, else from a ScW's orbit table."""
    candidates: list[OrbitBounds] = []
    for f in aux_sums:
        if _ORBIT_NAME.search(f.name.rsplit("/", 1)[-1]):
            try:
                candidates.append(
                    revolution_bounds_from_fits(store.read_bytes(store.raw_bucket, f.key))
                )
            except (OrbitFileError, ObjectNotFound) as exc:
                report.problem(f.key, f"orbit file not used: {exc}")
    candidates += [r.orbit for r in results if r.orbit is not None]
    for bounds in candidates:
        if bounds.revolution == revolution:
            return bounds
    if candidates:
        report.problem(
            f"aux/adp/{revolution:04d}.{aux_version or '001'}/",
            f"the orbit file describes revolution {candidates[0].revolution}",
        )
    return None


def _commit_progress(
    ctx: _Context,
    revolution: int,
    results: list[_ScwResult],
    aux_sums: list[FileSum],
    aux_version: str | None,
    bounds: OrbitBounds | None,
    known_aux: dict[str, Known],
) -> None:
    report = ctx.report
    rows = [r.row for r in results]
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    n_files = 0
    with ctx.engine.begin() as conn:
        if 0 <= revolution <= last_revolution() and (results or aux_sums):
            report.revolutions_created += int(ensure_revolution(conn, revolution, bounds))
            report.revolutions_from_orbit += int(bounds is not None)
            report.observations_created += _observations(conn, rows)
            delivered = index_times(conn, [(r["scw_id"], r["version"]) for r in rows])
        else:
            delivered = {}
        # One statement per kind of row, executed for all the revolution's rows at once
        # (psycopg pipelines them): a revolution is a few round trips, not thousands.
        if rows:
            conn.execute(_SCW_UPSERT, rows)
        file_params: list[dict[str, Any]] = []
        for result in results:
            row = result.row
            times = {**result.times, **delivered.get((row["scw_id"], row["version"]), {})}
            set_times(conn, row["scw_id"], row["version"], times)
            for f in result.files:
                file_params.append(
                    {
                        **_file_params(f, now),
                        "scw_id": row["scw_id"],
                        "version": row["version"],
                        "name": f.name,
                        "ctype": _content_type(f.name),
                        "simulated": row["simulated"],
                    }
                )
                report.hashed_files += int(f.hashed_bytes > 0)
                report.hashed_bytes += f.hashed_bytes
                report.unverified_files += int(f.sha256 is None)
            n_files += len(result.files)
        if file_params:
            conn.execute(_FILE_UPSERT, file_params)
            # Files of these ScWs no longer in the store are no longer registered.
            conn.execute(
                text(
                    "DELETE FROM isla.scw_files f USING unnest(CAST(:ids AS text[]), "
                    "CAST(:vers AS text[])) AS w(id, ver) WHERE f.scw_id = w.id "
                    "AND f.version = w.ver AND NOT (f.object_key = ANY(:keys))"
                ),
                {
                    "ids": [r["scw_id"] for r in rows],
                    "vers": [r["version"] for r in rows],
                    "keys": [p["key"] for p in file_params],
                },
            )
        if aux_sums:
            # Auxiliary files have no group file of their own: the revolution's ScWs speak
            # for them (the demo's are simulated, ISDC's are not).
            simulated = any(r["simulated"] for r in rows)
            conn.execute(
                _AUX_UPSERT,
                [
                    {
                        **_file_params(f, now),
                        "revolution": revolution,
                        "name": f.name,
                        "version": aux_version,
                        "simulated": simulated,
                    }
                    for f in aux_sums
                ],
            )
            for f in aux_sums:
                report.hashed_files += int(f.hashed_bytes > 0)
                report.hashed_bytes += f.hashed_bytes
                report.unverified_files += int(f.sha256 is None)
            conn.execute(
                text("DELETE FROM isla.aux_files WHERE revolution = :r AND NOT (name = ANY(:n))"),
                {"r": revolution, "n": [f.name for f in aux_sums]},
            )
        conn.execute(
            text(
                "INSERT INTO isla_ops.raw_index_progress (run_id, revolution, scws, files) "
                "VALUES (:run, :rev, :scws, :files)"
            ),
            {"run": ctx.run_id, "rev": revolution, "scws": len(rows), "files": n_files},
        )
        conn.execute(
            text(
                "UPDATE isla_ops.raw_index_runs SET revolutions_done = revolutions_done + 1, "
                "scws = scws + :scws, files = files + :files WHERE run_id = :run"
            ),
            {"run": ctx.run_id, "scws": len(rows), "files": n_files},
        )
    report.revolutions += 1
    report.scws += len(rows)
    report.files += n_files
    report.aux_files += len(aux_sums)


def _index_ic(ctx: _Context, say: Progress, done: float) -> None:
    """The instrument-characteristics tree, into the run's report."""
    report = ctx.report
    ic = index_ic(
        ctx.engine, ctx.store, ctx.pool, ctx.hash_files, lambda message: say(done, message)
    )
    report.ic_files += ic.files
    report.ic_folders += ic.folders
    report.objects += ic.objects
    report.hashed_files += ic.hashed_files
    report.hashed_bytes += ic.hashed_bytes
    report.unverified_files += ic.unverified_files
    for problem in ic.problems:
        report.problem(problem["object"], problem["problem"])


# --- runs ---------------------------------------------------------------------------------------


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
    progress: Progress | None = None,
    *,
    workers: int = DEFAULT_WORKERS,
    hash_files: bool = True,
    ic_only: bool = False,
) -> RawIndexReport:
    """Register the raw bucket's ScWs and auxiliary files (all revolutions, or one), and,
    for all revolutions, the instrument-characteristics tree when there is one (``ic_only``:
    that tree alone).

    Idempotent, one transaction per revolution (per folder of the tree), resumable after a
    crash (see the module text). ``workers`` threads hash objects; ``hash_files=False``
    registers files whose store holds no checksum as unverified instead of reading them
    (``isla raw verify`` hashes them later). Problems with single objects are in the report;
    the rest is registered.
    """
    say = progress or (lambda _f, _m: None)
    began = _time.monotonic()
    if ic_only and revolution is not None:
        raise ValueError("ic_only indexes the instrument-characteristics tree, not a revolution")
    scope = "ic" if ic_only else "all" if revolution is None else f"{revolution:04d}"
    with engine.connect() as lock_conn:
        run_id, resumed = _claim_run(engine, lock_conn, scope)
        report = RawIndexReport(run_id=run_id, scope=scope, resumed=resumed)
        try:
            revolutions = [] if ic_only else _revolutions(store, revolution, report)
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
            # The instrument-characteristics tree is the last step of a run over everything.
            steps = max(1, len(revolutions) + int(revolution is None))
            with ThreadPoolExecutor(max(1, workers), thread_name_prefix="isla-rawidx") as pool:
                ctx = _Context(engine, store, pool, run_id, hash_files, report)
                for i, rev in enumerate(revolutions, 1):
                    if rev in done:
                        report.revolutions_skipped += 1
                        continue
                    _index_revolution(ctx, rev)
                    say(
                        i / steps,
                        f"revolution {rev:04d}: {report.scws} science windows, "
                        f"{report.hashed_bytes / 1e6:.1f} MB hashed so far",
                    )
                if revolution is None:
                    _index_ic(ctx, say, len(revolutions) / steps)
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
        1.0,
        f"indexed {report.scws} science windows, {report.files} files and "
        f"{report.aux_files} auxiliary files in {report.revolutions} revolutions, "
        f"{report.ic_files} instrument-characteristics files "
        f"({report.revolutions_skipped} already done, {len(report.problems)} problems)",
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
