"""Outbox rows: the bytes written for an event are the envelope's, however they are built."""

import asyncio
from datetime import UTC, datetime

from itsm_contracts import CloudEvent, envelope
from itsm_contracts.events.incidents import IncidentUpdated
from itsm_kit import context
from itsm_kit.outbox import Outbox


def test_a_staged_row_is_the_envelope_the_slow_path_builds_byte_for_byte():
    data = IncidentUpdated(incident_id="inc-1", changes={"category": None, "major": True},
                           updated_at=datetime(2026, 11, 25, 9, 0, 0, 123456, tzinfo=UTC))
    cause = CloudEvent(source="itsm/x", type="t", subject="s", dataschema="d", data={}, correlationid="corr-1")
    row = Outbox("itsm/incidents")._row(data, "inc-1", 7, cause)
    staged = CloudEvent.from_json(row["payload"])
    expected = envelope(data, source="itsm/incidents", subject="inc-1", sequence=7, time=staged.time,
                        correlationid="corr-1", causationid=cause.id)
    assert row["payload"] == expected.model_copy(update={"id": staged.id}).to_json()
    assert (row["event_id"], row["topic"], row["key"]) == (staged.id, "itsm.incidents", "inc-1")


def test_without_a_cause_the_row_names_the_request_correlation():
    token = context.correlation_id.set("req-9")
    try:
        data = IncidentUpdated(incident_id="inc-1", changes={}, updated_at=datetime(2026, 1, 1, tzinfo=UTC))
        staged = CloudEvent.from_json(Outbox("itsm/incidents")._row(data, "inc-1", 1, None)["payload"])
    finally:
        context.correlation_id.reset(token)
    assert staged.correlationid == "req-9" and staged.causationid is None and staged.time.tzinfo is not None


def test_driver_errors_read_as_sqlalchemy_ones():
    import asyncpg
    from sqlalchemy import exc as sa_exc

    from itsm_kit.consumer import is_outage
    from itsm_kit.db import driver_error

    dropped = driver_error(asyncpg.exceptions.ConnectionDoesNotExistError("gone"), "COPY outbox")
    shutdown = driver_error(asyncpg.exceptions.AdminShutdownError("bye"), "COPY outbox")
    duplicate = driver_error(asyncpg.exceptions.UniqueViolationError("dup"), "COPY outbox")
    assert is_outage(dropped) and is_outage(shutdown)
    assert isinstance(duplicate, sa_exc.IntegrityError) and not is_outage(duplicate)
    assert not is_outage(driver_error(asyncpg.exceptions.DataError("bad"), "COPY outbox"))


def test_only_what_kafka_says_of_a_record_itself_counts_against_its_outbox_row():
    from aiokafka.errors import (
        KafkaConnectionError, KafkaTimeoutError, MessageSizeTooLargeError, NotLeaderForPartitionError,
        RecordListTooLargeError, TopicAuthorizationFailedError,
    )

    from itsm_kit.outbox import refused

    assert refused(MessageSizeTooLargeError()) and refused(RecordListTooLargeError())
    # an outage or a setup mistake holds every row alike: none of them is set aside for it
    for outage in (KafkaConnectionError(), KafkaTimeoutError(), NotLeaderForPartitionError(),
                   TopicAuthorizationFailedError()):
        assert not refused(outage)


class Relay:
    def __init__(self) -> None:
        self.woken_by: list[str] = []

    def wake(self) -> None:
        self.woken_by.append(asyncio.current_task().get_name())


async def test_a_commit_wakes_the_relay_only_from_the_task_that_staged_events(monkeypatch):
    async def staged_nowhere(session, table, rows) -> None:
        pass

    monkeypatch.setattr("itsm_kit.outbox.insert_rows", staged_nowhere)
    staging = Outbox("itsm/incidents")
    staging.relay = relay = Relay()

    async def unit_of_work(name: str, *, stages: bool, commits_after: float) -> None:
        asyncio.current_task().set_name(name)
        if stages:
            data = IncidentUpdated(incident_id=name, changes={}, updated_at=datetime(2026, 1, 1, tzinfo=UTC))
            await staging.add_many(None, [(name, [(1, data)], None)])
        await asyncio.sleep(commits_after)
        staging.committed()

    # staged-1 commits last; idle-1, which staged nothing, commits first and must not wake the relay then (its pass
    # would find nothing yet, and nothing would wake it again); idle-2 commits after staged-2 and wakes nothing.
    await asyncio.gather(unit_of_work("staged-1", stages=True, commits_after=0.05),
                         unit_of_work("idle-1", stages=False, commits_after=0),
                         unit_of_work("staged-2", stages=True, commits_after=0.01),
                         unit_of_work("idle-2", stages=False, commits_after=0.02))
    assert relay.woken_by == ["staged-2", "staged-1"]
