"""HTTP API of catalogue ingestion and merging: ``/ingest/catalogues``, ``/ingest/merge``,
``/ingest/jobs/{id}``, ``/ingest/interfaces``, ``/ingest/whoami``.

Uploads are copied to a private temporary file while their size is counted and their SHA-256
computed (refused with 413 past the limit). Small ones are ingested inside the request (201
with the report); larger ones are staged in the object store and handed to the job queue (202
with the job's URL). Refusals answer in problem+json with the full list of ``problems``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

import psycopg
from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncConnection

from services.ingest import audit, jobs, store
from services.ingest.auth import Principal, forbidden, require_principal, require_role
from services.ingest.catalogues import (
    CatalogueDelivery,
    CatalogueRefusedError,
    check_delivery,
    switch_current,
)
from services.ingest.interface import INTERFACES, get_interface
from services.ingest.settings import IngestRuntime, runtime
from shared.service import db_engine, object_store, problem

router = APIRouter(prefix="/ingest", tags=["ingest"])

Principal_ = Annotated[Principal, Depends(require_principal)]
Mode = Literal["auto", "sync", "async"]


def refused(status: int, problems: list[str], **extra: Any) -> JSONResponse:
    """A problem+json refusal listing every problem."""
    titles = {400: "Bad request", 403: "Forbidden", 409: "Conflict", 413: "Payload too large"}
    detail = problems[0] if len(problems) == 1 else f"{len(problems)} problems; nothing written"
    return problem(status, titles.get(status, "Error"), detail, problems=problems, **extra)


@router.get("/whoami", summary="The team and role of the calling token")
async def whoami(principal: Principal_) -> dict[str, Any]:
    """Who the bearer token belongs to."""
    return dataclasses.asdict(principal)


@router.get("/interfaces", summary="Declared catalogue interfaces (kinds and versions)")
async def interfaces() -> dict[str, Any]:
    """Every catalogue kind with its columns, units, aliases and ranges (public)."""
    return {"interfaces": [i.describe() for i in INTERFACES.values()]}


@router.get("/interfaces/{kind}/{version}", summary="One catalogue interface")
async def interface(kind: str, version: int) -> dict[str, Any]:
    """One declared interface."""
    name = f"{kind}/{version}"
    if name not in INTERFACES:
        raise HTTPException(404, f"no catalogue interface {name!r}")
    return INTERFACES[name].describe()


async def _spool(upload: UploadFile, limit: int, directory: str) -> tuple[Path, int, str] | None:
    """Copy the upload to a private file; (path, size, sha256), or None past ``limit``."""
    digest = hashlib.sha256()
    size = 0
    handle, name = tempfile.mkstemp(prefix="upload-", dir=directory)
    path = Path(name)
    try:
        with os.fdopen(handle, "wb") as out:
            while block := await upload.read(1 << 20):
                size += len(block)
                if size > limit:
                    await asyncio.to_thread(path.unlink, True)
                    return None
                digest.update(block)
                out.write(block)
    except BaseException:
        await asyncio.to_thread(path.unlink, True)
        raise
    return path, size, digest.hexdigest()


async def _create_job(
    conn: AsyncConnection, principal: Principal, kind: str, target: str, params: dict[str, Any]
) -> int:
    return await jobs.create(conn, principal, kind, target, params)


async def _defer(conn: AsyncConnection, task: Any, job_id: int) -> int:
    """Add the queue job of ``job_id`` in the caller's transaction (both happen, or neither)."""
    return await jobs.enqueue(conn, job_id, task)


def _load_job(conninfo: str, job_id: int) -> dict[str, Any]:
    job = jobs.load_job(conninfo, job_id)
    if job is None:
        raise HTTPException(404, f"no ingestion job {job_id}")
    return job


def job_view(job: dict[str, Any], request: Request | None = None) -> dict[str, Any]:
    """The public form of a job row."""
    view = {
        "job_id": job["job_id"],
        "kind": job["kind"],
        "team": job["team"],
        "target": job["target"],
        "status": job["status"],
        "progress": job["progress"],
        "message": job["message"],
        "report": job["report"],
    }
    for key in ("created_at", "started_at", "finished_at"):
        if key in job and job[key] is not None:
            view[key] = job[key].isoformat() + "Z"
    if request is not None:
        view["url"] = str(request.url_for("ingest-job", job_id=job["job_id"]))
    return view


def _finished_response(job: dict[str, Any], request: Request) -> JSONResponse:
    view = job_view(job, request)
    report = job["report"] or {}
    if job["status"] == "refused":
        return refused(int(report.get("http_status", 400)), report.get("problems", []), job=view)
    if job["status"] == "failed":
        return problem(500, "Internal error", report.get("message", "failed"), job=view)
    return JSONResponse(view, status_code=201)


@router.post(
    "/catalogues",
    summary="Deliver a catalogue version (FITS, VOTable or CSV)",
    status_code=201,
    responses={202: {"description": "queued: follow the job URL"}},
)
async def upload_catalogue(
    request: Request,
    principal: Principal_,
    file: Annotated[UploadFile, File(description="The catalogue table: FITS, VOTable or CSV.")],
    kind: Annotated[str, Form(description="Interface, e.g. isgri_results/1.")],
    name: Annotated[str, Form(description="Catalogue name.")],
    version: Annotated[str, Form(description="Version of this delivery.")],
    reference: Annotated[str | None, Form()] = None,
    description: Annotated[str | None, Form()] = None,
    current: Annotated[bool, Form(description="Make it the current version.")] = True,
    mode: Annotated[Mode, Form(description="sync, async or auto (by size).")] = "auto",
) -> JSONResponse:
    """Validate and load one catalogue version; refused deliveries change nothing."""
    settings: IngestRuntime = runtime(request)
    engine = db_engine(request)
    delivery = CatalogueDelivery(
        name=name,
        version=version,
        kind=kind,
        team=principal.team,
        reference=reference,
        description=description,
        make_current=current,
        filename=file.filename,
    )
    fields = {"kind": kind, "name": name, "version": version, "reference": reference}
    fields |= {"description": description, "file name": file.filename}
    problems = [f"{field} holds a NUL byte" for field, v in fields.items() if v and "\x00" in v]
    if problems:  # refused, and audited (the audit row escapes what it records)
        return await _refuse(engine, principal, delivery, problems, 400)
    problems = check_delivery(delivery)
    if not problems:
        interface_ = get_interface(kind)
        if not (principal.is_operator or principal.role in interface_.roles):
            async with engine.begin() as conn:
                await audit.record(
                    conn, principal, "catalogue.upload", delivery.target(), None, "forbidden", {}
                )
            allowed = ", ".join(["operator", *interface_.roles])
            raise forbidden(
                f"role {principal.role!r} may not deliver {interface_.name} (allowed: {allowed})"
            )
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > settings.max_bytes + 65536:
        problems.append(f"the upload exceeds the limit of {settings.max_bytes} bytes")
        return await _refuse(engine, principal, delivery, problems, 413)
    if problems:
        return await _refuse(engine, principal, delivery, problems, 400)
    spooled = await _spool(file, settings.max_bytes, settings.spool_dir)
    if spooled is None:
        problems = [f"the upload exceeds the limit of {settings.max_bytes} bytes"]
        return await _refuse(engine, principal, delivery, problems, 413)
    path, size, sha = spooled
    delivery.sha256, delivery.size = sha, size
    run_now = mode == "sync" or (mode == "auto" and size <= settings.sync_max_bytes)
    try:
        async with engine.begin() as conn:
            job_id = await _create_job(
                conn,
                principal,
                "catalogue",
                delivery.target(),
                {"delivery": dataclasses.asdict(delivery)},
            )
            await audit.record(
                conn,
                principal,
                "catalogue.upload",
                delivery.target(),
                sha,
                "accepted",
                {
                    "job_id": job_id,
                    "size": size,
                    "kind": kind,
                    "mode": "sync" if run_now else "async",
                },
            )
            if not run_now:
                from services.ingest.tasks import ingest_catalogue, staging_key

                objects = object_store(request)
                await asyncio.to_thread(
                    objects.put_file, settings.staging_bucket, staging_key(job_id), path
                )
                await _defer(conn, ingest_catalogue, job_id)
        if run_now:
            job = await asyncio.to_thread(jobs.run_catalogue_job, settings.conninfo, job_id, path)
            return _finished_response(job, request)
    finally:
        path.unlink(missing_ok=True)
    job = await asyncio.to_thread(_load_job, settings.conninfo, job_id)
    view = job_view(job, request)
    return JSONResponse(view, status_code=202, headers={"Location": view["url"]})


async def _refuse(
    engine: Any, principal: Principal, delivery: CatalogueDelivery, problems: list[str], status: int
) -> JSONResponse:
    async with engine.begin() as conn:
        await audit.record(
            conn,
            principal,
            "catalogue.upload",
            delivery.target(),
            None,
            "refused",
            {"problems": problems},
        )
    return refused(status, problems)


@router.get("/catalogues", summary="Catalogue versions in the archive")
async def list_catalogues(request: Request, principal: Principal_) -> dict[str, Any]:
    """Every catalogue version with its team, kind, size and whether it is current."""
    async with db_engine(request).connect() as conn:
        rows = await store.catalogues(conn)
    return {"catalogues": [{**r, "loaded_at": r["loaded_at"].isoformat() + "Z"} for r in rows]}


@router.post("/catalogues/{name}/current", summary="Make a loaded version the current one")
async def set_current(
    request: Request,
    principal: Principal_,
    name: str,
    version: Annotated[str, Form(description="The version to make current.")],
) -> dict[str, Any]:
    """Switch the current version of a catalogue (owner team or operator)."""
    settings = runtime(request)

    def switch() -> dict[str, Any] | None:
        with psycopg.connect(settings.conninfo) as conn, conn.cursor() as cur:
            rows = store.lock_catalogue_versions(cur, name)
            if not rows:
                return None
            if not principal.may_act_for(rows[0][2]):
                raise forbidden(f"catalogue {name!r} belongs to team {rows[0][2]!r}")
            match = [r for r in rows if r[1] == version]
            if not match:
                raise HTTPException(404, f"catalogue {name!r} has no version {version!r}")
            try:
                published = switch_current(cur, name, match[0][0])
            except CatalogueRefusedError as exc:
                raise HTTPException(exc.status, {"problems": exc.problems}) from None
            store.audit_switch(
                cur, principal.token_id, principal.team, principal.role, f"{name}@{version}"
            )
            answer = {"catalogue": name, "current": version, "catalogue_id": match[0][0]}
            return answer | ({"published": published} if published is not None else {})

    result = await asyncio.to_thread(switch)
    if result is None:
        raise HTTPException(404, f"no catalogue {name!r}")
    return result


@router.post(
    "/merge",
    summary="Merge the current catalogues into the source list",
    status_code=201,
    responses={202: {"description": "queued: follow the job URL"}},
)
async def merge(
    request: Request,
    principal: Annotated[Principal, Depends(require_role("isdc"))],
    k: Annotated[float | None, Form(description="Match when sep < k·sqrt(e1²+e2²).")] = None,
    floor_arcmin: Annotated[float | None, Form(description="Smallest match radius.")] = None,
    mode: Annotated[Mode, Form()] = "auto",
) -> JSONResponse:
    """Merge every current catalogue version into ``isla.sources`` (isdc or operator)."""
    from services.ingest.merge import MergeOptions

    settings = runtime(request)
    options: dict[str, Any] = {}
    if k is not None:
        options["k"] = k
    if floor_arcmin is not None:
        options["floor_arcmin"] = floor_arcmin
    try:
        MergeOptions(**options).check()
    except ValueError as exc:
        return refused(400, [str(exc)])
    engine = db_engine(request)
    async with engine.connect() as conn:
        entries = await store.current_entries(conn)
    run_now = mode == "sync" or (mode == "auto" and int(entries) <= settings.sync_max_merge)
    async with engine.begin() as conn:
        job_id = await _create_job(conn, principal, "merge", "isla.sources", {"options": options})
        await audit.record(
            conn, principal, "merge.request", "isla.sources", None, "accepted", {"job_id": job_id}
        )
        if not run_now:
            from services.ingest.tasks import ingest_merge

            await _defer(conn, ingest_merge, job_id)
    if run_now:
        job = await asyncio.to_thread(jobs.run_merge_job, settings.conninfo, job_id)
        return _finished_response(job, request)
    job = await asyncio.to_thread(_load_job, settings.conninfo, job_id)
    view = job_view(job, request)
    return JSONResponse(view, status_code=202, headers={"Location": view["url"]})


@router.get("/jobs/{job_id}", name="ingest-job", summary="Status, progress and report of a job")
async def get_job(request: Request, principal: Principal_, job_id: int) -> dict[str, Any]:
    """An ingestion job: readable by its team and by operators only."""
    async with db_engine(request).connect() as conn:
        row = await jobs.STORE.get(conn, job_id)
    if row is None:
        raise HTTPException(404, f"no ingestion job {job_id}")
    if not principal.may_act_for(row["team"]):
        raise forbidden(f"job {job_id} belongs to team {row['team']!r}")
    return job_view(dict(row), request)


@router.get("/merges/{merge_id}", summary="A merge's report and its conflicts")
async def get_merge(request: Request, principal: Principal_, merge_id: int) -> dict[str, Any]:
    """The report of one merge with every conflict it found."""
    async with db_engine(request).connect() as conn:
        report = await store.merge_report(conn, merge_id)
    if report is None:
        raise HTTPException(404, f"no merge {merge_id}")
    return {**report, "created_at": report["created_at"].isoformat() + "Z"}
