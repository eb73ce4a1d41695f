"""The live feed: `customer360.changes` and `signals.*` messages, fanned out to many subscribers.

One small port with two backends:

- `EmbeddedLogSource` polls the embedded log's topic files (SQLite) on a thread of its own;
- `KafkaSource` consumes the Kafka topics with aiokafka.

`FeedHub` runs one source for the whole process and copies each message to every subscriber's bounded
queue (a subscriber that falls behind loses its oldest messages and is told how many), and keeps the last
few messages so a new subscriber starts with some context. Both sources follow the topics from their end;
the embedded one also replays their tail (`EmbeddedLogSource.recent`) into the hub's backlog when the hub
starts, so a dashboard opened after the demo (or a `touchstream up` restart) finishes still shows the
latest signals and changes. The read models hold the full history.

`topic_publisher(open_log)` is the embedded runner's `publish=`: it appends each batch's messages to their
topics, so the embedded path feeds the dashboard as Kafka does in production.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import orjson

from ...streams.feed_port import FEED_TOPICS, Emit, FeedMessage, FeedSource, decode
from ...streams.ports import AbstractEventLog
from ...streams.topology import topic_name

logger = logging.getLogger(__name__)


class EmbeddedLogSource(FeedSource):
    """Polls the embedded topic logs. `open_log(topic)` is called on the source's own thread (SQLite
    connections belong to the thread that opened them)."""

    def __init__(
        self,
        open_log: Callable[[str], AbstractEventLog],
        topics: Sequence[str] = FEED_TOPICS,
        *,
        poll_s: float = 0.2,
        batch: int = 500,
    ) -> None:
        super().__init__()
        self._open_log = open_log
        self._topics = tuple(topics)
        self._poll_s = poll_s
        self._batch = batch
        self._start: dict[tuple[str, int], int] | None = None  # where `recent` left off

    def recent(self, limit: int) -> list[FeedMessage]:
        """Up to `limit` of the latest messages, oldest first (by append time), every topic getting its
        share (taken newest first, in turn: the many changes must not crowd the few signals out); then
        following starts right after each topic's end, so nothing is both replayed and delivered."""
        logs = {topic: self._open_log(topic) for topic in self._topics}
        tails: list[list[tuple[float, int, int, FeedMessage]]] = []
        positions: dict[tuple[str, int], int] = {}
        try:
            for order, (topic, log) in enumerate(logs.items()):
                tail: list[tuple[float, int, int, FeedMessage]] = []
                for partition in range(log.partitions):
                    end = log.end_offset(partition)
                    positions[(topic, partition)] = end
                    if limit <= 0 or end == 0:
                        continue
                    for record in log.read(partition, max(0, end - limit), limit):
                        message = decode(topic, record.key, record.value) if record.offset < end else None
                        if message is not None:
                            tail.append((record.timestamp, order, record.offset, message))
                tails.append(sorted(tail, key=lambda item: item[:3]))
        finally:
            for log in logs.values():
                log.close()
        self._start = positions
        chosen: list[tuple[float, int, int, FeedMessage]] = []
        while len(chosen) < limit and any(tails):
            for tail in tails:
                if tail and len(chosen) < limit:
                    chosen.append(tail.pop())
        return [message for *_, message in sorted(chosen, key=lambda item: item[:3])]

    def _poll(self, emit: Callable[[FeedMessage], None], stopped: threading.Event) -> None:
        logs = {topic: self._open_log(topic) for topic in self._topics}
        try:
            start, self._start = self._start, None
            positions = start or {
                (topic, p): log.end_offset(p) for topic, log in logs.items() for p in range(log.partitions)
            }
            self.ready.set()
            while not stopped.is_set():
                got = 0
                for (topic, partition), position in positions.items():
                    records = logs[topic].read(partition, position, self._batch)
                    for record in records:
                        message = decode(topic, record.key, record.value)
                        if message is not None:
                            emit(message)
                    if records:
                        positions[(topic, partition)] = records[-1].offset + 1
                        got += len(records)
                if not got:
                    stopped.wait(self._poll_s)
        finally:
            for log in logs.values():
                log.close()

    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        stopped = threading.Event()

        def threadsafe(message: FeedMessage) -> None:
            loop.call_soon_threadsafe(emit, message)

        poller = loop.run_in_executor(None, self._poll, threadsafe, stopped)
        try:
            await stop.wait()
        finally:
            stopped.set()
            await poller


class KafkaSource(FeedSource):
    """Consumes the topics from their end with aiokafka (no consumer group: every API process sees all)."""

    def __init__(self, bootstrap: str, topics: Sequence[str] = FEED_TOPICS, prefix: str = "") -> None:
        super().__init__()
        self._bootstrap = bootstrap
        self._names = {topic_name(t, prefix): t for t in topics}

    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        from aiokafka import AIOKafkaConsumer

        consumer = AIOKafkaConsumer(
            *self._names,
            bootstrap_servers=self._bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="latest",
        )
        await consumer.start()
        try:
            await consumer.seek_to_end()
            for partition in consumer.assignment():
                # seek_to_end only marks a reset; resolve it now, or a message published right after
                # `ready` could land before the end is looked up and be skipped.
                await consumer.position(partition)
            self.ready.set()
            while not stop.is_set():
                batches = await consumer.getmany(timeout_ms=200, max_records=500)
                for records in batches.values():
                    for record in records:
                        message = decode(
                            self._names.get(record.topic, record.topic), record.key, record.value
                        )
                        if message is not None:
                            emit(message)
        finally:
            await consumer.stop()


@runtime_checkable
class Replayable(Protocol):
    """A source that can tell its latest messages (and then follows from right after them)."""

    def recent(self, limit: int) -> list[FeedMessage]: ...


@dataclass(eq=False)
class Subscription:
    queue: asyncio.Queue[FeedMessage]
    dropped: int = 0


class FeedHub:
    """One source, many subscribers. Start it on the event loop that serves the subscribers."""

    def __init__(self, source: FeedSource, *, backlog: int = 50, queue_size: int = 1000) -> None:
        self.source = source
        self._recent: deque[FeedMessage] = deque(maxlen=backlog)
        self._subscribers: set[Subscription] = set()
        self._queue_size = queue_size
        self._seq = itertools.count(1)
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self.delivered = 0
        self.received = 0
        self.error: str | None = None

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def _emit(self, message: FeedMessage) -> None:
        message = FeedMessage(message.topic, message.key, message.value, next(self._seq))
        self.received += 1
        self._recent.append(message)
        for sub in self._subscribers:
            if sub.queue.full():
                sub.queue.get_nowait()
                sub.dropped += 1
            sub.queue.put_nowait(message)
            self.delivered += 1

    def publish(self, message: FeedMessage) -> None:
        """Hand a message to every subscriber directly (tests and benchmarks; sources use the same path)."""
        self._emit(message)

    async def _run(self) -> None:
        assert self._stop is not None
        while not self._stop.is_set():
            try:
                await self.source.run(self._emit, self._stop)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the source failed (broker down): say so, retry shortly
                self.error = f"{type(exc).__name__}: {exc}"
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), 2.0)

    def start(self) -> None:
        if self._task is None:
            self._replay()
            self._stop = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None and self._stop is not None:
            self._stop.set()
            try:
                await asyncio.wait_for(self._task, 10)
            except TimeoutError:
                self._task.cancel()
            self._task = None

    def _replay(self) -> None:
        """Seed the backlog with the source's latest messages, when it can tell them (the embedded logs)."""
        if self._recent or not isinstance(self.source, Replayable) or self._recent.maxlen is None:
            return
        try:
            messages = self.source.recent(self._recent.maxlen)
        except Exception as exc:  # a feed without its past is still a feed: say why, follow from now
            self.error = f"replaying the backlog failed: {type(exc).__name__}: {exc}"
            logger.warning("%s", self.error)
            return
        for message in messages:
            self._recent.append(FeedMessage(message.topic, message.key, message.value, next(self._seq)))

    @contextlib.asynccontextmanager
    async def subscribe(self, backlog: int = 0) -> AsyncIterator[Subscription]:
        self.start()
        sub = Subscription(asyncio.Queue(self._queue_size + max(backlog, 0)))
        for message in list(self._recent)[-backlog:] if backlog > 0 else []:
            sub.queue.put_nowait(message)
        self._subscribers.add(sub)
        try:
            yield sub
        finally:
            self._subscribers.discard(sub)


def topic_publisher(open_log: Callable[[str], AbstractEventLog]) -> Callable[[list[dict[str, Any]]], None]:
    """The embedded runner's `publish=`: each message (`{"topic", "key", "value"}`) appended to its topic's
    log, keyed by contact id. `open_log` is e.g. `bootstrap().log`."""

    def publish(messages: list[dict[str, Any]]) -> None:
        by_topic: dict[str, list[tuple[bytes | None, bytes]]] = {}
        for message in messages:
            key = message.get("key")
            record = (str(key).encode() if key is not None else None, orjson.dumps(message["value"]))
            by_topic.setdefault(str(message["topic"]), []).append(record)
        for topic, records in by_topic.items():
            with open_log(topic) as log:
                log.append(records)

    return publish
