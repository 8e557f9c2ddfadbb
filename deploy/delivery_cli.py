"""``isla ingest products|raw-index|recover|reference-products``.

``products`` is an HTTP client of the ingest API (token in ``ISLA_INGEST_TOKEN``); the other
three are operator commands that work on the configured database and object store directly,
like ``isla migrate``: the raw indexer is meant to run next to the store, for hours at full
scale, and is resumed by simply running it again after an interruption.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from shared import settings as cfg


def _err(message: str) -> None:
    print(f"[isla] {message}", file=sys.stderr, flush=True)


def _backend() -> tuple[Any, Any] | None:
    from shared.db.engine import make_sync_engine
    from shared.storage import ObjectStore

    if not cfg.database_settings().database_url:
        _err("ISLA_DATABASE_URL is not set")
        return None
    if not cfg.storage_settings().s3_endpoint:
        _err("ISLA_S3_ENDPOINT is not set")
        return None
    return make_sync_engine(cfg.database_settings()), ObjectStore.from_settings(
        cfg.storage_settings()
    )


def cmd_raw_index(args: argparse.Namespace) -> int:
    """Index the raw bucket (one revolution or all); resumes an interrupted run."""
    from services.ingest.raw_index import index_raw

    backend = _backend()
    if backend is None:
        return 2
    engine, store = backend
    try:
        report = index_raw(
            engine, store, args.revolution, progress=lambda _f, message: _err(message)
        )
    finally:
        engine.dispose()
    print(json.dumps(report.as_dict(), indent=2))
    return 1 if report.problems else 0


def cmd_recover(args: argparse.Namespace) -> int:
    """Finish or undo interrupted product deliveries and remove stray staging objects."""
    from services.ingest.products import recover_pending

    backend = _backend()
    if backend is None:
        return 2
    engine, store = backend
    try:
        report = recover_pending(engine, store, sweep=True)
    finally:
        engine.dispose()
    print(json.dumps(report.as_dict(), indent=2))
    return 0


def cmd_reference(args: argparse.Namespace) -> int:
    """Ingest the real ISLA files of astroquery's wheel (idempotent)."""
    from services.ingest.products import ingest_reference_products

    backend = _backend()
    if backend is None:
        return 2
    engine, store = backend
    try:
        report = ingest_reference_products(engine, store)
    finally:
        engine.dispose()
    _err(report.summary())
    print(json.dumps(report.products, indent=2))
    return 0


def cmd_products(args: argparse.Namespace) -> int:
    """Deliver FITS product files through the ingest API (one delivery)."""
    import httpx

    from services.ingest.auth import TOKEN_ENV

    token = os.environ.get(TOKEN_ENV)
    if not token:
        _err(f"set {TOKEN_ENV} to an ingest token (`isla token create`)")
        return 2
    fields = {
        key: str(value)
        for key in ("kind", "source_id", "epoch", "band", "scope", "arf", "rmf")
        if (value := getattr(args, key)) is not None
    }
    if args.replace:
        fields["replace"] = "true"
    paths = [Path(p) for p in args.files]
    files = [("file", (p.name, p.read_bytes(), "application/fits")) for p in paths]
    base = cfg.peer_settings().peer("ingest")
    with httpx.Client(
        base_url=base,
        headers={"Authorization": f"Bearer {token}"},
        timeout=httpx.Timeout(30.0, read=None),
    ) as client:
        response = client.post("/ingest/products", data=fields, files=files)
    try:
        body = response.json()
    except ValueError:
        _err(f"HTTP {response.status_code}: {response.text[:500]}")
        return 1
    if response.status_code >= 400:
        _err(f"HTTP {response.status_code} {body.get('title', '')}: {body.get('detail', '')}")
        for problem in body.get("problems", []):
            _err(f"  - {problem.get('file')}: {problem.get('message')}")
        return 1
    for product in body.get("products", []):
        _err(f"{product['status']:<9} {product['product_id']}")
    print(json.dumps(body, indent=2))
    return 0


def add_commands(isub: Any) -> None:
    """Register the product and raw-index commands on ``isla ingest``'s subparsers."""
    products = isub.add_parser("products", help="deliver FITS products (one delivery)")
    products.add_argument("files", nargs="+", help="FITS files (a spectrum with ARF and RMF, ...)")
    products.add_argument("--kind", help="product kind (default: from the headers)")
    products.add_argument("--source-id", dest="source_id", help="archive source id")
    products.add_argument("--epoch", help="ISLA epoch RRRR_OOOOOOOOOOO")
    products.add_argument("--band", help="band name, e.g. 28_40")
    products.add_argument("--scope", help="epoch, mission or time_resolved (spectra)")
    products.add_argument("--arf", help="product id of an ingested ARF")
    products.add_argument("--rmf", help="product id of an ingested RMF")
    products.add_argument("--replace", action="store_true", help="replace existing products")
    products.set_defaults(func=cmd_products)
    raw = isub.add_parser("raw-index", help="register the ScWs found in the raw bucket")
    raw.add_argument("--revolution", type=int, help="only this revolution")
    raw.set_defaults(func=cmd_raw_index)
    recover = isub.add_parser("recover", help="finish or undo interrupted product deliveries")
    recover.set_defaults(func=cmd_recover)
    ref = isub.add_parser("reference-products", help="ingest the real ISLA files (astroquery)")
    ref.set_defaults(func=cmd_reference)
