"""Users for tests: created through the same functions as ``isla user create|token``."""

from __future__ import annotations

import requests
from sqlalchemy import create_engine

from services.tap.accounts import create_user, issue_token

PASSWORD = "a-long-enough-password"
"""The password of every test user."""


def make_user(database_url: str, name: str, password: str = PASSWORD) -> None:
    """Create user ``name`` in the database at ``database_url`` (if it is not there)."""
    engine = create_engine(database_url)
    try:
        with engine.begin() as conn:
            exists = conn.exec_driver_sql(
                "SELECT 1 FROM isla_ops.users WHERE name = %(n)s", {"n": name}
            ).first()
            if exists is None:
                create_user(conn, name, password)
    finally:
        engine.dispose()


def bearer_token(database_url: str, name: str) -> str:
    """A new bearer token of ``name`` (made as ``isla user token`` does)."""
    engine = create_engine(database_url)
    try:
        with engine.begin() as conn:
            return issue_token(conn, name, days=1, label="tests").secret
    finally:
        engine.dispose()


def bearer_session(token: str) -> requests.Session:
    """A requests session (for pyvo) sending ``token``."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    return session
