"""A brake on password guessing at ``/login``: per user name and per client address.

After ``ISLA_LOGIN_MAX_FAILURES`` failed logins for one user name (or four times as many from
one client address, which catches one guesser trying many names), ``/login`` answers 429 with
``Retry-After`` for ``ISLA_LOGIN_BACKOFF`` seconds, doubled at each further failure up to an
hour, without looking at the password: a refused attempt costs no Argon2 work and tells
nothing. A successful login clears its user name's count; an address's count is cleared once
it stays quiet for the longest back-off. The same answer for known and unknown names keeps
the brake from revealing which exist.

The counts live in the process. A tap service run as N processes or replicas lets a guesser N
times the attempts, which stays small next to the space of a ten-character password; a shared
store (Postgres or Redis) is the step after, should an archive need it.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import Counter

from shared.settings import observability_settings

ADDRESS_FACTOR = 4
"""Failures allowed per client address, as a multiple of those per user name."""

MAX_BACKOFF = 3600.0
"""Longest refusal (seconds), however many failures."""

TRACKED = 10_000
"""Most user names and addresses remembered at once (the least recently failed are forgotten),
so that a flood of made-up names cannot grow the process without bound."""

THROTTLED = Counter(
    "isla_login_throttled",
    "Logins refused by the brute-force throttle (429), by what reached its limit.",
    ["reason"],
)


@dataclass
class _Failures:
    count: int = 0
    last: float = 0.0
    blocked_until: float = 0.0


class LoginThrottle:
    """Failed-login counts with exponential back-off, per user name and per client address."""

    def __init__(
        self,
        max_failures: int,
        backoff: float,
        clock: Callable[[], float] = time.monotonic,
        tracked: int = TRACKED,
    ) -> None:
        """``max_failures`` per user name (``ADDRESS_FACTOR`` times that per address),
        then ``backoff`` seconds doubled per further failure; ``clock`` in seconds."""
        self.max_failures = max_failures
        self.backoff = backoff
        self.clock = clock
        self.tracked = tracked
        self._entries: OrderedDict[str, _Failures] = OrderedDict()
        self._lock = threading.Lock()

    def _limit(self, key: str) -> int:
        return self.max_failures * (ADDRESS_FACTOR if key.startswith("addr:") else 1)

    def _entry(self, key: str, now: float) -> _Failures | None:
        entry = self._entries.get(key)
        if entry is not None and now - entry.last > MAX_BACKOFF and now >= entry.blocked_until:
            del self._entries[key]  # quiet for long enough: forgiven
            return None
        return entry

    def retry_after(self, user: str, address: str) -> tuple[int, str] | None:
        """Seconds to wait and what is blocked (``user`` or ``address``), or None to go on."""
        now = self.clock()
        with self._lock:
            for key, reason in ((f"user:{user}", "user"), (f"addr:{address}", "address")):
                entry = self._entry(key, now)
                if entry is not None and entry.blocked_until > now:
                    return math.ceil(entry.blocked_until - now), reason
        return None

    def failed(self, user: str, address: str) -> None:
        """Count a failed login; past the limit, block for the (growing) back-off."""
        now = self.clock()
        with self._lock:
            for key in (f"user:{user}", f"addr:{address}"):
                entry = self._entry(key, now) or _Failures()
                entry.count += 1
                entry.last = now
                over = entry.count - self._limit(key)
                if over >= 0:
                    entry.blocked_until = now + min(MAX_BACKOFF, self.backoff * 2**over)
                self._entries[key] = entry
                self._entries.move_to_end(key)
            while len(self._entries) > self.tracked:
                self._entries.popitem(last=False)

    def succeeded(self, user: str) -> None:
        """A correct password: the user name starts afresh (its address keeps its count)."""
        with self._lock:
            self._entries.pop(f"user:{user}", None)


_throttle: LoginThrottle | None = None


def login_throttle() -> LoginThrottle:
    """The process's throttle, built from the settings at first use."""
    global _throttle
    if _throttle is None:
        settings = observability_settings()
        _throttle = LoginThrottle(settings.login_max_failures, settings.login_backoff)
    return _throttle


def refused(reason: str) -> None:
    """Count a refusal (``isla_login_throttled_total``)."""
    THROTTLED.labels(reason).inc()


__all__ = ["LoginThrottle", "login_throttle", "refused"]
