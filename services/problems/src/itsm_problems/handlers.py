"""Use cases: open a problem, edit it, move it, its root cause, resolution, links and notes (each stored with its
events and timeline lines); read problems and their timelines."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from itsm_contracts import CloudEvent
from itsm_contracts.events.external import ExternalRecordEvent
from itsm_contracts.events.incidents import (
    IncidentOpened, IncidentProblemLinked, IncidentProblemUnlinked, IncidentStateChanged, IncidentUpdated,
)
from itsm_contracts.events.problems import ProblemIncidentLinkRefused, ProblemLinkSuggested
from itsm_contracts.events.requests import RecordDispatched
from itsm_kit.clock import utcnow
from itsm_kit.cmdb_copy import CiRepository
from itsm_kit.dispatch_decisions import decisions_taken
from itsm_kit.domain import SYSTEM, Conflict
from itsm_kit.errors import check_version, found
from itsm_kit.records import apply, remove, revise
from itsm_kit.unit_of_work import UnitOfWork
from itsm_problems.domain import (
    AGE_BUCKET_DAYS, FINAL_STATES, DetectionRule, Dimension, KnownError, LinkTo, Notice, OpenCandidate, Problem,
    Recurrence, State, decide, link_refusal, open_candidate,
)
from itsm_problems.store import (
    DIMENSION_COLUMNS, DetectionRuleRepository, KnownErrorRepository, Observations, ProblemRepository, Suggestions,
    aging, known_error_for_report,
)


async def open_problem(uow: UnitOfWork, *, short_description: str, description: str, impact: int,
                       urgency: int, opened_by: str = SYSTEM, assignee: str | None = None,
                       assignment_group: str | None = None, related_incidents: list[str] | None = None,
                       affected_cis: list[str] | None = None) -> Problem:
    async with uow:
        repo = ProblemRepository(uow.session)
        problem = Problem.open(
            id=str(uuid.uuid4()), number=await repo.next_number(), short_description=short_description,
            description=description, impact=impact, urgency=urgency, at=utcnow(), opened_by=opened_by,
            assignee=assignee, assignment_group=assignment_group, related_incidents=related_incidents or [],
            affected_cis=affected_cis or [],
        )
        await repo.add(problem)
        uow.add(problem)
        await uow.commit()
    return problem


async def update_problem(uow: UnitOfWork, problem_id: str, changes: dict[str, Any], *, actor: str = SYSTEM,
                         if_match: int | None = None) -> Problem:
    return await apply(uow, ProblemRepository, problem_id, if_match,
                       lambda problem: problem.update(changes, utcnow(), actor=actor))


async def move_problem(uow: UnitOfWork, problem_id: str, *, state: State, actor: str = SYSTEM,
                       if_match: int | None = None) -> Problem:
    return await apply(uow, ProblemRepository, problem_id, if_match,
                       lambda problem: problem.move_to(state, utcnow(), actor=actor))


async def identify_root_cause(uow: UnitOfWork, problem_id: str, *, description: str, cause_code: str,
                              actor: str = SYSTEM, if_match: int | None = None) -> Problem:
    return await apply(uow, ProblemRepository, problem_id, if_match,
                       lambda problem: problem.identify_root_cause(description, cause_code, utcnow(), actor=actor))


async def resolve_problem(uow: UnitOfWork, problem_id: str, *, resolution_code: str, notes: str,
                          resolve_linked_incidents: bool = False, actor: str = SYSTEM,
                          if_match: int | None = None) -> Problem:
    return await apply(uow, ProblemRepository, problem_id, if_match, lambda problem: problem.resolve(
        resolution_code, notes, utcnow(), resolve_linked_incidents=resolve_linked_incidents, actor=actor))


async def close_problem(uow: UnitOfWork, problem_id: str, *, actor: str = SYSTEM,
                        if_match: int | None = None) -> Problem:
    return await apply(uow, ProblemRepository, problem_id, if_match,
                       lambda problem: problem.close(utcnow(), actor=actor))


async def link_incident(uow: UnitOfWork, problem_id: str, incident_id: str, *, actor: str = SYSTEM,
                        if_match: int | None = None) -> Problem:
    return await apply(uow, ProblemRepository, problem_id, if_match,
                       lambda problem: problem.link_incident(incident_id, utcnow(), actor=actor))


async def unlink_incident(uow: UnitOfWork, problem_id: str, incident_id: str, *, actor: str = SYSTEM,
                          if_match: int | None = None) -> Problem:
    return await apply(uow, ProblemRepository, problem_id, if_match,
                       lambda problem: problem.unlink_incident(incident_id, utcnow(), actor=actor))


async def add_comment(uow: UnitOfWork, problem_id: str, *, text: str, actor: str = SYSTEM) -> Problem:
    return await apply(uow, ProblemRepository, problem_id, None,
                       lambda problem: problem.comment(text, utcnow(), actor=actor))


async def add_work_note(uow: UnitOfWork, problem_id: str, *, text: str, actor: str = SYSTEM) -> Problem:
    return await apply(uow, ProblemRepository, problem_id, None,
                       lambda problem: problem.add_work_note(text, utcnow(), actor=actor))


async def activity(uow: UnitOfWork, problem_id: str, *, limit: int, cursor: str | None
                   ) -> tuple[list[dict], str | None]:
    """The problem's timeline, newest first; a 404 for a problem that does not exist."""
    async with uow:
        repo = ProblemRepository(uow.session)
        found(await repo.get(problem_id), "problem", problem_id)
        return await repo.activity(problem_id, limit=limit, cursor=cursor)


async def get_problem(uow: UnitOfWork, problem_id: str) -> tuple[Problem, list[dict]]:
    """The problem, and the live business services that depend on its affected CIs (from the CMDB copy)."""
    async with uow:
        problem = found(await ProblemRepository(uow.session).get(problem_id), "problem", problem_id)
        return problem, await CiRepository(uow.session).business_services_of(problem.affected_cis)


async def search_problems(uow: UnitOfWork, q: str, *, limit: int) -> list[dict[str, Any]]:
    """The problems `q` finds best, best first (search that ranks, issue 18)."""
    async with uow:
        return await ProblemRepository(uow.session).search(q, limit=limit)


async def list_problems(uow: UnitOfWork, *, limit: int, cursor: str | None,
                        **where: Any) -> tuple[list[Problem], str | None]:
    """Newest first, filtered by `where` (ProblemRepository.page's filters); the page and the next page's cursor."""
    async with uow:
        return await ProblemRepository(uow.session).page(limit=limit, cursor=cursor, **where)


# -- known errors ------------------------------------------------------------------------------

async def publish_known_error(uow: UnitOfWork, problem_id: str, *, symptoms: str, workaround: str,
                              title: str | None = None, affected_cis: list[str] | None = None,
                              actor: str = SYSTEM, if_match: int | None = None) -> KnownError:
    """The problem's known error published or revised, with the problem's event."""
    async with uow:
        problems, known_errors = ProblemRepository(uow.session), KnownErrorRepository(uow.session)
        problem = found(await problems.get(problem_id, for_update=True), "problem", problem_id)
        check_version("problem", problem_id, problem.version, if_match)
        existing = await known_errors.of_problem(problem_id, for_update=True)
        loaded = problem.version, (existing.version if existing else None)
        known = problem.publish_known_error(
            symptoms=symptoms, workaround=workaround, title=title, affected_cis=affected_cis, at=utcnow(),
            existing=existing, new_id=str(uuid.uuid4()),
            new_number=await known_errors.next_number() if existing is None else "", actor=actor)
        if problem.version != loaded[0]:
            await (known_errors.add(known) if existing is None else known_errors.save(known, loaded[1]))
            await problems.save(problem, loaded[0])
            uow.add(problem)
            await uow.commit()
    return known


async def retire_known_error(uow: UnitOfWork, known_error_id: str, *, reason: str, actor: str = SYSTEM,
                             if_match: int | None = None) -> KnownError:
    async with uow:
        problems, known_errors = ProblemRepository(uow.session), KnownErrorRepository(uow.session)
        known = found(await known_errors.get(known_error_id), "known error", known_error_id)
        # The problem first, as every writer of it locks it, then its known error: one lock order.
        problem = found(await problems.get(known.problem_id, for_update=True), "problem", known.problem_id)
        known = found(await known_errors.get(known_error_id, for_update=True), "known error", known_error_id)
        check_version("known error", known_error_id, known.version, if_match)
        loaded = problem.version, known.version
        problem.retire_known_error(known, reason, utcnow(), actor=actor)
        await known_errors.save(known, loaded[1])
        await problems.save(problem, loaded[0])
        uow.add(problem)
        await uow.commit()
    return known


async def get_known_error(uow: UnitOfWork, known_error_id: str) -> KnownError:
    async with uow:
        return found(await KnownErrorRepository(uow.session).get(known_error_id), "known error", known_error_id)


async def known_error_of(uow: UnitOfWork, problem_id: str) -> KnownError:
    async with uow:
        found(await ProblemRepository(uow.session).get(problem_id), "problem", problem_id)
        return found(await KnownErrorRepository(uow.session).of_problem(problem_id), "known error of problem",
                     problem_id)


async def list_known_errors(uow: UnitOfWork, *, limit: int, cursor: str | None,
                            **where: Any) -> tuple[list[KnownError], str | None]:
    async with uow:
        return await KnownErrorRepository(uow.session).page(limit=limit, cursor=cursor, **where)


# -- detection, links from the incident's side, suggestions, reports -----------------------------------------

log = logging.getLogger(__name__)

# IncidentUpdated changes the observations keep (the rest is the incidents service's business).
OBSERVED_CHANGES = ("affected_ci", "business_service", "category", "short_description", "description", "parent_id")
NOT_NULL_OBSERVED = {"short_description": "", "description": ""}
# Most specific first: an incident a CI's problem took is not taken again by its business service's.
DIMENSION_ORDER = (Dimension.CI, Dimension.BUSINESS_SERVICE, Dimension.CATEGORY)


def _family(data: object) -> str:
    if isinstance(data, IncidentOpened):
        return "opened"
    if isinstance(data, IncidentProblemLinked | IncidentProblemUnlinked):
        return "links"
    return "changed"


async def incidents_changed(uow: UnitOfWork, run: Sequence[tuple[CloudEvent, Any]]) -> None:
    """itsm.incidents, in the run's order, a stretch of one kind at a time: opened incidents are observed, counted by
    the detection rules and matched against open problems; later changes keep the observations current; links made
    on the incident's side are made (or refused) on the problem."""
    async with uow:
        # Every value the run's new incidents may be counted on is locked first, all in one order and before any
        # problem row: two partitions' runs then never each hold what the other waits for.
        await Observations(uow.session).lock_values([
            f"{dimension}:{value}" for _, data in run if isinstance(data, IncidentOpened)
            for dimension, column in DIMENSION_COLUMNS.items() if (value := getattr(data, column))])
        stretch: list[tuple[CloudEvent, Any]] = []
        for item in [*run, None]:
            if stretch and (item is None or _family(item[1]) != _family(stretch[0][1])):
                await {"opened": _incidents_opened, "links": _links_asked,
                       "changed": _observations_changed}[_family(stretch[0][1])](uow, stretch)
                stretch = []
            if item is not None:
                stretch.append(item)
        await uow.commit()


def _observation(opened: IncidentOpened) -> dict[str, Any]:
    return {"id": opened.incident_id, "number": opened.number, "opened_at": opened.opened_at,
            "affected_ci": opened.affected_ci, "business_service": opened.business_service,
            "category": opened.category, "state": opened.state, "short_description": opened.short_description,
            "description": opened.description, "parent_id": opened.parent_id}


async def _observations_changed(uow: UnitOfWork, run: Sequence[tuple[CloudEvent, Any]]) -> None:
    changes: list[tuple[str, dict[str, Any]]] = []
    for _, data in run:
        if isinstance(data, IncidentStateChanged):
            changes.append((data.incident_id, {"state": data.to_state}))
        elif isinstance(data, IncidentUpdated):
            values = {name: data.changes[name] for name in OBSERVED_CHANGES if name in data.changes}
            for name, empty in NOT_NULL_OBSERVED.items():
                if name in values and values[name] is None:
                    values[name] = empty
            if values:
                changes.append((data.incident_id, values))
    await Observations(uow.session).change(changes)


async def _incidents_opened(uow: UnitOfWork, run: Sequence[tuple[CloudEvent, IncidentOpened]]) -> None:
    await Observations(uow.session).add([_observation(data) for _, data in run])
    taken = await _detect(uow, run)
    await _suggest(uow, [(cause, data) for cause, data in run if data.incident_id not in taken])


async def _detect(uow: UnitOfWork, run: Sequence[tuple[CloudEvent, IncidentOpened]]) -> set[str]:
    """Count, for each enabled rule, the incidents sharing a value with the run's; open or feed the candidate
    problems that calls for. One set of statements for the whole run. Returns the incidents linked."""
    rules = await DetectionRuleRepository(uow.session).all(enabled_only=True)
    dimensions = [d for d in DIMENSION_ORDER if any(r.dimension is d for r in rules)]
    touched: dict[tuple[Dimension, str], list[tuple[CloudEvent, IncidentOpened]]] = {}
    for cause, data in run:
        if data.parent_id is not None or data.state == "canceled":  # not counted (store.COUNTED)
            continue
        for dimension in dimensions:
            if value := getattr(data, DIMENSION_COLUMNS[dimension]):
                touched.setdefault((dimension, value), []).append((cause, data))
    if not touched:
        return set()
    observations = Observations(uow.session)  # each touched value is locked already (incidents_changed)
    # Each window ends at the newest incident with the value, wherever it was observed: runs of other partitions
    # may have brought later ones first (an end at this run's newest would leave them out, and this run's
    # incidents unlinked); a replay of old incidents counts against the value's present.
    latest = await observations.latest(list(touched))  # this run's observations included
    until = {key: latest.get(key) or max(data.opened_at for _, data in seen) for key, seen in touched.items()}
    counts = await observations.counts([(r.id, d, v, r.window_minutes, until[(d, v)])
                                        for (d, v) in touched for r in rules if r.dimension is d])
    existing = await observations.open_detections(list(touched))
    taken = await observations.linked(sorted({data.incident_id for seen in touched.values() for _, data in seen}))
    repo = ProblemRepository(uow.session)
    for dimension in dimensions:
        verdicts: dict[str, tuple[OpenCandidate | LinkTo, list[tuple[CloudEvent, IncidentOpened]]]] = {}
        for (d, value), seen in touched.items():
            if d is not dimension:
                continue
            verdict = decide(rules, Recurrence(
                dimension, value, new=tuple(data.incident_id for _, data in seen),
                counts={r.id: counts.get((r.id, value), 0) for r in rules if r.dimension is dimension},
                open_problem=existing.get((dimension.value, value)), linked=frozenset(taken)))
            if verdict is not None:
                verdicts[value] = (verdict, seen)
        await _feed(uow, repo, {v: x for v, x in verdicts.items() if isinstance(x[0], LinkTo)}, taken)
        await _open(uow, repo, observations, dimension, {v: x for v, x in verdicts.items()
                                                         if isinstance(x[0], OpenCandidate)}, until, taken)
    return taken  # every incident of the run (and of the windows) a problem links now


async def _feed(uow: UnitOfWork, repo: ProblemRepository, verdicts: dict, taken: set[str]) -> None:
    """New incidents join the problems detection opened for their values before."""
    if not verdicts:
        return
    problems = await repo.get_many({verdict.problem_id for verdict, _ in verdicts.values()}, for_update=True)
    loaded = {pid: p.version for pid, p in problems.items()}
    now = utcnow()
    for verdict, seen in verdicts.values():
        problem = problems[verdict.problem_id]
        for cause, data in seen:
            if data.incident_id not in verdict.incident_ids or data.incident_id in taken:
                continue
            try:
                problem.link_incident(data.incident_id, now)
            except Conflict as full:  # it keeps MAX_LINKED_INCIDENTS at most: the rest stay unlinked
                log.info("detection could not link an incident: %s", full, extra={"problem_id": problem.id})
                break
            taken.add(data.incident_id)
            uow.add(problem)
            uow.caused_by(cause)
    await repo.save_many([p for pid, p in problems.items() if p.version != loaded[pid]])


async def _open(uow: UnitOfWork, repo: ProblemRepository, observations: Observations, dimension: Dimension,
                verdicts: dict, until: dict, taken: set[str]) -> None:
    """One candidate problem per value a rule fired on, linking the counted incidents no problem links yet."""
    if not verdicts:
        return
    candidates = await observations.unlinked_in_window(dimension, [
        (value, verdict.rule.window_minutes, until[(dimension, value)]) for value, (verdict, _) in verdicts.items()])
    numbers = await repo.next_numbers(len(verdicts))
    now, opened = utcnow(), []
    for number, (value, (verdict, seen)) in zip(numbers, verdicts.items()):
        incident_ids = [i for i in candidates.get(value, []) if i not in taken]
        problem = open_candidate(verdict, id=str(uuid.uuid4()), number=number, incident_ids=incident_ids, at=now)
        taken.update(problem.related_incidents)
        opened.append(problem)
        uow.add(problem)
        uow.caused_by(seen[-1][0])  # the incident that reached the threshold
        log.info("detection opened a candidate problem", extra={
            "problem_id": problem.id, "rule_id": verdict.rule.id, "dimension": dimension.value, "count": verdict.count})
    await repo.add(*opened)


async def _suggest(uow: UnitOfWork, run: Sequence[tuple[CloudEvent, IncidentOpened]]) -> None:
    """The open problems whose text best matches each new incident's, kept and published (itsm.problem.link_suggested)
    for the desk to link or not."""
    if not run:
        return
    suggestions = Suggestions(uow.session)
    ranked = await suggestions.rank([(data.incident_id, f"{data.short_description}\n{data.description}")
                                     for _, data in run])
    if not ranked:
        return
    now = utcnow()
    await suggestions.keep([{"incident_id": r["incident_id"], "problem_id": r["problem_id"], "score": r["score"],
                             "known_error_id": r["known_error_id"], "suggested_at": now} for r in ranked])
    causes = {data.incident_id: cause for cause, data in run}
    for r in ranked:
        notice = Notice(r["problem_id"], r["version"])
        notice.tell(ProblemLinkSuggested(problem_id=r["problem_id"], incident_id=r["incident_id"],
                                         score=round(r["score"], 4), known_error_id=r["known_error_id"],
                                         suggested_at=now, actor=SYSTEM))
        uow.add(notice)
        uow.caused_by(causes[r["incident_id"]])


async def _links_asked(uow: UnitOfWork, run: Sequence[tuple[CloudEvent, Any]]) -> None:
    """Links and unlinks an agent made on the incident's side, made on the problem in order; a problem that cannot
    take the incident (unknown, closed or canceled, full) answers itsm.problem.incident_link_refused, so that the
    incidents service takes the link back. Linking again, or unlinking one not linked, changes nothing."""
    repo = ProblemRepository(uow.session)
    wanted = {d.problem_id for _, d in run} | {d.previous_problem_id for _, d in run
                                               if isinstance(d, IncidentProblemLinked) and d.previous_problem_id}
    problems = await repo.get_many(wanted, for_update=True)
    loaded = {pid: p.version for pid, p in problems.items()}
    for cause, asked in run:
        actor = asked.actor or SYSTEM
        if isinstance(asked, IncidentProblemUnlinked):
            problem = problems.get(asked.problem_id)
            if problem is not None and problem.state not in FINAL_STATES:
                problem.unlink_incident(asked.incident_id, asked.unlinked_at, actor=actor)
                uow.add(problem)
            uow.caused_by(cause)
            continue
        previous = problems.get(asked.previous_problem_id) if asked.previous_problem_id else None
        if previous is not None and previous.id != asked.problem_id and previous.state not in FINAL_STATES:
            previous.unlink_incident(asked.incident_id, asked.linked_at, actor=actor)
            uow.add(previous)
        problem = problems.get(asked.problem_id)
        if (reason := link_refusal(problem, asked.problem_id, asked.incident_id)) is not None:
            notice = Notice(asked.problem_id, problem.version if problem is not None else 0)
            notice.tell(ProblemIncidentLinkRefused(problem_id=asked.problem_id, incident_id=asked.incident_id,
                                                   reason=reason, at=utcnow(), actor=SYSTEM))
            uow.add(notice)
        else:
            # link_incident puts the published known error (id, number, workaround) on the event.
            problem.link_incident(asked.incident_id, asked.linked_at, actor=actor)
            uow.add(problem)
        uow.caused_by(cause)
    await repo.save_many([p for pid, p in problems.items() if p.version != loaded[pid]])


# Detection rules (admins, through the gateway).

async def list_detection_rules(uow: UnitOfWork) -> list[DetectionRule]:
    async with uow:
        return await DetectionRuleRepository(uow.session).all()


async def get_detection_rule(uow: UnitOfWork, rule_id: str) -> DetectionRule:
    async with uow:
        return found(await DetectionRuleRepository(uow.session).get(rule_id), "detection rule", rule_id)


async def create_detection_rule(uow: UnitOfWork, *, actor: str = SYSTEM, **fields: Any) -> DetectionRule:
    async with uow:
        rule = DetectionRule.create(id=str(uuid.uuid4()), at=utcnow(), actor=actor, **fields)
        await DetectionRuleRepository(uow.session).add(rule)
        await uow.commit()
    return rule


async def update_detection_rule(uow: UnitOfWork, rule_id: str, changes: dict[str, Any], *, actor: str = SYSTEM,
                                if_match: int | None = None) -> DetectionRule:
    return await revise(uow, DetectionRuleRepository, rule_id, if_match,
                        lambda rule: rule.update(changes, utcnow(), actor=actor))


async def delete_detection_rule(uow: UnitOfWork, rule_id: str, *, if_match: int | None = None) -> None:
    """Gone: the problems it opened keep its id."""
    await remove(uow, DetectionRuleRepository, rule_id, if_match)


# Suggestions.

async def stored_suggestions(uow: UnitOfWork, incident_id: str) -> list[dict[str, Any]]:
    async with uow:
        return await Suggestions(uow.session).of_incident(incident_id)


async def search_suggestions(uow: UnitOfWork, text: str) -> list[dict[str, Any]]:
    """The open problems a text matches best, ranked as new incidents' are (nothing kept, nothing published)."""
    async with uow:
        return await Suggestions(uow.session).rank([(None, text)])


# Reports.

async def prune_observations(uow: UnitOfWork, before: datetime, batch_size: int) -> int:
    """One batch of the incident copy older than the retention deleted (with their suggestions); how many."""
    async with uow:
        pruned = await Observations(uow.session).prune(before, batch_size)
        await uow.commit()
    return pruned


async def problem_aging(uow: UnitOfWork) -> dict[str, Any]:
    now = utcnow()
    async with uow:
        found_rows = {r["state"]: r for r in await aging(uow.session, now, [
            (name, low, high) for name, (low, high) in AGE_BUCKET_DAYS.items()])}
    rows = []
    for state in State:
        r = found_rows.get(state.value)
        rows.append({"state": state.value, "total": r["total"] if r else 0,
                     "by_age": {name: r[name] if r else 0 for name in AGE_BUCKET_DAYS},
                     "oldest_opened_at": r["oldest"] if r else None})
    return {"generated_at": now, "rows": rows}


def week_start(at: datetime) -> datetime:
    """The Monday 00:00 UTC of the ISO week `at` falls in."""
    day = at.astimezone(UTC)
    return (day - timedelta(days=day.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)


async def known_error_impact(uow: UnitOfWork, known_error_id: str, *, weeks: int) -> dict[str, Any]:
    """Incidents per ISO week on the known error's CIs: the `weeks` weeks before the week it was published, and
    that week with the `weeks` - 1 after it."""
    async with uow:
        known = found(await known_error_for_report(uow.session, known_error_id), "known error", known_error_id)
        published = week_start(known["published_at"])
        start, end = published - timedelta(weeks=weeks), published + timedelta(weeks=weeks)
        counted = await Observations(uow.session).weekly(list(known["affected_cis"]), start, end)
    counts = {week_start(w.replace(tzinfo=published.tzinfo)): n for w, n in counted.items()}
    series = [{"week_start": start + timedelta(weeks=n), "incidents": counts.get(start + timedelta(weeks=n), 0)}
              for n in range(2 * weeks)]
    return {"known_error_id": known["id"], "number": known["number"], "published_at": known["published_at"],
            "affected_cis": list(known["affected_cis"]), "before": series[:weeks], "after": series[weeks:]}


# -- connected tools (issue 16: connectors) ------------------------------------------------------------------------


async def external_records(uow: UnitOfWork, run: Sequence[tuple[CloudEvent, ExternalRecordEvent]]) -> None:
    """What people did in a tool mirroring a problem (Jira; itsm.notifications): a work note each, in the run's
    order; the problem's own lifecycle is never moved from outside. Other records' events, and problems this service
    does not have, are skipped."""
    async with uow:
        repo = ProblemRepository(uow.session)
        for cause, told in run:
            if told.record_type != "problem":
                continue
            if (problem := await repo.get(told.record_id, for_update=True)) is None:
                log.info("a connected tool names an unknown problem; skipped",
                         extra={"problem_id": told.record_id, "connector": told.connector, "type": cause.type})
                continue
            loaded = problem.version
            problem.add_work_note(told.note(), told.at, actor=told.connector)
            await repo.save(problem, loaded)
            uow.add(problem)
            uow.caused_by(cause)
        await uow.commit()


# -- requests (issue 17): dispatch decisions ------------------------------------------------------------------------


async def records_dispatched(uow: UnitOfWork, run: Sequence[tuple[CloudEvent, RecordDispatched]]) -> None:
    """The dispatch rules' decisions for problems (Problem.take_dispatch says when one is taken)."""
    await decisions_taken(uow, run, record_type="problem", repository=ProblemRepository)
