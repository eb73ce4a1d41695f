"""The touchpoints fact table: one wide row per resolved event, idempotent under replay.

Typed columns are promoted from the payload here, at write time, so the departmental SQL never parses JSON
(18.16 has no JSONExtract). Rows are keyed by event id with the log offset as the ReplacingMergeTree
version, so a retry or a replay leaves one row per event when read with FINAL. The DDL is migration 1 in
`migrations.py`; `TOUCHPOINT_COLUMNS` is the insert order.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from ..events import Event, Money, ResolvedTouchpoint
from .summary import summarize

TOUCHPOINTS_TABLE = "touchpoints"
#: Added to the `log_offset` (the row version) of a re-attributed fact (an anonymous caller's call handed to
#: the person its contact merged into, `ResolvedTouchpoint.reattributed`): it replaces the first attribution
#: whatever the two partitions' offsets, and no log reaches this many records.
REATTRIBUTED_OFFSET = 1 << 48

TOUCHPOINT_COLUMNS = (
    "event_id",
    "type",
    "schema_version",
    "occurred_at",
    "recorded_at",
    "source",
    "department",
    "actor",
    "contact_id",
    "account_id",
    "identifier",
    "identifier_kind",
    "email",
    "phone",
    "account_domain",
    "campaign_id",
    "lead_id",
    "opportunity_id",
    "ticket_id",
    "subscription_id",
    "order_id",
    "title",
    "stage",
    "from_stage",
    "amount",
    "currency",
    "owner",
    "expected_close",
    "lead_source",
    "priority",
    "status",
    "public_reply",
    "product",
    "score",
    "intent",
    "caller_role",
    "disposition",
    "channel",
    "category",
    "severity",
    "theme",
    "purpose",
    "renews_on",
    "summary",
    "payload",
    "log_partition",
    "log_offset",
)

# A ticket's state after each ticket event: what `status` holds for them.
_TICKET_STATUS = {"TicketOpened": "new", "TicketResolved": "solved", "TicketReopened": "open"}
_TITLE_FIELDS = ("name", "subject", "title")


def naive_utc(moment: datetime) -> datetime:
    """ClickHouse DateTime columns hold UTC here; both clients take naive datetimes as that."""
    return moment.replace(tzinfo=None)


# Payload fields are read from the model's __dict__: a missing name there is a dict miss, while getattr on
# a pydantic model goes through its slow __getattr__ (it was a third of the row's cost).
Fields = dict[str, Any]


def _text(p: Fields, name: str) -> str:
    value = p.get(name)
    return "" if value is None else str(value)


def _money(p: Fields) -> Money | None:
    for name in ("amount", "total"):
        value = p.get(name)
        if isinstance(value, Money):
            return value
    return None


def _title(p: Fields) -> str:
    for name in _TITLE_FIELDS:
        if (value := p.get(name)) is not None:
            return str(value)
    return ""


def _date(p: Fields, name: str) -> date | None:
    value = p.get(name)
    return value if isinstance(value, date) else None


def _stage(event: Event, p: Fields) -> tuple[str, str]:
    if event.type == "OpportunityStageChanged":
        return _text(p, "to_stage"), _text(p, "from_stage")
    return _text(p, "stage"), ""


def _status(event: Event, p: Fields) -> str:
    if event.type == "TicketUpdated":
        return _text(p, "status")
    return _TICKET_STATUS.get(event.type, "")


def identifier_kind(strongest: str) -> str:
    """`email`, `ext`, `phone`, `domain` or `account`: how firmly the event names a person."""
    return strongest.split(":", 1)[0]


def touchpoint_row(resolved: ResolvedTouchpoint, partition: int, offset: int) -> tuple[Any, ...]:
    """The row for `TOUCHPOINT_COLUMNS`; (partition, offset) is the position in the log it was read from."""
    event = resolved.event
    p: Fields = event.payload.__dict__
    ids = event.identifiers
    strongest = ids.strongest()
    money = _money(p)
    stage, from_stage = _stage(event, p)
    score = p.get("score")
    return (
        str(event.event_id),
        event.type,
        event.schema_version,
        naive_utc(event.occurred_at),
        naive_utc(event.recorded_at),
        event.source,
        event.department.value,
        event.actor or "",
        resolved.contact_id or "",  # "": about an organization, no person in it
        resolved.account_id or "",
        strongest,
        identifier_kind(strongest),
        ids.email or "",
        ids.phone or "",
        ids.account_domain or "",
        _text(p, "campaign_id"),
        _text(p, "lead_id"),
        _text(p, "opportunity_id"),
        _text(p, "ticket_id"),
        _text(p, "subscription_id"),
        _text(p, "order_id"),
        _title(p),
        stage,
        from_stage,
        money.amount if money is not None else Decimal("0.00"),
        money.currency if money is not None else "",
        _text(p, "owner"),
        _date(p, "expected_close"),
        _text(p, "lead_source"),
        _text(p, "priority"),
        _status(event, p),
        1 if p.get("public_reply") else 0,
        _text(p, "product"),
        score if isinstance(score, int) else None,
        _text(p, "intent"),
        _text(p, "caller_role"),
        _text(p, "disposition"),
        _text(p, "channel"),
        _text(p, "category"),
        _text(p, "severity"),
        _text(p, "theme"),
        _text(p, "purpose"),
        _date(p, "renews_on"),
        summarize(event),
        event.payload.model_dump_json(),
        partition,
        offset + REATTRIBUTED_OFFSET if resolved.reattributed else offset,
    )
