"""The demo archive: a realistic, deterministic INTEGRAL archive generated from a seed.

``generate(engine, store, scale, seed, deliver=...)`` fills an empty archive database and the
raw-data bucket, and delivers the demo pipeline's products through the ``deliver`` function it
is given (:mod:`shared.demo.delivery`; ``deploy.demo.load_demo`` passes ingestion's, and
``python -m deploy.demo --scale demo|bench|full`` does it from the environment's settings).
:mod:`shared.demo.fitsfiles` builds the raw FITS files.
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
