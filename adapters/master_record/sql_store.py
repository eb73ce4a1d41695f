"""The SQL database that holds an application's master record, for what this package reads and keeps beside
the library's own tables (bulk_read.py, kept.py, link_cache.py): SQLite or PostgreSQL, told apart by the
module of the recorder's class or a base class (the library's `PERSISTENCE_MODULE`), with the library's
datastore to run statements in and table names spelt as each database wants them (PostgreSQL's in the
datastore's schema). Any other recorder (the in-memory one of the unit tests) has none: each caller falls
back to the recorder's API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

from eventsourcing.application import Application

__all__ = ["SqlStore", "rows_of_ids", "sql_store"]


@dataclass(frozen=True)
class SqlStore:
    dialect: Literal["sqlite", "postgres"]
    datastore: Any  # the library's SQLite or PostgreSQL datastore: `transaction(commit=...)` gives a cursor
    events_table: str  # the library's events table, as `table` spells it

    def table(self, name: str) -> str:
        """A table of this database beside the library's (in its schema on PostgreSQL)."""
        return f'"{self.datastore.schema}".{name}' if self.dialect == "postgres" else name


def sql_store(app: Application[UUID]) -> SqlStore | None:
    recorder = app.recorder
    datastore = getattr(recorder, "datastore", None)
    if datastore is None:
        return None
    events = str(getattr(recorder, "events_table_name", ""))
    # The classes' modules, not isinstance: importing the PostgreSQL one costs the embedded default psycopg.
    modules = {cls.__module__ for cls in type(recorder).__mro__}  # a subclass of ours (pg_recorder.py) too
    if "eventsourcing.sqlite" in modules:
        return SqlStore("sqlite", datastore, events)
    if "eventsourcing.postgres" in modules:
        return SqlStore("postgres", datastore, f'"{datastore.schema}".{events}')
    return None


def rows_of_ids(source: str, alias: str, *, above_floor: bool = False) -> str:
    """PostgreSQL: a FROM clause giving, as `alias`, the rows of `source` whose `originator_id` is one of
    the first parameter's ids (a uuid[]; with `above_floor`, only each id's rows above its version in the
    second parameter, a bigint[]), each id looked up by the primary key. `originator_id = ANY(ids)`, or a
    join with unnest(ids), is planned as a scan of the whole table while the planner has no statistics of
    it (a table filled faster than autovacuum analyzes it): the cost of a batch's read then grew with the
    master record. OFFSET 0 keeps the lateral subquery from being merged into such a join."""
    floor = f" AND {alias}.originator_version > wanted.floor_version" if above_floor else ""
    ids = (
        "%s::uuid[], %s::bigint[]) AS wanted(id, floor_version)"
        if above_floor
        else "%s::uuid[]) AS wanted(id)"
    )
    return (
        f"unnest({ids} CROSS JOIN LATERAL (SELECT * FROM {source} {alias} "
        f"WHERE {alias}.originator_id = wanted.id{floor} OFFSET 0) AS {alias}"
    )
