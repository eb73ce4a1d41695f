"""The linker's view of every contact, kept beside the master record: a bulk scan or a restarted linker reads
one row a contact instead of replaying each contact's events (the replay was half of a scan).

A row is (contact id, the contact's version it was made from, the entry as JSON: its link record, or none
for a merged, role or erased contact, and the survivor it was merged into). `MasterRecord.save` writes the
rows of the contacts it saved, after the library's save; the linker writes back the rows it had to replay.
A row is used only when its version is the contact's newest stored version and its format is
`ENTRY_FORMAT`; any other row is as good as absent, and the contact is replayed. So a crash between the
two writes, a writer that is not ours, or an older build's rows cost a replay, never a wrong record.

`ENTRY_FORMAT` names what `link_record` makes of a contact: change what it folds, splits or keeps and the
number must change with it (tests/unit/test_link_cache.py pins its output for one contact for that reason).

Forgetting: a row holds the contact's values, so forget.py deletes the rows of the contacts it forgets
(the table has the event tables' three columns, `originator_id`, `originator_version` and `state`, so it
is found with them). SQLite rows are written with `secure_delete` on, so the bytes of a replaced row do
not stay in the file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

import orjson
from eventsourcing.application import Application

from ...projections.linkage import FIELD_NAMES, LinkRecord, record_of
from ...projections.master_record import Contact
from .sql_store import rows_of_ids, sql_store

__all__ = ["ENTRY_FORMAT", "TABLE", "LinkCache", "LinkEntry", "entry_of", "link_cache_for", "link_record"]

ENTRY_FORMAT = 1
TABLE = "link_records"
CHUNK = 500
# Keys that name one person (a shared address as used by one name counts as the address itself).
_STRONG = ("email:", "pid:", "ext:")


def link_record(contact: Contact) -> LinkRecord | None:
    """What the model compares of a contact; None for one that is merged, a role mailbox or erased."""
    if contact.merged_into is not None or contact.role or contact.erasure_requested:
        return None
    values = {
        name: [str(o.get("value", "")) for o in slots.values()]
        for name, slots in contact.observations.items()
    }
    strong: set[str] = set()
    emails: list[str] = []
    for key in contact.identifiers:
        base = key.removeprefix("named:").rsplit("|", 1)[0] if key.startswith("named:") else key
        if base.startswith(_STRONG):
            strong.add(base)
        if base.startswith("email:"):
            emails.append(base.removeprefix("email:"))
    values.setdefault("phone", [])
    values["phone"] += [k.removeprefix("phone:") for k in contact.weak if k.startswith("phone:")]
    return record_of(str(contact.id), values, emails, strong)


@dataclass(frozen=True)
class LinkEntry:
    """A contact as the linker indexes it, at one version."""

    contact_id: UUID
    version: int
    merged_into: UUID | None
    record: LinkRecord | None


def entry_of(contact: Contact) -> LinkEntry:
    return LinkEntry(contact.id, contact.version, contact.merged_into, link_record(contact))


def encode(entry: LinkEntry) -> bytes:
    record = entry.record
    fields = None
    if record is not None:
        fields = [list(getattr(record, name)) for name in FIELD_NAMES] + [sorted(record.strong)]
    merged = None if entry.merged_into is None else entry.merged_into.hex
    return orjson.dumps({"format": ENTRY_FORMAT, "merged_into": merged, "record": fields})


def decode(contact_id: UUID, version: int, state: bytes) -> LinkEntry | None:
    """The entry a row holds; None when it was written in another format."""
    body = orjson.loads(state)
    if body.get("format") != ENTRY_FORMAT:
        return None
    fields = body["record"]
    record = None
    if fields is not None:
        values = {name: tuple(v) for name, v in zip(FIELD_NAMES, fields, strict=False)}
        record = LinkRecord(id=str(contact_id), **values, strong=frozenset(fields[-1]))
    merged = body["merged_into"]
    return LinkEntry(contact_id, version, None if merged is None else UUID(merged), record)


class LinkCache(Protocol):
    def fresh(self, ids: Sequence[UUID]) -> dict[UUID, LinkEntry]:
        """The entries of `ids` whose row is as new as the contact's newest stored event."""

    def put(self, entries: Iterable[LinkEntry]) -> None:
        """Write these entries; a row already newer than an entry is kept."""


class MemoryLinkCache:
    """For the in-memory master record (tests, benches): rows in a dict, versions from the recorder."""

    def __init__(self, app: Application[UUID]) -> None:
        self.app = app
        self.rows: dict[UUID, tuple[int, bytes]] = {}

    def fresh(self, ids: Sequence[UUID]) -> dict[UUID, LinkEntry]:
        current: list[tuple[UUID, int, bytes]] = []
        for contact_id in ids:
            row = self.rows.get(contact_id)
            if row is None:
                continue
            newest = self.app.recorder.select_events(contact_id, desc=True, limit=1)
            if newest and newest[0].originator_version == row[0]:
                current.append((contact_id, *row))
        return _entries(current)

    def put(self, entries: Iterable[LinkEntry]) -> None:
        for entry in entries:
            held = self.rows.get(entry.contact_id)
            if held is None or held[0] <= entry.version:
                self.rows[entry.contact_id] = (entry.version, encode(entry))


@dataclass(frozen=True)
class _Dialect:
    """What differs between SQLite and PostgreSQL for the one table."""

    id_type: str  # of originator_id, as the library's own tables store it
    int_type: str
    bytes_type: str
    mark: str  # the driver's placeholder
    key: Callable[[UUID], Any]  # a contact id as a parameter
    row: Callable[[Any], tuple[UUID, int, bytes]]  # a fetched row
    # (table, ids) -> the rows of those ids, as `c`: "<FROM clause> WHERE <condition>", and its params
    rows_of: Callable[[str, list[Any]], tuple[str, list[Any]]]
    before_write: str | None = None


_SQLITE = _Dialect(
    "TEXT",
    "INTEGER",
    "BLOB",
    "?",
    key=lambda i: i.hex,
    row=lambda r: (UUID(str(r[0])), r[1], r[2]),
    rows_of=lambda table, keys: (f"{table} c WHERE c.originator_id IN ({','.join('?' * len(keys))})", keys),
    before_write="PRAGMA secure_delete = ON",  # a replaced row's bytes are zeroed in the file
)
_POSTGRES = _Dialect(
    "uuid",
    "bigint",
    "bytea",
    "%s",
    key=lambda i: i,
    row=lambda r: (r["originator_id"], r["originator_version"], bytes(r["state"])),
    rows_of=lambda table, keys: (f"{rows_of_ids(table, 'c')} WHERE TRUE", [keys]),
)


class TableLinkCache:
    """The rows in a table of the master record's own SQLite or PostgreSQL database."""

    def __init__(self, datastore: Any, table: str, events_table: str, dialect: _Dialect) -> None:
        self.datastore, self.table, self.events, self.dialect = datastore, table, events_table, dialect
        with datastore.transaction(commit=True) as cursor:
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {table} (originator_id {dialect.id_type} PRIMARY KEY, "
                f"originator_version {dialect.int_type} NOT NULL, state {dialect.bytes_type} NOT NULL)"
            )

    def fresh(self, ids: Sequence[UUID]) -> dict[UUID, LinkEntry]:
        found: dict[UUID, LinkEntry] = {}
        for start in range(0, len(ids), CHUNK):
            keys = [self.dialect.key(i) for i in ids[start : start + CHUNK]]
            rows_of, params = self.dialect.rows_of(self.table, keys)
            with self.datastore.transaction(commit=False) as cursor:
                cursor.execute(
                    f"SELECT c.originator_id, c.originator_version, c.state FROM {rows_of} "
                    "AND c.originator_version = "
                    f"(SELECT MAX(e.originator_version) FROM {self.events} e "
                    "WHERE e.originator_id = c.originator_id)",
                    params,
                )
                rows = cursor.fetchall()
            found.update(_entries(self.dialect.row(r) for r in rows))
        return found

    def put(self, entries: Iterable[LinkEntry]) -> None:
        rows = [(self.dialect.key(e.contact_id), e.version, encode(e)) for e in entries]
        if not rows:
            return
        mark = self.dialect.mark
        with self.datastore.transaction(commit=True) as cursor:
            if self.dialect.before_write:
                cursor.execute(self.dialect.before_write)
            cursor.executemany(
                f"INSERT INTO {self.table} AS c (originator_id, originator_version, state) "
                f"VALUES ({mark}, {mark}, {mark}) ON CONFLICT (originator_id) DO UPDATE SET "
                "originator_version = excluded.originator_version, state = excluded.state "
                "WHERE excluded.originator_version >= c.originator_version",
                rows,
            )


def _entries(rows: Iterable[tuple[UUID, int, bytes]]) -> dict[UUID, LinkEntry]:
    """The entries of these rows, those of another format left out."""
    found: dict[UUID, LinkEntry] = {}
    for contact_id, version, state in rows:
        if (entry := decode(contact_id, version, state)) is not None:
            found[contact_id] = entry
    return found


def link_cache_for(app: Application[UUID]) -> LinkCache:
    """The cache beside the app's store: a table in its SQLite or PostgreSQL database, else a dict."""
    store = sql_store(app)
    if store is None:
        return MemoryLinkCache(app)
    dialect = _SQLITE if store.dialect == "sqlite" else _POSTGRES
    return TableLinkCache(store.datastore, store.table(TABLE), store.events_table, dialect)
