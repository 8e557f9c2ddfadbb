"""HTTP handlers of the TAP service: thin, the work is in sync.py, vosi.py and metadata.py."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from services.tap import examples, handoff, uws, vosi
from services.tap.metadata import Metadata, MetadataCache
from services.tap.parameters import SYNC_PARAMETERS
from services.tap.pipeline import validate, view_settings
from services.tap.sync import run_sync
from services.tap.upload import parse_uploads
from shared import simulation
from shared.jobs.health import check_worker
from shared.openapi import VOTABLE, answers, inputs
from shared.service import context, db_engine, read_db_engine
from shared.settings import limit_settings, peer_settings, tap_settings
from shared.vo import vosi as shared_vosi
from shared.vo.errors import VOTABLE_ERRORS, NotFoundFault, TransientFault, VOError
from shared.vo.params import IvoaParams, ivoa_params

router = APIRouter(prefix="/tap", tags=["tap"], dependencies=[VOTABLE_ERRORS])

XML = "application/xml"

"""The parameters of /tap/sync, as OpenAPI declares them (names are case-insensitive)."""

RESULT_TYPES = (
    VOTABLE,
    "text/csv",
    "text/tab-separated-values",
    "application/fits",
    "application/json",
)
"""Media types of query results."""
STARTED = datetime.now(UTC)
"""The record's ``updated`` date: the service's metadata can change only with a restart."""
Params = Annotated[IvoaParams, Depends(ivoa_params)]


async def _metadata(request: Request) -> Metadata:
    cache: MetadataCache | None = getattr(request.app.state, "tap_metadata", None)
    if cache is None:
        cache = MetadataCache(tap_settings().metadata_ttl)
        request.app.state.tap_metadata = cache
    try:
        return await cache.get(db_engine(request))
    except VOError:
        raise
    except Exception:
        raise TransientFault("the table metadata cannot be read; is the schema migrated?") from None


def _base() -> str:
    return f"{peer_settings().peer('tap')}/tap"


@router.api_route(
    "/sync",
    methods=["GET", "POST"],
    openapi_extra=inputs(SYNC_PARAMETERS),
    response_class=Response,
    responses=answers(*RESULT_TYPES, description="The query result.", errors=VOTABLE),
)
@router.api_route("/sync/", methods=["GET", "POST"], include_in_schema=False)
async def sync(request: Request, params: Params) -> Response:
    """Run an ADQL query synchronously (TAP 1.1 /sync)."""
    if handoff.is_isla_request(params):  # ISLA's REQUEST=timelines, spectra, ...
        return await handoff.forward(request, params)
    limits, peers = limit_settings(), peer_settings()
    sync_request = validate(params, limits)
    uploads = await parse_uploads(params, limits, tap_settings(), peers)
    meta = await _metadata(request)
    # User queries go to the read replica when there is one; TAP_UPLOAD tables are temporary
    # tables, which a hot standby cannot hold, so queries with uploads stay on the primary.
    engine = db_engine(request) if uploads else read_db_engine(request)
    return await run_sync(
        engine,
        sync_request,
        meta,
        tap_settings(),
        view_settings(peers),
        uploads=uploads,
        datalink_url=f"{peers.peer('products')}/datalink",
        max_upload_rows=limits.upload_max_rows,
    )


@router.get(
    "/availability",
    response_class=Response,
    responses=answers(XML, description="VOSI availability."),
)
async def availability(request: Request) -> Response:
    """VOSI availability: can the service reach its database, and do async jobs run."""
    engine = context(request).engine
    worker = await check_worker(engine)
    if not worker["ok"]:
        body = shared_vosi.availability_document(False, worker["error"])
        return Response(body, media_type=XML)
    return await shared_vosi.availability(
        context(request).engine, vosi.AVAILABILITY_PROBE, "the service is accepting queries"
    )


@router.get(
    "/capabilities",
    response_class=Response,
    responses=answers(XML, description="VOSI capabilities."),
)
async def capabilities() -> Response:
    """VOSI capabilities with the TAPRegExt description."""
    body = vosi.capabilities(_base(), limit_settings(), tap_settings().query_timeout)
    return Response(body, media_type=XML)


@router.get(
    "/resource.xml",
    response_class=Response,
    responses=answers(XML, description="VOResource record."),
)
async def resource_record(request: Request) -> Response:
    """The service's VOResource record (vs:CatalogService) for the IVOA Registry."""
    body = vosi.resource_record(
        _base(),
        await _metadata(request),
        limit_settings(),
        tap_settings().query_timeout,
        STARTED,
        simulation_note=await _simulation_note(request),
    )
    return Response(body, media_type=XML)


async def _simulation_note(request: Request) -> str:
    """What of the archive is simulated, for the record's description ("" if unknown)."""
    try:
        async with db_engine(request).connect() as conn:
            holdings = await simulation.read_holdings(conn)
    except Exception:
        return ""
    return holdings.sentence()


@router.get(
    "/examples",
    response_class=Response,
    responses=answers("application/xhtml+xml", description="DALI examples."),
)
async def examples_document() -> Response:
    """DALI examples: INTEGRAL questions in ADQL (XHTML with RDFa)."""
    return Response(examples.document(), media_type="application/xhtml+xml")


@router.get(
    "/tables",
    openapi_extra={
        "parameters": [{"name": "DETAIL", "in": "query", "schema": {"enum": ["min", "max"]}}]
    },
    response_class=Response,
    responses=answers(XML, description="VOSI tables.", errors=VOTABLE),
)
async def tables(request: Request, params: Params) -> Response:
    """VOSI tables; ``detail=min`` lists the tables without their columns."""
    meta = await _metadata(request)
    detail = (params.get_upper("DETAIL") or "max").lower() != "min"
    return Response(vosi.tableset(meta, detail), media_type=XML)


@router.get(
    "/tables/{name}",
    response_class=Response,
    responses=answers(XML, description="One table.", errors=VOTABLE),
)
async def table(request: Request, name: str) -> Response:
    """VOSI description of one table."""
    body = vosi.single_table(await _metadata(request), name)
    if body is None:
        raise NotFoundFault(f"Unknown table '{name}'")
    return Response(body, media_type=XML)


# TAP async (UWS 1.1): /tap/async and the job tree, in services/tap/uws.py.
router.include_router(uws.router)
