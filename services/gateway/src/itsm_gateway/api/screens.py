"""Composed screens: a frontend gets a whole screen in one call, gathered from the services concurrently.

Each part is fetched within ITSM_GATEWAY_SCREEN_PART_TIMEOUT_SECONDS. A part whose service is down, slow or failing is
null and named in `unavailable`, and the screen still answers 200: only the screen's own record (the incident of its
detail) missing or unreachable is the screen's error. Every call names the signed-in user (and their groups).
The incident detail's parts come from the screen cache while no event said they changed (screen_cache.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, TypeVar, get_args

import orjson
from fastapi import APIRouter, Query
from pydantic import BaseModel

from itsm_contracts.api.changes import ChangePage, ChangePublic
from itsm_contracts.api.cmdb import CiBrief, CiPublic, ImpactAnalysis
from itsm_contracts.api.incidents import ActivityPage, IncidentCounts, IncidentPage, IncidentPublic
from itsm_contracts.api.problems import ProblemPage, ProblemPublic
from itsm_contracts.api.screens import (
    AtRisk, BreachesToday, Dashboard, DashboardPart, IncidentDetail, IncidentDetailPart, MyWork, MyWorkPart,
    OpenIncidents, WorkItem,
)
from itsm_contracts.api.sla import AtRiskList, ComplianceReport, TimerList, TimerPublic
from itsm_contracts.events.incidents import OPEN_INCIDENT_STATES
from itsm_kit.api import Ident
from itsm_kit.errors import Problem
from itsm_kit.runtime import Runtime, RuntimeDep
from itsm_gateway import screen_cache
from itsm_gateway.access import check_incident_access, visible_activity
from itsm_gateway.auth import AgentUser, RequesterUser, RoleRoute, User, works
from itsm_gateway.screen_cache import incident_tag
from itsm_gateway.upstream import call

log = logging.getLogger(__name__)
router = APIRouter(prefix="/screens", tags=["screens"], route_class=RoleRoute)

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

RELATED_LIMIT = 20  # problems and changes shown on an incident's detail
TIMELINE_LIMIT = 50
MAX_MY_WORK = 200
MAX_GROUPS = 20  # groups asked for "my work": each is a call per service
SLA_CALLS = 16  # timer reads in flight at once for "my work"
AT_RISK_LIMIT = 500  # the sla service's largest at-risk list
AT_RISK_SHOWN = 10
OPEN_TIMER_STAGES = frozenset({"in_progress", "paused"})
PROBLEM_DONE = frozenset({"resolved", "closed"})
CHANGE_DONE = frozenset({"closed", "canceled"})
OPEN_STATES = sorted(OPEN_INCIDENT_STATES)


class Parts:
    """The parts of one screen, each fetched within the timeout; a part that fails is None and named."""

    def __init__(self, runtime: Runtime):
        self.timeout: float = runtime.settings.screen_part_timeout_seconds
        self.unavailable: set[str] = set()

    async def required(self, what: str, fetching: Awaitable[T]) -> T:
        """The screen's own record: its failure (its 404 too) is the screen's; late is a 504."""
        try:
            async with asyncio.timeout(self.timeout):
                return await fetching
        except TimeoutError:
            raise Problem(504, "Gateway Timeout", f"the {what} did not come within {self.timeout:g} s") from None

    async def optional(self, name: str, fetching: Awaitable[T]) -> T | None:
        try:
            async with asyncio.timeout(self.timeout):
                return await fetching
        except TimeoutError:
            log.warning("screen part %s: no answer within %g s", name, self.timeout)
        except Problem as exc:
            log.warning("screen part %s: %s %s", name, exc.status, exc.detail or exc.title)
        except Exception:  # an answer that does not fit its contract: the part is missing, the screen answers
            log.exception("screen part %s failed", name)
        self.unavailable.add(name)
        return None

    def named(self, order: Iterable[str]) -> list[Any]:
        return [name for name in order if name in self.unavailable]


async def read(runtime: Runtime, user: User, service: str, path: str, model: type[M],
               params: list[tuple[str, Any]] | dict[str, Any] | None = None) -> M:
    upstream = await call(runtime, service, "GET", path, actor=user, params=params)
    return model.model_validate_json(upstream.content)


async def kept(runtime: Runtime, user: User, service: str, path: str, tags: tuple[str, ...],
               params: dict[str, Any] | None = None) -> bytes:
    """A part's answer as the service gives it, from the screen cache while no event said it changed."""
    async def fetch() -> bytes:
        return (await call(runtime, service, "GET", path, actor=user, params=params)).content

    cache: screen_cache.PartCache | None = runtime.extras.get(screen_cache.CACHE)
    if cache is None:
        return await fetch()
    return await cache.get((service, path, *sorted((params or {}).items())), tags, fetch)


# -- incident detail -----------------------------------------------------------------------------

async def _affected_ci(runtime: Runtime, user: User, ci: str) -> CiPublic | None:
    try:
        return CiPublic.model_validate_json(await kept(runtime, user, "cmdb", f"/cis/{ci}", (screen_cache.CMDB,)))
    except Problem as exc:
        if exc.status in (404, 422):  # not a CI the CMDB knows (a name, or one never registered): an answer
            return None
        raise


async def _impacted_services(runtime: Runtime, user: User, ci: str) -> list[CiBrief]:
    try:
        analysis = ImpactAnalysis.model_validate_json(await kept(
            runtime, user, "cmdb", f"/cis/{ci}/impact", (screen_cache.CMDB,), params={"direction": "upstream"}))
    except Problem as exc:
        if exc.status in (404, 422):
            return []
        raise
    return analysis.business_services


async def _timers(runtime: Runtime, user: User, incident_id: str) -> list[TimerPublic]:
    return TimerList.model_validate_json(await kept(runtime, user, "sla", "/timers", (incident_tag(incident_id),),
                                                    params={"incident_id": incident_id})).items


async def _linked_problems(runtime: Runtime, user: User, incident_id: str) -> list[ProblemPublic]:
    page = ProblemPage.model_validate_json(await kept(runtime, user, "problems", "/problems", (screen_cache.PROBLEMS,),
                                                      params={"incident_id": incident_id, "limit": RELATED_LIMIT}))
    # The service filters; checked here too, so a service that ignored the filter cannot show unrelated problems.
    return [p for p in page.items if incident_id in p.related_incidents]


async def _related_changes(runtime: Runtime, user: User, ci: str) -> list[ChangePublic]:
    page = ChangePage.model_validate_json(await kept(runtime, user, "changes", "/changes", (screen_cache.CHANGES,),
                                                     params={"affected_ci": ci, "limit": RELATED_LIMIT}))
    return [c for c in page.items if ci in c.affected_cis]


async def _timeline(runtime: Runtime, user: User, incident_id: str) -> ActivityPage:
    page = orjson.loads(await kept(runtime, user, "incidents", f"/incidents/{incident_id}/activity",
                                   (incident_tag(incident_id),), params={"limit": TIMELINE_LIMIT}))
    return ActivityPage.model_validate(visible_activity(user, page))


async def _incident(runtime: Runtime, user: User, incident_id: str) -> IncidentPublic:
    incident = orjson.loads(await kept(runtime, user, "incidents", f"/incidents/{incident_id}",
                                       (incident_tag(incident_id),)))
    check_incident_access(user, incident, incident_id)  # to a requester someone else's is a 404, as on /incidents
    return IncidentPublic.model_validate(incident)


async def _none() -> None:
    return None


@router.get("/incidents/{incident_id}", response_model=IncidentDetail,
            summary="Incident detail in one call: the incident, its affected CI and impacted business services, "
                    "SLA timers, linked problems, related changes, and the first page of its timeline")
async def get_incident_detail(incident_id: Ident, runtime: RuntimeDep, user: RequesterUser) -> IncidentDetail:
    """Parts that do not need the incident are asked at once, beside it; the CI's parts as soon as it names one.
    A part that fails is null and named in `unavailable`; requesters get no work notes, and no problems or changes
    (`withheld`)."""
    parts, agent = Parts(runtime), works(user)
    withheld: list[IncidentDetailPart] = [] if agent else ["problems", "changes"]
    try:
        async with asyncio.TaskGroup() as tasks:
            incident_call = tasks.create_task(parts.required("incident", _incident(runtime, user, incident_id)))
            timers = tasks.create_task(parts.optional("sla_timers", _timers(runtime, user, incident_id)))
            timeline = tasks.create_task(parts.optional("timeline", _timeline(runtime, user, incident_id)))
            problems = tasks.create_task(parts.optional("problems", _linked_problems(runtime, user, incident_id))
                                         if agent else _none())
            incident = await incident_call
            # The incidents service resolves a CI named by name to its id (from its copy of the CMDB).
            ci = incident.affected_ci_details.id if incident.affected_ci_details else incident.affected_ci
            affected = tasks.create_task(parts.optional("affected_ci", _affected_ci(runtime, user, ci))
                                         if ci else _none())
            impacted = tasks.create_task(parts.optional("impacted_services", _impacted_services(runtime, user, ci))
                                         if ci else _none())
            changes = tasks.create_task(parts.optional("changes", _related_changes(runtime, user, ci))
                                        if ci and agent else _none())
    except BaseExceptionGroup as failed:  # only the incident can fail the screen (the others were cancelled)
        raise failed.exceptions[0] from None
    return IncidentDetail(
        incident=incident, affected_ci=affected.result(),
        impacted_services=impacted.result() if ci else [], sla_timers=timers.result(),
        problems=problems.result() if agent else None,
        changes=(changes.result() if ci else []) if agent else None,
        timeline=timeline.result(), unavailable=parts.named(get_args(IncidentDetailPart)), withheld=withheld)


# -- my work -------------------------------------------------------------------------------------

def _assigned(user: User, groups: list[str], assignee: str | None, group: str | None) -> bool:
    return assignee == user.id or (group is not None and group in groups)


async def _pages(runtime: Runtime, user: User, service: str, path: str, model: type[M], groups: list[str],
                 params: list[tuple[str, Any]]) -> tuple[list, bool]:
    """The records assigned to the user and to each of their groups (deduplicated), and whether any list had more."""
    asked = [("assignee", user.id)] + [("assignment_group", group) for group in groups]
    pages = await asyncio.gather(*(read(runtime, user, service, path, model, params=[key, *params])
                                   for key in asked))
    found: dict[str, Any] = {}
    for page in pages:
        for item in page.items:
            found.setdefault(item.id, item)
    return list(found.values()), any(page.next_cursor for page in pages)


async def _my_incidents(runtime: Runtime, user: User, groups: list[str], limit: int) -> tuple[list[WorkItem], bool]:
    params = [("state", state) for state in OPEN_STATES] + [("sort", "priority"), ("order", "asc"), ("limit", limit)]
    items, more = await _pages(runtime, user, "incidents", "/incidents", IncidentPage, groups, params)
    return [WorkItem(type="incident", id=i.id, number=i.number, short_description=i.short_description,
                     state=i.state, priority=i.priority, assignee=i.assignee, assignment_group=i.assignment_group)
            for i in items
            if i.state in OPEN_INCIDENT_STATES and _assigned(user, groups, i.assignee, i.assignment_group)], more


async def _my_problems(runtime: Runtime, user: User, groups: list[str], limit: int) -> tuple[list[WorkItem], bool]:
    params = [("state", s) for s in ("new", "assess", "root_cause_analysis", "fix_in_progress")] + [("limit", limit)]
    items, more = await _pages(runtime, user, "problems", "/problems", ProblemPage, groups, params)
    return [WorkItem(type="problem", id=p.id, number=p.number, short_description=p.short_description,
                     state=p.state, priority=p.priority, assignee=p.assignee, assignment_group=p.assignment_group)
            for p in items
            if p.state not in PROBLEM_DONE and _assigned(user, groups, p.assignee, p.assignment_group)], more


async def _my_changes(runtime: Runtime, user: User, groups: list[str], limit: int) -> tuple[list[WorkItem], bool]:
    states = ("new", "assess", "authorize", "scheduled", "implement", "review")
    params = [("state", s) for s in states] + [("limit", limit)]
    items, more = await _pages(runtime, user, "changes", "/changes", ChangePage, groups, params)
    return [WorkItem(type="change", id=c.id, number=c.number, short_description=c.short_description,
                     state=c.state, priority=getattr(c, "priority", None), assignee=c.assignee,
                     assignment_group=c.assignment_group)
            for c in items
            if c.state not in CHANGE_DONE and _assigned(user, groups, c.assignee, c.assignment_group)], more


async def _nearest_due(runtime: Runtime, user: User, incidents: list[WorkItem]) -> None:
    """Each incident's nearest due open SLA timer, written on its item."""
    gate = asyncio.Semaphore(SLA_CALLS)

    async def timers_of(item: WorkItem) -> tuple[WorkItem, list[TimerPublic]]:
        async with gate:
            return item, await _timers(runtime, user, item.id)

    for item, timers in await asyncio.gather(*(timers_of(item) for item in incidents)):
        running = [t for t in timers if t.stage in OPEN_TIMER_STAGES]
        due = [t.due_at for t in running if t.due_at is not None]
        item.sla_due_at = min(due) if due else None
        item.sla_breached = any(t.breached for t in running)


def _urgency(item: WorkItem) -> tuple:
    # Soonest due first; without a timer after, by priority (1 first), then the newest number last.
    far = datetime.max.replace(tzinfo=UTC)
    return (item.sla_due_at is None, item.sla_due_at or far, item.priority or 9, item.number)


@router.get("/my-work", response_model=MyWork,
            summary="My work in one call: open incidents, problems and changes assigned to me or my groups, "
                    "soonest SLA due first")
async def get_my_work(runtime: RuntimeDep, user: AgentUser,
                      limit: Annotated[int, Query(ge=1, le=MAX_MY_WORK)] = 50) -> MyWork:
    """Records assigned to the caller (`assignee`) or to one of their groups (`assignment_group`, from the token's
    groups claim; the first 20 in name order), across incidents (open), problems (not resolved or closed) and
    changes (not closed or canceled). A service that fails leaves its records out and is named in `unavailable`."""
    parts, groups = Parts(runtime), sorted(user.groups)[:MAX_GROUPS]
    incidents, problems, changes = await asyncio.gather(
        parts.optional("incidents", _my_incidents(runtime, user, groups, limit)),
        parts.optional("problems", _my_problems(runtime, user, groups, limit)),
        parts.optional("changes", _my_changes(runtime, user, groups, limit)))
    found = [found for found in (incidents, problems, changes) if found is not None]
    items = [item for listed, _ in found for item in listed]
    # Only the incidents that can make the page need their timers: the first `limit` by priority.
    urgent_first = sorted((i for i in items if i.type == "incident"), key=_urgency)[:limit]
    if urgent_first:
        await parts.optional("sla", _nearest_due(runtime, user, urgent_first))
    items.sort(key=_urgency)
    return MyWork(items=items[:limit], truncated=len(items) > limit or any(more for _, more in found),
                  unavailable=parts.named(get_args(MyWorkPart)))


# -- dashboard -----------------------------------------------------------------------------------

def _today() -> tuple[date, datetime, datetime]:
    start = datetime.combine(datetime.now(UTC).date(), time(), tzinfo=UTC)
    return start.date(), start, start + timedelta(days=1)


async def _open_incidents(runtime: Runtime, user: User) -> OpenIncidents:
    counts = await read(runtime, user, "incidents", "/incidents/counts", IncidentCounts,
                        params=[("state", state) for state in OPEN_STATES])
    return OpenIncidents(total=counts.total, by_priority=counts.by_priority,
                         by_state={s: n for s, n in counts.by_state.items() if s in OPEN_INCIDENT_STATES})


async def _compliance(runtime: Runtime, user: User, start: datetime, end: datetime) -> ComplianceReport:
    return await read(runtime, user, "sla", "/reports/compliance", ComplianceReport,
                      params={"from": start.isoformat(), "before": end.isoformat(), "group_by": "kind"})


async def _at_risk(runtime: Runtime, user: User) -> AtRiskList:
    return await read(runtime, user, "sla", "/reports/at-risk", AtRiskList, params={"limit": AT_RISK_LIMIT})


async def _changes_today(runtime: Runtime, user: User, start: datetime, end: datetime) -> list[ChangePublic]:
    page = await read(runtime, user, "changes", "/changes", ChangePage, params={
        "state": "scheduled", "planned_start_from": start.isoformat(), "planned_start_before": end.isoformat(),
        "limit": 200})
    today = [c for c in page.items
             if c.state == "scheduled" and c.planned_start is not None and start <= c.planned_start < end]
    return sorted(today, key=lambda c: (c.planned_start, c.number))


@router.get("/dashboard", response_model=Dashboard,
            summary="Dashboard in one call: open incidents by priority and state, SLA breaches today, timers at "
                    "risk, changes scheduled today (UTC day)")
async def get_dashboard(runtime: RuntimeDep, user: AgentUser) -> Dashboard:
    parts = Parts(runtime)
    day, start, end = _today()
    counts, compliance, at_risk, changes = await asyncio.gather(
        parts.optional("open_incidents", _open_incidents(runtime, user)),
        parts.optional("breaches_today", _compliance(runtime, user, start, end)),
        parts.optional("at_risk", _at_risk(runtime, user)),
        parts.optional("changes_today", _changes_today(runtime, user, start, end)))
    breaches = None
    if compliance is not None and at_risk is not None:
        breached_open = sum(1 for t in at_risk.items if t.breached and t.breached_at and t.breached_at >= start)
        overall = compliance.overall
        breaches = BreachesToday(total=breached_open + overall.breached, open=breached_open,
                                 completed=overall.breached, completed_met=overall.met,
                                 compliance_percent=overall.compliance_percent)
    elif compliance is not None:
        parts.unavailable.add("breaches_today")  # the open breaches come with the at-risk list
    risky = None
    if at_risk is not None:
        warned = [t for t in at_risk.items if not t.breached]
        risky = AtRisk(count=len(warned), capped=len(at_risk.items) >= AT_RISK_LIMIT, items=warned[:AT_RISK_SHOWN])
    return Dashboard(day=day, open_incidents=counts, breaches_today=breaches, at_risk=risky, changes_today=changes,
                     unavailable=parts.named(get_args(DashboardPart)))
