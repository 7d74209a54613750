"""Definitions and calendars between their stored form (the API body, JSON) and the domain's.

A version once written never changes, so the Catalog keeps every version it has parsed for
the life of the process; only "which version is the latest" is read again, per use.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from itsm_contracts.api.sla import CalendarBody, DefinitionBody
from itsm_contracts.api.sla import Goal as GoalPublic
from itsm_sla.domain import Calendar, Definition, Goal, Library, Timer
from itsm_sla.domain.definitions import KINDS, AppliesTo
from itsm_sla.store import CatalogRepository


def definition_of(definition_id: str, version: int, body: DefinitionBody) -> Definition:
    """The domain definition a body describes; conditions left out take their kind's defaults."""
    goals = []
    for kind in KINDS:
        spec = getattr(body, kind)
        if spec is not None:
            conditions = spec.model_dump(exclude={"target"})
            goals.append(Goal.create(kind, spec.target, **conditions))
    applies = body.applies_to
    return Definition.create(
        id=definition_id, version=version, name=body.name, description=body.description, active=body.active,
        goals=goals, calendar_id=body.calendar_id, thresholds=body.warning_thresholds,
        escalation_group=body.escalation_group,
        applies_to=AppliesTo(priorities=frozenset(applies.priorities),
                             business_services=frozenset(applies.business_services),
                             categories=frozenset(applies.categories), ci_classes=frozenset(applies.ci_classes)),
    )


def body_of(definition: Definition) -> dict[str, Any]:
    """What is stored: every condition spelled out, so a change of defaults never changes a version."""
    goals = {g.kind: GoalPublic(target=g.target, start_states=sorted(g.start_states),
                                pause_states=sorted(g.pause_states), stop_states=sorted(g.stop_states),
                                stop_on_assignment=g.stop_on_assignment, on_reopen=g.on_reopen,
                                reset_on_reassignment=g.reset_on_reassignment,
                                retroactive_start=g.retroactive_start).model_dump(mode="json")
             for g in definition.goals}
    a = definition.applies_to
    return {
        "name": definition.name, "description": definition.description, "active": definition.active,
        "applies_to": {"priorities": sorted(a.priorities), "business_services": sorted(a.business_services),
                       "categories": sorted(a.categories), "ci_classes": sorted(a.ci_classes)},
        "response": goals.get("response"), "resolution": goals.get("resolution"),
        "calendar_id": definition.calendar_id, "warning_thresholds": list(definition.thresholds),
        "escalation_group": definition.escalation_group,
    }


def calendar_of(body: CalendarBody) -> Calendar:
    return Calendar.create(body.timezone, {day: [(w.start, w.end) for w in windows]
                                           for day, windows in body.hours.items()},
                           [h.date for h in body.holidays])


def calendar_body(body: CalendarBody) -> dict[str, Any]:
    """Stored as given, windows in order and holidays by date."""
    stored = body.model_dump(mode="json")
    stored["hours"] = {day: sorted(windows, key=lambda w: w["start"]) for day, windows in stored["hours"].items()
                       if windows}
    stored["holidays"] = sorted(stored["holidays"], key=lambda h: h["date"])
    return stored


class Catalog:
    def __init__(self) -> None:
        self.definitions: dict[tuple[str, int], Definition] = {}
        self.calendars: dict[tuple[str, int], Calendar] = {}

    async def library(self, session: AsyncSession, *, timers: Iterable[Timer] = (),
                      affected_cis: Iterable[str | None] = ()) -> Library:
        """Everything the engine may need for these timers and new attachments: the latest version of
        every definition, the versions these timers run by, the calendars of both, the CI classes.
        One small query for which versions are the latest; bodies only for versions not seen yet."""
        repo = CatalogRepository(session)
        timers = list(timers)
        current, current_calendars = await repo.latest_versions()
        wanted = {*current.items(), *((t.definition_id, t.definition_version) for t in timers)}
        if wanted := wanted - set(self.definitions):
            for row in await repo.definitions.of(wanted):
                self.definitions[(row["id"], row["version"])] = definition_of(
                    row["id"], row["version"], DefinitionBody.model_validate(row["body"]))
        library = Library(definitions=self.definitions, current=current, calendars=self.calendars,
                          current_calendars=current_calendars)
        calendars = {(t.calendar_id, t.calendar_version) for t in timers if t.calendar_id}
        calendars |= {(c, current_calendars[c]) for c in {library.latest(i).calendar_id for i in current}
                      if c in current_calendars}
        await self._load_calendars(repo, calendars)
        if any(library.latest(i).applies_to.ci_classes for i in current):
            library.ci_classes = await repo.ci_classes({c for c in affected_cis if c})
        return library

    async def _load_calendars(self, repo: CatalogRepository, keys: set[tuple[str, int]]) -> None:
        if wanted := keys - set(self.calendars):
            for row in await repo.calendars.of(wanted):
                self.calendars[(row["id"], row["version"])] = calendar_of(CalendarBody.model_validate(row["body"]))

    async def clocks_for(self, session: AsyncSession, timers: Iterable[Timer]) -> Library:
        """Just the calendars these timers run by (the scheduler needs no definitions)."""
        await self._load_calendars(CatalogRepository(session),
                                   {(t.calendar_id, t.calendar_version) for t in timers if t.calendar_id})
        return Library(calendars=self.calendars)
