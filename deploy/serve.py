"""Run one ISLA app in its own uvicorn process on a free loopback port.

For measuring a service alone (benchmarks) and for tests that need a service with other
settings than the shared test server (e.g. pointed at a dead object store).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from deploy.ports import LOOPBACK, free_port, wait_for_port


@contextmanager
def service_process(
    app: str, env: Mapping[str, str], timeout: float = 30, workers: int = 1
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """Start ``uvicorn app`` with ``env``; yield the process and its base URL; stop it after.

    ``workers``: uvicorn worker processes (as ``isla up`` runs them, see ``ISLA_WEB_WORKERS``).
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
    )
    try:
        wait_for_port(LOOPBACK, port, timeout)
        yield proc, f"http://{LOOPBACK}:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
