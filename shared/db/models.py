"""The archive's database schema: SQLAlchemy 2.0 models on Postgres + pgSphere.

Every table and column carries its description, unit and UCD in ``info`` (and the description
as a database comment), so that TAP_SCHEMA, VOTable FIELDs and the documentation are all
generated from this one place. Positions are pgSphere ``spoint`` with GiST indexes; footprints
are ``spoly``. Times are stored twice on purpose: as UTC timestamps (what VO clients expect as
xtype timestamp) and as IJD (what INTEGRAL software and light curves use).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Double,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db.pgsphere import Point, SPoint, SPoly

SCHEMA = "isla"
"""Postgres schema of the archive's own tables (the ``ila`` compatibility views live apart)."""

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

INSTRUMENT_COLUMNS = ("isgri", "picsit", "jemx1", "jemx2", "spi", "omc")
"""Instruments whose per-ScW good time and exposure are columns of ``science_windows``."""


def _radec_index(table: str) -> Index:
    """GiST index on the expression ADQL cones on ``ra``/``dec`` translate to.

    Postgres uses an index only for the expression it was built on: the ``pos`` index serves
    cones on ``pos``, this one ``CONTAINS(POINT('ICRS', ra, dec), CIRCLE(...))`` where the TAP
    translator cannot use ``pos`` itself: through the ``ila`` views astroquery queries, and in
    queries with derived tables (see ``services.tap.adql.POSITION_TABLES``). Bulk-loaded
    catalogue entries go without it: their cones are always rewritten to ``pos``.
    """
    return Index(
        f"ix_{table}_radec",
        text('spoint(radians(ra), radians("dec"))'),
        postgresql_using="gist",
    )


class Base(DeclarativeBase):
    """Declarative base bound to the archive schema with stable constraint names."""

    metadata = MetaData(schema=SCHEMA, naming_convention=NAMING)


def col(
    type_: Any,
    description: str,
    *args: Any,
    unit: str | None = None,
    ucd: str | None = None,
    utype: str | None = None,
    principal: bool = False,
    published: bool = True,
    **kwargs: Any,
) -> Any:
    """A mapped column that carries its VO metadata (description, unit, UCD, utype).

    ``published=False``: the column stays out of the table's TAP form (see
    :data:`shared.vo.tap_schema.PUBLISHED_RELATIONS`); TAP reaches it through another view.
    """
    info: dict[str, Any] = {
        "description": description,
        "unit": unit,
        "ucd": ucd,
        "utype": utype,
        "principal": principal,
        "published": published,
    }
    return mapped_column(type_, *args, comment=description, info=info, **kwargs)


def ra_col(of: str = "") -> Any:
    """The right ascension column every positional table has (ICRS, degrees)."""
    what = f"Right ascension of {of} (ICRS)." if of else "Right ascension (ICRS)."
    return col(Double, what, unit="deg", ucd="pos.eq.ra;meta.main", principal=True)


def dec_col(of: str = "") -> Any:
    """The declination column every positional table has (ICRS, degrees)."""
    what = f"Declination of {of} (ICRS)." if of else "Declination (ICRS)."
    return col(Double, what, unit="deg", ucd="pos.eq.dec;meta.main", principal=True)


def simulated_col(of: str) -> Any:
    """The flag that tells simulated data (the demo archive's) from data INTEGRAL delivered;
    set from the file's ``SIMDATA`` keyword (migration 0011)."""
    return col(
        Boolean,
        f"True when the {of} is simulated (the demo archive), false when delivered by INTEGRAL.",
        ucd="meta.code.qual",
        nullable=False,
        default=False,
        server_default=text("false"),
    )


def table_info(description: str, *, utype: str | None = None) -> dict[str, Any]:
    """``__table_args__`` entry that documents a table."""
    return {"comment": description, "info": {"description": description, "utype": utype}}


class Instrument(Base):
    """An INTEGRAL instrument (or detector layer) whose data the archive holds."""

    __tablename__ = "instruments"
    __table_args__ = (table_info("INTEGRAL instruments and detector layers in the archive."),)

    name: Mapped[str] = col(
        String(16),
        "Short instrument name (ISGRI, PICsIT, JEM-X1, ...).",
        ucd="meta.id;instr",
        principal=True,
        primary_key=True,
    )
    telescope: Mapped[str] = col(
        String(16),
        "Telescope or package the instrument belongs to (IBIS, JEM-X, SPI, ...).",
        ucd="instr.tel",
        principal=True,
    )
    description: Mapped[str] = col(Text, "What the instrument measures.", ucd="meta.note")
    e_min: Mapped[float | None] = col(
        Double, "Lower end of the instrument's energy range.", unit="keV", ucd="em.energy;stat.min"
    )
    e_max: Mapped[float | None] = col(
        Double, "Upper end of the instrument's energy range.", unit="keV", ucd="em.energy;stat.max"
    )
    fov_deg: Mapped[float | None] = col(
        Double,
        "Full width of the (partially coded) field of view.",
        unit="deg",
        ucd="instr.fov",
    )


class EnergyBand(Base):
    """An energy band in which products (light curves, mosaics, fluxes) are given."""

    __tablename__ = "energy_bands"
    __table_args__ = (
        UniqueConstraint("instrument", "name"),
        CheckConstraint("e_min < e_max", name="increasing"),
        table_info("Energy bands of products and catalogue fluxes, per instrument."),
    )

    band_id: Mapped[int] = col(
        SmallInteger, "Band identifier.", ucd="meta.id", primary_key=True, autoincrement=True
    )
    instrument: Mapped[str] = col(
        String(16),
        "Instrument the band belongs to.",
        ForeignKey("instruments.name"),
        ucd="meta.id;instr",
        principal=True,
    )
    name: Mapped[str] = col(
        String(16),
        "Band name as used in ISLA requests (e.g. 28_40).",
        ucd="meta.id",
        principal=True,
    )
    e_min: Mapped[float] = col(
        Double, "Lower band edge.", unit="keV", ucd="em.energy;stat.min", principal=True
    )
    e_max: Mapped[float] = col(
        Double, "Upper band edge.", unit="keV", ucd="em.energy;stat.max", principal=True
    )
    isla_default: Mapped[bool] = col(
        Boolean,
        "True for the band ISLA uses by default for this instrument.",
        ucd="meta.code",
        default=False,
    )


class Revolution(Base):
    """One INTEGRAL orbit (revolution)."""

    __tablename__ = "revolutions"
    __table_args__ = (
        CheckConstraint("start_time < end_time", name="ordered"),
        CheckConstraint(
            "bounds_source IN ('orbit_file', 'revolution_table', 'model')", name="bounds_source"
        ),
        table_info("INTEGRAL revolutions (orbits of about three days)."),
    )

    revolution: Mapped[int] = col(
        Integer,
        "Revolution number.",
        ucd="meta.id;obs.sequence",
        principal=True,
        primary_key=True,
        autoincrement=False,
    )
    start_time: Mapped[dt.datetime] = col(
        DateTime, "Start of the revolution (UTC).", ucd="time.start", principal=True
    )
    end_time: Mapped[dt.datetime] = col(
        DateTime, "End of the revolution (UTC).", ucd="time.end", principal=True
    )
    start_ijd: Mapped[float] = col(
        Double,
        "Start of the revolution as INTEGRAL Julian Date (TT).",
        unit="d",
        ucd="time.start",
    )
    end_ijd: Mapped[float] = col(
        Double, "End of the revolution as INTEGRAL Julian Date (TT).", unit="d", ucd="time.end"
    )
    bounds_source: Mapped[str] = col(
        Text,
        "Where the start and end come from: orbit_file (the revolution's auxiliary orbit file), "
        "revolution_table (a delivered revolution table) or model (the archive's calibrated "
        "revolution table, until the mission's own data arrive).",
        ucd="meta.ref",
        nullable=False,
        default="model",
        server_default=text("'model'"),
    )


class Observation(Base):
    """A pointed observation: a sequence of ScWs for one proposal and target."""

    __tablename__ = "observations"
    __table_args__ = (
        CheckConstraint("obsid ~ '^[0-9]{11}$'", name="obsid_form"),
        CheckConstraint("rev_start <= rev_end", name="rev_span"),
        Index("ix_observations_pos", "pos", postgresql_using="gist"),
        _radec_index("observations"),
        Index("ix_observations_start_time", "start_time"),
        table_info("Observations: sequences of science windows of one proposal and target."),
    )

    obsid: Mapped[str] = col(
        String(11),
        "Observation identifier (11 digits).",
        ucd="meta.id;obs",
        principal=True,
        primary_key=True,
    )
    proposal_id: Mapped[str] = col(
        String(16), "Proposal identifier.", ucd="meta.id;meta.dataset", principal=True
    )
    pi_name: Mapped[str | None] = col(
        Text, "Principal investigator of the proposal.", ucd="meta.id.PI"
    )
    target_name: Mapped[str] = col(
        Text, "Target of the observation as proposed.", ucd="meta.id;src", principal=True
    )
    start_time: Mapped[dt.datetime] = col(
        DateTime, "Start of the observation (UTC).", ucd="time.start", principal=True
    )
    end_time: Mapped[dt.datetime] = col(
        DateTime, "End of the observation (UTC).", ucd="time.end", principal=True
    )
    rev_start: Mapped[int] = col(
        Integer, "First revolution of the observation.", ucd="meta.id;obs.sequence"
    )
    rev_end: Mapped[int] = col(
        Integer, "Last revolution of the observation.", ucd="meta.id;obs.sequence"
    )
    ra: Mapped[float] = ra_col("the target")
    dec: Mapped[float] = dec_col("the target")
    # Computed from ra/dec by a trigger (migration 0012): writers give ra and dec only.
    pos: Mapped[Point] = col(SPoint(), "Target position (pgSphere spoint).", ucd="pos.eq")
    pattern: Mapped[str] = col(
        String(16),
        "Dither pattern: staring, hex (7 points) or 5x5 (25 points).",
        ucd="instr.setup",
    )
    exposure: Mapped[float] = col(
        Double,
        "Total pointing time of the observation.",
        unit="s",
        ucd="time.duration;obs.exposure",
    )


def _good_time(instrument: str) -> Any:
    """A science window's good time of one instrument (a column of the same form for each)."""
    return col(Double, f"{instrument} good time.", unit="s", ucd="time.duration")


def _exposure(instrument: str) -> Any:
    """A science window's exposure of one instrument."""
    return col(Double, f"{instrument} exposure.", unit="s", ucd="time.duration;obs.exposure")


class ScienceWindow(Base):
    """A science window (ScW): one pointing or slew, the unit of INTEGRAL raw data."""

    __tablename__ = "science_windows"
    __table_args__ = (
        CheckConstraint("scw_id ~ '^[0-9]{12}$'", name="scw_id_form"),
        CheckConstraint("version ~ '^[0-9]{3}$'", name="version_form"),
        CheckConstraint("scw_type in ('pointing', 'slew')", name="scw_type"),
        CheckConstraint("start_time < end_time", name="ordered"),
        Index("ix_science_windows_pos", "pos", postgresql_using="gist"),
        _radec_index("science_windows"),
        Index("ix_science_windows_fov_isgri", "fov_isgri", postgresql_using="gist"),
        Index("ix_science_windows_revolution", "revolution"),
        Index("ix_science_windows_obsid", "obsid"),
        Index("ix_science_windows_start_ijd", "start_ijd"),
        # The landing page's example: the first pointing with raw data, one probe (0042).
        Index(
            "ix_science_windows_with_raw",
            "scw_id",
            postgresql_where=text("scw_type = 'pointing' AND raw_files > 0"),
        ),
        table_info("Science windows: the pointings and slews that make up all raw data."),
    )

    scw_id: Mapped[str] = col(
        String(12),
        "Science window identifier RRRRPPPPSSSF.",
        ucd="meta.id;obs",
        principal=True,
        primary_key=True,
    )
    version: Mapped[str] = col(
        String(3),
        "Science window version (e.g. 001).",
        ucd="meta.version",
        primary_key=True,
        default="001",
    )
    revolution: Mapped[int] = col(
        Integer,
        "Revolution of the science window.",
        ForeignKey("revolutions.revolution"),
        nullable=False,
        ucd="meta.id;obs.sequence",
        principal=True,
    )
    obsid: Mapped[str | None] = col(
        String(11),
        "Observation the science window belongs to.",
        ForeignKey("observations.obsid"),
        nullable=True,
        ucd="meta.id;obs",
        principal=True,
    )
    scw_type: Mapped[str] = col(String(8), "pointing or slew.", ucd="meta.code;obs", principal=True)
    start_time: Mapped[dt.datetime] = col(
        DateTime,
        "Start of the science window (UTC).",
        ucd="time.start;obs.exposure",
        principal=True,
    )
    end_time: Mapped[dt.datetime] = col(
        DateTime,
        "End of the science window (UTC).",
        ucd="time.end;obs.exposure",
        principal=True,
    )
    start_ijd: Mapped[float] = col(
        Double, "Start as INTEGRAL Julian Date (TT).", unit="d", ucd="time.start"
    )
    end_ijd: Mapped[float] = col(
        Double, "End as INTEGRAL Julian Date (TT).", unit="d", ucd="time.end"
    )
    ra: Mapped[float] = ra_col("the pointing (X) axis")
    dec: Mapped[float] = dec_col("the pointing (X) axis")
    # Computed from ra/dec by a trigger (migration 0012): writers give ra and dec only.
    pos: Mapped[Point] = col(SPoint(), "Pointing axis (pgSphere spoint).", ucd="pos.eq")
    posangle: Mapped[float] = col(
        Double,
        "Position angle of the spacecraft Z axis, east of north.",
        unit="deg",
        ucd="pos.posAng",
    )
    fov_isgri: Mapped[list[Point] | None] = col(
        SPoly(),
        "ISGRI partially coded field of view (29 x 29 deg) as a polygon.",
        ucd="pos.outline;instr.fov",
    )
    fov_jemx: Mapped[list[Point] | None] = col(
        SPoly(),
        "JEM-X field of view (13.2 deg diameter) as a polygon.",
        ucd="pos.outline;instr.fov",
    )
    fov_spi: Mapped[list[Point] | None] = col(
        SPoly(),
        "SPI fully coded field of view (16 deg hexagon) as a polygon.",
        ucd="pos.outline;instr.fov",
    )
    isgri_good_time: Mapped[float | None] = col(
        Double, "ISGRI good time (sum of good time intervals).", unit="s", ucd="time.duration"
    )
    isgri_exposure: Mapped[float | None] = col(
        Double, "ISGRI dead-time corrected exposure.", unit="s", ucd="time.duration;obs.exposure"
    )
    picsit_good_time: Mapped[float | None] = _good_time("PICsIT")
    picsit_exposure: Mapped[float | None] = _exposure("PICsIT")
    jemx1_good_time: Mapped[float | None] = _good_time("JEM-X1")
    jemx1_exposure: Mapped[float | None] = _exposure("JEM-X1")
    jemx2_good_time: Mapped[float | None] = _good_time("JEM-X2")
    jemx2_exposure: Mapped[float | None] = _exposure("JEM-X2")
    spi_good_time: Mapped[float | None] = _good_time("SPI")
    spi_exposure: Mapped[float | None] = _exposure("SPI")
    omc_good_time: Mapped[float | None] = _good_time("OMC")
    omc_exposure: Mapped[float | None] = _exposure("OMC")
    raw_files: Mapped[int] = col(
        Integer,
        "Number of raw data files of the science window.",
        ucd="meta.number",
        default=0,
    )
    raw_size: Mapped[int] = col(
        BigInteger,
        "Total size of the raw data files.",
        unit="byte",
        ucd="phys.size;meta.file",
        default=0,
    )


FILE_STATES = ("verified", "unverified", "corrupt", "missing")
"""States of a raw file: its SHA-256 is known (verified), not yet computed (unverified: served
with its size, flagged in manifests), or a verification found it changed (corrupt) or gone
(missing): those two are no longer served."""
_FILE_STATE_LIST = ", ".join(f"'{s}'" for s in FILE_STATES)


def _file_sha256() -> Any:
    return col(
        String(64),
        "SHA-256 checksum of the file (NULL while the file is unverified).",
        ucd="meta.checksum",
        nullable=True,
    )


def _file_state() -> Any:
    return col(
        String(10),
        "verified (checksum known), unverified (not yet hashed: served with its size only), "
        "corrupt or missing (found so by a verification: not served).",
        ucd="meta.code.status",
        nullable=False,
        default="verified",
        server_default=text("'verified'"),
    )


def _checksum_source() -> Any:
    return col(
        Text,
        "Where the checksum comes from: streamed (hashed by the indexer), s3 (the object "
        "store's own SHA-256 checksum) or isla (computed by ISLA while writing the object).",
        ucd="meta.ref",
    )


def _verified_at() -> Any:
    return col(
        DateTime, "When the checksum was last computed or checked (UTC).", ucd="time.processing"
    )


def _file_etag() -> Any:
    return col(
        Text,
        "The object's ETag when it was indexed (a changed object is hashed again).",
        ucd="meta.id",
    )


IC_FILES_DESCRIPTION = (
    "Files of ISDC's instrument-characteristics tree (ic/) and its index (idx/ic/), with "
    "sizes and checksums."
)


class ScwFile(Base):
    """One raw data file of a science window, as stored in the object store."""

    __tablename__ = "scw_files"
    __table_args__ = (
        ForeignKeyConstraint(
            ["scw_id", "version"],
            ["science_windows.scw_id", "science_windows.version"],
            ondelete="CASCADE",
        ),
        CheckConstraint("size >= 0", name="size"),
        CheckConstraint(f"state IN ({_FILE_STATE_LIST})", name="state"),
        CheckConstraint("state <> 'verified' OR sha256 IS NOT NULL", name="verified_sha256"),
        table_info("Raw data files of each science window, with sizes and checksums."),
    )

    scw_id: Mapped[str] = col(
        String(12),
        "Science window identifier.",
        ucd="meta.id;obs",
        primary_key=True,
        principal=True,
    )
    version: Mapped[str] = col(
        String(3), "Science window version.", ucd="meta.version", primary_key=True
    )
    name: Mapped[str] = col(
        Text,
        "File name inside the science window folder (e.g. swg.fits).",
        ucd="meta.id;meta.file",
        primary_key=True,
        principal=True,
    )
    object_key: Mapped[str] = col(
        Text, "Key of the file in the raw-data bucket.", ucd="meta.ref.url"
    )
    size: Mapped[int] = col(
        BigInteger, "File size.", unit="byte", ucd="phys.size;meta.file", principal=True
    )
    sha256: Mapped[str | None] = _file_sha256()
    state: Mapped[str] = _file_state()
    checksum_source: Mapped[str | None] = _checksum_source()
    verified_at: Mapped[dt.datetime | None] = _verified_at()
    etag: Mapped[str | None] = _file_etag()
    content_type: Mapped[str] = col(
        Text, "MIME type of the file.", ucd="meta.code.mime", default="application/fits"
    )
    simulated: Mapped[bool] = simulated_col("file")


class AuxFile(Base):
    """Auxiliary per-revolution file (orbit, attitude) in ``aux/adp/RRRR.001/``."""

    __tablename__ = "aux_files"
    __table_args__ = (
        CheckConstraint(f"state IN ({_FILE_STATE_LIST})", name="state"),
        CheckConstraint("state <> 'verified' OR sha256 IS NOT NULL", name="verified_sha256"),
        table_info("Auxiliary per-revolution files (orbit, attitude, time correlation)."),
    )

    revolution: Mapped[int] = col(
        Integer,
        "Revolution the file belongs to.",
        ForeignKey("revolutions.revolution"),
        primary_key=True,
        ucd="meta.id;obs.sequence",
        principal=True,
    )
    name: Mapped[str] = col(
        Text, "File name.", ucd="meta.id;meta.file", primary_key=True, principal=True
    )
    object_key: Mapped[str] = col(
        Text, "Key of the file in the raw-data bucket.", ucd="meta.ref.url"
    )
    size: Mapped[int] = col(BigInteger, "File size.", unit="byte", ucd="phys.size;meta.file")
    sha256: Mapped[str | None] = _file_sha256()
    simulated: Mapped[bool] = simulated_col("file")
    version: Mapped[str] = col(
        String(3),
        "Version of the revolution's auxiliary folder (aux/adp/RRRR.VVV).",
        ucd="meta.version",
        nullable=False,
        default="001",
        server_default=text("'001'"),
    )
    state: Mapped[str] = _file_state()
    checksum_source: Mapped[str | None] = _checksum_source()
    verified_at: Mapped[dt.datetime | None] = _verified_at()
    etag: Mapped[str | None] = _file_etag()


class IcFile(Base):
    """A file of ISDC's instrument-characteristics tree (``ic/...``) or its index (``idx/ic/...``)
    in the raw-data bucket (migration 0041)."""

    __tablename__ = "ic_files"
    __table_args__ = (
        CheckConstraint(f"state IN ({_FILE_STATE_LIST})", name="state"),
        CheckConstraint("state <> 'verified' OR sha256 IS NOT NULL", name="verified_sha256"),
        CheckConstraint("tree IN ('ic', 'idx')", name="tree"),
        CheckConstraint("size >= 0", name="size"),
        {
            "comment": IC_FILES_DESCRIPTION,
            "info": {"description": IC_FILES_DESCRIPTION, "utype": None, "required": False},
        },
    )

    path: Mapped[str] = col(
        Text,
        "Path of the file in ISDC's layout (ic/<instrument>/... or idx/ic/...), which is also "
        "its key in the raw-data bucket.",
        ucd="meta.id;meta.file",
        primary_key=True,
        principal=True,
    )
    tree: Mapped[str] = col(
        String(3),
        "ic (instrument characteristics) or idx (their index files, idx/ic/).",
        ucd="meta.code",
        nullable=False,
    )
    instrument: Mapped[str | None] = col(
        Text,
        "The instrument folder the file is in (ibis, jemx, spi, omc, ...; NULL at the top).",
        ucd="meta.id;instr",
        principal=True,
    )
    size: Mapped[int] = col(
        BigInteger, "File size.", unit="byte", ucd="phys.size;meta.file", principal=True
    )
    sha256: Mapped[str | None] = _file_sha256()
    state: Mapped[str] = _file_state()
    checksum_source: Mapped[str | None] = _checksum_source()
    verified_at: Mapped[dt.datetime | None] = _verified_at()
    etag: Mapped[str | None] = _file_etag()
    last_modified: Mapped[dt.datetime | None] = col(
        DateTime,
        "When the object was written to the store (UTC); the file's time in tarballs.",
        ucd="time.processing",
    )


class Catalogue(Base):
    """One version of a source catalogue delivered by a team."""

    __tablename__ = "catalogues"
    __table_args__ = (
        UniqueConstraint("name", "version"),
        table_info("Source catalogues and their versions, with provenance."),
    )

    catalogue_id: Mapped[int] = col(
        Integer,
        "Catalogue version identifier.",
        ucd="meta.id",
        primary_key=True,
        autoincrement=True,
    )
    name: Mapped[str] = col(
        Text,
        "Catalogue name (e.g. INTEGRAL Reference Catalogue).",
        ucd="meta.id;meta.dataset",
        principal=True,
    )
    version: Mapped[str] = col(String(32), "Catalogue version.", ucd="meta.version", principal=True)
    team: Mapped[str] = col(Text, "Team that delivered the catalogue.", ucd="meta.curation")
    kind: Mapped[str] = col(
        String(32), "Catalogue interface kind (reference, ibis, jemx, omc, ...).", ucd="meta.code"
    )
    reference: Mapped[str | None] = col(Text, "Bibliographic reference.", ucd="meta.bib")
    description: Mapped[str | None] = col(Text, "What the catalogue contains.", ucd="meta.note")
    is_current: Mapped[bool] = col(
        Boolean,
        "True for the version currently merged into the source list.",
        ucd="meta.code",
        default=False,
    )
    n_rows: Mapped[int] = col(Integer, "Number of entries.", ucd="meta.number", default=0)
    sha256: Mapped[str | None] = col(
        String(64), "SHA-256 checksum of the delivered file.", ucd="meta.checksum"
    )
    loaded_at: Mapped[dt.datetime] = col(
        DateTime,
        "When this version was loaded (UTC).",
        ucd="time.creation",
        server_default=func.timezone("UTC", func.now()),
    )


class CatalogueEntry(Base):
    """One row of one catalogue version, as delivered (before merging)."""

    __tablename__ = "catalogue_entries"
    __table_args__ = (
        UniqueConstraint("catalogue_id", "entry_name"),
        Index("ix_catalogue_entries_pos", "pos", postgresql_using="gist"),
        # Published as VOTable char (one byte a character in BINARY2, no UTF-16 to encode):
        # right only while the text is ASCII, which these checks and the ingestion keep.
        CheckConstraint("octet_length(entry_name) = char_length(entry_name)", name="name_ascii"),
        CheckConstraint(
            "octet_length(source_class) = char_length(source_class)", name="class_ascii"
        ),
        table_info("Entries of every catalogue version, as delivered by the teams."),
    )

    entry_id: Mapped[int] = col(
        BigInteger, "Entry identifier.", ucd="meta.id", primary_key=True, autoincrement=True
    )
    catalogue_id: Mapped[int] = col(
        Integer,
        "Catalogue version of the entry.",
        ForeignKey("catalogues.catalogue_id", ondelete="CASCADE"),
        nullable=False,
        ucd="meta.id",
        principal=True,
    )
    entry_name: Mapped[str] = col(
        String,
        "Entry key as given in the catalogue: the source name, or the team's identifier for "
        "catalogue kinds keyed by identifier.",
        ucd="meta.id;src",
        principal=True,
    )
    source_id: Mapped[str | None] = col(
        String(16), "Archive source identifier the entry was merged into.", ucd="meta.id;src"
    )
    ra: Mapped[float] = ra_col()
    dec: Mapped[float] = dec_col()
    # Computed from ra/dec by a trigger (migration 0012): writers give ra and dec only.
    pos: Mapped[Point] = col(SPoint(), "Position (pgSphere spoint).", ucd="pos.eq")
    pos_err: Mapped[float | None] = col(
        Double, "Position error radius (90% confidence).", unit="arcmin", ucd="stat.error;pos"
    )
    source_class: Mapped[str | None] = col(String, "Source class as given.", ucd="src.class")
    # Kept out of the published table (TAP reads isla.catalogue_entry_values for it): as
    # JSON text it doubled the bytes and the database time of every bulk read.
    values: Mapped[dict[str, Any]] = col(
        JSONB,
        "Remaining columns of the delivered row (fluxes, flags), as JSON.",
        ucd="meta.note",
        default=dict,
        published=False,
    )
    version: Mapped[str | None] = col(
        String(32),
        "Version of the entry's catalogue (earlier versions stay queryable).",
        ucd="meta.version",
        principal=True,
    )


SOURCE_LOAD_COLUMNS = (
    "source_id",
    "name",
    "ra",
    "dec",
    "pos_err",
    "source_class",
    "det_isgri",
    "det_picsit",
    "det_jemx",
    "det_spi",
    "det_omc",
    "catalogue_id",
)
"""The columns of :class:`Source` every bulk loader writes, in this order (``pos`` is set from
``ra``/``dec`` by the schema's trigger)."""


class Source(Base):
    """A source of the archive's merged source list."""

    __tablename__ = "sources"
    __table_args__ = (
        CheckConstraint(r"source_id ~ '^J[0-9]{6}\.[0-9][+-][0-9]{6}$'", name="source_id_form"),
        Index("ix_sources_pos", "pos", postgresql_using="gist"),
        _radec_index("sources"),
        Index("ix_sources_name", "name"),
        # The source resolver (shared.sources) compares names normalised; the expression
        # must stay the same as shared.sources.NAME_NORM_SQL for Postgres to use the index.
        Index(
            "ix_sources_name_norm",
            text("lower(replace(replace(replace(name, ' ', ''), '_', ''), '-', ''))"),
        ),
        # Substring searches, in any case (astroquery's `name ilike '%crab%'`, the portal's
        # search box): pg_trgm's trigrams are case-folded, so ILIKE uses it (0042).
        Index(
            "ix_sources_name_trgm",
            "name",
            postgresql_using="gin",
            postgresql_ops={"name": "gin_trgm_ops"},
        ),
        table_info("The archive's merged source list: every known INTEGRAL source."),
    )

    source_id: Mapped[str] = col(
        String(16),
        "ISLA source identifier JHHMMSS.s+DDMMSS.",
        ucd="meta.id;meta.main",
        principal=True,
        primary_key=True,
    )
    name: Mapped[str] = col(Text, "Preferred source name.", ucd="meta.id", principal=True)
    ra: Mapped[float] = ra_col()
    dec: Mapped[float] = dec_col()
    # Computed from ra/dec by a trigger (migration 0012): writers give ra and dec only.
    pos: Mapped[Point] = col(SPoint(), "Position (pgSphere spoint).", ucd="pos.eq")
    pos_err: Mapped[float | None] = col(
        Double,
        "Position error radius (90% confidence).",
        unit="arcmin",
        ucd="stat.error;pos",
        principal=True,
    )
    source_class: Mapped[str] = col(
        Text,
        "Source class (e.g. LMXB, HMXB, AGN); 'unclassified' when unknown.",
        ucd="src.class",
        principal=True,
        default="unclassified",
    )
    det_isgri: Mapped[bool] = col(Boolean, "Detected by ISGRI.", ucd="meta.code", default=False)
    det_picsit: Mapped[bool] = col(Boolean, "Detected by PICsIT.", ucd="meta.code", default=False)
    det_jemx: Mapped[bool] = col(Boolean, "Detected by JEM-X.", ucd="meta.code", default=False)
    det_spi: Mapped[bool] = col(Boolean, "Detected by SPI.", ucd="meta.code", default=False)
    det_omc: Mapped[bool] = col(Boolean, "Detected by OMC.", ucd="meta.code", default=False)
    catalogue_id: Mapped[int | None] = col(
        Integer,
        "Catalogue version the position and class come from.",
        ForeignKey("catalogues.catalogue_id", ondelete="SET NULL"),
        nullable=True,
        ucd="meta.id;meta.dataset",
    )
    entry_id: Mapped[int | None] = col(
        BigInteger,
        "Catalogue entry the position and class come from.",
        nullable=True,
        ucd="meta.id",
    )
    provenance: Mapped[dict[str, Any] | None] = col(
        JSONB,
        "Where each merged value comes from: catalogue versions and entries per field.",
        nullable=True,
        ucd="meta.note",
    )


class SourceAlias(Base):
    """Another name of a source, for name resolution."""

    __tablename__ = "source_aliases"
    __table_args__ = (
        Index("ix_source_aliases_norm", "alias_norm"),
        Index(
            "ix_source_aliases_alias_trgm",
            "alias",
            postgresql_using="gin",
            postgresql_ops={"alias": "gin_trgm_ops"},
        ),
        table_info("Alternative names of sources (used by the target resolver)."),
    )

    source_id: Mapped[str] = col(
        String(16),
        "Source identifier.",
        ForeignKey("sources.source_id", ondelete="CASCADE"),
        primary_key=True,
        ucd="meta.id;src",
        principal=True,
    )
    alias: Mapped[str] = col(
        Text, "Alternative name.", ucd="meta.id", principal=True, primary_key=True
    )
    alias_norm: Mapped[str] = col(
        Text, "Name normalised for matching (lower case, no spaces, '_' or '-').", ucd="meta.id"
    )
    catalogue_id: Mapped[int | None] = col(
        Integer,
        "Catalogue version the name comes from.",
        ForeignKey("catalogues.catalogue_id", ondelete="SET NULL"),
        nullable=True,
        ucd="meta.id;meta.dataset",
    )


class SourceFlux(Base):
    """A catalogue flux of a source in one band, with its provenance."""

    __tablename__ = "source_fluxes"
    __table_args__ = (table_info("Fluxes of sources per instrument band, with provenance."),)

    source_id: Mapped[str] = col(
        String(16),
        "Source identifier.",
        ForeignKey("sources.source_id", ondelete="CASCADE"),
        primary_key=True,
        ucd="meta.id;src",
        principal=True,
    )
    band_id: Mapped[int] = col(
        SmallInteger,
        "Energy band of the flux.",
        ForeignKey("energy_bands.band_id"),
        primary_key=True,
        ucd="meta.id",
        principal=True,
    )
    catalogue_id: Mapped[int] = col(
        Integer,
        "Catalogue version the value comes from.",
        ForeignKey("catalogues.catalogue_id", ondelete="CASCADE"),
        primary_key=True,
        ucd="meta.id;meta.dataset",
    )
    flux: Mapped[float | None] = col(
        Double, "Flux in the band.", unit="mCrab", ucd="phot.flux", principal=True
    )
    flux_err: Mapped[float | None] = col(
        Double, "1-sigma flux error.", unit="mCrab", ucd="stat.error;phot.flux"
    )
    detected: Mapped[bool] = col(Boolean, "Detected in this band.", ucd="meta.code", default=True)
    entry_id: Mapped[int | None] = col(
        BigInteger, "Catalogue entry the value comes from.", nullable=True, ucd="meta.id"
    )


class Product(Base):
    """A science product file (light curve, spectrum, response, mosaic, map) in the store."""

    __tablename__ = "products"
    __table_args__ = (
        Index("ix_products_source_id", "source_id"),
        Index("ix_products_epoch", "epoch"),
        Index("ix_products_kind", "kind"),
        # A product's observation (migration 0046): its ObsCore footprint is recomputed when
        # that observation arrives after it.
        Index("ix_products_obsid", "obsid"),
        table_info("Science products held in the object store."),
    )

    product_id: Mapped[str] = col(
        Text, "Product identifier.", ucd="meta.id;meta.main", principal=True, primary_key=True
    )
    kind: Mapped[str] = col(
        String(32),
        "Product kind (light_curve, spectrum, arf, rmf, mosaic, image, ...).",
        ucd="meta.code.class",
        principal=True,
    )
    instrument: Mapped[str] = col(
        String(16),
        "Instrument of the product.",
        ForeignKey("instruments.name"),
        nullable=False,
        ucd="meta.id;instr",
        principal=True,
    )
    band_id: Mapped[int | None] = col(
        SmallInteger,
        "Energy band of the product, if any.",
        ForeignKey("energy_bands.band_id"),
        nullable=True,
        ucd="meta.id",
    )
    source_id: Mapped[str | None] = col(
        String(16),
        "Source of the product, if any.",
        ForeignKey("sources.source_id", ondelete="SET NULL"),
        nullable=True,
        ucd="meta.id;src",
        principal=True,
    )
    epoch: Mapped[str | None] = col(
        String(16), "ISLA epoch RRRR_OOOOOOOOOOO the product belongs to.", ucd="meta.id;obs"
    )
    revolution: Mapped[int | None] = col(
        Integer, "Revolution of the product.", ucd="meta.id;obs.sequence"
    )
    obsid: Mapped[str | None] = col(String(11), "Observation of the product.", ucd="meta.id;obs")
    t_min: Mapped[float | None] = col(
        Double, "Start of the data (MJD, TT).", unit="d", ucd="time.start"
    )
    t_max: Mapped[float | None] = col(
        Double, "End of the data (MJD, TT).", unit="d", ucd="time.end"
    )
    bucket: Mapped[str] = col(Text, "Object-store bucket.", ucd="meta.ref")
    object_key: Mapped[str] = col(Text, "Object-store key.", ucd="meta.ref.url")
    file_name: Mapped[str] = col(Text, "File name offered on download.", ucd="meta.id;meta.file")
    size: Mapped[int] = col(BigInteger, "File size.", unit="byte", ucd="phys.size;meta.file")
    sha256: Mapped[str] = col(String(64), "SHA-256 checksum.", ucd="meta.checksum")
    content_type: Mapped[str] = col(Text, "MIME type.", ucd="meta.code.mime")
    created_at: Mapped[dt.datetime] = col(
        DateTime,
        "When the product entered the archive (UTC).",
        ucd="time.creation",
        server_default=func.timezone("UTC", func.now()),
    )
    meta: Mapped[dict[str, Any]] = col(
        JSONB, "Further product metadata.", ucd="meta.note", default=dict
    )
    simulated: Mapped[bool] = simulated_col("product")


# --- Science-product data (migration 0007) ------------------------------------------------------
# Tables created after migration 0002 carry ``required: False`` in their info, so that the
# TAP_SCHEMA refreshes of earlier migrations publish them only once they exist.


def _later_table(description: str) -> dict[str, Any]:
    return {
        "comment": description,
        "info": {"description": description, "utype": None, "required": False},
    }


class ProductKind(Base):
    """A kind of science product the archive publishes in ObsCore, and how it is published."""

    __tablename__ = "product_kinds"
    __table_args__ = (
        _later_table(
            "Kinds of science products published in ivoa.obscore, with their ObsCore "
            "classification. Products of other kinds (responses, previews) are reached through "
            "the DataLink document of their product."
        ),
    )

    kind: Mapped[str] = col(
        String(32),
        "Product kind (isla.products.kind).",
        ucd="meta.code.class;meta.main",
        principal=True,
        primary_key=True,
    )
    dataproduct_type: Mapped[str] = col(
        String(16),
        "ObsCore dataproduct_type of the kind (timeseries, spectrum, image, cube, ...).",
        ucd="meta.code.class",
        principal=True,
    )
    calib_level: Mapped[int] = col(
        SmallInteger,
        "ObsCore calib_level of the kind (3 science products, 4 analysis products).",
        ucd="meta.code;obs.calib",
        principal=True,
    )
    o_ucd: Mapped[str] = col(
        String(64), "UCD of the product's observable (ObsCore o_ucd).", ucd="meta.ucd"
    )
    field_image: Mapped[bool] = col(
        Boolean,
        "True for images of an instrument's field: their s_fov and default s_region come from "
        "the instrument's field of view.",
        ucd="meta.code",
    )
    description: Mapped[str] = col(Text, "What a product of this kind is.", ucd="meta.note")


class LightCurvePoint(Base):
    """One light-curve point: a source's count rate in one band during one science window."""

    __tablename__ = "lightcurve_points"
    # Tens of millions of rows are bulk-loaded: no foreign key, because a foreign-key trigger
    # per row doubles the load time. Ingestion checks (and locks) the sources, bands and ScWs
    # of a delivered file once; triggers on isla.sources (migration 0044) keep the cascade;
    # TAP_SCHEMA still publishes the key (POINT_SOURCE_KEY). Points arrive in time order, so
    # a BRIN index serves the look-ups by ScW at a fraction of a B-tree's upkeep.
    __table_args__ = (
        CheckConstraint("exposure >= 0", name="exposure"),
        CheckConstraint("rate_err > 0", name="rate_err"),
        Index("ix_lightcurve_points_scw_id", "scw_id", postgresql_using="brin"),
        _later_table(
            "Light-curve points of ISGRI and JEM-X: one per source, science window and band, "
            "for every pointing with the source in the field of view."
        ),
    )

    source_id: Mapped[str] = col(
        String(16),
        "Source identifier.",
        primary_key=True,
        ucd="meta.id;src",
        principal=True,
    )
    band_id: Mapped[int] = col(
        SmallInteger,
        "Energy band of the point (isla.energy_bands).",
        primary_key=True,
        ucd="meta.id",
        principal=True,
    )
    scw_id: Mapped[str] = col(
        String(12),
        "Science window of the point (ids sort in time order).",
        primary_key=True,
        ucd="meta.id;obs",
        principal=True,
    )
    instrument: Mapped[str] = col(
        String(16),
        "Instrument (ISGRI or JEM-X).",
        ucd="meta.id;instr",
        principal=True,
    )
    revolution: Mapped[int] = col(Integer, "Revolution of the point.", ucd="meta.id;obs.sequence")
    time_ijd: Mapped[float] = col(
        Double,
        "Middle of the science window as INTEGRAL Julian Date (MJD - 51544, TT).",
        unit="d",
        ucd="time.epoch",
        principal=True,
    )
    duration: Mapped[float] = col(
        Double, "Length of the science window (time bin width).", unit="s", ucd="time.duration"
    )
    exposure: Mapped[float] = col(
        Double,
        "Dead-time corrected exposure on the source.",
        unit="s",
        ucd="time.duration;obs.exposure",
    )
    rate: Mapped[float] = col(
        Double,
        "Source count rate in the band (corrected to on-axis).",
        unit="ct/s",
        ucd="phot.count;em.X-ray",
        principal=True,
    )
    rate_err: Mapped[float] = col(
        Double, "1-sigma error of the rate.", unit="ct/s", ucd="stat.error;phot.count"
    )
    offaxis: Mapped[float] = col(
        Double,
        "Angle between the pointing axis and the source.",
        unit="deg",
        ucd="pos.angDistance;instr.fov",
    )
    significance: Mapped[float] = col(
        Double, "Detection significance (rate / error).", ucd="stat.snr", principal=True
    )
    upper_limit: Mapped[bool] = col(
        Boolean,
        "True when the source is not detected (significance < 3): use rate_ul.",
        ucd="meta.code;stat.max",
        principal=True,
    )
    rate_ul: Mapped[float | None] = col(
        Double,
        "3-sigma upper limit of the rate when not detected (NULL when detected).",
        unit="ct/s",
        ucd="phot.count;stat.max",
    )
    simulated: Mapped[bool] = simulated_col("point")


LIGHTCURVE_COLUMNS = tuple(c.name for c in LightCurvePoint.__table__.columns)
"""Columns of ``isla.lightcurve_points`` in table order (the order of bulk COPYs)."""

DECLARED_KEYS: tuple[tuple[str, str, str, tuple[tuple[str, str], ...]], ...] = (
    ("fk_lightcurve_points_source_id_sources", "lightcurve_points", "sources",
     (("source_id", "source_id"),)),
)  # fmt: skip
"""Relations (key id, table, target table, (column, target column) pairs) that hold without
a database foreign key, kept by ingestion and triggers; TAP_SCHEMA publishes them as keys."""


class OmcPoint(Base):
    """One OMC V-band light-curve point: a source's magnitude during one science window."""

    __tablename__ = "omc_points"
    __table_args__ = (
        _later_table(
            "OMC V-band light-curve points of sources with an optical counterpart, one per "
            "science window with the source in the OMC field of view."
        ),
    )

    source_id: Mapped[str] = col(
        String(16),
        "Source identifier.",
        ForeignKey("sources.source_id", ondelete="CASCADE"),
        primary_key=True,
        ucd="meta.id;src",
        principal=True,
    )
    scw_id: Mapped[str] = col(
        String(12), "Science window of the point.", primary_key=True, ucd="meta.id;obs"
    )
    revolution: Mapped[int] = col(Integer, "Revolution of the point.", ucd="meta.id;obs.sequence")
    time_ijd: Mapped[float] = col(
        Double,
        "Middle of the science window as INTEGRAL Julian Date (TT).",
        unit="d",
        ucd="time.epoch",
        principal=True,
    )
    exposure: Mapped[float] = col(
        Double, "OMC exposure (sum of the shots).", unit="s", ucd="time.duration;obs.exposure"
    )
    magnitude: Mapped[float] = col(
        Double, "Johnson V magnitude.", unit="mag", ucd="phot.mag;em.opt.V", principal=True
    )
    magnitude_err: Mapped[float] = col(
        Double, "1-sigma error of the magnitude.", unit="mag", ucd="stat.error;phot.mag"
    )
    offaxis: Mapped[float] = col(
        Double,
        "Angle between the pointing axis and the source.",
        unit="deg",
        ucd="pos.angDistance;instr.fov",
    )
    simulated: Mapped[bool] = simulated_col("point")


# --- SPI-ACS and IREM time series (migration 0018) -----------------------------------------------
# The samples live in the object store (delivered files and the serving copy); these tables are
# only the indexes of revolutions (one delivered file per dataset and revolution) and segments.


class TimeseriesFile(Base):
    """One delivered time-series file: a dataset's data of one revolution."""

    __tablename__ = "timeseries_files"
    __table_args__ = (
        UniqueConstraint("dataset", "revolution"),
        _later_table(
            "Delivered SPI-ACS and IREM time-series files, one per dataset and revolution."
        ),
    )

    file_id: Mapped[str] = col(
        Text, "File identifier (dataset and revolution).", ucd="meta.id;meta.main", primary_key=True
    )
    dataset: Mapped[str] = col(
        String(32), "Time-series dataset (spiacs_50ms, irem).", ucd="meta.id", principal=True
    )
    revolution: Mapped[int] = col(
        Integer, "Revolution the file covers.", ucd="meta.id;obs.sequence", principal=True
    )
    instrument: Mapped[str] = col(String(16), "Instrument (SPI-ACS, IREM).", ucd="meta.id;instr")
    t_start: Mapped[float] = col(
        Double, "First sample (IJD, TT).", unit="d", ucd="time.start", principal=True
    )
    t_stop: Mapped[float] = col(
        Double, "Last sample (IJD, TT).", unit="d", ucd="time.end", principal=True
    )
    n_samples: Mapped[int] = col(BigInteger, "Rows of the file.", ucd="meta.number")
    timedel: Mapped[float] = col(
        Double, "Time step of the file (TIMEDEL).", unit="s", ucd="time.resolution"
    )
    bucket: Mapped[str] = col(Text, "Object-store bucket.", ucd="meta.ref")
    object_key: Mapped[str] = col(Text, "Object-store key.", ucd="meta.ref.url")
    file_name: Mapped[str] = col(Text, "File name offered on download.", ucd="meta.id;meta.file")
    size: Mapped[int] = col(BigInteger, "File size.", unit="byte", ucd="phys.size;meta.file")
    sha256: Mapped[str] = col(String(64), "SHA-256 checksum.", ucd="meta.checksum")
    simulated: Mapped[bool] = col(
        Boolean,
        "True for simulated (demo) data, false for INTEGRAL measurements.",
        ucd="meta.code",
        server_default=text("false"),
        principal=True,
    )
    team: Mapped[str | None] = col(Text, "Team that delivered the file.", ucd="meta.note")
    created_at: Mapped[dt.datetime] = col(
        DateTime,
        "When the file entered the archive (UTC).",
        ucd="time.creation",
        server_default=func.timezone("UTC", func.now()),
    )
    meta: Mapped[dict[str, Any]] = col(
        JSONB, "Further file metadata (delivered keywords).", ucd="meta.note", default=dict
    )


class TimeseriesSegment(Base):
    """One segment of the serving copy: a gap-free run of samples at one time step."""

    __tablename__ = "timeseries_segments"
    __table_args__ = (
        Index("ix_timeseries_segments_dataset_t_start", "dataset", "t_start"),
        Index("ix_timeseries_segments_file_id", "file_id"),
        _later_table(
            "Segments of the time-series serving copy (gap-free runs of samples with implicit "
            "time, with their multi-resolution pyramid) in the object store."
        ),
    )

    segment_id: Mapped[int] = col(
        BigInteger,
        "Segment identifier.",
        ucd="meta.id;meta.main",
        primary_key=True,
        autoincrement=True,
    )
    dataset: Mapped[str] = col(
        String(32), "Dataset (spiacs_50ms, spiacs_2s, spiacs_10s, irem).", ucd="meta.id"
    )
    file_id: Mapped[str] = col(
        Text,
        "Delivered file the segment was built from.",
        ForeignKey("timeseries_files.file_id", ondelete="CASCADE"),
        ucd="meta.id",
    )
    revolution: Mapped[int] = col(Integer, "Revolution.", ucd="meta.id;obs.sequence")
    t0: Mapped[float] = col(
        Double, "Time of sample 0 (TT seconds since IJD 0).", unit="s", ucd="time.start"
    )
    dt: Mapped[float] = col(Double, "Time step.", unit="s", ucd="time.resolution")
    n_samples: Mapped[int] = col(BigInteger, "Samples in the segment.", ucd="meta.number")
    t_start: Mapped[float] = col(Double, "First sample (IJD, TT).", unit="d", ucd="time.start")
    t_stop: Mapped[float] = col(Double, "Last sample (IJD, TT).", unit="d", ucd="time.end")
    bucket: Mapped[str] = col(Text, "Object-store bucket.", ucd="meta.ref")
    object_key: Mapped[str] = col(Text, "Object-store key of the segment.", ucd="meta.ref.url")
    layout: Mapped[dict[str, Any]] = col(
        JSONB, "Arrays and pyramid levels of the segment object.", ucd="meta.note"
    )
    summary: Mapped[dict[str, Any]] = col(
        JSONB, "Per plotted field: min, max, sum and count over the segment.", ucd="meta.note"
    )
    simulated: Mapped[bool] = col(
        Boolean,
        "True for simulated (demo) data.",
        ucd="meta.code",
        server_default=text("false"),
    )


# Contributed products: community collections that are not ISLA pipeline output. Only
# published versions are here (what TAP serves); deliveries under review live in
# ``isla_ops.contributed_deliveries`` (shared.db.ingest).

COLLECTION_NAME_PATTERN = "^[a-z0-9][a-z0-9-]{1,62}$"
"""A collection's name: lower-case letters, digits and hyphens (it appears in URLs)."""


class ContributedCollection(Base):
    """One published version of a contributed collection."""

    __tablename__ = "contributed_collections"
    __table_args__ = (
        CheckConstraint(f"collection ~ '{COLLECTION_NAME_PATTERN}'", name="name_form"),
        _later_table(
            "Published versions of contributed collections: community products that are not "
            "ISLA pipeline output (pulsar timing, burst catalogues, line maps, polarisation), "
            "with their documentation and the software that made them."
        ),
    )

    collection: Mapped[str] = col(
        String(64), "Collection name.", ucd="meta.id;meta.main", principal=True, primary_key=True
    )
    version: Mapped[int] = col(
        Integer,
        "Archive version of the collection (1, 2, ...).",
        ucd="meta.version",
        principal=True,
        primary_key=True,
    )
    title: Mapped[str] = col(Text, "Title of the collection.", ucd="meta.title", principal=True)
    team: Mapped[str] = col(Text, "Team that delivered it.", ucd="meta.curation", principal=True)
    authors: Mapped[str] = col(Text, "Authors, separated by semicolons.", ucd="meta.bib.author")
    description: Mapped[str] = col(Text, "What the collection holds.", ucd="meta.note")
    licence: Mapped[str] = col(
        String(64), "Licence of the product files (SPDX identifier).", ucd="meta.note"
    )
    instrument: Mapped[str] = col(
        String(16),
        "Instrument whose data the products come from.",
        ForeignKey("instruments.name"),
        ucd="meta.id;instr",
        principal=True,
    )
    version_label: Mapped[str | None] = col(
        Text, "The team's own version label, if any.", ucd="meta.version", nullable=True
    )
    documentation: Mapped[str] = col(
        Text, "File name of the documentation (README).", ucd="meta.ref;meta.file"
    )
    software: Mapped[str | None] = col(
        Text,
        "File name of the software archive, if delivered.",
        ucd="meta.ref;meta.file",
        nullable=True,
    )
    software_licence: Mapped[str | None] = col(
        String(64), "Licence of the software (SPDX identifier).", ucd="meta.note", nullable=True
    )
    software_version: Mapped[str | None] = col(
        Text, "Version of the software.", ucd="meta.version", nullable=True
    )
    n_files: Mapped[int] = col(Integer, "Product files in this version.", ucd="meta.number")
    size: Mapped[int] = col(
        BigInteger, "Bytes of every file of this version.", unit="byte", ucd="phys.size;meta.file"
    )
    submitted_at: Mapped[dt.datetime] = col(
        DateTime, "When the version was delivered (UTC).", ucd="time.creation"
    )
    published_at: Mapped[dt.datetime] = col(
        DateTime, "When an operator published it (UTC).", ucd="time.release", principal=True
    )
    latest: Mapped[bool] = col(
        Boolean,
        "True for the newest published version of the collection.",
        ucd="meta.code",
        principal=True,
    )
    simulated: Mapped[bool] = simulated_col("collection")


class ContributedFile(Base):
    """One file of a published version of a contributed collection."""

    __tablename__ = "contributed_files"
    __table_args__ = (
        ForeignKeyConstraint(
            ["collection", "version"],
            ["contributed_collections.collection", "contributed_collections.version"],
            ondelete="CASCADE",
        ),
        CheckConstraint("role IN ('product', 'documentation', 'software')", name="role_known"),
        _later_table(
            "Files of the published contributed collections: products, documentation and "
            "software archives, with sizes and checksums."
        ),
    )

    collection: Mapped[str] = col(
        String(64), "Collection name.", ucd="meta.id", principal=True, primary_key=True
    )
    version: Mapped[int] = col(
        Integer,
        "Archive version of the collection.",
        ucd="meta.version",
        principal=True,
        primary_key=True,
    )
    file_name: Mapped[str] = col(
        Text, "File name.", ucd="meta.id;meta.file", principal=True, primary_key=True
    )
    role: Mapped[str] = col(
        String(16), "product, documentation or software.", ucd="meta.code.class", principal=True
    )
    format: Mapped[str] = col(
        String(16),
        "File format (fits, csv, ecsv, votable, markdown, text, pdf, tar, zip).",
        ucd="meta.code.mime",
    )
    content_type: Mapped[str] = col(Text, "Media type of the file.", ucd="meta.code.mime")
    size: Mapped[int] = col(BigInteger, "File size.", unit="byte", ucd="phys.size;meta.file")
    sha256: Mapped[str] = col(String(64), "SHA-256 checksum.", ucd="meta.checksum")
    bucket: Mapped[str] = col(Text, "Object-store bucket.", ucd="meta.ref")
    object_key: Mapped[str] = col(Text, "Object-store key.", ucd="meta.ref.url")
    product_id: Mapped[str | None] = col(
        Text,
        "The product's identifier in isla.products (product files).",
        ucd="meta.id",
        nullable=True,
    )
    simulated: Mapped[bool] = simulated_col("file")


# --- Gamma-ray bursts (migration 0032) ----------------------------------------------------------
# Both tables are made from the current versions of the GRB catalogues (interfaces
# ``ibas_grbs/1`` and ``spi_grb_fits/1``) when such a version is loaded or made current
# (``services/ingest/grbs.py``); the delivered rows stay in ``catalogue_entries``.


class Grb(Base):
    """One gamma-ray burst of a current GRB catalogue version (the IBAS catalogue)."""

    __tablename__ = "grbs"
    __table_args__ = (
        CheckConstraint("pos_err >= 0", name="pos_err"),
        CheckConstraint("t90 > 0", name="t90"),
        Index("ix_grbs_trigger_ijd", "trigger_ijd"),
        _radec_index("grbs"),
        _later_table(
            "Gamma-ray bursts: the IBAS catalogue (INTEGRAL Burst Alert System triggers and "
            "localisations) with trigger time, position, error radius, peak flux, fluence, "
            "T90, significance and alert type; one row per burst of the current catalogue "
            "versions."
        ),
    )

    grb_name: Mapped[str] = col(
        Text,
        "Burst name as the catalogue gives it (GRB YYMMDDX).",
        ucd="meta.id;meta.main",
        principal=True,
        primary_key=True,
    )
    trigger_time: Mapped[dt.datetime] = col(
        DateTime, "Trigger time (UTC).", ucd="time.epoch;obs", principal=True
    )
    trigger_ijd: Mapped[float] = col(
        Double, "Trigger time as INTEGRAL Julian Date (TT).", unit="d", ucd="time.epoch"
    )
    ra: Mapped[float] = ra_col("the burst")
    dec: Mapped[float] = dec_col("the burst")
    pos_err: Mapped[float | None] = col(
        Double,
        "Radius of the error circle (90% confidence).",
        unit="arcmin",
        ucd="stat.error;pos",
        principal=True,
    )
    alert_type: Mapped[str] = col(
        String(16),
        "How the burst was found: IBIS (localised by IBAS in the IBIS field of view), SPI-ACS "
        "(a shield trigger without a localisation) or external (a burst another mission "
        "found and localised).",
        ucd="meta.code.class",
        principal=True,
    )
    ibis_localised: Mapped[bool] = col(
        Boolean, "True when IBIS (IBAS) localised the burst.", ucd="meta.code", principal=True
    )
    peak_flux: Mapped[float | None] = col(
        Double, "Peak photon flux (20-200 keV, 1 s).", unit="ph/(cm2.s)", ucd="phot.flux;stat.max"
    )
    fluence: Mapped[float | None] = col(
        Double, "Fluence (20-200 keV unless noted).", unit="erg/cm2", ucd="phot.fluence"
    )
    t90: Mapped[float | None] = col(
        Double,
        "Duration holding 90% of the counts (T90).",
        unit="s",
        ucd="time.duration",
        principal=True,
    )
    significance: Mapped[float | None] = col(
        Double, "Detection significance of the trigger.", ucd="stat.snr"
    )
    obsid: Mapped[str | None] = col(
        String(11), "Observation the burst fell in, as the catalogue says.", ucd="meta.id;obs"
    )
    scw_id: Mapped[str | None] = col(
        String(12), "Science window of the trigger, as the catalogue says.", ucd="meta.id;obs"
    )
    observation_known: Mapped[bool | None] = col(
        Boolean,
        "Whether the observation (or science window) the catalogue names is in the archive; "
        "NULL when it names none. Unknown ones are listed in the ingestion report.",
        ucd="meta.code.qual",
    )
    position_ref: Mapped[str | None] = col(
        Text, "Where the position comes from (instrument, circular).", ucd="meta.bib"
    )
    time_ref: Mapped[str | None] = col(Text, "Where the trigger time comes from.", ucd="meta.bib")
    notes: Mapped[str | None] = col(Text, "Remarks (approximate values, ...).", ucd="meta.note")
    catalogue_id: Mapped[int] = col(
        Integer,
        "Catalogue version the row comes from.",
        ForeignKey("catalogues.catalogue_id", ondelete="CASCADE"),
        nullable=False,
        ucd="meta.id",
    )
    catalogue_name: Mapped[str] = col(Text, "Catalogue the row comes from.", ucd="meta.dataset")
    entry_id: Mapped[int] = col(BigInteger, "Catalogue entry the row comes from.", ucd="meta.id")
    simulated: Mapped[bool] = simulated_col("burst")


class GrbSpectralFit(Base):
    """One spectral fit of one time bin of a burst (the SPI GRB catalogue)."""

    __tablename__ = "grb_spectral_fits"
    __table_args__ = (
        UniqueConstraint("catalogue_id", "fit_id"),
        CheckConstraint("t_start < t_stop", name="ordered"),
        Index("ix_grb_spectral_fits_grb_name", "grb_name"),
        _later_table(
            "Time-resolved spectral fits of gamma-ray bursts seen by SPI (the SPI GRB "
            "catalogue, Biltzinger et al. 2023, A&A 675, A175): per burst, time bin and model "
            "(empirical: Band function, cutoff power law; physical: synchrotron), the peak "
            "energy and photon indices."
        ),
    )

    fit_no: Mapped[int] = col(
        BigInteger, "Row identifier.", ucd="meta.id", primary_key=True, autoincrement=True
    )
    fit_id: Mapped[str] = col(
        Text, "Fit identifier as the catalogue gives it.", ucd="meta.id;meta.main", principal=True
    )
    grb_name: Mapped[str] = col(Text, "Burst name.", ucd="meta.id;src", principal=True)
    grb_known: Mapped[bool] = col(
        Boolean, "Whether the burst is in isla.grbs.", ucd="meta.code.qual"
    )
    model: Mapped[str] = col(
        String(16), "Spectral model: band, cpl or synchrotron.", ucd="meta.code", principal=True
    )
    model_class: Mapped[str] = col(
        String(16), "empirical (band, cpl) or physical (synchrotron).", ucd="meta.code.class"
    )
    bin_index: Mapped[int] = col(
        Integer, "Time bin number within the burst (1-based).", ucd="meta.number", principal=True
    )
    t_start: Mapped[float] = col(
        Double,
        "Start of the time bin after the trigger.",
        unit="s",
        ucd="time.start",
        principal=True,
    )
    t_stop: Mapped[float] = col(
        Double,
        "End of the time bin after the trigger.",
        unit="s",
        ucd="time.end",
        principal=True,
    )
    e_peak: Mapped[float | None] = col(
        Double,
        "Peak energy of the nuF_nu spectrum.",
        unit="keV",
        ucd="em.energy",
        principal=True,
    )
    e_peak_err: Mapped[float | None] = col(
        Double, "1-sigma error of e_peak.", unit="keV", ucd="stat.error;em.energy"
    )
    alpha: Mapped[float | None] = col(
        Double, "Low-energy photon index.", ucd="spect.index", principal=True
    )
    alpha_err: Mapped[float | None] = col(Double, "1-sigma error of alpha.", ucd="stat.error")
    beta: Mapped[float | None] = col(
        Double,
        "High-energy photon index (Band function only).",
        ucd="spect.index",
        principal=True,
    )
    beta_err: Mapped[float | None] = col(Double, "1-sigma error of beta.", ucd="stat.error")
    energy_flux: Mapped[float | None] = col(
        Double, "Energy flux in the bin (20 keV - 2 MeV).", unit="erg/(cm2.s)", ucd="phot.flux"
    )
    synch_b: Mapped[float | None] = col(
        Double, "Magnetic field of the synchrotron model.", unit="G", ucd="phys.magField"
    )
    synch_index: Mapped[float | None] = col(
        Double, "Electron spectral index p of the synchrotron model.", ucd="spect.index"
    )
    cstat: Mapped[float | None] = col(Double, "Fit statistic (C-stat / PG-stat).", ucd="stat.fit")
    dof: Mapped[int | None] = col(Integer, "Degrees of freedom of the fit.", ucd="stat.fit.dof")
    catalogue_id: Mapped[int] = col(
        Integer,
        "Catalogue version the row comes from.",
        ForeignKey("catalogues.catalogue_id", ondelete="CASCADE"),
        nullable=False,
        ucd="meta.id",
    )
    catalogue_name: Mapped[str] = col(Text, "Catalogue the row comes from.", ucd="meta.dataset")
    entry_id: Mapped[int] = col(BigInteger, "Catalogue entry the row comes from.", ucd="meta.id")
    simulated: Mapped[bool] = simulated_col("fit")


class Publication(Base):
    """One paper of the INTEGRAL literature survey (a bibliographic record)."""

    __tablename__ = "publications"
    __table_args__ = (
        CheckConstraint("pub_year BETWEEN 1900 AND 2200", name="pub_year_range"),
        Index("ix_publications_pub_year", "pub_year"),
        _later_table(
            "Papers of the INTEGRAL literature survey that use INTEGRAL observations, delivered "
            "as bibcode-observation pairs (isla.publication_links)."
        ),
    )

    bibcode: Mapped[str] = col(
        String(19),
        "ADS bibliographic code (19 characters).",
        ucd="meta.bib.bibcode;meta.main",
        primary_key=True,
        principal=True,
    )
    doi: Mapped[str | None] = col(Text, "DOI of the paper (NULL when unknown).", ucd="meta.bib")
    title: Mapped[str] = col(Text, "Title of the paper.", ucd="meta.title", principal=True)
    authors: Mapped[str] = col(
        Text, "Authors, in order, separated by '; '.", ucd="meta.bib.author", principal=True
    )
    pub_year: Mapped[int] = col(
        SmallInteger, "Publication year.", ucd="time.epoch;meta.bib", principal=True
    )
    unresolved_obsids: Mapped[str | None] = col(
        Text,
        "Observation ids the delivery named that the archive does not hold (space separated; "
        "reported at delivery, kept here).",
        ucd="meta.id;obs",
    )
    team: Mapped[str] = col(Text, "Team that delivered the record.", ucd="meta.curation")
    delivery_sha256: Mapped[str] = col(
        String(64), "SHA-256 of the delivery that brought the record.", ucd="meta.checksum"
    )
    simulated: Mapped[bool] = col(
        Boolean,
        "True for simulated papers (the demo archive: fake bibcodes, titles starting "
        "'[simulated]'), false for real ones.",
        ucd="meta.code.qual",
        nullable=False,
        server_default=text("false"),
        principal=True,
    )
    created_at: Mapped[dt.datetime] = col(
        DateTime,
        "When the record entered or last changed in the archive (UTC).",
        ucd="time.creation",
        server_default=func.timezone("UTC", func.now()),
    )


class PublicationLink(Base):
    """One paper ↔ observation pair of the literature survey."""

    __tablename__ = "publication_links"
    __table_args__ = (
        Index("ix_publication_links_obsid", "obsid"),
        _later_table(
            "Which observations each paper of isla.publications used (from there: their "
            "science windows, sources and products)."
        ),
    )

    bibcode: Mapped[str] = col(
        String(19),
        "Paper (isla.publications).",
        ForeignKey("publications.bibcode", ondelete="CASCADE"),
        ucd="meta.bib.bibcode",
        primary_key=True,
        principal=True,
    )
    obsid: Mapped[str] = col(
        String(11),
        "Observation the paper used (isla.observations).",
        ForeignKey("observations.obsid", ondelete="CASCADE"),
        ucd="meta.id;obs",
        primary_key=True,
        principal=True,
    )
    simulated: Mapped[bool] = col(
        Boolean,
        "True when the link comes from a simulated paper.",
        ucd="meta.code.qual",
        nullable=False,
        server_default=text("false"),
    )


class Doi(Base):
    """One DOI the archive has given to a collection, bundle or product (DataCite)."""

    __tablename__ = "dois"
    __table_args__ = (
        UniqueConstraint("doi"),
        Index("ix_dois_parent", "parent"),
        Index("ix_dois_kind_target", "kind", "target"),
        CheckConstraint("suffix = lower(suffix)", name="suffix_lower"),
        _later_table(
            "DOIs of the archive's collections (raw data per instrument, product types, "
            "catalogues), revolution bundles and products, with their DataCite resource type."
        ),
    )

    suffix: Mapped[str] = col(
        Text,
        "DOI suffix (lower case; the landing page is /doi/<suffix>).",
        ucd="meta.id;meta.main",
        primary_key=True,
        principal=True,
    )
    doi: Mapped[str] = col(Text, "The DOI (prefix/suffix).", ucd="meta.ref.doi", principal=True)
    kind: Mapped[str] = col(
        String(32),
        "What is identified: archive, raw_collection, product_collection, catalogues, "
        "catalogue, revolution, product (further kinds may be added).",
        ucd="meta.code",
        principal=True,
    )
    target: Mapped[str] = col(
        Text,
        "The identified object in the archive's terms (instrument, product kind, "
        "catalogue name@version, revolution, product id).",
        ucd="meta.id",
    )
    parent: Mapped[str | None] = col(
        Text, "Suffix of the collection this DOI is part of (IsPartOf).", ucd="meta.id"
    )
    title: Mapped[str] = col(Text, "Title of the DataCite record.", ucd="meta.title")
    resource_type_general: Mapped[str] = col(
        String(32), "DataCite resourceTypeGeneral (Collection, Dataset, ...).", ucd="meta.code"
    )
    resource_type: Mapped[str] = col(Text, "DataCite resourceType (free text).", ucd="meta.code")
    publication_year: Mapped[int] = col(SmallInteger, "DataCite publicationYear.", ucd="time.epoch")
    simulated: Mapped[bool] = col(
        Boolean,
        "True when the identified data are simulated (the demo archive): such DOIs use a test "
        "prefix and are never registered.",
        ucd="meta.code.qual",
        nullable=False,
        server_default=text("false"),
    )
    state: Mapped[str] = col(
        String(16),
        "Registration state: local (never sent), dry-run (written, not sent), draft, "
        "registered or findable at DataCite.",
        ucd="meta.code.status",
        server_default=text("'local'"),
    )
    created_at: Mapped[dt.datetime] = col(
        DateTime,
        "When the DOI was assigned (UTC).",
        ucd="time.creation",
        server_default=func.timezone("UTC", func.now()),
    )
    minted_at: Mapped[dt.datetime | None] = col(
        DateTime,
        "When the record was last sent to DataCite or dry-run (UTC).",
        ucd="time.processing",
    )
