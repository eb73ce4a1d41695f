"""The seeds' stories, each as a fold over a contact's events: what sales, marketing and support are told."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from touchstream.events import Event, ResolvedTouchpoint, parse_event
from touchstream.projections.config import DEFAULT_CONFIG
from touchstream.projections.fold import FoldOutputs, fold
from touchstream.projections.state import ContactState

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=400)


def event(type_name: str, payload: dict[str, Any], at: timedelta, n: int, **extra: Any) -> Event:
    wire = {
        "event_id": str(uuid.UUID(int=n + 1, version=4)),
        "type": type_name,
        "schema_version": 2 if type_name == "OpportunityCreated" else 1,
        "occurred_at": (T0 + at).isoformat(),
        "recorded_at": (T0 + at).isoformat(),
        "source": "test",
        "identifiers": {"email": "jane@acme.com"},
        "payload": payload,
        **extra,
    }
    return parse_event(wire, now=NOW)


class Story:
    """Folds one contact's events in order and keeps every output."""

    def __init__(self) -> None:
        self.state: ContactState | None = None
        self.outputs: list[FoldOutputs] = []
        self.n = 0

    def add(self, type_name: str, payload: dict[str, Any], *, days: float = 0, **extra: Any) -> FoldOutputs:
        e = event(type_name, payload, timedelta(days=days), self.n, **extra)
        self.state, out = fold(self.state, ResolvedTouchpoint(e, "C1", "A1"), self.n)
        self.n += 1
        self.outputs.append(out)
        return out

    @property
    def active(self) -> set[str]:
        assert self.state is not None
        return set(self.state.signals)

    def messages(self, topic: str) -> list[dict[str, Any]]:
        return [m["value"] for out in self.outputs for m in out.messages if m["topic"] == topic]


USD = {"amount": "1200.00", "currency": "USD"}


def engage(story: Story, times: int, start: float = 0) -> None:
    for i in range(times):
        story.add(
            "EmailClicked",
            {"campaign_id": "cmp-1", "message_id": f"m{i}", "url": "https://x.io/a"},
            days=start + i * 0.1,
        )


def test_marketing_touches_are_shown_to_sales_before_the_first_call() -> None:
    story = Story()
    story.add("CampaignEmailSent", {"campaign_id": "cmp-1", "message_id": "m0", "subject": "Hello"})
    engage(story, 2, start=0.5)
    story.add("WebinarAttended", {"webinar_id": "w1", "minutes_attended": 40}, days=1)
    out = story.add("LeadCreated", {"lead_id": "L1", "lead_source": "web", "owner": "sam"}, days=2)
    profile = dict(zip(_columns(), out.profile or (), strict=True))
    # Sales sees three marketing touches (the send is ours, not theirs) before calling.
    assert profile["warm_touches"] == 3
    assert '"type":"WebinarAttended"' in profile["warm_context"]
    assert story.messages("customer360.changes")[-1]["warm_touches"] == 3
    story.add(
        "CallLogged",
        {"call_id": "c1", "direction": "outbound", "disposition": "connected", "duration_seconds": 300},
        days=3,
    )
    assert story.state is not None
    assert story.state.warm_count == 0
    assert story.state.warm_recent == ()


def test_a_p1_ticket_puts_a_service_hold_that_signals_sales_carries() -> None:
    story = Story()
    opened = story.add(
        "TicketOpened", {"ticket_id": "T1", "subject": "Down", "priority": "P1", "channel": "email"}
    )
    assert "service_hold" in story.active
    (raised,) = [m for m in story.messages("signals.sales") if m["kind"] == "service_hold"]
    assert raised["status"] == "raised"
    assert raised["contact_id"] == "C1"
    assert raised["evidence"] == [str(uuid.UUID(int=1, version=4))]
    assert opened.signals[0][5] == "raised"
    # Resolved: the hold stays through the cool-down, then clears on the next event.
    story.add("TicketResolved", {"ticket_id": "T1"}, days=1)
    assert "service_hold" in story.active
    story.add("EmailOpened", {"campaign_id": "c", "message_id": "m"}, days=5)
    assert "service_hold" not in story.active
    assert [m["status"] for m in story.messages("signals.sales") if m["kind"] == "service_hold"] == [
        "raised",
        "cleared",
    ]


def test_a_bad_csat_holds_upsells_too() -> None:
    story = Story()
    story.add("CsatSubmitted", {"survey_id": "s1", "score": 1})
    assert "service_hold" in story.active


def test_an_nps_promoter_with_a_renewal_due_raises_an_upsell() -> None:
    story = Story()
    renews = (T0 + timedelta(days=21)).date().isoformat()
    story.add(
        "SubscriptionStarted",
        {"subscription_id": "s1", "plan": "Growth", "amount": USD, "period": "annual", "renews_on": renews},
    )
    assert "upsell_opportunity" not in story.active
    story.add("NpsSubmitted", {"survey_id": "n1", "score": 10}, days=1)
    assert "upsell_opportunity" in story.active
    (upsell,) = story.messages("signals.sales")
    assert upsell["kind"] == "upsell_opportunity"
    assert upsell["expires_at"].startswith(renews)
    # A P2 ticket: a service hold, and no upsell while it is open.
    story.add(
        "TicketOpened", {"ticket_id": "T9", "subject": "Slow", "priority": "P2", "channel": "web"}, days=2
    )
    assert story.active >= {"service_hold"}
    assert "upsell_opportunity" not in story.active


def test_a_detractor_with_a_renewal_due_gets_no_upsell() -> None:
    story = Story()
    renews = (T0 + timedelta(days=21)).date().isoformat()
    story.add(
        "SubscriptionStarted",
        {"subscription_id": "s1", "plan": "Growth", "amount": USD, "period": "annual", "renews_on": renews},
    )
    story.add("NpsSubmitted", {"survey_id": "n1", "score": 3}, days=1)
    assert "upsell_opportunity" not in story.active
    assert "service_hold" in story.active


def test_a_non_customer_calling_with_buying_intent_is_a_lead_for_sales() -> None:
    story = Story()
    call = {
        "call_id": "cc1",
        "intent": "purchase_inquiry",
        "disposition": "transferred",
        "duration_seconds": 300,
        "caller_role": "decision_maker",
    }
    story.add("ContactCenterCall", call, identifiers={"phone": "+14155550134"})
    assert "caller_is_lead" in story.active
    (message,) = story.messages("signals.sales")
    assert message["kind"] == "caller_is_lead"
    assert message["reason"].startswith("a non-customer")
    # Sales picks it up: the lead exists, the signal clears.
    story.add("LeadCreated", {"lead_id": "L1", "lead_source": "contact_center"}, days=1)
    assert "caller_is_lead" not in story.active


def test_a_customer_calling_to_buy_is_no_new_lead() -> None:
    story = Story()
    story.add("OrderPlaced", {"order_id": "o1", "total": USD})
    call = {
        "call_id": "cc1",
        "intent": "purchase_inquiry",
        "disposition": "connected",
        "duration_seconds": 60,
    }
    story.add("ContactCenterCall", call, days=1)
    assert "caller_is_lead" not in story.active


def test_engagement_makes_a_warm_lead_that_decays() -> None:
    story = Story()
    engage(story, 8)  # 24 points
    assert "warm_lead" in story.active
    assert story.state is not None
    expires = story.state.signals["warm_lead"].expires_at
    story.add("EmailOpened", {"campaign_id": "c", "message_id": "m"}, days=30)  # decayed well below
    assert "warm_lead" not in story.active
    assert expires < (T0 + timedelta(days=30)).timestamp()


def test_consent_withdrawn_suppresses_marketing_signals() -> None:
    story = Story()
    engage(story, 8)
    story.add("OpportunityCreated", {"opportunity_id": "O1", "name": "Deal", "amount": USD}, days=1)
    story.add("OpportunityLost", {"opportunity_id": "O1", "reason": "budget"}, days=2)
    assert "nurture" in story.active  # marketing is told to nurture the lost prospect
    story.add("ConsentWithdrawn", {"purpose": "marketing_email"}, days=3)
    assert not story.active & {"nurture", "warm_lead"}
    cleared = [m for m in story.messages("signals.marketing") if m["status"] == "cleared"]
    assert [m["kind"] for m in cleared] == ["nurture"]
    engage(story, 10, start=4)
    assert "warm_lead" not in story.active
    assert "nurture" not in story.active
    story.add("ConsentGiven", {"purpose": "marketing_email"}, days=6)
    assert "nurture" in story.active


def test_a_cancellation_call_from_a_customer_is_a_churn_risk_for_support() -> None:
    story = Story()
    story.add("OrderPlaced", {"order_id": "o1", "total": USD})
    call = {"call_id": "cc2", "intent": "cancellation", "disposition": "connected", "duration_seconds": 60}
    story.add("ContactCenterCall", call, days=1)
    assert "churn_risk" in story.active
    assert story.messages("signals.support")[0]["kind"] == "churn_risk"


def test_lifecycle_moves_forward_and_churns() -> None:
    story = Story()
    assert (
        _stage(story.add("CampaignEmailSent", {"campaign_id": "c", "message_id": "m", "subject": "s"}))
        == "subscriber"
    )
    assert _stage(story.add("FormSubmitted", {"form_id": "f", "page_url": "https://x.io"})) == "lead"
    assert _stage(story.add("WebinarAttended", {"webinar_id": "w", "minutes_attended": 30})) == "mql"
    assert _stage(story.add("LeadQualified", {"lead_id": "L"})) == "sql"
    assert (
        _stage(story.add("OpportunityCreated", {"opportunity_id": "O", "name": "n", "amount": USD}))
        == "opportunity"
    )
    assert _stage(story.add("OpportunityWon", {"opportunity_id": "O", "amount": USD})) == "customer"
    sub = {"subscription_id": "s", "plan": "p", "amount": USD, "period": "monthly", "renews_on": "2026-04-01"}
    story.add("SubscriptionStarted", sub)
    cancelled = story.add("SubscriptionCancelled", {"subscription_id": "s", "effective_on": "2026-04-01"})
    assert _stage(cancelled) == "churned"


def _columns() -> tuple[str, ...]:
    from touchstream.projections.customer_360 import CUSTOMER_360_COLUMNS

    return CUSTOMER_360_COLUMNS


def _stage(out: FoldOutputs) -> str:
    return str(dict(zip(_columns(), out.profile or (), strict=True))["lifecycle_stage"])


# --- issue 16: signals with evidence, from any department ---------------------------------------------------


def _eid(n: int) -> str:
    return str(uuid.UUID(int=n + 1, version=4))


def customer(story: Story) -> None:
    renews = (T0 + timedelta(days=300)).date().isoformat()
    story.add(
        "SubscriptionStarted",
        {"subscription_id": "s1", "plan": "Growth", "amount": USD, "period": "annual", "renews_on": renews},
    )


def test_a_warm_lead_counts_only_the_touches_in_its_window_and_names_them() -> None:
    story = Story()
    engage(story, 4)  # 12 points
    engage(story, 4, start=20)  # 12 more, but the first four left the 14-day window
    assert "warm_lead" not in story.active
    engage(story, 3, start=21)  # 21 points within the window
    assert story.state is not None
    warm = story.state.signals["warm_lead"]
    assert warm.evidence == tuple(_eid(n) for n in range(4, 11))
    assert warm.reason.startswith("21 engagement points in 14 days >= 20 (7 touches)")
    # It lapses when enough of them leave the window: the first (3 points) leaving makes 18 < 20.
    assert warm.expires_at == int((T0 + timedelta(days=20 + 14)).timestamp())


def test_a_support_call_about_a_bigger_plan_is_an_upsell_for_sales_held_while_a_p1_is_open() -> None:
    story = Story()
    customer(story)
    story.add(
        "TicketOpened", {"ticket_id": "T1", "subject": "Outage", "priority": "P1", "channel": "phone"}, days=1
    )
    call = {"call_id": "cc1", "intent": "upgrade", "disposition": "connected", "duration_seconds": 300}
    story.add("ContactCenterCall", call, days=2)
    assert "service_hold" in story.active
    assert "upsell_opportunity" not in story.active  # suppressed while the hold stands
    story.add("TicketResolved", {"ticket_id": "T1"}, days=3)
    assert "service_hold" in story.active  # cooling down
    story.add("EmailOpened", {"campaign_id": "c", "message_id": "m"}, days=7)
    assert story.active >= {"service_hold_lifted", "upsell_opportunity"}
    assert "service_hold" not in story.active
    assert story.state is not None
    lifted = story.state.signals["service_hold_lifted"]
    assert lifted.evidence == (_eid(3), _eid(1))  # the resolution that lifted it, and the hold's evidence
    # Seen at the next event, raised when the hold lifted (resolved, then cooled down): in event time, as
    # it would be had the next event come first; the upsell that waited for it too.
    lifted_at = int((T0 + timedelta(days=3) + DEFAULT_CONFIG.hold_cool_down).timestamp())
    assert lifted.raised_at == lifted_at
    upsell = story.state.signals["upsell_opportunity"]
    assert upsell.raised_at == lifted_at
    assert upsell.evidence == (_eid(2),)
    assert upsell.reason == "asked about more (contact_center)"
    sales = [(m["kind"], m["status"]) for m in story.messages("signals.sales")]
    assert sales == [
        ("service_hold", "raised"),
        ("service_hold", "cleared"),
        ("service_hold_lifted", "raised"),
        ("upsell_opportunity", "raised"),
    ]


def test_upsell_intent_from_a_ticket_subject_and_from_a_pricing_click() -> None:
    story = Story()
    customer(story)
    story.add(
        "TicketOpened",
        {"ticket_id": "T2", "subject": "Can we add seats?", "priority": "P4", "channel": "web"},
        days=1,
    )
    story.add(
        "EmailClicked",
        {"campaign_id": "c", "message_id": "m", "url": "https://ex.com/pricing?plan=enterprise"},
        days=2,
    )
    assert story.state is not None
    upsell = story.state.signals["upsell_opportunity"]
    assert upsell.evidence == (_eid(1), _eid(2))
    assert upsell.reason == "asked about more (marketing, support)"


def test_upsell_intent_from_a_ticket_tag_and_from_usage_near_the_plans_limit() -> None:
    story = Story()
    customer(story)
    story.add(
        "TicketOpened",
        {"ticket_id": "T3", "subject": "Login page", "priority": "P4", "channel": "web", "tags": ["Upgrade"]},
        days=1,
    )
    story.add(
        "ProductUsageReported", {"product": "W", "metric": "seats", "used": "46", "limit": "50"}, days=2
    )
    assert story.state is not None
    upsell = story.state.signals["upsell_opportunity"]
    assert upsell.evidence == (_eid(1), _eid(2))
    assert upsell.reason == "asked about more (commerce, support)"


def test_usage_far_from_the_limit_and_untagged_tickets_are_no_upsell() -> None:
    story = Story()
    customer(story)
    story.add(
        "TicketOpened",
        {"ticket_id": "T4", "subject": "Login page", "priority": "P4", "channel": "web", "tags": ["billing"]},
        days=1,
    )
    story.add(
        "ProductUsageReported", {"product": "W", "metric": "seats", "used": "20", "limit": "50"}, days=2
    )
    story.add("ProductUsageReported", {"product": "W", "metric": "api_calls", "used": "900000"}, days=3)
    assert "upsell_opportunity" not in story.active


def test_a_prospect_asking_about_pricing_is_no_upsell() -> None:
    story = Story()
    story.add("EmailClicked", {"campaign_id": "c", "message_id": "m", "url": "https://ex.com/pricing"})
    assert "upsell_opportunity" not in story.active


def test_a_detractor_from_a_decision_maker_is_a_churn_risk_and_from_an_end_user_is_not() -> None:
    for role, expected in (("decision_maker", True), ("end_user", False)):
        story = Story()
        customer(story)
        call = {
            "call_id": "cc1",
            "intent": "billing",
            "disposition": "resolved",
            "duration_seconds": 60,
            "caller_role": role,
        }
        story.add("ContactCenterCall", call, days=1)
        story.add("NpsSubmitted", {"survey_id": "n1", "score": 4}, days=2)
        assert ("churn_risk" in story.active) is expected, role
        if expected:
            assert story.state is not None
            risk = story.state.signals["churn_risk"]
            assert risk.reason == "detractor NPS 4 from a decision maker"
            assert risk.evidence == (_eid(2),)
            assert story.messages("signals.support")[-1]["account_id"] == "A1"


def test_a_falling_csat_from_a_director_is_a_churn_risk() -> None:
    story = Story()
    customer(story)
    story.add("ContactDetailsObserved", {"job_title": "Director of IT"}, days=1)
    story.add("CsatSubmitted", {"survey_id": "s1", "score": 5}, days=2)
    story.add("CsatSubmitted", {"survey_id": "s2", "score": 3}, days=3)
    assert story.state is not None
    risk = story.state.signals["churn_risk"]
    assert risk.reason == "CSAT fell 5 -> 3 from a Director of IT"
    assert risk.evidence == (_eid(2), _eid(3))


def test_repeated_escalations_are_a_churn_risk() -> None:
    story = Story()
    customer(story)
    story.add(
        "TicketOpened", {"ticket_id": "T1", "subject": "Slow", "priority": "P4", "channel": "web"}, days=1
    )
    story.add("TicketUpdated", {"ticket_id": "T1", "status": "open", "priority": "P3"}, days=2)
    assert "churn_risk" not in story.active
    call = {"call_id": "cc1", "intent": "support", "disposition": "escalated", "duration_seconds": 60}
    story.add("ContactCenterCall", call, days=3)
    assert story.state is not None
    risk = story.state.signals["churn_risk"]
    assert risk.reason == "2 escalations in 30 days"
    assert risk.evidence == (_eid(2), _eid(3))


def test_a_late_older_csat_does_not_replace_the_newer_one() -> None:
    story = Story()
    story.add("CsatSubmitted", {"survey_id": "new", "score": 5}, days=5)
    story.add("CsatSubmitted", {"survey_id": "old", "score": 1}, days=1)  # arrives late
    assert story.state is not None
    assert story.state.last_csat == (5, int((T0 + timedelta(days=5)).timestamp()), _eid(0))
    assert story.state.prev_csat is not None
    assert story.state.prev_csat[0] == 1


def test_a_caller_who_states_company_and_role_is_a_lead_on_the_resolved_account() -> None:
    story = Story()
    call = {
        "call_id": "cc1",
        "intent": "purchase_inquiry",
        "disposition": "transferred",
        "duration_seconds": 300,
        "caller_role": "procurement",
        "stated_company": "Acme Widgets",
    }
    out = story.add("ContactCenterCall", call, identifiers={"phone": "+14155550134"})
    (message,) = story.messages("signals.sales")
    assert message["reason"] == (
        "a non-customer called with buying intent (company: Acme Widgets, role: procurement)"
    )
    assert message["account_id"] == "A1"
    assert message["evidence"] == [_eid(0)]
    assert out.signals[0][2] == "A1"


def test_consent_given_and_withdrawn_at_the_same_instant_is_withdrawn_in_either_order() -> None:
    for first, second in (("ConsentGiven", "ConsentWithdrawn"), ("ConsentWithdrawn", "ConsentGiven")):
        story = Story()
        story.add(first, {"purpose": "sales_contact"}, days=1)
        story.add(second, {"purpose": "sales_contact"}, days=1)
        assert story.state is not None
        assert story.state.consent["sales_contact"][0] == 0, first
    late = Story()
    late.add("ConsentWithdrawn", {"purpose": "sales_contact"}, days=2)
    late.add("ConsentGiven", {"purpose": "sales_contact"}, days=1)  # older: arrives late, changes nothing
    assert late.state is not None
    assert late.state.consent["sales_contact"][0] == 0
