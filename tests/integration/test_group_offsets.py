"""Before a worker joins, every partition its group reads has a committed offset (the log's beginning), so
a rebalance always seeks back to a commit and no fetched-but-unprocessed record is skipped."""

from __future__ import annotations

import pytest
from kafka import KafkaConsumer, TopicPartition

from touchstream.adapters.logs.group_offsets import pin_uncommitted_partitions
from touchstream.adapters.logs.topics import create_topics, open_log
from touchstream.streams.topology import RAW, RESOLVED, spec_for, topic_name

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def committed(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int | None]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        return {p: consumer.committed(TopicPartition(topic, p)) for p in range(partitions)}
    finally:
        consumer.close()


def test_every_partition_gets_its_first_offset_once_and_commits_are_never_moved(
    kafka_bootstrap: str, unique_name: str
) -> None:
    prefix, group = unique_name + "_", unique_name + "_worker"
    create_topics(kafka_bootstrap, prefix=prefix)
    raw, resolved = topic_name(RAW, prefix), topic_name(RESOLVED, prefix)
    with open_log(RAW, bootstrap=kafka_bootstrap, prefix=prefix) as log:
        log.append([(f"k{n}".encode(), b"{}") for n in range(40)])
    partitions = spec_for(RAW).partitions
    assert set(committed(kafka_bootstrap, group, raw, partitions).values()) == {None}
    assert pin_uncommitted_partitions(kafka_bootstrap, group, [raw, resolved]) == partitions * 2
    assert set(committed(kafka_bootstrap, group, raw, partitions).values()) == {0}
    # A commit the worker made later is never moved back by a second start.
    consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=group, enable_auto_commit=False)
    try:
        from kafka.structs import OffsetAndMetadata

        consumer.commit({TopicPartition(raw, 0): OffsetAndMetadata(3, "", -1)})
    finally:
        consumer.close()
    assert pin_uncommitted_partitions(kafka_bootstrap, group, [raw, resolved]) == 0
    assert committed(kafka_bootstrap, group, raw, partitions)[0] == 3


def test_a_broker_that_refuses_connections_is_retried_then_named(unique_name: str) -> None:
    """A worker can start while a broker is down (the cluster suite kills one): a refused connection is
    retried with backoff, and once the timeout is spent the error is raised, not swallowed."""
    from kafka.errors import KafkaError

    with pytest.raises(KafkaError) as refused:
        pin_uncommitted_partitions("127.0.0.1:1", unique_name + "_worker", ["nothing"], timeout_s=2.0)
    assert refused.value.retriable
