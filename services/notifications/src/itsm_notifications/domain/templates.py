"""What a message says: templates (subject and body, plain text) rendered in Jinja2's immutable sandbox.

Admins write templates, so a template may read what it is given (event, record, url, recipient) and nothing else:
no attribute of Python's internals (`''.__class__` is refused), no method that changes a value, no `range` larger
than a message needs, no huge strings; the text is bounded at save time and at render time. A template that
does not render is refused when it is saved (422) and, should one fail at send time all the same, the event
type's shipped default is used instead.

Shipped defaults, one per event type (a template stored under the event type's name replaces it), live here.
"""

from __future__ import annotations

import functools

import operator
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, get_args, get_origin

from jinja2 import ChainableUndefined, TemplateError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from itsm_contracts import REGISTRY
from itsm_kit.domain import InvalidValue

MAX_SUBJECT_SOURCE = 1_000
MAX_BODY_SOURCE = 20_000
MAX_SUBJECT = 998  # RFC 5322's line limit
MAX_BODY = 100_000
MAX_RANGE = 1_000
MAX_PRODUCT = 10_000  # characters or items a `*` or `**` in a template may make


class _Undefined(ChainableUndefined):
    """A field an event does not carry renders as nothing (`record.number` with no record); what the sandbox
    refused (an unsafe attribute) fails the render instead of rendering as nothing."""

    __slots__ = ()

    def _refused(self) -> bool:
        return self._undefined_exception is SecurityError

    def __str__(self) -> str:
        if self._refused():
            self._fail_with_undefined_error()
        return super().__str__()

    def __getattr__(self, name: str) -> Any:
        if name[:2] != "__" and self._refused():
            self._fail_with_undefined_error()
        return super().__getattr__(name)


class _Sandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        if operator_name == "**":
            if isinstance(right, int | float) and abs(right) > 64:
                raise SecurityError("the exponent is too large")
            return operator.pow(left, right)
        for size, count in ((left, right), (right, left)):
            if isinstance(size, str | list | tuple) and isinstance(count, int) and len(size) * count > MAX_PRODUCT:
                raise SecurityError("the result would be too long")
        return operator.mul(left, right)


def _range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise SecurityError(f"a range in a template has at most {MAX_RANGE} numbers")
    return numbers


_ENV = _Sandbox(autoescape=False, undefined=_Undefined, keep_trailing_newline=False)
_ENV.globals = {"range": _range, "dict": dict}  # no lipsum, cycler, joiner, namespace
# Compiling is most of a render's cost (measured: 40 % of the service's CPU at 200 events/s); a few hundred
# templates are in use at most, each compiled once.
_compiled = functools.lru_cache(maxsize=512)(_ENV.from_string)


class TemplateRefused(InvalidValue):
    """The template does not render (syntax, a refused access, too long)."""


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str


def _render_one(source: str, context: Mapping[str, Any], what: str, limit: int) -> str:
    try:
        template = _compiled(source)
        parts: list[str] = []
        size = 0
        for chunk in template.generate(**context):  # streamed, so a huge output stops early
            parts.append(chunk)
            size += len(chunk)
            if size > limit:
                raise TemplateRefused(f"the {what} renders longer than {limit} characters", field=what)
        return "".join(parts)
    except TemplateRefused:
        raise
    except (TemplateError, TypeError, ValueError, ArithmeticError, LookupError, AttributeError,
            RecursionError) as exc:
        raise TemplateRefused(f"the {what} does not render: {type(exc).__name__}: {exc}"[:500], field=what) from exc


def render(subject: str, body: str, context: Mapping[str, Any]) -> Rendered:
    """Both parts, or TemplateRefused naming the one that failed. A subject is one line."""
    if len(subject) > MAX_SUBJECT_SOURCE:
        raise TemplateRefused(f"a subject template has at most {MAX_SUBJECT_SOURCE} characters", field="subject")
    if len(body) > MAX_BODY_SOURCE:
        raise TemplateRefused(f"a body template has at most {MAX_BODY_SOURCE} characters", field="body")
    rendered_subject = " ".join(_render_one(subject, context, "subject", MAX_SUBJECT * 4).split())
    if len(rendered_subject) > MAX_SUBJECT:
        raise TemplateRefused(f"the subject renders longer than {MAX_SUBJECT} characters", field="subject")
    return Rendered(rendered_subject, _render_one(body, context, "body", MAX_BODY).strip() + "\n")


def context(*, event_type: str, time: datetime, data: Mapping[str, Any], record: Mapping[str, Any] | None,
            url: str | None, recipient: str | None, event_id: str | None = None) -> dict[str, Any]:
    """What a template sees."""
    return {"event": {"type": event_type, "time": time, "data": dict(data), "id": event_id},
            "record": dict(record) if record else None, "url": url, "recipient": {"name": recipient}}


# -- stored templates -----------------------------------------------------------------------------------------

MAX_NAME = 100


@dataclass
class Template:
    """A template admins keep under a name: an event type's name replaces that type's shipped default; any other
    name is one subscriptions may choose."""

    name: str
    description: str
    subject: str
    body: str
    created_at: datetime
    updated_at: datetime
    version: int = 1

    def replace(self, *, description: str, subject: str, body: str, at: datetime) -> bool:
        """A new version when something changed."""
        if (self.description, self.subject, self.body) == (description, subject, body):
            return False
        self.description, self.subject, self.body = description, subject, body
        self.updated_at, self.version = at, self.version + 1
        return True


def check_template(subject: str, body: str, event_type: str | None) -> None:
    """Refused (422) unless it renders, with sample data of `event_type` (every field of its contract filled)."""
    data = sample_data(event_type) if event_type else {}
    render(subject, body, context(event_type=event_type or "itsm.sample", time=SAMPLE_TIME, data=data,
                                  record=SAMPLE_RECORD, url="https://itsm.example/incidents/sample-id",
                                  recipient="Sample Person"))


# -- shipped defaults ----------------------------------------------------------------------------------------

_RECORD_LINE = "{{ record.number or event.data.number or '' }} {{ record.title or event.data.short_description or '' }}"
_FOOTER = "\n{% if url %}Open it: {{ url }}\n{% endif %}"
GENERIC = (
    "[ITSM] {{ event.type }} " + _RECORD_LINE,
    "Hello {{ recipient.name or '' }},\n\n{{ event.type }} at {{ event.time }}.\n"
    "{% for name, value in event.data.items() %}{{ name }}: {{ value }}\n{% endfor %}" + _FOOTER,
)

DEFAULTS: Mapping[str, tuple[str, str]] = {
    "itsm.incident.opened": (
        "[P{{ event.data.priority }}] {{ event.data.number }} opened: {{ event.data.short_description }}",
        "Hello {{ recipient.name or '' }},\n\nIncident {{ event.data.number }} was opened with priority "
        "{{ event.data.priority }}{% if event.data.assignment_group %} for {{ event.data.assignment_group }}"
        "{% endif %}.\n\n{{ event.data.short_description }}\n{% if event.data.description %}\n"
        "{{ event.data.description }}\n{% endif %}{% if event.data.affected_ci %}\nCI: {{ event.data.affected_ci }}"
        "\n{% endif %}" + _FOOTER,
    ),
    "itsm.incident.assigned": (
        "{{ record.number or 'An incident' }} assigned to "
        "{{ event.data.assignee or event.data.assignment_group or 'nobody' }}: {{ record.title or '' }}",
        "Hello {{ recipient.name or '' }},\n\n{{ record.number or 'An incident' }} is now assigned to "
        "{{ event.data.assignee or 'nobody in particular' }}{% if event.data.assignment_group %} "
        "({{ event.data.assignment_group }}){% endif %}.\n\n{{ record.title or '' }}\n"
        "{% if record.priority %}Priority: {{ record.priority }}\n{% endif %}" + _FOOTER,
    ),
    "itsm.sla.warning": (
        "SLA warning: {{ record.number or event.data.record_number or 'an incident' }} at "
        "{{ event.data.threshold }}% of its {{ event.data.kind }} target",
        "Hello {{ recipient.name or '' }},\n\nThe {{ event.data.kind }} SLA ({{ event.data.policy }}) of "
        "{{ record.number or event.data.record_number or 'an incident' }} passed {{ event.data.threshold }}% of its "
        "target; it is due at {{ event.data.due_at }}.\n\n{{ record.title or '' }}\n" + _FOOTER,
    ),
    "itsm.sla.breached": (
        "SLA breached: {{ record.number or event.data.record_number or 'an incident' }} missed its "
        "{{ event.data.kind }} target",
        "Hello {{ recipient.name or '' }},\n\nThe {{ event.data.kind }} SLA ({{ event.data.policy }}) of "
        "{{ record.number or event.data.record_number or 'an incident' }}{% if event.data.priority %} (priority "
        "{{ event.data.priority }}){% endif %} was breached at "
        "{{ event.data.breached_at }}.\n\n{{ record.title or '' }}\n"
        "{% if record.assignment_group %}Assignment group: {{ record.assignment_group }}\n{% endif %}"
        "{% if record.assignee %}Assignee: {{ record.assignee }}\n{% endif %}" + _FOOTER,
    ),
    "itsm.change.state_changed": (
        "{{ record.number or 'A change' }} is now {{ event.data.to_state }}: {{ record.title or '' }}",
        "Hello {{ recipient.name or '' }},\n\nChange {{ record.number or '' }} moved from {{ event.data.from_state }} "
        "to {{ event.data.to_state }}{% if event.data.to_state == 'authorize' %} and awaits approval{% endif %}."
        "\n\n{{ record.title or '' }}\n{% if event.data.reason %}Reason: {{ event.data.reason }}\n{% endif %}"
        + _FOOTER,
    ),
    # Issue 17: the default subscription e-mails each approver (recipient kind people_in: approvers).
    "itsm.request.approval_requested": (
        "Approval requested: {{ event.data.number }} for {{ event.data.requested_for }}",
        "Hello {{ recipient.name or '' }},\n\nYour approval is requested for {{ event.data.number }}"
        "{% if record.title %} ({{ record.title }}){% endif %}, ordered for {{ event.data.requested_for }}"
        "{% if event.data.rule == 'all' %}; every approver must approve{% endif %}.\n" + _FOOTER,
    ),
}


def default_template(event_type: str) -> tuple[str, str]:
    return DEFAULTS.get(event_type, GENERIC)


# -- sample data, to try a template when it is saved ---------------------------------------------------------

def _sample(annotation: Any, name: str) -> Any:
    origin = get_origin(annotation)
    if origin is Literal:
        return get_args(annotation)[0]
    if origin in (typing.Union, types.UnionType):
        options = [a for a in get_args(annotation) if a is not type(None)]
        return _sample(options[0], name) if options else None
    if origin is typing.Annotated:
        return _sample(get_args(annotation)[0], name)
    if origin in (list, tuple, set, frozenset):
        return []
    if origin in (dict, Mapping) or annotation is dict:
        return {}
    if annotation is bool:
        return False
    if annotation is int:
        return 1
    if annotation is float:
        return 1.0
    if annotation is datetime:
        return SAMPLE_TIME.isoformat()
    if annotation is str:
        return f"sample-{name}"
    return None


def sample_data(event_type: str) -> dict[str, Any]:
    """A plausible `data` of this event type (every field of its contract filled), for trying a template."""
    model = next((m for m in REGISTRY.values() if m.type == event_type), None)
    if model is None:
        return {}
    return {name: _sample(info.annotation, name) for name, info in model.model_fields.items()}


SAMPLE_TIME = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
SAMPLE_RECORD = {"type": "incident", "id": "sample-id", "number": "INC0000001", "title": "sample title",
                 "priority": 1, "state": "new", "assignment_group": "sample-group", "assignee": "sample-person"}
