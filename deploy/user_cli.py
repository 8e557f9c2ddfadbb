"""``isla user ...``: the archive's local accounts (owners of TAP async jobs).

Like the token commands, they talk to the database directly: the operator creates the first
users. The database is ``ISLA_DATABASE_URL`` or, when unset, the one a running ``isla up``
uses. Passwords are read from a prompt, or from standard input with ``--password-stdin``
(never from the command line, where other local users could see them).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from shared import settings as cfg

STATE_FILE = "runtime.json"


def _err(message: str) -> None:
    print(f"[isla] {message}", file=sys.stderr, flush=True)


def use_running_stack() -> bool:
    """Point the settings at the servers of a running ``isla up`` when no database is set.

    False (and said) when there is neither.
    """
    if cfg.database_settings().database_url:
        return True
    try:
        path = cfg.RuntimeSettings().home.resolve() / STATE_FILE
        state: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        state = {}
    found = {k: str(v) for k, v in state.items() if k.startswith("ISLA_")}
    if "ISLA_DATABASE_URL" not in found:
        _err("ISLA_DATABASE_URL is not set (and no `isla up` is running)")
        return False
    os.environ.update(found)
    cfg.clear_caches()
    return True


@contextmanager
def _transaction() -> Iterator[Any]:
    from shared.db.engine import make_sync_engine

    engine = make_sync_engine(cfg.database_settings())
    try:
        with engine.begin() as conn:
            yield conn
    finally:
        engine.dispose()


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise SystemExit("[isla] the passwords differ")
    return first


def cmd_user_create(args: argparse.Namespace) -> int:
    """Create a user with a password."""
    from services.tap.accounts import AccountError, create_user

    if not use_running_stack():
        return 2
    password = _password(args)
    try:
        with _transaction() as conn:
            create_user(conn, args.name, password)
    except AccountError as exc:
        _err(str(exc))
        return 2
    _err(f"user {args.name!r} created; it logs in at <base URL>/login")
    return 0


def cmd_user_list(args: argparse.Namespace) -> int:
    """List users (never their passwords)."""
    from services.tap.accounts import list_users

    if not use_running_stack():
        return 2
    with _transaction() as conn:
        users = list_users(conn)
    if args.json:
        print(json.dumps(users, default=str, indent=2))
        return 0
    print(f"{'name':<24} {'state':<9} {'sessions+tokens':>15}  created")
    for user in users:
        state = "disabled" if user["disabled"] else "enabled"
        print(
            f"{user['name']:<24} {state:<9} {user['credentials']:>15}  {user['created']:%Y-%m-%d}"
        )
    return 0


def cmd_user_disable(args: argparse.Namespace) -> int:
    """Disable a user: it can no longer log in, and its sessions and tokens stop working."""
    from services.tap.accounts import AccountError, disable_user

    if not use_running_stack():
        return 2
    try:
        with _transaction() as conn:
            disable_user(conn, args.name)
    except AccountError as exc:
        _err(str(exc))
        return 2
    _err(f"user {args.name!r} disabled; its sessions and tokens are revoked")
    return 0


def cmd_user_token(args: argparse.Namespace) -> int:
    """Issue a bearer token for scripts (printed once)."""
    from services.tap.accounts import AccountError, issue_token

    if not use_running_stack():
        return 2
    days = args.days or cfg.SecuritySettings().user_token_days
    try:
        with _transaction() as conn:
            new = issue_token(conn, args.name, days, args.label)
    except AccountError as exc:
        _err(str(exc))
        return 2
    print(new.secret)
    _err(
        f"bearer token of {new.user!r} valid until {new.expires:%Y-%m-%d %H:%M} UTC: this is the "
        "only time it is shown; send it as 'Authorization: Bearer <token>'"
    )
    return 0


def add_commands(sub: Any) -> None:
    """Add ``isla user`` and its subcommands to the ``isla`` parser."""
    user = sub.add_parser("user", help="create, list and disable user accounts")
    usub = user.add_subparsers(dest="user_command", required=True)
    create = usub.add_parser("create", help="create a user (asks for the password)")
    create.add_argument("name", help="user name (lower case, e.g. jdoe)")
    create.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    create.set_defaults(func=cmd_user_create)
    lst = usub.add_parser("list", help="list users")
    lst.add_argument("--json", action="store_true", help="print JSON")
    lst.set_defaults(func=cmd_user_list)
    disable = usub.add_parser("disable", help="disable a user and revoke its sessions")
    disable.add_argument("name")
    disable.set_defaults(func=cmd_user_disable)
    token = usub.add_parser("token", help="issue a bearer token for scripts (printed once)")
    token.add_argument("name")
    token.add_argument("--days", type=float, help="validity in days (ISLA_USER_TOKEN_DAYS)")
    token.add_argument("--label", help="what the token is for")
    token.set_defaults(func=cmd_user_token)
