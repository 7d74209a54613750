"""The notifications HTTP API (internal; clients reach it through the gateway, which checks roles).

Only calls the gateway signed get in (itsm_kit.internal_auth); who acts is the signature's subject.
"""

from itsm_notifications.api import connectors, deliveries, directory, subscriptions

ROUTERS = [directory.router, subscriptions.router, deliveries.router, connectors.router]
