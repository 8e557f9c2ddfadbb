"""Load the demo archive, its products delivered through ingestion; ``python -m deploy.demo``.

The generator (:mod:`shared.demo`) does not know the services: here, where the archive is
assembled, it is given ingestion's delivery function (:func:`demo_delivery`), so that the demo
pipeline's products take the path an instrument team's do. Every caller that loads the demo
(the ``isla`` command, the tests, the benchmarks) goes through :func:`load_demo`.

``python -m deploy.demo`` generates the demo archive into the configured database and store.

Settings come from the environment like every ISLA component: ``ISLA_DATABASE_URL`` (a
migrated, empty archive database) and ``ISLA_S3_*`` (the object store; not needed with
``--no-raw``). Progress goes to stderr, the final summary to stdout.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from services.ingest.catalogues import CatalogueDelivery, load_catalogue
from services.ingest.grb_reference import ingest_reference_grbs
from services.ingest.products import ensure_team, pipeline_delivery
from services.ingest.products.delivery import PIPELINE_UPLOAD_LIMIT
from services.ingest.publications import PublicationsResult, ingest_publications
from shared.db.engine import DatabaseNotConfiguredError, make_sync_engine
from shared.demo.delivery import CatalogueFile, Deliver, DeliverCatalogue
from shared.demo.generator import DEFAULT_SEED, SCALES, ArchiveNotEmpty, GenerationReport, generate
from shared.demo.grbs import deliver_grbs
from shared.demo.products import DEMO_TEAM, DEMO_TEAM_DESCRIPTION
from shared.demo.publications import as_csv, demo_papers
from shared.doi.registry import assign_dois
from shared.settings import DatabaseSettings, StorageSettings, doi_settings
from shared.storage import ObjectStore, StorageUnavailable


def demo_delivery(engine: Engine, store: ObjectStore) -> Deliver:
    """Ingestion's delivery function for the demo pipeline (as the demo's team)."""
    return pipeline_delivery(engine, store, DEMO_TEAM, DEMO_TEAM_DESCRIPTION)


DEMO_OPERATOR = "isla-operators"
"""Team the demo loader reviews contributed collections as (with the operator role)."""


def load_contributed(engine: Engine, store: ObjectStore) -> list[str]:
    """Deliver the demo's simulated contributed collections through ingestion (as the demo
    team), then accept and publish them as an operator; returns ``collection@version`` of
    each (a collection already delivered is left alone)."""
    from services.ingest.contributed import service as contributed
    from shared.demo.contributed import demo_collections

    ensure_team(engine, DEMO_TEAM, DEMO_TEAM_DESCRIPTION)
    team = contributed.Actor(DEMO_TEAM, "isdc")
    operator = contributed.Actor(DEMO_OPERATOR, "operator")
    delivered = {d["collection"] for d in contributed.list_deliveries(engine, operator, None)}
    published = []
    for demo in demo_collections():
        name = demo.fields["collection"]
        if name in delivered:
            continue
        made = contributed.deliver(
            engine,
            store,
            team,
            demo.fields,
            demo.products,
            demo.documentation,
            demo.software,
            PIPELINE_UPLOAD_LIMIT,
        )
        for state in ("accepted", "published"):
            contributed.review(
                engine, operator, name, made["version"], state, "demo loader: simulated data"
            )
        published.append(f"{name}@{made['version']}")
    return published


_log = logging.getLogger(__name__)


def conninfo_of(engine: Engine) -> str:
    """The libpq URL of ``engine``'s database (catalogue loading speaks psycopg directly)."""
    url = engine.url.render_as_string(hide_password=False)
    scheme, rest = url.split("://", 1)
    return f"{scheme.split('+', 1)[0]}://{rest}"


def demo_catalogue_delivery(engine: Engine) -> DeliverCatalogue:
    """Catalogue ingestion for the demo pipeline (as the demo's team, made current)."""
    conninfo = conninfo_of(engine)

    def deliver(catalogue: CatalogueFile) -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix="isla-demo-cat-") as folder:
            path = Path(folder) / catalogue.file_name
            path.write_bytes(catalogue.data)
            delivery = CatalogueDelivery(
                name=catalogue.name,
                version=catalogue.version,
                kind=catalogue.kind,
                team=DEMO_TEAM,
                reference=catalogue.reference,
                description=catalogue.description,
                filename=catalogue.file_name,
            )
            return load_catalogue(conninfo, path, delivery, lambda team: team == DEMO_TEAM)

    return deliver


def load_demo(
    engine: Engine,
    store: ObjectStore | None,
    scale: str = "demo",
    seed: int = DEFAULT_SEED,
    progress: Callable[[str], None] | None = None,
    raw_bytes: bool | None = None,
) -> GenerationReport:
    """Generate the demo archive (:func:`shared.demo.generate`); with a store, its products
    are delivered through ingestion, then its gamma-ray bursts (catalogues and products,
    :mod:`shared.demo.grbs`) and the real GRB 230307A row. ``raw_bytes`` None takes the
    scale's default (raw files uploaded at ``demo`` scale only; registered as missing at the
    others)."""
    deliver = demo_delivery(engine, store) if store is not None else None
    report = generate(
        engine, store, scale, seed, progress=progress, deliver=deliver, raw_bytes=raw_bytes
    )
    if store is not None:
        load_contributed(engine, store)
    if deliver is not None:
        # The bursts are placed in the demo's pointings, so they come after them; the real
        # GRB 230307A row is delivered beside them (its SPI-ACS light curve is a time series).
        say = progress or _log.info
        began = time.monotonic()
        deliver_grbs(engine, demo_catalogue_delivery(engine), deliver, seed, say)
        ingest_reference_grbs(conninfo_of(engine))
        _log.info("gamma-ray bursts loaded in %.1f s", time.monotonic() - began)
    if store is not None:
        published = deliver_demo_publications(engine, store)
        if progress is not None:
            progress(f"publications: {published.papers} simulated papers, {published.links} links")
        # Last: DOIs are assigned to everything loaded above.
        assign_archive_dois(engine)
    return report


def deliver_demo_publications(engine: Engine, store: ObjectStore) -> PublicationsResult:
    """The demo's simulated literature survey, delivered through ingestion as the demo team."""
    with engine.connect() as conn:
        papers = demo_papers(conn)
    return ingest_publications(engine, store, as_csv(papers), "csv", DEMO_TEAM)


def assign_archive_dois(engine: Engine) -> dict[str, int]:
    """Register a DOI for everything the archive holds (``POST /ingest/dois/assign`` does the
    same); run after each load."""
    with engine.begin() as conn:
        return assign_dois(conn, doi_settings().doi_prefix)


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the generator; return the process exit code (0 ok, 1 refused or failed)."""
    parser = argparse.ArgumentParser(
        prog="python -m deploy.demo",
        description="Generate ISLA's deterministic demo archive into an empty database.",
    )
    parser.add_argument(
        "--scale",
        choices=sorted(SCALES),
        default="demo",
        help="demo: ~95 revolutions (a minute); bench: every 10th revolution, 100,000 sources "
        "(a few minutes); full: the whole mission, 10^6 sources (default: demo)",
    )
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})"
    )
    parser.add_argument(
        "--no-raw",
        action="store_true",
        help="write the catalogue and observations only: no raw files, points or products",
    )
    parser.add_argument(
        "--raw-bytes",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="build and upload the raw files (default: at demo scale only); with "
        "--no-raw-bytes every raw file is registered in the raw index as missing, without bytes",
    )
    args = parser.parse_args(argv)

    store = None
    if not args.no_raw:
        storage = StorageSettings()
        if not storage.s3_endpoint:
            parser.error("ISLA_S3_ENDPOINT is not set (or pass --no-raw for a database only)")
        store = ObjectStore.from_settings(storage)
    try:
        engine = make_sync_engine(DatabaseSettings())
    except DatabaseNotConfiguredError as exc:
        parser.error(str(exc))
    try:
        report = load_demo(
            engine, store, args.scale, args.seed, progress=_progress, raw_bytes=args.raw_bytes
        )
    except (ArchiveNotEmpty, StorageUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(report.summary())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
