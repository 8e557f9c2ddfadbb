"""The declared, versioned catalogue interfaces: what a team's catalogue file must contain.

Each kind (``isgri_results/1``, ``jemx_results/1``, ``spi_results/1``, ``omc_variables/1``,
``reference/1``; the GRB catalogues ``ibas_grbs/1`` and ``spi_grb_fits/1``) lists its columns
with accepted aliases, type, unit, whether it is required, and its valid range. A delivered
file (FITS, VOTable or CSV) is checked against its kind before anything is written. Units
come from the file (FITS ``TUNITn``, VOTable ``unit``, a CSV header ``name [unit]``); a column
without a unit is taken in the declared unit. A unit that differs from the declared one is
refused unless the interface declares that unit convertible (e.g. position errors in arcsec
are converted to arcmin; a right ascension in arcmin is refused).

A new version of an interface is a new entry here (``isgri_results/2``); old ones stay so that
older deliveries can be re-validated.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

from astropy import units as u

ColumnType = Literal["str", "float", "int", "bool"]

INSTRUMENT_FLAGS = ("isgri", "picsit", "jemx", "spi", "omc")
"""Detection flags of the merged source list (``isla.sources.det_<flag>``)."""


@dataclass(frozen=True)
class Column:
    """One column of a catalogue interface."""

    name: str
    type: ColumnType
    description: str
    unit: str | None = None
    required: bool = False
    aliases: tuple[str, ...] = ()
    convertible: tuple[str, ...] = ()
    """Other units accepted for this column, converted to :attr:`unit` on load."""
    minimum: float | None = None
    maximum: float | None = None
    nullable: bool = True
    """Whether an empty cell (or NaN) is allowed in a column that is present."""
    band: tuple[str, str] | None = None
    """(instrument, band name) of a flux column, for ``isla.source_fluxes``."""
    error_of: str | None = None
    """For a flux error column: the flux column it belongs to."""

    def names(self) -> tuple[str, ...]:
        """The canonical name and every alias, as matched (case-insensitively)."""
        return (self.name, *self.aliases)


@dataclass(frozen=True)
class CatalogueInterface:
    """A versioned catalogue kind: its columns, who may deliver it, what it implies."""

    kind: str
    version: int
    title: str
    description: str
    roles: tuple[str, ...]
    """Roles that may deliver it (``operator`` always may)."""
    key: str
    """Column that identifies an entry: unique within one delivered version."""
    detections: tuple[str, ...]
    """Instrument flags every entry of this kind sets in the merged source list."""
    columns: tuple[Column, ...]
    flag_columns: dict[str, str] = field(default_factory=dict)
    """Boolean columns that set further instrument flags per entry (column -> flag)."""
    target: str | None = None
    """Archive table a current version is also written to (``grbs``, ``grb_spectral_fits``,
    by :mod:`services.ingest.grbs`); None for source catalogues."""

    @property
    def merges(self) -> bool:
        """Whether the kind is merged into the source list (source catalogues only)."""
        return self.target is None

    @property
    def name(self) -> str:
        """``kind/version``, as given in requests."""
        return f"{self.kind}/{self.version}"

    def column(self, name: str) -> Column:
        """The column called ``name`` (canonical)."""
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    def describe(self) -> dict[str, Any]:
        """JSON description (served at ``/ingest/interfaces``)."""
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "roles": ["operator", *self.roles],
            "key": self.key,
            "detections": list(self.detections),
            "flag_columns": self.flag_columns,
            "target": self.target,
            "columns": [
                {
                    "name": c.name,
                    "type": c.type,
                    "unit": c.unit,
                    "required": c.required,
                    "nullable": c.nullable,
                    "aliases": list(c.aliases),
                    "convertible_units": list(c.convertible),
                    "minimum": c.minimum,
                    "maximum": c.maximum,
                    "band": "/".join(c.band) if c.band else None,
                    "description": c.description,
                }
                for c in self.columns
            ],
        }


# --- Column building blocks ----------------------------------------------------------------------


def _name(required: bool = True) -> Column:
    return Column(
        "name",
        "str",
        "Source name as the team gives it.",
        required=required,
        nullable=not required,
        aliases=("source_name", "src_name", "object", "name_1"),
    )


_POSITION = (
    Column(
        "ra",
        "float",
        "Right ascension (ICRS).",
        unit="deg",
        required=True,
        nullable=False,
        aliases=("ra_deg", "raj2000", "ra_icrs", "ra_obj", "_raj2000"),
        minimum=0.0,
        maximum=360.0,
    ),
    Column(
        "dec",
        "float",
        "Declination (ICRS).",
        unit="deg",
        required=True,
        nullable=False,
        aliases=("dec_deg", "dej2000", "de_icrs", "dec_obj", "_dej2000", "decl"),
        minimum=-90.0,
        maximum=90.0,
    ),
)


def _pos_err(required: bool) -> Column:
    return Column(
        "pos_err",
        "float",
        "Position error radius (90% confidence).",
        unit="arcmin",
        required=required,
        nullable=not required,
        aliases=("err_rad", "poserr", "pos_error", "err_pos", "e_pos", "r90"),
        convertible=("arcsec", "deg"),
        minimum=0.0,
        maximum=600.0,
    )


_CLASS = Column(
    "class",
    "str",
    "Source class (LMXB, HMXB, AGN, ...); empty when unknown.",
    aliases=("source_class", "src_class", "type", "otype", "class_1"),
)
_ALIASES = Column(
    "alt_names",
    "str",
    "Other names of the source, separated by ';'.",
    aliases=("aliases", "other_names", "alias"),
)
_SIGNIFICANCE = Column(
    "significance",
    "float",
    "Detection significance.",
    unit="",
    aliases=("det_sig", "sigma", "snr"),
    minimum=0.0,
)


def _fluxes(instrument: str, bands: Iterable[str], required: Iterable[str] = ()) -> list[Column]:
    needed = set(required)
    cols: list[Column] = []
    for band in bands:
        flux = f"flux_{band}"
        lo, hi = band.split("_")
        cols.append(
            Column(
                flux,
                "float",
                f"{instrument} flux in {lo}-{hi} keV (Crab units).",
                unit="mCrab",
                required=band in needed,
                aliases=(f"f{band}", f"flux{band}", f"rate_{band}"),
                convertible=("Crab",),
                minimum=-1.0e5,
                maximum=1.0e5,
                band=(instrument, band),
            )
        )
        cols.append(
            Column(
                f"{flux}_err",
                "float",
                f"1-sigma error of {flux}.",
                unit="mCrab",
                aliases=(f"e_flux_{band}", f"flux_err_{band}", f"{flux}_error"),
                convertible=("Crab",),
                minimum=0.0,
                maximum=1.0e5,
                error_of=flux,
            )
        )
    return cols


def _flag(name: str, what: str) -> Column:
    return Column(name, "bool", f"Detected by {what}.", aliases=(f"{name}_flag",))


# Crab units are no astropy unit; they are declared here so that units in files parse.
CRAB = u.def_unit("Crab", doc="Flux of the Crab in the same band")
MCRAB = u.def_unit("mCrab", CRAB / 1000, doc="1/1000 of the Crab flux")


# --- Gamma-ray burst catalogues ------------------------------------------------------------------


def _opt_float(
    name: str,
    description: str,
    unit: str | None,
    aliases: tuple[str, ...] = (),
    convertible: tuple[str, ...] = (),
    minimum: float | None = None,
    maximum: float | None = None,
) -> Column:
    return Column(
        name,
        "float",
        description,
        unit=unit,
        aliases=aliases,
        convertible=convertible,
        minimum=minimum,
        maximum=maximum,
    )


def _text(
    name: str, description: str, aliases: tuple[str, ...] = (), required: bool = False
) -> Column:
    return Column(
        name, "str", description, required=required, nullable=not required, aliases=aliases
    )


_GRB_NAME = _text(
    "grb_name", "Burst name (GRB YYMMDDX).", ("name", "grb", "burst", "grbname"), required=True
)
_TRIGGER = _text(
    "trigger_time",
    "Trigger time, ISO 8601 UTC (2023-03-07T15:44:06).",
    ("t0", "trigger", "trig_time", "time_utc"),
)
_SIMULATED = Column(
    "simulated",
    "bool",
    "True for simulated rows (the demo archive's); absent or false for real ones.",
    aliases=("simdata",),
)

GRB_INTERFACES = (
    CatalogueInterface(
        kind="ibas_grbs",
        version=1,
        title="IBAS gamma-ray burst catalogue",
        description=(
            "Gamma-ray bursts of the INTEGRAL Burst Alert System: one row per burst with trigger "
            "time, position and error radius, peak flux, fluence, T90, significance and alert "
            "type (IBIS: localised by IBAS; SPI-ACS: a shield trigger, no localisation; "
            "external: found and localised by another mission), and where the position and "
            "time come from. obsid / scw_id, when given, must name an observation / science "
            "window of the archive (unknown ones are reported)."
        ),
        roles=("ibis", "isdc"),
        key="grb_name",
        detections=(),
        target="grbs",
        columns=(
            _GRB_NAME,
            Column(
                "trigger_time",
                "str",
                _TRIGGER.description,
                required=True,
                nullable=False,
                aliases=_TRIGGER.aliases,
            ),
            *_POSITION,
            _pos_err(True),
            _text(
                "alert_type",
                "IBIS, SPI-ACS or external.",
                ("alert", "trigger_type", "type"),
                required=True,
            ),
            _opt_float(
                "peak_flux",
                "Peak photon flux (20-200 keV, 1 s).",
                "ph/(cm2 s)",
                ("peakflux", "flux_peak"),
                minimum=0.0,
            ),
            _opt_float("fluence", "Fluence.", "erg/cm2", ("flnc", "fluence_20_200"), minimum=0.0),
            _opt_float("t90", "T90 duration.", "s", ("t_90", "duration"), ("ms",), 0.0),
            _opt_float(
                "significance", "Detection significance.", "", ("sigma", "snr"), minimum=0.0
            ),
            _text("obsid", "Observation of the trigger (11 digits).", ("obs_id",)),
            _text("scw_id", "Science window of the trigger (12 digits).", ("scw", "swid")),
            _text("position_ref", "Where the position comes from.", ("pos_ref", "position_source")),
            _text("time_ref", "Where the trigger time comes from.", ("trigger_ref",)),
            _text("notes", "Remarks.", ("remarks", "comment")),
            _SIMULATED,
        ),
    ),
    CatalogueInterface(
        kind="spi_grb_fits",
        version=1,
        title="SPI GRB catalogue: time-resolved spectral fits",
        description=(
            "Time-resolved spectral fits of bursts seen by SPI (Biltzinger et al. 2023, A&A "
            "675, A175): one row per burst, time bin and model (band, cpl: empirical; "
            "synchrotron: physical), with the time bin relative to the trigger, E_peak, alpha, "
            "beta and their errors, the energy flux, the synchrotron parameters and the fit "
            "statistic. ra/dec: the burst position used for the response."
        ),
        roles=("spi", "isdc"),
        key="fit_id",
        detections=(),
        target="grb_spectral_fits",
        columns=(
            _text("fit_id", "Identifier of the fit (unique in the catalogue).", ("id",), True),
            _GRB_NAME,
            *_POSITION,
            _pos_err(False),
            _text("model", "band, cpl or synchrotron.", ("spectral_model", "func"), True),
            Column(
                "bin_index",
                "int",
                "Time bin number (1-based).",
                required=True,
                nullable=False,
                aliases=("bin", "interval"),
                minimum=1.0,
            ),
            Column(
                "t_start",
                "float",
                "Start of the bin after the trigger.",
                unit="s",
                required=True,
                nullable=False,
                aliases=("tstart", "t_min"),
            ),
            Column(
                "t_stop",
                "float",
                "End of the bin after the trigger.",
                unit="s",
                required=True,
                nullable=False,
                aliases=("tstop", "t_max"),
            ),
            _opt_float("e_peak", "Peak energy.", "keV", ("epeak", "ep"), ("MeV",), 0.0),
            _opt_float(
                "e_peak_err", "Error of e_peak.", "keV", ("epeak_err", "e_ep"), ("MeV",), 0.0
            ),
            _opt_float(
                "alpha", "Low-energy photon index.", "", ("index1",), minimum=-10, maximum=10
            ),
            _opt_float("alpha_err", "Error of alpha.", "", ("e_alpha",), minimum=0.0),
            _opt_float(
                "beta", "High-energy photon index.", "", ("index2",), minimum=-20, maximum=10
            ),
            _opt_float("beta_err", "Error of beta.", "", ("e_beta",), minimum=0.0),
            _opt_float(
                "energy_flux",
                "Energy flux (20 keV - 2 MeV).",
                "erg/(cm2 s)",
                ("flux",),
                minimum=0.0,
            ),
            _opt_float("synch_b", "Synchrotron magnetic field.", "G", ("b_field",), minimum=0.0),
            _opt_float("synch_index", "Electron spectral index p.", "", ("p_index",)),
            _opt_float("cstat", "Fit statistic.", "", ("stat", "pgstat")),
            Column("dof", "int", "Degrees of freedom.", aliases=("ndof",), minimum=0.0),
            _SIMULATED,
        ),
    ),
)


INTERFACES: dict[str, CatalogueInterface] = {
    i.name: i
    for i in (
        CatalogueInterface(
            kind="isgri_results",
            version=1,
            title="IBIS/ISGRI source results",
            description=(
                "Sources detected in ISGRI mosaics, with fluxes in the ISGRI bands. Every "
                "entry sets the ISGRI detection flag; det_picsit marks PICsIT detections."
            ),
            roles=("ibis", "isdc"),
            key="name",
            detections=("isgri",),
            columns=(
                _name(),
                *_POSITION,
                _pos_err(True),
                _CLASS,
                _ALIASES,
                *_fluxes("ISGRI", ("20_35", "35_60", "28_40", "60_200"), ("20_35", "35_60")),
                _SIGNIFICANCE,
                _flag("det_picsit", "PICsIT"),
            ),
            flag_columns={"det_picsit": "picsit"},
        ),
        CatalogueInterface(
            kind="jemx_results",
            version=1,
            title="JEM-X source results",
            description="Sources detected in JEM-X mosaics, with fluxes in the JEM-X bands.",
            roles=("jemx", "isdc"),
            key="name",
            detections=("jemx",),
            columns=(
                _name(),
                *_POSITION,
                _pos_err(True),
                _CLASS,
                _ALIASES,
                *_fluxes("JEM-X", ("3_10", "10_20", "3_20"), ("3_10", "10_20")),
                _SIGNIFICANCE,
            ),
        ),
        CatalogueInterface(
            kind="spi_results",
            version=1,
            title="SPI source results",
            description=(
                "Sources measured by SPI, keyed by the team's source identifier, with fluxes "
                "in the SPI bands (the synthetic 1,000,000-source benchmark catalogue has this "
                "form: source_id,name,ra,dec,flux_20_40,flux_40_100,class)."
            ),
            roles=("spi", "isdc"),
            key="source_id",
            detections=("spi",),
            columns=(
                Column(
                    "source_id",
                    "str",
                    "The team's identifier of the entry (unique in the catalogue).",
                    required=True,
                    nullable=False,
                    aliases=("id", "src_id", "srcid", "entry_id"),
                ),
                _name(required=False),
                *_POSITION,
                _pos_err(False),
                _CLASS,
                _ALIASES,
                *_fluxes("SPI", ("20_40", "40_100")),
            ),
        ),
        CatalogueInterface(
            kind="omc_variables",
            version=1,
            title="OMC variable sources",
            description=(
                "Optical (Johnson V) counterparts and variables observed by OMC, with V "
                "magnitudes and variability amplitude."
            ),
            roles=("omc", "isdc"),
            key="name",
            detections=("omc",),
            columns=(
                _name(),
                *_POSITION,
                Column(
                    "pos_err",
                    "float",
                    "Position error radius.",
                    unit="arcmin",
                    aliases=("err_rad", "poserr", "pos_error", "e_pos"),
                    convertible=("arcsec", "deg"),
                    minimum=0.0,
                    maximum=60.0,
                ),
                _CLASS,
                _ALIASES,
                Column(
                    "mag_v",
                    "float",
                    "Mean Johnson V magnitude.",
                    unit="mag",
                    required=True,
                    nullable=False,
                    aliases=("vmag", "v_mag", "mean_v"),
                    minimum=-2.0,
                    maximum=25.0,
                ),
                Column(
                    "mag_v_err",
                    "float",
                    "Error of mag_v.",
                    unit="mag",
                    aliases=("e_vmag", "vmag_err"),
                    minimum=0.0,
                    maximum=10.0,
                ),
                Column(
                    "amplitude",
                    "float",
                    "Peak-to-peak V variability amplitude.",
                    unit="mag",
                    aliases=("amp", "delta_v"),
                    minimum=0.0,
                    maximum=20.0,
                ),
                Column(
                    "period",
                    "float",
                    "Period of variability, if periodic.",
                    unit="d",
                    aliases=("per",),
                    convertible=("h", "s"),
                    minimum=0.0,
                ),
            ),
        ),
        CatalogueInterface(
            kind="reference",
            version=1,
            title="Archive reference catalogue",
            description=(
                "ISDC's reference list of INTEGRAL sources, with explicit detection flags per "
                "instrument and the ISGRI and JEM-X fluxes."
            ),
            roles=("isdc",),
            key="name",
            detections=(),
            columns=(
                _name(),
                *_POSITION,
                _pos_err(True),
                _CLASS,
                _ALIASES,
                *_fluxes("ISGRI", ("20_35", "35_60", "28_40")),
                *_fluxes("JEM-X", ("3_10", "10_20")),
                *(_flag(f"det_{flag}", flag.upper()) for flag in INSTRUMENT_FLAGS),
            ),
            flag_columns={f"det_{flag}": flag for flag in INSTRUMENT_FLAGS},
        ),
        *GRB_INTERFACES,
    )
}
"""Every catalogue interface, by ``kind/version``."""


class UnknownInterfaceError(KeyError):
    """Raised for a kind that is not declared."""


def get_interface(name: str) -> CatalogueInterface:
    """The interface ``kind/version`` (``kind`` alone means its newest version)."""
    if name in INTERFACES:
        return INTERFACES[name]
    versions = [i for i in INTERFACES.values() if i.kind == name]
    if versions:
        return max(versions, key=lambda i: i.version)
    raise UnknownInterfaceError(
        f"unknown catalogue kind {name!r}; declared kinds: {', '.join(sorted(INTERFACES))}"
    )


@cache
def parse_unit(text: str) -> u.UnitBase:
    """An astropy unit from a file's unit string (FITS, VOUnit or generic spelling)."""
    text = text.strip()
    with u.add_enabled_units([CRAB, MCRAB]):
        for fmt in ("fits", "vounit", "generic"):
            try:
                return u.Unit(text, format=fmt)
            except ValueError:
                continue
        return u.Unit(text, parse_strict="raise")


def unit_factor(col: Column, given: str | None) -> tuple[float | None, str | None]:
    """(factor to the declared unit, problem): factor 1 when the unit is the declared one.

    A unit that is equivalent to the declared one but not declared convertible, or not
    convertible at all, is a problem.
    """
    if col.unit is None or given is None or not given.strip():
        return 1.0, None
    try:
        have = parse_unit(given)
    except ValueError:
        return None, f"column {col.name!r}: unit {given!r} is not a unit astropy understands"
    want = parse_unit(col.unit) if col.unit else u.dimensionless_unscaled
    if have == want:
        return 1.0, None
    allowed = [parse_unit(x) for x in col.convertible]
    if any(have == a for a in allowed):
        try:
            return float(have.to(want)), None
        except u.UnitConversionError:
            pass
    accepted = ", ".join([col.unit or "(none)", *col.convertible])
    return None, (
        f"column {col.name!r}: unit {given!r} is not accepted (declared unit "
        f"{col.unit!r}; accepted: {accepted})"
    )
