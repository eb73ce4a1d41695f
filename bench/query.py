"""How fast the query API answers: 360 lookups by email at scale, and the live feed's fan-out.

    python bench/query.py [--sizes 100000,1000000] [--lookups 200] [--subscribers 100] [--messages 2000]
    python bench/query.py --quick          # 10k and 100k contacts, fewer lookups and messages

1. Lookup latency: N generated contacts are inserted straight into `customer_360` (one
   `INSERT ... SELECT FROM numbers(N)`, not the pipeline) of chDB and, when it answers on
   TOUCHSTREAM_CLICKHOUSE_PORT (19000), of the ClickHouse server (a throw-away database). Then random
   emails are looked up as the API does (`find_customers` by email, then the whole 360 document of
   `profile_document`); p50 and p99 are printed beside the ceiling of a point read by the sorting key
   (`customer_360 FINAL WHERE contact_id = …`).
2. SSE fan-out: the API on a loopback port (uvicorn), S subscribers on `/v1/feed` (httpx, one asyncio
   loop in this process), M signal messages pushed through the feed hub; events/s delivered to all of
   them, beside the hub's in-process fan-out to S queues (no HTTP, no shaping) as the ceiling. Clients and
   server share this process's GIL, so the figure is a floor for separate processes.

Nothing is asserted: the numbers are for reading. Each part is bounded (a few minutes at 1M contacts).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
from _report import emit, figure

from touchstream.adapters.api import queries as q
from touchstream.adapters.api.app import create_api
from touchstream.adapters.api.auth import TokenSigner
from touchstream.adapters.api.feed import EmbeddedLogSource, FeedHub
from touchstream.adapters.storage.chdb_store import ChDBStore
from touchstream.adapters.storage.migrate import prepare_read_store
from touchstream.adapters.web.server import serving
from touchstream.streams.ports import AbstractReadStore, FeedMessage, FeedSource, ReadStoreError

# One row per number: deterministic names, emails and phones; a spread of stages and scores.
FILL = """
INSERT INTO customer_360 (contact_id, account_id, version, updated_at, first_seen, last_seen, touches,
    first_name, last_name, email, phone, company, job_title, attribute_sources, lifecycle_stage,
    marketing_consent, sales_consent, first_source, first_department, department_touches, warm_touches,
    warm_context, open_opportunities, open_tickets, worst_open_priority, reopens, won_deals,
    active_subscriptions, lead_score, health_score, erased)
SELECT
    concat('c-', toString(number)), concat('a-', toString(number % 5000)), 1, now(), now() - 86400 * 90,
    now() - number % 86400, 1 + number % 200,
    concat('First', toString(number % 9973)), concat('Last', toString(number)),
    concat('person', toString(number), '@company', toString(number % 5000), '.example'),
    concat('+1415', toString(1000000 + number % 8999999)), concat('Company ', toString(number % 5000)),
    'Engineer', '{}', arrayElement(['lead', 'mql', 'sql', 'opportunity', 'customer'], 1 + number % 5),
    1, 1, 'hubspot', 'marketing', '{}', number % 7, '[]', number % 3, number % 2, if(number % 2, 'P3', ''),
    0, number % 4, number % 3, toFloat64(number % 100), toUInt8(number % 101), 0
FROM numbers(ROW_COUNT)
"""


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def timed(work: Callable[[], Any]) -> float:
    started = time.perf_counter()
    work()
    return (time.perf_counter() - started) * 1000


def lookups(store: AbstractReadStore, engine: str, n: int, count: int) -> list[dict[str, Any]]:
    store.execute("TRUNCATE TABLE customer_360")
    started = time.perf_counter()
    store.execute(FILL.replace("ROW_COUNT", str(int(n))))  # no %(n)s: the SQL has a literal %
    print(f"{engine}: {n:,} contacts inserted in {time.perf_counter() - started:.1f} s")
    rng = random.Random(n)
    picks = [rng.randrange(n) for _ in range(count)]
    find_ms: list[float] = []
    full_ms: list[float] = []
    point_ms: list[float] = []
    point = "SELECT * FROM customer_360 FINAL WHERE contact_id = %(c)s"
    for number in picks:
        email = f"person{number}@company{number % 5000}.example"
        started = time.perf_counter()
        found = q.find_customers(store, email, "email", 1)
        found_at = time.perf_counter()
        q.profile_document(store, found[0].contact_id)
        done_at = time.perf_counter()
        if found[0].contact_id != f"c-{number}":
            raise RuntimeError(f"{email} found {found[0].contact_id}")
        find_ms.append((found_at - started) * 1000)
        full_ms.append((done_at - started) * 1000)
        point_ms.append(timed(lambda: store.query(point, {"c": f"c-{number}"})))  # noqa: B023 - called at once
    label = f"{engine}, {n:,} contacts"
    for name, values in (("find by email", find_ms), ("find + whole 360 document", full_ms)):
        print(
            f"{label}: {name:<26} p50 {percentile(values, 50):7.1f} ms  p99 {percentile(values, 99):7.1f} ms"
            f"   (point read by contact id: p50 {percentile(point_ms, 50):.1f} ms)"
        )
    ceiling = percentile(point_ms, 50)
    return [
        figure(
            f"{label}: {name} p{p}", percentile(values, p), "ms", ceiling, "point read by contact_id (p50)"
        )
        for name, values in (("360 lookup by email", full_ms), ("find by email", find_ms))
        for p in (50, 99)
    ]


class BurstSource(FeedSource):
    """Emits `messages` signal messages, in bursts, once `go` is set."""

    def __init__(self, messages: int, go: threading.Event) -> None:
        super().__init__()
        self.messages, self.go = messages, go

    async def run(self, emit: Callable[[FeedMessage], None], stop: asyncio.Event) -> None:
        while not self.go.is_set() and not stop.is_set():
            await asyncio.sleep(0.02)
        for i in range(self.messages):
            value = {
                "signal_id": f"s{i}",
                "contact_id": f"c-{i}",
                "kind": "service_hold",
                "department": "sales",
            }
            emit(FeedMessage("signals.sales", f"c-{i}", {**value, "status": "raised", "reason": "bench"}))
            if i % 50 == 49:
                await asyncio.sleep(0)
        await stop.wait()


async def subscribe_all(url: str, token: str, subscribers: int, messages: int, ready: list[int]) -> float:
    done_at: list[float] = []

    async def one(client: httpx.AsyncClient) -> None:
        got = 0
        params = {"access_token": token, "backlog": 0}
        async with client.stream("GET", f"{url}/v1/feed", params=params) as answer:
            ready.append(1)
            async for line in answer.aiter_lines():
                if line.startswith("data: "):
                    got += 1
                    if got >= messages:
                        done_at.append(time.perf_counter())
                        return

    limits = httpx.Limits(max_connections=subscribers + 10)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        await asyncio.gather(*(one(client) for _ in range(subscribers)))
    return max(done_at)


def fan_out(subscribers: int, messages: int) -> list[dict[str, Any]]:
    secret = secrets.token_urlsafe(32).encode()
    signer = TokenSigner(secret)
    go = threading.Event()
    hub = FeedHub(BurstSource(messages, go), queue_size=messages + 10)
    folder = tempfile.mkdtemp(prefix="touchstream-bench-feed-")
    app = create_api(lambda: ChDBStore(folder), signer, feed=hub)
    ready: list[int] = []
    with serving(app) as url:
        token = signer.mint("sales", "bench", 3600)

        async def run() -> float:
            task = asyncio.create_task(subscribe_all(url, token, subscribers, messages, ready))
            while hub.subscribers < subscribers:
                await asyncio.sleep(0.05)
            started = time.perf_counter()
            go.set()
            return await task - started

        seconds = asyncio.run(run())
    rate = subscribers * messages / seconds
    shown = f"{messages:,} messages to {subscribers} subscribers in {seconds:.2f} s"
    print(f"SSE fan-out: {shown}: {rate:,.0f} events/s")

    async def ceiling() -> float:
        local = FeedHub(EmbeddedLogSource(lambda t: None), queue_size=messages + 10)  # type: ignore[arg-type,return-value]
        async with contextlib_stack(local, subscribers) as subs:
            started = time.perf_counter()
            for i in range(messages):
                local.publish(FeedMessage("signals.sales", str(i), {"contact_id": str(i)}))
            elapsed = time.perf_counter() - started
            assert all(s.queue.qsize() == messages for s in subs)
        await local.stop()
        return elapsed

    hub_seconds = asyncio.run(ceiling())
    hub_rate = subscribers * messages / hub_seconds
    print(f"hub alone (in-process queues, no HTTP): {hub_rate:,.0f} events/s")
    return [
        figure(
            f"SSE fan-out to {subscribers} subscribers", rate, "events/s", hub_rate, "hub fan-out in process"
        )
    ]


class contextlib_stack:
    """Subscribe `n` times to a hub inside one `async with`."""

    def __init__(self, hub: FeedHub, n: int) -> None:
        self.hub, self.n = hub, n
        self._managers: list[Any] = []

    async def __aenter__(self) -> list[Any]:
        subs = []
        for _ in range(self.n):
            manager = self.hub.subscribe()
            subs.append(await manager.__aenter__())
            self._managers.append(manager)
        return subs

    async def __aexit__(self, *exc: object) -> None:
        for manager in self._managers:
            await manager.__aexit__(None, None, None)


def server_store() -> AbstractReadStore | None:
    from touchstream.adapters.storage.clickhouse_server import ClickHouseServerStore

    port = int(os.environ.get("TOUCHSTREAM_CLICKHOUSE_PORT", "19000"))
    database = "bench_query_" + secrets.token_hex(4)
    try:
        store = ClickHouseServerStore("127.0.0.1", port, database, create_database=True, connect_timeout=3)
        store.query("SELECT 1")
    except ReadStoreError as exc:
        print(f"ClickHouse server not reachable on 127.0.0.1:{port}; skipping it ({exc.detail})")
        return None
    return store


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100000,1000000", help="contact counts, comma-separated")
    parser.add_argument("--lookups", type=int, default=200)
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--no-server", action="store_true", help="chDB only")
    parser.add_argument(
        "--quick", action="store_true", help="10k and 100k contacts, 50 lookups, 500 messages"
    )
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.lookups, args.messages = "10000,100000", 50, 500
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    figures: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="touchstream-bench-query-") as folder, ChDBStore(folder) as store:
        prepare_read_store(store)
        for n in sizes:
            figures += lookups(store, "chDB", n, args.lookups)
    server = None if args.no_server else server_store()
    if server is not None:
        try:
            prepare_read_store(server)
            for n in sizes:
                figures += lookups(server, "ClickHouse server", n, args.lookups)
        finally:
            server.execute(f"DROP DATABASE IF EXISTS {server.database}")  # type: ignore[attr-defined]
            server.close()
    figures += fan_out(args.subscribers, args.messages)
    emit(
        "query",
        figures,
        sizes=sizes,
        lookups=args.lookups,
        subscribers=args.subscribers,
        messages=args.messages,
    )


if __name__ == "__main__":
    main()
