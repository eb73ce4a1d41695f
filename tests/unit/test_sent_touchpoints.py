"""A worker's own resolved touchpoints, kept typed for its project agent (streams/sent_touchpoints.py)."""

from __future__ import annotations

import pytest
from event_examples import wire_event

from touchstream.events import ResolvedTouchpoint, parse_event
from touchstream.streams.ports import LogRecord
from touchstream.streams.sent_touchpoints import SentTouchpoints


def touchpoint(n: int) -> ResolvedTouchpoint:
    event = parse_event(wire_event("EmailOpened", 1, identifiers={"email": f"p{n}@acme.com"}))
    return ResolvedTouchpoint(event, f"contact-{n}", raw_partition=0, raw_offset=n)


def record(value: bytes, offset: int, partition: int = 3) -> LogRecord:
    return LogRecord(partition, offset, b"k", value, 0.0)


def test_records_read_back_with_the_bytes_sent_are_taken_typed_by_position_once() -> None:
    sent = SentTouchpoints()
    a, b = touchpoint(1), touchpoint(2)
    sent.remember([b"sealed-a", b"sealed-b"], [a, b])
    batch = [record(b"sealed-b", 10), record(b"from another worker", 11), record(b"sealed-a", 12)]
    assert sent.take(batch) == {(3, 10): b, (3, 12): a}
    assert sent.take(batch) == {}  # handed out once: a second read of them parses
    assert len(sent) == 0


def test_the_oldest_are_dropped_past_the_limit() -> None:
    sent = SentTouchpoints(limit=2)
    tps = [touchpoint(n) for n in range(3)]
    sent.remember([b"v0", b"v1", b"v2"], tps)
    assert len(sent) == 2
    batch = [record(b"v0", 0), record(b"v1", 1), record(b"v2", 2)]
    assert sent.take(batch) == {(3, 1): tps[1], (3, 2): tps[2]}


def test_values_and_touchpoints_must_pair_up() -> None:
    with pytest.raises(ValueError, match="2 records sent for 1 touchpoints"):
        SentTouchpoints().remember([b"a", b"b"], [touchpoint(1)])
