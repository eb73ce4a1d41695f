"""How fast the query API answers: 360 lookups by email at scale, and the live feed's fan-out.

    python bench/query.py [--sizes 100000,1000000] [--lookups 200] [--subscribers 100] [--messages 2000]
    python bench/query.py --quick          # 10k and 100k contacts, fewer lookups and messages

1. Lookup latency: N generated contacts are inserted straight into `customer_360` (one
   `INSERT ... SELECT FROM numbers(N)`, not the pipeline; N/5 merges among other contacts) of chDB and,
   when it answers on TOUCHSTREAM_CLICKHOUSE_PORT (19000), of the ClickHouse server (a throw-away
   database). Then random emails are looked up as the API does (`find_customers` by email, then the
   whole 360 document of `profile_document`, then the first page of its `timeline`, and its account's
   `account_view`); p50 and p99 are printed beside the ceiling of a point read by the sorting key
   (`customer_360 FINAL WHERE contact_id`).
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
from touchstream.adapters.api.queries.accounts import account_view_from_views
from touchstream.adapters.storage.chdb_store import ChDBStore
from touchstream.adapters.storage.migrate import prepare_read_store
from touchstream.adapters.web.server import serving
from touchstream.projections.customer_360 import PROFILE_FIELDS
from touchstream.streams.feed_port import FeedMessage, FeedSource
from touchstream.streams.ports import AbstractReadStore, ReadStoreError

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


_FILLED = """contact_id, account_id, version, updated_at, first_seen, last_seen, touches,
    first_name, last_name, email, phone, company, job_title, attribute_sources, lifecycle_stage,
    marketing_consent, sales_consent, first_source, first_department, department_touches, warm_touches,
    warm_context, open_opportunities, open_tickets, worst_open_priority, reopens, won_deals,
    active_subscriptions, lead_score, health_score, erased"""


def _json_value(field: str) -> str:
    """SQL (18.16 and chDB) giving `field` of a customer_360 row as the projection's `profile` holds it."""
    quoted = "concat('\"', {}, '\"')"
    if field in ("first_seen", "last_seen") or field.endswith("_at"):
        text = quoted.format(f"replaceOne(toString({field}), ' ', 'T'), 'Z'")
        return f"if({field} = toDateTime(0), 'null', {text})"
    if field in ("last_csat", "last_nps"):
        return f"if(isNull({field}), 'null', toString({field}))"
    if field == "active_signals":
        return f"concat('[', arrayStringConcat(arrayMap(x -> {quoted.format('x')}, {field}), ','), ']')"
    if field in _NUMBERS:
        return f"toString({field})"
    if field in ("open_pipeline", "lifetime_revenue"):  # decimals, as text
        return quoted.format(f"toString(toFloat64({field}))")  # as the driver: no trailing zeros
    return quoted.format(field)


_NUMBERS = frozenset(
    [
        "touches",
        "marketing_consent",
        "sales_consent",
        "warm_touches",
        "open_opportunities",
        "open_tickets",
        "reopens",
        "won_deals",
        "active_subscriptions",
        "lead_score",
        "health_score",
        "erased",
    ]
)
_PROFILE_SQL = ", ',', ".join("'\"" + field + "\":', " + _json_value(field) for field in PROFILE_FIELDS)

# Each row's `profile` (migration 19; what the 360 document reads of a contact never merged), built from its
# columns as the projection builds it, in a second version of the row (OPTIMIZE ... FINAL keeps that one).
FILL_PROFILE = (
    f"INSERT INTO customer_360 ({_FILLED}, profile)\n"
    f"SELECT {_FILLED.replace('version,', 'version + 1,')},\n"
    f"    concat('{{', {_PROFILE_SQL}, '}}')\n"
    "FROM customer_360"
)


# Facts: TOUCHES per contact (contact = number % N, k = number div N): a form, a deal created and moved on
# for every 4th contact, a ticket for every 3rd, page views otherwise.
FILL_FACTS = """
INSERT INTO touchpoints (event_id, type, occurred_at, recorded_at, source, department, contact_id,
    account_id, identifier, identifier_kind, opportunity_id, ticket_id, title, stage, amount, currency,
    owner, priority, status, product, channel, summary, payload, log_partition, log_offset)
SELECT concat('e-', toString(number)) AS event_id,
    multiIf(k = 0, 'FormSubmitted', k = 1 AND deal, 'OpportunityCreated', k = 2 AND ticket, 'TicketOpened',
        k = 3 AND deal, 'OpportunityStageChanged', 'PageViewed') AS type,
    now() - 86400 * 90 + number % 7776000 AS occurred_at, occurred_at, 'bench', 'sales', contact,
    concat('a-', toString(c % 5000)),
    concat('email:person', toString(c), '@company', toString(c % 5000), '.example'), 'email',
    if(on_deal, concat('o-', toString(c)), ''), if(on_ticket, concat('t-', toString(c)), ''),
    if(k = 1 AND deal, concat('Deal ', toString(c)), ''), if(on_deal, if(k = 1, 'qualify', 'propose'), ''),
    toDecimal64(if(on_deal, 1000 + c % 9000, 0), 2), if(on_deal, 'USD', ''), if(on_deal, 'rep-1', ''),
    if(on_ticket, 'P3', ''), if(on_ticket, 'open', ''), if(on_ticket, 'widget', ''),
    if(on_ticket, 'email', ''), type, '{}', number % 3, number
FROM (
    SELECT number, number % ROW_COUNT AS c, intDiv(number, ROW_COUNT) AS k,
        concat('c-', toString(c)) AS contact, c % 4 = 0 AS deal, c % 3 = 0 AS ticket,
        k IN (1, 3) AND deal AS on_deal, k = 2 AND ticket AS on_ticket
    FROM numbers(FACT_COUNT)
)
"""

# A raised signal for every 10th contact.
FILL_SIGNALS = """
INSERT INTO signals (signal_id, contact_id, account_id, kind, department, status, reason, raised_at,
    expires_at, version)
SELECT concat('s-', toString(number)), concat('c-', toString(number)), '', 'warm_lead', 'sales', 'raised',
    'bench', now() - 3600, now() + 86400 * 30, 1
FROM numbers(ROW_COUNT) WHERE number % 10 = 0
"""

# Merges, one for every 5th contact, among contacts no lookup picks (`g-` ids: no rows of their own), as
# `write_merges` writes them: a document reads its own merge group, and must not pay for everyone else's.
FILL_MERGES = [
    "INSERT INTO contact_merges (merged_id, survivor_id, active, reason, version) SELECT concat('g-', "
    "toString(number)), concat('g-s', toString(number % 1000)), 1, 'bench', 1 FROM numbers(MERGE_COUNT)",
    "INSERT INTO merge_members (survivor_id, merged_id, version) "
    "SELECT survivor_id, merged_id, version FROM contact_merges",
]

# The lookup and range rows of those base rows, as the projection would have written them (write_batch).
_WORK = (
    "event_id, contact_id, type, occurred_at, title, stage, amount, currency, owner, expected_close, "
    "priority, status, public_reply, product, channel, log_partition, log_offset"
)
BACKFILL = [
    "INSERT INTO contact_lookup (identifier, contact_id, version) "
    "SELECT concat('email:', email), contact_id, version FROM customer_360 WHERE email != ''",
    "INSERT INTO contact_lookup (identifier, contact_id, version) "
    "SELECT concat('phone:', phone), contact_id, version FROM customer_360 WHERE phone != ''",
    *(
        f"INSERT INTO work_facts (item, {_WORK}) SELECT concat('{p}:', {c}), {_WORK} FROM touchpoints "
        f"WHERE {c} != ''"
        for p, c in (("o", "opportunity_id"), ("t", "ticket_id"))
    ),
    "INSERT INTO account_members (account_id, contact_id, version) "
    "SELECT account_id, contact_id, version FROM customer_360 WHERE account_id != ''",
    "INSERT INTO contact_timeline (contact_id, occurred_at, event_id, department, type, source, summary, "
    "log_offset) SELECT contact_id, occurred_at, event_id, department, type, source, summary, log_offset "
    "FROM touchpoints WHERE contact_id != ''",
    *(
        f"INSERT INTO contact_items (contact_id, item, version) SELECT contact_id, concat('{p}:', {c}), "
        f"log_offset FROM touchpoints WHERE {c} != '' AND contact_id != ''"
        for p, c in (("o", "opportunity_id"), ("t", "ticket_id"))
    ),
]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def timed(work: Callable[[], Any]) -> float:
    started = time.perf_counter()
    work()
    return (time.perf_counter() - started) * 1000


def old_find_by_email(store: AbstractReadStore, email: str) -> list[str]:
    """The search before contact_lookup: every version of customer_360 scanned for the email (PREWHERE),
    then those contacts' current rows (the SQL of the shipped `_by_email`, exact branch)."""
    ids = store.query(
        "SELECT DISTINCT contact_id FROM customer_360 PREWHERE email = %(email)s LIMIT 200", {"email": email}
    )
    if not ids:
        return []
    rows = store.query(
        "SELECT contact_id, account_id, first_name, last_name, email, phone, company, job_title, "
        "lifecycle_stage, last_seen FROM customer_360 FINAL WHERE erased = 0 AND "
        "(contact_id IN %(ids)s AND email = %(email)s) ORDER BY last_seen DESC, contact_id LIMIT 200",
        {"ids": tuple(str(r[0]) for r in ids), "email": email},
    )
    return list(q.survivors(store, [str(r[0]) for r in rows]).values())


def old_merge_group(store: AbstractReadStore, contact_id: str) -> tuple[str, list[str]]:
    """The merge group before `merge_members`: "merged into the survivor" read all of `contact_merges`."""
    rows = store.query(
        "SELECT merged_id, survivor_id FROM contact_merges FINAL WHERE active = 1 AND (merged_id = %(id)s OR "
        "survivor_id = %(id)s OR survivor_id IN (SELECT survivor_id FROM contact_merges FINAL "
        "WHERE merged_id = %(id)s AND active = 1))",
        {"id": contact_id},
    )
    survivor = next((str(s) for m, s in rows if str(m) == contact_id), contact_id)
    return survivor, sorted({survivor, *(str(m) for m, s in rows if str(s) == survivor)})


def old_timeline(store: AbstractReadStore, contact_id: str) -> None:
    """The timeline before `contact_timeline`: every fact (`touchpoints FINAL`, ordered by event id)."""
    _, ids = old_merge_group(store, contact_id)
    store.query(
        "SELECT occurred_at, department, type, source, summary, event_id, contact_id FROM touchpoints FINAL "
        "WHERE contact_id IN %(ids)s ORDER BY occurred_at DESC, event_id DESC LIMIT 51",
        {"ids": tuple(ids)},
    )


def old_document(store: AbstractReadStore, contact_id: str) -> None:
    """The 360 document before the per-contact ranges: deals, tickets and signals through the views, which
    read `touchpoints FINAL` / `signals FINAL` whole, and its merge group by a scan of `contact_merges`
    (the SQL of the shipped `profile_document`)."""
    survivor, ids = old_merge_group(store, contact_id)
    store.query("SELECT * FROM customer_360_current WHERE contact_id = %(id)s", {"id": survivor})
    store.query(
        "SELECT argMax(department_touches, version), argMax(active_subscriptions, version) "
        "FROM customer_360 FINAL WHERE contact_id = %(id)s",
        {"id": survivor},
    )
    store.query(
        "SELECT opportunity_id, name, stage, owner, expected_close, amount, currency FROM sales_pipeline "
        "WHERE status = 'open' AND contact_id IN %(ids)s ORDER BY created_at, opportunity_id",
        {"ids": tuple(ids)},
    )
    store.query(
        "SELECT ticket_id, priority, status, product, channel, opened_at, resolved_at FROM support_tickets "
        "WHERE contact_id IN %(ids)s ORDER BY opened_at DESC, ticket_id LIMIT 20",
        {"ids": tuple(ids)},
    )
    store.query(
        "SELECT kind, department, reason, raised_at, expires_at FROM active_signals "
        "WHERE contact_id = %(id)s ORDER BY raised_at, kind",
        {"id": survivor},
    )


def fill(store: AbstractReadStore, engine: str, n: int, touches: int) -> None:
    tables = ("customer_360", "touchpoints", "signals", "contact_lookup", "work_facts", "contact_items")
    tables += ("contact_timeline", "account_members")
    for table in (*tables, "contact_merges", "merge_members"):
        store.execute(f"TRUNCATE TABLE {table}")
    started = time.perf_counter()
    store.execute(FILL.replace("ROW_COUNT", str(int(n))))  # no %(n)s: the SQL has a literal %
    store.execute(FILL_PROFILE)
    store.execute("OPTIMIZE TABLE customer_360 FINAL")
    store.execute(FILL_FACTS.replace("FACT_COUNT", str(int(n * touches))).replace("ROW_COUNT", str(int(n))))
    store.execute(FILL_SIGNALS.replace("ROW_COUNT", str(int(n))))
    for statement in FILL_MERGES:
        store.execute(statement.replace("MERGE_COUNT", str(int(n) // 5)))
    for statement in BACKFILL:
        store.execute(statement)
    shown = f"{n:,} contacts, {n * touches:,} touchpoints, {n // 5:,} merges"
    print(
        f"{engine}: {shown} (and the lookup and range rows) inserted in {time.perf_counter() - started:.1f} s"
    )


def lookups(
    store: AbstractReadStore, engine: str, n: int, count: int, before: int, touches: int
) -> list[dict[str, Any]]:
    fill(store, engine, n, touches)
    rng = random.Random(n)
    picks = [rng.randrange(n) for _ in range(count)]
    ms: dict[str, list[float]] = {
        "find by email": [],
        "find + whole 360 document": [],
        "find by email (before: scan)": [],
        "find + whole 360 document (before: views)": [],
        "timeline, first page": [],
        "timeline, first page (before: every fact)": [],
        "account view": [],
        "account view (before: every contact)": [],
        "ceiling: point read of one row": [],
    }
    point = "SELECT * FROM customer_360 WHERE contact_id = %(c)s LIMIT 1"
    for i, number in enumerate(picks):
        email = f"person{number}@company{number % 5000}.example"
        started = time.perf_counter()
        found = q.find_customers(store, email, "email", 1)
        found_at = time.perf_counter()
        q.profile_document(store, found[0].contact_id)
        done_at = time.perf_counter()
        if found[0].contact_id != f"c-{number}":
            raise RuntimeError(f"{email} found {found[0].contact_id}")
        ms["find by email"].append((found_at - started) * 1000)
        ms["find + whole 360 document"].append((done_at - started) * 1000)
        ms["timeline, first page"].append(timed(lambda: q.timeline(store, found[0].contact_id)))  # noqa: B023
        account = f"a-{number % 5000}"
        ms["account view"].append(timed(lambda: q.account_view(store, account)))  # noqa: B023
        read_one = lambda: store.query(point, {"c": f"c-{number}"})  # noqa: B023, E731 - called at once
        ms["ceiling: point read of one row"].append(timed(read_one))
        if i < before:
            started = time.perf_counter()
            old = old_find_by_email(store, email)
            found_at = time.perf_counter()
            old_document(store, old[0])
            done_at = time.perf_counter()
            ms["find by email (before: scan)"].append((found_at - started) * 1000)
            ms["find + whole 360 document (before: views)"].append((done_at - started) * 1000)
            ms["timeline, first page (before: every fact)"].append(timed(lambda: old_timeline(store, old[0])))  # noqa: B023
            before_account = lambda: account_view_from_views(store, account, 100)  # noqa: B023, E731 - called at once
            ms["account view (before: every contact)"].append(timed(before_account))
    label = f"{engine}, {n:,} contacts / {n * touches:,} touchpoints"
    measured = {name: values for name, values in ms.items() if values}  # --before 0: no old path
    for name, values in measured.items():
        print(
            f"{label}: {name:<42} p50 {percentile(values, 50):8.1f} ms  p99 {percentile(values, 99):8.1f} ms"
            f"  ({len(values)} lookups)"
        )
    ceiling = percentile(ms["ceiling: point read of one row"], 50)
    return [
        figure(
            f"{label}: {name} p{p}",
            percentile(values, p),
            "ms",
            ceiling,
            "point read of one row by contact_id (p50)",
        )
        for name, values in measured.items()
        if not name.startswith("ceiling")
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
    folder = tempfile.TemporaryDirectory(prefix="touchstream-bench-feed-")  # the API's read store: unused
    app = create_api(lambda: ChDBStore(folder.name), signer, feed=hub)
    ready: list[int] = []
    with folder, serving(app) as url:
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
    parser.add_argument("--before", type=int, default=20, help="lookups through the old path (slow at scale)")
    parser.add_argument("--touches", type=int, default=5, help="touchpoints per contact")
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--no-server", action="store_true", help="chDB only")
    parser.add_argument("--no-feed", action="store_true", help="lookups only, no SSE fan-out")
    parser.add_argument(
        "--quick", action="store_true", help="10k and 100k contacts, 50 lookups, 500 messages"
    )
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.lookups, args.before, args.messages = "10000,100000", 50, 10, 500
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    figures: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="touchstream-bench-query-") as folder, ChDBStore(folder) as store:
        prepare_read_store(store)
        for n in sizes:
            figures += lookups(store, "chDB", n, args.lookups, args.before, args.touches)
    server = None if args.no_server else server_store()
    if server is not None:
        try:
            prepare_read_store(server)
            for n in sizes:
                figures += lookups(server, "ClickHouse server", n, args.lookups, args.before, args.touches)
        finally:
            server.execute(f"DROP DATABASE IF EXISTS {server.database}")  # type: ignore[attr-defined]
            server.close()
    if not args.no_feed:
        figures += fan_out(args.subscribers, args.messages)
    emit(
        "query",
        figures,
        sizes=sizes,
        lookups=args.lookups,
        before=args.before,
        touches=args.touches,
        subscribers=args.subscribers,
        messages=args.messages,
    )


if __name__ == "__main__":
    main()
