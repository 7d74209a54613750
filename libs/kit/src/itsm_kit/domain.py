"""Pure building blocks every practice's domain uses. No I/O, no framework.

- errors a rule raises (the HTTP layer turns them into 409/422 problem details);
- the check of a move against a transition table;
- the (sequence, event) list an aggregate keeps until the handler stores it;
- the impact x urgency priority matrix ITIL practices share;
- the line of a record's timeline.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, TypeVar

from itsm_contracts.events import EventData


SYSTEM = "system"  # who acts when no person does


class DomainError(Exception):
    """A rule said no. `details` become members of the problem answer."""

    def __init__(self, message: str, **details: Any):
        super().__init__(message)
        self.details = details


class InvalidValue(DomainError):
    """The request itself breaks a rule (422)."""


class Conflict(DomainError):
    """The request clashes with the current state of things (409)."""


class InvalidTransition(Conflict):
    def __init__(self, noun: str, current: str, wanted: str, allowed: frozenset[str]):
        self.current, self.wanted, self.allowed = current, wanted, sorted(allowed)
        allowed_text = ", ".join(self.allowed) or "none (final state)"
        super().__init__(f"{noun} in state {current} cannot move to {wanted}; allowed: {allowed_text}",
                         current_state=current, allowed_states=self.allowed)


S = TypeVar("S", bound=str)
E = TypeVar("E", bound=StrEnum)


def check_transition(table: Mapping[S, frozenset[S]], noun: str, current: S, wanted: S) -> None:
    """Refuse a move the transition table does not list, naming the ones it does."""
    if wanted not in table[current]:
        raise InvalidTransition(noun, current, wanted, table[current])


def check_patch(changes: Mapping[str, object], updatable: frozenset[str], not_null: frozenset[str]) -> None:
    """A PATCH names at least one field, only fields that change this way, and empties none that must hold a value."""
    if unknown := sorted(set(changes) - updatable):
        raise InvalidValue(f"these fields cannot be changed this way: {', '.join(unknown)}")
    if not changes:
        raise InvalidValue("name at least one field to change")
    if nulls := sorted(name for name in not_null & set(changes) if changes[name] is None):
        raise InvalidValue(f"these fields cannot be emptied: {', '.join(nulls)}")


def choice(choices: type[E], value: str, what: str) -> E:
    """`value` as a member of `choices`, or an InvalidValue that lists them."""
    try:
        return choices(value)
    except ValueError:
        raise InvalidValue(f"{what} is one of {', '.join(choices)}, not {value!r}") from None


class Configuration:
    """For the records admins manage (detection rules, change templates, approval policies, change windows): a
    version and no events. A PATCH sets only `FIELDS`, empties none of `NOT_NULL`; `_normalised` tidies what it sends
    (repeats, text), `_check` holds the record's own rules once it is changed."""

    FIELDS: ClassVar[frozenset[str]]
    NOT_NULL: ClassVar[frozenset[str]]
    version: int
    updated_at: datetime

    def update(self, changes: Mapping[str, Any], at: datetime, *, actor: str | None = None) -> None:
        """A new version only when something really changed."""
        check_patch(changes, self.FIELDS, self.NOT_NULL)
        changed = {name: value for name, value in self._normalised(changes).items() if getattr(self, name) != value}
        if not changed:
            return
        for name, value in changed.items():
            setattr(self, name, value)
        self._check()
        self.updated_at, self.version = at, self.version + 1
        if actor is not None and hasattr(self, "updated_by"):
            self.updated_by = actor

    def _normalised(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        return dict(changes)

    def _check(self) -> None:
        pass


class RaisesEvents:
    """For aggregate dataclasses with `version` and `events` fields.

    `events` holds what the aggregate raised since it was loaded, each with its sequence
    number; the handler stores them with the aggregate. One version per event, so an
    event's sequence is the aggregate's version after it.
    """

    version: int
    events: list[tuple[int, EventData]]

    def record(self, event: EventData) -> None:
        self.version += 1
        self.events.append((self.version, event))


# Impact x urgency -> priority (1 Critical .. 5 Planning): ServiceNow's default lookup rules,
# which incidents and problems share.
DEFAULT_PRIORITY_MATRIX: Mapping[tuple[int, int], int] = {
    (1, 1): 1, (1, 2): 2, (1, 3): 3,
    (2, 1): 2, (2, 2): 3, (2, 3): 4,
    (3, 1): 3, (3, 2): 4, (3, 3): 5,
}
PRIORITY_LABELS: Mapping[int, str] = {1: "Critical", 2: "High", 3: "Moderate", 4: "Low", 5: "Planning"}


def priority_of(impact: int, urgency: int, matrix: Mapping[tuple[int, int], int] = DEFAULT_PRIORITY_MATRIX) -> int:
    try:
        return matrix[(impact, urgency)]
    except KeyError:
        raise InvalidValue(f"impact and urgency run from 1 (high) to 3 (low), got {impact} and {urgency}") from None


# --- a record's timeline: what changed, who did it, comments and internal work notes ---------------

class ActivityKind(StrEnum):
    OPENED = "opened"
    FIELD = "field"          # one field changed: old -> new
    COMMENT = "comment"      # seen by the record's requester
    WORK_NOTE = "work_note"  # internal to those who work it


@dataclass(frozen=True)
class Activity:
    """One line of a record's append-only timeline."""

    kind: ActivityKind
    actor: str
    at: datetime
    field: str | None = None
    old_value: str | None = None
    new_value: str | None = None
    text: str | None = None


def activity_text(value: object) -> str | None:
    """A field's value as its timeline line shows it."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value))
    return str(value)
