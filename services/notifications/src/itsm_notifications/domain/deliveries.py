"""A delivery's life: its states, retries with backoff and jitter, the circuit breaker of an endpoint."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

from itsm_kit.clock import utcnow
from itsm_kit.domain import check_transition


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """A Retry-After header (RFC 9110: delay-seconds or an HTTP-date) as seconds from now; None if absent or
    unreadable, 0 for a date in the past."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or utcnow())).total_seconds())


# --- A delivery's states. Held rows (quiet hours, digests) are the pipeline's; the dispatcher moves the rest.
PENDING, SENDING, SENT, DEAD, SKIPPED, HELD, DIGESTED = "pending", "sending", "sent", "dead", "skipped", "held", \
    "digested"
UNFINISHED = (PENDING, SENDING, HELD)
FINISHED = (SENT, SKIPPED, DIGESTED, DEAD)  # nothing more will happen to them (but a redrive of a dead one)
MOVES: Mapping[str, frozenset[str]] = {
    PENDING: frozenset({SENDING}),
    # A replica that died mid-send leaves the row sending: another takes it again once its lease ran out.
    SENDING: frozenset({SENT, PENDING, DEAD, SKIPPED, SENDING}),
    DEAD: frozenset({PENDING}),  # redrive
    HELD: frozenset({PENDING, DIGESTED}),
    SENT: frozenset(),
    SKIPPED: frozenset(),
    DIGESTED: frozenset(),
}


def check_move(current: str, wanted: str) -> None:
    check_transition(MOVES, "a delivery", current, wanted)


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float
    max_seconds: float
    retry_after_max_seconds: float
    max_attempts: int


def backoff(attempt: int, policy: RetryPolicy, retry_after: float | None = None,
            uniform: Callable[[float, float], float] = random.uniform) -> float:
    """Seconds before the next try after failed attempt number `attempt` (1 for the first): full jitter over an
    exponentially growing, capped window, so that many senders that failed together do not come back together; but
    never sooner than the receiver asked (Retry-After, itself capped so that no receiver parks a delivery forever)."""
    window = min(policy.max_seconds, policy.base_seconds * 2 ** min(attempt - 1, 62))
    delay = uniform(0, window)
    if retry_after is not None:
        delay = max(delay, min(retry_after, policy.retry_after_max_seconds))
    return delay


@dataclass(frozen=True)
class Settled:
    """What one attempt's outcome makes of a delivery."""

    state: str
    attempts: int  # the delivery's counter after this outcome
    attempt_outcome: str  # the delivery log's word: sent | failed | refused | skipped
    next_attempt_at: datetime | None = None  # pending: when to try again


def settle(attempts_before: int, *, sent: bool, skipped: bool, permanent: bool, retry_after: float | None,
           now: datetime, policy: RetryPolicy, uniform: Callable[[float, float], float] = random.uniform) -> Settled:
    """sent | skipped | dead (refused, or the last allowed attempt failed) | pending again after a backoff."""
    if skipped:
        return Settled(SKIPPED, attempts_before, "skipped")
    attempts = attempts_before + 1
    if sent:
        return Settled(SENT, attempts, "sent")
    if permanent:
        return Settled(DEAD, attempts, "refused")
    if attempts >= policy.max_attempts:
        return Settled(DEAD, attempts, "failed")
    delay = backoff(attempts, policy, retry_after, uniform)
    return Settled(PENDING, attempts, "failed", now + timedelta(seconds=delay))


# --- The circuit breaker of one receiver (an endpoint, or the SMTP relay), shared by every replica.
CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
# The receiver (and breaker) of every e-mail: the one SMTP relay. Other deliveries' is their endpoint's id.
SMTP = "smtp"


@dataclass(frozen=True)
class BreakerPolicy:
    failure_threshold: int
    open_seconds: float
    open_max_seconds: float
    probe_seconds: float  # how long one probe may take before another may go (a replica died while probing)


@dataclass(frozen=True)
class Breaker:
    key: str
    state: str = CLOSED
    failures: int = 0  # in a row
    opened_count: int = 0  # opens in a row
    retry_at: datetime | None = None

    def blocks(self, now: datetime) -> bool:
        """Whether deliveries through it must wait (they are not attempts while they do)."""
        return self.state != CLOSED and self.retry_at is not None and self.retry_at > now

    def probing(self, now: datetime) -> bool:
        """Open (or a probe lost) and its time has come: one delivery may go as a probe."""
        return self.state != CLOSED and not self.blocks(now)


def _open(breaker: Breaker, now: datetime, policy: BreakerPolicy) -> Breaker:
    opened = breaker.opened_count + 1
    wait = min(policy.open_max_seconds, policy.open_seconds * 2 ** min(opened - 1, 62))
    return Breaker(breaker.key, OPEN, breaker.failures + 1, opened, now + timedelta(seconds=wait))


def _failed_closed(breaker: Breaker, now: datetime, policy: BreakerPolicy) -> Breaker:
    if breaker.failures + 1 >= policy.failure_threshold:
        return _open(breaker, now, policy)
    return replace(breaker, failures=breaker.failures + 1)


def _closed(breaker: Breaker, now: datetime, policy: BreakerPolicy) -> Breaker:
    return Breaker(breaker.key)


def _probe_sent(breaker: Breaker, now: datetime, policy: BreakerPolicy) -> Breaker:
    return replace(breaker, state=HALF_OPEN, retry_at=now + timedelta(seconds=policy.probe_seconds))


def _unchanged(breaker: Breaker, now: datetime, policy: BreakerPolicy) -> Breaker:
    return breaker


# (state, what happened) -> the breaker after it. "probe": the dispatcher lets one delivery through an open breaker
# whose time came; "ok": the receiver answered (sent, skipped, or refused for good: it is up); "failed": it did not,
# or asked us to come back (5xx, 408, 429, no connection). An open breaker hears outcomes of deliveries that were
# in flight when it opened: those change nothing (only the probe's does).
BREAKER_MOVES: Mapping[tuple[str, str], Callable[[Breaker, datetime, BreakerPolicy], Breaker]] = {
    (CLOSED, "ok"): _closed,
    (CLOSED, "failed"): _failed_closed,
    (CLOSED, "probe"): _unchanged,
    (OPEN, "probe"): _probe_sent,
    (OPEN, "ok"): _unchanged,
    (OPEN, "failed"): _unchanged,
    (HALF_OPEN, "probe"): _probe_sent,  # the last probe was lost (its replica died)
    (HALF_OPEN, "ok"): _closed,
    (HALF_OPEN, "failed"): _open,
}


def breaker_after(breaker: Breaker, happened: str, now: datetime, policy: BreakerPolicy) -> Breaker:
    return BREAKER_MOVES[(breaker.state, happened)](breaker, now, policy)
