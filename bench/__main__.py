"""``python -m bench [raw]``: run the benchmarks and print their figures as JSON."""

import sys

from bench import raw_bench

BENCHES = {"raw": raw_bench.main}


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
