"""The pipeline steps written once (streams/steps.py), as both runtimes use them: an unreadable record is
skipped and counted, never a crash, and merges are applied incrementally from where the reader stood."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from event_examples import wire_event

from touchstream.adapters.logs.sqlite_log import SQLiteEventLog
from touchstream.adapters.storage.chdb_store import ChDBStore
from touchstream.adapters.storage.migrate import prepare_read_store
from touchstream.events import ResolvedTouchpoint, parse_event
from touchstream.projections.merges import MergeMap
from touchstream.streams.embedded import PROJECT_GROUP, project_dead_letters, project_merges
from touchstream.streams.ports import LogRecord
from touchstream.streams.steps import dead_letter_rows, merge_rows, parse_resolved_records, untyped_records
from touchstream.streams.validate import DeadLetter


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ChDBStore]:
    with ChDBStore(str(tmp_path / "chdb")) as opened:
        prepare_read_store(opened)
        yield opened


def letter(offset: int) -> bytes:
    error = {"error": "ValidationError", "problems": [{"path": "type", "message": "unknown"}]}
    at = datetime(2026, 3, 1, tzinfo=UTC)
    return DeadLetter("touchpoints.raw", 0, offset, None, b"{}", error, at, at.timestamp()).to_bytes()


def test_an_unreadable_dead_letter_is_skipped_and_the_readable_ones_land(
    tmp_path: Path, store: ChDBStore
) -> None:
    with SQLiteEventLog(tmp_path / "dlq.sqlite", partitions=1) as dlq:
        dlq.append([(None, letter(1)), (None, b"not a letter"), (None, b"[1]"), (None, letter(2))])
        assert project_dead_letters(dlq, store) == 4
        assert dlq.committed(PROJECT_GROUP, 0) == 4  # nothing blocks the partition
    assert store.query("SELECT count() FROM dead_letters FINAL")[0][0] == 2
    rows, unreadable = dead_letter_rows(
        [LogRecord(0, i, None, value, 0.0) for i, value in enumerate([letter(1), b"{", b'"x"'])]
    )
    assert len(rows) == 1
    assert [record.offset for record, _ in unreadable] == [1, 2]


def merged(notification: int, merged_id: str, survivor: str) -> bytes:
    return orjson.dumps(
        {
            "type": "ContactsMerged",
            "aggregate_id": survivor,
            "notification_id": notification,
            "data": {"merged_id": merged_id, "reason": "same email"},
        }
    )


class CountingLog(SQLiteEventLog):
    """Remembers where each read started, to tell an incremental reader from a replay."""

    reads: list[int]

    def read(self, partition: int, from_offset: int, max_records: int) -> list[LogRecord]:
        self.reads.append(from_offset)
        return super().read(partition, from_offset, max_records)

    def read_containing(
        self, partition: int, from_offset: int, end_offset: int, needles: Sequence[bytes]
    ) -> list[LogRecord]:
        self.reads.append(from_offset)
        return super().read_containing(partition, from_offset, end_offset, needles)


def test_merges_are_applied_incrementally_and_chains_flatten(tmp_path: Path, store: ChDBStore) -> None:
    a, b, c = "a" * 8, "b" * 8, "c" * 8
    with CountingLog(tmp_path / "masterdata.sqlite", partitions=1) as masterdata:
        masterdata.reads = []
        masterdata.append([(b"x", merged(1, a, b))])
        merge_map = MergeMap()
        assert project_merges(masterdata, store, merge_map=merge_map) == 1
        masterdata.reads.clear()
        masterdata.append([(b"x", merged(2, b, c))])
        assert project_merges(masterdata, store, merge_map=merge_map) == 2  # a -> c and b -> c
        assert min(masterdata.reads) == 1  # only what came after the committed position was read
    got = store.query("SELECT merged_id, survivor_id FROM contact_merges FINAL WHERE active = 1 ORDER BY 1")
    assert got == [(a, c), (b, c)]


def test_merge_rows_follow_the_master_records_order_not_the_batchs() -> None:
    a, b, c = "a" * 8, "b" * 8, "c" * 8
    messages = [orjson.loads(merged(2, b, c)), orjson.loads(merged(1, a, b))]
    rows = merge_rows(MergeMap(), messages)
    assert [(m, s, v) for m, s, _active, _reason, v in rows][-2:] == [(a, c, 2), (b, c, 2)]


def test_a_batchs_typed_touchpoints_are_taken_and_only_the_others_opened_and_parsed_in_place() -> None:
    def touchpoint(n: int) -> ResolvedTouchpoint:
        event = parse_event(wire_event("EmailOpened", 1, identifiers={"email": f"p{n}@acme.com"}))
        return ResolvedTouchpoint(event, f"contact-{n}", raw_partition=0, raw_offset=n)

    a, b, c = touchpoint(1), touchpoint(2), touchpoint(3)
    batch = [LogRecord(0, offset, None, b"sealed", 0.0) for offset in range(4)]
    typed = {(0, 1): a}
    untyped = untyped_records(batch, typed)
    assert [r.offset for r in untyped] == [0, 2, 3]
    opened = [LogRecord(0, 0, None, b.to_json(), 0.0), LogRecord(0, 2, None, b"not json", 0.0)]
    opened.append(LogRecord(0, 3, None, c.to_json(), 0.0))
    items, unreadable = parse_resolved_records(batch, typed, opened)
    assert [(item, offset) for item, _, offset in items] == [(b, 0), (a, 1), (c, 3)]
    assert [(record.offset, record.value) for record, _ in unreadable] == [(2, b"not json")]
    assert typed == {}  # each typed touchpoint is handed out once
