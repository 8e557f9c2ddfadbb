"""Simulated contributed collections of the demo archive (community products, not ISLA
pipeline output), made at load time and delivered through ingestion like a team's.

- ``crab-pulsar-timing-sim``: a monthly Crab pulsar timing ephemeris (ECSV) over the mission
  and a folded 20-100 keV ISGRI pulse profile (FITS table), with the small program that
  "made" them as a tar.gz (MIT licence);
- ``spi-511kev-line-map-sim``: an all-sky SPI 511 keV positron-annihilation line map as a
  HEALPix FITS map (NSIDE 16, galactic, RING), bulge plus disk.

Every file says it is simulated: ``SIMDATA = T`` in every FITS HDU (with the COMMENT of
:mod:`shared.simulation`), ``SIMDATA: true`` in the ECSV metadata and a ``simulated`` column,
and the first line of each README. The numbers are shaped like the real ones (the Crab's
spin-down, the bulge's 511 keV flux of ~1e-3 ph/cm²/s) but are not measurements.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from dataclasses import dataclass, field

import astropy.units as u
import numpy as np
from astropy.coordinates import Galactic
from astropy.io import fits
from astropy.table import Table
from astropy_healpix import HEALPix

from shared import simulation

SEED = 14
"""Random seed of the demo collections (noise on the ephemeris)."""


@dataclass(frozen=True)
class DemoCollection:
    """One collection version as a team would send it: form fields and files by role."""

    fields: dict[str, str]
    products: list[tuple[str, bytes]]
    documentation: list[tuple[str, bytes]]
    software: list[tuple[str, bytes]] = field(default_factory=list)


def _primary(extra: list[tuple[str, object, str]]) -> fits.PrimaryHDU:
    hdu = fits.PrimaryHDU()
    hdu.header[simulation.SIMDATA] = (True, simulation.SIMDATA_COMMENT)
    hdu.header["CREATOR"] = (simulation.PIPELINE, "software that made the file")
    for key, value, comment in extra:
        hdu.header[key] = (value, comment)
    for line in simulation.comment_lines():
        hdu.header["COMMENT"] = line
    return hdu


def _fits_bytes(hdus: list[fits.PrimaryHDU | fits.BinTableHDU]) -> bytes:
    out = io.BytesIO()
    fits.HDUList(hdus).writeto(out, checksum=True)
    return out.getvalue()


def crab_ephemeris(rng: np.random.Generator) -> bytes:
    """A monthly Crab timing ephemeris over INTEGRAL's mission (ECSV)."""
    starts = np.arange(52640.0, 60400.0, 30.0)
    t0, nu0, nudot = 52640.0, 29.8570, -3.73e-10
    epochs = starts + 15.0
    seconds = (epochs - t0) * 86400.0
    table = Table(
        {
            "mjd_start": starts,
            "mjd_stop": starts + 30.0,
            "epoch": epochs,
            "nu": nu0 + nudot * seconds + rng.normal(0.0, 2e-11, starts.size),
            "nu_dot": nudot + 1.2e-20 * seconds + rng.normal(0.0, 5e-15, starts.size),
            "rms_residual": rng.uniform(15.0, 60.0, starts.size).round(1),
            "n_toa": rng.integers(8, 40, starts.size),
            "simulated": np.ones(starts.size, dtype=bool),
        }
    )
    for name, unit in (
        ("mjd_start", u.d),
        ("mjd_stop", u.d),
        ("epoch", u.d),
        ("nu", u.Hz),
        ("nu_dot", u.Hz / u.s),
        ("rms_residual", u.us),
    ):
        table[name].unit = unit
    table.meta.update(
        SIMDATA=True,
        comment=simulation.COMMENT,
        source="Crab pulsar (PSR B0531+21)",
        timescale="TDB",
    )
    out = io.StringIO()
    table.write(out, format="ascii.ecsv")
    return out.getvalue().encode()


def crab_profile() -> bytes:
    """A folded 20-100 keV pulse profile of the Crab (FITS table, two peaks)."""
    phase = (np.arange(64) + 0.5) / 64

    def peak(centre: float, width: float) -> np.ndarray:
        d = (phase - centre + 0.5) % 1.0 - 0.5
        return np.exp(-0.5 * (d / width) ** 2)

    rate = 2.0 + 1.4 * peak(0.0, 0.025) + 0.9 * peak(0.40, 0.05)
    error = np.full(phase.size, 0.02)
    table = fits.BinTableHDU.from_columns(
        [
            fits.Column("PHASE", "E", array=phase),
            fits.Column("RATE", "E", unit="count/s", array=rate),
            fits.Column("ERROR", "E", unit="count/s", array=error),
        ],
        name="PROFILE",
    )
    table.header[simulation.SIMDATA] = (True, simulation.SIMDATA_COMMENT)
    table.header["E_MIN"] = (20.0, "keV")
    table.header["E_MAX"] = (100.0, "keV")
    primary = _primary(
        [
            ("TELESCOP", "INTEGRAL", "mission"),
            ("INSTRUME", "ISGRI", "instrument"),
            ("OBJECT", "Crab pulsar", "source"),
        ]
    )
    return _fits_bytes([primary, table])


def line_map() -> bytes:
    """The 511 keV line intensity of the sky as a HEALPix map (NSIDE 16, galactic, RING)."""
    nside = 16
    pixels = HEALPix(nside=nside, order="ring", frame=Galactic())
    lon, lat = pixels.healpix_to_lonlat(np.arange(pixels.npix))
    l_deg = ((lon.to_value(u.deg) + 180.0) % 360.0) - 180.0
    b_deg = lat.to_value(u.deg)
    # A 2-D Gaussian bulge (FWHM ~ 20 deg) on a thin, broad disk, in ph/cm2/s/sr.
    sigma_bulge, sigma_disk_b, sigma_disk_l = 8.5, 3.0, 60.0
    bulge = 2.6e-2 * np.exp(-0.5 * (l_deg**2 + b_deg**2) / sigma_bulge**2)
    disk = 1.5e-3 * np.exp(-0.5 * (b_deg / sigma_disk_b) ** 2 - 0.5 * (l_deg / sigma_disk_l) ** 2)
    intensity = (bulge + disk).astype(np.float32)
    table = fits.BinTableHDU.from_columns(
        [fits.Column("INTENSITY", "E", unit="ph/(cm2 s sr)", array=intensity)], name="LINE_MAP"
    )
    header = table.header
    for key, value, comment in (
        ("PIXTYPE", "HEALPIX", "HEALPix map"),
        ("ORDERING", "RING", "pixel ordering"),
        ("COORDSYS", "G", "galactic coordinates"),
        ("NSIDE", nside, "HEALPix resolution"),
        ("INDXSCHM", "IMPLICIT", "every pixel, in order"),
        ("FIRSTPIX", 0, "first pixel"),
        ("LASTPIX", pixels.npix - 1, "last pixel"),
        ("E_LINE", 511.0, "keV, positron annihilation line"),
        (simulation.SIMDATA, True, simulation.SIMDATA_COMMENT),
    ):
        header[key] = (value, comment)
    primary = _primary([("TELESCOP", "INTEGRAL", "mission"), ("INSTRUME", "SPI", "instrument")])
    return _fits_bytes([primary, table])


def _tar_gz(members: dict[str, str]) -> bytes:
    """A reproducible tar.gz (fixed times and owners) of text files."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, content in members.items():
            data = content.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 1_700_000_000, 0o644
            archive.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


_TIMING_README = """\
# Crab pulsar timing with INTEGRAL/ISGRI (SIMULATED)

**SIMULATED DEMO DATA**: made by the ISLA demo loader; not a measurement.

Monthly ephemerides of the Crab pulsar (PSR B0531+21) over the INTEGRAL mission, and the
pulse profile folded with them in the ISGRI 20-100 keV band.

## Files

- `crab_ephemeris_sim.ecsv`: one row per 30-day segment: `epoch` (MJD, TDB), spin frequency
  `nu` (Hz) and its derivative `nu_dot` (Hz/s), the rms of the timing residuals (us) and the
  number of times of arrival used.
- `crab_pulse_profile_sim.fits`: 64 phase bins, `RATE` and `ERROR` in count/s.

## Software

`crab-timing-sim-1.0.tar.gz` holds the (illustrative) folding code, MIT licence.
"""

_MAP_README = """\
# SPI 511 keV line map (SIMULATED)

**SIMULATED DEMO DATA**: made by the ISLA demo loader; not a measurement.

All-sky intensity of the 511 keV positron-annihilation line as seen by SPI, as a HEALPix map
(NSIDE 16, RING ordering, galactic coordinates), in ph/cm2/s/sr: a bulge of ~20 deg FWHM on
a thin disk, shaped like the published SPI maps.

Read it with `astropy_healpix` or `healpy` (`healpy.read_map("spi_511kev_map_sim.fits")`).
"""

_FOLD_PY = '''\
"""Fold event times with a timing ephemeris (illustrative demo code, SIMULATED collection)."""

import numpy as np


def phase(t_mjd, epoch, nu, nu_dot):
    """Pulse phase in [0, 1) of times t_mjd for an ephemeris (epoch in MJD, nu in Hz)."""
    dt = (np.asarray(t_mjd) - epoch) * 86400.0
    return (nu * dt + 0.5 * nu_dot * dt**2) % 1.0
'''

_MIT = """\
MIT License

Copyright (c) 2026 ISLA demo (simulated collection)

Permission is hereby granted, free of charge, to any person obtaining a copy of this software
and associated documentation files, to deal in the Software without restriction, subject to
the following conditions: the above copyright notice and this permission notice shall be
included in all copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND.
"""


def demo_collections(seed: int = SEED) -> list[DemoCollection]:
    """The demo's contributed collections, deterministic for a seed."""
    rng = np.random.default_rng(seed)
    timing = DemoCollection(
        fields={
            "collection": "crab-pulsar-timing-sim",
            "title": "Crab pulsar timing with ISGRI (simulated)",
            "authors": "ISLA demo; Simulated Timing Team",
            "description": "SIMULATED: monthly Crab pulsar ephemerides over the INTEGRAL "
            "mission and the ISGRI 20-100 keV pulse profile folded with them.",
            "licence": "CC-BY-4.0",
            "instrument": "ISGRI",
            "version_label": "1.0",
            "software_licence": "MIT",
            "software_version": "1.0",
        },
        products=[
            ("crab_ephemeris_sim.ecsv", crab_ephemeris(rng)),
            ("crab_pulse_profile_sim.fits", crab_profile()),
        ],
        documentation=[("README.md", _TIMING_README.encode())],
        software=[
            (
                "crab-timing-sim-1.0.tar.gz",
                _tar_gz(
                    {
                        "crab-timing-sim-1.0/README": "Folding code of the simulated "
                        "Crab timing collection.\n",
                        "crab-timing-sim-1.0/LICENSE": _MIT,
                        "crab-timing-sim-1.0/crab_timing/fold.py": _FOLD_PY,
                    }
                ),
            )
        ],
    )
    lines = DemoCollection(
        fields={
            "collection": "spi-511kev-line-map-sim",
            "title": "SPI 511 keV positron-annihilation line map (simulated)",
            "authors": "ISLA demo; Simulated SPI Line Team",
            "description": "SIMULATED: all-sky 511 keV line intensity as a HEALPix map "
            "(NSIDE 16, galactic), bulge plus disk.",
            "licence": "CC-BY-4.0",
            "instrument": "SPI",
            "version_label": "2026.1",
        },
        products=[("spi_511kev_map_sim.fits", line_map())],
        documentation=[("README.md", _MAP_README.encode())],
    )
    return [timing, lines]
