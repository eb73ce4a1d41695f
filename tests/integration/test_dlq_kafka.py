"""The validator stage and replay on the real broker: raw -> dlq -> fixed -> raw, once."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest
from event_examples import wire_event
from kafka import KafkaAdminClient

from touchstream.adapters.logs.kafka_log import KafkaEventLog
from touchstream.adapters.logs.topics import create_topics
from touchstream.adapters.sdk.dlq_replay import ReplayMapping, replay
from touchstream.adapters.sdk.publisher import Publisher
from touchstream.streams.topology import DLQ, DLQ_REPLAYED, RAW, spec_for, topic_name
from touchstream.streams.validate import (
    Validator,
    dead_letters,
    validate_until_caught_up,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

NAMES = (RAW, DLQ, DLQ_REPLAYED)


@pytest.fixture
def logs(kafka_bootstrap: str, unique_name: str) -> Iterator[dict[str, KafkaEventLog]]:
    prefix = unique_name + "."
    create_topics(kafka_bootstrap, [spec_for(name) for name in NAMES], prefix=prefix)
    logs = {name: KafkaEventLog(kafka_bootstrap, topic_name(name, prefix), timeout_s=10) for name in NAMES}
    yield logs
    for log in logs.values():
        log.close()
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    admin.delete_topics([topic_name(name, prefix) for name in NAMES])
    admin.close()


def test_dead_letters_round_trip_through_kafka(logs: dict[str, KafkaEventLog]) -> None:
    raw, dlq, replayed = logs[RAW], logs[DLQ], logs[DLQ_REPLAYED]
    valid = [wire_event("EmailOpened", 1, event_id=f"00000000-0000-4000-8000-{n:012d}") for n in range(20)]
    typo = [
        {**event, "type": "Open", "event_id": f"10000000-0000-4000-8000-{n:012d}"}
        for n, event in enumerate(valid)
    ]
    raw.append(
        [(b"k", orjson.dumps(e)) for e in valid] + [(b"k", orjson.dumps(e)) for e in typo] + [(None, b"{")]
    )

    stats = validate_until_caught_up(raw, Validator(dlq, source_topic=raw.topic))
    assert (stats.valid, stats.dead_lettered) == (20, 21)
    assert raw.lag("touchstream-validator") == 0
    letters = list(dead_letters(dlq))
    assert sorted(
        orjson.loads(letter.original)["event_id"] for letter in letters if letter.original != b"{"
    ) == sorted(e["event_id"] for e in typo)

    publisher = Publisher(raw)
    first = replay(dlq, replayed, publisher, mapping=ReplayMapping(types={"Open": "EmailOpened"}))
    assert (len(first.replayed), len(first.still_invalid)) == (20, 1)
    second = replay(dlq, replayed, publisher, mapping=ReplayMapping(types={"Open": "EmailOpened"}))
    assert (len(second.replayed), second.already_replayed) == (0, 20)
    assert sum(raw.end_offset(p) for p in range(raw.partitions)) == 41 + 20

    after = validate_until_caught_up(raw, Validator(dlq, source_topic=raw.topic))
    assert (after.records, after.valid) == (20, 20)
