"""Identity-resolution throughput on SQLite and PostgreSQL, beside the raw write rate of the same store.

    python bench/resolve.py [--events 2000] [--postgres postgresql://postgres@127.0.0.1:15432/postgres]

Per store, in one run:
- raw write: one trivial aggregate saved per transaction through the library's own recorder — the ceiling
  for anything that writes once per event;
- new identifiers: touchpoints from people never seen (each creates a contact, claims, maybe an account);
- known, cache hit: the same people again through the resolve stage (no database at all);
- known, no cache: the same again straight to the master record (reads, no writes).
Ratios are against the raw write rate. PostgreSQL runs in a scratch database created and dropped here
(`--postgres` names the server to use; without it only SQLite runs). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

from _report import emit, figure
from eventsourcing.domain import Aggregate, event

from touchstream.adapters.master_record.application import MasterRecord
from touchstream.events import Event, parse_event
from touchstream.streams.resolve import ResolveStage

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Marker(Aggregate):
    """The smallest aggregate: one event, one row."""

    @event("Made")
    def __init__(self, n: int) -> None:
        self.n = n


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=2000, help="touchpoints per measurement")
    parser.add_argument("--postgres", help="a server URL whose user may create databases")
    return parser.parse_args()


def _touchpoints(count: int) -> list[Event]:
    """Realistic identifiers: an email, a CRM id, a company domain shared by about ten people."""
    out = []
    for n in range(count):
        at = (T0 + timedelta(seconds=n)).isoformat()
        out.append(
            parse_event(
                {
                    "event_id": str(uuid.uuid4()),
                    "type": "EmailOpened",
                    "schema_version": 1,
                    "occurred_at": at,
                    "recorded_at": at,
                    "source": "hubspot",
                    "identifiers": {
                        "email": f"person{n}@company{n // 10}.com",
                        "external_ids": {"hubspot": str(n)},
                    },
                    "payload": {"campaign_id": "c1", "message_id": f"m{n}"},
                }
            )
        )
    return out


def _rate(work: Callable[[], int]) -> float:
    started = time.perf_counter()
    count = work()
    return count / (time.perf_counter() - started)


def _measure(label: str, url: str, count: int) -> list[dict[str, object]]:
    app = MasterRecord.from_url(url)
    try:
        raw = _rate(lambda: sum(len(app.save(Marker(n=n))) for n in range(count)))
        stage = ResolveStage(app)
        first, again = _touchpoints(count), _touchpoints(count)
        new = _rate(lambda: sum(1 for e in first if stage.process(e)))
        hits_before = stage.hits
        cached = _rate(lambda: sum(1 for e in again if stage.process(e)))
        hit_share = (stage.hits - hits_before) / count
        uncached = _rate(lambda: sum(1 for e in again if app.resolve(e)))
    finally:
        app.close()
    print(f"\n{label}: {count} touchpoints per row")
    print(f"  {'raw write (1 aggregate / transaction)':40} {raw:10,.0f} /s   1.00x")
    for name, value in (
        ("resolve, new identifiers", new),
        (f"resolve, known, cache hit ({hit_share:.0%} hits)", cached),
        ("resolve, known, no cache", uncached),
    ):
        print(f"  {name:40} {value:10,.0f} /s  {value / raw:5.2f}x")
    ceiling = f"{label}: raw write, 1 aggregate / transaction"
    return [
        figure(f"{label}: resolve, new identifiers", new, "touchpoints/s", raw, ceiling),
        figure(f"{label}: resolve, known, cache hit", cached, "touchpoints/s", raw, ceiling),
        figure(f"{label}: resolve, known, no cache", uncached, "touchpoints/s", raw, ceiling),
    ]


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
    figures = []
    with tempfile.TemporaryDirectory() as folder:
        figures += _measure("SQLite (embedded)", f"sqlite:///{folder}/master.sqlite", args.events)
    if args.postgres:
        with _scratch_database(args.postgres) as url:
            figures += _measure("PostgreSQL", url, args.events)
    else:
        print("\nPostgreSQL skipped: pass --postgres postgresql://USER@HOST:PORT/postgres")
    emit("resolve", figures, events=args.events, postgres=bool(args.postgres))


if __name__ == "__main__":
    main()
