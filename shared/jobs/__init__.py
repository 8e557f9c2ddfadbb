"""Jobs: the queue that runs them (:mod:`.queue`) and the store of their rows (:mod:`.store`).

A new kind of job describes its table with a :class:`~shared.jobs.store.JobKind` (with its
table of allowed phase transitions), writes its rows only through a
:class:`~shared.jobs.store.JobStore`, defines its tasks on :data:`~shared.jobs.queue.app` in
its service's ``tasks`` module, and has that module imported by the worker's entry point.
"""

from shared.jobs.queue import app, conninfo, defer_in_transaction

__all__ = ["app", "conninfo", "defer_in_transaction"]
