"""Configuration item rules, with no database and no broker."""

from datetime import UTC, datetime, timedelta
from typing import get_args

import pytest

from itsm_contracts.api.cmdb import (
    CiClass as ContractClass, Environment as ContractEnvironment, OperationalStatus as ContractStatus,
    RelationshipType as ContractType,
)
from itsm_contracts.events.cmdb import CiCreated, CiRetired, CiStatusChanged, CiUpdated
from itsm_cmdb.domain import (
    CRITICALITY_LABELS, SCHEMAS, CiClass, ConfigurationItem, Conflict, DuplicateCi, Environment, InvalidValue,
    OperationalStatus, Relationship, RelationshipType, as_of, check_relationship,
)
from itsm_kit.domain import InvalidTransition

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def new_ci(**overrides) -> ConfigurationItem:
    args = dict(id="ci-1", name="web-01", ci_class="host", criticality=2, attributes={"fqdn": "web-01.example.com"},
                at=T0)
    return ConfigurationItem.register(**args | overrides)


def test_registering_raises_created_with_version_1_and_a_history_entry():
    ci = new_ci(name="  pg-main  ", ci_class="database", criticality=1,
                attributes={"engine": "postgresql", "endpoint": "db-1:5432"}, source="vmware")
    assert (ci.name, ci.ci_class, ci.criticality, ci.version) == ("pg-main", CiClass.DATABASE, 1, 1)
    [(sequence, created)] = ci.events
    assert sequence == 1 and isinstance(created, CiCreated)
    assert (created.ci_id, created.name, created.ci_class, created.criticality, created.created_at,
            created.attributes, created.data_source) == (
        "ci-1", "pg-main", "database", 1, T0, {"engine": "postgresql", "endpoint": "db-1:5432"}, "vmware")
    [entry] = ci.history
    assert (entry.version, entry.kind, entry.source, entry.changes["name"]) == (1, "created", "vmware",
                                                                                [None, "pg-main"])
    assert ci.provenance == dict.fromkeys(["name", "criticality", "operational_status", "engine", "endpoint"],
                                          "vmware")


def test_a_new_ci_is_operational_unless_told_otherwise_and_never_starts_retired():
    assert new_ci().operational_status is OperationalStatus.OPERATIONAL
    assert new_ci(operational_status="maintenance").operational_status is OperationalStatus.MAINTENANCE
    with pytest.raises(InvalidValue, match="starts live"):
        new_ci(operational_status="retired")


def test_blank_name_is_refused():
    with pytest.raises(InvalidValue):
        new_ci(name="   ")


@pytest.mark.parametrize("criticality", [0, 5, -1, True, None])
def test_criticality_outside_1_to_4_is_refused(criticality):
    with pytest.raises(InvalidValue, match="criticality"):
        new_ci(criticality=criticality)


@pytest.mark.parametrize("criticality", [1, 2, 3, 4])
def test_every_criticality_on_the_scale_is_accepted_and_labelled(criticality):
    assert new_ci(criticality=criticality).criticality == criticality
    assert CRITICALITY_LABELS[criticality]


def test_unknown_class_status_or_environment_is_refused_naming_the_choices():
    with pytest.raises(InvalidValue, match="business_service, application"):
        new_ci(ci_class="server")
    with pytest.raises(InvalidValue, match="operational, degraded"):
        new_ci(operational_status="up")
    with pytest.raises(InvalidValue, match="production, staging"):
        new_ci(environment="prod")


@pytest.mark.parametrize(("attributes", "message"), [
    ({"fqdn": "a.example.com", "cpu_count": "four"}, "cpu_count is an integer, not str"),
    ({"fqdn": "a.example.com", "cpu_count": 2.5}, "cpu_count is an integer"),
    ({"fqdn": "a.example.com", "virtual": "yes"}, "virtual is a boolean"),
    ({"fqdn": "a.example.com", "memory_gb": True}, "memory_gb is a number"),
    ({"fqdn": "a.example.com", "ip_address": "10.0.0.300"}, "not an IP address"),
    ({"fqdn": "a.example.com", "rack": "r1"}, "a host has no attribute rack"),
    ({"fqdn": "   "}, "fqdn is empty"),
    ({"cpu_count": 4}, "identified by serial_number or fqdn"),
])
def test_attributes_are_checked_against_the_class_schema(attributes, message):
    with pytest.raises(InvalidValue, match=message):
        new_ci(attributes=attributes)


def test_required_attributes_and_choices():
    with pytest.raises(InvalidValue, match="needs the attributes cluster, namespace"):
        new_ci(ci_class="container_workload", name="api", attributes={})
    with pytest.raises(InvalidValue, match="kind is one of deployment"):
        new_ci(ci_class="container_workload", name="api",
               attributes={"cluster": "k1", "namespace": "shop", "kind": "pod"})


def test_values_are_normalised():
    ci = new_ci(attributes={"fqdn": " web-01.example.com ", "ip_address": "10.0.0.1",
                            "cpu_count": 4.0, "memory_gb": 15.5})
    assert ci.attributes == {"fqdn": "web-01.example.com", "ip_address": "10.0.0.1", "cpu_count": 4,
                             "memory_gb": 15.5}


def test_identity_keys_follow_the_rules_in_order_and_ignore_case():
    host = new_ci(attributes={"serial_number": "SN-1", "fqdn": "WEB-01.Example.com"})
    assert host.identity_keys() == ["host/serial_number=sn-1", "host/fqdn=web-01.example.com"]
    workload = new_ci(ci_class="container_workload", name="API",
                      attributes={"cluster": "prod-eu", "namespace": "shop"})
    assert workload.identity_keys() == ["container_workload/cluster+namespace+name=prod-eu|shop|api"]
    instance = new_ci(ci_class="service_instance", name="checkout", environment="production", attributes={})
    assert instance.identity_keys() == ["service_instance/name+environment=checkout|production"]


def test_every_class_has_a_schema_and_identification_rules():
    assert set(SCHEMAS) == set(CiClass)
    assert all(schema.identified_by for schema in SCHEMAS.values())


def test_a_duplicate_names_the_class_the_rule_and_the_existing_ci():
    error = DuplicateCi(CiClass.HOST, "fqdn", "ci-0")
    assert error.existing_id == "ci-0"
    assert "host" in str(error) and "fqdn" in str(error) and "ignoring case" in str(error)


def test_an_edit_applies_whatever_source_wrote_and_records_old_and_new():
    ci = new_ci(source="vmware", attributes={"fqdn": "web-01.example.com", "cpu_count": 4})
    ci.events.clear()
    changed = ci.edit({"criticality": 1, "cpu_count": 8, "owner_group": "unix-team"}, actor="alice",
                      at=T0 + timedelta(hours=1))
    assert changed == ["cpu_count", "criticality", "owner_group"]
    [(sequence, updated)] = ci.events
    assert sequence == 2 and isinstance(updated, CiUpdated) and updated.changes == {"criticality": 1, "cpu_count": 8,
                                                                    "owner_group": "unix-team"}
    assert ci.history[-1].changes == {"criticality": [2, 1], "cpu_count": [4, 8], "owner_group": [None, "unix-team"]}
    assert (ci.history[-1].actor, ci.provenance["cpu_count"], ci.provenance["fqdn"]) == ("alice", "manual", "vmware")


def test_an_edit_may_empty_optional_fields_but_not_required_ones():
    ci = new_ci(attributes={"fqdn": "web-01.example.com", "os": "linux"}, owner_group="ops")
    ci.edit({"os": None, "owner_group": None}, actor="alice", at=T0)
    assert "os" not in ci.attributes and ci.owner_group is None and "os" not in ci.provenance
    with pytest.raises(InvalidValue, match="criticality cannot be emptied"):
        ci.edit({"criticality": None}, actor="alice", at=T0)


def test_an_edit_that_changes_nothing_raises_nothing():
    ci = new_ci()
    ci.events.clear()
    assert ci.edit({"criticality": 2}, actor="alice", at=T0) == [] and ci.events == []


def priorities(table: dict[str, int], by_field: dict[tuple[str, str], int] | None = None):
    return lambda source, field: (by_field or {}).get((source, field), table.get(source, 100))


def test_reconcile_lets_equal_or_higher_sources_write_and_keeps_what_a_higher_one_wrote():
    ci = new_ci(source="cmdb-admin", attributes={"fqdn": "web-01.example.com", "os": "linux"})
    ci.events.clear()
    rank = priorities({"cmdb-admin": 10, "vmware": 50})
    changed, kept = ci.reconcile({"os": "windows", "cpu_count": 4}, source="vmware", priority=rank, at=T0)
    assert (changed, kept) == (["cpu_count"], {"os": "cmdb-admin"})
    assert ci.attributes["os"] == "linux" and ci.provenance["cpu_count"] == "vmware"
    changed, _ = ci.reconcile({"cpu_count": 8}, source="vmware", priority=rank, at=T0)  # its own field
    assert changed == ["cpu_count"]
    changed, _ = ci.reconcile({"os": "windows"}, source="cmdb-admin", priority=rank, at=T0)
    assert changed == ["os"]


def test_reconcile_with_per_field_priorities():
    ci = new_ci(source="vmware", attributes={"fqdn": "web-01.example.com", "cpu_count": 4})
    rank = priorities({"vmware": 50, "agent": 20}, {("vmware", "cpu_count"): 5})
    changed, kept = ci.reconcile({"cpu_count": 2, "criticality": 1}, source="agent", priority=rank, at=T0)
    assert (changed, kept) == (["criticality"], {"cpu_count": "vmware"})


def test_reconcile_of_the_same_values_changes_nothing_but_a_higher_source_takes_ownership():
    ci = new_ci(source="vmware", attributes={"fqdn": "web-01.example.com", "cpu_count": 4})
    ci.events.clear()
    rank = priorities({"vmware": 50, "agent": 20})
    assert ci.reconcile({"cpu_count": 4}, source="agent", priority=rank, at=T0) == ([], {})
    assert ci.events == [] and ci.version == 1 and ci.provenance["cpu_count"] == "agent"
    _, kept = ci.reconcile({"cpu_count": 8}, source="vmware", priority=rank, at=T0)
    assert kept == {"cpu_count": "agent"}


def test_reconcile_moves_the_status_with_its_own_event_and_never_retires():
    ci = new_ci()
    ci.events.clear()
    changed, _ = ci.reconcile({"operational_status": OperationalStatus.DOWN, "os": "linux"}, source="monitor",
                              priority=priorities({}), at=T0)
    assert changed == ["operational_status", "os"]
    assert [type(e) for _, e in ci.events] == [CiUpdated, CiStatusChanged]
    with pytest.raises(InvalidValue, match="cannot retire"):
        ci.reconcile({"operational_status": OperationalStatus.RETIRED}, source="monitor", priority=priorities({}),
                     at=T0)


def test_statuses_move_freely_while_live_and_retired_is_for_good():
    ci = new_ci()
    ci.events.clear()
    assert ci.set_status("maintenance", actor="alice", at=T0)
    assert not ci.set_status("maintenance", actor="alice", at=T0)
    assert ci.set_status("retired", actor="alice", at=T0)
    assert [type(e) for _, e in ci.events] == [CiStatusChanged, CiRetired]
    assert ci.events[-1][1].from_status == "maintenance"
    with pytest.raises(InvalidTransition):
        ci.set_status("operational", actor="alice", at=T0)
    with pytest.raises(Conflict, match="retired"):
        ci.edit({"criticality": 1}, actor="alice", at=T0)


def test_as_of_folds_the_history_up_to_the_time_asked():
    ci = new_ci(attributes={"fqdn": "web-01.example.com", "os": "linux"})
    ci.edit({"criticality": 1}, actor="alice", at=T0 + timedelta(hours=1))
    ci.edit({"os": None}, actor="bob", at=T0 + timedelta(hours=2))
    ci.set_status("down", actor="bob", at=T0 + timedelta(hours=3))
    history = list(ci.history)

    assert as_of(history, ci_id="ci-1", ci_class=CiClass.HOST, at=T0 - timedelta(seconds=1)) is None
    first = as_of(history, ci_id="ci-1", ci_class=CiClass.HOST, at=T0 + timedelta(minutes=30))
    assert (first.criticality, first.attributes, first.version) == (2, {"fqdn": "web-01.example.com", "os": "linux"},
                                                                    1)
    second = as_of(history, ci_id="ci-1", ci_class=CiClass.HOST, at=T0 + timedelta(hours=2, minutes=30))
    assert (second.criticality, second.attributes, second.operational_status, second.version) == (
        1, {"fqdn": "web-01.example.com"}, OperationalStatus.OPERATIONAL, 3)
    now = as_of(history, ci_id="ci-1", ci_class=CiClass.HOST, at=T0 + timedelta(days=1))
    assert (now.operational_status, now.version, now.provenance["criticality"]) == (OperationalStatus.DOWN, 4,
                                                                                     "manual")


def test_relationship_types_read_both_ways_and_check_their_ends():
    host, cluster, app = (CiClass.HOST, True), (CiClass.CLUSTER, True), (CiClass.APPLICATION, True)
    assert check_relationship("hosted_on", host, cluster, source_id="h", target_id="c") is RelationshipType.HOSTED_ON
    with pytest.raises(InvalidValue, match="hosted_on relationship ends at a cluster or host, not a application"):
        check_relationship("hosted_on", host, app, source_id="h", target_id="a")
    with pytest.raises(InvalidValue, match="target CI t does not exist"):
        check_relationship("depends_on", app, None, source_id="a", target_id="t")
    with pytest.raises(InvalidValue, match="source CI h is retired"):
        check_relationship("depends_on", (CiClass.HOST, False), app, source_id="h", target_id="a")
    with pytest.raises(InvalidValue, match="itself"):
        check_relationship("depends_on", app, app, source_id="a", target_id="a")
    with pytest.raises(InvalidValue, match="depends_on, runs_on"):
        check_relationship("needs", app, host, source_id="a", target_id="h")


def test_a_relationship_is_added_once_and_removed_once():
    r = Relationship.add(id="r-1", source_id="a", target_id="b", type=RelationshipType.DEPENDS_ON, source="manual",
                         at=T0)
    r.remove(source="manual", at=T0 + timedelta(hours=1))
    assert [(seq, type(e).__name__) for seq, e in r.events] == [(1, "CiRelationshipAdded"),
                                                                (2, "CiRelationshipRemoved")]
    assert r.active_at(T0) and not r.active_at(T0 + timedelta(hours=1))
    with pytest.raises(Conflict):
        r.remove(source="manual", at=T0 + timedelta(hours=2))


def test_domain_and_contract_agree_on_classes_statuses_environments_and_types():
    assert list(get_args(ContractClass)) == list(CiClass)
    assert list(get_args(ContractStatus)) == list(OperationalStatus)
    assert list(get_args(ContractEnvironment)) == list(Environment)
    assert list(get_args(ContractType)) == list(RelationshipType)

