"""ObsCore 1.1 (``ivoa.obscore``): the VO metadata of the view and the constants it is built on.

The view itself is created by migration 0003 (its SQL lives there, frozen with the revision);
this module holds what TAP_SCHEMA publishes about it (the standard's utypes, UCDs and units,
column by column, as ObsCore 1.1 §4 lists them) and the few INTEGRAL facts the view and the
documentation share.

The view holds no URLs: ``access_url`` is built at query time from the Postgres setting
``isla.raw_url`` (``current_setting('isla.raw_url', true)``), which the TAP runner sets for
each query transaction (``SET LOCAL``) from ``PeerSettings.peer('raw')``. A view cannot read
the application's settings, and a configuration table would have to be kept in step with
them by hand; a transaction-local setting is always the running service's own value.
"""

from __future__ import annotations

from dataclasses import replace

from shared.vo.docs import ColumnDoc, TableDoc
from shared.vo.types import REGION

AUTHORITY = "isla.integral"
"""IVOA authority of the publisher DIDs (``ivo://isla.integral/isla?scw/<id>.<version>``).

A constant because the DIDs must not change when the service moves to another host. A data
centre that registers its own authority changes it here and in a new migration of the view.
"""

URL_SETTING = "isla.raw_url"
"""Transaction-local Postgres setting holding the raw service's base URL for access_url."""

PRODUCTS_URL_SETTING = "isla.products_url"
"""Transaction-local Postgres setting holding the products service's base URL."""

RAW_COLLECTION = "INTEGRAL/ISLA raw"
"""obs_collection of the raw science windows."""

PRODUCT_COLLECTION = "INTEGRAL/ISLA products"
"""obs_collection of the science products."""

TIMESERIES_COLLECTION = "INTEGRAL/ISLA time series"
"""obs_collection of the delivered SPI-ACS and IREM files (migration 0023)."""

SIMULATED_SUFFIX = " (simulated demo)"
"""Appended to obs_collection for simulated rows (the demo archive's science windows and
products, migration 0011): ``INTEGRAL/ISLA raw (simulated demo)``."""

HC_KEV_M = 1.239841984e-9
"""h·c in keV·m: a photon of E keV has the wavelength HC_KEV_M / E metres (ObsCore's em_*)."""

ISGRI_E_MIN_KEV = 15.0
"""Lower end of ISGRI's energy range."""

ISGRI_E_MAX_KEV = 1000.0
"""Upper end of ISGRI's energy range (1 MeV)."""

ISGRI_FOV_DEG = 29.0
"""Diameter of ISGRI's partially coded field of view (s_fov)."""

ISGRI_RESOLUTION_ARCSEC = 720.0
"""ISGRI's angular resolution, 12 arcmin FWHM (s_resolution)."""

ISGRI_TIME_RESOLUTION_S = 61e-6
"""ISGRI event time resolution, 61 µs (t_resolution)."""

ISGRI_RES_POWER = 12.5
"""ISGRI's resolving power E/ΔE at 100 keV (8 % FWHM), em_res_power."""

DATALINK_FORMAT = "application/x-votable+xml;content=datalink"
"""access_format of the product rows: their access_url is the product's DataLink document."""

DATALINK_PATH = "/datalink"
"""Path of the DataLink service under the products service's base URL."""

ANGULAR_RESOLUTION_ARCSEC = {
    "ISGRI": 720.0,
    "PICsIT": 720.0,
    "JEM-X": 180.0,
    "JEM-X1": 180.0,
    "JEM-X2": 180.0,
    "SPI": 9000.0,
    "OMC": 25.0,
}
"""Angular resolution (FWHM) per instrument: s_resolution of products, and the radius of the
circle around the source that is a point-source product's s_region."""

FIELD_RADIUS_DEG = {"ISGRI": 14.5, "PICsIT": 14.5, "JEM-X": 6.6, "SPI": 8.0, "OMC": 2.5}
"""Half field of view per instrument: the s_region circle of an epoch image without its own
footprint, centred on the observation's pointing."""

OMC_WAVELENGTH_M = (5.0e-7, 6.0e-7)
"""OMC's Johnson V band (em_min, em_max) in metres."""


def _o(
    description: str, utype: str, ucd: str, unit: str | None = None, principal: bool = True
) -> ColumnDoc:
    return ColumnDoc(description, unit, ucd, f"obscore:{utype}", principal=principal, std=True)


OBSCORE_COLUMNS: dict[str, ColumnDoc] = {
    "dataproduct_type": _o(
        "Data product type: event (raw science windows), timeseries, spectrum or image.",
        "ObsDataset.dataProductType",
        "meta.code.class",
    ),
    "calib_level": _o(
        "Calibration level: 1 raw science windows, 3 science products (light curves, spectra, "
        "mosaics, maps).",
        "ObsDataset.calibLevel",
        "meta.code;obs.calib",
    ),
    "obs_collection": _o(
        "Name of the data collection: INTEGRAL/ISLA raw, INTEGRAL/ISLA products or INTEGRAL/ISLA "
        "time series, followed by ' (simulated demo)' for simulated data.",
        "DataID.Collection",
        "meta.id",
        principal=True,
    ),
    "obs_id": _o(
        "Observation identifier: the science window id, or the product's epoch.",
        "DataID.observationID",
        "meta.id",
    ),
    "obs_publisher_did": _o(
        "Publisher's dataset identifier (IVOA URI).", "Curation.PublisherDID", "meta.ref.ivoid"
    ),
    "access_url": _o(
        "URL of the data: the science window's tarball, or the product's DataLink document.",
        "Access.Reference",
        "meta.ref.url",
    ),
    "access_format": _o("MIME type of the data at access_url.", "Access.Format", "meta.code.mime"),
    "access_estsize": _o(
        "Estimated size of the data at access_url.", "Access.Size", "phys.size;meta.file", "kbyte"
    ),
    "target_name": _o(
        "Target of the observation, or source of the product.", "Target.Name", "meta.id;src"
    ),
    "s_ra": _o(
        "Right ascension of the pointing axis or of the source (ICRS).",
        "Char.SpatialAxis.Coverage.Location.Coord.Position2D.Value2.C1",
        "pos.eq.ra",
        "deg",
    ),
    "s_dec": _o(
        "Declination of the pointing axis or of the source (ICRS).",
        "Char.SpatialAxis.Coverage.Location.Coord.Position2D.Value2.C2",
        "pos.eq.dec",
        "deg",
    ),
    "s_fov": _o(
        "Diameter of the field of view (ISGRI partially coded field).",
        "Char.SpatialAxis.Coverage.Bounds.Extent.diameter",
        "phys.angSize;instr.fov",
        "deg",
    ),
    # A pgSphere spoly in the database (indexed CONTAINS), an STC-S string in TAP_SCHEMA and
    # results, as ObsCore 1.1 types it (adql:REGION in a char column).
    "s_region": replace(
        _o(
            "Footprint as an STC-S polygon: the ISGRI partially coded field (science windows), "
            "the image footprint, or a resolution-sized circle around the source of a product.",
            "Char.SpatialAxis.Coverage.Support.Area",
            "pos.outline;obs.field",
        ),
        vo=REGION,
    ),
    "s_resolution": _o(
        "Angular resolution of the instrument (ISGRI: 12 arcmin).",
        "Char.SpatialAxis.Resolution.Refval.value",
        "pos.angResolution",
        "arcsec",
    ),
    "s_xel1": _o(
        "Number of elements along the first spatial axis (null for event lists).",
        "Char.SpatialAxis.numBins1",
        "meta.number",
        principal=False,
    ),
    "s_xel2": _o(
        "Number of elements along the second spatial axis (null for event lists).",
        "Char.SpatialAxis.numBins2",
        "meta.number",
        principal=False,
    ),
    "t_min": _o(
        "Start time (MJD, TT).",
        "Char.TimeAxis.Coverage.Bounds.Limits.StartTime",
        "time.start;obs.exposure",
        "d",
    ),
    "t_max": _o(
        "Stop time (MJD, TT).",
        "Char.TimeAxis.Coverage.Bounds.Limits.StopTime",
        "time.end;obs.exposure",
        "d",
    ),
    "t_exptime": _o(
        "Exposure time (ISGRI dead-time corrected exposure for science windows).",
        "Char.TimeAxis.Coverage.Support.Extent",
        "time.duration;obs.exposure",
        "s",
    ),
    "t_resolution": _o(
        "Time resolution (ISGRI events: 61 microseconds).",
        "Char.TimeAxis.Resolution.Refval.value",
        "time.resolution",
        "s",
    ),
    "t_xel": _o(
        "Number of elements along the time axis (null for event lists).",
        "Char.TimeAxis.numBins",
        "meta.number",
        principal=False,
    ),
    "em_min": _o(
        "Shortest wavelength (science windows: ISGRI's 1 MeV; products: their band).",
        "Char.SpectralAxis.Coverage.Bounds.Limits.LoLimit",
        "em.wl;stat.min",
        "m",
    ),
    "em_max": _o(
        "Longest wavelength (science windows: ISGRI's 15 keV; products: their band).",
        "Char.SpectralAxis.Coverage.Bounds.Limits.HiLimit",
        "em.wl;stat.max",
        "m",
    ),
    "em_res_power": _o(
        "Spectral resolving power E/dE (ISGRI at 100 keV).",
        "Char.SpectralAxis.Resolution.ResolPower.refVal",
        "spect.resolution",
    ),
    "em_xel": _o(
        "Number of elements along the spectral axis (null for event lists).",
        "Char.SpectralAxis.numBins",
        "meta.number",
        principal=False,
    ),
    "o_ucd": _o("UCD of the observable (photon counts).", "Char.ObservableAxis.ucd", "meta.ucd"),
    "pol_states": _o(
        "Polarisation states (none).",
        "Char.PolarizationAxis.stateList",
        "meta.code;phys.polarization",
        principal=False,
    ),
    "pol_xel": _o(
        "Number of polarisation states (none).",
        "Char.PolarizationAxis.numBins",
        "meta.number",
        principal=False,
    ),
    "facility_name": _o(
        "Observatory (INTEGRAL).", "Provenance.ObsConfig.facility.name", "meta.id;instr.tel"
    ),
    "instrument_name": _o(
        "Instrument (IBIS/ISGRI for science windows).",
        "Provenance.ObsConfig.instrument.name",
        "meta.id;instr",
    ),
}
"""The 30 mandatory ObsCore 1.1 columns, in the standard's order (the view's order too)."""

EXTRA_COLUMNS: dict[str, ColumnDoc] = {
    "isla_simulated": ColumnDoc(
        "1 when the science window or product is simulated (the demo archive), 0 when "
        "delivered by INTEGRAL (not an ObsCore column).",
        ucd="meta.code.qual",
    ),
}
"""The view's own columns after the standard ones (migration 0011)."""

OBSCORE_TABLE = TableDoc(
    "ivoa",
    "obscore",
    "ObsCore 1.1: one row per INTEGRAL pointing science window (raw data, IBIS/ISGRI field "
    "of view) and one per science product (light curves, spectra, mosaics).",
    "view",
    utype="ivo://ivoa.net/std/ObsCore#table-1.1",
    columns={**OBSCORE_COLUMNS, **EXTRA_COLUMNS},
    required=False,
)
"""TAP_SCHEMA description of ``ivoa.obscore`` (published once migration 0003 created it)."""


def wavelength_m(energy_kev: float) -> float:
    """The photon wavelength in metres of an energy in keV (ObsCore's spectral axis is in m)."""
    return HC_KEV_M / energy_kev
