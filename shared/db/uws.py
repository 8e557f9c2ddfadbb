"""UWS job tables of the TAP async service (schema ``isla_ops``)."""

from __future__ import annotations

from shared.db.ops import OpsBase

__all__ = ["OpsBase"]
