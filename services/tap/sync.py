"""Synchronous TAP queries (/tap/sync): the pipeline's document, streamed as it is made."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncEngine

from services.tap import pipeline
from services.tap.metadata import Metadata
from services.tap.upload import Upload
from shared.settings import TapSettings


async def run_sync(
    engine: AsyncEngine,
    request: pipeline.QueryRequest,
    meta: Metadata,
    settings: TapSettings,
    session: Mapping[str, str] | None = None,
    uploads: Sequence[Upload] = (),
    datalink_url: str | None = None,
    max_upload_rows: int = 1_000_000,
) -> StreamingResponse:
    """Start one query (errors until then are DALI error documents) and stream its result.

    An error after the response started is written into the document (DALI), as the TAP
    standard asks once the status line has gone.
    """
    started = await pipeline.start(
        engine,
        request,
        meta,
        settings,
        time_limit=settings.query_timeout,
        session=session,
        uploads=uploads,
        datalink_url=datalink_url,
        max_upload_rows=max_upload_rows,
    )
    return StreamingResponse(
        pipeline.document(started, inline_errors=True), media_type=started.writer.media_type
    )
