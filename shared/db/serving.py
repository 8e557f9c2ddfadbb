"""Serving copies (schema ``isla_ops``): delivered data kept in the shape requests read.

- ``sensitivity``: the delivered sensitivity tables (ingest kind ``sensitivity``, see
  :mod:`shared.products.upperlimits`) stored **pixel-major**: per energy band, HEALPix pixel and
  binning (``scw`` or ``revolution``) one row of arrays over time, so that the upper-limit curve
  of a position over the whole mission is one primary-key read. The delivered FITS file is the
  product (``isla.products``); these rows are its index, written by ingestion in the same
  transaction as the product row, and not published through TAP (arrays of thousands of values
  per row are no table for ADQL).
- ``coverage_state``: a generation number per table the coverage MOCs are made from
  (``science_windows``, ``products``), bumped by a deferred trigger in every transaction that
  changes the table (migration 0031), so that the products service rebuilds a MOC once per
  state of the archive and never per request.
- ``product_footprints``: per product, the position and footprint ``ivoa.obscore`` publishes
  (migration 0046), kept by statement triggers and indexed for ObsCore's cones.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Double,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from shared.db.ops import OpsBase
from shared.db.pgsphere import Point, SPoly


class Sensitivity(OpsBase):
    """A sensitivity curve at one HEALPix pixel in one band, over science windows or
    revolutions."""

    __tablename__ = "sensitivity"
    __table_args__ = (
        CheckConstraint("binning in ('scw', 'revolution')", name="binning"),
        CheckConstraint("hpx_order between 0 and 13", name="hpx_order"),
        CheckConstraint("hpx >= 0", name="hpx"),
        CheckConstraint("crab_count_rate > 0", name="crab_count_rate"),
        {
            "comment": "Delivered sensitivity tables, pixel-major (one row per band, binning and "
            "HEALPix pixel, arrays over time)."
        },
    )

    # No foreign key: the operational metadata does not hold the archive's tables; ingestion
    # writes only bands it resolved in isla.energy_bands.
    band_id: Mapped[int] = mapped_column(
        SmallInteger, primary_key=True, comment="Energy band (isla.energy_bands)."
    )
    binning: Mapped[str] = mapped_column(
        String(10), primary_key=True, comment="scw or revolution: what one array element is."
    )
    hpx: Mapped[int] = mapped_column(
        BigInteger, primary_key=True, comment="HEALPix pixel (ICRS, NESTED) at hpx_order."
    )
    hpx_order: Mapped[int] = mapped_column(
        SmallInteger, nullable=False, comment="HEALPix order of the band's pixels."
    )
    instrument: Mapped[str] = mapped_column(
        String(16), nullable=False, comment="Instrument (ISGRI or JEM-X)."
    )
    bin_id: Mapped[list[int]] = mapped_column(
        ARRAY(BigInteger),
        nullable=False,
        comment="Science window ids (as integers) or revolution numbers, in time order.",
    )
    t_start: Mapped[list[float]] = mapped_column(
        ARRAY(Double), nullable=False, comment="Start of each bin (IJD, TT)."
    )
    t_stop: Mapped[list[float]] = mapped_column(
        ARRAY(Double), nullable=False, comment="End of each bin (IJD, TT)."
    )
    exposure: Mapped[list[float]] = mapped_column(
        ARRAY(Double), nullable=False, comment="Effective exposure at the pixel (s)."
    )
    rate_sigma: Mapped[list[float]] = mapped_column(
        ARRAY(Double), nullable=False, comment="1-sigma count-rate sensitivity (count/s)."
    )
    nscw: Mapped[list[int]] = mapped_column(
        ARRAY(Integer), nullable=False, comment="Science windows in each bin."
    )
    crab_count_rate: Mapped[float] = mapped_column(
        Double, nullable=False, comment="Count rate of the Crab in the band (count/s)."
    )
    simulated: Mapped[bool] = mapped_column(
        Boolean,
        nullable=False,
        server_default=text("false"),
        comment="True when made by the simulated pipeline (the demo archive).",
    )


class CoverageState(OpsBase):
    """The generation of a table the coverage MOCs are built from."""

    __tablename__ = "coverage_state"
    __table_args__ = ({"comment": "Generation numbers of the tables coverage MOCs come from."},)

    scope: Mapped[str] = mapped_column(
        String(32), primary_key=True, comment="science_windows or products."
    )
    generation: Mapped[int] = mapped_column(
        BigInteger,
        nullable=False,
        server_default=text("0"),
        comment="Bumped once by every committed transaction that changes the table.",
    )
    xact: Mapped[int | None] = mapped_column(
        BigInteger, nullable=True, comment="The transaction that bumped it last."
    )
    changed_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True),
        nullable=False,
        server_default=func.now(),
        comment="When it was bumped last.",
    )


class EpochCoverage(OpsBase):
    """Per instrument, an epoch with pointing exposure, and whether a source was in a field
    (migration 0042): what ``ila.epoch`` lists without a target, kept by triggers."""

    __tablename__ = "epoch_coverage"
    __table_args__ = (
        Index("ix_epoch_coverage_revolution", "revolution"),
        {
            "comment": "Per instrument, the epochs with pointing exposure (ila.epoch without "
            "target)."
        },
    )

    instrument_oid: Mapped[int] = mapped_column(
        SmallInteger, primary_key=True, comment="ila instrument_oid."
    )
    epoch: Mapped[str] = mapped_column(
        String(16), primary_key=True, comment="ISLA epoch RRRR_OOOOOOOOOOO."
    )
    revolution: Mapped[int] = mapped_column(
        Integer, nullable=False, comment="Revolution of the epoch."
    )
    has_source: Mapped[bool] = mapped_column(
        Boolean,
        nullable=False,
        comment="True when a source lies in the field of one of the epoch's pointings.",
    )


class ArchiveCount(OpsBase):
    """Changes of the rows of one of the archive's tables (migration 0042), added by statement
    triggers: their sums per table are its exact counts, so that the landing page reads a few
    rows instead of counting the tables."""

    __tablename__ = "archive_counts"
    __table_args__ = (
        Index("ix_archive_counts_table_name", "table_name"),
        {
            "comment": "Exact counts of the archive's tables: the sums of its rows per table, "
            "one row added by each statement that changes a table."
        },
    )
    # No key: rows are added by concurrent writers and folded now and then; the mapper needs
    # one, the table has none (see the migration).
    __mapper_args__ = {"primary_key": ["table_name", "row_count"]}  # noqa: RUF012 - SQLAlchemy's attribute

    table_name: Mapped[str] = mapped_column(String(64), nullable=False, comment="A table of isla.")
    row_count: Mapped[int] = mapped_column(BigInteger, nullable=False, comment="Its rows.")
    simulated_count: Mapped[int] = mapped_column(
        BigInteger, nullable=False, comment="Its simulated rows."
    )
    total_bytes: Mapped[Decimal] = mapped_column(
        Numeric, nullable=False, comment="Bytes of the files it lists."
    )


class ProductFootprint(OpsBase):
    """Per product, the position and footprint ``ivoa.obscore`` publishes (migration 0046),
    computed by statement triggers when products, their sources or observations change, so
    that ObsCore's cones read indexes instead of computing every product's region."""

    __tablename__ = "product_footprints"
    __table_args__ = (
        Index("ix_product_footprints_s_region", "s_region", postgresql_using="gist"),
        Index(
            "ix_product_footprints_radec",
            text('spoint(radians(ra), radians("dec"))'),
            postgresql_using="gist",
        ),
        {
            "comment": "Per product, the position and footprint ivoa.obscore publishes "
            "(s_ra, s_dec, s_region), kept by triggers."
        },
    )

    # No foreign key (this metadata does not hold isla.products): the triggers delete too.
    product_id: Mapped[str] = mapped_column(Text, primary_key=True, comment="The product.")
    ra: Mapped[float | None] = mapped_column(Double, comment="ObsCore s_ra.")
    dec: Mapped[float | None] = mapped_column(Double, comment="ObsCore s_dec.")
    s_region: Mapped[list[Point] | None] = mapped_column(SPoly(), comment="ObsCore s_region.")
