"""The master record's PostgreSQL recorder (adapters/master_record/pg_recorder.py) on a real server: the
library's recorder with a batch bound as typed arrays; the rows, their order, the notification ids and
the optimistic-concurrency error are the library's."""

from __future__ import annotations

import uuid

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from touchstream.adapters.master_record.application import MasterRecord
from touchstream.adapters.master_record.pg_recorder import ArrayInsertRecorder
from touchstream.adapters.master_record.sql_store import sql_store

pytestmark = [pytest.mark.integration]


def stored(originator: uuid.UUID, version: int, state: bytes) -> StoredEvent:
    return StoredEvent(originator, version, "touchstream.projections.master_record:Contact.Noted", state)


def test_a_batch_is_stored_in_order_with_its_notification_ids_as_the_library_stores_it(pg_url: str) -> None:
    app = MasterRecord.from_url(pg_url)
    try:
        assert isinstance(app.recorder, ArrayInsertRecorder)
        store = sql_store(app)
        assert store is not None
        assert store.dialect == "postgres"  # the bulk reads still take the one-statement path
        a, b = uuid.uuid4(), uuid.uuid4()
        # bytea in binary: zero bytes, bytes that are not UTF-8, a backslash and quotes come back as sent.
        states = [b"\x00\xff\xfe", b'{"q": "\\\\ \' \\""}', bytes(range(256)), b""]
        batch = [
            stored(a, 1, states[0]),
            stored(b, 1, states[1]),
            stored(a, 2, states[2]),
            stored(b, 2, states[3]),
        ]
        before = app.recorder.max_notification_id() or 0
        ids = app.recorder.insert_events(batch)
        assert list(ids or []) == [before + 1, before + 2, before + 3, before + 4]
        notes = app.recorder.select_notifications(before + 1, 10)
        assert [(n.id, n.originator_id, n.originator_version, n.topic, n.state) for n in notes] == [
            (before + i + 1, e.originator_id, e.originator_version, e.topic, e.state)
            for i, e in enumerate(batch)
        ]
        assert [e.state for e in app.recorder.select_events(a)] == [states[0], states[2]]
    finally:
        app.close()


def test_a_version_already_stored_is_the_librarys_integrity_error_and_nothing_of_the_batch_is_kept(
    pg_url: str,
) -> None:
    app = MasterRecord.from_url(pg_url)
    try:
        a, b = uuid.uuid4(), uuid.uuid4()
        app.recorder.insert_events([stored(a, 1, b"first")])
        with pytest.raises(IntegrityError):
            app.recorder.insert_events([stored(b, 1, b"new"), stored(a, 1, b"a rival's")])
        assert app.recorder.select_events(b) == []
        assert [e.state for e in app.recorder.select_events(a)] == [b"first"]
    finally:
        app.close()
