"""Subscriptions, decided purely: filters on the event's data and the record copy, recipients by kind, the rules
of a subscription as data, and the record copy's fields from events."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from itsm_contracts import envelope
from itsm_contracts.events.incidents import IncidentAssigned, IncidentOpened, IncidentStateChanged, IncidentUpdated
from itsm_contracts.events.requests import RequestSubmitted, RequestTaskAssigned
from itsm_contracts.events.sla import SlaBreached
from itsm_kit.domain import InvalidValue
from itsm_notifications.domain.directory import GroupWithMembers, Person
from itsm_notifications.domain.subscriptions import EVENT_TYPES, Subscription, addresses, matches, wanted
from itsm_notifications.handlers.pipeline import dedup_key
from itsm_notifications.store.records import changes_of, record_key

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
DATA = {"priority": 2, "assignment_group": "network", "category": "email", "major": False,
        "nested": {"site": {"name": "paris"}}, "affected_cis": ["ci-1", "ci-2"]}
RECORD = {"type": "incident", "id": "i-1", "number": "INC1", "title": "t", "priority": 1, "state": "new",
          "assignment_group": "service-desk", "assignee": "ann"}


def sub(**fields) -> Subscription:
    base = {"name": "s", "event_type": "itsm.incident.opened", "channel": "email",
            "recipients": [{"kind": "assignment_group"}]}
    return Subscription.create(id="sub-1", at=T0, **{**base, **fields})


@pytest.mark.parametrize(("condition", "expected"), [
    ({"field": "priority", "op": "<=", "value": 2}, True),
    ({"field": "priority", "op": "<", "value": 2}, False),
    ({"field": "priority", "op": ">=", "value": 3}, False),
    ({"field": "priority", "op": ">", "value": 1}, True),
    ({"field": "priority", "op": "==", "value": 2}, True),
    ({"field": "priority", "op": "!=", "value": 2}, False),
    ({"field": "category", "op": "in", "value": ["email", "network"]}, True),
    ({"field": "category", "op": "not_in", "value": ["email"]}, False),
    ({"field": "assignee", "op": "exists"}, False),
    ({"field": "assignment_group", "op": "exists"}, True),
    ({"field": "assignee", "op": "exists", "value": False}, True),
    ({"field": "nested.site.name", "op": "==", "value": "paris"}, True),
    ({"field": "affected_cis.1", "op": "==", "value": "ci-2"}, True),
    ({"field": "record.priority", "op": "==", "value": 1}, True),
    ({"field": "record.assignment_group", "op": "==", "value": "network"}, False),
    # A missing field equals nothing, and differs from everything.
    ({"field": "missing", "op": "==", "value": None}, False),
    ({"field": "missing", "op": "!=", "value": "x"}, True),
    # Numbers compare with numbers only; true is not 1.
    ({"field": "category", "op": "<", "value": 3}, False),
    ({"field": "major", "op": "==", "value": 0}, False),
    ({"field": "priority", "op": "in", "value": [True]}, False),
])
def test_a_condition_holds_on_the_data_or_the_record_copy(condition, expected):
    assert matches([condition], DATA, RECORD) is expected


def test_all_conditions_must_hold_and_none_is_everything():
    assert matches([], DATA, None)
    assert not matches([{"field": "priority", "op": "<=", "value": 2}, {"field": "category", "op": "==",
                                                                         "value": "network"}], DATA, RECORD)
    assert not matches([{"field": "record.priority", "op": "==", "value": 1}], DATA, None)  # no copy yet


@pytest.mark.parametrize(("fields", "named"), [
    ({"filter": [{"field": "priority", "op": "~=", "value": 1}]}, "filter[0].op"),
    ({"filter": [{"field": "", "op": "==", "value": 1}]}, "filter[0].field"),
    ({"filter": [{"field": "category", "op": "in", "value": "email"}]}, "filter[0].value"),
    ({"recipients": [{"kind": "boss"}]}, "recipients[0].kind"),
    ({"recipients": [{"kind": "group"}]}, "recipients[0].value"),
    ({"recipients": [{"kind": "assignee", "value": "ann"}]}, "recipients[0].value"),
    ({"recipients": []}, "recipients"),
    ({"channel": "pigeon"}, "channel"),
    ({"channel": "slack", "recipients": []}, "endpoint_id"),
    ({"channel": "slack", "recipients": [{"kind": "assignee"}], "endpoint_id": "e-1"}, "recipients[0].kind"),
    ({"endpoint_id": "e-1"}, "endpoint_id"),
    ({"event_type": "itsm.incident.exploded"}, "event_type"),
    ({"urgency": "medium"}, "urgency"),
    ({"filter": [{"field": "priority", "op": "==", "value": 1}] * 21}, "filter"),
])
def test_a_subscription_that_cannot_be_evaluated_is_refused_naming_the_field(fields, named):
    with pytest.raises(InvalidValue) as refused:
        sub(**fields)
    assert refused.value.details["field"] == named


def test_a_change_is_checked_as_a_new_one_is():
    subscription = sub()
    with pytest.raises(InvalidValue):
        subscription.update({"filter": [{"field": "priority", "op": "like", "value": 1}]}, T0)
    subscription = sub()
    subscription.update({"urgency": "low", "enabled": False}, T0)
    assert (subscription.urgency, subscription.enabled, subscription.version) == ("low", False, 2)


def test_every_event_of_the_consumed_topics_may_be_subscribed_to():
    assert {"itsm.incident.opened", "itsm.incident.assigned", "itsm.sla.breached", "itsm.sla.warning",
            "itsm.change.state_changed", "itsm.problem.opened"} <= EVENT_TYPES
    assert not any(t.startswith(("itsm.cmdb.", "itsm.alert", "itsm.external_record.")) for t in EVENT_TYPES)


def person(username: str, email: str | None = None, active: bool = True) -> Person:
    return Person.create(id=f"p-{username}", username=username, name=username.title(), at=T0,
                         email=email if email is not None else f"{username}@example.com", active=active)


def test_recipient_kinds_take_the_event_value_first_then_the_record_copy():
    both = sub(recipients=[{"kind": "assignee"}, {"kind": "assignment_group"}, {"kind": "escalation_group"},
                           {"kind": "group", "value": "cab"}, {"kind": "person", "value": "bob"}])
    who = wanted(both, {"assignment_group": "network", "escalation_group": "managers"}, RECORD)
    assert who.people == ("ann", "bob")  # ann: the record's assignee, the event names none
    assert who.groups == ("network", "managers", "cab")  # network: the event's, not the copy's service-desk
    # An event that says a field is now empty (unassigned) is not overridden by the copy.
    assert wanted(sub(recipients=[{"kind": "assignee"}]), {"assignee": None}, RECORD).people == ()
    assert wanted(sub(recipients=[{"kind": "escalation_group"}]), {}, RECORD).groups == ()  # never from the copy


def test_groups_reach_active_members_with_an_address_and_the_shared_mailbox_once_each():
    ann, bob, gone, mute = person("ann"), person("bob"), person("gone", active=False), person("mute", email="")
    groups = {"network": GroupWithMembers(id="g-1", name="network", email="noc@example.com",
                                          members=[ann, bob, gone, mute]),
              "cab": GroupWithMembers(id="g-2", name="cab", email=None, members=[ann])}
    found = addresses(wanted(sub(recipients=[{"kind": "group", "value": "network"},
                                             {"kind": "group", "value": "cab"},
                                             {"kind": "person", "value": "ann"}]), {}, None),
                      {"ann": ann}, groups)
    assert [(a.email, a.person.id if a.person else None) for a in found] == [
        ("ann@example.com", "p-ann"), ("bob@example.com", "p-bob"), ("noc@example.com", None)]


def test_an_endpoint_channel_goes_once_to_its_endpoint():
    slack = sub(channel="slack", endpoint_id="e-1", recipients=[])
    assert wanted(slack, DATA, RECORD).endpoint and not wanted(slack, DATA, RECORD).people


def test_the_dedup_key_is_event_channel_recipient_and_stays_in_its_column():
    assert dedup_key("ev-1", "email", "ann@example.com") == "ev-1:email:ann@example.com"
    long = dedup_key("e" * 64, "email", "a" * 300 + "@example.com")
    assert len(long) <= 300 and long == dedup_key("e" * 64, "email", "a" * 300 + "@example.com")


def test_the_record_copy_takes_what_each_event_of_its_own_says():
    opened = IncidentOpened(incident_id="i-1", number="INC1", short_description="mail down", state="new", impact=1,
                            urgency=1, priority=1, origin="manual", opened_at=T0, assignment_group="network")
    event = envelope(opened, source="itsm/incidents", subject="i-1", sequence=1)
    assert record_key(event, opened) == ("incident", "i-1")
    assert changes_of(event) == {"number": "INC1", "title": "mail down", "priority": 1, "state": "new",
                                         "assignment_group": "network", "assignee": None}
    moved = IncidentStateChanged(incident_id="i-1", from_state="new", to_state="in_progress", changed_at=T0)
    assert changes_of(envelope(moved, source="s", subject="i-1")) == {"state": "in_progress"}
    assigned = IncidentAssigned(incident_id="i-1", assignee="ann", reassignment_count=0, assigned_at=T0)
    assert changes_of(envelope(assigned, source="s", subject="i-1")) == {
        "assignment_group": None, "assignee": "ann"}
    updated = IncidentUpdated(incident_id="i-1", changes={"short_description": "mail slow", "category": "x"},
                              updated_at=T0)
    assert changes_of(envelope(updated, source="s", subject="i-1")) == {"title": "mail slow"}
    breached = SlaBreached(timer_id="t-1", incident_id="i-1", kind="resolution", policy="P1", priority=1, due_at=T0,
                           target_seconds=60, breached_at=T0, detected_at=T0)
    sla_event = envelope(breached, source="itsm/sla", subject="t-1", sequence=9)
    assert record_key(sla_event, breached) == ("incident", "i-1")  # it reads the incident's copy
    assert changes_of(sla_event) == {}  # and changes none of it


# -- requests (issue 17) ----------------------------------------------------------------------------------------

def test_request_events_may_be_subscribed_to():
    assert {"itsm.request.approval_requested", "itsm.request.submitted", "itsm.request.fulfilled"} <= EVENT_TYPES


def test_people_in_names_the_usernames_a_field_of_the_event_holds():
    approvers = sub(event_type="itsm.request.approval_requested",
                    recipients=[{"kind": "people_in", "value": "approvers"},
                                {"kind": "people_in", "value": "requested_for"}])
    who = wanted(approvers, {"approvers": ["ann", "bob", "ann", 7], "requested_for": "cyd"}, None)
    assert who.people == ("ann", "bob", "cyd") and who.groups == ()
    assert wanted(approvers, {"approvers": None}, None).people == ()


@pytest.mark.parametrize("value", [None, "", "a..b", "a.b.c.d.e.f.g"])
def test_people_in_needs_a_field_path(value):
    with pytest.raises(InvalidValue, match="recipients"):
        sub(recipients=[{"kind": "people_in", "value": value}])


def test_a_requests_events_keep_its_copy_but_its_tasks_events_do_not_change_it():
    submitted = RequestSubmitted(request_id="r-1", number="REQ1", requested_by="ann", requested_for="bob",
                                 short_description="new laptop", state="pending_approval", submitted_at=T0, items=[])
    event = envelope(submitted, source="s", subject="r-1", sequence=1)
    assert record_key(event, submitted) == ("request", "r-1")
    assert changes_of(event) == {"number": "REQ1", "title": "new laptop", "state": "pending_approval"}
    task = RequestTaskAssigned(task_id="t-1", task_number="TASK1", record_type="request_item", record_id="ri-1",
                               request_id="r-1", name="image the laptop", assignment_group="desk", assigned_at=T0)
    task_event = envelope(task, source="s", subject="r-1", sequence=2)
    assert record_key(task_event, task) == ("request", "r-1") and changes_of(task_event) == {}
    standalone = task.model_copy(update={"request_id": None, "record_type": "incident", "record_id": "i-1"})
    assert record_key(envelope(standalone, source="s", subject="t-1"), standalone) is None
