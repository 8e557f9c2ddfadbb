"""The ``isla`` command: run the archive locally, migrate, load demo data.

``isla up`` starts what is not configured (a private Postgres when ``ISLA_DATABASE_URL`` is
unset, SeaweedFS's S3 server when ``ISLA_S3_ENDPOINT`` is unset), applies migrations, loads the
demo archive into an empty database, starts a job-queue worker (``isla worker``) and serves
the four services behind one base URL until Ctrl-C or ``isla down``. It supervises what it
started (:mod:`deploy.supervision`): a component that dies is restarted with back-off, and
the restart recorded in ``runtime.json`` (``isla status``). Components it did not start are
never stopped by it.

It is the local demo: unless ``ISLA_DEV_MODE`` is set, it turns development mode on (the
development secrets are accepted), and says so.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.exc import OperationalError

from deploy.ports import port_is_free
from deploy.postgres import EmbeddedPostgres, EmbeddedPostgresError
from deploy.seaweed import SeaweedS3
from deploy.supervision import Supervisor
from shared import settings as cfg

log = logging.getLogger("isla.launcher")

STATE_FILE = "runtime.json"


@dataclass
class Stack:
    """What the launcher started, and the environment its children need."""

    home: Path
    env: dict[str, str] = field(default_factory=dict)
    started: list[str] = field(default_factory=list)
    pg: EmbeddedPostgres | None = None
    weed: SeaweedS3 | None = None


def _say(message: str) -> None:
    print(f"[isla] {message}", flush=True)


def start_stack(home: Path, exits: ExitStack, say: Callable[[str], None] = _say) -> Stack:
    """Start the embedded Postgres and S3 servers where none is configured.

    Each started component registers its stop in ``exits``; the returned environment holds
    the URLs to hand to the services (and is exported into this process).
    """
    home.mkdir(parents=True, exist_ok=True)
    runtime = cfg.RuntimeSettings()
    stack = Stack(home=home)
    if not cfg.DatabaseSettings().database_url:
        pg = EmbeddedPostgres(home, bindir=runtime.pg_bindir)
        say(f"starting the embedded Postgres under {pg.root} ...")
        url = pg.start(timeout=runtime.startup_timeout)
        exits.callback(pg.stop)
        stack.pg = pg
        stack.env["ISLA_DATABASE_URL"] = url
        stack.started.append("postgres")
        say(f"Postgres ready at 127.0.0.1:{pg.port}")
    else:
        say("using the configured database (ISLA_DATABASE_URL)")
    storage = cfg.StorageSettings()
    if not storage.s3_endpoint:
        say(f"starting the embedded S3 server (SeaweedFS) under {home / 's3'} ...")
        weed = SeaweedS3(
            home / "s3", storage.s3_access_key, storage.s3_secret_key.get_secret_value()
        )
        endpoint = weed.start(timeout=runtime.startup_timeout)
        exits.callback(weed.stop)
        stack.weed = weed
        stack.env["ISLA_S3_ENDPOINT"] = endpoint
        stack.started.append("s3")
        say(f"S3 ready at {endpoint}")
    else:
        say(f"using the configured object store ({storage.s3_endpoint})")
    os.environ.update(stack.env)
    cfg.clear_caches()
    return stack


def prepare_archive(load_demo: bool, scale: str, say: Callable[[str], None] = _say) -> None:
    """Apply migrations, create buckets, and load the demo archive into an empty database."""
    from shared.db import migrate
    from shared.db.engine import database_is_empty, make_sync_engine
    from shared.storage import ObjectStore

    db = cfg.database_settings()
    assert db.database_url
    say("applying database migrations ...")
    migrate.upgrade(db.database_url)
    store = ObjectStore.from_settings(cfg.storage_settings())
    store.ensure_buckets(cfg.storage_settings().s3_jobs_bucket)
    engine = make_sync_engine(db)
    try:
        if load_demo and database_is_empty(engine):
            from deploy.demo import load_demo as generate_demo

            say(f"loading the demo archive (scale {scale}); this takes a minute ...")
            generate_demo(engine, store, scale=scale, progress=say)
            from services.ingest.products import ingest_reference_products
            from services.ingest.timeseries import load_timeseries

            say(ingest_reference_products(engine, store).summary())
            say(load_timeseries(engine, store).summary())
            from deploy.demo import assign_archive_dois

            say(f"DOIs: {assign_archive_dois(engine)}")
        elif load_demo:
            say("archive already holds data: reusing it")
        # Every map has its HiPS (built at delivery; an interrupted build is finished here).
        from shared.maps.publish import publish_missing

        publish_missing(engine, store, say)
    finally:
        engine.dispose()


WEB_WORKER_HEALTHCHECK = 60
"""Seconds a web worker may take to answer uvicorn's liveness ping (starting up included)."""

WORKER_STOP_TIMEOUT = 30.0
"""Seconds a stopping worker gets (its jobs' shutdown grace included) before SIGKILL."""


class WorkerProcess:
    """The launcher's ``isla worker`` process (TAP async jobs, ingestion), restartable."""

    def __init__(self) -> None:
        """Nothing runs until :meth:`start`."""
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> str:
        """Start a worker process; return ``pid N``."""
        # Warnings only: a line per job would drown the launcher's own messages.
        command = [sys.executable, "-m", "deploy.cli", "worker", "--log-level", "warning"]
        self.proc = subprocess.Popen(command, env=dict(os.environ))
        return f"pid {self.proc.pid}"

    def alive(self) -> bool:
        """Whether the worker process runs."""
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        """SIGTERM (its jobs get their grace time), then SIGKILL after the stop timeout."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=WORKER_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def start_worker(exits: ExitStack, say: Callable[[str], None] = _say) -> WorkerProcess:
    """Start one ``isla worker`` process; ``exits`` stops it."""
    worker = WorkerProcess()
    what = worker.start()
    exits.callback(worker.stop)
    say(f"job worker started ({what})")
    return worker


_STATE_LOCK = threading.RLock()
"""The supervisor's thread and the main thread both update runtime.json."""


def _write_state(home: Path, data: dict[str, Any]) -> None:
    # It holds the database URL with the embedded cluster's password: owner only.
    with _STATE_LOCK:
        path = home / STATE_FILE
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(json.dumps(data, indent=2))
        tmp.replace(path)


def _update_state(home: Path, changes: dict[str, Any]) -> None:
    """Merge ``changes`` into the runtime file of a running launcher."""
    with _STATE_LOCK:
        state = _read_state(home) or {}
        state.update(changes)
        _write_state(home, state)


def supervise(
    stack: Stack, worker: WorkerProcess, exits: ExitStack, say: Callable[[str], None] = _say
) -> Supervisor:
    """Watch the job worker and the embedded servers; restart them when they die."""
    home = stack.home
    runtime = cfg.RuntimeSettings()
    supervisor = Supervisor(record=lambda changes: _update_state(home, changes), say=say)

    def restart_worker() -> str:
        worker.stop()
        what = worker.start()
        _update_state(home, {"worker_pid": worker.proc.pid if worker.proc else None})
        return what

    supervisor.watch("job worker", worker.alive, restart_worker)
    pg = stack.pg
    if pg is not None:

        def restart_postgres() -> str:
            url = pg.start(timeout=runtime.startup_timeout)
            if url != stack.env["ISLA_DATABASE_URL"]:
                # Another port: the running services still hold the old URL.
                say("Postgres came back on another port: restart `isla up` to use it")
            return f"port {pg.port}"

        supervisor.watch("postgres", lambda: pg.running_port() is not None, restart_postgres)
    weed = stack.weed
    if weed is not None:

        def restart_weed() -> str:
            with contextlib.suppress(RuntimeError):
                weed.stop()  # reap the dead process, release its ports
            endpoint = weed.start(timeout=runtime.startup_timeout)
            if endpoint != stack.env["ISLA_S3_ENDPOINT"]:
                say("the S3 server came back on another port: restart `isla up` to use it")
            return f"pid {weed.pid}"

        supervisor.watch("s3", weed.is_running, restart_weed)
    supervisor.start()
    # Registered last, so it runs first: nothing is restarted while everything stops.
    exits.callback(supervisor.stop)
    return supervisor


def _read_state(home: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads((home / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return data


def cmd_up(args: argparse.Namespace) -> int:
    """Start everything and serve until interrupted."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    runtime = cfg.RuntimeSettings()
    home = runtime.home.resolve()
    port = args.port or runtime.port
    host = runtime.host
    previous = _read_state(home)
    if previous and _alive(previous.get("launcher_pid")):
        _say(f"already running (pid {previous['launcher_pid']}) at {previous.get('base_url')}")
        return 1
    if not port_is_free(host, port):
        _say(f"port {port} on {host} is taken: stop what uses it or set ISLA_PORT / --port")
        return 1
    base_url = os.environ.get("ISLA_BASE_URL") or f"http://{host}:{port}"
    os.environ["ISLA_BASE_URL"] = base_url
    if "ISLA_DEV_MODE" not in os.environ:
        os.environ["ISLA_DEV_MODE"] = "true"
        _say(
            "development mode (ISLA_DEV_MODE=true): the development secrets are accepted; "
            "for anything but a local trial set real secrets and ISLA_DEV_MODE=false"
        )
    try:
        cfg.refuse_development_secrets()
    except cfg.InsecureSettingsError as exc:
        _say(f"could not start: {exc}")
        return 1
    # A terminal, not a log collector: text lines, warnings and errors only, unless asked
    # (ISLA_LOG_LEVEL=INFO adds one access line per request, with its request id).
    os.environ.setdefault("ISLA_LOG_FORMAT", "text")
    os.environ.setdefault("ISLA_LOG_LEVEL", "WARNING")
    with ExitStack() as exits:
        try:
            stack = start_stack(home, exits)
            prepare_archive(not args.no_demo, args.scale or runtime.demo_scale)
        except (EmbeddedPostgresError, RuntimeError) as exc:
            _say(f"could not start: {exc}")
            return 1
        except OperationalError as exc:
            _say(f"could not start: the database does not answer: {exc.orig or exc}")
            return 1
        _write_state(
            home,
            {
                "launcher_pid": os.getpid(),
                "base_url": base_url,
                "started": stack.started,
                "ISLA_DEV_MODE": os.environ["ISLA_DEV_MODE"],
                **stack.env,
            },
        )
        exits.callback(lambda: (home / STATE_FILE).unlink(missing_ok=True))
        worker = start_worker(exits)
        _update_state(home, {"worker_pid": worker.proc.pid if worker.proc else None})
        supervise(stack, worker, exits)
        _say("the archive is served at:")
        for label, path in (
            ("portal", "/"),
            ("TAP (TOPCAT, pyvo)", "/tap"),
            ("raw data API", "/raw/docs"),
            ("products API", "/products/docs"),
            ("ingest API", "/ingest/docs"),
            ("TAP API docs", "/tap/docs"),
            ("readiness", "/ready"),
        ):
            _say(f"  {label:<20} {base_url}{path}")
        _say("stop with Ctrl-C or `isla down`")
        options: dict[str, Any] = {
            "host": host,
            "port": port,
            "log_level": "warning",
            "proxy_headers": True,
            "timeout_graceful_shutdown": 5,
        }
        if "timeout_worker_healthcheck" in inspect.signature(uvicorn.Config).parameters:
            # uvicorn kills a web worker that does not answer its ping within this time and
            # starts another. Its default (5 s) is shorter than importing the services takes
            # on a busy machine (numpy, astropy hold the interpreter): workers were killed
            # while starting, over and over, and the archive never answered.
            options["timeout_worker_healthcheck"] = WEB_WORKER_HEALTHCHECK
        # Several web worker processes: each writes its metrics' samples to one folder and
        # /metrics adds them up, whichever process answers the scrape (prometheus-client's
        # multiprocess mode, read by the fresh processes uvicorn spawns).
        metrics_dir = home / "metrics"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
        # uvicorn re-raises the Ctrl-C it handled; the stop is already under way.
        with contextlib.suppress(KeyboardInterrupt):
            # Always uvicorn's process manager, even for one web worker: it restarts a web
            # worker that dies (the import string: each worker imports the app itself).
            config = uvicorn.Config("deploy.gateway:app", workers=runtime.web_workers, **options)
            Multiprocess(config, sockets=[config.bind_socket()]).run()
        _say("stopping ...")
    _say("stopped")
    return 0


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    # An exited launcher whose parent has not reaped it yet is a zombie: it is gone.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _is_our_worker(pid: int) -> bool:
    """Whether ``pid`` is a live ``isla worker`` (a recycled pid is never signalled)."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return _alive(pid) and b"deploy.cli" in command and b"worker" in command


def cmd_down(args: argparse.Namespace) -> int:
    """Stop a running ``isla up`` (or what a crashed one left behind)."""
    home = cfg.RuntimeSettings().home.resolve()
    state = _read_state(home)
    pid = state.get("launcher_pid") if state else None
    if _alive(pid):
        assert isinstance(pid, int)
        _say(f"asking the launcher (pid {pid}) to stop ...")
        os.kill(pid, signal.SIGINT)
        deadline = time.monotonic() + 60
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _alive(pid):
            _say("the launcher did not stop within 60 s")
            return 1
    # Whatever a killed launcher could not stop: its job worker, and the private servers, by
    # their own records.
    worker = state.get("worker_pid") if state else None
    if isinstance(worker, int) and _is_our_worker(worker):
        _say(f"stopping the job worker (pid {worker}) ...")
        os.kill(worker, signal.SIGTERM)
        deadline = time.monotonic() + WORKER_STOP_TIMEOUT
        while _alive(worker) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _alive(worker):
            os.kill(worker, signal.SIGKILL)
    pg = EmbeddedPostgres(home)
    if pg.initialised and pg.running_port() is not None:
        _say("stopping the embedded Postgres ...")
        pg.stop()
    if SeaweedS3.stop_recorded(home / "s3"):
        _say("stopped the embedded S3 server")
    (home / STATE_FILE).unlink(missing_ok=True)
    _say("down")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """Print whether the launcher runs and where."""
    home = cfg.RuntimeSettings().home.resolve()
    state = _read_state(home)
    if state and _alive(state.get("launcher_pid")):
        print(json.dumps(state, indent=2))
        return 0
    print("not running")
    return 3


def cmd_hips(args: argparse.Namespace) -> int:
    """Build the HiPS of every stored all-sky map that has none for its current file."""
    from shared.db.engine import make_sync_engine
    from shared.maps.publish import publish_missing
    from shared.storage import ObjectStore

    if not cfg.database_settings().database_url:
        _say("ISLA_DATABASE_URL is not set")
        return 2
    engine = make_sync_engine(cfg.database_settings())
    try:
        built = publish_missing(engine, ObjectStore.from_settings(cfg.storage_settings()), _say)
    finally:
        engine.dispose()
    _say(f"{sum(1 for p in built if p.built)} HiPS built; every map has one")
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    """Apply migrations to the configured database and create the buckets."""
    from shared.db import migrate
    from shared.storage import ObjectStore

    url = cfg.database_settings().database_url
    if not url:
        _say("ISLA_DATABASE_URL is not set")
        return 2
    migrate.upgrade(url)
    _say("database schema is current")
    storage = cfg.storage_settings()
    ObjectStore.from_settings(storage).ensure_buckets(storage.s3_jobs_bucket)
    _say("buckets ready")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """Run a job-queue worker (TAP async jobs, ingestion) until SIGINT/SIGTERM."""
    from shared.observability import configure_logging

    # The services' log lines (JSON or text, ISLA_LOG_FORMAT) in place of the CLI's plain ones.
    logging.getLogger().handlers.clear()
    configure_logging()
    logging.getLogger().setLevel(args.log_level.upper())
    if not cfg.database_settings().database_url:
        # Next to a running `isla up`, use the servers it started.
        state = _read_state(cfg.RuntimeSettings().home.resolve()) or {}
        found = {k: str(v) for k, v in state.items() if k.startswith("ISLA_")}
        if "ISLA_DATABASE_URL" not in found:
            _say("ISLA_DATABASE_URL is not set (and no `isla up` is running)")
            return 2
        os.environ.update(found)
        cfg.clear_caches()
    try:
        cfg.refuse_development_secrets()
    except cfg.InsecureSettingsError as exc:
        _say(f"the worker does not start: {exc}")
        return 2
    # Importing a service's task module registers its tasks with the queue's app; the queue
    # itself names no service.
    import services.ingest.tasks
    import services.tap.tasks  # noqa: F401 - imported for its task registrations
    from shared.jobs.queue import main as worker_main

    return worker_main(name=args.name)


def cmd_demo(args: argparse.Namespace) -> int:
    """Load the demo archive into the configured (empty) database and object store."""
    if not cfg.database_settings().database_url:
        _say("ISLA_DATABASE_URL is not set (use `isla up`, which starts a database)")
        return 2
    prepare_archive(True, args.scale)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``isla`` console script."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    parser = argparse.ArgumentParser(prog="isla", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the embedded stack and serve the archive")
    up.add_argument("--port", type=int, help="port of the base URL (default 8000)")
    up.add_argument("--scale", choices=["demo", "bench", "full"], help="demo archive size")
    up.add_argument("--no-demo", action="store_true", help="do not load the demo archive")
    up.set_defaults(func=cmd_up)
    sub.add_parser("down", help="stop a running `isla up`").set_defaults(func=cmd_down)
    sub.add_parser("status", help="is the archive running?").set_defaults(func=cmd_status)
    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=cmd_migrate)
    sub.add_parser(
        "build-hips", help="build the HiPS of every all-sky map that lacks one"
    ).set_defaults(func=cmd_hips)
    worker = sub.add_parser("worker", help="run a job-queue worker (TAP async, ingestion)")
    worker.add_argument("--name", help="worker name shown in the queue (default isla-worker)")
    worker.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    worker.set_defaults(func=cmd_worker)
    demo = sub.add_parser("demo", help="load the demo archive into an empty database")
    demo.add_argument("--scale", choices=["demo", "bench", "full"], default="demo")
    demo.set_defaults(func=cmd_demo)
    from deploy import ingest_cli, raw_cli, user_cli

    ingest_cli.add_commands(sub)
    raw_cli.add_commands(sub)
    user_cli.add_commands(sub)
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    return func(args)


if __name__ == "__main__":
    sys.exit(main())
