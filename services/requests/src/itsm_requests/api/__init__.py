"""The requests HTTP API (internal; clients reach it through the gateway, which checks roles).

Only calls the gateway signed get in (itsm_kit.internal_auth); who acts is the signature's subject, and the groups
they are in (which catalogue items they may order) its groups.
"""

from itsm_requests.api import catalogue, dispatch, requests, work_orders

ROUTERS = [catalogue.router, requests.router, dispatch.router, work_orders.router]
