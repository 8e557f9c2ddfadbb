"""``python -m bench <name>``: run one benchmark, print JSON.

Names: raw, raw-index, ingest, ingest-points, ingest-products, products, tap, timeseries, maps,
upper-limits, scale, scaleout, portal-search, latency.
"""

import sys
from collections.abc import Callable
from typing import Any

from bench import (
    ingest,
    ingest_points,
    ingest_products,
    latency,
    maps,
    portal_search,
    products,
    raw_bench,
    raw_index_bench,
    scale,
    scaleout,
    tap_bench,
    timeseries,
    upper_limits,
)

BENCHES: dict[str, Callable[[list[str]], Any]] = {
    "raw": raw_bench.main,
    "raw-index": raw_index_bench.main,
    "ingest": ingest.main,
    "ingest-points": ingest_points.main,
    "ingest-products": ingest_products.main,
    "products": products.main,
    "tap": tap_bench.main,
    "latency": latency.main,
    "timeseries": timeseries.main,
    "maps": maps.main,
    "scale": scale.main,
    "scaleout": scaleout.main,
    "upper-limits": upper_limits.main,
    "portal-search": portal_search.main,
}


def main() -> int:
    """Run the named benchmark (all of them when none is named)."""
    names = sys.argv[1:2] or list(BENCHES)
    rest = sys.argv[2:]
    for name in names:
        if name not in BENCHES:
            print(f"unknown benchmark {name!r}; known: {', '.join(BENCHES)}", file=sys.stderr)
            return 2
        BENCHES[name](rest)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
