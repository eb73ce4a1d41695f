"""The generator's data, the departmental views' queries, and an independent plain-Python oracle for each.

Shared by test_read_models_chdb.py (chDB against the oracle) and the integration test (the server against
chDB). The oracle reads the typed events and the generator's truth directly — never the rows the
projections write — and follows each view's documented definition (docs/queries.md) as simply as it can.
"""

from __future__ import annotations

import functools
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

import orjson

from touchstream.adapters.logs.sqlite_log import SQLiteEventLog
from touchstream.adapters.storage.migrate import prepare_read_store
from touchstream.adapters.synthetic.generator import GeneratorConfig, Truth, generate_with_truth
from touchstream.events import Event, parse_event
from touchstream.projections.config import DEFAULT_CONFIG, ProjectionConfig
from touchstream.streams.embedded import RunStats, run_until_caught_up
from touchstream.streams.ports import AbstractReadStore

CONFIG = GeneratorConfig(customers=240, accounts=36, days=120, seed=7)
EPOCH = datetime(1970, 1, 1)
ZERO = Decimal("0.00")
# Records that are not events: they must show up as dead letters of their (claimed) source.
BAD_RECORDS = [
    b'{"type": "EmailOpend", "source": "hubspot", "department": "marketing"}',
    b'{"type": "TicketOpened", "source": "zendesk", "department": "support", "payload": {}}',
]
STAGE_PROBABILITY = {
    "prospecting": Decimal("0.1"),
    "qualification": Decimal("0.25"),
    "proposal": Decimal("0.5"),
    "negotiation": Decimal("0.75"),
}
SLA = {"P1": (60, 480), "P2": (240, 1440), "P3": (1440, 7200), "P4": (2880, 14400)}


@dataclass(frozen=True)
class Dataset:
    raw: list[dict[str, Any]]
    events: list[Event]  # in generation (= per-person log) order
    truth: Truth

    def person(self, event: Event) -> str:
        return self.truth.events[str(event.event_id)][0]

    def account(self, event: Event) -> str:
        return self.truth.events[str(event.event_id)][1] or ""


@functools.cache
def dataset() -> Dataset:
    raw, truth = generate_with_truth(CONFIG)
    now = CONFIG.start + timedelta(days=CONFIG.days + 1)
    return Dataset(raw, [parse_event(orjson.dumps(e), now=now) for e in raw], truth)


def truth_resolver(data: Dataset) -> Any:
    return lambda event: data.truth.events[str(event.event_id)]


def load(store: AbstractReadStore, log_path: Path, data: Dataset | None = None) -> RunStats:
    """Publish the dataset keyed by person (per-person order) plus the bad records; project it all."""
    data = data or dataset()
    prepare_read_store(store)
    with SQLiteEventLog(log_path, partitions=3) as log:
        owners = data.truth.events
        log.append([(owners[e["event_id"]][0].encode(), orjson.dumps(e)) for e in data.raw])
        log.append([(b"bad", raw) for raw in BAD_RECORDS])
        return run_until_caught_up(log, store, resolve=truth_resolver(data), batch_size=2_000)


# --- the queries under test: every view, in a fixed order ------------------------------------------------

QUERIES: dict[str, str] = {
    "sales_pipeline": "SELECT * FROM sales_pipeline ORDER BY opportunity_id",
    "sales_stage_transitions": "SELECT * FROM sales_stage_transitions ORDER BY period, from_stage, to_stage",
    "sales_funnel": "SELECT * FROM sales_funnel ORDER BY period, lead_source",
    "sales_forecast": "SELECT * FROM sales_forecast ORDER BY quarter, owner, currency",
    "campaign_engagement": "SELECT * FROM campaign_engagement ORDER BY campaign_id",
    "campaign_attribution": "SELECT * FROM campaign_attribution ORDER BY campaign_id, currency",
    "support_tickets": "SELECT * FROM support_tickets ORDER BY ticket_id",
    "support_sla_summary": "SELECT * FROM support_sla_summary ORDER BY priority",
    "csat_by_period": "SELECT * FROM csat_by_period ORDER BY period, product, account_id",
    "nps_by_period": "SELECT * FROM nps_by_period ORDER BY period, account_id",
    "complaint_themes": "SELECT * FROM complaint_themes ORDER BY period, category, theme",
    "data_quality": "SELECT * FROM data_quality ORDER BY source, department",
    "customer_360_current": "SELECT * FROM customer_360_current ORDER BY contact_id",
    "account_360": "SELECT * FROM account_360 ORDER BY account_id",
    "timeline": "SELECT * FROM timeline ORDER BY contact_id, occurred_at, event_id",
    "active_signals": "SELECT * FROM active_signals ORDER BY contact_id, signal_id",
    "touchpoints_current": "SELECT * FROM touchpoints_current ORDER BY event_id",
    "sales_forecast_monthly": "SELECT * FROM sales_forecast_monthly ORDER BY close_month, stage, owner",
    "crm_deal_activity": "SELECT * FROM crm_deal_activity ORDER BY opportunity_id",
    "crm_adoption": "SELECT * FROM crm_adoption ORDER BY owner",
    "service_holds": "SELECT * FROM service_holds ORDER BY contact_id, cause, cause_id",
    "account_service_holds": "SELECT * FROM account_service_holds ORDER BY account_id",
    "upsell_holds": "SELECT * FROM upsell_holds ORDER BY opportunity_id",
    "accounts": "SELECT * FROM accounts ORDER BY account_id",
    "contact_identifiers": (
        "SELECT * FROM contact_identifiers "
        "ORDER BY contact_id, original_contact_id, kind, email, phone, external_id"
    ),
    "caller_leads": "SELECT * FROM caller_leads ORDER BY signal_id",
    "attribute_provenance": (
        "SELECT * FROM attribute_provenance ORDER BY contact_id, attribute, original_contact_id"
    ),
    "account_holds_lifted": "SELECT * FROM account_holds_lifted ORDER BY account_id",
}


def as_dicts(store: AbstractReadStore, name: str) -> list[dict[str, Any]]:
    columns, rows = store.query_with_columns(QUERIES[name])
    names = [c for c, _ in columns]
    return [dict(zip(names, row, strict=True)) for row in rows]


# --- the oracle -------------------------------------------------------------------------------------------


def naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def month(moment: datetime) -> date:
    return date(moment.year, moment.month, 1)


def quarter(day: date) -> date:
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def field(event: Event, name: str) -> Any:
    return event.payload.__dict__.get(name)


def in_time(data: Dataset) -> list[Event]:
    """The events by (event time, event id): the order the views take the latest value in."""
    return sorted(data.events, key=lambda e: (e.occurred_at, str(e.event_id)))


def opportunities(data: Dataset, today: date) -> dict[str, dict[str, Any]]:
    opps: dict[str, dict[str, Any]] = {}
    for e in in_time(data):
        opp_id = field(e, "opportunity_id")
        if not opp_id:
            continue
        at = naive(e.occurred_at)
        o = opps.setdefault(
            opp_id,
            {"status": "open", "stage": "", "amount": ZERO, "currency": "", "owner": "", "activities": 0},
        )
        if e.type == "OpportunityCreated":
            o.update(
                contact_id=data.person(e),
                account_id=data.account(e),
                name=field(e, "name"),
                expected_close=field(e, "expected_close") or date(1970, 1, 1),
                created_at=at,
                source=e.source,
                department=e.department.value,
            )
        if e.type in ("OpportunityCreated", "OpportunityStageChanged"):
            o["stage"] = str(field(e, "to_stage") or field(e, "stage"))
            o["stage_entered_at"] = at
        money = field(e, "amount")
        if money is not None and e.type != "QuoteSent":
            o["amount"], o["currency"] = money.amount, money.currency
        if field(e, "owner"):
            o["owner"] = field(e, "owner")
        if e.type in ("OpportunityWon", "OpportunityLost"):
            o["status"] = "won" if e.type == "OpportunityWon" else "lost"
            o["closed_at"] = at
        if e.type in ("MeetingHeld", "QuoteSent", "OpportunityStageChanged"):
            o["activities"] += 1
        o["stage_changes"] = o.get("stage_changes", 0) + (e.type == "OpportunityStageChanged")
        o["any_activity"] = o.get("any_activity", 0) + (
            e.type in ("MeetingHeld", "QuoteSent", "OpportunityStageChanged", "CallLogged")
        )
    for o in opps.values():
        o.setdefault("closed_at", EPOCH)
        end = today if o["status"] == "open" else o["closed_at"].date()
        o["days_in_stage"] = (end - o["stage_entered_at"].date()).days
    return opps


def oracle_pipeline(data: Dataset, today: date) -> list[tuple[Any, ...]]:
    return sorted(
        (
            opp_id,
            o["contact_id"],
            o["account_id"],
            o["name"],
            o["status"],
            o["stage"],
            o["amount"],
            o["currency"],
            o["owner"],
            o["expected_close"],
            o["created_at"],
            o["stage_entered_at"],
            o["closed_at"],
            o["days_in_stage"],
            o["activities"],
        )
        for opp_id, o in opportunities(data, today).items()
    )


def oracle_transitions(data: Dataset) -> list[tuple[Any, ...]]:
    counts = Counter(
        (month(e.occurred_at), str(field(e, "from_stage")), str(field(e, "to_stage")))
        for e in data.events
        if e.type == "OpportunityStageChanged"
    )
    return sorted((*key, n) for key, n in counts.items())


def oracle_funnel(data: Dataset) -> list[tuple[Any, ...]]:
    leads: dict[str, dict[str, Any]] = {}
    last_opp: dict[str, datetime] = {}
    last_won: dict[str, datetime] = {}
    for e in data.events:
        at = naive(e.occurred_at)
        if e.type == "LeadCreated":
            leads[field(e, "lead_id")] = {
                "contact": data.person(e),
                "source": str(field(e, "lead_source")),
                "at": at,
                "q": 0,
                "dq": 0,
            }
        elif e.type == "OpportunityCreated":
            last_opp[data.person(e)] = max(at, last_opp.get(data.person(e), EPOCH))
        elif e.type == "OpportunityWon":
            last_won[data.person(e)] = max(at, last_won.get(data.person(e), EPOCH))
    for e in data.events:
        if e.type in ("LeadQualified", "LeadDisqualified") and field(e, "lead_id") in leads:
            leads[field(e, "lead_id")]["q" if e.type == "LeadQualified" else "dq"] = 1
    groups: dict[tuple[date, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    for lead in leads.values():
        g = groups[(month(lead["at"]), lead["source"])]
        g[0] += 1
        g[1] += lead["q"]
        g[2] += lead["dq"]
        g[3] += last_opp.get(lead["contact"], EPOCH) >= lead["at"]
        g[4] += last_won.get(lead["contact"], EPOCH) >= lead["at"]
    return sorted((*key, *g, g[1] / g[0], g[3] / g[0], g[4] / g[0]) for key, g in groups.items())


def oracle_forecast(data: Dataset, today: date) -> list[tuple[Any, ...]]:
    groups: dict[tuple[date, str, str], list[Any]] = defaultdict(lambda: [0, ZERO, ZERO])
    for o in opportunities(data, today).values():
        if o["status"] != "open":
            continue
        g = groups[(quarter(o["expected_close"]), o["owner"], o["currency"])]
        g[0] += 1
        g[1] += o["amount"]
        g[2] += o["amount"] * STAGE_PROBABILITY.get(o["stage"], Decimal(0))
    return sorted((*key, *g) for key, g in groups.items())


def rate_on(currency: str, day: date, config: ProjectionConfig = DEFAULT_CONFIG) -> Decimal | None:
    """The configured rate in force on `day`: the newest one valid from that day or before."""
    valid = [rate for since, rate in config.fx_rates.get(currency, ()) if since <= day]
    return valid[-1] if valid else None


def oracle_forecast_monthly(
    data: Dataset, today: date, config: ProjectionConfig = DEFAULT_CONFIG
) -> list[tuple[Any, ...]]:
    groups: dict[tuple[date, str, str], list[Any]] = defaultdict(lambda: [0, 0, ZERO, ZERO])
    for o in opportunities(data, today).values():
        if o["status"] != "open":
            continue
        rate = rate_on(o["currency"], o["expected_close"], config)
        # ClickHouse truncates to the target scale when it narrows a Decimal.
        converted = (o["amount"] * (rate or 0)).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
        g = groups[(month(o["expected_close"]), o["stage"], o["owner"])]
        g[0] += 1
        g[1] += rate is None
        g[2] += converted
        g[3] += converted * STAGE_PROBABILITY.get(o["stage"], Decimal(0))
    return sorted((m, stage, owner, config.reporting_currency, *g) for (m, stage, owner), g in groups.items())


def oracle_deal_activity(
    data: Dataset, today: date, config: ProjectionConfig = DEFAULT_CONFIG
) -> list[tuple[Any, ...]]:
    as_of = max(naive(e.occurred_at) for e in data.events)
    logged: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    for e in data.events:
        if e.type in ("CallLogged", "MeetingHeld"):
            logged[data.person(e)].append((naive(e.occurred_at), e.type))
    rows = []
    for opp_id, o in opportunities(data, today).items():
        if o["status"] != "open":
            continue
        mine = [(at, kind) for at, kind in logged[o["contact_id"]] if at >= o["created_at"]]
        calls = sum(1 for _, kind in mine if kind == "CallLogged")
        last = max((at for at, _ in mine), default=EPOCH)
        since = (as_of.date() - max(last, o["created_at"]).date()).days
        quiet_days = config.late_stage_quiet_days.get(o["stage"], 0)
        rows.append(
            (
                opp_id,
                o["owner"],
                o["contact_id"],
                o["account_id"],
                o["stage"],
                o["created_at"],
                calls,
                len(mine) - calls,
                len(mine),
                last,
                since,
                int(quiet_days > 0),
                quiet_days,
                int(quiet_days > 0 and since >= quiet_days),
                as_of,
            )
        )
    return sorted(rows)


def oracle_adoption(
    data: Dataset, today: date, config: ProjectionConfig = DEFAULT_CONFIG
) -> list[tuple[Any, ...]]:
    by_owner: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for row in oracle_deal_activity(data, today, config):
        by_owner[row[1]].append(row)
    out = []
    for owner, deals in by_owner.items():
        activities = sum(d[8] for d in deals)
        last = max(d[9] for d in deals)
        out.append(
            (
                owner,
                len(deals),
                sum(d[11] for d in deals),
                sum(d[13] for d in deals),
                sorted(d[0] for d in deals if d[13]),
                activities,
                activities / len(deals),
                last,
                (deals[0][14].date() - last.date()).days,
                max(d[10] for d in deals),
            )
        )
    return sorted(out)


PASSIVE = ("CampaignEmailSent", "Unsubscribed")


def oracle_campaigns(data: Dataset) -> list[tuple[Any, ...]]:
    last_conversion: dict[str, datetime] = {}
    for e in data.events:
        if e.type in ("LeadCreated", "OrderPlaced"):
            person = data.person(e)
            last_conversion[person] = max(naive(e.occurred_at), last_conversion.get(person, EPOCH))
    per: dict[tuple[str, str], dict[str, Any]] = {}
    for e in data.events:
        campaign = field(e, "campaign_id")
        if not campaign:
            continue
        c = per.setdefault((campaign, data.person(e)), Counter())
        c[e.type] += 1
        if e.type not in PASSIVE:
            c["engaged"] = 1
            first = c.get("first")
            c["first"] = min(first, naive(e.occurred_at)) if first else naive(e.occurred_at)
    rows: dict[str, list[int]] = defaultdict(lambda: [0] * 8)
    basic = ("CampaignEmailSent", "EmailOpened", "EmailClicked", "Unsubscribed")
    for (campaign, person), c in per.items():
        r = rows[campaign]
        r[0] += c["CampaignEmailSent"]
        r[1] += c["EmailOpened"]
        r[2] += c["EmailClicked"]
        r[3] += sum(n for t, n in c.items() if t not in (*basic, "engaged", "first"))
        r[4] += c["Unsubscribed"]
        r[5] += 1
        r[6] += c["engaged"]
        r[7] += bool(c["engaged"]) and last_conversion.get(person, EPOCH) > c["first"]
    return sorted((campaign, *r) for campaign, r in rows.items())


def oracle_attribution(data: Dataset) -> list[tuple[Any, ...]]:
    touches: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    for e in data.events:
        if field(e, "campaign_id") and e.type not in PASSIVE:
            touches[data.person(e)].append((naive(e.occurred_at), field(e, "campaign_id")))
    rows: dict[tuple[str, str], list[Any]] = defaultdict(lambda: [set(), ZERO, ZERO, ZERO])
    for e in data.events:
        if e.type != "OpportunityWon":
            continue
        won_at, money = naive(e.occurred_at), field(e, "amount")
        before = sorted(t for t in touches[data.person(e)] if t[0] <= won_at)
        if not before:
            continue
        per_campaign = Counter(c for _, c in before)
        for campaign, k in per_campaign.items():
            r = rows[(campaign, money.currency)]
            r[0].add(field(e, "opportunity_id"))
            r[1] += money.amount if campaign == before[0][1] else ZERO
            r[2] += money.amount if campaign == before[-1][1] else ZERO
            # ClickHouse keeps the Decimal's scale through * and /, truncating.
            r[3] += (money.amount * k / len(before)).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
    return sorted((c, cur, len(r[0]), r[1], r[2], r[3]) for (c, cur), r in rows.items())


TICKET_TYPES = ("TicketOpened", "TicketUpdated", "TicketResolved", "TicketReopened")


def tickets(data: Dataset) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for e in in_time(data):
        if e.type not in TICKET_TYPES:
            continue
        at = naive(e.occurred_at)
        t = out.setdefault(
            field(e, "ticket_id"), {"first_response_at": EPOCH, "resolved_at": EPOCH, "reopens": 0}
        )
        if e.type == "TicketOpened":
            t.update(
                contact_id=data.person(e),
                account_id=data.account(e),
                product=field(e, "product") or "",
                channel=str(field(e, "channel")),
                opened_at=at,
            )
            t["status"] = "new"
        if field(e, "priority"):
            t["priority"] = str(field(e, "priority"))
        if e.type == "TicketUpdated":
            t["status"] = str(field(e, "status"))
            if field(e, "public_reply") and t["first_response_at"] == EPOCH:
                t["first_response_at"] = at
        if e.type == "TicketResolved":
            t["status"] = "solved"
        if e.type == "TicketReopened":
            t["status"] = "open"
            t["reopens"] += 1
        if t["status"] == "solved":
            t["resolved_at"] = at
    for t in out.values():
        responded = t["first_response_at"] > EPOCH
        t["first_response_minutes"] = (
            int((t["first_response_at"] - t["opened_at"]).total_seconds()) // 60 if responded else None
        )
        solved = t["status"] == "solved"
        t["resolution_minutes"] = (
            int((t["resolved_at"] - t["opened_at"]).total_seconds()) // 60 if solved else None
        )
        target_response, target_resolution = SLA[t["priority"]]
        t["sla"] = (target_response, target_resolution)
        t["first_response_breached"] = int(responded and t["first_response_minutes"] > target_response)
        t["resolution_breached"] = int(solved and t["resolution_minutes"] > target_resolution)
    return out


def oracle_tickets(data: Dataset) -> list[tuple[Any, ...]]:
    return sorted(
        (
            ticket_id,
            t["contact_id"],
            t["account_id"],
            t["product"],
            t["channel"],
            t["priority"],
            t["status"],
            t["opened_at"],
            t["first_response_at"],
            t["resolved_at"],
            t["reopens"],
            t["first_response_minutes"],
            t["resolution_minutes"],
            *t["sla"],
            t["first_response_breached"],
            t["resolution_breached"],
        )
        for ticket_id, t in tickets(data).items()
    )


def oracle_sla_summary(data: Dataset) -> list[tuple[Any, ...]]:
    rows: dict[str, list[int]] = defaultdict(lambda: [0] * 7)
    for t in tickets(data).values():
        r = rows[t["priority"]]
        r[0] += 1
        r[1] += t["status"] != "solved"
        r[2] += t["first_response_minutes"] is not None
        r[3] += t["first_response_breached"]
        r[4] += t["status"] == "solved"
        r[5] += t["resolution_breached"]
        r[6] += t["reopens"]
    return sorted((p, *r) for p, r in rows.items())


def oracle_csat(data: Dataset) -> list[tuple[Any, ...]]:
    product = {
        field(e, "ticket_id"): field(e, "product") or "" for e in data.events if e.type == "TicketOpened"
    }
    groups: dict[tuple[date, str, str], list[int]] = defaultdict(list)
    for e in data.events:
        if e.type == "CsatSubmitted":
            key = (month(e.occurred_at), product.get(field(e, "ticket_id"), ""), data.account(e))
            groups[key].append(field(e, "score"))
    return sorted((*k, len(s), sum(s) / len(s), sum(1 for x in s if x >= 4)) for k, s in groups.items())


def oracle_nps(data: Dataset) -> list[tuple[Any, ...]]:
    groups: dict[tuple[date, str], list[int]] = defaultdict(list)
    for e in data.events:
        if e.type == "NpsSubmitted":
            groups[(month(e.occurred_at), data.account(e))].append(field(e, "score"))
    rows = []
    for key, scores in groups.items():
        promoters = sum(1 for s in scores if s >= 9)
        passives = sum(1 for s in scores if 7 <= s <= 8)
        detractors = sum(1 for s in scores if s <= 6)
        rows.append(
            (*key, len(scores), promoters, passives, detractors, (promoters - detractors) * 100 / len(scores))
        )
    return sorted(rows)


def oracle_complaints(data: Dataset) -> list[tuple[Any, ...]]:
    groups: dict[tuple[date, str, str], list[Event]] = defaultdict(list)
    for e in data.events:
        if e.type == "ComplaintLogged":
            groups[(month(e.occurred_at), str(field(e, "category")), field(e, "theme"))].append(e)
    return sorted(
        (
            *k,
            len(es),
            sum(1 for e in es if str(field(e, "severity")) == "high"),
            len({data.person(e) for e in es}),
        )
        for k, es in groups.items()
    )


def oracle_data_quality(data: Dataset, today: date) -> list[tuple[Any, ...]]:
    rows: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * 6)
    for e in data.events:
        r = rows[(e.source, e.department.value)]
        r[0] += 1
        r[2] += e.identifiers.strongest().split(":")[0] in ("phone", "domain", "account")
    for raw in BAD_RECORDS:
        claimed = orjson.loads(raw)
        rows[(claimed["source"], claimed["department"])][1] += 1
    first: dict[str, Event] = {}
    details: dict[str, set[str]] = defaultdict(set)
    erased: set[str] = set()
    for e in data.events:
        person = data.person(e)
        if person not in first or e.occurred_at < first[person].occurred_at:
            first[person] = e
        if e.identifiers.email:
            details[person].add("email")
        observed = field(e, "observed") if e.type == "InboundEmailReceived" else e.payload
        if e.type in (
            "FormSubmitted",
            "EventBadgeScanned",
            "LeadCreated",
            "ContactDetailsObserved",
            "InboundEmailReceived",
        ):
            details[person] |= {n for n in ("first_name", "last_name", "email") if getattr(observed, n, None)}
        if e.type == "ErasureRequested":
            erased.add(person)
    for person, e in first.items():
        if person not in erased and not {"email", "first_name", "last_name"} <= details[person]:
            rows[(e.source, e.department.value)][3] += 1
    for o in opportunities(data, today).values():
        r = rows[(o["source"], o["department"])]
        r[4] += o["status"] == "open" and o["any_activity"] == 0
        r[5] += o["stage_changes"] == 0
    return sorted((*k, *r) for k, r in rows.items())


def oracle_360(data: Dataset) -> dict[str, dict[str, Any]]:
    """A few plainly countable columns of each contact's 360 row."""
    out: dict[str, dict[str, Any]] = {}
    ticket_state: dict[str, dict[str, list[Any]]] = defaultdict(dict)  # person -> ticket -> [open, priority]
    # person -> deal -> (event time, amount) of its latest amount; person -> deals won or lost (final)
    deals: dict[str, dict[str, tuple[datetime, Decimal]]] = defaultdict(dict)
    closed_deals: dict[str, set[str]] = defaultdict(set)
    for e in data.events:
        person = data.person(e)
        at = naive(e.occurred_at)
        c = out.setdefault(
            person,
            {
                "touches": 0,
                "first_seen": at,
                "last_seen": at,
                "lifetime_revenue": ZERO,
                "won_deals": 0,
                "subs": set(),
            },
        )
        c["touches"] += 1
        c["first_seen"], c["last_seen"] = min(c["first_seen"], at), max(c["last_seen"], at)
        if e.type == "OrderPlaced":
            c["lifetime_revenue"] += field(e, "total").amount
        if e.type == "SubscriptionRenewed":  # the first period is paid through the order
            c["lifetime_revenue"] += field(e, "amount").amount
        if e.type == "OpportunityWon":
            c["won_deals"] += 1
        if e.type in ("SubscriptionStarted", "SubscriptionRenewed"):
            c["subs"].add(field(e, "subscription_id"))
        if e.type == "SubscriptionCancelled":
            c["subs"].discard(field(e, "subscription_id"))
        if e.type == "CsatSubmitted":
            c["last_csat"] = field(e, "score")
        if e.type == "NpsSubmitted":
            c["last_nps"] = field(e, "score")
        if e.type in ("OpportunityCreated", "OpportunityStageChanged"):
            known = deals[person].setdefault(field(e, "opportunity_id"), (datetime.min, ZERO))
            if field(e, "amount") is not None and at >= known[0]:
                deals[person][field(e, "opportunity_id")] = (at, field(e, "amount").amount)
        if e.type in ("OpportunityWon", "OpportunityLost"):
            closed_deals[person].add(field(e, "opportunity_id"))
        if e.type in TICKET_TYPES:
            t = ticket_state[person].setdefault(field(e, "ticket_id"), [True, ""])
            if field(e, "priority"):
                t[1] = str(field(e, "priority"))
            if e.type == "TicketResolved" or (
                e.type == "TicketUpdated" and str(field(e, "status")) == "solved"
            ):
                t[0] = False
            if e.type in ("TicketOpened", "TicketReopened"):
                t[0] = True
    for person, c in out.items():
        still_open = [priority for is_open, priority in ticket_state[person].values() if is_open]
        c["open_tickets"] = len(still_open)
        c["worst_open_priority"] = min(still_open, default="")
        closed = closed_deals[person]
        open_deals = [amount for deal, (_, amount) in deals[person].items() if deal not in closed]
        c["open_opportunities"] = len(open_deals)
        c["open_pipeline"] = sum(open_deals, ZERO)
        c["active_subscriptions"] = len(c.pop("subs"))
        c.setdefault("last_csat", None)
        c.setdefault("last_nps", None)
    return out
