"""Signals: what one department must know about a contact because of what another department saw.

Each rule looks at the contact's state right after an event and says whether its signal should be active
now, with a reason, the evidence (event ids), an expiry and when it began to hold. `signal_changes`
compares that with the signals already active and yields the changes.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from .config import ProjectionConfig
from .state import OPPORTUNITY, ActiveSignal, ContactState

# 2100-01-01T00:00:00Z: "until something clears it" (DateTime on 18.16 ends in 2106).
OPEN_ENDED = 4_102_444_800
NAMESPACE = uuid.UUID("0c7a4a8e-3f57-4c4b-9b7e-6a3f1d2e8b10")

SERVICE_HOLD = "service_hold"
UPSELL = "upsell_opportunity"
WARM_LEAD = "warm_lead"
CALLER_IS_LEAD = "caller_is_lead"
CHURN_RISK = "churn_risk"
NURTURE = "nurture"
SERVICE_HOLD_LIFTED = "service_hold_lifted"

# Which department each signal is for: it is published on `signals.<department>`.
TARGET = {
    SERVICE_HOLD: "sales",
    UPSELL: "sales",
    WARM_LEAD: "sales",
    CALLER_IS_LEAD: "sales",
    CHURN_RISK: "support",
    NURTURE: "marketing",
    SERVICE_HOLD_LIFTED: "sales",
}
# Built from marketing tracking or aimed at marketing: silent without marketing consent.
MARKETING_SIGNALS = frozenset({WARM_LEAD, NURTURE})
# Invite someone to contact the person: silent without sales-contact consent.
OUTREACH_SIGNALS = frozenset({WARM_LEAD, UPSELL, CALLER_IS_LEAD})


@dataclass(frozen=True)
class Desire:
    """A rule's verdict: this signal should be active, for this reason, until `expires_at`."""

    reason: str
    evidence: tuple[str, ...]
    expires_at: int
    # When the rule began to hold, in event time, as its evidence says (else the signal is raised at the
    # newest event time seen): a signal whose evidence arrives late (another key's events first, or an
    # anonymous caller's call handed to its person) is raised at the same instant whatever the order.
    since: int | None = None


@dataclass(frozen=True)
class SignalChange:
    signal: ActiveSignal
    status: str  # "raised" (also for updates) or "cleared"
    cleared_at: int
    changed_status: bool  # raised or cleared now (not an update): worth a message


Rule = Callable[[ContactState, int, ProjectionConfig], Desire | None]


def _service_hold(s: ContactState, now: int, c: ProjectionConfig) -> Desire | None:
    reasons: list[str] = []
    evidence: list[str] = []
    expires = 0
    began: list[int] = []  # each cause holds from its ticket's opening (or its priority raised), its survey
    for ticket_id, (priority, is_open, event_id, resolved_at, opened_at, _, _, priority_at) in sorted(
        s.tickets.items()
    ):
        if priority not in c.hold_priorities:
            continue
        if is_open:
            reasons.append(f"open {priority} ticket {ticket_id}")
            expires = OPEN_ENDED
        elif resolved_at + c.hold_cool_down.total_seconds() > now:
            reasons.append(f"{priority} ticket {ticket_id} resolved, cooling down")
            expires = max(expires, resolved_at + int(c.hold_cool_down.total_seconds()))
        else:
            continue
        evidence.append(event_id)
        began.append(max(opened_at, _hold_priority_since(s.priorities.get(ticket_id, ()), priority_at, c)))
    hold = int(c.survey_hold.total_seconds())
    for name, survey, limit in (
        ("CSAT", s.last_csat, c.hold_csat_at_most),
        ("NPS", s.last_nps, c.hold_nps_at_most),
    ):
        if survey is not None and survey[0] <= limit and survey[1] + hold > now:
            reasons.append(f"{name} {survey[0]}")
            evidence.append(survey[2])
            expires = max(expires, survey[1] + hold)
            began.append(survey[1])
    if not reasons:
        return None
    return Desire("; ".join(reasons), tuple(evidence), expires, since=_known(min(began)))


def _hold_priority_since(
    history: tuple[tuple[int, str, str], ...], latest_at: int, c: ProjectionConfig
) -> int:
    """Since when a ticket's priority has been one that holds, by its priorities in event-time order (a P2
    raised to P1 holds from the P2); the latest priority's time where the history is not kept."""
    since = latest_at
    for at, _, priority in reversed(history):
        if priority not in c.hold_priorities:
            break
        since = at
    return since


def _known(at: int) -> int | None:
    """An event time, or None where the evidence did not say (0): the signal is then raised at `now`."""
    return at or None


def _renewal_due(s: ContactState, now: int, c: ProjectionConfig) -> int:
    window = c.renewal_within.total_seconds()
    due = [at for at in s.subscriptions.values() if now <= at <= now + window]
    return min(due) if due else 0


def _upsell(s: ContactState, now: int, c: ProjectionConfig) -> Desire | None:
    """A customer asked for more (any department), or a promoter nears renewal; never while a service hold
    stands — it is raised again when the hold lifts (the next event re-evaluates)."""
    if not s.customer or _service_hold(s, now, c) is not None:
        return None
    window = int(c.upsell_intent_for.total_seconds())
    asked = [entry for entry in s.upsell_intents if entry[0] <= now < entry[0] + window]
    promoter = _promoter_upsell(s, now, c)
    if not asked:
        return promoter
    departments = sorted({dept for _, _, dept in asked})
    reason = f"asked about more ({', '.join(departments)})"
    evidence = tuple(event_id for _, event_id, _ in asked)
    expires = max(at for at, _, _ in asked) + window
    # From the first ask still in the window, or the promoter's, but not before the customer became one or
    # before the last hold ended: the signal waited for those.
    since = min(at for at, _, _ in asked)
    if promoter is not None:
        reason, evidence = f"{reason}; {promoter.reason}", evidence + promoter.evidence
        expires, since = max(expires, promoter.expires_at), min(since, promoter.since or since)
    return Desire(reason, evidence, expires, since=max(since, s.customer_since, _hold_ended(s, now, c)))


def _promoter_upsell(s: ContactState, now: int, c: ProjectionConfig) -> Desire | None:
    nps = s.last_nps
    if nps is None or nps[0] < c.promoter_nps_at_least:
        return None
    promoter_until = nps[1] + int(c.promoter_recent.total_seconds())
    renewal = _renewal_due(s, now, c)
    engaged = now - s.last_engaged_at <= c.engaged_within.total_seconds()
    open_issue = any(t[1] for t in s.tickets.values())
    if promoter_until <= now or not renewal or not engaged or open_issue:
        return None
    reason = f"NPS promoter ({nps[0]}), renewal due {_day(renewal)}"
    window = int(c.renewal_within.total_seconds())
    since = max(nps[1], renewal - window)  # the promoter's survey, the renewal come within the window
    return Desire(reason, (nps[2],), min(promoter_until, renewal), since=since)


def _warm_lead(s: ContactState, now: int, c: ProjectionConfig) -> Desire | None:
    """The points of the marketing touches within `warm_lead_window` (since sales last called or met)
    reach `warm_lead_score`; the touches are the evidence. Expires when enough of them leave the window."""
    if s.customer or s.progress >= OPPORTUNITY:
        return None
    window = int(c.warm_lead_window.total_seconds())
    touches = sorted(
        (at, event_id, c.lead_points.get(kind, 0.0))
        for event_id, kind, at, _ in s.warm_recent
        if at <= now < at + window
    )
    total = sum(points for _, _, points in touches)
    if not touches or total < c.warm_lead_score:
        return None
    expires, remaining = OPEN_ENDED, total
    for at, _, points in touches:  # oldest first: each leaves the window at at + window
        remaining -= points
        if remaining < c.warm_lead_score:
            expires = at + window
            break
    since, reached = now, 0.0
    for at, _, points in touches:  # the touch that brought the points in the window up to the bar
        reached += points
        if reached >= c.warm_lead_score:
            since = at
            break
    evidence = tuple(event_id for _, event_id, _ in touches)
    days = c.warm_lead_window.days
    reason = f"{total:g} engagement points in {days} days >= {c.warm_lead_score:g} ({len(touches)} touches)"
    return Desire(reason, evidence, expires, since=since)


def _caller_is_lead(s: ContactState, now: int, c: ProjectionConfig) -> Desire | None:
    """A caller who is no customer and no lead yet asked to buy: a lead for sales, on the account the
    call resolved to (the signal row's `account_id`), with what they stated about themselves."""
    call = s.last_buying_call
    if call is None or s.customer or s.last_lead_at >= call[0]:
        return None
    expires = call[0] + int(c.caller_lead_for.total_seconds())
    if expires <= now:
        return None
    stated = [f"{name}: {value}" for name, value in (("company", s.stated_company), ("role", s.stated_role))]
    said = [item for item in stated if not item.endswith(": ")]
    reason = "a non-customer called with buying intent" + (f" ({', '.join(said)})" if said else "")
    return Desire(reason, (call[1],), expires, since=call[0])


def key_role(s: ContactState, c: ProjectionConfig) -> str:
    """The contact's role if it is a key one (a stated decision maker, a director by job title), else ""."""
    if s.stated_role in c.key_roles:
        return s.stated_role.replace("_", " ")
    title = s.attributes.get("job_title")
    lowered = f" {title[0].lower()} " if title else ""
    if any(f" {word} " in lowered or f" {word}," in lowered for word in c.key_title_words):
        return title[0] if title else ""
    return ""


def _churn_risk(s: ContactState, now: int, c: ProjectionConfig) -> Desire | None:
    if not s.customer:
        return None
    reasons: list[str] = []
    evidence: list[str] = []
    expires = 0
    began: list[int] = []
    window = int(c.churn_risk_for.total_seconds())
    call = s.last_cancel_call
    if call is not None and call[0] + window > now:
        reasons.append("called about cancelling")
        evidence.append(call[1])
        expires = call[0] + window
        began.append(call[0])
    nps, last, prev = s.last_nps, s.last_csat, s.prev_csat
    detractor = nps is not None and nps[0] <= c.churn_nps_at_most and nps[1] <= now < nps[1] + window
    falling = last is not None and prev is not None and prev[0] - last[0] >= c.csat_drop_at_least
    # Only a detractor or a falling CSAT asks who the person is (the job title's words, on every event).
    role = key_role(s, c) if detractor or falling else ""
    if role and detractor and nps is not None:
        reasons.append(f"detractor NPS {nps[0]} from a {role}")
        evidence.append(nps[2])
        expires = max(expires, nps[1] + window)
        began.append(nps[1])
    if role and falling and last is not None and prev is not None and last[1] <= now < last[1] + window:
        reasons.append(f"CSAT fell {prev[0]} -> {last[0]} from a {role}")
        evidence += [prev[2], last[2]]
        expires = max(expires, last[1] + window)
        began.append(last[1])
    escalation_window = int(c.escalation_window.total_seconds())
    recent = [(at, e) for at, e in s.escalations if at <= now < at + escalation_window]
    if len(recent) >= c.churn_escalations:
        reasons.append(f"{len(recent)} escalations in {c.escalation_window.days} days")
        evidence += [e for _, e in recent]
        # Holds while the count stands: until the oldest that still makes up the count leaves the window.
        expires = max(expires, recent[-c.churn_escalations][0] + escalation_window)
        began.append(sorted(at for at, _ in recent)[c.churn_escalations - 1])  # the count reached
    if s.health < c.churn_health_below:
        reasons.append(f"health score {s.health} < {c.churn_health_below}")
        surveys = [survey for survey in (s.last_csat, s.last_nps) if survey is not None]
        evidence += [survey[2] for survey in surveys]
        expires = OPEN_ENDED
        # The score falls with time as well as with events: from the latest survey it counts, else now.
        began.append(max((survey[1] for survey in surveys), default=now))
    if not reasons:
        return None
    return Desire("; ".join(reasons), tuple(dict.fromkeys(evidence)), expires, since=_known(min(began)))


def _hold_lifted(s: ContactState, now: int, c: ProjectionConfig) -> Desire | None:
    """For `hold_lifted_for` after the contact's last hold cause ended (a ticket resolved and cooled down, a
    bad survey aged out or followed by a good one), while no other holds. Derived from the state, not from
    the order the events came in; evidence: what ended it, then the cause."""
    if _service_hold(s, now, c) is not None:
        return None
    past = [entry for entry in _hold_endings(s, c) if entry[0] <= now]
    if not past:
        return None
    lifted_at, evidence = max(past)
    expires = lifted_at + int(c.hold_lifted_for.total_seconds())
    if expires <= now:
        return None
    return Desire(
        "service hold lifted: sales may talk about more again",
        tuple(dict.fromkeys(evidence)),
        expires,
        since=lifted_at,
    )


def _hold_ended(s: ContactState, now: int, c: ProjectionConfig) -> int:
    """When the contact's last hold cause ended, by `now` (0: none did)."""
    return max((at for at, _ in _hold_endings(s, c) if at <= now), default=0)


def _hold_endings(s: ContactState, c: ProjectionConfig) -> list[tuple[int, tuple[str, ...]]]:
    """When each hold cause ends or ended, with what ended it, then the cause."""
    ended: list[tuple[int, tuple[str, ...]]] = []
    cool_down = int(c.hold_cool_down.total_seconds())
    for priority, is_open, priority_by, resolved_at, _, _, status_by, _ in s.tickets.values():
        if priority in c.hold_priorities and not is_open and resolved_at:
            ended.append((resolved_at + cool_down, (status_by, priority_by)))
    hold = int(c.survey_hold.total_seconds())
    for survey, previous, limit in (
        (s.last_csat, s.prev_csat, c.hold_csat_at_most),
        (s.last_nps, None, c.hold_nps_at_most),
    ):
        if survey is not None and survey[0] <= limit:
            ended.append((survey[1] + hold, (survey[2],)))
        elif survey is not None and previous is not None and previous[0] <= limit < survey[0]:
            ended.append((survey[1], (survey[2], previous[2])))  # recovered: a good survey after a bad one
    return ended


def _nurture(s: ContactState, now: int, c: ProjectionConfig) -> Desire | None:
    lost = s.last_lost
    if lost is None or s.customer or s.opportunities or s.last_lead_at > lost[0]:
        return None
    expires = lost[0] + int(c.nurture_for.total_seconds())
    if expires <= now:
        return None
    return Desire("lost or disqualified: back to nurturing", (lost[1],), expires, since=lost[0])


RULES: dict[str, Rule] = {
    SERVICE_HOLD: _service_hold,
    UPSELL: _upsell,
    WARM_LEAD: _warm_lead,
    CALLER_IS_LEAD: _caller_is_lead,
    CHURN_RISK: _churn_risk,
    NURTURE: _nurture,
    SERVICE_HOLD_LIFTED: _hold_lifted,
}


def _day(at: int) -> str:
    return datetime.fromtimestamp(at, UTC).date().isoformat()


def signal_id(contact_id: str, kind: str, raised_at: str) -> str:
    """Deterministic, so a replay or a rebuild raises the same signal under the same id; named by when it
    was raised, not by the event being folded then, so a late event (another key's, or an anonymous
    caller's call handed to its person) changes no id."""
    return str(uuid.uuid5(NAMESPACE, f"{contact_id}|{kind}|{raised_at}"))
