"""How fast the projection batch step runs, beside two ceilings measured in the same run.

    python bench/project.py --events 50000 [--days 90] [--seed 1]

Figures: the bare fold (per contact, no rows), the whole batch step (fact rows, fold, 360/state rows), and
the whole step plus chDB inserts; ceilings: parsing alone (the events module's cost, paid before any
projection) and a bare chDB insert of the same fact rows. Nothing is asserted: the numbers are for reading.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import orjson
from _report import emit, figure

from touchstream.adapters.gc_pace import pace_garbage_collector
from touchstream.adapters.storage.chdb_store import ChDBStore
from touchstream.adapters.storage.migrate import migrate
from touchstream.adapters.synthetic.generator import GeneratorConfig, generate_with_truth
from touchstream.events import ResolvedTouchpoint, parse_event
from touchstream.projections.fold import fold
from touchstream.projections.state import ContactState
from touchstream.projections.touchpoints import TOUCHPOINT_COLUMNS, TOUCHPOINTS_TABLE
from touchstream.streams.project import project_batch, write_batch


def _rate(label: str, n: int, work: Callable[[], Any]) -> float:
    started = time.perf_counter()
    work()
    seconds = time.perf_counter() - started
    print(f"{label:<34} {n / seconds:>10,.0f} events/s  ({seconds:.2f} s)")
    return seconds


def main() -> None:
    pace_garbage_collector()  # as the worker and `touchstream run` pace their collector
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    config = GeneratorConfig.for_events(args.events, days=args.days, seed=args.seed)
    raw, truth = generate_with_truth(config)
    now = config.start + timedelta(days=config.days + 1)
    lines = [orjson.dumps(e) for e in raw]
    n = len(lines)
    print(f"{n} events, {len(truth.persons)} persons")
    events: list[Any] = []
    parse_s = _rate(
        "ceiling: parse_event alone", n, lambda: events.extend(parse_event(line, now=now) for line in lines)
    )
    items = [
        (ResolvedTouchpoint(e, *truth.events[str(e.event_id)]), 0, offset) for offset, e in enumerate(events)
    ]

    def bare_fold() -> None:
        states: dict[str, ContactState] = {}
        for resolved, _, offset in items:
            contact = str(resolved.contact_id)
            states[contact], _ = fold(states.get(contact), resolved, offset, with_profile=False)

    fold_s = _rate("fold only", n, bare_fold)
    batches: list[Any] = []

    def step() -> None:
        states: dict[str, ContactState] = {}
        for start in range(0, n, 5_000):
            batches.append(project_batch(items[start : start + 5_000], states))

    step_s = _rate("batch step (rows + fold)", n, step)
    with tempfile.TemporaryDirectory() as folder, ChDBStore(folder + "/chdb") as store:
        migrate(store)
        rows = [row for batch in batches for row in batch.touchpoints]
        insert_s = _rate(
            "ceiling: bare chDB insert of facts",
            n,
            lambda: store.insert_rows(TOUCHPOINTS_TABLE, TOUCHPOINT_COLUMNS, rows),
        )
        store.execute(f"TRUNCATE TABLE {TOUCHPOINTS_TABLE}")
        write_s = _rate(
            "batch writes to chDB (all tables)", n, lambda: [write_batch(store, b) for b in batches]
        )
    parse = "parse_event alone"
    emit(
        "project",
        [
            figure("fold only", n / fold_s, "events/s", n / parse_s, parse),
            figure("batch step (rows + fold)", n / step_s, "events/s", n / parse_s, parse),
            figure(
                "batch writes to chDB (all tables)", n / write_s, "events/s", n / insert_s, "bare chDB insert"
            ),
        ],
        events=n,
    )


if __name__ == "__main__":
    main()
