"""A step run in a child process beside this one and fed typed touchpoints through the hand-over
(adapters/touchpoint_handoff.py): what `touchstream run` (adapters/parallel_run.py) and `touchstream
rebuild` (adapters/parallel_rebuild.py) share.

This process feeds; the child's body gets the hand-over, a progress callback (reported here) and a way to
ask whether to stop. A failure of either side stops the other: the child's error is raised here with its
traceback; an error or Ctrl-C here asks the child to stop after its current batch, and a child whose
parent was killed stops the same way by itself. The body must be a module-level function (a spawned
interpreter imports it by name).
"""

from __future__ import annotations

import multiprocessing
import queue
import signal
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.sharedctypes import Synchronized
from typing import TYPE_CHECKING, Any, TypeVar

from .pickling import picklable
from .touchpoint_handoff import Handed, HandOff, handoff_queue

if TYPE_CHECKING:
    from multiprocessing.synchronize import Event as EventType

    from .touchpoint_handoff import Message

_POLL = 0.2  # seconds between looks at the child while waiting for it
_STOP_GRACE = 60.0  # seconds a stopped child gets to finish its batch before it is terminated

Fed = TypeVar("Fed")
Answer = TypeVar("Answer")


class ProjectStepFailed(RuntimeError):
    """The child's process failed; the message holds its traceback."""


class Stopped(Exception):
    """Raised in the child when it was asked to stop (or its parent is gone)."""


@dataclass(frozen=True)
class Child:
    """What the child's body gets."""

    handed: Handed  # the touchpoints handed over (`TypedTouchpoints.incoming`)
    feeding: EventType  # set while this process still feeds
    advance: Callable[[int], None]  # n more records done (raises `Stopped` when asked to stop)
    stopped: Callable[[], bool]


def run_beside(
    body: Callable[..., Answer],
    args: tuple[Any, ...],
    feed: Callable[[HandOff, Callable[[], None]], Fed],
    *,
    batch_size: int,
    name: str,
    label: str,
    on_child_progress: Callable[[int], None] | None = None,
) -> tuple[Fed, Answer]:
    """`body(child, *args)` in a child process (`name`) while `feed(hand_off, check)` runs here (`check()`
    reports the child's progress and raises its error if it failed meanwhile); returns what each
    returned. `label` names the child in errors: "the project step's" -> "the project step's process
    failed: ..."."""
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no lock or thread of this one
    feeding, stopping = context.Event(), context.Event()
    feeding.set()
    done: Synchronized[int] = context.Value("q", 0)
    outcome: multiprocessing.Queue[tuple[str, Any]] = context.Queue()
    handed = handoff_queue(context, batch_size)
    child = context.Process(
        target=_child_main,
        args=(body, args, feeding, stopping, done, outcome, handed),
        name=name,
        daemon=True,
    )
    child.start()
    reported = _Reported(done, on_child_progress, label)
    try:

        def check() -> None:
            reported.catch_up()
            if not child.is_alive():  # it cannot have finished while this side feeds: it failed
                _wait_for(child, outcome, reported)

        hand_off = HandOff(handed, receiving=lambda: child.is_alive() and not stopping.is_set())
        fed = feed(hand_off, check)
        hand_off.finish()  # queued behind the last batch: the child waits for every batch, not a guess
        feeding.clear()
        answer: Answer = _wait_for(child, outcome, reported)
    except BaseException:
        stopping.set()
        feeding.clear()
        child.join(_STOP_GRACE)
        if child.is_alive():
            child.terminate()
        raise
    return fed, answer


class _Reported:
    """The child's progress, as far as it has been reported here."""

    def __init__(self, done: Synchronized[int], report: Callable[[int], None] | None, label: str) -> None:
        self.done, self.report, self.seen, self.label = done, report, 0, label

    def catch_up(self) -> None:
        now = self.done.value
        if now > self.seen and self.report is not None:
            self.report(now - self.seen)
        self.seen = now


def _wait_for(
    child: multiprocessing.process.BaseProcess,
    outcome: multiprocessing.Queue[tuple[str, Any]],
    reported: _Reported,
) -> Any:
    while True:
        try:
            kind, value = outcome.get(timeout=_POLL)
        except queue.Empty:
            reported.catch_up()
            if not child.is_alive():
                raise ProjectStepFailed(
                    f"{reported.label} process ended without an answer (exit code {child.exitcode})"
                ) from None
            continue
        reported.catch_up()
        child.join()
        if kind == "ok":
            return value
        error, text = value if kind == "error" else (None, "it stopped before this process ended")
        failed = ProjectStepFailed(f"{reported.label} process failed:\n{text}")
        if error is not None:  # the child's own exception: explained as it would be in one process
            raise error from failed
        raise failed


def _child_main(
    body: Callable[..., Any],
    args: tuple[Any, ...],
    feeding: EventType,
    stopping: EventType,
    done: Synchronized[int],
    outcome: multiprocessing.Queue[tuple[str, Any]],
    handed: multiprocessing.Queue[Message],
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches both: the parent stops this one
    from .gc_pace import pace_garbage_collector
    from .log_privacy import mask_every_record

    mask_every_record()  # as `touchstream`'s entry point does: logs never print personal values
    pace_garbage_collector()
    parent = multiprocessing.parent_process()

    def stopped() -> bool:
        """Asked to stop, or the feeding process is gone without asking (killed)."""
        return stopping.is_set() or (parent is not None and not parent.is_alive())

    def advance(n: int) -> None:
        with done.get_lock():
            done.value += n
        if stopped():
            raise Stopped  # after the batch's commit: a rerun continues from it

    try:
        result = body(Child(Handed(handed, feeding, stopped), feeding, advance, stopped), *args)
        outcome.put(("ok", result))
    except Stopped:
        outcome.put(("stopped", None))
    except BaseException as exc:
        outcome.put(("error", (exc if picklable(exc) else None, traceback.format_exc())))
