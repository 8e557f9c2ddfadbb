"""The services hand out stored products and views of them: no request path reaches the demo's
source and instrument model, and no service source draws random numbers or evaluates one."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

REQUEST_PACKAGES = ("services.products", "services.tap", "services.raw")
"""The services whose modules answer requests for products (the ingest service loads the demo's
footprint geometry for its raw index and is checked by the source scan below only)."""

MODEL_MODULES = re.compile(
    r"^(shared\.demo(\..*)?|shared\.products\.(model|compute|builders)|.*legacy_model.*)$"
)
"""Modules that make simulated data: the demo pipeline and its model, the old request-time
model (Python's ``random`` is loaded by the standard library itself, so the source scan below
checks that no service uses it)."""

FORBIDDEN = re.compile(
    r"np\.random|numpy\.random|default_rng|\brandom\.|import random|keyed_normals|rng_for|"
    r"standard_normal|photon_flux|band_rate|power_law|crab_rate|effective_area|"
    r"redistribution\(|flux_factor|variability_for|legacy_model|shared\.products\.(model|compute|builders)"
)
"""Random draws and the names of the model's evaluation helpers."""

_PROBE = """
import importlib, json, pkgutil, sys
before = set(sys.modules)
loaded = []
for package in {packages!r}:
    module = importlib.import_module(package)
    loaded.append(package)
    for info in pkgutil.walk_packages(module.__path__, package + "."):
        importlib.import_module(info.name)
        loaded.append(info.name)
print(json.dumps({{"loaded": loaded, "new": sorted(set(sys.modules) - before)}}))
"""


def test_request_modules_do_not_load_the_model() -> None:
    # A fresh interpreter: other tests in this process may have imported the demo already.
    probe = subprocess.run(
        [sys.executable, "-c", _PROBE.format(packages=REQUEST_PACKAGES)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    result = json.loads(probe.stdout.strip().splitlines()[-1])
    loaded = set(result["loaded"])
    # Every room of the products service was imported (the walk did reach them).
    for room in ("lightcurves", "spectra", "mosaics", "sources", "files", "compat", "datalink"):
        assert f"services.products.{room}.routes" in loaded, room
    assert "services.products.compat.retrieval" in loaded
    reached = [m for m in result["new"] if MODEL_MODULES.match(m)]
    assert reached == []


def test_no_service_source_draws_or_models() -> None:
    offences = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sorted((ROOT / "services").rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if FORBIDDEN.search(line)
    ]
    assert offences == []


def test_the_products_library_keeps_only_views() -> None:
    library = ROOT / "shared" / "products"
    assert sorted(p.name for p in library.glob("*.py")) == [
        "__init__.py",
        "bands.py",
        "ogip.py",
        "readers.py",
        "upperlimits.py",
        "views.py",
    ]
    # ogip.py's ARF/RMF writers load the demo's analytic response when the demo makes its
    # files (inside the function: the import probe above shows no request path loads it).
    for name in ("__init__.py", "bands.py", "readers.py", "upperlimits.py", "views.py"):
        for number, line in enumerate((library / name).read_text().splitlines(), 1):
            assert not FORBIDDEN.search(line), f"{name}:{number}: {line.strip()}"


def test_products_routes_hold_no_sql() -> None:
    # One room per family: thin routes, policy in service.py, SQL in store.py.
    rooms = ROOT / "services" / "products"
    sql = re.compile(r"\btext\(|\bSELECT\b|sqlalchemy")
    offences = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sorted(rooms.glob("*/routes.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if sql.search(line)
    ]
    assert len(list(rooms.glob("*/routes.py"))) >= 7
    assert offences == []
    policy = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sorted(rooms.glob("*/*.py"))
        if path.name not in ("store.py", "routes.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\btext\(|\bSELECT\b", line)
    ]
    assert policy == []
