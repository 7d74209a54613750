"""Kafka clients configured the one way this platform uses them."""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import struct
import time
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaClient, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError, for_code
from aiokafka.helpers import create_ssl_context
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import Array, Int16, Int32, Schema, String
from pydantic import SecretStr

from itsm_contracts.topics import dead_letter

log = logging.getLogger(__name__)

# The largest record a producer sends (aiokafka's default max_request_size); brokers take a little more.
MAX_RECORD_BYTES = 1_048_576
# The largest event (key and value) a service hands Kafka whole: room left for the record batch around it.
MAX_EVENT_BYTES = 1_000_000
# A producer's record batch (per partition), a quarter of the largest request. Kafka's cost is per request and per
# batch far more than per byte: at aiokafka's default (16 KB) a webhook of 500 alerts went out as about 37 batches,
# and the broker spent 4.4 CPU-seconds on an alert storm of 10,000 (the ingest bench) that at this size costs it 1.9.
MAX_BATCH_BYTES = 262_144


@dataclass(frozen=True)
class KafkaSecurity:
    """How every Kafka client of a service proves who it is and whom it talks to (settings: ITSM_KAFKA_SECURITY_*,
    _SASL_*, _SSL_*, checked there). PLAINTEXT, the default, only where the network is trusted (a laptop, tests)."""

    protocol: str = "PLAINTEXT"  # PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL
    sasl_mechanism: str = "SCRAM-SHA-512"
    username: str | None = None
    password: SecretStr | None = None
    cafile: str | None = None  # the CA the brokers' certificates are checked against
    certfile: str | None = None  # a client certificate (mutual TLS), and its key
    keyfile: str | None = None

    def client_options(self) -> dict[str, Any]:
        """aiokafka's keyword arguments for a client (producer, consumer, admin, bare client)."""
        options: dict[str, Any] = {"security_protocol": self.protocol}
        if self.protocol in ("SSL", "SASL_SSL"):
            options["ssl_context"] = self.ssl_context()
        if self.protocol.startswith("SASL_"):
            options.update(sasl_mechanism=self.sasl_mechanism, sasl_plain_username=self.username,
                           sasl_plain_password=self.password.get_secret_value() if self.password else None)
        return options

    def ssl_context(self) -> ssl.SSLContext:
        """Verifies the brokers' certificates and host names against the CA file."""
        try:
            return create_ssl_context(cafile=self.cafile, certfile=self.certfile, keyfile=self.keyfile)
        except (OSError, ssl.SSLError) as exc:  # a start-up error naming the file, not a retry loop
            raise ValueError(f"Kafka TLS: cannot load ITSM_KAFKA_SSL_CAFILE={self.cafile!r}, "
                             f"ITSM_KAFKA_SSL_CERTFILE={self.certfile!r}, ITSM_KAFKA_SSL_KEYFILE={self.keyfile!r}: "
                             f"{exc}") from exc


PLAINTEXT = KafkaSecurity()


_WORD = 0xFFFFFFFF
_M = 0x5BD1E995
_WORDS = [struct.Struct(f"<{count}I") for count in range(64)]  # keys of up to 255 bytes: ids, dedup keys


def murmur2(data: bytes) -> int:
    """Kafka's key hash (the Java client's Utils.murmur2, as aiokafka's pure-Python one computes it) at half the
    cost: the words are read at once and masked once a step. Every event keyed by its record is hashed once at the
    gateway or a relay, about four times an alert in a storm."""
    length = len(data)
    h = (0x9747B28C ^ length) & _WORD
    count = length // 4
    words = _WORDS[count].unpack_from(data) if count < 64 else struct.unpack_from(f"<{count}I", data)
    for k in words:
        k = (k * _M) & _WORD
        k = ((k ^ (k >> 24)) * _M) & _WORD
        h = ((h * _M) & _WORD) ^ k
    tail = data[count * 4:]
    if len(tail) >= 3:
        h ^= tail[2] << 16
    if len(tail) >= 2:
        h ^= tail[1] << 8
    if tail:
        h = ((h ^ tail[0]) * _M) & _WORD
    h = ((h ^ (h >> 13)) * _M) & _WORD
    return h ^ (h >> 15)


def partitioner(key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
    """aiokafka's DefaultPartitioner (the Java client's for a key), with the faster hash: a key's partition is the
    same as any Kafka client's."""
    if key is None:
        return random.choice(available or all_partitions)
    return all_partitions[(murmur2(key) & 0x7FFFFFFF) % len(all_partitions)]


def make_producer(bootstrap: str, client_id: str, security: KafkaSecurity = PLAINTEXT) -> AIOKafkaProducer:
    # acks=all + idempotence: an acknowledged event survives a broker failover and a
    # retried send is not written twice.
    return AIOKafkaProducer(
        **security.client_options(),
        bootstrap_servers=bootstrap,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        linger_ms=2,
        max_batch_size=MAX_BATCH_BYTES,
        request_timeout_ms=15000,
        max_request_size=MAX_RECORD_BYTES,
        partitioner=partitioner,
    )


async def start_with_retry(client, what: str, timeout: float) -> None:
    """Start a Kafka client, waiting for the broker during a stack's start-up."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            await client.start()
            return
        except KafkaConnectionError:
            if time.monotonic() > deadline:
                raise
            log.warning("kafka not reachable yet for %s; retrying", what)
            await asyncio.sleep(1)


async def ensure_topics(bootstrap: str, topics: list[str], partitions: int, replication: int,
                        timeout: float = 60, security: KafkaSecurity = PLAINTEXT) -> None:
    """Create each topic and its dead-letter topic if missing (idempotent, any replica may run it).

    Where ACLs guard the topics (prod: Strimzi), a service sees only those it may use and may create none:
    the broker refuses the creation of the others (quietly: aiokafka returns the refusal unread)."""
    wanted = sorted({t for topic in topics for t in (topic, dead_letter(topic))})
    admin = AIOKafkaAdminClient(**security.client_options(), bootstrap_servers=bootstrap)
    await start_with_retry(admin, "admin", timeout)
    try:
        existing = set(await admin.list_topics())
        missing = [NewTopic(t, partitions, replication) for t in wanted if t not in existing]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass  # another replica won the race
            except KafkaError as exc:  # one of several already existed
                log.info("create topics: %s", exc)
    finally:
        await admin.close()


# -- leaving a consumer group as a static member ---------------------------------------------------
# aiokafka's consumer never leaves its group when it has a group instance id (as Kafka's own client
# did before 4.1): the broker would keep a replica that shut down for good (scaled in, replaced in a
# rollout) a member, and its partitions unread, for the whole session timeout. LeaveGroup v3
# (KIP-345, brokers from 2.4) names the member by its instance id; aiokafka only speaks v0-v1.

class _LeaveGroupResponseV3(Response):
    API_KEY = 13
    API_VERSION = 3
    SCHEMA = Schema(("throttle_time_ms", Int32), ("error_code", Int16),
                    ("members", Array(("member_id", String("utf-8")), ("group_instance_id", String("utf-8")),
                                      ("error_code", Int16))))


class _LeaveGroupRequestV3(RequestStruct):
    API_KEY = 13
    API_VERSION = 3
    RESPONSE_TYPE = _LeaveGroupResponseV3
    SCHEMA = Schema(("group", String("utf-8")),
                    ("members", Array(("member_id", String("utf-8")), ("group_instance_id", String("utf-8")))))


class _LeaveAsStaticMember(Request[_LeaveGroupRequestV3]):
    API_KEY = 13

    def __init__(self, group: str, instance_id: str):
        self.group, self.instance_id = group, instance_id

    def build(self, request_struct_class: type[_LeaveGroupRequestV3]) -> _LeaveGroupRequestV3:
        # No member id: the broker removes whichever member holds the instance id. Only this process
        # does, as long as it runs: a restarted container of the pod joins after it exited.
        return request_struct_class(self.group, [("", self.instance_id)])


async def leave_group(bootstrap: str, group: str, instance_id: str, security: KafkaSecurity = PLAINTEXT) -> None:
    """Take a static member out of its group at once, so the others share its partitions now."""
    client = AIOKafkaClient(**security.client_options(), bootstrap_servers=bootstrap)
    try:
        await client.bootstrap()
        coordinator = await client.coordinator_lookup(0, group)  # 0: a consumer group's coordinator
        response = await client.send(coordinator, _LeaveAsStaticMember(group, instance_id))
        errors = [for_code(response.error_code), *(for_code(code) for *_, code in response.members)]
        if failed := [e for e in errors if e.errno != 0]:
            raise failed[0]()
    finally:
        await client.close()
