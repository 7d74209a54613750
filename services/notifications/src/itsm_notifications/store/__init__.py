"""The notifications database: tables (tables.py) and a repository per part (directory, subscriptions,
templates, deliveries, connectors, records)."""

from itsm_notifications.store.tables import metadata

__all__ = ["metadata"]
