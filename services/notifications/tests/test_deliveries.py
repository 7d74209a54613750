"""Delivery rules, without a database: backoff with jitter and Retry-After, the outcome of an attempt, the circuit
breaker's table, endpoints' own rules, and what each channel puts on the wire."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook

from itsm_kit.domain import InvalidTransition, InvalidValue
from itsm_notifications.channels import Endpoint as Receiver
from itsm_notifications.channels import Outgoing, failed_http
from itsm_notifications.channels.chat import slack_message, teams_card
from itsm_notifications.channels.email import message, on_loopback
from itsm_notifications.channels.webhook import body_of, signed_headers
from itsm_notifications.domain.deliveries import (
    CLOSED, DEAD, HALF_OPEN, OPEN, PENDING, SENDING, SENT, SKIPPED, Breaker, BreakerPolicy, RetryPolicy, backoff,
    breaker_after, check_move, retry_after_seconds, settle,
)
from itsm_notifications.domain.endpoints import Endpoint, webhook_secret
from itsm_notifications.settings import NotificationsSettings

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
RETRY = RetryPolicy(base_seconds=2, max_seconds=600, retry_after_max_seconds=3600, max_attempts=4)
BREAKER = BreakerPolicy(failure_threshold=3, open_seconds=30, open_max_seconds=100, probe_seconds=60)


def highest(low: float, high: float) -> float:
    return high


def lowest(low: float, high: float) -> float:
    return low


# --- backoff ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("attempt", "window"), [(1, 2), (2, 4), (3, 8), (9, 512), (10, 600), (60, 600)])
def test_the_backoff_window_doubles_with_each_attempt_up_to_the_cap(attempt, window):
    assert backoff(attempt, RETRY, uniform=highest) == window
    assert backoff(attempt, RETRY, uniform=lowest) == 0


def test_backoff_is_full_jitter_over_the_window():
    delays = [backoff(4, RETRY) for _ in range(500)]
    assert all(0 <= d <= 16 for d in delays)
    assert len(set(delays)) > 400  # spread, not one value: senders that failed together do not return together
    assert min(delays) < 4 and max(delays) > 12


def test_backoff_waits_at_least_what_retry_after_asks():
    assert backoff(1, RETRY, retry_after=30, uniform=highest) == 30
    assert backoff(1, RETRY, retry_after=30, uniform=lowest) == 30
    assert backoff(10, RETRY, retry_after=5, uniform=highest) == 600  # the window is longer: the window


def test_retry_after_is_capped():
    assert backoff(1, RETRY, retry_after=86_400 * 30, uniform=lowest) == 3600


def test_retry_after_reads_both_forms():
    assert retry_after_seconds("120") == 120
    assert retry_after_seconds(" 2 ") == 2
    assert retry_after_seconds("Sat, 05 Dec 2026 12:01:30 GMT", now=NOW) == 90
    assert retry_after_seconds("Sat, 05 Dec 2026 11:00:00 GMT", now=NOW) == 0  # past: now
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def test_failed_http_retries_what_may_pass_and_refuses_the_rest():
    assert not failed_http(503, {"retry-after": "7"}).permanent
    assert failed_http(503, {"retry-after": "7"}).retry_after == 7
    for status in (408, 425, 429, 500, 502):
        assert not failed_http(status, {}).permanent
    for status in (301, 400, 401, 404, 410, 422):
        assert failed_http(status, {}).permanent


# --- an attempt's outcome ----------------------------------------------------------------------------------

def test_a_sent_attempt_counts_and_ends_the_delivery():
    assert settle(0, sent=True, skipped=False, permanent=False, retry_after=None, now=NOW, policy=RETRY).state == SENT


def test_a_failed_attempt_comes_back_after_its_backoff():
    settled = settle(1, sent=False, skipped=False, permanent=False, retry_after=None, now=NOW, policy=RETRY,
                     uniform=highest)
    assert (settled.state, settled.attempts, settled.attempt_outcome) == (PENDING, 2, "failed")
    assert settled.next_attempt_at == NOW + timedelta(seconds=4)


def test_retry_after_sets_the_next_attempt():
    settled = settle(0, sent=False, skipped=False, permanent=False, retry_after=2, now=NOW, policy=RETRY,
                     uniform=lowest)
    assert settled.next_attempt_at == NOW + timedelta(seconds=2)


def test_the_last_allowed_attempt_failing_makes_the_delivery_dead():
    assert settle(2, sent=False, skipped=False, permanent=False, retry_after=None, now=NOW,
                  policy=RETRY).state == PENDING
    settled = settle(3, sent=False, skipped=False, permanent=False, retry_after=None, now=NOW, policy=RETRY)
    assert (settled.state, settled.attempts, settled.next_attempt_at) == (DEAD, 4, None)


def test_a_refusal_for_good_is_dead_at_once():
    settled = settle(0, sent=False, skipped=False, permanent=True, retry_after=None, now=NOW, policy=RETRY)
    assert (settled.state, settled.attempt_outcome) == (DEAD, "refused")


def test_a_skip_is_not_an_attempt():
    settled = settle(2, sent=False, skipped=True, permanent=False, retry_after=None, now=NOW, policy=RETRY)
    assert (settled.state, settled.attempts) == (SKIPPED, 2)


def test_state_moves_follow_the_table():
    check_move(PENDING, SENDING)
    check_move(SENDING, SENT)
    check_move(DEAD, PENDING)  # redrive
    for current, wanted in ((SENT, PENDING), (PENDING, SENT), (SKIPPED, PENDING), (DEAD, SENT)):
        with pytest.raises(InvalidTransition):
            check_move(current, wanted)


# --- the circuit breaker -------------------------------------------------------------------------------------

def run(breaker: Breaker, *happenings: str, now: datetime = NOW) -> Breaker:
    for happened in happenings:
        breaker = breaker_after(breaker, happened, now, BREAKER)
    return breaker


def test_the_breaker_opens_after_the_threshold_of_failures_in_a_row():
    assert run(Breaker("e"), "failed", "failed").state == CLOSED
    assert run(Breaker("e"), "failed", "ok", "failed", "failed").state == CLOSED  # not in a row
    opened = run(Breaker("e"), "failed", "failed", "failed")
    assert (opened.state, opened.opened_count, opened.retry_at) == (OPEN, 1, NOW + timedelta(seconds=30))
    assert opened.blocks(NOW) and not opened.probing(NOW)
    assert opened.probing(NOW + timedelta(seconds=30))


def test_an_open_breaker_lets_one_probe_through_when_its_time_comes():
    opened = run(Breaker("e"), "failed", "failed", "failed")
    later = NOW + timedelta(seconds=31)
    probing = breaker_after(opened, "probe", later, BREAKER)
    assert probing.state == HALF_OPEN and probing.blocks(later)  # no second probe while the first is out
    assert probing.probing(later + timedelta(seconds=60))  # ... unless it was lost with its replica
    assert breaker_after(probing, "ok", later, BREAKER) == Breaker("e")


def test_a_failed_probe_opens_the_breaker_for_twice_as_long_up_to_the_cap():
    breaker = run(Breaker("e"), "failed", "failed", "failed")
    waits = []
    for _ in range(4):
        breaker = run(breaker, "probe", "failed")
        assert breaker.state == OPEN
        waits.append((breaker.retry_at - NOW).total_seconds())
    assert waits == [60, 100, 100, 100]


def test_outcomes_of_deliveries_in_flight_when_it_opened_change_nothing():
    opened = run(Breaker("e"), "failed", "failed", "failed")
    assert run(opened, "ok", "failed") == opened


# --- endpoints -----------------------------------------------------------------------------------------------

def endpoint(**fields) -> tuple[Endpoint, str | None]:
    values = {"id": "e1", "name": "hook", "kind": "webhook", "url": "https://example.org/in", "secret": None,
              "inbound_secret": None, "options": {}, "enabled": True, "at": NOW, "new_key": b"k" * 24} | fields
    return Endpoint.create(**values)


def test_a_webhook_without_a_secret_gets_a_standard_webhooks_one():
    made, secret = endpoint()
    assert secret == "whsec_" + base64.b64encode(b"k" * 24).decode() == made.secret
    Webhook(secret)  # the library takes it
    assert endpoint(kind="slack")[1] is None


def test_an_endpoint_refuses_what_is_not_an_http_url_and_unbounded_options():
    for url in ("ftp://example.org", "file:///etc/passwd", "https://", "https://user:pw@example.org/"):
        with pytest.raises(InvalidValue):
            endpoint(url=url)
    with pytest.raises(InvalidValue):
        endpoint(options={"x": "y" * 9000})
    with pytest.raises(InvalidValue):
        endpoint(secret="not-a-whsec-secret")
    made, _ = endpoint()
    with pytest.raises(InvalidValue):
        made.update({"secret": None}, NOW)  # a webhook always signs


def test_a_secret_made_for_a_webhook_is_random_per_key():
    assert webhook_secret(b"a" * 24) != webhook_secret(b"b" * 24)


# --- what the channels send ------------------------------------------------------------------------------------

def outgoing(**fields) -> Outgoing:
    values = {"id": "d-1", "channel": "webhook", "recipient": "hook", "subject": "P1 opened", "body": "INC1 down",
              "payload": {"notification": {"id": "d-1"}, "event": {"type": "itsm.incident.opened"}},
              "created_at": NOW, "attempt": 1,
              "endpoint": Receiver("e1", "hook", "webhook", "https://example.org", webhook_secret(b"k" * 24), {})}
    return Outgoing(**(values | fields))


def test_a_webhook_is_the_compact_payload_signed_per_standard_webhooks():
    out = outgoing()
    body = body_of(out)
    assert body == b'{"notification":{"id":"d-1"},"event":{"type":"itsm.incident.opened"}}'
    headers = signed_headers(out.endpoint.secret, out.id, body)
    assert headers["webhook-id"] == "d-1"
    Webhook(out.endpoint.secret).verify(body, headers)  # raises when it does not verify
    with pytest.raises(Exception):
        Webhook(webhook_secret(b"x" * 24)).verify(body, headers)


def test_chat_messages_take_each_receivers_format():
    assert slack_message(outgoing()) == {"text": "P1 opened\nINC1 down"}
    card = teams_card(outgoing())
    assert card["@type"] == "MessageCard" and card["@context"] == "https://schema.org/extensions"
    assert (card["title"], card["summary"], card["text"]) == ("P1 opened", "P1 opened", "INC1 down")
    json.dumps(card)


def test_an_email_keeps_its_message_id_across_attempts():
    settings = NotificationsSettings(smtp_from="ITSM <itsm@example.org>")
    first = message(settings, outgoing(channel="email", recipient="ann@example.org", attempt=1, endpoint=None))
    again = message(settings, outgoing(channel="email", recipient="ann@example.org", attempt=3, endpoint=None))
    assert first["Message-ID"] == again["Message-ID"] == "<d-1@itsm>"
    assert (first["To"], first["From"], first["Subject"]) == ("ann@example.org", "ITSM <itsm@example.org>",
                                                              "P1 opened")
    assert first.get_content().strip() == "INC1 down"


def test_credentials_go_in_clear_only_to_loopback():
    assert on_loopback("127.0.0.1") and on_loopback("localhost") and on_loopback("::1")
    assert not on_loopback("smtp.example.org") and not on_loopback("10.0.0.1")


async def test_an_smtp_login_without_encryption_off_loopback_is_refused_before_connecting():
    from itsm_notifications.channels.email import channel

    settings = NotificationsSettings(smtp_host="smtp.example.org", smtp_username="itsm", smtp_password="pw")
    outcome = await asyncio.wait_for(channel(settings).send(outgoing(channel="email", endpoint=None)), 1)
    assert not outcome.sent and "unencrypted" in outcome.error
