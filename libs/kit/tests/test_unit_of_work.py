"""The unit of work's bookkeeping of causes, without a database: which event caused what each aggregate raised."""

from dataclasses import dataclass, field

from itsm_kit.outbox import Outbox
from itsm_kit.unit_of_work import UnitOfWork


@dataclass
class Counter:
    """An aggregate that counts how often its raised events are looked at."""

    id: str
    raised: list = field(default_factory=list)
    looked_at: int = 0

    @property
    def events(self) -> list:
        self.looked_at += 1
        return self.raised


class Cause:
    def __init__(self, name: str):
        self.id = name


def unit() -> UnitOfWork:
    return UnitOfWork(None, Outbox("itsm/test"), session=object())  # joined: no session is opened


def test_each_cause_claims_what_the_aggregates_added_for_it_raised():
    uow, first, second = unit(), Counter("a"), Counter("b")
    first.raised.append((1, "opened"))
    uow.add(first)
    uow.caused_by(Cause("alert-1"))
    second.raised.append((1, "opened"))
    first.raised.append((2, "repeated"))
    uow.add(second, first)  # the second alert repeats the first's: added again
    uow.caused_by(Cause("alert-2"))

    assert sorted((aggregate_id, events, cause.id) for aggregate_id, events, cause in uow._raised) == [
        ("a", [(1, "opened")], "alert-1"), ("a", [(2, "repeated")], "alert-2"), ("b", [(1, "opened")], "alert-2")]


def test_naming_a_cause_looks_only_at_the_aggregates_added_since_the_last():
    """A run of 500 events names 500 causes: each must not look at every aggregate the run touched before it."""
    uow = unit()
    aggregates = [Counter(f"incident-{n}") for n in range(200)]
    for n, aggregate in enumerate(aggregates):
        aggregate.raised.append((1, "opened"))
        uow.add(aggregate)
        uow.caused_by(Cause(f"alert-{n}"))

    assert max(a.looked_at for a in aggregates) == 1
    assert len(uow._raised) == 200


async def test_what_no_cause_claimed_commits_without_one():
    uow, aggregate = unit(), Counter("a")
    uow.add(aggregate)
    uow.caused_by(Cause("alert-1"))
    aggregate.raised.append((1, "changed later"))  # not added again before the next cause

    uow.caused_by(Cause("alert-2"))
    staged = []

    async def add_many(session, raised):
        staged.extend(raised)

    uow.outbox.add_many = add_many
    await uow.flush()

    assert [(aggregate_id, events, cause) for aggregate_id, events, cause in staged] == [
        ("a", [(1, "changed later")], None)]
