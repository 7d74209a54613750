"""The consumer's handler for dispatch decisions (itsm.record.dispatched) in the service owning the records: a run of
decisions applied through each record's own `take_dispatch(decision, at)` (which keeps itsm_kit.dispatch's rule)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from itsm_contracts import CloudEvent
from itsm_contracts.events.requests import RecordDispatched
from itsm_kit.clock import utcnow
from itsm_kit.records import AggregateRepository
from itsm_kit.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)


async def decisions_taken(uow: UnitOfWork, run: Sequence[tuple[CloudEvent, RecordDispatched]], *, record_type: str,
                          repository: type[AggregateRepository[Any]]) -> None:
    """The decisions for this service's `record_type`, in the run's order: each record (locked) takes its decision
    unless someone assigned it meanwhile. Other records' decisions, and records this service does not have, are
    skipped."""
    decisions = [(cause, d) for cause, d in run if d.record_type == record_type]
    if not decisions:
        return
    async with uow:
        repo = repository(uow.session)
        records = await repo.get_many(sorted({d.record_id for _, d in decisions}), for_update=True)
        changed: dict[str, Any] = {}
        for cause, decision in decisions:
            if (record := records.get(decision.record_id)) is None:
                log.info("a dispatch decision names an unknown record; skipped",
                         extra={"record_type": record_type, "record_id": decision.record_id})
                continue
            if record.take_dispatch(decision, utcnow()):
                changed[record.id] = record
                uow.add(record)
                uow.caused_by(cause)
        await repo.save_many(list(changed.values()))
        await uow.commit()
