"""Dispatch: which group gets a record (rules as data, the first that matches wins), then who in the group (the
group's method: round robin, least loaded, or nobody). Dispatch helper (issue 17) fills this in."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Facts:
    """What the rules may look at for one record."""

    record_type: str  # incident | problem | task
    category: str | None = None
    business_service: str | None = None
    ci: str | None = None  # a CI id or name: the rules see its class and owner group
    priority: int | None = None
    requester: str | None = None  # a username: the rules see the person's location


@dataclass(frozen=True)
class Decision:
    """The group and person chosen, and how: the rule (as named, and its version, then) and the group's method."""

    assignment_group: str | None
    assignee: str | None = None
    rule: str | None = None
    rule_version: int | None = None
    method: str | None = None
