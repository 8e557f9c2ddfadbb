"""User-facing latencies on an existing archive: every call of the scale issue's list, through
the real services and the real clients.

Points the four services (one gateway process, as ``isla up`` runs them, plus the products
service the TAP service hands its ``REQUEST=`` calls to) at the archive database given by
``--database-url`` (any scale; nothing is written) and measures, each call ``--repeat`` times
after one warm-up, p50 and p95 in milliseconds:

- astroquery's ESA INTEGRAL client, unmodified, its ``conf`` URLs on this archive (as the
  compatibility tests use it): sources (the Crab), epochs of the Crab for ISGRI and JEM-X,
  epochs without a target for ISGRI and JEM-X, the timeline of the Crab (14°), observations in
  a cone and a revolution range, the Crab's long-term light curve, spectra and a mosaic (these
  three when the archive holds them);
- ObsCore through TAP (pyvo): a 5° cone with ``CONTAINS(POINT(s_ra, s_dec), ...)`` and with
  ``INTERSECTS(s_region, ...)``, and ``count(*)``;
- the raw manifest of the Crab (``/raw/manifest.json?source=Crab``);
- the portal: the landing page, the search box (``/api/search?q=crab``) and the Crab's page;
- a map's value at the Crab and the Crab's upper limits (when the archive holds maps).

A call whose data the archive lacks (e.g. products of a ``--no-raw`` load) is reported as
skipped, with the reason. A call that fails is reported with its error, not timed.

Usage: ``python -m bench latency --database-url postgresql://... [--repeat 15] [--json out]``
(``bench scale`` calls :func:`measure` on the archives it loads).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from sqlalchemy import create_engine, text

from deploy.serve import service_process

CRAB = (83.6332, 22.0145)
"""The Crab's position (deg): the cone, timeline, map and upper-limit calls' centre."""

GOAL_MS = 100.0
"""The issue's goal for every user-facing call: p50 at most 100 ms."""

Call = Callable[[], Any]


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _time(call: Call, repeat: int) -> dict[str, Any]:
    try:
        call()  # warm-up: connections, caches, the client's own metadata
        times = []
        for _ in range(repeat):
            began = time.perf_counter()
            call()
            times.append(time.perf_counter() - began)
    except Exception as exc:  # a failing call is reported, not fatal
        return {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}
    times.sort()
    p50 = statistics.median(times) * 1000
    return {
        "p50_ms": round(p50, 1),
        "p95_ms": round(times[min(len(times) - 1, int(0.95 * len(times)))] * 1000, 1),
        "goal_met": p50 <= GOAL_MS,
    }


@contextmanager
def _services(database_url: str, extra: dict[str, str] | None = None) -> Iterator[str]:
    """The gateway (all four services at one base URL) on ``database_url`` (and the settings
    of ``extra``, e.g. its object store); yields its URL."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")} | (extra or {})
    env["ISLA_DATABASE_URL"] = database_url
    if "PYTHONPATH" in os.environ:  # the code under test, when not the installed one
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    with ExitStack() as stack:
        # The TAP service hands REQUEST= calls to products over HTTP: a products process first,
        # so that the gateway can be told where it is.
        _proc, products = stack.enter_context(
            service_process("services.products.app:app", env, timeout=300)
        )
        env |= {"ISLA_PRODUCTS_URL": products}
        _proc, base = stack.enter_context(service_process("deploy.gateway:app", env, timeout=300))
        yield base


def _facts(database_url: str) -> dict[str, Any]:
    """What the archive holds that the calls need (ids of the Crab, a spectrum, a map)."""
    url = database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = create_engine(url)
    try:
        with engine.connect() as conn:

            def one(sql: str, **params: Any) -> Any:
                return conn.execute(text(sql), params).first()

            crab = one("SELECT source_id FROM isla.sources WHERE name = 'Crab'")
            return {
                "science_windows": conn.execute(
                    text("SELECT count(*) FROM isla.science_windows")
                ).scalar_one(),
                "sources": conn.execute(text("SELECT count(*) FROM isla.sources")).scalar_one(),
                "crab": crab[0] if crab else None,
                "spectra": conn.execute(
                    text(
                        "SELECT p.source_id, p.epoch FROM isla.products p "
                        "WHERE p.source_id IS NOT NULL AND p.kind = 'spectrum' "
                        "AND p.instrument = 'ISGRI' AND p.epoch IS NOT NULL "
                        "ORDER BY p.product_id LIMIT 200"
                    )
                ).all(),
                "mosaic": one(
                    "SELECT epoch FROM isla.products WHERE kind = 'mosaic' "
                    "AND instrument = 'ISGRI' AND epoch IS NOT NULL ORDER BY product_id LIMIT 1"
                ),
                "lightcurve": one(
                    "SELECT 1 FROM isla.products p JOIN isla.sources s USING (source_id) "
                    "WHERE s.name = 'Crab' AND p.kind = 'long_timeseries' LIMIT 1"
                ),
                "map": one(
                    "SELECT product_id FROM isla.products WHERE kind = 'allsky_map' "
                    "ORDER BY product_id LIMIT 1"
                ),
            }
    finally:
        engine.dispose()


def _calls(
    base: str, facts: dict[str, Any], client: httpx.Client, workdir: str
) -> dict[str, Call | str]:
    """Each call of the list, or the reason it is skipped on this archive."""
    import pyvo
    from astropy.coordinates import SkyCoord
    from astroquery.esa.integral import IntegralClass, conf

    conf.ISLA_TAP_SERVER = f"{base}/tap"
    conf.ISLA_DATA_SERVER = f"{base}/data?"
    conf.ISLA_SERVLET = f"{base}/tap/sync/?PHASE=RUN"
    conf.ISLA_TARGET_RESOLVER = (
        f"{base}/servlet/target-resolver?TARGET_NAME={{}}&RESOLVER_TYPE={{}}&FORMAT=json"
    )
    isla = IntegralClass()
    tap = pyvo.dal.TAPService(f"{base}/tap")
    crab_sky = SkyCoord(*CRAB, unit="deg")
    crab = facts["crab"]
    no_crab = "the archive has no source named Crab"
    ra, dec = CRAB

    def get(path: str) -> Call:
        def call() -> None:
            client.get(path).raise_for_status()

        return call

    def adql(query: str) -> Call:
        return lambda: tap.search(query).to_table()

    calls: dict[str, Call | str] = {
        "astroquery sources (Crab)": lambda: isla.get_sources("Crab"),
        "astroquery epochs of the Crab, ISGRI": (
            (lambda: isla.get_epochs(target_name=crab, band="28_40")) if crab else no_crab
        ),
        "astroquery epochs of the Crab, JEM-X": (
            (lambda: isla.get_epochs(target_name=crab, instrument="jem-x")) if crab else no_crab
        ),
        "astroquery epochs without target, ISGRI": lambda: isla.get_epochs(instrument="ibis"),
        "astroquery epochs without target, JEM-X": lambda: isla.get_epochs(instrument="jem-x"),
        "astroquery timeline of the Crab (14°)": lambda: isla.get_timeline(crab_sky, radius=14),
        "astroquery observations, 5° cone, revolutions 0100-0500": lambda: isla.get_observations(
            coordinates=crab_sky, radius=5.0, start_revno="0100", end_revno="0500"
        ),
        "astroquery light curve of the Crab (ISGRI)": (
            (
                lambda: isla.get_long_term_timeseries(
                    "Crab", band="28_40", path=workdir, read_fits=False
                )
            )
            if facts["lightcurve"]
            else "no light-curve products (a --no-raw load)"
        ),
        "ObsCore 5° cone, POINT": adql(
            "SELECT * FROM ivoa.obscore WHERE "  # noqa: S608 - ADQL of fixed numbers
            f"1 = CONTAINS(POINT('ICRS', s_ra, s_dec), CIRCLE('ICRS', {ra}, {dec}, 5))"
        ),
        "ObsCore 5° cone, INTERSECTS": adql(
            "SELECT * FROM ivoa.obscore WHERE "  # noqa: S608 - ADQL of fixed numbers
            f"1 = INTERSECTS(s_region, CIRCLE('ICRS', {ra}, {dec}, 5))"
        ),
        "ObsCore count(*)": adql("SELECT count(*) FROM ivoa.obscore"),
        "raw manifest of the Crab": get("/raw/manifest.json?source=Crab"),
        "portal landing page": get("/"),
        "portal search (crab)": get("/api/search?q=crab"),
        "portal source page (Crab)": get(f"/sources/{crab}") if crab else no_crab,
    }
    # The client checks the epoch against its own epochs query for the target (by source id)
    # and its instrument's default band, so the spectrum must be one of those (not every ISGRI
    # spectrum's epoch is in the default band's list).
    spectrum: tuple[str, str] | None = None
    for name in dict.fromkeys(n for n, _ in facts["spectra"]):
        offered = set(isla.get_epochs(target_name=name, instrument="ibis")["epoch"])
        spectrum = next(((n, e) for n, e in facts["spectra"] if n == name and e in offered), None)
        if spectrum:
            break
    calls["astroquery spectra"] = (
        (
            lambda: isla.get_spectra(
                spectrum[0], spectrum[1], instrument="ibis", path=workdir, read_fits=False
            )
        )
        if spectrum
        else "no ISGRI spectrum at an epoch the client offers (a --no-raw load?)"
    )
    mosaic = facts["mosaic"]
    calls["astroquery mosaic"] = (
        (lambda: isla.get_mosaic(mosaic[0], instrument="ibis", path=workdir, read_fits=False))
        if mosaic
        else "no mosaics (a --no-raw load)"
    )
    the_map = facts["map"]
    # The value call names a map by its id in the maps service's list (a product holds one
    # map per column), not by the product id.
    listed = client.get("/products/maps").json().get("maps", []) if the_map else []
    map_ids = [m["map_id"] for m in listed]
    chosen = next((m for m in map_ids if "isgri" in m.lower()), map_ids[0] if map_ids else None)
    calls["map value at the Crab"] = (
        get(f"/products/maps/{quote(chosen, safe='')}/value?ra={ra}&dec={dec}")
        if chosen
        else "no all-sky maps (a --no-raw load)"
    )
    calls["upper limits at the Crab"] = (
        get(f"/products/upper-limits?ra={ra}&dec={dec}")
        if the_map
        else "no sensitivity maps (a --no-raw load)"
    )
    return calls


def measure(
    database_url: str, repeat: int = 15, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Start the services on the archive at ``database_url`` (with the settings of ``env``,
    e.g. its object store), time every call, stop them."""
    facts = _facts(database_url)
    result: dict[str, Any] = {
        "science_windows": facts["science_windows"],
        "sources": facts["sources"],
        "repeat": repeat,
        "load_average": os.getloadavg(),
        "calls": {},
    }
    with (
        _services(database_url, env) as base,
        httpx.Client(base_url=base, timeout=120) as client,
        tempfile.TemporaryDirectory(prefix="isla-latency-") as workdir,
    ):
        for name, call in _calls(base, facts, client, workdir).items():
            if isinstance(call, str):
                result["calls"][name] = {"skipped": call}
            else:
                result["calls"][name] = _time(call, repeat)
            _say(f"{name}: {result['calls'][name]}")
    result["load_average_after"] = os.getloadavg()
    return result


FILL_SCIENCE_WINDOWS = """
INSERT INTO isla.science_windows
SELECT lpad((w.revolution + k)::text, 4, '0')
           || lpad((substr(w.scw_id, 5, 4)::int + twin)::text, 4, '0') || substr(w.scw_id, 9),
       w.version, w.revolution + k, w.obsid, w.scw_type,
       w.start_time + (r2.start_time - r.start_time), w.end_time + (r2.start_time - r.start_time),
       w.start_ijd + (r2.start_ijd - r.start_ijd), w.end_ijd + (r2.start_ijd - r.start_ijd),
       w.ra, w.dec, w.pos, w.posangle, w.fov_isgri, w.fov_jemx, w.fov_spi,
       w.isgri_good_time, w.isgri_exposure, w.picsit_good_time, w.picsit_exposure,
       w.jemx1_good_time, w.jemx1_exposure, w.jemx2_good_time, w.jemx2_exposure,
       w.spi_good_time, w.spi_exposure, w.omc_good_time, w.omc_exposure, 0, 0
FROM isla.science_windows w
JOIN isla.revolutions r ON r.revolution = w.revolution
CROSS JOIN generate_series(0, 9) AS k
CROSS JOIN (VALUES (0), (5000)) AS t(twin)
JOIN isla.revolutions r2 ON r2.revolution = w.revolution + k
WHERE (k, twin) <> (0, 0) AND w.revolution % 10 = 0
ON CONFLICT DO NOTHING
"""
"""Copies of the bench scale's pointing plan (every 10th revolution) into the nine revolutions
after each, shifted in time, and a twin of every science window (pointing number + 5000): the
full mission's ~370,000 science windows, with the generator's sky distribution."""

FILL_SOURCES = """
INSERT INTO isla.sources (source_id, name, ra, dec, source_class, det_isgri, det_picsit,
                          det_jemx, det_spi, det_omc)
SELECT id, 'IGR ' || substr(id, 1, 7) || substr(id, 10), ra, dec, 'unclassified',
       true, false, false, false, false
FROM (
    SELECT ra, dec,
           'J' || to_char(floor(ra / 15), 'FM00') || to_char(floor(mod(r * 4, 60)), 'FM00')
           || to_char(floor(mod(r * 240, 60) * 10) / 10, 'FM00.0')
           || CASE WHEN dec < 0 THEN '-' ELSE '+' END
           || to_char(floor(d), 'FM00') || to_char(floor(mod(d * 60, 60)), 'FM00')
           || to_char(floor(mod(d * 3600, 60)), 'FM00') AS id
    FROM (
        SELECT ra, dec, ra::numeric AS r, abs(dec)::numeric AS d
        FROM (
            SELECT a - 360 * floor(a / 360) AS ra, dec
            FROM (
                -- Half near the Galactic plane (Gaussian in b, 5 degrees), half uniform.
                SELECT CASE WHEN i % 2 = 0 THEN degrees(atan2(
                           cos(b) * sin(l - radians(32.93192)) * cos(radians(62.87175))
                               - sin(b) * sin(radians(62.87175)),
                           cos(b) * cos(l - radians(32.93192)))) + 282.85948
                       ELSE 360 * random() END AS a,
                       CASE WHEN i % 2 = 0 THEN degrees(asin(
                           cos(b) * sin(l - radians(32.93192)) * sin(radians(62.87175))
                               + sin(b) * cos(radians(62.87175))))
                       ELSE degrees(asin(2 * random() - 1)) END AS dec
                FROM (SELECT i, 2 * pi() * random() AS l,
                             radians(5 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()))
                                 AS b
                      FROM generate_series(1, :count) AS i) AS g
            ) AS p
        ) AS q
        WHERE abs(dec) < 89.99
    ) AS n
) AS s
ON CONFLICT DO NOTHING
"""
"""Faint synthetic sources up to the full mission's catalogue size (10^6)."""


def fill_full_scale(database_url: str) -> dict[str, int]:
    """Grow a ``--scale bench`` archive to the full mission's size in SQL (science windows,
    sources): a measuring aid where the generator's full scale takes too long; every row
    added is a copy or a synthetic position, no raw data, products or points."""
    from shared.integral.revolutions import ends_ijd, starts_ijd
    from shared.integral.time import ijd_to_utc

    url = database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            have = conn.execute(text("SELECT count(*) FROM isla.science_windows")).scalar_one()
            if have > 100_000:
                raise SystemExit(f"the archive already has {have} science windows")
            rows = [
                {
                    "r": rev,
                    "s": ijd_to_utc(float(a)).replace(tzinfo=None),
                    "e": ijd_to_utc(float(b)).replace(tzinfo=None),
                    "a": float(a),
                    "b": float(b),
                }
                for rev, (a, b) in enumerate(zip(starts_ijd(), ends_ijd(), strict=True))
            ]
            conn.execute(
                text(
                    "INSERT INTO isla.revolutions (revolution, start_time, end_time, start_ijd, "
                    "end_ijd) VALUES (:r, :s, :e, :a, :b) ON CONFLICT DO NOTHING"
                ),
                rows,
            )
            conn.execute(text("SELECT setseed(0.17)"))
            sources = conn.execute(text("SELECT count(*) FROM isla.sources")).scalar_one()
            conn.execute(text(FILL_SOURCES), {"count": int((1_000_000 - sources) * 1.01)})
            conn.execute(text(FILL_SCIENCE_WINDOWS))
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
            return {
                "science_windows": conn.execute(
                    text("SELECT count(*) FROM isla.science_windows")
                ).scalar_one(),
                "sources": conn.execute(text("SELECT count(*) FROM isla.sources")).scalar_one(),
            }
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    """Command line: measure one archive, print JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench latency", description=__doc__)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("ISLA_DATABASE_URL"),
        help="the archive database (default: ISLA_DATABASE_URL)",
    )
    parser.add_argument("--repeat", type=int, default=15, help="timed runs per call")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument(
        "--fill-full-scale",
        action="store_true",
        help="first grow a --scale bench archive to the full mission's size in SQL "
        "(writes to the database; see fill_full_scale)",
    )
    args = parser.parse_args(argv)
    if not args.database_url:
        # `make bench` runs every benchmark without arguments: this one needs an archive.
        _say("latency: no archive given (--database-url or ISLA_DATABASE_URL); skipped")
        return 0
    if args.fill_full_scale:
        _say(f"filled: {fill_full_scale(args.database_url)}")
    result = measure(args.database_url, args.repeat)
    out = json.dumps(result, indent=2)
    print(out)
    if args.json:
        Path(args.json).write_text(out + "\n", encoding="utf-8")
    return 0
