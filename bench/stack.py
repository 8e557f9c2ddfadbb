"""The benchmarks' own stack: a private Postgres and SeaweedFS in a temporary folder.

Every benchmark measures against servers it started itself (nothing else runs on them), with
the schema migrated and the buckets made; they are stopped and their folder removed after.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploy.postgres import EmbeddedPostgres
from deploy.seaweed import SeaweedS3
from shared.db import migrate
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
def bench_stack(name: str, **storage: Any) -> Iterator[BenchStack]:
    """Start, migrate and make buckets; ``storage``: other StorageSettings (bucket names)."""
    home = Path(tempfile.mkdtemp(prefix=f"isla-bench-{name}-"))
    home.chmod(0o755)  # the private Postgres may run as another account
    pg = EmbeddedPostgres(home)
    weed = SeaweedS3(home / "s3", ACCESS_KEY, SECRET_KEY)
    try:
        url = pg.start()
        endpoint = weed.start(timeout=120)
        migrate.upgrade(url)
        settings = StorageSettings(
            s3_endpoint=endpoint, s3_access_key=ACCESS_KEY, s3_secret_key=SECRET_KEY, **storage
        )
        ObjectStore.from_settings(settings).ensure_buckets()
        yield BenchStack(home, url, settings)
    finally:
        weed.stop()
        pg.stop()
        shutil.rmtree(home, ignore_errors=True)
