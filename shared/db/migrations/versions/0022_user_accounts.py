"""User accounts and their credentials (owners of TAP async jobs)

Revision ID: 0022
Revises: 0023
Create Date: 2026-12-03

Local accounts with Argon2 password hashes, and the digests of their login sessions and
bearer tokens. Jobs already in ``uws_jobs`` keep their owner ``anonymous``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here as written (shared.db.accounts.USER_NAME_PATTERN may change in later revisions).
USER_NAME_PATTERN = r"^[a-z][a-z0-9._-]{1,62}$"


def upgrade() -> None:
    """Create ``isla_ops.users`` and ``isla_ops.user_credentials``."""
    op.create_table(
        "users",
        sa.Column("name", sa.String(63), nullable=False, comment="user name"),
        sa.Column(
            "password_hash", sa.Text(), nullable=False, comment="Argon2id hash of the password"
        ),
        sa.Column(
            "disabled",
            sa.Boolean(),
            server_default="false",
            nullable=False,
            comment="a disabled user can no longer log in",
        ),
        sa.Column(
            "created",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
            comment="when the user was created",
        ),
        sa.CheckConstraint(f"name ~ '{USER_NAME_PATTERN}'", name=op.f("ck_users_name_valid")),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_users")),
        schema="isla_ops",
        comment="Local user accounts (TAP job owners); private: never published.",
    )
    op.create_table(
        "user_credentials",
        sa.Column(
            "digest",
            sa.String(64),
            nullable=False,
            comment="SHA-256 (hex) of the secret the client holds",
        ),
        sa.Column("user_name", sa.String(63), nullable=False, comment="whose credential it is"),
        sa.Column("kind", sa.String(16), nullable=False, comment="'session' or 'token'"),
        sa.Column("label", sa.Text(), nullable=True, comment="what a token is for (operator's)"),
        sa.Column(
            "created",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
            comment="when it was issued",
        ),
        sa.Column(
            "expires",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="when it stops being accepted",
        ),
        sa.CheckConstraint(
            "kind in ('session', 'token')", name=op.f("ck_user_credentials_kind_known")
        ),
        sa.ForeignKeyConstraint(
            ["user_name"],
            ["isla_ops.users.name"],
            name=op.f("fk_user_credentials_user_name_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_user_credentials")),
        schema="isla_ops",
        comment="Login sessions and bearer tokens of users, by SHA-256 digest.",
    )
    op.create_index(
        "ix_user_credentials_user_name",
        "user_credentials",
        ["user_name"],
        unique=False,
        schema="isla_ops",
    )


def downgrade() -> None:
    """Drop the credentials and the users."""
    op.drop_index("ix_user_credentials_user_name", table_name="user_credentials", schema="isla_ops")
    op.drop_table("user_credentials", schema="isla_ops")
    op.drop_table("users", schema="isla_ops")
