"""A catalogue item's fulfilment flow, as data: stages that run one after another.

An approval stage asks the requester's manager, or a group's members, and passes on its rule: `any` (the first
approval passes it) or `all` (every one asked must approve); one rejection rejects the item. A tasks stage opens
its tasks at once (in parallel), each for a group (or for the group dispatch rules choose) and is done when every
task is. Tasks in sequence are stages of one task each. An empty flow fulfils the item when it is ordered.

The catalogue stores a flow as JSON (`as_json`); a requested item keeps the flow it was ordered with, so a later
edit of the catalogue changes nothing already under way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from itsm_kit.domain import InvalidValue

MAX_STAGES = 20
MAX_TASKS_PER_STAGE = 20
ApproverKind = Literal["manager", "group"]
ApprovalRule = Literal["any", "all"]


@dataclass(frozen=True)
class ApprovalStage:
    approver: ApproverKind
    group: str | None = None  # the group whose members approve (approver "group")
    rule: ApprovalRule = "any"
    kind: Literal["approval"] = "approval"

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "approver": self.approver, "group": self.group, "rule": self.rule}


@dataclass(frozen=True)
class TaskSpec:
    name: str
    description: str = ""
    assignment_group: str | None = None  # None: the dispatch rules choose the group


@dataclass(frozen=True)
class TasksStage:
    tasks: tuple[TaskSpec, ...]
    kind: Literal["tasks"] = "tasks"

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "tasks": [{"name": t.name, "description": t.description,
                                              "assignment_group": t.assignment_group} for t in self.tasks]}


Stage = ApprovalStage | TasksStage
Flow = tuple[Stage, ...]


def flow_from_json(stages: Sequence[Mapping[str, Any]]) -> Flow:
    """A flow from its stored (or sent) JSON; InvalidValue naming the stage that is not one."""
    if len(stages) > MAX_STAGES:
        raise InvalidValue(f"a flow has at most {MAX_STAGES} stages, not {len(stages)}")
    flow: list[Stage] = []
    for index, stage in enumerate(stages):
        kind = stage.get("kind")
        if kind == "approval":
            approver, group, rule = stage.get("approver"), stage.get("group"), stage.get("rule", "any")
            if approver not in ("manager", "group"):
                raise InvalidValue(f"stage {index}: an approval's approver is manager or group", stage=index)
            if approver == "group" and not group:
                raise InvalidValue(f"stage {index}: a group approval names its group", stage=index)
            if rule not in ("any", "all"):
                raise InvalidValue(f"stage {index}: an approval's rule is any or all", stage=index)
            flow.append(ApprovalStage(approver=approver, group=group if approver == "group" else None, rule=rule))
        elif kind == "tasks":
            tasks = stage.get("tasks") or []
            if not 1 <= len(tasks) <= MAX_TASKS_PER_STAGE:
                raise InvalidValue(f"stage {index}: a tasks stage has 1 to {MAX_TASKS_PER_STAGE} tasks", stage=index)
            flow.append(TasksStage(tuple(TaskSpec(name=t["name"], description=t.get("description") or "",
                                                  assignment_group=t.get("assignment_group")) for t in tasks)))
        else:
            raise InvalidValue(f"stage {index}: kind is approval or tasks, not {kind!r}", stage=index)
    return tuple(flow)


def flow_as_json(flow: Flow) -> list[dict[str, Any]]:
    return [stage.as_json() for stage in flow]
