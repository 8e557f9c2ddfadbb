"""Operational tables (schema ``isla_ops``): job queues, UWS jobs, ingest tokens and audit.

They live apart from the archive schema ``isla`` on purpose: TAP_SCHEMA publishes every table
of :data:`shared.db.models.Base`, and the read-only TAP role must never see tokens, job
parameters of other users or audit records. Tables here subclass :class:`OpsBase`.
"""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from shared.db.models import NAMING

OPS_SCHEMA = "isla_ops"


class OpsBase(DeclarativeBase):
    """Declarative base of the operational tables (not published through TAP)."""

    metadata = MetaData(schema=OPS_SCHEMA, naming_convention=NAMING)
