"""Which objects of the archive have a DOI: :func:`assign_dois` keeps ``isla.dois`` complete.

One DOI per collection (the archive; raw data, and raw data per instrument; products, and each
product type; catalogues, and each catalogue version), per revolution bundle of raw data and
per product (previews excepted: they are views of another product). Assigning is idempotent:
a record that exists keeps its suffix, DOI date and registration state, while its title,
parent and simulated flag follow the archive. A DOI is never removed.

Further kinds (GRBs, contributed collections) are added the same way: rows with their own
``kind``, ``target`` and ``parent``; :mod:`shared.doi.metadata` builds any row's record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, text

from shared.doi import identifiers as ids

KIND_TITLES = {
    "long_timeseries": "long time series",
    "short_timeseries": "sub-science-window time series",
    "spectrum": "spectra",
    "arf": "ancillary responses (ARF)",
    "rmf": "response matrices (RMF)",
    "mosaic": "mosaic images",
    "omc_lightcurve": "OMC light curves",
    "omc_image": "OMC images",
    "allsky_map": "all-sky maps",
    "lc_results": "per-science-window source results",
}
"""How a product kind is named in titles (plural)."""

SKIPPED_KINDS = ("preview",)
"""Product kinds without a DOI of their own."""

SIMULATED_TITLE = "[simulated] "
"""Prefix of the title of every simulated dataset's record."""


@dataclass(frozen=True)
class Planned:
    """One DOI record the archive should have."""

    suffix: str
    kind: str
    target: str
    parent: str | None
    title: str
    resource_type_general: str
    resource_type: str
    simulated: bool


def _title(title: str, simulated: bool) -> str:
    return SIMULATED_TITLE + title if simulated else title


def plan(conn: Connection) -> list[Planned]:
    """Every DOI record the archive's current content calls for, parents first."""
    out: list[Planned] = []
    raw_sim = bool(conn.execute(text("SELECT bool_or(simulated) FROM isla.scw_files")).scalar())
    # Collections of raw data per instrument that has taken data.
    instruments = []
    for name, (_, expr) in ids.RAW_INSTRUMENTS.items():
        has = conn.execute(
            text(f"SELECT EXISTS (SELECT 1 FROM isla.science_windows WHERE {expr} > 0)")  # noqa: S608 - fixed expressions
        ).scalar()
        if has:
            instruments.append(name)
    products = conn.execute(
        text(
            "SELECT p.product_id, p.kind, p.instrument, p.epoch, p.simulated, s.name AS source, "
            "e.name AS band FROM isla.products p "
            "LEFT JOIN isla.sources s ON s.source_id = p.source_id "
            "LEFT JOIN isla.energy_bands e ON e.band_id = p.band_id "
            "WHERE p.kind <> ALL(:skip) ORDER BY p.product_id"
        ),
        {"skip": list(SKIPPED_KINDS)},
    ).all()
    kinds: dict[str, bool] = {}
    for p in products:
        kinds[p.kind] = kinds.get(p.kind, False) or bool(p.simulated)
    catalogues = conn.execute(
        text("SELECT name, version, kind FROM isla.catalogues ORDER BY name, version")
    ).all()
    revolutions = conn.execute(
        text(
            "SELECT w.revolution, bool_or(coalesce(f.simulated, false)) AS simulated "
            "FROM isla.science_windows w LEFT JOIN isla.scw_files f "
            "ON f.scw_id = w.scw_id AND f.version = w.version "
            "GROUP BY w.revolution ORDER BY w.revolution"
        )
    ).all()
    products_sim = any(kinds.values())
    out.append(
        Planned(
            ids.ARCHIVE,
            "archive",
            "ISLA",
            None,
            "INTEGRAL Science Legacy Archive (ISLA)",
            "Collection",
            "Mission archive",
            raw_sim or products_sim,
        )
    )
    out.append(
        Planned(
            ids.RAW,
            "raw_collection",
            "all",
            ids.ARCHIVE,
            "INTEGRAL raw data: every science window of every instrument",
            "Collection",
            "Raw data",
            raw_sim,
        )
    )
    for name in instruments:
        out.append(
            Planned(
                ids.raw_collection(name),
                "raw_collection",
                name,
                ids.RAW,
                f"INTEGRAL {name} raw data",
                "Collection",
                "Raw data collection",
                raw_sim,
            )
        )
    for row in revolutions:
        out.append(
            Planned(
                ids.revolution(int(row.revolution)),
                "revolution",
                f"{int(row.revolution):04d}",
                ids.RAW,
                _title(f"INTEGRAL raw data of revolution {int(row.revolution):04d}", row.simulated),
                "Dataset",
                "Revolution bundle of raw science windows",
                bool(row.simulated),
            )
        )
    out.append(
        Planned(
            ids.PRODUCTS,
            "product_collection",
            "all",
            ids.ARCHIVE,
            "INTEGRAL science products (ISLA)",
            "Collection",
            "Science products",
            products_sim,
        )
    )
    for kind, simulated in sorted(kinds.items()):
        out.append(
            Planned(
                ids.product_collection(kind),
                "product_collection",
                kind,
                ids.PRODUCTS,
                f"INTEGRAL {KIND_TITLES.get(kind, kind)} (ISLA)",
                "Collection",
                "Product collection",
                simulated,
            )
        )
    for p in products:
        what = p.source or p.band or p.product_id.split("/")[-1]
        scope = p.epoch or "mission"
        out.append(
            Planned(
                ids.product(p.product_id),
                "product",
                p.product_id,
                ids.product_collection(p.kind),
                _title(f"INTEGRAL {p.instrument} {p.kind} of {what} ({scope})", p.simulated),
                "Dataset",
                p.kind,
                bool(p.simulated),
            )
        )
    if catalogues:
        out.append(
            Planned(
                ids.CATALOGUES,
                "catalogues",
                "all",
                ids.ARCHIVE,
                "INTEGRAL source catalogues (ISLA)",
                "Collection",
                "Source catalogues",
                False,
            )
        )
    for c in catalogues:
        out.append(
            Planned(
                ids.catalogue(c.name, c.version),
                "catalogue",
                f"{c.name}@{c.version}",
                ids.CATALOGUES,
                f"{c.name}, version {c.version}",
                "Dataset",
                f"Source catalogue ({c.kind})",
                False,
            )
        )
    return out


_UPSERT = text(
    "INSERT INTO isla.dois (suffix, doi, kind, target, parent, title, resource_type_general, "
    "resource_type, publication_year, simulated) VALUES (:suffix, :doi, :kind, :target, "
    ":parent, :title, :rtg, :rt, :year, :simulated) ON CONFLICT (suffix) DO UPDATE SET "
    "doi = EXCLUDED.doi, parent = EXCLUDED.parent, title = EXCLUDED.title, "
    "resource_type_general = EXCLUDED.resource_type_general, "
    "resource_type = EXCLUDED.resource_type, simulated = EXCLUDED.simulated "
    "WHERE (isla.dois.doi, isla.dois.parent, isla.dois.title, isla.dois.simulated) "
    "IS DISTINCT FROM (EXCLUDED.doi, EXCLUDED.parent, EXCLUDED.title, EXCLUDED.simulated)"
)


def assign_dois(conn: Connection, prefix: str) -> dict[str, int]:
    """Register a DOI for everything :func:`plan` lists (in the caller's transaction).

    Returns the number of records planned per kind and how many were new.
    """
    planned = plan(conn)
    before = int(conn.execute(text("SELECT count(*) FROM isla.dois")).scalar() or 0)
    year = datetime.now(UTC).year
    if planned:
        conn.execute(
            _UPSERT,
            [
                {
                    "suffix": p.suffix,
                    "doi": ids.doi_of(prefix, p.suffix, p.simulated),
                    "kind": p.kind,
                    "target": p.target,
                    "parent": p.parent,
                    "title": p.title,
                    "rtg": p.resource_type_general,
                    "rt": p.resource_type,
                    "year": year,
                    "simulated": p.simulated,
                }
                for p in planned
            ],
        )
    after = int(conn.execute(text("SELECT count(*) FROM isla.dois")).scalar() or 0)
    counts: dict[str, int] = {}
    for p in planned:
        counts[p.kind] = counts.get(p.kind, 0) + 1
    counts["new"] = after - before
    return counts
