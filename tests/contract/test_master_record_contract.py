"""The master record's contract, one suite subclassed per store: in memory, SQLite and PostgreSQL.

Whatever the store, an identifier names one contact however many applications resolve it, a repeated
event changes nothing, merges and unmerges are reversible, and the notification log (the relay's outbox)
holds every change in order.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from uuid import UUID

import pytest
from event_examples import identity_event as event

from touchstream.adapters.master_record import link_cache
from touchstream.adapters.master_record.application import MasterRecord, _project
from touchstream.adapters.master_record.bulk_read import read_many
from touchstream.adapters.master_record.kept import FORGET_TABLE
from touchstream.adapters.master_record.link_cache import entry_of
from touchstream.adapters.master_record.linkage_read import (
    contact_ids,
    entries_for_linkage,
    read_for_linkage,
    read_many_for_linkage,
)
from touchstream.adapters.master_record.sql_store import sql_store
from touchstream.events import Event
from touchstream.projections.identity import Resolution, evidence_of
from touchstream.projections.master_record import DuplicateSuspect


class MasterRecordContract:
    @pytest.fixture
    def url(self, tmp_path: Path) -> str:
        raise NotImplementedError

    @pytest.fixture
    def app(self, url: str) -> Iterator[MasterRecord]:
        opened = MasterRecord.from_url(url)
        yield opened
        opened.close()

    def test_one_identifier_names_one_contact(self, app: MasterRecord) -> None:
        first = app.resolve(event({"email": "ada@acme-widgets.com"}))
        again = app.resolve(event({"email": "ADA@acme-widgets.com", "external_ids": {"hubspot": "7"}}, day=1))
        by_id = app.resolve(event({"external_ids": {"hubspot": "7"}}, day=2))
        assert first.is_new
        assert not again.is_new
        assert not by_id.is_new
        assert first.contact_id == again.contact_id == by_id.contact_id

    def test_a_repeated_event_changes_nothing(self, app: MasterRecord) -> None:
        touch = event({"email": "grace@acme-widgets.com", "phone": "+14155550100"})
        first = app.resolve(touch)
        notifications = app.recorder.max_notification_id()
        second = app.resolve(touch)
        assert (second.contact_id, second.account_id) == (first.contact_id, first.account_id)
        assert not second.is_new
        assert app.recorder.max_notification_id() == notifications

    def test_merge_and_unmerge_are_reversible(self, app: MasterRecord) -> None:
        a = app.resolve(event({"email": "a@one.example.com"})).contact_id
        b = app.resolve(event({"email": "b@two.example.com"})).contact_id
        assert a is not None
        assert b is not None
        survivor = app.merge(a, b, actor="steward")
        merged = b if survivor == a else a
        assert app.contact(merged).id == survivor
        app.unmerge(merged, actor="steward")
        assert app.contact(merged).id == merged
        assert app.contact(survivor).id == survivor

    def test_the_notification_log_holds_every_change_in_order(self, app: MasterRecord) -> None:
        for n in range(5):
            app.resolve(event({"email": f"p{n}@acme-widgets.com"}, day=n))
        last = app.recorder.max_notification_id() or 0
        notifications = app.recorder.select_notifications(1, last + 10)
        ids = [n.id for n in notifications]
        assert ids == sorted(ids)
        assert len(ids) == last
        assert {n.originator_id for n in notifications} >= {
            app.owner_of("email:p0@acme-widgets.com"),
            app.owner_of("email:p4@acme-widgets.com"),
        } - {None}

    def test_many_aggregates_read_at_once_equal_those_read_one_by_one(self, app: MasterRecord) -> None:
        # 120 touches of one person pass the contact's snapshot interval (50) twice, so the bulk read must
        # start from the newest snapshot and add only the events after it.
        for day in range(120):
            app.resolve(event({"email": "ada@acme-widgets.com", "phone": f"+1415555{day:04d}"}, day=day))
        for n in range(3):
            app.resolve(event({"email": f"p{n}@acme-widgets.com"}, day=n))
        ids = {n.originator_id for n in app.recorder.select_notifications(1, 10_000)}
        absent = uuid.uuid4()
        found = read_many(app, [*ids, absent], _project)
        assert absent not in found
        assert set(found) == ids
        for aggregate_id in ids:
            one = app.repository.get(aggregate_id)
            assert (type(found[aggregate_id]), found[aggregate_id].version) == (type(one), one.version)
            assert vars(found[aggregate_id]) == vars(one)
        contact = app.contact(app.owner_of("email:ada@acme-widgets.com"))  # type: ignore[arg-type]
        assert contact.version > 100
        assert app.snapshots is not None
        taken = [s.originator_version for s in app.snapshots.get(contact.id)]
        assert taken  # snapshots are taken as the contact grows
        assert max(taken) >= 100

    def test_the_linkers_bulk_read_of_contacts_equals_its_one_by_one_read(self, app: MasterRecord) -> None:
        for day in range(60):  # past the snapshot interval: both reads replay from version 1 all the same
            app.resolve(event({"email": "ada@acme-widgets.com", "phone": f"+1415555{day:04d}"}, day=day))
        for n in range(3):
            app.resolve(event({"email": f"p{n}@acme-widgets.com"}, day=n))
        one, two = (app.owner_of(f"email:p{n}@acme-widgets.com") for n in range(2))
        assert one is not None
        assert two is not None
        app.merge(one, two, actor="steward")  # merged and absorbing contacts read too
        ids = list(contact_ids(app))
        bulk = read_many_for_linkage(app, [*ids, ids[0]])
        assert len(bulk) == len(ids) + 1
        for contact_id, contact in zip([*ids, ids[0]], bulk, strict=True):
            assert vars(contact) == vars(read_for_linkage(app, contact_id))
        with pytest.raises(KeyError):
            read_many_for_linkage(app, [uuid.uuid4()])

    def test_the_linkers_kept_entries_are_its_replayed_ones(
        self, app: MasterRecord, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        for n in range(4):
            app.resolve(event({"email": f"p{n}@acme-widgets.com", "phone": f"+1415555010{n}"}, day=n))
        one, two, three = (app.owner_of(f"email:p{n}@acme-widgets.com") for n in (0, 1, 3))
        assert one is not None
        assert two is not None
        assert three is not None
        app.merge(one, two, actor="steward")
        ids = list(contact_ids(app))
        kept = app.link_cache.fresh(ids)
        assert set(kept) == set(ids)  # every save kept its contacts' entries
        assert [kept[i] for i in ids] == [entry_of(read_for_linkage(app, i)) for i in ids]
        assert sum(kept[i].merged_into is not None for i in ids) == 1

        # A change saved without its entry (a crash between the two writes): the old entry is not used.
        with monkeypatch.context() as patched:
            patched.setattr(app.link_cache, "put", lambda entries: None)
            app.resolve(event({"email": "p3@acme-widgets.com", "phone": "+14155550199"}, day=9))
        assert three not in app.link_cache.fresh([three])
        [entry] = entries_for_linkage(app, [three])
        assert entry == entry_of(read_for_linkage(app, three))
        assert entry.record is not None
        assert "+14155550199" in entry.record.phone
        assert app.link_cache.fresh([three]) == {three: entry}  # written back for the next reader

        app.link_cache.put([replace(entry, version=entry.version - 1)])  # an older entry does not win
        assert app.link_cache.fresh([three]) == {three: entry}
        monkeypatch.setattr(link_cache, "ENTRY_FORMAT", link_cache.ENTRY_FORMAT + 1)
        assert app.link_cache.fresh(ids) == {}  # rows of another format are as good as absent

    def test_the_steward_queue_lists_by_status_and_reason(self, app: MasterRecord) -> None:
        a, b, c = (uuid.uuid4() for _ in range(3))
        raised = [
            DuplicateSuspect(contact_id=a, other_id=b, reason="shared_phone", identifier="x", event_id="e1"),
            DuplicateSuspect(
                contact_id=a, other_id=c, reason="probable_match", identifier="y", event_id="e2"
            ),
            DuplicateSuspect(
                contact_id=b, other_id=c, reason="probable_match", identifier="z", event_id="e3"
            ),
        ]
        raised[2].decide("dismissed", "steward")
        app.save(*raised)
        assert [s.id for s in app.suspects(None)] == [s.id for s in raised]  # in the order raised
        assert [s.id for s in app.suspects("open", reason=lambda r: r == "probable_match")] == [raised[1].id]
        assert [s.identifier for s in app.suspects(None, reason=lambda r: r != "probable_match")] == ["x"]


class SharedStoreContract(MasterRecordContract):
    """Stores that several applications (processes, workers) open at once."""

    def test_two_applications_on_one_store_agree(self, url: str, app: MasterRecord) -> None:
        other = MasterRecord.from_url(url)
        try:
            mine = app.resolve(event({"email": "shared@acme-widgets.com"}))
            theirs = other.resolve(event({"email": "shared@acme-widgets.com"}, day=1))
            assert theirs.contact_id == mine.contact_id
            assert not theirs.is_new
        finally:
            other.close()

    def test_a_batch_sees_what_another_application_wrote_since_the_last(
        self, url: str, app: MasterRecord
    ) -> None:
        other = MasterRecord.from_url(url)
        try:
            touch = event({"email": "kept@acme-widgets.com"})
            contact_id = in_a_batch(app, touch).contact_id
            details = {"first_name": "Keptina", "last_name": "Stalemate"}
            in_a_batch(other, event({"email": "kept@acme-widgets.com"}, "ContactDetailsObserved", details))
            with app.batch():
                app.prefetch([evidence_of(touch, app.identity)])
                seen = app.contact(contact_id)  # type: ignore[arg-type]
                assert "Keptina" in str(seen.observations)
                assert seen.version == other.contact(contact_id).version  # type: ignore[arg-type]
            assert app.kept.reused  # the identifier's claim did not change: it came from memory
        finally:
            other.close()

    def test_a_forgetting_elsewhere_drops_what_a_batch_kept(self, url: str, app: MasterRecord) -> None:
        other = MasterRecord.from_url(url)
        try:
            touch, contact_id = with_details(app, "gone@acme-widgets.com", "Forgettina", "Vanishwell")
            assert "Forgettina" in str(vars(app.kept.items[contact_id]))
            other.forget(other.erasure_scope(contact_id))
            with app.batch():
                app.prefetch([evidence_of(touch, app.identity)])
                held = app.contact(contact_id)
            assert "Forgettina" not in str(vars(held))  # a snapshot taken from it would write it back
        finally:
            other.close()

    def test_a_forgetting_elsewhere_drops_only_the_aggregates_it_rewrote(
        self, url: str, app: MasterRecord
    ) -> None:
        other = MasterRecord.from_url(url)
        try:
            gone = in_a_batch(app, event({"email": "gone-only@acme-widgets.com"})).contact_id
            stays = in_a_batch(app, event({"email": "stays@acme-widgets.com"})).contact_id
            assert gone is not None
            assert stays is not None
            assert {gone, stays} <= app.kept.items.keys()
            other.forget(other.erasure_scope(gone))
            app.kept.begin()
            assert gone not in app.kept.items
            assert stays in app.kept.items  # an erasure no longer empties every process's cache
            # A forgetting that logged nothing (an older version's): what it rewrote is unknown, all go.
            store = sql_store(app)
            assert store is not None
            with store.datastore.transaction(commit=True) as cursor:
                cursor.execute(f"UPDATE {store.table(FORGET_TABLE)} SET n = n + 1")
            app.kept.begin()
            assert not app.kept.items
        finally:
            other.close()

    def test_what_a_batch_writes_while_another_forgets_is_forgotten_too(
        self, url: str, app: MasterRecord
    ) -> None:
        """A batch holds a contact in memory when another worker forgets it, then writes it (its events,
        the linker's entry, perhaps a snapshot) from memory, with the values just forgotten: once saved,
        the batch forgets again what a forgetting rewrote meanwhile."""
        other = MasterRecord.from_url(url)
        try:
            _, contact_id = with_details(app, "racy@acme-widgets.com", "Racyna", "Halfgone-Midbatch")
            later = event({"email": "racy@acme-widgets.com", "phone": "+14155550123"}, day=1)
            with app.batch():
                app.prefetch([evidence_of(later, app.identity)])
                app.resolve(later)  # changes the contact, held with its name
                other.forget(other.erasure_scope(contact_id))
            assert [v for v in ("Racyna", "Halfgone-Midbatch", "racy@acme") if v in _stored_text(app)] == []
            assert app.contact(contact_id).version == other.contact(contact_id).version
        finally:
            other.close()

    def test_the_sql_store_names_the_librarys_tables_and_those_beside_them(self, app: MasterRecord) -> None:
        """Where bulk_read.py, kept.py and link_cache.py send their SQL (master_record/sql_store.py)."""
        in_a_batch(app, event({"email": "tables@acme-widgets.com"}))
        store = sql_store(app)
        assert store is not None
        beside = store.table("sql_store_probe")
        with store.datastore.transaction(commit=True) as cursor:
            cursor.execute(f"SELECT count(*) AS n FROM {store.events_table}")
            stored = cursor.fetchone()
            cursor.execute(f"CREATE TABLE {beside} (n INTEGER)")
            cursor.execute(f"SELECT count(*) AS n FROM {beside}")
            empty = cursor.fetchone()
        assert _first(stored) == app.recorder.max_notification_id() > 0  # type: ignore[attr-defined]
        assert _first(empty) == 0


def _stored_text(app: MasterRecord) -> str:
    """Every row of the master record's tables (the library's and those beside them), as text."""
    store = sql_store(app)
    assert store is not None
    with store.datastore.transaction(commit=False) as cursor:
        if store.dialect == "sqlite":
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            tables = [store.table(str(_values(r)[0])) for r in cursor.fetchall()]
        else:
            cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (store.datastore.schema,))
            tables = [store.table(str(_values(r)[0])) for r in cursor.fetchall()]
        text = []
        for table in tables:
            cursor.execute(f"SELECT * FROM {table}")
            text += [
                bytes(v).decode(errors="replace") if isinstance(v, (bytes, memoryview)) else str(v)
                for row in cursor.fetchall()
                for v in _values(row)
            ]
    return "\n".join(text)


def _values(row: object) -> tuple[object, ...]:
    return tuple(row.values()) if isinstance(row, dict) else tuple(row)  # type: ignore[arg-type]


def _first(row: object) -> int:
    return int(next(iter(row.values())) if isinstance(row, dict) else row[0])  # type: ignore[index]


def with_details(app: MasterRecord, email: str, first: str, last: str) -> tuple[Event, UUID]:
    """A contact registered with a name, in a batch: the event and the contact."""
    details = {"first_name": first, "last_name": last}
    touch = event({"email": email}, "ContactDetailsObserved", details)
    contact_id = in_a_batch(app, touch).contact_id
    assert contact_id is not None
    return touch, contact_id


def in_a_batch(app: MasterRecord, touch: Event) -> Resolution:
    with app.batch():
        app.prefetch([evidence_of(touch, app.identity)])
        return app.resolve(touch)


class TestInMemory(MasterRecordContract):
    @pytest.fixture
    def url(self, tmp_path: Path) -> str:
        return "memory://"

    def test_there_is_no_sql_store(self, app: MasterRecord) -> None:
        assert sql_store(app) is None


class TestSQLite(SharedStoreContract):
    @pytest.fixture
    def url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path / 'master.sqlite'}"


@pytest.mark.integration
class TestPostgreSQL(SharedStoreContract):
    @pytest.fixture
    def url(self, pg_url: str) -> str:
        return pg_url


del MasterRecordContract, SharedStoreContract
