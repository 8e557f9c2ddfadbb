"""User accounts: passwords, login sessions, bearer tokens, and who is calling.

Accounts are local (``isla user create|list|disable|token``). Passwords are kept as Argon2id
hashes (argon2-cffi, its recommended parameters). A login gives a session: a random secret
sent back as the cookie :data:`SESSION_COOKIE`; a script uses a bearer token
(``Authorization: Bearer <token>``) made by ``isla user token``. Of both, only a SHA-256
digest is stored (``isla_ops.user_credentials``): a stolen database reveals no usable
credential, and logging out or disabling a user revokes them at once, which a signed cookie
could not offer (hence no signing secret to keep either).

The routes are those astroquery's ESA clients call (``astroquery.esa.utils.ESAAuthSession``):
``POST <base>/login`` with the form fields ``username`` and ``password``, and
``POST <base>/logout``; both answer ``text/plain``. They are never open to other origins
(CORS), and the cookie is ``HttpOnly`` and ``SameSite=Lax``, so another site's page cannot
act with it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from sqlalchemy import Connection, Table, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from services.tap.login_throttle import login_throttle, refused
from shared.db.accounts import USER_NAME_PATTERN, User, UserCredential
from shared.service import db_engine
from shared.settings import account_settings, peer_settings
from shared.vo.errors import UsageFault

USERS: Table = User.__table__  # type: ignore[assignment]
CREDENTIALS: Table = UserCredential.__table__  # type: ignore[assignment]

SESSION_COOKIE = "isla_session"
"""Name of the login session cookie."""

TOKEN_PREFIX = "islu_"  # noqa: S105 - a public prefix, not a secret
"""Start of every user bearer token (tells it apart from an ingest token in logs and scans)."""

FORM_MAX_BYTES = 16 * 1024
"""Largest login form read: a user name and a password, with room to spare."""

_HASHER = PasswordHasher()
# A hash to verify against when the user does not exist, so that a login for an unknown name
# costs as much as one with a wrong password (no user enumeration by timing).
_DUMMY_HASH = _HASHER.hash(secrets.token_hex(16))


class AccountError(ValueError):
    """An account operation refused (unknown user, bad name, too short a password)."""


@dataclass(frozen=True)
class NewCredential:
    """A session or token just issued: ``secret`` is shown once and never stored."""

    secret: str
    user: str
    expires: dt.datetime


def now() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


def digest(secret: str) -> str:
    """The stored form of a session or token secret (SHA-256, hex)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def hash_password(password: str) -> str:
    """The Argon2id hash of ``password``."""
    return _HASHER.hash(password)


def password_matches(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches ``password_hash`` (None: no such user; always False)."""
    try:
        return _HASHER.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def check_new_account(name: str, password: str) -> None:
    """Refuse an invalid user name or a password shorter than the configured minimum."""
    if not re.fullmatch(USER_NAME_PATTERN, name):
        raise AccountError(
            f"user name {name!r} is not valid: 2-63 characters, lower-case letters, digits, "
            "'.', '_' or '-', starting with a letter"
        )
    shortest = account_settings().password_min_length
    if len(password) < shortest:
        raise AccountError(f"the password must have at least {shortest} characters")


# ---------------------------------------------------------------------------------------------
# administration (``isla user ...``): synchronous, on the operator's connection


def create_user(conn: Connection, name: str, password: str) -> None:
    """Create an enabled user; AccountError when the name is taken or invalid."""
    check_new_account(name, password)
    if conn.execute(select(USERS.c.name).where(USERS.c.name == name)).first() is not None:
        raise AccountError(f"user {name!r} exists already")
    conn.execute(insert(USERS).values(name=name, password_hash=hash_password(password)))


def list_users(conn: Connection) -> list[dict[str, Any]]:
    """Every user with its state and its number of live sessions and tokens."""
    live = (
        select(CREDENTIALS.c.user_name, func.count().label("n"))
        .where(CREDENTIALS.c.expires > now())
        .group_by(CREDENTIALS.c.user_name)
        .subquery()
    )
    query = (
        select(USERS.c.name, USERS.c.disabled, USERS.c.created, func.coalesce(live.c.n, 0))
        .outerjoin(live, live.c.user_name == USERS.c.name)
        .order_by(USERS.c.name)
    )
    return [
        {"name": name, "disabled": disabled, "created": created, "credentials": int(n)}
        for name, disabled, created, n in conn.execute(query)
    ]


def disable_user(conn: Connection, name: str) -> None:
    """Disable a user and revoke all its sessions and tokens; AccountError when unknown."""
    done = conn.execute(update(USERS).where(USERS.c.name == name).values(disabled=True))
    if not done.rowcount:
        raise AccountError(f"there is no user {name!r}")
    conn.execute(delete(CREDENTIALS).where(CREDENTIALS.c.user_name == name))


def issue_token(conn: Connection, name: str, days: float, label: str | None) -> NewCredential:
    """A new bearer token for enabled user ``name``, valid ``days`` days."""
    user = conn.execute(select(USERS.c.disabled).where(USERS.c.name == name)).first()
    if user is None or user.disabled:
        raise AccountError(f"there is no enabled user {name!r}")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires = now() + dt.timedelta(days=days)
    conn.execute(
        insert(CREDENTIALS).values(
            digest=digest(secret), user_name=name, kind="token", label=label, expires=expires
        )
    )
    return NewCredential(secret, name, expires)


# ---------------------------------------------------------------------------------------------
# requests


async def _user_of(conn: AsyncConnection, secret: str, kinds: Iterable[str]) -> str | None:
    query = (
        select(USERS.c.name)
        .join(CREDENTIALS, CREDENTIALS.c.user_name == USERS.c.name)
        .where(
            CREDENTIALS.c.digest == digest(secret),
            CREDENTIALS.c.kind.in_(list(kinds)),
            CREDENTIALS.c.expires > now(),
            USERS.c.disabled.is_(False),
        )
    )
    name = (await conn.execute(query)).scalar()
    return str(name) if name is not None else None


async def current_user(request: Request) -> str | None:
    """The user calling (by bearer token or session cookie), or None when anonymous.

    A bearer token that is not valid is refused (401), as a script must know its token no
    longer works; a stale session cookie only makes the caller anonymous, as a browser keeps
    cookies long after logout.
    """
    cached: str | None
    if (cached := getattr(request.state, "isla_user", "-")) != "-":
        return cached
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    user: str | None = None
    if scheme.lower() == "bearer" and value.strip():
        async with db_engine(request).connect() as conn:
            user = await _user_of(conn, value.strip(), ("token", "session"))
        if user is None:
            raise UsageFault(
                "the bearer token is not valid (unknown, expired or revoked)",
                401,
                headers={"WWW-Authenticate": 'Bearer realm="isla"'},
            )
    elif cookie := request.cookies.get(SESSION_COOKIE):
        async with db_engine(request).connect() as conn:
            user = await _user_of(conn, cookie, ("session",))
    request.state.isla_user = user
    return user


async def _form(request: Request) -> dict[str, str]:
    """The url-encoded form of a login, read with a size limit."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_MAX_BYTES:
            raise UsageFault("the login form is too large", 413)
    try:
        fields = parse_qs(body.decode(), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        raise UsageFault("the login form must be application/x-www-form-urlencoded") from None
    return {key: values[0] for key, values in fields.items() if values}


router = APIRouter(tags=["accounts"])


LOGIN_FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["username", "password"],
                    "properties": {
                        "username": {"type": "string", "maxLength": 63},
                        "password": {"type": "string", "format": "password"},
                    },
                }
            }
        },
    },
    "responses": {
        "401": {"description": "wrong user name or password"},
        "429": {"description": "too many failed logins: wait for Retry-After seconds"},
    },
}
"""The login form as the OpenAPI document declares it (the handler reads the body itself,
with a size limit)."""


@router.post("/login", response_class=PlainTextResponse, openapi_extra=LOGIN_FORM)
async def login(request: Request) -> Response:
    """Log in with the form fields ``username`` and ``password``; sets the session cookie."""
    form = await _form(request)
    name, password = form.get("username", "").strip(), form.get("password", "")
    if not name or not password:
        return PlainTextResponse("username and password are required", status_code=400)
    # Guessing is braked before the password is even looked at (services/tap/login_throttle.py).
    throttle = login_throttle()
    address = request.client.host if request.client else "unknown"
    if blocked := throttle.retry_after(name, address):
        seconds, reason = blocked
        refused(reason)
        return PlainTextResponse(
            f"too many failed logins; try again in {seconds} s",
            status_code=429,
            headers={"Retry-After": str(seconds)},
        )
    engine = db_engine(request)
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(USERS.c.password_hash, USERS.c.disabled).where(USERS.c.name == name)
            )
        ).first()
    known = row.password_hash if row is not None and not row.disabled else None
    # Argon2 takes tens of milliseconds of CPU on purpose: off the event loop.
    if not await asyncio.to_thread(password_matches, known, password):
        throttle.failed(name, address)
        return PlainTextResponse(
            "wrong user name or password", status_code=401, headers={"WWW-Authenticate": "Form"}
        )
    throttle.succeeded(name)
    settings = account_settings()
    secret = secrets.token_urlsafe(32)
    expires = now() + dt.timedelta(seconds=settings.session_lifetime)
    async with engine.begin() as conn:
        await conn.execute(
            insert(CREDENTIALS).values(
                digest=digest(secret), user_name=name, kind="session", expires=expires
            )
        )
        # Sessions that expired are of no use: each login sweeps its user's.
        await conn.execute(
            delete(CREDENTIALS).where(
                CREDENTIALS.c.user_name == name, CREDENTIALS.c.expires <= now()
            )
        )
    response = PlainTextResponse(f"logged in as {name}\n")
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=settings.session_lifetime,
        path="/",
        httponly=True,
        samesite="lax",
        secure=peer_settings().base_url.startswith("https://"),
    )
    return response


@router.post("/logout", response_class=PlainTextResponse)
async def logout(request: Request) -> Response:
    """End the caller's session (its cookie stops working everywhere); always 200."""
    if cookie := request.cookies.get(SESSION_COOKIE):
        async with db_engine(request).begin() as conn:
            await conn.execute(
                delete(CREDENTIALS).where(
                    CREDENTIALS.c.digest == digest(cookie), CREDENTIALS.c.kind == "session"
                )
            )
    response = PlainTextResponse("logged out\n")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


__all__ = [
    "SESSION_COOKIE",
    "AccountError",
    "NewCredential",
    "create_user",
    "current_user",
    "disable_user",
    "issue_token",
    "list_users",
    "router",
]
