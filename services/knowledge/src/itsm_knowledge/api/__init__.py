"""The knowledge HTTP API (internal; clients reach it through the gateway, which checks roles).

Only calls the gateway signed get in (itsm_kit.internal_auth); who acts is the signature's subject, and the groups
they are in (which group-only articles they may read) its groups. What the caller may read beyond that, by role,
the gateway says in each read's `reader` parameter (requester | agent | admin), never the client.
"""

from itsm_knowledge.api import articles, suggestions

# suggestions first: its /articles/search must not be taken for an article id by /articles/{id}
ROUTERS = [suggestions.router, articles.router]
