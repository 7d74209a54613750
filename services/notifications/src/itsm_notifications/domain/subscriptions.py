"""Subscriptions, pure: which events, filtered on their fields, go to which recipients over which channel.

A subscription names one event type, a filter (conditions that must all hold on the event's data, or on the copy
of the record it speaks of with "record.<field>"), its recipients and its channel. Admins manage them as data; the
pipeline (handlers.pipeline) asks `matches` and `wanted` for each event.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from itsm_contracts import REGISTRY, topics
from itsm_kit.domain import Configuration, InvalidValue
from itsm_notifications.domain.directory import GroupWithMembers, Person

# What a subscription may name: every event of the topics the service consumes (consumers.py maps each to the
# pipeline).
SUBSCRIBABLE_TOPICS = (topics.INCIDENTS, topics.SLA, topics.CHANGES, topics.PROBLEMS, topics.REQUESTS)
EVENT_TYPES: frozenset[str] = frozenset(m.type for m in REGISTRY.values() if m.topic in SUBSCRIBABLE_TOPICS)

OPS = ("==", "!=", "<", "<=", ">", ">=", "in", "not_in", "exists")
# people_in (issue 17): the usernames a field of the event holds, e.g. a request's "approvers" or "requested_for".
RECIPIENT_KINDS = ("assignee", "assignment_group", "escalation_group", "group", "person", "endpoint", "people_in")
NAMED_KINDS = frozenset({"group", "person", "people_in"})  # the ones whose value names who (or where to look)
MAX_PEOPLE_IN = 100  # usernames taken from one field of one event
CHANNELS = ("email", "slack", "teams", "webhook", "pagerduty", "jira")
ENDPOINT_CHANNELS = frozenset(CHANNELS) - {"email"}
URGENCIES = ("high", "low")

MAX_CONDITIONS = 20
MAX_RECIPIENTS = 20
MAX_LIST_VALUES = 100
MAX_PATH_PARTS = 5
RECORD_PREFIX = "record."

FIELDS = frozenset({"name", "event_type", "filter", "recipients", "channel", "endpoint_id", "template", "urgency",
                    "enabled"})
NOT_NULL = FIELDS - {"endpoint_id", "template"}


def check_filter(conditions: Sequence[Mapping[str, Any]]) -> None:
    """422 naming the condition that is not one we can evaluate."""
    if len(conditions) > MAX_CONDITIONS:
        raise InvalidValue(f"a filter has at most {MAX_CONDITIONS} conditions", field="filter")
    for n, condition in enumerate(conditions):
        where = f"filter[{n}]"
        path = condition.get("field")
        if not isinstance(path, str) or not path or len(path.split(".")) > MAX_PATH_PARTS + 1 \
                or any(not part for part in path.split(".")):
            raise InvalidValue(f"{where}.field must name a field (dotted path), not {path!r}", field=f"{where}.field")
        op = condition.get("op")
        if op not in OPS:
            raise InvalidValue(f"{where}.op is one of {', '.join(OPS)}, not {op!r}", field=f"{where}.op")
        value = condition.get("value")
        if op in ("in", "not_in") and not (isinstance(value, list) and len(value) <= MAX_LIST_VALUES):
            raise InvalidValue(f"{where}.value must be a list (at most {MAX_LIST_VALUES}) for {op}",
                               field=f"{where}.value")
        if op in ("<", "<=", ">", ">=") and (isinstance(value, bool) or not isinstance(value, int | float | str)):
            raise InvalidValue(f"{where}.value must be a number or a text for {op}", field=f"{where}.value")


def check_recipients(recipients: Sequence[Mapping[str, Any]], channel: str) -> None:
    if len(recipients) > MAX_RECIPIENTS:
        raise InvalidValue(f"a subscription has at most {MAX_RECIPIENTS} recipients", field="recipients")
    for n, recipient in enumerate(recipients):
        where = f"recipients[{n}]"
        kind, value = recipient.get("kind"), recipient.get("value")
        if kind not in RECIPIENT_KINDS:
            raise InvalidValue(f"{where}.kind is one of {', '.join(RECIPIENT_KINDS)}, not {kind!r}",
                               field=f"{where}.kind")
        if kind in NAMED_KINDS and not (isinstance(value, str) and value):
            raise InvalidValue(f"{where}.value must name the {kind}", field=f"{where}.value")
        if kind == "people_in" and (len(value.split(".")) > MAX_PATH_PARTS + 1 or not all(value.split("."))):
            raise InvalidValue(f"{where}.value must name a field (dotted path) of the event, not {value!r}",
                               field=f"{where}.value")
        if kind not in NAMED_KINDS and value is not None:
            raise InvalidValue(f"{where}.value is not taken by kind {kind}", field=f"{where}.value")
        if (kind == "endpoint") != (channel in ENDPOINT_CHANNELS):
            raise InvalidValue(f"{where}.kind {kind} does not go with channel {channel}: e-mail goes to people and "
                               f"groups, other channels to the subscription's endpoint", field=f"{where}.kind")
    if channel == "email" and not recipients:
        raise InvalidValue("an e-mail subscription names at least one recipient", field="recipients")


@dataclass
class Subscription(Configuration):
    id: str
    name: str
    event_type: str
    filter: list[dict[str, Any]]
    recipients: list[dict[str, Any]]
    channel: str
    endpoint_id: str | None
    template: str | None
    urgency: str
    enabled: bool
    created_at: datetime
    updated_at: datetime
    version: int = 1
    FIELDS: ClassVar[frozenset[str]] = FIELDS
    NOT_NULL: ClassVar[frozenset[str]] = NOT_NULL

    @classmethod
    def create(cls, *, id: str, at: datetime, name: str, event_type: str, channel: str, urgency: str = "high",
               filter: list[dict[str, Any]] | None = None, recipients: list[dict[str, Any]] | None = None,
               endpoint_id: str | None = None, template: str | None = None, enabled: bool = True) -> Subscription:
        subscription = cls(id=id, name=name, event_type=event_type, filter=list(filter or []),
                           recipients=list(recipients or []), channel=channel, endpoint_id=endpoint_id,
                           template=template, urgency=urgency, enabled=enabled, created_at=at, updated_at=at)
        subscription._check()
        return subscription

    def _check(self) -> None:
        if not self.name.strip():
            raise InvalidValue("a subscription's name must not be blank", field="name")
        if self.event_type not in EVENT_TYPES:
            raise InvalidValue(f"event_type {self.event_type!r} is not an event the service hears of",
                               field="event_type")
        if self.channel not in CHANNELS:
            raise InvalidValue(f"channel is one of {', '.join(CHANNELS)}, not {self.channel!r}", field="channel")
        if self.urgency not in URGENCIES:
            raise InvalidValue(f"urgency is one of {', '.join(URGENCIES)}, not {self.urgency!r}", field="urgency")
        if (self.endpoint_id is None) == (self.channel in ENDPOINT_CHANNELS):
            raise InvalidValue("endpoint_id is required for a non-e-mail channel, and taken by no other",
                               field="endpoint_id")
        check_filter(self.filter)
        check_recipients(self.recipients, self.channel)


# -- matching ------------------------------------------------------------------------------------------------

MISSING = object()


def lookup(path: str, data: Mapping[str, Any], record: Mapping[str, Any] | None) -> Any:
    """The value a condition's field names: a dotted path into the event's data, or into the record copy."""
    source: Any = data
    if path.startswith(RECORD_PREFIX):
        source, path = record, path.removeprefix(RECORD_PREFIX)
    for part in path.split("."):
        if isinstance(source, Mapping) and part in source:
            source = source[part]
        elif isinstance(source, list) and part.isdigit() and int(part) < len(source):
            source = source[int(part)]
        else:
            return MISSING
    return source


def _same(a: Any, b: Any) -> bool:
    # true is not 1 here: priority == true must not hold for a P1.
    return a == b and isinstance(a, bool) == isinstance(b, bool)


def holds(condition: Mapping[str, Any], data: Mapping[str, Any], record: Mapping[str, Any] | None) -> bool:
    actual = lookup(condition["field"], data, record)
    op, value = condition["op"], condition.get("value")
    if op == "exists":
        present = actual is not MISSING and actual is not None
        return present if value is None else present == bool(value)
    if op == "==":
        return actual is not MISSING and _same(actual, value)
    if op == "!=":
        return actual is MISSING or not _same(actual, value)
    if op == "in":
        return actual is not MISSING and any(_same(actual, v) for v in value)
    if op == "not_in":
        return actual is MISSING or not any(_same(actual, v) for v in value)
    comparable = (isinstance(actual, int | float) and isinstance(value, int | float)
                  and not isinstance(actual, bool)) or (isinstance(actual, str) and isinstance(value, str))
    if not comparable:
        return False
    return {"<": actual < value, "<=": actual <= value, ">": actual > value, ">=": actual >= value}[op]


def matches(conditions: Iterable[Mapping[str, Any]], data: Mapping[str, Any],
            record: Mapping[str, Any] | None) -> bool:
    return all(holds(c, data, record) for c in conditions)


# -- recipients ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Wanted:
    """Whom a matching subscription names for one event: usernames and group names, for the directory."""

    people: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    endpoint: bool = False


def _current(name: str, data: Mapping[str, Any], record: Mapping[str, Any] | None) -> str | None:
    """The event's value when it carries the field, else the record copy's."""
    if name in data:
        return data[name]
    return (record or {}).get(name)


def wanted(subscription: Subscription, data: Mapping[str, Any], record: Mapping[str, Any] | None) -> Wanted:
    people: list[str] = []
    groups: list[str] = []
    endpoint = False
    for recipient in subscription.recipients:
        kind, value = recipient["kind"], recipient.get("value")
        if kind == "assignee":
            value = _current("assignee", data, record)
        elif kind == "assignment_group":
            value = _current("assignment_group", data, record)
        elif kind == "escalation_group":
            value = data.get("escalation_group")  # the SLA definition's, as the breach names it
        elif kind == "endpoint":
            endpoint = True
            continue
        elif kind == "people_in":  # a username, or a list of them, in the event (or the record copy)
            named = lookup(value, data, record)
            for username in (named if isinstance(named, list) else [named])[:MAX_PEOPLE_IN]:
                if isinstance(username, str) and username and username not in people:
                    people.append(username)
            continue
        if not value:
            continue
        target = people if kind in ("assignee", "person") else groups
        if value not in target:
            target.append(value)
    if subscription.channel in ENDPOINT_CHANNELS:
        endpoint = True  # one delivery to the subscription's endpoint, whatever else it names
    return Wanted(tuple(people), tuple(groups), endpoint)


@dataclass(frozen=True)
class Address:
    """One e-mail recipient: the address, the person (for quiet hours), and the name templates greet."""

    email: str
    name: str
    person: Person | None = None


def addresses(who: Wanted, people: Mapping[str, Person], groups: Mapping[str, GroupWithMembers]) -> list[Address]:
    """The e-mail addresses `who` resolve to: each active person with an e-mail, each active member of each group
    with one, and the group's shared mailbox. One address once."""
    found: dict[str, Address] = {}

    def person(p: Person) -> None:
        if p.active and p.email and p.email.lower() not in found:
            found[p.email.lower()] = Address(p.email, p.name, p)

    for username in who.people:
        if username in people:
            person(people[username])
    for name in who.groups:
        group = groups.get(name)
        if group is None:
            continue
        for member in group.members:
            person(member)
        if group.email and group.email.lower() not in found:
            found[group.email.lower()] = Address(group.email, group.name)
    return list(found.values())
