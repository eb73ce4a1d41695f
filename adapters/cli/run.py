"""`touchstream run`: the embedded pipeline on the data folder.

`run` processes whatever is in the embedded `touchpoints.raw` log (written by `touchstream import`, the
gateway or the Publisher on the embedded log): validate and resolve against the master record into
`touchpoints.resolved`, then project into chDB — production's two steps, in-process
(`streams/embedded.py`). Everything lives under `TOUCHSTREAM_DATA_DIR` (`log/`, `chdb/`,
`master-record.sqlite`), as `adapters/bootstrap.py` lays it out. Production runs Faust workers instead.
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Annotated

import typer

from ..bootstrap import Runtime, bootstrap

if TYPE_CHECKING:
    from ...streams.embedded import ResolveStats, RunStats

app = typer.Typer(help="The embedded pipeline (SQLite logs + chDB, no servers).", no_args_is_help=True)
#: A backlog from which `run` projects in a second process by default: below it the second interpreter's
#: start (~2-3 s on this project's 2-core box) costs more than the overlap saves.
PARALLEL_FROM = 5_000


def _embedded_runtime() -> Runtime:
    runtime = bootstrap()
    if not runtime.settings.embedded:
        raise typer.BadParameter(
            "TOUCHSTREAM_MODE=production: the Faust workers process Kafka; this command is embedded only"
        )
    return runtime


@app.command("run")
def run(
    follow: Annotated[
        bool,
        typer.Option("--follow", help="keep running and pick up new records as they arrive (Ctrl-C stops)"),
    ] = False,
    interval: Annotated[float, typer.Option(min=0.1, help="seconds between polls with --follow")] = 1.0,
    batch_size: Annotated[
        int,
        typer.Option(
            min=1,
            help="records per batch at most: larger batches read each contact's master record and fold "
            "state fewer times (29.5k events, two processes on 2 cores: 16-18 s at 1,000, 11.6-12.1 s "
            "at 5,000, 11.8-12.3 s at 20,000) and hold more in memory (peak 610, 650, 790 MB); "
            "the records are resolved in the order they were appended to the log whatever the size",
        ),
    ] = 20_000,
    cache_mb: Annotated[
        float | None,
        typer.Option(
            min=0.01,
            help="memory for the per-contact fold states kept between batches, in MiB (default "
            "TOUCHSTREAM_STATE_CACHE_MB or 256; ~1 KiB a contact); fewer means more reads of chDB, "
            "never other answers",
        ),
    ] = None,
    processes: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=2,
            help="2: project in a second process while this one resolves (both cores; the same "
            "answers, erasures still after every record is resolved); 1: one step after the other. "
            f"Default: 2 for a backlog of {PARALLEL_FROM:,} records or more, else 1. --follow uses 1",
        ),
    ] = None,
) -> None:
    """Process everything in the embedded raw log: validate (bad records to the DLQ), resolve identity
    with the master record, project into chDB. Positions are committed, so a rerun continues where the
    last one stopped.

    Example: `touchstream import events.jsonl && touchstream run`.
    """
    from ...streams.embedded import PROJECT_GROUP, RESOLVE_GROUP
    from ...streams.topology import RAW
    from ..storage.migrate import prepare_read_store
    from .progress import progress_bar

    runtime = _embedded_runtime()
    if cache_mb is not None:
        runtime = Runtime(dataclasses.replace(runtime.settings, state_cache_mb=cache_mb))
    if not follow:
        with runtime.log(RAW) as raw:
            pending = raw.lag(RESOLVE_GROUP)
        if (processes or (2 if pending >= PARALLEL_FROM else 1)) == 2:
            _run_in_two_processes(runtime, batch_size, pending)
            return
    with (
        runtime.read_store() as store,
        runtime.embedded_pipeline(store, batch_size=batch_size) as pipeline,
    ):
        prepare_read_store(store)
        try:
            while True:
                pending = pipeline.raw.lag(RESOLVE_GROUP)
                if pending or not follow:
                    with progress_bar("resolve", pending) as advance:
                        resolved = pipeline.resolve_until_caught_up(progress=advance)
                    with progress_bar("project", pipeline.resolved.lag(PROJECT_GROUP)) as advance:
                        projected = pipeline.project_until_caught_up(progress=advance)
                    typer.echo(_summary(resolved, projected))
                if not follow:
                    break
                time.sleep(interval)
        except KeyboardInterrupt:
            typer.echo("stopped; positions are committed, `touchstream run` continues from here")


def _run_in_two_processes(runtime: Runtime, batch_size: int, pending: int) -> None:
    from ..parallel_run import run_in_two_processes
    from .progress import progress_bars

    try:
        with progress_bars(("resolve", pending), ("project", pending)) as (resolving, projecting):
            stats = run_in_two_processes(runtime.settings, batch_size, resolving, projecting)
    except KeyboardInterrupt:
        typer.echo("stopped; positions are committed, `touchstream run` continues from here")
        return
    typer.echo(_summary(stats.resolve, stats.project))


def _summary(resolved: ResolveStats, projected: RunStats) -> str:
    from ...streams.topology import RESOLVED

    return (
        f"{resolved.records} raw records: {resolved.resolved} resolved to "
        f"{RESOLVED}, {resolved.dead_lettered} dead letters, {resolved.merges} merges "
        f"({resolved.reattributed} anonymous callers' calls handed to their person); "
        f"linking {resolved.linked_suspects} probable-match suspects, "
        f"{resolved.linked_merges} merges ({resolved.link_seconds:.1f} s); "
        f"{projected.records} projected ({projected.duplicates} duplicates skipped), "
        f"{projected.contacts_updated} contact profile updates, {projected.signals_raised} "
        "signals raised"
    )
