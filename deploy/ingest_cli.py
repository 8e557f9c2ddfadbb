"""``isla token ...`` and ``isla ingest ...``: token administration and the ingest client.

Token commands talk to the database directly (they are the operator's bootstrap: no token
exists before the first one is made). Ingest commands are HTTP clients of the ingest API at
``ISLA_INGEST_URL`` (default: the base URL) and authenticate with ``ISLA_INGEST_TOKEN``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from services.ingest.auth import TOKEN_ENV
from shared import settings as cfg


def _err(message: str) -> None:
    print(f"[isla] {message}", file=sys.stderr, flush=True)


@contextmanager
def _transaction() -> Iterator[Any]:
    """One transaction on the configured database (a token command's whole work)."""
    from shared.db.engine import make_sync_engine

    engine = make_sync_engine(cfg.database_settings())
    try:
        with engine.begin() as conn:
            yield conn
    finally:
        engine.dispose()


def _no_database() -> bool:
    """True (and said) when no database is configured."""
    if cfg.database_settings().database_url:
        return False
    _err("ISLA_DATABASE_URL is not set")
    return True


def cmd_token_create(args: argparse.Namespace) -> int:
    """Create a token and print it once."""
    from services.ingest.auth import create_token
    from shared.db.ingest import ROLES

    if _no_database():
        return 2
    if args.role not in ROLES:
        _err(f"unknown role {args.role!r}; roles: {', '.join(ROLES)}")
        return 2
    with _transaction() as conn:
        new = create_token(conn, args.team, args.role, args.label)
    print(new.token)
    _err(
        f"token {new.prefix} for team {args.team!r} with role {args.role!r}: this is the only "
        f"time it is shown; export {TOKEN_ENV}=<token> to use it"
    )
    return 0


def cmd_token_list(args: argparse.Namespace) -> int:
    """List tokens (never their secrets)."""
    from services.ingest.auth import list_tokens

    if _no_database():
        return 2
    with _transaction() as conn:
        rows = list_tokens(conn, args.team)
    if args.json:
        print(json.dumps(rows, default=str, indent=2))
        return 0
    print(f"{'id':>5}  {'prefix':<14} {'team':<12} {'role':<9} {'state':<8} label")
    for row in rows:
        state = "revoked" if row["revoked_at"] else "valid"
        label = row["label"] or ""
        print(
            f"{row['token_id']:>5}  {row['prefix']:<14} {row['team']:<12} {row['role']:<9} "
            f"{state:<8} {label}"
        )
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    """Revoke a token by id or prefix."""
    from services.ingest.auth import revoke_token

    if _no_database():
        return 2
    with _transaction() as conn:
        count = revoke_token(conn, args.token)
    if not count:
        _err(f"no valid token {args.token!r}")
        return 1
    _err(f"token {args.token} revoked")
    return 0


def add_commands(sub: Any) -> None:
    """Register ``token`` and ``ingest`` on the ``isla`` command's subparsers."""
    token = sub.add_parser("token", help="create, list and revoke ingest tokens")
    tsub = token.add_subparsers(dest="token_command", required=True)
    create = tsub.add_parser("create", help="create a token (printed once)")
    create.add_argument("--team", required=True, help="team the token acts for")
    create.add_argument("--role", required=True, help="operator, isdc, ibis, jemx, omc or spi")
    create.add_argument("--label", help="what the token is for")
    create.set_defaults(func=cmd_token_create)
    lst = tsub.add_parser("list", help="list tokens")
    lst.add_argument("--team", help="only this team's tokens")
    lst.add_argument("--json", action="store_true", help="print JSON")
    lst.set_defaults(func=cmd_token_list)
    revoke = tsub.add_parser("revoke", help="revoke a token")
    revoke.add_argument("token", help="token id or prefix (isla_xxxxxxxx)")
    revoke.set_defaults(func=cmd_token_revoke)
    _add_ingest_commands(sub)


# --- The ingest client --------------------------------------------------------------------------

POLL_SECONDS = 1.0
BAR_WIDTH = 30


def _client() -> Any:
    import httpx

    token = os.environ.get(TOKEN_ENV)
    if not token:
        raise SystemExit(f"[isla] set {TOKEN_ENV} to an ingest token (`isla token create`)")
    base = cfg.peer_settings().peer("ingest")
    # Synchronous ingestions and merges answer when they are done: no read timeout.
    timeout = httpx.Timeout(30.0, read=None)
    return httpx.Client(
        base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=timeout
    )


def _show_problem(response: Any) -> int:
    try:
        body = response.json()
    except ValueError:
        _err(f"HTTP {response.status_code}: {response.text[:500]}")
        return 1
    _err(f"HTTP {response.status_code} {body.get('title', '')}: {body.get('detail', '')}")
    for problem in body.get("problems", []):
        _err(f"  - {problem}")
    return 1


def _bar(fraction: float, message: str) -> str:
    done = round(BAR_WIDTH * max(0.0, min(1.0, fraction)))
    return f"\r[{'#' * done}{'.' * (BAR_WIDTH - done)}] {100 * fraction:5.1f}% {message[:60]:<60}"


def follow_job(client: Any, url: str, out: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Poll a job until it ends, drawing a progress bar; returns the final job."""
    write = out or (lambda text: print(text, end="", file=sys.stderr, flush=True))
    while True:
        response = client.get(url)
        response.raise_for_status()
        job: dict[str, Any] = response.json()
        write(_bar(float(job.get("progress") or 0.0), str(job.get("message") or job["status"])))
        if job["status"] in ("done", "refused", "failed"):
            write("\n")
            return job
        time.sleep(POLL_SECONDS)


def _finish(job: dict[str, Any]) -> int:
    report = job.get("report") or {}
    print(json.dumps(job, indent=2, default=str))
    if job["status"] == "done":
        return 0
    for problem in report.get("problems", []):
        _err(f"  - {problem}")
    return 1


def cmd_ingest_catalogue(args: argparse.Namespace) -> int:
    """Upload a catalogue file and follow its ingestion."""
    path = Path(args.file)
    if not path.is_file():
        _err(f"no such file: {path}")
        return 2
    data = {"kind": args.kind, "name": args.name, "version": args.version, "mode": args.mode}
    if args.reference:
        data["reference"] = args.reference
    if args.description:
        data["description"] = args.description
    if args.no_current:
        data["current"] = "false"
    with _client() as client, path.open("rb") as handle:
        _err(f"uploading {path.name} ({path.stat().st_size} bytes) ...")
        response = client.post("/ingest/catalogues", data=data, files={"file": (path.name, handle)})
        if response.status_code == 201:
            return _finish(response.json())
        if response.status_code != 202:
            return _show_problem(response)
        job = follow_job(client, response.json()["url"])
    return _finish(job)


def cmd_ingest_merge(args: argparse.Namespace) -> int:
    """Merge the current catalogues into the source list and show the report."""
    data: dict[str, str] = {"mode": args.mode}
    if args.k is not None:
        data["k"] = str(args.k)
    if args.floor is not None:
        data["floor_arcmin"] = str(args.floor)
    with _client() as client:
        response = client.post("/ingest/merge", data=data)
        if response.status_code == 201:
            return _finish(response.json())
        if response.status_code != 202:
            return _show_problem(response)
        job = follow_job(client, response.json()["url"])
    return _finish(job)


def cmd_ingest_job(args: argparse.Namespace) -> int:
    """Show (or follow) one ingestion job."""
    with _client() as client:
        response = client.get(f"/ingest/jobs/{args.job_id}")
        if response.status_code != 200:
            return _show_problem(response)
        job = response.json()
        if args.follow and job["status"] in ("queued", "running"):
            job = follow_job(client, job["url"])
    return _finish(job)


def _add_ingest_commands(sub: Any) -> None:
    """``isla ingest catalogue|merge|job``."""
    ingest = sub.add_parser("ingest", help="deliver data through the ingest API")
    isub = ingest.add_subparsers(dest="ingest_command", required=True)
    cat = isub.add_parser("catalogue", help="upload a catalogue (FITS, VOTable or CSV)")
    cat.add_argument("file", help="the catalogue file")
    cat.add_argument("--kind", required=True, help="interface, e.g. isgri_results/1")
    cat.add_argument("--name", required=True, help="catalogue name")
    cat.add_argument("--version", required=True, help="version of this delivery")
    cat.add_argument("--reference", help="bibliographic reference")
    cat.add_argument("--description", help="what the catalogue holds")
    cat.add_argument("--no-current", action="store_true", help="load without switching to it")
    cat.add_argument("--mode", choices=["auto", "sync", "async"], default="auto")
    cat.set_defaults(func=cmd_ingest_catalogue)
    merge = isub.add_parser("merge", help="merge the current catalogues into the source list")
    merge.add_argument("--k", type=float, help="match within k x combined position error")
    merge.add_argument("--floor", type=float, help="smallest match radius (arcmin)")
    merge.add_argument("--mode", choices=["auto", "sync", "async"], default="auto")
    merge.set_defaults(func=cmd_ingest_merge)
    job = isub.add_parser("job", help="show an ingestion job")
    job.add_argument("job_id", type=int)
    job.add_argument("--follow", action="store_true", help="wait for the end")
    job.set_defaults(func=cmd_ingest_job)
    from deploy import delivery_cli  # products and the raw index (their own module)

    delivery_cli.add_commands(isub)
