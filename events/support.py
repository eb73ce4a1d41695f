"""Support and contact-center touchpoints: tickets, inbound email, calls, satisfaction, complaints."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from .enums import (
    CallDisposition,
    CallerRole,
    CallIntent,
    Channel,
    ComplaintCategory,
    Severity,
    TicketPriority,
    TicketStatus,
)
from .envelope import Event, Payload
from .values import (
    BirthDate,
    Department,
    Email,
    Ident,
    Name,
    PersonIdentifier,
    PhoneHolder,
    PostalAddress,
    Text,
)


class SupportEvent(Event):
    home_department = Department.support


class TicketOpenedPayload(Payload):
    ticket_id: Ident
    subject: Name
    priority: TicketPriority
    channel: Channel
    product: Name | None = None
    assignee: Name | None = None
    tags: list[Ident] = Field(
        default_factory=list, max_length=50, description="the help desk's tags (e.g. `upgrade`)"
    )


class TicketOpened(SupportEvent):
    type: Literal["TicketOpened"] = "TicketOpened"
    schema_version: Literal[1] = 1
    payload: TicketOpenedPayload


class TicketUpdatedPayload(Payload):
    ticket_id: Ident
    status: TicketStatus
    priority: TicketPriority | None = Field(default=None, description="the new priority, when it changed")
    assignee: Name | None = None
    public_reply: bool = Field(
        default=False, description="an agent answered the customer (counts as first response)"
    )
    tags: list[Ident] = Field(
        default_factory=list, max_length=50, description="tags added to the ticket by this update"
    )


class TicketUpdated(SupportEvent):
    type: Literal["TicketUpdated"] = "TicketUpdated"
    schema_version: Literal[1] = 1
    payload: TicketUpdatedPayload


class TicketResolvedPayload(Payload):
    ticket_id: Ident
    resolution: Text | None = None


class TicketResolved(SupportEvent):
    type: Literal["TicketResolved"] = "TicketResolved"
    schema_version: Literal[1] = 1
    payload: TicketResolvedPayload


class TicketReopenedPayload(Payload):
    ticket_id: Ident
    reason: Text | None = None


class TicketReopened(SupportEvent):
    type: Literal["TicketReopened"] = "TicketReopened"
    schema_version: Literal[1] = 1
    payload: TicketReopenedPayload


class ObservedContactDetails(PhoneHolder):
    """Contact details found in a message (a signature block, a reply-to): evidence for the master record."""

    first_name: Name | None = None
    last_name: Name | None = None
    job_title: Name | None = None
    company: Name | None = None
    email: Email | None = None
    date_of_birth: BirthDate | None = None
    address: PostalAddress | None = None
    person_ids: Annotated[list[PersonIdentifier], Field(max_length=8)] | None = Field(
        default=None, description="typed identifiers of the person (national id, customer number, CRM ids)"
    )


class InboundEmailReceivedPayload(Payload):
    message_id: Ident
    mailbox: Email = Field(description="the address it was sent to, e.g. support@ourcompany.com")
    subject: Name
    ticket_id: Ident | None = None
    observed: ObservedContactDetails = Field(default_factory=ObservedContactDetails)
    observed_in: Literal["signature", "quoted", "forwarded"] | None = Field(
        default=None,
        description="where the observed details were found: the sender's own signature, or quoted text / "
        "a forwarded message (someone else's: weak evidence only). A `Fwd:` subject implies forwarded.",
    )


class InboundEmailReceived(SupportEvent):
    type: Literal["InboundEmailReceived"] = "InboundEmailReceived"
    schema_version: Literal[1] = 1
    payload: InboundEmailReceivedPayload


class ContactCenterCallPayload(Payload):
    call_id: Ident
    intent: CallIntent
    disposition: CallDisposition
    caller_role: CallerRole = CallerRole.unknown
    duration_seconds: int = Field(ge=0, le=24 * 3600)
    agent: Name | None = None
    stated_company: Name | None = None
    products_of_interest: list[Name] = Field(default_factory=list, max_length=20)


class ContactCenterCall(Event):
    home_department = Department.contact_center
    type: Literal["ContactCenterCall"] = "ContactCenterCall"
    schema_version: Literal[1] = 1
    payload: ContactCenterCallPayload


class CsatSubmittedPayload(Payload):
    survey_id: Ident
    score: int = Field(ge=1, le=5, description="1 (very unsatisfied) to 5 (very satisfied)")
    ticket_id: Ident | None = None
    comment: Text | None = None


class CsatSubmitted(SupportEvent):
    type: Literal["CsatSubmitted"] = "CsatSubmitted"
    schema_version: Literal[1] = 1
    payload: CsatSubmittedPayload


class NpsSubmittedPayload(Payload):
    survey_id: Ident
    score: int = Field(ge=0, le=10, description="0-6 detractor, 7-8 passive, 9-10 promoter")
    comment: Text | None = None


class NpsSubmitted(SupportEvent):
    type: Literal["NpsSubmitted"] = "NpsSubmitted"
    schema_version: Literal[1] = 1
    payload: NpsSubmittedPayload


class ComplaintLoggedPayload(Payload):
    complaint_id: Ident
    category: ComplaintCategory
    severity: Severity
    theme: Name = Field(description="a short label for grouping, e.g. 'late delivery'")
    description: Text | None = None
    ticket_id: Ident | None = None


class ComplaintLogged(SupportEvent):
    type: Literal["ComplaintLogged"] = "ComplaintLogged"
    schema_version: Literal[1] = 1
    payload: ComplaintLoggedPayload
