"""`isla up` / `isla down` as a user runs them: embedded Postgres and S3, reuse of data."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from deploy.ports import free_port, port_is_free

pytestmark = pytest.mark.integration


@pytest.fixture
def home() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="isla-launcher-"))
    path.chmod(0o755)
    yield path
    subprocess.run([sys.executable, "-m", "deploy.cli", "down"], env=_env(path, 0), check=False)
    shutil.rmtree(path, ignore_errors=True)


def _env(home: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ISLA_")}
    env["ISLA_HOME"] = str(home)
    if port:
        env["ISLA_PORT"] = str(port)
    return env


def _up(home: Path, port: int) -> subprocess.Popen[str]:
    # Output goes to a file: a pipe nobody reads would block the launcher once it is full.
    with (home / "up.log").open("a") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "deploy.cli", "up", "--no-demo"],
            env=_env(home, port),
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"isla up exited: {(home / 'up.log').read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=5).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise AssertionError("isla up did not become ready within 120 s")


def _down(home: Path, port: int, proc: subprocess.Popen[str]) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "deploy.cli", "down"],
        env=_env(home, port),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    proc.wait(timeout=60)
    return (home / "up.log").read_text()


def test_up_serves_everything_and_down_stops_it_and_data_is_reused(home: Path) -> None:
    port = free_port()
    proc = _up(home, port)
    state = json.loads((home / "runtime.json").read_text())
    assert set(state["started"]) == {"postgres", "s3"}
    for prefix in ("tap", "raw", "products", "ingest"):
        assert httpx.get(f"http://127.0.0.1:{port}/{prefix}/health").status_code == 200
    status = subprocess.run(
        [sys.executable, "-m", "deploy.cli", "status"],
        env=_env(home, port),
        capture_output=True,
        text=True,
        check=False,
    )
    assert status.returncode == 0 and str(port) in status.stdout
    dsn = state["ISLA_DATABASE_URL"].replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO isla.revolutions VALUES (7, '2002-10-30', '2002-11-02', 1033.0, 1036.0)"
        )
    s3_port = int(state["ISLA_S3_ENDPOINT"].rsplit(":", 1)[1])
    output = _down(home, port, proc)
    assert "stopped" in output
    assert port_is_free("127.0.0.1", port) and port_is_free("127.0.0.1", s3_port)
    assert not (home / "runtime.json").exists()

    # A second `isla up` reuses the cluster and its data (the launcher never re-initialises).
    proc = _up(home, port)
    summary = httpx.get(f"http://127.0.0.1:{port}/api/summary").json()
    assert summary["revolutions"] == 1
    _down(home, port, proc)


def test_up_refuses_a_taken_port(home: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "deploy.cli", "up", "--no-demo"],
            env=_env(home, port),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1
    assert f"port {port}" in result.stdout


@pytest.mark.parametrize("down", ["database", "object store"])
def test_up_reports_an_unreachable_dependency(home: Path, down: str) -> None:
    dead = free_port()
    env = _env(home, free_port())
    if down == "database":
        env["ISLA_DATABASE_URL"] = f"postgresql://isla@127.0.0.1:{dead}/isla"
        env["ISLA_DATABASE_CONNECT_TIMEOUT"] = "2"
    else:
        env["ISLA_S3_ENDPOINT"] = f"http://127.0.0.1:{dead}"
        env["ISLA_S3_TIMEOUT"] = "2"
    result = subprocess.run(
        [sys.executable, "-m", "deploy.cli", "up", "--no-demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "could not start" in result.stdout
    assert down.split()[-1] in result.stdout.lower()
    assert not (home / "runtime.json").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="the case of a launcher run as root")
def test_up_works_from_a_folder_the_postgres_account_cannot_reach() -> None:
    from deploy.postgres import RELOCATED_ROOT, cluster_root

    private = Path(tempfile.mkdtemp(prefix="isla-private-"))
    private.chmod(0o700)  # like root's home: no one else may traverse it
    home = private / "clone" / ".isla"
    home.mkdir(parents=True)
    relocated = cluster_root(home)
    assert relocated.parent == RELOCATED_ROOT
    port = free_port()
    try:
        proc = _up(home, port)
        assert httpx.get(f"http://127.0.0.1:{port}/tap/availability", timeout=10).status_code == 200
        log = _down(home, port, proc)
        assert f"starting the embedded Postgres under {relocated}" in log
        assert port_is_free("127.0.0.1", port)
    finally:
        subprocess.run([sys.executable, "-m", "deploy.cli", "down"], env=_env(home, 0), check=False)
        shutil.rmtree(relocated, ignore_errors=True)
        shutil.rmtree(private, ignore_errors=True)
