"""The one error family: each document style carries the DALI code, status and message."""

from __future__ import annotations

import io

import anyio
import httpx
import pytest
from astropy.io.votable import parse as parse_votable
from fastapi import APIRouter
from sqlalchemy.exc import OperationalError
from vo_models.uws.types import ErrorType

from shared.db.uws import TRANSITIONS, UwsJob
from shared.jobs.store import IllegalTransitionError, JobKind, JobStore, classify
from shared.service import create_service
from shared.vo.errors import (
    FAULTS,
    VOTABLE_ERRORS,
    DaliCode,
    DefaultFault,
    FatalFault,
    NotFoundFault,
    Overflow,
    TransientFault,
    UsageFault,
    VOError,
    fault,
    uws_error_summary,
)

SAMPLES: list[tuple[VOError, int, str]] = [
    (UsageFault("MAXREC must be a non-negative integer"), 400, "UsageFault"),
    (UsageFault("the job left the PENDING phase meanwhile", 409), 409, "UsageFault"),
    (NotFoundFault("Unknown table 'isla.nope'"), 404, "NotFoundFault"),
    (TransientFault("the database is not available"), 503, "TransientFault"),
    (FatalFault("the query failed in the database"), 500, "FatalFault"),
    (DefaultFault("something else"), 500, "DefaultFault"),
    (Overflow("at most 100 identifiers per request"), 400, "Overflow"),
]


def _fail(votable: bool, error: VOError) -> httpx.Response:
    """GET the one route of a throwaway app from the shared factory, which raises ``error``."""
    router = APIRouter(dependencies=[VOTABLE_ERRORS] if votable else [])

    @router.get("/x/fail")
    async def fail() -> None:
        raise error

    app = create_service("x", "/x", title="x", description="x", routers=[router])

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://x") as client:
            return await client.get("/x/fail")

    return anyio.run(get)


@pytest.mark.parametrize(("error", "status", "code"), SAMPLES)
def test_vo_endpoints_answer_dali_error_documents(error: VOError, status: int, code: str) -> None:
    r = _fail(True, error)
    assert r.status_code == status
    assert r.headers["content-type"].startswith("application/x-votable+xml")
    vot = parse_votable(io.BytesIO(r.content))
    info = next(i for i in vot.resources[0].infos if i.name == "QUERY_STATUS")
    assert info.value == "ERROR"
    assert info.content == f"{code}: {error.message}"


@pytest.mark.parametrize(("error", "status", "code"), SAMPLES)
def test_native_endpoints_answer_problem_json(error: VOError, status: int, code: str) -> None:
    r = _fail(False, error)
    assert r.status_code == status
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["code"] == code and body["status"] == status
    assert body["detail"] == error.message


def test_transient_faults_say_when_to_come_back() -> None:
    r = _fail(True, TransientFault("down"))
    assert r.headers["retry-after"] == "30"
    r = _fail(False, TransientFault("down", headers={"Retry-After": "5"}))
    assert r.headers["retry-after"] == "5"


def test_uws_error_summary_is_typed_by_the_fault() -> None:
    assert uws_error_summary(UsageFault("bad")).type == ErrorType.FATAL
    assert uws_error_summary(FatalFault("bug")).type == ErrorType.FATAL
    summary = uws_error_summary(TransientFault("down"))
    assert summary.type == ErrorType.TRANSIENT
    assert summary.message == "TransientFault: down"


def test_datalink_row_form_and_codes_round_trip() -> None:
    # DataLink writes per-identifier errors as "<code>: <message>" in error_message.
    assert NotFoundFault("no such product").text == "NotFoundFault: no such product"
    assert set(FAULTS) == {c.value for c in DaliCode}
    for code, cls in FAULTS.items():
        rebuilt = fault(code, "m")
        assert type(rebuilt) is cls and rebuilt.code == code
    assert type(fault("NoSuchCode", "m")) is DefaultFault


def test_job_failures_are_classified() -> None:
    usage = UsageFault("Unknown table 'x'")
    assert classify(usage) is usage
    lost = classify(OperationalError("SELECT 1", {}, Exception("connection refused")))
    assert isinstance(lost, TransientFault)
    assert isinstance(classify(ValueError("bad option"), usage=(ValueError,)), UsageFault)
    bug = classify(KeyError("x"))
    assert isinstance(bug, FatalFault) and "KeyError" not in bug.message


def test_phase_changes_follow_the_transition_table() -> None:
    store = JobStore(
        JobKind(
            table=UwsJob.__table__,  # type: ignore[arg-type]
            key="job_id",
            phase="phase",
            transitions=TRANSITIONS,
            waiting=frozenset({"QUEUED", "EXECUTING"}),
            queue="tap",
        )
    )
    sql = str(store.move_statement("j", "COMPLETED").compile())
    assert "phase IN" in sql
    assert store.kind.sources("COMPLETED") == ["EXECUTING"]
    assert sorted(store.kind.sources("ABORTED")) == [
        "EXECUTING",
        "HELD",
        "PENDING",
        "QUEUED",
        "SUSPENDED",
    ]
    with pytest.raises(IllegalTransitionError):
        store.move_statement("j", "COMPLETED", only=("PENDING",))
    with pytest.raises(IllegalTransitionError):
        store.move_statement("j", "PENDING")  # nothing goes back to PENDING
    with pytest.raises(IllegalTransitionError):
        store.change_statement("j", ("PENDING",), phase="QUEUED")
    assert store.kind.final("COMPLETED") is False  # → ARCHIVED
    assert store.kind.final("ARCHIVED") is True
