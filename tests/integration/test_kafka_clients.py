"""The Kafka clients we ship against the real broker from deploy/local/services (KRaft, 127.0.0.1).

kafka-python (admin and producing) and aiokafka (what Faust runs on) must write what kcat - a third,
independent client (librdkafka) - reads back: the same records, each key in one partition, in order.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from dedicated_servers import unavailable
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

PARTITIONS = 3
KEYS = [f"customer-{n}" for n in range(6)]
PER_KEY = 15
TIMEOUT_S = 30.0

Record = tuple[str, str]  # (key, value)


def _records(prefix: str) -> list[Record]:
    """Interleaved keys, so per-key order is only kept if the partitioning and the clients keep it."""
    return [(key, f"{prefix}:{key}:{seq}") for seq in range(PER_KEY) for key in KEYS]


def _by_key(records: Iterable[Record]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = defaultdict(list)
    for key, value in records:
        grouped[key].append(value)
    return dict(grouped)


def _assert_same_story(read: list[Record], written: list[Record], reader: str) -> None:
    assert len(read) == len(written), f"{reader} read {len(read)} records, {len(written)} were written"
    assert set(read) == set(written), f"{reader} read other records than were written"
    assert _by_key(read) == _by_key(written), f"{reader} saw a key's records out of order"


@pytest.fixture
def topic(kafka_bootstrap: str, unique_name: str) -> Iterator[str]:
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap, request_timeout_ms=10_000)
    try:
        admin.create_topics(
            [NewTopic(unique_name, num_partitions=PARTITIONS, replication_factor=1)],
            timeout_ms=10_000,
            wait_for_metadata=True,
        )
        yield unique_name
        admin.delete_topics([unique_name], timeout_ms=10_000)
    finally:
        admin.close()


def _kcat(bootstrap: str, topic: str, fmt: str) -> list[list[str]]:
    """Read the whole topic with kcat (from the beginning of every partition, exit at the end): one list
    of tab-separated fields per record, as `fmt` (kcat's -f, e.g. %k key, %s value, %p partition) says."""
    kcat = shutil.which("kcat")
    if kcat is None:
        unavailable("kcat is missing: `deploy/local/services up kafka` installs it (apt-get install kcat)")
    done = subprocess.run(
        [kcat, "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-q", "-f", fmt + "\n"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=True,
    )
    return [line.split("\t") for line in done.stdout.splitlines()]


def _kcat_records(bootstrap: str, topic: str) -> list[Record]:
    return [(key, value) for key, value in _kcat(bootstrap, topic, "%k\t%s")]


def _kcat_partitions(bootstrap: str, topic: str) -> dict[str, set[int]]:
    seen: dict[str, set[int]] = defaultdict(set)
    for key, partition in _kcat(bootstrap, topic, "%k\t%p"):
        seen[key].add(int(partition))
    return dict(seen)


def test_admin_creates_topic_with_three_partitions(kafka_bootstrap: str, topic: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap, request_timeout_ms=10_000)
    try:
        (described,) = admin.describe_topics([topic])
    finally:
        admin.close()
    assert described["error_code"] == 0
    assert sorted(p["partition_index"] for p in described["partitions"]) == list(range(PARTITIONS))
    assert all(p["leader_id"] == 1 for p in described["partitions"])


def _kafka_python_produce(bootstrap: str, topic: str, records: list[Record]) -> dict[str, set[int]]:
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        request_timeout_ms=10_000,
        max_block_ms=10_000,
    )
    try:
        futures = [(k, producer.send(topic, key=k.encode(), value=v.encode())) for k, v in records]
        producer.flush(timeout=TIMEOUT_S)
        partitions: dict[str, set[int]] = defaultdict(set)
        for key, future in futures:
            partitions[key].add(future.get(timeout=TIMEOUT_S).partition)
        return partitions
    finally:
        producer.close(timeout=10)


def _kafka_python_consume(bootstrap: str, topic: str, group: str, expected: int) -> list[Record]:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        request_timeout_ms=30_500,
    )
    read: list[Record] = []
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while len(read) < expected and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                read.extend((msg.key.decode(), msg.value.decode()) for msg in batch)
        consumer.commit()
    finally:
        consumer.close()
    return read


def test_kafka_python_round_trip_matches_kcat(kafka_bootstrap: str, topic: str) -> None:
    written = _records("kp")
    partitions = _kafka_python_produce(kafka_bootstrap, topic, written)

    assert all(len(parts) == 1 for parts in partitions.values()), (
        f"a key spread over partitions: {partitions}"
    )
    assert set().union(*partitions.values()) <= set(range(PARTITIONS))

    read = _kafka_python_consume(kafka_bootstrap, topic, f"{topic}-group", len(written))
    _assert_same_story(read, written, "kafka-python consumer")
    _assert_same_story(_kcat_records(kafka_bootstrap, topic), written, "kcat")


async def _aiokafka_produce(bootstrap: str, topic: str, records: list[Record]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        request_timeout_ms=10_000,
    )
    await producer.start()
    try:
        sent = [await producer.send(topic, key=k.encode(), value=v.encode()) for k, v in records]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def _aiokafka_consume(bootstrap: str, topic: str, group: str, expected: int) -> list[Record]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    read: list[Record] = []
    try:
        while len(read) < expected:
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                read.extend((msg.key.decode(), msg.value.decode()) for msg in batch)  # type: ignore[union-attr]
        await consumer.commit()
    finally:
        await consumer.stop()
    return read


async def _aiokafka_round_trip(bootstrap: str, topic: str, written: list[Record]) -> list[Record]:
    async with asyncio.timeout(2 * TIMEOUT_S):
        await _aiokafka_produce(bootstrap, topic, written)
        return await _aiokafka_consume(bootstrap, topic, f"{topic}-group", len(written))


def test_aiokafka_round_trip_matches_kcat(kafka_bootstrap: str, topic: str) -> None:
    written = _records("aio")

    read = asyncio.run(_aiokafka_round_trip(kafka_bootstrap, topic, written))

    _assert_same_story(read, written, "aiokafka consumer")
    _assert_same_story(_kcat_records(kafka_bootstrap, topic), written, "kcat")


def test_kafka_python_and_aiokafka_agree_on_partitions(kafka_bootstrap: str, topic: str) -> None:
    """Both default partitioners hash keys with murmur2, like the Java client: a key written by either
    client lands in the same partition, so one customer's story stays in order whoever wrote it."""
    kp_partitions = _kafka_python_produce(kafka_bootstrap, topic, _records("kp"))
    asyncio.run(asyncio.wait_for(_aiokafka_produce(kafka_bootstrap, topic, _records("aio")), TIMEOUT_S))

    written = _records("kp") + _records("aio")
    _assert_same_story(_kcat_records(kafka_bootstrap, topic), written, "kcat")
    assert _kcat_partitions(kafka_bootstrap, topic) == dict(kp_partitions)
