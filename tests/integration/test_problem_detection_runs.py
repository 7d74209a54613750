"""Detection as the problems service's consumer applies runs of itsm.incidents (its handler on a fresh database):
runs of different partitions arrive in any order, and each must see what the others brought."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from itsm_contracts import envelope
from itsm_contracts.events.incidents import IncidentOpened
from itsm_kit.unit_of_work import UnitOfWork
from tests.helpers import problems_unit_of_work

pytestmark = pytest.mark.integration

T0 = datetime.now(UTC) - timedelta(minutes=10)


@pytest.fixture
async def uow(infra):
    async with problems_unit_of_work("itsm_problems_detection_runs") as unit:
        yield unit


def opened(n: int, ci: str, **fields) -> tuple:
    incident_id = str(uuid.uuid4())
    data = IncidentOpened(incident_id=incident_id, number=f"INC{n:07d}", short_description=f"down {n}", state="new",
                          impact=3, urgency=3, priority=5, origin="monitoring", opened_at=T0 + timedelta(seconds=n),
                          affected_ci=ci, **fields)
    return envelope(data, source="itsm/incidents", subject=incident_id, sequence=1), data


async def apply(uow: UnitOfWork, run: list[tuple]) -> None:
    """One consumer transaction applying a run, as runtime.batched does."""
    from itsm_problems import handlers

    async with uow._sessions() as session, session.begin():
        await handlers.incidents_changed(UnitOfWork(None, uow.outbox, timeline=uow._timeline, session=session), run)


async def detected(uow: UnitOfWork, ci: str) -> list[tuple[str, list[str]]]:
    from sqlalchemy import select

    from itsm_problems.store import problems

    async with uow:
        rows = await uow.session.execute(select(problems.c.id, problems.c.related_incidents)
                                         .where(problems.c.detected_value == ci))
        return [(r[0], sorted(r[1])) for r in rows.all()]


async def test_earlier_incidents_applied_after_later_ones_join_the_problem_those_opened(uow):
    ci = "db-late"
    early, late = [opened(n, ci) for n in (1, 2)], [opened(n, ci) for n in (3, 4, 5)]
    await apply(uow, late)  # another partition's run got there first: 3 on the CI, the shipped rule's threshold
    [(problem_id, linked)] = await detected(uow, ci)
    assert linked == sorted(d.incident_id for _, d in late)
    await apply(uow, early)
    assert await detected(uow, ci) == [(problem_id, sorted(d.incident_id for _, d in [*early, *late]))]


async def test_a_storm_in_one_run_opens_one_problem_and_a_replay_opens_none(uow):
    ci = "db-storm"
    storm = [opened(n, ci) for n in range(40)]
    await apply(uow, storm)
    [(problem_id, linked)] = await detected(uow, ci)
    assert linked == sorted(d.incident_id for _, d in storm)
    replay = [(envelope(d, source="itsm/incidents", subject=d.incident_id, sequence=1), d) for _, d in storm]
    await apply(uow, replay)
    assert await detected(uow, ci) == [(problem_id, linked)]


async def test_children_and_canceled_incidents_are_not_counted(uow):
    ci = "db-children"
    parent = opened(1, ci)
    children = [opened(n, ci, parent_id=parent[1].incident_id) for n in (2, 3, 4)]
    await apply(uow, [parent, *children])
    assert await detected(uow, ci) == []


async def test_the_incident_copy_is_pruned_past_its_retention_with_its_suggestions(uow):
    from sqlalchemy import func, select

    from itsm_problems import handlers
    from itsm_problems.store import incident_observations, link_suggestions

    years_ago = [(event, data.model_copy(update={"opened_at": T0 - timedelta(days=800)}))
                 for event, data in (opened(n, "db-old") for n in (1, 2))]
    recent = opened(3, "db-old")
    await apply(uow, [*years_ago, recent])
    problem = await handlers.open_problem(uow, short_description="disk full", description="", impact=3, urgency=3)
    async with uow:
        await uow.session.execute(link_suggestions.insert().values(
            incident_id=years_ago[0][1].incident_id, problem_id=problem.id, score=0.5, suggested_at=T0))
        await uow.commit()

    cutoff = T0 - timedelta(days=730)
    assert await handlers.prune_observations(uow, cutoff, batch_size=1) == 1  # batches: the job runs them all
    assert await handlers.prune_observations(uow, cutoff, batch_size=10) == 1
    assert await handlers.prune_observations(uow, cutoff, batch_size=10) == 0
    async with uow:
        left = (await uow.session.scalars(select(incident_observations.c.id)
                                          .where(incident_observations.c.affected_ci == "db-old"))).all()
        suggestions = await uow.session.scalar(select(func.count()).select_from(link_suggestions)
                                               .where(link_suggestions.c.incident_id == years_ago[0][1].incident_id))
    assert left == [recent[1].incident_id] and suggestions == 0
