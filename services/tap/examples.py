"""``/tap/examples``: a DALI 1.1 examples document of real INTEGRAL questions in ADQL.

The document is XHTML with RDFa (vocabulary ``http://www.ivoa.net/rdf/examples#``, what
DALI 1.1 §2.3 names; taplint warns that the older ``ivo://ivoa.net/std/DALI-examples`` is
contrary to DALI): each
example is a ``div`` of ``typeof="example"`` with a ``name`` and a ``query`` property, which
TOPCAT offers in its TAP window and taplint's EXA stage runs. Every query here runs against
the demo archive (tests/integration/test_tap_examples.py sends each one to /tap/sync).
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape


@dataclass(frozen=True)
class Example:
    """One example: an id (the fragment), a title, what it answers, its tables and its ADQL."""

    id: str
    name: str
    description: str
    tables: tuple[str, ...]
    query: str


EXAMPLES: list[Example] = [
    Example(
        "crab-cone",
        "Sources within half a degree of the Crab",
        "A cone search on the source catalogue, on the indexed position column.",
        ("isla.sources",),
        "SELECT source_id, name, ra, dec, source_class, pos_err\n"
        "FROM isla.sources\n"
        "WHERE 1 = CONTAINS(pos, CIRCLE('ICRS', 83.6332, 22.0145, 0.5))",
    ),
    Example(
        "crab-in-isgri-field",
        "Science windows with the Crab in the ISGRI field of view",
        "Pointings whose ISGRI partially coded field (a polygon per science window) contains "
        "the Crab, with their ISGRI exposure, in time order.",
        ("isla.science_windows",),
        "SELECT TOP 500 scw_id, revolution, obsid, start_time, end_time, isgri_exposure\n"
        "FROM isla.science_windows\n"
        "WHERE scw_type = 'pointing'\n"
        "  AND 1 = CONTAINS(POINT('ICRS', 83.6332, 22.0145), fov_isgri)\n"
        "ORDER BY start_time",
    ),
    Example(
        "exposure-per-year",
        "ISGRI exposure per year of the mission",
        "Pointings and total ISGRI exposure per year (IJD counts days from 2000-01-01, so "
        "2000 + FLOOR(start_ijd / 365.25) is the year).",
        ("isla.science_windows",),
        "SELECT 2000 + FLOOR(start_ijd / 365.25) AS mission_year, COUNT(*) AS pointings,\n"
        "       SUM(isgri_exposure) / 1000 AS isgri_ks\n"
        "FROM isla.science_windows\n"
        "WHERE scw_type = 'pointing'\n"
        "GROUP BY mission_year\n"
        "ORDER BY mission_year",
    ),
    Example(
        "jemx-exposure-of-a-source",
        "JEM-X exposure of the Crab",
        "Science windows with the Crab inside the JEM-X field of view, and the exposure of "
        "each JEM-X unit (JEM-X2 was off for most of 2004-2010).",
        ("isla.science_windows",),
        "SELECT COUNT(*) AS scws, SUM(jemx1_exposure) AS jemx1_s, SUM(jemx2_exposure) AS jemx2_s\n"
        "FROM isla.science_windows\n"
        "WHERE 1 = CONTAINS(POINT('ICRS', 83.6332, 22.0145), fov_jemx)",
    ),
    Example(
        "observations-of-a-pi",
        "Observations of a principal investigator",
        "Every observation of a PI (here the calibration team), with target and exposure.",
        ("isla.observations",),
        "SELECT obsid, proposal_id, target_name, start_time, end_time, exposure\n"
        "FROM isla.observations\n"
        "WHERE pi_name = 'INTEGRAL Calibration Team'\n"
        "ORDER BY start_time",
    ),
    Example(
        "revolution-timeline",
        "What INTEGRAL observed in one revolution",
        "The observations of revolution 727 with the number of pointings and their time span.",
        ("isla.science_windows", "isla.observations"),
        "SELECT o.obsid, o.target_name, COUNT(*) AS pointings,\n"
        "       MIN(w.start_time) AS first_start, MAX(w.end_time) AS last_end\n"
        "FROM isla.science_windows AS w\n"
        "JOIN isla.observations AS o ON o.obsid = w.obsid\n"
        "WHERE w.revolution = 727 AND w.scw_type = 'pointing'\n"
        "GROUP BY o.obsid, o.target_name\n"
        "ORDER BY first_start",
    ),
    Example(
        "bright-sources-by-class",
        "Bright hard X-ray sources by class",
        "How many sources of each class are brighter than 10 mCrab in the ISLA ISGRI band "
        "(28-40 keV).",
        ("isla.sources", "isla.source_fluxes", "isla.energy_bands"),
        "SELECT s.source_class, COUNT(*) AS n, MAX(f.flux) AS brightest_mcrab\n"
        "FROM isla.sources AS s\n"
        "JOIN isla.source_fluxes AS f ON f.source_id = s.source_id\n"
        "JOIN isla.energy_bands AS b ON b.band_id = f.band_id\n"
        "WHERE b.instrument = 'ISGRI' AND b.name = '28_40' AND f.flux > 10\n"
        "GROUP BY s.source_class\n"
        "ORDER BY n DESC",
    ),
    Example(
        "fluxes-by-band",
        "Fluxes of a source in every band",
        "The catalogue fluxes of the Crab per instrument band, with their provenance.",
        ("isla.source_fluxes", "isla.energy_bands", "isla.catalogues"),
        "SELECT b.instrument AS instrument, b.name AS band, b.e_min AS e_min, b.e_max,\n"
        "       f.flux, f.flux_err,\n"
        "       c.name AS catalogue, c.version\n"
        "FROM isla.source_fluxes AS f\n"
        "JOIN isla.energy_bands AS b ON b.band_id = f.band_id\n"
        "JOIN isla.catalogues AS c ON c.catalogue_id = f.catalogue_id\n"
        "WHERE f.source_id = 'J053432.0+220052'\n"
        "ORDER BY instrument, e_min",
    ),
    Example(
        "obscore-position",
        "ObsCore: raw data covering a position",
        "Science windows (as ObsCore rows, with the URL of each tarball) whose ISGRI field "
        "covers Cyg X-1.",
        ("ivoa.obscore",),
        "SELECT TOP 100 obs_id, t_min, t_max, t_exptime, access_url, access_estsize\n"
        "FROM ivoa.obscore\n"
        "WHERE dataproduct_type = 'event'\n"
        "  AND 1 = CONTAINS(POINT('ICRS', 299.5903, 35.2016), s_region)\n"
        "ORDER BY t_min",
    ),
    Example(
        "ila-observations-cone",
        "Observations near a target, as astroquery asks",
        "What astroquery.esa.integral's get_observations sends: observations whose target is "
        "within 12 degrees of the Crab.",
        ("ila.cons_pub_obs",),
        "SELECT obsid, target_name, starttime, endtime, start_revno, end_revno, exposure\n"
        "FROM ila.cons_pub_obs\n"
        "WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', 83.6332, 22.0145, 12))\n"
        "ORDER BY starttime",
    ),
    Example(
        "ila-instrument-bands",
        "Instruments and their ISLA bands",
        "astroquery's get_instrument_band_map: the instrument and band names ISLA requests use.",
        ("ila.instrument", "ila.band"),
        "SELECT i.name AS instrument, b.name AS band, b.e_min, b.e_max\n"
        "FROM ila.instrument AS i\n"
        "JOIN ila.band AS b ON b.instrument_oid = i.instrument_oid",
    ),
    Example(
        "ila-epochs",
        "Epochs of a source",
        "The ISLA epochs (revolution_observation) in which the Crab was in the ISGRI field.",
        ("ila.epoch", "ila.instrument"),
        "SELECT ep.epoch, i.name AS instrument\n"
        "FROM ila.epoch AS ep\n"
        "JOIN ila.instrument AS i ON i.instrument_oid = ep.instrument_oid\n"
        "WHERE ep.source_id = 'J053432.0+220052' AND i.name = 'ibis'\n"
        "ORDER BY epoch",
    ),
]
"""The examples, in the order the document lists them."""


def _example(example: Example) -> str:
    tables = ", ".join(f'<code property="table">{escape(t)}</code>' for t in example.tables)
    return (
        f'<div typeof="example" id="{example.id}" resource="#{example.id}">\n'
        f'<h2 property="name">{escape(example.name)}</h2>\n'
        f"<p>{escape(example.description)} Tables: {tables}.</p>\n"
        f'<pre class="dali-example-query" property="query">{escape(example.query)}</pre>\n'
        "</div>\n"
    )


def document() -> bytes:
    """The examples document (XHTML + RDFa, DALI 1.1 §2.3)."""
    body = "".join(_example(e) for e in EXAMPLES)
    page = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<!DOCTYPE html>\n<html xmlns="http://www.w3.org/1999/xhtml">\n'
        "<head><title>ISLA TAP examples</title></head>\n"
        '<body vocab="http://www.ivoa.net/rdf/examples#">\n'
        "<h1>ISLA TAP examples: INTEGRAL questions in ADQL</h1>\n"
        f"{body}</body>\n</html>\n"
    )
    return page.encode("utf-8")
