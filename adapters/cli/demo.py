"""`touchstream demo`: the whole embedded path on a fresh machine, with nothing but Python.

Generate a story that ends today (signals expire in real time), publish it through the Publisher to the
embedded `touchpoints.raw` log, run production's two steps in-process (validate and resolve identity with
the master record into `touchpoints.resolved`, then project into chDB), compare the contacts and accounts
it found with the generator's ground truth, and print what each department sees: the 360 view of a few
customers (one of them a person the master record merged), the pipeline, campaign engagement, support
against SLA, and the active signals.
"""

from __future__ import annotations

import shlex
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from ...streams.embedded import PROJECT_GROUP, RESOLVE_GROUP
from ...streams.ports import AbstractReadStore
from ...streams.topology import RAW
from ..api.feed import topic_publisher
from ..bootstrap import Runtime, bootstrap
from ..sdk.publisher import Publisher
from ..storage.migrate import prepare_read_store
from . import generate as cli_generate
from .progress import progress_bar

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
    lifetime_revenue, warm_touches, last_sales_contact_at, active_signals, touches, merged_contacts
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


def publish_file(path: Path, runtime: Runtime, total: int) -> int:
    """Send each line through the Publisher (validated, sealed, keyed by its subject) to the embedded
    `touchpoints.raw` log; returns how many events the log acknowledged."""
    published = pending = 0
    raw_log = runtime.log(RAW)
    with progress_bar("publish", total) as advance, Publisher(raw_log, close_log=True) as publisher:
        for raw in _lines(path):
            publisher.send(raw)
            pending += 1
            if pending == PUBLISH_BATCH:
                published += len(publisher.flush())
                advance(pending)
                pending = 0
        published += len(publisher.flush())
        advance(pending)
    return published


@dataclass
class TruthComparison:
    """The resolved contacts and accounts against the generator's persons and accounts."""

    contacts: int
    persons: int
    wrong_merges: int  # contacts holding the events of two or more true persons
    split_persons: int  # persons whose events are on two or more contacts (nothing linked them)
    accounts: int
    true_accounts: int
    wrong_account_merges: int

    def contacts_line(self) -> str:
        return (
            f"contacts: {self.contacts} resolved for {self.persons} true persons, "
            f"{self.wrong_merges} wrong merges"
        )

    def accounts_line(self) -> str:
        return (
            f"accounts: {self.accounts} resolved for {self.true_accounts} true accounts, "
            f"{self.wrong_account_merges} wrong merges"
        )


def compare_with_truth(store: AbstractReadStore, truth_path: Path) -> TruthComparison:
    owners: dict[str, tuple[str, str | None]] = {}
    persons = accounts = 0
    for line in _lines(truth_path):
        row = orjson.loads(line)
        kind = row.get("kind")
        if kind == "event":
            owners[row["event_id"]] = (row["person_id"], row.get("account_id"))
        persons += kind == "person"
        accounts += kind == "account"
    people_of: dict[str, set[str]] = defaultdict(set)
    companies_of: dict[str, set[str]] = defaultdict(set)
    contacts_of: dict[str, set[str]] = defaultdict(set)
    # touchpoints_current names each event's contact after merges (the survivor).
    for event_id, contact_id, account_id in store.query(
        "SELECT event_id, contact_id, account_id FROM touchpoints_current"
    ):
        person, company = owners[event_id]
        if contact_id:
            people_of[contact_id].add(person)
            contacts_of[person].add(contact_id)
        if account_id and company:
            companies_of[account_id].add(company)
    return TruthComparison(
        contacts=len(people_of),
        persons=persons,
        wrong_merges=sum(1 for people in people_of.values() if len(people) > 1),
        split_persons=sum(1 for contacts in contacts_of.values() if len(contacts) > 1),
        accounts=len(companies_of),
        true_accounts=accounts,
        wrong_account_merges=sum(1 for companies in companies_of.values() if len(companies) > 1),
    )


MERGED = """
SELECT contact_id FROM customer_360_current
WHERE erased = 0 AND merged_contacts > 0 AND first_name != ''
ORDER BY merged_contacts DESC, touches DESC, contact_id LIMIT 1
"""


def spellings(events_path: Path, store: AbstractReadStore, contact_id: str) -> list[str]:
    """The email addresses as the upstream systems wrote them, for one resolved contact."""
    ids = {
        row[0]
        for row in store.query(
            "SELECT event_id FROM touchpoints_current WHERE contact_id = %(c)s", {"c": contact_id}
        )
    }
    seen: set[str] = set()
    for line in _lines(events_path):
        event = orjson.loads(line)
        if event["event_id"] in ids:
            email = (event.get("identifiers") or {}).get("email")
            if email:
                seen.add(email)
    return sorted(seen, key=lambda e: (e.lower(), e))


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
    merged = profile["merged_contacts"]
    merges = f" · {merged} merged contact{'s' if merged > 1 else ''} folded in" if merged else ""
    console.print(f"\n[bold]360 view: {name}[/] ({profile['company'] or 'no company'}) {contact_id}{merges}")
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


TRY_EMAIL = """
SELECT email FROM customer_360_current
WHERE erased = 0 AND email != '' AND merged_contacts > 0
ORDER BY merged_contacts DESC, touches DESC, contact_id LIMIT 1
"""


def demo_runtime(data_dir: Path | None) -> Runtime:
    """The embedded runtime in the data folder the CLI reads (or `data_dir`), whatever the mode says."""
    runtime = bootstrap()
    settings = runtime.settings
    return Runtime(replace(settings, mode="embedded", data_dir=data_dir or settings.data_dir))


def next_commands(data: Path, explicit: bool, email: str | None) -> list[str]:
    """Three commands to try after the demo, on its own data."""
    prefix = f"TOUCHSTREAM_DATA_DIR={shlex.quote(str(data))} " if explicit else ""
    who = shlex.quote(email) if email else "someone@example.com"
    return [
        f"{prefix}touchstream customer show {who} --role sales",
        f"{prefix}touchstream stewards list",
        f'{prefix}touchstream sql "SELECT * FROM sales_forecast LIMIT 5"',
    ]


def run(
    *,
    customers: int,
    accounts: int,
    days: int,
    seed: int,
    workdir: Path | None,
    serve_port: int | None = None,
) -> None:
    """The demo; with `serve_port`, it ends by serving the dashboard on 127.0.0.1 until interrupted."""
    console = Console()
    runtime = demo_runtime(workdir)
    data = runtime.settings.data_dir
    data.mkdir(parents=True, exist_ok=True, mode=0o700)
    console.print(f"[bold]Touchstream demo[/] (embedded: SQLite log + chDB) in {data}")
    events_path, truth_path = data / "events.jsonl", data / "truth.jsonl"
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
    log_dir = runtime.embedded_dir
    publish_file(events_path, runtime, total)
    published: list[int] = []
    with (
        runtime.read_store() as store,
        runtime.embedded_pipeline(store) as pipeline,
    ):
        prepare_read_store(store)
        with progress_bar("resolve", pipeline.raw.lag(RESOLVE_GROUP)) as advance:
            resolved = pipeline.resolve_until_caught_up(progress=advance)
        console.print(
            f"resolved {resolved.records} raw events: {resolved.resolved} to touchpoints.resolved "
            f"(and {resolved.reattributed} anonymous callers' calls handed to their person), "
            f"{resolved.dead_lettered} dead letters to touchpoints.dlq; {resolved.merges} merges, "
            f"{resolved.cache_hits} answered from the identity cache"
        )
        with progress_bar("project", pipeline.resolved.lag(PROJECT_GROUP)) as advance:
            # customer360.changes and signals.* go to their embedded logs: the dashboard's live feed.
            to_topics = topic_publisher(runtime.log)

            def publish(batch: list[dict[str, Any]]) -> None:
                to_topics(batch)
                published.append(len(batch))

            stats = pipeline.project_until_caught_up(progress=advance, publish=publish)
        stored = store.query("SELECT count() FROM touchpoints FINAL")[0][0]
        console.print(
            f"projected {stats.records} resolved records: {stats.accepted} touchpoints, "
            f"{stats.dead_lettered} dead letters; {stored} rows queryable in chDB; "
            f"{stats.contacts_updated} contact profile updates, {stats.signals_raised} signals raised, "
            f"{sum(published)} messages for customer360.changes and signals.*"
        )
        truth = compare_with_truth(store, truth_path)
        console.print(
            f"[bold]{total} raw events became {truth.contacts} contacts and {truth.accounts} accounts[/]"
        )
        console.print(
            f"{truth.contacts_line()} ({truth.split_persons} persons on more than one contact: their "
            "addresses never appeared together)"
        )
        console.print(truth.accounts_line())
        _table(
            console,
            "Touches by department",
            ["department", "touches", "contacts"],
            store.query(TOUCHES_BY_DEPARTMENT),
        )
        for (contact_id,) in store.query(MERGED):
            show_360(console, store, contact_id)
            console.print("  one person, seen as: " + ", ".join(spellings(events_path, store, contact_id)))
        for (contact_id,) in store.query(MOST_ENGAGED, {"limit": 2}):
            show_360(console, store, contact_id)
        _query(console, store, "Sales: pipeline by status", PIPELINE_BY_STATUS)
        _query(console, store, "Sales: largest open opportunities", OPEN_PIPELINE)
        _query(console, store, "Marketing: campaign engagement", CAMPAIGNS)
        _query(console, store, "Support: tickets against SLA", SLA)
        _query(console, store, "Active signals", SIGNALS)
        someone = store.query(TRY_EMAIL)
    console.print(f"Data kept in {data} (events.jsonl, truth.jsonl, log/, master-record.sqlite, chdb/).")
    console.print("Every view is described in docs/queries.md.")
    # Plain lines, not rich: commands to copy must not be wrapped.
    print("Try next:", flush=True)
    for command in next_commands(data, workdir is not None, someone[0][0] if someone else None):
        print(f"  {command}", flush=True)
    if serve_port is not None:
        from ..api.compose import serve_embedded_dashboard

        console.print(
            "(while the dashboard serves, it holds chDB: stop it with Ctrl-C before the commands above)"
        )
        serve_embedded_dashboard(runtime.read_store, log_dir, port=serve_port, echo=print)
