"""The job store: job rows, their phase transitions, their queue entries and their clean-up.

Every kind of job (TAP async queries in ``isla_ops.uws_jobs``, ingestions in
``isla_ops.ingest_jobs``) is one row whose phase column says where it stands, plus, while it
waits or runs, one entry in the procrastinate queue (:mod:`shared.jobs.queue`). A
:class:`JobStore` describes one such table and is the only code that writes it:

- **creation and queueing in one transaction** (:meth:`JobStore.create`,
  :meth:`JobStore.enqueue`): a job is never waiting without a queue entry, nor queued twice;
- **phase changes by compare-and-set** (:meth:`JobStore.move`): an UPDATE whose WHERE clause
  holds the phases the kind's transition table allows to reach the new one, so that the
  service and a worker never overwrite each other (an ABORT that lands while the worker
  finishes wins, and the worker then discards its result);
- **lost and expired jobs** (:meth:`JobStore.lost`, :meth:`JobStore.expired`): waiting jobs
  whose queue entry is gone (a worker stopped after its grace time) and jobs past their
  destruction time;
- **error classification** (:func:`classify`): what a failed job reports, in the archive's
  one error family (:mod:`shared.vo.errors`): usage (the job's own fault), transient (may
  work if run again) or fatal.

Statements are SQLAlchemy Core built from the table, so they run on the services' async
connections and on a worker's synchronous ones alike (``*_statement`` methods).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from sqlalchemy import (
    Delete,
    Select,
    Table,
    Text,
    Update,
    cast,
    column,
    delete,
    exists,
    select,
    table,
    update,
)
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.db.ops import OPS_SCHEMA
from shared.jobs.queue import defer_in_transaction
from shared.vo.errors import FatalFault, TransientFault, UsageFault, VOError

log = logging.getLogger("isla.jobs")

QUEUE_ENTRIES = table("procrastinate_jobs", column("id"), column("status"), schema=OPS_SCHEMA)
"""procrastinate's job table, as far as the store reads it (an entry's id and status)."""


class IllegalTransitionError(ValueError):
    """A phase change the kind's transition table does not allow (a bug in the caller)."""


@dataclass(frozen=True)
class JobKind:
    """What a store needs to know about one kind of job.

    ``transitions``: for each phase, the phases a job may move to from it; a phase absent
    from the keys is final. ``waiting``: phases in which the job must have a live queue
    entry (what :meth:`JobStore.lost` looks for).
    """

    table: Table
    key: str
    phase: str
    transitions: Mapping[str, frozenset[str]]
    waiting: frozenset[str]
    queue: str
    lock_prefix: str = ""

    def sources(self, target: str) -> list[str]:
        """The phases from which a job may move to ``target``."""
        found = [p for p, nexts in self.transitions.items() if target in nexts]
        if not found:
            raise IllegalTransitionError(f"no phase of {self.table.name} leads to {target}")
        return found

    def final(self, phase: str) -> bool:
        """Whether ``phase`` is final (no transition leaves it)."""
        return not self.transitions.get(phase)


class JobStore:
    """The rows of one kind of job; every write goes through here."""

    def __init__(self, kind: JobKind) -> None:
        """A store for ``kind``."""
        self.kind = kind
        self.table = kind.table
        self._key = kind.table.c[kind.key]
        self._phase = kind.table.c[kind.phase]

    # statements (for async and sync connections alike)

    def get_statement(self, job_id: Any, columns: Sequence[str] = ()) -> Select[Any]:
        """SELECT the job's row (only ``columns``, when given)."""
        wanted = [self.table.c[name] for name in columns] if columns else [self.table]
        return select(*wanted).where(self._key == job_id)

    def move_statement(
        self, job_id: Any, target: str, *, only: Iterable[str] | None = None, **values: Any
    ) -> Update:
        """UPDATE to ``target`` if the job is in a phase allowed to reach it.

        ``only`` narrows the allowed phases further (a worker finishing a job accepts only
        EXECUTING, even where the table would allow more).
        """
        sources = set(self.kind.sources(target))
        if only is not None:
            wanted = set(only)
            if not wanted <= sources:
                raise IllegalTransitionError(
                    f"{sorted(wanted - sources)} cannot move to {target} in {self.table.name}"
                )
            sources = wanted
        return (
            update(self.table)
            .where(self._key == job_id, self._phase.in_(sorted(sources)))
            .values({self.kind.phase: target, **values})
        )

    def change_statement(self, job_id: Any, phases: Iterable[str], **values: Any) -> Update:
        """UPDATE fields other than the phase while the job is in one of ``phases``."""
        if self.kind.phase in values:
            raise IllegalTransitionError("phase changes go through move()")
        return (
            update(self.table)
            .where(self._key == job_id, self._phase.in_(list(phases)))
            .values(**values)
        )

    def delete_statement(self, job_id: Any) -> Delete:
        """DELETE the job's row."""
        return delete(self.table).where(self._key == job_id)

    # async operations

    async def get(self, conn: AsyncConnection, job_id: Any) -> RowMapping | None:
        """The job's row, or None."""
        return (await conn.execute(self.get_statement(job_id))).mappings().first()

    async def create(self, conn: AsyncConnection, **values: Any) -> Any:
        """Insert a job; return its key (given or generated)."""
        result = await conn.execute(self.table.insert().values(**values).returning(self._key))
        return result.scalar_one()

    async def move(
        self,
        conn: AsyncConnection,
        job_id: Any,
        target: str,
        *,
        only: Iterable[str] | None = None,
        **values: Any,
    ) -> bool:
        """Compare-and-set the phase (see :meth:`move_statement`); True when it moved."""
        result = await conn.execute(self.move_statement(job_id, target, only=only, **values))
        return bool(result.rowcount)

    async def change(
        self, conn: AsyncConnection, job_id: Any, phases: Iterable[str], **values: Any
    ) -> bool:
        """Change fields while the job is in one of ``phases``; True when it was."""
        result = await conn.execute(self.change_statement(job_id, phases, **values))
        return bool(result.rowcount)

    async def enqueue(self, conn: AsyncConnection, job_id: Any, task: Any, /, **kwargs: Any) -> int:
        """Add the queue entry that runs ``job_id`` with ``task``, in the caller's transaction,
        and record its id on the row. Call it in the transaction that made the job wait."""
        queue_id = await defer_in_transaction(
            conn, task, lock=f"{self.kind.lock_prefix}{job_id}", queue=self.kind.queue, **kwargs
        )
        await conn.execute(
            update(self.table).where(self._key == job_id).values(queue_job_id=queue_id)
        )
        return queue_id

    async def lost(self, conn: AsyncConnection) -> list[Any]:
        """Waiting jobs without a live queue entry, locked for the caller's transaction
        (``SKIP LOCKED``: two sweeps never take the same job)."""
        queue = QUEUE_ENTRIES
        # The status is procrastinate's own enum type: compared as text.
        live = exists().where(
            queue.c.id == self.table.c.queue_job_id,
            cast(queue.c.status, Text).in_(("todo", "doing")),
        )
        query = (
            select(self._key)
            .where(self._phase.in_(sorted(self.kind.waiting)), ~live)
            .with_for_update(of=self.table, skip_locked=True)
        )
        return list((await conn.execute(query)).scalars())

    async def expired(self, conn: AsyncConnection, column: str, now: dt.datetime) -> list[Any]:
        """Keys of the jobs whose ``column`` (a destruction time) has passed."""
        query = select(self._key).where(self.table.c[column] <= now)
        return list((await conn.execute(query)).scalars())

    async def delete(self, conn: AsyncConnection, job_id: Any) -> bool:
        """Delete the job's row; True when there was one."""
        return bool((await conn.execute(self.delete_statement(job_id))).rowcount)


def transitions(table: Mapping[str, Collection[str]]) -> dict[str, frozenset[str]]:
    """A transition table with frozen sets (for :class:`JobKind`)."""
    return {phase: frozenset(nexts) for phase, nexts in table.items()}


UNAVAILABLE = (OSError, OperationalError, psycopg.OperationalError, ConnectionError)
"""Exceptions that mean a dependency (the database, the object store) went away."""


def classify(
    exc: BaseException, what: str = "the job", usage: tuple[type[BaseException], ...] = ()
) -> VOError:
    """The archive error a job that raised ``exc`` reports.

    Errors of the family pass as they are; ``usage``: exception types by which the code a job
    runs refuses the job's own input (their message is for the user); a lost dependency is
    transient (running the job again may work); anything else is a fault of the service,
    logged here with its trace, and reported without internals.
    """
    if isinstance(exc, VOError):
        return exc
    if isinstance(exc, UNAVAILABLE) or (isinstance(exc, DBAPIError) and exc.connection_invalidated):
        log.warning("%s lost a dependency: %s", what, exc)
        return TransientFault(f"{what} failed because a service was unavailable; run it again")
    if usage and isinstance(exc, usage):
        return UsageFault(str(exc))
    log.error("%s failed", what, exc_info=exc)
    return FatalFault(f"{what} failed in the service; the error has been logged")


__all__ = [
    "IllegalTransitionError",
    "JobKind",
    "JobStore",
    "classify",
    "transitions",
]
