"""The validator stage, and replay of what it dead-lettered. Plain functions over the log port: no Faust.

Producers that bypass the gateway write straight to `touchpoints.raw`, so the raw topic can hold records
that are not events. The validator reads raw records, hands the valid ones on, and appends every invalid
one to `touchpoints.dlq` as a JSON envelope: the original bytes (base64), the error, where it came from and
when. It raises when the DLQ does not take them, so the caller never commits past a record that is neither
handed on nor dead-lettered: nothing is dropped silently.

Replay re-validates dead letters (optionally after an operator's field / type renames), publishes the good
ones to the raw topic and records each replayed dead letter in `touchpoints.dlq.replayed`, so a second
replay skips them. A crash between publishing and recording resends the same event_id, which consumers
de-duplicate: at-least-once with a stable id, never a silent loss.
"""

from __future__ import annotations

import base64
import json
import tomllib
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from touchstream.adapters.event_log import AbstractEventLog, LogRecord
from touchstream.adapters.publisher import Publisher
from touchstream.events import Event, EventParseError, parse_event

ENVELOPE_VERSION = 1
DEFAULT_GROUP = "touchstream-validator"
_REPLAY_NAMESPACE = uuid.UUID("8a0c52a4-3d57-4d5e-9a57-2f0d4f1f2c10")


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
        self, dlq: AbstractEventLog, *, source_topic: str, default_region: str | None = None
    ) -> None:
        self.dlq = dlq
        self.source_topic = source_topic
        self.default_region = default_region

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
                valid.append((record, parse_event(record.value, default_region=self.default_region, now=now)))
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


@dataclass(frozen=True)
class ReplayMapping:
    """An operator's fix for a producer's mistakes: renamed fields (dotted paths, old -> new), renamed
    types (old -> new) and constants to set (dotted path -> value), applied in that order."""

    fields: dict[str, str] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)
    constants: dict[str, Any] = field(default_factory=dict)  # the file's `set` table

    @classmethod
    def load(cls, path: Path) -> ReplayMapping:
        text = path.read_text(encoding="utf-8")
        raw = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
        if unknown := set(raw) - {"fields", "types", "set"}:
            raise ValueError(f"unknown mapping keys {sorted(unknown)}; expected fields, types, set")
        return cls(dict(raw.get("fields", {})), dict(raw.get("types", {})), dict(raw.get("set", {})))

    def apply(self, data: dict[str, Any]) -> dict[str, Any]:
        data = json.loads(json.dumps(data))  # a deep copy: the dead letter itself never changes
        for old, new in self.fields.items():
            found, value = _pop(data, old)
            if found:
                _put(data, new, value)
        if isinstance(data.get("type"), str):
            data["type"] = self.types.get(data["type"], data["type"])
        for path, value in self.constants.items():
            _put(data, path, value)
        return data


def _pop(data: dict[str, Any], path: str) -> tuple[bool, Any]:
    *parents, leaf = path.split(".")
    for part in parents:
        data = data.get(part)  # type: ignore[assignment]
        if not isinstance(data, dict):
            return False, None
    return (True, data.pop(leaf)) if leaf in data else (False, None)


def _put(data: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    for part in parents:
        data = data.setdefault(part, {})
    data[leaf] = value


@dataclass
class ReplayReport:
    replayed: list[tuple[DeadLetter, Event]] = field(default_factory=list)
    still_invalid: list[tuple[DeadLetter, EventParseError]] = field(default_factory=list)
    already_replayed: int = 0


def repaired_event(letter: DeadLetter, mapping: ReplayMapping | None, publisher: Publisher) -> Event:
    """The dead letter as a valid event after the mapping, or EventParseError saying what is still wrong."""
    try:
        data = orjson.loads(letter.original)
    except orjson.JSONDecodeError:
        return parse_event(letter.original)  # raises the original reason: bytes no mapping can fix
    if not isinstance(data, dict):
        return parse_event(letter.original)
    if mapping is not None:
        data = mapping.apply(data)
    if not data.get("event_id"):
        # Stable across replays, so a replay repeated after a crash re-sends the same event.
        data["event_id"] = str(uuid.uuid5(_REPLAY_NAMESPACE, letter.id))
    return publisher.validate(data)


def replay(
    dlq: AbstractEventLog,
    replayed_log: AbstractEventLog,
    publisher: Publisher,
    *,
    mapping: ReplayMapping | None = None,
    select: Callable[[DeadLetter], bool] | None = None,
    dry_run: bool = False,
    chunk: int = 1_000,
) -> ReplayReport:
    """Republish the dead letters that now validate, skipping those replayed before; each chunk is
    recorded as replayed only after the raw topic acknowledged it (PublishError otherwise)."""
    done = replayed_ids(replayed_log)
    report = ReplayReport()
    pending: list[tuple[DeadLetter, Event]] = []
    for letter in dead_letters(dlq):
        if letter.id in done:
            report.already_replayed += 1
            continue
        if select is not None and not select(letter):
            continue
        try:
            pending.append((letter, repaired_event(letter, mapping, publisher)))
        except EventParseError as exc:
            report.still_invalid.append((letter, exc))
            continue
        done.add(letter.id)  # the DLQ may hold the same source record twice (a validator retry)
        if len(pending) >= chunk:
            _publish(pending, replayed_log, publisher, dry_run, report)
            pending = []
    _publish(pending, replayed_log, publisher, dry_run, report)
    return report


def _publish(
    pending: list[tuple[DeadLetter, Event]],
    replayed_log: AbstractEventLog,
    publisher: Publisher,
    dry_run: bool,
    report: ReplayReport,
) -> None:
    if not pending:
        return
    if not dry_run:
        for _letter, event in pending:
            publisher.send(event)
        publisher.flush()
        now = datetime.now(UTC).isoformat()
        replayed_log.append(
            [
                (
                    letter.id.encode(),
                    orjson.dumps({"id": letter.id, "event_id": str(event.event_id), "at": now}),
                )
                for letter, event in pending
            ]
        )
    report.replayed.extend(pending)
