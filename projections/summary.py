"""One human line per touchpoint, for the timeline: what happened, in the words a colleague would use."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..events import Event, Money

MAX_SUMMARY = 200


def _money(value: Any) -> str:
    return f"{value.amount} {value.currency}" if isinstance(value, Money) else ""


# Each takes the payload; the type name is the fallback for anything not listed.
_LINES: dict[str, Callable[[Any], str]] = {
    "CampaignEmailSent": lambda p: f"Sent campaign email '{p.subject}' ({p.campaign_id})",
    "EmailOpened": lambda p: f"Opened campaign email ({p.campaign_id})",
    "EmailClicked": lambda p: f"Clicked {p.url} in campaign email ({p.campaign_id})",
    "Unsubscribed": lambda p: "Unsubscribed" + (f": {p.reason}" if p.reason else ""),
    "FormSubmitted": lambda p: f"Submitted form {p.form_id} on {p.page_url}",
    "ContentDownloaded": lambda p: f"Downloaded '{p.title}'",
    "WebinarRegistered": lambda p: f"Registered for webinar '{p.title}'",
    "WebinarAttended": lambda p: f"Attended webinar {p.webinar_id} for {p.minutes_attended} min",
    "AdClicked": lambda p: f"Clicked ad {p.ad_id} on {p.network} ({p.campaign_id})",
    "EventBadgeScanned": lambda p: f"Badge scanned at {p.event_name}",
    "LeadCreated": lambda p: f"Lead {p.lead_id} created from {p.lead_source}",
    "LeadQualified": lambda p: f"Lead {p.lead_id} qualified" + (f" by {p.owner}" if p.owner else ""),
    "LeadDisqualified": lambda p: f"Lead {p.lead_id} disqualified: {p.reason}",
    "OpportunityCreated": lambda p: f"Opportunity '{p.name}' created at {_money(p.amount)}",
    "OpportunityStageChanged": lambda p: f"Opportunity {p.opportunity_id}: {p.from_stage} -> {p.to_stage}",
    "OpportunityWon": lambda p: f"Opportunity {p.opportunity_id} won: {_money(p.amount)}",
    "OpportunityLost": lambda p: f"Opportunity {p.opportunity_id} lost: {p.reason}",
    "MeetingHeld": lambda p: f"Meeting '{p.subject}' ({p.duration_minutes} min)",
    "CallLogged": lambda p: f"{str(p.direction).capitalize()} sales call, {p.disposition}",
    "QuoteSent": lambda p: f"Quote {p.quote_id} sent: {_money(p.amount)}",
    "TicketOpened": lambda p: f"{p.priority} ticket {p.ticket_id} opened: {p.subject}",
    "TicketUpdated": lambda p: (
        f"Ticket {p.ticket_id} {p.status}"
        + (f", now {p.priority}" if p.priority else "")
        + (", agent replied" if p.public_reply else "")
    ),
    "TicketResolved": lambda p: (
        f"Ticket {p.ticket_id} resolved" + (f": {p.resolution}" if p.resolution else "")
    ),
    "TicketReopened": lambda p: f"Ticket {p.ticket_id} reopened" + (f": {p.reason}" if p.reason else ""),
    "InboundEmailReceived": lambda p: f"Email to {p.mailbox}: {p.subject}",
    "ContactCenterCall": lambda p: f"Called the contact center ({p.intent}, {p.disposition})",
    "CsatSubmitted": lambda p: f"CSAT {p.score}/5" + (f" for ticket {p.ticket_id}" if p.ticket_id else ""),
    "NpsSubmitted": lambda p: f"NPS {p.score}/10",
    "ComplaintLogged": lambda p: f"{str(p.severity).capitalize()} {p.category} complaint: {p.theme}",
    "OrderPlaced": lambda p: f"Order {p.order_id} placed: {_money(p.total)}",
    "SubscriptionStarted": lambda p: f"Subscribed to {p.plan} ({p.period}) at {_money(p.amount)}",
    "SubscriptionRenewed": lambda p: f"Renewed {p.plan} at {_money(p.amount)} until {p.renews_on}",
    "SubscriptionCancelled": lambda p: f"Cancelled subscription effective {p.effective_on}",
    "ProductUsageReported": lambda p: (
        f"Used {p.used} {p.metric} of {p.product}" + (f" (limit {p.limit})" if p.limit is not None else "")
    ),
    "ContactDetailsObserved": lambda p: (
        "Contact details updated: "
        + ", ".join(name for name in type(p).model_fields if getattr(p, name) is not None)
    ),
    "ConsentGiven": lambda p: f"Consent given for {p.purpose}",
    "ConsentWithdrawn": lambda p: f"Consent withdrawn for {p.purpose}",
    "ErasureRequested": lambda p: "Erasure requested",
}


def summarize(event: Event) -> str:
    line = _LINES.get(event.type)
    text = line(event.payload) if line is not None else event.type
    return " ".join(text.split())[:MAX_SUMMARY]


__all__ = ["MAX_SUMMARY", "summarize"]
