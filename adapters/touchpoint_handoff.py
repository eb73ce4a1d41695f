"""The two-process run's hand-over of resolved touchpoints (adapters/parallel_run.py): the resolve step puts
each batch it appended to the resolved log, typed, in a queue, and the project step's process takes them
from there instead of opening and parsing the same records again (a pickled touchpoint loads in about a
third of the time: no AES-GCM open, no validation).

The log stays the record. The queue only saves work, so every way it can fail ends in reading the log:
a record appended before this run (a rerun after a crash), a batch that arrives after the child gave up
waiting for it, a resolve step that stopped. And it must not cost the child what it saves:

- the first message names where this run's appends begin (the resolved log's end before resolving);
- then every batch appended is put, in order, with its positions (a full queue makes the resolve step
  wait: it may run ahead of the child by a bounded number of touchpoints, never drop one);
- so the child knows, for a position it misses, whether it is coming: it waits for it (the records are
  in the log a moment before their batch is in the queue: the pickling happens after the append), and
  reads the log for the others;
- the last message says the resolve step finished (`HandOff.finish`): behind every batch in the queue's
  one pipe, so the child never gives up on a batch the queue's feeder thread is still writing (under
  load it was: the suite saw 21 of 2,390 touchpoints read from the log again). A resolve step that
  failed stops the child (`stopped`); one that ended any other way without it leaves the child waiting
  `_NO_FINISH_GRACE` on an empty queue, then reading the log.
"""

from __future__ import annotations

import multiprocessing
import queue
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from .pickling import register_model_reducers

if TYPE_CHECKING:
    from multiprocessing.synchronize import Event as EventType

    from ..streams.embedded import Placed, Position

    Message = dict[int, int] | list[Placed] | str  # the start, then each appended batch, then FINISHED

_POLL = 0.2  # seconds between looks at the other side while waiting on the queue
FINISHED = "finished"  # the last message: nothing more is coming
_NO_FINISH_GRACE = 10.0  # seconds the child waits for FINISHED once the resolve step is over


def handoff_queue(
    context: multiprocessing.context.BaseContext, batch_size: int, ahead: int = 40_000
) -> multiprocessing.Queue[Message]:
    """The queue, holding at most about `ahead` touchpoints (below `TypedTouchpoints`' bound)."""
    register_model_reducers()
    handed: multiprocessing.Queue[Message] = context.Queue(maxsize=max(2, ahead // max(1, batch_size)))
    handed.cancel_join_thread()  # a child that stopped reading must not keep the parent from exiting
    return handed


class HandOff:
    """The resolve step's end (a `streams.embedded.TouchpointSink`). `receiving()` says whether the child
    still takes: once it has gone, nothing more is put (the parent finds out and stops on its own)."""

    def __init__(self, handed: multiprocessing.Queue[Message], receiving: Callable[[], bool]) -> None:
        self.handed, self.receiving = handed, receiving

    def start(self, log_ends: dict[int, int]) -> None:
        """Where this run's appends begin: the resolved log's end offset of each partition."""
        self._put(dict(log_ends))

    def update(self, placed: Iterable[Placed], /) -> None:
        self._put(list(placed))

    def finish(self) -> None:
        """The resolve step is done: nothing more comes after what was put."""
        self._put(FINISHED)

    def _put(self, message: Message) -> None:
        while self.receiving():
            try:
                self.handed.put(message, timeout=_POLL)
                return
            except queue.Full:
                continue


class Handed:
    """The project step's end: `TypedTouchpoints.incoming` in the child. For the positions a batch misses,
    takes the batches handed over until every one of them appended by this run has arrived; gives up
    (the log is read for the rest) once the resolve step has finished and the queue stays empty, or when
    the run stops."""

    def __init__(
        self, handed: multiprocessing.Queue[Message], resolving: EventType, stopped: Callable[[], bool]
    ) -> None:
        self.handed, self.resolving, self.stopped = handed, resolving, stopped
        self.start: dict[int, int] | None = None
        self.reached: dict[int, int] = {}  # partition -> the position after the last one handed over
        self.finished = False  # FINISHED arrived: whatever is missing now is read from the log

    def __call__(self, missing: list[Position]) -> Iterator[list[Placed]]:
        while not self.finished and self._still_coming(missing):
            message = self._next()
            if message is None:
                return
            if isinstance(message, str):  # FINISHED
                self.finished = True
                return
            if isinstance(message, dict):
                self.start = message
                self.reached = dict(message)
                continue
            for (partition, offset), _ in message:
                self.reached[partition] = max(self.reached.get(partition, 0), offset + 1)
            yield message

    def _still_coming(self, missing: list[Position]) -> bool:
        if self.start is None:
            return True  # not known yet which positions this run appends
        # `reached` begins at the start: a position appended before this run is never waited for.
        return any(offset >= self.reached.get(partition, 0) for partition, offset in missing)

    def _next(self) -> Message | None:
        over_since: float | None = None  # when the resolve step was first seen over with the queue empty
        while not self.stopped():
            over = not self.resolving.is_set()  # not proof the queue is drained: FINISHED is
            try:
                return self.handed.get(timeout=_POLL)
            except queue.Empty:
                if not over:
                    continue
                # FINISHED is on its way unless the step ended without it: then give up after a grace.
                over_since = over_since if over_since is not None else time.monotonic()
                if time.monotonic() - over_since > _NO_FINISH_GRACE:
                    return None
        return None
