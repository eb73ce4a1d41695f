"""Sales touchpoints: leads, opportunities and their stages, meetings, calls, quotes."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .enums import CallDirection, CallDisposition, LeadSource, OpportunityStage
from .envelope import Event, Payload
from .values import Day, Department, Ident, Money, Name, Text


class SalesEvent(Event):
    home_department = Department.sales


class LeadCreatedPayload(Payload):
    lead_id: Ident
    lead_source: LeadSource
    owner: Name | None = None
    campaign_id: Ident | None = None
    first_name: Name | None = None
    last_name: Name | None = None
    company: Name | None = None
    job_title: Name | None = None
    industry: Name | None = Field(default=None, description="the company's industry, as the CRM records it")


class LeadCreated(SalesEvent):
    type: Literal["LeadCreated"] = "LeadCreated"
    schema_version: Literal[1] = 1
    payload: LeadCreatedPayload


class LeadQualifiedPayload(Payload):
    lead_id: Ident
    owner: Name | None = None
    reason: Text | None = None


class LeadQualified(SalesEvent):
    type: Literal["LeadQualified"] = "LeadQualified"
    schema_version: Literal[1] = 1
    payload: LeadQualifiedPayload


class LeadDisqualifiedPayload(Payload):
    lead_id: Ident
    reason: Text


class LeadDisqualified(SalesEvent):
    type: Literal["LeadDisqualified"] = "LeadDisqualified"
    schema_version: Literal[1] = 1
    payload: LeadDisqualifiedPayload


class OpportunityCreatedPayload(Payload):
    """Version 2: `amount` carries its currency (version 1 had a bare number in US dollars)."""

    opportunity_id: Ident
    name: Name
    amount: Money
    stage: OpportunityStage = OpportunityStage.prospecting
    owner: Name | None = None
    expected_close: Day | None = None
    industry: Name | None = Field(
        default=None, description="the industry of the account the deal is with, as the CRM records it"
    )


class OpportunityCreated(SalesEvent):
    type: Literal["OpportunityCreated"] = "OpportunityCreated"
    schema_version: Literal[2] = 2
    payload: OpportunityCreatedPayload


class OpportunityStageChangedPayload(Payload):
    opportunity_id: Ident
    from_stage: OpportunityStage
    to_stage: OpportunityStage
    amount: Money | None = Field(default=None, description="the re-estimated amount, when it changed")
    owner: Name | None = None


class OpportunityStageChanged(SalesEvent):
    type: Literal["OpportunityStageChanged"] = "OpportunityStageChanged"
    schema_version: Literal[1] = 1
    payload: OpportunityStageChangedPayload


class OpportunityWonPayload(Payload):
    opportunity_id: Ident
    amount: Money


class OpportunityWon(SalesEvent):
    type: Literal["OpportunityWon"] = "OpportunityWon"
    schema_version: Literal[1] = 1
    payload: OpportunityWonPayload


class OpportunityLostPayload(Payload):
    opportunity_id: Ident
    reason: Text
    competitor: Name | None = None


class OpportunityLost(SalesEvent):
    type: Literal["OpportunityLost"] = "OpportunityLost"
    schema_version: Literal[1] = 1
    payload: OpportunityLostPayload


class MeetingHeldPayload(Payload):
    meeting_id: Ident
    subject: Name
    owner: Name | None = None
    duration_minutes: int = Field(ge=0, le=24 * 60)
    opportunity_id: Ident | None = None


class MeetingHeld(SalesEvent):
    type: Literal["MeetingHeld"] = "MeetingHeld"
    schema_version: Literal[1] = 1
    payload: MeetingHeldPayload


class CallLoggedPayload(Payload):
    call_id: Ident
    direction: CallDirection
    disposition: CallDisposition
    duration_seconds: int = Field(ge=0, le=24 * 3600)
    owner: Name | None = None
    notes: Text | None = None


class CallLogged(SalesEvent):
    type: Literal["CallLogged"] = "CallLogged"
    schema_version: Literal[1] = 1
    payload: CallLoggedPayload


class QuoteSentPayload(Payload):
    quote_id: Ident
    opportunity_id: Ident
    amount: Money
    valid_until: Day | None = None


class QuoteSent(SalesEvent):
    type: Literal["QuoteSent"] = "QuoteSent"
    schema_version: Literal[1] = 1
    payload: QuoteSentPayload
