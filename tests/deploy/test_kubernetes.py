"""deploy/k8s: both overlays render, every object is valid Kubernetes, and the pods are what the code needs.

Schemas: kubernetes-validate's bundled OpenAPI schemas (offline), strict, for the oldest and
newest Kubernetes version we claim. KafkaTopic and KafkaUser (Strimzi) have no bundled schema:
their fields are checked here against the CRDs' own (kafka.strimzi.io/v1).
"""

from __future__ import annotations

import base64
import copy
import functools
import re

import jsonschema
import kubernetes_validate
import kubernetes_validate.utils
import pytest
from pydantic import ValidationError

from itsm_gateway.settings import DEV_ONLY_JWT_SECRETS
from itsm_kit.internal_auth import DEV_ONLY_INTERNAL_KEYS
from tests.deploy.facts import BY_NAME, K8S, OVERLAYS, SERVICES, TOPICS, dockerfile_expose, dockerfile_tag, \
    readme_section, render

KUBERNETES_VERSIONS = ("1.31", "1.37")
NAMESPACE = "itsm"
WORKLOADS = ("Deployment", "StatefulSet", "Job")

# Each object's schema is read once per version, not once per object.
kubernetes_validate.utils.schema_contents = functools.lru_cache(maxsize=None)(kubernetes_validate.utils.schema_contents)

def strimzi_schema(kind: str, spec: dict) -> dict:
    """A Strimzi custom resource (kafka.strimzi.io/v1) of `kind`, its spec as the CRD declares it."""
    return {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": "kafka.strimzi.io/v1"},
            "kind": {"const": kind},
            "metadata": {
                "type": "object",
                "required": ["name", "namespace", "labels"],
                "properties": {"labels": {"type": "object", "required": ["strimzi.io/cluster"]}},
            },
            "spec": spec,
        },
    }


# The KafkaTopic spec as the Strimzi CRD declares it, status left out.
KAFKA_TOPIC_SCHEMA = strimzi_schema("KafkaTopic", {
    "type": "object",
    "additionalProperties": False,
    "required": ["topicName", "partitions", "replicas"],
    "properties": {
        "partitions": {"type": "integer", "minimum": 1},
        "replicas": {"type": "integer", "minimum": 1, "maximum": 32767},
        "config": {"type": "object", "additionalProperties": {"type": ["string", "integer", "boolean"]}},
        "topicName": {"type": "string"},
    },
})
# The KafkaUser spec as the Strimzi CRD declares it, quotas and template left out.
KAFKA_USER_SCHEMA = strimzi_schema("KafkaUser", {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "userName": {"type": "string"},
        "authentication": {
            "type": "object",
            "additionalProperties": False,
            "required": ["type"],
            "properties": {"type": {"enum": ["tls", "tls-external", "scram-sha-512"]}},
        },
        "authorization": {
            "type": "object",
            "additionalProperties": False,
            "required": ["type", "acls"],
            "properties": {
                "type": {"const": "simple"},
                "acls": {"type": "array", "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["resource", "operations"],
                    "properties": {
                        "type": {"enum": ["allow", "deny"]},
                        "host": {"type": "string"},
                        "resource": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["type"],
                            "properties": {
                                "type": {"enum": ["topic", "group", "cluster", "transactionalId"]},
                                "name": {"type": "string"},
                                "patternType": {"enum": ["literal", "prefix"]},
                            },
                        },
                        "operations": {"type": "array", "minItems": 1, "items": {"enum": [
                            "Read", "Write", "Create", "Delete", "Alter", "Describe", "ClusterAction",
                            "AlterConfigs", "DescribeConfigs", "IdempotentWrite", "All"]}},
                    },
                }},
            },
        },
    },
})
CUSTOM_SCHEMAS = {"KafkaTopic": KAFKA_TOPIC_SCHEMA, "KafkaUser": KAFKA_USER_SCHEMA}


# --- reading the rendered objects -------------------------------------------------------------

def of_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def named(docs: list[dict], kind: str, name: str) -> dict | None:
    return next((d for d in of_kind(docs, kind) if d["metadata"]["name"] == name), None)


def workloads(docs: list[dict]) -> list[dict]:
    return [d for d in docs if d["kind"] in WORKLOADS]


def pod_spec(workload: dict) -> dict:
    return workload["spec"]["template"]["spec"]


def running(container: dict) -> tuple[str, str] | None:
    """(service, command) when the container runs `python -m itsm_<service> <command>`."""
    argv = [*container.get("command", []), *container.get("args", [])]
    if argv[:2] == ["python", "-m"] and argv[2].startswith("itsm_"):
        return argv[2].removeprefix("itsm_"), argv[3]
    return None


def service_containers(docs: list[dict], command: str) -> dict[str, tuple[dict, dict]]:
    """service -> (workload, container) of the ones running `command` (serve or migrate)."""
    found: dict[str, tuple[dict, dict]] = {}
    for workload in workloads(docs):
        for container in pod_spec(workload)["containers"]:
            ran = running(container)
            if ran and ran[1] == command:
                assert ran[0] not in found, f"two workloads {command} {ran[0]}"
                found[ran[0]] = (workload, container)
    return found


def container_env(docs: list[dict], container: dict) -> dict[str, str | None]:
    """The container's environment from rendered ConfigMaps and Secrets; None for a Secret created outside."""
    env: dict[str, str | None] = {}
    for source in container.get("envFrom", []):
        config_map = named(docs, "ConfigMap", source["configMapRef"]["name"])
        assert config_map, f"envFrom names a missing ConfigMap {source['configMapRef']['name']}"
        env.update(config_map["data"])
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = var["value"]
            continue
        if "fieldRef" in var["valueFrom"]:  # the pod's own, e.g. its name: one like it stands in
            env[var["name"]] = f"pod-{var['valueFrom']['fieldRef']['fieldPath']}"
            continue
        ref = var["valueFrom"]["secretKeyRef"]
        secret = named(docs, "Secret", ref["name"])
        if secret is None:
            env[var["name"]] = None
        else:
            assert ref["key"] in secret["data"], f"Secret {ref['name']} has no key {ref['key']}"
            env[var["name"]] = base64.b64decode(secret["data"][ref["key"]]).decode()
    return env


def external_secrets(docs: list[dict]) -> set[tuple[str, str]]:
    """(Secret, key) referenced but not part of the rendered overlay: the operator creates these."""
    refs = set()
    for workload in workloads(docs):
        for container in pod_spec(workload)["containers"]:
            for var in container.get("env", []):
                ref = var.get("valueFrom", {}).get("secretKeyRef")
                if ref and named(docs, "Secret", ref["name"]) is None:
                    refs.add((ref["name"], ref["key"]))
    return refs


# --- rendering and schemas --------------------------------------------------------------------

@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_with_every_service(rendered, overlay):
    docs = rendered[overlay]
    assert set(service_containers(docs, "serve")) == set(BY_NAME)
    assert set(service_containers(docs, "migrate")) == set(BY_NAME)
    keys = [(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]) for d in docs]
    assert len(keys) == len(set(keys))


def test_base_renders_alone():
    docs = render(K8S / "base")
    assert {d["metadata"]["name"] for d in of_kind(docs, "Deployment")} == set(BY_NAME)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_validates_against_the_kubernetes_schemas(rendered, overlay, version):
    errors = []
    for doc in rendered[overlay]:
        where = f"{doc['kind']}/{doc['metadata']['name']}"
        if doc["kind"] in CUSTOM_SCHEMAS:
            try:
                jsonschema.validate(doc, CUSTOM_SCHEMAS[doc["kind"]])
            except jsonschema.ValidationError as exc:
                errors.append(f"{where}: {exc.message}")
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{where}: {'.'.join(map(str, exc.path))}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError:
            errors.append(f"{where}: no schema for {doc['apiVersion']} in Kubernetes {version}")
    assert not errors, "\n".join(errors)


def test_schema_checks_catch_a_misspelt_field(rendered):
    deployment = copy.deepcopy(of_kind(rendered["prod"], "Deployment")[0])
    pod_spec(deployment)["containers"][0]["livenessprobe"] = pod_spec(deployment)["containers"][0]["livenessProbe"]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[0], strict=True)
    topic = copy.deepcopy(of_kind(rendered["prod"], "KafkaTopic")[0])
    topic["spec"]["replica"] = topic["spec"].pop("replicas")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(topic, KAFKA_TOPIC_SCHEMA)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_objects_live_in_the_platform_namespace(rendered, overlay):
    for doc in rendered[overlay]:
        if doc["kind"] == "Namespace":
            assert doc["metadata"]["name"] == NAMESPACE
            assert doc["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
        elif doc["kind"] == "KafkaTopic":
            assert doc["metadata"]["namespace"] != NAMESPACE  # where the Strimzi Topic Operator looks
        else:
            assert doc["metadata"]["namespace"] == NAMESPACE, doc["metadata"]["name"]


# --- pod policy -------------------------------------------------------------------------------

@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_is_hardened_and_bounded(rendered, overlay):
    for workload in workloads(rendered[overlay]):
        spec = pod_spec(workload)
        pod_security = spec.get("securityContext", {})
        assert spec.get("automountServiceAccountToken") is False, workload["metadata"]["name"]
        assert pod_security.get("seccompProfile") == {"type": "RuntimeDefault"}, workload["metadata"]["name"]
        mounts_from = {v["name"]: v for v in spec.get("volumes", [])}
        for container in spec.get("initContainers", []) + spec["containers"]:
            where = f"{workload['kind']}/{workload['metadata']['name']}/{container['name']}"
            security = {**pod_security, **container.get("securityContext", {})}
            assert security.get("runAsNonRoot") is True, where
            assert security.get("runAsUser", 0) != 0, where
            assert security.get("readOnlyRootFilesystem") is True, where
            assert security.get("allowPrivilegeEscalation") is False, where
            assert security.get("capabilities", {}).get("drop") == ["ALL"], where
            resources = container.get("resources", {})
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(bound, {})), f"{where}: {bound}"
            # A read-only root: whatever writes temporary files gets an emptyDir for /tmp.
            tmp = [m for m in container.get("volumeMounts", []) if m["mountPath"] == "/tmp"]
            assert tmp and "emptyDir" in mounts_from[tmp[0]["name"]], f"{where}: /tmp"
            if workload["kind"] != "Job":
                for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                    assert probe in container, f"{where}: {probe}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_services_probe_their_own_health_endpoints_on_their_port(rendered, overlay):
    docs = rendered[overlay]
    for name, (workload, container) in service_containers(docs, "serve").items():
        service = BY_NAME[name]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports == {"http": service.port, "metrics": service.metrics_port}
        assert service.port == dockerfile_expose(name)
        for probe, path in (("startupProbe", "/healthz"), ("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            assert container[probe]["httpGet"] == {"path": path, "port": "http"}, f"{name} {probe}"
        # The startup probe waits longer than the service waits for Kafka at start.
        startup = container["startupProbe"]
        assert startup["periodSeconds"] * startup["failureThreshold"] > \
            service.settings_cls.model_fields["startup_timeout_seconds"].default


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_images_are_the_ones_the_dockerfile_builds(rendered, overlay):
    docs = rendered[overlay]
    for command in ("serve", "migrate"):
        for name, (_, container) in service_containers(docs, command).items():
            repository, _, tag = container["image"].rpartition(":")
            assert repository.rsplit("/", 1)[-1] == dockerfile_tag(name) == BY_NAME[name].image
            assert tag and tag != "latest", container["image"]
    serve_images = {n: c["image"] for n, (_, c) in service_containers(docs, "serve").items()}
    migrate_images = {n: c["image"] for n, (_, c) in service_containers(docs, "migrate").items()}
    assert serve_images == migrate_images, "a release migrates with the image it rolls out"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_setting_without_a_default_is_set_for_every_container(rendered, overlay):
    docs = rendered[overlay]
    for command in ("serve", "migrate"):
        for name, (_, container) in service_containers(docs, command).items():
            env = container_env(docs, container)
            for variable in BY_NAME[name].required_env():
                assert variable in env, f"{overlay}: {name} {command} lacks {variable}"
            assert f"ITSM_{name.upper()}_DATABASE_URL" in env, f"{overlay}: {name} {command}: its database"


def test_dev_environment_makes_valid_settings_that_point_at_real_services(rendered, monkeypatch):
    docs = rendered["dev"]
    services = {s["metadata"]["name"]: s for s in of_kind(docs, "Service")}
    for name, (_, container) in service_containers(docs, "serve").items():
        env = container_env(docs, container)
        assert None not in env.values(), f"{name}: dev needs no Secret from outside"
        settings = BY_NAME[name].settings_from(env, monkeypatch)
        assert settings.port == BY_NAME[name].port
        assert settings.metrics_port == BY_NAME[name].metrics_port, f"{name}: /metrics where the pod says"
        assert settings.database_url.endswith(f"/itsm_{name}")
        for url in [settings.kafka_bootstrap] + [getattr(settings, f"{s}_url") for s in BY_NAME
                                                 if hasattr(settings, f"{s}_url")]:
            host, port = re.sub(r"^\w+://", "", url).split(":")
            assert host in services, f"{name}: {url} names no Service"
            assert int(port) in [p["port"] for p in services[host]["spec"]["ports"]], f"{name}: {url}"


@pytest.mark.parametrize("command", ["serve", "migrate"])
def test_the_dev_overlays_well_known_jwt_key_works_in_dev_only(rendered, monkeypatch, command):
    dev, prod = (container_env(rendered[o], service_containers(rendered[o], command)["gateway"][1]) for o in OVERLAYS)
    assert dev["ITSM_GATEWAY_JWT_SECRET"] in DEV_ONLY_JWT_SECRETS, "dev's key is one the gateway knows as dev-only"
    assert dev["ITSM_ENVIRONMENT"] == "dev" and "ITSM_ENVIRONMENT" not in prod
    BY_NAME["gateway"].settings_from(dev, monkeypatch)
    # The dev Secret copied into prod's (or the dev overlay's key into any other setup): refused.
    prod = {name: dev.get(name, "prod-only-secret") if value is None else value for name, value in prod.items()}
    with pytest.raises(ValidationError, match="ITSM_ENVIRONMENT=dev") as refused:
        BY_NAME["gateway"].settings_from(prod, monkeypatch)
    assert prod["ITSM_GATEWAY_JWT_SECRET"] not in str(refused.value), "the refusal does not print the key"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_consuming_replica_joins_its_group_by_its_pod_name(rendered, overlay, monkeypatch):
    """Static group membership: a restarted container takes its partitions straight back."""
    docs = rendered[overlay]
    for name, (_, container) in service_containers(docs, "serve").items():
        if not BY_NAME[name].consumes:
            continue
        variable = f"ITSM_{name.upper()}_CONSUMER_GROUP_INSTANCE_ID"
        [var] = [v for v in container.get("env", []) if v["name"] == variable] or [None]
        assert var and var["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}, f"{overlay}: {name}"
        env = {variable: container_env(docs, container)[variable]}
        assert BY_NAME[name].settings_from(env, monkeypatch).consumer_group_instance_id == "pod-metadata.name"


def test_prod_secrets_come_from_the_operator_as_the_readme_says(rendered):
    # Strimzi's User Operator makes each KafkaUser's Secret (its `password`); the operator, the rest.
    kafka_users = {(user["metadata"]["name"], "password") for user in of_kind(rendered["prod"], "KafkaUser")}
    assert kafka_users and kafka_users <= external_secrets(rendered["prod"])
    refs = external_secrets(rendered["prod"]) - kafka_users
    assert refs == {(f"{s}-secrets", "database-url") for s in BY_NAME} | {("gateway-secrets", "jwt-secret"),
                                                                         ("itsm-internal-key", "internal-key")}
    documented = readme_section("Deploying")
    assert "`<service>-secrets`" in documented
    for _, key in refs:
        assert f"`{key}`" in documented, f"README names the key {key}"
    assert not of_kind(rendered["prod"], "Secret"), "prod generates no Secret: no credential in git"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_config_maps_and_secrets_referenced_exist(rendered, overlay):
    docs = rendered[overlay]
    for workload in workloads(docs):
        spec = pod_spec(workload)
        for volume in spec.get("volumes", []):
            if "configMap" in volume:
                assert named(docs, "ConfigMap", volume["configMap"]["name"]), volume
        for container in spec["containers"]:
            container_env(docs, container)  # asserts every ConfigMap and rendered Secret key


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_has_a_service_and_a_migration_job(rendered, overlay):
    docs = rendered[overlay]
    migrations = service_containers(docs, "migrate")
    servers = service_containers(docs, "serve")
    for name in BY_NAME:
        job, container = migrations[name]
        assert job["kind"] == "Job" and pod_spec(job)["restartPolicy"] == "Never"
        assert job["spec"]["ttlSecondsAfterFinished"] > 0, "so the next release's Job can be created"
        server = servers[name][1]
        assert (container["env"], container["envFrom"]) == (server["env"], server["envFrom"]), \
            "migrates with the settings the service runs with"
        service = named(docs, "Service", name)
        assert service["spec"]["ports"] == [
            {"name": "http", "port": BY_NAME[name].port, "targetPort": "http", "protocol": "TCP"},
            {"name": "metrics", "port": BY_NAME[name].metrics_port, "targetPort": "metrics", "protocol": "TCP"}]
        assert service["spec"]["selector"].items() <= servers[name][0]["spec"]["template"]["metadata"]["labels"].items()
    [ingress] = of_kind(docs, "Ingress")
    backends = [p["backend"]["service"] for r in ingress["spec"]["rules"] for p in r["http"]["paths"]]
    assert backends and all(b == {"name": "gateway", "port": {"name": "http"}} for b in backends)


# --- replicas and scaling ---------------------------------------------------------------------

def test_dev_runs_one_replica_of_everything(rendered):
    docs = rendered["dev"]
    assert not of_kind(docs, "HorizontalPodAutoscaler")
    for workload in workloads(docs):
        if workload["kind"] != "Job":
            assert workload["spec"].get("replicas", 1) == 1, workload["metadata"]["name"]
    assert {w["metadata"]["name"] for w in of_kind(docs, "StatefulSet")} == {"postgres", "kafka"}


def test_prod_runs_two_or_more_spread_replicas_with_disruption_budgets(rendered):
    docs = rendered["prod"]
    assert not of_kind(docs, "StatefulSet"), "PostgreSQL and Kafka run outside"
    for name, (deployment, _) in service_containers(docs, "serve").items():
        assert "replicas" not in deployment["spec"], "the autoscaler owns the count"
        hpa = named(docs, "HorizontalPodAutoscaler", name)
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert hpa["spec"]["minReplicas"] >= 2
        pdb = named(docs, "PodDisruptionBudget", name)
        assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
        spread = pod_spec(deployment)["topologySpreadConstraints"]
        assert {c["topologyKey"] for c in spread} == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        for constraint in spread:
            assert constraint["labelSelector"]["matchLabels"].items() <= labels.items()
            assert "app.kubernetes.io/name" in constraint["matchLabelKeys"], "counted per service"


def test_consumers_do_not_scale_past_the_partitions_they_share(rendered):
    """One consumer group shares a topic's partitions: a replica beyond their count idles."""
    docs = rendered["prod"]
    partitions = {t["spec"]["topicName"]: t["spec"]["partitions"] for t in of_kind(docs, "KafkaTopic")}
    consumers = [s for s in SERVICES if s.consumes]
    assert consumers
    for service in consumers:
        hpa = named(docs, "HorizontalPodAutoscaler", service.name)
        assert hpa["spec"]["maxReplicas"] <= min(partitions[t] for t in service.consumes), service.name


# --- topics -----------------------------------------------------------------------------------

def test_dev_topic_job_creates_every_topic_and_dead_letter_topic(rendered):
    docs = rendered["dev"]
    job = named(docs, "Job", "kafka-topics")
    [container] = pod_spec(job)["containers"]
    env = container_env(docs, container)
    assert set(env["TOPICS"].split()) == TOPICS
    assert "$ITSM_KAFKA_PARTITIONS" in container["args"][0] and "$ITSM_KAFKA_REPLICATION_FACTOR" in container["args"][0]
    assert env["ITSM_KAFKA_REPLICATION_FACTOR"] == "1", "one broker"


def test_prod_declares_every_topic_for_strimzi_with_replication_factor_three(rendered):
    docs = rendered["prod"]
    kafka_topics = of_kind(docs, "KafkaTopic")
    assert {t["spec"]["topicName"] for t in kafka_topics} == TOPICS
    assert not named(docs, "Job", "kafka-topics")
    for topic in kafka_topics:
        assert topic["spec"]["replicas"] == 3
        assert int(topic["spec"]["config"]["min.insync.replicas"]) == 2
    [shared] = [c for c in of_kind(docs, "ConfigMap") if c["metadata"]["name"].startswith("itsm-shared-config")]
    assert shared["data"]["ITSM_KAFKA_REPLICATION_FACTOR"] == "3", "topics a service creates match"
    clusters = {t["metadata"]["labels"]["strimzi.io/cluster"] for t in kafka_topics}
    [cluster] = clusters
    assert shared["data"]["ITSM_KAFKA_BOOTSTRAP"].startswith(f"{cluster}-kafka-bootstrap."), "the same cluster"


# --- network policy ---------------------------------------------------------------------------

def _selects(selector: dict, labels: dict) -> bool:
    if not all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        value, op = labels.get(expr["key"]), expr["operator"]
        if (op == "In" and value not in expr["values"]) or (op == "NotIn" and value in expr["values"]) or \
                (op == "Exists" and value is None) or (op == "DoesNotExist" and value is not None):
            return False
    return True


class Pod:
    def __init__(self, namespace: str, labels: dict, ports: dict[str, int] | None = None):
        self.namespace, self.labels, self.ports = namespace, labels, ports or {}


def _peer_matches(peer: dict, policy_namespace: str, pod: Pod) -> bool:
    if "ipBlock" in peer:
        return pod.namespace not in (NAMESPACE,)  # addresses outside the cluster's pods
    if "namespaceSelector" in peer:
        namespace_ok = _selects(peer["namespaceSelector"], {"kubernetes.io/metadata.name": pod.namespace})
    else:
        namespace_ok = pod.namespace == policy_namespace
    return namespace_ok and _selects(peer.get("podSelector", {}), pod.labels)


def _port_matches(ports: list[dict] | None, destination: Pod, port: int, protocol: str) -> bool:
    if not ports:
        return True
    named_port = {number: name for name, number in destination.ports.items()}.get(port)
    return any(p.get("protocol", "TCP") == protocol and p.get("port") in (None, port, named_port) for p in ports)


def allowed(docs: list[dict], source: Pod, destination: Pod, port: int, protocol: str = "TCP") -> bool:
    """Whether NetworkPolicies let `source` open `port` on `destination` (both directions' policies)."""
    policies = of_kind(docs, "NetworkPolicy")

    def direction(pod: Pod, kind: str, peer_key: str, other: Pod) -> bool:
        applying = [p for p in policies if p["metadata"]["namespace"] == pod.namespace
                    and kind in p["spec"]["policyTypes"] and _selects(p["spec"]["podSelector"], pod.labels)]
        if not applying:
            return True
        return any(
            (peer_key not in rule or any(_peer_matches(peer, pod.namespace, other) for peer in rule[peer_key]))
            and _port_matches(rule.get("ports"), destination, port, protocol)
            for p in applying for rule in p["spec"].get(kind.lower(), [])
        )

    return direction(source, "Egress", "to", destination) and direction(destination, "Ingress", "from", source)


def _pods(docs: list[dict]) -> dict[str, Pod]:
    pods = {}
    for workload in workloads(docs):
        ports = {p["name"]: p["containerPort"] for c in pod_spec(workload)["containers"] for p in c.get("ports", [])}
        pods[workload["metadata"]["name"]] = Pod(NAMESPACE, workload["spec"]["template"]["metadata"]["labels"], ports)
    return pods


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policy_denies_by_default_and_allows_the_platforms_paths(rendered, overlay):
    docs = rendered[overlay]
    pods = _pods(docs)
    ingress_controller = Pod("ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"})
    prometheus = Pod("monitoring", {"app.kubernetes.io/name": "prometheus"})
    stranger = Pod("default", {"app": "anything"})
    dns = Pod("kube-system", {"k8s-app": "kube-dns"})
    if overlay == "dev":
        postgres, kafka = pods["postgres"], pods["kafka"]
    else:
        postgres, kafka = Pod("databases", {}), Pod("kafka", {"strimzi.io/cluster": "itsm-kafka"})
    kafka_port = 9092 if overlay == "dev" else 9093  # prod: Strimzi's TLS + SCRAM listener only
    gateway = pods["gateway"]
    backends = [pods[s] for s in BY_NAME if s != "gateway"]

    assert allowed(docs, ingress_controller, gateway, BY_NAME["gateway"].port)
    assert not allowed(docs, stranger, gateway, BY_NAME["gateway"].port)
    for name in BY_NAME:
        if name != "gateway":
            assert allowed(docs, gateway, pods[name], BY_NAME[name].port), f"gateway -> {name}"
            assert not allowed(docs, ingress_controller, pods[name], BY_NAME[name].port), name
            other = next(p for p in backends if p is not pods[name])
            assert not allowed(docs, other, pods[name], BY_NAME[name].port), f"service -> {name}"
        assert allowed(docs, prometheus, pods[name], BY_NAME[name].metrics_port), f"metrics of {name}"
        assert not allowed(docs, prometheus, pods[name], BY_NAME[name].port), f"the API of {name}"
        if name != "gateway":
            assert not allowed(docs, gateway, pods[name], BY_NAME[name].metrics_port), f"gateway -> {name} metrics"
    for name, pod in pods.items():
        if pod in (postgres, kafka):
            continue
        assert allowed(docs, pod, dns, 53, "UDP"), f"{name} resolves names"
        assert allowed(docs, pod, postgres, 5432), f"{name} -> PostgreSQL"
        assert allowed(docs, pod, kafka, kafka_port), f"{name} -> Kafka"
        assert overlay == "dev" or not allowed(docs, pod, kafka, 9092), f"{name} -> Kafka without TLS"
        if name == "notifications":  # the SMTP relay and webhook receivers are anywhere: on their ports only
            assert all(allowed(docs, pod, stranger, port) for port in (25, 465, 587, 80, 443)), name
            assert not allowed(docs, pod, stranger, 8080), f"{name} reaches nothing else"
            assert not allowed(docs, pod, pods["incidents"], BY_NAME["incidents"].port), f"{name} -> incidents"
        else:
            assert not allowed(docs, pod, stranger, 443), f"{name} reaches nothing else"
    if overlay == "dev":
        assert not allowed(docs, stranger, postgres, 5432) and not allowed(docs, stranger, kafka, 9092)


# --- what the outside reaches, and the key inside ---------------------------------------------

OPERATIONS_PATHS = {"/healthz", "/readyz", "/metrics", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}


def _routed(ingress: dict, path: str) -> bool:
    """Whether the Ingress passes `path` on (Prefix matches whole path segments, as Kubernetes does)."""
    for rule in ingress["spec"]["rules"]:
        for entry in rule["http"]["paths"]:
            if entry["pathType"] == "Exact" and path == entry["path"]:
                return True
            prefix = entry["path"].rstrip("/")
            if entry["pathType"] == "Prefix" and (path == prefix or path.startswith(prefix + "/")):
                return True
    return False


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_ingress_routes_the_api_and_the_webhooks_and_nothing_else(rendered, overlay, monkeypatch):
    [ingress] = of_kind(rendered[overlay], "Ingress")
    paths = sorted((p["path"], p["pathType"]) for r in ingress["spec"]["rules"] for p in r["http"]["paths"])
    assert paths == [("/api", "Prefix"), ("/v2/enqueue", "Exact")]
    monkeypatch.setenv("ITSM_GATEWAY_JWT_SECRET", "x" * 48)
    from itsm_gateway.main import create_app

    served = set(create_app().openapi()["paths"])
    for path in served - OPERATIONS_PATHS:
        assert _routed(ingress, path), f"the gateway serves {path}, the Ingress does not route it"
    for path in OPERATIONS_PATHS:
        assert not _routed(ingress, path), f"{path} is reachable from outside"
    assert _routed(ingress, "/api/v1/integrations/alertmanager") and not _routed(ingress, "/apidocs")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_gets_the_one_internal_key(rendered, overlay):
    for name, (_, container) in service_containers(rendered[overlay], "serve").items():
        [var] = [v for v in container.get("env", []) if v["name"] == "ITSM_INTERNAL_KEY"] or [None]
        ref = var and var["valueFrom"]["secretKeyRef"]
        assert ref and ref["key"] == "internal-key", f"{overlay}: {name}"
        assert re.fullmatch(r"itsm-internal-key(-[a-z0-9]{10})?", ref["name"]), f"{overlay}: {name}"  # dev: a hash


@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_the_dev_overlays_well_known_internal_key_works_in_dev_only(rendered, monkeypatch, name):
    dev, prod = (container_env(rendered[o], service_containers(rendered[o], "serve")[name][1]) for o in OVERLAYS)
    assert dev["ITSM_INTERNAL_KEY"] in DEV_ONLY_INTERNAL_KEYS, "dev's key is one the kit knows as dev-only"
    assert BY_NAME[name].settings_from(dev, monkeypatch).internal_key.get_secret_value() == dev["ITSM_INTERNAL_KEY"]
    # The dev Secret copied into prod's: refused, without printing it.
    prod = {key: dev.get(key, "prod-only-secret") if value is None else value for key, value in prod.items()}
    if "ITSM_GATEWAY_JWT_SECRET" in prod:
        prod["ITSM_GATEWAY_JWT_SECRET"] = "x" * 48
    with pytest.raises(ValidationError, match="ITSM_INTERNAL_KEY is the repository's well-known") as refused:
        BY_NAME[name].settings_from(prod, monkeypatch)
    assert prod["ITSM_INTERNAL_KEY"] not in str(refused.value)
