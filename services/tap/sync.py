"""Synchronous TAP queries (/tap/sync): the pipeline's document, streamed as it is made.

The whole request has one deadline (``ISLA_TAP_SYNC_DEADLINE``), not only each statement:
``statement_timeout`` bounds every fetch in Postgres, but a client that reads slowly would
otherwise keep the query's pooled connection for as long as it likes. Past the deadline a
stream that is still being read gets the error inside the document (DALI); one stalled on a
slow reader is cut short, and its connection goes back to the pool at once.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence

import anyio
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import Send

from services.tap import pipeline
from services.tap.metadata import Metadata
from services.tap.upload import Upload
from shared.settings import TapSettings

log = logging.getLogger("isla.tap")


class DeadlineStreamingResponse(StreamingResponse):
    """A streamed response that stops sending at a deadline (``anyio.current_time()`` clock).

    Sending blocks while the client does not read (the server's write buffer is full), so the
    deadline is enforced around the sends; the body iterator is then closed, which ends the
    query and returns its connection. The client sees a response shorter than its document.
    """

    def __init__(
        self, content: AsyncIterator[bytes], *, deadline: float, media_type: str | None = None
    ) -> None:
        """Stream ``content`` until ``deadline`` (an ``anyio.current_time()`` value)."""
        super().__init__(content, media_type=media_type)
        self.deadline = deadline

    async def stream_response(self, send: Send) -> None:
        """Send the body, giving up at the deadline."""
        iterator = self.body_iterator
        with anyio.move_on_after(max(0.0, self.deadline - anyio.current_time())) as scope:
            await super().stream_response(send)
        if scope.cancelled_caught:
            log.warning("sync TAP response cut at its deadline: the client read too slowly")
            if isinstance(iterator, AsyncIterator) and hasattr(iterator, "aclose"):
                with anyio.CancelScope(shield=True):
                    await iterator.aclose()


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
    standard asks once the status line has gone; so is the end of the whole-request deadline.
    """
    deadline = anyio.current_time() + settings.sync_deadline
    started = await pipeline.start(
        engine,
        request,
        meta,
        settings,
        time_limit=min(settings.query_timeout, settings.sync_deadline),
        session=session,
        uploads=uploads,
        datalink_url=datalink_url,
        max_upload_rows=max_upload_rows,
    )
    document = pipeline.document(started, inline_errors=True, deadline=deadline)
    return DeadlineStreamingResponse(
        document, deadline=deadline, media_type=started.writer.media_type
    )
