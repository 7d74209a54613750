"""Change requests, as ITIL change enablement and ServiceNow's change model define them. Pure: no I/O.

A change's type decides the path it walks. A standard change is pre-authorized, so it
skips assessment and authorization; an emergency change cannot wait for assessment, so
it goes straight to authorization (the emergency CAB); a normal change walks it all.

Moving into authorize submits the change for approval (it must say what it touches, when,
and how it is done, backed out and tested). Only decisions take it out of there forward:
approvals schedule it once the approval group's rule (any, all, majority) is met, a
rejection returns it to new at once (as in ServiceNow) to be reworked and submitted again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from itsm_contracts.events import EventData
from itsm_contracts.events.changes import (
    ChangeApprovalRecorded, ChangeApproved, ChangeAssessed, ChangeCanceled, ChangeClosed, ChangeConflictDetected,
    ChangeImplemented, ChangeIncidentSuspected, ChangeRejected, ChangeRequested, ChangeRiskAssessed, ChangeScheduled,
    ChangeStateChanged, ChangeUpdated, RiskFactorData,
)
from itsm_contracts.events.requests import WorkOrderApplied
from itsm_kit.work_orders import applied_note, apply_fields
from itsm_kit.domain import (
    SYSTEM, Activity, ActivityKind, Configuration, Conflict, InvalidTransition, InvalidValue, RaisesEvents,
    activity_text, check_patch, check_transition, choice,
)


class ChangeType(StrEnum):
    STANDARD = "standard"
    NORMAL = "normal"
    EMERGENCY = "emergency"


class State(StrEnum):
    NEW = "new"
    ASSESS = "assess"
    AUTHORIZE = "authorize"
    SCHEDULED = "scheduled"
    IMPLEMENT = "implement"
    REVIEW = "review"
    CLOSED = "closed"
    CANCELED = "canceled"


FINAL_STATES = frozenset({State.CLOSED, State.CANCELED})

# The path each type walks forward, from new to closed.
PATHS: dict[ChangeType, tuple[State, ...]] = {
    ChangeType.NORMAL: (State.NEW, State.ASSESS, State.AUTHORIZE, State.SCHEDULED, State.IMPLEMENT, State.REVIEW,
                        State.CLOSED),
    ChangeType.STANDARD: (State.NEW, State.SCHEDULED, State.IMPLEMENT, State.REVIEW, State.CLOSED),
    ChangeType.EMERGENCY: (State.NEW, State.AUTHORIZE, State.SCHEDULED, State.IMPLEMENT, State.REVIEW, State.CLOSED),
}

# Rejected in assessment or authorization: back to new, to be reworked and resubmitted.
REJECTION_RETURNS_TO_NEW = frozenset({State.ASSESS, State.AUTHORIZE})


def _transitions(path: tuple[State, ...]) -> dict[State, frozenset[State]]:
    """One type's table: the next step on its path; back to new where rejection is possible;
    canceled from any state before closed. States off its path have no way out (never reached)."""
    table: dict[State, set[State]] = {state: set() for state in State}
    for here, after in zip(path, path[1:]):
        table[here].add(after)
    for state in path:
        if state in REJECTION_RETURNS_TO_NEW:
            table[state].add(State.NEW)
        if state not in FINAL_STATES:
            table[state].add(State.CANCELED)
    return {state: frozenset(next_states) for state, next_states in table.items()}


# The whole lifecycle: for each type, from each state, where a change may go next.
TRANSITIONS: dict[ChangeType, dict[State, frozenset[State]]] = {
    kind: _transitions(path) for kind, path in PATHS.items()
}

# What a decision does: (the state the change must await it in, the state it then goes to).
DECISIONS: dict[str, tuple[State, State]] = {
    "approve": (State.AUTHORIZE, State.SCHEDULED),
    "reject": (State.AUTHORIZE, State.NEW),
}
# The moves only a decision makes: the rest of TRANSITIONS is what POST /changes/{id}/state may do. Authorize -> new
# stays a plain move too (withdrawn for rework): it authorizes nothing.
DECISION_ONLY = frozenset({DECISIONS["approve"]})
MOVES: dict[ChangeType, dict[State, frozenset[State]]] = {
    kind: {here: frozenset(there for there in nexts if (here, there) not in DECISION_ONLY)
           for here, nexts in table.items()}
    for kind, table in TRANSITIONS.items()
}

# Fields a PATCH may set, and the ones of them that may be emptied with null.
UPDATABLE_FIELDS = frozenset({"short_description", "description", "planned_start", "planned_end", "assignee",
                              "assignment_group", "affected_cis", "implementation_plan", "backout_plan", "test_plan",
                              "blackout_reason"})
NOT_NULL_FIELDS = frozenset({"short_description", "description", "affected_cis"})
# What a work-order template may set (issue 17): what an agent may PATCH, but what moves the change on the calendar
# (its window, CIs, blackout reason: checked against blackouts and other changes, which a template does not see).
WORK_ORDER_FIELDS = UPDATABLE_FIELDS - {"planned_start", "planned_end", "affected_cis", "blackout_reason"}
# From scheduled on, the change calendar holds the change to its window: it may move, not vanish.
WINDOW_KEPT_IN = frozenset({State.SCHEDULED, State.IMPLEMENT, State.REVIEW})


class AwaitsApproval(InvalidTransition):
    """A move that only an approval makes (authorize -> scheduled)."""

    def __init__(self, noun: str, current: State, wanted: State, allowed: frozenset[State]):
        super().__init__(noun, current, wanted, allowed)
        self.args = (f"{self.args[0]}; {wanted} comes only with an approval (POST /changes/{{id}}/approvals)",)
        self.details["approval_required"] = True


def change_type_of(value: str) -> ChangeType:
    return choice(ChangeType, value, "a change type")


def check_planned_window(start: datetime | None, end: datetime | None) -> None:
    """Either bound may be unknown yet; when both are given, the work must take some time."""
    if any(t is not None and t.tzinfo is None for t in (start, end)):
        raise InvalidValue("planned start and end need a timezone")
    if start is not None and end is not None and end <= start:
        raise InvalidValue(f"the planned end ({end.isoformat()}) must be after the planned start ({start.isoformat()})")


def distinct(ids: list[str] | tuple[str, ...]) -> list[str]:
    """The ids once each, in the order first given."""
    return list(dict.fromkeys(ids))


# -- lifecycle (issue 15): what authorization needs, closing, templates, approval policies -----------------

class CloseCode(StrEnum):
    SUCCESSFUL = "successful"
    SUCCESSFUL_WITH_ISSUES = "successful_with_issues"
    UNSUCCESSFUL = "unsuccessful"
    BACKED_OUT = "backed_out"


PLAN_FIELDS = ("implementation_plan", "backout_plan", "test_plan")
# What a change must say before it is submitted for approval (a standard change: before it is scheduled).
REQUIRED_TO_AUTHORIZE = ("affected_cis", "planned_start", "planned_end", *PLAN_FIELDS)
# Where a change stands submitted: it keeps what it was submitted with (PATCH may change it, not empty it).
SUBMITTED_STATES = frozenset({State.AUTHORIZE, State.SCHEDULED, State.IMPLEMENT, State.REVIEW})
# Moves only their own command makes: /state names it (`use`).
COMMAND_ONLY: dict[State, str] = {State.CLOSED: "close"}


def submission_gate(change_type: ChangeType) -> State:
    """The state a change of this type is submitted (authorized) in: standard changes are pre-authorized."""
    return State.SCHEDULED if change_type is ChangeType.STANDARD else State.AUTHORIZE


def missing_to_authorize(values: Mapping[str, Any]) -> list[str]:
    """The fields authorization needs that `values` leaves empty, in a fixed order."""
    return [name for name in REQUIRED_TO_AUTHORIZE
            if values.get(name) is None or (isinstance(values[name], str) and not values[name].strip())
            or (isinstance(values[name], list) and not values[name])]


class NeedsCommand(InvalidTransition):
    """A move that only its own command makes (close): /state refuses it, naming the command."""

    def __init__(self, noun: str, current: State, wanted: State, allowed: frozenset[State]):
        super().__init__(noun, current, wanted, allowed)
        self.args = (f"{self.args[0]}; {wanted} comes only with POST /changes/{{id}}/{COMMAND_ONLY[wanted]}",)
        self.details["use"] = COMMAND_ONLY[wanted]


class Rule(StrEnum):
    ANY = "any"            # one approval
    ALL = "all"            # every approver
    MAJORITY = "majority"  # more than half of the approvers


class PolicyRisk(StrEnum):
    """The risk levels a policy is for (the change's risk levels, and any)."""

    LOW = "low"
    MODERATE = "moderate"
    HIGH = "high"
    VERY_HIGH = "very_high"
    ANY = "any"  # the policy for every risk without one of its own (and for a change not rated yet)


def rule_met(rule: Rule, approvers: list[str] | tuple[str, ...], approved_by: set[str]) -> bool:
    """Whether this round's approvals satisfy the rule. No approvers listed: any change manager, one suffices."""
    if not approvers:
        return bool(approved_by)
    counted = approved_by & set(approvers)
    if rule is Rule.ANY:
        return bool(counted)
    if rule is Rule.ALL:
        return counted == set(approvers)
    return 2 * len(counted) > len(approvers)


POLICY_FIELDS = frozenset({"group_name", "approvers", "rule"})
TEMPLATE_FIELDS = frozenset({"name", "short_description", "description", *PLAN_FIELDS, "assignment_group", "active"})
TEMPLATE_NOT_NULL = TEMPLATE_FIELDS - {"assignment_group"}


def _text(value: str, what: str) -> str:
    if not value.strip():
        raise InvalidValue(f"{what} must not be blank")
    return value.strip()


@dataclass
class ApprovalPolicy(Configuration):
    """Who authorizes changes of one type and risk level (or any risk), and how many of them must approve."""

    id: str
    change_type: ChangeType
    risk: PolicyRisk
    group_name: str
    approvers: list[str]
    rule: Rule
    created_at: datetime
    updated_at: datetime
    updated_by: str = SYSTEM
    version: int = 1
    FIELDS: ClassVar[frozenset[str]] = POLICY_FIELDS
    NOT_NULL: ClassVar[frozenset[str]] = POLICY_FIELDS

    @classmethod
    def create(cls, *, id: str, change_type: str, risk: str, group_name: str, approvers: list[str], rule: str,
               at: datetime, actor: str = SYSTEM) -> ApprovalPolicy:
        kind = change_type_of(change_type)
        if kind is ChangeType.STANDARD:
            raise InvalidValue("standard changes are pre-authorized by their template: they have no approval policy")
        policy = cls(id=id, change_type=kind, risk=choice(PolicyRisk, risk, "a risk level"),
                     group_name=_text(group_name, "an approval group's name"), approvers=distinct(approvers),
                     rule=choice(Rule, rule, "an approval rule"), created_at=at, updated_at=at, updated_by=actor)
        policy._check()
        return policy

    def _normalised(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        wanted = dict(changes)
        if "rule" in wanted:
            wanted["rule"] = choice(Rule, wanted["rule"], "an approval rule")
        if "group_name" in wanted:
            wanted["group_name"] = _text(wanted["group_name"], "an approval group's name")
        if "approvers" in wanted:
            wanted["approvers"] = distinct(wanted["approvers"])
        return wanted

    def _check(self) -> None:
        if not self.approvers:
            raise InvalidValue(f"approval group {self.group_name} needs at least one approver")


# With no policy for a change's type and risk: any change manager decides, and one approval authorizes.
CHANGE_MANAGERS = ApprovalPolicy(id="", change_type=ChangeType.NORMAL, risk=PolicyRisk.ANY,
                                 group_name="change managers", approvers=[], rule=Rule.ANY, created_at=datetime.min,
                                 updated_at=datetime.min)


def policy_for(policies: list[ApprovalPolicy], change_type: ChangeType, risk: str | None) -> ApprovalPolicy:
    """The policy for the type and risk level; else the type's policy for any risk; else change managers."""
    mine = {p.risk: p for p in policies if p.change_type == change_type}
    return mine.get(risk) or mine.get(PolicyRisk.ANY) or CHANGE_MANAGERS  # type: ignore[call-overload]


@dataclass
class ChangeTemplate(Configuration):
    """A standard change, pre-authorized: what a change requested from it says and how it is done."""

    id: str
    name: str
    short_description: str
    description: str
    implementation_plan: str
    backout_plan: str
    test_plan: str
    assignment_group: str | None
    active: bool
    created_at: datetime
    updated_at: datetime
    updated_by: str = SYSTEM
    version: int = 1
    FIELDS: ClassVar[frozenset[str]] = TEMPLATE_FIELDS
    NOT_NULL: ClassVar[frozenset[str]] = TEMPLATE_NOT_NULL

    @classmethod
    def create(cls, *, id: str, at: datetime, actor: str = SYSTEM, **fields: Any) -> ChangeTemplate:
        template = cls(id=id, created_at=at, updated_at=at, updated_by=actor, **fields)
        template._check()
        return template

    def _check(self) -> None:
        for name in ("name", "short_description", *PLAN_FIELDS):
            setattr(self, name, _text(getattr(self, name), f"a template's {name.replace('_', ' ')}"))

    def prefill(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """What a change requested from it says: what the request gives, else the template's."""
        if not self.active:
            raise InvalidValue(f"change template {self.name} is inactive: no change is requested from it",
                               template_id=self.id)
        own = {name: getattr(self, name) for name in ("short_description", "description", *PLAN_FIELDS,
                                                       "assignment_group")}
        return {**own, **{name: value for name, value in given.items() if value is not None and value != ""}}


@dataclass(frozen=True)
class Approval:
    """One decision on a change awaiting authorization."""

    approver: str
    decision: str  # "approve" or "reject"
    comment: str | None
    at: datetime
    round: int = 0  # the change's approval_round it was taken in
    group: str | None = None  # the approval group the approver decided for


@dataclass
class ChangeRequest(RaisesEvents):
    id: str
    number: str
    short_description: str
    description: str
    change_type: ChangeType
    state: State
    planned_start: datetime | None
    planned_end: datetime | None
    requested_at: datetime
    updated_at: datetime
    version: int = 0
    requested_by: str = SYSTEM
    assignee: str | None = None
    assignment_group: str | None = None
    affected_cis: list[str] = field(default_factory=list)
    # Every decision taken, oldest first; those of the current approval_round count toward the policy's rule.
    approvals: list[Approval] = field(default_factory=list)
    # -- schedule (issue 15): why an emergency may run in a blackout; the conflicts it has (dicts as
    # conflicts_between makes them); the CI/CD deployment it records
    blackout_reason: str | None = None
    conflicts: list[dict] = field(default_factory=list)
    deployment_id: str | None = None
    deployment: dict | None = None
    # The blackout windows the handler loaded around the change's window (not stored): what scheduling checks.
    blackouts: ClassVar[tuple[ChangeWindow, ...]] = ()
    # -- lifecycle (issue 15): plans, the template of a standard change, the approval round, closure
    implementation_plan: str | None = None
    backout_plan: str | None = None
    test_plan: str | None = None
    template_id: str | None = None
    # Counted up each time the change enters authorize: only this round's decisions count toward its rule.
    approval_round: int = 0
    implemented_at: datetime | None = None  # when it entered implement
    close_code: CloseCode | None = None
    close_notes: str | None = None
    closed_at: datetime | None = None
    # Timeline lines written since loading; the unit of work's timeline writer stores them.
    activity: list[Activity] = field(default_factory=list, repr=False, compare=False)
    # -- risk (issue 15): the last assessment (kept from approval on) and incidents it possibly caused
    risk: RiskLevel | None = None
    risk_factors: list[RiskFactor] = field(default_factory=list)
    risk_assessed_at: datetime | None = None
    suspected_incidents: list[SuspectedIncident] = field(default_factory=list)
    # (sequence, event) raised since loading; the handler stores them with the change.
    events: list[tuple[int, EventData]] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def request(cls, *, id: str, number: str, short_description: str, description: str, change_type: str,
                planned_start: datetime | None, planned_end: datetime | None, at: datetime,
                requested_by: str = SYSTEM, assignee: str | None = None, assignment_group: str | None = None,
                affected_cis: list[str] | tuple[str, ...] = (), implementation_plan: str | None = None,
                backout_plan: str | None = None, test_plan: str | None = None,
                template: ChangeTemplate | None = None, blackout_reason: str | None = None) -> ChangeRequest:
        kind = change_type_of(change_type)
        # A standard change is pre-authorized only as its template describes it: it is requested from one.
        if kind is ChangeType.STANDARD and template is None:
            raise InvalidValue("a standard change is requested from a change template (template_id)",
                               missing=["template_id"])
        if kind is not ChangeType.STANDARD and template is not None:
            raise InvalidValue(f"change templates are for standard changes, not {kind} ones")
        given = dict(short_description=short_description, description=description, assignment_group=assignment_group,
                     implementation_plan=implementation_plan, backout_plan=backout_plan, test_plan=test_plan)
        if template is not None:
            given = template.prefill(given)
        short_description = given["short_description"] or ""
        if not short_description.strip():
            raise InvalidValue("a change request needs a short description")
        check_planned_window(planned_start, planned_end)
        change = cls(
            id=id, number=number, short_description=short_description.strip(), description=given["description"] or "",
            change_type=kind, state=State.NEW, planned_start=planned_start,
            planned_end=planned_end, requested_at=at, updated_at=at, requested_by=requested_by, assignee=assignee,
            assignment_group=given["assignment_group"], affected_cis=distinct(affected_cis),
            implementation_plan=given["implementation_plan"], backout_plan=given["backout_plan"],
            test_plan=given["test_plan"], template_id=template.id if template else None,
            blackout_reason=blackout_reason,  # schedule (issue 15)
        )
        assignment_group = change.assignment_group
        change.activity.append(Activity(ActivityKind.OPENED, requested_by, at, new_value=number,
                                        text=change.short_description))
        change._raise(ChangeRequested(
            change_id=id, number=number, short_description=change.short_description, change_type=change.change_type,
            requested_at=at, planned_start=planned_start, planned_end=planned_end, assignee=assignee,
            assignment_group=assignment_group, affected_cis=change.affected_cis, actor=requested_by), at)
        return change

    @property
    def noun(self) -> str:
        return f"{'an' if self.change_type is ChangeType.EMERGENCY else 'a'} {self.change_type} change"

    def _check_open(self, doing: str) -> None:
        if self.state in FINAL_STATES:
            raise Conflict(f"change {self.number} is {self.state}: it cannot be {doing}", current_state=self.state)

    def update(self, changes: Mapping[str, Any], at: datetime, *, actor: str = SYSTEM) -> None:
        """A PATCH: only the fields named change; what really changed is published as itsm.change.updated
        (nothing, and no new version, when every value was already so)."""
        check_patch(changes, UPDATABLE_FIELDS, NOT_NULL_FIELDS)
        self._check_open("changed")
        wanted = dict(changes)
        if "short_description" in wanted:
            if not wanted["short_description"].strip():
                raise InvalidValue("a change request needs a short description")
            wanted["short_description"] = wanted["short_description"].strip()
        if "affected_cis" in wanted:
            wanted["affected_cis"] = distinct(wanted["affected_cis"])
        start, end = wanted.get("planned_start", self.planned_start), wanted.get("planned_end", self.planned_end)
        check_planned_window(start, end)
        if self.state in WINDOW_KEPT_IN and (start is None or end is None):
            raise InvalidValue(f"a {self.state} change keeps a planned start and end; move them, do not empty them")
        if self.state in SUBMITTED_STATES and self.state is not State.NEW:
            self._check_ready({**self._ready_fields(), **wanted}, f"a {self.state} change keeps what it was submitted "
                              "with; change it, do not empty it")
        if self.state is State.SCHEDULED and any(  # schedule (issue 15): a scheduled window moves, not into a blackout
                name in wanted and wanted[name] != getattr(self, name) for name in RESCHEDULING_FIELDS):
            self._check_blackouts(wanted)
        updated = {name: value for name, value in sorted(wanted.items()) if getattr(self, name) != value}
        if not updated:
            return
        for name, value in updated.items():
            self._line(name, getattr(self, name), value, at, actor)
            setattr(self, name, value)
        self._raise(ChangeUpdated(change_id=self.id, changes=updated, updated_at=at, actor=actor), at)

    def move_to(self, wanted: State, at: datetime, *, actor: str = SYSTEM, reason: str | None = None) -> None:
        """A move along the type's path (POST .../state): not the one only an approval makes."""
        if (self.state, wanted) in DECISION_ONLY:
            raise AwaitsApproval(self.noun, self.state, wanted, MOVES[self.change_type][self.state])
        if wanted in COMMAND_ONLY and wanted in MOVES[self.change_type][self.state]:
            raise NeedsCommand(self.noun, self.state, wanted, MOVES[self.change_type][self.state] - {wanted})
        check_transition(MOVES[self.change_type], self.noun, self.state, wanted)
        if wanted is submission_gate(self.change_type):
            self._check_ready(self._ready_fields(), f"{self.noun} needs these before {wanted}")
        self._move(wanted, at, actor, reason)

    # -- lifecycle (issue 15): approvals by policy, closing ---------------------------------------

    def decide(self, decision: str, comment: str | None, at: datetime, *, actor: str = SYSTEM,
               policy: ApprovalPolicy = CHANGE_MANAGERS) -> None:
        """An approver's decision while the change awaits authorization, for the approval group of its policy:
        a rejection (which must say why) returns it to new at once and ends the round; approvals schedule it once
        the group's rule is met. Each approver decides once a round."""
        if decision not in DECISIONS:
            raise InvalidValue(f"a decision is approve or reject, not {decision!r}")
        awaiting, outcome = DECISIONS[decision]
        if self.state is not awaiting:
            raise Conflict(f"change {self.number} is in state {self.state}, not awaiting approval ({awaiting})",
                           current_state=self.state)
        comment = comment.strip() if comment and comment.strip() else None
        if decision == "reject" and comment is None:
            raise InvalidValue("a rejection needs a comment saying what must change")
        if policy.approvers and actor not in policy.approvers:
            raise Conflict(f"{actor} is not an approver of approval group {policy.group_name}, which authorizes "
                           f"{self.noun} (rule {policy.rule})", approval_group=policy.group_name,
                           approvers=list(policy.approvers))
        if any(a.approver == actor for a in self.round_decisions):
            raise Conflict(f"{actor} has already decided on change {self.number} in this approval round",
                           approval_group=policy.group_name)
        if decision == "approve":
            self._check_window(State.SCHEDULED)
        self.approvals = [*self.approvals, Approval(approver=actor, decision=decision, comment=comment, at=at,
                                                    round=self.approval_round, group=policy.group_name)]
        self.activity.append(Activity(ActivityKind.FIELD, actor, at, field="approval", new_value=decision,
                                      text=f"{policy.group_name} (rule {policy.rule})"
                                      + (f": {comment}" if comment else "")))
        if decision == "reject":
            self._raise(ChangeRejected(change_id=self.id, comment=comment, rejected_at=at, actor=actor), at)
            self._move(outcome, at, actor, comment)
            return
        approved_by = {a.approver for a in self.round_decisions if a.decision == "approve"}
        if not rule_met(policy.rule, policy.approvers, approved_by):
            self._raise(ChangeApprovalRecorded(
                change_id=self.id, approval_group=policy.group_name, rule=policy.rule, approvals=len(approved_by),
                approvers=len(policy.approvers), comment=comment, at=at, actor=actor), at)
            return
        self._raise(ChangeApproved(change_id=self.id, comment=comment, approved_at=at, actor=actor), at)
        self._move(outcome, at, actor, comment)

    @property
    def round_decisions(self) -> list[Approval]:
        """The decisions of the current approval round (a rejection ends a round; resubmitting starts the next)."""
        return [a for a in self.approvals if a.round == self.approval_round] if self.state is State.AUTHORIZE else []

    def close(self, close_code: str, close_notes: str, at: datetime, *, actor: str = SYSTEM) -> None:
        """Closed after review, saying how it went (POST /changes/{id}/close)."""
        code = choice(CloseCode, close_code, "a close code")
        notes = _text(close_notes, "close notes")
        check_transition(TRANSITIONS[self.change_type], self.noun, self.state, State.CLOSED)
        self._line("close_code", self.close_code, code, at, actor)
        self.close_code, self.close_notes, self.closed_at = code, notes, at
        self._move(State.CLOSED, at, actor, None)

    def _ready_fields(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in REQUIRED_TO_AUTHORIZE}

    # -- work orders (issue 17): a work-order template's fields, set through the PATCH's rules --------------------

    def apply_work_order(self, applied: WorkOrderApplied, at: datetime, *,
                         check: Callable[[Mapping[str, Any]], Mapping[str, Any]] = dict) -> bool:
        """The template's fields (`check`: the PATCH model's checks), with a timeline line naming the template, its
        tasks and any field skipped (unknown, moving the change on the calendar, or refused now) and why; a closed or
        canceled change changes nothing (False)."""
        if self.state in FINAL_STATES:
            return False
        actor = applied.actor or SYSTEM
        skipped = apply_fields(self, applied.fields, lambda change, changes: change.update(
            check(changes), at, actor=actor), allowed=WORK_ORDER_FIELDS)
        note = applied_note(applied.template, applied.task_numbers or applied.task_ids, skipped)
        self.activity.append(Activity(ActivityKind.WORK_NOTE, actor, at, text=note))
        return True

    @staticmethod
    def _check_ready(values: Mapping[str, Any], message: str) -> None:
        if missing := missing_to_authorize(values):
            raise InvalidValue(f"{message}: {', '.join(missing)}", missing=missing)

    def _line(self, name: str, old: object, new: object, at: datetime, actor: str) -> None:
        self.activity.append(Activity(ActivityKind.FIELD, actor, at, field=name, old_value=activity_text(old),
                                      new_value=activity_text(new)))

    def _check_window(self, wanted: State) -> None:
        # Scheduling means committing to a window: the change calendar and conflict checks need one.
        if wanted is State.SCHEDULED and (self.planned_start is None or self.planned_end is None):
            raise InvalidValue("a change is scheduled only with a planned start and end")
        if wanted is State.SCHEDULED:  # schedule (issue 15): not into a blackout
            self._check_blackouts({})

    def _move(self, wanted: State, at: datetime, actor: str, reason: str | None) -> None:
        self._check_window(wanted)
        before, self.state = self.state, wanted
        self._line("state", before, wanted, at, actor)
        self._raise(ChangeStateChanged(change_id=self.id, from_state=before, to_state=wanted, reason=reason,
                                       changed_at=at, actor=actor), at)
        self._entered(before, wanted, at, actor, reason)

    def _entered(self, before: State, wanted: State, at: datetime, actor: str, reason: str | None) -> None:
        """What entering a state means beyond the move (lifecycle, issue 15): a new approval round, the time
        implementation started, and the event each milestone publishes."""
        if wanted is State.AUTHORIZE:
            self.approval_round += 1
            if before is State.ASSESS:
                self._raise(ChangeAssessed(change_id=self.id, assessed_at=at, actor=actor), at)
        elif wanted is State.SCHEDULED:
            self._raise(ChangeScheduled(change_id=self.id, planned_start=self.planned_start,
                                        planned_end=self.planned_end, scheduled_at=at, actor=actor), at)
        elif wanted is State.IMPLEMENT:
            self.implemented_at = at
            self._raise(ChangeImplemented(change_id=self.id, affected_cis=self.affected_cis, implemented_at=at,
                                          actor=actor), at)
        elif wanted is State.CLOSED:
            self._raise(ChangeClosed(change_id=self.id, close_code=self.close_code, close_notes=self.close_notes,
                                     affected_cis=self.affected_cis, closed_at=at, actor=actor), at)
        elif wanted is State.CANCELED:
            self._raise(ChangeCanceled(change_id=self.id, from_state=before, reason=reason, canceled_at=at,
                                       actor=actor), at)

    # -- risk (issue 15)
    def assess(self, level: RiskLevel, factors: list[RiskFactor], at: datetime) -> bool:
        """Keep a risk assessment while the change awaits approval (after that, what the approvers saw stays);
        a level that changed is published (the first one, rated as the change is requested, is part of the
        request: it is on the change from its first version). Whether anything was kept."""
        if self.state not in RISK_ASSESSED_IN:
            return False
        before = self.risk
        if (level, factors) == (before, self.risk_factors):
            return False
        self.risk, self.risk_factors, self.risk_assessed_at = level, list(factors), at
        if level != before and before is not None:
            self._raise(ChangeRiskAssessed(
                change_id=self.id, risk=level, previous_risk=before, assessed_at=at,
                factors=[RiskFactorData(name=f.name, detail=f.detail, points=f.points) for f in factors]), at)
        return True

    def check_risk_assessable(self) -> None:
        if self.state not in RISK_ASSESSED_IN:
            raise Conflict(f"change {self.number} is {self.state}: its risk was assessed before approval and stays",
                           current_state=self.state)

    def suspect(self, incident: SuspectedIncident, at: datetime) -> bool:
        """An incident possibly caused by this change (once each)."""
        if any(s.incident_id == incident.incident_id for s in self.suspected_incidents):
            return False
        self.suspected_incidents = [*self.suspected_incidents, incident]
        self._raise(ChangeIncidentSuspected(
            change_id=self.id, incident_id=incident.incident_id, incident_number=incident.number,
            affected_ci=incident.affected_ci, opened_at=incident.opened_at, implemented_at=self.implemented_at), at)
        return True

    # -- schedule (issue 15) --
    @classmethod
    def deployed(cls, *, id: str, number: str, deployment_id: str, ci: str, what: str, version: str,
                 pipeline_url: str | None, started_at: datetime, finished_at: datetime | None, outcome: str | None,
                 at: datetime, actor: str) -> ChangeRequest:
        """A CI/CD pipeline's deployment on a CI, as a standard change already implemented (in review once it
        finished), so that "what changed?" has an answer. Its planned window is the deployment's run."""
        title = f"Deployed {what} {version}".strip()[:160]
        end = finished_at if finished_at is not None and finished_at > started_at else started_at + timedelta(
            seconds=1)
        deployment = {"deployment_id": deployment_id, "ci": ci, "what": what, "version": version,
                      "pipeline_url": pipeline_url, "started_at": started_at.isoformat(),
                      "finished_at": finished_at.isoformat() if finished_at else None, "outcome": outcome}
        change = cls(id=id, number=number, short_description=title, description=f"{DEPLOYED_BY_PIPELINE}: "
                     f"{pipeline_url or 'no pipeline URL given'}", change_type=ChangeType.STANDARD, state=State.NEW,
                     planned_start=started_at, planned_end=end, requested_at=at, updated_at=at, requested_by=actor,
                     affected_cis=[ci], deployment_id=deployment_id, deployment=deployment)
        change._raise(ChangeRequested(
            change_id=id, number=number, short_description=title, change_type=change.change_type, requested_at=at,
            planned_start=started_at, planned_end=end, affected_cis=[ci], actor=actor), at)
        for there in (State.IMPLEMENT, *((State.REVIEW,) if finished_at is not None else ())):
            before, change.state = change.state, there
            change._raise(ChangeStateChanged(change_id=id, from_state=before, to_state=there,
                                             reason=DEPLOYED_BY_PIPELINE, changed_at=at, actor=actor), at)
            if there is State.IMPLEMENT:
                change.implemented_at = started_at
                change._raise(ChangeImplemented(change_id=id, affected_cis=[ci], implemented_at=started_at,
                                                actor=actor), at)
        return change

    def _check_blackouts(self, wanted: Mapping[str, Any]) -> None:
        """Its window (with a PATCH's `wanted` values) against the blackouts the handler loaded."""
        def now(name: str) -> Any:
            return wanted.get(name, getattr(self, name))
        check_blackouts(number=self.number, change_type=self.change_type, start=now("planned_start"),
                        end=now("planned_end"), cis=now("affected_cis"), blackout_reason=now("blackout_reason"),
                        windows=self.blackouts)

    def note_conflicts(self, found: list[dict], at: datetime, *, with_change: str | None = None) -> None:
        """Its conflicts as just computed (`with_change`: only those with that change, the rest kept); each new one
        published as itsm.change.conflict_detected. Conflicts warn: nothing else changes."""
        kept = [c for c in self.conflicts if with_change is not None and c["change_id"] != with_change]
        wanted = sorted([*kept, *found], key=lambda c: (c["number"], c["ci"], c["other_ci"]))
        if wanted == self.conflicts:
            return
        known = {(c["change_id"], c["ci"], c["other_ci"]) for c in self.conflicts}
        self.conflicts = wanted
        new = [c for c in found if (c["change_id"], c["ci"], c["other_ci"]) not in known]
        for c in new:
            self._raise(ChangeConflictDetected(
                change_id=self.id, other_change_id=c["change_id"], other_number=c["number"], ci=c["ci"],
                other_ci=c["other_ci"], relation=c["relation"], detected_at=at), at)
        if not new:  # fewer conflicts: a new version all the same, so that readers' ETags move on
            self.version += 1
            self.updated_at = at

    def _raise(self, event: EventData, at: datetime) -> None:
        self.updated_at = at
        self.record(event)


# -- schedule (issue 15): blackout and maintenance windows, conflicts between changes, deployments ------------

class WindowKind(StrEnum):
    BLACKOUT = "blackout"        # a freeze: nothing is scheduled into it (an emergency that says why aside)
    MAINTENANCE = "maintenance"  # when changes are welcome: shown on the calendar


MAX_WINDOW = timedelta(days=366)
WINDOW_FIELDS = frozenset({"name", "start", "end", "cis", "reason"})
# The states in which a change holds its window on the CIs: where it can collide with another.
HOLDS_ITS_WINDOW = frozenset({State.SCHEDULED, State.IMPLEMENT})
# The calendar shows a change from scheduled until it is reviewed.
ON_THE_CALENDAR = frozenset({State.SCHEDULED, State.IMPLEMENT, State.REVIEW})


def overlaps(start: datetime, end: datetime, other_start: datetime, other_end: datetime) -> bool:
    """Half-open periods [start, end): one ending as the other begins does not overlap it."""
    return start < other_end and other_start < end


@dataclass
class ChangeWindow(Configuration):
    """A blackout or maintenance window over some CIs (no CIs: over everything)."""

    id: str
    kind: WindowKind
    name: str
    start: datetime
    end: datetime
    cis: list[str]
    reason: str
    created_by: str
    created_at: datetime
    updated_at: datetime
    version: int = 1
    FIELDS: ClassVar[frozenset[str]] = WINDOW_FIELDS
    NOT_NULL: ClassVar[frozenset[str]] = WINDOW_FIELDS

    @classmethod
    def create(cls, *, id: str, kind: str, name: str, start: datetime, end: datetime, cis: list[str] | None = None,
               reason: str = "", at: datetime, actor: str = SYSTEM) -> ChangeWindow:
        window = cls(id=id, kind=choice(WindowKind, kind, "a window kind"), name=name.strip(), start=start, end=end,
                     cis=distinct(cis or []), reason=reason.strip(), created_by=actor, created_at=at, updated_at=at)
        window._check()
        return window

    def _normalised(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        return {**changes, **({"cis": distinct(changes["cis"])} if "cis" in changes else {})}

    def _check(self) -> None:
        if not self.name:
            raise InvalidValue("a window needs a name")
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise InvalidValue("a window's start and end need a timezone")
        if self.end <= self.start:
            raise InvalidValue(f"a window's end ({self.end.isoformat()}) must be after its start "
                               f"({self.start.isoformat()})")
        if self.end - self.start > MAX_WINDOW:
            raise InvalidValue(f"a window spans at most {MAX_WINDOW.days} days")

    def covers(self, start: datetime, end: datetime, cis: list[str] | tuple[str, ...]) -> bool:
        """Whether a change in [start, end) on these CIs falls in this window (in time and in scope)."""
        return overlaps(start, end, self.start, self.end) and (not self.cis or bool(set(self.cis) & set(cis)))


class InBlackout(Conflict):
    """Scheduling into a blackout window (409), naming it."""


def check_blackouts(*, number: str, change_type: ChangeType, start: datetime | None, end: datetime | None,
                    cis: list[str], blackout_reason: str | None, windows: Iterable[ChangeWindow]) -> None:
    """Refuses a window that falls in a blackout over the change's CIs, unless the change is an emergency and says
    why (blackout_reason)."""
    if start is None or end is None:
        return
    hit = sorted((w for w in windows if w.kind is WindowKind.BLACKOUT and w.covers(start, end, cis)),
                 key=lambda w: (w.start, w.id))
    if not hit or (change_type is ChangeType.EMERGENCY and (blackout_reason or "").strip()):
        return
    first = hit[0]
    raise InBlackout(
        f"change {number} would run in blackout window {first.name!r} ({first.start.isoformat()} to "
        f"{first.end.isoformat()}){': ' + first.reason if first.reason else ''}; move its window, or (an emergency "
        f"change only) give a blackout_reason",
        blackouts=[{"id": w.id, "name": w.name, "start": w.start.isoformat(), "end": w.end.isoformat()} for w in hit])


class Relation(StrEnum):
    SAME_CI = "same_ci"
    DEPENDS_ON = "depends_on"          # the other change's CI depends on this change's CI
    DEPENDED_ON_BY = "depended_on_by"  # this change's CI depends on the other change's CI


MIRRORED = {Relation.SAME_CI: Relation.SAME_CI, Relation.DEPENDS_ON: Relation.DEPENDED_ON_BY,
            Relation.DEPENDED_ON_BY: Relation.DEPENDS_ON}


@dataclass(frozen=True)
class Related:
    """The CMDB graph around some CIs: for each, the CIs depending on it and those it depends on (directly or
    not), as the handler read them."""

    dependents: Mapping[str, frozenset[str]] = field(default_factory=dict)
    dependencies: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def relation(self, ci: str, other: str) -> Relation | None:
        if ci == other:
            return Relation.SAME_CI
        if other in self.dependents.get(ci, ()):
            return Relation.DEPENDS_ON
        if other in self.dependencies.get(ci, ()):
            return Relation.DEPENDED_ON_BY
        return None


def conflict_reason(relation: Relation, ci: str, other_ci: str, other_number: str) -> str:
    if relation is Relation.SAME_CI:
        return f"{other_number} works on the same CI ({ci}) in an overlapping window"
    if relation is Relation.DEPENDS_ON:
        return f"{other_number} works on {other_ci}, which depends on {ci}, in an overlapping window"
    return f"{other_number} works on {other_ci}, which {ci} depends on, in an overlapping window"


def conflict(other_id: str, other_number: str, ci: str, other_ci: str, relation: Relation) -> dict:
    return {"change_id": other_id, "number": other_number, "ci": ci, "other_ci": other_ci,
            "relation": str(relation), "reason": conflict_reason(relation, ci, other_ci, other_number)}


def conflicts_between(change: ChangeRequest, others: Iterable[ChangeRequest], related: Related) -> list[dict]:
    """The other changes colliding with this one: holding their window (scheduled or implementing) at an
    overlapping time on the same CI or one related to its CIs through dependencies; one entry per (change, CI
    pair), ordered. Nothing while this change holds no window."""
    if change.state not in HOLDS_ITS_WINDOW or change.planned_start is None or change.planned_end is None:
        return []
    found = []
    for other in others:
        if (other.id == change.id or other.state not in HOLDS_ITS_WINDOW or other.planned_start is None
                or other.planned_end is None
                or not overlaps(change.planned_start, change.planned_end, other.planned_start, other.planned_end)):
            continue
        for ci in change.affected_cis:
            for other_ci in other.affected_cis:
                if (relation := related.relation(ci, other_ci)) is not None:
                    found.append(conflict(other.id, other.number, ci, other_ci, relation))
    return sorted(found, key=lambda c: (c["number"], c["ci"], c["other_ci"]))


def mirrored(found: Iterable[dict], change: ChangeRequest) -> list[dict]:
    """The same conflicts as the other change lists them (its CI first)."""
    return [conflict(change.id, change.number, c["other_ci"], c["ci"], MIRRORED[Relation(c["relation"])])
            for c in found]


RESCHEDULING_FIELDS = ("planned_start", "planned_end", "affected_cis", "blackout_reason")
DEPLOYED_BY_PIPELINE = "deployed by a CI/CD pipeline"


# -- risk (issue 15): computed from the CI graph, change history, incidents and the window; explained ------------

# Risk is assessed, and reassessed as its inputs change, until the change is approved: what the approvers saw stays.
RISK_ASSESSED_IN = frozenset({State.NEW, State.ASSESS, State.AUTHORIZE})
FAILED_CLOSE_CODES = frozenset({"unsuccessful", "backed_out"})
FAILED_CHANGES_LOOKBACK_DAYS = 90
OPEN_INCIDENT_PRIORITIES = (1, 2)  # the open incidents that count: P1 and P2


@dataclass(frozen=True)
class RiskFactor:
    """One reason for a change's risk, as an approver reads it: what, which records, how many points."""

    name: str
    detail: str
    points: int


@dataclass(frozen=True)
class Scoring:
    """One row of the risk table: points for each record found (services, CIs, changes, incidents), up to `most`."""

    name: str
    explains: str
    each: int
    most: int


# The risk table, in the order an approver reads it. Each input names the records behind it; the factor's points are
# `each` per record, capped at `most`; the level is the band the total falls in.
RISK_TABLE: tuple[Scoring, ...] = (
    Scoring("business_services", "{n} business services depend on the affected CIs", each=2, most=6),
    Scoring("critical_cis", "{n} critical CIs (criticality 1) are or depend on the affected CIs", each=1, most=3),
    Scoring("failed_changes", "{n} changes on the affected CIs failed or were backed out in the last "
            f"{FAILED_CHANGES_LOOKBACK_DAYS} days", each=2, most=4),
    Scoring("open_p1_incidents", "{n} open P1 incidents on the affected CIs or their dependants", each=3, most=6),
    Scoring("open_p2_incidents", "{n} open P2 incidents on the affected CIs or their dependants", each=1, most=2),
    Scoring("business_hours", "the planned window falls in business hours (Mon-Fri 08:00-18:00)", each=2, most=2),
    # Only an emergency change gets into a freeze (with its reason): the freeze was declared for a reason.
    Scoring("freeze", "the planned window falls in {n} blackout (freeze) windows over the affected CIs", each=3,
            most=3),
)
NAMED_AT_MOST = 10  # records a factor names; the rest are counted ("and 42 more")


class RiskLevel(StrEnum):
    LOW = "low"
    MODERATE = "moderate"
    HIGH = "high"
    VERY_HIGH = "very_high"


# Total points -> level: the first band whose floor the total reaches.
RISK_BANDS: tuple[tuple[int, RiskLevel], ...] = (
    (8, RiskLevel.VERY_HIGH), (5, RiskLevel.HIGH), (3, RiskLevel.MODERATE), (0, RiskLevel.LOW),
)
BUSINESS_DAYS = frozenset(range(5))  # Monday .. Friday
BUSINESS_HOURS = (time(8), time(18))


def in_business_hours(start: datetime | None, end: datetime | None, timezone: str) -> bool:
    """Whether [start, end) overlaps Mon-Fri 08:00-18:00 in the timezone (an unknown window does not)."""
    if start is None or end is None:
        return False
    zone = ZoneInfo(timezone)
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    day = local_start.date()
    while day <= local_end.date():
        if day.weekday() in BUSINESS_DAYS:
            opens = datetime.combine(day, BUSINESS_HOURS[0], zone)
            closes = datetime.combine(day, BUSINESS_HOURS[1], zone)
            if local_start < closes and opens < local_end:
                return True
        if (day - local_start.date()).days > 7:  # a week or more always holds a working day
            return True
        day += timedelta(days=1)
    return False


def assess_risk(found: Mapping[str, Sequence[str]]) -> tuple[RiskLevel, list[RiskFactor]]:
    """The level and the factors that produced it, from the records found for each row of RISK_TABLE (name -> the
    records, named as a person reads them). A row with nothing found adds nothing and is not listed."""
    factors = []
    for row in RISK_TABLE:
        records = list(dict.fromkeys(found.get(row.name, ())))
        if records:
            named = ", ".join(records[:NAMED_AT_MOST]) + (
                f" and {len(records) - NAMED_AT_MOST} more" if len(records) > NAMED_AT_MOST else "")
            factors.append(RiskFactor(row.name, f"{row.explains.format(n=len(records))}: {named}",
                                      min(row.each * len(records), row.most)))
    total = sum(f.points for f in factors)
    level = next(level for floor, level in RISK_BANDS if total >= floor)
    return level, sorted(factors, key=lambda f: -f.points)


@dataclass(frozen=True)
class SuspectedIncident:
    """An incident opened on a changed CI (or one depending on it) soon after implementation."""

    incident_id: str
    number: str | None
    affected_ci: str
    opened_at: datetime


def suspected_within(implemented_at: datetime | None, opened_at: datetime, window: timedelta) -> bool:
    """Whether an incident opened then falls in the window after the change's implementation."""
    return implemented_at is not None and implemented_at <= opened_at <= implemented_at + window
