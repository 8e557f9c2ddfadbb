"""TAP async: the UWS 1.1 job tree under ``/tap/async``.

| resource | methods |
| --- | --- |
| ``/async`` | GET job list (``PHASE`` repeatable, ``AFTER``, ``LAST``); POST creates a job |
| ``/async/{id}`` | GET the job (``WAIT``, ``PHASE``); DELETE, or POST ``ACTION=DELETE`` |
| ``/async/{id}/phase`` | GET; POST ``PHASE=RUN`` or ``PHASE=ABORT`` |
| ``/async/{id}/parameters`` | GET; POST changes parameters of a PENDING job |
| ``/async/{id}/results``, ``.../results/result`` | the result list, the result itself |
| ``/async/{id}/error`` | the error as a DALI error VOTable |
| ``/async/{id}/quote``, ``/owner`` | GET |
| ``/async/{id}/executionduration``, ``/destruction`` | GET, POST |

Documents are the UWS 1.1 XML of vo-models' pydantic-xml models. Parameter names and the
PHASE/ACTION values are case-insensitive. Errors are DALI error documents
(:mod:`shared.vo.errors`: UsageFault 400 for bad requests, 409 for changes a job's phase
forbids; NotFoundFault 404 for unknown jobs; TransientFault 503 when a dependency is down).

The job's state lives in ``isla_ops.uws_jobs`` (:mod:`services.tap.jobstate`); queries run
in ``isla worker`` processes (:mod:`services.tap.tasks`). Job ids are 128-bit random hex
strings.

Ownership (:func:`_load`, :func:`job_list`): a job belongs to the user who created it, known by
session cookie or bearer token (:mod:`services.tap.accounts`). Only that user lists it, reads
it, changes, runs or deletes it; anyone else gets a 403 UsageFault. A job created without
logging in is ``anonymous``: its unguessable URL is the only key to it (whoever holds the URL
may use it), and it is never listed: the job list of an anonymous caller is empty.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from fastapi.routing import APIRoute
from pydantic_xml import element
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.concurrency import iterate_in_threadpool
from vo_models.uws.models import (
    ErrorSummary,
    Jobs,
    JobSummary,
    Parameter,
    Parameters,
    ResultReference,
    Results,
    ShortJobDescription,
)
from vo_models.uws.types import ErrorType, ExecutionPhase

from services.tap import jobstate
from services.tap.accounts import current_user
from services.tap.pipeline import validate
from services.tap.upload import parse_uploads
from shared.db.uws import ANONYMOUS, PHASES, UwsJob
from shared.service import db_engine, object_store
from shared.settings import (
    TapSettings,
    limit_settings,
    peer_settings,
    storage_settings,
    tap_settings,
)
from shared.storage import ObjectNotFound, StorageUnavailable
from shared.vo.errors import (
    VOTABLE_MEDIA_TYPE,
    DefaultFault,
    NotFoundFault,
    TransientFault,
    UsageFault,
    VOError,
)
from shared.vo.params import IvoaParams, ivoa_params
from shared.vo.results import error_votable


class _UwsRoute(APIRoute):
    """Routes whose outages (database or object store down) are TransientFaults, not bare 500s."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except (OperationalError, InterfaceError, psycopg.OperationalError, OSError):
                log.exception("TAP async request failed: a dependency is down")
                raise TransientFault("the database is not available; try again later") from None
            except StorageUnavailable:
                raise TransientFault("the object store is not available; try again later") from None

        return guarded


router = APIRouter(tags=["tap async (UWS)"], route_class=_UwsRoute)

log = logging.getLogger("isla.tap.uws")

UWS_XML = "application/xml"
TEXT = "text/plain; charset=utf-8"
Params = Annotated[IvoaParams, Depends(ivoa_params)]

TAP_PARAMETERS = ("REQUEST", "LANG", "QUERY", "MAXREC", "FORMAT", "RESPONSEFORMAT", "UPLOAD")
"""The TAP parameters a job keeps (others are ignored, as DALI allows)."""

POLL_FIRST, POLL_LONGEST = 0.01, 0.5
"""Seconds between looks at a job while waiting for its phase to change: the first pause
is short (most queries end within milliseconds), each next one 1.5 times longer, up to the
longest, so that a long WAIT costs few queries."""


def _pauses(deadline: float) -> Iterator[float]:
    """Pauses of the polling loops, until ``deadline`` (time.monotonic)."""
    pause = POLL_FIRST
    while (left := deadline - time.monotonic()) > 0:
        yield min(pause, left)
        pause = min(pause * 1.5, POLL_LONGEST)


class TapJobParameters(Parameters):
    """The parameters element of a TAP job (one optional field per TAP parameter)."""

    request: Parameter | None = element(tag="parameter", default=None)
    lang: Parameter | None = element(tag="parameter", default=None)
    query: Parameter | None = element(tag="parameter", default=None)
    maxrec: Parameter | None = element(tag="parameter", default=None)
    format: Parameter | None = element(tag="parameter", default=None)
    responseformat: Parameter | None = element(tag="parameter", default=None)
    upload: Parameter | None = element(tag="parameter", default=None)


# ---------------------------------------------------------------------------------------------
# helpers


def _bucket() -> str:
    return storage_settings().s3_jobs_bucket


def _jobs_url(request: Request) -> str:
    # The URL the client called (behind the gateway or alone), so that redirects and result
    # links work whatever the configured base URL.
    return f"{str(request.base_url).rstrip('/')}/tap/async"


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _text(value: str) -> Response:
    return Response(value, media_type=TEXT)


def _xml(body: str | bytes) -> Response:
    return Response(body, media_type=UWS_XML)


def _iso(value: dt.datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_time(name: str, value: str) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageFault(f"{name} must be an ISO 8601 time, not {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _unknown(job_id: str) -> NotFoundFault:
    return NotFoundFault(f"there is no job {job_id!r} (it may have been deleted or destroyed)")


def _not_yours(job_id: str) -> UsageFault:
    return UsageFault(
        f"job {job_id} belongs to another user: only its owner may use it (log in as the owner)",
        403,
    )


async def _load(request: Request, job_id: str) -> UwsJob:
    """The job, if the caller may use it: 404 when unknown, 403 when another user's.

    An expired job is destroyed on the way (UWS destruction time). Every resource of a job
    goes through here, so ownership is checked in one place.
    """
    engine = db_engine(request)
    async with engine.connect() as conn:
        job = await jobstate.get(conn, job_id)
    if job is None:
        raise _unknown(job_id)
    if job.owner != ANONYMOUS and job.owner != await current_user(request):
        raise _not_yours(job_id)
    if job.destruction <= jobstate.now():
        await jobstate.destroy(engine, object_store(request), _bucket(), job_id)
        raise _unknown(job_id)
    return job


def _kept(params: IvoaParams) -> dict[str, str]:
    return {name: params[name] for name in TAP_PARAMETERS if params.get_upper(name) is not None}


def _duration(value: str, settings: TapSettings) -> int:
    try:
        seconds = int(float(value))
    except (ValueError, OverflowError):  # "x", "nan", "1e999"
        raise UsageFault(f"EXECUTIONDURATION must be a number of seconds, not {value!r}") from None
    if seconds < 0:
        raise UsageFault(f"EXECUTIONDURATION must not be negative, not {value!r}")
    # 0 asks for no limit; the service's hard limit applies (UWS lets the server choose).
    hard = settings.async_max_execution_duration
    return hard if seconds == 0 else min(seconds, hard)


def _destruction(value: str, created: dt.datetime, settings: TapSettings) -> dt.datetime:
    wanted = _parse_time("DESTRUCTION", value)
    latest = created + dt.timedelta(seconds=settings.async_max_destruction)
    return min(wanted, latest)


async def _start(conn: AsyncConnection, job_id: str) -> bool:
    """RUN: queue a PENDING job; True when it was queued.

    Parameters the query can never run with (no QUERY, an unknown LANG or FORMAT, a bad
    MAXREC) end the job in ERROR at once, with the message /sync would give: TAP 1.1 accepts
    the job and reports the error through it (taplint's QAS stage checks exactly that).
    """
    job = await jobstate.get(conn, job_id)
    if job is None or job.phase != "PENDING":
        return False  # RUN on a job that already left PENDING changes nothing
    params = IvoaParams()
    params.update(job.parameters or {})
    try:
        validate(params, limit_settings())
    except VOError as exc:
        await jobstate.refuse(conn, job_id, exc)
        return False
    return await jobstate.queue_run(conn, job_id)


async def _store_uploads(request: Request, params: IvoaParams, job_id: str) -> list[dict[str, Any]]:
    """Fetch or take the UPLOAD tables now and keep them in the jobs bucket for the worker."""
    uploads = await parse_uploads(params, limit_settings(), tap_settings(), peer_settings())
    store, bucket = object_store(request), _bucket()
    kept = []
    for item in uploads:
        key = jobstate.upload_key(job_id, item.name)
        try:
            await asyncio.to_thread(
                store.put_bytes, bucket, key, item.votable_bytes, "application/x-votable+xml"
            )
        except StorageUnavailable:
            raise TransientFault("the object store is not available; try again later") from None
        kept.append({"name": item.name, "key": key, "size": len(item.votable_bytes)})
    return kept


# ---------------------------------------------------------------------------------------------
# documents


def _parameters(job: UwsJob) -> TapJobParameters:
    values = {
        name.lower(): Parameter(id=name.lower(), value=str(value))
        for name, value in (job.parameters or {}).items()
        if name in TAP_PARAMETERS
    }
    return TapJobParameters(**values)


def _results(job: UwsJob, url: str) -> Results:
    if job.phase != "COMPLETED" or not job.result_key:
        return Results()
    return Results(
        results=[
            ResultReference(
                id="result",
                href=f"{url}/results/result",
                size=job.result_size,
                mime_type=job.result_content_type,
            )
        ]
    )


def job_document(job: UwsJob, jobs_url: str) -> str | bytes:
    """The UWS 1.1 ``uws:job`` document of a job."""
    url = f"{jobs_url}/{job.job_id}"
    error = None
    if job.phase == "ERROR":
        error = ErrorSummary(
            message=job.error_message or "the job failed",
            type=ErrorType(job.error_type or ErrorType.FATAL.value),
            has_detail=True,
        )
    summary = JobSummary[TapJobParameters](
        job_id=job.job_id,
        run_id=job.run_id,
        owner_id=job.owner,
        phase=ExecutionPhase(job.phase),
        quote=job.quote,
        creation_time=job.creation_time,
        start_time=job.start_time,
        end_time=job.end_time,
        execution_duration=job.execution_duration,
        destruction=job.destruction,
        parameters=_parameters(job),
        results=_results(job, url),
        error_summary=error,
    )
    return summary.to_xml(skip_empty=False, encoding="UTF-8", xml_declaration=True)


def jobs_document(jobs: list[UwsJob], jobs_url: str) -> str | bytes:
    """The UWS 1.1 ``uws:jobs`` list."""
    refs = [
        ShortJobDescription(
            job_id=job.job_id,
            href=f"{jobs_url}/{job.job_id}",
            phase=ExecutionPhase(job.phase),
            run_id=job.run_id,
            owner_id=job.owner,
            creation_time=job.creation_time,
        )
        for job in jobs
    ]
    return Jobs(jobref=refs).to_xml(skip_empty=True, encoding="UTF-8", xml_declaration=True)


# ---------------------------------------------------------------------------------------------
# the job list


@router.get("/async")
@router.get("/async/", include_in_schema=False)
async def job_list(request: Request, params: Params) -> Response:
    """The caller's jobs, newest first; filters ``PHASE`` (repeatable), ``AFTER``, ``LAST``.

    Only a logged-in user has a list (their own jobs); an anonymous caller's is empty.
    """
    phases: list[str] = []
    for value in params.getall("PHASE"):
        phase = value.strip().upper()
        if phase not in PHASES:
            raise UsageFault(f"PHASE={value} is not a UWS phase; use one of {', '.join(PHASES)}")
        phases.append(phase)
    after: dt.datetime | None = None
    if (given := params.get("AFTER")) is not None:
        after = _parse_time("AFTER", given)
    last: int | None = None
    if (count := params.get("LAST")) is not None:
        try:
            last = int(count)
        except ValueError:
            raise UsageFault(f"LAST must be a positive integer, not {count!r}") from None
        if last <= 0:
            raise UsageFault(f"LAST must be a positive integer, not {count!r}")
    user = await current_user(request)
    jobs: list[UwsJob] = []
    if user is not None:  # anonymous jobs are never listed: their URL is their only key
        async with db_engine(request).connect() as conn:
            jobs = await jobstate.list_jobs(
                conn,
                owner=user,
                phases=phases,
                after=after,
                last=last,
                limit=tap_settings().async_list_max,
            )
    return _xml(jobs_document(jobs, _jobs_url(request)))


@router.post("/async")
@router.post("/async/", include_in_schema=False)
async def create_job(request: Request, params: Params) -> Response:
    """Create a job from TAP parameters (PENDING, or QUEUED with ``PHASE=RUN``); 303 to it."""
    settings = tap_settings()
    phase = params.get_upper("PHASE")
    if phase is not None and phase.upper() != "RUN":
        raise UsageFault(f"PHASE={phase} cannot be given when creating a job; use PHASE=RUN")
    kept = _kept(params)
    created = jobstate.now()
    duration = settings.async_execution_duration
    if (value := params.get_upper("EXECUTIONDURATION")) is not None:
        duration = _duration(value, settings)
    destruction = created + dt.timedelta(seconds=settings.async_destruction)
    if (value := params.get_upper("DESTRUCTION")) is not None:
        destruction = _destruction(value, created, settings)
    owner = await current_user(request) or ANONYMOUS
    job_id = jobstate.new_job_id()
    uploads = await _store_uploads(request, params, job_id)
    async with db_engine(request).begin() as conn:
        await jobstate.create(
            conn,
            job_id=job_id,
            owner=owner,
            parameters=kept,
            run_id=params.get_upper("RUNID"),
            execution_duration=duration,
            destruction=destruction,
            uploads=uploads,
        )
        queued = phase is not None and await _start(conn, job_id)
    if queued:
        await _settle(request, job_id)
    return _see_other(f"{_jobs_url(request)}/{job_id}")


# ---------------------------------------------------------------------------------------------
# one job


@router.get("/async/{job_id}")
async def get_job(request: Request, job_id: str, params: Params) -> Response:
    """The job document; ``WAIT=<s>`` blocks until the phase changes (UWS 1.1 §2.2.1.1)."""
    job = await _load(request, job_id)
    wait: float | None = None
    if (value := params.get("WAIT")) is not None:
        try:
            wait = float(value)
        except ValueError:
            raise UsageFault(f"WAIT must be a number of seconds, not {value!r}") from None
        if math.isnan(wait):
            raise UsageFault("WAIT must be a number of seconds")
    only_phase: str | None = None
    if (value := params.get("PHASE")) is not None:
        only_phase = value.strip().upper()
        if only_phase not in PHASES:
            raise UsageFault(f"PHASE={value} is not a UWS phase")
    waitable = job.phase in ("PENDING", "QUEUED", "EXECUTING")
    if wait is not None and waitable and only_phase in (None, job.phase):
        job = await _wait(request, job, wait)
    return _xml(job_document(job, _jobs_url(request)))


async def _wait(request: Request, job: UwsJob, wait: float) -> UwsJob:
    """Poll the job until its phase differs from now, or until the (capped) WAIT is over."""
    longest = tap_settings().async_max_wait
    # A negative WAIT means as long as the server allows.
    seconds = longest if wait < 0 else min(wait, longest)
    deadline = time.monotonic() + seconds
    start_phase = job.phase
    for pause in _pauses(deadline):
        if await request.is_disconnected():
            break
        await asyncio.sleep(pause)
        async with db_engine(request).connect() as conn:
            current = await jobstate.get(conn, job.job_id)
        if current is None:
            raise _unknown(job.job_id)
        job = current
        if job.phase != start_phase:
            break
    return job


async def _delete(request: Request, job_id: str) -> Response:
    await _load(request, job_id)  # 404 or 403 before anything is touched
    if not await jobstate.destroy(db_engine(request), object_store(request), _bucket(), job_id):
        raise _unknown(job_id)
    return _see_other(_jobs_url(request))


@router.delete("/async/{job_id}")
async def delete_job(request: Request, job_id: str) -> Response:
    """Delete the job, its result and its uploads; 303 to the job list."""
    return await _delete(request, job_id)


@router.post("/async/{job_id}")
async def post_job(request: Request, job_id: str, params: Params) -> Response:
    """``ACTION=DELETE`` deletes the job; other parameters change a PENDING job's."""
    action = params.get_upper("ACTION")
    if action is not None:
        if action.upper() != "DELETE":
            raise UsageFault(f"ACTION={action} is not supported; use ACTION=DELETE")
        return await _delete(request, job_id)
    return await _update_parameters(request, job_id, params)


async def _update_parameters(request: Request, job_id: str, params: IvoaParams) -> Response:
    job = await _load(request, job_id)
    kept = _kept(params)
    if not kept and params.get_upper("RUNID") is None:
        raise UsageFault("no job parameter given (LANG, QUERY, MAXREC, FORMAT, UPLOAD, RUNID)")
    if job.phase != "PENDING":
        raise UsageFault(f"the parameters of a {job.phase} job cannot be changed", 409)
    merged = {**(job.parameters or {}), **kept}
    values: dict[str, Any] = {"parameters": merged}
    if "UPLOAD" in kept:
        values["uploads"] = await _store_uploads(request, params, job_id)
    if (run_id := params.get_upper("RUNID")) is not None:
        values["run_id"] = run_id
    async with db_engine(request).begin() as conn:
        if not await jobstate.change(conn, job_id, ("PENDING",), **values):
            raise UsageFault("the job left the PENDING phase meanwhile", 409)
    return _see_other(f"{_jobs_url(request)}/{job_id}")


@router.get("/async/{job_id}/phase")
async def get_phase(request: Request, job_id: str) -> Response:
    """The job's phase as plain text."""
    return _text((await _load(request, job_id)).phase)


@router.post("/async/{job_id}/phase")
async def post_phase(request: Request, job_id: str, params: Params) -> Response:
    """``PHASE=RUN`` queues a PENDING job; ``PHASE=ABORT`` stops it; 303 to the job."""
    value = params.get_upper("PHASE")
    if value is None or value.upper() not in ("RUN", "ABORT"):
        raise UsageFault(f"PHASE must be RUN or ABORT, not {value!r}")
    await _load(request, job_id)
    queued = False
    async with db_engine(request).begin() as conn:
        if value.upper() == "RUN":
            queued = await _start(conn, job_id)
        else:
            await jobstate.abort(conn, job_id)
    if queued:
        await _settle(request, job_id)
    return _see_other(f"{_jobs_url(request)}/{job_id}")


async def _settle(request: Request, job_id: str) -> None:
    """Wait briefly for a worker to take a just-queued job (``ISLA_TAP_ASYNC_RUN_WAIT``).

    astroquery's ``query_tap(async_job=True)`` polls only while the phase is EXECUTING and
    fetches the result as soon as it is not: a job still QUEUED would look finished to it.
    With an idle worker the wait ends within milliseconds (it is woken by LISTEN/NOTIFY).
    """
    for pause in _pauses(time.monotonic() + tap_settings().async_run_wait):
        await asyncio.sleep(pause)
        async with db_engine(request).connect() as conn:
            job = await jobstate.get(conn, job_id)
        if job is None or job.phase != "QUEUED":
            return


@router.get("/async/{job_id}/parameters")
async def get_parameters(request: Request, job_id: str) -> Response:
    """The job's parameters (``uws:parameters``)."""
    job = await _load(request, job_id)
    body = _parameters(job).to_xml(encoding="UTF-8", xml_declaration=True)
    return _xml(body)


@router.post("/async/{job_id}/parameters")
async def post_parameters(request: Request, job_id: str, params: Params) -> Response:
    """Change parameters of a PENDING job; 303 to the job."""
    return await _update_parameters(request, job_id, params)


@router.get("/async/{job_id}/results")
async def get_results(request: Request, job_id: str) -> Response:
    """The result list (``uws:results``): one ``result`` once the job is COMPLETED."""
    job = await _load(request, job_id)
    url = f"{_jobs_url(request)}/{job_id}"
    body = _results(job, url).to_xml(encoding="UTF-8", xml_declaration=True)
    return _xml(body)


@router.get("/async/{job_id}/results/result")
async def get_result(request: Request, job_id: str) -> Response:
    """The result document, streamed from the object store."""
    job = await _load(request, job_id)
    if job.phase != "COMPLETED" or not job.result_key:
        raise NotFoundFault(f"job {job_id} has no result: it is {job.phase}")
    store = object_store(request)
    try:
        stream = await asyncio.to_thread(store.iter_object, _bucket(), job.result_key)
    except ObjectNotFound:
        raise NotFoundFault(f"the result of job {job_id} is gone") from None
    except StorageUnavailable:
        raise TransientFault("the object store is not available; try again later") from None
    headers = {}
    if job.result_size is not None:
        headers["Content-Length"] = str(job.result_size)
    return StreamingResponse(
        iterate_in_threadpool(stream),
        media_type=job.result_content_type or "application/octet-stream",
        headers=headers,
    )


@router.get("/async/{job_id}/error")
async def get_error(request: Request, job_id: str) -> Response:
    """The error of an ERROR job as a DALI error document (HTTP 200: the resource exists)."""
    job = await _load(request, job_id)
    if job.phase != "ERROR":
        raise NotFoundFault(f"job {job_id} has no error: it is {job.phase}")
    # The row keeps the message with its code (``UsageFault: ...``), as the document shows it.
    body = error_votable(job.error_message or f"{DefaultFault.code}: the job failed")
    return Response(body, media_type=VOTABLE_MEDIA_TYPE)


@router.get("/async/{job_id}/quote")
async def get_quote(request: Request, job_id: str) -> Response:
    """The predicted end time (empty: no prediction)."""
    return _text(_iso((await _load(request, job_id)).quote))


@router.get("/async/{job_id}/owner")
async def get_owner(request: Request, job_id: str) -> Response:
    """The job's owner: the user who created it, or ``anonymous``."""
    return _text((await _load(request, job_id)).owner or ANONYMOUS)


@router.get("/async/{job_id}/executionduration")
async def get_execution_duration(request: Request, job_id: str) -> Response:
    """Seconds the job may run."""
    return _text(str((await _load(request, job_id)).execution_duration))


@router.post("/async/{job_id}/executionduration")
async def post_execution_duration(request: Request, job_id: str, params: Params) -> Response:
    """Set the run time limit of a PENDING job (capped by the service); 303 to the job."""
    value = params.get_upper("EXECUTIONDURATION")
    if value is None:
        raise UsageFault("EXECUTIONDURATION is missing")
    seconds = _duration(value, tap_settings())
    job = await _load(request, job_id)
    if job.phase != "PENDING":
        raise UsageFault(f"the executionDuration of a {job.phase} job cannot be changed", 409)
    async with db_engine(request).begin() as conn:
        if not await jobstate.change(conn, job_id, ("PENDING",), execution_duration=seconds):
            raise UsageFault("the job left the PENDING phase meanwhile", 409)
    return _see_other(f"{_jobs_url(request)}/{job_id}")


@router.get("/async/{job_id}/destruction")
async def get_destruction(request: Request, job_id: str) -> Response:
    """When the job and its results will be deleted (ISO 8601, UTC)."""
    return _text(_iso((await _load(request, job_id)).destruction))


@router.post("/async/{job_id}/destruction")
async def post_destruction(request: Request, job_id: str, params: Params) -> Response:
    """Move the destruction time (at most the service's limit after creation); 303 to the job."""
    value = params.get_upper("DESTRUCTION")
    if value is None:
        raise UsageFault("DESTRUCTION is missing")
    job = await _load(request, job_id)
    when = _destruction(value, job.creation_time, tap_settings())
    async with db_engine(request).begin() as conn:
        await jobstate.change(conn, job_id, PHASES, destruction=when)
    return _see_other(f"{_jobs_url(request)}/{job_id}")
