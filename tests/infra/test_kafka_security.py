"""The kit's Kafka clients over TLS + SCRAM against a real broker that refuses everyone else.

The local broker (deploy/local/devstack.py) gets an extra SASL_SSL listener with a certificate from a CA
made here, SCRAM-SHA-512 users named as the prod overlay's KafkaUsers, and Kafka's authorizer with those
users' ACLs from the rendered prod overlay: what production's Strimzi cluster enforces, on a laptop.
Its own stack name and ports per test slot, so it runs beside the test and dev stacks.
"""
from __future__ import annotations

import asyncio
import logging
import secrets
import subprocess
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest
from aiokafka import AIOKafkaClient, AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAuthorizationFailedError
from aiokafka.protocol.admin import CreateAclsRequest
from pydantic import SecretStr

from itsm_contracts import topics
from itsm_contracts.events import envelope
from itsm_contracts.events.alerts import AlertReceived
from itsm_kit.consumer import EventConsumer
from itsm_kit.db import kit_metadata, make_engine, make_sessionmaker
from itsm_kit.kafka import KafkaSecurity, ensure_topics, make_producer, start_with_retry
from itsm_kit.settings import ServiceSettings, service_config
from tests.deploy.facts import K8S, render
from tests.helpers import eventually, read_topic

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "deploy" / "local"))
from devstack import SecureListener, Stack  # noqa: E402

USERS = ("gateway", "incidents", "sla")  # the services these tests act as
# Kafka's protocol codes for what a Strimzi KafkaUser's ACL names.
RESOURCE_TYPES = {"topic": 2, "group": 3, "cluster": 4, "transactionalId": 5}
PATTERN_TYPES = {"literal": 3, "prefix": 4}
OPERATIONS = {"All": 2, "Read": 3, "Write": 4, "Create": 5, "Delete": 6, "Alter": 7, "Describe": 8,
              "ClusterAction": 9, "DescribeConfigs": 10, "AlterConfigs": 11, "IdempotentWrite": 12}
ALLOW = 3


def ports(slot: int) -> tuple[str, int, int]:
    """This run's stack name, PostgreSQL port and Kafka port (its controller +1, its SASL_SSL listener +2),
    below the ephemeral range and apart from the other infra tests' (tests/infra/test_devstack.py)."""
    return f"infratls{slot or ''}", 31482 + slot, 31172 + 3 * slot


def openssl(folder: Path, *args: str) -> None:
    result = subprocess.run(["openssl", *args], cwd=folder, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def certificate_authority(folder: Path, name: str) -> tuple[Path, Path]:
    openssl(folder, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "2", "-subj", f"/CN={name}",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return folder / f"{name}.crt", folder / f"{name}.key"


def broker_certificate(folder: Path, ca: tuple[Path, Path]) -> tuple[Path, Path]:
    """For 127.0.0.1, as the clients name the broker (they check the name)."""
    openssl(folder, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", "broker.key", "-out", "broker.csr", "-subj", "/CN=127.0.0.1")
    (folder / "broker.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
                                       "keyUsage=critical,digitalSignature\n")
    openssl(folder, "x509", "-req", "-in", "broker.csr", "-CA", str(ca[0]), "-CAkey", str(ca[1]),
            "-CAcreateserial", "-out", "broker.crt", "-days", "2", "-extfile", "broker.ext")
    return folder / "broker.crt", folder / "broker.key"


async def create_acls(bootstrap: str, kafka_users: list[dict]) -> None:
    """The KafkaUsers' ACLs, as Strimzi's User Operator creates them (over the unauthenticated listener,
    whose principal is the local broker's super user)."""
    client = AIOKafkaClient(bootstrap_servers=bootstrap)
    await client.bootstrap()
    try:
        [broker] = client.cluster.brokers()
        for user in kafka_users:
            for acl in user["spec"]["authorization"]["acls"]:
                resource = acl["resource"]
                for operation in acl["operations"]:
                    response = await client.send(broker.nodeId, CreateAclsRequest(
                        RESOURCE_TYPES[resource["type"]], resource["name"],
                        PATTERN_TYPES[resource.get("patternType", "literal")], f"User:{user['metadata']['name']}",
                        acl.get("host", "*"), OPERATIONS[operation], ALLOW))
                    assert [code for code, _ in response.creation_responses] == [0], response
    finally:
        await client.close()


@pytest.fixture(scope="module")
def secured(stack_slot, tmp_path_factory):
    """(stack env, SecureListener, CA file, passwords by service), the prod overlay's ACLs in force."""
    folder = tmp_path_factory.mktemp("kafka-tls")
    ca = certificate_authority(folder, "itsm-test-ca")
    certificate, key = broker_certificate(folder, ca)
    passwords = {name: secrets.token_urlsafe(24) for name in USERS}
    name, pg_port, kafka_port = ports(stack_slot)
    listener = SecureListener(kafka_port + 2, certificate, key, {f"itsm-{n}": p for n, p in passwords.items()},
                              authorize=True)
    kafka_users = [d for d in render(K8S / "overlays" / "prod") if d["kind"] == "KafkaUser"]
    with pytest.MonkeyPatch.context() as mp:
        # This broker, not the test stack's (whose address these variables hold during a run).
        mp.delenv("ITSM_DATABASE_URL", raising=False)
        mp.delenv("ITSM_KAFKA_BOOTSTRAP", raising=False)
        stack = Stack(name, pg_port=pg_port, kafka_port=kafka_port, kafka_secure=listener)
        stack.down(purge=True)  # SCRAM users are written when the broker's storage is formatted
        try:
            env = stack.up()

            async def prepare() -> None:
                admin = AIOKafkaAdminClient(bootstrap_servers=env["ITSM_KAFKA_BOOTSTRAP"])
                await admin.start()
                try:  # the topics exist before the services start, as Strimzi's KafkaTopics make them
                    await admin.create_topics([NewTopic(t, 1, 1) for topic in topics.ALL
                                               for t in (topic, topics.dead_letter(topic))])
                finally:
                    await admin.close()
                await create_acls(env["ITSM_KAFKA_BOOTSTRAP"], kafka_users)

            asyncio.run(prepare())
            yield env, listener, ca[0], passwords
        finally:
            stack.down(purge=True)


def settings_of(service: str, env: dict[str, str]):
    """A service's kit settings from the environment its pods get in prod (overlays/prod, strimzi-users)."""
    cls = type(f"{service.title()}Settings", (ServiceSettings,), {"model_config": service_config(service),
                                                                  "service": service})
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        return cls()


def prod_like_env(secured, service: str, **overrides: str) -> dict[str, str]:
    env, listener, cafile, passwords = secured
    return {"ITSM_KAFKA_BOOTSTRAP": listener.bootstrap, "ITSM_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "ITSM_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "ITSM_KAFKA_SSL_CAFILE": str(cafile),
            f"ITSM_{service.upper()}_KAFKA_SASL_USERNAME": f"itsm-{service}",
            f"ITSM_{service.upper()}_KAFKA_SASL_PASSWORD": passwords[service], **overrides}


def alert(summary: str) -> bytes:
    data = AlertReceived(integration_id="int-1", integration_kind="generic", dedup_key=uuid.uuid4().hex,
                         status="firing", severity="critical", summary=summary,
                         received_at=datetime.now(timezone.utc))
    return envelope(data, source="itsm/gateway", subject=data.dedup_key).to_json()


async def test_services_publish_and_consume_over_tls_as_their_kafka_users(secured, caplog):
    """The gateway publishes an alert; incidents, as a static group member, applies one, dead-letters
    another, publishes its own event and leaves its group: every kit client, with the prod ACLs."""
    env, _, _, _ = secured
    gateway, incidents = settings_of("gateway", prod_like_env(secured, "gateway")), \
        settings_of("incidents", prod_like_env(secured, "incidents"))
    engine = make_engine(env["ITSM_DATABASE_URL"].replace("postgresql://", "postgresql+asyncpg://")
                         .rsplit("/", 1)[0] + "/itsm_incidents")
    async with engine.begin() as conn:
        await conn.run_sync(kit_metadata.create_all)
    applied: list[str] = []

    async def handle(session, event, data: AlertReceived) -> None:
        if data.summary == "poison":
            raise ValueError("this alert cannot be handled")
        applied.append(data.summary)

    # As the runtime starts them: topics looked up (none may be created), producer, consumer.
    for settings, uses in ((gateway, [topics.ALERTS]), (incidents, [topics.INCIDENTS, topics.ALERTS])):
        await ensure_topics(settings.kafka_bootstrap, uses, 1, 1, timeout=10, security=settings.kafka_security)
    gateway_producer = make_producer(gateway.kafka_bootstrap, "gateway", gateway.kafka_security)
    incidents_producer = make_producer(incidents.kafka_bootstrap, "incidents", incidents.kafka_security)
    for producer in (gateway_producer, incidents_producer):
        await start_with_retry(producer, "test", timeout=10)
    consumer = EventConsumer(name="incidents", topics=[topics.ALERTS], handlers={AlertReceived.type: handle},
                             bootstrap=incidents.kafka_bootstrap, sessions=make_sessionmaker(engine),
                             producer=incidents_producer, retry_backoff=0.01, startup_timeout=10,
                             group_instance_id="incidents-0", security=incidents.kafka_security)
    running = asyncio.create_task(consumer.run())
    try:
        for summary in ("disk full on db-1", "poison"):
            await gateway_producer.send_and_wait(topics.ALERTS, alert(summary))
        await incidents_producer.send_and_wait(topics.INCIDENTS, b"an incident event", key=b"INC-1")

        async def handled() -> None:  # (a run that failed is applied again event by event: twice here)
            assert set(applied) == {"disk full on db-1"}
        await eventually(handled, timeout=30)
        dead = await read_topic(env["ITSM_KAFKA_BOOTSTRAP"], topics.dead_letter(topics.ALERTS),
                                until=lambda records: len(records) >= 1)
        assert b"poison" in dead[0].value
        published = await read_topic(env["ITSM_KAFKA_BOOTSTRAP"], topics.INCIDENTS, until=lambda r: len(r) >= 1)
        assert published[0].value == b"an incident event"
    finally:
        consumer.stop()
        await asyncio.wait_for(running, 15)
        for producer in (gateway_producer, incidents_producer):
            await producer.stop()
        await engine.dispose()
    assert not [r for r in caplog.records if "could not leave the consumer group" in r.getMessage()]


async def test_plain_over_tls_works_too(secured):
    gateway = settings_of("gateway", prod_like_env(secured, "gateway", ITSM_KAFKA_SASL_MECHANISM="PLAIN"))
    producer = make_producer(gateway.kafka_bootstrap, "gateway", gateway.kafka_security)
    await start_with_retry(producer, "test", timeout=10)
    try:
        await producer.send_and_wait(topics.ALERTS, alert("sent with PLAIN"))
    finally:
        await producer.stop()


@pytest.mark.parametrize(("case", "refusal"), [
    ("plaintext", None),               # no TLS on a TLS port: the broker hangs up
    ("tls without credentials", None),
    ("wrong password", "SaslAuthenticationFailed"),
    ("unknown user", "SaslAuthenticationFailed"),
    ("broker of another CA", "CERTIFICATE_VERIFY_FAILED"),  # the client refuses a broker it cannot verify
])
async def test_the_broker_refuses_whoever_lacks_the_right_credentials(secured, tmp_path, caplog, case, refusal):
    _, listener, cafile, passwords = secured
    security = {
        "plaintext": KafkaSecurity(),
        "tls without credentials": KafkaSecurity("SSL", cafile=str(cafile)),
        "wrong password": KafkaSecurity("SASL_SSL", username="itsm-gateway", password=SecretStr("guessed"),
                                        cafile=str(cafile)),
        "unknown user": KafkaSecurity("SASL_SSL", username="intruder", password=SecretStr(passwords["gateway"]),
                                      cafile=str(cafile)),
        "broker of another CA": KafkaSecurity("SASL_SSL", username="itsm-gateway",
                                              password=SecretStr(passwords["gateway"]),
                                              cafile=str(certificate_authority(tmp_path, "another-ca")[0])),
    }[case]
    producer = make_producer(listener.bootstrap, "stranger", security)
    caplog.set_level(logging.ERROR, logger="aiokafka")
    try:
        with pytest.raises(KafkaConnectionError):
            await asyncio.wait_for(producer.start(), 20)
    finally:
        await producer.stop()
    if refusal:
        assert refusal in caplog.text


@pytest.mark.parametrize(("service", "topic"), [
    ("gateway", topics.SLA),         # a forged SLA breach
    ("incidents", topics.ALERTS),    # an injected alert
    ("sla", topics.INCIDENTS),       # someone else's events
])
async def test_a_service_writes_only_its_own_topics(secured, service, topic):
    settings = settings_of(service, prod_like_env(secured, service))
    producer = make_producer(settings.kafka_bootstrap, service, settings.kafka_security)
    await start_with_retry(producer, "test", timeout=10)
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            await asyncio.wait_for(producer.send_and_wait(topic, alert("forged")), 20)
    finally:
        await producer.stop()


async def test_a_service_reads_no_topic_it_does_not_consume(secured):
    gateway = settings_of("gateway", prod_like_env(secured, "gateway"))
    consumer = AIOKafkaConsumer(topics.INCIDENTS, group_id="gateway", **gateway.kafka_security.client_options(),
                                bootstrap_servers=gateway.kafka_bootstrap, auto_offset_reset="earliest")
    try:
        with pytest.raises(TopicAuthorizationFailedError):  # at start, or at the first fetch
            await asyncio.wait_for(consumer.start(), 20)
            await asyncio.wait_for(consumer.getmany(timeout_ms=5000), 20)
    finally:
        await consumer.stop()
