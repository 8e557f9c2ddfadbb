"""Make Debian 12's pgSphere 1.2.0 install script load on current PostgreSQL 15 releases.

PostgreSQL 15.x point releases reject an operator whose declared commutator or negator is
already paired with another operator. pgSphere 1.2.0 (Debian package
``postgresql-15-pgsphere`` 1.1.1+2021-11-10) declares its two DaCHS-compatibility ``@``
operators on ``smoc`` with ``COMMUTATOR = '@>'`` and ``NEGATOR = '!<@'``, both already taken by
``<@``, so ``CREATE EXTENSION pg_sphere`` fails with "commutator operator @> is already the
commutator of operator <@". Upstream pgSphere dropped those two clauses; this does the same to
the installed script, idempotently. Run as root by ``make install-system``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

DEFAULT_SCRIPT = Path("/usr/share/postgresql/15/extension/pg_sphere--1.2.0.sql")

_AT_OPERATOR = re.compile(r"CREATE OPERATOR @ \([^;]*?\);")
_BAD_CLAUSES = re.compile(r"\n\s*(?:COMMUTATOR\s*=\s*'@>'|NEGATOR\s*=\s*'!<@'),")


def patched(script: str) -> str:
    """The script text without the conflicting clauses of the ``@`` operators."""
    return _AT_OPERATOR.sub(lambda m: _BAD_CLAUSES.sub("", m.group(0)), script)


def patch_file(path: Path = DEFAULT_SCRIPT) -> bool:
    """Patch ``path`` in place; return True when it changed."""
    if not path.exists():
        return False
    text = path.read_text()
    fixed = patched(text)
    if fixed == text:
        return False
    path.write_text(fixed)
    return True


def main() -> int:
    """Command-line entry: patch the given script (default: Debian's pgSphere 1.2.0)."""
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_SCRIPT
    changed = patch_file(path)
    print(f"pgSphere script {path}: {'patched' if changed else 'already fine'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
