"""A customer's 360 document: the view's own SQL over one merge group, plus the deals, tickets and signals
that go with it (GET /v1/customers/{contact_id})."""

from __future__ import annotations

from typing import Any

import orjson

from ....projections.migrations import MIGRATIONS
from ....projections.roles import segments
from ....streams.ports import AbstractReadStore
from .shared import as_dicts, merge_group

_VIEW_PREFIX = "CREATE VIEW IF NOT EXISTS customer_360_current AS"
_BASE = "FROM customer_360 FINAL)"


def _one_contact_360_sql() -> str:
    """The view's own SQL (its latest migration), reading only one merge group's base rows."""
    statements = [s.strip() for m in MIGRATIONS for s in m.statements if s.strip().startswith(_VIEW_PREFIX)]
    if not statements:
        raise RuntimeError("no customer_360_current view among the migrations")
    body = statements[-1][len(_VIEW_PREFIX) :]
    if body.count(_BASE) != 1 or "%" in body:
        raise RuntimeError("the customer_360_current view changed shape: update adapters/api/queries")
    return body.replace(_BASE, "FROM customer_360 FINAL WHERE contact_id IN %(ids)s)")


ONE_CONTACT_360 = _one_contact_360_sql()


def _parse_json(text: Any, default: Any) -> Any:
    try:
        return orjson.loads(text) if text else default
    except orjson.JSONDecodeError:
        return default


def profile_document(store: AbstractReadStore, contact_id: str) -> dict[str, Any] | None:
    """Every field of the 360 document (projections.roles.FIELDS) for one contact, or None if unknown.
    A merged contact's id answers with its survivor's document."""
    survivor, ids = merge_group(store, contact_id)
    columns, rows = store.query_with_columns(ONE_CONTACT_360, {"ids": tuple(ids)})
    if not rows:
        return None
    doc = as_dicts(columns, rows)[0]
    doc["contact_id"] = survivor
    doc["warm_context"] = _parse_json(doc.get("warm_context"), [])
    touches = store.query(
        "SELECT argMax(department_touches, version), argMax(active_subscriptions, version) "
        "FROM customer_360 FINAL WHERE contact_id = %(id)s",
        {"id": survivor},
    )
    per_department = _parse_json(touches[0][0], {}) if touches else {}
    doc["department_touches"] = {
        d: {"first_at": v[0] + "Z", "last_at": v[1] + "Z", "touches": v[2]} for d, v in per_department.items()
    }
    doc["segments"] = segments(doc)
    _add_deals(store, ids, doc)
    _add_tickets_and_signals(store, survivor, ids, doc)
    return doc


def _add_deals(store: AbstractReadStore, ids: list[str], doc: dict[str, Any]) -> None:
    deals_columns, deals = store.query_with_columns(
        "SELECT opportunity_id, name, stage, owner, expected_close, amount, currency FROM sales_pipeline "
        "WHERE status = 'open' AND contact_id IN %(ids)s ORDER BY created_at, opportunity_id",
        {"ids": tuple(ids)},
    )
    open_deals = as_dicts(deals_columns, deals)
    doc["open_deals"] = [
        {k: d[k] for k in ("opportunity_id", "name", "stage", "owner", "expected_close")} for d in open_deals
    ]
    doc["deal_amounts"] = [
        {k: d[k] for k in ("opportunity_id", "stage", "amount", "currency")} for d in open_deals
    ]


def _add_tickets_and_signals(
    store: AbstractReadStore, survivor: str, ids: list[str], doc: dict[str, Any]
) -> None:
    ticket_columns, tickets = store.query_with_columns(
        "SELECT ticket_id, priority, status, product, channel, opened_at, resolved_at FROM support_tickets "
        "WHERE contact_id IN %(ids)s ORDER BY opened_at DESC, ticket_id LIMIT 20",
        {"ids": tuple(ids)},
    )
    doc["tickets"] = as_dicts(ticket_columns, tickets)
    signal_columns, signals = store.query_with_columns(
        "SELECT kind, department, reason, raised_at, expires_at FROM active_signals "
        "WHERE contact_id = %(id)s ORDER BY raised_at, kind",
        {"id": survivor},
    )
    active = as_dicts(signal_columns, signals)
    doc["active_signals"] = active
    hold = [s for s in active if s["kind"] == "service_hold"]
    doc["service_hold"] = bool(hold)
    doc["service_hold_reason"] = hold[0]["reason"] if hold else None
