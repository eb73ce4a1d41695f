"""The pipeline steps, written once, as functions over a batch of log records.

The embedded runner (`streams/embedded.py`) and the Faust agents (`streams/faust_agents.py`) only
schedule these, retry them, and commit positions; neither carries a step of its own. Each step is
synchronous and touches the world only through the ports it is given, so the worker can run it on the
executor thread that owns the client.

- validate: `Validator` (`streams/validate.py`) — bad records become dead letters with the reason.
- resolve: `resolve_batch` — each valid event through the `ResolveStage`, in log order.
- project: `untyped_records`, `parse_resolved_records`, `fresh_items`, `load_states`, `fold_batch`,
  `write_batch`.
- dead letters: `dead_letter_rows`.
- merges: `merge_rows` over a `MergeMap` kept by the caller, applied incrementally; `write_merges`.
- account signals: `account_signals` — a pass over the read models after projecting (not per batch).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from ..events import Event, EventParseError, ResolvedTouchpoint, parse_resolved
from ..projections import account_signals as accounts
from ..projections.config import DEFAULT_CONFIG, ProjectionConfig
from ..projections.dead_letters import dead_letter_row
from ..projections.merges import (
    CONTACT_MERGES_TABLE,
    MEMBER_COLUMNS,
    MERGE_COLUMNS,
    MERGE_MEMBERS_TABLE,
    MERGE_TYPES,
    MergeMap,
    member_rows,
)
from ..projections.state import ContactState
from .ports import AbstractReadStore, LogRecord
from .project import STATE_TABLE, ProjectedBatch, applied_key, parse_state, project_batch
from .resolve import ResolveStage
from .sealed_log import JsonRecord
from .validate import DeadLetter

Item = tuple[ResolvedTouchpoint, int, int]  # (touchpoint, partition, offset)
Row = tuple[Any, ...]


# --- resolve ---------------------------------------------------------------------------------------------


@dataclass
class ResolvedBatch:
    """What `resolve_batch` made of the valid events of one batch."""

    # (key, record) for touchpoints.resolved, the record still a JSON object (`sealed_log.stored_bytes`).
    wires: list[JsonRecord] = field(default_factory=list)
    touchpoints: list[ResolvedTouchpoint] = field(default_factory=list)  # the same, typed, in order
    unresolved: int = 0  # touchpoints that name no contact and no account the master record knows
    merges: int = 0
    valid: int = 0  # the valid events resolved (`wires` also holds the re-attributed calls)
    reattributed: int = 0  # an anonymous caller's calls handed to the person it merged into


def arrival_order(records: Sequence[LogRecord]) -> list[LogRecord]:
    """A batch's records from every partition in the order they were appended: by timestamp, and records of
    one partition that share a timestamp (Kafka's are milliseconds) by their place among those, so one
    append's records interleave across partitions as they were sent. Each partition's own order is kept.
    Resolution makes merges as events arrive (a personal address seen before the event tying it to its
    person becomes a contact of its own first), so the embedded run and the worker put every batch in this
    order, whatever order their partitions were read in. (A timestamp lower than one before it in its
    partition, from a producer's clock, counts as that earlier one.)"""
    ties: dict[tuple[int, float], list[LogRecord]] = {}
    latest: dict[int, float] = {}
    for record in records:
        at = max(record.timestamp or 0.0, latest.get(record.partition, 0.0))
        latest[record.partition] = at
        ties.setdefault((record.partition, at), []).append(record)
    ranked = [
        (at, index / len(tied), partition, record)
        for (partition, at), tied in ties.items()
        for index, record in enumerate(tied)
    ]
    ranked.sort(key=lambda item: item[:3])
    return [item[3] for item in ranked]


def resolve_batch(stage: ResolveStage, valid: Iterable[tuple[LogRecord, Event]]) -> ResolvedBatch:
    """Resolve each event in log order, the batch as one unit of work in the master record (one read of
    each aggregate, one transaction). Resolution is idempotent (ids derive from the event), so a batch
    retried after a failure creates nothing twice. A valid event the master record ties to no one (a call
    from a number it keeps as nobody's) is still a touchpoint: departmental counts include it, and the
    data-quality view shows it as unresolved; it is never dropped."""
    batch = ResolvedBatch()
    items = [(event, record.partition, record.offset) for record, event in valid]
    for result in stage.process_batch(items):
        batch.merges += len(result.resolution.merges)
        touchpoint = result.touchpoint
        batch.unresolved += touchpoint.contact_id is None and touchpoint.account_id is None
        batch.valid += 1
        for record in (touchpoint, *result.reattributed):
            batch.wires.append((result.key, record.to_wire()))
            batch.touchpoints.append(record)
        batch.reattributed += len(result.reattributed)
    return batch


# --- project ---------------------------------------------------------------------------------------------


def untyped_records(
    records: Iterable[LogRecord], typed: Mapping[tuple[int, int], ResolvedTouchpoint] | None
) -> list[LogRecord]:
    """The records `typed` does not hold (by (partition, offset)), in order: those to open and parse."""
    if not typed:
        return list(records)
    return [r for r in records if (r.partition, r.offset) not in typed]


def parse_resolved_records(
    records: Iterable[LogRecord],
    typed: MutableMapping[tuple[int, int], ResolvedTouchpoint] | None = None,
    opened: Iterable[LogRecord] | None = None,
) -> tuple[list[Item], list[tuple[LogRecord, EventParseError]]]:
    """The batch's resolved touchpoints, and the records that are not one (not fixable by a retry: the
    caller counts and reports them, and moves on). `typed` holds touchpoints this process appended itself,
    by (partition, offset): taken from there instead of parsed again (each is handed out once). `opened`:
    the `untyped_records` of the batch opened (same order), parsed in their place; else the records are
    parsed as they are."""
    items: list[Item] = []
    unreadable: list[tuple[LogRecord, EventParseError]] = []
    rest = iter(opened) if opened is not None else None
    for record in records:
        known = typed.pop((record.partition, record.offset), None) if typed is not None else None
        if known is not None:
            items.append((known, record.partition, record.offset))
            continue
        if rest is not None:
            record = next(rest)
        try:
            items.append((parse_resolved(record.value), record.partition, record.offset))
        except EventParseError as exc:
            unreadable.append((record, exc))
    return items, unreadable


def fresh_items(items: Sequence[Item], known: set[str]) -> tuple[list[Item], int]:
    """Drop the events already applied (`known`, from `AppliedEvents`) and second copies within the batch;
    returns the rest, in order, and how many were dropped."""
    seen = set(known)
    fresh: list[Item] = []
    for item in items:
        key = applied_key(item[0])
        if key in seen:
            continue
        seen.add(key)
        fresh.append(item)
    return fresh, len(items) - len(fresh)


def load_states(store: AbstractReadStore, contact_ids: set[str], suffix: str = "") -> dict[str, ContactState]:
    """The newest saved state of each contact, from `projection_state<suffix>`."""
    if not contact_ids:
        return {}
    rows = store.query_chunked(
        f"SELECT contact_id, argMax(state, version) FROM {STATE_TABLE}{suffix} "
        "WHERE contact_id IN %(ids)s GROUP BY contact_id",
        "ids",
        sorted(contact_ids),
    )
    return {str(contact_id): parse_state(text) for contact_id, text in rows}


def fold_batch(
    items: list[Item],
    store: AbstractReadStore,
    states: Mapping[str, ContactState],
    config: ProjectionConfig = DEFAULT_CONFIG,
    suffix: str = "",
    load: bool = True,
) -> ProjectedBatch:
    """Fold one batch into a scratch copy of the states it touches (unseen contacts loaded first).

    `states` is read, never changed: the caller merges `final_states` in only after the rows were written,
    so a failed write retried folds the same events again from the same states.
    """
    contacts = {item.contact_id for item, _, _ in items if item.contact_id is not None}
    scratch = {c: states[c] for c in contacts if c in states}
    if load:
        scratch.update(load_states(store, contacts - set(scratch), suffix))
    batch = project_batch(items, scratch, config)
    batch.final_states = scratch
    return batch


# --- dead letters ----------------------------------------------------------------------------------------


def dead_letter_rows(records: Iterable[LogRecord]) -> tuple[list[Row], list[tuple[LogRecord, Exception]]]:
    """`dead_letters` rows for the DLQ's records, keyed by the raw record each came from (a letter written
    twice by a repeated batch is one row), and the records that are not readable letters."""
    rows: list[Row] = []
    unreadable: list[tuple[LogRecord, Exception]] = []
    for record in records:
        try:
            letter = DeadLetter.from_bytes(record.value)
        except (ValueError, KeyError, TypeError) as exc:
            unreadable.append((record, exc))
            continue
        # The raw record's own timestamp: a replay or a rebuild writes the same row.
        at = letter.source_timestamp or letter.dead_lettered_at.timestamp()
        received = datetime.fromtimestamp(int(at), UTC)
        rows.append(
            dead_letter_row(
                letter.source_partition, letter.source_offset, received, letter.error, letter.original
            )
        )
    return rows, unreadable


# --- merges ----------------------------------------------------------------------------------------------


#: How a merge's type reads in a `masterdata.events` record as stored (sealed or not: the type is clear).
MERGE_NEEDLES = tuple(f'"type":"{t}"'.encode() for t in MERGE_TYPES)


def merge_records(records: Sequence[LogRecord]) -> list[LogRecord]:
    """The merges and unmerges among `masterdata.events` records as stored."""
    return [r for r in records if any(needle in r.value for needle in MERGE_NEEDLES)]


def with_opened(records: Sequence[LogRecord], opened: Sequence[LogRecord]) -> list[LogRecord]:
    """`records` with those of `opened` (same partition and offset) in their place."""
    by_position = {(r.partition, r.offset): r for r in opened}
    return [by_position.get((r.partition, r.offset), r) for r in records]


def masterdata_messages(records: Iterable[LogRecord]) -> tuple[list[dict[str, Any]], list[LogRecord]]:
    """The `masterdata.events` records as JSON objects, and the records that are not one."""
    messages: list[dict[str, Any]] = []
    unreadable: list[LogRecord] = []
    for record in records:
        try:
            message = orjson.loads(record.value)
        except orjson.JSONDecodeError:
            message = None
        if isinstance(message, dict):
            messages.append(message)
        else:
            unreadable.append(record)
    return messages, unreadable


def merge_rows(merge_map: MergeMap, messages: Iterable[Mapping[str, Any]]) -> list[Row]:
    """`contact_merges` rows for the merges and unmerges among `messages`, applied to `merge_map` in the
    master record's order (its notification id: one global order, whatever partition carried them)."""
    merges = sorted(
        (m for m in messages if m.get("type") in MERGE_TYPES),
        key=lambda m: int(m.get("notification_id") or 0),
    )
    rows: list[Row] = []
    for message in merges:
        data = message.get("data") or {}
        survivor, merged = str(message.get("aggregate_id") or ""), str(data.get("merged_id") or "")
        version = int(message.get("notification_id") or 0)
        if not survivor or not merged or survivor == merged:
            continue
        if message.get("type") == "ContactsMerged":
            rows += merge_map.merged(merged, survivor, version, str(data.get("reason") or ""))
        else:
            rows += merge_map.unmerged(merged, version)
    return rows


def write_merges(store: AbstractReadStore, rows: Sequence[Row]) -> None:
    """`merge_rows`' rows into `contact_merges`, and the active ones into `merge_members` (by survivor)
    first: a reader takes a member only once its `contact_merges` row names the survivor."""
    members = member_rows(rows)
    if members:
        store.insert_rows(MERGE_MEMBERS_TABLE, MEMBER_COLUMNS, members)
    store.insert_rows(CONTACT_MERGES_TABLE, MERGE_COLUMNS, rows)


def load_merge_map(store: AbstractReadStore) -> MergeMap:
    """The merges in force, as the read store holds them (merged contact -> its survivor)."""
    found = store.query(
        f"SELECT merged_id, survivor_id, reason FROM {CONTACT_MERGES_TABLE} FINAL WHERE active = 1"
    )
    return MergeMap({str(m): str(s) for m, s, _ in found}, {str(m): str(r) for m, _, r in found})


# --- account signals -------------------------------------------------------------------------------------


def account_signals(store: AbstractReadStore) -> list[dict[str, Any]]:
    """Raise and clear the account-level signals (projections/account_signals.py) from what the read
    store holds now; returns their messages for `signals.*`. Run again, it changes nothing."""
    lifted = store.query(accounts.LIFTED_NOW)
    known = store.query(accounts.KNOWN)
    newest = None if lifted or not known else store.query(accounts.NEWEST_EVENT)[0][0]
    found = accounts.changes(lifted, known, newest)
    if found.rows:
        store.insert_rows(accounts.ACCOUNT_SIGNALS_TABLE, accounts.ACCOUNT_SIGNAL_COLUMNS, found.rows)
    return found.messages
