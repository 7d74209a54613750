"""What a CI's failure does to what depends on it, redundancy included. Pure: no I/O.

The walk upstream (a recursive query) finds every CI that needs the failed one, directly
or not. Not all of them go down with it. A CI with `min_members_up` stays up, degraded,
while at least that many of its members (the CIs it contains) are up: a cluster of
hosts, an application of redundant instances (iTop's redundancy, a ServiceNow cluster).
Every other relationship passes a failure on whole, and a CI that is up but needs one
that is only degraded is degraded too: reached, not down.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping
from enum import StrEnum
from typing import TypeVar

from itsm_cmdb.domain.relationships import RelationshipType


CI = TypeVar("CI", bound=Hashable)  # a CI by whatever names it (the store uses its number)


class Effect(StrEnum):
    DOWN = "down"  # out of service if the analysed CI fails
    DEGRADED = "degraded"  # depends on it, but redundancy on the way keeps it up


def failure_effects(failed: CI, needs: Iterable[tuple[CI, CI, str]], *,
                    min_members_up: Mapping[CI, int], members_up: Mapping[CI, frozenset[CI]]) -> dict[CI, Effect]:
    """The effect of `failed` failing on each CI that needs it.

    `needs`: (source, target, type) of the relationships among those CIs and the failed one (a
    RelationshipType or its value).
    `min_members_up`: the CIs with redundancy, and how many members each must keep up.
    `members_up`: their members that are up now (a member already down is not counted).
    """
    needed: dict[CI, list[tuple[CI, str]]] = defaultdict(list)
    for source, target, kind in needs:
        needed[source].append((target, kind))
    down = {failed}
    changed = True
    while changed:  # down only grows, so the walk ends, cycles or not
        changed = False
        for ci in needed.keys() - down:
            if _goes_down(ci, needed[ci], down, min_members_up, members_up):
                down.add(ci)
                changed = True
    return {ci: Effect.DOWN if ci in down else Effect.DEGRADED for ci in needed if ci != failed}


def _goes_down(ci: CI, needs: list[tuple[CI, str]], down: set[CI], min_members_up: Mapping[CI, int],
               members_up: Mapping[CI, frozenset[CI]]) -> bool:
    redundant = ci in min_members_up
    if any(target in down and not (redundant and kind == RelationshipType.CONTAINS) for target, kind in needs):
        return True
    return redundant and len(members_up.get(ci, frozenset()) - down) < min_members_up[ci]
