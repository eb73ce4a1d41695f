"""The embedded runner: drives the projections in-process from the embedded log into chDB.

Faust has no in-memory transport, so this is ours (as eventsourcing's SingleThreadedRunner is theirs).
Positions are committed only after the read store took the rows: a crash replays, never skips, and the
idempotent tables absorb the replay.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from touchstream.adapters.event_log import AbstractEventLog, LogRecord
from touchstream.adapters.read_store import AbstractReadStore
from touchstream.events import EventParseError, parse_event
from touchstream.projections.dead_letters import (
    DEAD_LETTER_COLUMNS,
    DEAD_LETTERS_DDL,
    DEAD_LETTERS_TABLE,
    dead_letter_row,
)
from touchstream.projections.touchpoints import (
    TOUCHPOINT_COLUMNS,
    TOUCHPOINTS_DDL,
    TOUCHPOINTS_TABLE,
    touchpoint_row,
)

DEFAULT_GROUP = "touchstream-embedded"


@dataclass
class RunStats:
    records: int = 0
    accepted: int = 0
    dead_lettered: int = 0


def prepare_read_store(store: AbstractReadStore) -> None:
    for ddl in (TOUCHPOINTS_DDL, DEAD_LETTERS_DDL):
        store.execute(ddl)


def _project_batch(
    records: list[LogRecord], stats: RunStats
) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    now = datetime.now(UTC)
    touchpoints, dead = [], []
    for record in records:
        try:
            event = parse_event(record.value, now=now)
        except EventParseError as err:
            dead.append(dead_letter_row(record.partition, record.offset, now, err.to_dict(), record.value))
            continue
        touchpoints.append(touchpoint_row(event, record.partition, record.offset))
    stats.records += len(records)
    stats.accepted += len(touchpoints)
    stats.dead_lettered += len(dead)
    return touchpoints, dead


def run_until_caught_up(
    log: AbstractEventLog,
    store: AbstractReadStore,
    *,
    group: str = DEFAULT_GROUP,
    batch_size: int = 5_000,
    progress: Callable[[int], None] | None = None,
) -> RunStats:
    """Consume every partition from the group's committed position to the end of the log."""
    stats = RunStats()
    for partition in range(log.partitions):
        position = log.committed(group, partition)
        while batch := log.read(partition, position, batch_size):
            touchpoints, dead = _project_batch(batch, stats)
            if touchpoints:
                store.insert_rows(TOUCHPOINTS_TABLE, TOUCHPOINT_COLUMNS, touchpoints)
            if dead:
                store.insert_rows(DEAD_LETTERS_TABLE, DEAD_LETTER_COLUMNS, dead)
            position = batch[-1].offset + 1
            log.commit(group, [(partition, position)])
            if progress is not None:
                progress(len(batch))
    return stats
