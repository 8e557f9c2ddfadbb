"""Ingest tables: teams, hashed tokens, the audit trail (schema ``isla_ops``)."""

from __future__ import annotations

from shared.db.ops import OpsBase

__all__ = ["OpsBase"]
