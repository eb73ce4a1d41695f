"""End to end: published to Kafka -> queryable in ClickHouse, through a real Faust worker, beside two
ceilings measured in the same run on the same events; then freshness at a fixed offered rate.

    python bench/e2e.py [--events 20000] [--rates 100,2000] [--seconds 10] [--workers 1,2]

Needs the local servers (`deploy/local/services up`): Kafka, the ClickHouse server, PostgreSQL (the
master record). Uses its own topic prefix and databases and removes them afterwards.

The throughput run is made once per `--workers` count (default 1 and 2: worker processes in one consumer
group, beside the relay of the master record's events, `touchstream relay`, as in production; the raw and
resolved topics have 12 partitions each), in fresh topics and databases; with more than one worker the
clock starts once the group has rebalanced over all of them; freshness is measured in each run after the
throughput.

Figures:
- throughput: N events appended to `touchpoints.raw` at once; time until all N are rows of `touchpoints`
  (the worker validates, resolves against PostgreSQL, republishes, folds and inserts);
- ceiling 1: a bare aiokafka consumer reading the same N records of the raw topic (no group, no work);
- ceiling 2: a bare ClickHouse insert of the same N fact rows (plus their 360/state rows) into a fresh
  database, in 5,000-row batches;
- freshness, at each of `--rates` (events/s offered for `--seconds`, of people the throughput events
  do not name: one generated history split by person, `datasets`; the issue's target is p99 < 2 s at a
  steady 2,000/s): for each event, publish -> first seen by a poller of
  ClickHouse (every 100 ms, every 500 ms while more than 2,000 are pending, asking for the oldest 3,000
  pending; p50 / p99, so the poll interval is part of the figure). The poller looks for the event's
  `touchpoints` row: the projection writes `touchpoints` last in each batch (`streams/project.py`,
  `write_batch`), so when the row is there the contact's `customer_360` row with that event (the 360 view
  a user reads) is written too. A rate above what the workers sustain builds a backlog, and its figure
  says so.
Nothing is asserted: the numbers are for reading.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import psycopg
from _report import emit, figure
from psycopg import sql

from touchstream.adapters.logs import topics
from touchstream.adapters.logs.kafka_log import KafkaEventLog
from touchstream.adapters.storage.clickhouse_server import ClickHouseServerStore
from touchstream.adapters.storage.migrate import migrate
from touchstream.adapters.synthetic.generator import GeneratorConfig, generate_with_truth
from touchstream.events import ResolvedTouchpoint, parse_event
from touchstream.streams import topology
from touchstream.streams.embedded import stand_in_resolver
from touchstream.streams.project import project_batch, write_batch

BOOTSTRAP = "127.0.0.1:" + os.environ.get("TOUCHSTREAM_KAFKA_PORT", "19092")
CH_PORT = int(os.environ.get("TOUCHSTREAM_CLICKHOUSE_PORT", "19000"))
PG_PORT = int(os.environ.get("TOUCHSTREAM_POSTGRES_PORT", "15432"))


Rows = list[tuple[bytes, bytes]]


def datasets(events: int, fresh: dict[int, int], seed: int, days: int = 60) -> tuple[Rows, dict[int, Rows]]:
    """The throughput events and, per offered rate, that many freshness events: one generated history
    split by person, so the freshness events are new people's. (Histories seeded apart reuse the
    generator's names, addresses and pool of phone numbers: their people merged into the throughput
    run's by the hundred, into contacts of thousands of identifiers, and the figure measured those.)"""
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days + 2)
    total = events + sum(fresh.values())
    # The generator's count is within ~10 % of what it is asked for: ask for more, take what is needed.
    config = GeneratorConfig.for_events(round(total * 1.25), days=days, seed=seed)
    config = GeneratorConfig(config.customers, config.accounts, days, seed, start=start)
    raw, truth = generate_with_truth(config)
    person_of = {event_id: person for event_id, (person, _) in truth.events.items()}
    sizes = Counter(person_of[e["event_id"]] for e in raw)
    people = sorted(sizes)
    random.Random(seed).shuffle(people)
    part_of: dict[str, int] = {}  # person -> 0 (throughput) or the rate whose freshness events are theirs
    queue = iter(people)
    quotas = [(0, events), *fresh.items()]
    for part, quota in quotas:
        taken = 0
        while taken < quota and (person := next(queue, None)) is not None:
            part_of[person] = part
            taken += sizes[person]
    rows: dict[int, Rows] = {part: [] for part in [0, *fresh]}
    for event in raw:
        part = part_of.get(person_of[event["event_id"]])
        if part is not None:
            value = orjson.dumps(event)
            rows[part].append((parse_event(value).identifiers.strongest().encode(), value))
    short = [
        f"{part or 'throughput'}: {len(rows[part])} of {quota}"
        for part, quota in quotas
        if len(rows[part]) < quota
    ]
    if short:
        raise SystemExit(f"the generated history is too short ({'; '.join(short)}): ask for fewer events")
    return rows.pop(0)[:events], {rate: rows[rate][:n] for rate, n in fresh.items()}


def dataset(events: int, seed: int) -> Rows:
    """About `events` generated events (the warm-up takes one: whom it names does not matter)."""
    return datasets(events, {}, seed)[0]


def count(store: ClickHouseServerStore) -> int:
    return int(store.query("SELECT count() FROM touchpoints")[0][0])


def wait_for_rows(
    store: ClickHouseServerStore, n: int, workers: list[subprocess.Popen[bytes]], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while count(store) < n:
        if exited := [w.returncode for w in workers if w.poll() is not None]:
            raise SystemExit(f"a worker or the relay exited {exited[0]}")
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out: {count(store)} of {n} rows after {timeout}s")
        time.sleep(0.05)


async def bare_consumer(topic: str, n: int) -> float:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=BOOTSTRAP, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    try:
        started, seen = time.perf_counter(), 0
        while seen < n:
            batches = await consumer.getmany(timeout_ms=1000, max_records=50_000)
            seen += sum(len(records) for records in batches.values())
        return time.perf_counter() - started
    finally:
        await consumer.stop()


def bare_insert(records: list[tuple[bytes, bytes]], database: str) -> float:
    items = []
    for offset, (_key, value) in enumerate(records):
        event = parse_event(value)
        items.append((ResolvedTouchpoint(event, *stand_in_resolver(event)), 0, offset))
    batch = project_batch(items, {})
    with ClickHouseServerStore(
        "127.0.0.1", CH_PORT, database, create_database=True, batch_size=5_000
    ) as store:
        migrate(store)
        started = time.perf_counter()
        write_batch(store, batch)
        seconds = time.perf_counter() - started
        store.execute(f"DROP DATABASE IF EXISTS {database}")
    return seconds


FRESHNESS_TARGET_S = 2.0  # issue #12: p99 at a steady 2,000 events/s
FRESHNESS_TARGET_RATE = 2_000


def freshness(
    raw: KafkaEventLog, store: ClickHouseServerStore, records: list[tuple[bytes, bytes]], rate: int
) -> list[float]:
    published: dict[str, float] = {}
    latencies: list[float] = []
    tick = 0.05
    per_tick = max(1, round(rate * tick))
    started = time.monotonic()
    last_poll = 0.0
    i = 0
    while i < len(records) or published:
        now = time.monotonic()
        if i < len(records) and now >= started + (i / per_tick) * tick:
            chunk = records[i : i + per_tick]
            raw.append(chunk)
            sent_at = time.monotonic()
            for _key, value in chunk:
                published[orjson.loads(value)["event_id"]] = sent_at
            i += len(chunk)
        if now - last_poll >= (0.1 if len(published) <= 2000 else 0.5) and published:
            last_poll = now
            # DISTINCT: an anonymous caller's call handed to its person is a second row of the same event.
            # Only the oldest 3,000 pending: the server refuses queries over 256 KiB, and a worker takes
            # each partition in order, so a newer event is seen once the older ones are.
            found = store.query(
                "SELECT DISTINCT event_id FROM touchpoints WHERE event_id IN %(ids)s",
                {"ids": tuple(itertools.islice(published, 3000))},
            )
            seen_at = time.monotonic()
            for (event_id,) in found:
                latencies.append(seen_at - published.pop(str(event_id)))
        if now - started > len(records) / rate + 120:
            print(
                f"freshness at {rate:,}/s: {len(published):,} events not queryable {now - started:.0f} s "
                "after the first was offered (left out of the percentiles)",
                file=sys.stderr,
            )
            break
        time.sleep(0.005)
    return latencies


@dataclass
class Measured:
    e2e_s: float
    consume_s: float
    insert_s: float
    latencies: dict[int, list[float]]  # offered events/s -> each event's publish -> queryable seconds


def measure(args: argparse.Namespace, workers_count: int, bulk: Rows, fresh: dict[int, Rows]) -> Measured:
    """One run with `workers_count` worker processes, in its own topics and databases (removed after)."""
    name = "bench_e2e_" + uuid.uuid4().hex[:8]
    prefix = name + "_"
    n = len(bulk)
    topics.create_topics(BOOTSTRAP, prefix=prefix)
    admin = psycopg.connect(
        host="127.0.0.1", port=PG_PORT, user="postgres", dbname="postgres", autocommit=True
    )
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    folder = Path(tempfile.mkdtemp(prefix="touchstream-bench-e2e-"))
    env = {
        **os.environ,
        "TOUCHSTREAM_MODE": "production",
        "TOUCHSTREAM_KAFKA_BOOTSTRAP": BOOTSTRAP,
        "TOUCHSTREAM_TOPIC_PREFIX": prefix,
        "TOUCHSTREAM_CLICKHOUSE_PORT": str(CH_PORT),
        "TOUCHSTREAM_CLICKHOUSE_DATABASE": name,
        "TOUCHSTREAM_MASTER_RECORD_URL": f"postgresql://postgres@127.0.0.1:{PG_PORT}/{name}",
        "TOUCHSTREAM_DATA_DIR": str(folder),
    }
    commands = {
        f"worker-{i}": ["touchstream.adapters.cli.worker", "-l", "warn"] for i in range(workers_count)
    }
    commands["relay"] = ["touchstream.adapters.cli.relay"]  # the master record's events, as in production
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", *command],
            env=env,
            stdout=(folder / f"{label}.log").open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        for label, command in commands.items()
    ]
    store = ClickHouseServerStore("127.0.0.1", CH_PORT, name, create_database=True)
    raw = KafkaEventLog(BOOTSTRAP, prefix + topology.RAW)
    measured = False
    try:
        # Warm up: the worker joined its group and every client is connected before the clock starts.
        warm = dataset(50, args.seed + 2000)[:1]
        raw.append(warm)
        time.sleep(2)
        wait_for_rows(store, 1, workers, timeout=120)
        warm_rows = 1
        if len(workers) > 1:  # the group has rebalanced over every worker before the clock starts
            time.sleep(10)
            raw.append(dataset(50, args.seed + 3000)[:1])
            warm_rows = 2
            wait_for_rows(store, warm_rows, workers, timeout=120)

        raw.append(bulk)  # published: acknowledged by Kafka (acks=all) before the clock starts
        started = time.perf_counter()
        wait_for_rows(store, n + warm_rows, workers, timeout=600)
        e2e_s = time.perf_counter() - started
        consume_s = asyncio.run(bare_consumer(prefix + topology.RAW, n + warm_rows))
        insert_s = bare_insert(bulk, name + "_ceiling")
        latencies = {rate: freshness(raw, store, records, rate) for rate, records in fresh.items()}
        measured = True
    finally:
        raw.close()
        for one in workers:
            if one.poll() is None:
                one.send_signal(signal.SIGTERM)
        for one in workers:
            try:
                one.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(one.pid, signal.SIGKILL)
        store.execute(f"DROP DATABASE IF EXISTS {name}")
        store.close()
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.close()
        from kafka import KafkaAdminClient

        kafka_admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP)
        kafka_admin.delete_topics([t for t in kafka_admin.list_topics() if t.startswith(prefix)])
        kafka_admin.close()
        if measured:  # the workers' data directory holds a key-encryption key: nothing to leave behind
            shutil.rmtree(folder, ignore_errors=True)
        else:
            print(
                f"the workers' and the relay's logs are kept in {folder} (worker-N.log, relay.log)",
                file=sys.stderr,
            )
    return Measured(e2e_s, consume_s, insert_s, latencies)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument(
        "--rates", default="100,2000", help="offered events/s for the freshness figures (comma-separated)"
    )
    parser.add_argument("--seconds", type=int, default=10, help="how long to offer each rate")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--workers",
        default="1,2",
        help="worker processes in the consumer group, one run per count (comma-separated; default 1,2)",
    )
    args = parser.parse_args()
    counts = [int(c) for c in str(args.workers).split(",") if c.strip()]

    rates = [int(r) for r in str(args.rates).split(",") if r.strip()]
    bulk, fresh = datasets(args.events, {r: r * args.seconds for r in rates}, args.seed)
    n = len(bulk)
    offered = ", ".join(f"{len(records):,} at {rate:,}/s" for rate, records in fresh.items())
    print(f"{n} events for throughput; for freshness {offered}", flush=True)

    figures: list[dict[str, Any]] = []
    for count in counts:
        got = measure(args, count, bulk, fresh)
        e2e, consume, insert = n / got.e2e_s, n / got.consume_s, n / got.insert_s
        label = "end_to_end" if count == 1 else f"end_to_end, {count} workers"
        workers = "" if count == 1 else f", {count} workers"
        print(f"{label} (published -> queryable)  {e2e:>10,.0f} events/s  ({got.e2e_s:.2f} s)")
        print(f"ceiling: bare consumer of the topic  {consume:>10,.0f} events/s  ({got.consume_s:.2f} s)")
        print(f"ceiling: bare ClickHouse insert      {insert:>10,.0f} events/s  ({got.insert_s:.2f} s)")
        print(
            f"end to end / bare consumer  {e2e / consume:.3f}; end to end / bare insert  {e2e / insert:.3f}"
        )
        figures += [
            figure(label, e2e, "events/s", consume, "bare_consumer"),
            figure(label, e2e, "events/s", insert, "bare_clickhouse_insert"),
        ]
        for rate, latencies in got.latencies.items():
            if not latencies:
                continue
            p50 = statistics.median(latencies)
            p99 = sorted(latencies)[max(0, int(len(latencies) * 0.99) - 1)]
            if p99 >= FRESHNESS_TARGET_S:
                gap = f"{p99 / FRESHNESS_TARGET_S:.1f}x the target"
            elif rate >= FRESHNESS_TARGET_RATE:
                gap = "reached"
            else:  # under the target's load: within the bound, which says nothing of the target itself
                gap = f"within it at this lower rate; the target is at {FRESHNESS_TARGET_RATE:,}/s"
            print(
                f"freshness at {rate:,} events/s offered ({count} worker(s)): p50 {p50 * 1000:,.0f} ms, "
                f"p99 {p99 * 1000:,.0f} ms (target p99 < {FRESHNESS_TARGET_S:.0f} s "
                f"at {FRESHNESS_TARGET_RATE:,}/s: {gap})"
            )
            target = f"issue #12 target (p99 < {FRESHNESS_TARGET_S:.0f} s at 2,000 events/s)"
            figures += [
                figure(f"freshness p50 at {rate:,} events/s{workers}", p50, "s", FRESHNESS_TARGET_S, target),
                figure(f"freshness p99 at {rate:,} events/s{workers}", p99, "s", FRESHNESS_TARGET_S, target),
            ]
    emit("e2e", figures, events=n, rates=rates, seconds=args.seconds, workers=counts)


if __name__ == "__main__":
    main()
