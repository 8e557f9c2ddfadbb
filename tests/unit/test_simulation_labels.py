"""The simulation label of FITS files (shared.simulation) and what the archive says of it."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import numpy as np
from astropy.io import fits

from shared import simulation
from shared.demo import fitsfiles
from shared.products import ogip

TARGET = ogip.Target("J053432.0+220052", "Crab", 83.633, 22.0145)


def _spectrum(simulated: bool) -> bytes:
    spec = ogip.Spectrum(np.ones(8), np.full(8, 0.1), 1000.0, 3000.0, 3000.1)
    return ogip.spectrum_fits(
        spec,
        instrument="ISGRI",
        target=TARGET,
        prov=ogip.Provenance(
            ["012300010010"], datetime(2025, 3, 1, tzinfo=UTC), simulated=simulated
        ),
        respfile="r.fits",
        ancrfile="a.fits",
    )


def test_simulated_products_say_so_in_every_hdu() -> None:
    with fits.open(io.BytesIO(_spectrum(True))) as hdus:
        hdus.verify("exception")
        assert all(hdu.header["SIMDATA"] is True for hdu in hdus)
        assert hdus[0].header["CREATOR"] == simulation.PIPELINE
        assert "SIMULATED DATA" in str(hdus[0].header["COMMENT"])
        assert all(hdu.verify_checksum() == 1 for hdu in hdus)


def test_products_are_not_labelled_unless_simulated() -> None:
    with fits.open(io.BytesIO(_spectrum(False))) as hdus:
        assert all("SIMDATA" not in hdu.header for hdu in hdus)
        assert hdus[0].header["CREATOR"] == ogip.SOFTWARE


def test_demo_raw_files_are_labelled() -> None:
    orbit = fitsfiles.orbit_file(81, 1000.0, 1003.0, datetime(2003, 6, 1))
    with fits.open(io.BytesIO(orbit)) as hdus:
        hdus.verify("exception")
        assert all(hdu.header["SIMDATA"] is True for hdu in hdus)
        assert all(hdu.header["CREATOR"] == simulation.PIPELINE for hdu in hdus)
        assert "not measured by" in str(hdus[0].header["COMMENT"])


def test_is_simulated_reads_fits_values() -> None:
    assert simulation.is_simulated(True) and simulation.is_simulated("T")
    assert not simulation.is_simulated(False) and not simulation.is_simulated(None)
    assert not simulation.is_simulated("F")


def test_holdings_sentence() -> None:
    assert simulation.Holdings(7, 0, 10, 0).sentence() == ""
    text = simulation.Holdings(1000, 993, 9000, 9000).sentence()
    assert text.startswith("This archive holds simulated data")
    assert "993 of its 1,000 science products" in text and "7 products" in text
    assert "9,000 of its 9,000 raw files" in text
