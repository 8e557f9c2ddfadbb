"""The DOI suffix scheme: readable, lower case, derived from the archive's own identifiers.

DOIs are case-insensitive, so suffixes are stored lower case; characters outside DataCite's
recommended set (``a-z 0-9 - . _ ; ( ) /``) are replaced (``+`` of source ids becomes ``p``).
The scheme is stable: a suffix depends only on what it identifies, never on when it was made.
"""

from __future__ import annotations

import re

from shared.settings import TEST_DOI_PREFIX

ARCHIVE = "isla"
"""The whole archive."""
RAW = "isla.raw"
"""Raw data, all instruments."""
PRODUCTS = "isla.products"
"""Science products, all types."""
CATALOGUES = "isla.catalogues"
"""Source catalogues, all versions."""

RAW_INSTRUMENTS: dict[str, tuple[str, str]] = {
    "ISGRI": ("isgri", "isgri_good_time"),
    "PICsIT": ("picsit", "picsit_good_time"),
    "JEM-X": ("jem-x", "coalesce(jemx1_good_time, 0) + coalesce(jemx2_good_time, 0)"),
    "SPI": ("spi", "spi_good_time"),
    "OMC": ("omc", "omc_good_time"),
}
"""Instruments with a raw-data collection: suffix part and the science-window column (an SQL
expression of ``isla.science_windows``) whose positive value says the instrument took data."""

_OUTSIDE = re.compile(r"[^a-z0-9\-._;()/]")


def _clean(value: str) -> str:
    return _OUTSIDE.sub("-", value.lower().replace("+", "p"))


def raw_collection(instrument: str) -> str:
    """Suffix of an instrument's raw-data collection."""
    return f"{RAW}.{RAW_INSTRUMENTS[instrument][0]}"


def revolution(rev: int) -> str:
    """Suffix of a revolution's raw-data bundle."""
    return f"isla.rev.{rev:04d}"


def product_collection(kind: str) -> str:
    """Suffix of the collection of one product type."""
    return f"{PRODUCTS}.{_clean(kind)}"


def product(product_id: str) -> str:
    """Suffix of one product (its product id, cleaned)."""
    return f"isla.product/{_clean(product_id)}"


def catalogue(name: str, version: str) -> str:
    """Suffix of one catalogue version."""
    slug = re.sub(r"-+", "-", _clean(name).replace("/", "-").replace(" ", "-")).strip("-")
    return f"isla.catalogue.{slug}.v{_clean(version).replace('/', '-')}"


def doi_of(prefix: str, suffix: str, simulated: bool) -> str:
    """The DOI of ``suffix``: simulated data always get the test prefix."""
    return f"{TEST_DOI_PREFIX if simulated else prefix}/{suffix}"
