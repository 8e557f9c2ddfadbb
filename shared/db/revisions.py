"""An earlier migration revision's module, for a later revision that builds on its frozen SQL.

The revision files are not a package (Alembic loads them by path), so a revision that derives
its view from an earlier one's text, or a test that checks a revision's expressions, loads that
file by name through this one function.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

VERSIONS = Path(__file__).with_name("migrations") / "versions"
"""The folder of the revision files."""


def revision_module(file_name: str) -> ModuleType:
    """The module of the revision file ``file_name`` (e.g. ``0042_query_latency.py``)."""
    path = VERSIONS / file_name
    spec = importlib.util.spec_from_file_location(f"isla_migration_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(path)
    module = importlib.util.module_from_spec(spec)
    # Dataclasses and the like look their module up while it executes.
    sys.modules.setdefault(spec.name, module)
    spec.loader.exec_module(module)
    return module
