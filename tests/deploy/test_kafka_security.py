"""deploy/k8s prod: every service reaches Kafka over TLS as its own Kafka user, allowed only what its code does.

What each service publishes and consumes is read from its create_app (the topics it hands the kit), so a
service that starts publishing or consuming another topic fails here until its KafkaUser allows it. That
the ACLs are enough for the kit's clients, and refuse the rest, a real broker shows in
tests/infra/test_kafka_security.py.
"""

from __future__ import annotations

import importlib
import secrets
from pathlib import PurePosixPath

import pytest
import yaml

from itsm_contracts import topics
from tests.deploy.facts import BY_NAME, K8S
from tests.deploy.test_kubernetes import container_env, named, of_kind, pod_spec, service_containers

CLUSTER_PATCH = K8S / "components" / "strimzi-users" / "kafka-cluster-patch.yaml"


class _Recorded(Exception):
    pass


def kafka_use(name: str, monkeypatch: pytest.MonkeyPatch) -> tuple[set[str], set[str]]:
    """(topics the service publishes, topics it consumes), as its create_app hands them to the kit."""
    module = importlib.import_module(f"itsm_{name}.main")
    seen: dict = {}

    def record(settings, **kwargs):
        seen.update(kwargs)
        raise _Recorded

    monkeypatch.setattr(module, "create_service_app", record)
    with pytest.raises(_Recorded):
        module.create_app(BY_NAME[name].settings_cls.model_construct())
    return {*seen.get("publishes", ()), *seen.get("produces_directly", ())}, set(seen.get("consumes", ()))


def allowed_operations(user: dict) -> set[tuple[str, str, str]]:
    """(resource type, name, operation) the KafkaUser's ACLs allow; only literal allow rules are written here."""
    allowed = set()
    for acl in user["spec"]["authorization"]["acls"]:
        resource = acl["resource"]
        assert acl.get("type", "allow") == "allow" and resource.get("patternType", "literal") == "literal", acl
        assert acl.get("host", "*") == "*", acl
        allowed |= {(resource["type"], resource["name"], operation) for operation in acl["operations"]}
    return allowed


def kafka_user(docs: list[dict], name: str) -> dict:
    user = named(docs, "KafkaUser", f"itsm-{name}")
    assert user, f"{name} has no KafkaUser"
    return user


def cluster_patch() -> dict[str, object]:
    """The JSON patch for the Strimzi Kafka resource, as path -> value."""
    operations = yaml.safe_load(CLUSTER_PATCH.read_text())
    assert all(op["op"] == "add" for op in operations)
    return {op["path"]: op["value"] for op in operations}


def stand_ins(env: dict[str, str | None]) -> dict[str, str]:
    """Secrets made outside the overlay replaced by values of their kind, so the settings can be built."""
    return {key: value if value is not None else
            "postgresql://u:p@db:5432/postgres" if key.endswith("DATABASE_URL") else secrets.token_urlsafe(48)
            for key, value in env.items()}


def test_every_service_has_a_kafka_user_allowed_exactly_what_its_code_does(rendered, monkeypatch):
    docs = rendered["prod"]
    users = of_kind(docs, "KafkaUser")
    assert {u["metadata"]["name"] for u in users} == {f"itsm-{name}" for name in BY_NAME}, "one per service"
    writers: dict[str, str] = {}
    for name in BY_NAME:
        publishes, consumes = kafka_use(name, monkeypatch)
        assert consumes == set(BY_NAME[name].consumes)
        # The consumer group is the service's name (the kit's EventConsumer); dead letters go to <topic>.dlq.
        expected = {("topic", t, op) for t in publishes for op in ("Write", "Describe")} \
            | {("topic", t, op) for t in consumes for op in ("Read", "Describe")} \
            | {("topic", topics.dead_letter(t), op) for t in consumes for op in ("Write", "Describe")} \
            | ({("group", name, "Read")} if consumes else set())
        user = kafka_user(docs, name)
        assert user["spec"]["authentication"] == {"type": "scram-sha-512"}
        assert allowed_operations(user) == expected, name
        for topic in publishes:
            assert writers.setdefault(topic, name) == name, f"{topic}: written by {writers[topic]} and {name}"
    assert writers[topics.ALERTS] == "gateway" and writers[topics.SLA] == "sla", "alerts and breaches have one source"


def test_kafka_users_belong_to_the_cluster_of_the_topics_where_the_user_operator_looks(rendered):
    docs = rendered["prod"]
    [cluster] = {t["metadata"]["labels"]["strimzi.io/cluster"] for t in of_kind(docs, "KafkaTopic")}
    patch = cluster_patch()
    for user in of_kind(docs, "KafkaUser"):
        assert user["metadata"]["labels"]["strimzi.io/cluster"] == cluster
        # Its Secret is made beside it, and pods read Secrets of their own namespace only.
        assert user["metadata"]["namespace"] == "itsm"
        assert patch["/spec/entityOperator/userOperator/watchedNamespace"] == user["metadata"]["namespace"]
    assert patch["/spec/kafka/authorization"] == {"type": "simple"}, "ACLs apply"


@pytest.mark.parametrize("command", ["serve", "migrate"])
def test_prod_pods_reach_kafkas_tls_listener_as_their_own_kafka_user(rendered, monkeypatch, command):
    docs = rendered["prod"]
    [cluster] = {t["metadata"]["labels"]["strimzi.io/cluster"] for t in of_kind(docs, "KafkaTopic")}
    [listener] = [v for path, v in cluster_patch().items() if path == "/spec/kafka/listeners/-"]
    assert listener["tls"] is True and listener["authentication"] == {"type": "scram-sha-512"}
    for name, (workload, container) in service_containers(docs, command).items():
        env = container_env(docs, container)
        settings = BY_NAME[name].settings_from(stand_ins(env), monkeypatch)  # consistent, or it refuses
        host, port = settings.kafka_bootstrap.rsplit(":", 1)
        assert host == f"{cluster}-kafka-bootstrap.kafka.svc" and int(port) == listener["port"], name
        assert (settings.kafka_security_protocol, settings.kafka_sasl_mechanism) == ("SASL_SSL", "SCRAM-SHA-512")
        # Its own user, and the password Strimzi made for that user.
        assert settings.kafka_sasl_username == kafka_user(docs, name)["metadata"]["name"]
        [password] = [v for v in container["env"] if v["name"] == f"ITSM_{name.upper()}_KAFKA_SASL_PASSWORD"]
        assert password["valueFrom"] == {"secretKeyRef": {"name": settings.kafka_sasl_username, "key": "password"}}
        # The brokers' certificates are checked against the cluster CA, mounted from Strimzi's Secret.
        cafile = PurePosixPath(settings.kafka_ssl_cafile)
        [mount] = [m for m in container["volumeMounts"] if cafile.parent == PurePosixPath(m["mountPath"])]
        [volume] = [v for v in pod_spec(workload)["volumes"] if v["name"] == mount["name"]]
        assert volume["secret"]["secretName"] == f"{cluster}-cluster-ca-cert"
        assert {"key": "ca.crt", "path": cafile.name} in volume["secret"]["items"]


def test_dev_stays_on_its_in_cluster_plaintext_broker(rendered, monkeypatch):
    """A throwaway cluster has no Strimzi: no KafkaUser, and the settings' plaintext default."""
    docs = rendered["dev"]
    assert not of_kind(docs, "KafkaUser")
    for name, (_, container) in service_containers(docs, "serve").items():
        settings = BY_NAME[name].settings_from(stand_ins(container_env(docs, container)), monkeypatch)
        assert settings.kafka_security_protocol == "PLAINTEXT", name
