"""Run one ISLA app in its own uvicorn process on a free loopback port.

For measuring a service alone (benchmarks) and for tests that need a service with other
settings than the shared test server (e.g. pointed at a dead object store).
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from deploy.ports import LOOPBACK, free_port, port_is_open


@contextmanager
def service_process(
    app: str,
    env: Mapping[str, str],
    timeout: float = 120,
    workers: int = 1,
    cwd: Path | None = None,
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """Start ``uvicorn app`` with ``env``; yield the process and its base URL; stop it after.

    ``workers``: uvicorn worker processes (as ``isla up`` runs them, see ``ISLA_WEB_WORKERS``).
    ``timeout`` is generous because importing the app takes seconds on a loaded machine; a
    process that exits before it listens is reported at once. ``cwd``: the folder the process
    starts in, which ``python -m`` puts first on the import path (a benchmark runs another
    checkout's service beside this one's).
    """
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            app,
            "--host",
            LOOPBACK,
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--workers",
            str(workers),
        ],
        env=dict(env),
        cwd=cwd,
    )
    try:
        deadline = time.monotonic() + timeout
        while not port_is_open(LOOPBACK, port, timeout=1.0):
            if proc.poll() is not None:
                raise RuntimeError(f"{app} exited with code {proc.returncode} before listening")
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{app}: nothing listens on port {port} after {timeout:g} s")
            time.sleep(0.1)
        yield proc, f"http://{LOOPBACK}:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
