"""UWS jobs of the TAP async service and the job queue

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25

Two things in schema ``isla_ops`` (private: the TAP reader role has no access to it):

- ``uws_jobs``, the state of every TAP async job (:class:`shared.db.uws.UwsJob`);
- the job queue: procrastinate's own schema (tables ``procrastinate_*``, their types,
  functions and triggers), applied from the SQL file the installed procrastinate ships.
  Its SQL names nothing by schema, so it is run with ``isla_ops`` first on the search path,
  and the queue's connections (``shared.jobs``) use the same search path. env.py leaves the
  ``procrastinate_*`` tables out of ``alembic check``. A procrastinate upgrade that changes
  its schema needs a migration here applying its migration files the same way.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from procrastinate.schema import SchemaManager
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPS = "isla_ops"
PHASES = (
    "PENDING",
    "QUEUED",
    "EXECUTING",
    "COMPLETED",
    "ERROR",
    "ABORTED",
    "UNKNOWN",
    "HELD",
    "SUSPENDED",
    "ARCHIVED",
)


def _driver_connection() -> Any:
    # The raw psycopg connection, in alembic's transaction: procrastinate's SQL is many
    # statements with '%' and ':' in it, which SQLAlchemy's text() and psycopg's parameter
    # parsing would both misread; a plain execute without parameters sends it as it is.
    return op.get_bind().connection.driver_connection


def upgrade() -> None:
    """Create the UWS job table and the job queue's schema."""
    op.create_table(
        "uws_jobs",
        sa.Column(
            "job_id",
            sa.String(length=64),
            nullable=False,
            comment="unguessable identifier (URL-safe random)",
        ),
        sa.Column("run_id", sa.Text(), nullable=True, comment="client-supplied RUNID"),
        sa.Column(
            "owner",
            sa.Text(),
            server_default="anonymous",
            nullable=False,
            comment="who created the job ('anonymous' for now)",
        ),
        sa.Column("phase", sa.String(length=16), nullable=False, comment="UWS execution phase"),
        sa.Column(
            "parameters",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="{}",
            nullable=False,
            comment="TAP parameters by upper-case name (LANG, QUERY, ...)",
        ),
        sa.Column(
            "uploads",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="[]",
            nullable=False,
            comment="inline UPLOAD tables stored in the jobs bucket: name, key, size",
        ),
        sa.Column(
            "creation_time",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="when the job was created",
        ),
        sa.Column(
            "start_time",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="when the query started",
        ),
        sa.Column(
            "end_time",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="when the job reached a final phase",
        ),
        sa.Column(
            "quote",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="predicted completion time (unknown: null)",
        ),
        sa.Column(
            "execution_duration",
            sa.Integer(),
            nullable=False,
            comment="seconds the query may run (0: the service's limit)",
        ),
        sa.Column(
            "destruction",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="when the job and its results are deleted",
        ),
        sa.Column("error_message", sa.Text(), nullable=True, comment="error summary"),
        sa.Column(
            "error_type",
            sa.String(length=16),
            nullable=True,
            comment="'fatal' or 'transient' (UWS errorSummary type)",
        ),
        sa.Column(
            "result_key",
            sa.Text(),
            nullable=True,
            comment="object key of the result in the jobs bucket",
        ),
        sa.Column("result_size", sa.BigInteger(), nullable=True, comment="result size in bytes"),
        sa.Column("result_content_type", sa.Text(), nullable=True, comment="result MIME type"),
        sa.Column("result_rows", sa.BigInteger(), nullable=True, comment="rows in the result"),
        sa.Column(
            "result_overflow",
            sa.Boolean(),
            nullable=True,
            comment="true when MAXREC truncated the result",
        ),
        sa.Column(
            "backend_pid",
            sa.Integer(),
            nullable=True,
            comment="Postgres backend pid of the running query (for ABORT)",
        ),
        sa.Column(
            "queue_job_id",
            sa.BigInteger(),
            nullable=True,
            comment="id of the procrastinate job that runs it",
        ),
        sa.CheckConstraint(
            "phase in (" + ", ".join(f"'{p}'" for p in PHASES) + ")",
            name=op.f("ck_uws_jobs_phase_known"),
        ),
        sa.CheckConstraint("execution_duration >= 0", name=op.f("ck_uws_jobs_duration_positive")),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_uws_jobs")),
        schema=OPS,
        comment="TAP async (UWS 1.1) jobs; private: never published through TAP.",
    )
    op.create_index(
        "ix_uws_jobs_owner_creation_time",
        "uws_jobs",
        ["owner", "creation_time"],
        unique=False,
        schema=OPS,
    )
    op.create_index(
        "ix_uws_jobs_destruction", "uws_jobs", ["destruction"], unique=False, schema=OPS
    )
    conn = _driver_connection()
    conn.execute(f"SET LOCAL search_path TO {OPS}, public")
    conn.execute(SchemaManager.get_schema())
    # Back to env.py's path for the migrations that follow in the same transaction.
    conn.execute("SET LOCAL search_path TO public")


def downgrade() -> None:
    """Drop the job queue's schema and the UWS job table."""
    _driver_connection().execute(
        """
        DO $$
        DECLARE item record;
        BEGIN
            FOR item IN
                SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = 'isla_ops' AND c.relkind = 'r'
                  AND c.relname LIKE 'procrastinate\\_%'
            LOOP
                EXECUTE format('DROP TABLE IF EXISTS isla_ops.%I CASCADE', item.relname);
            END LOOP;
            FOR item IN
                SELECT p.oid::regprocedure AS sig FROM pg_proc p
                JOIN pg_namespace n ON n.oid = p.pronamespace
                WHERE n.nspname = 'isla_ops' AND p.proname LIKE 'procrastinate\\_%'
            LOOP
                EXECUTE format('DROP FUNCTION IF EXISTS %s CASCADE', item.sig);
            END LOOP;
            FOR item IN
                SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
                WHERE n.nspname = 'isla_ops' AND t.typname LIKE 'procrastinate\\_%'
                  AND t.typtype IN ('e', 'c')
            LOOP
                EXECUTE format('DROP TYPE IF EXISTS isla_ops.%I CASCADE', item.typname);
            END LOOP;
        END $$;
        """
    )
    op.drop_index("ix_uws_jobs_destruction", table_name="uws_jobs", schema=OPS)
    op.drop_index("ix_uws_jobs_owner_creation_time", table_name="uws_jobs", schema=OPS)
    op.drop_table("uws_jobs", schema=OPS)
