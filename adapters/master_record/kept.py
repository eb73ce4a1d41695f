"""Aggregates kept in memory from one batch to the next, used only once the store says they are current.

A batch of touchpoints reads the identifier claims, contacts and accounts it meets (`bulk_read.read_many`:
their snapshots and events, decoded and replayed). The same customers come back batch after batch, and
that re-reading was a third of resolving in the Faust worker (which takes small batches) and grew with
every extra batch of the embedded run. So the aggregates a batch read or wrote are kept, and the next
batch asks the store only for each kept one's newest version (one statement per `CHUNK` ids, the events
table's primary key, nothing decoded): an aggregate whose version is still the stored one is used as it
is; any other is read again. Another worker, a steward's merge or this process's own writes outside a
batch all add events, so they all show as a newer version.

Forgetting is the one change that adds no event: it rewrites the stored values in place (forget.py). It
also counts itself in a one-row table (`FORGET_TABLE`), which every batch reads first, and logs the
aggregates it rewrote under that count (`FORGET_LOG`); when the count moved, the aggregates logged since
are dropped, so one still holding the forgotten values is never used again (a snapshot taken from it
would write them back). Dropping everything instead emptied the cache at every erasure: with the
generator's 12 erasures in 33k events, nearly every batch of a Faust worker read all it met again. The
count row is updated under its row lock, so forgettings commit in count order and a batch that saw count
n has seen every log row up to n; a count with nothing logged (a forgetting by an older version) drops
everything, as before.

An aggregate is either kept or in a batch, never both: `take` hands it over and only a batch that saved
gives it back. So what a failed batch changed in memory is never used again.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate

from ...streams.ports import batched
from .bulk_read import PG_CHUNK
from .sql_store import sql_store

__all__ = ["CHUNK", "DEFAULT_KEPT", "FORGET_TABLE", "KeptAggregates", "bump_forget_count"]

#: Aggregates kept at most, the least recently used going first: ~3 KB each (the 3,727 aggregates of a
#: 31k-event generated history took 11 MB), so ~60 MB at most.
DEFAULT_KEPT = 20_000
CHUNK = 500
FORGET_TABLE = "forget_count"
FORGET_LOG = "forget_log"

Versions = Callable[[Sequence[UUID]], dict[UUID, int]]
#: (count seen, count now) -> the aggregates forgotten between them, or None when some were not logged.
Forgotten = Callable[[int, int], set[UUID] | None]


class KeptAggregates:
    """The aggregates of earlier batches, by id, least recently used first."""

    def __init__(self, app: Application[UUID], max_size: int = DEFAULT_KEPT) -> None:
        self.max_size = max_size
        self.items: OrderedDict[UUID, Aggregate] = OrderedDict()
        self._versions, self._forget_count, self._forgotten = _store_readers(app)
        self._forgets_seen: int | None = None
        self.reused = 0  # aggregates a batch took from here instead of the store (a gauge)

    def begin(self) -> None:
        """At a batch's start: drop what the store forgot since the last batch (everything, if a
        forgetting logged nothing)."""
        count = self._forget_count()
        if count == self._forgets_seen:
            return
        seen, self._forgets_seen = self._forgets_seen, count
        if not self.items:
            return
        forgotten = None if seen is None or count < seen else self._forgotten(seen, count)
        if forgotten is None:
            self.items.clear()
        else:
            self.drop(forgotten)

    def forgotten_since_begin(self) -> set[UUID] | None:
        """The aggregates forgettings rewrote since the batch began (`begin`); None when one logged
        nothing (an older version's), so what it rewrote is unknown."""
        count, seen = self._forget_count(), self._forgets_seen
        if seen is None or count == seen:
            return set()
        return None if count < seen else self._forgotten(seen, count)

    def take(self, ids: Collection[UUID]) -> dict[UUID, Aggregate]:
        """The kept aggregates among `ids` whose version is the stored one; the others are dropped."""
        held = [i for i in ids if i in self.items]
        if not held:
            return {}
        stored = self._versions(held)
        current: dict[UUID, Aggregate] = {}
        for aggregate_id in held:
            aggregate = self.items.pop(aggregate_id)
            if stored.get(aggregate_id) == aggregate.version:
                current[aggregate_id] = aggregate
        self.reused += len(current)
        return current

    def keep(self, aggregates: Iterable[Aggregate]) -> None:
        """After a batch was saved: what it read and wrote, as it is now stored."""
        if not self.max_size:
            return
        for aggregate in aggregates:
            self.items[aggregate.id] = aggregate
            self.items.move_to_end(aggregate.id)
        while len(self.items) > self.max_size:
            self.items.popitem(last=False)

    def drop(self, ids: Iterable[UUID]) -> None:
        for aggregate_id in ids:
            self.items.pop(aggregate_id, None)


def bump_forget_count(cursor: Any, mark: str, aggregate_ids: Sequence[UUID]) -> None:
    """Inside forget.py's transaction: count one more forgetting and log the aggregates it rewrote
    (`cursor`: a connection of either driver; `mark`: its placeholder)."""
    _create_forget_tables(cursor, FORGET_TABLE, FORGET_LOG)
    cursor.execute(
        f"INSERT INTO {FORGET_TABLE} (id, n) VALUES ({mark}, 1) "
        f"ON CONFLICT (id) DO UPDATE SET n = {FORGET_TABLE}.n + 1",
        (1,),
    )
    row = cursor.execute(f"SELECT n FROM {FORGET_TABLE} WHERE id = {mark}", (1,)).fetchone()
    count = _first(row)
    for chunk in batched([(count, str(aggregate_id)) for aggregate_id in aggregate_ids], CHUNK):
        values = ", ".join(f"({mark}, {mark})" for _ in chunk)
        params = [value for row in chunk for value in row]
        cursor.execute(f"INSERT INTO {FORGET_LOG} (n, aggregate_id) VALUES {values}", params)


def _create_forget_tables(cursor: Any, table: str, log: str) -> None:
    cursor.execute(f"CREATE TABLE IF NOT EXISTS {table} (id INTEGER PRIMARY KEY, n BIGINT NOT NULL)")
    cursor.execute(f"CREATE TABLE IF NOT EXISTS {log} (n BIGINT NOT NULL, aggregate_id TEXT NOT NULL)")
    # The index's name is bare (PostgreSQL puts an index in its table's schema and refuses a qualified name).
    cursor.execute(f"CREATE INDEX IF NOT EXISTS {FORGET_LOG}_n ON {log} (n)")


def _first(row: Any) -> int:
    return int(next(iter(row.values())) if isinstance(row, dict) else row[0])


def _store_readers(app: Application[UUID]) -> tuple[Versions, Callable[[], int], Forgotten]:
    """How to read stored versions, the forget count and the forget log of the app's store: SQL on SQLite
    and PostgreSQL, the recorder's own reads on any other (the in-memory store has no other writer)."""
    store = sql_store(app)
    if store is not None:
        match, key, mark = ("IN", _hex, "?") if store.dialect == "sqlite" else ("ANY", str, "%s")
        tables = (store.table(FORGET_TABLE), store.table(FORGET_LOG))
        return _sql_readers(store.datastore, store.events_table, tables, match, key, mark)

    def versions(ids: Sequence[UUID]) -> dict[UUID, int]:
        found = {}
        for aggregate_id in ids:
            newest = app.recorder.select_events(aggregate_id, desc=True, limit=1)
            if newest:
                found[aggregate_id] = newest[0].originator_version
        return found

    return versions, lambda: 0, lambda seen, count: set()


def _hex(aggregate_id: UUID) -> str:
    return aggregate_id.hex


def _sql_readers(
    datastore: Any,
    events: str,
    forget_tables: tuple[str, str],
    match: str,
    key: Callable[[UUID], Any],
    mark: str,
) -> tuple[Versions, Callable[[], int], Forgotten]:
    forget_table, forget_log = forget_tables
    with datastore.transaction(commit=True) as cursor:
        _create_forget_tables(cursor, forget_table, forget_log)

    def versions(ids: Sequence[UUID]) -> dict[UUID, int]:
        found: dict[UUID, int] = {}
        size = CHUNK if match == "IN" else PG_CHUNK  # PostgreSQL takes the ids as one array
        for start in range(0, len(ids), size):
            chunk = [key(i) for i in ids[start : start + size]]
            if match == "IN":
                statement = (
                    f"SELECT originator_id, MAX(originator_version) FROM {events} "
                    f"WHERE originator_id IN ({','.join(mark * len(chunk))}) GROUP BY originator_id"
                )
            else:  # each id's newest version by the primary key, however little the planner knows
                statement = (
                    f"SELECT w.id, (SELECT MAX(e.originator_version) FROM {events} e "
                    f"WHERE e.originator_id = w.id) FROM unnest({mark}::uuid[]) AS w(id)"
                )
            with datastore.transaction(commit=False) as cursor:
                cursor.execute(statement, chunk if match == "IN" else [chunk])
                rows = cursor.fetchall()
            for row in rows:
                values = tuple(row.values()) if isinstance(row, dict) else tuple(row)
                if values[1] is not None:  # an id with no events (PostgreSQL's answer names every id)
                    found[values[0] if isinstance(values[0], UUID) else UUID(str(values[0]))] = values[1]
        return found

    def forget_count() -> int:
        with datastore.transaction(commit=False) as cursor:
            cursor.execute(f"SELECT n FROM {forget_table} WHERE id = {mark}", (1,))
            row = cursor.fetchone()
        return 0 if row is None else _first(row)

    def forgotten(seen: int, count: int) -> set[UUID] | None:
        with datastore.transaction(commit=False) as cursor:
            cursor.execute(
                f"SELECT n, aggregate_id FROM {forget_log} WHERE n > {mark} AND n <= {mark}", (seen, count)
            )
            rows = [tuple(r.values()) if isinstance(r, dict) else tuple(r) for r in cursor.fetchall()]
        if {int(n) for n, _ in rows} != set(range(seen + 1, count + 1)):
            return None  # a forgetting that logged nothing: what it rewrote is unknown
        return {UUID(str(aggregate_id)) for _, aggregate_id in rows}

    return versions, forget_count, forgotten
