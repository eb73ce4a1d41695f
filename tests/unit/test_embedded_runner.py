"""The embedded path: log -> parse -> touchpoints / dead letters in chDB, idempotent under replay."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from event_examples import wire_event

from touchstream.adapters.chdb_store import ChDBStore
from touchstream.adapters.event_log import SQLiteEventLog
from touchstream.streams.embedded import DEFAULT_GROUP, prepare_read_store, run_until_caught_up


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ChDBStore]:
    with ChDBStore(str(tmp_path / "chdb")) as opened:
        prepare_read_store(opened)
        yield opened


def _events(n: int) -> list[bytes]:
    return [
        json.dumps(
            wire_event(
                "EmailOpened",
                1,
                event_id=str(uuid.UUID(int=i + 1, version=4)),
                identifiers={"email": f"person{i % 7}@acme.com"},
            )
        ).encode()
        for i in range(n)
    ]


def test_valid_events_become_touchpoints_and_bad_ones_dead_letters(tmp_path: Path, store: ChDBStore) -> None:
    with SQLiteEventLog(tmp_path / "log.sqlite") as log:
        log.append([(b"k", raw) for raw in _events(40)])
        log.append([(b"bad", b'{"type": "EmailOpend"}'), (b"bad", b"\xff not json")])
        stats = run_until_caught_up(log, store, batch_size=7)
        assert (stats.records, stats.accepted, stats.dead_lettered) == (42, 40, 2)
        assert log.lag(DEFAULT_GROUP) == 0
    assert store.query("SELECT count(), uniqExact(contact_id) FROM touchpoints FINAL") == [(40, 7)]
    assert store.query("SELECT count(), sum(touches) FROM customer_360 FINAL") == [(7, 40)]
    letters = store.query("SELECT event_type, error, raw FROM dead_letters FINAL ORDER BY log_offset")
    assert letters[0][0] == "EmailOpend"
    assert "did you mean EmailOpened" in letters[0][1]
    assert "not UTF-8" in letters[1][1]
    assert letters[1][2].endswith(" not json")


def test_a_replay_from_zero_changes_no_answer(tmp_path: Path, store: ChDBStore) -> None:
    with SQLiteEventLog(tmp_path / "log.sqlite") as log:
        log.append([(f"k{i}".encode(), raw) for i, raw in enumerate(_events(30))])
        run_until_caught_up(log, store)
        query = "SELECT contact_id, count() FROM touchpoints FINAL GROUP BY contact_id ORDER BY contact_id"
        profiles = "SELECT contact_id, touches, version FROM customer_360 FINAL ORDER BY contact_id"
        before_profiles = store.query(profiles)
        before = store.query(query)
        # As after a crash between the insert and the commit: positions fall back, everything is re-read.
        log.commit(DEFAULT_GROUP, [(p, 0) for p in range(log.partitions)])
        again = run_until_caught_up(log, store)
        assert again.records == 30
        assert store.query(query) == before
        # The fold's state survived in chDB: the replayed offsets are skipped, not counted twice.
        assert store.query(profiles) == before_profiles
        # The same event published twice (a producer retry) is one touchpoint too.
        log.append([(b"k0", _events(1)[0])])
        run_until_caught_up(log, store)
        assert store.query(query) == before
        assert [row[:2] for row in store.query(profiles)] == [row[:2] for row in before_profiles]


def test_a_second_run_continues_each_contacts_state(tmp_path: Path, store: ChDBStore) -> None:
    events = _events(14)
    with SQLiteEventLog(tmp_path / "log.sqlite") as log:
        log.append([(b"k", raw) for raw in events[:7]])
        run_until_caught_up(log, store)
        log.append([(b"k", raw) for raw in events[7:]])
        # A new process: nothing in memory, the states come back from projection_state.
        second = run_until_caught_up(log, store, states={})
        assert second.records == 7
    assert store.query("SELECT sum(touches), count() FROM customer_360 FINAL") == [(14, 7)]
