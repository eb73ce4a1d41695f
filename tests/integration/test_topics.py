"""`create_topics` against the real broker: creates the declared set, is idempotent, aligns drift."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource

from touchstream.adapters.logs.topics import create_topics
from touchstream.streams.topology import CUSTOMER360_CHANGES, RAW, SIGNALS_SALES, TOPICS, spec_for, topic_name

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture
def admin(kafka_bootstrap: str) -> Iterator[KafkaAdminClient]:
    client = KafkaAdminClient(bootstrap_servers=kafka_bootstrap, request_timeout_ms=20_000)
    yield client
    client.close()


@pytest.fixture
def prefix(admin: KafkaAdminClient, unique_name: str) -> Iterator[str]:
    prefix = unique_name + "."
    yield prefix
    ours = [name for name in admin.list_topics() if name.startswith(prefix)]
    if ours:
        admin.delete_topics(ours, timeout_ms=20_000)


def _config(admin: KafkaAdminClient, topic: str) -> dict[str, str]:
    keys = {"retention.ms": None, "cleanup.policy": None}
    found = admin.describe_configs([ConfigResource("topic", topic, keys)], config_filter="all")
    return {key: entry["value"] for key, entry in found["topic"][topic].items()}


def _wait_for(admin: KafkaAdminClient, topic: str, key: str, value: str) -> None:
    """Config changes reach the broker through the KRaft metadata log a moment after they are accepted."""
    deadline = time.monotonic() + 10
    while _config(admin, topic)[key] != value:
        assert time.monotonic() < deadline, f"{topic} {key} never became {value}"
        time.sleep(0.1)


def test_create_is_idempotent_and_aligns_drift(
    kafka_bootstrap: str, admin: KafkaAdminClient, prefix: str
) -> None:
    first = create_topics(kafka_bootstrap, prefix=prefix)
    assert [(c.topic, c.action) for c in first] == [(topic_name(s.name, prefix), "created") for s in TOPICS]

    described = {t["name"]: t for t in admin.describe_topics([topic_name(s.name, prefix) for s in TOPICS])}
    for spec in TOPICS:
        assert len(described[topic_name(spec.name, prefix)]["partitions"]) == spec.partitions
    assert _config(admin, topic_name(RAW, prefix)) == {"retention.ms": "-1", "cleanup.policy": "delete"}
    assert _config(admin, topic_name(CUSTOMER360_CHANGES, prefix))["cleanup.policy"] == "compact"
    assert _config(admin, topic_name(SIGNALS_SALES, prefix))["retention.ms"] == str(
        spec_for(SIGNALS_SALES).retention_ms
    )

    second = create_topics(kafka_bootstrap, prefix=prefix)
    assert {c.action for c in second} == {"unchanged"}

    raw = topic_name(RAW, prefix)
    admin.alter_configs([ConfigResource("topic", raw, {"retention.ms": "3600000"})])
    admin.create_partitions({topic_name(SIGNALS_SALES, prefix): 5})
    _wait_for(admin, raw, "retention.ms", "3600000")
    planned = create_topics(kafka_bootstrap, prefix=prefix, dry_run=True)
    # Whatever the dry run changed would be in the metadata log before a topic created after it: once that
    # topic is visible, so would the change be (a wait on that, not on the clock).
    marker = {prefix + "after-dry-run": {"num_partitions": 1, "replication_factor": 1}}
    admin.create_topics(marker, wait_for_metadata=True)
    assert _config(admin, raw)["retention.ms"] == "3600000"  # a dry run changes nothing
    third = create_topics(kafka_bootstrap, prefix=prefix)
    assert [str(c) for c in third] == [str(c) for c in planned]
    changed = {(c.topic, c.action) for c in third if c.action != "unchanged"}
    assert changed == {(raw, "config changed"), (topic_name(SIGNALS_SALES, prefix), "cannot fix")}
    _wait_for(admin, raw, "retention.ms", "-1")
    assert {c.action for c in create_topics(kafka_bootstrap, prefix=prefix)} == {"unchanged", "cannot fix"}


def test_missing_partitions_are_added(kafka_bootstrap: str, admin: KafkaAdminClient, prefix: str) -> None:
    spec = spec_for(RAW)
    name = topic_name(RAW, prefix)
    admin.create_topics({name: {"num_partitions": 2, "replication_factor": 1}}, wait_for_metadata=True)
    changes = create_topics(kafka_bootstrap, [spec], prefix=prefix)
    assert {c.action for c in changes} == {"config changed", "partitions increased"}
    assert "partitions: 2 -> 12" in changes[0].detail
    # The broker's metadata shows new partitions a moment after the request succeeded.
    deadline = time.monotonic() + 20
    while (
        len(admin.describe_topics([name])[0]["partitions"]) != spec.partitions and time.monotonic() < deadline
    ):
        time.sleep(0.2)
    assert len(admin.describe_topics([name])[0]["partitions"]) == spec.partitions
