"""The relay's position rule, with a fake producer: the position moves only over acknowledged records, and a
re-sent record carries the same event id. (The real thing, killed mid-stream: tests/integration.)"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from touchstream.adapters.master_record.application import MasterRecord
from touchstream.adapters.master_record.relay import MasterDataRelay, masterdata_event_id
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


def test_run_backs_off_and_retries_a_failing_batch_instead_of_dying(caplog: pytest.LogCaptureFixture) -> None:
    app = MasterRecord.from_url("memory://")
    resolve_some(app, 4)
    producer = FakeProducer()
    producer.fail_after = 0  # Kafka (or PostgreSQL) down: every batch fails
    relay = MasterDataRelay(app, producer, batch_size=100)
    stop = threading.Event()
    thread = threading.Thread(target=relay.run, args=(stop,), kwargs={"first_delay": 0.01, "max_delay": 0.04})
    with caplog.at_level("WARNING", logger="touchstream.relay"):
        thread.start()
        deadline = time.monotonic() + 10
        while relay.retries < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        producer.fail_after = None  # back
        while relay.lag() and time.monotonic() < deadline:
            time.sleep(0.01)
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    assert relay.retries >= 4
    assert relay.lag() == 0, "the relay caught up once the dependency was back"
    assert "relay batch failed (attempt 1), retrying in 0.0s: TimeoutError: no ack" in caplog.text
    delays = [record.args[1] for record in caplog.records if isinstance(record.args, tuple)]
    assert delays[:4] == [0.01, 0.02, 0.04, 0.04]  # doubling, capped at max_delay
