"""The customer_360 row and the `customer360.changes` message, both built from a contact's fold state.

`customer_360` is a ReplacingMergeTree keyed by contact id whose version is the offset of the last event
applied, so the newest state wins however often a batch is retried. Instants of "never" are the epoch.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson

from .migrations import VIEW_PROFILE_COLUMNS
from .state import ContactState

CUSTOMER_360_TABLE = "customer_360"
NEVER = datetime(1970, 1, 1)
TOPIC_CHANGES = "customer360.changes"
_PRIORITY_ORDER = ("P1", "P2", "P3", "P4")

CUSTOMER_360_COLUMNS = (
    "contact_id",
    "account_id",
    "version",
    "updated_at",
    "first_seen",
    "last_seen",
    "touches",
    "first_name",
    "last_name",
    "email",
    "phone",
    "company",
    "job_title",
    "attribute_sources",
    "lifecycle_stage",
    "marketing_consent",
    "sales_consent",
    "first_source",
    "first_department",
    "department_touches",
    "last_marketing_at",
    "last_sales_at",
    "last_support_at",
    "last_sales_contact_at",
    "warm_touches",
    "warm_context",
    "open_opportunities",
    "open_pipeline",
    "pipeline_currency",
    "open_tickets",
    "worst_open_priority",
    "reopens",
    "last_csat",
    "last_csat_at",
    "last_nps",
    "last_nps_at",
    "lifetime_revenue",
    "revenue_currency",
    "won_deals",
    "active_subscriptions",
    "next_renewal",
    "lead_score",
    "health_score",
    "active_signals",
    "erased",
    "ticket_status",
    "ticket_priority",
    "opportunity_entries",
    "profile",
)

#: What a contact's own row shows in its 360 document, in the order the API's one-row read (`ONE_ROW_360`)
#: selects them, as JSON in the row's `profile` column (migration 19): the document reads that one column
#: instead of these ~40 (each costs a file and a block to read; on chDB also planning). They are the 360
#: view's per-contact columns and the contact's department touches.
PROFILE_FIELDS = (*VIEW_PROFILE_COLUMNS, "department_touches")
_CENTS = Decimal("0.01")  # the scale of the row's Decimal(18, 2) columns

#: Joins the parts of a ticket or deal entry below (the unit separator: not in ticket or deal ids).
ENTRY_PART_SEPARATOR = "\x1f"


def at(seconds: int) -> datetime:
    """Unix seconds as the naive-UTC datetime both engines store (0 is "never"). Added to the epoch: half
    the time of `fromtimestamp(..., UTC).replace(tzinfo=None)`, and a profile row takes a dozen."""
    return NEVER + timedelta(seconds=seconds) if seconds else NEVER


def jsonable(value: Any) -> Any:
    """A read-store value as JSON: instants as ISO 8601 UTC ("Z"; "never" is null), decimals as exact
    strings, dates as ISO dates, NaN as null."""
    if isinstance(value, datetime):
        return None if value == NEVER else value.isoformat() + "Z"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, float) and value != value:  # NaN
        return None
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def worst_open_priority(s: ContactState) -> str:
    open_priorities = {t[0] for t in s.tickets.values() if t[1]}
    return next((p for p in _PRIORITY_ORDER if p in open_priorities), "")


def ticket_entries(s: ContactState) -> tuple[list[str], list[str]]:
    """Each ticket's status and priority, with the (event time, event id) that set them, as strings that
    sort by that key within a ticket: a merge group's 360 row takes each ticket's latest across the group
    (migration 18), so a ticket opened under one contact and resolved under another is not open."""
    sep = ENTRY_PART_SEPARATOR
    status, priority = [], []
    for ticket_id, t in sorted(s.tickets.items()):
        status.append(f"{ticket_id}{sep}{t[5]:010d}{sep}{t[6]}{sep}{t[1]}")
        if t[2]:  # a priority was set by an event
            priority.append(f"{ticket_id}{sep}{t[7]:010d}{sep}{t[2]}{sep}{t[0]}")
    return status, priority


#: Sorts above every open entry of the same opportunity (digits): closed anywhere in a group is closed.
_CLOSED = "~closed"


def opportunity_entries(s: ContactState) -> list[str]:
    """Each open opportunity's amount with the event time that set it, and each closed (won or lost) one:
    a merge group's 360 row (migration 18) counts an opportunity open when no record of the group closed
    it, at its latest amount, so a deal opened under one contact and won under another is not open."""
    sep = ENTRY_PART_SEPARATOR
    entries = [f"{oid}{sep}{o[4]:010d}{sep}{Decimal(o[1]):f}" for oid, o in sorted(s.opportunities.items())]
    entries.extend(f"{oid}{sep}{_CLOSED}" for oid in sorted(s.closed_opportunities))
    return entries


def _last_at(s: ContactState, *departments: str) -> datetime:
    return at(max((s.departments[d][1] for d in departments if d in s.departments), default=0))


def _consents(s: ContactState, purpose: str) -> int:
    given = s.consent.get(purpose)
    return 1 if given is None or given[0] else 0


def _attribute(s: ContactState, name: str) -> str:
    value = s.attributes.get(name)
    return value[0] if value else ""


def _attribute_sources(s: ContactState) -> str:
    """Where and when each attribute was last observed (docs/queries.md: attribute_provenance)."""
    return _json({name: {"source": v[1], "at": at(v[2]).isoformat()} for name, v in s.attributes.items()})


def profile_row(s: ContactState, version: int) -> tuple[Any, ...]:
    """The contact's `customer_360` row (CUSTOMER_360_COLUMNS), its `profile` last."""
    values = _row_values(s, version)
    return (*values, profile_json(values))


_PROFILE_AT = tuple(CUSTOMER_360_COLUMNS.index(name) for name in PROFILE_FIELDS)


def profile_json(values: tuple[Any, ...]) -> str:
    """The row's `profile`: PROFILE_FIELDS of its other values as the read store gives them back, as JSON
    (`jsonable`: what the API's one-row read answers; tests/unit/test_profile_document_ranges.py)."""
    fields = {
        name: jsonable(_read_back(values[i])) for name, i in zip(PROFILE_FIELDS, _PROFILE_AT, strict=True)
    }
    return orjson.dumps(fields).decode()


def _read_back(value: Any) -> Any:
    """A Decimal(18, 2) as both engines give it back: its cents over 100, so no trailing zero (124.5, 0)."""
    return Decimal(int(value * 100)) / 100 if isinstance(value, Decimal) else value


def _row_values(s: ContactState, version: int) -> tuple[Any, ...]:
    pipeline = sum((Decimal(o[1]) for o in s.opportunities.values()), Decimal("0.00")).quantize(_CENTS)
    revenue = sum((Decimal(v) for v in s.revenue.values()), Decimal("0.00")).quantize(_CENTS)
    open_tickets = sum(1 for t in s.tickets.values() if t[1])
    warm = [
        {"event_id": e, "type": t, "at": at(w).isoformat(), "campaign_id": c} for e, t, w, c in s.warm_recent
    ]
    return (
        s.contact_id,
        s.account_id or "",
        version,
        at(s.last_seen),
        at(s.first_seen),
        at(s.last_seen),
        s.touches,
        _attribute(s, "first_name"),
        _attribute(s, "last_name"),
        _attribute(s, "email"),
        _attribute(s, "phone"),
        _attribute(s, "company"),
        _attribute(s, "job_title"),
        _attribute_sources(s),
        s.lifecycle,
        _consents(s, "marketing_email"),
        _consents(s, "sales_contact"),
        s.first_source,
        s.first_department,
        _json({d: [at(f).isoformat(), at(la).isoformat(), n] for d, (f, la, n) in s.departments.items()}),
        _last_at(s, "marketing"),
        _last_at(s, "sales"),
        _last_at(s, "support", "contact_center"),
        at(s.last_sales_contact_at),
        s.warm_count,
        _json(warm),
        len(s.opportunities),
        pipeline,
        ",".join(sorted({o[2] for o in s.opportunities.values() if o[2]})),
        open_tickets,
        worst_open_priority(s),
        s.reopens,
        s.last_csat[0] if s.last_csat else None,
        at(s.last_csat[1]) if s.last_csat else NEVER,
        s.last_nps[0] if s.last_nps else None,
        at(s.last_nps[1]) if s.last_nps else NEVER,
        revenue,
        ",".join(sorted(s.revenue)),
        s.won_deals,
        len(s.subscriptions),
        at(min(s.subscriptions.values(), default=0)),
        s.lead_score,
        s.health,
        sorted(s.signals),
        1 if s.erased else 0,
        *ticket_entries(s),
        opportunity_entries(s),
    )


def change_message(s: ContactState, version: int) -> dict[str, Any]:
    """The latest summary of a contact for `customer360.changes` (compacted: one value per contact)."""
    value = {
        "contact_id": s.contact_id,
        "account_id": s.account_id,
        "version": version,
        "lifecycle_stage": s.lifecycle,
        "touches": s.touches,
        "last_seen": at(s.last_seen).isoformat() + "Z",
        "open_tickets": sum(1 for t in s.tickets.values() if t[1]),
        "worst_open_priority": worst_open_priority(s),
        "open_opportunities": len(s.opportunities),
        "warm_touches": s.warm_count,
        "lead_score": s.lead_score,
        "health_score": s.health,
        "last_csat": s.last_csat[0] if s.last_csat else None,
        "last_nps": s.last_nps[0] if s.last_nps else None,
        "active_signals": sorted(s.signals),
        "erased": s.erased,
    }
    return {"topic": TOPIC_CHANGES, "key": s.contact_id, "value": value}
