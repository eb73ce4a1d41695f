"""The query API's wire shapes as pydantic models: they are its OpenAPI document.

Answers are shaped per role (projections/roles.py), so every field of a shaped object is optional: a field
outside the caller's role is absent, never null. "Never happened" instants and unknown scores are null.
Decimals travel as strings (exact), instants as ISO 8601 UTC with "Z", dates as ISO dates.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from ...projections.roles import SECTIONS
from .queries import LISTS

ErrorCode = Literal["unauthorized", "forbidden", "not_found", "bad_request", "unavailable"]


class ApiError(BaseModel):
    error: ErrorCode
    message: str


class Health(BaseModel):
    status: Literal["ok"]


class Me(BaseModel):
    role: str
    subject: str
    expires_at: int = Field(description="Unix seconds")
    pseudonymized: bool
    sees_amounts: bool
    sections: list[str]
    fields: list[str]
    endpoints: list[str]
    signal_departments: list[str]


# JSON type of each code used in queries.LISTS (and of the 360 fields below).
_TYPES: dict[str, Any] = {
    "s": str,
    "i": int,
    "n": int | None,
    "f": float | None,
    "d": str,
    "t": str | None,
    "D": str,
    "a": list[str],
    "b": bool,
    "o": str | None,
    "j": Any,
}

FIELD_TYPES: dict[str, str] = {
    "contact_id": "s",
    "first_seen": "t",
    "last_seen": "t",
    "touches": "i",
    "merged_contacts": "i",
    "erased": "i",
    "first_name": "s",
    "last_name": "s",
    "email": "s",
    "phone": "s",
    "job_title": "s",
    "company": "s",
    "account_id": "s",
    "lifecycle_stage": "s",
    "first_source": "s",
    "first_department": "s",
    "health_score": "i",
    "lead_score": "f",
    "last_marketing_at": "t",
    "department_touches": "j",
    "segments": "a",
    "marketing_consent": "i",
    "sales_consent": "i",
    "warm_touches": "i",
    "warm_context": "j",
    "last_sales_contact_at": "t",
    "open_pipeline": "d",
    "lifetime_revenue": "d",
    "won_deals": "i",
    "last_sales_at": "t",
    "deal_amounts": "j",
    "open_opportunities": "i",
    "open_deals": "j",
    "service_hold": "b",
    "service_hold_reason": "o",
    "open_tickets": "i",
    "worst_open_priority": "s",
    "reopens": "i",
    "last_support_at": "t",
    "tickets": "j",
    "active_subscriptions": "i",
    "last_csat": "n",
    "last_csat_at": "t",
    "last_nps": "n",
    "last_nps_at": "t",
    "active_signals": "j",
}

_OPEN = ConfigDict(extra="allow")


def _optional_model(name: str, columns: dict[str, str], doc: str) -> type[BaseModel]:
    fields: dict[str, Any] = {column: (_TYPES[code], None) for column, code in columns.items()}
    model: type[BaseModel] = create_model(name, __doc__=doc, **fields)
    return model


SECTION_MODELS: dict[str, type[BaseModel]] = {
    section: _optional_model(
        "Section_" + section,
        {f: FIELD_TYPES[f] for f in fields},
        f"The `{section}` section of the 360 view (fields outside the role are absent).",
    )
    for section, fields in SECTIONS.items()
}

Customer360: type[BaseModel] = create_model(
    "Customer360",
    __doc__="The 360 view as the caller's role sees it: sections outside the role are absent.",
    **{section: (model | None, None) for section, model in SECTION_MODELS.items()},  # type: ignore[call-overload]
)

CustomerChange: type[BaseModel] = _optional_model(
    "CustomerChange",
    {
        "contact_id": "s",
        "account_id": "o",
        "version": "i",
        "lifecycle_stage": "s",
        "touches": "i",
        "last_seen": "s",
        "open_tickets": "i",
        "worst_open_priority": "s",
        "open_opportunities": "i",
        "warm_touches": "i",
        "lead_score": "f",
        "health_score": "i",
        "last_csat": "n",
        "last_nps": "n",
        "active_signals": "a",
        "erased": "b",
    },
    "A `customer360.changes` message, shaped by the role (sent as the SSE event `change`).",
)


class SqlQuery(BaseModel):
    sql: str = Field(
        min_length=1,
        max_length=20_000,
        description="one SELECT (or WITH … SELECT) over the views the role may read (docs/security.md)",
    )
    role: str | None = Field(
        None,
        max_length=100,
        description="run as this (narrower) role: only for a token whose role sees everything (admin), "
        "as `touchstream sql --role` does for an operator",
    )


class SqlAnswer(BaseModel):
    columns: list[str]
    rows: list[list[Any]] = Field(description="values as in the other answers (decimals as strings)")


class SearchResult(BaseModel):
    model_config = _OPEN
    contact_id: str
    score: float = Field(description="1.0 for an exact email, phone or external id; similarity for names")
    matched_on: Literal["email", "phone", "external_id", "name", "pseudonym"]
    account_id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    company: str | None = None
    job_title: str | None = None
    lifecycle_stage: str | None = None
    last_seen: str | None = None


class SearchAnswer(BaseModel):
    query: str
    kind: str
    results: list[SearchResult]


TimelineItem: type[BaseModel] = _optional_model(
    "TimelineItem",
    {
        "contact_id": "s",
        "occurred_at": "t",
        "department": "s",
        "type": "s",
        "source": "s",
        "summary": "s",
        "event_id": "s",
        "original_contact_id": "s",
    },
    "One touchpoint, newest first.",
)


class TimelinePage(BaseModel):
    contact_id: str
    items: list[TimelineItem]  # type: ignore[valid-type]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null at the end")


AccountRollup: type[BaseModel] = _optional_model(
    "AccountRollup",
    {
        "account_id": "s",
        "contacts": "i",
        "customers": "i",
        "last_seen": "t",
        "touches": "i",
        "open_opportunities": "i",
        "open_pipeline": "d",
        "open_tickets": "i",
        "worst_open_priority": "s",
        "lifetime_revenue": "d",
        "lowest_health_score": "i",
        "average_health_score": "f",
        "active_signals": "a",
    },
    "account_360: the account's contacts rolled up.",
)

AccountContact: type[BaseModel] = _optional_model(
    "AccountContact",
    {
        "contact_id": "s",
        "first_name": "s",
        "last_name": "s",
        "email": "s",
        "phone": "s",
        "job_title": "s",
        "company": "s",
        "lifecycle_stage": "s",
        "health_score": "i",
        "open_tickets": "i",
        "open_opportunities": "i",
        "last_seen": "t",
    },
    "One contact of an account, as the role sees it.",
)


class AccountSignal(BaseModel):
    """A signal about the account as a whole (`account_signals`), e.g. `service_hold_lifted`."""

    signal_id: str
    kind: str
    department: str
    reason: str
    evidence: list[str]
    raised_at: datetime
    expires_at: datetime


class AccountAnswer(BaseModel):
    rollup: AccountRollup  # type: ignore[valid-type]
    contacts: list[AccountContact]  # type: ignore[valid-type]
    signals: list[AccountSignal] = Field(
        default_factory=list, description="raised account-level signals the role hears (signal_departments)"
    )


ROW_MODELS: dict[str, type[BaseModel]] = {
    name: _optional_model(
        "Row_" + name, spec.columns, f"A row of the `{spec.view}` view (docs/queries.md), shaped by the role."
    )
    for name, spec in LISTS.items()
}

LIST_MODELS: dict[str, type[BaseModel]] = {
    name: create_model(
        "List_" + name,
        __doc__=f"Rows of `{LISTS[name].view}`.",
        rows=(list[row], ...),  # type: ignore[valid-type]
        limit=(int, ...),
        offset=(int, ...),
    )
    for name, row in ROW_MODELS.items()
}
