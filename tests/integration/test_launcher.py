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


def _env(home: Path, port: int, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ISLA_")}
    env["ISLA_HOME"] = str(home)
    if port:
        env["ISLA_PORT"] = str(port)
    env.update(extra or {})
    return env


def _up(home: Path, port: int, extra: dict[str, str] | None = None) -> subprocess.Popen[str]:
    # Output goes to a file: a pipe nobody reads would block the launcher once it is full.
    with (home / "up.log").open("a") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "deploy.cli", "up", "--no-demo"],
            env=_env(home, port, extra),
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


DEADLINE = 120.0
"""Seconds a supervision step may take at most before the test fails (not a timing)."""
UWS = {"uws": "http://www.ivoa.net/xml/UWS/v1.0"}


def _restarted(home: Path, component: str, count: int) -> dict[str, object]:
    """Wait until runtime.json records restart number ``count`` of ``component``."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        state = json.loads((home / "runtime.json").read_text())
        done = [r for r in state.get("restarts", []) if r["component"] == component]
        if len(done) >= count:
            return dict(state)
        time.sleep(0.5)
    raise AssertionError(f"{component} was not restarted: {(home / 'up.log').read_text()}")


def _job_completes(base: str) -> None:
    """Create a TAP async job (retrying while the archive recovers); it must complete."""
    import xml.etree.ElementTree as ET

    deadline = time.monotonic() + DEADLINE
    with httpx.Client(base_url=base, timeout=30) as http:
        while True:
            created = http.post(
                "/tap/async",
                data={
                    "LANG": "ADQL",
                    "QUERY": "SELECT TOP 3 table_name FROM TAP_SCHEMA.tables",
                    "PHASE": "RUN",
                },
            )
            if created.status_code == 303:
                break
            assert created.status_code == 503, created.text  # recovering: retry
            assert time.monotonic() < deadline, "the archive did not recover"
            time.sleep(0.5)
        job = created.headers["location"]
        while True:
            root = ET.fromstring(http.get(job, params={"WAIT": "5"}).content)
            phase = root.findtext("uws:phase", namespaces=UWS)
            if phase in ("COMPLETED", "ERROR", "ABORTED"):
                break
            assert time.monotonic() < deadline, f"the job stayed {phase}"
        assert phase == "COMPLETED", http.get(f"{job}/error").text
        assert http.get(f"{job}/results/result").status_code == 200


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def test_up_supervises_the_worker_postgres_and_s3(home: Path) -> None:
    """kill -9 of the worker, a Postgres stop and kill -9 of SeaweedFS under `isla up`: each
    is restarted, recorded, and async jobs complete without anyone stepping in; `isla down`
    stops the restarted ones too."""
    import signal

    from deploy.postgres import EmbeddedPostgres

    port = free_port()
    fast = {
        "ISLA_WORKER_HEARTBEAT": "0.5",
        "ISLA_WORKER_STALLED_AFTER": "3",
        "ISLA_WORKER_POLL_INTERVAL": "0.5",
    }
    proc = _up(home, port, fast)
    base = f"http://127.0.0.1:{port}"
    try:
        assert "development mode" in (home / "up.log").read_text()
        assert (home / "runtime.json").stat().st_mode & 0o077 == 0  # it holds the DB password
        first = json.loads((home / "runtime.json").read_text())["worker_pid"]
        os.kill(first, signal.SIGKILL)
        _job_completes(base)  # queued while the worker was dead, or run by the new one
        state = _restarted(home, "job worker", 1)
        assert state["worker_pid"] != first and _alive(int(str(state["worker_pid"])))

        EmbeddedPostgres(home).stop()  # an outage from outside the launcher
        _restarted(home, "postgres", 1)
        _job_completes(base)  # the worker reconnected by itself
        assert httpx.get(f"{base}/ready", timeout=10).status_code == 200

        weed_state = home / "s3" / "weed.json"
        weed_pid = int(json.loads(weed_state.read_text())["pid"])
        os.kill(weed_pid, signal.SIGKILL)
        _restarted(home, "s3", 1)
        new_weed = int(json.loads(weed_state.read_text())["pid"])
        assert new_weed != weed_pid and _alive(new_weed)
        _job_completes(base)  # results go to the object store
        status = subprocess.run(
            [sys.executable, "-m", "deploy.cli", "status"],
            env=_env(home, port),
            capture_output=True,
            text=True,
            check=False,
        )
        assert '"restarts"' in status.stdout and '"s3"' in status.stdout
    finally:
        _down(home, port, proc)
    assert not _alive(new_weed) and port_is_free("127.0.0.1", port)


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
