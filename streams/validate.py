"""The validator stage. Plain functions over the log port: no Faust. (Replay: adapters/sdk/dlq_replay.py.)

Producers that bypass the gateway write straight to `touchpoints.raw`, so the raw topic can hold records
that are not events. The validator reads raw records, hands the valid ones on, and appends every invalid
one to `touchpoints.dlq` as a JSON envelope: the original bytes (base64), the error, where it came from and
when. It raises when the DLQ does not take them, so the caller never commits past a record that is neither
handed on nor dead-lettered: nothing is dropped silently.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from ..events import Event, EventParseError, PhoneRegions, parse_event
from .ports import AbstractEventLog, LogRecord

ENVELOPE_VERSION = 1
DEFAULT_GROUP = "touchstream-validator"


@dataclass(frozen=True)
class DeadLetter:
    """One record that could not become an event. `id` ("topic/partition/offset") names its source."""

    source_topic: str
    source_partition: int
    source_offset: int
    source_key: bytes | None
    original: bytes
    error: dict[str, Any]
    dead_lettered_at: datetime
    source_timestamp: float | None = None

    @property
    def id(self) -> str:
        return f"{self.source_topic}/{self.source_partition}/{self.source_offset}"

    @property
    def event_type(self) -> str | None:
        value = self.error.get("event_type")
        return value if isinstance(value, str) else None

    @property
    def reason(self) -> str:
        problems = self.error.get("problems") or []
        return "; ".join(f"{p.get('path')}: {p.get('message')}" for p in problems) or str(self.error)

    def to_bytes(self) -> bytes:
        key = None if self.source_key is None else base64.b64encode(self.source_key).decode()
        return orjson.dumps(
            {
                "envelope_version": ENVELOPE_VERSION,
                "id": self.id,
                "source": {
                    "topic": self.source_topic,
                    "partition": self.source_partition,
                    "offset": self.source_offset,
                    "key_b64": key,
                    "timestamp": self.source_timestamp,
                },
                "dead_lettered_at": self.dead_lettered_at.isoformat(),
                "event_type": self.event_type,
                "event_id": self.error.get("event_id"),
                "reason": self.reason,
                "error": self.error,
                "original_b64": base64.b64encode(self.original).decode(),
            }
        )

    @classmethod
    def from_bytes(cls, raw: bytes) -> DeadLetter:
        data = orjson.loads(raw)
        source = data["source"]
        key = source.get("key_b64")
        return cls(
            source_topic=source["topic"],
            source_partition=int(source["partition"]),
            source_offset=int(source["offset"]),
            source_key=None if key is None else base64.b64decode(key),
            original=base64.b64decode(data["original_b64"]),
            error=data["error"],
            dead_lettered_at=datetime.fromisoformat(data["dead_lettered_at"]),
            source_timestamp=source.get("timestamp"),
        )


# --- the validator stage -----------------------------------------------------------------------------


class Validator:
    """Splits raw records into events and dead letters; appends the dead letters to the DLQ log."""

    def __init__(
        self,
        dlq: AbstractEventLog,
        *,
        source_topic: str,
        default_region: str | None = None,
        regions: PhoneRegions | None = None,
    ) -> None:
        """`regions` (from the composition root: `adapters.identity_config.phone_regions(settings)`)
        says how phones without a country code are read per source; `default_region` replaces its
        default."""
        self.dlq = dlq
        self.source_topic = source_topic
        self.default_region = default_region
        self.regions = regions

    def validate(
        self, records: Sequence[LogRecord], now: datetime | None = None
    ) -> list[tuple[LogRecord, Event]]:
        """The valid records as typed events. Raises (LogUnavailable) if the DLQ refused the invalid
        ones: then nothing of this batch may be committed."""
        now = now or datetime.now(UTC)
        valid: list[tuple[LogRecord, Event]] = []
        dead: list[tuple[bytes | None, bytes]] = []
        for record in records:
            try:
                event = parse_event(
                    record.value, default_region=self.default_region, regions=self.regions, now=now
                )
                valid.append((record, event))
            except EventParseError as exc:
                letter = DeadLetter(
                    self.source_topic,
                    record.partition,
                    record.offset,
                    record.key,
                    record.value,
                    exc.to_dict(),
                    now,
                    record.timestamp,
                )
                dead.append((record.key, letter.to_bytes()))  # same key: a person's letters stay in order
        if dead:
            self.dlq.append(dead)
        return valid


@dataclass
class ValidateStats:
    records: int = 0
    valid: int = 0
    dead_lettered: int = 0


def validate_until_caught_up(
    raw: AbstractEventLog,
    validator: Validator,
    *,
    group: str = DEFAULT_GROUP,
    on_valid: Callable[[list[tuple[LogRecord, Event]]], None] | None = None,
    batch_size: int = 5_000,
) -> ValidateStats:
    """Validate every raw partition from the group's position to its end. The position moves only after
    the dead letters are on the DLQ and `on_valid` returned, so a crash repeats a batch, never skips one."""
    stats = ValidateStats()
    for partition in range(raw.partitions):
        position = raw.committed(group, partition)
        while batch := raw.read(partition, position, batch_size):
            valid = validator.validate(batch)
            if on_valid is not None:
                on_valid(valid)
            stats.records += len(batch)
            stats.valid += len(valid)
            stats.dead_lettered += len(batch) - len(valid)
            position = batch[-1].offset + 1
            raw.commit(group, [(partition, position)])
    return stats


# --- reading and replaying the DLQ -------------------------------------------------------------------


def read_all(log: AbstractEventLog, batch_size: int = 5_000) -> Iterator[LogRecord]:
    for partition in range(log.partitions):
        position = 0
        while batch := log.read(partition, position, batch_size):
            yield from batch
            position = batch[-1].offset + 1


def dead_letters(dlq: AbstractEventLog) -> Iterator[DeadLetter]:
    for record in read_all(dlq):
        yield DeadLetter.from_bytes(record.value)


def replayed_ids(replayed: AbstractEventLog) -> set[str]:
    return {record.key.decode() for record in read_all(replayed) if record.key is not None}


# --- reading events again --------------------------------------------------------------------------------


def events_at(
    log: AbstractEventLog, *, regions: PhoneRegions | None = None
) -> Callable[[Sequence[tuple[int, int]]], list[tuple[Event, int, int]]]:
    """How the resolve stage reads an anonymous caller's calls again (`ResolveStage.raw_events`): the
    valid events at the given raw positions of `log` (a log that opens what it reads), parsed as the
    validator parses them. A record no longer there or no longer valid (e.g. its key shredded) is left
    out: it was never handed to anyone but the merged contact."""

    def read(positions: Sequence[tuple[int, int]]) -> list[tuple[Event, int, int]]:
        now = datetime.now(UTC)
        found: list[tuple[Event, int, int]] = []
        for partition, offset in sorted(set(positions)):
            for record in log.read(partition, offset, 1):
                if record.offset != offset:
                    continue
                try:
                    found.append((parse_event(record.value, regions=regions, now=now), partition, offset))
                except EventParseError:
                    continue
        return found

    return read
