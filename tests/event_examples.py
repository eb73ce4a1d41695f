"""One valid payload per event type, written as a producer would send it (the wire form)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from touchstream.events import Event, parse_event

USD = {"amount": "1200.00", "currency": "USD"}

PAYLOADS: dict[str, dict[str, Any]] = {
    "CampaignEmailSent": {"campaign_id": "spring-launch", "message_id": "m-1", "subject": "Meet Widgets 2"},
    "EmailOpened": {"campaign_id": "spring-launch", "message_id": "m-1"},
    "EmailClicked": {"campaign_id": "spring-launch", "message_id": "m-1", "url": "https://ex.com/w2"},
    "Unsubscribed": {"campaign_id": "spring-launch", "reason": "too many emails"},
    "FormSubmitted": {"form_id": "demo-request", "page_url": "https://ex.com/demo", "company": "Acme"},
    "ContentDownloaded": {"content_id": "wp-7", "title": "The 2026 Widget Report"},
    "WebinarRegistered": {"webinar_id": "web-3", "title": "Widgets at scale"},
    "WebinarAttended": {"webinar_id": "web-3", "minutes_attended": 42},
    "AdClicked": {
        "campaign_id": "brand",
        "ad_id": "ad-9",
        "network": "linkedin",
        "landing_url": "https://ex.com/lp",
    },
    "EventBadgeScanned": {
        "event_name": "WidgetCon 2026",
        "first_name": "Jane",
        "last_name": "Doe",
        "job_title": "CTO",
        "company": "Acme Widgets",
        "email": "Jane.Doe@Acme-Widgets.com",
        "phone": "(415) 555-0134",
    },
    "LeadCreated": {"lead_id": "L-1", "lead_source": "event", "owner": "sam", "company": "Acme"},
    "LeadQualified": {"lead_id": "L-1", "owner": "sam", "reason": "budget confirmed"},
    "LeadDisqualified": {"lead_id": "L-2", "reason": "student"},
    "OpportunityCreated": {
        "opportunity_id": "O-1",
        "name": "Acme platform",
        "amount": USD,
        "stage": "qualification",
        "owner": "sam",
        "expected_close": "2026-09-30",
    },
    "OpportunityStageChanged": {
        "opportunity_id": "O-1",
        "from_stage": "qualification",
        "to_stage": "proposal",
        "amount": {"amount": "1500.00", "currency": "USD"},
    },
    "OpportunityWon": {"opportunity_id": "O-1", "amount": USD},
    "OpportunityLost": {"opportunity_id": "O-2", "reason": "price", "competitor": "Globex"},
    "MeetingHeld": {"meeting_id": "mt-1", "subject": "Discovery", "duration_minutes": 30},
    "CallLogged": {
        "call_id": "c-1",
        "direction": "outbound",
        "disposition": "connected",
        "duration_seconds": 300,
    },
    "QuoteSent": {"quote_id": "q-1", "opportunity_id": "O-1", "amount": USD, "valid_until": "2026-10-01"},
    "TicketOpened": {"ticket_id": "T-1", "subject": "Login fails", "priority": "P1", "channel": "email"},
    "TicketUpdated": {"ticket_id": "T-1", "status": "open", "public_reply": True},
    "TicketResolved": {"ticket_id": "T-1", "resolution": "reset SSO"},
    "TicketReopened": {"ticket_id": "T-1", "reason": "fails again"},
    "InboundEmailReceived": {
        "message_id": "<abc@mail>",
        "mailbox": "support@touchstream.example",
        "subject": "Re: Login fails",
        "ticket_id": "T-1",
        "observed": {"phone": "+1 212 555 0199"},
    },
    "ContactCenterCall": {
        "call_id": "cc-1",
        "intent": "purchase_inquiry",
        "disposition": "transferred",
        "caller_role": "decision_maker",
        "duration_seconds": 240,
        "products_of_interest": ["Widgets Pro"],
    },
    "CsatSubmitted": {"survey_id": "s-1", "score": 2, "ticket_id": "T-1"},
    "NpsSubmitted": {"survey_id": "n-1", "score": 9},
    "ComplaintLogged": {
        "complaint_id": "cp-1",
        "category": "delivery",
        "severity": "medium",
        "theme": "late delivery",
    },
    "OrderPlaced": {
        "order_id": "ord-1",
        "total": USD,
        "lines": [{"sku": "W2", "quantity": 2, "unit_price": {"amount": "600.00", "currency": "USD"}}],
    },
    "SubscriptionStarted": {
        "subscription_id": "sub-1",
        "plan": "Pro",
        "amount": USD,
        "period": "annual",
        "renews_on": "2027-01-01",
    },
    "SubscriptionRenewed": {
        "subscription_id": "sub-1",
        "plan": "Pro",
        "amount": USD,
        "renews_on": "2028-01-01",
    },
    "SubscriptionCancelled": {"subscription_id": "sub-1", "effective_on": "2028-01-01", "reason": "budget"},
    "ProductUsageReported": {"product": "Widgets Pro", "metric": "seats", "used": "46", "limit": "50"},
    "ContactDetailsObserved": {"first_name": "Jane", "job_title": "CTO"},
    "ConsentGiven": {"purpose": "marketing_email", "channel": "web", "wording_version": "2026-01"},
    "ConsentWithdrawn": {"purpose": "marketing_email"},
    "ErasureRequested": {"request_id": "gdpr-1", "requested_by": "jane"},
}


def wire_event(type_name: str, version: int, **overrides: Any) -> dict[str, Any]:
    """A complete wire-form event of the given type with its example payload."""
    event: dict[str, Any] = {
        "event_id": "6f1c1a36-8b0e-4a5e-9d61-4a0f8f3e9a11",
        "type": type_name,
        "schema_version": version,
        "occurred_at": "2026-03-02T10:00:00Z",
        "recorded_at": "2026-03-02T10:00:05Z",
        "source": "hubspot",
        "identifiers": {"email": "Jane.Doe@Acme-Widgets.com", "phone": "415.555.0134"},
        "payload": PAYLOADS[type_name],
    }
    event.update(overrides)
    return event


T0 = datetime(2026, 1, 1, tzinfo=UTC)


def identity_event(
    identifiers: dict[str, Any],
    type_name: str = "EmailOpened",
    payload: dict[str, Any] | None = None,
    source: str = "hubspot",
    day: float = 0,
) -> Event:
    """A fresh parsed event about whoever `identifiers` name, `day` days after T0 (identity tests)."""
    at = (T0 + timedelta(days=day)).isoformat()
    return parse_event(
        {
            "event_id": str(uuid.uuid4()),
            "type": type_name,
            "schema_version": 1,
            "occurred_at": at,
            "recorded_at": at,
            "source": source,
            "identifiers": identifiers,
            "payload": payload or {"campaign_id": "c1", "message_id": "m1"},
        }
    )
