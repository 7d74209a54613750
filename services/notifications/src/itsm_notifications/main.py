"""Wiring of the notifications service."""

from __future__ import annotations

from fastapi import FastAPI

from itsm_contracts import topics
from itsm_kit.runtime import create_service_app
from itsm_notifications import consumers, digests, dispatcher, retention
from itsm_notifications.api import ROUTERS
from itsm_notifications.handlers.directory import scim_importing
from itsm_notifications.settings import NotificationsSettings


def create_app(settings: NotificationsSettings | None = None) -> FastAPI:
    return create_service_app(
        settings or NotificationsSettings(),
        title="ITSM notifications",
        description="Who hears of what: people and groups, subscriptions, durable deliveries over e-mail, chat and "
                    "signed webhooks, and connectors that keep PagerDuty and Jira in step.",
        routers=ROUTERS,
        publishes=[topics.NOTIFICATIONS, topics.DIRECTORY],  # itsm.directory: people and groups (issue 17)
        consumes=consumers.CONSUMES,
        handlers=consumers.event_handlers,
        interest=consumers.interest,
        hooks=[scim_importing, dispatcher.running, consumers.waking_the_dispatcher, digests.digesting,
               retention.pruning],
    )
