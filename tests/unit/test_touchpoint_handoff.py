"""The two-process run's hand-over of resolved touchpoints (adapters/touchpoint_handoff.py): the child waits
for a position this run appended until its batch arrives, and never for one appended before the run, one
of a resolve step that finished, or one of a run that stops. Here both ends run in this process, over the
same kind of queue and events the run uses."""

from __future__ import annotations

import multiprocessing
import threading
import time
from typing import Any

import pytest

from touchstream.adapters.touchpoint_handoff import Handed, HandOff, handoff_queue

pytestmark = [pytest.mark.timeout(60)]

CONTEXT = multiprocessing.get_context("spawn")


class Ends:
    def __init__(self, batch_size: int = 100) -> None:
        self.queue = handoff_queue(CONTEXT, batch_size)
        self.resolving, self.stopping = CONTEXT.Event(), CONTEXT.Event()
        self.resolving.set()
        self.hand_off = HandOff(self.queue, receiving=lambda: not self.stopping.is_set())
        self.handed = Handed(self.queue, self.resolving, self.stopping.is_set)

    def taken(self, missing: list[tuple[int, int]]) -> list[Any]:
        return [placed for batch in self.handed(missing) for placed in batch]


def _later(seconds: float, action: Any) -> threading.Thread:
    def run() -> None:
        time.sleep(seconds)
        action()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_position_this_run_appended_is_waited_for_until_its_batch_arrives() -> None:
    ends = Ends()
    ends.hand_off.start({0: 10, 1: 0})
    ends.hand_off.update([((0, 10), "a"), ((1, 0), "b")])
    later = _later(0.5, lambda: ends.hand_off.update([((0, 11), "c")]))
    started = time.monotonic()
    assert ends.taken([(0, 11)]) == [((0, 10), "a"), ((1, 0), "b"), ((0, 11), "c")]
    assert time.monotonic() - started >= 0.4, "it waited for the batch holding (0, 11)"
    later.join()


def test_a_position_appended_before_the_run_is_read_from_the_log_without_waiting() -> None:
    ends = Ends()
    ends.hand_off.start({0: 10})
    started = time.monotonic()
    assert ends.taken([(0, 3), (0, 9)]) == []
    assert time.monotonic() - started < 0.15, "nothing this run appended is missing: no wait"


def test_the_start_is_waited_for_before_anything_is_known() -> None:
    ends = Ends()
    later = _later(0.3, lambda: ends.hand_off.start({0: 10}))
    started = time.monotonic()
    assert ends.taken([(0, 3)]) == []
    assert time.monotonic() - started >= 0.25, "whether (0, 3) is coming is known from the start only"
    later.join()


def test_waiting_ends_once_the_resolve_step_says_it_finished() -> None:
    ends = Ends()
    ends.hand_off.start({0: 0})
    ends.hand_off.finish()
    ends.resolving.clear()
    started = time.monotonic()
    assert ends.taken([(0, 5)]) == []
    assert time.monotonic() - started < 2.0
    assert ends.taken([(0, 6)]) == [], "and it is not waited for again"


def test_a_batch_still_on_its_way_when_the_resolve_step_ends_is_taken() -> None:
    # The queue's feeder thread may write the last batch after the step is over (the suite, under load,
    # read 21 of 2,390 touchpoints from the log again): the child waits for FINISHED, behind it.
    ends = Ends()
    ends.hand_off.start({0: 0})
    ends.resolving.clear()

    def last_batch_then_finished() -> None:
        ends.hand_off.update([((0, 0), "a")])
        ends.hand_off.finish()

    later = _later(0.6, last_batch_then_finished)
    assert ends.taken([(0, 0)]) == [((0, 0), "a")]
    later.join()


def test_without_finished_the_child_gives_up_after_a_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("touchstream.adapters.touchpoint_handoff._NO_FINISH_GRACE", 0.5)
    ends = Ends()
    ends.hand_off.start({0: 0})
    ends.resolving.clear()
    started = time.monotonic()
    assert ends.taken([(0, 5)]) == []
    assert 0.4 < time.monotonic() - started < 3.0


def test_waiting_ends_when_the_run_stops() -> None:
    ends = Ends()
    ends.hand_off.start({0: 0})
    later = _later(0.3, ends.stopping.set)
    assert ends.taken([(0, 5)]) == []
    later.join()


def test_a_full_queue_makes_the_resolve_step_wait_not_drop() -> None:
    ends = Ends(batch_size=40_000)  # room for two batches
    ends.hand_off.start({0: 0})
    ends.hand_off.update([((0, 0), "a")])  # the start and this one fill it
    later = _later(0.5, lambda: ends.hand_off.update([((0, 1), "b")]))
    time.sleep(0.8)  # the third put is blocked until the child takes
    assert ends.taken([(0, 1)]) == [((0, 0), "a"), ((0, 1), "b")]
    later.join()


def test_nothing_is_put_once_the_child_no_longer_receives() -> None:
    ends = Ends(batch_size=40_000)
    ends.hand_off.start({0: 0})
    ends.hand_off.update([((0, 0), "a")])
    ends.stopping.set()
    started = time.monotonic()
    ends.hand_off.update([((0, 1), "b")])  # would block forever on the full queue
    assert time.monotonic() - started < 0.5
