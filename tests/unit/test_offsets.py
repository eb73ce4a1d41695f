"""The offset ledger (streams/offsets.py): what a batch may process and which offsets may be committed."""

from __future__ import annotations

from touchstream.streams.offsets import OffsetLedger

P6 = ("touchpoints.resolved", 6)
P9 = ("touchpoints.resolved", 9)


def ledger_at(**starts: int) -> OffsetLedger:
    ledger = OffsetLedger()
    keys = {"p6": P6, "p9": P9}
    ledger.assign(keys[name] for name in starts)
    for name, offset in starts.items():
        ledger.start(keys[name], offset)
    return ledger


def batch(key: tuple[str, int], offsets: range | list[int]) -> list[tuple[tuple[str, int], int, str]]:
    return [(key, offset, f"{key[1]}/{offset}") for offset in offsets]


def test_an_unbroken_run_from_the_commit_is_processed_and_committed_once_durable() -> None:
    ledger = ledger_at(p6=0)
    admission = ledger.admit(batch(P6, range(0, 5)))
    assert admission.items == [f"6/{o}" for o in range(5)]
    assert ledger.next_offset(P6) == 0  # nothing moves before the effects are durable
    assert ledger.done(admission) == {P6: 5}
    assert ledger.next_offset(P6) == 5


def test_records_after_a_gap_are_not_processed_and_the_partition_is_sought_back() -> None:
    # The cluster run: Faust handed over 16.. of a partition committed at 0; 0..15 never arrived.
    ledger = ledger_at(p6=0, p9=0)
    admission = ledger.admit(batch(P6, range(16, 40)) + batch(P9, range(0, 3)))
    assert admission.items == ["9/0", "9/1", "9/2"]
    assert admission.rewind == {P6: 0}
    assert admission.dropped == 24
    assert ledger.done(admission) == {P9: 3}  # P6 is not committed past what was never processed
    ledger.rewound(P6, 0)
    # Records already queued behind the gap arrive before the re-fetch: no second seek for them.
    later = ledger.admit(batch(P6, range(40, 60)))
    assert later.items == []
    assert later.rewind == {}
    assert ledger.done(later) == {}
    # The re-fetch from 0 (with the queued records again after it) is processed in order.
    refetched = ledger.admit(batch(P6, range(0, 60)))
    assert refetched.items == [f"6/{o}" for o in range(60)]
    assert ledger.done(refetched) == {P6: 60}


def test_a_gap_inside_a_batch_stops_that_partition_at_the_gap() -> None:
    ledger = ledger_at(p6=10)
    admission = ledger.admit(batch(P6, [10, 11, 14, 15]))
    assert admission.items == ["6/10", "6/11"]
    assert admission.rewind == {P6: 12}
    assert ledger.done(admission) == {P6: 12}


def test_records_read_again_are_dropped_and_order_within_a_partition_is_by_offset() -> None:
    ledger = ledger_at(p6=5)
    admission = ledger.admit(batch(P6, [7, 3, 5, 6, 5, 4]))
    assert admission.items == ["6/5", "6/6", "6/7"]
    assert admission.dropped == 3
    assert ledger.done(admission) == {P6: 8}


def test_partitions_not_held_are_dropped_and_unknown_starts_are_reported() -> None:
    ledger = OffsetLedger()
    ledger.assign([P6])
    admission = ledger.admit(batch(P6, range(0, 3)) + batch(P9, range(0, 3)))
    assert admission.items == []
    assert admission.unknown == {P6}
    assert admission.dropped == 6
    ledger.starts({P6: None, P9: 4}, {P6: 2})  # no commit yet: the log's start; P9 is not held
    assert ledger.next_offset(P6) == 2
    assert ledger.next_offset(P9) is None
    assert ledger.admit(batch(P6, range(0, 3))).items == ["6/2"]


def test_a_revocation_forgets_everything_and_a_batch_in_flight_commits_nothing_after_it() -> None:
    ledger = ledger_at(p6=0)
    admission = ledger.admit(batch(P6, range(0, 3)))
    ledger.revoke_all()
    assert ledger.done(admission) == {}
    assert ledger.admit(batch(P6, range(3, 6))).dropped == 3


def test_starts_do_not_move_partitions_already_under_way() -> None:
    ledger = ledger_at(p6=0)
    ledger.done(ledger.admit(batch(P6, range(0, 8))))
    ledger.starts({P6: 0}, {})
    assert ledger.next_offset(P6) == 8


def test_a_partition_is_behind_when_the_logs_end_is_past_its_next_offset() -> None:
    # The cluster run: records of two partitions fetched and dropped around a rebalance, none after them,
    # so no batch ever showed the gap; only the log's end does.
    ledger = ledger_at(p6=0, p9=7)
    unheld = ("touchpoints.resolved", 3)
    assert ledger.behind({P6: 66, P9: 7, unheld: 12}) == {P6: 0}
    ledger.done(ledger.admit(batch(P6, range(0, 66))))
    assert ledger.behind({P6: 66, P9: 7}) == {}
    ledger.assign([P6])  # assigned, its commit not read yet: nothing to compare with
    assert ledger.behind({P6: 66}) == {}
