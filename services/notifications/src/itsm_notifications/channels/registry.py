"""Every channel the dispatcher can send through, by name."""

from __future__ import annotations

import importlib.util

import httpx

from itsm_notifications.channels import Channel, chat, email, webhook
from itsm_notifications.settings import NotificationsSettings

# The connectors (PagerDuty, Jira) add their channels here: a module with
#     def channels(settings, http) -> dict[str, Channel]
CONNECTORS = "itsm_notifications.channels.connectors"


def channels(settings: NotificationsSettings, http: httpx.AsyncClient) -> dict[str, Channel]:
    found = {"email": email.channel(settings), "slack": chat.slack(http), "teams": chat.teams(http),
             "webhook": webhook.channel(http)}
    if importlib.util.find_spec(CONNECTORS) is not None:
        found.update(importlib.import_module(CONNECTORS).channels(settings, http))
    return found


def http_client(settings: NotificationsSettings) -> httpx.AsyncClient:
    """The one client every HTTP channel shares: a whole attempt within send_timeout_seconds; redirects are not
    followed (a receiver that moved answers 3xx, which is refused: its endpoint's url needs changing)."""
    return httpx.AsyncClient(timeout=settings.send_timeout_seconds, follow_redirects=False,
                             limits=httpx.Limits(max_connections=settings.dispatch_concurrency,
                                                 max_keepalive_connections=settings.dispatch_concurrency))
