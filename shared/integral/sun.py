"""The Sun's position and INTEGRAL's solar aspect constraint, vectorised.

INTEGRAL may only point between 50° and 130° from the Sun: its solar arrays must face the
Sun and its instruments must not see it. Every pointing of the mission obeyed this.

The Sun's position comes from the low-precision formula of the Astronomical Almanac (good to
0.01° between 1950 and 2050), with the ecliptic longitude carried from the equinox of date
back to J2000 (general precession, 1.397° per century), so that it is in the ICRS-aligned
frame the pointings are given in. A unit test holds it to astropy's ``get_sun`` within 0.02°.
It costs a few numpy operations per call, where astropy's coordinate machinery costs
milliseconds.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from astropy.coordinates import angular_separation

__all__ = ["SOLAR_ASPECT_MAX", "SOLAR_ASPECT_MIN", "solar_aspect", "sun_radec"]

#: Smallest allowed angle between the pointing axis and the Sun (degrees).
SOLAR_ASPECT_MIN: float = 50.0

#: Largest allowed angle between the pointing axis and the Sun (degrees).
SOLAR_ASPECT_MAX: float = 130.0

# Obliquity of the ecliptic at J2000 (degrees).
_OBLIQUITY_J2000 = 23.4392911
# General precession in longitude (degrees per day: 1.3969713° per Julian century).
_PRECESSION_PER_DAY = 1.3969713 / 36525.0


def sun_radec(
    ijd: npt.ArrayLike,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Return the Sun's geocentric (ra, dec) in degrees (J2000 axes) at each IJD (TT)."""
    n = np.asarray(ijd, dtype=np.float64) - 0.5  # days from J2000.0 (IJD 0 is 2000-01-01 00h)
    mean_long = np.radians((280.460 + 0.9856474 * n) % 360.0)
    anomaly = np.radians((357.528 + 0.9856003 * n) % 360.0)
    ecl_long = (
        mean_long
        + np.radians(1.915 * np.sin(anomaly) + 0.020 * np.sin(2 * anomaly))
        - np.radians(_PRECESSION_PER_DAY * n)
    )
    obliquity = np.radians(_OBLIQUITY_J2000)
    ra = np.degrees(np.arctan2(np.cos(obliquity) * np.sin(ecl_long), np.cos(ecl_long)))
    dec = np.degrees(np.arcsin(np.sin(obliquity) * np.sin(ecl_long)))
    return ra % 360.0, dec


def solar_aspect(
    ra: npt.ArrayLike, dec: npt.ArrayLike, ijd: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Return the angle (degrees) between the direction (ra, dec) and the Sun at ``ijd``.

    Arguments broadcast against each other (numpy rules).
    """
    sun_ra, sun_dec = sun_radec(ijd)
    separation = angular_separation(
        np.radians(ra), np.radians(dec), np.radians(sun_ra), np.radians(sun_dec)
    )
    return np.asarray(np.degrees(separation), dtype=np.float64)
