"""Keep what ``isla up`` started alive: restart a dead child with back-off, and say so.

``isla up`` runs four kinds of process. The web workers are uvicorn's own children, and
uvicorn's process manager already restarts a dead one (``uvicorn.supervisors.Multiprocess``).
The rest are watched here: the job worker (``isla worker``), the embedded Postgres (a server
``pg_ctl`` started in the background, not a child) and the embedded SeaweedFS.

Why not a supervisor daemon (supervisord, circus)? They run their programs from a
configuration file as a separate daemon with its own control socket, while the launcher
must start Postgres and S3 *before* it knows the URLs it hands to the rest, must pick free
ports at run time, and must stop everything on Ctrl-C or ``isla down`` as one unit. What is
left to do is a small loop: poll each component once a second, restart what died with an
exponential back-off, and record every restart in ``.isla/runtime.json`` (``restarts``), which
``isla status`` prints.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("isla.launcher")

BACKOFF_FIRST = 1.0
"""Seconds before the first restart of a component that died."""
BACKOFF_LONGEST = 30.0
"""Longest wait between restarts of a component that keeps dying (the pause doubles)."""
STEADY_AFTER = 60.0
"""Seconds a restarted component must stay up before its back-off starts over."""
POLL = 1.0
"""Seconds between looks at the components."""


@dataclass
class Component:
    """One supervised component: how to tell it is alive, and how to start it again.

    ``restart`` returns a short description of what it started (e.g. ``pid 1234``).
    """

    name: str
    alive: Callable[[], bool]
    restart: Callable[[], str]
    restarts: int = 0
    down_since: float | None = None
    next_try: float = 0.0
    pause: float = BACKOFF_FIRST
    up_since: float = field(default_factory=time.monotonic)


class Supervisor:
    """Watch components in a background thread; restart the dead ones with back-off."""

    def __init__(
        self,
        record: Callable[[dict[str, Any]], None],
        say: Callable[[str], None],
        poll: float = POLL,
    ) -> None:
        """``record`` receives the restart history after each restart (for runtime.json)."""
        self._components: list[Component] = []
        self._record = record
        self._say = say
        self._poll = poll
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.history: list[dict[str, Any]] = []

    def watch(self, name: str, alive: Callable[[], bool], restart: Callable[[], str]) -> None:
        """Supervise one more component (call before :meth:`start`)."""
        self._components.append(Component(name, alive, restart))

    def start(self) -> None:
        """Start watching."""
        self._thread = threading.Thread(target=self._run, name="isla-supervisor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop watching (before the components are stopped, so none is restarted then)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=120)

    def _run(self) -> None:
        while not self._stop.wait(self._poll):
            for component in self._components:
                if self._stop.is_set():
                    return
                try:
                    self.check(component)
                except Exception:  # one broken check must not end supervision of the others
                    log.exception("supervising %s failed", component.name)

    def check(self, component: Component) -> None:
        """Look at one component once; restart it when dead and its back-off has passed."""
        now = time.monotonic()
        if component.alive():
            if component.down_since is None and now - component.up_since > STEADY_AFTER:
                component.pause = BACKOFF_FIRST
            component.down_since = None
            return
        if component.down_since is None:
            component.down_since = now
            component.next_try = now + component.pause
            self._say(f"{component.name} stopped; restarting it in {component.pause:.0f} s")
            return
        if now < component.next_try:
            return
        try:
            what = component.restart()
        except Exception as exc:
            component.pause = min(component.pause * 2, BACKOFF_LONGEST)
            component.next_try = time.monotonic() + component.pause
            self._say(
                f"restarting {component.name} failed ({exc}); next try in {component.pause:.0f} s"
            )
            return
        component.restarts += 1
        component.down_since = None
        component.up_since = time.monotonic()
        component.pause = min(component.pause * 2, BACKOFF_LONGEST)
        self.history.append(
            {
                "component": component.name,
                "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "started": what,
                "restarts": component.restarts,
            }
        )
        self._say(f"{component.name} restarted ({what})")
        self._record({"restarts": self.history[-50:]})


__all__ = ["Component", "Supervisor"]
