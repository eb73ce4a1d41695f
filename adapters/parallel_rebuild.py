"""`touchstream rebuild` on two cores: this process reads `touchpoints.resolved` from its start, opens and
parses each record, and hands the typed touchpoints to a child process running the rebuild itself
(streams/rebuild.py), which folds and writes them instead of opening and parsing them again.

Opening (AES-GCM) and parsing (validation) were ~40 % of a one-process rebuild, folding and writing the
rest; a pickled touchpoint loads in about a third of that. The child's rebuild is the one-process one,
over the same logs and store: the hand-over (adapters/touchpoint_handoff.py) only saves work, so a record
not handed over (appended after this process read to the end, or after a failure here) is read from the
log by the child, and the answers are the same (tests/unit/test_parallel_rebuild.py compares every read
model). chDB is opened by the child only (one process per chDB data folder). A failure of either side
stops the other (adapters/child_step.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from .bootstrap import Runtime
from .child_step import Child, run_beside
from .config import Settings
from .touchpoint_handoff import HandOff

if TYPE_CHECKING:
    from ..streams.rebuild import RebuildResult


def rebuild_in_two_processes(
    settings: Settings,
    models: Sequence[str] | None,
    batch_size: int = 5_000,
    progress: Callable[[int], None] | None = None,
) -> RebuildResult:
    """`streams.rebuild.rebuild` of `models` in a child process, fed typed touchpoints from here; its result
    once it finished. `progress(n)` reports the child's records."""

    def read(hand_off: HandOff, check: Callable[[], None]) -> None:
        _read_and_hand_over(Runtime(settings), hand_off, batch_size, check)

    _, result = run_beside(
        _rebuild_step,
        (settings, models, batch_size),
        read,
        batch_size=batch_size,
        name="touchstream-rebuild",
        label="the rebuild's",
        on_child_progress=progress,
    )
    return result


def _read_and_hand_over(
    runtime: Runtime, hand_off: HandOff, batch_size: int, check: Callable[[], None]
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
            check()
            if not hand_off.receiving():
                return  # the child stopped: it fails or finishes on its own, `run_beside` says which


def _rebuild_step(
    child: Child, settings: Settings, models: Sequence[str] | None, batch_size: int
) -> RebuildResult:
    """The child: the rebuild, taking each touchpoint as handed over when it was. Stopped early, it leaves
    its shadow tables: a rerun drops them and starts again."""
    from ..streams.embedded import TypedTouchpoints
    from ..streams.rebuild import rebuild
    from ..streams.topology import DLQ, RESOLVED
    from .storage.migrate import migrate

    runtime = Runtime(settings)
    with (
        runtime.log(RESOLVED) as resolved,
        runtime.stored_log(DLQ) as dlq,
        runtime.read_store() as store,
    ):
        migrate(store)
        typed = TypedTouchpoints(incoming=child.handed)
        return rebuild(
            resolved,
            store,
            models=models,
            dlq=dlq,
            progress=child.advance,
            batch_size=batch_size,
            typed=typed,
        )
