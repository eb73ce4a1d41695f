"""Roles: who sees which part of the 360 view. Pure data and functions, no I/O (docs/roles.md).

The 360 document is a set of sections, each a fixed list of fields. A role names the sections it sees;
`shape` keeps exactly those fields and drops every other one, so a field outside a role is absent from the
answer, never blank or null. A role may also

- `pseudonymize`: identities become stable keyed hashes (`pseudonym`, HMAC-SHA256 with a configured
  secret) and personal fields are never shown, whatever the sections say;
- see money or not (`sees_amounts`: it has the `pipeline` section): timeline lines that carry an amount
  are reduced to their event type, and amount columns leave every list it reads;
- use some endpoints (`endpoints`) and hear some departments' signals (`signal_departments`).

This is the one matrix every answer obeys: the API's `Shaper` (360 view, search, timeline, accounts,
lists, the live feed), `touchstream customer show`, and the SQL door, which asks `Role.may_read_view` and
`Role.readable_columns`. A column of any row answer is kept only if `Role.column_visible` says so (a 360
field only for a role that sees it, money only with the pipeline); a timeline line keeps its text only
for a role holding the section whose story it tells (`TEXT_SECTION_OF_TYPE`).

The six built-in roles are `ROLES`; configuration adds more (`roles_from_mapping`, e.g. from a TOML
`[roles.<name>]` table, optionally `extends = "<role>"`).

Long because most of it is the matrix itself, as data (the sections and their fields, the money columns,
the endpoints, the six built-in roles); the rules that read it stay beside it so one file is the whole
answer to "who sees what".
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

# --- the 360 document: sections and their fields --------------------------------------------------------

SECTIONS: dict[str, tuple[str, ...]] = {
    "identity": ("contact_id", "first_seen", "last_seen", "touches", "merged_contacts", "erased"),
    "contact": ("first_name", "last_name", "email", "phone"),
    "role": ("job_title", "company"),
    "account": ("account_id",),
    "lifecycle": ("lifecycle_stage", "first_source", "first_department", "health_score"),
    "engagement": ("lead_score", "last_marketing_at", "department_touches"),
    "segments": ("segments",),
    "consent": ("marketing_consent", "sales_consent"),
    "warm_context": ("warm_touches", "warm_context", "last_sales_contact_at"),
    "pipeline": ("open_pipeline", "lifetime_revenue", "won_deals", "last_sales_at", "deal_amounts"),
    "sales_promise": ("open_opportunities", "open_deals"),
    "service_hold": ("service_hold", "service_hold_reason"),
    "tickets": ("open_tickets", "worst_open_priority", "reopens", "last_support_at", "tickets"),
    "subscriptions": ("active_subscriptions",),
    "satisfaction": ("last_csat", "last_csat_at", "last_nps", "last_nps_at"),
    "signals": ("active_signals",),
}

#: Every field of the 360 document, in section order.
FIELDS: tuple[str, ...] = tuple(f for fields in SECTIONS.values() for f in fields)
SECTION_OF: dict[str, str] = {f: section for section, fields in SECTIONS.items() for f in fields}

#: Fields that name or reach a person: never shown to a pseudonymizing role.
PERSONAL_FIELDS = frozenset({"first_name", "last_name", "email", "phone", "job_title", "company"})
#: Identifier columns that a pseudonymizing role sees as pseudonyms.
ID_FIELDS = frozenset({"contact_id", "account_id", "original_contact_id"})
#: Columns of list answers that carry free text about a person or a deal (names, summaries, reasons).
FREE_TEXT_COLUMNS = frozenset({"name", "summary", "subject"})
#: Money columns of list answers (and of the account roll-up): shown only to roles that see amounts.
AMOUNT_COLUMNS = frozenset(
    {
        "amount",
        "open_pipeline",
        "lifetime_revenue",
        "pipeline",
        "weighted_pipeline",
        "first_touch_revenue",
        "last_touch_revenue",
        "linear_revenue",
        "deal_amounts",
    }
)
#: Event types whose timeline line states an amount (projections/summary.py).
MONEY_EVENT_TYPES = frozenset(
    {
        "OpportunityCreated",
        "OpportunityWon",
        "QuoteSent",
        "OrderPlaced",
        "SubscriptionStarted",
        "SubscriptionRenewed",
    }
)
#: Event types whose timeline line quotes support text (ticket subjects, resolutions, reasons, email
#: subjects, complaint themes) or a satisfaction score: the line is shown only to a role holding the
#: section that carries that story in the 360 view; others see the event type alone.
TICKET_TEXT_TYPES = (
    "TicketOpened",
    "TicketUpdated",
    "TicketResolved",
    "TicketReopened",
    "InboundEmailReceived",
    "ContactCenterCall",
    "ComplaintLogged",
)
TEXT_SECTION_OF_TYPE: dict[str, str] = {
    **dict.fromkeys(MONEY_EVENT_TYPES, "pipeline"),
    **dict.fromkeys(TICKET_TEXT_TYPES, "tickets"),
    "CsatSubmitted": "satisfaction",
    "NpsSubmitted": "satisfaction",
}
#: Columns that hold any department's free text (the timeline's one-line summary): readable as a column
#: (the SQL door) only by a role that holds every section `TEXT_SECTION_OF_TYPE` names.
MIXED_TEXT_COLUMNS = frozenset({"summary"})

# --- what a role may call --------------------------------------------------------------------------------

ENDPOINTS: tuple[str, ...] = (
    "customers",  # search, the 360 view
    "timeline",
    "accounts",
    "pipeline",  # sales_pipeline, stage transitions
    "forecast",
    "funnel",
    "campaigns",  # engagement
    "attribution",  # campaign revenue
    "support",  # tickets, SLA, complaints
    "satisfaction",  # CSAT and NPS by period
    "data_quality",
    "signals",  # active signals and the live feed
    "sql",  # the SQL door (POST /v1/sql): its views and columns follow the rest of the role
)
DEPARTMENTS: tuple[str, ...] = ("sales", "marketing", "support")  # the signals.<department> topics

#: The read-model views each endpoint answers from: the SQL door (adapters/api/sql_door.py) lets a role read a
#: view only if the role may use its endpoint, and only the columns `Role.column_visible` allows.
VIEW_ENDPOINTS: dict[str, str] = {
    "customer_360_current": "customers",
    "timeline": "timeline",
    "account_360": "accounts",
    "sales_pipeline": "pipeline",
    "sales_stage_transitions": "pipeline",
    "sales_forecast": "forecast",
    "stage_probabilities": "forecast",
    "sales_forecast_monthly": "forecast",
    "fx_rates": "forecast",
    "crm_deal_activity": "pipeline",
    "crm_adoption": "pipeline",
    "late_stages": "pipeline",
    "upsell_holds": "pipeline",
    "account_service_holds": "pipeline",  # ticket and survey details: for sales, not marketing
    "service_holds": "support",
    "hold_settings": "signals",
    "accounts": "accounts",
    "contact_identifiers": "customers",
    "caller_leads": "pipeline",  # sales signals only: for roles selling
    "attribute_provenance": "customers",
    "account_holds_lifted": "pipeline",
    "account_signals": "pipeline",  # the account's lifted holds: ticket and survey details, for sales
    "active_account_signals": "pipeline",  # the live ones of `account_signals`: read as that table is
    "hold_lift_settings": "signals",
    "sales_funnel": "funnel",
    "campaign_engagement": "campaigns",
    "campaign_attribution": "attribution",
    "support_tickets": "support",
    "support_sla_summary": "support",
    "complaint_themes": "support",
    "sla_targets": "support",
    "csat_by_period": "satisfaction",
    "nps_by_period": "satisfaction",
    "data_quality": "data_quality",
    "active_signals": "signals",
}
#: The tables under the views (every field, every department's text, merged ids): only a role that sees
#: everything unpseudonymized (admin) reads them.
RAW_TABLES: frozenset[str] = frozenset(
    {
        "touchpoints",
        "touchpoints_current",
        "customer_360",
        "signals",
        "contact_merges",
        "dead_letters",
        "projection_state",
    }
)


@dataclass(frozen=True)
class Role:
    name: str
    sections: frozenset[str]
    endpoints: frozenset[str]
    signal_departments: frozenset[str]
    pseudonymize: bool = False
    description: str = ""

    @property
    def fields(self) -> frozenset[str]:
        """The 360 fields this role sees."""
        seen = {f for section in self.sections for f in SECTIONS[section]}
        return frozenset(seen - PERSONAL_FIELDS if self.pseudonymize else seen)

    @property
    def sees_amounts(self) -> bool:
        return "pipeline" in self.sections

    def may(self, endpoint: str) -> bool:
        return endpoint in self.endpoints

    @property
    def sees_everything(self) -> bool:
        """Every section, every endpoint, every department, real identities: the raw tables' reader."""
        return (
            self.sections >= set(SECTIONS)
            and self.endpoints >= set(ENDPOINTS)
            and self.signal_departments >= set(DEPARTMENTS)
            and not self.pseudonymize
        )

    def column_visible(self, name: str) -> bool:
        """May an answer carry a column called `name`? The one rule for list rows, search results, account
        roll-ups and the SQL door: a 360 field only if the role sees it, money only with the pipeline,
        nothing personal or free-text for a pseudonymizing role (identifiers are pseudonymized by the
        `Shaper`; the SQL door, which cannot, drops them too — see `readable_columns`)."""
        if name in AMOUNT_COLUMNS and not self.sees_amounts:
            return False
        if self.pseudonymize and (name in PERSONAL_FIELDS or name in FREE_TEXT_COLUMNS or name == "reason"):
            return False
        if name in MIXED_TEXT_COLUMNS and not self.sections >= set(TEXT_SECTION_OF_TYPE.values()):
            return False
        # A 360 field (other than an id, which pseudonymizing roles see as a pseudonym) only if seen.
        return name not in SECTION_OF or name in ID_FIELDS or name in self.fields

    def may_read_view(self, view: str) -> bool:
        """May the SQL door answer this role from `view` (a read-model view or table)?"""
        if view in RAW_TABLES:
            return self.sees_everything
        endpoint = VIEW_ENDPOINTS.get(view)
        if endpoint is None or not self.may(endpoint):
            return False
        # A view's rows mix every department's signals: only a role hearing all of them reads it raw.
        return view != "active_signals" or self.signal_departments >= set(DEPARTMENTS)

    def readable_columns(self, view: str, columns: Iterable[str]) -> list[str]:
        """The columns of `view` this role may read through SQL ([] when it may not read the view)."""
        if not self.may_read_view(view):
            return []
        if self.sees_everything:
            return list(columns)
        return [c for c in columns if self.column_visible(c) and not (self.pseudonymize and c in ID_FIELDS)]


def _role(
    name: str,
    description: str,
    sections: Iterable[str],
    endpoints: Iterable[str],
    signal_departments: Iterable[str],
    *,
    pseudonymize: bool = False,
) -> Role:
    return Role(
        name,
        frozenset(sections),
        frozenset(endpoints),
        frozenset(signal_departments),
        pseudonymize,
        description,
    )


ROLES: dict[str, Role] = {
    role.name: role
    for role in (
        _role(
            "sales",
            "contact details, role and influence, account, pipeline, the warm context, any service hold",
            (
                "identity",
                "contact",
                "role",
                "account",
                "lifecycle",
                "engagement",
                "consent",
                "warm_context",
                "pipeline",
                "sales_promise",
                "service_hold",
                "signals",
            ),
            (
                "customers",
                "timeline",
                "accounts",
                "pipeline",
                "forecast",
                "funnel",
                "campaigns",
                "attribution",
                "satisfaction",
                "data_quality",
                "signals",
            ),
            ("sales",),
        ),
        _role(
            "marketing",
            "engagement, segments and consent; never deal amounts",
            (
                "identity",
                "contact",
                "account",
                "lifecycle",
                "engagement",
                "segments",
                "consent",
                "warm_context",
                "signals",
            ),
            (
                "customers",
                "timeline",
                "accounts",
                "funnel",
                "campaigns",
                "satisfaction",
                "data_quality",
                "signals",
            ),
            ("marketing",),
        ),
        _role(
            "support",
            "tickets, subscriptions, satisfaction and any open sales promise",
            (
                "identity",
                "contact",
                "role",
                "account",
                "lifecycle",
                "tickets",
                "subscriptions",
                "satisfaction",
                "sales_promise",
                "signals",
            ),
            ("customers", "timeline", "accounts", "support", "satisfaction", "data_quality", "signals"),
            ("support",),
        ),
        _role(
            "contact_center",
            "who is calling, their tickets and subscriptions, any service hold or open sales promise",
            (
                "identity",
                "contact",
                "account",
                "lifecycle",
                "consent",
                "tickets",
                "subscriptions",
                "satisfaction",
                "sales_promise",
                "service_hold",
                "signals",
            ),
            ("customers", "timeline", "accounts", "support", "satisfaction", "signals"),
            ("support", "sales"),
        ),
        _role(
            "analyst",
            "everything but personal details; identities are pseudonyms (stable keyed hashes)",
            tuple(s for s in SECTIONS if s not in ("contact", "role", "sales_promise")),
            ENDPOINTS,
            DEPARTMENTS,
            pseudonymize=True,
        ),
        _role("admin", "everything", tuple(SECTIONS), ENDPOINTS, DEPARTMENTS),
    )
}


class RoleConfigError(ValueError):
    """A role definition in configuration is malformed; the message names the role and the key."""


def _names(value: Any, where: str, allowed: Iterable[str]) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RoleConfigError(f"{where} must be a list of strings")
    allowed_set = set(allowed)
    if "*" in value:
        return frozenset(allowed_set)
    unknown = sorted(set(value) - allowed_set)
    if unknown:
        raise RoleConfigError(f"{where} has unknown values {unknown} (known: {sorted(allowed_set)})")
    return frozenset(value)


def roles_from_mapping(data: Mapping[str, Any], base: Mapping[str, Role] = ROLES) -> dict[str, Role]:
    """The built-in roles plus those configured: `{name: {extends?, sections?, endpoints?,
    signal_departments?, pseudonymize?, description?}}` (a TOML `[roles.<name>]` table per role).
    A configured role may redefine a built-in one."""
    roles = dict(base)
    for name, entry in data.items():
        where = f"roles.{name}"
        if not isinstance(entry, Mapping):
            raise RoleConfigError(f"{where} must be a table")
        unknown = sorted(
            set(entry)
            - {"extends", "sections", "endpoints", "signal_departments", "pseudonymize"}
            - {"description"}
        )
        if unknown:
            raise RoleConfigError(f"{where} has unknown keys {unknown}")
        parent_name = entry.get("extends")
        if parent_name is not None and parent_name not in roles:
            raise RoleConfigError(f"{where}.extends names no known role: {parent_name!r}")
        role = roles[parent_name] if parent_name else Role(name, frozenset(), frozenset(), frozenset())
        role = replace(role, name=name)
        if "sections" in entry:
            role = replace(role, sections=_names(entry["sections"], f"{where}.sections", SECTIONS))
        if "endpoints" in entry:
            role = replace(role, endpoints=_names(entry["endpoints"], f"{where}.endpoints", ENDPOINTS))
        if "signal_departments" in entry:
            departments = _names(entry["signal_departments"], f"{where}.signal_departments", DEPARTMENTS)
            role = replace(role, signal_departments=departments)
        if "pseudonymize" in entry:
            if not isinstance(entry["pseudonymize"], bool):
                raise RoleConfigError(f"{where}.pseudonymize must be true or false")
            role = replace(role, pseudonymize=entry["pseudonymize"])
        role = replace(role, description=str(entry.get("description", role.description)))
        roles[name] = role
    return roles


# --- pseudonyms -----------------------------------------------------------------------------------------

PSEUDONYM_PREFIX = "p_"


def pseudonym(key: bytes, value: str) -> str:
    """A stable keyed hash of an identity: the same value and key always give the same pseudonym, and
    without the key nobody can link it back (HMAC-SHA256, 128 bits kept). "" stays "" (no one)."""
    if not value:
        return ""
    digest = hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()
    return PSEUDONYM_PREFIX + digest[:32]


def is_pseudonym(value: str) -> bool:
    body = value[len(PSEUDONYM_PREFIX) :]
    return (
        value.startswith(PSEUDONYM_PREFIX) and len(body) == 32 and all(c in "0123456789abcdef" for c in body)
    )


# --- shaping answers --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shaper:
    """Applies one role to answers: the 360 document, list rows, feed messages, timeline items."""

    role: Role
    pseudonym_key: bytes = field(default=b"", repr=False)

    def identity(self, value: str) -> str:
        return pseudonym(self.pseudonym_key, value) if self.role.pseudonymize else value

    def profile(self, document: Mapping[str, Any]) -> dict[str, Any]:
        """The 360 document (flat: field -> value) as this role may see it, grouped by section. Sections
        and fields outside the role are absent."""
        allowed = self.role.fields
        out: dict[str, dict[str, Any]] = {}
        for name, value in document.items():
            if name not in allowed:
                continue
            if name in ID_FIELDS:
                value = self.identity(str(value or ""))
            elif name == "active_signals" and isinstance(value, list):
                value = [self.row(s) for s in value if self.signal_visible(str(s.get("department", "")))]
            elif isinstance(value, list) and all(isinstance(v, Mapping) for v in value):
                value = [self.row(v) for v in value]
            out.setdefault(SECTION_OF[name], {})[name] = value
        return {section: out[section] for section in SECTIONS if section in out}

    def row(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """One row of a list answer: amounts dropped unless the role sees them, identities pseudonymized
        and free text dropped for a pseudonymizing role."""
        out: dict[str, Any] = {}
        for name, value in row.items():
            if not self.role.column_visible(name):
                continue
            if self.role.pseudonymize and name in ID_FIELDS:
                value = self.identity(str(value or ""))
            out[name] = value
        return out

    def timeline_item(self, item: Mapping[str, Any]) -> dict[str, Any]:
        """One timeline line: its summary only if the role holds the section whose story it tells (money,
        tickets, satisfaction), else the event type; no summary at all for a pseudonymizing role."""
        out = self.row({k: v for k, v in item.items() if k != "summary"})
        if "summary" in item and not self.role.pseudonymize:
            section = TEXT_SECTION_OF_TYPE.get(str(item.get("type")))
            visible = section is None or section in self.role.sections
            out["summary"] = item["summary"] if visible else str(item.get("type", ""))
        return out

    def signal_visible(self, department: str) -> bool:
        return department in self.role.signal_departments

    def change(self, value: Mapping[str, Any]) -> dict[str, Any]:
        """A `customer360.changes` message value: only the fields the role sees (plus `version`)."""
        allowed = self.role.fields | {"version"}
        out: dict[str, Any] = {}
        for name, item in value.items():
            if name not in allowed:
                continue
            out[name] = self.identity(str(item or "")) if name in ID_FIELDS else item
        return out


# --- derived 360 fields -----------------------------------------------------------------------------------


def segments(document: Mapping[str, Any]) -> list[str]:
    """Marketing segments derived from the 360 fields: lifecycle, NPS band, engagement, consent, health."""
    out = [f"lifecycle:{document.get('lifecycle_stage') or 'unknown'}"]
    nps = document.get("last_nps")
    if isinstance(nps, int):
        out.append("nps:promoter" if nps >= 9 else "nps:passive" if nps >= 7 else "nps:detractor")
    if int(document.get("warm_touches") or 0) > 0:
        out.append("engaged:since-last-sales-contact")
    out.append("consent:marketing" if document.get("marketing_consent") else "consent:no-marketing")
    health = int(document.get("health_score") or 0)
    out.append("health:high" if health >= 70 else "health:medium" if health >= 40 else "health:low")
    if int(document.get("active_subscriptions") or 0) > 0:
        out.append("subscriber")
    return out
