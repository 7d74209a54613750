"""Who may read an article: its audience against the reader's role and groups (pure)."""

from __future__ import annotations

from collections.abc import Collection

from itsm_contracts.api.knowledge import Reader


def may_read(audience: str, audience_group: str | None, reader: Reader, groups: Collection[str]) -> bool:
    """Requesters' articles are for everyone signed in; agents' for those who work records; a group's for its
    members (and admins, who see everything so they can fix what is wrong)."""
    if reader == "admin":
        return True
    if audience == "requesters":
        return True
    if audience == "agents":
        return reader == "agent"
    return audience == "group" and audience_group is not None and audience_group in groups
