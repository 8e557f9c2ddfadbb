"""Policy of the sources room: find a source (404 naming the nearest ones) and assemble the
data of its page from stored data only."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from sqlalchemy import Connection

from services.products.common import BadRequest, NotFound, SourceRecord, meta_of, simulated_of
from services.products.sources import store
from shared.integral.time import ijd_to_utc
from shared.maps.esasky import esasky_url
from shared.products.bands import DEFAULT_BAND


def source_or_404(conn: Connection, source_id: str) -> SourceRecord:
    """The source ``source_id``; NotFound naming the nearest sources, BadRequest when the text
    is no source id at all."""
    record = store.fetch_source(conn, source_id)
    if record is not None:
        return record
    try:
        ra, dec = store.position_of_id(source_id)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    raise NotFound(
        f"no source {source_id!r} in the archive",
        {
            "nearby": store.nearby_sources(conn, ra, dec),
            "hint": "use /servlet/target-resolver to find a source id by name",
        },
    )


def _coverage(instrument: str, row: Any) -> dict[str, Any]:
    count, exposure, first, last, detections = row
    return {
        "instrument": instrument,
        "scw_count": int(count),
        "exposure_s": round(float(exposure), 3),
        "first": None if first is None else ijd_to_utc(float(first)).isoformat(),
        "last": None if last is None else ijd_to_utc(float(last)).isoformat(),
        "detections": int(detections),
    }


def product_entry(row: Any) -> dict[str, Any]:
    """One stored product as pages list it (with its simulation label where known)."""
    return {
        "product_id": row.product_id,
        "kind": row.kind,
        "instrument": row.instrument,
        "epoch": row.epoch,
        "file_name": row.file_name,
        "size": int(row.size),
        "sha256": row.sha256,
        "content_type": row.content_type,
        "url": f"/products/files/{quote(row.product_id, safe='/')}",
        "simulated": simulated_of(row),
        "meta": meta_of(row),
    }


def source_page(conn: Connection, source_id: str) -> dict[str, Any]:
    """The data of a source page: position, aliases, class, catalogue fluxes, coverage per
    instrument, the stored products and links to the views that exist for it."""
    source = source_or_404(conn, source_id)
    sid = source.source_id
    coverage = [
        _coverage(instrument, store.point_coverage(conn, sid, instrument, band))
        for instrument, band in DEFAULT_BAND.items()
    ]
    coverage.append(_coverage("OMC", store.omc_coverage(conn, sid)))
    rows = store.products(conn, sid)
    products = [product_entry(r) for r in rows]
    observed = {c["instrument"] for c in coverage if c["scw_count"]}
    spectra = {(r.instrument, meta_of(r).get("scope")) for r in rows if r.kind == "spectrum"}
    links: dict[str, str] = {}
    if "ISGRI" in observed:
        links["lightcurve_isgri"] = f"/products/lightcurves/{sid}?instrument=ISGRI&band=28_40"
    if "JEM-X" in observed:
        links["lightcurve_jemx"] = f"/products/lightcurves/{sid}?instrument=JEM-X&band=3_20"
    if "OMC" in observed:
        links["lightcurve_omc"] = f"/products/lightcurves/{sid}?instrument=OMC"
    for instrument, key in (("ISGRI", "isgri"), ("JEM-X", "jemx")):
        # Links only to spectra that are stored: a view never stands in for a missing product.
        if (instrument, "mission") in spectra:
            links[f"spectrum_{key}"] = f"/products/spectra/{sid}?instrument={instrument}"
        if (instrument, "time_resolved") in spectra:
            links[f"intervals_{key}"] = f"/products/spectra/{sid}/intervals?instrument={instrument}"
    flags = [p["simulated"] for p in products]
    return {
        "source_id": sid,
        "name": source.name,
        "ra": source.ra,
        "dec": source.dec,
        "pos_err_arcmin": source.pos_err,
        "source_class": source.source_class,
        "aliases": store.aliases(conn, sid),
        "detected_by": [k for k, v in source.detected.items() if v],
        "fluxes": store.fluxes(conn, sid),
        "coverage": coverage,
        "products": products,
        "simulated_products": sum(1 for f in flags if f is True),
        "delivered_products": sum(1 for f in flags if f is False),
        "links": links,
        "esasky_url": esasky_url(source.ra, source.dec),
    }
