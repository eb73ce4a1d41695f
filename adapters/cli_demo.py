"""`touchstream demo`: the whole embedded path on a fresh machine, with nothing but Python.

Generate a story that ends today (signals expire in real time), publish it to the embedded log, project it
into chDB with the folds, then print what each department sees: the 360 view of a few customers, the
pipeline, campaign engagement, support against SLA, and the active signals.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table

from touchstream.adapters import cli_generate
from touchstream.adapters.chdb_store import ChDBStore
from touchstream.adapters.event_log import AbstractEventLog, SQLiteEventLog
from touchstream.adapters.progress import progress_bar
from touchstream.adapters.read_store import AbstractReadStore
from touchstream.events import parse_event
from touchstream.streams.embedded import DEFAULT_GROUP, prepare_read_store, run_until_caught_up

PUBLISH_BATCH = 5_000

TOUCHES_BY_DEPARTMENT = """
SELECT department, count() AS touches, uniqExact(contact_id) AS contacts
FROM touchpoints_current GROUP BY department ORDER BY department
"""

MOST_ENGAGED = """
SELECT contact_id FROM customer_360_current
WHERE erased = 0 AND first_name != ''
ORDER BY length(active_signals) DESC, touches DESC, contact_id LIMIT %(limit)s
"""

PROFILE = """
SELECT first_name, last_name, company, email, phone, lifecycle_stage, marketing_consent, lead_score,
    health_score, open_tickets, worst_open_priority, open_opportunities, open_pipeline, last_csat, last_nps,
    lifetime_revenue, warm_touches, last_sales_contact_at, active_signals, touches
FROM customer_360_current WHERE contact_id = %(contact)s
"""

TIMELINE = """
SELECT occurred_at, department, summary FROM timeline
WHERE contact_id = %(contact)s ORDER BY occurred_at DESC, event_id LIMIT %(limit)s
"""

OPEN_PIPELINE = """
SELECT name, stage, owner, amount, currency, expected_close, days_in_stage
FROM sales_pipeline WHERE status = 'open' ORDER BY amount DESC, opportunity_id LIMIT 8
"""

PIPELINE_BY_STATUS = """
SELECT status, count() AS opportunities, sum(amount) AS amount, currency
FROM sales_pipeline GROUP BY status, currency ORDER BY status, currency
"""

CAMPAIGNS = """
SELECT campaign_id, sent, opened, clicked, responses, engaged_contacts, converted
FROM campaign_engagement ORDER BY engaged_contacts DESC, campaign_id LIMIT 8
"""

SLA = """
SELECT priority, tickets, open_tickets, first_response_breached, resolved, resolution_breached, reopens
FROM support_sla_summary ORDER BY priority
"""

SIGNALS = """
SELECT department, kind, count() AS active, any(reason) AS example
FROM active_signals GROUP BY department, kind ORDER BY department, kind
"""


def _lines(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        for line in handle:
            if line.strip():
                yield line.rstrip(b"\n")


def publish_file(path: Path, log: AbstractEventLog, total: int) -> int:
    """Validate each line and append it to the log keyed by its strongest identifier (per-person order)."""
    published = 0
    batch: list[tuple[bytes | None, bytes]] = []
    with progress_bar("publish", total) as advance:
        for raw in _lines(path):
            event = parse_event(raw)
            batch.append((event.identifiers.strongest().encode(), raw))
            if len(batch) >= PUBLISH_BATCH:
                published += len(log.append(batch))
                advance(len(batch))
                batch = []
        if batch:
            published += len(log.append(batch))
            advance(len(batch))
    return published


def _table(console: Console, title: str, columns: list[str], rows: list[tuple[object, ...]]) -> None:
    table = Table(title=title, title_justify="left")
    for name in columns:
        table.add_column(name)
    for row in rows:
        table.add_row(*("" if value is None else str(value) for value in row))
    console.print(table)


def _query(console: Console, store: AbstractReadStore, title: str, sql: str) -> None:
    columns, rows = store.query_with_columns(sql)
    _table(console, title, [name for name, _ in columns], rows)


def show_360(console: Console, store: AbstractReadStore, contact_id: str) -> None:
    columns, rows = store.query_with_columns(PROFILE, {"contact": contact_id})
    profile = dict(zip([name for name, _ in columns], rows[0], strict=True))
    name = f"{profile['first_name']} {profile['last_name']}".strip()
    console.print(f"\n[bold]360 view: {name}[/] ({profile['company'] or 'no company'}) {contact_id}")
    console.print(
        f"  {profile['lifecycle_stage']} · health {profile['health_score']} · lead score "
        f"{profile['lead_score']:.1f} · marketing consent "
        f"{'yes' if profile['marketing_consent'] else 'NO'} · "
        f"{profile['email'] or '-'} {profile['phone'] or ''}"
    )
    console.print(
        f"  sales: {profile['open_opportunities']} open opportunities ({profile['open_pipeline']}), "
        f"{profile['warm_touches']} marketing touches since the last sales contact · support: "
        f"{profile['open_tickets']} open tickets {profile['worst_open_priority']} · CSAT "
        f"{profile['last_csat'] if profile['last_csat'] is not None else '-'} · NPS "
        f"{profile['last_nps'] if profile['last_nps'] is not None else '-'} · "
        f"revenue {profile['lifetime_revenue']}"
    )
    signals = ", ".join(profile["active_signals"]) or "none"
    console.print(f"  signals: [bold]{signals}[/]")
    _table(
        console,
        "  latest touches",
        ["when", "department", "what"],
        store.query(TIMELINE, {"contact": contact_id, "limit": 6}),
    )


def run(*, customers: int, accounts: int, days: int, seed: int, workdir: Path | None) -> None:
    console = Console()
    workdir = workdir or Path(tempfile.mkdtemp(prefix="touchstream-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    console.print(f"[bold]Touchstream demo[/] (embedded: SQLite log + chDB) in {workdir}")
    events_path, truth_path = workdir / "events.jsonl", workdir / "truth.jsonl"
    # The story ends yesterday, so signals (which expire in real time) are live now.
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days + 1)
    summary = cli_generate.run(
        customers=customers,
        accounts=accounts,
        days=days,
        seed=seed,
        out=events_path,
        truth=truth_path,
        start=start,
    )
    total = int(str(summary["events"]))
    published: list[int] = []
    with SQLiteEventLog(workdir / "log.sqlite", partitions=3) as log:
        publish_file(events_path, log, total)
        with ChDBStore(str(workdir / "chdb")) as store:
            prepare_read_store(store)
            with progress_bar("project", log.lag(DEFAULT_GROUP)) as advance:
                # Publishing is wiring for Kafka; here the messages are only counted.
                stats = run_until_caught_up(
                    log, store, progress=advance, publish=lambda batch: published.append(len(batch))
                )
            stored = store.query("SELECT count() FROM touchpoints FINAL")[0][0]
            console.print(
                f"projected {stats.records} records: {stats.accepted} touchpoints, "
                f"{stats.dead_lettered} dead letters; {stored} rows queryable in chDB; "
                f"{stats.contacts_updated} contact profiles, {stats.signals_raised} signals raised, "
                f"{sum(published)} messages for customer360.changes and signals.*"
            )
            _table(
                console,
                "Touches by department",
                ["department", "touches", "contacts"],
                store.query(TOUCHES_BY_DEPARTMENT),
            )
            for (contact_id,) in store.query(MOST_ENGAGED, {"limit": 3}):
                show_360(console, store, contact_id)
            _query(console, store, "Sales: pipeline by status", PIPELINE_BY_STATUS)
            _query(console, store, "Sales: largest open opportunities", OPEN_PIPELINE)
            _query(console, store, "Marketing: campaign engagement", CAMPAIGNS)
            _query(console, store, "Support: tickets against SLA", SLA)
            _query(console, store, "Active signals", SIGNALS)
    console.print(f"Data kept in {workdir} (events.jsonl, truth.jsonl, log.sqlite, chdb/).")
    console.print("Every view is described in docs/queries.md; e.g. SELECT * FROM sales_forecast.")
