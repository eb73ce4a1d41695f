"""The production topology: one Faust app, four agents, each a short loop over `take_events` batches.

```
touchpoints.raw ──ingest──► validate ─► resolve (master record) ─► touchpoints.resolved   (+ touchpoints.dlq)
touchpoints.resolved ──project──► fold ─► ClickHouse rows ─► customer360.changes, signals.<department>
masterdata.merges ──masterdata──► identity-cache invalidation, contact_merges rows
  (masterdata.events instead when a webhook is configured: it forwards every master-data event)
touchpoints.dlq ──deadletters──► dead_letters rows (the data-quality view counts them)
```

Run it: `touchstream worker` (applies migrations, then execs
`faust -A touchstream.adapters.worker_app -L uvloop worker -l warn`, whose module-level `app` the
composition root builds from the one `Settings` on first access); nothing connects until the worker
starts. What each batch does, and in which order effects become durable, is in
`streams/faust_agents.py`; why, in docs/architecture.md ("The Faust worker").

Settings taken from the design card's measurements: `topic_disable_leader=True` (no `on_leader` timers
here), `consumer_max_fetch_size=16 MiB`, `stream_buffer_maxsize=65536`, uvloop, `producer_acks=-1`. The
consumed topics are declared `acks=False`: Faust commits nothing for them, and each batch's offsets are
committed by `streams/faust_commits.py` once its effects are durable (why: `streams/offsets.py`). Topics
are created by `touchstream topics create`, not by the worker (`topic_allow_declare=False`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import faust
from faust.types.transports import TransportT

from ..streams import topology
from .faust_agents import Outgoing, Pipeline, Resources
from .faust_commits import RESEEK_AFTER_S, OffsetCommits
from .faust_consumer import with_lean_consumer
from .partitioning import partition_for
from .ports import LogRecord
from .state_cache import DEFAULT_CACHE_MB

log = logging.getLogger("touchstream.worker")

MIB = 1024 * 1024
DEFAULT_WORKER_ID = "touchstream-worker"


@dataclass(frozen=True)
class WorkerSettings:
    """What the Faust app needs to know; the composition root (adapters/worker_app.py) fills it from the
    one `Settings`."""

    kafka_bootstrap: str
    data_dir: Path
    topic_prefix: str = ""
    worker_id: str = DEFAULT_WORKER_ID  # the Faust app id, hence the consumer group
    batch_size: int = 5_000  # take_events(n, within=...)
    batch_within_s: float = 0.5
    faust_datadir: Path | None = None
    metrics_every_s: float = 60.0
    state_cache_mb: float = DEFAULT_CACHE_MB  # fold states kept between batches (streams/state_cache.py)
    account_signals_every_s: float = 10.0  # the account-level signals pass (when anything was projected)
    # Off only where agents are fed without a consumer group (Faust's `agent.test_context()`).
    commit_offsets: bool = True

    @property
    def app_id(self) -> str:
        # Prefixed like the topics, so tests and tenants sharing a cluster get their own consumer groups.
        return self.topic_prefix + self.worker_id

    @property
    def broker(self) -> str:
        return ";".join(f"kafka://{server.strip()}" for server in self.kafka_bootstrap.split(","))


class FaustOutbox:
    """Sends through the app's own producer (acks=all) and returns when the broker acknowledged all."""

    def __init__(self, app: faust.App, prefix: str) -> None:
        self.app = app
        self.prefix = prefix
        self._topics: dict[str, faust.TopicT] = {}

    def topic(self, base: str) -> faust.TopicT:
        if base not in self._topics:
            self._topics[base] = self.app.topic(
                topology.topic_name(base, self.prefix),
                key_type=bytes,
                value_type=bytes,
                key_serializer="raw",
                value_serializer="raw",
                acks=False,  # the worker commits the agents' offsets itself (streams/faust_commits.py)
            )
        return self._topics[base]

    async def send_all(self, records: Sequence[Outgoing]) -> None:
        # Straight to the app's producer: `Topic.send` wraps each record in a FutureMessage and a channel
        # hop that give nothing here (no callbacks, raw bytes); sending was 9% of the worker's busy time
        # in a profile (py-spy --gil), under 5% this way.
        producer = await self.app.maybe_start_producer()
        names = {base: topology.topic_name(base, self.prefix) for base in {r[0] for r in records}}
        counts = {base: _partition_count(producer, name) for base, name in names.items()}
        pending = [
            await producer.send(
                names[base], key, value, partition=_placed(key, counts[base]), timestamp=None, headers=None
            )
            for base, key, value in records
        ]
        for future in pending:
            await future  # raises if the broker refused it: the caller retries the whole batch


def _partition_count(producer: Any, topic: str) -> int | None:
    """How many partitions `topic` has, as the producer's metadata says (None while it does not know)."""
    client = getattr(producer, "_producer", None)  # Faust's aiokafka driver: the AIOKafkaProducer
    metadata = getattr(client, "_metadata", None)
    found = metadata.partitions_for_topic(topic) if metadata is not None else None
    return len(found) if found else None


def _placed(key: bytes | None, partitions: int | None) -> int | None:
    """The partition Kafka's default partitioner gives `key`, computed here: aiokafka's own murmur2 is
    pure Python and runs for every record (1.4 % of a worker's busy time in a profile); ours caches the
    hash of each key, and a contact's key comes again and again. None (aiokafka decides) without a key
    or before the producer knows the topic."""
    if key is None or not partitions:
        return None
    return partition_for(key, partitions)


def _records(events: Sequence[faust.EventT[bytes]]) -> list[LogRecord]:
    return [
        LogRecord(
            partition=e.message.partition,
            offset=e.message.offset,
            key=e.message.key,
            value=e.value,
            timestamp=e.message.timestamp,
        )
        for e in events
    ]


def _batches(stream: faust.StreamT[Any], size: int, within: float) -> AsyncIterator[Sequence[Any]]:
    """`take_events`: up to `size` events (with their messages' partition and offset), or fewer after
    `within` seconds. Faust acks the batch when the agent asks for the next one, but commits nothing for
    these topics (`acks=False`): `OffsetCommits.run` commits what each batch made durable."""
    return cast(faust.Stream[Any], stream).take_events(size, within=within)


class _App(faust.App):
    """Faust's app, consuming with `LeanConsumer` (streams/faust_consumer.py)."""

    def _new_transport(self) -> TransportT:
        return with_lean_consumer(super()._new_transport())


class QuietWorker(faust.Worker):
    """`faust worker` without its terminal spinner. To spin on every log record, Faust sets the root logger
    to DEBUG whatever `-l` says (only its own handler keeps the level), so every debug message of aiokafka,
    Faust and clickhouse-driver was made, masked (adapters/log_privacy.py) and dropped: measured at a sixth
    of a busy worker's time. Without the spinner the level given is the level the loggers have."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.spinner = None


def create_app(
    settings: WorkerSettings, resources: Callable[[FaustOutbox], Resources] | Resources
) -> faust.App:
    """The Faust app with its agents. `resources` (or a factory of them, given the app's outbox) is how
    the agents reach the world: the production adapters from adapters/worker_app.py; tests pass their own
    (a chDB store, an in-memory master record, an outbox that records)."""
    datadir = settings.faust_datadir or settings.data_dir / "faust"
    datadir.parent.mkdir(parents=True, exist_ok=True)  # Faust makes only the last level itself
    app = _App(
        settings.app_id,
        broker=settings.broker,
        store="memory://",  # no Faust tables: state lives in ClickHouse (docs/architecture.md)
        autodiscover=False,
        topic_disable_leader=True,
        topic_allow_declare=False,
        topic_partitions=topology.spec_for(topology.RESOLVED).partitions,
        consumer_max_fetch_size=16 * MIB,
        stream_buffer_maxsize=65_536,
        producer_acks=-1,
        web_enabled=False,
        datadir=str(datadir),
        Worker=QuietWorker,
    )
    outbox = FaustOutbox(app, settings.topic_prefix)
    pipeline = Pipeline(
        resources if isinstance(resources, Resources) else resources(outbox),
        state_cache_mb=settings.state_cache_mb,
    )
    app.touchstream_pipeline = pipeline  # type: ignore[attr-defined]  # for the unit tests and hooks
    batch, within = settings.batch_size, settings.batch_within_s
    commits = OffsetCommits(app)
    app.touchstream_commits = commits  # type: ignore[attr-defined]

    async def run(
        events: Sequence[faust.EventT[Any]], step: Callable[[list[LogRecord]], Awaitable[int]]
    ) -> int:
        if not settings.commit_offsets:
            return await step(_records(events))
        return await commits.run(events, lambda admitted: step(_records(admitted)))

    @app.agent(outbox.topic(topology.RAW), name="touchstream.ingest")
    async def ingest(stream: faust.StreamT[Any]) -> AsyncIterator[int]:
        async for events in _batches(stream, batch, within):
            yield await run(events, pipeline.ingest)

    @app.agent(outbox.topic(topology.RESOLVED), name="touchstream.project")
    async def project(stream: faust.StreamT[Any]) -> AsyncIterator[int]:
        async for events in _batches(stream, batch, within):
            yield await run(events, pipeline.project)

    masterdata_topic = topology.masterdata_source(forwarding=pipeline.resources.webhook is not None)

    @app.agent(outbox.topic(masterdata_topic), name="touchstream.masterdata")
    async def masterdata(stream: faust.StreamT[Any]) -> AsyncIterator[int]:
        async for events in _batches(stream, batch, within):
            yield await run(events, pipeline.masterdata)

    @app.agent(outbox.topic(topology.DLQ), name="touchstream.deadletters")
    async def deadletters(stream: faust.StreamT[Any]) -> AsyncIterator[int]:
        async for events in _batches(stream, batch, within):
            yield await run(events, pipeline.dead_letters)

    def on_rebalance(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        pipeline.reset()

    app.on_partitions_revoked.connect(on_rebalance)
    app.on_partitions_assigned.connect(on_rebalance)
    if settings.commit_offsets:
        app.on_partitions_revoked.connect(commits.on_revoked)
        app.on_partitions_assigned.connect(commits.on_assigned)

    if settings.commit_offsets:

        @app.timer(interval=RESEEK_AFTER_S)  # type: ignore[untyped-decorator]  # faust's is untyped
        async def reseek() -> None:
            await commits.reseek_overdue()

    @app.timer(interval=settings.account_signals_every_s)  # type: ignore[untyped-decorator]
    async def account_signals() -> None:
        await pipeline.account_signals()

    @app.timer(interval=settings.metrics_every_s)  # type: ignore[untyped-decorator]  # faust's is untyped
    async def report() -> None:
        log.info("touchstream worker: %s %s", pipeline.metrics.summary(), commits.summary())

    return app
