"""What `make bench` needs to measure a dispatch decision over many rules, in process and with no I/O (the
decision's database part is one generation row read, a CI and a person by key, and the group's row).

    from itsm_requests.dispatch_bench import decision_times, sample_rules, sample_traits
    ruleset = Ruleset(sample_rules(500))
    seconds = decision_times(ruleset, sample_traits(500), 10_000)

The worst case: every rule is looked at and only the last one matches (each checks a category, a priority and a
location, like real rules).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from itsm_requests.domain.dispatch import DispatchRule, Ruleset, Traits

_AT = datetime(2026, 12, 5, tzinfo=UTC)


def sample_rules(count: int) -> list[DispatchRule]:
    """`count` incident rules, each on its own category (rule i: "category-i"), priorities 1-3, two locations."""
    return [DispatchRule.create(id=f"bench-{i}", name=f"bench rule {i}", position=i, record_types=["incident"],
                                assignment_group=f"group-{i % 20}", at=_AT,
                                conditions={"category": [f"category-{i}", f"category-{i}-alt"], "priority": [1, 2, 3],
                                            "requester_location": ["Berlin", "Paris"]})
            for i in range(1, count + 1)]


def sample_traits(count: int) -> Traits:
    """An incident only the last of sample_rules(count) matches."""
    return Traits(record_type="incident", category=f"category-{count}", priority=2, requester_location="Berlin")


def decision_times(ruleset: Ruleset, traits: Traits, decisions: int) -> list[float]:
    """Seconds each of `decisions` decisions took."""
    times = []
    for _ in range(decisions):
        started = time.perf_counter()
        ruleset.first(traits)
        times.append(time.perf_counter() - started)
    return times
