"""Deep links into ESA's sky explorer, ESASky, for a position (a source, a map's centre).

ESASky opens at ``https://sky.esa.int/esasky/`` with the documented query parameters
``target`` (a name or ``"ra dec"`` in degrees), ``fov`` (degrees), ``cooframe`` (``J2000``)
and ``sci`` (the science mode, where external HiPS and catalogues are added). An ISLA map is
then added from its HiPS URL (docs/ESASKY.md says how).
"""

from __future__ import annotations

from urllib.parse import urlencode

ESASKY = "https://sky.esa.int/esasky/"


def esasky_url(ra: float, dec: float, fov_deg: float = 2.0) -> str:
    """ESASky centred on (ra, dec), ICRS degrees, with a field of view of ``fov_deg``."""
    query = {
        "target": f"{ra:.5f} {dec:+.5f}",
        "fov": f"{fov_deg:g}",
        "cooframe": "J2000",
        "sci": "true",
    }
    return f"{ESASKY}?{urlencode(query)}"
