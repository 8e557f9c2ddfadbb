"""The benchmarks' own stack: a private Postgres and SeaweedFS in a temporary folder.

Every benchmark measures against servers it started itself (nothing else runs on them), with
the schema migrated and the buckets made; they are stopped and their folder removed after.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Connection

from deploy.postgres import EmbeddedPostgres
from deploy.seaweed import SeaweedS3
from shared.db import migrate
from shared.integral.time import ijd_to_time
from shared.settings import StorageSettings
from shared.storage import ObjectStore

ACCESS_KEY = "bench"
SECRET_KEY = "bench-secret"  # noqa: S105 - a throw-away server on loopback, for this run only


@dataclass(frozen=True)
class BenchStack:
    """The running servers of one benchmark."""

    home: Path
    database_url: str
    storage: StorageSettings

    def env(self) -> dict[str, str]:
        """The settings a service process needs to use these servers."""
        return {
            "ISLA_DATABASE_URL": self.database_url,
            "ISLA_S3_ENDPOINT": self.storage.s3_endpoint or "",
            "ISLA_S3_ACCESS_KEY": ACCESS_KEY,
            "ISLA_S3_SECRET_KEY": SECRET_KEY,
        }


@contextmanager
def bench_stack(
    name: str, home: Path | None = None, fresh: bool = True, **storage: Any
) -> Iterator[BenchStack]:
    """Start the servers, then (``fresh``) migrate and make buckets; ``storage``: other
    StorageSettings (bucket names). A given ``home`` is kept after (``fresh=False`` restarts
    the servers of an archive kept there); else a temporary folder is used and removed."""
    keep = home is not None
    if home is None:
        home = Path(tempfile.mkdtemp(prefix=f"isla-bench-{name}-"))
    home.mkdir(parents=True, exist_ok=True)
    home.chmod(0o755)  # the private Postgres may run as another account
    pg = EmbeddedPostgres(home)
    weed = SeaweedS3(home / "s3", ACCESS_KEY, SECRET_KEY)
    try:
        url = pg.start()
        endpoint = weed.start(timeout=120)
        settings = StorageSettings(
            s3_endpoint=endpoint, s3_access_key=ACCESS_KEY, s3_secret_key=SECRET_KEY, **storage
        )
        if fresh:
            migrate.upgrade(url)
            ObjectStore.from_settings(settings).ensure_buckets()
        yield BenchStack(home, url, settings)
    finally:
        weed.stop()
        pg.stop()
        if not keep:
            shutil.rmtree(home, ignore_errors=True)


def copy_pointings(
    conn: Connection,
    scw_ids: Sequence[str],
    revolutions: Sequence[int],
    starts: np.ndarray,
    ends: np.ndarray,
) -> None:
    """Write pointing science windows at (0°, 0°) with one COPY (the benchmarks' sky: every
    source they attach points to lies in these fields)."""
    utc_start = ijd_to_time(starts).utc.datetime  # one astropy conversion for all of them
    utc_end = ijd_to_time(ends).utc.datetime
    raw = conn.connection.driver_connection
    assert raw is not None
    with (
        raw.cursor() as cursor,
        cursor.copy(
            "COPY isla.science_windows (scw_id, version, revolution, scw_type, start_time, "
            "end_time, start_ijd, end_ijd, ra, dec, pos, posangle, raw_files, raw_size) "
            "FROM STDIN"
        ) as copy,
    ):
        for i, scw_id in enumerate(scw_ids):
            copy.write_row(
                (scw_id, "001", int(revolutions[i]), "pointing", utc_start[i], utc_end[i],
                 float(starts[i]), float(ends[i]), 0.0, 0.0, "(0d, 0d)", 0.0, 0, 0)
            )  # fmt: skip
