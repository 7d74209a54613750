"""Templates: sandboxed, bounded, with a context of event, record, url and recipient; shipped defaults render."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from itsm_notifications.domain.subscriptions import EVENT_TYPES
from itsm_notifications.domain.templates import (
    DEFAULTS, GENERIC, SAMPLE_RECORD, TemplateRefused, check_template, context, default_template, render, sample_data,
)
from itsm_notifications.handlers.pipeline import digest_text, rendered

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def ctx(**data) -> dict:
    return context(event_type="itsm.incident.opened", time=T0, data={"number": "INC1", "priority": 1, **data},
                   record=SAMPLE_RECORD, url="https://portal/incidents/i-1", recipient="Ann")


def test_the_context_is_event_record_url_and_recipient():
    out = render("{{ event.data.number }} P{{ event.data.priority }} {{ record.title }}",
                 "Hi {{ recipient.name }}: {{ event.type }} {{ url }}", ctx())
    assert out.subject == "INC1 P1 sample title"
    assert out.body == "Hi Ann: itsm.incident.opened https://portal/incidents/i-1\n"


@pytest.mark.parametrize("source", [
    "{{ ''.__class__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ event.__init__.__globals__ }}",
    "{{ event.data.update({'x': 1}) }}",  # immutable: no method that changes a value
    "{{ 'x' * 1000000 }}",
    "{{ 9 ** 999999 }}",
    "{% for i in range(100000) %}{% endfor %}",
    "{% for x in %}",
])
def test_the_sandbox_refuses_what_a_message_does_not_need(source):
    with pytest.raises(TemplateRefused):
        render(source, "body", ctx())
    with pytest.raises(TemplateRefused):
        render("subject", source, ctx())


def test_sizes_are_bounded_before_and_after_rendering():
    with pytest.raises(TemplateRefused, match="at most"):
        render("s", "x" * 20_001, ctx())
    with pytest.raises(TemplateRefused, match="renders longer"):
        render("s", "{% for i in range(1000) %}{{ 'y' * 9000 }}{% endfor %}", ctx())
    assert render("a\n  b\tc", "b", ctx()).subject == "a b c"  # a subject is one line


def test_a_missing_field_renders_as_nothing_and_no_record_is_fine():
    out = render("{{ event.data.nothing }}|{{ record.number }}|", "b", context(
        event_type="itsm.sla.warning", time=T0, data={}, record=None, url=None, recipient=None))
    assert out.subject == "||"


def test_every_shipped_default_renders_with_sample_data_of_its_event_type():
    for event_type in sorted(EVENT_TYPES):
        subject, body = default_template(event_type)
        out = render(subject, body, context(event_type=event_type, time=T0, data=sample_data(event_type),
                                            record=SAMPLE_RECORD, url="u", recipient="r"))
        assert out.subject and out.body
    assert set(DEFAULTS) <= EVENT_TYPES
    assert default_template("itsm.problem.commented") == GENERIC


def test_a_template_is_checked_with_sample_data_when_saved():
    check_template("{{ event.data.priority + 1 }}", "{{ event.data.breached_at }}", "itsm.sla.breached")
    with pytest.raises(TemplateRefused):
        check_template("{{ ''.__class__ }}", "b", None)
    with pytest.raises(TemplateRefused) as refused:
        check_template("ok", "{{ event.data.number | nosuchfilter }}", "itsm.incident.opened")
    assert refused.value.details["field"] == "body"


def test_a_template_that_fails_at_send_time_falls_back_to_the_next():
    out = rendered([("{{ 1 / 0 }}", "b"), default_template("itsm.incident.opened")], ctx())
    assert out.subject.startswith("[P1] INC1 opened")


def test_a_digest_lists_each_held_message():
    subject, body = digest_text([("one", "https://portal/incidents/1"), ("two", None)])
    assert subject == "2 notifications"
    assert "- one\n  https://portal/incidents/1\n- two\n" in body
