"""Readiness follows the job worker: queued jobs and no live worker turn /ready and
/tap/availability red; a worker coming back runs the jobs and turns them green again.

(Restarts of the worker, Postgres and SeaweedFS under ``isla up`` are tested in
test_launcher.py, where the launcher runs them.)
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import httpx
import pytest

from deploy.serve import service_process
from shared.storage import ObjectStore
from tests.conftest import ACCESS_KEY, SECRET_KEY, StackInfo

pytestmark = pytest.mark.integration

DEADLINE = 120.0
"""Seconds a step may take at most before the test fails (not a measured timing)."""
UWS = {"uws": "http://www.ivoa.net/xml/UWS/v1.0"}
VOSI = "{http://www.ivoa.net/xml/VOSIAvailability/v1.0}available"


def _available(base: str) -> str:
    root = ET.fromstring(httpx.get(f"{base}/tap/availability", timeout=10).content)
    found = root.find(VOSI)
    return "" if found is None else (found.text or "")


def test_a_dead_worker_turns_ready_red_until_one_runs_the_jobs(stack: StackInfo) -> None:
    url = stack.new_database("isla_supervision")
    storage = stack.storage("isla-raw", "isla-products")
    ObjectStore.from_settings(storage).ensure_buckets("supervision-jobs")
    env = {
        **os.environ,
        "ISLA_DATABASE_URL": url,
        "ISLA_S3_ENDPOINT": stack.s3_endpoint,
        "ISLA_S3_ACCESS_KEY": ACCESS_KEY,
        "ISLA_S3_SECRET_KEY": SECRET_KEY,
        "ISLA_S3_JOBS_BUCKET": "supervision-jobs",
        "ISLA_WORKER_HEARTBEAT": "0.5",
        "ISLA_WORKER_STALLED_AFTER": "2",
        "ISLA_WORKER_POLL_INTERVAL": "0.5",
        "ISLA_TAP_ASYNC_RUN_WAIT": "0",
    }
    with service_process("services.tap.app:app", env) as (_, base):
        # No worker and nothing waiting: ready (services may run without a worker).
        assert httpx.get(f"{base}/ready", timeout=10).status_code == 200
        created = httpx.post(
            f"{base}/tap/async",
            data={
                "LANG": "ADQL",
                "QUERY": "SELECT TOP 1 table_name FROM TAP_SCHEMA.tables",
                "PHASE": "RUN",
            },
        )
        assert created.status_code == 303
        job = created.headers["location"]
        deadline = time.monotonic() + DEADLINE
        while (ready := httpx.get(f"{base}/ready", timeout=10)).status_code == 200:
            assert time.monotonic() < deadline, "/ready stayed green with a job and no worker"
            time.sleep(0.5)
        assert ready.status_code == 503
        check = ready.json()["checks"]["job_worker"]
        assert not check["ok"] and check["waiting_jobs"] == 1 and check["live_workers"] == 0
        assert _available(base) == "false"

        worker = subprocess.Popen([sys.executable, "-m", "deploy.cli", "worker"], env=env)
        try:
            while True:
                root = ET.fromstring(httpx.get(job, params={"WAIT": "5"}, timeout=30).content)
                if root.findtext("uws:phase", namespaces=UWS) == "COMPLETED":
                    break
                assert time.monotonic() < deadline, "the job did not complete"
            assert httpx.get(f"{base}/ready", timeout=10).status_code == 200
            assert _available(base) == "true"
        finally:
            worker.terminate()
            worker.wait(timeout=60)
