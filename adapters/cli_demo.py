"""`touchstream demo`: the whole embedded path on a fresh machine, with nothing but Python."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console
from rich.table import Table

from touchstream.adapters import cli_generate
from touchstream.adapters.chdb_store import ChDBStore
from touchstream.adapters.event_log import AbstractEventLog, SQLiteEventLog
from touchstream.adapters.progress import progress_bar
from touchstream.events import parse_event
from touchstream.projections.touchpoints import TOUCHES_PER_CUSTOMER, TOUCHES_PER_DEPARTMENT
from touchstream.streams.embedded import prepare_read_store, run_until_caught_up

PUBLISH_BATCH = 5_000


def _lines(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        for line in handle:
            if line.strip():
                yield line.rstrip(b"\n")


def publish_file(path: Path, log: AbstractEventLog, total: int) -> int:
    """Validate each line and append it to the log keyed by its strongest identifier (per-person order)."""
    published = 0
    batch: list[tuple[bytes | None, bytes]] = []
    with progress_bar("publish", total) as advance:
        for raw in _lines(path):
            event = parse_event(raw)
            batch.append((event.identifiers.strongest().encode(), raw))
            if len(batch) >= PUBLISH_BATCH:
                published += len(log.append(batch))
                advance(len(batch))
                batch = []
        if batch:
            published += len(log.append(batch))
            advance(len(batch))
    return published


def _table(console: Console, title: str, columns: list[str], rows: list[tuple[object, ...]]) -> None:
    table = Table(title=title, title_justify="left")
    for name in columns:
        table.add_column(name)
    for row in rows:
        table.add_row(*(str(value) for value in row))
    console.print(table)


def run(*, customers: int, accounts: int, days: int, seed: int, workdir: Path | None) -> None:
    console = Console()
    workdir = workdir or Path(tempfile.mkdtemp(prefix="touchstream-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    console.print(f"[bold]Touchstream demo[/] (embedded: SQLite log + chDB) in {workdir}")
    events_path, truth_path = workdir / "events.jsonl", workdir / "truth.jsonl"
    summary = cli_generate.run(
        customers=customers, accounts=accounts, days=days, seed=seed, out=events_path, truth=truth_path
    )
    total = int(str(summary["events"]))
    with SQLiteEventLog(workdir / "log.sqlite", partitions=3) as log:
        publish_file(events_path, log, total)
        with ChDBStore(str(workdir / "chdb")) as store:
            prepare_read_store(store)
            with progress_bar("project", log.lag("touchstream-embedded")) as advance:
                stats = run_until_caught_up(log, store, progress=advance)
            stored = store.query("SELECT count() FROM touchpoints FINAL")[0][0]
            console.print(
                f"projected {stats.records} records: {stats.accepted} touchpoints, "
                f"{stats.dead_lettered} dead letters; {stored} rows queryable in chDB"
            )
            _table(
                console,
                "Touches by department",
                ["department", "touches", "customers"],
                store.query(TOUCHES_PER_DEPARTMENT),
            )
            _table(
                console,
                "Most-touched customers",
                ["customer", "touches", "departments", "last touch"],
                store.query(TOUCHES_PER_CUSTOMER, {"limit": 10}),
            )
    console.print(f"Data kept in {workdir} (events.jsonl, truth.jsonl, log.sqlite, chdb/).")
