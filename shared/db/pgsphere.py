"""pgSphere column types for SQLAlchemy.

No maintained SQLAlchemy dialect for pgSphere exists, so the few types we store are declared
here. Python values are in degrees, the unit astronomers use; pgSphere's text input accepts
degrees with a ``d`` suffix, and its default output is radians, which we convert back.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.types import UserDefinedType

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_PAIR = re.compile(rf"\(\s*({_NUMBER})\s*,\s*({_NUMBER})\s*\)")

Point = tuple[float, float]
"""A position as (ra, dec) in degrees."""


def spoint_literal(ra: float, dec: float) -> str:
    """pgSphere text form of a position given in degrees."""
    if not (math.isfinite(ra) and math.isfinite(dec)):
        raise ValueError(f"position must be finite, got ({ra}, {dec})")
    if not -90.0 <= dec <= 90.0:
        raise ValueError(f"declination {dec} is outside [-90, 90]")
    return f"({ra % 360.0!r}d, {dec!r}d)"


def spoly_literal(vertices: Sequence[Point]) -> str:
    """pgSphere text form of a polygon whose vertices are (ra, dec) in degrees."""
    if len(vertices) < 3:
        raise ValueError("a polygon needs at least three vertices")
    return "{" + ",".join(spoint_literal(ra, dec) for ra, dec in vertices) + "}"


def _pairs_in_degrees(text: str) -> list[Point]:
    """Parse pgSphere's radian output '(a , b)' pairs into degrees."""
    points = []
    for ra, dec in _PAIR.findall(text):
        points.append((math.degrees(float(ra)) % 360.0, math.degrees(float(dec))))
    return points


class SPoint(UserDefinedType[Point]):
    """pgSphere ``spoint``: a position on the sphere, as (ra, dec) degrees in Python."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        """DDL name of the type."""
        return "spoint"

    def bind_processor(self, dialect: Any) -> Callable[[Point | None], str | None]:
        """Render (ra, dec) degrees as pgSphere input text."""

        def process(value: Point | None) -> str | None:
            return None if value is None else spoint_literal(*value)

        return process

    def result_processor(self, dialect: Any, coltype: Any) -> Callable[[Any], Point | None]:
        """Read pgSphere's radian output back as degrees."""

        def process(value: Any) -> Point | None:
            if value is None:
                return None
            points = _pairs_in_degrees(str(value))
            return points[0] if points else None

        return process


class SPoly(UserDefinedType[list[Point]]):
    """pgSphere ``spoly``: a spherical polygon (field of view footprints)."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        """DDL name of the type."""
        return "spoly"

    def bind_processor(self, dialect: Any) -> Callable[[Sequence[Point] | None], str | None]:
        """Render a vertex list as pgSphere input text."""

        def process(value: Sequence[Point] | None) -> str | None:
            return None if value is None else spoly_literal(value)

        return process

    def result_processor(self, dialect: Any, coltype: Any) -> Callable[[Any], list[Point] | None]:
        """Read pgSphere's radian output back as a vertex list in degrees."""

        def process(value: Any) -> list[Point] | None:
            return None if value is None else _pairs_in_degrees(str(value))

        return process


def _register_for_reflection() -> None:
    # Teach the Postgres dialect these type names, so that reflection (Alembic's model/schema
    # comparison) recognises the columns instead of warning and comparing them as NullType.
    from sqlalchemy.dialects.postgresql.base import ischema_names

    ischema_names.setdefault("spoint", SPoint)
    ischema_names.setdefault("spoly", SPoly)


_register_for_reflection()
