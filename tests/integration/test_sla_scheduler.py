"""The SLA scheduler and migrations against a real sla database.

- replicas: two schedulers here, and the running service's own, race over the same due
  alarms; each breach is announced exactly once;
- upgrade: timers written before the engine (revision 0001) are converted by 0002 so that
  a replay of their reconstructed history agrees with them and new events move them on.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from sqlalchemy import func, select

from itsm_contracts import CloudEvent, envelope
from itsm_contracts.api.sla import DefinitionBody
from itsm_contracts.events.incidents import IncidentOpened, IncidentStateChanged
from itsm_kit.db import make_engine, make_sessionmaker, outbox
from itsm_kit.outbox import Outbox
from itsm_kit.unit_of_work import UnitOfWork
from itsm_sla import handlers
from itsm_sla.catalog import Catalog
from itsm_sla.domain import timer_id
from itsm_sla.store import TimerRepository, incident_events
from tests.helpers import eventually, fresh_database, service_sessions

pytestmark = pytest.mark.integration


@pytest.fixture
async def sessions(platform):
    async with service_sessions("sla") as sessions:
        yield sessions


def opened(incident_id: str, at: datetime, service: str | None = None, priority: int = 5) -> tuple:
    data = IncidentOpened(incident_id=incident_id, number="INC-T", short_description="sla test", state="new",
                          impact=3, urgency=3, priority=priority, origin="manual", opened_at=at,
                          business_service=service)
    return envelope(data, source="itsm/incidents", subject=incident_id, sequence=1), data


async def test_two_replicas_and_the_service_announce_each_due_breach_exactly_once(sessions):
    service, outbox_ = f"svc-{uuid.uuid4().hex[:8]}", Outbox("itsm/sla")
    body = DefinitionBody(name=f"Replicas {service}", applies_to={"business_services": [service]},
                          resolution={"target": "PT1S"}, warning_thresholds=[])
    definition = await handlers.save_definition(UnitOfWork(sessions, outbox_), body, actor="test")
    ago = datetime.now(UTC) - timedelta(seconds=30)
    incidents = [str(uuid.uuid4()) for _ in range(300)]
    await handlers.take_incident_events(UnitOfWork(sessions, outbox_), Catalog(),
                                        [opened(i, ago, service) for i in incidents])
    timers = [timer_id(i, definition["id"], "resolution", 1) for i in incidents]

    async def replica() -> int:
        taken, catalog = 0, Catalog()
        while True:
            count = await handlers.fire_alarms(UnitOfWork(sessions, outbox_), catalog, datetime.now(UTC), 20)
            if not count:
                return taken
            taken += count

    await asyncio.gather(replica(), replica())

    async def every_breach_announced_once() -> None:
        # The service's scheduler may still hold a batch it locked (ours skipped it) when ours run dry.
        async with sessions() as session:
            announced = (await session.execute(
                select(outbox.c.key, func.count()).where(outbox.c.key.in_(timers),
                                                         outbox.c.payload.contains(b'"type":"itsm.sla.breached"'))
                .group_by(outbox.c.key))).all()
            stored = await TimerRepository(session).for_incidents(incidents)
        assert sorted(announced) == sorted((t, 1) for t in timers)
        mine = [t for listed in stored.values() for t in listed if t.definition_id == definition["id"]]
        assert len(mine) == 300 and all(t.breached and t.notified_percent == 100 and t.next_alarm_at is None
                                        for t in mine)

    await eventually(every_breach_announced_once, timeout=15)


async def test_timers_from_before_the_engine_are_converted_and_run_on(infra):
    url = await fresh_database("itsm_sla_upgrade")

    def migrate(revision: str) -> None:
        subprocess.run([sys.executable, "-m", "itsm_sla", "migrate", "--revision", revision], check=True,
                       env={**os.environ, "ITSM_SLA_DATABASE_URL": url}, stdout=subprocess.DEVNULL)

    migrate("0001")
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    running, done, gone = (str(uuid.uuid4()) for _ in range(3))
    old = [  # (incident, kind, priority, stage, stopped after (minutes), breached)
        (running, "response", 3, "completed", 10, False), (running, "resolution", 3, "in_progress", None, False),
        (done, "response", 1, "completed", 30, True), (done, "resolution", 1, "completed", 300, True),
        (gone, "response", 4, "cancelled", 5, False), (gone, "resolution", 4, "cancelled", 5, False),
    ]
    targets = {(3, "response"): 4, (3, "resolution"): 24, (1, "response"): 0.25, (1, "resolution"): 4,
               (4, "response"): 8, (4, "resolution"): 72}
    db = await asyncpg.connect(url)
    try:
        for incident, kind, priority, stage, stopped, breached in old:
            await db.execute(
                "INSERT INTO timers (id, incident_id, kind, policy, priority, started_at, due_at, stage, stopped_at, "
                "breached, version) VALUES ($1, $2, $3, 'default-24x7', $4, $5, $6, $7, $8, $9, 2)",
                str(uuid.uuid4()), incident, kind, priority, t0, t0 + timedelta(hours=targets[(priority, kind)]),
                stage, t0 + timedelta(minutes=stopped) if stopped is not None else None, breached)
    finally:
        await db.close()
    migrate("head")

    engine = make_engine(url.replace("postgresql://", "postgresql+asyncpg://"))
    sessions_ = make_sessionmaker(engine)
    try:
        async with sessions_() as session:
            stored = await TimerRepository(session).for_incidents([running, done, gone])
            history = (await session.execute(select(func.count()).select_from(incident_events))).scalar()
        converted = {(t.incident_id, t.kind): t for listed in stored.values() for t in listed}
        resolution = converted[(running, "resolution")]
        assert resolution.id == timer_id(running, "default-p3", "resolution", 1)
        assert (resolution.policy, resolution.stage, resolution.due_at) == ("P3 Moderate", "in_progress",
                                                                            t0 + timedelta(days=1))
        assert resolution.next_alarm_at == t0 + timedelta(hours=12)
        assert converted[(done, "resolution")].breached and converted[(done, "resolution")].notified_percent == 100
        assert converted[(gone, "response")].stage == "cancelled"
        assert history == 3 + 5  # an opening per incident, a stop per stopped timer

        # A replay of the reconstructed history agrees with the converted timers...
        started, changed, cancelled = await handlers.repair_incidents(UnitOfWork(sessions_, Outbox("itsm/sla")),
                                                                      Catalog(), [running, done, gone],
                                                                      datetime.now(UTC))
        assert (started, changed, cancelled) == (0, 0, 0)
        # ...and the next event moves them on.
        resolve = IncidentStateChanged(incident_id=running, from_state="in_progress", to_state="resolved",
                                       changed_at=datetime.now(UTC))
        cause: CloudEvent = envelope(resolve, source="itsm/incidents", subject=running, sequence=9)
        written = await handlers.take_incident_events(UnitOfWork(sessions_, Outbox("itsm/sla")), Catalog(),
                                                      [(cause, resolve)])
        assert [(t.kind, t.stage, t.breached) for t in written] == [("resolution", "completed", False)]
    finally:
        await engine.dispose()
