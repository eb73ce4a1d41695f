"""Replay of dead letters: re-validate (optionally after an operator's field / type renames), publish the
good ones to the raw topic and record each replayed dead letter in `touchpoints.dlq.replayed`, so a second
replay skips them. A crash between publishing and recording resends the same event_id, which consumers
de-duplicate: at-least-once with a stable id, never a silent loss.
"""

from __future__ import annotations

import json
import tomllib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from ...events import Event, EventParseError, parse_event
from ...streams.ports import AbstractEventLog
from ...streams.validate import DeadLetter, dead_letters, replayed_ids
from .publisher import Publisher

# Fixed forever: a replayed dead letter without an event id gets one derived from its source.
_REPLAY_NAMESPACE = uuid.UUID("8a0c52a4-3d57-4d5e-9a57-2f0d4f1f2c10")


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
