"""The departmental lists over the analyst views (GET /v1/pipeline, /v1/support/tickets, /v1/signals …):
each view's columns, filters, order and period as data (`LISTS`), and the one query that reads them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from ....streams.ports import AbstractReadStore
from .shared import FIRST_DAY, LAST_DAY, as_dicts

# JSON types of view columns: s string, i integer, n integer or null, f number, d decimal (string),
# t instant (string or null), D date (string), a list of strings, b 0/1.
JSON_TYPES = {"s": "string", "i": "integer", "n": "integer?", "f": "number", "d": "decimal", "t": "instant"}


@dataclass(frozen=True)
class ViewSpec:
    view: str
    columns: dict[str, str]
    filters: tuple[str, ...]  # columns that take an equality filter (?column=value)
    order_by: str
    period: str | None = None  # a date/time column filtered by ?since= / ?until=


def _cols(spec: str) -> dict[str, str]:
    return dict(tuple(item.split(":", 1)) for item in spec.split())  # type: ignore[misc]


LISTS: dict[str, ViewSpec] = {
    "pipeline": ViewSpec(
        "sales_pipeline",
        _cols(
            "opportunity_id:s contact_id:s account_id:s name:s status:s stage:s amount:d currency:s owner:s "
            "expected_close:D created_at:t stage_entered_at:t closed_at:t days_in_stage:i activities:i"
        ),
        ("status", "stage", "owner", "currency", "account_id", "contact_id"),
        "created_at DESC, opportunity_id",
        "created_at",
    ),
    "stage_transitions": ViewSpec(
        "sales_stage_transitions",
        _cols("period:D from_stage:s to_stage:s transitions:i"),
        ("from_stage", "to_stage"),
        "period, from_stage, to_stage",
        "period",
    ),
    "forecast": ViewSpec(
        "sales_forecast",
        _cols("quarter:D owner:s currency:s opportunities:i pipeline:d weighted_pipeline:d"),
        ("owner", "currency"),
        "quarter, owner, currency",
        "quarter",
    ),
    "funnel": ViewSpec(
        "sales_funnel",
        _cols(
            "period:D lead_source:s leads:i qualified:i disqualified:i opportunities:i won:i "
            "lead_to_qualified:f lead_to_opportunity:f lead_to_won:f"
        ),
        ("lead_source",),
        "period, lead_source",
        "period",
    ),
    "campaigns": ViewSpec(
        "campaign_engagement",
        _cols(
            "campaign_id:s sent:i opened:i clicked:i responses:i unsubscribed:i contacts:i "
            "engaged_contacts:i converted:i"
        ),
        ("campaign_id",),
        "engaged_contacts DESC, campaign_id",
    ),
    "attribution": ViewSpec(
        "campaign_attribution",
        _cols(
            "campaign_id:s currency:s won_opportunities:i first_touch_revenue:d last_touch_revenue:d "
            "linear_revenue:d"
        ),
        ("campaign_id", "currency"),
        "linear_revenue DESC, campaign_id, currency",
    ),
    "tickets": ViewSpec(
        "support_tickets",
        _cols(
            "ticket_id:s contact_id:s account_id:s product:s channel:s priority:s status:s opened_at:t "
            "first_response_at:t resolved_at:t reopens:i first_response_minutes:n resolution_minutes:n "
            "first_response_sla_minutes:i resolution_sla_minutes:i first_response_breached:i "
            "resolution_breached:i"
        ),
        (
            "priority",
            "status",
            "product",
            "channel",
            "account_id",
            "contact_id",
            "first_response_breached",
            "resolution_breached",
        ),
        "opened_at DESC, ticket_id",
        "opened_at",
    ),
    "sla": ViewSpec(
        "support_sla_summary",
        _cols(
            "priority:s tickets:i open_tickets:i responded:i first_response_breached:i resolved:i "
            "resolution_breached:i reopens:i"
        ),
        ("priority",),
        "priority",
    ),
    "complaints": ViewSpec(
        "complaint_themes",
        _cols("period:D category:s theme:s complaints:i high_severity:i contacts:i"),
        ("category", "theme"),
        "period, category, theme",
        "period",
    ),
    "csat": ViewSpec(
        "csat_by_period",
        _cols("period:D product:s account_id:s responses:i average_score:f satisfied:i"),
        ("product", "account_id"),
        "period, product, account_id",
        "period",
    ),
    "nps": ViewSpec(
        "nps_by_period",
        _cols("period:D account_id:s responses:i promoters:i passives:i detractors:i nps:f"),
        ("account_id",),
        "period, account_id",
        "period",
    ),
    "data_quality": ViewSpec(
        "data_quality",
        _cols(
            "source:s department:s events:i dead_lettered:i unresolved_identifier_events:i "
            "contacts_missing_fields:i opportunities_without_activity:i stalled_deals:i"
        ),
        ("source", "department"),
        "source, department",
    ),
    "signals": ViewSpec(
        "active_signals",
        _cols(
            "contact_id:s original_contact_id:s signal_id:s account_id:s kind:s department:s reason:s "
            "evidence:a raised_at:t expires_at:t"
        ),
        ("kind", "department", "contact_id", "account_id"),
        "raised_at DESC, signal_id",
        "raised_at",
    ),
}


def list_view(
    store: AbstractReadStore,
    name: str,
    filters: Mapping[str, str | Sequence[str]] | None = None,
    *,
    since: date | None = None,
    until: date | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Rows of one list (`LISTS`), filtered by equality on its filter columns (a sequence is IN) and by
    the period column (since inclusive, until exclusive)."""
    spec = LISTS[name]
    where: list[str] = []
    params: dict[str, Any] = {}
    for i, (column, value) in enumerate((filters or {}).items()):
        if column not in spec.filters:
            raise ValueError(f"{name} has no filter {column!r}")
        if isinstance(value, str):
            where.append(f"toString({column}) = %(f{i})s")
            params[f"f{i}"] = value
        elif value:
            where.append(f"toString({column}) IN %(f{i})s")
            params[f"f{i}"] = tuple(value)
        else:  # an empty set allows nothing (never "no filter")
            where.append("0")
    for bound, day, operator in (("since", since, ">="), ("until", until, "<")):
        if spec.period and day is not None:
            day = min(max(day, FIRST_DAY), LAST_DAY)  # the range DateTime holds on 18.16 and chDB
            where.append(f"{spec.period} {operator} %({bound})s")
            # Date columns compare with a date, DateTime columns with an instant (18.16 converts neither).
            instant = spec.columns[spec.period] == "t"
            params[bound] = datetime(day.year, day.month, day.day) if instant else day
    sql = f"SELECT {', '.join(spec.columns)} FROM {spec.view}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY {spec.order_by} LIMIT {int(limit)} OFFSET {int(offset)}"
    columns, rows = store.query_with_columns(sql, params)
    return as_dicts(columns, rows)
