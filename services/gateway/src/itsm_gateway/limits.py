"""Rate limits of the gateway: requests per signed-in user, alerts per integration, and failed
authentications per source address.

Both are token buckets in bounded memory. A refusal names how long to wait (Retry-After) and is
answered as each kind of sender understands it: Alertmanager, Grafana and generic senders retry a
5xx but drop a 4xx, so they get 503; people and PagerDuty clients (PagerDuty answers 429 itself)
get 429.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from cachetools import TLRUCache
from prometheus_client import Counter

from itsm_kit.errors import Problem

THROTTLED = Counter("itsm_gateway_throttled_total", "Requests refused by a rate limit", ["limit"])

# Senders that retry a 5xx but never a 4xx: a 429 would lose their alerts.
RETRY_ON_5XX = frozenset({"alertmanager", "grafana", "generic"})


class TokenBuckets:
    """A token bucket per name: `rate` tokens a second up to `burst`; 0 for either turns the limit off.

    A cost larger than the bucket is admitted once the bucket is full, and leaves it in debt: a
    batch never waits forever, and over time no name gets more than `rate`. A bucket idle long
    enough to be full again is forgotten (it would read the same), and at most `size` are kept.
    """

    def __init__(self, rate: float, burst: float, size: int, clock: Callable[[], float] = time.monotonic):
        self.rate, self.burst, self.clock = rate, burst, clock
        self.enabled = rate > 0 and burst > 0
        self._buckets: TLRUCache = TLRUCache(maxsize=max(size, 1), ttu=self._full_again, timer=clock)

    def _full_again(self, _name: Hashable, bucket: tuple[float, float], now: float) -> float:
        tokens, _ = bucket
        return now + (self.burst - tokens) / self.rate

    def _tokens(self, name: Hashable, now: float) -> float:
        tokens, at = self._buckets.get(name, (self.burst, now))
        return min(self.burst, tokens + (now - at) * self.rate)

    def wait(self, name: Hashable, cost: float = 1.0) -> float:
        """Seconds until `cost` tokens (at most a full bucket) are there; 0 if they are now."""
        if not self.enabled:
            return 0.0
        return max(0.0, (min(cost, self.burst) - self._tokens(name, self.clock())) / self.rate)

    def take(self, name: Hashable, cost: float = 1.0) -> float:
        """0 once `cost` tokens are taken, or the seconds to wait before asking again (nothing taken)."""
        if not self.enabled:
            return 0.0
        now = self.clock()
        tokens = self._tokens(name, now)
        needed = min(cost, self.burst)
        if tokens < needed:
            return (needed - tokens) / self.rate
        self._buckets[name] = (tokens - cost, now)
        return 0.0

    def __len__(self) -> int:
        return len(self._buckets)


def throttled(status: int, detail: str, wait: float, limit: str) -> Problem:
    THROTTLED.labels(limit).inc()
    problem = Problem(status, "Too Many Requests" if status == 429 else "Service Unavailable", detail)
    problem.headers["Retry-After"] = str(max(1, math.ceil(wait)))
    return problem


def status_for(kind: str) -> int:
    """What a refusal is answered with for a sender of this integration kind."""
    return 503 if kind in RETRY_ON_5XX else 429


@dataclass
class Limits:
    alerts: TokenBuckets       # per integration id, one token an alert
    failed_auth: TokenBuckets  # per source address, one token a key or token that failed
    users: TokenBuckets        # per signed-in user id, one token a request

    @classmethod
    def of(cls, settings) -> Limits:
        return cls(
            TokenBuckets(settings.alert_rate_per_second, settings.alert_burst, settings.rate_limit_size),
            TokenBuckets(settings.failed_auth_rate_per_second, settings.failed_auth_burst,
                         settings.rate_limit_size),
            TokenBuckets(settings.user_rate_per_second, settings.user_burst, settings.rate_limit_size),
        )

    def admit_user(self, user_id: str) -> None:
        """Takes one request from the user's bucket, or refuses it with 429 (a person, or their frontend,
        reads Retry-After). At most rate_limit_size users' buckets are kept (the least recently used go)."""
        wait = self.users.take(user_id)
        if wait:
            raise throttled(429, f"more than {self.users.rate:g} requests/s (bursts of {self.users.burst:g}) "
                                 f"from this user: retry after Retry-After", wait, "user")

    def admit_alerts(self, integration: dict, count: int) -> None:
        """Takes `count` alerts from the integration's bucket, or refuses the whole request."""
        wait = self.alerts.take(integration["id"], count)
        if wait:
            raise throttled(status_for(integration["kind"]),
                            f"integration {integration['id']} sends more than its {self.alerts.rate:g} alerts/s "
                            f"(bursts of {self.alerts.burst:g}); nothing of this request was accepted, retry it",
                            wait, "alerts")

    def check_source(self, source: str, status: int) -> None:
        """Refuses a source that has used up its failed authentications, before its key is looked up."""
        wait = self.failed_auth.wait(source)
        if wait:
            raise throttled(status, f"too many failed authentications from {source}", wait, "failed_auth")

    def failed(self, source: str) -> None:
        self.failed_auth.take(source)
