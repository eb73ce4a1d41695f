"""Rebuild read models from offset 0 of the log into shadow tables, then swap them in.

Live processing continues meanwhile: the rebuild reads with its own consumer group, writes `<table>__rebuild`
(created `AS <table>`: same columns, and the engine clause the migrations give the table today, so a rebuilt
table also takes a storage setting added since it was created), catches up until it has read everything, swaps
with one `RENAME TABLE a TO a__old, a__rebuild TO a, ...` (atomic enough on 18.16, and chDB), drops the old
tables, and finally reads once more into the live tables: anything the live runner wrote to an old table
between the rebuild's last read and the swap is written again (every table is idempotent, and the fold is
deterministic, so the live runner's rows and the rebuild's are the same rows). Views read tables by name, so
they see the new tables at once.

The embedded default rebuilds from `touchpoints.resolved` (and `touchpoints.dlq` for `dead_letters`): pass
that log and no `resolve`. With `resolve` (identity known up front), `log` is a raw log read by the
single-step shortcut (`streams/embedded.py`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..projections.config import DEFAULT_CONFIG, ProjectionConfig
from ..projections.migrations import MODELS, engine_of
from ..projections.state import ContactState
from .embedded import Resolver, RunStats, TypedTouchpoints, project_until_caught_up, run_until_caught_up
from .ports import AbstractEventLog, AbstractReadStore, check_identifier
from .project import AppliedEvents

SHADOW = "__rebuild"
OLD = "__old"


@dataclass
class RebuildResult:
    tables: tuple[str, ...]
    stats: RunStats
    passes: int


def tables_of(models: Sequence[str] | None) -> tuple[str, ...]:
    names = list(MODELS) if not models else list(models)
    unknown = [m for m in names if m not in MODELS]
    if unknown:
        raise ValueError(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(MODELS)}")
    return tuple(table for model in names for table in MODELS[model])


def rebuild(
    log: AbstractEventLog,
    store: AbstractReadStore,
    *,
    models: Sequence[str] | None = None,
    resolve: Resolver | None = None,
    dlq: AbstractEventLog | None = None,
    config: ProjectionConfig = DEFAULT_CONFIG,
    batch_size: int = 5_000,
    progress: Callable[[int], None] | None = None,
    max_passes: int = 10,
    typed: TypedTouchpoints | None = None,
) -> RebuildResult:
    """Every table of `models` rebuilt and swapped in (see the module's docstring). `typed` holds (or is
    handed, adapters/parallel_rebuild.py) touchpoints of the log already parsed, taken instead of
    opening and parsing those records again."""
    tables = tables_of(models)
    for table in tables:
        check_identifier(table)
        store.execute(f"DROP TABLE IF EXISTS {table}{SHADOW}")
        engine = engine_of(table)
        store.execute(f"CREATE TABLE {table}{SHADOW} AS {table}" + (f" {engine}" if engine else ""))
    group = f"touchstream-rebuild-{uuid.uuid4().hex[:12]}"
    states: dict[str, ContactState] = {}
    applied: dict[str, AppliedEvents] = {}

    def catch_up(suffix: str) -> RunStats:
        if resolve is not None:
            return run_until_caught_up(
                log,
                store,
                resolve=resolve,
                group=group,
                batch_size=batch_size,
                progress=progress,
                config=config,
                states=states,
                suffix=suffix,
                tables=tables,
            )
        # One guard per set of tables written: the shadow touchpoints, then the live ones after the swap.
        guard = applied.setdefault(
            suffix, AppliedEvents(store, suffix, tables, fresh_tables=suffix == SHADOW)
        )
        if suffix == "" and not guard.in_store:
            guard.seen = applied[SHADOW].seen
        return project_until_caught_up(
            log,
            store,
            dlq=dlq,
            group=group,
            batch_size=batch_size,
            progress=progress,
            config=config,
            states=states,
            applied=guard,
            suffix=suffix,
            tables=tables,
            typed=typed,
        )

    total = RunStats()
    passes = 0
    # Catch up until a pass finds nothing new (or the log outruns us max_passes times: swap anyway, the
    # final pass below covers the rest).
    while passes < max_passes:
        passes += 1
        stats = catch_up(SHADOW)
        _add(total, stats)
        if stats.records == 0:
            break
    pairs = ", ".join(f"{t} TO {t}{OLD}, {t}{SHADOW} TO {t}" for t in tables)
    store.execute(f"RENAME TABLE {pairs}")
    for table in tables:
        store.execute(f"DROP TABLE IF EXISTS {table}{OLD}")
    _add(total, catch_up(""))
    return RebuildResult(tables, total, passes)


def _add(total: RunStats, more: RunStats) -> None:
    for name in vars(total):
        setattr(total, name, getattr(total, name) + getattr(more, name))
