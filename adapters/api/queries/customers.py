"""A customer's 360 document: the view's own SQL over one merge group, plus the deals, tickets and signals
that go with it (GET /v1/customers/{contact_id}), each read as ranges of sorting keys by contact id or by
deal / ticket id (`contact_items`, `work_facts`, `signals`), never a view over every fact."""

from __future__ import annotations

from typing import Any

import orjson

from ....projections.migrations import MIGRATIONS
from ....projections.roles import segments
from ....streams.ports import AbstractReadStore
from .shared import as_dicts, merge_group_of

_VIEW_PREFIX = "CREATE VIEW IF NOT EXISTS customer_360_current AS"
_GROUPED = "SELECT\n    contact_id,\n"
_ROWS = (
    "\nFROM (\n    SELECT *, first_seen AS first_at, last_seen AS seen_at, last_csat_at AS csat_at, "
    "last_nps_at AS nps_at"
)
_LEFT_OUT = "WHERE anonymous = 0\nGROUP BY contact_id"


def _view_aggregates() -> str:
    """The aggregates of `customer_360_current` (its latest migration), over rows re-pointed to a survivor."""
    statements = [s.strip() for m in MIGRATIONS for s in m.statements if s.strip().startswith(_VIEW_PREFIX)]
    if not statements:
        raise RuntimeError("no customer_360_current view among the migrations")
    body = statements[-1][len(_VIEW_PREFIX) :].strip()
    if not body.startswith(_GROUPED) or body.count(_ROWS) != 1 or not body.endswith(_LEFT_OUT) or "%" in body:
        raise RuntimeError("the customer_360_current view changed shape: update adapters/api/queries")
    return body[len(_GROUPED) : body.index(_ROWS)]


def _one_group_360_sql() -> str:
    """The view's own aggregates over one merge group's base rows, read straight from `customer_360` by the
    group's ids. The view re-points every row through a join with `contact_merges` and leaves anonymous
    callers' rows out; `merge_group_of` has already done both for one group, and the nested view costs
    ~2x as much to plan as this flat query takes to run."""
    return (
        f"SELECT\n{_view_aggregates()},\n"
        "    argMaxIf(department_touches, version, contact_id = %(survivor)s)"
        " AS survivor_department_touches,\n"
        "    count() AS group_rows"
        f"{_ROWS}, toUInt8(0) AS anonymous\n"
        "    FROM customer_360 FINAL WHERE contact_id IN %(ids)s\n)"
    )


def _many_groups_360_sql() -> str:
    """The view's rows of several merge groups: its aggregates over the groups' own base rows (`%(id_set)s`,
    anonymous callers' left out), each row re-pointed to its survivor (`%(ids)s` -> `%(survivors)s`),
    grouped by it; `survivor_id` is the view's `contact_id`."""
    return (
        f"SELECT\n    survivor_id,\n{_view_aggregates()}"
        f"{_ROWS}, toUInt8(0) AS anonymous, transform(contact_id, %(ids)s, %(survivors)s, contact_id)"
        " AS survivor_id\n"
        "    FROM customer_360 FINAL WHERE contact_id IN %(id_set)s\n)\n"
        "GROUP BY survivor_id"
    )


ONE_GROUP_360 = _one_group_360_sql()
MANY_GROUPS_360 = _many_groups_360_sql()

# A group of one contact's own row (most contacts: never merged): the view's aggregates over one row are
# that row's values, and reading it costs ~40 % of planning and running them (chDB, measured). The columns
# are ONE_GROUP_360's, in its order (tests/unit/test_profile_document_ranges.py holds the two equal).
ONE_ROW_360 = """
SELECT account_id, first_seen, last_seen, touches, first_name, last_name, email, phone, company, job_title,
    lifecycle_stage, marketing_consent, sales_consent, first_source, first_department, last_marketing_at,
    last_sales_at, last_support_at, last_sales_contact_at, warm_touches, warm_context, open_opportunities,
    open_pipeline, open_tickets, worst_open_priority, reopens, last_csat, last_csat_at, last_nps,
    last_nps_at, lifetime_revenue, won_deals, active_subscriptions, lead_score, health_score,
    arraySort(arrayDistinct(active_signals)) AS active_signals, erased, toInt64(0) AS merged_contacts,
    department_touches AS survivor_department_touches, toUInt64(1) AS group_rows
FROM customer_360 FINAL
WHERE contact_id = %(id)s
"""


_PROFILE = "SELECT profile FROM customer_360 FINAL WHERE contact_id = %(id)s"


def own_row(store: AbstractReadStore, contact_id: str) -> dict[str, Any]:
    """`ONE_ROW_360`'s answer for one contact as a dict ({} for none): the row's `profile` column (migration
    19; the projection wrote it from the same values), or its columns for a row written before."""
    rows = store.query(_PROFILE, {"id": contact_id})
    if rows and rows[0][0]:
        fields = orjson.loads(rows[0][0])
        touches = fields.pop("department_touches")
        return {**fields, "merged_contacts": 0, "survivor_department_touches": touches, "group_rows": 1}
    columns, rows = store.query_with_columns(ONE_ROW_360, {"id": contact_id})
    return as_dicts(columns, rows)[0] if rows else {}


def _parse_json(text: Any, default: Any) -> Any:
    try:
        return orjson.loads(text) if text else default
    except orjson.JSONDecodeError:
        return default


def profile_document(store: AbstractReadStore, contact_id: str) -> dict[str, Any] | None:
    """Every field of the 360 document (projections.roles.FIELDS) for one contact, or None if unknown.
    A merged contact's id answers with its survivor's document."""
    group = merge_group_of(store, contact_id)
    survivor, ids = group.survivor, group.ids
    own = tuple(i for i in ids if i not in group.anonymous)
    if len(own) == 1:
        found = own_row(store, own[0])
    else:
        columns, rows = store.query_with_columns(ONE_GROUP_360, {"ids": own, "survivor": survivor})
        found = as_dicts(columns, rows)[0] if rows else {}
    if not found.pop("group_rows", 0):  # no row of the group's: an unknown contact
        return None
    per_department = _parse_json(found.pop("survivor_department_touches"), {})
    doc = {"contact_id": survivor, **found}
    doc["warm_context"] = _parse_json(doc.get("warm_context"), [])
    doc["department_touches"] = {
        d: {"first_at": v[0] + "Z", "last_at": v[1] + "Z", "touches": v[2]} for d, v in per_department.items()
    }
    doc["segments"] = segments(doc)
    items = _items(store, ids)
    _add_deals(store, ids, items["o"], doc)
    _add_tickets_and_signals(store, survivor, ids, items["t"], doc)
    return doc


def _items(store: AbstractReadStore, ids: list[str]) -> dict[str, tuple[str, ...]]:
    """The deals (`o`) and tickets (`t`) the merge group's events named: a range of `contact_items`."""
    rows = store.query(
        "SELECT DISTINCT item FROM contact_items WHERE contact_id IN %(ids)s", {"ids": tuple(ids)}
    )
    items = sorted(str(r[0]) for r in rows)
    return {kind: tuple(i for i in items if i.startswith(kind + ":")) for kind in ("o", "t")}


# sales_pipeline's fold (migration 8), over the facts of the named deals only (`work_facts`, ordered by
# item). The deal's contact is the one its creation named; one merge group's ids stand for its survivor.
_OPEN_DEALS = """
SELECT substring(item, 3) AS opportunity_id,
    argMinIf(contact_id, occurred_at, type = 'OpportunityCreated') AS deal_contact,
    multiIf(
        countIf(type = 'OpportunityWon') > 0, 'won', countIf(type = 'OpportunityLost') > 0, 'lost', 'open'
    ) AS deal_status,
    argMaxIf(set_stage, (occurred_at, event_id), set_stage != '') AS stage,
    argMaxIf(amount, (occurred_at, event_id), money_currency != '' AND type != 'QuoteSent') AS amount,
    argMaxIf(money_currency, (occurred_at, event_id), money_currency != '' AND type != 'QuoteSent')
        AS currency,
    argMaxIf(deal_owner, (occurred_at, event_id), deal_owner != '') AS owner,
    maxIf(ifNull(expected_close, toDate(0)), type = 'OpportunityCreated') AS expected_close,
    anyIf(title, type = 'OpportunityCreated') AS name,
    minIf(occurred_at, type = 'OpportunityCreated') AS created_at
FROM (
    SELECT item, contact_id, type, title, stage AS set_stage, amount, currency AS money_currency,
        owner AS deal_owner, expected_close, occurred_at, event_id
    FROM work_facts FINAL
    WHERE item IN %(items)s
)
GROUP BY item
HAVING deal_status = 'open' AND deal_contact IN %(ids)s
ORDER BY created_at, opportunity_id
"""


def _add_deals(store: AbstractReadStore, ids: list[str], items: tuple[str, ...], doc: dict[str, Any]) -> None:
    open_deals: list[dict[str, Any]] = []
    if items:
        columns, deals = store.query_with_columns(_OPEN_DEALS, {"items": items, "ids": tuple(ids)})
        open_deals = as_dicts(columns, deals)
    doc["open_deals"] = [
        {k: d[k] for k in ("opportunity_id", "name", "stage", "owner", "expected_close")} for d in open_deals
    ]
    doc["deal_amounts"] = [
        {k: d[k] for k in ("opportunity_id", "stage", "amount", "currency")} for d in open_deals
    ]


# support_tickets' fold (migration 8), over the facts of the named tickets only.
_TICKETS = """
SELECT substring(item, 3) AS ticket_id,
    argMinIf(contact_id, occurred_at, type = 'TicketOpened') AS ticket_contact,
    argMaxIf(ticket_priority, (occurred_at, event_id), ticket_priority != '') AS priority,
    argMaxIf(ticket_status, (occurred_at, event_id), ticket_status != '') AS status,
    anyIf(ticket_product, type = 'TicketOpened') AS product,
    anyIf(ticket_channel, type = 'TicketOpened') AS channel,
    minIf(occurred_at, type = 'TicketOpened') AS opened_at,
    maxIf(occurred_at, ticket_status = 'solved') AS resolved_at
FROM (
    SELECT item, contact_id, type, priority AS ticket_priority, status AS ticket_status,
        product AS ticket_product, channel AS ticket_channel, occurred_at, event_id
    FROM work_facts FINAL
    WHERE item IN %(items)s
        AND type IN ('TicketOpened', 'TicketUpdated', 'TicketResolved', 'TicketReopened')
)
GROUP BY item
HAVING ticket_contact IN %(ids)s
ORDER BY opened_at DESC, ticket_id
LIMIT 20
"""

# active_signals (migration 6) for one merge group: its `signals` range (sorted by contact id).
_SIGNALS = """
SELECT kind, department, reason, raised_at, expires_at
FROM signals FINAL
WHERE contact_id IN %(ids)s AND status = 'raised' AND expires_at > now()
ORDER BY raised_at, kind
"""


def _add_tickets_and_signals(
    store: AbstractReadStore, survivor: str, ids: list[str], items: tuple[str, ...], doc: dict[str, Any]
) -> None:
    tickets: list[dict[str, Any]] = []
    if items:
        ticket_columns, ticket_rows = store.query_with_columns(_TICKETS, {"items": items, "ids": tuple(ids)})
        tickets = as_dicts(ticket_columns, ticket_rows)
    doc["tickets"] = [
        {
            k: t[k]
            for k in ("ticket_id", "priority", "status", "product", "channel", "opened_at", "resolved_at")
        }
        for t in tickets
    ]
    signal_columns, signals = store.query_with_columns(_SIGNALS, {"ids": tuple(ids)})
    active = as_dicts(signal_columns, signals)
    if any(s["kind"] == "service_hold" for s in active) and not _held(store, survivor):
        active = [s for s in active if s["kind"] != "service_hold"]  # no active cause any more
    doc["active_signals"] = active
    hold = [s for s in active if s["kind"] == "service_hold"]
    doc["service_hold"] = bool(hold)
    doc["service_hold_reason"] = hold[0]["reason"] if hold else None


def _held(store: AbstractReadStore, survivor: str) -> bool:
    """Whether the contact has an active hold cause (service_holds): asked only of a contact with a raised
    service_hold signal, as active_signals does for every contact."""
    rows = store.query(
        "SELECT count() FROM service_holds WHERE contact_id = %(id)s AND active = 1", {"id": survivor}
    )
    return bool(rows and int(rows[0][0]))
