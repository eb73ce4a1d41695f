"""Records appended straight to the raw log, bypassing the gateway: the validator and the embedded runner
dead-letter every bad one and keep going (the good records after it are processed), and the hostile
strings of valid events reach chDB byte for byte with every table intact."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from faults.corpus import (
    CONTROL_STRINGS,
    HOSTILE_NAMES,
    MALFORMED_BODIES,
    NOT_EVENTS,
    WRONG_TYPES,
    good,
    hostile_valid_events,
    with_field,
)

from touchstream.adapters.logs.sqlite_log import SQLiteEventLog
from touchstream.adapters.logs.topics import open_log
from touchstream.adapters.storage.chdb_store import ChDBStore
from touchstream.adapters.storage.migrate import prepare_read_store
from touchstream.streams.embedded import run_until_caught_up, stand_in_resolver
from touchstream.streams.ports import AbstractReadStore
from touchstream.streams.topology import DLQ, RAW
from touchstream.streams.validate import Validator, dead_letters, validate_until_caught_up

pytestmark = pytest.mark.timeout(180)


def bad_records() -> list[bytes]:
    """Every record of the corpus that is not a valid event, as a producer could write it to the topic."""
    records = [*MALFORMED_BODIES.values(), *NOT_EVENTS.values()]
    records += [orjson.dumps(with_field(good(), f, v)) for f, v in WRONG_TYPES if _dumpable(v)]
    for text in CONTROL_STRINGS:
        event = good("MeetingHeld")
        event["payload"] = {**event["payload"], "subject": text}
        records.append(orjson.dumps(event))
    too_big = good("NpsSubmitted")
    too_big["payload"] = {**too_big["payload"], "comment": "x" * 70_000}
    records.append(orjson.dumps(too_big))
    records.append(orjson.dumps(good(occurred_at="9999-12-31T23:59:59Z")))
    records.append(orjson.dumps(good(occurred_at="1900-01-01T00:00:00Z")))
    records.append(b'{"event_id": "x", "type": "EmailOpened", "schema_version": 99}')
    return [r for r in records if r.strip() != b"[]"] + [b"[]"]


def _dumpable(value: Any) -> bool:
    try:
        orjson.dumps(value)
    except TypeError:
        return False
    return True


def interleaved() -> tuple[list[tuple[bytes | None, bytes]], list[dict[str, Any]], list[bytes]]:
    """Good and bad records alternating, all on the same key (one partition): a bad record never stops
    the good ones behind it."""
    goods, bads = [], bad_records()
    records: list[tuple[bytes | None, bytes]] = []
    for bad in bads:
        event = good(identifiers={"email": "same-person@example.com"})
        goods.append(event)
        records += [(b"same-key", bad), (b"same-key", orjson.dumps(event))]
    return records, goods, bads


def test_the_validator_dead_letters_every_bad_record_and_passes_the_good_ones(tmp_path: Path) -> None:
    records, goods, bads = interleaved()
    with open_log(RAW, embedded_dir=tmp_path) as raw, open_log(DLQ, embedded_dir=tmp_path) as dlq:
        raw.append(records)
        passed: list[str] = []
        stats = validate_until_caught_up(
            raw,
            Validator(dlq, source_topic=RAW),
            on_valid=lambda batch: passed.extend(str(e.event_id) for _, e in batch),
            batch_size=7,  # many batches, each mixing good and bad
        )
        assert (stats.records, stats.valid, stats.dead_lettered) == (len(records), len(goods), len(bads))
        assert passed == [g["event_id"] for g in goods]  # every good one, in log order
        letters = list(dead_letters(dlq))
        assert sorted(letter.original for letter in letters) == sorted(bads)  # original bytes, exactly
        for letter in letters:
            assert letter.reason
            assert letter.source_key == b"same-key"
            assert letter.error["problems"], letter.error
        # Caught up: the position is past the end, so a rerun reads nothing and dead-letters nothing twice.
        assert validate_until_caught_up(raw, Validator(dlq, source_topic=RAW)).records == 0
        assert len(list(dead_letters(dlq))) == len(bads)


@pytest.fixture
def chdb(tmp_path: Path) -> Iterator[AbstractReadStore]:
    with ChDBStore(str(tmp_path / "chdb")) as store:
        prepare_read_store(store)
        yield store


def _tables(store: AbstractReadStore) -> list[str]:
    return sorted(
        r[0] for r in store.query("SELECT name FROM system.tables WHERE database = currentDatabase()")
    )


def test_the_embedded_runner_dead_letters_bad_records_and_keeps_going(
    tmp_path: Path, chdb: AbstractReadStore
) -> None:
    records, goods, bads = interleaved()
    tables = _tables(chdb)
    with SQLiteEventLog(tmp_path / "log.sqlite", partitions=3) as log:
        log.append(records)
        stats = run_until_caught_up(log, chdb, resolve=stand_in_resolver, batch_size=5)
        assert (stats.records, stats.accepted, stats.dead_lettered) == (len(records), len(goods), len(bads))
        assert (
            run_until_caught_up(log, chdb, resolve=stand_in_resolver).records == 0
        )  # committed past every record, bad ones too
    ids = {r[0] for r in chdb.query("SELECT toString(event_id) FROM touchpoints FINAL")}
    assert ids == {g["event_id"] for g in goods}
    ((touches,),) = chdb.query("SELECT touches FROM customer_360 FINAL")
    assert touches == len(goods)
    stored = [r[0] for r in chdb.query("SELECT raw FROM dead_letters FINAL ORDER BY log_offset")]
    assert len(stored) == len(bads)
    # The dead letter keeps the record's text byte for byte - NULs, quotes, backslashes - and invalid
    # UTF-8 visibly replaced (the log keeps the bytes).
    assert sorted(stored) == sorted(b.decode("utf-8", "replace") for b in bads)
    assert any("\x00" in text for text in stored)
    assert _tables(chdb) == tables


def test_hostile_strings_reach_chdb_byte_for_byte_and_every_table_survives(
    tmp_path: Path, chdb: AbstractReadStore
) -> None:
    sent = hostile_valid_events()
    tables = _tables(chdb)
    with SQLiteEventLog(tmp_path / "log.sqlite", partitions=3) as log:
        log.append([(e["identifiers"]["email"].encode(), orjson.dumps(e)) for e in sent])
        stats = run_until_caught_up(log, chdb, resolve=stand_in_resolver)
    assert (stats.accepted, stats.dead_lettered) == (len(sent), 0)
    assert_round_trip(chdb, sent)
    assert _tables(chdb) == tables


def assert_round_trip(store: AbstractReadStore, sent: list[dict[str, Any]]) -> None:
    """Every hostile string in the touchpoints table exactly as it was sent (shared with the server test)."""
    rows = store.query(
        "SELECT toString(event_id), actor, title, owner, payload FROM touchpoints FINAL ORDER BY event_id"
    )
    by_id = {r[0]: r[1:] for r in rows}
    assert len(by_id) == len(sent)
    for event in sent:
        actor, title, owner, payload = by_id[event["event_id"]]
        if event["type"] == "MeetingHeld":
            name = event["payload"]["subject"]
            assert (actor, title, owner) == (name, name, name)
            assert json.loads(payload)["meeting_id"] == name[:128]
        else:
            assert json.loads(payload)["notes"] == event["payload"]["notes"]
    # The table still answers, and the WHERE clause with the nastiest string (as a parameter) finds its row.
    name = HOSTILE_NAMES[0]
    ((count,),) = store.query("SELECT count() FROM touchpoints FINAL WHERE owner = %(name)s", {"name": name})
    assert count == 1


def test_control_characters_and_nuls_round_trip_through_insert_rows(chdb: AbstractReadStore) -> None:
    """Below the event language (which refuses control characters): the store itself sends values as data,
    so even NULs and every byte 1..31 come back unchanged."""
    values = [*HOSTILE_NAMES, *CONTROL_STRINGS, "".join(chr(c) for c in range(1, 32)), "\x00\x00", ""]
    chdb.execute("CREATE TABLE hostile (n UInt32, s String) ENGINE = MergeTree ORDER BY n")
    chdb.insert_rows("hostile", ["n", "s"], list(enumerate(values)))
    assert [r[0] for r in chdb.query("SELECT s FROM hostile ORDER BY n")] == values


def test_duplicate_event_ids_with_different_bodies_on_the_raw_topic(
    tmp_path: Path, chdb: AbstractReadStore
) -> None:
    """The gateway refuses a reused id (409); a producer writing to Kafka directly can still do it. Then the
    touchpoint keeps one row (the later body: ReplacingMergeTree by log offset) and the 360 counts it once."""
    first = good(identifiers={"email": "dup@example.com"})
    second = {**first, "payload": {"campaign_id": "other", "message_id": "m-2"}}
    with SQLiteEventLog(tmp_path / "log.sqlite", partitions=3) as log:
        log.append(
            [(b"dup", orjson.dumps(first)), (b"dup", orjson.dumps(second)), (b"dup", orjson.dumps(first))]
        )
        stats = run_until_caught_up(log, chdb, resolve=stand_in_resolver)
    assert stats.records == 3
    rows = chdb.query("SELECT campaign_id FROM touchpoints FINAL")
    assert rows == [("spring-launch",)]  # one row: the last record on the log (the first body again)
    ((touches,),) = chdb.query("SELECT touches FROM customer_360 FINAL")
    assert touches == 1


def test_a_touchpoint_for_an_erased_customer(tmp_path: Path, chdb: AbstractReadStore) -> None:
    """An ErasureRequested, then a touchpoint for the same person: nothing crashes; the 360 profile stays
    erased (no personal details come back); the touchpoint is still counted as a fact. Crypto-shredding
    is not implemented yet, so the touchpoints row still holds the identifier in clear - docs/bad-input.md."""
    who = {"email": "erase-me@example.com", "phone": "(415) 555-0134"}
    details = good("ContactDetailsObserved", identifiers=who)
    details["payload"] = {"first_name": "Erin", "last_name": "Erased"}
    erasure = good("ErasureRequested", identifiers=who)
    after = good("ContactDetailsObserved", identifiers=who)
    after["payload"] = {"first_name": "Erin", "job_title": "CTO"}
    ticket = good("TicketOpened", identifiers=who)
    with SQLiteEventLog(tmp_path / "log.sqlite", partitions=3) as log:
        log.append([(b"erin", orjson.dumps(e)) for e in (details, erasure, after, ticket)])
        stats = run_until_caught_up(log, chdb, resolve=stand_in_resolver)
    assert (stats.accepted, stats.dead_lettered) == (4, 0)
    ((erased, first_name, email, phone, job, touches),) = chdb.query(
        "SELECT erased, first_name, email, phone, job_title, touches FROM customer_360 FINAL"
    )
    assert (erased, first_name, email, phone, job) == (1, "", "", "", "")
    assert touches == 4
    ((in_clear,),) = chdb.query("SELECT count() FROM touchpoints FINAL WHERE email = 'erase-me@example.com'")
    assert in_clear == 4  # the known gap until crypto-shredding lands
