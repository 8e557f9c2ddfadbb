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
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import latency
from bench.stack import bench_stack

GOAL_MS = latency.GOAL_MS


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
    with bench_stack(scale, home=home, fresh=not reuse) as stack:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
            **stack.env(),
        }
        yield Archive(scale, env, None if reuse else load(scale, env))


# --- Measuring -----------------------------------------------------------------------------------


def measure(arch: Archive, repeat: int) -> dict[str, Any]:
    """Serve ``arch`` and time every call of :mod:`bench.latency`'s list (the one list of the
    user-facing calls, which ``python -m bench latency`` times on any existing archive)."""
    try:
        figures = latency.measure(arch.env["ISLA_DATABASE_URL"], repeat, arch.env)["calls"]
    except Exception as exc:
        return {"setup": {"error": f"{type(exc).__name__}: {exc}"[:300]}}
    return dict(figures)


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
