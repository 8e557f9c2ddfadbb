"""The demo's literature survey: simulated papers that "used" the demo's observations.

Made at load time from the observations the demo archive holds, deterministically (a seeded
generator), and delivered through ingestion's publications path like the survey team's real
delivery would be. Every paper is labelled simulated three times over: ``simulated = true``,
a title starting ``[simulated]``, and a bibcode whose bibstem is ``SIMUL`` (no real journal
has it, so no fake bibcode can be mistaken for a real paper). Simulated papers carry no DOI.

Each paper uses one to four observations of one target (a real survey links papers to
observations of the source they study), published one to three years after the last of them.
The fixed observation ``06340000001`` (SMC X-1, revolution 745) always has a paper, so that
the tests and the documentation can walk from it.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict

import numpy as np
from sqlalchemy import Connection, text

from shared.publications import SIMULATED_BIBSTEM

SIMULATED_PREFIX = "[simulated]"
FIXED_OBSID = "06340000001"
"""An observation of the demo archive that always has a paper."""
PAPERS_PER_OBSERVATION = 0.35
"""Papers made per observation of the archive (at most :data:`MAX_PAPERS`)."""
MAX_PAPERS = 60
LAST_YEAR = 2026

_TOPICS = (
    "Hard X-ray spectral variability",
    "A broad-band view",
    "Timing analysis",
    "The high-energy tail",
    "Long-term monitoring",
    "Cyclotron line search",
    "Outburst evolution",
)
_INSTRUMENTS = ("IBIS/ISGRI", "JEM-X", "SPI", "IBIS and JEM-X")
_AUTHORS = ("Demo, A.", "Sample, B.", "Placeholder, C.", "Example, D.", "Mock, E.", "Test, F.")


def bibcode(year: int, volume: int, page: int, initial: str) -> str:
    """A simulated bibcode: ``YYYY`` ``SIMUL`` volume (4, right-aligned) ``.`` page (4) initial."""
    return f"{year}{SIMULATED_BIBSTEM}{volume:.>4d}.{page:.>4d}{initial}"


def demo_papers(conn: Connection, seed: int = 20021017) -> list[dict[str, object]]:
    """The simulated papers for the observations in the archive (dicts of the JSON form)."""
    rows = conn.execute(
        text(
            "SELECT obsid, target_name, extract(year FROM end_time)::int AS year "
            "FROM isla.observations ORDER BY obsid"
        )
    ).all()
    if not rows:
        return []
    rng = np.random.default_rng([seed, 14])
    by_target: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for row in rows:
        by_target[str(row.target_name)].append((str(row.obsid), int(row.year)))
    targets = sorted(by_target)
    n_papers = max(1, min(MAX_PAPERS, int(len(rows) * PAPERS_PER_OBSERVATION)))
    papers: list[dict[str, object]] = []
    fixed = next((r for r in rows if r.obsid == FIXED_OBSID), None)
    wanted: list[tuple[str, list[tuple[str, int]]]] = []
    if fixed is not None:
        wanted.append((str(fixed.target_name), [(FIXED_OBSID, int(fixed.year))]))
    while len(wanted) < n_papers:
        target = targets[int(rng.integers(len(targets)))]
        pool = by_target[target]
        k = min(len(pool), int(rng.integers(1, 5)))
        chosen = sorted(pool[i] for i in rng.choice(len(pool), size=k, replace=False))
        wanted.append((target, chosen))
    for n, (target, chosen) in enumerate(wanted):
        year = min(LAST_YEAR, max(y for _, y in chosen) + int(rng.integers(1, 4)))
        authors = [_AUTHORS[int(i)] for i in rng.permutation(len(_AUTHORS))[: 1 + n % 4]]
        topic = _TOPICS[int(rng.integers(len(_TOPICS)))]
        instrument = _INSTRUMENTS[int(rng.integers(len(_INSTRUMENTS)))]
        papers.append(
            {
                "bibcode": bibcode(year, 1 + n // 20, 100 + n, authors[0][0]),
                "doi": None,
                "title": f"{SIMULATED_PREFIX} {topic} of {target} with INTEGRAL {instrument}",
                "authors": authors,
                "year": year,
                "obsids": [o for o, _ in chosen],
                "simulated": True,
            }
        )
    return papers


def as_csv(papers: list[dict[str, object]]) -> bytes:
    """The papers as the survey's CSV form: one row per paper and observation."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["bibcode", "obsid", "title", "authors", "year", "doi", "simulated"])
    for p in papers:
        for obsid in p["obsids"]:  # type: ignore[attr-defined]
            writer.writerow(
                [
                    p["bibcode"],
                    obsid,
                    p["title"],
                    "; ".join(p["authors"]),  # type: ignore[arg-type]
                    p["year"],
                    p["doi"] or "",
                    "true",
                ]
            )
    return out.getvalue().encode("utf-8")
