"""The production topology: one Faust app, four agents, each a short loop over `take_events` batches.

```
touchpoints.raw ──ingest──► validate ─► resolve (master record) ─► touchpoints.resolved   (+ touchpoints.dlq)
touchpoints.resolved ──project──► fold ─► ClickHouse rows ─► customer360.changes, signals.<department>
masterdata.events ──masterdata──► identity-cache invalidation, contact_merges rows, webhook (optional)
touchpoints.dlq ──deadletters──► dead_letters rows (the data-quality view counts them)
```

Run it: `touchstream worker` (applies migrations, then execs
`faust -A touchstream.streams.faust_app -L uvloop worker -l warn`). The module-level `app` is built from
the environment on first access (`TOUCHSTREAM_*`, see `worker_settings`); nothing connects until the
worker starts. What each batch does, and in which order effects become durable, is in
`streams/faust_agents.py`; why, in docs/architecture.md ("The Faust worker").

Settings taken from the design card's measurements: `topic_disable_leader=True` (no `on_leader` timers
here), `consumer_max_fetch_size=16 MiB`, `stream_buffer_maxsize=65536`, uvloop, `producer_acks=-1`. Never
`noack()` nor `acks=False`: they commit no offsets at all. Topics are created by `touchstream topics
create`, not by the worker (`topic_allow_declare=False`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import faust

from touchstream.adapters import topics
from touchstream.adapters.config import Settings, load_settings
from touchstream.adapters.event_log import LogRecord
from touchstream.streams.faust_agents import Outgoing, Pipeline, Resources

log = logging.getLogger("touchstream.worker")

MIB = 1024 * 1024
DEFAULT_WORKER_ID = "touchstream-worker"


@dataclass(frozen=True)
class WorkerSettings:
    """Everything the worker reads from the environment (besides adapters/config.py's Settings)."""

    base: Settings
    worker_id: str = DEFAULT_WORKER_ID  # the Faust app id, hence the consumer group
    batch_size: int = 500  # take_events(n, within=...)
    batch_within_s: float = 0.5
    webhook_url: str = ""
    webhook_secret: str = ""
    faust_datadir: Path | None = None
    metrics_every_s: float = 60.0

    @property
    def app_id(self) -> str:
        # Prefixed like the topics, so tests and tenants sharing a cluster get their own consumer groups.
        return self.base.topic_prefix + self.worker_id

    @property
    def broker(self) -> str:
        return ";".join(f"kafka://{server.strip()}" for server in self.base.kafka_bootstrap.split(","))


def worker_settings(base: Settings | None = None) -> WorkerSettings:
    env = os.environ.get
    datadir = env("TOUCHSTREAM_WORKER_DATADIR", "").strip()
    return WorkerSettings(
        base=base or load_settings(),
        worker_id=env("TOUCHSTREAM_WORKER_ID", "").strip() or DEFAULT_WORKER_ID,
        batch_size=int(env("TOUCHSTREAM_WORKER_BATCH", "") or 500),
        batch_within_s=float(env("TOUCHSTREAM_WORKER_BATCH_WITHIN", "") or 0.5),
        webhook_url=env("TOUCHSTREAM_WEBHOOK_URL", "").strip(),
        webhook_secret=env("TOUCHSTREAM_WEBHOOK_SECRET", ""),
        faust_datadir=Path(datadir) if datadir else None,
        metrics_every_s=float(env("TOUCHSTREAM_WORKER_METRICS_EVERY", "") or 60.0),
    )


class FaustOutbox:
    """Sends through the app's own producer (acks=all) and returns when the broker acknowledged all."""

    def __init__(self, app: faust.App, prefix: str) -> None:
        self.app = app
        self.prefix = prefix
        self._topics: dict[str, faust.TopicT] = {}

    def topic(self, base: str) -> faust.TopicT:
        if base not in self._topics:
            self._topics[base] = self.app.topic(
                topics.topic_name(base, self.prefix),
                key_type=bytes,
                value_type=bytes,
                key_serializer="raw",
                value_serializer="raw",
            )
        return self._topics[base]

    async def send_all(self, records: Sequence[Outgoing]) -> None:
        pending = [await self.topic(base).send(key=key, value=value) for base, key, value in records]
        for future in pending:
            await future  # raises if the broker refused it: the caller retries the whole batch


def production_resources(settings: WorkerSettings, outbox: Any) -> Resources:
    """The real adapters, picked by the composition root (adapters/bootstrap.py)."""
    from touchstream.adapters.bootstrap import bootstrap

    runtime = bootstrap(settings.base)

    def master_record() -> Any:
        from touchstream.adapters.master_record import MasterRecord

        return MasterRecord.from_url(runtime.master_record_url())

    webhook = None
    if settings.webhook_url:
        from touchstream.adapters.webhook import WebhookConfig, WebhookSender

        config = WebhookConfig(settings.webhook_url, settings.webhook_secret.encode())

        def webhook() -> WebhookSender:
            return WebhookSender(config)

    return Resources(
        read_store=runtime.read_store,
        master_record=master_record,
        outbox=outbox,
        webhook=webhook,
        default_region=settings.base.default_region,
        raw_topic=topics.topic_name(topics.RAW, settings.base.topic_prefix),
    )


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
    `within` seconds. Faust acks the batch when the agent asks for the next one."""
    return cast(faust.Stream[Any], stream).take_events(size, within=within)


def create_app(settings: WorkerSettings | None = None, resources: Resources | None = None) -> faust.App:
    """The Faust app with its agents. `resources` defaults to the production adapters; tests pass their
    own (a chDB store, an in-memory master record, an outbox that records)."""
    settings = settings or worker_settings()
    datadir = settings.faust_datadir or settings.base.data_dir / "faust"
    datadir.parent.mkdir(parents=True, exist_ok=True)  # Faust makes only the last level itself
    app = faust.App(
        settings.app_id,
        broker=settings.broker,
        store="memory://",  # no Faust tables: state lives in ClickHouse (docs/architecture.md)
        autodiscover=False,
        topic_disable_leader=True,
        topic_allow_declare=False,
        topic_partitions=topics.spec_for(topics.RESOLVED).partitions,
        consumer_max_fetch_size=16 * MIB,
        stream_buffer_maxsize=65_536,
        producer_acks=-1,
        web_enabled=False,
        datadir=str(datadir),
    )
    outbox = FaustOutbox(app, settings.base.topic_prefix)
    pipeline = Pipeline(resources or production_resources(settings, outbox))
    app.touchstream_pipeline = pipeline  # type: ignore[attr-defined]  # for the unit tests and hooks
    batch, within = settings.batch_size, settings.batch_within_s

    @app.agent(outbox.topic(topics.RAW), name="touchstream.ingest")
    async def ingest(stream: faust.StreamT[Any]) -> AsyncIterator[int]:
        async for events in _batches(stream, batch, within):
            yield await pipeline.ingest(_records(events))

    @app.agent(outbox.topic(topics.RESOLVED), name="touchstream.project")
    async def project(stream: faust.StreamT[Any]) -> AsyncIterator[int]:
        async for events in _batches(stream, batch, within):
            yield await pipeline.project(_records(events))

    @app.agent(outbox.topic(topics.MASTERDATA), name="touchstream.masterdata")
    async def masterdata(stream: faust.StreamT[Any]) -> AsyncIterator[int]:
        async for events in _batches(stream, batch, within):
            yield await pipeline.masterdata(_records(events))

    @app.agent(outbox.topic(topics.DLQ), name="touchstream.deadletters")
    async def deadletters(stream: faust.StreamT[Any]) -> AsyncIterator[int]:
        async for events in _batches(stream, batch, within):
            yield await pipeline.dead_letters(_records(events))

    def on_rebalance(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        pipeline.reset()

    app.on_partitions_revoked.connect(on_rebalance)
    app.on_partitions_assigned.connect(on_rebalance)

    @app.timer(interval=settings.metrics_every_s)  # type: ignore[untyped-decorator]  # faust's is untyped
    async def report() -> None:
        log.info("touchstream worker: %s", pipeline.metrics.summary())

    return app


_app: faust.App | None = None


def __getattr__(name: str) -> Any:
    """`app` for `faust -A touchstream.streams.faust_app`: built from the environment on first access."""
    global _app
    if name == "app":
        if _app is None:
            _app = create_app()
        return _app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
