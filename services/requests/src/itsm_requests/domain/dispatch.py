"""Dispatch: which group gets a record (rules as data, the first that matches wins), then who in the group (the
group's method: round robin, least loaded, or nobody).

Pure: the handler gathers what the rules look at (a record's traits: its CI's class and owner group, its
requester's location) and what the methods weigh (the group's active members, their open work), and this module
decides. Rules are compiled once into a Ruleset (values as sets, per record type, in order), which a process keeps
until the rules change, so that a decision over hundreds of rules is a few set lookups each.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from itsm_kit.domain import SYSTEM, Configuration, InvalidValue, choice


@dataclass(frozen=True)
class Facts:
    """What the rules may look at for one record."""

    record_type: str  # incident | problem | task
    category: str | None = None
    business_service: str | None = None
    ci: str | None = None  # a CI id or name: the rules see its class and owner group
    priority: int | None = None
    requester: str | None = None  # a username: the rules see the person's location
    task: str | None = None  # a task's name: the parallel tasks of one item may go to different groups


@dataclass(frozen=True)
class Decision:
    """The group and person chosen, and how: the rule (as named, and its version, then) and the group's method."""

    assignment_group: str | None
    assignee: str | None = None
    rule: str | None = None
    rule_version: int | None = None
    method: str | None = None
    rules_evaluated: int = 0  # how many rules were looked at (the dry run shows it)


class RecordType(StrEnum):
    INCIDENT = "incident"
    PROBLEM = "problem"
    TASK = "task"


class Method(StrEnum):
    ROUND_ROBIN = "round_robin"
    LEAST_LOADED = "least_loaded"
    NONE = "none"


# The conditions a rule may set: each the name of a Traits field, a list of accepted values.
TEXT_CONDITIONS = ("category", "business_service", "ci_class", "ci_owner_group", "requester_location", "task")
CONDITIONS = (*TEXT_CONDITIONS, "priority")
MAX_VALUES = 100
MAX_VALUE_LENGTH = 255
MAX_DESCRIPTION = 2_000


@dataclass(frozen=True)
class Traits:
    """A record as the rules see it: the facts, with its CI and requester looked up."""

    record_type: str
    category: str | None = None
    business_service: str | None = None
    ci_class: str | None = None
    ci_owner_group: str | None = None
    priority: int | None = None
    requester_location: str | None = None
    task: str | None = None


def traits_of(facts: Facts, *, ci_class: str | None = None, ci_owner_group: str | None = None,
              requester_location: str | None = None) -> Traits:
    return Traits(record_type=facts.record_type, category=facts.category, business_service=facts.business_service,
                  ci_class=ci_class, ci_owner_group=ci_owner_group, priority=facts.priority,
                  requester_location=requester_location, task=facts.task)


def _folded(value: Any) -> Any:
    # Admins write "Network", records say "network": text is compared ignoring case and surrounding blanks.
    return value.strip().casefold() if isinstance(value, str) else value


# -- rules ----------------------------------------------------------------------------------------------------

RULE_FIELDS = frozenset({"name", "position", "description", "record_types", "conditions", "assignment_group",
                         "enabled"})


@dataclass
class DispatchRule(Configuration):
    """Records of these types that meet every condition go to assignment_group; the first enabled rule by
    position that matches wins."""

    id: str
    name: str
    position: int
    description: str
    record_types: list[str]
    conditions: dict[str, list]
    assignment_group: str
    enabled: bool
    created_at: datetime
    updated_at: datetime
    updated_by: str = SYSTEM
    version: int = 1
    FIELDS: ClassVar[frozenset[str]] = RULE_FIELDS
    NOT_NULL: ClassVar[frozenset[str]] = RULE_FIELDS

    @classmethod
    def create(cls, *, id: str, name: str, position: int, record_types: Sequence[str], assignment_group: str,
               at: datetime, description: str = "", conditions: Mapping[str, Sequence] | None = None,
               enabled: bool = True, actor: str = SYSTEM) -> DispatchRule:
        fields = cls._tidy({"name": name, "description": description, "record_types": record_types,
                            "conditions": conditions or {}, "assignment_group": assignment_group})
        rule = cls(id=id, position=position, enabled=enabled, created_at=at, updated_at=at, updated_by=actor,
                   **fields)
        rule._check()
        return rule

    def _normalised(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        return self._tidy(changes)

    @staticmethod
    def _tidy(fields: Mapping[str, Any]) -> dict[str, Any]:
        """Repeats dropped (the first kept), text trimmed: what is stored, and what a change is compared with."""
        tidy = dict(fields)
        for name in ("name", "assignment_group", "description"):
            if isinstance(tidy.get(name), str):
                tidy[name] = tidy[name].strip()
        if isinstance(tidy.get("record_types"), list | tuple):
            tidy["record_types"] = list(dict.fromkeys(tidy["record_types"]))
        if isinstance(tidy.get("conditions"), Mapping):
            tidy["conditions"] = {
                name: list(dict.fromkeys(v.strip() if isinstance(v, str) else v for v in values))
                if isinstance(values, list | tuple) else values
                for name, values in tidy["conditions"].items()}
        return tidy

    def _check(self) -> None:
        for text, what, longest in ((self.name, "a rule's name", 200), (self.assignment_group, "its group", 100)):
            if not text:
                raise InvalidValue(f"{what} must not be blank")
            if len(text) > longest:
                raise InvalidValue(f"{what} is at most {longest} characters")
        if len(self.description) > MAX_DESCRIPTION:
            raise InvalidValue(f"a rule's description is at most {MAX_DESCRIPTION} characters")
        if not self.record_types:
            raise InvalidValue("a rule names at least one record type (incident, problem, task)")
        self.record_types = [choice(RecordType, t, "a record type").value for t in self.record_types]
        if self.position < 1:
            raise InvalidValue(f"a rule's position starts at 1, got {self.position}")
        check_conditions(self.conditions)


def check_conditions(conditions: Mapping[str, Any]) -> None:
    if unknown := sorted(set(conditions) - set(CONDITIONS)):
        raise InvalidValue(f"unknown conditions: {', '.join(unknown)}; a rule may set {', '.join(CONDITIONS)}",
                           conditions=sorted(CONDITIONS))
    for name, values in conditions.items():
        if not isinstance(values, list) or not values:
            raise InvalidValue(f"condition {name} lists the values it accepts (at least one)")
        if len(values) > MAX_VALUES:
            raise InvalidValue(f"condition {name} accepts at most {MAX_VALUES} values")
        if name == "priority":
            if not all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 5 for v in values):
                raise InvalidValue("condition priority accepts priorities from 1 to 5")
        elif not all(isinstance(v, str) and 0 < len(v) <= MAX_VALUE_LENGTH for v in values):
            raise InvalidValue(f"condition {name} accepts texts of 1 to {MAX_VALUE_LENGTH} characters")


def place(wanted: int | None, count: int) -> int:
    """Where a rule goes among `count` rules (itself included): past the end is last, and nothing before 1."""
    return count if wanted is None else max(1, min(wanted, count))


@dataclass(frozen=True)
class CompiledRule:
    """A rule as decisions use it: its conditions as sets of folded values."""

    name: str
    version: int
    assignment_group: str
    tests: tuple[tuple[str, frozenset], ...]


def compile_rule(rule: DispatchRule) -> CompiledRule:
    return CompiledRule(rule.name, rule.version, rule.assignment_group,
                        tuple((name, frozenset(_folded(v) for v in values))
                              for name, values in sorted(rule.conditions.items())))


class Ruleset:
    """The rules in evaluation order (position, then name), the disabled left out, per record type."""

    def __init__(self, rules: Iterable[DispatchRule]):
        ordered = sorted(rules, key=lambda r: (r.position, r.name))
        self.by_type: dict[str, tuple[CompiledRule, ...]] = {
            t.value: tuple(compile_rule(r) for r in ordered if r.enabled and t.value in r.record_types)
            for t in RecordType}
        # The conditions some rule sets: what is worth looking up for a record (its CI, its requester).
        self.uses = frozenset(name for rules in self.by_type.values() for rule in rules for name, _ in rule.tests)

    def first(self, traits: Traits) -> tuple[CompiledRule | None, int]:
        """The first rule that matches, and how many were looked at."""
        rules = self.by_type.get(traits.record_type, ())
        seen = {name: _folded(getattr(traits, name)) for name in CONDITIONS}  # folded once, not once per rule
        for evaluated, rule in enumerate(rules, 1):
            for name, accepted in rule.tests:
                if seen[name] not in accepted:
                    break
            else:
                return rule, evaluated
        return None, len(rules)


def first_match(rules: Iterable[DispatchRule], traits: Traits) -> tuple[CompiledRule | None, int]:
    return Ruleset(rules).first(traits)


# -- who in the group -------------------------------------------------------------------------------------------

TASK_WEIGHT = 3  # a task weighs as a moderate incident
UNKNOWN_PRIORITY = 3


def work_weight(record_type: str, priority: int | None) -> int:
    """How much one open record weighs for least loaded: a P1 (5) far more than a P5 (1); a task a fixed weight."""
    if record_type == RecordType.TASK:
        return TASK_WEIGHT
    return 6 - max(1, min(5, priority if priority is not None else UNKNOWN_PRIORITY))


@dataclass(frozen=True)
class Member:
    username: str
    active: bool = True


def eligible(members: Iterable[Member]) -> list[str]:
    """Who may get work, in the stable order turns follow: active members by username (never an inactive one)."""
    return sorted({m.username for m in members if m.active})


def round_robin(members: Iterable[Member], last: str | None) -> str | None:
    """The next active member after who had the last turn, wrapping round (one gone since: whoever follows them)."""
    order = eligible(members)
    if not order:
        return None
    return next((m for m in order if last is not None and m > last), order[0])


def least_loaded(members: Iterable[Member], loads: Mapping[str, int]) -> str | None:
    """The active member with the least open work by weight; ties go to the first in the stable order."""
    order = eligible(members)
    return min(order, key=lambda m: (loads.get(m, 0), m)) if order else None


def pick(method: str | None, members: Iterable[Member], *, last: str | None = None,
         loads: Mapping[str, int] | None = None) -> str | None:
    if method == Method.ROUND_ROBIN:
        return round_robin(members, last)
    if method == Method.LEAST_LOADED:
        return least_loaded(members, loads or {})
    return None


GROUP_FIELDS = frozenset({"method"})


@dataclass
class DispatchGroup(Configuration):
    """How a group's work goes to its members; a group with none: nobody (the group's queue)."""

    name: str
    method: Method
    last_assignee: str | None
    created_at: datetime
    updated_at: datetime
    updated_by: str = SYSTEM
    version: int = 1
    FIELDS: ClassVar[frozenset[str]] = GROUP_FIELDS
    NOT_NULL: ClassVar[frozenset[str]] = GROUP_FIELDS

    @classmethod
    def create(cls, *, name: str, method: str, at: datetime, actor: str = SYSTEM) -> DispatchGroup:
        return cls(name=name, method=choice(Method, method, "a method"), last_assignee=None, created_at=at,
                   updated_at=at, updated_by=actor)

    def _normalised(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        return {**changes, "method": choice(Method, changes["method"], "a method")}
