"""Work-order templates (issue 17): what a template may hold per record type, and what applying one would do."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from itsm_contracts.events.requests import WorkOrderApplied
from itsm_kit.domain import Conflict, InvalidValue
from itsm_requests.domain.flows import TaskSpec
from itsm_requests.domain.work_orders import WorkOrderTemplate

AT = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
NETWORK = {"category": "network", "impact": 1, "urgency": 2, "assignment_group": "network-ops"}
TASKS = [{"name": "Check the core switches", "description": "both sites", "assignment_group": "network-ops"},
         {"name": "Tell the service owners"}]


def template(**overrides) -> WorkOrderTemplate:
    args = {"id": "t-1", "name": "Network outage", "record_type": "incident", "fields": NETWORK, "tasks": TASKS,
            "at": AT, "actor": "admin-1"}
    return WorkOrderTemplate.create(**args | overrides)


# -- what a template may hold ------------------------------------------------------------------------------------

def test_an_incident_template_holds_fields_an_agent_may_change_and_its_tasks():
    made = template()
    assert made.fields == NETWORK
    assert made.tasks == [TASKS[0], {"name": "Tell the service owners", "description": "", "assignment_group": None}]
    assert made.task_specs[1] == TaskSpec(name="Tell the service owners")
    assert (made.version, made.updated_by, made.active) == (1, "admin-1", True)


@pytest.mark.parametrize(("record_type", "fields"), [
    ("incident", {"priority": 1}),  # priority follows impact and urgency; an override needs a reason per incident
    ("incident", {"caller": "someone"}),
    ("incident", {"major": 1}),
    ("incident", {"state": "resolved"}),  # moves are commands, no field
    ("change", {"planned_start": "2026-12-24T10:00:00Z"}),  # a window is each change's own
    ("change", {"category": "network"}),  # a change has no category
    ("request", {"short_description": "x"}),  # requests: tasks only, for now
])
def test_a_template_sets_only_what_its_record_types_patch_lets_an_agent_change(record_type, fields):
    with pytest.raises(InvalidValue, match="cannot set") as refused:
        template(record_type=record_type, fields=fields)
    assert refused.value.details["fields"] == sorted(fields)


@pytest.mark.parametrize("fields", [
    {"impact": 4},  # 1 high .. 3 low
    {"urgency": 0},
    {"impact": "high"},
    {"impact": True},
    {"category": ""},
    {"category": "x" * 101},
    {"short_description": "   "},  # a blank one, as the incident's PATCH refuses it
])
def test_a_value_the_records_patch_would_refuse_is_refused(fields):
    with pytest.raises(InvalidValue, match="would refuse"):
        template(fields=fields)


@pytest.mark.parametrize(("record_type", "fields"), [
    ("incident", {"impact": None}), ("incident", {"short_description": None}), ("change", {"description": None})])
def test_a_field_the_records_patch_may_not_empty_cannot_be_null(record_type, fields):
    with pytest.raises(InvalidValue, match="cannot be emptied"):
        template(record_type=record_type, fields=fields, tasks=[])


def test_a_field_that_may_be_emptied_may_be_null_and_text_is_trimmed():
    made = template(fields={"assignee": None, "subcategory": "  wan  ", "impact": "2"})
    assert made.fields == {"assignee": None, "subcategory": "wan", "impact": 2}


def test_a_change_template_sets_its_plans_and_group():
    made = template(record_type="change", fields={"implementation_plan": "reboot", "assignment_group": "cab"})
    assert made.fields == {"implementation_plan": "reboot", "assignment_group": "cab"}


def test_a_request_template_adds_tasks_only():
    assert template(record_type="request", fields={}).fields == {}


def test_a_template_that_does_nothing_is_refused():
    with pytest.raises(InvalidValue, match="at least one field or adds at least one task"):
        template(fields={}, tasks=[])


@pytest.mark.parametrize("tasks", [[{"name": "  "}], [{"name": "x" * 201}], [{"name": "t"}] * 21,
                                   [{"name": "t", "description": "d" * 4001}]])
def test_tasks_are_bounded(tasks):
    with pytest.raises(InvalidValue):
        template(tasks=tasks)


def test_an_unknown_record_type_is_refused():
    with pytest.raises(InvalidValue, match="record type"):
        template(record_type="problem")


def test_changing_the_record_type_checks_the_fields_against_the_new_one():
    made = template()
    with pytest.raises(InvalidValue, match="a change template cannot set category"):
        made.update({"record_type": "change"}, AT)
    assert made.record_type == "incident" and made.version == 1


def test_an_update_checks_the_new_fields_and_moves_the_version_only_when_something_changed():
    made = template()
    with pytest.raises(InvalidValue, match="would refuse"):
        made.update({"fields": {"impact": 9}}, AT)
    made.update({"fields": dict(NETWORK)}, AT, actor="admin-2")
    assert made.version == 1
    made.update({"fields": {"urgency": 1}, "active": False}, AT, actor="admin-2")
    assert (made.fields, made.active, made.version, made.updated_by) == ({"urgency": 1}, False, 2, "admin-2")


# -- preview and apply ---------------------------------------------------------------------------------------------

INCIDENT = {"id": "i-1", "category": "software", "impact": 1, "urgency": 3, "assignment_group": None, "version": 4}


def test_the_preview_lists_each_field_from_the_records_value_to_the_templates_and_the_tasks():
    preview = template().preview("incident", INCIDENT)
    assert [(c.field, c.before, c.after, c.changed) for c in preview.fields] == [
        ("category", "software", "network", True),
        ("impact", 1, 1, False),  # already so: marked unchanged
        ("urgency", 3, 2, True),
        ("assignment_group", None, "network-ops", True),
    ]
    assert [t.name for t in preview.tasks] == ["Check the core switches", "Tell the service owners"]
    assert preview.tasks[1].assignment_group is None  # the dispatch rules choose when applied


def test_the_preview_shows_the_dispatch_rules_choice_only_for_tasks_without_a_group():
    preview = template().preview("incident", INCIDENT)
    assert preview.needs_dispatch
    shown = preview.dispatched("service-desk", "by category")
    assert [(t.name, t.assignment_group, t.dispatch_rule) for t in shown.tasks] == [
        ("Check the core switches", "network-ops", None), ("Tell the service owners", "service-desk", "by category")]
    assert not shown.needs_dispatch and shown.fields == preview.fields
    assert not template(tasks=TASKS[:1]).preview("incident", INCIDENT).needs_dispatch


def test_a_template_applies_only_to_its_record_type():
    with pytest.raises(InvalidValue, match="is for incidents, not changes"):
        template().preview("change", {})
    with pytest.raises(InvalidValue, match="is for incidents, not changes"):
        template().apply("change", "c-1", [], AT)


def test_an_inactive_template_is_not_applied():
    made = template(active=False)
    with pytest.raises(Conflict, match="inactive"):
        made.preview("incident", INCIDENT)
    with pytest.raises(Conflict, match="inactive"):
        made.apply("incident", "i-1", [], AT)


def test_applying_raises_the_event_the_records_service_sets_the_fields_on():
    work_order = template().apply("incident", "i-1", [("task-1", "TASK0001001"), ("task-2", "TASK0001002")], AT,
                                  actor="agent-1")
    assert work_order.id == "i-1"  # the event's subject: one record's work orders stay in order
    [(sequence, event)] = work_order.events
    assert sequence == 0  # no aggregate version: a record may get many work orders
    assert event == WorkOrderApplied(template="Network outage", record_type="incident", record_id="i-1",
                                     fields=NETWORK, task_ids=["task-1", "task-2"],
                                     task_numbers=["TASK0001001", "TASK0001002"], applied_at=AT, actor="agent-1")


def test_the_dispatch_rules_see_the_records_category_as_the_template_leaves_it_and_who_it_is_for():
    assert template().dispatch_facts(INCIDENT | {"caller": "carol"}) == {"category": "network", "requester": "carol"}
    assert template(fields={"impact": 2}).dispatch_facts(INCIDENT) == {"category": "software", "requester": None}
    change = template(record_type="change", fields={"assignee": "dave"})
    assert change.dispatch_facts({"requested_by": "erin"}) == {"category": None, "requester": "erin"}
    request = template(record_type="request", fields={})
    assert request.dispatch_facts({"requested_for": "frank", "requested_by": "gina"})["requester"] == "frank"
