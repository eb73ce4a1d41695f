"""The gateway's core, free of HTTP: drafts in, one honest outcome per event out.

1. `prepare` (pure, any thread): parse each draft, check the key's scope, spot repeats inside the request,
   and turn the rest into candidates - canonical bytes (the parsed event re-serialized, so phones are E.164
   and readers in any region read the same thing), a partition key, a body hash.
2. `Ingestor.publish` (on one dedicated log thread): readiness first, so a log that is down gets nothing;
   then the de-duplication window; then one `append` of the fresh candidates; then, only after the log
   acknowledged, remember their ids. A failed append remembers nothing, so the retry is not a "duplicate".

All log and dedup calls happen on that one thread: the log's clients (SQLite connections, kafka-python's
consumer) are not thread-safe, and serializing check-append-remember means two concurrent requests carrying
the same event id cannot both publish it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import reprlib
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

from ...events import Event, EventParseError, Limits, PhoneRegions, Problem, parse_event
from ...streams.ports import AbstractDedupStore, AbstractEventLog, LogUnavailable
from .auth import ApiKey

log = logging.getLogger("touchstream.gateway")

Status = Literal["accepted", "duplicate", "rejected"]
# Why an event was rejected; also the `reason` label of the rejection metric.
Reason = Literal["invalid", "too_large", "forbidden", "conflict", "unmapped", "unavailable"]
Readiness = Callable[[AbstractEventLog], str | None]


@dataclass
class Outcome:
    index: int
    status: Status
    event_id: str | None = None
    type: str | None = None
    reason: Reason | None = None
    message: str | None = None
    problems: tuple[Problem, ...] = ()
    partition: int | None = None
    offset: int | None = None


@dataclass(frozen=True)
class Rejected:
    """A draft already known to be unacceptable (e.g. a Segment call with no mapping)."""

    reason: Reason
    message: str
    problems: tuple[Problem, ...] = ()
    event_id: str | None = None
    type: str | None = None


Draft = Mapping[str, Any] | Rejected


@dataclass(frozen=True)
class Candidate:
    index: int
    event_id: str
    type: str
    key: bytes
    value: bytes
    body_hash: str
    source: str = ""

    @property
    def dedup_id(self) -> str:
        """De-duplication is per source: another source's id is never looked up, so reusing it answers
        like any new event (an id-existence oracle across sources would leak which ids exist)."""
        return f"{self.source} {self.event_id}"


@dataclass
class Prepared:
    outcomes: dict[int, Outcome] = field(default_factory=dict)
    candidates: list[Candidate] = field(default_factory=list)


class Unavailable(Exception):
    """The log is down or did not acknowledge: answer 503. `outcomes` lists, per event, what is known -
    for a partial failure, the events the log did acknowledge are `accepted` there."""

    def __init__(self, message: str, outcomes: Sequence[Outcome] = ()) -> None:
        super().__init__(message)
        self.outcomes = list(outcomes)


def _rejected(index: int, reason: Reason, message: str, **extra: Any) -> Outcome:
    return Outcome(index, "rejected", reason=reason, message=message, **extra)


def _prepare_one(
    index: int, draft: Draft, key: ApiKey, limits: Limits, region: str | None, regions: PhoneRegions | None
) -> Outcome | Candidate:
    if isinstance(draft, Rejected):
        return _rejected(
            index,
            draft.reason,
            draft.message,
            problems=draft.problems,
            event_id=draft.event_id,
            type=draft.type,
        )
    if not isinstance(draft, Mapping):
        # reprlib: a bounded repr, safe for a list nested a thousand deep (repr() raises RecursionError).
        problem = Problem("$", "an event is a JSON object", reprlib.repr(draft)[:80])
        return _rejected(index, "invalid", str(problem), problems=(problem,))
    event_id = draft.get("event_id") if isinstance(draft.get("event_id"), str) else None
    type_name = draft.get("type") if isinstance(draft.get("type"), str) else None
    event = _parse_within_limits(index, draft, event_id, type_name, limits, region, regions)
    if isinstance(event, Outcome):
        return event
    event_id, type_name = str(event.event_id), event.type
    refusal = key.allows(event.source, event.department.value, event.type)
    if refusal is not None:
        return _rejected(index, "forbidden", refusal, event_id=event_id, type=type_name)
    value = event.model_dump_json().encode()
    return Candidate(
        index=index,
        event_id=event_id,
        type=type_name,
        key=event.identifiers.strongest().encode(),
        value=value,
        body_hash=hashlib.sha256(value).hexdigest(),
        source=key.source,
    )


def _parse_within_limits(
    index: int,
    draft: Mapping[str, Any],
    event_id: str | None,
    type_name: str | None,
    limits: Limits,
    region: str | None,
    regions: PhoneRegions | None,
) -> Event | Outcome:
    """The draft as an event, or its rejection: too deep or too large to read, or not a valid event."""
    try:
        size = len(orjson.dumps(draft))
    except orjson.JSONEncodeError as exc:  # nested deeper than orjson writes (254): never a real event
        problem = Problem("$", f"nested too deeply to be an event ({exc}); flatten it")
        return _rejected(
            index, "invalid", str(problem), problems=(problem,), event_id=event_id, type=type_name
        )
    if size > limits.max_event_bytes:
        message = f"event is {size} bytes; the limit is {limits.max_event_bytes}: shrink the payload"
        return _rejected(index, "too_large", message, event_id=event_id, type=type_name)
    try:
        event = parse_event(
            draft, limits=limits, default_region=region, regions=regions, now=datetime.now(UTC)
        )
    except EventParseError as exc:
        return _rejected(
            index,
            "invalid",
            str(exc),
            problems=exc.problems,
            event_id=event_id,
            type=exc.event_type or type_name,
        )
    except Exception as exc:  # a parser bug must cost one event its answer, never the batch a 500
        log.exception("the event parser raised %s instead of EventParseError", type(exc).__name__)
        problem = Problem("$", f"could not be read ({type(exc).__name__}: {exc})")
        return _rejected(
            index, "invalid", str(problem), problems=(problem,), event_id=event_id, type=type_name
        )
    return event


def prepare(
    drafts: Sequence[Draft],
    key: ApiKey,
    limits: Limits,
    region: str | None,
    regions: PhoneRegions | None = None,
) -> Prepared:
    prepared = Prepared()
    first: dict[str, Candidate] = {}
    for index, draft in enumerate(drafts):
        item = _prepare_one(index, draft, key, limits, region, regions)
        if isinstance(item, Outcome):
            prepared.outcomes[index] = item
        elif item.event_id in first:
            # The same id twice in one request: publish it once; a different body is a producer bug.
            earlier = first[item.event_id]
            if earlier.body_hash == item.body_hash:
                prepared.outcomes[index] = Outcome(
                    index,
                    "duplicate",
                    item.event_id,
                    item.type,
                    message=f"same event as index {earlier.index}",
                )
            else:
                prepared.outcomes[index] = _rejected(
                    index,
                    "conflict",
                    f"event_id {item.event_id} is used at index {earlier.index} with a different body",
                    event_id=item.event_id,
                    type=item.type,
                )
        else:
            first[item.event_id] = item
            prepared.candidates.append(item)
    return prepared


def log_readiness(log: AbstractEventLog) -> str | None:
    """The default probe: the log answers for its partition count. Returns None when ready, else why not."""
    try:
        _ = log.partitions
    except LogUnavailable as exc:
        return str(exc)
    return None


class Ingestor:
    """Owns the log (opened lazily on its thread, so nothing connects at import or construction)."""

    def __init__(
        self,
        open_log: Callable[[], AbstractEventLog],
        dedup: AbstractDedupStore,
        readiness: Readiness = log_readiness,
        on_append: Callable[[float], None] | None = None,
    ) -> None:
        self._open_log = open_log
        self._dedup = dedup
        self._readiness = readiness
        self._on_append = on_append
        self._log: AbstractEventLog | None = None
        self._closed = False
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="touchstream-log")

    def _the_log(self) -> AbstractEventLog:
        if self._log is None:
            self._log = self._open_log()
        return self._log

    async def _on_log_thread(self, fn: Callable[[], Any]) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn)

    async def ready(self) -> str | None:
        result: str | None = await self._on_log_thread(self._ready_sync)
        return result

    def _ready_sync(self) -> str | None:
        try:
            return self._readiness(self._the_log())
        except LogUnavailable as exc:
            return str(exc)

    async def publish(self, candidates: Sequence[Candidate]) -> list[Outcome]:
        """Outcomes for the candidates, or Unavailable (503) - then nothing of theirs was acknowledged,
        unless the exception's outcomes say which were."""
        if not candidates:
            return []
        result: list[Outcome] = await self._on_log_thread(lambda: self._publish_sync(candidates))
        return result

    def _publish_sync(self, candidates: Sequence[Candidate]) -> list[Outcome]:
        reason = self._ready_sync()
        if reason is not None:
            raise Unavailable(f"the event log is not reachable: {reason}")
        known = self._dedup.seen([c.dedup_id for c in candidates])
        outcomes: list[Outcome] = []
        fresh: list[Candidate] = []
        for c in candidates:
            if c.dedup_id not in known:
                fresh.append(c)
            elif known[c.dedup_id] == c.body_hash:
                outcomes.append(Outcome(c.index, "duplicate", c.event_id, c.type, message="published before"))
            else:
                message = f"event_id {c.event_id} was published before with a different body"
                outcomes.append(_rejected(c.index, "conflict", message, event_id=c.event_id, type=c.type))
        if fresh:
            outcomes.extend(self._append(fresh))
        return outcomes

    def _append(self, fresh: Sequence[Candidate]) -> list[Outcome]:
        started = time.perf_counter()
        try:
            placed = self._the_log().append([(c.key, c.value) for c in fresh])
        except LogUnavailable as exc:
            raise Unavailable(str(exc), self._partial(fresh, exc)) from exc
        if self._on_append is not None:
            self._on_append(time.perf_counter() - started)
        self._remember(fresh)
        return [
            Outcome(c.index, "accepted", c.event_id, c.type, partition=p, offset=o)
            for c, (p, o) in zip(fresh, placed, strict=True)
        ]

    def _partial(self, fresh: Sequence[Candidate], exc: LogUnavailable) -> list[Outcome]:
        """What a failed append leaves. When the log's error carries its per-record report (`placed`: one
        (partition, offset) or None per record), acknowledged events are answered accepted and remembered.
        Without it (the failure came before any record was sent), every event is reported as not
        acknowledged: the client retries, and readers are idempotent by event id."""
        placed: list[tuple[int, int] | None] | None = exc.placed
        if placed is None or len(placed) != len(fresh):
            placed = [None] * len(fresh)
        acked = [c for c, p in zip(fresh, placed, strict=True) if p is not None]
        self._remember(acked)
        outcomes = []
        for c, p in zip(fresh, placed, strict=True):
            if p is not None:
                outcomes.append(Outcome(c.index, "accepted", c.event_id, c.type, partition=p[0], offset=p[1]))
            else:
                message = "not acknowledged by the log; retry with the same event_id"
                outcomes.append(_rejected(c.index, "unavailable", message, event_id=c.event_id, type=c.type))
        return outcomes

    def _remember(self, published: Sequence[Candidate]) -> None:
        try:
            self._dedup.remember((c.dedup_id, c.body_hash) for c in published)
        except Exception:
            # The events are on the log: still answer "accepted". A retry may publish them again; readers
            # de-duplicate by event id.
            log.exception("could not record %d published event ids for de-duplication", len(published))

    def close(self) -> None:
        """Close the log (if it was opened) on its own thread; idempotent."""
        if self._closed:
            return
        self._closed = True

        def _close() -> None:
            close_probe = getattr(self._readiness, "close", None)
            if callable(close_probe):
                close_probe()
            if self._log is not None:
                self._log.close()
                self._log = None

        self._thread.submit(_close).result(timeout=60)
        self._thread.shutdown(wait=True)
