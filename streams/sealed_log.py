"""A log whose records are sealed on the way in and opened on the way out (docs/privacy.md).

The composition root wraps the logs that carry events — `touchpoints.raw` (events as sent),
`touchpoints.resolved` (the event inside each resolved record) and `touchpoints.dlq` (the raw record inside
each dead letter) — so every producer writes sealed bytes and
every reader of this process reads plain ones; the stored bytes, on Kafka or in the embedded files, hold no
personal value in the clear. A raw record's key, the email or phone that partitions a person's events,
becomes their subject (a keyed hash): one person's events still share a partition, and the key names no one.

Records that were never sealed (an older log, a producer without the key store) pass through unchanged.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

import orjson

from .ports import AbstractEventLog, LogRecord

#: A record whose value is still a JSON object (key, object): what a step built, not yet serialised.
JsonRecord = tuple[bytes | None, dict[str, Any]]
#: A message for a producer, still a JSON object: (key, object, headers).
ObjectRecord = tuple[bytes, dict[str, Any], list[tuple[str, bytes]]]


class Codec(Protocol):
    def seal(self, records: Sequence[tuple[bytes | None, bytes]]) -> list[tuple[bytes | None, bytes]]: ...

    def open(self, values: Sequence[bytes]) -> list[bytes]: ...


class EventSealer(Protocol):
    """`streams.sealing.Sealer`'s part used here."""

    def seal_dicts(self, raws: Sequence[dict[str, Any]]) -> list[dict[str, Any]]: ...

    def open_dicts(self, records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]: ...


def _loads(value: bytes) -> dict[str, Any] | None:
    try:
        found = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    return found if isinstance(found, dict) else None


def _seal_parsed(
    records: Sequence[tuple[bytes | None, bytes]],
    wanted: Callable[[dict[str, Any]], bool],
    seal_objects: Callable[[Sequence[JsonRecord]], list[tuple[bytes | None, bytes]]],
) -> list[tuple[bytes | None, bytes]]:
    """`records` with each JSON object that is `wanted` sealed by `seal_objects`; the rest as they were."""
    parsed = [_loads(value) for _, value in records]
    todo = [(i, p) for i, p in enumerate(parsed) if p is not None and wanted(p)]
    out = list(records)
    for (i, _), record in zip(todo, seal_objects([(records[i][0], p) for i, p in todo]), strict=True):
        out[i] = record
    return out


class RawCodec:
    """`touchpoints.raw`: the event is the record. Not JSON, or not an object: left as it is (the
    validator dead-letters it with the reason)."""

    def __init__(self, sealer: EventSealer) -> None:
        self.sealer = sealer

    def seal(self, records: Sequence[tuple[bytes | None, bytes]]) -> list[tuple[bytes | None, bytes]]:
        parsed = [_loads(value) for _, value in records]
        todo = [i for i, p in enumerate(parsed) if p is not None and "sealed" not in p]
        sealed = self.sealer.seal_dicts([parsed[i] for i in todo])  # type: ignore[misc]
        out = list(records)
        for i, record in zip(todo, sealed, strict=True):
            seal = record.get("sealed")
            key = seal["subject"].encode() if isinstance(seal, dict) else records[i][0]
            out[i] = (key, orjson.dumps(record))
        return out

    def open(self, values: Sequence[bytes]) -> list[bytes]:
        out = list(values)
        todo = {i: p for i, v in enumerate(values) if b'"sealed"' in v and (p := _loads(v)) is not None}
        for i, opened in zip(todo, self.sealer.open_dicts(list(todo.values())), strict=True):
            out[i] = orjson.dumps(opened)
        return out


class ResolvedCodec:
    """`touchpoints.resolved`: the event sits under `event`; contact and account ids stay clear (they are
    the record's key and the projection's grouping, and name no one by themselves)."""

    def __init__(self, sealer: EventSealer) -> None:
        self.sealer = sealer

    def seal(self, records: Sequence[tuple[bytes | None, bytes]]) -> list[tuple[bytes | None, bytes]]:
        return _seal_parsed(records, lambda p: isinstance(p.get("event"), dict), self.seal_objects)

    def seal_objects(self, records: Sequence[JsonRecord]) -> list[tuple[bytes | None, bytes]]:
        """`seal` for records still held as JSON objects (each with its `event`): no parse of what the
        caller has just built."""
        events = [record["event"] for _, record in records]
        fresh = [j for j, e in enumerate(events) if "sealed" not in e]
        for j, event in zip(fresh, self.sealer.seal_dicts([events[j] for j in fresh]), strict=True):
            events[j] = event
        return [
            (key, orjson.dumps({**record, "event": event}))
            for (key, record), event in zip(records, events, strict=True)
        ]

    def open(self, values: Sequence[bytes]) -> list[bytes]:
        out = list(values)
        todo = {
            i: p
            for i, v in enumerate(values)
            if b'"sealed"' in v and (p := _loads(v)) is not None and isinstance(p.get("event"), dict)
        }
        opened = self.sealer.open_dicts([p["event"] for p in todo.values()])
        for (i, record), event in zip(todo.items(), opened, strict=True):
            out[i] = orjson.dumps({**record, "event": event})
        return out


class DeadLetterCodec:
    """`touchpoints.dlq`: each letter carries the raw record it could not read (`original_b64`). A reader
    that opened the raw record before validating would dead-letter it in the clear, so the original is
    sealed again here (as the raw log seals it) and opened for this process's readers (replay)."""

    def __init__(self, raw: RawCodec) -> None:
        self.raw = raw

    def seal(self, records: Sequence[tuple[bytes | None, bytes]]) -> list[tuple[bytes | None, bytes]]:
        return [(key, self._map(value, self._seal_one)) for key, value in records]

    def open(self, values: Sequence[bytes]) -> list[bytes]:
        return [self._map(value, lambda original: self.raw.open([original])[0]) for value in values]

    def _seal_one(self, original: bytes) -> bytes:
        return self.raw.seal([(None, original)])[0][1]

    @staticmethod
    def _map(value: bytes, change: Any) -> bytes:
        letter = _loads(value)
        if letter is None or not isinstance(letter.get("original_b64"), str):
            return value
        original = base64.b64decode(letter["original_b64"])
        changed = change(original)
        if changed is original or changed == original:
            return value
        return orjson.dumps({**letter, "original_b64": base64.b64encode(changed).decode()})


def aggregate_envelope(aggregate_id: str, event_id: str, data: Any) -> dict[str, Any]:
    """A master record event's `data` dressed as an event of its aggregate, so the sealer seals it under
    the aggregate's own subject (`ext:aggregate:<id>`) and an erasure can name that subject."""
    return {
        "event_id": event_id,
        "type": "masterdata",
        "identifiers": {"external_ids": {"aggregate": aggregate_id}},
        "payload": {"data": data},
    }


class MasterdataCodec:
    """`masterdata.events`: the relay's messages about the master record's aggregates. Ids, types and
    versions stay clear (consumers route by them); `data` (identifier keys, attribute values) is sealed
    under the aggregate's subject, and opens as `{}` once an erasure destroyed that key."""

    def __init__(self, sealer: EventSealer) -> None:
        self.sealer = sealer

    def seal(self, records: Sequence[tuple[bytes | None, bytes]]) -> list[tuple[bytes | None, bytes]]:
        return _seal_parsed(records, lambda m: "data" in m and "sealed_data" not in m, self.seal_objects)

    def seal_objects(self, records: Sequence[JsonRecord]) -> list[tuple[bytes | None, bytes]]:
        """`seal` for messages still held as JSON objects (each with its `data`): no parse of what the
        relay has just built."""
        envelopes = [
            aggregate_envelope(str(message["aggregate_id"]), str(message["event_id"]), message["data"])
            for _, message in records
        ]
        out: list[tuple[bytes | None, bytes]] = []
        for (key, message), sealed in zip(records, self.sealer.seal_dicts(envelopes), strict=True):
            clear = {k: v for k, v in message.items() if k != "data"}
            out.append((key, orjson.dumps({**clear, "sealed_data": sealed})))
        return out

    def open(self, values: Sequence[bytes]) -> list[bytes]:
        out = list(values)
        todo = {i: m for i, v in enumerate(values) if b'"sealed_data"' in v and (m := _loads(v)) is not None}
        opened = self.sealer.open_dicts([m["sealed_data"] for m in todo.values()])
        for (i, message), envelope in zip(todo.items(), opened, strict=True):
            payload = envelope.get("payload") or {}
            data = payload.get("data") if isinstance(payload, dict) else None
            rest = {k: v for k, v in message.items() if k != "sealed_data"}
            out[i] = orjson.dumps({**rest, "data": data if isinstance(data, dict) else {}})
        return out


def opened_records(codec: Codec, records: Sequence[LogRecord]) -> list[LogRecord]:
    """The records with their values opened (same partition, offset, key and time)."""
    values = codec.open([r.value for r in records])
    return [
        r if v is r.value else LogRecord(r.partition, r.offset, r.key, v, r.timestamp)
        for r, v in zip(records, values, strict=True)
    ]


class SealedLog(AbstractEventLog):
    """`inner`, sealing what is appended and opening what is read; positions are the inner log's."""

    def __init__(self, inner: AbstractEventLog, codec: Codec) -> None:
        self.inner = inner
        self.codec = codec

    @property
    def partitions(self) -> int:
        return self.inner.partitions

    def append(self, records: Sequence[tuple[bytes | None, bytes]]) -> list[tuple[int, int]]:
        return self.inner.append(self.codec.seal(records))

    def read(self, partition: int, from_offset: int, max_records: int) -> list[LogRecord]:
        return opened_records(self.codec, self.inner.read(partition, from_offset, max_records))

    def open(self, records: Sequence[LogRecord]) -> list[LogRecord]:
        """Records read from `inner` as stored, opened: for a reader that needs only some of them."""
        return opened_records(self.codec, records)

    def end_offset(self, partition: int) -> int:
        return self.inner.end_offset(partition)

    def committed(self, group: str, partition: int) -> int:
        return self.inner.committed(group, partition)

    def commit(self, group: str, positions: Iterable[tuple[int, int]]) -> None:
        self.inner.commit(group, positions)

    def lag(self, group: str) -> int:
        return self.inner.lag(group)

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str) -> Any:
        # Backend extras (a Kafka log's bootstrap, a file log's path) stay reachable for tools and tests.
        return getattr(self.inner, name)


def stored_bytes(codec: Codec | None, records: Sequence[JsonRecord]) -> list[tuple[bytes | None, bytes]]:
    """Records built as JSON objects, as they are stored: sealed from the objects themselves where the
    codec can (`seal_objects`: serialised once, never parsed back), else serialised and sealed."""
    seal_objects = getattr(codec, "seal_objects", None)
    if seal_objects is not None:
        return list(seal_objects(records))
    dumped: list[tuple[bytes | None, bytes]] = [(key, orjson.dumps(value)) for key, value in records]
    return codec.seal(dumped) if codec is not None else dumped


def append_objects(log: AbstractEventLog, records: Sequence[JsonRecord]) -> list[tuple[int, int]]:
    """`log.append` for records built as JSON objects (`stored_bytes`)."""
    if isinstance(log, SealedLog):
        return log.inner.append(stored_bytes(log.codec, records))
    return log.append(stored_bytes(None, records))


ReadFn = Callable[[int, int, int], list[LogRecord]]
OpenFn = Callable[[Sequence[LogRecord]], list[LogRecord]]


def stored_reader(log: AbstractEventLog) -> tuple[ReadFn, OpenFn]:
    """How to read `log` as stored, and how to open the records a reader turns out to need. Opening costs
    a JSON parse and an AES-GCM open per record: the project step already holds most of its batch typed
    (handed over by the resolve step of the same process), and the merge projection wants only merges,
    whose types are in the clear."""
    stored, open_records = stored_log(log)
    return stored.read, open_records


def stored_log(log: AbstractEventLog) -> tuple[AbstractEventLog, OpenFn]:
    """`stored_reader`'s log itself (for `AbstractEventLog.read_containing`: a sealed record's type is in
    the clear)."""
    if isinstance(log, SealedLog):
        return log.inner, log.open
    return log, list


class Producer(Protocol):
    def send(self, topic: str, value: bytes, key: bytes, headers: list[tuple[str, bytes]]) -> Any: ...

    def flush(self, timeout: float | None = None) -> None: ...


class SealingProducer:
    """A producer (the relay's) whose records are sealed before they leave this process."""

    def __init__(self, inner: Producer, codec: Codec) -> None:
        self.inner = inner
        self.codec = codec

    def send(self, topic: str, value: bytes, key: bytes, headers: list[tuple[str, bytes]]) -> Any:
        ((sealed_key, sealed_value),) = self.codec.seal([(key, value)])
        return self.inner.send(topic, value=sealed_value, key=sealed_key or key, headers=headers)

    def send_objects(self, topic: str, records: Sequence[ObjectRecord]) -> list[Any]:
        """Records still held as JSON objects, sealed together (one key-store call for the batch's
        subjects) and sent in order; their futures."""
        stored = stored_bytes(self.codec, [(key, value) for key, value, _ in records])
        return [
            self.inner.send(topic, value=value, key=sealed_key or key, headers=headers)
            for (key, _, headers), (sealed_key, value) in zip(records, stored, strict=True)
        ]

    def flush(self, timeout: float | None = None) -> None:
        self.inner.flush(timeout=timeout)

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if close is not None:
            close()
