"""The unit of work: one transaction, the outbox, and the aggregates a use case touched.

A handler opens it, loads aggregates through repositories on `uow.session`, applies the
command, saves them, `add`s them, and commits. Commit stages what each added aggregate
raised (its events, and its timeline lines where the service keeps a timeline), clears
them there, commits once and wakes the outbox relay. Routes only hand the unit of work
to a handler; they never see a session.

Inside an event consumer the transaction is the consumer's (its inbox row commits with
the effects), so a unit of work made on that session joins it: commit stages, the
consumer commits.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Protocol, Self, TypeVar

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from itsm_contracts import CloudEvent
from itsm_kit.outbox import Outbox

log = logging.getLogger(__name__)
T = TypeVar("T")


class Aggregate(Protocol):
    """What the unit of work needs of an aggregate (the domain's RaisesEvents gives the rest)."""

    id: str
    events: list


# Writes timeline lines, (aggregate id, lines) each, in the unit's transaction.
TimelineWriter = Callable[[AsyncSession, Sequence[tuple[str, list]]], Awaitable[None]]


class UnitOfWork:
    def __init__(self, sessions: async_sessionmaker[AsyncSession] | None, outbox: Outbox, *,
                 timeline: TimelineWriter | None = None, session: AsyncSession | None = None):
        self._sessions = sessions
        self._joined = session  # a transaction its owner commits (the consumer's)
        self.outbox = outbox
        self._timeline = timeline
        self.session: AsyncSession = session  # type: ignore[assignment]  (set on entering)
        self._touched: dict[int, Aggregate] = {}
        self._since: dict[int, Aggregate] = {}  # added since the last caused_by
        self._raised: list[tuple[str, list, CloudEvent | None]] = []

    async def __aenter__(self) -> Self:
        if self._joined is None:
            self.session = self._sessions()
            await self.session.begin()
        self._touched, self._since, self._raised = {}, {}, []
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        """Whatever was not committed is rolled back; a second `async with` starts afresh."""
        if self._joined is None:
            await self.session.close()

    def add(self, *aggregates: Aggregate) -> None:
        """Aggregates whose events and timeline lines commit with this unit (adding twice is once)."""
        for aggregate in aggregates:
            self._touched.setdefault(id(aggregate), aggregate)
            self._since.setdefault(id(aggregate), aggregate)

    def caused_by(self, cause: CloudEvent | None) -> None:
        """What the aggregates added (or added again) since the last call raised was caused by `cause` (an event
        this unit handles): add what a cause changed, then name it. Only those are looked at: a consumer's run
        names a cause per event, and looking at every aggregate of the run each time was quadratic in its length.
        Events not claimed by a cause name the request's correlation id."""
        self._claim(self._since.values(), cause)
        self._since = {}

    def _claim(self, aggregates: Iterable[Aggregate], cause: CloudEvent | None) -> None:
        for aggregate in aggregates:
            if events := aggregate.events:
                self._raised.append((aggregate.id, list(events), cause))
                events.clear()

    async def flush(self) -> None:
        """Stage the added aggregates' events and timeline lines in the transaction, in the order raised."""
        self._claim(self._touched.values(), None)  # anything raised and not claimed, whenever it was added
        self._since = {}
        if lines := [(a.id, a.activity) for a in self._touched.values() if getattr(a, "activity", None)]:
            if self._timeline is None:  # a unit made without its service's writer: never drop the lines
                raise RuntimeError("aggregates keep timeline lines, but this unit of work has no timeline writer")
            await self._timeline(self.session, lines)
            for _, written in lines:
                written.clear()
        if self._raised:
            raised, self._raised = self._raised, []
            await self.outbox.add_many(self.session, raised)

    async def commit(self) -> None:
        await self.flush()
        if self._joined is None:
            await self.session.commit()
            self.outbox.committed()


class Contended(Exception):
    """Another writer changed what this transaction read: it must run again."""


RETRIED_STATES = {"23505", "40001", "40P01"}  # unique violation, serialization failure, deadlock
ATTEMPTS = 5


def clashed(exc: BaseException) -> bool:
    """Whether the transaction failed only because another writer got there first."""
    if isinstance(exc, Contended | IntegrityError):
        return True
    if isinstance(exc, DBAPIError):
        orig = exc.orig
        return any(getattr(e, "sqlstate", None) in RETRIED_STATES for e in (orig, getattr(orig, "__cause__", None)))
    return False


async def retrying(work: Callable[[], Awaitable[T]], attempts: int = ATTEMPTS) -> T:
    """`work` (a handler that opens and commits its unit of work) run again, a few times after a
    short random pause, when it clashed with another writer."""
    for attempt in range(1, attempts + 1):
        try:
            return await work()
        except Exception as exc:
            if attempt == attempts or not clashed(exc):
                raise
            log.info("write clashed with another; running it again", extra={"attempt": attempt, "error": str(exc)})
            await asyncio.sleep(random.uniform(0, 0.05 * attempt))
    raise AssertionError("unreachable")
