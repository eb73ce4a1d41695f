"""The embedded log's partitioner hashes keys exactly as Kafka's default partitioner does (kafka-python's
murmur2, the Java client's): a key lands on the same partition number in both modes."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given, settings, strategies as st
from kafka.partitioner import DefaultPartitioner as KafkasDefaultPartitioner
from kafka.partitioner.default import murmur2 as kafkas_murmur2

from touchstream.adapters.master_record.relay import key_cached_partitioner
from touchstream.streams.partitioning import murmur2, partition_for


@settings(max_examples=2_000)
@given(st.binary(max_size=64))
def test_the_hash_is_kafka_pythons(key: bytes) -> None:
    assert murmur2(key) & 0x7FFFFFFF == kafkas_murmur2(key) & 0x7FFFFFFF


def test_known_keys_land_where_the_java_client_puts_them() -> None:
    # Values of the Java client's Utils.murmur2 (its own unit test's vectors), as signed 32-bit ints.
    def signed(value: int) -> int:
        return value - (1 << 32) if value & 0x80000000 else value

    assert signed(murmur2(b"21")) == -973932308
    assert signed(murmur2(b"foobar")) == -790332482
    assert signed(murmur2(b"a-little-bit-long-string")) == -985981536
    assert signed(murmur2(b"a-little-bit-longer-string")) == -1486304829
    assert signed(murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8")) == -58897971
    assert signed(murmur2(b"abc")) == 479470107
    assert partition_for(b"21", 12) == (2**31 - 973932308) % 12  # positive: the sign bit dropped


@settings(max_examples=500)
@given(st.binary(max_size=64), st.integers(min_value=1, max_value=64))
def test_a_key_lands_where_aiokafkas_default_partitioner_puts_it(key: bytes, partitions: int) -> None:
    """The worker places what it sends itself (streams/faust_app.py): where aiokafka would have."""
    every = list(range(partitions))
    assert partition_for(key, partitions) == DefaultPartitioner()(key, every, every)


@settings(max_examples=300)
@given(st.binary(max_size=64), st.integers(min_value=1, max_value=64))
def test_the_relays_partitioner_places_a_key_where_kafka_pythons_does(key: bytes, partitions: int) -> None:
    class Cluster:
        def topics(self) -> set[str]:
            return {"t"}

        def partitions_for_topic(self, topic: str) -> set[int]:
            return set(range(partitions))

        def available_partitions_for_topic(self, topic: str) -> set[int]:
            return set(range(partitions))

    ours, theirs = key_cached_partitioner(), KafkasDefaultPartitioner()
    assert ours.partition("t", key, key, b"v", b"v", Cluster()) == theirs.partition(
        "t", key, key, b"v", b"v", Cluster()
    )
