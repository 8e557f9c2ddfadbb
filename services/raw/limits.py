"""Fairness: a cap on concurrent bulk downloads per client address."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator


class TooManyStreamsError(RuntimeError):
    """The client already runs as many bulk downloads as allowed (HTTP 429)."""


class StreamLimiter:
    """Counts open bulk streams per client in this process.

    Counters only change on the event loop thread, so no lock is needed. Behind several
    replicas each enforces its own share; the Ingress or proxy can add a global limit.
    """

    def __init__(self) -> None:
        """Start with no open streams."""
        self.open: Counter[str] = Counter()

    def acquire(self, client: str, limit: int) -> None:
        """Count one more stream for ``client`` or refuse it."""
        if self.open[client] >= limit:
            raise TooManyStreamsError(
                f"{client} already has {self.open[client]} bulk downloads running (limit {limit}); "
                "wait for one to finish, or use the download script, which fetches one ScW per "
                "request"
            )
        self.open[client] += 1

    def release(self, client: str) -> None:
        """Forget one stream of ``client``."""
        self.open[client] -= 1
        if self.open[client] <= 0:
            del self.open[client]

    async def guard(self, client: str, body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """Pass ``body`` through and release the slot however the stream ends."""
        try:
            async for chunk in body:
                yield chunk
        finally:
            self.release(client)
