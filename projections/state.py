"""The per-contact state the 360 fold keeps between events: small, plain, JSON-serializable.

It lives in a Faust table in production (and in chDB's `projection_state` in the embedded runner), so it
holds only what the rules need: instants are Unix seconds (UTC), inner values are tuples (immutable, so a
copy of the outer dicts is a safe copy of the state), collections are bounded by the config.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields
from typing import Any

# Lifecycle progress before someone buys; `customer` and `churned` are flags on top (see `lifecycle`).
PROGRESS = ("subscriber", "lead", "mql", "sql", "opportunity")
SUBSCRIBER, LEAD, MQL, SQL, OPPORTUNITY = range(len(PROGRESS))

# (first_at, last_at, count) per department.
DepartmentTouches = tuple[int, int, int]
# (value, source, at) per attribute.
Attribute = tuple[str, str, int]
# (priority, open 1/0, the event that set the priority (the hold's evidence), resolved_at or 0, opened_at,
#  status_at, the event that set the status, priority_at): the priority and the status are each the latest
#  by (event time, event id), so a late event takes its place instead of overwriting a newer one.
Ticket = tuple[str, int, str, int, int, int, str, int]
# (stage, amount, currency, stage set at, amount set at): each the latest by event time.
Opportunity = tuple[str, str, str, int, int]
# (renews at, last started or renewed at, cancelled at or 0): active while not cancelled after the start.
Subscription = tuple[int, int, int]
# (score, at, event id).
Survey = tuple[int, int, str]
# (event id, type, at, campaign id): one marketing touch since the last sales contact.
WarmTouch = tuple[str, str, int, str]


@dataclass(frozen=True)
class ActiveSignal:
    signal_id: str
    kind: str
    reason: str
    evidence: tuple[str, ...]
    raised_at: int
    expires_at: int

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "evidence": list(self.evidence)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ActiveSignal:
        return cls(**{**data, "evidence": tuple(data["evidence"])})


@dataclass
class ContactState:
    contact_id: str
    account_id: str | None = None
    account_at: int = 0  # the event time that named the account (the latest wins)
    # The last offset applied per log partition (a contact's events normally share one partition; keeping
    # each partition's position means events spread over several are never silently skipped).
    positions: dict[str, int] = field(default_factory=dict)
    # Events applied so far: the monotonic version of this contact's rows.
    version: int = 0
    touches: int = 0
    recent_ids: tuple[str, ...] = ()
    first_seen: int = 0
    last_seen: int = 0
    first_source: str = ""
    first_department: str = ""
    departments: dict[str, DepartmentTouches] = field(default_factory=dict)
    attributes: dict[str, Attribute] = field(default_factory=dict)
    consent: dict[str, tuple[int, int]] = field(default_factory=dict)  # purpose -> (given 1/0, at)
    progress: int = SUBSCRIBER
    customer_since: int = 0
    churned_at: int = 0
    lead_score: float = 0.0
    lead_score_at: int = 0
    # (at, points) of the scoring events while the contact is below MQL: the stage is reached when the score
    # at some event time reaches the bar, which needs the points by time, not the running sum (bounded:
    # `scoring_events_kept`, the oldest folded into the next; emptied once MQL is reached).
    scoring: tuple[tuple[int, float], ...] = ()
    last_engaged_at: int = 0
    last_sales_contact_at: int = 0
    warm_count: int = 0
    warm_recent: tuple[WarmTouch, ...] = ()
    # The event times of the warm touches that fell out of `warm_recent` (all older than those in it),
    # ascending, the oldest dropped beyond `warm_times_kept`: a sales contact that arrives late must know
    # how many touches it cuts off to leave `warm_count` as event time order would.
    warm_older: tuple[int, ...] = ()
    opportunities: dict[str, Opportunity] = field(default_factory=dict)
    tickets: dict[str, Ticket] = field(default_factory=dict)
    reopens: int = 0
    # ticket id -> its priorities seen (event time, event id, priority), the latest few by time: raises are
    # escalations, told in event-time order whatever the arrival order.
    priorities: dict[str, tuple[tuple[int, str, str], ...]] = field(default_factory=dict)
    last_csat: Survey | None = None
    prev_csat: Survey | None = None  # the one before the last: a fall is a churn sign
    last_nps: Survey | None = None
    complaints: tuple[tuple[int, str], ...] = ()
    last_cancel_call: tuple[int, str] | None = None
    last_buying_call: tuple[int, str] | None = None
    # What a caller said about themselves (ContactCenterCall): their role and company, the latest stated.
    stated_role: str = ""
    stated_company: str = ""
    stated_at: int = 0
    # (at, event id): a ticket's priority raised, or a call escalated (the latest few).
    escalations: tuple[tuple[int, str], ...] = ()
    # (at, event id, department): someone asked about more (a bigger plan, more seats) — the latest few.
    upsell_intents: tuple[tuple[int, str, str], ...] = ()
    last_lead_at: int = 0
    last_lost: tuple[int, str] | None = None
    subscriptions: dict[str, int] = field(default_factory=dict)  # the active ones: id -> renews at
    subscription_history: dict[str, Subscription] = field(default_factory=dict)
    last_purchase_at: int = 0  # an order, a won deal, a subscription started or renewed
    # Won or lost deals (the latest few): a late event about one does not open it again.
    closed_opportunities: tuple[str, ...] = ()
    revenue: dict[str, str] = field(default_factory=dict)  # currency -> decimal text
    won_deals: int = 0
    health: int = 0
    erased: bool = False
    signals: dict[str, ActiveSignal] = field(default_factory=dict)

    def copy(self) -> ContactState:
        """A copy safe to change: the dicts are new, everything inside them is immutable."""
        clone = copy.copy(self)
        for name in _DICT_FIELDS:
            setattr(clone, name, dict(getattr(self, name)))
        return clone

    @property
    def customer(self) -> bool:
        return self.customer_since > 0 and not self.churned_at

    @property
    def lifecycle(self) -> str:
        if self.churned_at:
            return "churned"
        if self.customer_since:
            return "customer"
        return PROGRESS[self.progress]

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "signals":
                value = {k: s.to_json() for k, s in value.items()}
            data[f.name] = value
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ContactState:
        """The inverse of `to_json` after a JSON round trip (lists back to tuples)."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in data:
                continue
            value = data[f.name]
            if f.name == "signals":
                value = {k: ActiveSignal.from_json(s) for k, s in value.items()}
            elif f.name in _DICT_FIELDS:
                value = {k: _padded(f.name, _tuples(v)) for k, v in value.items()}
            elif isinstance(value, list):
                value = _tuples(value)
            values[f.name] = value
        return cls(**values)


# States written before a tuple grew (a Faust table, projection_state): the missing tail, as "unknown".
_PADDING: dict[str, tuple[Any, ...]] = {"tickets": (0, "", 0), "opportunities": (0, 0)}


def _padded(name: str, value: Any) -> Any:
    pad = _PADDING.get(name)
    if pad is None or not isinstance(value, tuple):
        return value
    full = {"tickets": 8, "opportunities": 5}[name]
    return value + pad[len(pad) - (full - len(value)) :] if len(value) < full else value


def _tuples(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value


_DICT_FIELDS = (
    "positions",
    "departments",
    "attributes",
    "consent",
    "opportunities",
    "tickets",
    "priorities",
    "subscriptions",
    "subscription_history",
    "revenue",
    "signals",
)
