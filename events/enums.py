"""The closed vocabularies of the catalogue. Each value is documented in docs/events.md."""

from __future__ import annotations

from enum import StrEnum


class Channel(StrEnum):
    """How a customer reached us (or we them)."""

    email = "email"
    web = "web"
    phone = "phone"
    chat = "chat"
    sms = "sms"
    social = "social"
    in_person = "in_person"


class TicketPriority(StrEnum):
    """P1: service down or a customer blocked; P2: major function impaired; P3: minor; P4: question."""

    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"


class TicketStatus(StrEnum):
    new = "new"
    open = "open"
    pending_customer = "pending_customer"
    on_hold = "on_hold"
    solved = "solved"


class OpportunityStage(StrEnum):
    """Open stages in order; winning or losing is its own event (OpportunityWon / OpportunityLost)."""

    prospecting = "prospecting"
    qualification = "qualification"
    proposal = "proposal"
    negotiation = "negotiation"


class LeadSource(StrEnum):
    web = "web"
    event = "event"
    referral = "referral"
    outbound = "outbound"
    partner = "partner"
    advertising = "advertising"
    content = "content"
    contact_center = "contact_center"


class CallDirection(StrEnum):
    inbound = "inbound"
    outbound = "outbound"


class CallDisposition(StrEnum):
    connected = "connected"
    voicemail = "voicemail"
    no_answer = "no_answer"
    resolved = "resolved"
    escalated = "escalated"
    transferred = "transferred"
    callback_scheduled = "callback_scheduled"


class CallIntent(StrEnum):
    """Why the caller called, as the contact-center agent classified it."""

    support = "support"
    billing = "billing"
    purchase_inquiry = "purchase_inquiry"
    upgrade = "upgrade"
    cancellation = "cancellation"
    complaint = "complaint"
    other = "other"


class CallerRole(StrEnum):
    """The role the caller states for themselves at their organization."""

    decision_maker = "decision_maker"
    influencer = "influencer"
    end_user = "end_user"
    procurement = "procurement"
    technical = "technical"
    unknown = "unknown"


class Severity(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"


class ComplaintCategory(StrEnum):
    product = "product"
    billing = "billing"
    service = "service"
    delivery = "delivery"
    sales_conduct = "sales_conduct"
    other = "other"


class BillingPeriod(StrEnum):
    monthly = "monthly"
    annual = "annual"


class ConsentPurpose(StrEnum):
    marketing_email = "marketing_email"
    sales_contact = "sales_contact"
    analytics = "analytics"
    third_party_sharing = "third_party_sharing"


class PersonIdKind(StrEnum):
    """What a typed person identifier is: issued by a state (national id, passport, tax id: give its
    `country`) or by a system (customer number, CRM id, membership number: give its `system`)."""

    national_id = "national_id"
    passport = "passport"
    tax_id = "tax_id"
    customer_number = "customer_number"
    crm_id = "crm_id"
    membership_number = "membership_number"
    other = "other"
