"""`touchstream run` on two cores: the resolve step in this process, the project step in a child process
that follows it (streams/embedded.py, `project_until_caught_up(more=...)`).

Both steps are the embedded pipeline's own, over the same logs, positions and stores; only when each runs
changes. The one-process run resolves the whole backlog and then projects it; here the child projects
each resolved batch while the next is resolved. Its answers are the one-process run's
(tests/unit/test_parallel_run.py compares every read model):

- the child reads the resolved log in its append order, as the one-process run does, only sooner; the
  touchpoints themselves it takes as this process resolved them, handed over through a queue
  (adapters/touchpoint_handoff.py), and reads from the log only those resolved before a restart;
- erasures wait until the resolve step has finished, as they do in the one-process run, where they
  happen in the project step, after every record was resolved; the child's position does not pass the
  first erasure request until they are carried out;
- chDB is opened by the child only (one process per chDB data folder);
- the child relays the master record's events to `masterdata.events` (each time it has caught up, and
  after the resolve step's end), which takes the relay off the critical path; the merges among them are
  projected at the end, as in the one-process run.

A failure of either side stops the other: the child's error is raised here with its traceback; an error
or Ctrl-C here asks the child to stop after its current batch, without the erasures it was holding back
(the rerun resolves the rest first, then erases), and a child whose parent was killed stops the same way
by itself. Positions are committed per batch as always, so a rerun continues from where each step stopped.
"""

from __future__ import annotations

import multiprocessing
import queue
import signal
import traceback
from collections.abc import Callable
from multiprocessing.sharedctypes import Synchronized
from typing import TYPE_CHECKING, Any

from .bootstrap import Runtime
from .config import Settings
from .pickling import picklable
from .touchpoint_handoff import Handed, HandOff, handoff_queue

if TYPE_CHECKING:
    from multiprocessing.synchronize import Event as EventType

    from ..streams.embedded import PipelineStats, RunStats
    from .touchpoint_handoff import Message

_POLL = 0.2  # seconds between looks at the child while waiting for it
_STOP_GRACE = 60.0  # seconds a stopped child gets to finish its batch before it is terminated


class ProjectStepFailed(RuntimeError):
    """The project step's process failed; the message holds its traceback."""


class _Stopped(Exception):
    pass


def run_in_two_processes(
    settings: Settings,
    batch_size: int,
    on_resolved: Callable[[int], None] | None = None,
    on_projected: Callable[[int], None] | None = None,
) -> PipelineStats:
    """Resolve here while a child process projects; returns both steps' figures once both finished.
    `on_resolved(n)` / `on_projected(n)` report progress (the child's is reported from this process)."""
    from ..streams.embedded import PipelineStats

    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no lock or thread of this one
    resolving, stopping = context.Event(), context.Event()
    resolving.set()
    projected: Synchronized[int] = context.Value("q", 0)
    outcome: multiprocessing.Queue[tuple[str, Any]] = context.Queue()
    handed = handoff_queue(context, batch_size)
    child = context.Process(
        target=_project_step,
        args=(settings, batch_size, resolving, stopping, projected, outcome, handed),
        name="touchstream-project",
        daemon=True,
    )
    child.start()
    reported = _Reported(projected, on_projected)
    try:

        def advance(n: int) -> None:
            if on_resolved is not None:
                on_resolved(n)
            reported.catch_up()
            if not child.is_alive():  # it cannot have finished while this step runs: it failed
                _wait_for(child, outcome, reported)

        hand_off = HandOff(handed, receiving=lambda: child.is_alive() and not stopping.is_set())
        with Runtime(settings).embedded_pipeline(None, batch_size=batch_size) as pipeline:
            hand_off.start({p: pipeline.resolved.end_offset(p) for p in range(pipeline.resolved.partitions)})
            resolve_stats = pipeline.resolve_until_caught_up(
                progress=advance, relaying=False, hand_to=hand_off
            )
        hand_off.finish()  # queued behind the last batch: the child waits for every batch, not a guess
        resolving.clear()
        project_stats = _wait_for(child, outcome, reported)
    except BaseException:
        stopping.set()
        resolving.clear()
        child.join(_STOP_GRACE)
        if child.is_alive():
            child.terminate()
        raise
    return PipelineStats(resolve_stats, project_stats)


class _Reported:
    """The child's progress, as far as it has been reported here."""

    def __init__(self, projected: Synchronized[int], report: Callable[[int], None] | None) -> None:
        self.projected, self.report, self.seen = projected, report, 0

    def catch_up(self) -> None:
        now = self.projected.value
        if now > self.seen and self.report is not None:
            self.report(now - self.seen)
        self.seen = now


def _wait_for(
    child: multiprocessing.process.BaseProcess,
    outcome: multiprocessing.Queue[tuple[str, Any]],
    reported: _Reported,
) -> RunStats:
    while True:
        try:
            kind, value = outcome.get(timeout=_POLL)
        except queue.Empty:
            reported.catch_up()
            if not child.is_alive():
                raise ProjectStepFailed(
                    f"the project step's process ended without an answer (exit code {child.exitcode})"
                ) from None
            continue
        reported.catch_up()
        child.join()
        if kind == "ok":
            return value  # type: ignore[no-any-return]
        error, text = value if kind == "error" else (None, "it stopped before the resolve step ended")
        failed = ProjectStepFailed(f"the project step's process failed:\n{text}")
        if error is not None:  # the child's own exception: explained as it would be in one process
            raise error from failed
        raise failed


def _project_step(
    settings: Settings,
    batch_size: int,
    resolving: EventType,
    stopping: EventType,
    projected: Synchronized[int],
    outcome: multiprocessing.Queue[tuple[str, Any]],
    handed: multiprocessing.Queue[Message],
) -> None:
    """The child: the project step, following the resolve step until it has finished."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches both: the parent stops this one
    from .gc_pace import pace_garbage_collector
    from .log_privacy import mask_every_record
    from .storage.migrate import prepare_read_store

    mask_every_record()  # as `touchstream`'s entry point does: logs never print personal values
    pace_garbage_collector()

    parent = multiprocessing.parent_process()

    def stopped() -> bool:
        """Asked to stop, or the resolving process is gone without asking (killed): either way, no
        erasure before a rerun has resolved everything, and no waiting for a step that will not end."""
        return stopping.is_set() or (parent is not None and not parent.is_alive())

    def advance(n: int) -> None:
        with projected.get_lock():
            projected.value += n
        if stopped():
            raise _Stopped  # after the batch's commit: a rerun continues from it

    try:
        runtime = Runtime(settings)
        with (
            runtime.read_store() as store,
            runtime.embedded_pipeline(store, batch_size=batch_size, linking=False) as pipeline,
        ):
            prepare_read_store(store)
            pipeline.typed.incoming = Handed(handed, resolving, stopped)

            def more() -> bool:
                if stopped():  # the resolve step failed: no erasure before a rerun resolves all
                    raise _Stopped
                # Asked before relaying: once the resolve step has finished, this relay sees all it wrote.
                coming = resolving.is_set()
                pipeline.relay_all()
                return coming

            stats = pipeline.project_until_caught_up(progress=advance, more=more)
        outcome.put(("ok", stats))
    except _Stopped:
        outcome.put(("stopped", None))
    except BaseException as exc:
        outcome.put(("error", (exc if picklable(exc) else None, traceback.format_exc())))
