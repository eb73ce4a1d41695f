"""The batch step: resolved touchpoints in, rows and messages out — shared by the embedded runner, the
rebuild and (next) the Faust agent. Pure apart from changing the `states` mapping it is given.

Per batch each contact gets one customer_360 row, one state row and one `customer360.changes` message
(its final state): ReplacingMergeTree and the compacted topic keep only the newest anyway, and building
them per event would double the fold's cost.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from touchstream.adapters.read_store import AbstractReadStore
from touchstream.events import ResolvedTouchpoint
from touchstream.projections.config import DEFAULT_CONFIG, ProjectionConfig
from touchstream.projections.customer_360 import (
    CUSTOMER_360_COLUMNS,
    CUSTOMER_360_TABLE,
    change_message,
    profile_row,
)
from touchstream.projections.dead_letters import DEAD_LETTER_COLUMNS, DEAD_LETTERS_TABLE
from touchstream.projections.fold import fold
from touchstream.projections.signal_rows import SIGNAL_COLUMNS, SIGNALS_TABLE
from touchstream.projections.state import ContactState
from touchstream.projections.touchpoints import TOUCHPOINT_COLUMNS, TOUCHPOINTS_TABLE, touchpoint_row

STATE_TABLE = "projection_state"
STATE_COLUMNS = ("contact_id", "version", "state")

Row = tuple[Any, ...]


@dataclass
class ProjectedBatch:
    touchpoints: list[Row] = field(default_factory=list)
    dead_letters: list[Row] = field(default_factory=list)
    profiles: list[Row] = field(default_factory=list)
    signals: list[Row] = field(default_factory=list)
    states: list[Row] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    signals_raised: int = 0
    # The contacts' states after the batch (merge into the runner's cache once the rows are written).
    final_states: dict[str, ContactState] = field(default_factory=dict)


def state_row(state: ContactState) -> Row:
    return (state.contact_id, state.version, orjson.dumps(state.to_json()).decode())


def parse_state(text: str) -> ContactState:
    return ContactState.from_json(orjson.loads(text))


def project_batch(
    items: Iterable[tuple[ResolvedTouchpoint, int, int]],
    states: MutableMapping[str, ContactState],
    config: ProjectionConfig = DEFAULT_CONFIG,
) -> ProjectedBatch:
    """Fold `(resolved, partition, offset)` items, in log order, into `states`; return what to write."""
    out = ProjectedBatch()
    changed: dict[str, ContactState] = {}
    for resolved, partition, offset in items:
        out.touchpoints.append(touchpoint_row(resolved, partition, offset))
        contact_id = resolved.contact_id
        if contact_id is None:  # about an organization only: a fact, no 360 fold
            continue
        before = states.get(contact_id)
        state, result = fold(before, resolved, offset, config, partition=partition, with_profile=False)
        if state is before:
            continue
        states[contact_id] = changed[contact_id] = state
        out.signals.extend(result.signals)
        out.messages.extend(result.messages)
        out.signals_raised += sum(1 for c in result.changes if c.changed_status and c.status == "raised")
    out.final_states = changed
    for state in changed.values():
        out.profiles.append(profile_row(state, state.version))
        out.states.append(state_row(state))
        out.messages.append(change_message(state, state.version))
    return out


def write_batch(
    store: AbstractReadStore, batch: ProjectedBatch, suffix: str = "", tables: Collection[str] | None = None
) -> None:
    """Insert a batch's rows, facts first (a crash after this replays the batch: every table is
    idempotent). `suffix` names the rebuild's shadow tables; `tables` limits the write to some of them."""
    for table, columns, rows in (
        (TOUCHPOINTS_TABLE, TOUCHPOINT_COLUMNS, batch.touchpoints),
        (DEAD_LETTERS_TABLE, DEAD_LETTER_COLUMNS, batch.dead_letters),
        (SIGNALS_TABLE, SIGNAL_COLUMNS, batch.signals),
        (CUSTOMER_360_TABLE, CUSTOMER_360_COLUMNS, batch.profiles),
        (STATE_TABLE, STATE_COLUMNS, batch.states),
    ):
        if rows and (tables is None or table in tables):
            store.insert_rows(table + suffix, columns, rows)
