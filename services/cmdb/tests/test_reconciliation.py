"""Identification and reconciliation of discovery imports, planned with no database."""

from datetime import UTC, datetime, timedelta
from itertools import count

import pytest

from itsm_cmdb.domain import (
    DEFAULT_PRIORITY, STALE, CiClass, ConfigurationItem, InvalidValue, ItemOutcome, ReportedRelationship,
    SourcePriorities, check_priorities, is_missing, plan_import, plan_relationships, read_item,
)

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def ids(prefix: str = "new"):
    numbers = count(1)
    return lambda: f"{prefix}-{next(numbers)}"


def host(ref: str, **fields) -> dict:
    return {"ref": ref, "ci_class": "host", "name": ref, "criticality": 3, "attributes": {}} | fields


def read(items: list[dict]) -> list:
    read_items = []
    for index, item in enumerate(items):
        try:
            read_items.append(read_item(index, item))
        except InvalidValue as exc:
            read_items.append(ItemOutcome(index, item.get("ref"), "rejected", reason=str(exc)))
    return read_items


def existing(ci_id: str, source: str = "vmware", **attributes) -> ConfigurationItem:
    ci = ConfigurationItem.register(id=ci_id, ci_class="host", name=ci_id, criticality=3, attributes=attributes,
                                    source=source, at=T0)
    ci.events.clear()
    ci.history.clear()
    return ci


def plan(items, cis=(), priority=None, **kwargs):
    loaded = {ci.id: ci for ci in cis}
    owners = {key: ci.id for ci in cis for key in ci.identity_keys()}
    return plan_import(read(items), owners=owners, loaded=loaded, source=kwargs.pop("source", "vmware"),
                       priority=priority or SourcePriorities(), at=T0, new_id=ids(), **kwargs)


def outcomes(result) -> list[tuple]:
    return [(i.outcome, i.ci_id, i.reason) for i in result.items]


def test_unknown_items_are_created_with_their_identity_keys():
    result = plan([host("a", attributes={"serial_number": "S1", "fqdn": "a.example.com"})])
    assert outcomes(result) == [("created", "new-1", None)]
    assert result.keys_added == {"host/serial_number=s1": "new-1", "host/fqdn=a.example.com": "new-1"}
    assert result.refs == {"a": "new-1"} and result.counts()["created"] == 1


def test_a_ci_is_found_by_its_first_matching_rule_and_updated_where_it_differs():
    known = existing("h-1", serial_number="S1", fqdn="a.example.com", cpu_count=4)
    result = plan([host("a", name="h-1", attributes={"serial_number": "s1", "cpu_count": 8})], [known])
    [item] = result.items
    assert (item.outcome, item.ci_id, item.changed) == ("updated", "h-1", ["cpu_count"])
    [(ci, loaded_version)] = result.updated
    assert (ci.attributes["cpu_count"], ci.version, loaded_version) == (8, 2, 1)
    assert known.attributes["cpu_count"] == 4, "the loaded CI is not changed in place"


def test_the_same_values_again_are_unchanged_and_raise_nothing():
    known = existing("h-1", fqdn="a.example.com", cpu_count=4)
    result = plan([host("a", name="h-1", attributes={"fqdn": "A.EXAMPLE.COM ", "cpu_count": 4})], [known])
    assert outcomes(result) == [("unchanged", "h-1", None)]
    assert result.updated == [] and result.created == [] and result.provenance_only == []


def test_a_changed_identifying_attribute_moves_its_key():
    known = existing("h-1", serial_number="S1", fqdn="old.example.com")
    result = plan([host("a", name="h-1", attributes={"serial_number": "S1", "fqdn": "new.example.com"})], [known])
    assert outcomes(result) == [("updated", "h-1", None)]
    assert result.keys_removed == ["host/fqdn=old.example.com"]
    assert result.keys_added == {"host/fqdn=new.example.com": "h-1"}


def test_rules_naming_two_different_cis_reject_the_item():
    one, two = existing("h-1", serial_number="S1"), existing("h-2", fqdn="b.example.com")
    result = plan([host("a", attributes={"serial_number": "S1", "fqdn": "b.example.com"})], [one, two])
    [(outcome, _, reason)] = outcomes(result)
    assert outcome == "rejected" and "serial_number identifies CI h-1 but its fqdn identifies CI h-2" in reason


def test_a_second_item_for_the_same_ci_is_rejected_as_a_duplicate():
    result = plan([host("a", attributes={"fqdn": "a.example.com"}), host("b", attributes={"fqdn": "A.example.com"})])
    assert outcomes(result)[1] == ("rejected", None, "it identifies the same CI as item 0")
    assert result.refs == {"a": "new-1", "b": None}


def test_bad_items_are_rejected_one_by_one_and_the_rest_go_on():
    items = [
        host("a", ci_class="server"),
        host("b", attributes={"fqdn": "b.example.com", "cpu_count": "many"}),
        host("c", attributes={"cpu_count": 2}),
        host("d", criticality=None, attributes={"fqdn": "d.example.com"}),
        host("e", operational_status="retired", attributes={"fqdn": "e.example.com"}),
        host("f", attributes={"fqdn": "f.example.com"}),
        host("f", attributes={"fqdn": "g.example.com"}),
    ]
    result = plan(items)
    reasons = [(i.outcome, i.reason) for i in result.items]
    assert [o for o, _ in reasons] == ["rejected"] * 5 + ["created", "rejected"]
    assert "business_service, application" in reasons[0][1]
    assert "cpu_count is an integer" in reasons[1][1]
    assert "identified by serial_number or fqdn" in reasons[2][1]
    assert "needs a criticality" in reasons[3][1]
    assert "cannot retire" in reasons[4][1]
    assert "ref 'f' names an earlier item too" in reasons[6][1]


def test_a_lower_priority_source_never_overwrites_and_the_report_says_who_holds_the_field():
    known = existing("h-1", source="cmdb-admin", fqdn="a.example.com", os="linux")
    rank = SourcePriorities({"cmdb-admin": (10, {}), "vmware": (50, {})})
    result = plan([host("a", name="h-1", attributes={"fqdn": "a.example.com", "os": "windows"})], [known], rank)
    [item] = result.items
    assert (item.outcome, item.kept) == ("unchanged", {"os": "cmdb-admin"})


RANKED_WITH_REFRESH = SourcePriorities({"cmdb-admin": (10, {}), "vmware": (50, {})},
                                       stale_after={"cmdb-admin": timedelta(days=7)})


def test_a_stale_higher_source_lets_a_lower_one_overwrite_until_it_reports_again():
    known = existing("h-1", source="cmdb-admin", fqdn="a.example.com", os="linux")
    report = [host("a", name="h-1", attributes={"fqdn": "a.example.com", "os": "windows"})]
    fresh = plan(report, [known], RANKED_WITH_REFRESH, last_seen={"h-1": {"cmdb-admin": T0 - timedelta(days=6)}})
    assert [(i.outcome, i.kept) for i in fresh.items] == [("unchanged", {"os": "cmdb-admin"})]

    stale = plan(report, [known], RANKED_WITH_REFRESH, last_seen={"h-1": {"cmdb-admin": T0 - timedelta(days=8)}})
    [item] = stale.items
    assert (item.outcome, item.changed, item.kept) == ("updated", ["os"], {})
    [(updated, _)] = stale.updated
    assert (updated.attributes["os"], updated.provenance["os"]) == ("windows", "vmware")

    # The stale source reports the CI again: ranking higher, it takes its field back.
    back = plan([host("a", name="h-1", attributes={"fqdn": "a.example.com", "os": "linux"})], [updated],
                RANKED_WITH_REFRESH, source="cmdb-admin",
                last_seen={"h-1": {"cmdb-admin": T0 - timedelta(days=8), "vmware": T0}})
    assert [(i.outcome, i.changed) for i in back.items] == [("updated", ["os"])]


def test_staleness_needs_a_rule_and_a_sighting():
    ranked = SourcePriorities({"cmdb-admin": (10, {}), "vmware": (50, {})})  # no refresh rule: never stale
    long_ago = {"cmdb-admin": T0 - timedelta(days=900)}
    assert ranked.on_ci(long_ago, at=T0, reporting="vmware")("cmdb-admin", "os") == 10
    # Values a person or a source never seen on this CI wrote do not go stale.
    assert RANKED_WITH_REFRESH.on_ci({}, at=T0, reporting="vmware")("cmdb-admin", "os") == 10
    on_ci = RANKED_WITH_REFRESH.on_ci(long_ago, at=T0, reporting="vmware")
    assert (on_ci("cmdb-admin", "os"), on_ci("vmware", "os")) == (STALE, 50)
    # The source reporting now is not stale, however long it was away.
    assert RANKED_WITH_REFRESH.on_ci(long_ago, at=T0, reporting="cmdb-admin")("cmdb-admin", "os") == 10


def test_a_ci_is_missing_when_every_source_that_reported_it_misses_it_past_its_rule():
    rules = {"k8s": timedelta(hours=1), "vmware": timedelta(days=1)}
    assert is_missing({"k8s": T0 - timedelta(hours=2)}, rules, T0)
    assert not is_missing({"k8s": T0 - timedelta(minutes=59)}, rules, T0)
    assert not is_missing({"k8s": T0 - timedelta(hours=2), "vmware": T0 - timedelta(hours=2)}, rules, T0)
    assert is_missing({"k8s": T0 - timedelta(hours=2), "vmware": T0 - timedelta(days=2)}, rules, T0)
    assert not is_missing({"k8s": T0 - timedelta(hours=2), "agent": T0 - timedelta(days=90)}, rules, T0)  # no rule
    assert not is_missing({}, rules, T0)  # registered by hand: discovery never reported it


def test_refused_items_are_rejected_with_the_reason_given():
    result = plan([host("a", attributes={"fqdn": "a.example.com"})], refused={0: "taken"})
    assert outcomes(result) == [("rejected", None, "taken")]


def test_source_priorities_default_and_per_field():
    rank = SourcePriorities({"vmware": (50, {"cpu_count": 5})})
    assert (rank("vmware", "os"), rank("vmware", "cpu_count"), rank("unknown", "os")) == (50, 5, DEFAULT_PRIORITY)
    with pytest.raises(InvalidValue, match="for cpu_count"):
        check_priorities(10, {"cpu_count": 0})


def rel(index: int, type_: str, source=None, target=None, **ids_) -> ReportedRelationship:
    return ReportedRelationship(index, type_, source=source, target=target, **ids_)


def test_relationships_resolve_refs_and_ids_and_skip_what_exists():
    refs = {"app": "a-1", "host": "h-1", "bad": None}
    cis = {"a-1": (CiClass.SERVICE_INSTANCE, True), "h-1": (CiClass.HOST, True), "c-1": (CiClass.CLUSTER, True),
           "old": (CiClass.HOST, False)}
    reported = [
        rel(0, "runs_on", "app", "host"),
        rel(1, "hosted_on", "host", target_id="c-1"),
        rel(2, "runs_on", "app", "host"),  # again in the same payload
        rel(3, "depends_on", "bad", "host"),
        rel(4, "depends_on", "nope", "host"),
        rel(5, "depends_on", "app", target_id="gone"),
        rel(6, "depends_on", "app", target_id="old"),
        rel(7, "depends_on", "app", "host", target_id="h-1"),
        rel(8, "hosted_on", "host", "app"),
    ]
    results, added = plan_relationships(reported, refs=refs, cis=cis, active={("h-1", "c-1", "hosted_on"): "r-0"},
                                        source="vmware", at=T0, new_id=ids("r"))
    assert [(r.outcome, r.relationship_id) for r in results[:3]] == [("created", "r-1"), ("unchanged", "r-0"),
                                                                     ("unchanged", "r-1")]
    reasons = [r.reason for r in results[3:]]
    assert all(r.outcome == "rejected" for r in results[3:])
    assert "source item ('bad') was rejected" in reasons[0]
    assert "no item of this import has the ref 'nope'" in reasons[1]
    assert "target CI gone does not exist" in reasons[2]
    assert "target CI old is retired" in reasons[3]
    assert "one of them" in reasons[4]
    assert "ends at a cluster or host" in reasons[5]
    [relationship] = added
    assert (relationship.source_id, relationship.target_id, relationship.type, relationship.created_by) == (
        "a-1", "h-1", "runs_on", "vmware")
