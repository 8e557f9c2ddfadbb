"""Local user accounts of the archive and their credentials (schema ``isla_ops``).

A user logs in with a password (kept as an Argon2 hash, never in clear) and gets a browser
session; scripts use bearer tokens made by ``isla user token``. Both are random secrets of
which only a SHA-256 digest is stored, in :class:`UserCredential`: logging out or disabling the
user deletes them at once, which a signed cookie could not offer. TAP async jobs record their
creator's user name in ``uws_jobs.owner``.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, CheckConstraint, DateTime, ForeignKey, Index, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from shared.db.ops import OpsBase

USER_NAME_PATTERN = r"^[a-z][a-z0-9._-]{1,62}$"
"""User names: lower case, starting with a letter, 2 to 63 characters (safe in logs and URLs)."""

CREDENTIAL_KINDS = ("session", "token")
"""``session``: a browser/client login (cookie); ``token``: a bearer token for scripts."""


class User(OpsBase):
    """A local account of the archive."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(f"name ~ '{USER_NAME_PATTERN}'", name="name_valid"),
        {"comment": "Local user accounts (TAP job owners); private: never published."},
    )

    name: Mapped[str] = mapped_column(String(63), primary_key=True, comment="user name")
    password_hash: Mapped[str] = mapped_column(Text, comment="Argon2id hash of the password")
    disabled: Mapped[bool] = mapped_column(
        Boolean, server_default="false", comment="a disabled user can no longer log in"
    )
    created: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), comment="when the user was created"
    )


class UserCredential(OpsBase):
    """A login session or a bearer token of a user (only its digest is kept)."""

    __tablename__ = "user_credentials"
    __table_args__ = (
        CheckConstraint(
            "kind in (" + ", ".join(f"'{k}'" for k in CREDENTIAL_KINDS) + ")", name="kind_known"
        ),
        Index("ix_user_credentials_user_name", "user_name"),
        {"comment": "Login sessions and bearer tokens of users, by SHA-256 digest."},
    )

    digest: Mapped[str] = mapped_column(
        String(64), primary_key=True, comment="SHA-256 (hex) of the secret the client holds"
    )
    user_name: Mapped[str] = mapped_column(
        String(63),
        ForeignKey("users.name", ondelete="CASCADE"),
        comment="whose credential it is",
    )
    kind: Mapped[str] = mapped_column(String(16), comment="'session' or 'token'")
    label: Mapped[str | None] = mapped_column(Text, comment="what a token is for (operator's)")
    created: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), comment="when it was issued"
    )
    expires: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), comment="when it stops being accepted"
    )


__all__ = ["CREDENTIAL_KINDS", "USER_NAME_PATTERN", "User", "UserCredential"]
