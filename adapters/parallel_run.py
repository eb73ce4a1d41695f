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

A failure of either side stops the other (adapters/child_step.py): the child's error is raised here with
its traceback; an error or Ctrl-C here asks the child to stop after its current batch, without the
erasures it was holding back (the rerun resolves the rest first, then erases), and a child whose parent
was killed stops the same way by itself. Positions are committed per batch as always, so a rerun
continues from where each step stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .bootstrap import Runtime
from .child_step import Child, ProjectStepFailed, Stopped, run_beside
from .config import Settings
from .touchpoint_handoff import HandOff

if TYPE_CHECKING:
    from ..streams.embedded import PipelineStats, ResolveStats, RunStats

__all__ = ["ProjectStepFailed", "run_in_two_processes"]


def run_in_two_processes(
    settings: Settings,
    batch_size: int,
    on_resolved: Callable[[int], None] | None = None,
    on_projected: Callable[[int], None] | None = None,
) -> PipelineStats:
    """Resolve here while a child process projects; returns both steps' figures once both finished.
    `on_resolved(n)` / `on_projected(n)` report progress (the child's is reported from this process)."""
    from ..streams.embedded import PipelineStats

    def resolve(hand_off: HandOff, check: Callable[[], None]) -> ResolveStats:
        def advance(n: int) -> None:
            if on_resolved is not None:
                on_resolved(n)
            check()

        with Runtime(settings).embedded_pipeline(None, batch_size=batch_size) as pipeline:
            hand_off.start({p: pipeline.resolved.end_offset(p) for p in range(pipeline.resolved.partitions)})
            return pipeline.resolve_until_caught_up(progress=advance, relaying=False, hand_to=hand_off)

    resolve_stats, project_stats = run_beside(
        _project_step,
        (settings, batch_size),
        resolve,
        batch_size=batch_size,
        name="touchstream-project",
        label="the project step's",
        on_child_progress=on_projected,
    )
    return PipelineStats(resolve_stats, project_stats)


def _project_step(child: Child, settings: Settings, batch_size: int) -> RunStats:
    """The child: the project step, following the resolve step until it has finished. Stopped early (the
    resolve step failed), it carries out no erasure: a rerun resolves everything first, then erases."""
    from .storage.migrate import prepare_read_store

    runtime = Runtime(settings)
    with (
        runtime.read_store() as store,
        runtime.embedded_pipeline(store, batch_size=batch_size, linking=False) as pipeline,
    ):
        prepare_read_store(store)
        pipeline.typed.incoming = child.handed

        def more() -> bool:
            if child.stopped():  # the resolve step failed: no erasure before a rerun resolves all
                raise Stopped
            # Asked before relaying: once the resolve step has finished, this relay sees all it wrote.
            coming = child.feeding.is_set()
            pipeline.relay_all()
            return coming

        return pipeline.project_until_caught_up(progress=child.advance, more=more)
