"""The 360 fold: (state, resolved touchpoint, offset) -> (new state, outputs). Pure; no I/O, no clock.

What SQL cannot do at stream time happens here, per contact and in log order: lifecycle stage, lead score
with decay, open tickets and their worst priority, the last CSAT/NPS, consent, first/last touch per
department, the marketing touches since the last sales contact ("warm context"), a health score from all
departments, and the signals (`signals.py`).

Idempotence: an event at or below the state's last applied offset of its partition changes nothing
(per-contact order is the log's); an event id seen among the last few (a producer's retry at a new offset)
only advances the position. Rows carry `state.version`, a per-contact count of applied events. Time is
the event's `occurred_at`, never the wall clock, so a replay gives the same rows.

Order: every value is kept by event time (the event id breaks ties) or is commutative (counts, sums, first
and last seen), and the health score and the signals are evaluated at the contact's newest event time, so
events arriving late or out of order give the same 360 row and the same active signals — within the
state's bounds (the last few event ids, closed tickets and warm touches kept; docs/projections.md).

Long because every event type that changes the 360 row has its own small handler here (`_HANDLERS`),
beside the fold that dispatches to them and the scores they feed; most are a few lines.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from ..events import Event, Money, ResolvedTouchpoint
from .config import DEFAULT_CONFIG, ProjectionConfig
from .customer_360 import change_message, profile_row
from .signal_changes import reconcile
from .signal_rows import signal_message, signal_row
from .signals import SignalChange
from .state import LEAD, MQL, OPPORTUNITY, SQL, ContactState

PERSON_DETAILS = ("first_name", "last_name", "job_title", "company", "email", "phone")
# Sends are something we did, not something they did: no engagement, no warm touch.
PASSIVE_TYPES = frozenset({"CampaignEmailSent", "SubscriptionRenewed"})
# Engagement with marketing: scored (points in the config), and a warm touch until sales calls.
MARKETING_TOUCH_TYPES = frozenset(
    {
        "EmailOpened",
        "EmailClicked",
        "AdClicked",
        "ContentDownloaded",
        "WebinarRegistered",
        "WebinarAttended",
        "FormSubmitted",
        "EventBadgeScanned",
    }
)
_PRIORITY_PENALTY = {"P1": 25, "P2": 15}
CLOSED_OPPORTUNITIES_KEPT = 20


@dataclass(frozen=True)
class FoldOutputs:
    """What one event produced: the contact's new 360 row (None when the event was skipped), signal rows
    and messages (`{"topic", "key", "value"}` dicts, published by the wiring)."""

    profile: tuple[Any, ...] | None = None
    signals: tuple[tuple[Any, ...], ...] = ()
    messages: tuple[dict[str, Any], ...] = ()
    changes: tuple[SignalChange, ...] = ()


SKIPPED = FoldOutputs()


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def day_epoch(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def fold(
    state: ContactState | None,
    resolved: ResolvedTouchpoint,
    offset: int,
    config: ProjectionConfig = DEFAULT_CONFIG,
    *,
    partition: int = 0,
    with_profile: bool = True,
    owned: bool = False,
) -> tuple[ContactState, FoldOutputs]:
    """Apply one resolved touchpoint at (`partition`, `offset`), its position in the per-contact ordered log.

    `with_profile=False` leaves out the 360 row and the `customer360.changes` message: a batch needs them
    only once per contact (`customer_360.profile_row` / `change_message` on the final state), and building
    them is half the cost of a fold.

    `state` is left as it was, and a changed copy returned; unless `owned`: the caller holds the only
    reference (a state an earlier fold of the same batch returned), so it is changed in place and
    returned (copying it for each of a contact's events was ~15 % of a fold).
    """
    if resolved.contact_id is None:
        raise ValueError("the 360 fold needs a contact; an account-only touchpoint is a fact row only")
    if state is None:
        state = ContactState(resolved.contact_id)
    key = str(partition)
    if offset <= state.positions.get(key, -1):
        return state, SKIPPED
    event = resolved.event
    event_id = str(event.event_id)
    s = state if owned else state.copy()
    s.positions[key] = offset
    if event_id in s.recent_ids:
        return s, SKIPPED
    s.version += 1
    s.recent_ids = (*s.recent_ids, event_id)[-config.recent_event_ids_kept :]
    now = epoch(event.occurred_at)
    _record_touch(s, resolved, now)
    handler = _HANDLERS.get(event.type)
    if handler is not None:
        handler(s, event, now, config)
    _after(s, event, now, config)
    # Evaluated at the newest event time seen, not this event's: a late event re-derives what it affects.
    s.health = health_score(s, s.last_seen, config)
    changes = tuple(reconcile(s, s.last_seen, config))
    profile = profile_row(s, s.version) if with_profile else None
    messages = [change_message(s, s.version)] if with_profile else []
    messages += [signal_message(s, change) for change in changes if change.changed_status]
    return s, FoldOutputs(
        profile=profile,
        signals=tuple(signal_row(s, change, s.version) for change in changes),
        messages=tuple(messages),
        changes=changes,
    )


# --- what every event does -----------------------------------------------------------------------------


def _record_touch(s: ContactState, resolved: ResolvedTouchpoint, now: int) -> None:
    event = resolved.event
    department = event.department.value
    if resolved.account_id and (now, resolved.account_id) >= (s.account_at, s.account_id or ""):
        s.account_id, s.account_at = resolved.account_id, now
    first = (now, event.source, department)
    if not s.touches or first < (s.first_seen, s.first_source, s.first_department):
        s.first_seen, s.first_source, s.first_department = first
    s.touches += 1
    s.last_seen = max(s.last_seen, now)
    first_at, last_at, count = s.departments.get(department, (now, now, 0))
    s.departments[department] = (min(first_at, now), max(last_at, now), count + 1)
    if not s.erased:
        ids = event.identifiers
        for name, value in (("email", ids.email), ("phone", ids.phone)):
            if value:
                _set_attribute(s, name, value, event.source, now)
    if event.type not in PASSIVE_TYPES and event.department.value != "system":
        s.last_engaged_at = max(s.last_engaged_at, now)


def _after(s: ContactState, event: Event, now: int, c: ProjectionConfig) -> None:
    # A state kept before `scoring` existed has only the running score (a lower bound of the peak).
    if s.progress < MQL and not s.scoring and s.lead_score >= c.mql_score:
        _reached_mql(s)


def _reached_mql(s: ContactState) -> None:
    s.progress = max(s.progress, MQL)
    s.scoring = ()


def _set_attribute(s: ContactState, name: str, value: str, source: str, now: int) -> None:
    """The newest observation wins (event time, then source and value: deterministic on a tie)."""
    old = s.attributes.get(name)
    if old is None or (now, source, value) >= (old[2], old[1], old[0]):
        s.attributes[name] = (value, source, now)


def _observe(s: ContactState, details: Any, source: str, now: int) -> None:
    if s.erased or details is None:
        return
    fields = details.__dict__  # not getattr: a pydantic model's __getattr__ for absent names is slow
    for name in PERSON_DETAILS:
        value = fields.get(name)
        if value is not None:
            _set_attribute(s, name, str(value), source, now)


def _became_customer(s: ContactState, now: int, revives: bool = True) -> None:
    s.customer_since = min(s.customer_since, now) if s.customer_since else now
    if revives:
        s.last_purchase_at = max(s.last_purchase_at, now)
    _churn(s)


def _churn(s: ContactState) -> None:
    """Churned: a customer whose subscriptions are all cancelled, the last cancellation after the last
    purchase (whatever order the events came in)."""
    history = s.subscription_history
    for subscription_id, renews in s.subscriptions.items():  # a state kept before the history existed
        history.setdefault(subscription_id, (renews, 1, 0))
    s.subscriptions = {
        i: renews for i, (renews, started, cancelled) in history.items() if started > cancelled
    }
    cancelled = max((h[2] for h in history.values()), default=0)
    # A cancellation at the same instant as a purchase wins the tie (it cannot have come first).
    churned = s.customer_since and history and not s.subscriptions and cancelled >= s.last_purchase_at
    s.churned_at = cancelled if churned else 0


def _later(old: tuple[int, str] | None, now: int, event_id: str) -> tuple[int, str]:
    """(at, event id) of whichever is newer: the kept one or this event."""
    return max(old, (now, event_id)) if old is not None else (now, event_id)


def _add_revenue(s: ContactState, money: Money) -> None:
    before = Decimal(s.revenue.get(money.currency, "0"))
    s.revenue[money.currency] = str(before + money.amount)


def decayed_score(s: ContactState, now: int, c: ProjectionConfig) -> float:
    elapsed = max(0, now - s.lead_score_at)
    return float(s.lead_score * 0.5 ** (elapsed / c.lead_score_half_life.total_seconds()))


def _score(s: ContactState, points: float, now: int, c: ProjectionConfig) -> None:
    """The score is the points decayed to `lead_score_at` (the newest scoring event): a late event adds
    its points as decayed to then, so the order of arrival does not matter."""
    if now >= s.lead_score_at:
        s.lead_score = round(decayed_score(s, now, c) + points, 6)
        s.lead_score_at = now
    else:
        late = points * 0.5 ** ((s.lead_score_at - now) / c.lead_score_half_life.total_seconds())
        s.lead_score = round(s.lead_score + late, 6)
    if s.progress < MQL:
        _track_peak(s, points, now, c)


def _track_peak(s: ContactState, points: float, now: int, c: ProjectionConfig) -> None:
    """MQL once the score at some scoring event's time reaches the bar, whatever order the events came in:
    the peak over the events seen so far only grows as more arrive (points are never negative), so the
    stage never moves back and ends where event time order puts it. Beyond `scoring_events_kept` the two
    oldest are folded into one at the later time (exact from then on)."""
    half_life = c.lead_score_half_life.total_seconds()
    kept = sorted((*s.scoring, (now, points)))
    while len(kept) > max(2, c.scoring_events_kept):
        (first_at, first), (second_at, second) = kept[0], kept[1]
        kept[:2] = [(second_at, first * 0.5 ** ((second_at - first_at) / half_life) + second)]
    score, previous = 0.0, kept[0][0]
    for at, gained in kept:
        score = score * 0.5 ** ((at - previous) / half_life) + gained
        previous = at
        if score >= c.mql_score - 1e-9:  # the same sum in another order may differ in the last bits
            _reached_mql(s)
            return
    s.scoring = tuple(kept)


# --- per type --------------------------------------------------------------------------------------------

Handler = Callable[[ContactState, Event, int, ProjectionConfig], None]


def _marketing(s: ContactState, e: Event, now: int, c: ProjectionConfig) -> None:
    _score(s, c.lead_points.get(e.type, 0.0), now, c)
    campaign = e.payload.__dict__.get("campaign_id") or ""
    if now > s.last_sales_contact_at and not s.erased:  # warm: since sales last called or met
        s.warm_count += 1
        touch = (str(e.event_id), e.type, now, campaign)
        recent = sorted({*s.warm_recent, touch}, key=_by_time)
        cut = max(0, len(recent) - c.warm_context_kept)
        if cut:
            s.warm_older = tuple(sorted((*s.warm_older, *(t[2] for t in recent[:cut]))))[-c.warm_times_kept :]
        s.warm_recent = tuple(recent[cut:])
    if e.type in ("FormSubmitted", "EventBadgeScanned"):
        s.progress = max(s.progress, LEAD)
        _observe(s, e.payload, e.source, now)
    fields = e.payload.__dict__
    url = str(fields.get("url") or fields.get("page_url") or "").lower()
    if any(marker in url for marker in c.upsell_url_markers) or _asks_for_more(fields.get("title"), c):
        _upsell_intent(s, e, now, c)


def _by_time(touch: tuple[str, str, int, str]) -> tuple[int, str]:
    return touch[2], touch[0]


def _set_consent(s: ContactState, purpose: str, given: int, now: int) -> None:
    old = s.consent.get(purpose)
    # The newest wins; at the same instant a withdrawal wins (when unsure, do not contact).
    if old is None or (now, 1 - given) >= (old[1], 1 - old[0]):
        s.consent[purpose] = (given, now)


def _unsubscribed(s: ContactState, e: Event, now: int, c: ProjectionConfig) -> None:
    _set_consent(s, "marketing_email", 0, now)


def _consent(s: ContactState, e: Event, now: int, c: ProjectionConfig) -> None:
    _set_consent(s, str(e.payload.purpose), 1 if e.type == "ConsentGiven" else 0, now)  # type: ignore[attr-defined]


def _asks_for_more(text: Any, c: ProjectionConfig) -> bool:
    lowered = str(text or "").lower()
    return bool(lowered) and any(phrase in lowered for phrase in c.upsell_phrases)


def _upsell_intent(s: ContactState, e: Event, now: int, c: ProjectionConfig) -> None:
    entry = (now, str(e.event_id), e.department.value)
    s.upsell_intents = tuple(sorted({*s.upsell_intents, entry}))[-5:]


def _usage(s: ContactState, e: Event, now: int, c: ProjectionConfig) -> None:
    """Metering near the plan's allowance is an upsell intent (commutative: an entry per event)."""
    p: Any = e.payload
    _became_customer(s, now, revives=False)  # only customers use the product
    if p.limit is not None and p.used >= p.limit * Decimal(str(c.upsell_usage_share)):
        _upsell_intent(s, e, now, c)


def _escalated(s: ContactState, e: Event, now: int) -> None:
    s.escalations = tuple(sorted({*s.escalations, (now, str(e.event_id))}))[-5:]


def _call(s: ContactState, e: Event, now: int, c: ProjectionConfig) -> None:
    p: Any = e.payload
    intent = str(p.intent)
    if intent in c.buying_intents:
        s.last_buying_call = _later(s.last_buying_call, now, str(e.event_id))
        _score(s, c.buying_call_points, now, c)
    if intent in c.cancellation_intents:
        s.last_cancel_call = _later(s.last_cancel_call, now, str(e.event_id))
    if intent in c.upsell_intents:
        _upsell_intent(s, e, now, c)
    if str(p.disposition) == "escalated":
        _escalated(s, e, now)
    said = str(p.caller_role) != "unknown" or p.stated_company
    # What the caller says about themselves is personal (gone with an erasure); the newest call's wins.
    if said and not s.erased and now >= s.stated_at:
        s.stated_at = now
        if str(p.caller_role) != "unknown":
            s.stated_role = str(p.caller_role)
        if p.stated_company:
            s.stated_company = str(p.stated_company)


def _lead(s: ContactState, e: Event, now: int, c: ProjectionConfig) -> None:
    s.last_lead_at = max(s.last_lead_at, now)
    s.progress = max(s.progress, SQL if e.type == "LeadQualified" else LEAD)
    _observe(s, e.payload, e.source, now)


def _close_opportunity(s: ContactState, opportunity_id: str) -> None:
    if opportunity_id:
        s.opportunities.pop(opportunity_id, None)
        s.closed_opportunities = (
            *(o for o in s.closed_opportunities if o != opportunity_id),
            opportunity_id,
        )[-CLOSED_OPPORTUNITIES_KEPT:]


def _lost(s: ContactState, e: Event, now: int, c: ProjectionConfig) -> None:
    s.last_lost = _later(s.last_lost, now, str(e.event_id))
    _close_opportunity(s, e.payload.__dict__.get("opportunity_id") or "")


def _opportunity(s: ContactState, e: Event, now: int, c: ProjectionConfig) -> None:
    p: Any = e.payload
    s.last_lead_at = max(s.last_lead_at, now)
    s.progress = OPPORTUNITY
    if p.opportunity_id in s.closed_opportunities:  # won or lost already: a late update opens nothing
        return
    stage, amount, currency, stage_at, amount_at = s.opportunities.get(
        p.opportunity_id, ("prospecting", "0.00", "", 0, 0)
    )
    fields = p.__dict__
    new_stage = fields.get("to_stage") or fields.get("stage")
    if new_stage is not None and now >= stage_at:
        stage, stage_at = str(new_stage), now
    if p.amount is not None and now >= amount_at:
        amount, currency, amount_at = str(p.amount.amount), p.amount.currency, now
    s.opportunities[p.opportunity_id] = (stage, amount, currency, stage_at, amount_at)


def _won(s: ContactState, e: Event, now: int, c: ProjectionConfig) -> None:
    _close_opportunity(s, e.payload.opportunity_id)  # type: ignore[attr-defined]
    s.won_deals += 1
    _became_customer(s, now)


def _sales_contact(s: ContactState, e: Event, now: int, c: ProjectionConfig) -> None:
    if now <= s.last_sales_contact_at:
        return
    s.last_sales_contact_at = now
    # Warm context is the touches after the last sales contact: drop the ones at or before this one.
    # `warm_older` is older than `warm_recent`, and the touches neither keeps are older still: once the
    # oldest kept one is dropped, so are they.
    kept = tuple(t for t in s.warm_recent if t[2] > now)
    older = tuple(at for at in s.warm_older if at > now)
    forgotten = s.warm_count - len(s.warm_recent) - len(s.warm_older)
    oldest_dropped = len(older) < len(s.warm_older) if s.warm_older else len(kept) < len(s.warm_recent)
    known = bool(s.warm_recent or s.warm_older)
    s.warm_count = len(kept) + len(older) + (forgotten if known and not oldest_dropped else 0)
    s.warm_recent, s.warm_older = kept, older


# Priority changes kept per ticket (the latest by event time): enough to tell every recent raise.
_PRIORITIES_KEPT = 8


def _priority_escalations(
    s: ContactState, ticket_id: str, seen: tuple[int, str, str], known: tuple[Any, ...]
) -> None:
    """A ticket's priority raises (P2 -> P1) are escalations, told from its priorities in event-time order
    whatever order they arrive in: a late older priority can make a raise of a newer one, or undo one (the
    ticket's escalations are derived again each time; calls' escalations stay as they are)."""
    history = s.priorities.get(ticket_id)
    if history is None:  # a state from before the history was kept: its latest priority stands in
        history = ((known[7], known[2], known[0]),) if known[2] else ()
    history = tuple(sorted({*history, seen}))[-_PRIORITIES_KEPT:]
    s.priorities[ticket_id] = history
    mine = {event_id for _, event_id, _ in history}
    raises = {(at, eid) for (_, _, before), (at, eid, after) in itertools.pairwise(history) if after < before}
    others = (entry for entry in s.escalations if entry[1] not in mine)
    s.escalations = tuple(sorted({*others, *raises}))[-5:]


def _ticket(s: ContactState, e: Event, now: int, c: ProjectionConfig) -> None:
    """A ticket's priority and its open/closed status are each the latest by (event time, event id): an
    update that arrives after a newer one does not overwrite it, a resolution that arrives before the
    opening still counts. Opened and Reopened open it; Resolved, or an update to `solved`, closes it."""
    p: Any = e.payload
    event_id = str(e.event_id)
    known = s.tickets.get(p.ticket_id, ("", 1, "", 0, now, 0, "", 0))
    priority, is_open, priority_by, resolved_at, opened_at, status_at, status_by, priority_at = known
    new_priority = p.priority if e.type in ("TicketOpened", "TicketUpdated") else None
    if e.type == "TicketOpened":
        _became_customer(s, now, revives=False)  # support is for customers: the person uses the product
        if _asks_for_more(p.subject, c):
            _upsell_intent(s, e, now, c)
    tagged = e.type in ("TicketOpened", "TicketUpdated") and c.upsell_tags.intersection(
        str(t).lower() for t in p.tags
    )
    if tagged:
        _upsell_intent(s, e, now, c)
    if new_priority is not None:
        _priority_escalations(s, p.ticket_id, (now, event_id, str(new_priority)), known)
    if new_priority is not None and (not priority_by or (now, event_id) >= (priority_at, priority_by)):
        priority, priority_by, priority_at = str(new_priority), event_id, now  # the evidence of a hold
    if e.type == "TicketReopened":
        s.reopens += 1
    closes = e.type == "TicketResolved" or (e.type == "TicketUpdated" and str(p.status) == "solved")
    opens = e.type in ("TicketOpened", "TicketReopened")
    if closes:
        resolved_at = max(resolved_at, now)
    if (closes or opens) and (now, event_id) >= (status_at, status_by):
        is_open, status_at, status_by = int(opens), now, event_id
    opened_at = min(opened_at, now)
    s.tickets[p.ticket_id] = (
        priority,
        is_open,
        priority_by,
        resolved_at,
        opened_at,
        status_at,
        status_by,
        priority_at,
    )
    _prune_tickets(s, c)


def _prune_tickets(s: ContactState, c: ProjectionConfig) -> None:
    closed = sorted((t[4], ticket_id) for ticket_id, t in s.tickets.items() if not t[1])
    for _, ticket_id in closed[: max(0, len(closed) - c.closed_tickets_kept)]:
        del s.tickets[ticket_id]


def _csat(s: ContactState, e: Event, now: int, c: ProjectionConfig) -> None:
    survey: tuple[int, int, str] = (e.payload.score, now, str(e.event_id))  # type: ignore[attr-defined]
    # Keyed by time (then event id), so a late survey takes its place instead of becoming the last.
    last, prev = s.last_csat, s.prev_csat
    if last is None or (now, survey[2]) > (last[1], last[2]):
        s.last_csat, s.prev_csat = survey, last
    elif prev is None or (now, survey[2]) > (prev[1], prev[2]):
        s.prev_csat = survey


def _nps(s: ContactState, e: Event, now: int, c: ProjectionConfig) -> None:
    survey: tuple[int, int, str] = (e.payload.score, now, str(e.event_id))  # type: ignore[attr-defined]
    if s.last_nps is None or (now, survey[2]) > (s.last_nps[1], s.last_nps[2]):
        s.last_nps = survey


def _complaint(s: ContactState, e: Event, now: int, c: ProjectionConfig) -> None:
    s.complaints = tuple(sorted({*s.complaints, (now, str(e.event_id))}))[-5:]


def _order(s: ContactState, e: Event, now: int, c: ProjectionConfig) -> None:
    _add_revenue(s, e.payload.total)  # type: ignore[attr-defined]
    _became_customer(s, now)


def _subscription(s: ContactState, e: Event, now: int, c: ProjectionConfig) -> None:
    p: Any = e.payload
    renews, started, cancelled = s.subscription_history.get(p.subscription_id, (0, 0, 0))
    if e.type == "SubscriptionCancelled":
        s.subscription_history[p.subscription_id] = (renews, started, max(cancelled, now))
        _churn(s)
        return
    s.subscription_history[p.subscription_id] = (
        max(renews, day_epoch(p.renews_on)),
        max(started, now),
        cancelled,
    )
    if e.type == "SubscriptionRenewed":
        _add_revenue(s, p.amount)  # the first period is paid through the order
    _became_customer(s, now)


def _details(s: ContactState, e: Event, now: int, c: ProjectionConfig) -> None:
    _observe(s, e.payload, e.source, now)


def _inbound_email(s: ContactState, e: Event, now: int, c: ProjectionConfig) -> None:
    _observe(s, e.payload.__dict__.get("observed"), e.source, now)
    if _asks_for_more(e.payload.__dict__.get("subject"), c):
        _upsell_intent(s, e, now, c)


def _erasure(s: ContactState, e: Event, now: int, c: ProjectionConfig) -> None:
    # The tombstone: personal details go; counts and dates (not personal on their own) stay.
    s.erased = True
    s.attributes = {}
    s.warm_recent = s.warm_older = ()
    s.stated_role = s.stated_company = ""
    s.warm_count = 0


_HANDLERS: dict[str, Handler] = {
    **dict.fromkeys(MARKETING_TOUCH_TYPES, _marketing),
    "Unsubscribed": _unsubscribed,
    "ConsentGiven": _consent,
    "ConsentWithdrawn": _consent,
    "ContactCenterCall": _call,
    "LeadCreated": _lead,
    "LeadQualified": _lead,
    "LeadDisqualified": _lost,
    "OpportunityCreated": _opportunity,
    "OpportunityStageChanged": _opportunity,
    "OpportunityWon": _won,
    "OpportunityLost": _lost,
    "CallLogged": _sales_contact,
    "MeetingHeld": _sales_contact,
    "TicketOpened": _ticket,
    "TicketUpdated": _ticket,
    "TicketResolved": _ticket,
    "TicketReopened": _ticket,
    "CsatSubmitted": _csat,
    "NpsSubmitted": _nps,
    "ComplaintLogged": _complaint,
    "OrderPlaced": _order,
    "SubscriptionStarted": _subscription,
    "SubscriptionRenewed": _subscription,
    "SubscriptionCancelled": _subscription,
    "ProductUsageReported": _usage,
    "ContactDetailsObserved": _details,
    "InboundEmailReceived": _inbound_email,
    "ErasureRequested": _erasure,
}


def health_score(s: ContactState, now: int, c: ProjectionConfig) -> int:
    """0-100 from all departments: support (open tickets, CSAT, complaints), CX (NPS), marketing
    (engagement), commerce (an active subscription, a cancellation call). A churned contact scores 0."""
    if s.churned_at:
        return 0
    score = 60
    penalty = sum(_PRIORITY_PENALTY.get(t[0], 5) for t in s.tickets.values() if t[1])
    score -= min(penalty, 40)
    if s.last_csat is not None and now - s.last_csat[1] <= c.csat_recent.total_seconds():
        score += (s.last_csat[0] - 3) * 8
    if s.last_nps is not None and now - s.last_nps[1] <= c.nps_recent.total_seconds():
        nps = s.last_nps[0]
        score += 15 if nps >= c.promoter_nps_at_least else 0 if nps > c.hold_nps_at_most else -20
    recent = sum(1 for at, _ in s.complaints if now - at <= c.complaint_recent.total_seconds())
    score -= min(30, 10 * recent)
    score += min(10, int(decayed_score(s, now, c) / 3))
    if s.subscriptions:
        score += 10
    if s.last_cancel_call is not None and now - s.last_cancel_call[0] <= c.churn_risk_for.total_seconds():
        score -= 20
    return max(0, min(100, score))
