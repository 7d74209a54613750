"""itsm_kit.kafka's partitioner puts a key where every Kafka client does (aiokafka's pure-Python murmur2 and
DefaultPartitioner, themselves the Java client's): consumers keyed by record rely on one record's events sharing a
partition, whichever service or client wrote them."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as reference
from hypothesis import given
from hypothesis import strategies as st

from itsm_kit.kafka import murmur2, partitioner


@given(st.binary(max_size=400))
def test_the_hash_is_kafkas(key: bytes) -> None:
    assert murmur2(key) == reference(key)


@given(st.binary(min_size=1, max_size=120), st.integers(min_value=1, max_value=64))
def test_a_key_goes_to_the_partition_any_kafka_client_chooses(key: bytes, count: int) -> None:
    partitions = list(range(count))
    assert partitioner(key, partitions, partitions) == DefaultPartitioner()(key, partitions, partitions)


def test_ids_and_dedup_keys_as_the_platform_writes_them() -> None:
    keys = (b"", b"21", b"0b1d3c5e-8f7a-4b2c-9d1e-2f3a4b5c6d7e", "fingerprint-d\u00e9j\u00e0".encode(), b"x" * 1000)
    for key in keys:
        assert murmur2(key) == reference(key)
