"""Peak RSS of a process holding N contacts of projection state in the runners' state cache.

    python bench/memory.py [--contacts 1000000] [--sample-events 20000]

The states are real: the generator's events for a few thousand people are folded (projections/fold.py)
into ContactState objects, and the cache (`streams/state_cache.py`, compressed JSON per contact, as the
embedded runner and the Faust worker keep it) is filled with N states decoded from those states' JSON (the
way a worker reads them back from `projection_state`), each under its own contact id. Figures: the
process's peak RSS (resource.getrusage) against the machine's RAM, and the bytes per contact (RSS growth /
N) against the JSON bytes of the same state (what `projection_state` holds); target <= 2,048 bytes.
tracemalloc is not used for the 1M run (it doubles the memory and the time); `--trace` turns it on for a
cross-check on small runs.
"""

from __future__ import annotations

import argparse
import gc
import resource
import time
import tracemalloc
import uuid
from datetime import timedelta

import orjson
from _report import emit, figure

from touchstream.adapters.synthetic.generator import GeneratorConfig, generate_with_truth
from touchstream.events import ResolvedTouchpoint, parse_event
from touchstream.projections.fold import fold
from touchstream.projections.state import ContactState
from touchstream.streams.state_cache import StateCache

TARGET_BYTES = 2048  # issue "Throughput": cached state per contact


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--sample-events", type=int, default=20_000, help="events folded for real states")
    parser.add_argument("--trace", action="store_true", help="also measure with tracemalloc (slow)")
    return parser.parse_args()


def _rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def _current_rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def _machine_ram() -> int:
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def _sample_states(events: int) -> list[bytes]:
    """Realistic states: the generator's events folded per person, as JSON documents."""
    config = GeneratorConfig.for_events(events)
    raw, truth = generate_with_truth(config)
    now = config.start + timedelta(days=config.days + 1)
    states: dict[str, ContactState] = {}
    for offset, wire in enumerate(raw):
        event = parse_event(orjson.dumps(wire), now=now)
        contact, account = truth.events[str(event.event_id)]
        if contact is None:
            continue
        resolved = ResolvedTouchpoint(event, contact, account, 0, offset)
        states[contact], _ = fold(states.get(contact), resolved, offset, with_profile=False)
    return [orjson.dumps(s.to_json()) for s in states.values()]


def main() -> None:
    args = _args()
    samples = _sample_states(args.sample_events)
    json_bytes = sum(len(s) for s in samples) / len(samples)
    print(f"{len(samples):,} sample states from {args.sample_events:,} events; {json_bytes:,.0f} JSON bytes")
    if args.trace:
        tracemalloc.start()
    gc.collect()
    before = _current_rss_bytes()
    started = time.perf_counter()
    # The cache the runners keep (streams/state_cache.py), roomy enough for every contact here.
    cache = StateCache(max_bytes=2**40)
    for n in range(args.contacts):
        data = orjson.loads(samples[n % len(samples)])
        data["contact_id"] = str(uuid.UUID(int=n))
        state = ContactState.from_json(data)
        cache[state.contact_id] = state
    seconds = time.perf_counter() - started
    gc.collect()
    after = _current_rss_bytes()
    peak = _rss_bytes()
    traced = tracemalloc.get_traced_memory()[1] if args.trace else None
    per_contact = (after - before) / args.contacts
    ram = _machine_ram()
    print(f"{len(cache):,} contacts decoded into the cache in {seconds:.1f} s")
    mib = 2**20
    print(f"RSS before {before / mib:,.0f} MiB, after {after / mib:,.0f} MiB, peak {peak / mib:,.0f} MiB")
    print(f"= {per_contact:,.0f} bytes per contact in the cache vs {json_bytes:,.0f} bytes of JSON")
    gap = "reached" if per_contact <= TARGET_BYTES else f"{per_contact / TARGET_BYTES:.1f}x over"
    print(f"target <= {TARGET_BYTES:,} bytes per contact: {gap}")
    print(f"peak RSS / machine RAM: {peak / ram:.3f} ({ram / 2**30:.1f} GiB)")
    if traced is not None:
        print(f"tracemalloc peak: {traced / 2**20:,.0f} MiB")
    emit(
        "memory",
        [
            figure(f"peak RSS, {args.contacts:,} contacts", peak / 2**20, "MiB", ram / 2**20, "machine RAM"),
            figure("state in memory per contact", per_contact, "bytes", json_bytes, "JSON bytes per state"),
        ],
        contacts=args.contacts,
        sample_states=len(samples),
        seconds_to_fill=round(seconds, 1),
    )


if __name__ == "__main__":
    main()
