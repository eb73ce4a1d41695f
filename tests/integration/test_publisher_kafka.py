"""The Publisher against the real broker: every acknowledged event is on the topic, keyed and in order,
and an unreachable broker is a PublishError naming the events, never a silent loss."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

import orjson
import pytest

from touchstream.adapters.logs.kafka_log import KafkaEventLog
from touchstream.adapters.logs.topics import create_topics
from touchstream.adapters.sdk.publisher import Publisher, PublishError
from touchstream.adapters.synthetic.generator import GeneratorConfig, generate
from touchstream.events import parse_event
from touchstream.streams.topology import RAW, spec_for, topic_name

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture
def raw_topic(kafka_bootstrap: str, unique_name: str) -> Iterator[str]:
    create_topics(kafka_bootstrap, [spec_for(RAW)], prefix=unique_name + ".")
    yield unique_name + "."
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    admin.delete_topics([topic_name(RAW, unique_name + ".")])
    admin.close()


def test_acknowledged_events_are_on_the_topic_in_per_key_order(kafka_bootstrap: str, raw_topic: str) -> None:
    events = [parse_event(e, now=None) for e in generate(GeneratorConfig(customers=60, accounts=8, days=30))]
    with Publisher.for_kafka(kafka_bootstrap, prefix=raw_topic, batch_size=500) as publisher:
        for event in events[:-1]:
            publisher.send(event)
        receipts = publisher.flush()
        last = publisher.publish(events[-1].model_dump(mode="json"))
    assert len(receipts) == len(events) - 1
    assert str(last.event_id) == str(events[-1].event_id)

    log = KafkaEventLog(kafka_bootstrap, topic_name(RAW, raw_topic))
    try:
        read: dict[bytes | None, list[str]] = defaultdict(list)
        for partition in range(log.partitions):
            for record in log.read(partition, 0, 100_000):
                read[record.key].append(orjson.loads(record.value)["event_id"])
    finally:
        log.close()
    sent: dict[bytes | None, list[str]] = defaultdict(list)
    for event in events:
        sent[event.identifiers.strongest().encode()].append(str(event.event_id))
    assert read == sent


def test_a_missing_topic_is_a_publish_error_naming_every_event(
    kafka_bootstrap: str, unique_name: str
) -> None:
    events = [parse_event(e) for e in generate(GeneratorConfig(customers=5, accounts=1, days=10))][:5]
    publisher = Publisher.for_kafka(kafka_bootstrap, topic=unique_name, timeout_s=5)
    for event in events:
        publisher.send(event)
    with pytest.raises(PublishError, match="touchstream topics create") as caught:
        publisher.close()
    assert [e.event_id for e in caught.value.unacknowledged] == [e.event_id for e in events]
