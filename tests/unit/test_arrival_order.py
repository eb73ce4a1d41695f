"""`steps.arrival_order`: a batch read partition by partition, put back in about the order it was appended."""

from __future__ import annotations

from hypothesis import given, strategies as st

from touchstream.streams.ports import LogRecord
from touchstream.streams.steps import arrival_order


def record(partition: int, offset: int, at_ms: int) -> LogRecord:
    return LogRecord(partition, offset, None, f"{partition}/{offset}".encode(), at_ms / 1000)


def test_records_of_different_milliseconds_come_in_time_order() -> None:
    batch = [record(0, 0, 1), record(0, 1, 4), record(1, 0, 2), record(1, 1, 3)]
    assert [(r.partition, r.offset) for r in arrival_order(batch)] == [(0, 0), (1, 0), (1, 1), (0, 1)]


def test_one_appends_records_interleave_by_their_place_in_each_partitions_share() -> None:
    """One append (one millisecond) of six records: four went to partition 0, two to partition 1."""
    batch = [record(0, o, 7) for o in range(4)] + [record(1, o, 7) for o in range(2)]
    assert [(r.partition, r.offset) for r in arrival_order(batch)] == [
        (0, 0),
        (1, 0),
        (0, 1),
        (0, 2),
        (1, 1),
        (0, 3),
    ]


@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 5)), max_size=40))
def test_each_partitions_own_order_is_kept_and_nothing_is_lost(draws: list[tuple[int, int]]) -> None:
    clock: dict[int, int] = {}  # a partition's append times never go back
    offsets: dict[int, int] = {}
    batch = []
    for partition, step in draws:
        clock[partition] = clock.get(partition, 0) + step
        offsets[partition] = offsets.get(partition, -1) + 1
        batch.append(record(partition, offsets[partition], clock[partition]))
    ordered = arrival_order(batch)
    assert sorted(ordered, key=lambda r: (r.partition, r.offset)) == sorted(
        batch, key=lambda r: (r.partition, r.offset)
    )
    for partition in clock:
        mine = [r.offset for r in ordered if r.partition == partition]
        assert mine == sorted(mine)
    times = [r.timestamp for r in ordered]
    assert times == sorted(times)
