"""Bearer-token authentication and role checks of the ingest API.

A token looks like ``isla_<8 hex>_<43 url-safe chars>``: the first part (``isla_<8 hex>``) is
its public prefix, stored in clear to find the row and to show in listings; the whole token
carries 256 random bits and only its SHA-256 is stored, compared in constant time. A token
belongs to one team and has one role (:data:`shared.db.ingest.ROLES`); ``operator`` may do
everything, every other role acts for its own team only.

Failures answer in problem+json: 401 with ``WWW-Authenticate: Bearer`` when the token is
missing, malformed, unknown or revoked; 403 when the role or the team does not fit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db.ingest import ROLES
from shared.service import db_engine

TOKEN_ENV = "ISLA_INGEST_TOKEN"  # noqa: S105 - a variable name, not a secret
"""Environment variable the command line reads the token from."""

REALM = "isla-ingest"
_TOKEN_FORM = re.compile(r"^(isla_[0-9a-f]{8})_[A-Za-z0-9_-]{43}$")
_CHALLENGE = {"WWW-Authenticate": f'Bearer realm="{REALM}"'}

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ingest-token",
    description="An ingest token (`isla token create --team T --role R`).",
)


@dataclass(frozen=True)
class Principal:
    """Who calls: the token, its team and its role."""

    token_id: int
    team: str
    role: str

    @property
    def is_operator(self) -> bool:
        """Operators may act on every team's objects."""
        return self.role == "operator"

    def may_act_for(self, team: str) -> bool:
        """True when the caller may change (or read the private state of) ``team``'s objects."""
        return self.is_operator or self.team == team


@dataclass(frozen=True)
class NewToken:
    """A freshly made token: the secret (shown once), its public prefix and its hash."""

    token: str
    prefix: str
    sha256: str


def hash_token(token: str) -> str:
    """SHA-256 of a token, hex (what the database keeps)."""
    return hashlib.sha256(token.encode()).hexdigest()


def generate_token() -> NewToken:
    """A new random token with its prefix and hash."""
    prefix = f"isla_{secrets.token_hex(4)}"
    token = f"{prefix}_{secrets.token_urlsafe(32)}"
    return NewToken(token=token, prefix=prefix, sha256=hash_token(token))


def token_prefix(token: str) -> str | None:
    """The public prefix of a well-formed token, None for anything else."""
    match = _TOKEN_FORM.match(token)
    return match.group(1) if match else None


def unauthorized(detail: str) -> HTTPException:
    """A 401 carrying the Bearer challenge."""
    return HTTPException(status_code=401, detail=detail, headers=_CHALLENGE)


def forbidden(detail: str) -> HTTPException:
    """A 403 (authenticated, but not allowed)."""
    return HTTPException(status_code=403, detail=detail)


_LOOKUP = text(
    "SELECT token_id, team, role, token_hash, revoked_at FROM isla_ops.ingest_tokens "
    "WHERE prefix = :prefix"
)


async def authenticate(engine: AsyncEngine, token: str) -> Principal:
    """The principal of ``token``; raises a 401 HTTPException when it is not valid."""
    prefix = token_prefix(token)
    if prefix is None:
        raise unauthorized("malformed ingest token")
    async with engine.begin() as conn:
        row = (await conn.execute(_LOOKUP, {"prefix": prefix})).first()
        # The digest is compared even when the prefix is unknown, so that timing does not tell
        # which prefixes exist.
        stored = row.token_hash if row is not None else "0" * 64
        if not hmac.compare_digest(stored, hash_token(token)) or row is None:
            raise unauthorized("unknown ingest token")
        if row.revoked_at is not None:
            raise unauthorized("this ingest token has been revoked")
        await conn.execute(
            text(
                "UPDATE isla_ops.ingest_tokens SET last_used_at = timezone('UTC', now()) "
                "WHERE token_id = :id"
            ),
            {"id": row.token_id},
        )
    return Principal(token_id=int(row.token_id), team=str(row.team), role=str(row.role))


PRINCIPAL_STATE = "ingest_principal"
"""Request-state key of the principal a write was authenticated as before its body was read."""


async def principal_of(request: Request) -> Principal:
    """The principal of the request's ``Authorization: Bearer <token>`` (401 without one)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("this endpoint needs an ingest token: Authorization: Bearer <token>")
    return await authenticate(db_engine(request), token.strip())


async def require_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """FastAPI dependency: the caller's principal from ``Authorization: Bearer <token>``.

    Writes were authenticated before their body was read (``services.ingest.app.TokenFirst``):
    that principal is used, without a second lookup.
    """
    early = getattr(request.state, PRINCIPAL_STATE, None)
    if isinstance(early, Principal):
        return early
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise unauthorized("this endpoint needs an ingest token: Authorization: Bearer <token>")
    return await authenticate(db_engine(request), credentials.credentials)


def require_role(*roles: str) -> Callable[..., Awaitable[Principal]]:
    """Dependency factory: the principal, or 403 unless its role is one of ``roles``.

    ``operator`` is always allowed: operators run the archive.
    """
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}")
    allowed = {"operator", *roles}

    async def dependency(
        principal: Annotated[Principal, Depends(require_principal)],
    ) -> Principal:
        if principal.role not in allowed:
            raise forbidden(
                f"role {principal.role!r} may not do this; allowed: {', '.join(sorted(allowed))}"
            )
        return principal

    return dependency


# --- Token administration (command line; direct database access) ------------------------------


def create_token(conn: Connection, team: str, role: str, label: str | None = None) -> NewToken:
    """Create a token for ``team`` (registered on first use) with ``role``; returns the secret."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    conn.execute(
        text("INSERT INTO isla_ops.ingest_teams (name) VALUES (:team) ON CONFLICT DO NOTHING"),
        {"team": team},
    )
    new = generate_token()
    conn.execute(
        text(
            "INSERT INTO isla_ops.ingest_tokens (team, role, prefix, token_hash, label) "
            "VALUES (:team, :role, :prefix, :hash, :label)"
        ),
        {"team": team, "role": role, "prefix": new.prefix, "hash": new.sha256, "label": label},
    )
    return new


def list_tokens(conn: Connection, team: str | None = None) -> list[dict[str, Any]]:
    """Every token (never its secret), newest first, optionally of one team."""
    rows = conn.execute(
        text(
            "SELECT token_id, prefix, team, role, label, created_at, last_used_at, revoked_at "
            "FROM isla_ops.ingest_tokens WHERE (CAST(:team AS text) IS NULL OR team = :team) "
            "ORDER BY token_id DESC"
        ),
        {"team": team},
    ).mappings()
    return [dict(r) for r in rows]


def revoke_token(conn: Connection, ident: str) -> int:
    """Revoke the token with this id or prefix; returns how many tokens were revoked (0 or 1)."""
    column = "token_id" if ident.isdigit() else "prefix"
    value: int | str = int(ident) if ident.isdigit() else ident
    result = conn.execute(
        text(
            f"UPDATE isla_ops.ingest_tokens SET revoked_at = :now "  # noqa: S608 - fixed names
            f"WHERE {column} = :value AND revoked_at IS NULL"
        ),
        {"value": value, "now": dt.datetime.now(dt.UTC).replace(tzinfo=None)},
    )
    return int(result.rowcount)
