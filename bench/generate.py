"""How fast the dataset generator writes, against a ceiling measured in the same run.

    python bench/generate.py --events 1000000 [--days 90] [--seed 1]

The ceiling is plain `orjson.dumps` + write of as many pre-built, constant event dicts: what serializing
and writing alone cost on this machine, with no simulation. The ratio says how much of the generator's
time goes to the simulation itself. Nothing is asserted: the numbers are for reading.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from _report import emit, figure

from touchstream.adapters.synthetic.generator import (
    GeneratorConfig,
    estimated_events,
    generate,
    write_dataset,
)


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000, help="about how many events to generate")
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args()


def _timed(work: Callable[[], int]) -> tuple[int, float]:
    started = time.perf_counter()
    count = work()
    return count, time.perf_counter() - started


def _ceiling(template: list[dict[str, Any]], count: int, path: Path) -> int:
    """orjson.dumps + write of `count` ready-made event dicts (cycling through a few real ones)."""
    dumps, newline = orjson.dumps, orjson.OPT_APPEND_NEWLINE
    size = len(template)
    with open(path, "wb", buffering=1 << 20) as out:
        write = out.write
        for i in range(count):
            write(dumps(template[i % size], option=newline))
    return count


def main() -> None:
    args = _args()
    config = GeneratorConfig.for_events(args.events, days=args.days, seed=args.seed)
    print(
        f"config: {config.customers} customers, {config.accounts} accounts, {config.days} days, "
        f"seed {config.seed}; estimated {estimated_events(config):,} events"
    )
    with tempfile.TemporaryDirectory(prefix="touchstream-bench-") as tmp:
        folder = Path(tmp)
        summary: dict[str, Any] = {}

        def run() -> int:
            summary.update(write_dataset(config, folder / "events.jsonl", folder / "truth.jsonl"))
            return int(summary["events"])

        events, seconds = _timed(run)
        size = (folder / "events.jsonl").stat().st_size
        template = [event for _, event in zip(range(64), generate(config), strict=False)]
        _, ceiling_seconds = _timed(lambda: _ceiling(template, events, folder / "ceiling.jsonl"))
    rate, ceiling_rate = events / seconds, events / ceiling_seconds
    print(f"write_dataset: {events:,} events ({size / 1e6:,.0f} MB) and the truth in {seconds:.2f} s")
    print(f"  = {rate:,.0f} events/s; persons {summary['persons']:,}, accounts {summary['accounts']:,}")
    print(f"ceiling (orjson.dumps + write of constant dicts): {ceiling_seconds:.2f} s")
    print(f"  = {ceiling_rate:,.0f} events/s")
    print(
        f"generator / ceiling: {rate / ceiling_rate:.2f} ({ceiling_rate / rate:.1f}x slower than the ceiling)"
    )
    ceiling_name = "orjson.dumps + write of constant dicts"
    emit(
        "generate",
        [figure("write_dataset", rate, "events/s", ceiling_rate, ceiling_name)],
        events=events,
        megabytes=round(size / 1e6, 1),
    )


if __name__ == "__main__":
    main()
