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

A worker may start while a broker is down or while a fresh cluster is still creating its offsets topic
(found by the cluster suite in CI: `ECONNREFUSED` from the first bootstrap broker, `CoordinatorNotAvailable`
for a new group). Those errors are retried with a fresh client until `timeout_s`; only then is the start
refused, with the error named.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

log = logging.getLogger("touchstream.worker")


def pin_uncommitted_partitions(
    bootstrap: str, group: str, topics: Sequence[str], timeout_s: float = 180.0
) -> int:
    """Commit the beginning offset for every partition of `topics` that `group` never committed; returns
    how many were committed. A group with members refuses it: that is logged, not raised. A broker or
    coordinator that is not there yet is waited for (retried with backoff) up to `timeout_s`."""
    from kafka.errors import KafkaError

    deadline = time.monotonic() + timeout_s
    pause = 0.5
    while True:
        try:
            return _pin_once(bootstrap, group, topics, max(1.0, min(30.0, deadline - time.monotonic())))
        except KafkaError as exc:  # connection refused, no coordinator yet, coordinator moved: retriable
            if not exc.retriable or time.monotonic() + pause > deadline:
                raise
            log.warning("pinning offsets of %s waits for Kafka (%s); retry in %.1f s", group, exc, pause)
            time.sleep(pause)
            pause = min(pause * 2, 5.0)


def _pin_once(bootstrap: str, group: str, topics: Sequence[str], timeout_s: float) -> int:
    from kafka import KafkaConsumer, TopicPartition
    from kafka.errors import KafkaError
    from kafka.structs import OffsetAndMetadata

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap.split(","),
        group_id=group,
        enable_auto_commit=False,
        request_timeout_ms=int(timeout_s * 1000),
        bootstrap_timeout_ms=int(timeout_s * 1000),
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
        except KafkaError as exc:
            if exc.retriable:
                raise  # the coordinator moved: try again with a fresh client
            # the group already has members (not retriable): they will commit as they go
            log.warning("could not pin %d uncommitted partitions of %s: %s", len(missing), group, exc)
            return 0
        return len(missing)
    finally:
        consumer.close()
