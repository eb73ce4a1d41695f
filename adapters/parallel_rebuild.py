"""`touchstream rebuild` on two cores: this process reads `touchpoints.resolved` from its start, opens and
parses each record, and hands the typed touchpoints to a child process running the rebuild itself
(streams/rebuild.py), which folds and writes them instead of opening and parsing them again.

Opening (AES-GCM) and parsing (validation) were ~40 % of a one-process rebuild, folding and writing the
rest; a pickled touchpoint loads in about a third of that. The child's rebuild is the one-process one,
over the same logs and store: the hand-over (adapters/touchpoint_handoff.py) only saves work, so a record
not handed over (appended after this process read to the end, or after a failure here) is read from the
log by the child, and the answers are the same (tests/unit/test_parallel_rebuild.py compares every read
model). chDB is opened by the child only (one process per chDB data folder). A failure of either side
stops the other, as in adapters/parallel_run.py.
"""

from __future__ import annotations

import multiprocessing
import signal
import traceback
import uuid
from collections.abc import Callable, Sequence
from multiprocessing.sharedctypes import Synchronized
from typing import TYPE_CHECKING, Any

from .bootstrap import Runtime
from .config import Settings
from .parallel_run import _STOP_GRACE, _Reported, _wait_for
from .pickling import picklable
from .touchpoint_handoff import Handed, HandOff, handoff_queue

if TYPE_CHECKING:
    from multiprocessing.synchronize import Event as EventType

    from ..streams.rebuild import RebuildResult
    from .touchpoint_handoff import Message


class _Stopped(Exception):
    pass


def rebuild_in_two_processes(
    settings: Settings,
    models: Sequence[str] | None,
    batch_size: int = 5_000,
    progress: Callable[[int], None] | None = None,
) -> RebuildResult:
    """`streams.rebuild.rebuild` of `models` in a child process, fed typed touchpoints from here; its result
    once it finished. `progress(n)` reports the child's records."""
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no lock or thread of this one
    reading, stopping = context.Event(), context.Event()
    reading.set()
    projected: Synchronized[int] = context.Value("q", 0)
    outcome: multiprocessing.Queue[tuple[str, Any]] = context.Queue()
    handed = handoff_queue(context, batch_size)
    child = context.Process(
        target=_rebuild_step,
        args=(settings, models, batch_size, reading, stopping, projected, outcome, handed),
        name="touchstream-rebuild",
        daemon=True,
    )
    child.start()
    reported = _Reported(projected, progress)
    try:
        hand_off = HandOff(handed, receiving=lambda: child.is_alive() and not stopping.is_set())
        _read_and_hand_over(Runtime(settings), hand_off, batch_size, reported.catch_up)
        hand_off.finish()  # queued behind the last batch: the child waits for every batch, not a guess
        reading.clear()
        result: RebuildResult = _wait_for(child, outcome, reported)  # type: ignore[assignment]
    except BaseException:
        stopping.set()
        reading.clear()
        child.join(_STOP_GRACE)
        if child.is_alive():
            child.terminate()
        raise
    return result


def _read_and_hand_over(
    runtime: Runtime, hand_off: HandOff, batch_size: int, reported: Callable[[], None]
) -> None:
    """The resolved log from offset 0 to its end, in the order the rebuild reads it, opened and parsed."""
    from ..streams.embedded import in_append_order
    from ..streams.sealed_log import stored_reader
    from ..streams.steps import parse_resolved_records
    from ..streams.topology import RESOLVED

    with runtime.log(RESOLVED) as resolved:
        hand_off.start(dict.fromkeys(range(resolved.partitions), 0))
        read, open_records = stored_reader(resolved)
        group = f"touchstream-rebuild-reader-{uuid.uuid4().hex[:12]}"  # never committed: from offset 0
        for batch, _ in in_append_order(resolved, group, batch_size, read):
            items, _ = parse_resolved_records(batch, None, open_records(batch))
            hand_off.update(((partition, offset), touchpoint) for touchpoint, partition, offset in items)
            reported()
            if not hand_off.receiving():
                return  # the child stopped: it fails or finishes on its own, `_wait_for` says which


def _rebuild_step(
    settings: Settings,
    models: Sequence[str] | None,
    batch_size: int,
    reading: EventType,
    stopping: EventType,
    projected: Synchronized[int],
    outcome: multiprocessing.Queue[tuple[str, Any]],
    handed: multiprocessing.Queue[Message],
) -> None:
    """The child: the rebuild, taking each touchpoint as handed over when it was."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches both: the parent stops this one
    from ..streams.embedded import TypedTouchpoints
    from ..streams.rebuild import rebuild
    from ..streams.topology import DLQ, RESOLVED
    from .gc_pace import pace_garbage_collector
    from .log_privacy import mask_every_record
    from .storage.migrate import migrate

    mask_every_record()  # as `touchstream`'s entry point does: logs never print personal values
    pace_garbage_collector()
    parent = multiprocessing.parent_process()

    def stopped() -> bool:
        return stopping.is_set() or (parent is not None and not parent.is_alive())

    def advance(n: int) -> None:
        with projected.get_lock():
            projected.value += n
        if stopped():
            raise _Stopped  # the shadow tables stay; a rerun drops them and starts again

    try:
        runtime = Runtime(settings)
        with (
            runtime.log(RESOLVED) as resolved,
            runtime.stored_log(DLQ) as dlq,
            runtime.read_store() as store,
        ):
            migrate(store)
            typed = TypedTouchpoints(incoming=Handed(handed, reading, stopped))
            result = rebuild(
                resolved, store, models=models, dlq=dlq, progress=advance, batch_size=batch_size, typed=typed
            )
        outcome.put(("ok", result))
    except _Stopped:
        outcome.put(("stopped", None))
    except BaseException as exc:
        outcome.put(("error", (exc if picklable(exc) else None, traceback.format_exc())))
