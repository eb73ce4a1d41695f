"""What the Faust agents do with one batch: validate, resolve, project, re-point merges — Faust-free.

`streams/faust_app.py` declares the topics and agents and hands each `take_events` batch here as plain
`LogRecord`s; everything outbound goes through an `Outbox` (Faust topics in production, a list in the unit
tests). Decisions stay in `projections/` and the stages (`streams/validate.py`, `streams/resolve.py`,
`streams/project.py`); this module only orders the effects:

- A batch's effects are durable when its step returns, and only then are its offsets committed (by the
  worker, `streams/faust_commits.py`: Faust's acks commit nothing for these topics, `streams/offsets.py`
  says why). No method here lets an exception out after an effect started (it would end the agent):
  every ClickHouse write, master-record call and Kafka send is retried with capped exponential backoff
  until it succeeds (each retry logged and
  counted in `WorkerMetrics.retries`; an attempt that hangs is logged every 5 s and counted in
  `WorkerMetrics.stalls`). While a batch retries the agent does not fetch more: Faust's stream
  buffer (`stream_buffer_maxsize`) fills and the consumer pauses, so memory stays bounded.
- Blocking clients (clickhouse-driver, chDB, the eventsourcing recorders, the webhook's urllib) run on
  single-thread executors, one per resource, never on the event loop (heartbeats keep flowing) and never
  two calls on one client at once.
- Per-contact projection state lives in ClickHouse's `projection_state` (as in the embedded runner), with
  an in-memory cache that `reset()` clears on every rebalance; see docs/architecture.md ("The Faust worker")
  for why not in Faust tables.

Long because the promise above (no exception escapes once an effect started) is kept by one `Pipeline`
whose four batch steps share its retry loop, its executors and its state cache; split apart, each would
need that plumbing passed in.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar
from uuid import UUID

import orjson

from ..events import PhoneRegions
from ..projections.config import DEFAULT_CONFIG, ProjectionConfig
from ..projections.dead_letters import DEAD_LETTER_COLUMNS, DEAD_LETTERS_TABLE
from ..projections.merges import MERGE_TYPES, MergeMap
from ..projections.state import ContactState
from ..streams import topology
from .erasure import Eraser, ErasureRequest, erasure_requests
from .linking import link_batch
from .ports import (
    AbstractEventLog,
    AbstractReadStore,
    ContactLinker,
    Forwarder,
    LogRecord,
    MessageRefused,
)
from .project import AppliedEvents, applied_key, project_batch, write_batch
from .resolve import IdentityCache, Resolver, ResolveStage
from .sealed_log import Codec, JsonRecord, opened_records, stored_bytes
from .sent_touchpoints import SentTouchpoints
from .state_cache import DEFAULT_CACHE_MB, StateCache
from .steps import (
    account_signals,
    arrival_order,
    dead_letter_rows,
    fresh_items,
    load_merge_map,
    load_states,
    masterdata_messages,
    merge_records,
    merge_rows,
    parse_resolved_records,
    resolve_batch,
    untyped_records,
    with_opened,
    write_merges,
)
from .validate import Validator, events_at

log = logging.getLogger("touchstream.worker")

T = TypeVar("T")

#: One outbound record: (base topic name as declared in adapters/logs/topics.py, key, value).
Outgoing = tuple[str, bytes | None, bytes]


class Outbox(Protocol):
    """Sends records and returns only when the broker acknowledged every one (raises otherwise)."""

    async def send_all(self, records: Sequence[Outgoing]) -> None: ...


@dataclass
class RetryPolicy:
    first_delay_s: float = 0.2
    max_delay_s: float = 30.0
    # An attempt still running after this long is logged (and counted in `WorkerMetrics.stalls`) every
    # time it elapses: a client that waits inside a call (the master record's connection pool waits for
    # PostgreSQL to come back, for minutes with its own retries) would otherwise wait in silence.
    stall_warning_s: float = 5.0


@dataclass
class WorkerMetrics:
    """Counters a worker keeps; logged on every retry and by the periodic summary."""

    records: Counter[str] = field(default_factory=Counter)  # per agent: records taken
    batches: Counter[str] = field(default_factory=Counter)  # per agent: batches taken (records/batches: size)
    retries: Counter[str] = field(default_factory=Counter)  # per effect: failed attempts
    skipped: Counter[str] = field(default_factory=Counter)  # records that can never be processed
    stalls: Counter[str] = field(default_factory=Counter)  # per effect: attempts still waiting, per period
    dead_lettered: int = 0
    resolved: int = 0
    unresolved: int = 0  # touchpoints about no known contact or account (passed on, never dropped)
    rows_written: int = 0
    messages_sent: int = 0
    merges: int = 0
    webhooks: int = 0
    rebalances: int = 0
    erasures: int = 0
    linked: int = 0  # probable-match suspects the linking step raised
    handed: int = 0  # resolved records the project agent took typed from its own ingest agent

    def summary(self) -> str:
        return (
            f"records={dict(self.records)} batches={dict(self.batches)} "
            f"resolved={self.resolved} unresolved={self.unresolved} "
            f"dead_lettered={self.dead_lettered} "
            f"rows={self.rows_written} messages={self.messages_sent} merges={self.merges} "
            f"webhooks={self.webhooks} retries={dict(self.retries)} stalls={dict(self.stalls)} "
            f"skipped={dict(self.skipped)} rebalances={self.rebalances} erasures={self.erasures} "
            f"handed={self.handed}"
        )


class _DeadLetterBuffer(AbstractEventLog):
    """The Validator's DLQ while inside an agent: it only collects, and the agent sends the dead letters
    through the Outbox (Faust's producer, acks=all) and awaits them before handing anything on."""

    def __init__(self) -> None:
        self.pending: list[tuple[bytes | None, bytes]] = []

    @property
    def partitions(self) -> int:
        return topology.spec_for(topology.DLQ).partitions

    def append(self, records: Sequence[tuple[bytes | None, bytes]]) -> list[tuple[int, int]]:
        self.pending.extend(records)
        return [(0, 0) for _ in records]  # positions are not known here and nobody reads them

    def read(self, partition: int, from_offset: int, max_records: int) -> list[LogRecord]:
        raise NotImplementedError("the DLQ buffer is write-only")

    def end_offset(self, partition: int) -> int:
        raise NotImplementedError("the DLQ buffer is write-only")

    def committed(self, group: str, partition: int) -> int:
        raise NotImplementedError("the DLQ buffer is write-only")

    def commit(self, group: str, positions: Iterable[tuple[int, int]]) -> None:
        raise NotImplementedError("the DLQ buffer is write-only")

    def close(self) -> None:
        self.pending.clear()

    def take(self) -> list[tuple[bytes | None, bytes]]:
        out, self.pending = self.pending, []
        return out


@dataclass
class Resources:
    """How a worker reaches the world; each factory is called once, on first use, on its own thread."""

    read_store: Callable[[], AbstractReadStore]
    master_record: Callable[[], Resolver]
    outbox: Outbox
    webhook: Callable[[], Forwarder] | None = None
    config: ProjectionConfig = DEFAULT_CONFIG
    regions: PhoneRegions | None = None  # how phones without a country code are read, per source
    raw_topic: str = topology.RAW  # the raw topic's full name (with prefix), named in dead letters
    # Crypto-shredding (docs/privacy.md): how raw and resolved records are opened and sealed, and the
    # erasure step (built on the master record's thread, with a read store of its own).
    raw_codec: Codec | None = None
    resolved_codec: Codec | None = None
    dlq_codec: Codec | None = None
    masterdata_codec: Codec | None = None
    eraser: Callable[[], Eraser] | None = None
    # The linking step (streams/linking.py), built from the master record the resolve stage uses, on its
    # thread; None: no incremental linking.
    linker: Callable[[Resolver], ContactLinker] | None = None
    # `touchpoints.raw` as this worker reads it (opened), to hand an anonymous caller's calls to the person
    # its contact merges into (streams/resolve.py); None: they stay with the merged contact.
    raw_log: Callable[[], AbstractEventLog] | None = None


class Pipeline:
    """The state one worker process keeps between batches, and the four batch steps."""

    def __init__(
        self,
        resources: Resources,
        *,
        retry: RetryPolicy | None = None,
        state_cache_mb: float = DEFAULT_CACHE_MB,
        metrics: WorkerMetrics | None = None,
    ) -> None:
        self.resources = resources
        self.retry_policy = retry or RetryPolicy()
        self.metrics = metrics or WorkerMetrics()
        # One thread per client: the stores and the master record are used from one thread at a time.
        self._store_pool = ThreadPoolExecutor(1, thread_name_prefix="touchstream-clickhouse")
        self._identity_pool = ThreadPoolExecutor(1, thread_name_prefix="touchstream-master-record")
        self._webhook_pool = ThreadPoolExecutor(1, thread_name_prefix="touchstream-webhook")
        self._store: AbstractReadStore | None = None
        self._stage: ResolveStage | None = None
        self._linker: ContactLinker | None = None
        self._sent = SentTouchpoints()
        self._webhook: Forwarder | None = None
        self._dlq = _DeadLetterBuffer()
        self._validator = Validator(self._dlq, source_topic=resources.raw_topic, regions=resources.regions)
        self._states = StateCache.of_megabytes(state_cache_mb)
        self._merge_map: MergeMap | None = None
        self._eraser: Eraser | None = None
        self.generation = 0  # bumped on every rebalance: a batch that straddles one does not fill caches
        self._account_pass_due = False  # something was projected since the last account-signals pass

    # --- lifecycle ---------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Partitions were assigned or revoked: forget every cached state (another worker may have moved
        them on meanwhile); they are read back from ClickHouse when next needed."""
        self.generation += 1
        self.metrics.rebalances += 1
        self._states.clear()
        self._merge_map = None
        if self._stage is not None:
            stage = self._stage
            # Swapped on the master-record thread, so no resolution is using the old cache meanwhile.
            self._identity_pool.submit(setattr, stage, "cache", IdentityCache(stage.cache.max_size))

    def close(self) -> None:
        for pool in (self._store_pool, self._identity_pool, self._webhook_pool):
            pool.shutdown(wait=True)
        if self._store is not None:
            self._store.close()
            self._store = None

    # --- plumbing ----------------------------------------------------------------------------------------
    async def _retrying(self, what: str, attempt: Callable[[], Awaitable[T]]) -> T:
        """Run `attempt` until it succeeds, backing off exponentially up to the cap; log and count why."""
        delay = self.retry_policy.first_delay_s
        failures = 0
        while True:
            try:
                return await self._watched(what, failures + 1, attempt())
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                self.metrics.retries[what] += 1
                log.warning(
                    "%s failed (attempt %d), retrying in %.1fs: %s: %s",
                    what,
                    failures,
                    delay,
                    type(exc).__name__,
                    exc,
                    exc_info=failures == 1,  # where it failed, once a streak: a bug retries for ever
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_policy.max_delay_s)

    async def _watched(self, what: str, number: int, pending: Awaitable[T]) -> T:
        """Await one attempt; while it has not returned, say so every `stall_warning_s`."""
        task = asyncio.ensure_future(pending)
        period = self.retry_policy.stall_warning_s
        waited = 0.0
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=period)
                if done:
                    return task.result()
                waited += period
                self.metrics.stalls[what] += 1
                log.warning("%s still waiting after %.1fs (attempt %d): no answer yet", what, waited, number)
        except asyncio.CancelledError:
            task.cancel()
            raise

    async def _on(self, pool: ThreadPoolExecutor, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)

    def _store_now(self) -> AbstractReadStore:
        if self._store is None:
            self._store = self.resources.read_store()
        return self._store

    def _with_store(self, fn: Callable[[AbstractReadStore], T]) -> Callable[[], Awaitable[T]]:
        async def attempt() -> T:
            try:
                return await self._on(self._store_pool, lambda: fn(self._store_now()))
            except Exception:
                # A broken connection is rebuilt on the next attempt rather than reused.
                if self._store is not None:
                    store, self._store = self._store, None
                    await self._on(self._store_pool, store.close)
                raise

        return attempt

    def _stage_now(self) -> ResolveStage:
        if self._stage is None:
            raw = self.resources.raw_log
            again = events_at(raw(), regions=self.resources.regions) if raw is not None else None
            self._stage = ResolveStage(self.resources.master_record(), raw_events=again)
        return self._stage

    async def _opened(
        self, what: str, codec: Codec | None, records: Sequence[LogRecord]
    ) -> Sequence[LogRecord]:
        """`records` opened (docs/privacy.md) on the master record's thread — the key store is a database
        too: a restart is waited for with backoff, like every other effect, never on the event loop."""
        if codec is None or not any(b'"sealed' in r.value for r in records):
            return records  # nothing sealed (an older log, a producer without the key store): no hop
        pool = self._identity_pool
        return await self._retrying(what, lambda: self._on(pool, opened_records, codec, records))

    async def _sealed(
        self, what: str, codec: Codec | None, records: Sequence[tuple[bytes | None, bytes]]
    ) -> Sequence[tuple[bytes | None, bytes]]:
        if codec is None or not records:
            return records
        return await self._retrying(what, lambda: self._on(self._identity_pool, codec.seal, records))

    async def _stored(
        self, what: str, codec: Codec | None, records: Sequence[JsonRecord]
    ) -> Sequence[tuple[bytes | None, bytes]]:
        """Records built as JSON objects, serialised and sealed (`sealed_log.stored_bytes`)."""
        if codec is None or not records:
            return stored_bytes(None, records)
        return await self._retrying(what, lambda: self._on(self._identity_pool, stored_bytes, codec, records))

    async def _erase(self, requests: list[ErasureRequest]) -> None:
        """The batch's erasures (streams/erasure.py), on the master record's thread, after the tombstones
        were written; retried like every other effect (each step is idempotent)."""
        factory = self.resources.eraser
        if factory is None:
            return

        def erase() -> None:
            if self._eraser is None:
                self._eraser = factory()
            self._eraser.erase(requests)
            ids = [UUID(r.contact_id) for r in requests]
            if self._stage is not None:
                self._stage.cache.invalidate(ids)

        await self._retrying("erase", lambda: self._on(self._identity_pool, erase))
        self.metrics.erasures += len(requests)

    async def _send(self, what: str, records: Sequence[Outgoing]) -> None:
        if records:
            await self._retrying(what, lambda: self.resources.outbox.send_all(records))
            self.metrics.messages_sent += len(records)

    # --- ingest: touchpoints.raw -> validate -> resolve -> touchpoints.resolved (+ touchpoints.dlq) -------
    async def ingest(self, records: Sequence[LogRecord]) -> int:
        """Returns how many touchpoints went to `touchpoints.resolved`."""
        self.metrics.records["ingest"] += len(records)
        self.metrics.batches["ingest"] += 1
        # In the embedded runner's order (steps.arrival_order), not the order Faust took the partitions in.
        records = await self._opened("open raw records", self.resources.raw_codec, arrival_order(records))
        valid = self._validator.validate(records)  # pure apart from filling the DLQ buffer
        dead = await self._sealed(
            "seal dead letters", self.resources.dlq_codec, self._dlq.take()
        )  # opened above
        # Dead letters are on the DLQ before anything of this batch moves on (the validator's contract).
        await self._send("send dead letters", [(topology.DLQ, key, value) for key, value in dead])
        self.metrics.dead_lettered += len(dead)
        # Resolution is idempotent (ids derive from the event), so a retried batch creates nothing new.
        resolved = await self._retrying(
            "resolve identity",
            lambda: self._on(self._identity_pool, lambda: resolve_batch(self._stage_now(), valid)),
        )
        self.metrics.unresolved += resolved.unresolved
        if (linker := self.resources.linker) is not None:  # before the batch moves on: a crash links again

            def link() -> None:
                if self._linker is None:
                    self._linker = linker(self._stage_now().resolver)
                self.metrics.linked += link_batch(self._linker, resolved).suspects

            await self._retrying("link contacts", lambda: self._on(self._identity_pool, link))
        sealed = await self._stored(
            "seal resolved touchpoints", self.resources.resolved_codec, resolved.wires
        )
        self._sent.remember([value for _, value in sealed], resolved.touchpoints)
        out: list[Outgoing] = [(topology.RESOLVED, key, value) for key, value in sealed]
        await self._send("send resolved touchpoints", out)
        self.metrics.resolved += len(out)
        return len(out)

    # --- project: touchpoints.resolved -> ClickHouse, then customer360.changes and signals.* --------------
    async def project(self, records: Sequence[LogRecord]) -> int:
        """Returns how many rows were written."""
        self.metrics.records["project"] += len(records)
        self.metrics.batches["project"] += 1
        generation = self.generation
        # Those this worker sent itself are taken typed; only the others are opened and parsed.
        typed = self._sent.take(records)
        self.metrics.handed += len(typed)
        untyped = untyped_records(records, typed)
        opened = await self._opened("open resolved records", self.resources.resolved_codec, untyped)
        items, unreadable = parse_resolved_records(records, typed, opened)
        for record, exc in unreadable:  # not ours to fix by retrying: count it and say where it is
            self.metrics.skipped["unreadable resolved record"] += 1
            log.error("skipping unreadable resolved record %d/%d: %s", record.partition, record.offset, exc)
        # A batch the ingest agent resolved again after a crash sits at new offsets: drop the event ids
        # ClickHouse already holds (touchpoints is written last, so "there" means "fully applied").
        ids = [applied_key(item) for item, _, _ in items]
        known = await self._retrying(
            "check applied events", self._with_store(lambda store: AppliedEvents(store).known(ids))
        )
        # Every copy of an erasure request erases (idempotent): one applied before may not have been
        # carried out, when the worker stopped between the write and the erasure.
        requests = erasure_requests(items)
        items, dropped = fresh_items(items, known)
        self.metrics.skipped["already applied"] += dropped
        if not items:
            if requests:
                await self._erase(requests)
            return 0
        contacts = {item.contact_id for item, _, _ in items if item.contact_id is not None}
        # Taken before the await: a rebalance meanwhile clears the cache (`reset`).
        scratch: dict[str, ContactState] = {c: self._states[c] for c in contacts if c in self._states}
        missing = contacts - scratch.keys()
        loaded = await self._retrying(
            "load projection state", self._with_store(lambda store: load_states(store, missing))
        )
        scratch.update(loaded)
        batch = project_batch(items, scratch, self.resources.config)
        await self._retrying("write rows to ClickHouse", self._with_store(lambda s: write_batch(s, batch)))
        self._account_pass_due = True
        rows = len(batch.touchpoints) + len(batch.profiles) + len(batch.signals) + len(batch.states)
        self.metrics.rows_written += rows
        if generation == self.generation:  # no rebalance since the batch began: the states are current
            self._remember(scratch)
        if requests:
            await self._erase(requests)
        # Only now, with the rows acknowledged, the dashboards and the departments hear of it.
        await self._send(
            "send changes and signals",
            [
                (str(m["topic"]), str(m["key"]).encode(), orjson.dumps(m["value"], default=str))
                for m in batch.messages
            ],
        )
        return rows

    def _remember(self, states: dict[str, ContactState]) -> None:
        self._states.update(states)  # bounded by bytes: the least recently used go first

    # --- masterdata: masterdata.merges (all of masterdata.events with a webhook) -> identity cache,
    # contact_merges, webhook ---------------------------------------------------------------------------
    async def masterdata(self, records: Sequence[LogRecord]) -> int:
        """Returns how many contact_merges rows were written."""
        self.metrics.records["masterdata"] += len(records)
        self.metrics.batches["masterdata"] += 1
        # Only merges need their `data` here (the cache, contact_merges); a webhook forwards every event's.
        # The type is in the clear in a sealed record: the rest are not opened (0.8 a touchpoint).
        wanted = records if self.resources.webhook is not None else merge_records(records)
        opened = await self._opened("open masterdata records", self.resources.masterdata_codec, wanted)
        messages, unreadable = masterdata_messages(with_opened(records, opened))
        for record in unreadable:
            self.metrics.skipped["unreadable masterdata record"] += 1
            log.error("skipping unreadable masterdata record %d/%d", record.partition, record.offset)
        if self._stage is not None:
            stage = self._stage

            def invalidate() -> None:
                for message in messages:
                    stage.on_masterdata(message)

            await self._on(self._identity_pool, invalidate)
        merges = [m for m in messages if m.get("type") in MERGE_TYPES]
        rows: list[tuple[Any, ...]] = []
        if merges:
            rows = merge_rows(await self._merge_map_now(), merges)
        if rows:
            await self._retrying(
                "write contact_merges",
                self._with_store(lambda s: write_merges(s, rows)),
            )
            self.metrics.merges += len(merges)
            self.metrics.rows_written += len(rows)
            self._account_pass_due = True
        if self.resources.webhook is not None:
            sent = await self._retrying("forward to the webhook", lambda: self._forward(messages))
            self.metrics.webhooks += sent
        return len(rows)

    async def _merge_map_now(self) -> MergeMap:
        if self._merge_map is None:
            self._merge_map = await self._retrying("load contact_merges", self._with_store(load_merge_map))
        return self._merge_map

    async def _forward(self, messages: list[dict[str, Any]]) -> int:
        def call() -> int:
            if self._webhook is None:
                assert self.resources.webhook is not None
                self._webhook = self.resources.webhook()
            sent = 0
            for message in messages:  # one by one: a final refusal skips that message, not the batch
                try:
                    sent += self._webhook.forward([message])
                except MessageRefused as exc:  # a final 4xx; any other failure is retried
                    self.metrics.skipped["webhook refused"] += 1
                    log.error("webhook refused %s for good: %s", message.get("event_id"), exc)
            return sent

        return await self._on(self._webhook_pool, call)

    # --- account signals: the read models -> account_signals, then signals.* (on a timer) ------------------
    async def account_signals(self) -> int:
        """The account-level pass (`steps.account_signals`) if anything was projected since the last one:
        it reads views over every fact, so it runs on a timer, not per batch. Returns the messages sent.
        Several workers may each run it: the rows are idempotent, a message may come twice (same id)."""
        if not self._account_pass_due:
            return 0
        self._account_pass_due = False
        messages = await self._retrying("evaluate account signals", self._with_store(account_signals))
        await self._send(
            "send account signals",
            [
                (str(m["topic"]), str(m["key"]).encode(), orjson.dumps(m["value"], default=str))
                for m in messages
            ],
        )
        return len(messages)

    # --- deadletters: touchpoints.dlq -> dead_letters (the data-quality view counts them) -----------------
    async def dead_letters(self, records: Sequence[LogRecord]) -> int:
        self.metrics.records["deadletters"] += len(records)
        self.metrics.batches["deadletters"] += 1
        rows, unreadable = dead_letter_rows(records)
        for record, exc in unreadable:
            self.metrics.skipped["unreadable dead letter"] += 1
            log.error("skipping unreadable dead letter %d/%d: %s", record.partition, record.offset, exc)
        if rows:
            await self._retrying(
                "write dead_letters",
                self._with_store(lambda s: s.insert_rows(DEAD_LETTERS_TABLE, DEAD_LETTER_COLUMNS, rows)),
            )
            self.metrics.rows_written += len(rows)
        return len(rows)
