"""An integration's policy: how its alerts are identified, grouped into storms and routed.

Rules read an alert through its *context*: its labels, plus the normalized fields
`severity` (critical|error|warning|info, whatever word the sender used), `status`,
`source` and `summary`, which win over labels of the same name. A name the alert lacks
reads as "" (as in Alertmanager's matchers).

Routing: the first rule whose `match` (exact values) and `match_re` (fully anchored
regular expressions) all hold decides; its `set` values may name context values in
braces, like "{instance}". A value whose placeholders are not all there (or empty) is
left unset rather than half filled. No rule matching leaves the routing empty.

Admins write the expressions and every alert runs them on the event loop, so they run in
RE2, whose time is linear in the input (Python's `re` backtracks: `(a+)+b` against a few
dozen "a"s would freeze the gateway, health probes included). RE2 has no look-around or
back-references; the rest of the common syntax is the same.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

import re2
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from itsm_contracts.events.alerts import AlertReceived, AlertRouting
from itsm_kit.domain import InvalidValue
from itsm_gateway.domain.common import MAX_DEDUP_KEY, MAX_GROUP_KEY, MAX_LABEL_VALUE, bounded, labels_fingerprint

# deployment: a CI/CD pipeline recording deployments as changes (POST /api/v1/changes/deployments); no alerts.
Kind = Literal["alertmanager", "grafana", "pagerduty", "generic", "deployment"]
KINDS: tuple[str, ...] = ("alertmanager", "grafana", "pagerduty", "generic", "deployment")
# Kinds whose senders group alerts themselves (Alertmanager's groupKey, which Grafana sends too).
SENDER_GROUPED = frozenset({"alertmanager", "grafana"})
CONTEXT_FIELDS = ("severity", "status", "source", "summary")
MAX_STORM_WINDOW = 86_400

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.\-]*)\}")
Name = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z_][A-Za-z0-9_.\-]*$")]


def placeholders(template: str) -> list[str]:
    """The names a template reads; a brace that encloses no name is a mistake, not text."""
    if "{" in PLACEHOLDER.sub("", template) or "}" in PLACEHOLDER.sub("", template):
        raise ValueError(f"{template!r}: braces enclose a label or field name, like {{instance}}")
    return PLACEHOLDER.findall(template)


def context_of(alert: AlertReceived) -> dict[str, str]:
    return {**alert.labels, "severity": alert.severity, "status": alert.status, "source": alert.source,
            "summary": alert.summary}


def render(template: str, context: Mapping[str, str]) -> str | None:
    """The template filled from the context, or None when a name it reads is missing or empty."""
    names = PLACEHOLDER.findall(template)
    if any(not context.get(name) for name in names):
        return None
    return PLACEHOLDER.sub(lambda m: context[m.group(1)], template)


# Validation context of a policy read back from the database: what was valid when written stays
# readable (a pattern from before RE2 that RE2 refuses matches nothing), while writes are checked.
STORED = {"stored": True}
MAX_PATTERN = 1000
MAX_CONDITIONS = 32  # per rule, in match and in match_re each
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a refused pattern is the admin's 422, not a line on stderr
_RE2_OPTIONS.never_capture = True  # rules only ask whether a value matches


@functools.lru_cache(maxsize=4096)
def _regex(pattern: str) -> re2._Regexp:
    """Compiled once per pattern (RE2: linear time in the value matched); re2.error when RE2 refuses it."""
    return re2.compile(pattern, _RE2_OPTIONS)


def _compiled(pattern: str) -> re2._Regexp | None:
    """None for a pattern RE2 refuses, which only a policy stored before RE2 can hold: it matches nothing."""
    try:
        return _regex(pattern)
    except re2.error:
        return None


def _re2_error(exc: Exception) -> str:
    reason = exc.args[0] if exc.args else exc
    return reason.decode(errors="replace") if isinstance(reason, bytes) else str(reason)


class RoutingSet(BaseModel):
    """What a matching rule decides for the incident. Unknown keys are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    affected_ci: str | None = Field(default=None, min_length=1, max_length=255)
    business_service: str | None = Field(default=None, min_length=1, max_length=255)
    impact: int | None = Field(default=None, ge=1, le=3, description="1 high .. 3 low")
    urgency: int | None = Field(default=None, ge=1, le=3, description="1 high .. 3 low")
    assignment_group: str | None = Field(default=None, min_length=1, max_length=255)
    category: str | None = Field(default=None, min_length=1, max_length=255)

    @field_validator("affected_ci", "business_service", "assignment_group", "category")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        if value is not None:
            placeholders(value)
        return value


class RoutingRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=120)
    match: dict[Annotated[str, Field(max_length=100)], Annotated[str, Field(max_length=MAX_LABEL_VALUE)]] = Field(
        default={}, max_length=MAX_CONDITIONS, description="label or field -> exact value")
    match_re: dict[Annotated[str, Field(max_length=100)], Annotated[str, Field(max_length=MAX_PATTERN)]] = Field(
        default={}, max_length=MAX_CONDITIONS, description=(
            "label or field -> regular expression the whole value must match, in RE2 syntax (linear time: "
            "no look-around or back-references)"))
    set: RoutingSet

    @field_validator("match_re")
    @classmethod
    def _compiles(cls, patterns: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        for name, pattern in patterns.items():
            try:
                _regex(pattern)
            except re2.error as exc:
                if info.context and info.context.get("stored"):
                    continue  # stored before RE2: the condition never holds until an admin rewrites it
                raise ValueError(f"match_re.{name}: {pattern!r} is not a valid regular expression in RE2 syntax: "
                                 f"{_re2_error(exc)}") from None
        return patterns

    @functools.cached_property
    def _conditions(self) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, re2._Regexp], ...]]:
        # Once per rule: every alert of the integration is checked against every rule before the match.
        return tuple(self.match.items()), tuple((name, _compiled(pattern)) for name, pattern in self.match_re.items())

    def matches(self, context: Mapping[str, str]) -> bool:
        exact, patterns = self._conditions
        for name, value in exact:
            if context.get(name, "") != value:
                return False
        for name, regex in patterns:
            if regex is None or regex.fullmatch(context.get(name, "")) is None:
                return False
        return True


def route(rules: Sequence[RoutingRule], context: Mapping[str, str]) -> AlertRouting:
    """The first matching rule's decision, or an empty routing."""
    for rule in rules:
        if rule.matches(context):
            decided: dict[str, Any] = {"impact": rule.set.impact, "urgency": rule.set.urgency}
            for field in ("affected_ci", "business_service", "assignment_group", "category"):
                template = getattr(rule.set, field)
                value = render(template, context) if template is not None else None
                decided[field] = value[:255] if value else None
            return AlertRouting(rule=rule.name, **decided)
    return AlertRouting()


class IntegrationPolicy(BaseModel):
    """Stored with the integration and applied to each of its alerts before they go to Kafka."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dedup_key_template: str | None = Field(default=None, min_length=1, max_length=500, description=(
        "the dedup key spelled from labels and fields, like \"{alertname}/{instance}\"; "
        "replaces the sender's own key (not for pagerduty)"))
    dedup_fields: list[Name] | None = Field(default=None, min_length=1, max_length=20, description=(
        "labels and fields whose values, hashed, make the dedup key (not for pagerduty)"))
    resolve_incident: bool = Field(default=True, description="a resolved alert resolves its incident")
    acknowledge_incident: bool = Field(default=True, description="an acknowledged alert puts it in progress")
    storm_window_seconds: int = Field(default=0, ge=0, le=MAX_STORM_WINDOW, description=(
        "alerts of one group within this many seconds attach to one incident; 0 turns storm control off"))
    storm_group_labels: list[Name] = Field(default=[], max_length=20, description=(
        "labels and fields that make an alert's group; alertmanager and grafana default to the sender's groupKey"))
    routing_rules: list[RoutingRule] = Field(default=[], max_length=200, description="the first match wins")

    @field_validator("dedup_key_template")
    @classmethod
    def _template_names_something(cls, value: str | None) -> str | None:
        if value is not None:
            names = placeholders(value)
            if not names:
                raise ValueError("a dedup key template names at least one label or field, like {instance}, "
                                 "or every alert would be one")
            _not_status(names)
        return value

    @field_validator("dedup_fields")
    @classmethod
    def _fields_not_status(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            _not_status(value)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> IntegrationPolicy:
        if self.dedup_key_template is not None and self.dedup_fields is not None:
            raise ValueError("give dedup_key_template or dedup_fields, not both (send null to clear one)")
        names = [rule.name for rule in self.routing_rules]
        if len(names) != len(set(names)):
            repeated = sorted({name for name in names if names.count(name) > 1})
            raise ValueError(f"routing rule names are unique; repeated: {repeated}")
        if len(self.storm_group_labels) != len(set(self.storm_group_labels)):
            raise ValueError("storm_group_labels lists each name once")
        return self

    def changed(self, changes: Mapping[str, Any]) -> IntegrationPolicy:
        """This policy with `changes` applied, checked as a whole (a 422 if the result is not valid)."""
        try:
            return IntegrationPolicy.model_validate({**self.model_dump(), **changes})
        except ValidationError as exc:
            raise InvalidValue("the changed policy is not valid: " + "; ".join(e["msg"] for e in exc.errors()),
                               errors=[{"location": [str(p) for p in e["loc"]], "message": e["msg"]}
                                       for e in exc.errors(include_url=False, include_context=False)]) from None


def _not_status(names: Sequence[str]) -> None:
    if "status" in names:
        raise ValueError("status cannot identify an alert: its firing and resolved events must share one key")


def check_policy(kind: str, policy: IntegrationPolicy) -> None:
    """What a policy cannot be for this kind of integration."""
    if kind == "pagerduty" and (policy.dedup_key_template or policy.dedup_fields):
        raise InvalidValue("a pagerduty integration's dedup key is the sender's dedup_key: its acknowledge and "
                           "resolve events carry nothing else to compute another from")
    if policy.storm_window_seconds and not policy.storm_group_labels and kind not in SENDER_GROUPED:
        raise InvalidValue(f"storm control on a {kind} integration needs storm_group_labels: "
                           "its senders name no group of their own")


def _dedup_key(policy: IntegrationPolicy, context: Mapping[str, str], own: str) -> str:
    if policy.dedup_key_template is not None:
        key = PLACEHOLDER.sub(lambda m: context.get(m.group(1), ""), policy.dedup_key_template)
    elif policy.dedup_fields is not None:
        key = labels_fingerprint({name: context.get(name, "") for name in policy.dedup_fields})
    else:
        key = own
    return bounded(key, MAX_DEDUP_KEY)


def _group_key(policy: IntegrationPolicy, context: Mapping[str, str], integration_id: str,
               sender_group: str | None) -> str | None:
    """Namespaced by integration: two senders' groups of the same name are different storms."""
    if policy.storm_group_labels:
        values = (f"{name}={json.dumps(context.get(name, ''))}" for name in policy.storm_group_labels)
        group = "{" + ",".join(values) + "}"
    elif sender_group:
        group = sender_group
    else:
        return None
    return f"{integration_id}:{bounded(group, MAX_GROUP_KEY)}"


def apply_policy(alerts: Sequence[AlertReceived], policy: IntegrationPolicy) -> list[AlertReceived]:
    """Each alert with the integration's dedup key, group key, routing decision and flags."""
    applied = []
    for alert in alerts:
        context = context_of(alert)
        applied.append(alert.model_copy(update={
            "dedup_key": _dedup_key(policy, context, alert.dedup_key),
            "group_key": _group_key(policy, context, alert.integration_id, alert.group_key),
            "routing": route(policy.routing_rules, context),
            "resolve_incident": policy.resolve_incident,
            "acknowledge_incident": policy.acknowledge_incident,
            "storm_window_seconds": policy.storm_window_seconds,
        }))
    return applied
