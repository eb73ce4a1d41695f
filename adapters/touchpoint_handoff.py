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
  reads the log for the others.
"""

from __future__ import annotations

import multiprocessing
import queue
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from multiprocessing.synchronize import Event as EventType

    from ..streams.embedded import Placed, Position

    Message = dict[int, int] | list[Placed]  # the start, then each appended batch

_POLL = 0.2  # seconds between looks at the other side while waiting on the queue


def handoff_queue(
    context: multiprocessing.context.BaseContext, batch_size: int, ahead: int = 40_000
) -> multiprocessing.Queue[Message]:
    """The queue, holding at most about `ahead` touchpoints (below `TypedTouchpoints`' bound)."""
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

    def __call__(self, missing: list[Position]) -> Iterator[list[Placed]]:
        while self._still_coming(missing):
            message = self._next()
            if message is None:
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
        while not self.stopped():
            # Asked first: what was put before the resolve step finished reaches the queue within the wait.
            finished = not self.resolving.is_set()
            try:
                return self.handed.get(timeout=_POLL)
            except queue.Empty:
                if finished:
                    return None
        return None
