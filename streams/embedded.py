"""The embedded runner: production's stages in-process, over the embedded logs, into chDB.

Faust has no in-memory transport, so this is ours (as eventsourcing's SingleThreadedRunner is theirs). The
default (`EmbeddedPipeline`) has production's two steps, each committing its input position only after its
output was accepted, so a crash repeats work and never skips it:

1. **resolve**: `touchpoints.raw` -> validate (`streams/validate.py`: invalid records go to
   `touchpoints.dlq` with the reason; nothing is dropped) -> `ResolveStage` against the master record
   (SQLite) -> `touchpoints.resolved`, keyed by contact id, so one contact's events sit on one partition in
   order; then the batch's new or changed contacts are linked (`streams/linking.py`: probabilistic
   duplicate suspects, when a linker is given). The raw position moves after the resolved and dead-letter
   appends. The master record's notification log is relayed (`adapters/master_record/relay.py`) to the
   embedded `masterdata.events` log.
2. **project**: `touchpoints.resolved` -> `project_batch` -> chDB (`write_batch`), then the commit; the DLQ
   becomes `dead_letters` rows and the merges on `masterdata.events` become `contact_merges` rows.

Idempotence of step 2 under step 1's replays: a crash between the resolved append and the raw commit
resolves the batch again and appends it again at new offsets, which the fold's per-partition offsets do not
catch (and its ring of recent event ids only for a few events per contact). So the projection skips every
event whose id is already in `touchpoints` (the event id is the idempotency key everywhere), and writes
`touchpoints` last in each batch: an event found there had every other row of its batch written too. A
rebuild of models without `touchpoints` keeps the ids it applied in memory instead (it reads from offset 0).

The fold's per-contact state lives in a dict while the runner runs and in chDB's `projection_state` table
between runs (read back for the contacts a batch meets for the first time). Production keeps the same state
in a Faust table instead.

`run_until_caught_up(log, store, resolve=...)` is the single-step shortcut for tests and tools whose
identity is known up front (the generator's truth, or `stand_in_resolver`, which names a contact by its
strongest identifier and merges nothing): raw -> parse -> resolve -> fold -> chDB, with the raw log keyed
so that one contact's events share a partition. It is never the default.

Long because it holds both steps, the single-step shortcut, and the dead-letter and merge projections that
step 2 runs, and they share the stats, the batch-reading helpers and the typed-touchpoints hand-over; the
shortcut (`stand_in_resolver` to `run_until_caught_up`) is the seam to cut along if it grows.
"""

from __future__ import annotations

import heapq
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from ..events import Event, EventParseError, PhoneRegions, ResolvedTouchpoint, parse_event
from ..projections.config import DEFAULT_CONFIG, ProjectionConfig
from ..projections.dead_letters import DEAD_LETTER_COLUMNS, DEAD_LETTERS_TABLE, dead_letter_row
from ..projections.merges import MergeMap
from ..projections.state import ContactState
from ..projections.touchpoints import TOUCHPOINTS_TABLE
from .erasure import Eraser, ErasureRequest, erasure_requests
from .linking import link_batch
from .ports import AbstractEventLog, AbstractReadStore, ContactLinker, LogRecord
from .project import (
    STATE_TABLE,
    AppliedEvents,
    ProjectedBatch,
    applied_key,
    write_batch,
)
from .sealed_log import ObjectRecord, OpenFn, ReadFn, append_objects, stored_log, stored_reader
from .state_cache import DEFAULT_CACHE_MB, StateCache
from .steps import (
    MERGE_NEEDLES,
    Item,
    account_signals,
    arrival_order,
    dead_letter_rows,
    fold_batch,
    fresh_items,
    masterdata_messages,
    merge_rows,
    parse_resolved_records,
    resolve_batch,
    untyped_records,
    write_merges,
)
from .validate import Validator, events_at

if TYPE_CHECKING:
    from .resolve import Resolver as MasterRecordPort, ResolveStage


class Relay(Protocol):
    """The master record's relay (adapters/master_record/relay.py): publishes what it has not yet,
    returns how many."""

    def run_once(self) -> int: ...


DEFAULT_GROUP = "touchstream-embedded"  # the single-step shortcut
RESOLVE_GROUP = "touchstream-resolve"  # step 1, on touchpoints.raw
PROJECT_GROUP = "touchstream-project"  # step 2, on touchpoints.resolved, the DLQ and masterdata.events
RELAY_NAME = "masterdata-relay-embedded"
# Fixed forever: the stand-in's contact and account ids derive from it.
STAND_IN_NAMESPACE = uuid.UUID("7d4f2c1e-9b3a-4e5f-8a6b-1c2d3e4f5a6b")

#: Who an event is about, known up front: (contact id, or None for an organization only; account id).
Resolver = Callable[[Event], tuple[str | None, str | None]]
#: Receives each batch's messages (`{"topic", "key", "value"}`) after its rows were written.
Publisher = Callable[[list[dict[str, Any]]], None]


def stand_in_resolver(event: Event) -> tuple[str | None, str | None]:
    """A deterministic contact id from the strongest identifier; an account id from the domain or an
    account external id. No merging at all: only for tests that do not care about identity."""
    ids = event.identifiers
    strongest = ids.strongest()
    # Only organization identifiers: a touchpoint about the account, no person in it.
    organization_only = strongest.startswith(("domain:", "account:"))
    contact = None if organization_only else str(uuid.uuid5(STAND_IN_NAMESPACE, strongest))
    if ids.account_domain:
        return contact, str(uuid.uuid5(STAND_IN_NAMESPACE, f"domain:{ids.account_domain}"))
    for system in sorted(ids.account_external_ids):
        key = f"account:{system}:{ids.account_external_ids[system]}"
        return contact, str(uuid.uuid5(STAND_IN_NAMESPACE, key))
    return contact, None


Position = tuple[int, int]  # (partition, offset) in the resolved log
Placed = tuple[Position, ResolvedTouchpoint]


class TouchpointSink(Protocol):
    """Where the resolve step hands the touchpoints it appended: `TypedTouchpoints` in one process, a queue
    to the project step's process in two (adapters/parallel_run.py)."""

    def update(self, placed: Iterable[Placed], /) -> None: ...


class TypedTouchpoints(OrderedDict[Position, ResolvedTouchpoint]):
    """Touchpoints the resolve step appended, by their (partition, offset) in the resolved log, for the
    project step to take without opening and parsing them again. Bounded: the oldest go first, and a
    missing one is simply parsed from the log. `incoming`, given the positions a batch misses, returns
    what a resolve step in another process handed over for them (adapters/parallel_run.py)."""

    def __init__(
        self,
        limit: int = 50_000,
        incoming: Callable[[list[Position]], Iterable[list[Placed]]] | None = None,
    ) -> None:
        super().__init__()
        self.limit = limit
        self.incoming = incoming

    def __setitem__(self, key: Position, value: ResolvedTouchpoint) -> None:
        super().__setitem__(key, value)
        while len(self) > self.limit:
            self.popitem(last=False)

    def receive(self, positions: Iterable[Position]) -> None:
        """Take what was handed over for the `positions` not held yet (a batch about to be projected)."""
        if self.incoming is None:
            return
        missing = [position for position in positions if position not in self]
        if missing:
            for placed in self.incoming(missing):
                self.update(placed)


@dataclass
class RunStats:
    records: int = 0
    accepted: int = 0
    dead_lettered: int = 0
    contacts_updated: int = 0
    signals_raised: int = 0
    messages: int = 0
    duplicates: int = 0  # events already applied (a re-resolved batch, a producer's retry): skipped
    merges: int = 0  # contact_merges rows written
    unreadable: int = 0  # resolved records that are not a touchpoint (skipped: a retry cannot fix them)
    handed: int = 0  # touchpoints taken as the resolve step handed them over, not opened and parsed again


@dataclass
class ResolveStats:
    records: int = 0
    unresolved: int = 0  # touchpoints about no contact and no account (passed on, never dropped)
    resolved: int = 0
    dead_lettered: int = 0
    cache_hits: int = 0
    merges: int = 0
    reattributed: int = 0  # an anonymous caller's calls handed to the person its contact merged into
    relayed: int = 0
    linked_suspects: int = 0  # probable-match suspects the linking step raised
    linked_merges: int = 0  # and the pairs it merged
    link_seconds: float = 0.0  # spent in the linking step


def _received_at(record: LogRecord) -> datetime:
    # The log's own timestamp, not the wall clock: a rebuild must write the same rows as the live run.
    return datetime.fromtimestamp(int(record.timestamp), UTC)


def project_records(
    records: list[LogRecord],
    store: AbstractReadStore,
    states: Mapping[str, ContactState],
    resolve: Resolver,
    config: ProjectionConfig,
    suffix: str = "",
    load: bool = True,
    regions: PhoneRegions | None = None,
) -> ProjectedBatch:
    """The single-step shortcut's batch: parse, resolve with a known identity, fold."""
    resolved: list[tuple[ResolvedTouchpoint, int, int]] = []
    dead: list[tuple[Any, ...]] = []
    for record in records:
        received = _received_at(record)
        try:
            event = parse_event(record.value, regions=regions, now=received)
        except EventParseError as err:
            dead.append(
                dead_letter_row(record.partition, record.offset, received, err.to_dict(), record.value)
            )
            continue
        contact_id, account_id = resolve(event)
        item = ResolvedTouchpoint(event, contact_id, account_id, record.partition, record.offset)
        resolved.append((item, record.partition, record.offset))
    batch = fold_batch(resolved, store, states, config, suffix, load)
    batch.dead_letters = dead
    return batch


def _tally(stats: RunStats, batch: ProjectedBatch) -> None:
    stats.accepted += len(batch.touchpoints)
    stats.dead_lettered += len(batch.dead_letters)
    stats.contacts_updated += len(batch.profiles)
    stats.signals_raised += batch.signals_raised
    stats.messages += len(batch.messages)


def run_until_caught_up(
    log: AbstractEventLog,
    store: AbstractReadStore,
    *,
    resolve: Resolver,
    group: str = DEFAULT_GROUP,
    batch_size: int = 5_000,
    progress: Callable[[int], None] | None = None,
    config: ProjectionConfig = DEFAULT_CONFIG,
    states: MutableMapping[str, ContactState] | None = None,
    publish: Publisher | None = None,
    suffix: str = "",
    tables: Collection[str] | None = None,
) -> RunStats:
    """The single-step shortcut (identity known up front): every partition of a raw log, from the group's
    committed position to the end, parsed, resolved by `resolve`, folded and written; bad records become
    `dead_letters` rows. The default embedded path is `EmbeddedPipeline`.

    `suffix` and `tables` serve the rebuild: write only these tables, under their shadow names (states
    are then read back from `projection_state<suffix>` only if that table is among them).
    """
    load = tables is None or STATE_TABLE in tables
    stats = RunStats()
    states = {} if states is None else states
    for partition in range(log.partitions):
        position = log.committed(group, partition)
        while batch := log.read(partition, position, batch_size):
            projected = project_records(batch, store, states, resolve, config, suffix, load)
            write_batch(store, projected, suffix, tables or _PROJECTED)  # touchpoints last: see AppliedEvents
            states.update(projected.final_states)
            if publish is not None and projected.messages:
                publish(projected.messages)
            position = batch[-1].offset + 1
            log.commit(group, [(partition, position)])
            stats.records += len(batch)
            _tally(stats, projected)
            if progress is not None:
                progress(len(batch))
    if tables is None and stats.records:
        _account_signals(store, publish)
    return stats


def _account_signals(store: AbstractReadStore, publish: Publisher | None) -> None:
    """After catching up, not per batch: the account-level pass reads views over every fact."""
    messages = account_signals(store)
    if publish is not None and messages:
        publish(messages)


# --- step 1: resolve ---------------------------------------------------------------------------------------


class LogProducer:
    """The relay's producer (kafka-python's send / flush / future.get) over an embedded log: `flush`
    appends what was sent in one transaction and raises if the log refused it. Records sent as JSON
    objects (`send_objects`) are sealed from the objects, never parsed back."""

    def __init__(self, log: AbstractEventLog) -> None:
        self.log = log
        self._pending: list[tuple[bytes | None, bytes | dict[str, Any]]] = []

    def send(self, topic: str, value: bytes, key: bytes, headers: list[tuple[str, bytes]]) -> _Acked:
        self._pending.append((key, value))
        return _Acked()

    def send_objects(self, topic: str, records: Sequence[ObjectRecord]) -> list[_Acked]:
        self._pending.extend((key, value) for key, value, _ in records)
        return [_Acked() for _ in records]

    def flush(self, timeout: float | None = None) -> None:
        pending, self._pending = self._pending, []
        objects = [(key, value) for key, value in pending if isinstance(value, dict)]
        if len(objects) == len(pending):
            if objects:
                append_objects(self.log, objects)
            return
        self.log.append([(key, orjson.dumps(v) if isinstance(v, dict) else v) for key, v in pending])


class _Acked:
    def get(self, timeout: float | None = None) -> None:
        return None  # flush() raised already if the append failed


def resolve_until_caught_up(
    raw: AbstractEventLog,
    resolved: AbstractEventLog,
    dlq: AbstractEventLog,
    stage: ResolveStage,
    *,
    relay: Relay | None = None,
    source_topic: str = "touchpoints.raw",
    group: str = RESOLVE_GROUP,
    batch_size: int = 5_000,
    regions: PhoneRegions | None = None,
    progress: Callable[[int], None] | None = None,
    typed: TouchpointSink | None = None,
    linker: ContactLinker | None = None,
) -> ResolveStats:
    """Step 1 over every raw partition from the group's position to its end: validate (dead letters to the
    DLQ), resolve, link the batch's changed contacts (with `linker`), append to the resolved log keyed by
    contact id, relay the master record's new events, then commit the raw position."""
    validator = Validator(dlq, source_topic=source_topic, regions=regions)
    stats = ResolveStats()
    hits = stage.hits
    positions = {p: raw.committed(group, p) for p in range(raw.partitions)}
    rounds = _Rounds(raw, positions, max(1, batch_size // raw.partitions))
    while read := rounds.next():
        # In append order across partitions, not one partition after another (on a backfill that would meet
        # a caller's phone long before the contact who owns it), and never ahead of a record left unread.
        chunks = _appended_before_the_unread(read, rounds.limit)
        batch = arrival_order([record for chunk in chunks.values() for record in chunk])
        valid = validator.validate(batch)  # raises if the DLQ refused: nothing of the round commits
        resolved_batch = resolve_batch(stage, valid)
        linking_started = time.perf_counter()
        linked = link_batch(linker, resolved_batch)
        stats.link_seconds += time.perf_counter() - linking_started
        stats.linked_suspects += linked.suspects
        stats.linked_merges += linked.merges
        stats.merges += resolved_batch.merges
        stats.unresolved += resolved_batch.unresolved
        if resolved_batch.wires:
            placed = append_objects(resolved, resolved_batch.wires)
            if typed is not None:  # the project step takes them as they are, unparsed
                typed.update(zip(placed, resolved_batch.touchpoints, strict=True))
        if relay is not None:
            stats.relayed += _relay_all(relay)
        rounds.taken(chunks)
        positions.update((p, chunk[-1].offset + 1) for p, chunk in chunks.items())
        raw.commit(group, [(p, positions[p]) for p in sorted(chunks)])
        stats.records += len(batch)
        stats.resolved += resolved_batch.valid
        stats.reattributed += resolved_batch.reattributed
        stats.dead_lettered += len(batch) - resolved_batch.valid
        if progress is not None:
            progress(len(batch))
    if relay is not None:
        stats.relayed += _relay_all(relay)  # e.g. a steward's merge made since the last run
    stats.cache_hits = stage.hits - hits
    return stats


class _Rounds:
    """The raw log a round at a time: up to `limit` records of each partition from the positions on. The
    records a round leaves for the next (`_appended_before_the_unread`) are kept, not read and opened
    again: a quarter of every record was read twice at 5,000 a batch, half at 500."""

    def __init__(self, raw: AbstractEventLog, positions: Mapping[int, int], limit: int) -> None:
        self.raw, self.limit = raw, limit
        self.next_read = dict(positions)  # where reading goes on, after the records kept
        self.kept: dict[int, list[LogRecord]] = {p: [] for p in range(raw.partitions)}

    def next(self) -> dict[int, list[LogRecord]]:
        for partition, kept in self.kept.items():
            if len(kept) < self.limit and (
                more := self.raw.read(partition, self.next_read[partition], self.limit - len(kept))
            ):
                kept.extend(more)
                self.next_read[partition] = more[-1].offset + 1
        return {p: list(kept) for p, kept in self.kept.items() if kept}

    def taken(self, chunks: Mapping[int, list[LogRecord]]) -> None:
        """The round resolved these records (each a prefix of its partition's)."""
        for partition, chunk in chunks.items():
            del self.kept[partition][: len(chunk)]


def _appended_before_the_unread(chunks: dict[int, list[LogRecord]], limit: int) -> dict[int, list[LogRecord]]:
    """A round's records that no record left unread can precede. A partition whose chunk came back full
    may hold more records, appended before some read from the other partitions; so the round keeps, in
    each partition, the records stamped no later than the last one of every full chunk, and the next
    round reads the rest again. Resolution then follows the log's append order whatever the batch size
    (the embedded log stamps each record apart: adapters/logs/sqlite_log.py)."""
    full = [chunk[-1].timestamp for chunk in chunks.values() if len(chunk) >= limit]
    if not full:
        return chunks
    cutoff = min(full)
    kept: dict[int, list[LogRecord]] = {}
    for partition, chunk in chunks.items():
        end = 0
        while end < len(chunk) and chunk[end].timestamp <= cutoff:
            end += 1
        if end:
            kept[partition] = chunk[:end]
    return kept or chunks  # timestamps that go back within a partition: take the round as read


def _relay_all(relay: Relay) -> int:
    total = 0
    while done := relay.run_once():
        total += done
    return total


# --- step 2: project ---------------------------------------------------------------------------------------


def _fresh_batch(
    batch: list[LogRecord],
    applied: AppliedEvents,
    stats: RunStats,
    typed: TypedTouchpoints | None = None,
    open_records: OpenFn = list,
) -> tuple[list[Item], list[ErasureRequest]]:
    """The batch's touchpoints not yet applied, and the erasure requests among all of them: a request
    applied before may not have been carried out (a crash between the write and the erasure), and
    erasing is idempotent, so every copy of one erases."""
    if typed is not None:
        typed.receive((r.partition, r.offset) for r in batch)
    # Records the resolve step did not hand over typed are opened (one call for all) and parsed.
    untyped = untyped_records(batch, typed)
    stats.handed += len(batch) - len(untyped)
    items, unreadable = parse_resolved_records(batch, typed, open_records(untyped))
    stats.unreadable += len(unreadable)
    fresh, dropped = fresh_items(items, applied.known([applied_key(item) for item, _, _ in items]))
    stats.duplicates += dropped
    return fresh, erasure_requests(items)


def in_append_order(
    log: AbstractEventLog,
    group: str,
    batch_size: int,
    read: ReadFn | None = None,
    more: Callable[[], bool] | None = None,
    wait: float = 0.05,
) -> Iterator[tuple[list[LogRecord], dict[int, int]]]:
    """The log from the group's positions to its end, in batches, merged across partitions in the order
    the records were appended (each partition's own order kept), with the next position of every partition
    a batch read from.

    This order is what makes the first copy of a twice-appended event the one that counts: a batch
    resolved again after a crash is appended after its first copies, and the first copies were resolved
    when the earlier records around them were (a copy resolved later may name the survivor of a merge, or
    the known owner of a phone that first made an anonymous contact). `read` replaces `log.read` (e.g. the
    stored bytes of a sealed log, opened later only where needed).

    With `more`, the end of the log is not the end: while `more()` says records are still coming, the
    reader waits `wait` seconds and reads on, and once it says no more, it reads to the end once again.
    The order stays the append order: a record appended later is stamped after every record before it
    (adapters/logs/sqlite_log.py), so it never belongs before one already handed out."""
    read = read or log.read
    next_read = {p: log.committed(group, p) for p in range(log.partitions)}
    chunk = max(1, batch_size // log.partitions)
    buffers: dict[int, deque[LogRecord]] = {p: deque() for p in range(log.partitions)}
    heads: list[tuple[float, int, int]] = []

    def refill(partition: int) -> None:
        records = read(partition, next_read[partition], chunk)
        if records:
            next_read[partition] = records[-1].offset + 1
            buffers[partition].extend(records)
            first = buffers[partition][0]
            heapq.heappush(heads, (first.timestamp, partition, first.offset))

    for partition in range(log.partitions):
        refill(partition)
    while True:
        while heads:
            yield _next_batch(heads, buffers, batch_size, refill)
        if more is None:
            return
        coming = more()  # asked before reading: what was appended before a "no more" is read below
        if coming:
            time.sleep(wait)
        for partition in range(log.partitions):
            refill(partition)  # every buffer is empty here
        if not heads and not coming:
            return


def _next_batch(
    heads: list[tuple[float, int, int]],
    buffers: dict[int, deque[LogRecord]],
    batch_size: int,
    refill: Callable[[int], None],
) -> tuple[list[LogRecord], dict[int, int]]:
    """Up to `batch_size` records off the partitions' heads, oldest stamp first (`in_append_order`)."""
    batch: list[LogRecord] = []
    positions: dict[int, int] = {}
    while heads and len(batch) < batch_size:
        _, partition, _ = heapq.heappop(heads)
        record = buffers[partition].popleft()
        batch.append(record)
        positions[partition] = record.offset + 1
        if buffers[partition]:
            head = buffers[partition][0]
            heapq.heappush(heads, (head.timestamp, partition, head.offset))
        else:
            refill(partition)
    return batch, positions


def project_until_caught_up(
    resolved: AbstractEventLog,
    store: AbstractReadStore,
    *,
    dlq: AbstractEventLog | None = None,
    masterdata: AbstractEventLog | None = None,
    group: str = PROJECT_GROUP,
    batch_size: int = 5_000,
    progress: Callable[[int], None] | None = None,
    config: ProjectionConfig = DEFAULT_CONFIG,
    states: MutableMapping[str, ContactState] | None = None,
    applied: AppliedEvents | None = None,
    publish: Publisher | None = None,
    suffix: str = "",
    tables: Collection[str] | None = None,
    merge_map: MergeMap | None = None,
    typed: TypedTouchpoints | None = None,
    erase: Callable[[list[ErasureRequest]], object] | None = None,
    more: Callable[[], bool] | None = None,
) -> RunStats:
    """Step 2: every resolved partition from the group's position to its end, folded and written (facts
    last), then committed; the DLQ into `dead_letters` and masterdata merges into `contact_merges`.

    `suffix` and `tables` serve the rebuild (shadow tables, some models only); pass the same `states`
    and `applied` to every pass of one reader.

    `more`: follow a resolve step still appending in another process (`adapters/parallel_run.py`).
    Erasures wait for its end, as when every record is resolved first; the position stays before the
    first erasure request until then, so a crash projects from there again and erases."""
    load = tables is None or STATE_TABLE in tables
    stats = RunStats()
    states = {} if states is None else states
    applied = applied or AppliedEvents(store, suffix, tables)
    read, open_records = stored_reader(resolved)
    deferred: list[ErasureRequest] = []
    reached: dict[int, int] = {}
    for batch, positions in in_append_order(resolved, group, batch_size, read, more):
        items, requests = _fresh_batch(batch, applied, stats, typed, open_records)
        projected = fold_batch(items, store, states, config, suffix, load)
        write_batch(store, projected, suffix, tables or _PROJECTED)  # touchpoints last: see AppliedEvents
        applied.add(applied_key(item) for item, _, _ in items)
        states.update(projected.final_states)
        deferred += _erase_now_or_later(erase, requests, later=more is not None)
        if publish is not None and projected.messages:
            publish(projected.messages)
        reached.update(positions)
        if not deferred:
            resolved.commit(group, sorted(positions.items()))
        stats.records += len(batch)
        _tally(stats, projected)
        if progress is not None:
            progress(len(batch))
    if deferred and erase is not None:
        erase(deferred)
        resolved.commit(group, sorted(reached.items()))
    _project_the_other_logs(store, stats, dlq, masterdata, group, suffix, tables, merge_map, publish)
    return stats


def _erase_now_or_later(
    erase: Callable[[list[ErasureRequest]], object] | None, requests: list[ErasureRequest], *, later: bool
) -> list[ErasureRequest]:
    """The batch's erasure requests, carried out now (after its tombstones were written, before its
    commit: a retry erases again), or returned to be carried out at the end (`later`)."""
    if erase is None or not requests:
        return []
    if later:
        return requests
    erase(requests)
    return []


def _project_the_other_logs(
    store: AbstractReadStore,
    stats: RunStats,
    dlq: AbstractEventLog | None,
    masterdata: AbstractEventLog | None,
    group: str,
    suffix: str,
    tables: Collection[str] | None,
    merge_map: MergeMap | None,
    publish: Publisher | None,
) -> None:
    """The DLQ's letters and masterdata's merges, then the account signals, after the resolved log."""
    if dlq is not None and (tables is None or DEAD_LETTERS_TABLE in tables):
        stats.dead_lettered += project_dead_letters(dlq, store, group=group, suffix=suffix)
    if masterdata is not None and tables is None:
        stats.merges += project_merges(masterdata, store, group=group, merge_map=merge_map)
    if tables is None and (stats.records or stats.merges):
        _account_signals(store, publish)


_PROJECTED = (TOUCHPOINTS_TABLE, DEAD_LETTERS_TABLE, "signals", "customer_360", STATE_TABLE)


def project_dead_letters(
    dlq: AbstractEventLog, store: AbstractReadStore, *, group: str = PROJECT_GROUP, suffix: str = ""
) -> int:
    """The DLQ's letters as `dead_letters` rows (`steps.dead_letter_rows`); returns how many records were
    read. A record that is not a readable letter is skipped (it cannot become one by retrying)."""
    total = 0
    for partition in range(dlq.partitions):
        position = dlq.committed(group, partition)
        while batch := dlq.read(partition, position, 5_000):
            rows, _unreadable = dead_letter_rows(batch)
            if rows:
                store.insert_rows(DEAD_LETTERS_TABLE + suffix, DEAD_LETTER_COLUMNS, rows)
            position = batch[-1].offset + 1
            dlq.commit(group, [(partition, position)])
            total += len(batch)
    return total


def _merges_between(
    log: AbstractEventLog, starts: Mapping[int, int], ends: Mapping[int, int]
) -> list[dict[str, Any]]:
    # Most masterdata records are not merges: the log looks for the type's bytes (in the clear in a sealed
    # record too) where it stores them, and only the merges are opened and parsed.
    stored, open_records = stored_log(log)
    found = [
        record
        for partition in range(stored.partitions)
        for record in stored.read_containing(
            partition, starts.get(partition, 0), ends[partition], MERGE_NEEDLES
        )
    ]
    return masterdata_messages(open_records(found))[0]


def merge_map_from_history(masterdata: AbstractEventLog, group: str = PROJECT_GROUP) -> MergeMap:
    """The merge map as it stood at the group's committed position: the merges before it, replayed in the
    master record's order (once per process; later merges are applied to it incrementally)."""
    committed = {p: masterdata.committed(group, p) for p in range(masterdata.partitions)}
    merge_map = MergeMap()
    merge_rows(merge_map, _merges_between(masterdata, {}, committed))
    return merge_map


def project_merges(
    masterdata: AbstractEventLog,
    store: AbstractReadStore,
    *,
    group: str = PROJECT_GROUP,
    merge_map: MergeMap | None = None,
) -> int:
    """Merges and unmerges on `masterdata.events` since the group's position as `contact_merges` rows
    (`steps.merge_rows`: chains flattened, versioned by the notification id), applied incrementally to
    `merge_map` (built from the history when not given). Returns how many rows were written."""
    committed = {p: masterdata.committed(group, p) for p in range(masterdata.partitions)}
    ends = {p: masterdata.end_offset(p) for p in range(masterdata.partitions)}
    if committed == ends:
        return 0
    if merge_map is None:
        merge_map = merge_map_from_history(masterdata, group)
    rows = merge_rows(merge_map, _merges_between(masterdata, committed, ends))
    if rows:
        write_merges(store, rows)
    masterdata.commit(group, list(ends.items()))
    return len(rows)


# --- both steps ---------------------------------------------------------------------------------------


@dataclass
class PipelineStats:
    resolve: ResolveStats = field(default_factory=ResolveStats)
    project: RunStats = field(default_factory=RunStats)


class EmbeddedPipeline:
    """The embedded default: the embedded logs of `touchpoints.raw`, `.resolved`, `.dlq` and
    `masterdata.events`, the master record and its relay, and the read store, run as production's two
    steps. Built by the composition root (`adapters/bootstrap.py`, `Runtime.embedded_pipeline`)."""

    def __init__(
        self,
        *,
        raw: AbstractEventLog,
        resolved: AbstractEventLog,
        dlq: AbstractEventLog,
        masterdata: AbstractEventLog,
        master_record: MasterRecordPort,
        relay: Relay,
        store: AbstractReadStore | None,
        config: ProjectionConfig = DEFAULT_CONFIG,
        regions: PhoneRegions | None = None,
        batch_size: int = 5_000,
        close: Sequence[Any] = (),
        eraser: Eraser | None = None,
        stored_dlq: AbstractEventLog | None = None,
        state_cache_mb: float = DEFAULT_CACHE_MB,
        linker: ContactLinker | None = None,
    ) -> None:
        """`stored_dlq` is the DLQ as stored, for the `dead_letters` rows, when `dlq` opens what it reads
        (sealed logs, docs/privacy.md): the rows keep each original sealed, as the Faust worker's do.
        `state_cache_mb` bounds the fold's states kept in memory (`streams/state_cache.py`); `linker`
        links each resolved batch's changed contacts (none: no incremental linking). Without a `store`
        the pipeline only resolves (the project step runs in another process: adapters/parallel_run.py)."""
        from .resolve import ResolveStage

        self.raw, self.resolved, self.dlq, self.masterdata = raw, resolved, dlq, masterdata
        self.stored_dlq = stored_dlq or dlq
        self.master_record = master_record
        self.store = store
        self.config = config
        self.regions = regions
        self.batch_size = batch_size
        self.stage = ResolveStage(master_record, raw_events=events_at(raw, regions=regions))
        self.relay = relay
        self.linker = linker
        self.states: MutableMapping[str, ContactState] = StateCache.of_megabytes(state_cache_mb)
        self.merge_map: MergeMap | None = None  # built from the history on first need, then incremental
        self.typed = TypedTouchpoints()
        self._close = list(close)
        self.eraser = eraser
        if eraser is not None and eraser.on_contacts is None:
            eraser.on_contacts = self._forget_contacts

    def resolve_until_caught_up(
        self,
        progress: Callable[[int], None] | None = None,
        relaying: bool = True,
        hand_to: TouchpointSink | None = None,
    ) -> ResolveStats:
        """Step 1 to the end of the raw log; `relaying=False` leaves the master record's events to a
        `relay_all` elsewhere, and `hand_to` takes the resolved touchpoints, when the project step runs in
        another process (adapters/parallel_run.py). Otherwise this pipeline's project step takes them."""
        sink = hand_to
        if sink is None and self.store is not None:
            sink = self.typed
        return resolve_until_caught_up(
            self.raw,
            self.resolved,
            self.dlq,
            self.stage,
            relay=self.relay if relaying else None,
            batch_size=self.batch_size,
            regions=self.regions,
            progress=progress,
            typed=sink,
            linker=self.linker,
        )

    def project_until_caught_up(
        self,
        progress: Callable[[int], None] | None = None,
        publish: Publisher | None = None,
        more: Callable[[], bool] | None = None,
    ) -> RunStats:
        """Step 2 to the end of the resolved log; with `more`, following a resolve step that runs in
        another process until `more()` says it has finished (`project_until_caught_up`)."""
        if self.store is None:
            raise RuntimeError("this pipeline was opened without a read store: it only resolves")
        stats = project_until_caught_up(
            self.resolved,
            self.store,
            dlq=self.stored_dlq,
            masterdata=self.masterdata,
            batch_size=self.batch_size,
            progress=progress,
            config=self.config,
            states=self.states,
            publish=publish,
            merge_map=self._merge_map(),
            typed=self.typed,
            erase=self.eraser.erase if self.eraser is not None else None,
            more=more,
        )
        if self.eraser is not None:
            self.eraser.flush()  # the parts the run's erasures replaced leave the disk, once
        return stats

    def relay_all(self) -> int:
        """Relay the master record's events not yet on `masterdata.events`; returns how many."""
        return _relay_all(self.relay)

    def _forget_contacts(self, contact_ids: Collection[uuid.UUID]) -> None:
        """The identities the resolve stage cached for erased contacts (their fold states in memory are
        the tombstones the fold just made: nothing personal)."""
        self.stage.cache.invalidate(contact_ids)

    def _merge_map(self) -> MergeMap | None:
        # Built only when there are new masterdata records to apply: a run with nothing new reads no history.
        if self.merge_map is None and self.masterdata.lag(PROJECT_GROUP):
            self.merge_map = merge_map_from_history(self.masterdata)
        return self.merge_map

    def run_until_caught_up(self, publish: Publisher | None = None) -> PipelineStats:
        return PipelineStats(self.resolve_until_caught_up(), self.project_until_caught_up(publish=publish))

    def close(self) -> None:
        for item in reversed(self._close):
            item.close()
        self._close = []

    def __enter__(self) -> EmbeddedPipeline:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
