"""Every event type by name: the one place a type name becomes its model."""

from __future__ import annotations

from . import commerce, marketing, masterdata, sales, support
from .envelope import Event

_ALL: tuple[type[Event], ...] = (
    # marketing
    marketing.CampaignEmailSent,
    marketing.EmailOpened,
    marketing.EmailClicked,
    marketing.Unsubscribed,
    marketing.FormSubmitted,
    marketing.ContentDownloaded,
    marketing.WebinarRegistered,
    marketing.WebinarAttended,
    marketing.AdClicked,
    marketing.EventBadgeScanned,
    # sales
    sales.LeadCreated,
    sales.LeadQualified,
    sales.LeadDisqualified,
    sales.OpportunityCreated,
    sales.OpportunityStageChanged,
    sales.OpportunityWon,
    sales.OpportunityLost,
    sales.MeetingHeld,
    sales.CallLogged,
    sales.QuoteSent,
    # support and contact center
    support.TicketOpened,
    support.TicketUpdated,
    support.TicketResolved,
    support.TicketReopened,
    support.InboundEmailReceived,
    support.ContactCenterCall,
    support.CsatSubmitted,
    support.NpsSubmitted,
    support.ComplaintLogged,
    # commerce
    commerce.OrderPlaced,
    commerce.SubscriptionStarted,
    commerce.SubscriptionRenewed,
    commerce.SubscriptionCancelled,
    commerce.ProductUsageReported,
    # master data
    masterdata.ContactDetailsObserved,
    masterdata.ConsentGiven,
    masterdata.ConsentWithdrawn,
    masterdata.ErasureRequested,
)

EVENT_TYPES: dict[str, type[Event]] = {cls.type_name(): cls for cls in _ALL}


def event_class(type_name: str) -> type[Event] | None:
    return EVENT_TYPES.get(type_name)
