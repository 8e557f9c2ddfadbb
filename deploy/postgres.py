"""A private Postgres cluster for the embedded runtime (initdb + pg_ctl, Debian binaries).

The cluster lives in ``<home>/postgres/data`` and listens on loopback only, on a free port
that is remembered between runs so that URLs stay stable. Postgres refuses to run as root, so
when the launcher is root every Postgres command runs as the unprivileged ``postgres`` account
(Debian creates it with the server package).

Connections authenticate with a password (``scram-sha-256``, local socket and loopback alike),
never ``trust``: any local account could otherwise connect as the superuser. The password is
generated at ``initdb`` and kept in ``<cluster root>/secret`` (mode 0600, owned by the account
running the cluster); the launcher puts it into the database URL it hands its children. A
cluster made by an older launcher with ``trust`` is switched over at its next start.

A clone in root's home (mode 0700) or any folder that account cannot traverse cannot hold the
cluster; rather than ask the operator to open up their home, the cluster then lives in
:data:`RELOCATED_ROOT`, in a folder named after the ISLA home's path, so that every later
``isla up`` and ``isla down`` of the same home finds it again.
"""

from __future__ import annotations

import grp
import hashlib
import json
import os
import pwd
import re
import secrets
import shutil
import stat
import subprocess
import time
from pathlib import Path

import psycopg
from psycopg import sql

from deploy.ports import free_port, port_is_free

DEFAULT_BINDIR = Path("/usr/lib/postgresql/15/bin")
RUN_AS = "postgres"
DATABASE = "isla"
SUPERUSER = "isla"
RELOCATED_ROOT = Path("/var/lib/isla")
"""Where a root-run cluster lives when the ``postgres`` account cannot reach the ISLA home."""


def reachable_by(account: pwd.struct_passwd, path: Path) -> bool:
    """True when ``account`` may traverse every existing folder on the way to ``path``.

    Folders still to be created are made by root with the usual umask (world-traversable), so
    only the existing ones are checked, from their permission bits (no process is spawned).
    """
    groups = {g.gr_gid for g in _groups_of(account)}
    for folder in [*reversed(path.parents), path]:
        try:
            info = folder.stat()
        except FileNotFoundError:
            break
        if info.st_uid == account.pw_uid:
            allowed = info.st_mode & stat.S_IXUSR
        elif info.st_gid in groups:
            allowed = info.st_mode & stat.S_IXGRP
        else:
            allowed = info.st_mode & stat.S_IXOTH
        if not allowed:
            return False
    return True


def _groups_of(account: pwd.struct_passwd) -> list[grp.struct_group]:
    primary = grp.getgrgid(account.pw_gid)
    return [primary, *(g for g in grp.getgrall() if account.pw_name in g.gr_mem)]


def cluster_root(home: Path) -> Path:
    """The folder of the cluster of ISLA home ``home``: ``<home>/postgres``, or, when the
    launcher is root and the ``postgres`` account cannot reach it, a folder of its own under
    :data:`RELOCATED_ROOT` named after the home's path."""
    root = home.resolve() / "postgres"
    if os.geteuid() != 0:
        return root
    try:
        account = pwd.getpwnam(RUN_AS)
    except KeyError:
        return root  # reported when the cluster is prepared
    if reachable_by(account, root):
        return root
    digest = hashlib.sha256(str(home.resolve()).encode()).hexdigest()[:16]
    return RELOCATED_ROOT / f"postgres-{digest}"


class EmbeddedPostgresError(RuntimeError):
    """The private cluster could not be created, started or stopped."""


class EmbeddedPostgres:
    """Create, start and stop the runtime's private Postgres cluster."""

    def __init__(self, home: Path, bindir: Path | None = None, host: str = "127.0.0.1") -> None:
        """Prepare (but do not start) a cluster under ``home/postgres``."""
        self.root = cluster_root(home)
        self.datadir = self.root / "data"
        self.logfile = self.root / "postgres.log"
        self.statefile = self.root / "state.json"
        self.secretfile = self.root / "secret"
        self.bindir = bindir or DEFAULT_BINDIR
        self.host = host
        self.port: int | None = None

    # -- helpers -------------------------------------------------------------------------

    @property
    def _as_root(self) -> bool:
        return os.geteuid() == 0

    def _cmd(self, tool: str, *args: str) -> list[str]:
        exe = self.bindir / tool
        if not exe.exists():
            raise EmbeddedPostgresError(
                f"{exe} not found: install the Debian packages postgresql-15 and "
                "postgresql-15-pgsphere (make install-system), or set ISLA_DATABASE_URL"
            )
        prefix = ["runuser", "-u", RUN_AS, "--"] if self._as_root else []
        return [*prefix, str(exe), *args]

    def _run(self, tool: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                self._cmd(tool, *args), capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise EmbeddedPostgresError(f"{tool} did not finish within {timeout:.0f} s") from exc

    def _prepare_root(self) -> None:
        if self.root.parent == RELOCATED_ROOT:
            RELOCATED_ROOT.mkdir(mode=0o755, parents=True, exist_ok=True)
        self.root.mkdir(parents=True, exist_ok=True)
        if self._as_root:
            try:
                account = pwd.getpwnam(RUN_AS)
            except KeyError as exc:
                raise EmbeddedPostgresError(
                    f"running as root needs the '{RUN_AS}' account (Debian package postgresql-15)"
                ) from exc
            shutil.chown(self.root, account.pw_uid, account.pw_gid)
            for path in self.root.rglob("*"):
                if path.stat().st_uid != account.pw_uid:
                    shutil.chown(path, account.pw_uid, account.pw_gid)
            probe = subprocess.run(
                ["runuser", "-u", RUN_AS, "--", "test", "-w", str(self.root)], check=False
            )
            if probe.returncode != 0:
                raise EmbeddedPostgresError(
                    f"the '{RUN_AS}' account cannot reach {self.root}: make its parent folders "
                    "traversable (chmod o+x) or set ISLA_HOME to another folder"
                )

    def _tail_log(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def initialised(self) -> bool:
        """True when the cluster folder exists (a previous ``isla up`` created it)."""
        return (self.datadir / "PG_VERSION").exists()

    def running_port(self) -> int | None:
        """Port of an already running server of this cluster, if any."""
        pidfile = self.datadir / "postmaster.pid"
        if not pidfile.exists():
            return None
        if self._run("pg_ctl", "status", "-D", str(self.datadir), timeout=10).returncode != 0:
            return None
        lines = pidfile.read_text().splitlines()
        return int(lines[3]) if len(lines) > 3 and lines[3].strip().isdigit() else None

    # -- the password ----------------------------------------------------------------------

    def _ensure_secret(self) -> str:
        """The superuser's password, generated on first use into :attr:`secretfile` (0600)."""
        if self.secretfile.exists():
            return self.password
        fd = os.open(self.secretfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(32) + "\n")
        if self._as_root:
            # initdb --pwfile runs as the cluster's account and reads it.
            account = pwd.getpwnam(RUN_AS)
            os.chown(self.secretfile, account.pw_uid, account.pw_gid)
        return self.password

    @property
    def password(self) -> str:
        """The superuser's password (read from :attr:`secretfile`)."""
        try:
            return self.secretfile.read_text().strip()
        except OSError as exc:
            raise EmbeddedPostgresError(
                f"the cluster's password file {self.secretfile} cannot be read: {exc}"
            ) from exc

    def _require_passwords(self) -> None:
        """Switch a cluster made with ``trust`` (older launchers) to password authentication.

        Runs on the started server while it still trusts loopback: sets the generated
        password, rewrites pg_hba.conf and reloads it.
        """
        hba = self.datadir / "pg_hba.conf"
        rules = hba.read_text()
        if not re.search(r"^\s*(local|host)\S*\s.*\btrust\s*$", rules, re.MULTILINE):
            return
        password = self._ensure_secret()
        dsn = f"host={self.host} port={self.port} user={SUPERUSER} dbname=postgres"
        with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
            conn.execute("SET password_encryption = 'scram-sha-256'")
            conn.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(SUPERUSER), sql.Literal(password)
                )
            )
        hba.write_text(re.sub(r"\btrust(\s*)$", r"scram-sha-256\1", rules, flags=re.MULTILINE))
        result = self._run("pg_ctl", "reload", "-D", str(self.datadir), timeout=30)
        if result.returncode != 0:
            raise EmbeddedPostgresError(f"pg_ctl reload failed: {result.stderr.strip()}")

    def init(self) -> None:
        """Create the cluster with a password-authenticated superuser, loopback only."""
        self._prepare_root()
        self._ensure_secret()
        result = self._run(
            "initdb",
            "-D",
            str(self.datadir),
            "-U",
            SUPERUSER,
            "--auth=scram-sha-256",
            f"--pwfile={self.secretfile}",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
        )
        if result.returncode != 0:
            raise EmbeddedPostgresError(f"initdb failed:\n{result.stderr.strip()}")
        with (self.datadir / "postgresql.conf").open("a") as conf:
            # Loopback only; the socket lives beside the data so nothing needs /var/run.
            conf.write(
                "\n# ISLA embedded runtime\n"
                f"listen_addresses = '{self.host}'\n"
                f"unix_socket_directories = '{self.root}'\n"
                "shared_buffers = 256MB\nwork_mem = 32MB\nmax_connections = 200\n"
                "fsync = on\nsynchronous_commit = off\n"
            )

    def start(self, timeout: float = 60) -> str:
        """Start (or reuse) the server and return the archive database URL."""
        self._prepare_root()
        if not self.initialised:
            self.init()
        port = self.running_port()
        if port is None:
            port = self._choose_port()
            result = self._run(
                "pg_ctl",
                "start",
                "-D",
                str(self.datadir),
                "-l",
                str(self.logfile),
                "-w",
                "-t",
                str(int(timeout)),
                "-o",
                f"-p {port}",
                timeout=timeout + 10,
            )
            if result.returncode != 0:
                raise EmbeddedPostgresError(
                    f"Postgres did not start on port {port}:\n{result.stderr.strip()}\n"
                    f"{self._tail_log()}"
                )
        self.port = port
        self.statefile.write_text(json.dumps({"port": port}))
        self._require_passwords()
        self._ensure_database(timeout)
        return self.url

    def _choose_port(self) -> int:
        try:
            previous = int(json.loads(self.statefile.read_text())["port"])
        except (OSError, ValueError, KeyError):
            previous = 0
        if previous and port_is_free(self.host, previous):
            return previous
        return free_port(self.host)

    def _ensure_database(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.admin_dsn, autocommit=True, connect_timeout=5) as conn:
                    exists = conn.execute(
                        "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
                    ).fetchone()
                    if not exists:
                        conn.execute(f'CREATE DATABASE "{DATABASE}" OWNER "{SUPERUSER}"')
                return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise EmbeddedPostgresError(f"Postgres does not answer: {exc}") from exc
                time.sleep(0.2)

    def stop(self, timeout: float = 30) -> None:
        """Stop the server (fast shutdown: active sessions are rolled back)."""
        if not self.initialised or self.running_port() is None:
            return
        result = self._run(
            "pg_ctl",
            "stop",
            "-D",
            str(self.datadir),
            "-m",
            "fast",
            "-w",
            "-t",
            str(int(timeout)),
            timeout=timeout + 10,
        )
        if result.returncode != 0:
            raise EmbeddedPostgresError(f"pg_ctl stop failed: {result.stderr.strip()}")

    @property
    def admin_dsn(self) -> str:
        """libpq DSN of the maintenance database, for creating databases."""
        return (
            f"host={self.host} port={self.port} user={SUPERUSER} "
            f"password={self.password} dbname=postgres"
        )

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the archive database."""
        return self.database_url(DATABASE)

    def database_url(self, name: str) -> str:
        """SQLAlchemy URL of another database in this cluster (tests use scratch databases)."""
        # token_urlsafe passwords need no quoting in a URL.
        return f"postgresql+psycopg://{SUPERUSER}:{self.password}@{self.host}:{self.port}/{name}"
