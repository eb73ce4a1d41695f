"""Rebuilding every read model from the log, as an operator runs it: `touchstream rebuild`.

    python bench/rebuild.py --events 100000 [--seed 1]

The generator's events are imported and run once (`touchstream import`, `touchstream run`, untimed), so the
embedded data folder holds the resolved log and the read models. Then `touchstream rebuild` is timed in its
own process, as the CLI runs it: every model re-projected from offset 0 of `touchpoints.resolved` into
shadow tables, swapped in, and caught up once more. Figure: events/s of the rebuild. Ceiling, measured in
the same run on the same events: parse every event once and insert its fact row into chDB (the least any
rebuild must do; `e2e_embedded.ceiling`). Target (issue "Throughput"): >= 30,000 events/s; a figure under
it is printed with the gap.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

from _report import emit, figure
from e2e_embedded import CLI, arguments, ceiling, embedded_env, generate

TARGET = 30_000


def main() -> None:
    args = arguments(__doc__ or "")
    with tempfile.TemporaryDirectory(prefix="bench-rebuild-") as tmp:
        folder = Path(tmp)
        env = embedded_env(folder)
        events = generate(env, folder, args.events, args.seed)
        n = sum(1 for _ in events.open("rb"))
        for step in (["import", str(events)], ["run"]):
            subprocess.run([*CLI, *step], env=env, check=True, stdout=subprocess.DEVNULL)
        started = time.perf_counter()
        subprocess.run([*CLI, "rebuild"], env=env, check=True, stdout=subprocess.DEVNULL)
        rebuild_s = time.perf_counter() - started
        ceiling_s = ceiling(events, folder)
    rate, top = n / rebuild_s, n / ceiling_s
    print(f"{n:,} events in the resolved log")
    print(f"rebuild of every read model: {rate:,.0f} events/s ({rebuild_s:.1f} s)")
    print(f"ceiling (parse + chDB insert of the fact rows): {top:,.0f} events/s")
    gap = "reached" if rate >= TARGET else f"{TARGET / rate:.1f}x short"
    print(f"target {TARGET:,} events/s: {gap}")
    emit(
        "rebuild",
        [
            figure(
                "rebuild of every read model",
                rate,
                "events/s",
                top,
                "parse once + chDB insert of the fact rows",
            )
        ],
        events=n,
        target_events_per_s=TARGET,
    )


if __name__ == "__main__":
    main()
