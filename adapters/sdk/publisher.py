"""The Python publisher (SDK): typed events in, the log out, and an honest answer for every event.

    with Publisher.for_kafka("127.0.0.1:19092") as publisher:
        publisher.send(event)          # buffered; dicts and JSON are validated first
    # leaving the block flushed: every event is acknowledged, or PublishError said which were not

One code path for both backends: the Publisher writes through the log port (`AbstractEventLog`), so the
same code publishes to Kafka (`KafkaEventLog`: kafka-python, acks=all, idempotent producer, linger) and to
the embedded SQLite log. Each buffered batch is one `append`, which returns only when every record is
acknowledged and raises otherwise. The key is the event's strongest identifier, so one person's events
stay on one partition, in order.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any
from uuid import UUID

from ...events import Event, PhoneRegions, parse_event
from ...streams.ports import AbstractEventLog
from ...streams.topology import RAW, topic_name
from ..logs.topics import open_log

EventInput = Event | Mapping[str, Any] | str | bytes


@dataclass(frozen=True)
class EncodedEvent:
    """A valid event as the log takes it: its id, and its key and value on the wire (`encode`). The
    import's reading process validates and encodes; the importing process only appends (`send_encoded`)."""

    event_id: UUID
    key: bytes
    value: bytes

    @classmethod
    def of(cls, event: Event) -> EncodedEvent:
        key, value = encode(event)
        return cls(event.event_id, key, value)


@dataclass(frozen=True)
class Receipt:
    """Where an acknowledged event now lives."""

    event_id: UUID
    partition: int
    offset: int


class PublishError(Exception):
    """Events the log did not acknowledge, in send order (`.unacknowledged`), with the cause.

    An unacknowledged event may still have been written (an acknowledgement lost on the way back), so
    re-sending it is both safe and right: its event_id is the idempotency key consumers de-duplicate on.
    `.acknowledged` holds the receipts of the batches of the same flush that did make it.
    """

    def __init__(
        self,
        unacknowledged: Sequence[Event | EncodedEvent],
        acknowledged: Sequence[Receipt],
        cause: BaseException,
    ) -> None:
        self.unacknowledged = tuple(unacknowledged)
        self.acknowledged = tuple(acknowledged)
        self.cause = cause
        ids = ", ".join(str(event.event_id) for event in self.unacknowledged[:3])
        more = ", …" if len(self.unacknowledged) > 3 else ""
        super().__init__(
            f"{len(self.unacknowledged)} event(s) not acknowledged ({ids}{more}): {cause}; "
            "re-send them (same event_id) when the log is back"
        )


def encode(event: Event) -> tuple[bytes, bytes]:
    """(key, value) on the wire: the strongest identifier, and the event's canonical JSON."""
    return event.identifiers.strongest().encode(), event.model_dump_json(exclude_none=True).encode()


class Publisher:
    """Buffers events and appends them to the log in batches; thread-safe.

    `send` validates and buffers (a full buffer, or one older than `linger_s` when the next event
    arrives, is appended at once); `flush` appends the rest and returns the receipts, or raises
    PublishError naming every event that was not acknowledged. `publish` is send + flush for scripts.
    """

    def __init__(
        self,
        log: AbstractEventLog,
        *,
        batch_size: int = 1_000,
        linger_s: float = 1.0,
        default_region: str | None = None,
        regions: PhoneRegions | None = None,
        close_log: bool = False,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.log = log
        self._batch_size = batch_size
        self._linger_s = linger_s
        self._default_region = default_region
        self._regions = regions
        self._close_log = close_log
        self._buffer: list[Event | EncodedEvent] = []
        self._receipts: list[Receipt] = []  # acknowledged by appends inside send(), until the next flush
        self._oldest = 0.0
        self._lock = threading.Lock()

    @classmethod
    def for_kafka(
        cls,
        bootstrap: str,
        topic: str = RAW,
        *,
        prefix: str = "",
        linger_ms: int = 5,
        timeout_s: float = 15.0,
        batch_size: int = 5_000,
        default_region: str | None = None,
        regions: PhoneRegions | None = None,
    ) -> Publisher:
        """Publish to a Kafka topic (created beforehand by `touchstream topics create`)."""
        from ..logs.kafka_log import KafkaEventLog

        log = KafkaEventLog(bootstrap, topic_name(topic, prefix), linger_ms=linger_ms, timeout_s=timeout_s)
        return cls(log, batch_size=batch_size, default_region=default_region, close_log=True)

    @classmethod
    def for_embedded(
        cls, directory: Path, topic: str = RAW, *, prefix: str = "", batch_size: int = 5_000
    ) -> Publisher:
        """Publish to the embedded log of a declared topic in `directory` (no broker needed)."""
        log = open_log(topic, prefix=prefix, embedded_dir=directory)
        return cls(log, batch_size=batch_size, close_log=True)

    @property
    def default_region(self) -> str | None:
        """The region of phones written without a country code, when `regions` does not say."""
        return self._default_region

    @property
    def regions(self) -> PhoneRegions | None:
        """How phones without a country code are read, per source (None: `default_region`)."""
        return self._regions

    def validate(self, event: EventInput) -> Event:
        """A typed event, or EventParseError listing every problem (nothing is sent then)."""
        if isinstance(event, Event):
            return event
        return parse_event(
            event, default_region=self._default_region, regions=self._regions, now=datetime.now(UTC)
        )

    def send(self, event: EventInput) -> Event:
        """Validate and buffer one event; returns the typed event (its event_id is the receipt's key).

        Raises EventParseError for an invalid event (nothing buffered), and PublishError when a full
        buffer this call appended was not acknowledged."""
        typed = self.validate(event)
        self._buffer_one(typed)
        return typed

    def send_encoded(self, encoded: EncodedEvent) -> None:
        """Buffer one event validated and encoded before (`EncodedEvent.of`), as `send` buffers."""
        self._buffer_one(encoded)

    def _buffer_one(self, item: Event | EncodedEvent) -> None:
        with self._lock:
            if not self._buffer:
                self._oldest = time.monotonic()
            self._buffer.append(item)
            due = len(self._buffer) >= self._batch_size or time.monotonic() - self._oldest >= self._linger_s
            if due:
                self._flush_locked()

    def send_all(self, events: Sequence[EventInput]) -> list[Event]:
        """Validate every event first, so a bad one stops the call before any of them is buffered."""
        typed = [self.validate(event) for event in events]
        return [self.send(event) for event in typed]

    def flush(self) -> list[Receipt]:
        """Append everything buffered; returns a receipt per event acknowledged since the last flush
        (in send order, including full batches `send` appended), or raises PublishError naming every
        event that was not acknowledged."""
        with self._lock:
            self._flush_locked()
            receipts, self._receipts = self._receipts, []
            return receipts

    def publish(self, event: EventInput) -> Receipt:
        """Send one event and wait for its acknowledgement (and any buffered before it)."""
        with self._lock:
            self._buffer.append(self.validate(event))
            self._flush_locked()
            return self._receipts[-1]

    def _flush_locked(self) -> None:
        pending, self._buffer = self._buffer, []
        for start in range(0, len(pending), self._batch_size):
            batch = pending[start : start + self._batch_size]
            try:
                placed = self.log.append([_wire(item) for item in batch])
            except Exception as exc:
                # Stop at the first failure: later batches would only wait out the same outage. The
                # caller gets every event of this flush that has no acknowledgement.
                acknowledged, self._receipts = self._receipts, []
                raise PublishError(pending[start:], acknowledged, exc) from exc
            self._receipts.extend(
                Receipt(event.event_id, partition, offset)
                for event, (partition, offset) in zip(batch, placed, strict=True)
            )

    def close(self) -> None:
        """Flush, then release the log if this publisher opened it (even when the flush raised)."""
        try:
            self.flush()
        finally:
            if self._close_log:
                self.log.close()

    def __enter__(self) -> Publisher:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # Flush even when the block raised: what was sent before the error is valid and was meant to go.
        self.close()


def _wire(item: Event | EncodedEvent) -> tuple[bytes, bytes]:
    return (item.key, item.value) if isinstance(item, EncodedEvent) else encode(item)
