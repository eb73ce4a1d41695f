"""Which steward-queue entries name a contact: an index an erasure reads instead of the whole queue.

An erasure reaches every duplicate suspect that names the erased contacts (its identifier says which name
or number the person had). Reading every suspect's `Raised` event for that grew with the queue (a suspect
for one contact in three on generated data), and on PostgreSQL with the whole events table: the
notifications are filtered by topic, so a page of them reads every row in between. A worker erases on its
master-record thread, so every resolution waited for that scan.

Here the pairs (contact, suspect) live in a table beside the library's, with the last notification id
indexed; each lookup first adds the `Raised` events after it, then reads the contacts' rows. Nothing is
written while resolving. A notification id is never filled in behind a later one: the library takes the
events table's lock for every insert on PostgreSQL, and SQLite has one writer. Two processes catching up at
once write the same rows (kept once) and the larger mark. The ids are no personal value: an erasure keeps
them, as it keeps the aggregates' ids.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import Notification
from eventsourcing.utils import get_topic

from ...projections.master_record import DuplicateSuspect
from .sql_store import SqlStore, sql_store

__all__ = ["SuspectIndex"]

TABLE = "suspect_names"
MARK_TABLE = "suspect_names_indexed"
PAGE = 1000


class SuspectIndex:
    """The suspects naming given contacts, from a table when the store is SQL, else from the queue."""

    def __init__(self, app: Application[UUID]) -> None:
        self.app = app
        self.store = sql_store(app)
        self.topic = get_topic(DuplicateSuspect.Raised)  # type: ignore[attr-defined]
        self._created = False  # the tables, made at the first lookup: most starts never erase

    def naming(self, contact_ids: Collection[UUID]) -> list[UUID]:
        """The suspects whose pair holds any of `contact_ids`, each once, in the order raised."""
        wanted = {str(c) for c in contact_ids}
        if self.store is None:
            found = (
                s
                for notes in self._pages_after(0)
                for note in notes
                for c, s in _pairs(self.app, note)
                if c in wanted
            )
            return [UUID(s) for s in dict.fromkeys(found)]
        if not self._created:
            with self.store.datastore.transaction(commit=True) as cursor:
                _create_tables(cursor, self.store)
            self._created = True
        self._catch_up(self.store)
        mark = "?" if self.store.dialect == "sqlite" else "%s"
        keys = sorted(wanted)
        where = f"IN ({','.join(mark * len(keys))})" if self.store.dialect == "sqlite" else f"= ANY({mark})"
        with self.store.datastore.transaction(commit=False) as cursor:
            cursor.execute(
                f"SELECT suspect_id, MIN(raised) AS raised FROM {self.store.table(TABLE)} "
                f"WHERE contact_id {where} GROUP BY suspect_id ORDER BY raised",
                keys if self.store.dialect == "sqlite" else [keys],
            )
            return [UUID(str(_first(row))) for row in cursor.fetchall()]

    def _catch_up(self, store: SqlStore) -> None:
        mark = "?" if store.dialect == "sqlite" else "%s"
        with store.datastore.transaction(commit=False) as cursor:
            cursor.execute(f"SELECT notification_id FROM {store.table(MARK_TABLE)} WHERE id = 1")
            row = cursor.fetchone()
        indexed = 0 if row is None else int(_first(row))
        higher = "MAX" if store.dialect == "sqlite" else "GREATEST"
        for notes in self._pages_after(indexed):
            rows = [(c, s, note.id) for note in notes for c, s in _pairs(self.app, note)]
            with store.datastore.transaction(commit=True) as cursor:
                cursor.executemany(
                    f"INSERT INTO {store.table(TABLE)} (contact_id, suspect_id, raised) "
                    f"VALUES ({mark}, {mark}, {mark}) ON CONFLICT DO NOTHING",
                    rows,
                )
                cursor.execute(
                    f"INSERT INTO {store.table(MARK_TABLE)} AS m (id, notification_id) VALUES (1, {mark}) "
                    f"ON CONFLICT (id) DO UPDATE SET "
                    f"notification_id = {higher}(m.notification_id, excluded.notification_id)",
                    (notes[-1].id,),
                )

    def _pages_after(self, notification_id: int) -> Iterator[Sequence[Notification]]:
        """The `Raised` notifications after `notification_id`, a page (never empty) at a time."""
        start = notification_id + 1
        while notes := self.app.recorder.select_notifications(start, PAGE, topics=[self.topic]):
            yield notes
            if len(notes) < PAGE:
                return
            start = notes[-1].id + 1


def _pairs(app: Application[UUID], note: Notification) -> list[tuple[str, str]]:
    """(contact, suspect) for each contact a `Raised` event names."""
    raised = app.mapper.to_domain_event(note)
    suspect = str(raised.originator_id)
    named = (getattr(raised, "contact_id", None), getattr(raised, "other_id", None))
    return [(str(c), suspect) for c in dict.fromkeys(named) if c is not None]


def _create_tables(cursor: Any, store: SqlStore) -> None:
    cursor.execute(
        f"CREATE TABLE IF NOT EXISTS {store.table(TABLE)} (contact_id TEXT NOT NULL, "
        "suspect_id TEXT NOT NULL, raised BIGINT NOT NULL, PRIMARY KEY (contact_id, suspect_id))"
    )
    cursor.execute(
        f"CREATE TABLE IF NOT EXISTS {store.table(MARK_TABLE)} "
        "(id INTEGER PRIMARY KEY, notification_id BIGINT NOT NULL)"
    )


def _first(row: Any) -> Any:
    return next(iter(row.values())) if isinstance(row, dict) else row[0]
