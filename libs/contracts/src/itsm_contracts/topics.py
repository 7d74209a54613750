"""Kafka topics: one per publishing domain, plus normalized monitoring alerts.

The record key is the aggregate id (for alerts: the dedup key), so the events of one
aggregate stay in one partition and in order.
"""

ALERTS = "itsm.alerts"
INCIDENTS = "itsm.incidents"
CHANGES = "itsm.changes"
PROBLEMS = "itsm.problems"
CMDB = "itsm.cmdb"
SLA = "itsm.sla"
# What the notifications service hears back from connected tools (PagerDuty, Jira), for the owning services.
NOTIFICATIONS = "itsm.notifications"
# Requests, their fulfilment tasks, work orders and dispatch decisions (the requests service).
REQUESTS = "itsm.requests"
# People and groups as the directory (the notifications service) keeps them, for services that need a copy.
DIRECTORY = "itsm.directory"
# Knowledge articles: drafted, published, retired, and attached to the records they helped (the knowledge service).
KNOWLEDGE = "itsm.knowledge"

ALL = (ALERTS, INCIDENTS, CHANGES, PROBLEMS, CMDB, SLA, NOTIFICATIONS, REQUESTS, DIRECTORY, KNOWLEDGE)


def dead_letter(topic: str) -> str:
    """Where a consumer parks an event it could not handle after bounded retries."""
    return f"{topic}.dlq"
