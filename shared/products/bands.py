"""Facts about ISGRI and JEM-X products that are conventions, not models: the bands ISLA
publishes light curves and mosaics in, each instrument's default band, and the significance
below which a point is an upper limit."""

from __future__ import annotations

BANDS: dict[str, dict[str, tuple[float, float]]] = {
    "ISGRI": {
        "28_40": (28.0, 40.0),
        "20_35": (20.0, 35.0),
        "35_60": (35.0, 60.0),
        "60_200": (60.0, 200.0),
    },
    "JEM-X": {"3_20": (3.0, 20.0), "3_10": (3.0, 10.0), "10_20": (10.0, 20.0)},
}
"""Light-curve and mosaic bands per instrument (as in ``isla.energy_bands``)."""

INSTRUMENTS = tuple(BANDS)
"""The instruments with light curves, spectra and mosaics (the names of ``isla.instruments``)."""

DEFAULT_BAND = {"ISGRI": "28_40", "JEM-X": "3_20"}
"""ISLA's default band of each instrument."""

DETECTION_SIGMA = 3.0
"""Below this significance a point is an upper limit."""

SUB_SCW_LIMIT_S = 3600.0
"""Bins shorter than this split science windows: they are served only from stored sub-ScW
time series (``short_timeseries``); longer bins group stored per-ScW points."""

MIN_BIN_S = 10.0
"""Shortest bin width a request may ask for (seconds)."""
