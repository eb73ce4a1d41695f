"""The relay's position rule, with a fake producer: the position moves only over acknowledged records, and a
re-sent record carries the same event id. (The real thing, killed mid-stream: tests/integration.)"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from touchstream.adapters.master_record import MasterRecord
from touchstream.adapters.relay import MasterDataRelay, masterdata_event_id
from touchstream.events import parse_event


class FakeFuture:
    def __init__(self, error: Exception | None) -> None:
        self.error = error

    def get(self, timeout: float | None = None) -> None:
        if self.error is not None:
            raise self.error


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, dict[str, Any]]] = []
        self.fail_after: int | None = None

    def send(self, topic: str, value: bytes, key: bytes, headers: list[tuple[str, bytes]]) -> FakeFuture:
        failing = self.fail_after is not None and len(self.sent) >= self.fail_after
        self.sent.append((key, orjson.loads(value)))
        return FakeFuture(TimeoutError("no ack") if failing else None)

    def flush(self, timeout: float | None = None) -> None:
        pass


def resolve_some(app: MasterRecord, count: int) -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC).isoformat()
    for n in range(count):
        app.resolve(
            parse_event(
                {
                    "event_id": str(uuid.uuid4()),
                    "type": "EmailOpened",
                    "schema_version": 1,
                    "occurred_at": at,
                    "recorded_at": at,
                    "source": "hubspot",
                    "identifiers": {"email": f"p{n}@acme.com"},
                    "payload": {"campaign_id": "c", "message_id": "m"},
                }
            )
        )


def test_an_unacknowledged_batch_is_sent_again_with_the_same_event_ids() -> None:
    app = MasterRecord.from_url("memory://")
    resolve_some(app, 5)
    producer = FakeProducer()
    producer.fail_after = 3
    relay = MasterDataRelay(app, producer, batch_size=100)
    with pytest.raises(TimeoutError):
        relay.run_once()
    assert relay.position() == 0, "nothing acknowledged in full: the position stays"
    first_ids = [m["event_id"] for _, m in producer.sent]
    producer.fail_after = None
    sent = relay.run_once()
    assert relay.position() == app.recorder.max_notification_id()
    assert [m["event_id"] for _, m in producer.sent[-sent:]] == first_ids
    assert relay.run_once() == 0
    assert relay.lag() == 0


def test_records_are_keyed_by_aggregate_and_identified_by_aggregate_and_version() -> None:
    app = MasterRecord.from_url("memory://")
    resolve_some(app, 1)
    producer = FakeProducer()
    MasterDataRelay(app, producer).run_once()
    for key, message in producer.sent:
        assert key.decode() == message["aggregate_id"]
        assert message["event_id"] == str(
            masterdata_event_id(message["aggregate_id"], message["aggregate_version"])
        )
    assert [m["notification_id"] for _, m in producer.sent] == list(range(1, len(producer.sent) + 1))
