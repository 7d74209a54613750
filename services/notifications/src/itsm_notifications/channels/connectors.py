"""The connector channels (issue 16, connectors helper), for channels/registry.py to merge."""

from __future__ import annotations

import httpx

from itsm_notifications.channels import Channel
from itsm_notifications.channels.jira import jira_channel
from itsm_notifications.channels.pagerduty import pagerduty_channel


def connectors_channels(settings, http: httpx.AsyncClient) -> dict[str, Channel]:
    return {"pagerduty": pagerduty_channel(settings, http), "jira": jira_channel(settings, http)}


channels = connectors_channels  # the name channels/registry.py looks up
