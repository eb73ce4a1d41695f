"""The embedded default end to end, as a user runs it: `touchstream import` then `touchstream run`.

    python bench/e2e_embedded.py --events 100000 [--seed 1]

Figures: import (validate + append to the embedded raw log), run (validate, resolve identity with the
SQLite master record, project into chDB), and the whole, in events/s. Ceiling, measured in the same run on
the same events: parse every event once and insert its fact row into chDB — the least any embedded
pipeline must do. Targets (issue "Throughput"): >= 10,000 events/s end to end, stretch 25,000; a figure
under its target is printed with the gap. Each step runs in its own process, as the CLI does; `run`
resolves in one process and projects in a second one beside it (adapters/parallel_run.py: a backlog of
5,000 records or more), so it uses both cores, while the ceiling is measured in one.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _report import emit, figure

TARGET, STRETCH = 10_000, 25_000
CLI = [sys.executable, "-m", "touchstream.adapters.cli.main"]


def _timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def ceiling(path: Path, folder: Path) -> float:
    """Seconds to parse every event once and insert its fact row into chDB (no identity, no fold)."""
    from datetime import UTC, datetime

    from touchstream.adapters.storage.chdb_store import ChDBStore
    from touchstream.adapters.storage.migrate import migrate
    from touchstream.events import ResolvedTouchpoint, parse_event
    from touchstream.projections.touchpoints import TOUCHPOINT_COLUMNS, TOUCHPOINTS_TABLE, touchpoint_row

    lines = path.read_bytes().splitlines()
    now = datetime.now(UTC)
    with ChDBStore(str(folder / "chdb-ceiling")) as store:
        migrate(store)
        started = time.perf_counter()
        rows = []
        for offset, line in enumerate(lines):
            event = parse_event(line, now=now)
            rows.append(touchpoint_row(ResolvedTouchpoint(event, None, None, 0, offset), 0, offset))
        store.insert_rows(TOUCHPOINTS_TABLE, TOUCHPOINT_COLUMNS, rows)
        return time.perf_counter() - started


def generate(env: dict[str, str], folder: Path, events: int, seed: int) -> Path:
    """`touchstream generate` of about `events` events (the default story: ~60 a customer) into `folder`."""
    path = folder / "events.jsonl"
    customers = max(50, events // 60)
    command = [*CLI, "generate", "--customers", str(customers), "--accounts", str(max(5, customers // 10))]
    command += ["--seed", str(seed), "-o", str(path), "--truth", str(folder / "truth.jsonl")]
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    return path


def arguments(doc: str) -> argparse.Namespace:
    """--events and --seed, with `doc` as the help."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args()


def embedded_env(folder: Path) -> dict[str, str]:
    """This process's environment for the CLI, with the embedded default's data folder in `folder`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOUCHSTREAM_")}
    return env | {"TOUCHSTREAM_DATA_DIR": str(folder / "data")}


def main() -> None:
    args = arguments(__doc__ or "")
    with tempfile.TemporaryDirectory(prefix="bench-e2e-embedded-") as tmp:
        folder = Path(tmp)
        env = embedded_env(folder)
        events = generate(env, folder, args.events, args.seed)
        n = sum(1 for _ in events.open("rb"))
        size = events.stat().st_size
        import_s = _timed([*CLI, "import", str(events)], env)
        run_s = _timed([*CLI, "run"], env)
        ceiling_s = ceiling(events, folder)
    whole = n / (import_s + run_s)
    top = n / ceiling_s
    print(f"{n:,} events ({size / n:.0f} bytes each)")
    print(f"import: {n / import_s:,.0f} events/s ({import_s:.1f} s)")
    print(f"run: {n / run_s:,.0f} events/s ({run_s:.1f} s)")
    print(f"end to end: {whole:,.0f} events/s")
    print(f"ceiling (parse + chDB insert of the fact rows): {top:,.0f} events/s")
    gap = "reached" if whole >= TARGET else f"{TARGET / whole:.1f}x short"
    print(f"target {TARGET:,} events/s (stretch {STRETCH:,}): {gap}")
    ceiling_name = "parse once + chDB insert of the fact rows"
    emit(
        "e2e_embedded",
        [
            figure("import + run, end to end", whole, "events/s", top, ceiling_name),
            figure("run (resolve + project)", n / run_s, "events/s", top, ceiling_name),
            figure("import", n / import_s, "events/s", top, ceiling_name),
        ],
        events=n,
        bytes_per_event=round(size / n),
        target_events_per_s=TARGET,
        stretch_events_per_s=STRETCH,
    )


if __name__ == "__main__":
    main()
