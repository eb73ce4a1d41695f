"""The embedded runner: drives the projections in-process from the embedded log into chDB.

Faust has no in-memory transport, so this is ours (as eventsourcing's SingleThreadedRunner is theirs). Per
batch: parse (bad records become dead letters), resolve identity, fold (`streams/project.py`), insert,
then commit positions. Positions are committed only after the read store took the rows: a crash replays,
never skips, and the idempotent tables absorb the replay.

The fold's per-contact state lives in a dict while the runner runs and in chDB's `projection_state`
table between runs (read back for the contacts a batch meets for the first time), so a second run
continues where the first stopped and nothing but the read store needs to survive. Production keeps the
same state in a Faust table instead.

Identity: until the master record's resolver is wired, `stand_in_resolver` names a contact by its
strongest identifier. That is also the log's partition key, so one contact's events share one partition
and the log offset orders them — the order the fold relies on. The real resolver plugs in as `resolve`;
with it, the embedded path must append to a resolved log keyed by contact id first (as production does),
because a contact's identifiers may then span partitions.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from touchstream.adapters.event_log import AbstractEventLog, LogRecord
from touchstream.adapters.migrate import load_config, migrate
from touchstream.adapters.read_store import AbstractReadStore
from touchstream.events import Event, EventParseError, ResolvedTouchpoint, parse_event
from touchstream.projections.config import DEFAULT_CONFIG, ProjectionConfig
from touchstream.projections.dead_letters import dead_letter_row
from touchstream.projections.state import ContactState
from touchstream.streams.project import STATE_TABLE, ProjectedBatch, parse_state, project_batch, write_batch

DEFAULT_GROUP = "touchstream-embedded"
# Fixed forever: the stand-in's contact and account ids derive from it.
STAND_IN_NAMESPACE = uuid.UUID("7d4f2c1e-9b3a-4e5f-8a6b-1c2d3e4f5a6b")

#: Who an event is about: (contact id, or None for an organization only; account id or None).
Resolver = Callable[[Event], tuple[str | None, str | None]]
#: Receives each batch's messages (`{"topic", "key", "value"}`) after its rows were written.
Publisher = Callable[[list[dict[str, Any]]], None]


def stand_in_resolver(event: Event) -> tuple[str | None, str | None]:
    """A deterministic contact id from the strongest identifier; an account id from the domain or an
    account external id. No merging at all: the master record's resolver replaces this."""
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


@dataclass
class RunStats:
    records: int = 0
    accepted: int = 0
    dead_lettered: int = 0
    contacts_updated: int = 0
    signals_raised: int = 0
    messages: int = 0


def prepare_read_store(store: AbstractReadStore, config: ProjectionConfig = DEFAULT_CONFIG) -> None:
    """Apply pending migrations and load the config tables."""
    migrate(store)
    load_config(store, config)


def load_states(store: AbstractReadStore, contact_ids: set[str], suffix: str = "") -> dict[str, ContactState]:
    if not contact_ids:
        return {}
    rows = store.query(
        f"SELECT contact_id, argMax(state, version) FROM {STATE_TABLE}{suffix} "
        "WHERE contact_id IN %(ids)s GROUP BY contact_id",
        {"ids": tuple(sorted(contact_ids))},
    )
    return {contact_id: parse_state(text) for contact_id, text in rows}


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
) -> ProjectedBatch:
    """Parse, resolve and fold one batch of log records (loading unseen contacts' states first).

    `states` is read, never changed: the batch folds into a scratch copy that the caller merges in only
    after the rows were written, so a failed write retried in the same process folds the events again.
    """
    resolved: list[tuple[ResolvedTouchpoint, int, int]] = []
    dead: list[tuple[Any, ...]] = []
    for record in records:
        received = _received_at(record)
        try:
            event = parse_event(record.value, now=received)
        except EventParseError as err:
            dead.append(
                dead_letter_row(record.partition, record.offset, received, err.to_dict(), record.value)
            )
            continue
        contact_id, account_id = resolve(event)
        item = ResolvedTouchpoint(event, contact_id, account_id, record.partition, record.offset)
        resolved.append((item, record.partition, record.offset))
    contacts = {item.contact_id for item, _, _ in resolved if item.contact_id is not None}
    scratch = {c: states[c] for c in contacts if c in states}
    if load:
        scratch.update(load_states(store, contacts - set(scratch), suffix))
    batch = project_batch(resolved, scratch, config)
    batch.dead_letters = dead
    batch.final_states = scratch
    return batch


def run_until_caught_up(
    log: AbstractEventLog,
    store: AbstractReadStore,
    *,
    group: str = DEFAULT_GROUP,
    batch_size: int = 5_000,
    progress: Callable[[int], None] | None = None,
    resolve: Resolver = stand_in_resolver,
    config: ProjectionConfig = DEFAULT_CONFIG,
    states: MutableMapping[str, ContactState] | None = None,
    publish: Publisher | None = None,
    suffix: str = "",
    tables: Collection[str] | None = None,
) -> RunStats:
    """Consume every partition from the group's committed position to the end of the log.

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
            write_batch(store, projected, suffix, tables)
            states.update(projected.final_states)
            if publish is not None and projected.messages:
                publish(projected.messages)
            position = batch[-1].offset + 1
            log.commit(group, [(partition, position)])
            stats.records += len(batch)
            stats.accepted += len(projected.touchpoints)
            stats.dead_lettered += len(projected.dead_letters)
            stats.contacts_updated += len(projected.profiles)
            stats.signals_raised += projected.signals_raised
            stats.messages += len(projected.messages)
            if progress is not None:
                progress(len(batch))
    return stats
