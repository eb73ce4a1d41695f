"""The batch step: resolved touchpoints in, rows and messages out — shared by the embedded runner, the
rebuild and (next) the Faust agent. Pure apart from changing the `states` mapping it is given.

Per batch each contact gets one customer_360 row, one state row and one `customer360.changes` message
(its final state): ReplacingMergeTree and the compacted topic keep only the newest anyway, and building
them per event would double the fold's cost.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..events import ResolvedTouchpoint
from ..projections.config import DEFAULT_CONFIG, ProjectionConfig
from ..projections.customer_360 import (
    CUSTOMER_360_COLUMNS,
    CUSTOMER_360_TABLE,
    change_message,
    profile_row,
)
from ..projections.dead_letters import DEAD_LETTER_COLUMNS, DEAD_LETTERS_TABLE
from ..projections.fold import fold
from ..projections.signal_rows import SIGNAL_COLUMNS, SIGNALS_TABLE
from ..projections.state import ContactState
from ..projections.touchpoints import (
    REATTRIBUTED_OFFSET,
    TOUCHPOINT_COLUMNS,
    TOUCHPOINTS_TABLE,
    touchpoint_row,
)
from .ports import AbstractReadStore

STATE_TABLE = "projection_state"
STATE_COLUMNS = ("contact_id", "version", "state")
#: identifier -> contact id candidates (projections/migrations.py, migration 12), read by the API's search.
LOOKUP_TABLE = "contact_lookup"
LOOKUP_COLUMNS = ("identifier", "contact_id", "version")
#: Deals' and tickets' facts by item, and each contact id's items (migration 13), read by the 360 document.
WORK_FACTS_TABLE = "work_facts"
WORK_FACT_COLUMNS = (
    "item",
    "event_id",
    "contact_id",
    "type",
    "occurred_at",
    "title",
    "stage",
    "amount",
    "currency",
    "owner",
    "expected_close",
    "priority",
    "status",
    "public_reply",
    "product",
    "channel",
    "log_partition",
    "log_offset",
)
CONTACT_ITEMS_TABLE = "contact_items"
CONTACT_ITEMS_COLUMNS = ("contact_id", "item", "version")
#: Each contact id's facts as its timeline shows them, ordered by contact id (migration 21).
TIMELINE_TABLE = "contact_timeline"
TIMELINE_COLUMNS = (
    "contact_id",
    "occurred_at",
    "event_id",
    "department",
    "type",
    "source",
    "summary",
    "log_offset",
)
#: account id -> the contact ids ever written with it (migration 22), read by the API's account view.
ACCOUNT_MEMBERS_TABLE = "account_members"
ACCOUNT_MEMBERS_COLUMNS = ("account_id", "contact_id", "version")
#: Tables derived from the live ones and never shadowed by a rebuild (see write_batch).
DERIVED_TABLES = (LOOKUP_TABLE, WORK_FACTS_TABLE, CONTACT_ITEMS_TABLE, TIMELINE_TABLE, ACCOUNT_MEMBERS_TABLE)

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
        owned = contact_id in changed  # folded earlier in this batch: the state is this batch's own copy
        state, result = fold(
            before, resolved, offset, config, partition=partition, with_profile=False, owned=owned
        )
        if state is before and not owned:
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


_P = {name: i for i, name in enumerate(CUSTOMER_360_COLUMNS)}
_T = {name: i for i, name in enumerate(TOUCHPOINT_COLUMNS)}


def lookup_rows(batch: ProjectedBatch) -> list[Row]:
    """The `contact_lookup` rows of a batch: each profile's email and phone, each fact's external id."""
    rows: list[Row] = []
    for p in batch.profiles:
        if p[_P["erased"]]:
            continue
        contact, version = p[_P["contact_id"]], p[_P["version"]]
        rows.extend((f"{kind}:{p[_P[kind]]}", contact, version) for kind in ("email", "phone") if p[_P[kind]])
    for t in batch.touchpoints:
        if t[_T["identifier_kind"]] == "ext" and t[_T["identifier"]] and t[_T["contact_id"]]:
            rows.append((t[_T["identifier"]], t[_T["contact_id"]], t[_T["log_offset"]]))
    return rows


_ITEMS = (("o", "opportunity_id"), ("t", "ticket_id"))
_WORK_SOURCE = [_T[name] for name in WORK_FACT_COLUMNS[1:]]


def work_rows(batch: ProjectedBatch) -> tuple[list[Row], list[Row]]:
    """The `work_facts` and `contact_items` rows of a batch: each fact naming a deal or a ticket."""
    facts: list[Row] = []
    items: list[Row] = []
    for t in batch.touchpoints:
        for prefix, column in _ITEMS:
            if t[_T[column]]:
                item = f"{prefix}:{t[_T[column]]}"
                facts.append((item, *(t[i] for i in _WORK_SOURCE)))
                if t[_T["contact_id"]]:
                    items.append((t[_T["contact_id"]], item, t[_T["log_offset"]]))
    return facts, items


def account_member_rows(batch: ProjectedBatch) -> list[Row]:
    """The `account_members` rows of a batch: each profile's account."""
    return [
        (p[_P["account_id"]], p[_P["contact_id"]], p[_P["version"]])
        for p in batch.profiles
        if p[_P["account_id"]]
    ]


_TIMELINE_SOURCE = [_T[name] for name in TIMELINE_COLUMNS]


def timeline_rows(batch: ProjectedBatch) -> list[Row]:
    """The `contact_timeline` rows of a batch: each fact of a contact."""
    return [tuple(t[i] for i in _TIMELINE_SOURCE) for t in batch.touchpoints if t[_T["contact_id"]]]


def write_batch(
    store: AbstractReadStore, batch: ProjectedBatch, suffix: str = "", tables: Collection[str] | None = None
) -> None:
    """Insert a batch's rows, `touchpoints` last (a crash before it replays the batch: every table is
    idempotent, and AppliedEvents sees the batch as not yet applied). `suffix` names the rebuild's shadow
    tables; `tables` limits the write to some of them.

    `contact_lookup`, `work_facts`, `contact_items`, `contact_timeline` and `account_members` are derived
    from customer_360 and touchpoints rows and never shadowed: a rebuild writes them in place (it replays
    the same events: the same keys, and the engine keeps one), which also fills them for data written
    before they existed; readers check their candidates against the current rows."""
    derived = tables is None or CUSTOMER_360_TABLE in tables or TOUCHPOINTS_TABLE in tables
    facts, items = work_rows(batch) if derived else ([], [])
    for table, columns, rows in (
        (DEAD_LETTERS_TABLE, DEAD_LETTER_COLUMNS, batch.dead_letters),
        (SIGNALS_TABLE, SIGNAL_COLUMNS, batch.signals),
        (CUSTOMER_360_TABLE, CUSTOMER_360_COLUMNS, batch.profiles),
        (STATE_TABLE, STATE_COLUMNS, batch.states),
        (LOOKUP_TABLE, LOOKUP_COLUMNS, lookup_rows(batch) if derived else []),
        (WORK_FACTS_TABLE, WORK_FACT_COLUMNS, facts),
        (CONTACT_ITEMS_TABLE, CONTACT_ITEMS_COLUMNS, items),
        (TIMELINE_TABLE, TIMELINE_COLUMNS, timeline_rows(batch) if derived else []),
        (ACCOUNT_MEMBERS_TABLE, ACCOUNT_MEMBERS_COLUMNS, account_member_rows(batch) if derived else []),
        # Last: an event id found in touchpoints means every row of its batch is written (AppliedEvents).
        (TOUCHPOINTS_TABLE, TOUCHPOINT_COLUMNS, batch.touchpoints),
    ):
        if rows and table in DERIVED_TABLES:
            store.insert_rows(table, columns, rows)  # never shadowed (above)
        elif rows and (tables is None or table in tables):
            store.insert_rows(table + suffix, columns, rows)


_AGAIN = "#reattributed"


def applied_key(resolved: ResolvedTouchpoint) -> str:
    """What `AppliedEvents` knows a resolved record by: its event id, and for a re-attributed call (handed
    again to the person an anonymous caller's contact merged into) a key of its own, so it passes the
    guard its first attribution already went through."""
    event_id = str(resolved.event.event_id)
    return event_id + _AGAIN if resolved.reattributed else event_id


class AppliedEvents:
    """Which event ids the read store already holds: the projection's guard against a record appended
    twice at different offsets (a re-resolved batch, a producer's retry).

    With `touchpoints<suffix>` among the tables written, that table answers (it is written last in each
    batch, so an id found there had all its rows written); otherwise the ids seen by this object answer,
    which is complete only for a reader that started at offset 0 (the rebuild). `fresh_tables`: the tables
    were created empty for this one reader, which starts at offset 0 (the rebuild's shadow tables), so
    the ids it has seen are all the table holds and it is not asked (each batch's question scanned the
    growing table: ~7 % of a rebuild of 29.5k events, and quadratic in the log's length). The ids seen
    cost ~130 bytes each in memory (~130 MB for a rebuild of a million events).
    """

    def __init__(
        self,
        store: AbstractReadStore,
        suffix: str = "",
        tables: Collection[str] | None = None,
        *,
        fresh_tables: bool = False,
    ):
        self.store = store
        self.table = TOUCHPOINTS_TABLE + suffix
        self.in_store = not fresh_tables and (tables is None or TOUCHPOINTS_TABLE in tables)
        self.seen: set[str] = set()

    def known(self, keys: Sequence[str]) -> set[str]:
        """Which of these `applied_key`s are applied: an event id whose fact is there, or a re-attributed
        event's key whose re-attributed fact is."""
        if not self.in_store:
            return {i for i in keys if i in self.seen}
        first = sorted({k for k in keys if not k.endswith(_AGAIN)})
        again = sorted({k.removesuffix(_AGAIN) for k in keys if k.endswith(_AGAIN)})
        found: set[str] = set()
        later = f" AND log_offset >= {REATTRIBUTED_OFFSET}"
        for ids, condition, suffix in ((first, "", ""), (again, later, _AGAIN)):
            if ids:
                rows = self.store.query_chunked(
                    f"SELECT DISTINCT event_id FROM {self.table} WHERE event_id IN %(ids)s{condition}",
                    "ids",
                    ids,
                )
                found.update(row[0] + suffix for row in rows)
        return found

    def add(self, event_ids: Iterable[str]) -> None:
        if not self.in_store:
            self.seen.update(event_ids)
