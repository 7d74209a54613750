"""A work-order template's fields, as the service owning the record sets them (issue 17). Pure: no I/O.

The requests service applies a template (its tasks made there) and publishes itsm.work_order.applied; incidents and
changes set the template's fields through their own PATCH rules. A template written long ago may name a field the
record no longer takes from templates, or a value its rules now refuse: that field is skipped and said on the
timeline, never a failure of the event (which would retry it forever).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Collection, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from itsm_kit.domain import DomainError, InvalidValue

R = TypeVar("R")
NOT_FROM_TEMPLATES = "not a field a template sets here"


def apply_fields(record: R, fields: Mapping[str, Any], update: Callable[[R, Mapping[str, Any]], None], *,
                 allowed: Collection[str]) -> dict[str, str]:
    """Sets `fields` on `record` through `update` (the record's PATCH: its checks raise DomainError, or ValueError for
    a value of the wrong kind) and returns the fields skipped, each with why.

    All the allowed fields are tried together first (impact with urgency, a priority with its reason), on a copy; if
    that is refused, each alone, and the accepted ones together: the record changes only by what its rules accept,
    never half of one update."""
    skipped = {name: NOT_FROM_TEMPLATES for name in fields if name not in allowed}
    wanted = {name: value for name, value in fields.items() if name in allowed}
    if wanted and _refusal(record, wanted, update) is not None:
        kept: dict[str, Any] = {}
        for name, value in wanted.items():
            if (why := _refusal(record, {name: value}, update)) is None:
                kept[name] = value
            else:
                skipped[name] = why
        if kept and (why := _refusal(record, kept, update)) is not None:
            skipped |= dict.fromkeys(kept, why)
            kept = {}
        wanted = kept
    if wanted:
        update(record, wanted)
    return skipped


def _refusal(record: R, changes: Mapping[str, Any], update: Callable[[R, Mapping[str, Any]], None]) -> str | None:
    try:
        update(copy.deepcopy(record), changes)
    except (DomainError, ValueError) as exc:
        return str(exc).splitlines()[0][:300] or type(exc).__name__
    return None


def checked_by(model: type[BaseModel]) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """The record's PATCH model as a check of a template's values (types, lengths, ranges: what an agent's PATCH
    is held to), giving the values as the PATCH would (text to times, say); an InvalidValue saying what is wrong."""
    def check(changes: Mapping[str, Any]) -> dict[str, Any]:
        try:
            return model.model_validate(dict(changes)).model_dump(exclude_unset=True)
        except ValidationError as exc:
            raise InvalidValue("; ".join(str(e["msg"]) for e in exc.errors())) from None
    return check


def applied_note(template: str, tasks: Collection[str], skipped: Mapping[str, str]) -> str:
    """The timeline's line: "Work order template 'X' applied (tasks TASK0001001, TASK0001002)." and what was not
    set, with why."""
    note = f"Work order template '{template}' applied" + (f" (tasks {', '.join(tasks)})" if tasks else "") + "."
    if skipped:
        note += " Not set: " + "; ".join(f"{name} ({why})" for name, why in sorted(skipped.items())) + "."
    return note
