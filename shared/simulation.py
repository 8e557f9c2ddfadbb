"""The label every simulated file of the archive carries (the demo archive's raw data and
products), in one place for the FITS writers and the readers that look for it.

A simulated FITS file carries, in every HDU, ``SIMDATA = T``; its primary header also carries
a ``COMMENT`` saying so and ``CREATOR`` naming the demo pipeline with its version. Files
delivered by INTEGRAL's instrument teams never carry ``SIMDATA = T``, so the keyword alone
tells a simulation from a measurement.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from shared import __version__

SIMDATA = "SIMDATA"
"""The boolean keyword of simulated files."""

SIMDATA_COMMENT = "simulated data, not an INTEGRAL measurement"
"""The comment of the ``SIMDATA`` card."""

PIPELINE = f"ISLA demo pipeline {__version__}"
"""``CREATOR`` of every simulated file: the software that made it, with its version."""

COMMENT = f"SIMULATED DATA: made by the {PIPELINE}; not measured by INTEGRAL."
"""The sentence written as ``COMMENT`` into the primary header of every simulated file."""


def comment_lines(width: int = 72) -> list[str]:
    """:data:`COMMENT` cut into the lines of ``COMMENT`` cards (72 characters each)."""
    return textwrap.wrap(COMMENT, width)


def is_simulated(value: object) -> bool:
    """Whether a ``SIMDATA`` value (as a FITS reader returns it) marks simulated data."""
    if isinstance(value, str):
        return value.strip().upper() in ("T", "TRUE")
    return value is True or value == 1


HOLDINGS_SQL = """
SELECT (SELECT count(*) FROM isla.products) AS products,
       (SELECT count(*) FROM isla.products WHERE simulated) AS simulated_products,
       ((SELECT count(*) FROM isla.scw_files) + (SELECT count(*) FROM isla.aux_files))
           AS raw_files,
       ((SELECT count(*) FROM isla.scw_files WHERE simulated)
        + (SELECT count(*) FROM isla.aux_files WHERE simulated)) AS simulated_raw_files
"""
"""One round trip for :class:`Holdings` (columns named as its fields)."""


@dataclass(frozen=True)
class Holdings:
    """How much of the archive is simulated: products and raw files, each counted."""

    products: int
    simulated_products: int
    raw_files: int
    simulated_raw_files: int

    @property
    def any_simulated(self) -> bool:
        """The archive holds simulated data (the demo archive, or part of it)."""
        return bool(self.simulated_products or self.simulated_raw_files)

    def sentence(self) -> str:
        """What is simulated, in words for people (empty when nothing is)."""
        if not self.any_simulated:
            return ""
        delivered_products = self.products - self.simulated_products
        delivered_raw = self.raw_files - self.simulated_raw_files
        return (
            "This archive holds simulated data, made by the ISLA demo pipeline and not measured "
            f"by INTEGRAL: {self.simulated_products:,} of its {self.products:,} science "
            f"products and {self.simulated_raw_files:,} of its {self.raw_files:,} raw files "
            f"are simulated; {delivered_products:,} products and {delivered_raw:,} raw files "
            "were delivered by INTEGRAL. Simulated files say SIMDATA = T in their FITS "
            "headers; TAP marks them with the column simulated (isla.products, "
            "isla.scw_files, isla.aux_files) and ObsCore with isla_simulated = 1 and an "
            "obs_collection ending in '(simulated demo)'."
        )


async def read_holdings(conn: AsyncConnection) -> Holdings:
    """The archive's :class:`Holdings`, counted in one round trip."""
    row = (await conn.execute(text(HOLDINGS_SQL))).one()
    return Holdings(**row._mapping)
