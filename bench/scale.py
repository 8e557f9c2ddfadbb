"""Every user-facing call at demo and at full scale, side by side: ``python -m bench scale``.

Loads two archives into their own embedded Postgres and SeaweedFS (as the other benchmarks
do, :mod:`bench.stack`), each with ``python -m deploy.demo`` in a child process whose wall
time and peak memory (RSS of the process and its children, sampled from ``/proc``) are
recorded: the demo scale, and the full scale (every revolution, ~370,000 science windows,
10^6 sources; raw files registered without bytes). Then it serves each archive with the
gateway, as ``isla up`` does, and measures every call a user makes, p50 and p95 over
``--repeat`` requests after one warm-up:

- astroquery's ESA INTEGRAL client (unmodified, its URLs pointed at the archive, as in the
  compatibility tests): sources, epochs with and without a target, the Crab's timeline,
  observations in a cone and a revolution range, light curves, spectra, mosaics;
- ObsCore through TAP: a 5° cone with POINT and with INTERSECTS, and ``count(*)``;
- the raw manifest of the Crab; the portal's search and the Crab's source page;
- the all-sky maps' value and the upper-limit call.

Goal per call: p50 ≤ 100 ms. Each line of the JSON says its goal and whether it was met.

The archives are kept with ``--keep DIR`` (``DIR/demo`` and ``DIR/full``) and measured again
without loading with ``--reuse DIR``.

Usage: ``python -m bench scale [--keep DIR | --reuse DIR] [--repeat 20] [--scales demo,full]
[--json out.json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.stack import ACCESS_KEY, SECRET_KEY
from deploy.postgres import EmbeddedPostgres
from deploy.seaweed import SeaweedS3
from deploy.serve import service_process
from shared.db import migrate
from shared.settings import StorageSettings
from shared.storage import ObjectStore

GOAL_MS = 100.0
CRAB = "J053432.0+220052"
CRAB_RA, CRAB_DEC = 83.6332, 22.0145


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- Loading -------------------------------------------------------------------------------------


def _tree_rss(root: int) -> int:
    """Resident memory (bytes) of ``root`` and its descendants, from ``/proc``."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            status = (entry / "status").read_text()
        except OSError:
            continue
        pid = int(entry.name)
        parents[pid] = int(stat.rsplit(")", 1)[1].split()[1])
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                rss[pid] = int(line.split()[1]) * 1024
    members = {root}
    grew = True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in members and pid not in members:
                members.add(pid)
                grew = True
    return sum(rss.get(pid, 0) for pid in members)


def load(scale: str, env: dict[str, str]) -> dict[str, Any]:
    """Run ``python -m deploy.demo --scale SCALE`` in a child process; return its wall time,
    peak memory and stage lines."""
    began = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "deploy.demo", "--scale", scale],
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    peak = 0
    stages: list[str] = []

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            _say(f"[{scale} {time.monotonic() - began:7.1f} s] {line.rstrip()}")
            if line.startswith(("stage ", "indexes:")):
                stages.append(line.strip())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    while proc.poll() is None:
        peak = max(peak, _tree_rss(proc.pid))
        time.sleep(0.5)
    reader.join()
    summary = proc.stdout.read().strip() if proc.stdout else ""
    if proc.returncode != 0:
        raise RuntimeError(f"deploy.demo --scale {scale} failed ({proc.returncode})")
    return {
        "scale": scale,
        "load_s": round(time.monotonic() - began, 1),
        "peak_rss_mb": round(peak / 2**20),
        "stages": stages,
        "summary": summary,
    }


@dataclass
class Archive:
    """One loaded archive on its own servers."""

    scale: str
    env: dict[str, str]
    loaded: dict[str, Any] | None


@contextmanager
def archive(home: Path, scale: str, reuse: bool) -> Iterator[Archive]:
    """Start (or restart) the servers in ``home``; load ``scale`` unless reused."""
    home.mkdir(parents=True, exist_ok=True)
    home.chmod(0o755)  # the private Postgres may run as another account
    pg = EmbeddedPostgres(home)
    weed = SeaweedS3(home / "s3", ACCESS_KEY, SECRET_KEY)
    try:
        url = pg.start()
        endpoint = weed.start(timeout=120)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "ISLA_DATABASE_URL": url,
            "ISLA_S3_ENDPOINT": endpoint,
            "ISLA_S3_ACCESS_KEY": ACCESS_KEY,
            "ISLA_S3_SECRET_KEY": SECRET_KEY,
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
        }
        loaded = None
        if not reuse:
            migrate.upgrade(url)
            settings = StorageSettings(
                s3_endpoint=endpoint, s3_access_key=ACCESS_KEY, s3_secret_key=SECRET_KEY
            )
            ObjectStore.from_settings(settings).ensure_buckets()
            loaded = load(scale, env)
        yield Archive(scale, env, loaded)
    finally:
        weed.stop()
        pg.stop()


# --- Measuring -----------------------------------------------------------------------------------


def _timed(call: Callable[[], Any], repeat: int) -> dict[str, Any]:
    call()  # warm-up: connections, caches, imports
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        call()
        times.append(time.perf_counter() - began)
    times.sort()
    p50 = statistics.median(times) * 1000
    return {
        "p50_ms": round(p50, 1),
        "p95_ms": round(times[min(len(times) - 1, int(0.95 * len(times)))] * 1000, 1),
    }


def _tap(client: httpx.Client, query: str) -> Callable[[], Any]:
    def call() -> Any:
        got = client.post("/tap/sync", data={"REQUEST": "doQuery", "LANG": "ADQL", "QUERY": query})
        got.raise_for_status()
        return got

    return call


def _get(client: httpx.Client, path: str, **params: Any) -> Callable[[], Any]:
    def call() -> Any:
        got = client.get(path, params=params)
        got.raise_for_status()
        return got

    return call


def calls(base: str, client: httpx.Client) -> dict[str, Callable[[], Any]]:
    """Every measured call, by name."""
    from astropy.coordinates import SkyCoord
    from astroquery.esa.integral import IntegralClass, conf

    conf.ISLA_TAP_SERVER = f"{base}/tap"
    conf.ISLA_DATA_SERVER = f"{base}/data?"
    conf.ISLA_SERVLET = f"{base}/tap/sync/?PHASE=RUN"
    conf.ISLA_TARGET_RESOLVER = (
        f"{base}/servlet/target-resolver?TARGET_NAME={{}}&RESOLVER_TYPE={{}}&FORMAT=json"
    )
    isla = IntegralClass()
    crab = SkyCoord(CRAB_RA, CRAB_DEC, unit="deg")
    out_dir = Path(tempfile.mkdtemp(prefix="isla-bench-scale-"))
    value_map = _a_map(client)
    measured: dict[str, Callable[[], Any]] = {
        "astroquery get_sources Crab": lambda: isla.get_sources("Crab"),
        "astroquery get_epochs ISGRI (no target)": lambda: isla.get_epochs(instrument="i"),
        "astroquery get_epochs JEM-X (no target)": lambda: isla.get_epochs(instrument="j"),
        "astroquery get_epochs ISGRI Crab": lambda: isla.get_epochs(target="Crab", instrument="i"),
        "astroquery get_epochs JEM-X Crab": lambda: isla.get_epochs(target="Crab", instrument="j"),
        "astroquery get_timeline Crab": lambda: isla.get_timeline(crab),
        "astroquery query_observations cone 5 deg": lambda: isla.query_observations(
            coordinates=crab, radius=5.0
        ),
        "astroquery query_observations revolutions 100-200": lambda: isla.query_observations(
            revolutions=(100, 200)
        ),
        "astroquery get_long_term_timeseries Crab": lambda: isla.get_long_term_timeseries(
            "Crab", instrument="jem-x", path=str(out_dir), read_fits=False
        ),
        "astroquery get_spectra Crab": lambda: isla.get_spectra(
            "Crab",
            instrument="isgri",
            epoch="0727_88601650001",
            path=str(out_dir),
            read_fits=False,
        ),
        "astroquery get_mosaic": lambda: isla.get_mosaic(
            "0727_88601650001", instrument="isgri", path=str(out_dir), read_fits=False
        ),
        "ObsCore cone 5 deg POINT": _tap(
            client,
            "SELECT obs_id, s_ra, s_dec FROM ivoa.obscore WHERE 1 = CONTAINS("  # noqa: S608
            f"POINT('ICRS', s_ra, s_dec), CIRCLE('ICRS', {CRAB_RA}, {CRAB_DEC}, 5))",
        ),
        "ObsCore cone 5 deg INTERSECTS": _tap(
            client,
            "SELECT obs_id, s_region FROM ivoa.obscore WHERE 1 = INTERSECTS("  # noqa: S608
            f"s_region, CIRCLE('ICRS', {CRAB_RA}, {CRAB_DEC}, 5))",
        ),
        "ObsCore count(*)": _tap(client, "SELECT count(*) FROM ivoa.obscore"),
        "raw manifest of the Crab": _get(client, "/raw/manifest.json", source="Crab"),
        "portal search Crab": _get(client, "/search", q="Crab"),
        "portal source page Crab": _get(client, f"/sources/{CRAB}"),
        "upper limit at the Crab": _get(
            client, "/products/upper-limits", ra=CRAB_RA, dec=CRAB_DEC, instrument="ISGRI"
        ),
    }
    if value_map is not None:
        measured["map value at the Crab"] = _get(
            client, f"/products/maps/{value_map}/value", ra=CRAB_RA, dec=CRAB_DEC
        )
    return measured


def _a_map(client: httpx.Client) -> str | None:
    """The id of the ISGRI exposure map (else the first map), None without maps."""
    got = client.get("/products/maps")
    if got.status_code != 200:
        return None
    body = got.json()
    listed = body.get("maps", []) if isinstance(body, dict) else body
    ids = [str(m.get("map_id", m.get("id"))) for m in listed if isinstance(m, dict)]
    chosen = [i for i, m in zip(ids, listed, strict=True) if "isgri" in str(m).lower()]
    found = chosen or ids
    return found[0] if found else None


def measure(arch: Archive, repeat: int) -> dict[str, Any]:
    """Serve ``arch`` with the gateway and time every call."""
    env = dict(arch.env)
    with service_process("deploy.gateway:app", env) as (_proc, base):
        env["ISLA_BASE_URL"] = base
        figures: dict[str, Any] = {}
        with httpx.Client(base_url=base, timeout=120, follow_redirects=True) as client:
            try:
                measured = calls(base, client)
            except Exception as exc:
                return {"setup": {"error": f"{type(exc).__name__}: {exc}"[:300]}}
            for name, call in measured.items():
                try:
                    figures[name] = _timed(call, repeat)
                except Exception as exc:
                    figures[name] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
        return figures


def _load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def run(homes: dict[str, Path], reuse: bool, repeat: int) -> dict[str, Any]:
    """Load (or reuse) and measure each scale; the calls side by side."""
    result: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_average_before": _load_average(),
        "repeat": repeat,
        "goal_p50_ms": GOAL_MS,
        "loads": {},
        "calls": {},
    }
    per_scale: dict[str, dict[str, Any]] = {}
    for scale, home in homes.items():
        with archive(home, scale, reuse) as arch:
            if arch.loaded is not None:
                result["loads"][scale] = arch.loaded
            per_scale[scale] = measure(arch, repeat)
    names = dict.fromkeys(n for figures in per_scale.values() for n in figures)
    for name in names:
        line: dict[str, Any] = {s: per_scale[s].get(name) for s in per_scale}
        worst = [float(f["p50_ms"]) for f in line.values() if isinstance(f, dict) and "p50_ms" in f]
        line["goal"] = f"p50 <= {GOAL_MS:g} ms"
        line["met"] = len(worst) == len(per_scale) > 0 and max(worst) <= GOAL_MS
        result["calls"][name] = line
    result["load_average_after"] = _load_average()
    return result


def main(argv: list[str] | None = None) -> int:
    """Command line entry point (``python -m bench scale``)."""
    parser = argparse.ArgumentParser(prog="python -m bench scale", description=__doc__)
    parser.add_argument("--scales", default="demo,full", help="comma-separated (demo,full)")
    parser.add_argument("--repeat", type=int, default=20, help="requests per figure")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--keep", type=Path, help="load into DIR/<scale> and keep it")
    group.add_argument("--reuse", type=Path, help="measure the archives kept in DIR/<scale>")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    scales = [s for s in args.scales.split(",") if s]
    root = args.reuse or args.keep or Path(tempfile.mkdtemp(prefix="isla-bench-scale-"))
    try:
        result = run({s: root / s for s in scales}, args.reuse is not None, args.repeat)
    finally:
        if args.keep is None and args.reuse is None:
            shutil.rmtree(root, ignore_errors=True)
    text_out = json.dumps(result, indent=2)
    print(text_out)
    if args.json:
        args.json.write_text(text_out + "\n")
    return 0
