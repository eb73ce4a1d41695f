"""Many aggregates of the master record in one round trip: what a batch of touchpoints will read.

`Repository.get` costs two statements per aggregate (the newest snapshot, then the events after it); a
batch of 5,000 touchpoints meets thousands of identifier claims, contacts and accounts, and those reads
were the larger part of resolving. `read_many` asks for the newest snapshot of every id at once and then
for every id's events after its snapshot at once, and rebuilds each aggregate exactly as `Repository.get`
does: the snapshot first, then the events, through the same projector.

It reads the library's own tables with the library's own mapper (`Application.mapper`), so the stored
form stays the library's. Only the SQLite and PostgreSQL recorders are read this way; any other (the
in-memory one of the unit tests) answers through `Repository.get`, one id at a time. `events_of_many` gives
the stored events themselves, for a read that replays them its own way (the linker's, linkage_read.py).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import StoredEvent

from .sql_store import rows_of_ids, sql_store

#: Ids per statement: far below SQLite's parameter limit, and a batch's worth.
CHUNK = 500
#: On PostgreSQL the ids go as one array parameter, and each statement is a round trip: 10,000 absent ids
#: (a batch of new people's identifiers) took 152 ms in chunks of 500, 62 ms in one.
PG_CHUNK = 10_000

Projector = Callable[[Any, Iterable[Any]], Any]
Rows = list[tuple[Any, int, str, bytes]]


def read_many(app: Application[UUID], ids: Collection[UUID], project: Projector) -> dict[UUID, Any]:
    """The current state of each of `ids` that exists (absent ids are left out)."""
    wanted = list(dict.fromkeys(ids))
    select = _selector(app)
    if select is None:
        return _one_by_one(app, wanted, project)
    found: dict[UUID, Any] = {}
    size = _chunk_size(app)
    for start in range(0, len(wanted), size):
        found.update(_read_chunk(app, wanted[start : start + size], select, project))
    return found


def events_of_many(app: Application[UUID], ids: Sequence[UUID]) -> dict[UUID, list[StoredEvent]]:
    """Every stored event of each of `ids`, oldest first, snapshots ignored (for a read that replays from
    version 1); ids with no event are left out. One statement per `CHUNK` ids on SQLite (`PG_CHUNK` on
    PostgreSQL), the recorder's `select_events` per id on any other store."""
    ids = list(dict.fromkeys(ids))
    select = _selector(app)
    found: dict[UUID, list[StoredEvent]] = {}
    if select is None:
        for aggregate_id in ids:
            if events := list(app.recorder.select_events(aggregate_id)):
                found[aggregate_id] = events
        return found
    table = _table(app.recorder)
    size = _chunk_size(app)
    for start in range(0, len(ids), size):
        chunk = ids[start : start + size]
        for row in select(table, chunk, [0] * len(chunk)):
            stored = _stored(row)
            found.setdefault(stored.originator_id, []).append(stored)  # type: ignore[arg-type]
    for stored_events in found.values():
        stored_events.sort(key=lambda e: e.originator_version)
    return found


def _one_by_one(app: Application[UUID], ids: Sequence[UUID], project: Projector) -> dict[UUID, Any]:
    found: dict[UUID, Any] = {}
    for aggregate_id in ids:
        try:
            found[aggregate_id] = app.repository.get(aggregate_id, projector_func=project)
        except AggregateNotFoundError:
            continue
    return found


Selector = Callable[[str, Sequence[UUID], Sequence[int] | None], Rows]


def _read_chunk(
    app: Application[UUID], ids: Sequence[UUID], select: Selector, project: Projector
) -> dict[UUID, Any]:
    snapshots: dict[UUID, StoredEvent] = {}
    if app.snapshots is not None:
        for row in select(_table(app.snapshots.recorder), ids, None):
            stored = _stored(row)
            held = snapshots.get(stored.originator_id)  # type: ignore[arg-type]
            if held is None or stored.originator_version > held.originator_version:
                snapshots[stored.originator_id] = stored  # type: ignore[index]
    after = [snapshots[i].originator_version if i in snapshots else 0 for i in ids]
    events: dict[UUID, list[StoredEvent]] = {}
    for row in select(_table(app.recorder), ids, after):
        stored = _stored(row)
        events.setdefault(stored.originator_id, []).append(stored)  # type: ignore[arg-type]
    found: dict[UUID, Any] = {}
    to_domain = app.mapper.to_domain_event
    for aggregate_id in ids:
        stored_events = events.get(aggregate_id, [])
        snapshot = snapshots.get(aggregate_id)
        if snapshot is not None:
            stored_events = [snapshot, *stored_events]
        if stored_events:
            stored_events.sort(key=lambda e: e.originator_version)
            found[aggregate_id] = project(None, (to_domain(e) for e in stored_events))
    return found


def _stored(row: tuple[Any, int, str, bytes]) -> StoredEvent:
    originator_id, version, topic, state = row
    if not isinstance(originator_id, UUID):
        originator_id = UUID(str(originator_id))
    return StoredEvent(originator_id=originator_id, originator_version=version, topic=topic, state=state)


def _table(recorder: Any) -> str:
    return str(recorder.events_table_name)


def _chunk_size(app: Application[UUID]) -> int:
    store = sql_store(app)
    return PG_CHUNK if store is not None and store.dialect == "postgres" else CHUNK


def _selector(app: Application[UUID]) -> Selector | None:
    """A function running one statement over a table for many ids (with each id's version floor when
    given), or None when the recorder is neither SQLite's nor PostgreSQL's."""
    store = sql_store(app)
    if store is None:
        return None
    rows = _sqlite_rows if store.dialect == "sqlite" else _postgres_rows
    return lambda table, ids, after: rows(store.datastore, table, ids, after)


def _sqlite_rows(datastore: Any, table: str, ids: Sequence[UUID], after: Sequence[int] | None) -> Rows:
    keys = [i.hex for i in ids]
    if after is None:
        marks = ",".join("?" * len(keys))
        statement = f"SELECT originator_id, originator_version, topic, state FROM {table} "
        statement += f"WHERE originator_id IN ({marks})"
        params: list[Any] = keys
    else:
        values = ",".join("(?,?)" for _ in keys)
        statement = (
            f"WITH wanted(id, floor_version) AS (VALUES {values}) "
            f"SELECT e.originator_id, e.originator_version, e.topic, e.state FROM wanted "
            f"JOIN {table} e ON e.originator_id = wanted.id AND e.originator_version > wanted.floor_version"
        )
        params = [p for pair in zip(keys, after, strict=True) for p in pair]
    with datastore.transaction(commit=False) as cursor:
        cursor.execute(statement, params)
        return [(r[0], r[1], r[2], r[3]) for r in cursor.fetchall()]


def _postgres_rows(datastore: Any, table: str, ids: Sequence[UUID], after: Sequence[int] | None) -> Rows:
    from psycopg.sql import SQL, Identifier

    source = SQL("{schema}.{table}").format(schema=Identifier(datastore.schema), table=Identifier(table))
    rows_of = rows_of_ids("{source}", "e", above_floor=after is not None)
    statement = SQL(f"SELECT e.originator_id, e.originator_version, e.topic, e.state FROM {rows_of}").format(
        source=source
    )
    params: list[Any] = [list(ids)] if after is None else [list(ids), list(after)]
    with datastore.get_connection() as conn, conn.cursor() as cursor:
        cursor.execute(statement, params)
        return [
            (r["originator_id"], r["originator_version"], r["topic"], bytes(r["state"]))
            for r in cursor.fetchall()
        ]
