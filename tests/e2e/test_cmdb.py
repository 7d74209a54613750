"""The CMDB through the gateway, against the real services, PostgreSQL and Kafka.

One realistic estate per test (business services -> applications -> service instances ->
hosts and workloads -> clusters), its names made unique so the tests share the databases.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime

import httpx
import pytest

from itsm_contracts import CloudEvent, topics
from tests.helpers import database_scalar, eventually, read_topic, token, topic_end_offsets

pytestmark = pytest.mark.e2e

CMDB = "/api/v1/cmdb"


def problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return response.json()


def estate(tag: str) -> dict:
    """Two business services on three applications, their instances on hosts and a Kubernetes
    workload, the hosts on a VMware cluster, the workload on a Kubernetes cluster.

        Online shop --depends on--> checkout --depends on--> checkout-eu --runs on--> host-1 --hosted on--> vmw
                    \\                        \\-depends on--> checkout-us --runs on--> host-2 --hosted on--> vmw
                     \\--depends on--> catalog --depends on--> catalog-prod --runs on--> catalog (k8s) --> k8s
        Payments --depends on--> payments --depends on--> payments-prod --runs on--> host-3 --hosted on--> vmw
                   checkout --depends on--> payments;  payments --depends on--> payments-db --runs on--> host-3
                   host-3 --connects to--> core switch
    """
    def ci(ref: str, ci_class: str, name: str, criticality: int = 2, **fields) -> dict:
        return {"ref": ref, "ci_class": ci_class, "name": f"{name} {tag}", "criticality": criticality, **fields}

    def host(ref: str, n: int) -> dict:
        return ci(ref, "host", f"host-{n}", 3, environment="production", attributes={
            "fqdn": f"host-{n}-{tag}.example.com", "serial_number": f"SN{n}-{tag}", "cpu_count": 8, "virtual": True})

    items = [
        ci("shop", "business_service", "Online shop", 1, attributes={"service_tier": "gold"}),
        ci("pay", "business_service", "Payments", 1),
        ci("checkout", "application", "checkout", 1),
        ci("catalog", "application", "catalog", 2),
        ci("payments", "application", "payments", 1),
        ci("checkout-eu", "service_instance", "checkout-eu", 1, environment="production"),
        ci("checkout-us", "service_instance", "checkout-us", 1, environment="production"),
        ci("catalog-prod", "service_instance", "catalog-prod", 2, environment="production"),
        ci("payments-prod", "service_instance", "payments-prod", 1, environment="production"),
        ci("payments-db", "database", "payments-db", 1,
           attributes={"engine": "postgresql", "endpoint": f"host-3-{tag}:5432"}),
        host("host-1", 1), host("host-2", 2), host("host-3", 3),
        ci("catalog-k8s", "container_workload", "catalog", 2,
           attributes={"cluster": f"k8s {tag}", "namespace": "shop", "kind": "deployment", "replicas": 3}),
        ci("vmw", "cluster", "vmw", 1, attributes={"cluster_type": "vmware"}),
        ci("k8s", "cluster", "k8s", 1, attributes={"cluster_type": "kubernetes"}),
        ci("switch", "network_device", "core switch", 2,
           attributes={"serial_number": f"SW-{tag}", "device_type": "switch"}),
    ]
    links = [
        ("shop", "depends_on", "checkout"), ("shop", "depends_on", "catalog"), ("pay", "depends_on", "payments"),
        ("checkout", "depends_on", "checkout-eu"), ("checkout", "depends_on", "checkout-us"),
        ("checkout", "depends_on", "payments"), ("catalog", "depends_on", "catalog-prod"),
        ("payments", "depends_on", "payments-prod"), ("payments", "depends_on", "payments-db"),
        ("checkout-eu", "runs_on", "host-1"), ("checkout-us", "runs_on", "host-2"),
        ("payments-prod", "runs_on", "host-3"), ("payments-db", "runs_on", "host-3"),
        ("catalog-prod", "runs_on", "catalog-k8s"), ("catalog-k8s", "hosted_on", "k8s"),
        ("host-1", "hosted_on", "vmw"), ("host-2", "hosted_on", "vmw"), ("host-3", "hosted_on", "vmw"),
        ("host-3", "connects_to", "switch"),
    ]
    return {"source": "vmware", "items": items,
            "relationships": [{"source": s, "type": t, "target": d} for s, t, d in links]}


async def import_(gateway, body: dict, status: int = 200) -> dict:
    response = await gateway.post(f"{CMDB}/imports", json=body)
    assert response.status_code == status, response.text
    return response.json()


async def imported_estate(gateway) -> tuple[dict, dict[str, str]]:
    tag = uuid.uuid4().hex[:8]
    body = estate(tag)
    report = await import_(gateway, body)
    assert report["counts"] == {"created": 17, "updated": 0, "unchanged": 0, "rejected": 0}, report
    assert report["relationship_counts"] == {"created": 19, "unchanged": 0, "rejected": 0}
    return body, {item["ref"]: item["ci_id"] for item in report["items"]}


async def outbox_drained() -> int:
    """The cmdb outbox's last row, once the relay has published everything before it."""
    async def drained() -> int:
        assert await database_scalar("cmdb", "SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0
        return await database_scalar("cmdb", "SELECT coalesce(max(id), 0) FROM outbox")

    return await eventually(drained)


async def test_an_imported_estate_answers_impact_queries_exactly(gateway):
    body, ids = await imported_estate(gateway)
    name = {ci_id: next(i["name"] for i in body["items"] if i["ref"] == ref) for ref, ci_id in ids.items()}

    upstream = (await gateway.get(f"{CMDB}/cis/{ids['vmw']}/impact")).json()
    assert [(name[i["id"]], i["depth"], i["via"]) for i in upstream["items"]] == [
        (name[ids[ref]], depth, via) for ref, depth, via in [
            ("host-1", 1, "hosted_on"), ("host-2", 1, "hosted_on"), ("host-3", 1, "hosted_on"),
            ("checkout-eu", 2, "runs_on"), ("checkout-us", 2, "runs_on"), ("payments-db", 2, "runs_on"),
            ("payments-prod", 2, "runs_on"),
            ("checkout", 3, "depends_on"), ("payments", 3, "depends_on"),
            ("shop", 4, "depends_on"), ("pay", 4, "depends_on"),
        ]]
    shop = next(i for i in upstream["items"] if i["id"] == ids["shop"])
    assert shop["path"][0] == ids["vmw"] and shop["path"][-1] == ids["shop"] and len(shop["path"]) == 5
    assert {i["effect"] for i in upstream["items"]} == {"down"}  # no redundancy anywhere in this estate
    assert [s["id"] for s in upstream["business_services"]] == [ids["shop"], ids["pay"]]
    assert [a["id"] for a in upstream["applications"]] == [ids["checkout"], ids["payments"]]

    # What the payments service needs, down to the network; a max depth cuts it short.
    downstream = (await gateway.get(f"{CMDB}/cis/{ids['pay']}/impact", params={"direction": "downstream"})).json()
    assert sorted((i["depth"], i["id"]) for i in downstream["items"]) == sorted(
        (depth, ids[ref]) for ref, depth in [("payments", 1), ("payments-prod", 2), ("payments-db", 2),
                                             ("host-3", 3), ("vmw", 4), ("switch", 4)])
    assert {i["effect"] for i in downstream["items"]} == {None}
    near = (await gateway.get(f"{CMDB}/cis/{ids['pay']}/impact",
                              params={"direction": "downstream", "max_depth": 2})).json()
    assert {i["id"] for i in near["items"]} == {ids["payments"], ids["payments-prod"], ids["payments-db"]}

    relationships = (await gateway.get(f"{CMDB}/cis/{ids['host-3']}/relationships")).json()["items"]
    assert sorted((r["label"], r["other"]["id"]) for r in relationships) == sorted([
        ("connects to", ids["switch"]), ("hosted on", ids["vmw"]), ("runs", ids["payments-prod"]),
        ("runs", ids["payments-db"])])


async def test_redundancy_keeps_what_a_farm_runs_up_until_too_few_hosts_are_left(gateway):
    tag = uuid.uuid4().hex[:8]

    def ci(ref: str, ci_class: str, **fields) -> dict:
        return {"ref": ref, "ci_class": ci_class, "name": f"{ref} {tag}", "criticality": 2, **fields}

    hosts = [ci(f"h{n}", "host", attributes={"fqdn": f"h{n}-{tag}.example.com"}) for n in (1, 2, 3)]
    body = {"source": "vmware", "items": [
        ci("farm", "cluster", attributes={"cluster_type": "vmware", "min_members_up": 2}), *hosts,
        ci("inst", "service_instance", environment="production"), ci("app", "application"),
        ci("svc", "business_service"), ci("pinned", "service_instance", environment="production"),
        ci("app2", "application"),
    ], "relationships": [{"source": s, "type": t, "target": d} for s, t, d in [
        ("farm", "contains", "h1"), ("farm", "contains", "h2"), ("farm", "contains", "h3"),
        ("inst", "runs_on", "farm"), ("app", "depends_on", "inst"), ("svc", "depends_on", "app"),
        ("pinned", "runs_on", "h1"), ("app2", "depends_on", "pinned")]]}
    ids = {item["ref"]: item["ci_id"] for item in (await import_(gateway, body))["items"]}

    async def effects_of_h1_failing() -> dict[str, str]:
        items = (await gateway.get(f"{CMDB}/cis/{ids['h1']}/impact")).json()["items"]
        return {next(ref for ref, ci_id in ids.items() if ci_id == i["id"]): i["effect"] for i in items}

    assert await effects_of_h1_failing() == {"farm": "degraded", "inst": "degraded", "app": "degraded",
                                             "svc": "degraded", "pinned": "down", "app2": "down"}
    # h2 goes down: the farm keeps two hosts up only while h1 holds.
    changed = await gateway.post(f"{CMDB}/cis/{ids['h2']}/status", json={"status": "down"})
    assert changed.status_code == 200, changed.text
    assert await effects_of_h1_failing() == dict.fromkeys(("farm", "inst", "app", "svc", "pinned", "app2"), "down")

    bad = ci("farm2", "cluster", attributes={"cluster_type": "vmware", "min_members_up": 0})
    [rejected] = (await import_(gateway, {"source": "vmware", "items": [bad]}))["items"]
    assert "min_members_up is at least 1" in rejected["reason"]


async def test_impact_walks_are_cycle_safe(gateway):
    _, ids = await imported_estate(gateway)
    cycle = await gateway.post(f"{CMDB}/relationships", json={"source_id": ids["payments"], "type": "depends_on",
                                                              "target_id": ids["checkout"]})
    assert cycle.status_code == 201, cycle.text
    upstream = (await gateway.get(f"{CMDB}/cis/{ids['payments']}/impact")).json()
    assert sorted((i["depth"], i["id"]) for i in upstream["items"]) == sorted(
        [(1, ids["checkout"]), (1, ids["pay"]), (2, ids["shop"])])


async def test_the_same_import_twice_changes_nothing_and_emits_nothing(gateway, infra):
    body, _ = await imported_estate(gateway)
    last_row = await outbox_drained()
    offsets = await topic_end_offsets(infra["ITSM_KAFKA_BOOTSTRAP"], topics.CMDB)

    again = await import_(gateway, body)
    assert again["counts"] == {"created": 0, "updated": 0, "unchanged": 17, "rejected": 0}
    assert again["relationship_counts"] == {"created": 0, "unchanged": 19, "rejected": 0}
    assert await outbox_drained() == last_row
    assert await topic_end_offsets(infra["ITSM_KAFKA_BOOTSTRAP"], topics.CMDB) == offsets


async def test_a_changed_import_updates_only_what_changed_and_says_so(gateway, infra):
    body, ids = await imported_estate(gateway)
    host = next(i for i in body["items"] if i["ref"] == "host-1")
    host["attributes"] |= {"cpu_count": 16, "serial_number": host["attributes"]["serial_number"].lower()}
    host["operational_status"] = "degraded"
    report = await import_(gateway, body)
    assert report["counts"] == {"created": 0, "updated": 1, "unchanged": 16, "rejected": 0}
    [updated] = [i for i in report["items"] if i["outcome"] == "updated"]
    assert (updated["ci_id"], updated["changed"]) == (ids["host-1"], ["cpu_count", "operational_status"])

    ci = (await gateway.get(f"{CMDB}/cis/{ids['host-1']}")).json()
    assert (ci["attributes"]["cpu_count"], ci["operational_status"], ci["version"]) == (16, "degraded", 3)
    records = await read_topic(infra["ITSM_KAFKA_BOOTSTRAP"], topics.CMDB, until=lambda rs: sum(
        1 for r in rs if r.key == ids["host-1"].encode()) >= 3)
    events = [CloudEvent.from_json(r.value) for r in records if r.key == ids["host-1"].encode()]
    assert [(e.type, e.sequence) for e in events] == [("itsm.ci.created", 1), ("itsm.ci.updated", 2),
                                                      ("itsm.ci.status_changed", 3)]
    assert events[1].data["changes"] == {"cpu_count": 16} and events[1].data["data_source"] == "vmware"


async def test_a_lower_priority_source_never_overwrites_a_higher_ones_fields(gateway, platform):
    body, ids = await imported_estate(gateway)
    assert (await gateway.put(f"{CMDB}/sources/cmdb-admin", json={"priority": 10})).status_code == 200
    ranked = await gateway.put(f"{CMDB}/sources/vmware", json={"priority": 50, "field_priorities": {"cpu_count": 5}})
    assert ranked.json()["field_priorities"] == {"cpu_count": 5}
    host = next(i for i in body["items"] if i["ref"] == "host-1")
    by_admin = {"source": "cmdb-admin", "items": [host | {"owner_group": "unix-team", "criticality": 1,
                                                          "attributes": host["attributes"] | {"cpu_count": 4}}]}
    [admin] = (await import_(gateway, by_admin))["items"]
    assert (admin["outcome"], admin["changed"], admin["kept"]) == ("updated", ["criticality", "owner_group"],
                                                                   {"cpu_count": "vmware"})

    by_vmware = {"source": "vmware", "items": [host | {"owner_group": "vmware-admins", "criticality": 3,
                                                       "attributes": host["attributes"] | {"os": "linux"}}]}
    [vmware] = (await import_(gateway, by_vmware))["items"]
    assert (vmware["outcome"], vmware["changed"], vmware["kept"]) == (
        "updated", ["os"], {"criticality": "cmdb-admin", "owner_group": "cmdb-admin"})
    ci = (await gateway.get(f"{CMDB}/cis/{ids['host-1']}")).json()
    assert (ci["owner_group"], ci["criticality"], ci["attributes"]["os"]) == ("unix-team", 1, "linux")
    assert (ci["provenance"]["owner_group"], ci["provenance"]["os"]) == ("cmdb-admin", "vmware")

    async with httpx.AsyncClient(base_url=platform.url("gateway"), timeout=30,
                                 headers={"authorization": f"Bearer {token('viewer', roles=['requester'])}"}) as viewer:
        problem(await viewer.put(f"{CMDB}/sources/vmware", json={"priority": 1}), 403)
    await gateway.put(f"{CMDB}/sources/vmware", json={"priority": 100})  # as it was, for the other tests


async def test_a_stale_source_lets_a_lower_one_update_until_it_reports_again(gateway):
    tag = uuid.uuid4().hex[:8]
    inventory, agent = f"inventory-{tag}", f"agent-{tag}"
    ruled = await gateway.put(f"{CMDB}/sources/{inventory}", json={"priority": 10, "stale_after": "PT2S"})
    assert ruled.json()["stale_after"] == "PT2S"
    await gateway.put(f"{CMDB}/sources/{agent}", json={"priority": 50})
    identity = {"fqdn": f"db-{tag}.example.com"}

    def report(source: str, os: str) -> dict:
        return {"source": source, "items": [{"ref": "h", "ci_class": "host", "name": f"db-{tag}", "criticality": 2,
                                             "attributes": identity | {"os": os}}]}

    [created] = (await import_(gateway, report(inventory, "rhel 9")))["items"]
    [kept] = (await import_(gateway, report(agent, "windows")))["items"]
    assert (kept["outcome"], kept["kept"]) == ("unchanged", {"os": inventory})

    async def agent_overwrites_once_inventory_is_stale() -> dict:
        [item] = (await import_(gateway, report(agent, "windows")))["items"]
        assert item["outcome"] == "updated", item
        return item

    updated = await eventually(agent_overwrites_once_inventory_is_stale, timeout=10, every=0.5)
    assert (updated["changed"], updated["kept"]) == (["os"], {})
    ci = (await gateway.get(f"{CMDB}/cis/{created['ci_id']}")).json()
    assert (ci["attributes"]["os"], ci["provenance"]["os"]) == ("windows", agent)
    assert set(ci["last_seen"]) == {inventory, agent}
    assert datetime.fromisoformat(ci["last_seen"][agent]) > datetime.fromisoformat(ci["last_seen"][inventory])

    [back] = (await import_(gateway, report(inventory, "rhel 9")))["items"]  # fresh again, and it ranks higher
    assert (back["outcome"], back["changed"]) == ("updated", ["os"])
    [kept] = (await import_(gateway, report(agent, "windows")))["items"]
    assert (kept["outcome"], kept["kept"]) == ("unchanged", {"os": inventory})


async def test_cis_discovery_no_longer_finds_retire_and_the_others_stay(gateway, infra):
    tag = uuid.uuid4().hex[:8]
    k8s, agent = f"k8s-{tag}", f"agent-{tag}"
    await gateway.put(f"{CMDB}/sources/{k8s}", json={"priority": 20, "retire_missing_after": "PT2S"})
    cluster = (await gateway.post(f"{CMDB}/cis", json={  # registered by hand: never retired for being unseen
        "ci_class": "cluster", "name": f"k8s {tag}", "criticality": 1,
        "attributes": {"cluster_type": "kubernetes"}})).json()

    def workload(name: str) -> dict:
        return {"ref": name, "ci_class": "container_workload", "name": f"{name} {tag}", "criticality": 2,
                "attributes": {"cluster": f"k8s {tag}", "namespace": "shop", "kind": "deployment"}}

    first = await import_(gateway, {"source": k8s, "items": [workload("cart"), workload("search"), workload("api")],
                                    "relationships": [{"source": n, "type": "hosted_on", "target_id": cluster["id"]}
                                                      for n in ("cart", "search", "api")]})
    ids = {item["ref"]: item["ci_id"] for item in first["items"]}
    await import_(gateway, {"source": agent, "items": [workload("api")]})  # another source, without the rule

    async def cart_and_search_retired() -> None:
        # search is still reported; cart is not. Each import refreshes what it reports.
        await import_(gateway, {"source": k8s, "items": [workload("search")]})
        cart = (await gateway.get(f"{CMDB}/cis/{ids['cart']}")).json()
        assert cart["operational_status"] == "retired", cart

    await eventually(cart_and_search_retired, timeout=15, every=0.5)
    statuses = {ref: (await gateway.get(f"{CMDB}/cis/{ci_id}")).json()["operational_status"]
                for ref, ci_id in ids.items()}
    assert statuses == {"cart": "retired", "search": "operational", "api": "operational"}
    assert (await gateway.get(f"{CMDB}/cis/{cluster['id']}")).json()["operational_status"] == "operational"
    dependants = {i["id"] for i in (await gateway.get(f"{CMDB}/cis/{cluster['id']}/impact")).json()["items"]}
    assert dependants == {ids["search"], ids["api"]}

    records = await read_topic(infra["ITSM_KAFKA_BOOTSTRAP"], topics.CMDB, until=lambda rs: any(
        r.key == ids["cart"].encode() and b"itsm.ci.retired" in r.value for r in rs))
    [retired] = [CloudEvent.from_json(r.value) for r in records
                 if r.key == ids["cart"].encode() and b"itsm.ci.retired" in r.value]
    assert retired.data["data_source"] == k8s
    # A CI it retired may come back: the next report creates it anew (its identity was freed).
    [again] = (await import_(gateway, {"source": k8s, "items": [workload("cart")]}))["items"]
    assert again["outcome"] == "created" and again["ci_id"] != ids["cart"]
    # The rule off again: the sweep would retire these CIs (and publish) while later tests count events.
    await gateway.put(f"{CMDB}/sources/{k8s}", json={"priority": 20})


async def test_stale_cis_are_listed_for_review(gateway):
    tag = uuid.uuid4().hex[:8]
    scanner = f"scanner-{tag}"

    def host(name: str) -> dict:
        return {"ref": name, "ci_class": "host", "name": f"{name}-{tag}", "criticality": 3,
                "attributes": {"fqdn": f"{name}-{tag}.example.com"}}

    ids = {i["ref"]: i["ci_id"] for i in (await import_(gateway, {"source": scanner,
                                                                   "items": [host("gone"), host("kept")]}))["items"]}
    by_hand = (await gateway.post(f"{CMDB}/cis", json=host("by-hand") | {"ref": None})).json()
    await asyncio.sleep(1.2)
    await import_(gateway, {"source": scanner, "items": [host("kept")]})

    async def listed(**params) -> list[str]:
        page = (await gateway.get(f"{CMDB}/cis", params={"q": tag, **params})).json()
        return sorted(next((ref for ref, i in ids.items() if i == item["id"]), item["id"]) for item in page["items"])

    assert await listed(source=scanner, unseen_for="PT1S") == ["gone"]
    assert await listed(unseen_for="PT1S") == ["gone"]  # the hand-registered CI is not stale: never discovered
    assert await listed(source=scanner) == ["gone", "kept"]
    assert await listed(source=f"other-{tag}") == []
    assert by_hand["id"] in [i["id"] for i in (await gateway.get(f"{CMDB}/cis", params={"q": tag})).json()["items"]]
    page = (await gateway.get(f"{CMDB}/cis", params={"q": tag, "source": scanner})).json()
    assert all(set(item["last_seen"]) == {scanner} for item in page["items"])
    problem(await gateway.get(f"{CMDB}/cis", params={"unseen_for": "soon"}), 422)


async def test_history_keeps_every_change_and_shows_the_ci_as_it_was(gateway):
    _, ids = await imported_estate(gateway)
    ci_id = ids["payments-db"]
    before = (await gateway.get(f"{CMDB}/cis/{ci_id}")).json()
    patched = await gateway.patch(f"{CMDB}/cis/{ci_id}", json={"criticality": 2, "attributes": {"size_gb": 120}},
                                  headers={"if-match": f'"{before["version"]}"'})
    assert patched.status_code == 200 and patched.headers["etag"] == '"2"'
    stale = await gateway.patch(f"{CMDB}/cis/{ci_id}", json={"criticality": 3}, headers={"if-match": '"1"'})
    problem(stale, 412)
    removed = await gateway.delete(f"{CMDB}/relationships/{(await relationship(gateway, ci_id, 'runs on'))['id']}")
    assert removed.status_code == 200 and removed.json()["removed_by"] == "manual"

    then = (await gateway.get(f"{CMDB}/cis/{ci_id}", params={"as_of": before["updated_at"]})).json()
    assert (then["criticality"], then["version"], then["as_of"]) == (1, 1, before["updated_at"])
    assert "size_gb" not in then["attributes"] and then["provenance"]["criticality"] == "vmware"
    now = (await gateway.get(f"{CMDB}/cis/{ci_id}")).json()
    assert (now["criticality"], now["attributes"]["size_gb"], now["provenance"]["size_gb"]) == (2, 120, "manual")
    created = datetime.fromisoformat(before["created_at"].replace("Z", "+00:00"))
    problem(await gateway.get(f"{CMDB}/cis/{ci_id}", params={"as_of": created.replace(year=2000).isoformat()}), 404)

    then_related = (await gateway.get(f"{CMDB}/cis/{ci_id}/relationships",
                                      params={"as_of": before["updated_at"]})).json()["items"]
    assert {r["label"] for r in then_related} == {"runs on", "used by"}
    assert {r["label"] for r in (await gateway.get(f"{CMDB}/cis/{ci_id}/relationships")).json()["items"]} == {
        "used by"}

    history = (await gateway.get(f"{CMDB}/cis/{ci_id}/history")).json()["items"]
    kinds = [(h["kind"], h["source"], h["actor"]) for h in history]
    assert kinds == [("relationship_removed", "manual", "agent-1"), ("updated", "manual", "agent-1"),
                     ("relationship_added", "vmware", None), ("relationship_added", "vmware", None),
                     ("created", "vmware", None)]
    assert history[1]["changes"] == {"criticality": {"old": 1, "new": 2}, "size_gb": {"old": None, "new": 120}}


async def relationship(gateway, ci_id: str, label: str) -> dict:
    items = (await gateway.get(f"{CMDB}/cis/{ci_id}/relationships")).json()["items"]
    return next(r for r in items if r["label"] == label)


async def test_an_incident_on_a_ci_shows_the_business_services_it_impacts(gateway):
    _, ids = await imported_estate(gateway)
    opened = await gateway.post("/api/v1/incidents", json={"short_description": "host-3 is slow",
                                                           "affected_ci": ids["host-3"]})
    assert opened.status_code == 201, opened.text

    async def enriched() -> dict:
        incident = (await gateway.get(f"/api/v1/incidents/{opened.json()['id']}")).json()
        assert incident["affected_ci_details"] is not None
        assert len(incident["impacted_business_services"]) == 2
        return incident

    incident = await eventually(enriched)
    assert (incident["affected_ci_details"]["id"], incident["affected_ci_details"]["ci_class"]) == (ids["host-3"],
                                                                                                     "host")
    # host-3 runs payments, which checkout depends on: both services feel it.
    assert [s["id"] for s in incident["impacted_business_services"]] == [ids["shop"], ids["pay"]]

    # Retiring what links them reaches the incident the same way, through the events.
    retired = await gateway.post(f"{CMDB}/cis/{ids['payments-prod']}/status", json={"status": "retired"})
    assert retired.status_code == 200
    await gateway.post(f"{CMDB}/cis/{ids['payments-db']}/status", json={"status": "retired"})

    async def unlinked() -> None:
        incident = (await gateway.get(f"/api/v1/incidents/{opened.json()['id']}")).json()
        assert incident["impacted_business_services"] == []

    await eventually(unlinked)


async def test_relationships_refuse_dangling_retired_duplicate_and_ill_typed_ends(gateway):
    _, ids = await imported_estate(gateway)
    rel = {"source_id": ids["checkout"], "type": "depends_on", "target_id": ids["catalog"]}
    assert (await gateway.post(f"{CMDB}/relationships", json=rel)).status_code == 201
    assert problem(await gateway.post(f"{CMDB}/relationships", json=rel), 409)["existing_id"]
    assert "does not exist" in problem(await gateway.post(f"{CMDB}/relationships", json=rel | {
        "target_id": str(uuid.uuid4())}), 422)["detail"]
    assert "ends at a" in problem(await gateway.post(f"{CMDB}/relationships", json={
        "source_id": ids["checkout"], "type": "runs_on", "target_id": ids["catalog"]}), 422)["detail"]
    problem(await gateway.post(f"{CMDB}/relationships", json=rel | {"type": "likes"}), 422)

    await gateway.post(f"{CMDB}/cis/{ids['switch']}/status", json={"status": "retired"})
    assert "retired" in problem(await gateway.post(f"{CMDB}/relationships", json={
        "source_id": ids["host-1"], "type": "connects_to", "target_id": ids["switch"]}), 422)["detail"]
    assert (await gateway.get(f"{CMDB}/cis/{ids['switch']}/relationships")).json()["items"] == []
    problem(await gateway.post(f"{CMDB}/cis/{ids['switch']}/status", json={"status": "operational"}), 409)


async def test_bad_input_is_a_422_problem_and_writes_nothing(gateway):
    written = await outbox_drained()
    count = await database_scalar("cmdb", "SELECT count(*) FROM cis")
    tag = uuid.uuid4().hex[:8]
    host = {"name": f"bad-{tag}", "ci_class": "host", "criticality": 2, "attributes": {"fqdn": f"bad-{tag}.x"}}
    problem(await gateway.post(f"{CMDB}/cis", json=host | {"ci_class": "server"}), 422)
    assert "cpu_count is an integer" in problem(await gateway.post(f"{CMDB}/cis", json=host | {
        "attributes": {"fqdn": f"bad-{tag}.x", "cpu_count": "eight"}}), 422)["detail"]
    assert "has no attribute rack" in problem(await gateway.post(f"{CMDB}/cis", json=host | {
        "attributes": {"fqdn": f"bad-{tag}.x", "rack": "r1"}}), 422)["detail"]
    problem(await gateway.post(f"{CMDB}/cis", json=host | {"attributes": {}}), 422)
    body = {"source": "vmware", "mode": "all_or_nothing", "items": [
        {"ref": "ok", **host}, {"ref": "bad", **host, "name": "other", "ci_class": "server"}],
        "relationships": [{"source": "ok", "type": "depends_on", "target_id": str(uuid.uuid4())}]}
    for malformed in ({"source": "Not A Source!", "items": []}, {"source": "vmware", "items": "many"},
                      {"source": "vmware", "items": [{"ci_class": "host", "criticality": "high"}]}):
        assert problem(await gateway.post(f"{CMDB}/imports", json=malformed), 422)["errors"]
    refused = problem(await gateway.post(f"{CMDB}/imports", json=body), 422)
    assert (refused["committed"], refused["counts"]["rejected"], refused["relationship_counts"]["rejected"]) == (
        False, 1, 1)
    assert "does not exist" in refused["relationships"][0]["reason"]
    assert await database_scalar("cmdb", "SELECT count(*) FROM cis") == count
    assert await outbox_drained() == written

    # per_item (the default): the valid item commits, the rest is reported.
    report = await import_(gateway, body | {"mode": "per_item"})
    assert [i["outcome"] for i in report["items"]] == ["created", "rejected"]
    assert "business_service, application" in report["items"][1]["reason"]
    assert report["relationships"][0]["outcome"] == "rejected"
    assert await database_scalar("cmdb", "SELECT count(*) FROM cis") == count + 1


async def test_a_registered_ci_keeps_its_identity(gateway):
    tag = uuid.uuid4().hex[:8]
    host = {"name": f"web-{tag}", "ci_class": "host", "criticality": 2, "environment": "production",
            "attributes": {"fqdn": f"web-{tag}.example.com", "ip_address": "10.1.2.3"}}
    created = await gateway.post(f"{CMDB}/cis", json=host)
    assert created.status_code == 201 and created.headers["location"] == f"{CMDB}/cis/{created.json()['id']}"
    duplicate = problem(await gateway.post(f"{CMDB}/cis", json=host | {"name": "another"} | {
        "attributes": {"fqdn": f"WEB-{tag}.example.com"}}), 409)
    assert duplicate["existing_id"] == created.json()["id"]
    # An import from discovery finds it by its FQDN.
    [item] = (await import_(gateway, {"source": "vmware", "items": [host | {"criticality": None}]}))["items"]
    assert (item["outcome"], item["ci_id"]) == ("unchanged", created.json()["id"])
    listed = (await gateway.get(f"{CMDB}/cis", params={"q": tag, "ci_class": "host"})).json()["items"]
    assert [c["id"] for c in listed] == [created.json()["id"]]
    model = (await gateway.get(f"{CMDB}/model")).json()
    assert {c["ci_class"] for c in model["classes"]} >= {"business_service", "host", "container_workload"}
    assert next(t for t in model["relationship_types"] if t["type"] == "runs_on")["reverse_name"] == "runs"


async def test_imports_side_by_side_create_each_ci_and_relationship_once(gateway):
    import asyncio

    body = estate(uuid.uuid4().hex[:8])
    reports = await asyncio.gather(*(import_(gateway, body) for _ in range(4)))
    assert sum(r["counts"]["created"] for r in reports) == 17
    assert sum(r["relationship_counts"]["created"] for r in reports) == 19
    assert all(r["counts"]["rejected"] == 0 and r["relationship_counts"]["rejected"] == 0 for r in reports)
    ids = {i["ref"]: i["ci_id"] for i in reports[0]["items"]}
    assert all({i["ref"]: i["ci_id"] for i in r["items"]} == ids for r in reports)
    assert await database_scalar("cmdb", "SELECT count(*) FROM ci_relationships WHERE removed_at IS NULL AND "
                                 "source_id = ANY($1)", list(ids.values())) == 19
