"""Which incident an alert is about: its integration's, its episode's, never another's.

Dedup keys are visible to every user and computable from Alertmanager labels, so an alert is
known by its integration and its key: a holder of one integration's key cannot acknowledge or
resolve what another integration opened (PagerDuty likewise applies events only on the routing
key that triggered them). An HA Alertmanager pair sends every notification twice: a late copy
of a firing notification, for an episode already resolved, changes nothing.
"""

from __future__ import annotations

import random

import pytest

from tests.alerts import alert, alertmanager_batch, fingerprints, pagerduty_event
from tests.helpers import eventually

pytestmark = pytest.mark.e2e

WEBHOOK = "/api/v1/integrations/alertmanager"
PAGERDUTY = "/api/v1/integrations/pagerduty/v2/enqueue"


async def new_key(gateway, kind: str, **policy) -> str:
    created = await gateway.post("/api/v1/integrations", json={"name": f"{kind}-{random.random()}", "kind": kind,
                                                               **policy})
    assert created.status_code == 201, created.text
    return created.json()["key"]


async def post(gateway, key: str, body: dict) -> None:
    response = await gateway.post(WEBHOOK, json=body, headers={"x-integration-key": key})
    assert response.status_code == 202, response.text


async def incidents_of(gateway, dedup_key: str) -> list[dict]:
    return sorted((await gateway.get("/api/v1/incidents", params={"dedup_key": dedup_key})).json()["items"],
                  key=lambda i: i["number"])


async def test_another_integrations_alert_with_the_same_key_never_touches_the_incident(gateway):
    ours, theirs = await new_key(gateway, "alertmanager"), await new_key(gateway, "alertmanager")
    [fp] = fingerprints(1)
    await post(gateway, ours, alertmanager_batch([alert(fp)]))
    [opened] = await eventually(lambda: _exactly(gateway, fp, 1))

    # The other key resolves "our" alert, then fires it: both are about its own alert only. They share
    # the key's partition, so once its incident shows, the resolve before it was handled too.
    await post(gateway, theirs, alertmanager_batch([alert(fp, status="resolved")]))
    await post(gateway, theirs, alertmanager_batch([alert(fp)]))
    first, second = await eventually(lambda: _exactly(gateway, fp, 2))
    assert first["id"] == opened["id"] and (first["state"], first["alert_count"]) == ("new", 1)
    assert second["state"] == "new" and second["integration_id"] != first["integration_id"]

    await post(gateway, ours, alertmanager_batch([alert(fp, status="resolved")]))

    async def only_ours_resolved():
        mine, other = await _exactly(gateway, fp, 2)
        assert (mine["state"], other["state"]) == ("resolved", "new")

    await eventually(only_ours_resolved)


async def test_pagerduty_events_apply_only_on_the_routing_key_that_triggered(gateway):
    ours, theirs = await new_key(gateway, "pagerduty"), await new_key(gateway, "pagerduty")
    [dedup] = fingerprints(1)
    assert (await gateway.post(PAGERDUTY, json=pagerduty_event(ours, dedup_key=dedup))).status_code == 202
    await eventually(lambda: _exactly(gateway, dedup, 1))
    for action in ("acknowledge", "resolve"):
        assert (await gateway.post(PAGERDUTY, json=pagerduty_event(theirs, action, dedup))).status_code == 202
    assert (await gateway.post(PAGERDUTY, json=pagerduty_event(theirs, dedup_key=dedup))).status_code == 202
    first, second = await eventually(lambda: _exactly(gateway, dedup, 2))
    assert first["state"] == "new" and second["state"] == "new"


async def test_a_replayed_firing_of_a_resolved_episode_opens_nothing_and_a_new_episode_does(gateway):
    key = await new_key(gateway, "alertmanager")
    [fp] = fingerprints(1)
    started, restarted = "2026-11-25T10:00:00Z", "2026-11-25T11:00:00Z"
    await post(gateway, key, alertmanager_batch([alert(fp, starts_at=started)]))
    await post(gateway, key, alertmanager_batch([alert(fp, status="resolved", starts_at=started)]))
    await post(gateway, key, alertmanager_batch([alert(fp, starts_at=started)]))  # the HA peer's late copy
    await post(gateway, key, alertmanager_batch([alert(fp, starts_at=restarted)]))  # it really fires again

    async def one_resolved_one_new():
        first, second = await _exactly(gateway, fp, 2)
        assert (first["state"], first["alert_count"]) == ("resolved", 1)
        assert (second["state"], second["alert_count"]) == ("new", 1)

    await eventually(one_resolved_one_new)


async def test_an_alert_clearing_and_firing_again_within_a_storm_counts_twice_on_its_incident(gateway):
    key = await new_key(gateway, "alertmanager", storm_window_seconds=600)
    group = f'{{}}:{{cluster="{fingerprints(1)[0]}"}}'
    first, second = fingerprints(2)
    for status, fp, starts_at in (("firing", first, "2026-11-25T10:00:00Z"), ("firing", second, "2026-11-25T10:00:00Z"),
                                  ("resolved", second, "2026-11-25T10:00:00Z"),
                                  ("firing", second, "2026-11-25T10:20:00Z")):
        await post(gateway, key, alertmanager_batch([alert(fp, status=status, starts_at=starts_at)], group_key=group))

    async def both_episodes_on_the_storm_incident():
        [incident] = await _exactly(gateway, first, 1)
        alerts = (await gateway.get(f"/api/v1/incidents/{incident['id']}/alerts")).json()["items"]
        assert sorted((a["dedup_key"], a["status"]) for a in alerts) == sorted(
            [(first, "firing"), (second, "resolved"), (second, "firing")])
        assert incident["alert_count"] == 3 and incident["state"] == "new"

    await eventually(both_episodes_on_the_storm_incident)


async def _exactly(gateway, dedup_key: str, n: int) -> list[dict]:
    found = await incidents_of(gateway, dedup_key)
    assert len(found) == n, found
    return found
