"""The Publisher on the embedded log, and against a log that fails: it never swallows a failure."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest
from event_examples import PAYLOADS, wire_event

from touchstream.adapters.logs.sqlite_log import SQLiteEventLog
from touchstream.adapters.sdk.publisher import EncodedEvent, Publisher, PublishError, encode
from touchstream.events import EventParseError, parse_event
from touchstream.streams.partitioning import partition_for
from touchstream.streams.ports import AbstractEventLog, LogRecord, LogUnavailable


def _events(count: int, people: int = 4) -> list[dict[str, Any]]:
    return [
        wire_event(
            "EmailOpened",
            1,
            event_id=str(uuid.UUID(int=i + 1)),
            identifiers={"email": f"person{i % people}@example.com"},
        )
        for i in range(count)
    ]


class FlakyLog(AbstractEventLog):
    """Takes `good_batches` appends, then refuses every later one (a broker going away)."""

    def __init__(self, good_batches: int) -> None:
        self.good_batches = good_batches
        self.appended: list[tuple[bytes | None, bytes]] = []
        self.closed = False

    @property
    def partitions(self) -> int:
        return 3

    def append(self, records: Sequence[tuple[bytes | None, bytes]]) -> list[tuple[int, int]]:
        if self.good_batches <= 0:
            raise LogUnavailable("broker gone")
        self.good_batches -= 1
        start = len(self.appended)
        self.appended.extend(records)
        return [(0, start + i) for i in range(len(records))]

    def read(self, partition: int, from_offset: int, max_records: int) -> list[LogRecord]:
        return []

    def end_offset(self, partition: int) -> int:
        return len(self.appended) if partition == 0 else 0

    def committed(self, group: str, partition: int) -> int:
        return 0

    def commit(self, group: str, positions: Iterable[tuple[int, int]]) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def test_events_are_keyed_by_their_strongest_identifier_and_kept_in_order(tmp_path: Path) -> None:
    log = SQLiteEventLog(tmp_path / "raw.sqlite", partitions=3)
    sent = _events(40)
    with Publisher(log, batch_size=7) as publisher:
        for event in sent:
            publisher.send(event)
    for person in range(4):
        key = f"email:person{person}@example.com".encode()
        records = [r for r in log.read(partition_for(key, 3), 0, 1000) if r.key == key]
        ids = [orjson.loads(r.value)["event_id"] for r in records]
        assert ids == [
            e["event_id"] for e in sent if e["identifiers"]["email"] == f"person{person}@example.com"
        ]
    assert sum(log.end_offset(p) for p in range(3)) == 40
    log.close()


def test_what_goes_on_the_wire_reads_back_as_the_same_event() -> None:
    for type_name in PAYLOADS:
        version = 2 if type_name == "OpportunityCreated" else 1
        event = parse_event(wire_event(type_name, version))
        key, value = encode(event)
        assert parse_event(value) == event, type_name
        assert key == event.identifiers.strongest().encode()


def test_an_invalid_event_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    log = SQLiteEventLog(tmp_path / "raw.sqlite", partitions=3)
    publisher = Publisher(log)
    good, bad = _events(2)
    bad["payload"] = {"campaign_id": "c"}  # message_id missing
    with pytest.raises(EventParseError, match=r"payload\.message_id"):
        publisher.send_all([good, bad])
    with pytest.raises(EventParseError):
        publisher.send(b"{not json")
    assert publisher.flush() == []
    assert sum(log.end_offset(p) for p in range(3)) == 0


def test_publish_returns_the_receipt_once_the_log_has_the_event(tmp_path: Path) -> None:
    log = SQLiteEventLog(tmp_path / "raw.sqlite", partitions=3)
    event = _events(1)[0]
    receipt = Publisher(log).publish(orjson.dumps(event))
    assert str(receipt.event_id) == event["event_id"]
    [record] = log.read(receipt.partition, receipt.offset, 1)
    assert orjson.loads(record.value)["event_id"] == event["event_id"]


def test_a_flush_that_fails_names_every_unacknowledged_event() -> None:
    log = FlakyLog(good_batches=2)
    publisher = Publisher(log, batch_size=10)
    sent = _events(25)
    for event in sent:
        publisher.send(event)  # the first two full batches are acknowledged
    with pytest.raises(PublishError) as caught:
        publisher.flush()
    error = caught.value
    assert [str(e.event_id) for e in error.unacknowledged] == [e["event_id"] for e in sent[20:]]
    assert isinstance(error.cause, LogUnavailable)
    assert len(log.appended) == 20
    assert publisher.flush() == []  # handed to the caller, not silently retried or kept


def test_events_encoded_elsewhere_go_out_as_sent_ones_do() -> None:
    """`send_encoded` (the import's reading process encoded them): the same records, receipts and
    failures as `send` of the same events."""
    events = [parse_event(orjson.dumps(e)) for e in _events(12)]
    sent, encoded = FlakyLog(good_batches=1), FlakyLog(good_batches=1)
    publishers = Publisher(sent, batch_size=100), Publisher(encoded, batch_size=100)
    for event in events[:5]:
        publishers[0].send(event)
        publishers[1].send_encoded(EncodedEvent.of(event))
    assert publishers[0].flush() == publishers[1].flush()
    assert sent.appended == encoded.appended == [encode(e) for e in events[:5]]
    for event in events[5:]:
        publishers[1].send_encoded(EncodedEvent.of(event))
    with pytest.raises(PublishError) as caught:
        publishers[1].flush()
    assert [e.event_id for e in caught.value.unacknowledged] == [e.event_id for e in events[5:]]


def test_a_failing_batch_inside_send_raises_from_send() -> None:
    publisher = Publisher(FlakyLog(good_batches=0), batch_size=3)
    sent = _events(3)
    publisher.send(sent[0])
    publisher.send(sent[1])
    with pytest.raises(PublishError) as caught:
        publisher.send(sent[2])
    assert len(caught.value.unacknowledged) == 3


def test_leaving_the_block_flushes_and_raises_if_the_log_refused() -> None:
    log = FlakyLog(good_batches=0)
    with pytest.raises(PublishError), Publisher(log, close_log=True) as publisher:
        publisher.send(_events(1)[0])
    assert log.closed


def test_the_embedded_convenience_uses_the_declared_partitions(tmp_path: Path) -> None:
    with Publisher.for_embedded(tmp_path, prefix="t_") as publisher:
        publisher.send(_events(1)[0])
        assert publisher.log.partitions == 12
    assert (tmp_path / "t_touchpoints.raw.sqlite").exists()
