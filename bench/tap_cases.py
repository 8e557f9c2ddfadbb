# ruff: noqa: S608 - benchmark queries are built from the operator's own table names
"""The TAP benchmark cases, run the same way against any TAP service and against Postgres.

The cases are those of the usual side-by-side TAP comparison, so that figures for ISLA, a peer
service (GAVO DaCHS) and the SQL floor are comparable:

- ``trivial``: ``SELECT TOP 1 *`` (VOTable default format);
- ``cone``: a 1-degree CONTAINS(POINT, CIRCLE) cone at seeded centres uniform on the sky;
- ``bulk_b2`` / ``bulk_csv``: ``SELECT TOP 100000`` as VOTable BINARY2 and as CSV;
- ``cone_conc``: 20 clients, each on its own connection, running cones; queries per second.

Latency is request sent to whole body received, over a keep-alive connection; figures are
medians after untimed warm-up runs. Rows are counted outside the timed window.
"""

from __future__ import annotations

import concurrent.futures as cf
import csv
import io
import math
import random
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
from astropy.io.votable import parse as parse_votable

BINARY2 = "application/x-votable+xml;serialization=BINARY2"


@dataclass(frozen=True)
class Target:
    """One TAP service and the table the cases query."""

    name: str
    tap_url: str
    table: str
    ra: str = "ra"
    dec: str = "dec"


@dataclass(frozen=True)
class Plan:
    """How much to run."""

    repeat: int = 30
    warmup: int = 3
    bulk_rows: int = 100_000
    clients: int = 20
    per_client: int = 10
    radius: float = 1.0


def cone_centres(n: int, seed: int = 42) -> list[tuple[float, float]]:
    """Seeded cone centres uniform on the sphere (the same list every run)."""
    rnd = random.Random(seed)  # noqa: S311 - benchmark positions, not secrets
    return [
        (round(rnd.random() * 360.0, 4), round(math.degrees(math.asin(rnd.random() * 2 - 1)), 4))
        for _ in range(n)
    ]


def _cone_adql(t: Target, ra0: float, dec0: float, radius: float) -> str:
    return (
        f"SELECT * FROM {t.table} WHERE 1=CONTAINS(POINT('ICRS', {t.ra}, {t.dec}), "
        f"CIRCLE('ICRS', {ra0}, {dec0}, {radius}))"
    )


def _rows(body: bytes, content_type: str) -> int:
    if "csv" in content_type:
        return max(0, sum(1 for _ in csv.reader(io.StringIO(body.decode()))) - 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tables = list(parse_votable(io.BytesIO(body), verify="ignore").iter_tables())
    return len(tables[0].array) if tables else 0


def _summary(lat: list[float], rows: list[int], **extra: Any) -> dict[str, Any]:
    med = statistics.median(lat) if lat else float("nan")
    out: dict[str, Any] = {
        "n": len(lat),
        "median_ms": round(med * 1000, 2),
        "p95_ms": round(sorted(lat)[max(0, math.ceil(0.95 * len(lat)) - 1)] * 1000, 2)
        if lat
        else None,
        "rows_median": statistics.median(rows) if rows else None,
    }
    out.update(extra)
    return out


def _query(
    client: httpx.Client, t: Target, adql: str, fmt: str | None = None, maxrec: int | None = None
) -> tuple[float, bytes, str]:
    data = {"REQUEST": "doQuery", "LANG": "ADQL", "QUERY": adql}
    if fmt:
        data["RESPONSEFORMAT"] = fmt
    if maxrec is not None:
        data["MAXREC"] = str(maxrec)
    t0 = time.perf_counter()
    resp = client.post(t.tap_url.rstrip("/") + "/sync", data=data)
    body = resp.content
    elapsed = time.perf_counter() - t0
    if resp.status_code != 200 or b'name="QUERY_STATUS" value="ERROR"' in body[:4000]:
        raise RuntimeError(f"{t.name}: HTTP {resp.status_code}: {body[:300]!r}")
    return elapsed, body, resp.headers.get("content-type", "")


def _sequence(t: Target, plan: Plan, queries: list[str], fmt: str | None) -> dict[str, Any]:
    lat: list[float] = []
    rows: list[int] = []
    with httpx.Client(timeout=120) as client:
        for i, adql in enumerate(queries):
            elapsed, body, ctype = _query(client, t, adql, fmt, plan.bulk_rows)
            if i >= plan.warmup:
                lat.append(elapsed)
                rows.append(_rows(body, ctype))
    return _summary(lat, rows)


def _concurrent(
    plan: Plan, make_worker: Callable[[int], tuple[Callable[[int], float], Callable[[], None]]]
) -> dict[str, Any]:
    def work(w: int) -> list[float]:
        fn, close = make_worker(w)
        try:
            return [fn(i) for i in range(plan.per_client)]
        finally:
            close()

    t0 = time.perf_counter()
    with cf.ThreadPoolExecutor(max_workers=plan.clients) as pool:
        lat = [x for xs in pool.map(work, range(plan.clients)) for x in xs]
    wall = time.perf_counter() - t0
    return _summary(
        lat, [], clients=plan.clients, queries_per_s=round(len(lat) / wall, 1) if wall else None
    )


def run_tap(t: Target, plan: Plan) -> dict[str, Any]:
    """All cases against one TAP service."""
    n = plan.warmup + plan.repeat
    out = {
        "trivial": _sequence(t, plan, [f"SELECT TOP 1 * FROM {t.table}"] * n, None),
        "cone": _sequence(
            t, plan, [_cone_adql(t, ra, dec, plan.radius) for ra, dec in cone_centres(n)], None
        ),
    }
    bulk = f"SELECT TOP {plan.bulk_rows} * FROM {t.table}"
    out["bulk_b2"] = _sequence(t, plan, [bulk] * n, BINARY2)
    out["bulk_csv"] = _sequence(t, plan, [bulk] * n, "text/csv")
    centres = cone_centres(plan.clients * plan.per_client, seed=43)

    def worker(w: int) -> tuple[Callable[[int], float], Callable[[], None]]:
        client = httpx.Client(timeout=120)

        def one(i: int) -> float:
            ra, dec = centres[w * plan.per_client + i]
            return _query(client, t, _cone_adql(t, ra, dec, plan.radius))[0]

        return one, client.close

    out["cone_conc"] = _concurrent(plan, worker)
    return out


def run_sql(
    dsn: str, table: str, plan: Plan, point: str = "spoint(radians(ra), radians(dec))"
) -> dict[str, Any]:
    """The same work straight on Postgres (the floor): literals inlined like a TAP server does.

    ``point``: the SQL of the row's position in the cone, as the service's translator writes it
    (ISLA: the indexed ``pos`` column).
    """

    def cone(ra0: float, dec0: float) -> str:
        return (
            f"SELECT * FROM {table} WHERE {point} @ "
            f"scircle(spoint(radians({ra0}), radians({dec0})), radians({plan.radius}))"
        )

    def timed(conn: psycopg.Connection[Any], sql: str, copy: bool = False) -> tuple[float, int]:
        t0 = time.perf_counter()
        with conn.cursor() as cur:
            if copy:
                n = 0
                with cur.copy(sql) as cp:
                    for block in cp:
                        n += len(block)
                return time.perf_counter() - t0, plan.bulk_rows
            cur.execute(sql.encode())
            return time.perf_counter() - t0, len(cur.fetchall())

    n = plan.warmup + plan.repeat
    out: dict[str, Any] = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        bulk = f"SELECT * FROM {table} LIMIT {plan.bulk_rows}"
        cases = {
            "trivial": [(f"SELECT * FROM {table} LIMIT 1", False)] * n,
            "cone": [(cone(ra0, dec0), False) for ra0, dec0 in cone_centres(n)],
            "bulk_b2": [(bulk, False)] * n,
            "bulk_csv": [(f"COPY ({bulk}) TO STDOUT WITH (FORMAT csv, HEADER)", True)] * n,
        }
        for name, sqls in cases.items():
            runs = [timed(conn, sql, copy) for sql, copy in sqls][plan.warmup :]
            out[name] = _summary([r[0] for r in runs], [r[1] for r in runs])
    centres = cone_centres(plan.clients * plan.per_client, seed=43)

    def worker(w: int) -> tuple[Callable[[int], float], Callable[[], None]]:
        conn = psycopg.connect(dsn, autocommit=True)

        def one(i: int) -> float:
            return timed(conn, cone(*centres[w * plan.per_client + i]))[0]

        return one, conn.close

    out["cone_conc"] = _concurrent(plan, worker)
    return out
