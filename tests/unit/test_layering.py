"""The house's layering, read from the source tree with ``ast`` (nothing is imported).

- ``shared/`` is the library every service stands on: it never imports a service;
- the services talk over HTTP: no service package imports another's;
- no import cycles among the modules of ``shared`` and ``services`` (imports at module level;
  an import inside a function runs later and is left out, as are ``TYPE_CHECKING`` blocks);
- route modules stay thin: no ``routes.py`` holds SQL (that lives in the rooms' stores).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("shared", "services")
SERVICES = ("tap", "raw", "products", "ingest")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def _modules() -> dict[str, Path]:
    """Every module of the packages by dotted name (migrations are scripts, left out)."""
    out = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            out[_module_name(path)] = path
    return out


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _deferred(node: ast.AST) -> bool:
    """Code that does not run at import time: a function body or a ``TYPE_CHECKING`` block."""
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
        return True
    return isinstance(node, ast.If) and _is_type_checking(node)


def _imports(node: ast.AST, module: str, top_level: bool) -> Iterator[str]:
    """Dotted names imported under ``node`` (module-level only when ``top_level``)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import):
            yield from (alias.name for alias in child.names)
        elif isinstance(child, ast.ImportFrom):
            if child.level:  # relative: resolve against the importing module's package
                is_package = _modules()[module].name == "__init__.py"
                base = module.split(".")
                base = base[: len(base) - child.level + (1 if is_package else 0)]
                prefix = ".".join(base + ([child.module] if child.module else []))
            else:
                prefix = child.module or ""
            for alias in child.names:
                # ``from pkg import mod`` imports the module pkg.mod where there is one.
                candidate = f"{prefix}.{alias.name}"
                yield candidate if candidate in _modules() else prefix
        elif not top_level or not _deferred(child):
            yield from _imports(child, module, top_level)


@cache
def _tree(module: str) -> ast.Module:
    return ast.parse(_modules()[module].read_text("utf-8"))


def _all_imports(module: str) -> set[str]:
    return set(_imports(_tree(module), module, top_level=False))


def _graph() -> dict[str, set[str]]:
    """Module-level import edges between modules of the packages."""
    known = _modules()
    return {
        module: {name for name in _imports(_tree(module), module, True) if name in known}
        for module in known
    }


def _owner(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if parts[0] == "services" and len(parts) > 1 else None


def test_the_tree_is_read() -> None:
    modules = _modules()
    assert "shared.service" in modules and "services.products.app" in modules
    graph = _graph()
    assert "shared.service" in graph["services.products.app"]
    # ``from pkg import module`` is an edge to the module; a relative import is resolved.
    assert "services.products.datalink.store" in graph["services.products.datalink.routes"]


def test_shared_never_imports_a_service() -> None:
    offenders = {
        module: sorted(n for n in _all_imports(module) if n.split(".")[0] == "services")
        for module in _modules()
        if module.split(".")[0] == "shared"
    }
    assert {m: names for m, names in offenders.items() if names} == {}


@pytest.mark.parametrize("service", SERVICES)
def test_no_service_imports_another(service: str) -> None:
    offenders = {
        module: sorted(n for n in _all_imports(module) if _owner(n) not in (None, service))
        for module in _modules()
        if _owner(module) == service
    }
    assert {m: names for m, names in offenders.items() if names} == {}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), or with a
    self-import."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph[node]:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_no_import_cycles() -> None:
    assert _cycles(_graph()) == []


SQL = re.compile(
    r"\btext\(|\bSELECT\s|\bINSERT\s+INTO\b|\bUPDATE\s+\w+\s+SET\b|\bDELETE\s+FROM\b"
    r"|\bexec_driver_sql\("
)
"""What SQL in a module looks like: a ``text()`` clause or a statement's keywords."""


def test_no_route_module_holds_sql() -> None:
    routes = sorted((ROOT / "services").rglob("routes.py"))
    assert routes, "route modules are found"
    offenders = {
        str(path.relative_to(ROOT)): sorted(set(SQL.findall(path.read_text("utf-8"))))
        for path in routes
    }
    assert {p: found for p, found in offenders.items() if found} == {}
