"""Database engines: one async engine per service process, sync engines for tools."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shared.settings import DatabaseSettings


class DatabaseNotConfiguredError(RuntimeError):
    """Raised when a component needs the database but no URL is configured."""


def _url(settings: DatabaseSettings) -> str:
    if not settings.database_url:
        raise DatabaseNotConfiguredError(
            "ISLA_DATABASE_URL is not set: start the embedded stack with `isla up` "
            "or point ISLA_DATABASE_URL at a Postgres with pgSphere"
        )
    return settings.database_url


def _connect_args(settings: DatabaseSettings) -> dict[str, Any]:
    # A bounded connect timeout makes /ready answer 503 quickly when Postgres is down
    # instead of hanging on the TCP handshake.
    return {"connect_timeout": max(1, round(settings.database_connect_timeout))}


def make_async_engine(settings: DatabaseSettings, **kwargs: Any) -> AsyncEngine:
    """The async engine a service uses for its own queries."""
    return create_async_engine(
        _url(settings),
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_pool_size,
        pool_pre_ping=True,
        pool_timeout=settings.database_connect_timeout,
        connect_args=_connect_args(settings),
        **kwargs,
    )


def make_sync_engine(settings: DatabaseSettings, **kwargs: Any) -> Engine:
    """A synchronous engine for command-line tools, migrations and the demo generator."""
    return create_engine(
        _url(settings), pool_pre_ping=True, connect_args=_connect_args(settings), **kwargs
    )


def database_is_empty(engine: Engine) -> bool:
    """True when the archive holds no revolutions yet (a fresh database)."""
    with engine.connect() as conn:
        return not conn.execute(text("SELECT EXISTS (SELECT 1 FROM isla.revolutions)")).scalar()
