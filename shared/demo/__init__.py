"""The demo archive: a realistic, deterministic INTEGRAL archive generated from a seed.

``generate(engine, store, scale, seed)`` fills an empty archive database and the raw-data
bucket; ``python -m shared.demo --scale demo|bench|full`` does the same from the environment's
settings. :mod:`shared.demo.fitsfiles` builds the raw FITS files.
"""

from shared.demo.generator import (
    DEFAULT_SEED,
    FIXED_CONTENT,
    SCALES,
    ArchiveNotEmpty,
    BrightSource,
    FixedContent,
    GenerationReport,
    PlannedPointing,
    Scale,
    bright_sources,
    generate,
    normalise_alias,
    planned_pointings,
)

__all__ = [
    "DEFAULT_SEED",
    "FIXED_CONTENT",
    "SCALES",
    "ArchiveNotEmpty",
    "BrightSource",
    "FixedContent",
    "GenerationReport",
    "PlannedPointing",
    "Scale",
    "bright_sources",
    "generate",
    "normalise_alias",
    "planned_pointings",
]
