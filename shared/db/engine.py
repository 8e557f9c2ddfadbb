"""Database engines: one async engine per service process, sync engines for tools."""

from __future__ import annotations

from typing import Any

import psycopg
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shared.observability import count_dependency_error
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


def _count_outages(engine: Engine) -> None:
    """Count the database's failures (``isla_dependency_errors_total``) as the engine meets them.

    A lost or refused connection counts; a query's own failure (a syntax error, a statement
    timeout) does not: it says nothing about the database's health.
    """

    @event.listens_for(engine, "handle_error")
    def _on_error(context: ExceptionContext) -> None:
        exc = context.original_exception
        if isinstance(exc, psycopg.errors.QueryCanceled):
            return
        if context.is_disconnect or isinstance(
            exc, (psycopg.OperationalError, psycopg.InterfaceError)
        ):
            count_dependency_error("database")


def make_async_engine(settings: DatabaseSettings, **kwargs: Any) -> AsyncEngine:
    """The async engine a service uses for its own queries."""
    engine = create_async_engine(
        _url(settings),
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_pool_size,
        pool_pre_ping=True,
        pool_timeout=settings.database_connect_timeout,
        connect_args=_connect_args(settings),
        **kwargs,
    )
    _count_outages(engine.sync_engine)
    return engine


def make_read_engine(settings: DatabaseSettings) -> AsyncEngine | None:
    """The async engine of the read replica (``ISLA_DATABASE_READ_URL``); None when unset."""
    if not settings.database_read_url:
        return None
    # The same pool sizes and timeouts as the primary's engine, another server.
    return make_async_engine(
        settings.model_copy(update={"database_url": settings.database_read_url})
    )


def make_sync_engine(settings: DatabaseSettings, **kwargs: Any) -> Engine:
    """A synchronous engine for command-line tools, migrations and the demo generator."""
    engine = create_engine(
        _url(settings), pool_pre_ping=True, connect_args=_connect_args(settings), **kwargs
    )
    _count_outages(engine)
    return engine


def database_is_empty(engine: Engine) -> bool:
    """True when the archive holds no revolutions yet (a fresh database)."""
    with engine.connect() as conn:
        return not conn.execute(text("SELECT EXISTS (SELECT 1 FROM isla.revolutions)")).scalar()
