"""An alert storm: thousands of notifications, many repeats, firing and resolved interleaved.

Afterwards the incidents are exactly what the alerts imply: one incident per firing
episode of each alert, counting that episode's notifications, resolved when it ended.
"""

from __future__ import annotations

import random
from collections import defaultdict

import pytest

from tests.alerts import alert, alertmanager_batch, fingerprints
from tests.helpers import eventually

pytestmark = pytest.mark.e2e


def storm(keys: list[str], seed: int) -> list[tuple[str, str]]:
    """(fingerprint, status) notifications; each key's own order is a plausible alert life."""
    rng = random.Random(seed)
    lives = {}
    for fp in keys:
        life = ["firing"] * rng.randint(1, 5)
        if rng.random() < 0.6:
            life += ["resolved"] * rng.randint(1, 2)  # Alertmanager repeats resolved notifications too
            if rng.random() < 0.3:
                life += ["firing"] * rng.randint(1, 3)  # fires again: a new episode
        lives[fp] = life
    notifications = []
    cursors = dict.fromkeys(keys, 0)
    while cursors:  # interleave the keys, keeping each key's order
        fp = rng.choice(sorted(cursors))
        notifications.append((fp, lives[fp][cursors[fp]]))
        cursors[fp] += 1
        if cursors[fp] == len(lives[fp]):
            del cursors[fp]
    return notifications


def expected_episodes(notifications: list[tuple[str, str]]) -> dict[str, list[tuple[int, str]]]:
    """Per key: (notifications counted, final state) of each incident it should have, oldest first."""
    episodes: dict[str, list[list]] = defaultdict(list)
    for fp, status in notifications:
        current = episodes[fp][-1] if episodes[fp] and episodes[fp][-1][1] == "new" else None
        if status == "firing":
            if current is None:
                episodes[fp].append([1, "new"])
            else:
                current[0] += 1
        elif current is not None:
            current[1] = "resolved"
    return {fp: [tuple(e) for e in eps] for fp, eps in episodes.items()}


async def test_storm_leaves_exactly_the_incidents_the_alerts_imply(gateway, integration_key):
    keys = fingerprints(400)
    notifications = storm(keys, seed=7)
    assert len(notifications) > 1500
    headers = {"x-integration-key": integration_key}
    # Alertmanager names each episode of an alert by its startsAt: firing again after resolving is a new one.
    episode, resolved, starts = dict.fromkeys(keys, 0), set(), []
    for fp, status in notifications:
        if status == "firing" and fp in resolved:
            episode[fp] += 1
            resolved.discard(fp)
        elif status == "resolved":
            resolved.add(fp)
        starts.append(f"2026-11-25T10:{episode[fp]:02d}:00Z")
    for start in range(0, len(notifications), 250):
        chunk = list(zip(notifications, starts))[start:start + 250]
        body = alertmanager_batch([alert(fp, status=status, severity="warning", starts_at=at)
                                   for (fp, status), at in chunk])
        response = await gateway.post("/api/v1/integrations/alertmanager", json=body, headers=headers)
        assert response.status_code == 202 and response.json()["accepted"] == len(chunk)

    expected = expected_episodes(notifications)

    async def incidents_match():
        for fp in keys:
            page = (await gateway.get("/api/v1/incidents", params={"dedup_key": fp, "limit": 10})).json()
            oldest_first = sorted(page["items"], key=lambda i: i["number"])  # one webhook may open two
            actual = [(i["alert_count"], i["state"]) for i in oldest_first]
            assert actual == expected[fp], fp

    await eventually(incidents_match, timeout=120, every=1)


async def test_storm_control_gathers_a_groups_alerts_on_one_incident_until_the_last_clears(gateway):
    created = await gateway.post("/api/v1/integrations", json={"name": "storm", "kind": "alertmanager",
                                                               "storm_window_seconds": 600})
    assert created.status_code == 201, created.text
    headers = {"x-integration-key": created.json()["key"]}
    group, other_group = f'{{}}:{{cluster="eu-{fingerprints(1)[0]}"}}', f'{{}}:{{cluster="us-{fingerprints(1)[0]}"}}'
    keys = fingerprints(60)
    rng = random.Random(3)
    # 60 alerts of one group, each sent 1-3 times, across several webhooks; then one other group.
    firing = [fp for fp in keys for _ in range(rng.randint(1, 3))]
    rng.shuffle(firing)
    for start in range(0, len(firing), 25):
        body = alertmanager_batch([alert(fp) for fp in firing[start:start + 25]], group_key=group)
        assert (await gateway.post("/api/v1/integrations/alertmanager", json=body, headers=headers)).status_code == 202
    [lone] = fingerprints(1)
    body = alertmanager_batch([alert(lone)], group_key=other_group)
    assert (await gateway.post("/api/v1/integrations/alertmanager", json=body, headers=headers)).status_code == 202

    async def one_incident_per_group():
        opened = [(await gateway.get("/api/v1/incidents", params={"dedup_key": fp})).json()["items"]
                  for fp in [*keys, lone]]
        storm_incidents = [items for items in opened[:-1] if items]
        assert len(storm_incidents) == 1 and len(storm_incidents[0]) == 1  # only the first alert opened one
        incident = storm_incidents[0][0]
        assert incident["alert_count"] == len(firing)
        assert len(opened[-1]) == 1 and opened[-1][0]["id"] != incident["id"]  # another group, another incident
        return incident

    incident = await eventually(one_incident_per_group)
    attached = (await gateway.get(f"/api/v1/incidents/{incident['id']}/alerts")).json()["items"]
    assert sorted(a["dedup_key"] for a in attached) == sorted(keys)
    assert sum(a["count"] for a in attached) == len(firing)

    async def state_of_storm() -> str:
        return (await gateway.get(f"/api/v1/incidents/{incident['id']}")).json()["state"]

    body = alertmanager_batch([alert(fp, status="resolved") for fp in keys[:-1]], group_key=group)
    assert (await gateway.post("/api/v1/integrations/alertmanager", json=body, headers=headers)).status_code == 202

    async def all_but_one_cleared():
        alerts_now = (await gateway.get(f"/api/v1/incidents/{incident['id']}/alerts")).json()["items"]
        assert sorted(a["status"] for a in alerts_now) == ["firing"] + ["resolved"] * (len(keys) - 1)
        assert await state_of_storm() == "new"  # one alert of the storm still fires

    await eventually(all_but_one_cleared)
    body = alertmanager_batch([alert(keys[-1], status="resolved")], group_key=group)
    assert (await gateway.post("/api/v1/integrations/alertmanager", json=body, headers=headers)).status_code == 202

    async def resolved():
        assert await state_of_storm() == "resolved"

    await eventually(resolved)
