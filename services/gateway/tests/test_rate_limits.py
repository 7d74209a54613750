"""Rate limits: token buckets per integration and per source address, in bounded memory; no server."""

import pytest

from itsm_kit.errors import Problem
from itsm_gateway.limits import Limits, TokenBuckets


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_admits_its_burst_then_refills_at_its_rate():
    clock = Clock()
    buckets = TokenBuckets(rate=2, burst=4, size=10, clock=clock)
    assert [buckets.take("a") for _ in range(4)] == [0, 0, 0, 0]
    assert buckets.take("a") == pytest.approx(0.5)  # one token comes every half second
    assert buckets.take("b") == 0  # another name has its own bucket
    clock.now += 0.5
    assert buckets.take("a") == 0 and buckets.take("a") == pytest.approx(0.5)
    clock.now += 60
    assert [buckets.take("a") for _ in range(5)][-1] > 0  # refilled up to the burst, no further


def test_a_batch_larger_than_the_bucket_waits_for_a_full_one_and_leaves_a_debt():
    clock = Clock()
    buckets = TokenBuckets(rate=10, burst=100, size=10, clock=clock)
    assert buckets.take("int", 30) == 0
    assert buckets.take("int", 500) == pytest.approx(3.0)  # 70 left: a full bucket in 3 s
    clock.now += 3
    assert buckets.take("int", 500) == 0  # admitted whole, never refused forever
    clock.now += 10
    assert buckets.take("int", 1) == pytest.approx(30.1)  # 100 - 500 + 100 = -300: the debt keeps the rate


def test_a_wait_does_not_take_and_a_refusal_takes_nothing():
    clock = Clock()
    buckets = TokenBuckets(rate=1, burst=2, size=10, clock=clock)
    assert buckets.wait("x") == 0 and buckets.take("x", 2) == 0
    assert buckets.wait("x") == pytest.approx(1.0) and buckets.take("x") == pytest.approx(1.0)
    clock.now += 1
    assert buckets.take("x") == 0


def test_buckets_take_bounded_memory_and_an_idle_one_is_forgotten_once_full_again():
    clock = Clock()
    buckets = TokenBuckets(rate=1, burst=10, size=100, clock=clock)
    for n in range(10_000):
        buckets.take(f"10.0.{n // 256}.{n % 256}")
    assert len(buckets) <= 100
    buckets.take("idle", 10)
    clock.now += 10.5  # full again: nothing to remember
    buckets.take("other")
    assert "idle" not in buckets._buckets


def test_zero_turns_a_limit_off():
    buckets = TokenBuckets(rate=0, burst=0, size=10)
    assert all(buckets.take("x", 1_000_000) == 0 for _ in range(100)) and len(buckets) == 0


class Settings:
    alert_rate_per_second, alert_burst = 1.0, 3
    failed_auth_rate_per_second, failed_auth_burst = 0.5, 2
    user_rate_per_second, user_burst = 2.0, 3
    rate_limit_size = 100


@pytest.mark.parametrize(("kind", "status"), [("alertmanager", 503), ("grafana", 503), ("generic", 503),
                                              ("pagerduty", 429)])
def test_an_integration_over_its_rate_gets_503_if_it_retries_5xx_only_else_429_with_retry_after(kind, status):
    limits = Limits.of(Settings())
    integration = {"id": f"int-{kind}", "kind": kind}
    limits.admit_alerts(integration, 2)
    with pytest.raises(Problem) as refused:
        limits.admit_alerts(integration, 2)
    assert refused.value.status == status and refused.value.headers["Retry-After"] == "1"
    assert "1 alerts/s" in refused.value.detail
    limits.admit_alerts({"id": "another", "kind": kind}, 3)  # each integration has its own bucket


def test_failed_authentications_are_counted_per_source_and_refused_when_used_up():
    limits = Limits.of(Settings())
    for _ in range(2):
        limits.check_source("192.0.2.7", 503)
        limits.failed("192.0.2.7")
    with pytest.raises(Problem) as refused:
        limits.check_source("192.0.2.7", 429)
    assert refused.value.status == 429 and refused.value.headers["Retry-After"] == "2"
    limits.check_source("192.0.2.8", 429)  # another source is not affected


def test_a_user_past_their_rate_gets_429_with_retry_after_and_others_are_not_held_back():
    limits = Limits.of(Settings())
    for _ in range(3):
        limits.admit_user("alice")
    with pytest.raises(Problem) as refused:
        limits.admit_user("alice")
    assert refused.value.status == 429 and refused.value.headers["Retry-After"] == "1"
    assert "requests/s" in refused.value.detail
    limits.admit_user("bob")


def test_per_user_buckets_are_bounded_least_recently_used_first():
    now = [0.0]
    buckets = TokenBuckets(rate=1, burst=5, size=3, clock=lambda: now[0])
    for user in ("a", "b", "c", "d", "e"):
        buckets.take(user)
    assert len(buckets) == 3
