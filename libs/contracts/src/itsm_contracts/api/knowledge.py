"""Knowledge (issue 18): articles and their versions, feedback, suggestions for a record.

Who reads decides what is found: `reader` is set by the gateway from the caller's role (a requester reads articles
for requesters and for their groups; an agent also those for agents; an admin every article), never by the client.
"""

from __future__ import annotations

from typing import Literal

Reader = Literal["requester", "agent", "admin"]

# -- articles helper (issue 18): article, version, feedback and list models below
