"""Give every partition the worker's consumer group reads a committed offset before the worker joins.

Why (found by the cluster suite, 2 runs in 6): faust-streaming 0.15.3, on a rebalance, seeks back to the
committed offset only for partitions that have one. A partition that was assigned, fetched from and then
revoked before its first commit is picked up again from where the old fetch had got to: the records
fetched but not yet processed are skipped, and the next commit moves past them. With an offset committed
for every partition from the start (the log's beginning, as the consumer would start there anyway), the
rebalance always seeks back to a commit, and processing is at-least-once again (every effect is idempotent).

The offsets are committed with kafka-python as a consumer that does not join the group, which Kafka accepts
only while the group has no members: the first worker of a deployment does it; later ones find the
offsets there. A partition added later, while workers run, is reported and left to the next start.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

log = logging.getLogger("touchstream.worker")


def pin_uncommitted_partitions(
    bootstrap: str, group: str, topics: Sequence[str], timeout_s: float = 30.0
) -> int:
    """Commit the beginning offset for every partition of `topics` that `group` never committed; returns
    how many were committed. A group with members refuses it: that is logged, not raised."""
    from kafka import KafkaConsumer, TopicPartition
    from kafka.errors import KafkaError
    from kafka.structs import OffsetAndMetadata

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        request_timeout_ms=int(timeout_s * 1000),
    )
    try:
        partitions = [
            TopicPartition(topic, partition)
            for topic in topics
            for partition in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        missing = [tp for tp in partitions if consumer.committed(tp) is None]
        if not missing:
            return 0
        beginnings = consumer.beginning_offsets(missing)
        try:
            consumer.commit({tp: OffsetAndMetadata(beginnings[tp], "", -1) for tp in missing})
        except KafkaError as exc:  # the group already has members: they will commit as they go
            log.warning("could not pin %d uncommitted partitions of %s: %s", len(missing), group, exc)
            return 0
        return len(missing)
    finally:
        consumer.close()
