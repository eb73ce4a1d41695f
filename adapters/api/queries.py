"""The query API's reads: SQL over the analyst views (docs/queries.md), answers as plain JSON-ready dicts.

Every function takes an `AbstractReadStore`, so the same code answers from chDB (embedded) and from the
ClickHouse 18.16 server. Nothing here knows about roles: `touchstream.projections.roles.Shaper` shapes
what these functions return.

Per-customer reads filter the base tables by contact id (their sorting key) and re-point merged contacts
the way the views do, so a lookup costs the same with 1k or 1M contacts; lists read the views.
"""

from __future__ import annotations

import base64
import difflib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

import orjson

from ...events import normalize_phone
from ...projections.migrations import MIGRATIONS
from ...projections.roles import segments
from ...streams.ports import AbstractReadStore, Column

SearchKind = Literal["auto", "email", "phone", "external_id", "name"]
SEARCH_KINDS: tuple[str, ...] = ("auto", "email", "phone", "external_id", "name")
NEVER = datetime(1970, 1, 1)
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(2105, 12, 31)

# --- values ---------------------------------------------------------------------------------------------


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


def as_dicts(columns: Sequence[Column], rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    names = [name for name, _ in columns]
    return [{n: jsonable(v) for n, v in zip(names, row, strict=True)} for row in rows]


# --- merged contacts ------------------------------------------------------------------------------------


def merge_group(store: AbstractReadStore, contact_id: str) -> tuple[str, list[str]]:
    """(survivor, every contact id whose rows belong to it): the view's re-pointing, for one contact."""
    found = store.query(
        "SELECT survivor_id FROM contact_merges FINAL WHERE merged_id = %(id)s AND active = 1 LIMIT 1",
        {"id": contact_id},
    )
    survivor = str(found[0][0]) if found else contact_id
    merged = store.query(
        "SELECT merged_id FROM contact_merges FINAL WHERE survivor_id = %(id)s AND active = 1",
        {"id": survivor},
    )
    return survivor, sorted({survivor, *(str(r[0]) for r in merged)})


def survivors(store: AbstractReadStore, contact_ids: Sequence[str]) -> dict[str, str]:
    if not contact_ids:
        return {}
    rows = store.query(
        "SELECT merged_id, survivor_id FROM contact_merges FINAL WHERE merged_id IN %(ids)s AND active = 1",
        {"ids": tuple(contact_ids)},
    )
    mapped = {str(m): str(s) for m, s in rows}
    return {c: mapped.get(c, c) for c in contact_ids}


# --- search ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Match:
    contact_id: str
    score: float
    matched_on: str
    row: dict[str, Any]


_CANDIDATE_COLUMNS = (
    "contact_id, account_id, first_name, last_name, email, phone, company, job_title, lifecycle_stage, "
    "last_seen"
)
_PHONE_LIKE = re.compile(r"^\+?[\d\s().\-/]{6,}$")
CANDIDATES = 200
#: Name matches less similar than this are noise (shared trigrams, nothing more) and are not returned.
MIN_NAME_SCORE = 0.5


def detect_kind(query: str) -> str:
    text = query.strip()
    if "@" in text:
        return "email"
    if _PHONE_LIKE.match(text) and sum(c.isdigit() for c in text) >= 6:
        return "phone"
    if ":" in text and " " not in text:
        return "external_id"
    return "name"


def _grams(query: str) -> list[tuple[str, int]]:
    """(substring, weight) probes for the SQL candidate set: whole tokens weigh 3, their trigrams 1, so a
    misspelt name still shares most trigrams with the right one (ngramDistance is not on 18.16)."""
    probes: dict[str, int] = {}
    for token in re.findall(r"\w+", query.lower()):
        probes[token] = 3
        if len(token) > 3:
            for i in range(len(token) - 2):
                probes.setdefault(token[i : i + 3], 1)
    return list(probes.items())[:24]


def _similarity(query: str, row: Mapping[str, Any]) -> float:
    q = " ".join(query.lower().split())
    full = f"{row.get('first_name', '')} {row.get('last_name', '')}".strip().lower()
    reverse = f"{row.get('last_name', '')} {row.get('first_name', '')}".strip().lower()
    best = 0.0
    for text, weight in ((full, 1.0), (reverse, 0.95), (str(row.get("company", "")).lower(), 0.8)):
        if not text:
            continue
        ratio = difflib.SequenceMatcher(None, q, text).ratio()
        if text == q:
            ratio = 1.0
        elif text.startswith(q) or q in text.split():
            ratio = max(ratio, 0.9)
        best = max(best, ratio * weight)
    return round(best, 4)


def _candidates(store: AbstractReadStore, where: str, params: Mapping[str, Any], limit: int) -> list[dict]:  # type: ignore[type-arg]
    columns, rows = store.query_with_columns(
        f"SELECT {_CANDIDATE_COLUMNS} FROM customer_360 FINAL WHERE erased = 0 AND ({where}) "
        f"ORDER BY last_seen DESC, contact_id LIMIT {int(limit)}",
        params,
    )
    return as_dicts(columns, rows)


#: The master record's answer to "who does this identifier key name now" (`MasterRecord.owner_of`).
OwnerOf = Callable[[str], str | None]


def _external_contacts(store: AbstractReadStore, query: str, owner_of: OwnerOf | None = None) -> list[str]:
    """Contacts named by an external id: the master record's claim when it is wired, and every contact
    whose events were named by that id (events carrying no email are keyed by their external id)."""
    text = query.strip()
    if text.lower().startswith("ext:"):
        text = text[4:]
    system, sep, ident = text.partition(":")
    owners: list[str] = []
    if owner_of is not None and sep and system and ident:
        owner = owner_of(f"ext:{system.lower()}:{ident}")
        if owner:
            owners.append(owner)
    if sep and system and ident:
        where, params = "identifier = %(identifier)s", {"identifier": f"ext:{system.lower()}:{ident}"}
    else:
        where, params = "identifier_kind = 'ext' AND endsWith(identifier, %(suffix)s)", {"suffix": ":" + text}
    rows = store.query(
        f"SELECT DISTINCT contact_id FROM touchpoints FINAL WHERE contact_id != '' AND {where} LIMIT 50",
        params,
    )
    return owners + [str(r[0]) for r in rows if str(r[0]) not in owners]


def find_customers(
    store: AbstractReadStore,
    query: str,
    kind: str = "auto",
    limit: int = 10,
    region: str = "US",
    owner_of: OwnerOf | None = None,
) -> list[Match]:
    """Customers matching `query`, best first: exact email / phone / external id matches score 1.0; a name
    (or a partial email) is ranked by similarity over a bounded candidate set."""
    text = query.strip()
    if not text:
        return []
    kind = detect_kind(text) if kind == "auto" else kind
    found: list[tuple[float, str, dict[str, Any]]] = []
    if kind == "email":
        email = text.lower()
        # Any version that ever had the email, read without FINAL (PREWHERE: the email column alone); then
        # those contacts' current rows, FINAL by the sorting key, must still carry it.
        ids = store.query(
            f"SELECT DISTINCT contact_id FROM customer_360 PREWHERE email = %(email)s LIMIT {CANDIDATES}",
            {"email": email},
        )
        if ids:
            exact = "contact_id IN %(ids)s AND email = %(email)s"
            params = {"ids": tuple(str(r[0]) for r in ids), "email": email}
            found.extend((1.0, "email", row) for row in _candidates(store, exact, params, CANDIDATES))
        if not found:
            partial = _candidates(
                store, "positionCaseInsensitiveUTF8(email, %(q)s) > 0", {"q": email}, CANDIDATES
            )
            for row in partial:
                ratio = difflib.SequenceMatcher(None, email, str(row["email"])).ratio()
                found.append((round(ratio * 0.9, 4), "email", row))
    elif kind == "phone":
        try:
            phone = normalize_phone(text, region)
            rows = _candidates(store, "phone = %(phone)s", {"phone": phone}, CANDIDATES)
        except ValueError:
            digits = "".join(c for c in text if c.isdigit())
            rows = _candidates(store, "position(phone, %(digits)s) > 0", {"digits": digits}, CANDIDATES)
        found.extend((1.0, "phone", row) for row in rows)
    elif kind == "external_id":
        named = _external_contacts(store, text, owner_of)
        if named:
            rows = _candidates(store, "contact_id IN %(ids)s", {"ids": tuple(named)}, CANDIDATES)
            found.extend((1.0, "external_id", row) for row in rows)
    else:
        probes = _grams(text)
        if not probes:
            return []
        hay = "concat(first_name, ' ', last_name, ' ', company)"
        hits = " + ".join(
            f"{weight} * (positionCaseInsensitiveUTF8({hay}, %(g{i})s) > 0)"
            for i, (_, weight) in enumerate(probes)
        )
        params = {f"g{i}": gram for i, (gram, _) in enumerate(probes)}
        columns, hit_rows = store.query_with_columns(
            f"SELECT {_CANDIDATE_COLUMNS}, {hits} AS hits FROM customer_360 FINAL "
            "WHERE erased = 0 AND hits > 0 "
            f"ORDER BY hits DESC, last_seen DESC, contact_id LIMIT {CANDIDATES}",
            params,
        )
        for row in as_dicts(columns, hit_rows):
            row.pop("hits", None)
            score = _similarity(text, row)
            if score >= MIN_NAME_SCORE:
                found.append((score, "name", row))
    mapped = survivors(store, sorted({str(r["contact_id"]) for _, _, r in found}))
    best: dict[str, Match] = {}
    for score, matched_on, row in found:
        survivor = mapped.get(str(row["contact_id"]), str(row["contact_id"]))
        row = {**row, "contact_id": survivor}
        if survivor not in best or score > best[survivor].score:
            best[survivor] = Match(survivor, score, matched_on, row)
    ranked = sorted(best.values(), key=lambda m: (-m.score, str(m.row.get("last_seen") or ""), m.contact_id))
    return ranked[:limit]


# --- the 360 document -----------------------------------------------------------------------------------

_VIEW_PREFIX = "CREATE VIEW IF NOT EXISTS customer_360_current AS"
_BASE = "FROM customer_360 FINAL)"


def _one_contact_360_sql() -> str:
    """The view's own SQL (its latest migration), reading only one merge group's base rows."""
    statements = [s.strip() for m in MIGRATIONS for s in m.statements if s.strip().startswith(_VIEW_PREFIX)]
    if not statements:
        raise RuntimeError("no customer_360_current view among the migrations")
    body = statements[-1][len(_VIEW_PREFIX) :]
    if body.count(_BASE) != 1 or "%" in body:
        raise RuntimeError("the customer_360_current view changed shape: update api_queries")
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
    return doc


# --- the timeline ---------------------------------------------------------------------------------------


def encode_cursor(occurred_at: str, event_id: str) -> str:
    return base64.urlsafe_b64encode(f"{occurred_at}|{event_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """Raises ValueError for anything `encode_cursor` did not make."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, event_id = text.split("|", 1)
        at = datetime.fromisoformat(moment.rstrip("Z")).replace(tzinfo=None)
        if not FIRST_DAY <= at.date() <= LAST_DAY:
            raise ValueError("out of range")
        return at, event_id
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("not a cursor this API gave out") from exc


def timeline(
    store: AbstractReadStore,
    contact_id: str,
    *,
    departments: Sequence[str] = (),
    types: Sequence[str] = (),
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Newest first, `limit` per page; the cursor of the next page (None at the end)."""
    survivor, ids = merge_group(store, contact_id)
    where = ["contact_id IN %(ids)s"]
    params: dict[str, Any] = {"ids": tuple(ids)}
    if departments:
        where.append("department IN %(departments)s")
        params["departments"] = tuple(departments)
    if types:
        where.append("type IN %(types)s")
        params["types"] = tuple(types)
    if cursor:
        moment, event_id = decode_cursor(cursor)
        where.append("(occurred_at < %(at)s OR (occurred_at = %(at)s AND event_id < %(event)s))")
        params.update(at=moment, event=event_id)
    # The survivor is set here, not selected as `contact_id`: ClickHouse substitutes a SELECT alias into
    # WHERE, so a constant named contact_id would make `contact_id IN ids` match every row.
    columns, rows = store.query_with_columns(
        "SELECT occurred_at, department, type, source, summary, event_id, contact_id AS original_contact_id "
        f"FROM touchpoints FINAL WHERE {' AND '.join(where)} "
        f"ORDER BY occurred_at DESC, event_id DESC LIMIT {int(limit) + 1}",
        params,
    )
    items = [{"contact_id": survivor, **item} for item in as_dicts(columns, rows)]
    if len(items) <= limit:
        return items, None
    items = items[:limit]
    return items, encode_cursor(str(items[-1]["occurred_at"]), str(items[-1]["event_id"]))


# --- the account view ---------------------------------------------------------------------------------

ACCOUNT_CONTACT_COLUMNS = (
    "contact_id, first_name, last_name, email, phone, job_title, company, lifecycle_stage, health_score, "
    "open_tickets, open_opportunities, last_seen"
)


def account_view(store: AbstractReadStore, account_id: str, contacts: int = 100) -> dict[str, Any] | None:
    columns, rows = store.query_with_columns(
        "SELECT * FROM account_360 WHERE account_id = %(id)s", {"id": account_id}
    )
    if not rows:
        return None
    rollup = as_dicts(columns, rows)[0]
    contact_columns, contact_rows = store.query_with_columns(
        f"SELECT {ACCOUNT_CONTACT_COLUMNS} FROM customer_360_current WHERE account_id = %(id)s "
        f"ORDER BY last_seen DESC, contact_id LIMIT {int(contacts)}",
        {"id": account_id},
    )
    return {"rollup": rollup, "contacts": as_dicts(contact_columns, contact_rows)}


# --- lists over the views -------------------------------------------------------------------------------

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
