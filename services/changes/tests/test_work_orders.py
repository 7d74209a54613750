"""Work-order templates applied to changes (issue 17), with no database and no broker: the template's fields are set
through the PATCH's rules; what the change does not take from a template, or refuses now, is skipped and said."""

from datetime import UTC, datetime, timedelta

from itsm_contracts.api.changes import ChangeUpdate
from itsm_contracts.events.changes import ChangeUpdated
from itsm_contracts.events.requests import WorkOrderApplied
from itsm_changes.domain import ActivityKind, ChangeRequest, State
from itsm_kit.work_orders import checked_by

T0 = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=1)
CHECK = checked_by(ChangeUpdate)


def new_change() -> ChangeRequest:
    change = ChangeRequest.request(id="c-1", number="CHG0001001", short_description="Upgrade the VPN concentrator",
                                   description="", change_type="normal", planned_start=None, planned_end=None, at=T0,
                                   affected_cis=["ci-1"])
    change.events.clear()
    change.activity.clear()
    return change


def applied(fields: dict) -> WorkOrderApplied:
    return WorkOrderApplied(template="Firmware upgrade", record_type="change", record_id="c-1", fields=fields,
                            task_ids=["t-1"], task_numbers=["TASK0001007"], applied_at=T0, actor="agent-7")


def notes(change: ChangeRequest) -> list[str]:
    return [a.text for a in change.activity if a.kind is ActivityKind.WORK_NOTE]


def test_a_templates_fields_are_set_as_a_patch_would_with_a_line_naming_the_template_and_its_tasks():
    change = new_change()
    assert change.apply_work_order(applied({"assignment_group": "NetOps", "backout_plan": "flash the old image"}), T1,
                                   check=CHECK)
    assert (change.assignment_group, change.backout_plan) == ("NetOps", "flash the old image")
    [(_, updated)] = change.events
    assert isinstance(updated, ChangeUpdated) and updated.actor == "agent-7"
    assert notes(change) == ["Work order template 'Firmware upgrade' applied (tasks TASK0001007)."]


def test_what_a_template_may_not_set_or_a_value_refused_now_is_skipped_and_said():
    change = new_change()
    assert change.apply_work_order(applied({"planned_start": "2026-12-24T10:00:00Z", "priority": 1,
                                            "short_description": "", "test_plan": "ping through"}), T1, check=CHECK)
    assert (change.test_plan, change.planned_start, change.short_description) == (
        "ping through", None, "Upgrade the VPN concentrator")
    [note] = notes(change)
    assert note.startswith("Work order template 'Firmware upgrade' applied (tasks TASK0001007). Not set: ")
    for name in ("planned_start", "priority", "short_description"):
        assert f"{name} (" in note


def test_a_closed_or_canceled_change_takes_no_template():
    change = new_change()
    change.move_to(State.CANCELED, T0)
    change.events.clear()
    change.activity.clear()
    assert not change.apply_work_order(applied({"assignment_group": "NetOps"}), T1, check=CHECK)
    assert change.assignment_group is None and change.events == [] and change.activity == []
