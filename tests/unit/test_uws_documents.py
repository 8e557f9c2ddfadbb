"""UWS 1.1 documents of TAP async jobs, read back with pyvo's UWS parser (what clients use)."""

from __future__ import annotations

import datetime as dt
import io

from pyvo.io import uws

from services.tap.tasks import time_limit
from services.tap.uws import job_document, jobs_document
from shared.db.uws import UwsJob
from shared.settings import TapSettings

BASE = "http://archive.example/tap/async"
CREATED = dt.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC)


def _job(**values: object) -> UwsJob:
    job = UwsJob()
    defaults: dict[str, object] = {
        "job_id": "0123456789abcdef0123456789abcdef",
        "run_id": None,
        "owner": "anonymous",
        "phase": "PENDING",
        "parameters": {"LANG": "ADQL", "QUERY": "SELECT 1 < 2 & 'x'", "MAXREC": "5"},
        "creation_time": CREATED,
        "start_time": None,
        "end_time": None,
        "quote": None,
        "execution_duration": 600,
        "destruction": CREATED + dt.timedelta(days=7),
        "error_message": None,
        "error_type": None,
        "result_key": None,
        "result_size": None,
        "result_content_type": None,
    }
    for key, value in {**defaults, **values}.items():
        setattr(job, key, value)
    return job


def _parse(body: str | bytes) -> uws.JobSummary:
    data = body.encode() if isinstance(body, str) else body
    return uws.parse_job(io.BytesIO(data))


def test_pending_job_document() -> None:
    summary = _parse(job_document(_job(run_id="mine"), BASE))
    assert summary.jobid == "0123456789abcdef0123456789abcdef"
    assert summary.phase == "PENDING"
    assert summary.runid == "mine"
    assert summary.ownerid == "anonymous"
    assert summary.executionduration.to_value("s") == 600
    assert summary.creationtime.isot.startswith("2026-01-02T03:04:05.678")
    params = {p.id_: p.content for p in summary.parameters}
    assert params == {"lang": "ADQL", "query": "SELECT 1 < 2 & 'x'", "maxrec": "5"}
    assert summary.results == []
    assert summary.errorsummary is None


def test_completed_job_lists_its_result() -> None:
    job = _job(
        phase="COMPLETED",
        start_time=CREATED,
        end_time=CREATED + dt.timedelta(seconds=2),
        result_key="jobs/x/result.csv",
        result_size=123,
        result_content_type="text/csv",
    )
    summary = _parse(job_document(job, BASE))
    assert summary.phase == "COMPLETED"
    (result,) = summary.results
    assert result.id_ == "result"
    assert result.href == f"{BASE}/{job.job_id}/results/result"
    assert summary.endtime is not None


def test_error_job_has_a_summary() -> None:
    job = _job(phase="ERROR", error_message="Unknown column 'nope'", error_type="fatal")
    summary = _parse(job_document(job, BASE))
    assert summary.phase == "ERROR"
    assert summary.errorsummary.message.content == "Unknown column 'nope'"
    assert summary.errorsummary.type_ == "fatal"
    assert summary.errorsummary.has_detail


def test_job_list() -> None:
    jobs = [_job(), _job(job_id="f" * 32, phase="EXECUTING", run_id="two")]
    body = jobs_document(jobs, BASE)
    parsed = uws.parse_job_list(io.BytesIO(body.encode() if isinstance(body, str) else body))
    assert [(j.jobid, j.phase) for j in parsed] == [
        ("0123456789abcdef0123456789abcdef", "PENDING"),
        ("f" * 32, "EXECUTING"),
    ]


def test_time_limit_caps_the_execution_duration() -> None:
    settings = TapSettings(async_max_execution_duration=100)
    assert time_limit(30, settings) == 30
    assert time_limit(1000, settings) == 100
    assert time_limit(0, settings) == 100  # 0: no limit asked, the service's applies
