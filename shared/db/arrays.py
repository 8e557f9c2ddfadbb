"""numpy arrays as PostgreSQL array parameters, sent in the binary format.

psycopg dumps a Python list element by element in Python (its list dumper has no C version), so
a parameter of a million floats costs a million Python calls. An ndarray already holds the
values; PostgreSQL's binary array format is a fixed header followed by (length, value) pairs,
which numpy writes in one step. Wrap the array (:func:`float8s`, :func:`int8s`, :func:`int4s`),
call :func:`register` on the connection once, and pass the wrapper as a parameter.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from psycopg.adapt import Dumper
from psycopg.pq import Format
from sqlalchemy import Connection


class PgArray:
    """A one-dimensional array without NULLs, encoded for PostgreSQL's binary format."""

    element_oid = 0
    dtype = ""

    def __init__(self, values: npt.ArrayLike) -> None:
        """Encode ``values`` (converted to the element type)."""
        data = np.asarray(values, dtype=self.dtype).ravel()
        width = np.dtype(self.dtype).itemsize
        # ndim, has-nulls flag, element type; then (size, lower bound) of the one dimension.
        head = [1 if data.size else 0, 0, self.element_oid]
        if data.size:
            head += [data.size, 1]
        pairs = np.empty(data.size, dtype=[("length", ">i4"), ("value", self.dtype)])
        pairs["length"] = width
        pairs["value"] = data
        self.encoded = np.asarray(head, dtype=">i4").tobytes() + pairs.tobytes()


class Float8s(PgArray):
    """A ``float8[]`` parameter."""

    element_oid = 701
    dtype = ">f8"


class Int8s(PgArray):
    """A ``bigint[]`` parameter."""

    element_oid = 20
    dtype = ">i8"


class Int4s(PgArray):
    """An ``integer[]`` parameter."""

    element_oid = 23
    dtype = ">i4"


def _dumper(array_oid: int) -> type[Dumper]:
    class _ArrayDumper(Dumper):
        format = Format.BINARY
        oid = array_oid

        def dump(self, obj: Any) -> bytes:
            return bytes(obj.encoded)

    return _ArrayDumper


_DUMPERS: dict[type[PgArray], type[Dumper]] = {
    Float8s: _dumper(1022),
    Int8s: _dumper(1016),
    Int4s: _dumper(1007),
}


def register(conn: Connection) -> None:
    """Let ``conn`` (a psycopg connection under SQLAlchemy) send the wrappers as parameters."""
    adapters = conn.connection.driver_connection.adapters  # type: ignore[union-attr]
    for cls, dumper in _DUMPERS.items():
        adapters.register_dumper(cls, dumper)


__all__ = ["Float8s", "Int4s", "Int8s", "PgArray", "register"]
