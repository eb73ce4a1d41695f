"""Identity-resolution throughput on SQLite and PostgreSQL through the pipeline's batch path, beside a
ceiling measured in the same run: the same number of rows written in the same number of transactions.

    python bench/resolve.py [--events 2000] [--batch 500] [--postgres postgresql://postgres@127.0.0.1:15432/postgres]

Per store, in one run, each measured through `ResolveStage.process_batch` in batches of `--batch` (what
`touchstream run` and a worker do: one read-ahead and one transaction per batch):
- all new: touchpoints from people never seen (each creates a contact and its claims, often an account);
- realistic mix, cold: 80 % from people already in the master record, 20 % new, through a fresh stage
  and a fresh master record (a worker that just started: every known person is read from the store);
- realistic mix, warm: the same mix through a stage that has seen the known people (a running worker:
  its identity cache answers for them).
Ceiling of each: the stored events that measurement wrote (counted from the notification log), inserted
through the same recorder, already mapped, in as many transactions as it used — the fastest those writes
can go on this box. Targets (issue "Throughput", PostgreSQL): >= 10,000 touchpoints/s on the realistic mix
and >= 3,000/s all new; a figure under its target is printed with the gap. PostgreSQL runs in a scratch
database created and dropped here (`--postgres` names the server; without it only SQLite runs).
Nothing is asserted.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

from _report import emit, figure
from eventsourcing.domain import Aggregate, event

from touchstream.adapters.gc_pace import pace_garbage_collector
from touchstream.adapters.master_record.application import MasterRecord
from touchstream.events import Event, parse_event
from touchstream.streams.resolve import ResolveStage

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TARGETS = {"realistic mix": 10_000.0, "all new": 3_000.0}  # PostgreSQL, touchpoints/s
KNOWN_SHARE = 0.8


class Marker(Aggregate):
    """The smallest aggregate: one event, one row — what the ceiling writes."""

    @event("Made")
    def __init__(self, n: int) -> None:
        self.n = n


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=2000, help="touchpoints per measurement")
    parser.add_argument("--batch", type=int, default=500, help="touchpoints per batch (a worker's default)")
    parser.add_argument("--postgres", help="a server URL whose user may create databases")
    return parser.parse_args()


def _touchpoint(person: int, n: int) -> Event:
    """A realistic touchpoint of one person: an email, a CRM id, a company domain shared by ten people."""
    at = (T0 + timedelta(seconds=n)).isoformat()
    return parse_event(
        {
            "event_id": str(uuid.uuid4()),
            "type": "EmailOpened",
            "schema_version": 1,
            "occurred_at": at,
            "recorded_at": at,
            "source": "hubspot",
            "identifiers": {
                "email": f"person{person}@company{person // 10}.com",
                "external_ids": {"hubspot": str(person)},
            },
            "payload": {"campaign_id": "c1", "message_id": f"m{n}"},
        }
    )


class People:
    """Hands out touchpoints of new people, or of people already resolved (picked at random)."""

    def __init__(self, seed: int = 1) -> None:
        self.count = 0
        self.n = 0
        self.random = random.Random(seed)

    def new(self, count: int) -> list[Event]:
        out = [self._of(self.count + i) for i in range(count)]
        self.count += count
        return out

    def mix(self, count: int, known_share: float = KNOWN_SHARE) -> list[Event]:
        out = []
        for _ in range(count):
            if self.random.random() < known_share:
                out.append(self._of(self.random.randrange(self.count)))
            else:
                out.append(self._of(self.count))
                self.count += 1
        return out

    def _of(self, person: int) -> Event:
        self.n += 1
        return _touchpoint(person, self.n)


def _batches(events: Sequence[Event], size: int) -> Iterator[list[tuple[Event, int | None, int | None]]]:
    for start in range(0, len(events), size):
        yield [(e, 0, start + i) for i, e in enumerate(events[start : start + size])]


def _resolve(app: MasterRecord, stage: ResolveStage, events: Sequence[Event], size: int) -> tuple[float, int]:
    """Seconds to resolve `events` in batches, and the stored events written."""
    before = app.recorder.max_notification_id() or 0
    started = time.perf_counter()
    for items in _batches(events, size):
        stage.process_batch(items)
    seconds = time.perf_counter() - started
    return seconds, (app.recorder.max_notification_id() or 0) - before


def _ceiling(app: MasterRecord, rows: int, transactions: int) -> float:
    """Seconds to insert `rows` stored events (mapped beforehand) in `transactions` transactions."""
    stored = [app.mapper.to_stored_event(e) for n in range(rows) for e in Marker(n=n).collect_events()]
    per = max(1, -(-rows // max(1, transactions)))
    started = time.perf_counter()
    for start in range(0, len(stored), per):
        app.recorder.insert_events(stored[start : start + per])
    return time.perf_counter() - started


def _measure(label: str, url: str, count: int, size: int) -> list[dict[str, object]]:
    app = MasterRecord.from_url(url)
    opened = [app]
    people = People()
    figures = []
    print(f"\n{label}: {count} touchpoints per row, batches of {size}")
    try:
        warm = ResolveStage(app)
        new = people.new(count)
        runs = [("all new", warm, new)]
        cold_mix, warm_mix = people.mix(count), people.mix(count)
        # A worker that just started: its own master record too, with no aggregate kept from earlier
        # batches (kept.py), not only a fresh stage.
        cold = MasterRecord.from_url(url)
        opened.append(cold)
        runs += [("realistic mix, cold", ResolveStage(cold), cold_mix)]
        runs += [("realistic mix, warm", warm, warm_mix)]
        for name, stage, events in runs:
            assert isinstance(stage.resolver, MasterRecord)
            seconds, rows = _resolve(stage.resolver, stage, events, size)
            batches = -(-len(events) // size)
            ceiling_s = _ceiling(app, rows, batches) if rows else 0.0
            rate = len(events) / seconds
            top = len(events) / ceiling_s if ceiling_s else float("inf")
            target = TARGETS.get(name.split(",")[0]) if label == "PostgreSQL" else None
            gap = "" if target is None else ("reached" if rate >= target else f"{target / rate:.1f}x short")
            print(
                f"  {name:22} {rate:10,.0f} /s  ({rows:,} rows in {batches} transactions; ceiling "
                f"{top:,.0f} /s, {rate / top if top != float('inf') else 0:.2f})"
                + (f"  target {target:,.0f}: {gap}" if target else "")
            )
            ceiling_name = f"{label}: the same {rows:,} rows inserted in {batches} transactions"
            figures.append(figure(f"{label}: resolve, {name}", rate, "touchpoints/s", top, ceiling_name))
    finally:
        for each in opened:
            each.close()
    return figures


@contextmanager
def _scratch_database(server: str) -> Iterator[str]:
    import psycopg
    from psycopg import sql

    parts = urlsplit(server)
    name = "bench_" + uuid.uuid4().hex[:10]
    connect = {"host": parts.hostname, "port": parts.port or 5432, "user": parts.username or "postgres"}
    with psycopg.connect(
        **connect, password=parts.password or "", dbname="postgres", autocommit=True
    ) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield urlunsplit((parts.scheme, parts.netloc, "/" + name, "", ""))
        finally:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def main() -> None:
    args = _args()
    pace_garbage_collector()  # as the worker and `touchstream run` pace their collector
    figures = []
    with tempfile.TemporaryDirectory() as folder:
        figures += _measure("SQLite (embedded)", f"sqlite:///{folder}/master.sqlite", args.events, args.batch)
    if args.postgres:
        with _scratch_database(args.postgres) as url:
            figures += _measure("PostgreSQL", url, args.events, args.batch)
    else:
        print("\nPostgreSQL skipped: pass --postgres postgresql://USER@HOST:PORT/postgres")
    emit("resolve", figures, events=args.events, batch=args.batch, postgres=bool(args.postgres))


if __name__ == "__main__":
    main()
