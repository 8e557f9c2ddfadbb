"""Alembic environment: migrations of the archive schema (run by ``isla migrate``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool, text

from shared.db import accounts as _account_tables  # noqa: F401 - registers the user tables
from shared.db import ingest as _ingest_tables  # noqa: F401 - registers the ingest tables
from shared.db import serving as _serving_tables  # noqa: F401 - registers the serving copies
from shared.db import uws as _uws_tables  # noqa: F401 - registers the UWS tables
from shared.db.models import SCHEMA, Base
from shared.db.ops import OPS_SCHEMA, OpsBase

config = context.config
target_metadata = [Base.metadata, OpsBase.metadata]
MANAGED_SCHEMAS = (SCHEMA, OPS_SCHEMA)


def _include_name(name: str | None, type_: str, parent_names: object) -> bool:
    # Only the archive's schema and the operational one are managed here; TAP_SCHEMA, the ila
    # views and the job queue's own tables are created by their own code.
    if type_ == "schema":
        return name in MANAGED_SCHEMAS
    # procrastinate's queue tables (isla_ops.procrastinate_*) come from its own SQL (0004).
    return not (type_ == "table" and (name or "").startswith("procrastinate_"))


def run_migrations_online() -> None:
    """Apply migrations over one connection, inside one transaction."""
    url = config.get_main_option("sqlalchemy.url")
    assert url
    # A fixed search_path: with a role named like the schema ("isla"), Postgres' default
    # "$user" path would make the archive schema the default one, which reflection then
    # reports without its name and autogenerate compares wrongly.
    engine = create_engine(
        url, poolclass=pool.NullPool, connect_args={"options": "-c search_path=public"}
    )
    with engine.connect() as connection:
        # Concurrent starters (several services on one fresh database) must not race.
        connection.execute(text("SELECT pg_advisory_lock(724110)"))
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            include_schemas=True,
            include_name=_include_name,
            version_table_schema=SCHEMA,
            compare_type=True,
        )
        connection.execute(text("CREATE EXTENSION IF NOT EXISTS pg_sphere"))
        for schema in MANAGED_SCHEMAS:
            connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {schema}"))
        connection.commit()
        with context.begin_transaction():
            context.run_migrations()
        connection.execute(text("SELECT pg_advisory_unlock(724110)"))
        connection.commit()


run_migrations_online()
