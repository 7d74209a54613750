"""What connected tools (PagerDuty, Jira) did to the records they mirror, published by the notifications service on
itsm.notifications.

The owning service (incidents, problems) stays authoritative: it applies these as it would a user's command, and
the notifications service, which remembers the state it heard from the tool, never sends that state back (no echo).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from itsm_contracts import topics
from itsm_contracts.events import EventData, register

Connector = Literal["pagerduty", "jira"]
RecordType = Literal["incident", "problem", "change"]
TOOL_NAMES = {"pagerduty": "PagerDuty", "jira": "Jira"}


class ExternalRecordEvent(EventData):
    topic = topics.NOTIFICATIONS

    connector: Connector
    endpoint_id: str  # the connector endpoint (one PagerDuty service, one Jira project) it came through
    external_id: str  # the tool's own id: PagerDuty incident id, Jira issue key
    record_type: RecordType
    record_id: str  # ours
    # Who did it in the tool (a name or e-mail the tool gave), for the work note; not one of our users.
    external_actor: str | None = None
    url: str | None = None  # the record in the tool, for people

    @property
    def tool(self) -> str:
        return TOOL_NAMES.get(self.connector, self.connector)

    @property
    def at(self) -> datetime:
        """When it happened in the tool."""
        return next(getattr(self, name) for name in ("acknowledged_at", "resolved_at", "changed_at", "commented_at")
                    if name in type(self).model_fields)

    def _by(self) -> str:
        return f" by {self.external_actor}" if self.external_actor else ""

    def note(self) -> str:
        """What the owning service's work note says of it (one wording for every service)."""
        raise NotImplementedError


@register
class ExternalRecordAcknowledged(ExternalRecordEvent):
    """Someone on call acknowledged the mirrored record (PagerDuty incident.acknowledged)."""

    type = "itsm.external_record.acknowledged"

    acknowledged_at: datetime

    def note(self) -> str:
        return f"Acknowledged in {self.tool} by {self.external_actor or 'someone'}"


@register
class ExternalRecordResolved(ExternalRecordEvent):
    """The mirrored record was resolved in the tool (PagerDuty incident.resolved, a Jira issue moved to Done)."""

    type = "itsm.external_record.resolved"

    resolved_at: datetime
    resolution: str | None = None

    def note(self) -> str:
        return f"Resolved in {self.tool}{self._by()}" + (f" ({self.resolution})" if self.resolution else "")


@register
class ExternalRecordStatusChanged(ExternalRecordEvent):
    """The mirrored record moved to another status in the tool that is neither acknowledged nor resolved (Jira)."""

    type = "itsm.external_record.status_changed"

    status: str  # the tool's status name
    status_category: Literal["new", "indeterminate", "done"] | None = None  # Jira's category, when given
    changed_at: datetime

    def note(self) -> str:
        return f"Status in {self.tool} changed to {self.status}{self._by()}"


@register
class ExternalRecordCommented(ExternalRecordEvent):
    """A comment was added to the mirrored record in the tool (Jira comment_created)."""

    type = "itsm.external_record.commented"

    body: str
    commented_at: datetime

    def note(self) -> str:
        return f"Comment in {self.tool}{self._by()}: {self.body}"
