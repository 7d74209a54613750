"""docker-compose.yml: Compose accepts it, and it runs what the code needs, built as deploy/Dockerfile says.

`docker compose config` needs no Docker engine: the Compose CLI that `make tools` builds from
the Go module pinned in deploy/tools/compose checks the file against the Compose
specification, here as on a laptop.
"""

from __future__ import annotations

import re
import secrets
import subprocess

import pytest
from pydantic import ValidationError

from itsm_gateway.settings import DEV_ONLY_JWT_SECRETS
from itsm_kit.internal_auth import DEV_ONLY_INTERNAL_KEYS

from tests.deploy.facts import BY_NAME, REPO, SERVICES, build_args, compose_command, dockerfile_args, \
    dockerfile_expose, dockerfile_tag, load_compose

INFRA = {"postgres", "kafka"}


def compose_config(**env: str) -> subprocess.CompletedProcess:
    command = compose_command()
    if command is None:
        pytest.skip("no Compose CLI: `make tools` builds one (needs Go)")
    # No .env: one beside the file (git-ignored, someone's own key) must not answer for the file.
    return subprocess.run([*command, "-f", str(REPO / "docker-compose.yml"), "--env-file", "/dev/null",
                           "config", "--quiet"], capture_output=True, text=True, timeout=60, cwd=REPO,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(REPO / ".devstack"), **env})


def test_docker_compose_config_is_clean():
    result = compose_config(ITSM_GATEWAY_JWT_SECRET=secrets.token_urlsafe(48),
                            ITSM_INTERNAL_KEY=secrets.token_urlsafe(48))
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


def test_the_stack_is_infrastructure_a_migration_per_service_and_the_services(compose):
    names = set(compose["services"])
    assert names == INFRA | set(BY_NAME) | {f"{s}-migrate" for s in BY_NAME}


def test_postgres_creates_one_database_per_service(compose):
    postgres = compose["services"]["postgres"]
    assert postgres["image"].startswith("postgres:")
    [init] = [v for v in postgres["volumes"] if v.split(":")[1] == "/docker-entrypoint-initdb.d"]
    scripts = (REPO / init.split(":")[0]).glob("*.sql")
    created = set(re.findall(r"CREATE DATABASE (\w+);", "".join(s.read_text() for s in scripts)))
    assert created == {f"itsm_{s}" for s in BY_NAME}
    k8s_init = (REPO / "deploy/k8s/components/in-cluster-infra/initdb/01-databases.sql").read_text()
    assert set(re.findall(r"CREATE DATABASE (\w+);", k8s_init)) == created, "the same databases in dev k8s"
    assert "pg_isready" in postgres["healthcheck"]["test"] and "127.0.0.1" in postgres["healthcheck"]["test"]


def test_kafka_is_the_official_image_as_one_kraft_node(compose):
    kafka = compose["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    env = kafka["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == 1
    assert kafka["healthcheck"]["test"]


@pytest.mark.parametrize("service", [s.name for s in SERVICES])
def test_migration_runs_once_before_its_service(compose, service):
    migrate = compose["services"][f"{service}-migrate"]
    server = compose["services"][service]
    assert migrate["command"] == ["python", "-m", f"itsm_{service}", "migrate"]
    assert migrate["restart"] == "no"
    assert migrate["image"] == server["image"], "migrates with the image it runs"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert server["depends_on"][f"{service}-migrate"]["condition"] == "service_completed_successfully"
    assert server["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert migrate["environment"] == server["environment"]


@pytest.mark.parametrize("service", [s.name for s in SERVICES])
def test_service_image_port_and_health_agree_with_its_dockerfile(compose, service):
    server = compose["services"][service]
    port = BY_NAME[service].port
    build = {k: v for k, v in server["build"].items() if k != "args"}
    assert build == {"context": ".", "dockerfile": "deploy/Dockerfile"}
    # A build arg the file does not declare would be ignored, with a warning nobody reads.
    assert build_args(service).keys() == dockerfile_args().keys()
    assert build_args(service) == {"SERVICE": service, "PORT": str(port)}
    assert dockerfile_expose(service) == port
    assert server["image"].split(":")[0] == dockerfile_tag(service) == BY_NAME[service].image
    test = " ".join(server["healthcheck"]["test"])
    assert f"127.0.0.1:{port}/readyz" in test
    published = server.get("ports", [])
    assert published == (["127.0.0.1:8000:8000"] if service == "gateway" else []), "only the gateway, on localhost"


@pytest.mark.parametrize("service", [s.name for s in SERVICES])
def test_environment_makes_valid_settings_that_point_at_the_stack(compose, service, monkeypatch):
    env = {k: str(v) for k, v in compose["services"][service]["environment"].items()}
    for variable in BY_NAME[service].required_env():
        assert variable in env, f"{service} lacks {variable}"
    settings = BY_NAME[service].settings_from(env, monkeypatch)  # validates, e.g. the JWT key's length
    assert settings.port == BY_NAME[service].port
    assert settings.metrics_port == BY_NAME[service].metrics_port != settings.port
    assert settings.internal_key is not None, "the gateway signs with it, the others verify"
    assert settings.database_url.endswith(f"@postgres:5432/itsm_{service}")
    assert settings.kafka_bootstrap == "kafka:9092"
    for other in BY_NAME:
        if hasattr(settings, f"{other}_url"):
            assert getattr(settings, f"{other}_url") == f"http://{other}:{BY_NAME[other].port}"
    if service == "gateway":
        assert compose["services"]["gateway"]["depends_on"].keys() >= set(BY_NAME) - {"gateway"}


def test_compose_will_not_start_without_a_jwt_key_of_ones_own():
    result = compose_config(ITSM_INTERNAL_KEY=secrets.token_urlsafe(48))
    assert result.returncode != 0
    assert "required variable ITSM_GATEWAY_JWT_SECRET is missing" in result.stderr, result.stderr


def test_no_jwt_key_is_committed_and_the_dev_only_one_is_refused_here(monkeypatch):
    text = (REPO / "docker-compose.yml").read_text()
    assert not [key for key in DEV_ONLY_JWT_SECRETS if key in text]
    env = {k: str(v) for k, v in load_compose({"ITSM_INTERNAL_KEY": secrets.token_urlsafe(48)})
           ["services"]["gateway"]["environment"].items()}
    assert env["ITSM_GATEWAY_JWT_SECRET"] == "<ITSM_GATEWAY_JWT_SECRET>", "the person running Compose sets it"
    for key in DEV_ONLY_JWT_SECRETS:  # set by hand from an old copy of this file: not a dev cluster's
        with pytest.raises(ValidationError, match="ITSM_ENVIRONMENT=dev"):
            BY_NAME["gateway"].settings_from({**env, "ITSM_GATEWAY_JWT_SECRET": key}, monkeypatch)


def test_compose_will_not_start_without_an_internal_key_of_ones_own():
    result = compose_config(ITSM_GATEWAY_JWT_SECRET=secrets.token_urlsafe(48))
    assert result.returncode != 0
    assert "required variable ITSM_INTERNAL_KEY is missing" in result.stderr, result.stderr


@pytest.mark.parametrize("service", [s.name for s in SERVICES])
def test_every_service_gets_the_one_internal_key_and_the_dev_only_one_is_refused(service, monkeypatch):
    text = (REPO / "docker-compose.yml").read_text()
    assert not [key for key in DEV_ONLY_INTERNAL_KEYS if key in text]
    stack = load_compose({"ITSM_GATEWAY_JWT_SECRET": secrets.token_urlsafe(48)})["services"]
    env = {k: str(v) for k, v in stack[service]["environment"].items()}
    assert env["ITSM_INTERNAL_KEY"] == "<ITSM_INTERNAL_KEY>", "the person running Compose sets it, once for all"
    for key in DEV_ONLY_INTERNAL_KEYS:
        with pytest.raises(ValidationError, match="ITSM_ENVIRONMENT=dev") as refused:
            BY_NAME[service].settings_from({**env, "ITSM_INTERNAL_KEY": key}, monkeypatch)
        assert key not in str(refused.value), "the refusal does not print the key"
