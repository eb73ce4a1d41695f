"""The embedded pipeline: raw log -> validate -> resolve (the real master record, SQLite) -> resolved log ->
project -> chDB; dead letters kept, merges visible, idempotent under replays and a crash between steps."""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from event_examples import wire_event
from unit.test_read_models_oracle import QUERIES

from touchstream.adapters.bootstrap import open_embedded_pipeline
from touchstream.adapters.logs.sqlite_log import SQLiteEventLog
from touchstream.adapters.sdk.publisher import Publisher
from touchstream.adapters.storage.chdb_store import ChDBStore
from touchstream.adapters.storage.migrate import prepare_read_store
from touchstream.adapters.synthetic.generator import GeneratorConfig, generate_with_truth
from touchstream.projections.config import DEFAULT_CONFIG
from touchstream.streams.embedded import (
    DEFAULT_GROUP,
    PROJECT_GROUP,
    RESOLVE_GROUP,
    EmbeddedPipeline,
    project_until_caught_up,
    run_until_caught_up,
    stand_in_resolver,
)
from touchstream.streams.rebuild import rebuild
from touchstream.streams.state_cache import StateCache
from touchstream.streams.validate import dead_letters

SMALL = GeneratorConfig(customers=25, accounts=5, days=25, seed=11)


@functools.cache
def story() -> list[bytes]:
    raw, _truth = generate_with_truth(SMALL)
    return [orjson.dumps(e) for e in raw]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ChDBStore]:
    with ChDBStore(str(tmp_path / "chdb")) as opened:
        prepare_read_store(opened)
        yield opened


def pipeline(folder: Path, store: ChDBStore, batch_size: int = 5_000) -> EmbeddedPipeline:
    """A fresh process: new master-record connection, empty caches, no states in memory."""
    return open_embedded_pipeline(
        folder / "log", store, f"sqlite:///{folder / 'master.sqlite'}", batch_size=batch_size
    )


def test_a_state_cache_too_small_for_anyone_gives_the_same_answers(tmp_path: Path, store: ChDBStore) -> None:
    """Every state evicted as soon as the next is cached: each batch reads its contacts' states back from
    `projection_state`, and every read model is what a roomy cache gives."""
    roomy_dir, tiny_dir = tmp_path / "roomy", tmp_path / "tiny"
    publish(roomy_dir, story())
    publish(tiny_dir, story())
    with pipeline(roomy_dir, store, batch_size=300) as run:
        run.run_until_caught_up()
        assert run.states.evictions == 0  # type: ignore[attr-defined]
    roomy = snapshot(store)
    with ChDBStore(str(tmp_path / "chdb"), database="tiny") as tiny_store:
        prepare_read_store(tiny_store)
        with pipeline(tiny_dir, tiny_store, batch_size=300) as run:
            run.states = StateCache(max_bytes=1)
            run.run_until_caught_up()
            assert len(run.states) == 1  # all but the last state cached were evicted
            assert run.states.evictions > 0
        assert snapshot(tiny_store) == roomy


def publish(folder: Path, events: list[Any]) -> None:
    with Publisher.for_embedded(folder / "log") as publisher:
        for event in events:
            publisher.send(event)


def snapshot(store: ChDBStore) -> dict[str, object]:
    answers: dict[str, object] = {name: store.query_with_columns(sql) for name, sql in QUERIES.items()}
    answers["dead_letters"] = store.query(
        "SELECT * FROM dead_letters FINAL ORDER BY log_partition, log_offset"
    )
    answers["merges"] = store.query("SELECT * FROM contact_merges FINAL ORDER BY merged_id")
    return answers


def email_event(day: int, email: str, **identifiers: Any) -> dict[str, Any]:
    return wire_event(
        "EmailOpened",
        1,
        event_id=str(uuid.uuid4()),
        occurred_at=f"2026-03-{day:02d}T10:00:00Z",
        recorded_at=f"2026-03-{day:02d}T10:00:05Z",
        identifiers={"email": email, **identifiers},
    )


def test_the_master_record_merges_one_person_seen_under_two_addresses(
    tmp_path: Path, store: ChDBStore
) -> None:
    publish(
        tmp_path,
        [
            email_event(1, "Jane.Doe@Acme-Widgets.com"),
            email_event(2, "jane.doe@acme-widgets.com"),  # case only: the same contact at once
            email_event(3, "jane.d@gmail.com"),  # a personal address: a second contact, for now
            email_event(4, "jane.d@gmail.com", external_ids={"zendesk": "42"}),
        ],
    )
    with pipeline(tmp_path, store) as first:
        stats = first.run_until_caught_up()
    assert (stats.resolve.records, stats.resolve.merges, stats.project.accepted) == (4, 0, 4)
    assert store.query("SELECT count() FROM customer_360_current") == [(2,)]
    # The zendesk id, seen with the work address, ties the two contacts: a merge into the older one.
    publish(tmp_path, [email_event(5, "jane.doe@acme-widgets.com", external_ids={"zendesk": "42"})])
    with pipeline(tmp_path, store) as second:
        stats = second.run_until_caught_up()
    assert (stats.resolve.merges, stats.project.merges) == (1, 1)
    assert store.query("SELECT touches, merged_contacts, email FROM customer_360_current") == [
        (5, 1, "jane.doe@acme-widgets.com")
    ]
    assert store.query("SELECT uniqExact(contact_id), count() FROM touchpoints_current") == [(1, 5)]
    # One contact's events share one partition of touchpoints.resolved, in order.
    with SQLiteEventLog(tmp_path / "log" / "touchpoints.resolved.sqlite", partitions=12) as resolved:
        records = [r for p in range(resolved.partitions) for r in resolved.read(p, 0, 100)]
    by_contact: dict[str, set[int]] = {}
    for record in records:
        by_contact.setdefault(json.loads(record.value)["contact_id"], set()).add(record.partition)
    assert all(len(partitions) == 1 for partitions in by_contact.values())
    assert all(record.key == json.loads(record.value)["contact_id"].encode() for record in records)


def test_bad_records_go_to_the_dlq_with_their_reason_and_into_dead_letters(
    tmp_path: Path, store: ChDBStore
) -> None:
    publish(tmp_path, [email_event(1, "jane@acme.com"), email_event(2, "john@acme.com")])
    with SQLiteEventLog(tmp_path / "log" / "touchpoints.raw.sqlite", partitions=12) as raw:
        raw.append([(b"bad", b'{"type": "EmailOpend", "source": "hubspot"}'), (b"bad", b"\xff not json")])
    with pipeline(tmp_path, store) as run:
        stats = run.run_until_caught_up()
        letters = sorted(dead_letters(run.dlq), key=lambda letter: letter.source_offset)
    assert (stats.resolve.records, stats.resolve.resolved, stats.resolve.dead_lettered) == (4, 2, 2)
    assert [letter.source_topic for letter in letters] == ["touchpoints.raw"] * 2
    assert "did you mean EmailOpened" in letters[0].reason
    assert letters[1].original == b"\xff not json"
    rows = store.query("SELECT event_type, source, error, raw FROM dead_letters FINAL ORDER BY log_offset")
    assert [(row[0], row[1]) for row in rows] == [("EmailOpend", "hubspot"), ("", "")]
    assert "not UTF-8" in rows[1][2]
    assert rows[1][3].endswith(" not json")
    assert store.query("SELECT count() FROM touchpoints FINAL") == [(2,)]


def test_a_replay_from_offset_zero_of_both_steps_changes_no_answer(tmp_path: Path, store: ChDBStore) -> None:
    publish(tmp_path, story())
    with pipeline(tmp_path, store, batch_size=400) as run:
        run.run_until_caught_up()
    before = snapshot(store)
    with pipeline(tmp_path, store, batch_size=400) as again:
        for log, group in (
            (again.raw, RESOLVE_GROUP),
            (again.resolved, PROJECT_GROUP),
            (again.dlq, PROJECT_GROUP),
        ):
            log.commit(group, [(p, 0) for p in range(log.partitions)])
        stats = again.run_until_caught_up()
    assert stats.resolve.records == len(story())
    assert stats.project.duplicates == 2 * len(story())  # the first copies and the re-resolved ones
    assert snapshot(store) == before


def _most_touches(store: ChDBStore) -> int:
    return int(store.query("SELECT max(touches) FROM customer_360 FINAL")[0][0])


def caller_story() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Two calls from a number, and a person's email carrying it (later in event time)."""
    number = "+14155550177"

    def at(day: int) -> dict[str, str]:
        return {"occurred_at": f"2026-03-{day:02d}T10:00:00Z", "recorded_at": f"2026-03-{day:02d}T10:00:05Z"}

    calls = [
        wire_event(
            "ContactCenterCall",
            1,
            event_id=str(uuid.UUID(int=100 + day)),
            source="genesys",
            identifiers={"phone": number},
            **at(day),
        )
        for day in (1, 2)
    ]
    person = wire_event(
        "EmailOpened",
        1,
        event_id=str(uuid.UUID(int=200)),
        identifiers={"email": "ann@acme-widgets.com", "phone": number},
        **at(3),
    )
    return calls, [person]


def test_an_anonymous_callers_calls_are_its_persons_as_if_the_person_came_first(tmp_path: Path) -> None:
    views = {
        "person": "SELECT * EXCEPT (updated_at) FROM customer_360_current",
        "facts": "SELECT event_id, contact_id, account_id FROM touchpoints FINAL ORDER BY event_id",
        "signals": "SELECT signal_id, kind, raised_at FROM active_signals ORDER BY signal_id",
    }
    calls, person = caller_story()
    answers = []
    for calls_first in (False, True):
        folder = tmp_path / f"calls-first-{calls_first}"
        with ChDBStore(str(folder / "chdb")) as store:
            prepare_read_store(store)
            reattributed = 0
            for part in (calls, person) if calls_first else (person, calls):  # resolved in this order
                publish(folder, part)
                with pipeline(folder, store) as run:
                    reattributed += run.run_until_caught_up().resolve.reattributed
            assert reattributed == (2 if calls_first else 0)
            answers.append({name: store.query(sql) for name, sql in views.items()})
            # A fresh process resolving the whole raw log again hands the calls again: nothing counts twice.
            with pipeline(folder, store) as again:
                again.raw.commit(RESOLVE_GROUP, [(p, 0) for p in range(again.raw.partitions)])
                assert again.run_until_caught_up().project.duplicates == 3 + reattributed
            assert {name: store.query(sql) for name, sql in views.items()} == answers[-1]
    person_first, calls_first_answers = answers
    ((*_, touches),) = [row[:5] for row in person_first["person"]]
    assert touches == 3, "one person, three touches"
    assert len({contact for _, contact, _ in calls_first_answers["facts"]}) == 1, "every fact is the person's"
    assert calls_first_answers == person_first


@pytest.mark.parametrize("projected_in_between", [False, True])
def test_a_crash_between_the_resolved_append_and_the_raw_commit_counts_nothing_twice(
    tmp_path: Path, projected_in_between: bool
) -> None:
    publish(tmp_path / "clean", story())
    with ChDBStore(str(tmp_path / "clean" / "chdb")) as clean_store:
        prepare_read_store(clean_store)
        with pipeline(tmp_path / "clean", clean_store, batch_size=300) as clean:
            clean.run_until_caught_up()
        expected = snapshot(clean_store)
        # More events per contact than the fold's ring of recent event ids: the ring alone cannot help.
        assert _most_touches(clean_store) > DEFAULT_CONFIG.recent_event_ids_kept

    folder = tmp_path / "crashed"
    publish(folder, story())
    with ChDBStore(str(folder / "chdb")) as store:
        prepare_read_store(store)
        with pipeline(folder, store, batch_size=300) as run:
            run.resolve_until_caught_up()
            if projected_in_between:
                run.project_until_caught_up()
            # As if the process died after the appends to touchpoints.resolved but before the raw commit.
            run.raw.commit(RESOLVE_GROUP, [(p, 0) for p in range(run.raw.partitions)])
        with pipeline(folder, store, batch_size=300) as restarted:
            again = restarted.resolve_until_caught_up()
            ends = sum(restarted.resolved.end_offset(p) for p in range(restarted.resolved.partitions))
            assert again.records == len(story())
            assert ends == 2 * len(story()), "the batch was resolved and appended again, at new offsets"
            stats = restarted.project_until_caught_up()
        assert stats.duplicates == len(story())
        assert snapshot(store) == expected
        # A rebuild from offset 0 of the resolved log (duplicates and all) answers the same, also for a
        # model without the touchpoints table (its guard is then in memory).
        with (
            SQLiteEventLog(folder / "log" / "touchpoints.resolved.sqlite", 12) as resolved,
            SQLiteEventLog(folder / "log" / "touchpoints.dlq.sqlite", 3) as dlq,
        ):
            result = rebuild(resolved, store, dlq=dlq, batch_size=700)
            assert result.stats.duplicates == len(story())
            assert snapshot(store) == expected
            rebuild(resolved, store, models=["customer_360"], batch_size=700)
            assert snapshot(store) == expected


def test_a_rebuild_guards_its_fresh_shadow_tables_from_memory(
    tmp_path: Path, store: ChDBStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = [email_event(1 + i % 20, "jane@acme.com") for i in range(40)]
    publish(tmp_path, events)
    with pipeline(tmp_path, store) as run:
        run.run_until_caught_up()
    before = snapshot(store)
    asked: list[str] = []
    query = store.query

    def spy(sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        asked.append(sql)
        return query(sql, params)

    monkeypatch.setattr(store, "query", spy)
    with (
        SQLiteEventLog(tmp_path / "log" / "touchpoints.resolved.sqlite", 12) as resolved,
        SQLiteEventLog(tmp_path / "log" / "touchpoints.dlq.sqlite", 3) as dlq,
    ):
        result = rebuild(resolved, store, dlq=dlq, batch_size=7)
    assert result.stats.records == 40
    assert snapshot(store) == before
    # The shadow tables began empty and only this reader writes them: it knows what they hold.
    assert not [sql for sql in asked if "event_id FROM touchpoints__rebuild" in sql]


def test_a_producers_retry_is_one_touchpoint_however_late(tmp_path: Path, store: ChDBStore) -> None:
    events = [email_event(1 + i % 20, "jane@acme.com") for i in range(40)]
    publish(tmp_path, events)
    with pipeline(tmp_path, store) as run:
        run.run_until_caught_up()
        before = snapshot(store)
        publish(tmp_path, [events[0]])  # 39 events later: long out of the fold's ring of recent ids
        stats = run.run_until_caught_up()
    assert stats.project.duplicates == 1
    assert snapshot(store) == before


# --- the single-step shortcut, for tests whose identity is known up front --------------------------------


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


def test_the_shortcut_with_a_known_identity_projects_and_dead_letters(
    tmp_path: Path, store: ChDBStore
) -> None:
    with SQLiteEventLog(tmp_path / "log.sqlite") as log:
        log.append([(b"k", raw) for raw in _events(40)])
        log.append([(b"bad", b'{"type": "EmailOpend"}'), (b"bad", b"\xff not json")])
        stats = run_until_caught_up(log, store, resolve=stand_in_resolver, batch_size=7)
        assert (stats.records, stats.accepted, stats.dead_lettered) == (42, 40, 2)
        assert log.lag(DEFAULT_GROUP) == 0
        # A replay from zero: the fold's positions survive in chDB, nothing is counted twice.
        profiles = "SELECT contact_id, touches, version FROM customer_360 FINAL ORDER BY contact_id"
        before = store.query(profiles)
        log.commit(DEFAULT_GROUP, [(p, 0) for p in range(log.partitions)])
        assert run_until_caught_up(log, store, resolve=stand_in_resolver, states={}).records == 42
        assert store.query(profiles) == before
    assert store.query("SELECT count(), uniqExact(contact_id) FROM touchpoints FINAL") == [(40, 7)]
    assert store.query("SELECT count(), sum(touches) FROM customer_360 FINAL") == [(7, 40)]
    letters = store.query("SELECT event_type, error FROM dead_letters FINAL ORDER BY log_offset")
    assert letters[0][0] == "EmailOpend"
    assert "did you mean EmailOpened" in letters[0][1]


def test_touchstream_run_processes_the_embedded_raw_log_of_the_data_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from touchstream.adapters.cli.main import app

    monkeypatch.setenv("TOUCHSTREAM_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TOUCHSTREAM_MODE", "embedded")
    monkeypatch.delenv("TOUCHSTREAM_MASTER_RECORD_URL", raising=False)
    publish(tmp_path, [email_event(1, "jane@acme.com"), email_event(2, "john@acme.com")])
    done = CliRunner().invoke(app, ["run"])
    assert done.exit_code == 0, done.output
    assert "2 raw records: 2 resolved" in done.output
    again = CliRunner().invoke(app, ["run"])
    assert "0 raw records" in again.output
    with ChDBStore(str(tmp_path / "chdb"), database="touchstream") as store:
        assert store.query("SELECT count() FROM customer_360_current") == [(2,)]
    migrated = CliRunner().invoke(app, ["db", "migrate"])
    assert "0 migration(s) applied" in migrated.output, migrated.output
    rebuilt = CliRunner().invoke(app, ["rebuild"])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "from 2 records" in rebuilt.output


def test_the_runner_announces_an_accounts_lifted_hold_after_catching_up(
    tmp_path: Path, store: ChDBStore
) -> None:
    """After catching up (not per batch), the account-level pass: the account's only hold ended, so
    `service_hold_lifted` for the account is published with the batch messages; a run with nothing new
    publishes nothing more."""
    stories = (
        ("TicketOpened", 1, {"ticket_id": "T1", "subject": "Down", "priority": "P1", "channel": "phone"}),
        ("TicketResolved", 2, {"ticket_id": "T1"}),
        ("EmailOpened", 9, {"campaign_id": "c", "message_id": "m"}),
    )
    events = [
        wire_event(
            type_name,
            1,
            event_id=str(uuid.uuid4()),
            occurred_at=f"2026-03-{day:02d}T10:00:00Z",
            identifiers={"email": "ann@acme.com"},
            payload=payload,
        )
        for type_name, day, payload in stories
    ]
    published: list[dict[str, Any]] = []
    with SQLiteEventLog(tmp_path / "log.sqlite") as log:
        log.append([(b"ann", orjson.dumps(e)) for e in events])
        run_until_caught_up(
            log, store, resolve=lambda e: ("ANN", "ACME"), batch_size=1, publish=published.extend
        )
        lifted = [m for m in published if m["value"].get("scope") == "account"]
        assert [(m["topic"], m["key"], m["value"]["kind"], m["value"]["status"]) for m in lifted] == [
            ("signals.sales", "ACME", "service_hold_lifted", "raised")
        ]
        published.clear()
        assert (
            run_until_caught_up(
                log, store, resolve=lambda e: ("ANN", "ACME"), publish=published.extend
            ).records
            == 0
        )
        assert published == []


@pytest.mark.parametrize("following", [False, True], ids=["one_process", "following"])
def test_an_erasure_a_crash_cut_short_is_carried_out_by_the_retry(
    tmp_path: Path, store: ChDBStore, following: bool
) -> None:
    """The erasure runs after its batch's rows are written (the tombstone first), so a crash in between
    leaves its request applied but not carried out: the retry finds it among the duplicates and erases.
    `following` is the two-process run's project step, which erases at the end of its run."""
    erasure = wire_event(
        "ErasureRequested",
        1,
        event_id=str(uuid.uuid4()),
        occurred_at="2026-03-03T10:00:00Z",
        recorded_at="2026-03-03T10:00:05Z",
        identifiers={"email": "ada@lovelace.example"},
    )
    publish(tmp_path, [email_event(1, "ada@lovelace.example"), erasure, email_event(2, "bo@b.example")])
    more = (lambda: False) if following else None

    def crash(requests: list[Any]) -> None:
        raise RuntimeError("the process died before the erasure")

    with pipeline(tmp_path, store) as run:
        run.resolve_until_caught_up()
        with pytest.raises(RuntimeError, match="died before the erasure"):
            project_until_caught_up(run.resolved, store, erase=crash, more=more)
        (contact,) = store.query("SELECT contact_id FROM customer_360 FINAL WHERE erased = 1")[0]
    erased: list[Any] = []
    with pipeline(tmp_path, store) as restarted:
        stats = project_until_caught_up(restarted.resolved, store, erase=erased.extend, more=more)
        assert stats.duplicates == 3, "every row was written before the crash"
        assert [request.contact_id for request in erased] == [contact]
        again = project_until_caught_up(restarted.resolved, store, erase=erased.extend, more=more)
        assert again.records == 0, "carried out and committed: nothing is projected or erased twice"
    assert len(erased) == 1
